//! ctr-prune: remove all stopped containers, as `docker container prune`.

use std::io::{BufRead, IsTerminal, Write};

use berth::container::prune;
use berth::filter::PruneFilter as Filter;
use berth::output::print_json;
use berth::Result;
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-prune -f
  ctr-prune -f --filter until=24h
  ctr-prune -f --filter label=env=test --filter label!=keep

Removes every container that is not running (created, exited or dead) that all filters match, and
the directories a ctr-create that died half-way left without a record. Without -f it asks first
(on a terminal; otherwise it removes nothing). Prints {\"ContainersDeleted\":[…],
\"SpaceReclaimed\":BYTES}, the space being that of the containers' own layers.

Filters: until=DURATION|TIMESTAMP (created before: 10m, 24h, 2026-01-02, a Unix time),
label=KEY, label=KEY=VALUE, label!=KEY[=VALUE].";

/// Remove all stopped containers
#[derive(Parser, Debug)]
#[command(name = "ctr-prune", version, after_help = AFTER)]
pub struct Cli {
    /// Do not prompt for confirmation
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
    berth::container::liveness::reconcile(&cli.root.root());
    let filters = Filter::parse_all(&cli.filters)?;
    if !cli.force {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Err(berth::Error::Usage(
                "not removing anything without confirmation: use -f (stdin is not a terminal)"
                    .into(),
            ));
        }
        eprint!(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] "
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = stdin.lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            return Ok(());
        }
    }
    let p = prune::prune(&cli.root.root(), &filters)?;
    print_json(&json!({"ContainersDeleted": p.deleted, "SpaceReclaimed": p.space}))
}
