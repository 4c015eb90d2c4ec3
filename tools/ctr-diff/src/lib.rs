//! ctr-diff: the changes to files in a container's file system, as `docker container diff`.

use std::io::IsTerminal;

use berth::container::{changes, Containers};
use berth::output::write_stdout;
use berth::{Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  ctr-diff web
  ctr-diff --format json web | jq -r 'select(.Kind == 1) | .Path'

Lists what the container changed since it was created, from its overlay upper directory:
  A  a file or directory was added
  C  a file or directory was changed (or a directory's content was)
  D  a file or directory was deleted
A path is changed when it exists in the image, added otherwise; the parent of an added or deleted
path is listed as changed. What the runtime mounted (/etc/hosts, /etc/hostname, /etc/resolv.conf,
/dev, /proc, /sys: Docker's init layer) is not a change, nor are the contents of volumes (their
mount points are, as in docker diff). On a terminal (or --format text) one `K /path` line per
change; otherwise (or --format json) JSON Lines with Docker's kinds {\"Kind\":0|1|2,\"Path\":…}
(0 changed, 1 added, 2 deleted).";

/// Inspect changes to files or directories on a container's filesystem
#[derive(Parser, Debug)]
#[command(name = "ctr-diff", version, after_help = AFTER)]
pub struct Cli {
    /// The container: a name, an ID or a unique ID prefix; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// text or json [default: text on a terminal, json otherwise]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let json = match cli.format.as_deref() {
        None => !std::io::stdout().is_terminal(),
        Some("json") => true,
        Some("text") | Some("table") => false,
        Some(f) => {
            return Err(Error::Usage(format!(
                "--format {f}: ctr-diff prints text or json"
            )))
        }
    };
    let name = one_name(cli.container)?;
    let store = Containers::open(cli.root.root().containers_dir())?;
    let c = store.find(&name)?;
    let list = changes::changes(&c)
        .map_err(|e| Error::InvalidInput(format!("container {}: {e}", c.id)))?;
    let mut out = String::new();
    for ch in &list {
        if json {
            out.push_str(&serde_json::to_string(ch).expect("serialises"));
        } else {
            out.push_str(&ch.line());
        }
        out.push('\n');
    }
    write_stdout(out.as_bytes())
}
