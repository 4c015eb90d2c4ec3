//! img-pull: download an image from a registry, as `docker image pull`.

use berth::image::Platform;
use berth::reference::Reference;
use berth::registry::pull::{self, PullOptions};
use berth::registry::Client;
use berth::Result;
use berth_cli::{ImageArgs, ProgressArgs, RegistryArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Every blob's digest is checked while it streams; layers download in parallel; blobs already in
the store are not fetched again; an interrupted pull resumes where it stopped (a partial blob is
kept beside the store and continued with a Range request), and no unverified blob is ever stored.
Failed requests (5xx, cut connections) are retried with backoff.

Credentials come from ~/.docker/config.json (img-login, credsStore, credHelpers) or --creds.
Loopback registries (127.0.0.0/8, localhost) may use plain HTTP, as Docker allows.

Prints {\"ref\",\"digest\",\"id\",\"platform\",\"size\",\"layers\":[…]}.

Examples:
  img-pull 127.0.0.1:5000/busybox:1
  img-pull --platform linux/arm64 registry.example.com/app@sha256:…
  img-pull -q localhost:5000/app | img-inspect -";

/// Download an image from a registry
#[derive(Parser, Debug)]
#[command(name = "img-pull", version, after_help = AFTER)]
pub struct Cli {
    /// The image: NAME[:TAG|@DIGEST]
    #[arg(value_name = "IMAGE")]
    pub reference: String,

    /// Pull this platform from a multi-platform image (OS/ARCH[/VARIANT]) [default: this host's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Pull every platform of a multi-platform image, and keep the index
    #[arg(long, conflicts_with = "platform")]
    pub all_platforms: bool,

    /// Download at most N layers at once
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_concurrent: usize,

    /// Only download and store; do not unpack the layers into snapshots. (Unpacking, done
    /// while the layers download, needs root; without root, or with --layout, it is skipped.)
    #[arg(long)]
    pub no_unpack: bool,

    #[command(flatten)]
    pub progress: ProgressArgs,

    #[command(flatten)]
    pub registry: RegistryArgs,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let reference = Reference::parse(&berth_cli::one_name(cli.reference)?)?.with_default_tag();
    let platform = cli
        .platform
        .as_deref()
        .map(str::parse::<Platform>)
        .transpose()?;
    let layout = cli.image.layout_for_write()?;
    let _guard = layout.writer_guard()?;
    let client = Client::new(reference.domain(), &cli.registry.options()?)?;
    let reporter = cli.progress.reporter("Pull");
    let unpack = !cli.no_unpack && cli.image.layout.is_none() && nix::unistd::geteuid().is_root();
    let snapshots = if unpack {
        Some(cli.image.root.root().snapshots()?)
    } else {
        None
    };
    let pulled = pull::pull(
        &client,
        &layout,
        &reference,
        &PullOptions {
            platform,
            all_platforms: cli.all_platforms,
            max_concurrent: cli.max_concurrent,
            progress: reporter.as_ref(),
            snapshots: snapshots.as_ref(),
        },
    )?;
    berth::output::print_json(&pulled.to_json())
}
