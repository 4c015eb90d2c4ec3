//! img-search: find repositories in a registry, as `docker search`.

use berth::output::{self, col, Format};
use berth::registry::{search, Client};
use berth::{Error, Result};
use berth_cli::RegistryArgs;
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
For a registry other than Docker Hub, TERM is matched against the registry's catalog
(/v2/_catalog); prefix it with the registry: img-search 127.0.0.1:5000/busy. Docker Hub is
searched with its search API.

A table on a terminal, JSON Lines otherwise (Name, Description, StarCount, IsOfficial,
IsAutomated); --format json|table|TEMPLATE.";

/// Search a registry for images
#[derive(Parser, Debug)]
#[command(name = "img-search", version, after_help = AFTER)]
pub struct Cli {
    /// [REGISTRY/]TERM
    #[arg(value_name = "TERM")]
    pub term: String,

    /// At most this many results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,

    /// Output format: json, table, table TEMPLATE, or a Go TEMPLATE
    #[arg(long)]
    pub format: Option<String>,

    #[command(flatten)]
    pub registry: RegistryArgs,

    #[command(flatten)]
    pub root: berth_cli::RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    if cli.limit == 0 || cli.limit > 10_000 {
        return Err(Error::Usage("--limit takes 1 to 10000".into()));
    }
    let (domain, term) = match cli.term.split_once('/') {
        Some((d, t)) if d.contains('.') || d.contains(':') || d == "localhost" => {
            (d.to_string(), t.to_string())
        }
        _ => ("docker.io".to_string(), cli.term.clone()),
    };
    let client = Client::new(&domain, &cli.registry.options()?)?;
    let rows = search::search(&client, &term, cli.limit)?;
    let columns = [
        col("NAME", "Name"),
        col("DESCRIPTION", "Description"),
        col("STARS", "StarCount"),
        col("OFFICIAL", "IsOfficial"),
    ];
    output::print_list(&rows, &columns, Format::parse(cli.format.as_deref()))
}
