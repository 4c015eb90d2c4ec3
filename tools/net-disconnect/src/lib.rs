//! net-disconnect: disconnect a container from a network, as `docker network disconnect`.

use berth::output::print_json;
use berth::{Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  net-disconnect backend web

A running container loses its interface on the network at once, and the others there stop
resolving its name; a stopped one is not connected when it starts next. With -f, a container
that is not on the network (or does not exist) is not an error. Prints {\"id\", \"name\",
\"network\"}.";

/// Disconnect a container from a network
#[derive(Parser, Debug)]
#[command(name = "net-disconnect", version, after_help = AFTER)]
pub struct Cli {
    /// The network: a name, ID or unique ID prefix
    #[arg(value_name = "NETWORK")]
    pub network: String,

    /// The container: a name, ID or unique ID prefix, or - for the JSON a previous tool printed
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Force the container to disconnect: what is not connected is not an error
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
    let container = one_name(cli.container)?;
    let net = berth::network::store(&root)?.find(&cli.network)?;
    match berth::container::orchestrate::disconnect(&root, &container, &net.id) {
        Ok(c) => print_json(&json!({"id": c.id, "name": c.name, "network": net.name})),
        Err(Error::Conflict(_) | Error::ContainerNotFound(_)) if cli.force => Ok(()),
        Err(e) => Err(e),
    }
}
