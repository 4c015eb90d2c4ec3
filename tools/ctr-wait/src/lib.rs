//! ctr-wait: wait for containers to stop, as `docker container wait`.

use berth::container::lifecycle;
use berth::output::{print_json, render_each, write_stdout};
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-wait web
  code=$(ctr-wait web)
  ctr-run -d busybox sh -c 'exit 3' | ctr-wait -
  ctr-wait --format json web

Blocks until each container is not running, then prints its exit code alone on a line, in the
order given, as `docker wait` does. --format json prints {\"id\",\"StatusCode\"} instead (Docker's
field name for the exit code); --format TEMPLATE executes a Go template on that object. The exit
status of ctr-wait itself is 0 unless a container is unknown.";

/// Block until one or more containers stop, then print their exit codes
#[derive(Parser, Debug)]
#[command(name = "ctr-wait", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    /// Output: the exit code alone (default), json, or a Go TEMPLATE ('{{.id}} {{.StatusCode}}')
    #[arg(
        long,
        value_name = "FORMAT",
        long_help = "Output format. By default each container's exit code is printed alone on a \
                     line, as `docker wait` prints it, so that `code=$(ctr-wait x)` works. \
                     `json` prints one {\"id\",\"StatusCode\"} object per container; any other \
                     value is a Go template executed on that object ('{{.id}} {{.StatusCode}}')."
    )]
    pub format: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let store = berth::container::Containers::open(root.containers_dir())?;
    // A template is checked before anything is waited for.
    let format = cli
        .format
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    if let Some(t) = format.filter(|f| *f != "json") {
        berth::template::Template::parse(t)?;
    }
    berth_cli::for_each("ctr-wait", expand_stdin(cli.containers)?, |name| {
        let r = store
            .resolve(name)
            .and_then(|id| lifecycle::wait(&root, &id).map(|code| (id, code)));
        let (id, code) = r?;
        let obj = json!({"id": id, "StatusCode": code});
        match format {
            None => write_stdout(format!("{code}\n").as_bytes()),
            Some("json") => print_json(&obj),
            Some(t) => write_stdout(render_each(t, &[obj])?.as_bytes()),
        }
    })
}
