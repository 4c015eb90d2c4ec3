//! ctr-create: create a container from an image, as `docker container create`.

pub mod args;
mod ns_spec_tests;
mod spec_tests;

use berth::{output, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

pub use args::CreateArgs;

const AFTER: &str = "\
Makes $ROOT/containers/<id>/: config.json (an OCI runtime config, as Docker's daemon makes it
from the image and the flags), state.json (the record ctr-inspect shows), upper/ work/ rootfs/
(an overlay over the image's snapshots, mounted when the container starts), hostname, hosts,
resolv.conf and the log file. Nothing runs yet: ctr-start does that.

An image not in the store is pulled first, as docker create does (--pull missing, the
default; --pull always pulls a newer one, --pull never refuses): Docker's pull lines go to
stderr (-q: none). Containers need root. Prints {\"id\",\"name\"}; warnings go to stderr.
Usage errors exit 125, as Docker's; other failures 1.

Examples:
  ctr-create busybox
  ctr-create --name web -e PORT=80 -w /www busybox httpd -f
  img-pull busybox | ctr-create - sh -c 'echo hi'
  ctr-create --runtime runc --cap-drop ALL --read-only -m 64m --cpus 0.5 busybox true";

/// Create a new container
#[derive(Parser, Debug)]
#[command(name = "ctr-create", version, after_help = AFTER, disable_help_flag = true)]
pub struct Cli {
    #[command(flatten)]
    pub create: CreateArgs,

    #[command(flatten)]
    pub root: RootArgs,

    /// Print help (-h is --hostname, as in Docker)
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    berth::container::liveness::reconcile(&cli.root.root());
    let mut args = cli.create;
    args.image = one_name(args.image)?;
    args.pull_image(&cli.root.root())?;
    let c = berth::container::create(&cli.root.root(), &args.into(), |w| {
        berth_cli::warn("ctr-create", w)
    })?;
    output::print_json(&json!({"id": c.id, "name": c.name}))
}
