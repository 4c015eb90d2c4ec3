//! net-inspect: show networks in detail, as `docker network inspect`.

use berth::{output, Result};
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Prints a JSON array shaped as `docker network inspect` prints it (Name, Id, Created, Scope,
Driver, EnableIPv6, IPAM, Internal, Attachable, Ingress, ConfigFrom, ConfigOnly, Containers,
Options, Labels), or with --format a Go template executed for each network. Containers lists
the running containers on the network with their Name, EndpointID, MacAddress and IPv4Address.
Networks that are not found are errors after the others are printed.

Examples:
  net-inspect app
  net-inspect --format '{{json .IPAM.Config}}' app
  net-inspect --format '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}' app
  net-create app | net-inspect -";

/// Display detailed information on one or more networks
#[derive(Parser, Debug)]
#[command(name = "net-inspect", version, after_help = AFTER)]
pub struct Cli {
    /// Networks: names, IDs or unique ID prefixes, or - for the JSON a previous tool printed
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,

    /// Format the output with a Go template (json for the JSON array)
    #[arg(short, long)]
    pub format: Option<String>,

    /// Verbose output (accepted; there is nothing more to show for local networks)
    #[arg(short, long)]
    pub verbose: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for key in expand_stdin(cli.networks)? {
        match berth::container::orchestrate::inspect_network(&root, &key) {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e),
        }
    }
    // As Docker: what was found is printed, then every miss is an error.
    output::print_inspected(cli.format.as_deref(), found)?;
    berth_cli::all_errors("net-inspect", errors)
}
