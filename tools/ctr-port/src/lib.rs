//! ctr-port: list a container's published ports, as `docker port`.

use berth::berth_net::ports::Port;
use berth::container::{self, view, Containers};
use berth::output::{self, Format};
use berth::{Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::Value;

const AFTER: &str = "\
Prints what `docker port` prints: every published port as `80/tcp -> 0.0.0.0:8080`, or for
PRIVATE_PORT[/PROTO] (tcp unless given) the host addresses it is published on, one a line
(`0.0.0.0:8080`). Ports are published while the container runs. --format json prints JSON
Lines as Docker's API lists ports ({\"IP\", \"PrivatePort\", \"PublicPort\", \"Type\"}), and
--format TEMPLATE executes a Go template for each.

Examples:
  ctr-port web
  ctr-port web 80
  curl http://$(ctr-port web 80/tcp)/
  ctr-port --format '{{.PublicPort}}' web 53/udp";

/// List port mappings or a specific mapping for the container
#[derive(Parser, Debug)]
#[command(name = "ctr-port", version, after_help = AFTER)]
pub struct Cli {
    /// The container: a name, ID or unique ID prefix, or - for the JSON a previous tool printed
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Only this container port: 80, 80/tcp, 53/udp
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,

    /// Output format: json or a Go TEMPLATE [default: Docker's lines]
    #[arg(long)]
    pub format: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let filter = cli
        .port
        .as_deref()
        .map(|p| p.parse::<Port>())
        .transpose()
        .map_err(Error::from)?;
    let name = one_name(cli.container)?;
    let containers = Containers::open(cli.root.root().containers_dir())?;
    let c = container::refresh(&containers.find(&name)?);
    let ports = view::ports(&c);
    let proto = filter.map(|p| p.proto.to_string());
    let wanted = filter.map(|p| (p.port, proto.as_deref().unwrap_or("tcp")));
    let lines = view::port_lines(&ports, wanted).ok_or_else(|| {
        Error::InvalidInput(format!(
            "No public port '{}' published for {name}",
            filter.map(|p| p.to_string()).unwrap_or_default()
        ))
    })?;
    let text = match cli.format.as_deref().map(|f| Format::parse(Some(f))) {
        None | Some(Format::Auto) | Some(Format::Table(_)) => {
            lines.iter().map(|l| format!("{l}\n")).collect::<String>()
        }
        Some(f) => {
            let mut selected: Vec<&view::PortEntry> = ports
                .iter()
                .filter(|p| p.published())
                .filter(|p| wanted.is_none_or(|(n, pr)| p.private_port == n && p.proto == pr))
                .collect();
            if wanted.is_none() {
                selected.sort_by_key(|p| (p.private_port, p.proto.clone()));
            }
            let items: Vec<Value> = selected.iter().map(|p| p.to_json()).collect();
            match f {
                Format::Template(t) => output::render_each(&t, &items)?,
                _ => items.iter().map(|v| format!("{v}\n")).collect(),
            }
        }
    };
    output::write_stdout(text.as_bytes())
}
