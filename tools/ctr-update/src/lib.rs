//! ctr-update: change the resource limits of containers, as `docker container update`.

use berth::container::update::{self, Update};
use berth::output::print_json;
use berth::{Error, Result};
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-update --memory 256m web
  ctr-update --cpus 1.5 --pids-limit 200 web db
  ctr-update --pids-limit -1 web               # no limit
  ctr-update --restart unless-stopped web
  ctr-update --cpuset-cpus 0 --memory-reservation 64m web

A running (or paused) container's cgroup gets the new limits at once. Every container, running or
not, keeps them in its HostConfig (ctr-inspect) and in its config.json's linux.resources, so the
next start has them. --memory without --memory-swap sets the swap limit to twice the memory, as
ctr-create does (unless swap was unlimited). Prints {\"id\",\"name\",\"warnings\"} per container.";

/// Update configuration of one or more containers
#[derive(Parser, Debug)]
#[command(name = "ctr-update", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,

    /// Restart policy: no, on-failure[:MAX_RETRIES], always or unless-stopped (a running
    /// container's monitor follows it from the container's next exit)
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,

    /// Memory limit (units b, k, m, g; 0 removes the limit)
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,

    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,

    /// Number of CPUs (0 removes the limit)
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,

    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "SHARES")]
    pub cpu_shares: Option<i64>,

    /// Maximum number of processes (-1 or 0: unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,

    #[command(flatten)]
    pub root: RootArgs,

    /// --cpuset-cpus/-mems, --cpu-period/-quota, --memory-reservation, --blkio-weight
    #[command(flatten)]
    pub res: berth_cli::ResourceFlags,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let u = Update {
        restart: cli.restart,
        memory: cli.memory,
        memory_swap: cli.memory_swap,
        cpus: cli.cpus,
        cpu_shares: cli.cpu_shares,
        pids_limit: cli.pids_limit,
        res: cli.res.into(),
    };
    if u.is_empty() {
        return Err(Error::Usage(
            "you must provide one or more flags when using this command".into(),
        ));
    }
    // Bad values are refused before any container changes.
    let warnings = std::cell::RefCell::new(Vec::<String>::new());
    u.parse_warned(&|w| warnings.borrow_mut().push(w.to_string()))?;
    let warnings = warnings.into_inner();
    let root = cli.root.root();
    berth_cli::for_each("ctr-update", expand_stdin(cli.containers)?, |name| {
        let c = update::update(&root, name, &u)?;
        print_json(&json!({"id": c.id, "name": c.name, "warnings": warnings}))
    })
}
