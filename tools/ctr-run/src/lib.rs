//! ctr-run: create and start a container, as `docker container run`.

use berth::container::create::create;
use berth::container::lifecycle::{self, Started, Streams};
use berth::container::spec::run_flags::parse_attach;
use berth::container::spec::CreateOptions;
use berth::output::print_json;
use berth::Result;
use berth_cli::{one_name, warn, RootArgs};
use clap::{CommandFactory, Parser};
use ctr_create::CreateArgs;
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-run --rm busybox echo hi
  ctr-run -it --rm busybox sh
  ctr-run -d --name web busybox httpd -f -p 80
  img-pull busybox | ctr-run --rm - id

Creates the container as ctr-create does and starts it as ctr-start does. Attached (the default),
stdout and stderr are the container's and ctr-run exits with its exit code; 125 when the
container could not be made or started, 126 when its command cannot be executed, 127 when it is
not found; usage errors exit 125 too, as Docker's. An image not in the store is pulled first
(--pull), with Docker's pull lines on stderr. With -d, prints {\"id\",\"name\"} and leaves it running under its monitor.
Ctrl-P Ctrl-Q (--detach-keys) detaches from a -it container and leaves it running.";

/// Create and run a new container from an image
#[derive(Parser, Debug)]
#[command(name = "ctr-run", version, after_help = AFTER, disable_help_flag = true)]
pub struct Cli {
    /// Print help (-h is --hostname, as in Docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    /// Run the container in the background and print its ID
    #[arg(short, long)]
    pub detach: bool,

    /// The keys that detach from the container
    #[arg(long, value_name = "KEYS", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,

    /// Proxy received signals to the container's process (--sig-proxy=false: not)
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        long_help = "Attached, pass the signals ctr-run receives (SIGINT, SIGTERM, SIGHUP, \
SIGQUIT, SIGUSR1, SIGUSR2 and the others a process can catch, but SIGCHLD, SIGPIPE, SIGURG and \
SIGWINCH) on to the container's main process, as docker run's --sig-proxy: `kill` of ctr-run \
(or Ctrl-C without -t) reaches the container, and ctr-run exits with its exit code once it has \
ended. --sig-proxy=false: ctr-run dies of them and the container runs on."
    )]
    pub sig_proxy: bool,

    #[command(flatten)]
    pub create: CreateArgs,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(mut cli: Cli) -> Result<u8> {
    let root = cli.root.root();
    berth::container::liveness::reconcile(&root);
    cli.create.image = one_name(std::mem::take(&mut cli.create.image))?;
    // -a with -d is a conflict, a stream that is none of the three a usage error: before
    // anything is made.
    let attach = parse_attach(&cli.create.attach, cli.create.interactive, cli.detach)?;
    if !cli.detach {
        // As docker run: -it needs a terminal on stdin; checked before anything is made.
        berth::container::signals::check_tty(cli.create.interactive, cli.create.tty)?;
    }
    cli.create.pull_image(&root)?;
    let mut opts: CreateOptions = cli.create.clone().into();
    opts.detach = cli.detach;
    let c = create(&root, &opts, |m| warn("ctr-run", m))?;
    if cli.detach {
        // As docker run -d: a container that fails to start stays, created, unless --rm (then
        // the start removes it, anonymous volumes and all).
        lifecycle::start(&root, &c.id, None, &cli.detach_keys)?;
        print_json(&json!({"id": c.id, "name": c.name}))?;
        return Ok(0);
    }
    let streams = Streams {
        stdin: attach.stdin,
        stdout: attach.stdout,
        stderr: attach.stderr,
        // docker run proxies with a tty too (since docker/cli ee29504, 2019: Docker 20.10).
        sig_proxy: cli.sig_proxy,
    };
    match lifecycle::start(&root, &c.id, Some(streams), &cli.detach_keys) {
        Ok(Started::Exited(code)) => {
            if cli.create.rm {
                // The monitor removes it; wait until it has, so that the caller sees it gone.
                lifecycle::wait_removed(&root, &c.id);
            }
            Ok(code.clamp(0, 255) as u8)
        }
        Ok(_) => Ok(0),
        Err(e) => Err(e),
    }
}
