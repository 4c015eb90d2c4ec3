//! ctr-rename: rename a container, as `docker container rename`.

use berth::container::create::{check_name, name_conflict};
use berth::container::Containers;
use berth::{output, Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
NEW must be free and follow Docker's rule for names ([a-zA-Z0-9][a-zA-Z0-9_.-]*).
Prints {\"id\",\"name\"} with the new name.

Examples:
  ctr-rename web web-old
  ctr-create busybox | ctr-rename - app";

/// Rename a container
#[derive(Parser, Debug)]
#[command(name = "ctr-rename", version, after_help = AFTER)]
pub struct Cli {
    /// The container: a name, an ID or a unique ID prefix, or - for the JSON a previous tool
    /// printed
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// The new name
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let old = one_name(cli.container)?;
    let new = cli
        .new_name
        .strip_prefix('/')
        .unwrap_or(&cli.new_name)
        .to_string();
    if new.is_empty() {
        return Err(Error::InvalidInput(
            "Neither old nor new names may be empty".into(),
        ));
    }
    check_name(&new)?;
    let containers = Containers::open(cli.root.root().containers_dir())?;
    let _lock = containers.lock()?;
    let mut c = containers.find(&old)?;
    if c.name == new {
        return Err(Error::InvalidInput(
            "Renaming a container with the same name as its current name".into(),
        ));
    }
    if let Some(id) = containers.name_taken(&new)? {
        return Err(name_conflict(&new, &id));
    }
    let was = std::mem::replace(&mut c.name, new);
    // Links to and from it follow the new name, as Docker's.
    berth::container::links::renamed(&containers, &mut c, &was)?;
    containers.save(&c)?;
    output::print_json(&json!({"id": c.id, "name": c.name}))
}
