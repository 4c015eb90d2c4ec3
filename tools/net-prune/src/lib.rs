//! net-prune: remove unused networks, as `docker network prune`.

use berth::cli::RootArgs;
use berth::output::print_json;
use berth::Result;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  net-prune -f

Removes every user-defined network that no container (running or not) is on. Prints
{\"NetworksDeleted\": [names]}. berth never asks: -f is accepted for Docker's sake.";

/// Remove all unused networks
#[derive(Parser, Debug)]
#[command(name = "net-prune", version, after_help = AFTER)]
pub struct Cli {
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
    let gone: Vec<String> = berth::network::prune(&cli.root.root())?
        .into_iter()
        .map(|n| n.name)
        .collect();
    print_json(&json!({"NetworksDeleted": gone}))
}
