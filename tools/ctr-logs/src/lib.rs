//! ctr-logs: a container's output, as `docker container logs`.

use berth::container::logs::{self, LogOptions};
use berth::container::{lifecycle, Containers};
use berth::{Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  ctr-logs web
  ctr-logs -f --tail 10 web
  ctr-logs --since 10m -t web

The container's stdout goes to stdout and its stderr to stderr, as it was written. The log is
where its --log-driver keeps it: json-file's $ROOT/containers/ID/ID-json.log (Docker's JSON
lines), local's $ROOT/containers/ID/local-logs/container.log (Docker's framed entries), each
with the files rotated at --log-opt max-size (NAME.1 … NAME.N-1, .gz when compressed), read
oldest first. -f follows the log until the container stops, into the new file when the log is
rotated. A container with --log-driver none has no log: ctr-logs fails for it, as docker logs.";

/// Fetch the logs of a container
#[derive(Parser, Debug)]
#[command(name = "ctr-logs", version, after_help = AFTER)]
pub struct Cli {
    /// The container: a name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Follow the log output
    #[arg(short, long)]
    pub follow: bool,

    /// Number of lines to show from the end of the logs, or "all"
    #[arg(short = 'n', long, value_name = "N", default_value = "all")]
    pub tail: String,

    /// Show logs since a time (2026-01-02T15:04:05Z, Unix seconds) or a duration ago (42m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Show logs before a time or a duration ago
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,

    /// Show the extra details of each line: the attributes its container's --log-opt labels=,
    /// env= and tag= recorded (KEY=VALUE,… before the line)
    #[arg(long)]
    pub details: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let store = Containers::open(root.containers_dir())?;
    let c = lifecycle::refresh(store.find(&one_name(cli.container)?)?);
    let tail =
        match cli.tail.as_str() {
            "all" | "-1" => None,
            n => Some(n.parse::<usize>().map_err(|_| {
                Error::Usage(format!("--tail {n}: give a number of lines or \"all\""))
            })?),
        };
    let opts = LogOptions {
        follow: cli.follow,
        tail,
        since: cli.since.as_deref().map(logs::parse_time).transpose()?,
        until: cli.until.as_deref().map(logs::parse_time).transpose()?,
        timestamps: cli.timestamps,
        details: cli.details,
    };
    logs::show(
        &store,
        &c,
        &opts,
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    )
}
