//! vol-inspect: show volumes' records, as `docker volume inspect`.

use berth::output::{print_json_pretty, render_each};
use berth::volume::Volumes;
use berth::{Error, Result};
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::Value;

const AFTER: &str = "\
Examples:
  vol-inspect data
  vol-inspect --format '{{.Mountpoint}}' data

Prints a JSON array of Docker's volume records: CreatedAt, Driver, Labels, Mountpoint, Name,
Options, Scope.";

/// Display detailed information on one or more volumes
#[derive(Parser, Debug)]
#[command(name = "vol-inspect", version, after_help = AFTER)]
pub struct Cli {
    /// Volumes; - reads JSON from a previous tool
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,

    /// Format the output using a Go template
    #[arg(short, long)]
    pub format: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let vols = Volumes::open(&cli.root.root())?;
    let mut out = Vec::new();
    let mut missing = None;
    for n in expand_stdin(cli.volumes)? {
        match vols.get(&n) {
            Ok(v) => out.push(serde_json::to_value(v).expect("serialises")),
            Err(e) => {
                berth_cli::warn("vol-inspect", &e);
                missing = Some(e);
            }
        }
    }
    match &cli.format {
        Some(t) if t != "json" => berth::output::write_stdout(render_each(t, &out)?.as_bytes())?,
        _ => print_json_pretty(&Value::Array(out))?,
    }
    match missing {
        Some(e) => Err(Error::InvalidInput(format!("{e}"))),
        None => Ok(()),
    }
}
