//! vol-prune: remove unused volumes, as `docker volume prune`.

use berth::output::print_json;
use berth::Result;
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  vol-prune -f
  vol-prune -af                             # named volumes too

Removes the anonymous volumes no container uses (with -a every unused volume). Prints
{\"VolumesDeleted\": [names]}. berth never asks: -f is accepted for Docker's sake.";

/// Remove unused volumes
#[derive(Parser, Debug)]
#[command(name = "vol-prune", version, after_help = AFTER)]
pub struct Cli {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short, long)]
    pub all: bool,

    /// Do not prompt for confirmation (berth never prompts)
    #[arg(short, long)]
    pub force: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    berth::container::liveness::reconcile(&cli.root.root());
    let gone = berth::container::orchestrate::prune_volumes(&cli.root.root(), cli.all)?;
    print_json(&json!({"VolumesDeleted": gone}))
}
