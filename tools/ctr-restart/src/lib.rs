//! ctr-restart: restart containers, as `docker container restart`.

use berth::cli::{expand_stdin, RootArgs};
use berth::container::lifecycle;
use berth::output::print_json;
use berth::Result;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-restart web
  ctr-restart -t 0 web

Stops each container as ctr-stop does (if it runs), then starts it again detached. Prints
{\"id\",\"name\"} per container.";

/// Restart one or more containers
#[derive(Parser, Debug)]
#[command(name = "ctr-restart", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    /// Seconds to wait for the stop before SIGKILL
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,

    /// The signal to stop with, instead of the container's stop signal
    #[arg(short, long, value_name = "SIGNAL")]
    pub signal: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let sig = cli
        .signal
        .as_deref()
        .map(lifecycle::parse_signal)
        .transpose()?;
    berth::cli::for_each("ctr-restart", expand_stdin(cli.containers)?, |name| {
        let r = lifecycle::stop(&root, name, cli.time, sig).and_then(|c| {
            lifecycle::start(&root, &c.id, None, "ctrl-p,ctrl-q")?;
            Ok(c)
        });
        let c = r?;
        print_json(&json!({"id": c.id, "name": c.name}))?;
        Ok(())
    })
}
