//! ctr-cp: copy files between the host and a container, as `docker container cp`.

use std::io;
use std::path::Path;

use berth::container::copy::{self, Options, Side};
use berth::output::print_json;
use berth::{Error, Result};
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-cp web:/www/index.html .         # out of the container
  ctr-cp index.html web:/www/          # into it
  ctr-cp web:/etc/. ./etc-copy         # a directory's contents
  tar -c -C dir . | ctr-cp - web:/tmp  # a tar stream on stdin, extracted into /tmp
  ctr-cp web:/var/log - | tar -t       # a tar of /var/log on stdout

One of SRC and DEST is CONTAINER:PATH, the other a host path or - (a tar stream). Docker's rules:
a file onto a file replaces it; a file or directory onto an existing directory goes into it; onto
a missing path it is created under that name (its parent must exist; a missing path ending in /
is an error for a file); SRC/. copies a directory's contents. Works on running and stopped
containers. Paths inside the container are resolved as the container sees them, symlinks
included, and never outside its root file system. A path in one of its volumes or bind mounts is
the mount's host directory (a copy into a read-only mount is refused); its tmpfs mounts are
reachable while it runs.

Files copied into the container are owned by root (uid 0, gid 0) unless -a keeps the source's
owners; copied out, they keep the container's numeric owners when run as root. Modes and
modification times are kept. Prints {\"id\",\"name\",\"entries\",\"bytes\"} unless the tar goes
to stdout.";

/// Copy files and directories between a container and the host
#[derive(Parser, Debug)]
#[command(name = "ctr-cp", version, after_help = AFTER)]
pub struct Cli {
    /// Keep the source's owners (uid and gid) when copying into the container
    #[arg(short = 'a', long)]
    pub archive: bool,

    /// Follow a symbolic link that is SRC
    #[arg(short = 'L', long)]
    pub follow_link: bool,

    /// CONTAINER:PATH, a host path, or - (a tar stream on stdin)
    #[arg(value_name = "SRC")]
    pub src: String,

    /// CONTAINER:PATH, a host path, or - (a tar stream on stdout)
    #[arg(value_name = "DEST")]
    pub dest: String,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let opts = Options {
        archive: cli.archive,
        follow: cli.follow_link,
    };
    let copied = match (copy::parse_side(&cli.src), copy::parse_side(&cli.dest)) {
        (Side::Container { name, path }, Side::Stdio) => {
            copy::copy_out(&root, &name, &path, None, io::stdout().lock(), opts)?;
            return Ok(());
        }
        (Side::Container { name, path }, Side::Host(dest)) => {
            copy::copy_out(&root, &name, &path, Some(&dest), io::sink(), opts)?
        }
        (Side::Stdio, Side::Container { name, path }) => {
            copy::copy_in(&root, None, io::stdin().lock(), &name, &path, opts)?
        }
        (Side::Host(src), Side::Container { name, path }) => copy::copy_in(
            &root,
            Some(Path::new(&src)),
            io::empty(),
            &name,
            &path,
            opts,
        )?,
        (Side::Container { .. }, Side::Container { .. }) => {
            return Err(Error::Usage(
                "copying between containers is not supported: copy to the host first".into(),
            ))
        }
        _ => {
            return Err(Error::Usage(
                "one of SRC and DEST must be CONTAINER:PATH".into(),
            ))
        }
    };
    print_json(&json!({
        "id": copied.container.id,
        "name": copied.container.name,
        "entries": copied.entries,
        "bytes": copied.bytes,
    }))
}
