//! ctr-export: a container's file system as a tar archive, as `docker container export`.

use std::fs;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use berth::container::export;
use berth::error::IoContext;
use berth::{Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  ctr-export web > web.tar
  ctr-export -o web.tar web
  ctr-export web | img-import - web-flat:1

Writes the container's merged file system as a tar, as docker export: the image, the container's
changes, and what Docker's init layer holds where the image lacks it (/.dockerenv, /etc/hosts,
/etc/hostname and /etc/resolv.conf as empty files, /etc/mtab, /dev/console, /dev/pts, /dev/shm,
/proc, /sys); not what is mounted there nor its volumes' contents. Numeric owners, modes,
modification times, symlinks, hard links, devices and extended attributes, entries in path order,
streamed. A stopped container's file system is
mounted for the export in a private mount namespace (this needs root). Refuses to write the tar to
a terminal.";

/// Export a container's filesystem as a tar archive
#[derive(Parser, Debug)]
#[command(name = "ctr-export", version, after_help = AFTER)]
pub struct Cli {
    /// The container: a name, an ID or a unique ID prefix; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Write to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    match &cli.output {
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Error::Usage(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
                ));
            }
            let name = one_name(cli.container)?;
            let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
            export::export(&root, &name, &mut out)?;
            out.flush().map_err(|e| Error::stream("write to stdout", e))
        }
        Some(path) => {
            let name = one_name(cli.container)?;
            let f = fs::File::create(path).with_path("create", path)?;
            let mut out = BufWriter::with_capacity(1 << 20, f);
            let r = export::export(&root, &name, &mut out)
                .and_then(|_| out.flush().with_path("write", path));
            if r.is_err() {
                let _ = fs::remove_file(path);
            }
            r
        }
    }
}
