//! ctr-inspect: show containers in detail, as `docker container inspect`.

use berth::container::{self, Containers};
use berth::{output, Result};
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Prints a JSON array shaped as `docker container inspect` prints it (Id, Created, Path, Args,
State, Image, ResolvConfPath, HostnamePath, HostsPath, LogPath, Name, Driver, HostConfig,
GraphDriver, Mounts, Config, NetworkSettings), or with --format a Go template executed for each
container. Containers that are not found are errors after the others are printed.

Examples:
  ctr-inspect web
  ctr-inspect --format '{{.State.Status}} {{.Config.Image}}' web
  ctr-inspect --format '{{json .HostConfig}}' 3f2a
  ctr-create busybox | ctr-inspect -";

/// Display detailed information on one or more containers
#[derive(Parser, Debug)]
#[command(name = "ctr-inspect", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes, or - for the JSON a previous tool printed
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    /// Format the output with a Go template (json for the JSON array)
    #[arg(short, long)]
    pub format: Option<String>,

    /// Display total file sizes (accepted; berth does not compute them yet)
    #[arg(short, long)]
    pub size: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    berth::container::liveness::reconcile(&cli.root.root());
    let names = expand_stdin(cli.containers)?;
    let containers = Containers::open(cli.root.root().containers_dir())?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &names {
        match containers.find(name) {
            Ok(c) => found.push(container::view::inspect(&container::refresh(&c))),
            Err(e) => errors.push(e),
        }
    }
    // As Docker: what was found is printed, then every miss is an error.
    output::print_inspected(cli.format.as_deref(), found)?;
    berth_cli::all_errors("ctr-inspect", errors)
}
