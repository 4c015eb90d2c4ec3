//! ctr-kill: signal running containers, as `docker container kill`.

use berth::container::lifecycle;
use berth::output::print_json;
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-kill web                         # SIGKILL
  ctr-kill -s HUP web

Sends the signal to the container's main process (its pid 1). Prints {\"id\",\"name\"} per
container. A container that is not running is an error. With KILL (the default) it returns once
the container has exited and its exit is recorded, so `ctr-kill x && ctr-rm x` works, as Docker.";

/// Send a signal to one or more running containers
#[derive(Parser, Debug)]
#[command(name = "ctr-kill", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    /// The signal: a name (KILL, SIGKILL) or a number
    #[arg(short, long, value_name = "SIGNAL", default_value = "KILL")]
    pub signal: String,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let sig = lifecycle::parse_signal(&cli.signal)?;
    berth_cli::for_each("ctr-kill", expand_stdin(cli.containers)?, |name| {
        let c = lifecycle::kill(&root, name, sig)?;
        print_json(&json!({"id": c.id, "name": c.name}))?;
        Ok(())
    })
}
