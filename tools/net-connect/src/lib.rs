//! net-connect: connect a container to a network, as `docker network connect`.

use std::net::Ipv4Addr;

use berth::output::print_json;
use berth::{Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  net-connect backend web
  net-connect --alias db --ip 10.10.0.50 backend postgres

A running container gets its interface at once (eth1, eth2, …, with an address of the network;
the containers there reach it by name and alias, it reaches them); a created or stopped one is
connected when it starts next, as Docker does. Containers with --network host, none or
container:X cannot be connected. Prints {\"id\", \"name\", \"network\"}.";

/// Connect a container to a network
#[derive(Parser, Debug)]
#[command(name = "net-connect", version, after_help = AFTER)]
pub struct Cli {
    /// The network: a name, ID or unique ID prefix
    #[arg(value_name = "NETWORK")]
    pub network: String,

    /// The container: a name, ID or unique ID prefix, or - for the JSON a previous tool printed
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Add a network-scoped alias for the container
    #[arg(long = "alias", value_name = "ALIAS")]
    pub aliases: Vec<String>,

    /// IPv4 address on the network [default: the first free one]
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let ip = cli
        .ip
        .as_deref()
        .map(|s| {
            s.parse::<Ipv4Addr>().map_err(|_| {
                Error::InvalidInput(format!("invalid --ip {s:?}: expected an IPv4 address"))
            })
        })
        .transpose()?;
    let container = one_name(cli.container)?;
    let net = berth::network::store(&root)?.find(&cli.network)?;
    let c = berth::container::orchestrate::connect(&root, &container, &net.id, &cli.aliases, ip)?;
    print_json(&json!({"id": c.id, "name": c.name, "network": net.name}))
}
