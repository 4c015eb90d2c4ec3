//! img-prune: remove what no image needs, as `docker image prune`.

use berth::{gc, output, Result};
use berth_cli::ImageArgs;
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  img-prune                 # blobs and snapshots no image uses, leftovers of interrupted pulls
  img-prune -a              # and untagged (dangling) images no container uses
  img-prune --layout DIR    # in another OCI layout

Waits for running pulls and imports to finish first (they hold the store's writer lock), so a
blob that is about to be tagged is never removed. Prints
{\"images\",\"blobs\",\"snapshots\",\"leftovers\",\"reclaimed\"} (reclaimed in bytes) and, on a
terminal, Docker's \"Total reclaimed space\" line on stderr.";

/// Remove unused blobs, snapshots and dangling images
#[derive(Parser, Debug)]
#[command(name = "img-prune", version, after_help = AFTER)]
pub struct Cli {
    /// Also remove untagged images that no container uses
    #[arg(short, long)]
    pub all: bool,

    /// Do not prompt (accepted for Docker compatibility; img-prune never prompts)
    #[arg(short, long)]
    pub force: bool,

    #[command(flatten)]
    pub image: ImageArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let layout = cli.image.layout()?;
    let root = cli.image.root.root();
    let root = cli.image.layout.is_none().then_some(&root);
    let pruned = gc::prune(&layout, root, cli.all)?;
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "Total reclaimed space: {}",
            output::human_size(pruned.reclaimed)
        );
    }
    output::print_json(&pruned.to_json())
}
