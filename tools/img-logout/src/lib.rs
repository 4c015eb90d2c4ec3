//! img-logout: forget a registry's credentials, as `docker logout`.

use berth::registry::auth::registry_domain;
use berth::registry::DockerConfig;
use berth::Result;
use clap::{CommandFactory, Parser};
use serde_json::json;

/// Log out from a registry
#[derive(Parser, Debug)]
#[command(
    name = "img-logout",
    version,
    after_help = "Removes the registry's credentials from Docker's config.json (or its credential helper).\n\nPrints {\"registry\",\"removed\"}."
)]
pub struct Cli {
    /// The registry: HOST[:PORT]
    #[arg(value_name = "REGISTRY", default_value = "docker.io")]
    pub registry: String,

    /// Docker's config.json [env: REGISTRY_AUTH_FILE] [default: $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub root: berth_cli::RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let domain = registry_domain(&cli.registry);
    let path = berth_cli::or_env(&cli.authfile, "REGISTRY_AUTH_FILE")
        .unwrap_or_else(DockerConfig::default_path);
    let removed = DockerConfig::load(&path)?.erase(&domain)?;
    berth::output::print_json(&json!({"registry": domain, "removed": removed}))
}
