//! vol-create: create a volume, as `docker volume create`.

use berth::output::print_json;
use berth::volume::Volumes;
use berth::{Error, Result};
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::{json, Map};

const AFTER: &str = "\
Examples:
  vol-create data
  vol-create --label app=web                # a random 64-hex name
  ctr-run -v data:/var/lib/data busybox ls /var/lib/data

Makes $ROOT/volumes/NAME/_data (Docker's local driver). A volume that exists is left as it is.
Prints {\"name\"}.";

/// Create a volume
#[derive(Parser, Debug)]
#[command(name = "vol-create", version, after_help = AFTER)]
pub struct Cli {
    /// The volume's name [default: a random one]
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Set metadata on the volume
    #[arg(short, long = "label", value_name = "KEY[=VALUE]")]
    pub labels: Vec<String>,

    /// Volume driver: only local
    #[arg(short, long, default_value = "local")]
    pub driver: String,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    if cli.driver != "local" {
        return Err(Error::InvalidInput(format!(
            "volume driver {:?} is not supported: berth has the local driver only",
            cli.driver
        )));
    }
    let mut labels = Map::new();
    for l in &cli.labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        labels.insert(k.to_string(), json!(v));
    }
    let (v, _) = Volumes::open(&cli.root.root())?.create(cli.name.as_deref(), labels)?;
    print_json(&json!({"name": v.name}))
}
