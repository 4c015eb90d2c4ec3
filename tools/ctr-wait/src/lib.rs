//! ctr-wait: wait for containers to stop, as `docker container wait`.

use berth::container::lifecycle;
use berth::output::print_json;
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-wait web
  ctr-run -d busybox sh -c 'exit 3' | ctr-wait -

Blocks until each container is not running, then prints {\"id\",\"StatusCode\"} (Docker's field
name for the exit code). The exit status of ctr-wait itself is 0 unless a container is unknown.";

/// Block until one or more containers stop, then print their exit codes
#[derive(Parser, Debug)]
#[command(name = "ctr-wait", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let store = berth::container::Containers::open(root.containers_dir())?;
    berth_cli::for_each("ctr-wait", expand_stdin(cli.containers)?, |name| {
        let r = store
            .resolve(name)
            .and_then(|id| lifecycle::wait(&root, &id).map(|code| (id, code)));
        let (id, code) = r?;
        print_json(&json!({"id": id, "StatusCode": code}))?;
        Ok(())
    })
}
