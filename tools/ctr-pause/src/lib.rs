//! ctr-pause: suspend every process of containers, as `docker container pause`.

use berth::container::pause;
use berth::output::print_json;
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-pause web
  ctr-pause web db
  ctr-run -d busybox sleep 100 | ctr-pause -

Freezes the container's cgroup (the freezer): its processes stop running until ctr-unpause, and
do not notice. The container shows as paused (State.Status \"paused\", State.Paused true).
Prints {\"id\",\"name\",\"status\"} per container. A container that is not running is an error.";

/// Pause all processes within one or more containers
#[derive(Parser, Debug)]
#[command(name = "ctr-pause", version, after_help = AFTER)]
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
    berth_cli::for_each("ctr-pause", expand_stdin(cli.containers)?, |name| {
        let c = pause::pause(&root, name)?;
        print_json(&json!({"id": c.id, "name": c.name, "status": c.state.status}))
    })
}
