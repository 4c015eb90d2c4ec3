//! img-login: check credentials against a registry and store them, as `docker login`.

use std::io::{BufRead, IsTerminal};

use berth::registry::auth::registry_domain;
use berth::registry::{Client, Credentials, DockerConfig};
use berth::{Error, Result};
use berth_cli::RegistryArgs;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
The credentials are checked against the registry first (its /v2/ endpoint, through its Basic or
token authentication), then stored in Docker's config.json (mode 0600), or in the credential
helper it names (credsStore, credHelpers), so that Docker, skopeo and berth share them.

Prints {\"registry\",\"username\",\"status\"}.

Examples:
  echo \"$TOKEN\" | img-login -u ci --password-stdin registry.example.com
  img-login -u admin -p secret 127.0.0.1:5000";

/// Log in to a registry
#[derive(Parser, Debug)]
#[command(name = "img-login", version, after_help = AFTER)]
pub struct Cli {
    /// The registry: HOST[:PORT]
    #[arg(value_name = "REGISTRY", default_value = "docker.io")]
    pub registry: String,

    /// User name
    #[arg(short, long)]
    pub username: Option<String>,

    /// Password (prefer --password-stdin: command lines are visible to other users)
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,

    /// Read the password from stdin
    #[arg(long)]
    pub password_stdin: bool,

    #[command(flatten)]
    pub registry_args: RegistryArgs,

    #[command(flatten)]
    pub root: berth_cli::RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let domain = registry_domain(&cli.registry);
    let username = match cli.username {
        Some(u) => u,
        None => return Err(Error::Usage("give the user name with -u USER".into())),
    };
    let password = match (cli.password, cli.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::stream("read the password from stdin", e))?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => {
            if std::io::stdin().is_terminal() {
                return Err(Error::Usage(
                    "give the password with --password-stdin (or -p)".into(),
                ));
            }
            return Err(Error::Usage("no password: use --password-stdin".into()));
        }
    };
    if password.is_empty() {
        return Err(Error::Usage("the password is empty".into()));
    }
    let creds = Credentials {
        username: username.clone(),
        password,
    };
    let mut opts = cli.registry_args.options()?;
    opts.credentials = Some(creds.clone());
    Client::new(&domain, &opts)?.ping()?;
    let path = cli
        .registry_args
        .authfile()
        .unwrap_or_else(DockerConfig::default_path);
    let mut config = DockerConfig::load(&path)?;
    config.store(&domain, &creds)?;
    berth::output::print_json(&json!({
        "registry": domain,
        "username": username,
        "status": "Login Succeeded",
    }))
}
