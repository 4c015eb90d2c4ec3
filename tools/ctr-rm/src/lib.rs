//! ctr-rm: remove containers, as `docker container rm`.

use berth::output::print_json;
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-rm web
  ctr-rm -f web                        # kill it first if it runs
  ctr-ls -aq --filter status=exited | xargs ctr-rm

Removes the container's directory: its writable layer, log and configuration. A running
container is refused unless -f. Prints {\"id\"} per removed container.";

/// Remove one or more containers
#[derive(Parser, Debug)]
#[command(name = "ctr-rm", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    /// Kill a running container first (SIGKILL)
    #[arg(short, long)]
    pub force: bool,

    /// Remove the container's anonymous volumes too (those no other container uses)
    #[arg(short, long)]
    pub volumes: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    berth::container::liveness::reconcile(&root);
    berth_cli::for_each("ctr-rm", expand_stdin(cli.containers)?, |name| {
        let id = berth::container::orchestrate::rm_container(&root, name, cli.force, cli.volumes)?;
        print_json(&json!({"id": id}))?;
        Ok(())
    })
}
