//! ctr-attach: attach to a running container, as `docker container attach`.

use berth::container::lifecycle::{self, Started, Streams};
use berth::container::Containers;
use berth::Result;
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  ctr-attach web
  ctr-attach --no-stdin web

Connects this terminal to the container's standard streams through its monitor: its output here,
what is typed to its stdin (when it was created with -i). Ctrl-P Ctrl-Q (--detach-keys) detaches
and leaves it running. Exits with the container's exit code when it ends.";

/// Attach local standard input, output, and error streams to a running container
#[derive(Parser, Debug)]
#[command(name = "ctr-attach", version, after_help = AFTER)]
pub struct Cli {
    /// The container: a name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Do not attach stdin
    #[arg(long)]
    pub no_stdin: bool,

    /// The keys that detach
    #[arg(long, value_name = "KEYS", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<u8> {
    let root = cli.root.root();
    let store = Containers::open(root.containers_dir())?;
    let c = lifecycle::refresh(store.find(&one_name(cli.container)?)?);
    let open_stdin = c.config.open_stdin.unwrap_or(false);
    let streams = Streams {
        stdin: open_stdin && !cli.no_stdin,
        stdout: true,
        stderr: true,
    };
    match lifecycle::attach_to(&store, &c, streams, &cli.detach_keys)? {
        Started::Exited(code) => Ok(code.clamp(0, 255) as u8),
        _ => Ok(0),
    }
}
