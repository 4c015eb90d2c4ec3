//! berth-monitor: the process that `ctr-start` leaves behind for a running container.

use berth::Result;
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
berth-monitor is started by ctr-start and ctr-run, one per running container; it is not meant
to be run by hand. It creates the container in the runtime, answers ctr-start on its stdout,
starts the container when asked over $ROOT/containers/ID/attach.sock, writes the container's
output to its log (as its --log-driver: json-file's $ROOT/containers/ID/ID-json.log, local's
local-logs/container.log, rotated as --log-opt max-size and max-file ask; none: nowhere),
serves ctr-attach, and
when the container exits records the exit code, the finish time and whether the OOM killer
struck in state.json, then unmounts its root file system (and removes it with --rm).";

/// Watch over one container while it runs (internal: started by ctr-start)
#[derive(Parser, Debug)]
#[command(name = "berth-monitor", version, after_help = AFTER)]
pub struct Cli {
    /// The container's full ID
    #[arg(value_name = "ID")]
    pub id: String,

    #[command(flatten)]
    pub root: RootArgs,

    /// Run the container's health check in it once and record the result in its State.Health
    /// (the monitor's own child, one per check)
    #[arg(long = "health-probe", hide = true)]
    pub health_probe: bool,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    if cli.health_probe {
        // It enters the container: run from a sealed binary (the monitor's already is).
        berth::container::protect_binary()?;
        return berth::container::health::probe(&cli.root.root(), &cli.id);
    }
    berth::container::monitor::main(&cli.root.root(), &cli.id)
}
