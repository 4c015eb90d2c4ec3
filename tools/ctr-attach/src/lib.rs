//! ctr-attach: attach to a running container, as `docker container attach`.

use berth::container::lifecycle::{self, Started, Streams};
use berth::container::Containers;
use berth::{Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  ctr-attach web
  ctr-attach --no-stdin web

Connects this terminal to the container's standard streams through its monitor: its output here,
what is typed to its stdin (when it was created with -i). Ctrl-P Ctrl-Q (--detach-keys) detaches
and leaves it running. Exits with the container's exit code when it ends; 1 when it cannot
attach (no such container, or one that is not running: start it first).

Without a tty, the signals ctr-attach receives go to the container's main process
(--sig-proxy). With one, each resize of this terminal resizes the container's.";

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

    /// Proxy all received signals to the container's process (without a tty)
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        long_help = "For a container made without -t, pass the signals ctr-attach receives \
(SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and the others a process can catch, but \
SIGCHLD, SIGPIPE, SIGURG and SIGWINCH) on to the container's main process, as docker attach's \
--sig-proxy: Ctrl-C stops the container, not just ctr-attach. --sig-proxy=false: ctr-attach \
dies of them and the container runs on."
    )]
    pub sig_proxy: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<u8> {
    // As docker attach: its own failures (no such container, a stopped one, …) exit 1; the
    // container's exit code otherwise.
    attach(cli).map_err(|e| match e {
        Error::Usage(_) => e,
        e => Error::Runtime {
            message: e.to_string(),
            code: 1,
        },
    })
}

fn attach(cli: Cli) -> Result<u8> {
    let root = cli.root.root();
    let store = Containers::open(root.containers_dir())?;
    let c = lifecycle::refresh(store.find(&one_name(cli.container)?)?);
    let tty = c.config.tty.unwrap_or(false);
    lifecycle::check_attachable(&c)?;
    // As docker attach: a tty container needs a terminal on stdin unless --no-stdin.
    berth::container::signals::check_tty(!cli.no_stdin, tty)?;
    let open_stdin = c.config.open_stdin.unwrap_or(false);
    let streams = Streams {
        stdin: open_stdin && !cli.no_stdin,
        stdout: true,
        stderr: true,
        sig_proxy: cli.sig_proxy && !tty,
    };
    match lifecycle::attach_to(&store, &c, streams, &cli.detach_keys)? {
        Started::Exited(code) => Ok(code.clamp(0, 255) as u8),
        _ => Ok(0),
    }
}
