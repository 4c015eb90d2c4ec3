//! vol-rm: remove volumes, as `docker volume rm`.

use berth::output::print_json;
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  vol-rm data
  vol-ls -q --filter dangling=true | xargs -r vol-rm

A volume that a container uses (running or not) is refused: remove the container first.
Prints {\"name\"} per removed volume.";

/// Remove one or more volumes
#[derive(Parser, Debug)]
#[command(name = "vol-rm", version, after_help = AFTER)]
pub struct Cli {
    /// Volumes; - reads JSON from a previous tool
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,

    /// Do not fail on a volume that does not exist
    #[arg(short, long)]
    pub force: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    berth::container::liveness::reconcile(&root);
    berth_cli::for_each("vol-rm", expand_stdin(cli.volumes)?, |name| {
        berth::container::orchestrate::remove_volume(&root, name, cli.force)?;
        print_json(&json!({"name": name}))?;
        Ok(())
    })
}
