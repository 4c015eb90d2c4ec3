//! ctr-stats: live resource usage of containers, as `docker container stats`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use berth::container::stats::{self, Sample};
use berth::container::{liveness, Container, Containers, Status};
use berth::output::{col, print_list, write_stdout, Column, Format};
use berth::Result;
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::Value;

const AFTER: &str = "\
Examples:
  ctr-stats                              # running containers, redrawn every second
  ctr-stats --no-stream -a
  ctr-stats --no-stream --format json web
  ctr-stats --no-stream --format 'table {{.Name}}\\t{{.MemUsage}}'

CPU % is the CPU time the container's cgroup used between two samples over the wall-clock time
between them, × 100 (100% is one CPU busy): --no-stream takes two samples 500 ms apart; streaming
redraws every second with the usage of the last second. MEM USAGE is the cgroup's memory without
inactive file cache; the LIMIT is the container's memory limit, or the host's memory when it has
none. NET I/O and BLOCK I/O are not measured (--). Streaming stops when stdout is closed or when no
shown container runs any more.

Without a terminal (or with --format json) each sample is one JSON object per container with
Docker's keys: BlockIO, CPUPerc, Container, ID, MemPerc, MemUsage, Name, NetIO, PIDs.";

const COLUMNS: &[Column] = &[
    col("CONTAINER ID", "ID"),
    col("NAME", "Name"),
    col("CPU %", "CPUPerc"),
    col("MEM USAGE / LIMIT", "MemUsage"),
    col("MEM %", "MemPerc"),
    col("NET I/O", "NetIO"),
    col("BLOCK I/O", "BlockIO"),
    col("PIDS", "PIDs"),
];

/// Display a live stream of containers' resource usage statistics
#[derive(Parser, Debug)]
#[command(name = "ctr-stats", version, after_help = AFTER)]
pub struct Cli {
    /// Containers (default: the running ones); - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,

    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,

    /// Print one sample and exit, instead of redrawing every second
    #[arg(long)]
    pub no_stream: bool,

    /// json, table, table TEMPLATE or a Go template [default: table on a terminal, json otherwise]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Do not truncate output (accepted for Docker compatibility)
    #[arg(long)]
    pub no_trunc: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

fn running(c: &Container) -> bool {
    matches!(c.state.status, Status::Running | Status::Paused)
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let store = Containers::open(root.containers_dir())?;
    let names = expand_stdin(cli.containers)?;
    let explicit = !names.is_empty();
    // (what the user called it, the container)
    let mut targets: Vec<(String, Container)> = Vec::new();
    if explicit {
        for n in &names {
            let c = liveness::refresh(&store.find(n)?);
            targets.push((n.clone(), c));
        }
    } else {
        for c in store.list()? {
            let c = liveness::refresh(&c);
            if cli.all || running(&c) {
                targets.push((c.id[..12].to_string(), c));
            }
        }
    }
    let format = Format::parse(cli.format.as_deref()).resolve();
    let tty_table = matches!(format, Format::Table(_)) && std::io::stdout().is_terminal();
    let host_mem = stats::host_memory();
    let take = |targets: &[(String, Container)]| -> HashMap<String, Sample> {
        targets
            .iter()
            .filter_map(|(_, c)| stats::sample(&store, c).map(|s| (c.id.clone(), s)))
            .collect()
    };
    let mut before = take(&targets);
    let interval = if cli.no_stream {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(1)
    };
    loop {
        std::thread::sleep(interval);
        let after = take(&targets);
        let rows: Vec<Value> = targets
            .iter()
            .map(|(given, c)| stats::row(c, given, before.get(&c.id), after.get(&c.id), host_mem))
            .collect();
        if tty_table && !cli.no_stream {
            // Clear the screen and redraw, as docker stats does.
            write_stdout(b"\x1b[2J\x1b[H")?;
        }
        print_list(&rows, COLUMNS, format.clone())?;
        if cli.no_stream {
            return Ok(());
        }
        // Containers that stopped are shown with zeros; stop once none runs.
        if after.is_empty() {
            return Ok(());
        }
        if !explicit && !cli.all {
            // New running containers join, stopped ones leave, as docker stats does.
            targets = store
                .list()?
                .into_iter()
                .map(|c| liveness::refresh(&c))
                .filter(running)
                .map(|c| (c.id[..12].to_string(), c))
                .collect();
        }
        before = after;
    }
}
