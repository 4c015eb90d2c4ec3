//! net-prune: remove unused networks, as `docker network prune`.

use berth::container::orchestrate;
use berth::filter::PruneFilter as Filter;
use berth::output::print_json;
use berth::Result;
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  net-prune -f
  net-prune -f --filter until=24h --filter label=env=test

Filters: until=DURATION|TIMESTAMP (created before: 10m, 24h, 2026-01-02, a Unix time),
label=KEY[=VALUE], label!=KEY[=VALUE]; all must match.

Removes every user-defined network that no container (running or not) is on. Prints
{\"NetworksDeleted\": [names]}. berth never asks: -f is accepted for Docker's sake.";

/// Remove all unused networks
#[derive(Parser, Debug)]
#[command(name = "net-prune", version, after_help = AFTER)]
pub struct Cli {
    /// Do not prompt for confirmation (berth never prompts)
    #[arg(short, long)]
    pub force: bool,

    /// Provide filter values (e.g. until=24h, label=env=test)
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let filters = Filter::parse_all(&cli.filters)?;
    let keep = |net: &berth::berth_net::store::Network| {
        let label = |k: &str| net.labels.get(k).cloned();
        filters.iter().all(|f| f.matches_parts(&net.created, label))
    };
    let gone: Vec<String> = orchestrate::prune_networks(&cli.root.root(), &keep)?
        .into_iter()
        .map(|n| n.name)
        .collect();
    print_json(&json!({"NetworksDeleted": gone}))
}
