//! ctr-unpause: resume the processes of paused containers, as `docker container unpause`.

use berth::container::pause;
use berth::output::print_json;
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-unpause web
  ctr-unpause web db

Thaws the container's cgroup: its processes run again where they stopped, and the container
shows as running. Prints {\"id\",\"name\",\"status\"} per container. A container that is not paused
is an error.";

/// Unpause all processes within one or more containers
#[derive(Parser, Debug)]
#[command(name = "ctr-unpause", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    berth_cli::for_each("ctr-unpause", expand_stdin(cli.containers)?, |name| {
        let c = pause::unpause(&root, name)?;
        print_json(&json!({"id": c.id, "name": c.name, "status": c.state.status}))
    })
}
