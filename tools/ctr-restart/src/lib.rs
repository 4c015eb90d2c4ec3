//! ctr-restart: restart containers, as `docker container restart`.

use berth::container::lifecycle::{self, StopOptions};
use berth::output::print_json;
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
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

    #[command(flatten)]
    pub stop: ctr_stop::args::StopArgs,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    berth_cli::for_each("ctr-restart", expand_stdin(cli.containers)?, |name| {
        let r = StopOptions::from(&cli.stop)
            .stop(&root, name)
            .and_then(|c| {
                lifecycle::start(&root, &c.id, None, "ctrl-p,ctrl-q")?;
                Ok(c)
            });
        let c = r?;
        print_json(&json!({"id": c.id, "name": c.name}))?;
        Ok(())
    })
}
