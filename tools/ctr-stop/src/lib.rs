//! ctr-stop: stop running containers, as `docker container stop`.

pub mod args;

use berth::container::lifecycle::StopOptions;
use berth::output::print_json;
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-stop web
  ctr-stop -t 0 web                    # SIGKILL at once
  ctr-stop -s SIGINT web

Sends the container's stop signal (--stop-signal at create, the image's STOPSIGNAL, or SIGTERM),
waits up to the timeout (-t, the container's --stop-timeout, or 10 s), then sends SIGKILL. Prints
{\"id\",\"name\",\"exit_code\"} per container once it has stopped. A container that is not running
is left as it is.";

/// Stop one or more running containers
#[derive(Parser, Debug)]
#[command(name = "ctr-stop", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    #[command(flatten)]
    pub stop: args::StopArgs,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    berth_cli::for_each("ctr-stop", expand_stdin(cli.containers)?, |name| {
        let c = StopOptions::from(&cli.stop).stop(&root, name)?;
        print_json(&json!({"id": c.id, "name": c.name, "exit_code": c.state.exit_code}))?;
        Ok(())
    })
}
