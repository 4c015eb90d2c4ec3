//! net-rm: remove networks, as `docker network rm`.

use berth::output::print_json;
use berth::{Error, Result};
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  net-rm app
  net-ls -q --filter type=custom | xargs -r net-rm

A network a running container is on is refused (\"network NAME has active endpoints\"): stop
the container or net-disconnect it first. The predefined bridge, host and none cannot be
removed. The network's bridge and firewall rules go with it. Prints {\"id\", \"name\"} per
removed network.";

/// Remove one or more networks
#[derive(Parser, Debug)]
#[command(name = "net-rm", version, after_help = AFTER)]
pub struct Cli {
    /// Networks: names, IDs or unique ID prefixes, or - for the JSON a previous tool printed
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,

    /// Do not fail on a network that does not exist
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
    berth_cli::for_each("net-rm", expand_stdin(cli.networks)?, |key| {
        match berth::network::remove_network(&root, key) {
            Ok(n) => print_json(&json!({"id": n.id, "name": n.name})),
            Err(Error::NetworkNotFound(_)) if cli.force => Ok(()),
            Err(e) => Err(e),
        }
    })
}
