//! ctr-ls: list containers, as `docker ps` / `docker container ls`.

use berth::container::{self, status, view, Container, Containers};
use berth::filter::{Filters, Label};
use berth::image::Catalog;
use berth::output::{self, col, Format};
use berth::{Error, Result};
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::Value;

const AFTER: &str = "\
Filters (-f, repeatable; filters of one kind are alternatives, all kinds must match):
  status=STATUS        created, restarting, running, removing, paused, exited or dead
  name=TEXT            names containing TEXT (^ and $ anchor it)
  id=PREFIX            IDs starting with PREFIX
  label=KEY[=VALUE]    containers with this label
  ancestor=IMAGE       containers created from IMAGE (a reference or an image ID)

Output: a table on a terminal, JSON Lines otherwise (fields as `docker ps --format json`: ID,
Image, Command, CreatedAt, RunningFor, Status, State, Ports, Names, Labels, Mounts, Size,
Networks, LocalVolumes). --format json|table|TEMPLATE: --format '{{.ID}} {{.Status}}'.

A container whose record says running but whose process is gone is shown as exited.

Examples:
  ctr-ls
  ctr-ls -a --filter status=exited -q | xargs -r ctr-rm
  ctr-ls -l --format '{{.Names}}'";

/// List containers
#[derive(Parser, Debug)]
#[command(name = "ctr-ls", version, after_help = AFTER)]
pub struct Cli {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,

    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,

    /// Filter output (see below)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,

    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,

    /// Output format: json, table, table TEMPLATE, or a Go TEMPLATE
    #[arg(long)]
    pub format: Option<String>,

    /// Show the N last created containers (includes all states)
    #[arg(short = 'n', long, value_name = "N", allow_negative_numbers = true)]
    pub last: Option<i64>,

    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,

    /// Display total file sizes (accepted; berth does not compute them yet)
    #[arg(short, long)]
    pub size: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

const STATUSES: [&str; 7] = [
    status::CREATED,
    status::RESTARTING,
    status::RUNNING,
    status::REMOVING,
    status::PAUSED,
    status::EXITED,
    status::DEAD,
];

/// The filters, with each `ancestor` resolved to an image ID once.
struct Wanted {
    filters: Filters,
    /// (as given, image ID if found)
    ancestor: Vec<(String, Option<String>)>,
}

fn parse_filters(list: &[String], cli: &Cli) -> Result<Wanted> {
    let filters = Filters::parse_usage(list, |k, v| match k {
        "status" if !STATUSES.contains(&v) => Err(Error::Usage(format!(
            "invalid filter 'status={v}': use one of {}",
            STATUSES.join(", ")
        ))),
        "status" | "name" | "id" | "label" | "ancestor" => Ok(()),
        other => Err(Error::Usage(format!(
            "invalid filter {other:?}: supported are status, name, id, label, ancestor"
        ))),
    })?;
    let mut ancestor = Vec::new();
    if filters.contains("ancestor") {
        let catalog = Catalog::load(&cli.root.root().images()?).ok();
        for v in filters.get("ancestor") {
            let id = catalog
                .as_ref()
                .and_then(|c| c.find(v).ok())
                .and_then(|i| i.image.as_ref().ok())
                .map(|img| img.id().to_string());
            ancestor.push((v.to_string(), id));
        }
    }
    Ok(Wanted { filters, ancestor })
}

fn name_matches(pattern: &str, name: &str) -> bool {
    let (start, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    let p = p.strip_prefix('/').unwrap_or(p);
    match (start, end) {
        (true, true) => name == p,
        (true, false) => name.starts_with(p),
        (false, true) => name.ends_with(p),
        (false, false) => name.contains(p),
    }
}

impl Wanted {
    fn keep(&self, c: &Container) -> bool {
        let f = &self.filters;
        f.any("status", |s| c.state.status == s)
            && f.any("name", |p| name_matches(p, &c.name))
            && f.any("id", |p| c.id.starts_with(p))
            && f.get("label").all(|v| {
                let l = Label::parse(v);
                l.matches(c.config.label(&l.key))
            })
            && (self.ancestor.is_empty()
                || self.ancestor.iter().any(|(given, id)| {
                    c.config.image.as_deref() == Some(given.as_str())
                        || id.as_deref() == Some(c.image.as_str())
                }))
    }
}

pub fn run(cli: Cli) -> Result<()> {
    berth::container::liveness::reconcile(&cli.root.root());
    let filters = parse_filters(&cli.filters, &cli)?;
    let containers = Containers::open(cli.root.root().containers_dir())?;
    let mut all: Vec<Container> = containers.list()?.iter().map(container::refresh).collect();
    // Newest first, as Docker lists them.
    all.reverse();
    let last = if cli.latest {
        Some(1)
    } else {
        cli.last.filter(|&n| n > 0)
    };
    let show_all = cli.all || last.is_some() || filters.filters.contains("status");
    if let Some(n) = last {
        all.truncate(n as usize);
    }
    let listed: Vec<&Container> = all
        .iter()
        .filter(|c| {
            show_all
                || c.state.running
                || c.state.status == status::RUNNING
                || c.state.status == status::PAUSED
        })
        .filter(|c| filters.keep(c))
        .collect();
    if cli.quiet {
        let mut out = String::new();
        for c in &listed {
            if cli.no_trunc {
                out.push_str(&c.id);
            } else {
                out.push_str(&c.id[..12.min(c.id.len())]);
            }
            out.push('\n');
        }
        return output::write_stdout(out.as_bytes());
    }
    let rows: Vec<Value> = listed
        .iter()
        .map(|c| view::ps_row(c, cli.no_trunc))
        .collect();
    let columns = [
        col("CONTAINER ID", "ID"),
        col("IMAGE", "Image"),
        col("COMMAND", "Command"),
        col("CREATED", "RunningFor"),
        col("STATUS", "Status"),
        col("PORTS", "Ports"),
        col("NAMES", "Names"),
    ];
    output::print_list(&rows, &columns, Format::parse(cli.format.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_as_a_regexp_would() {
        assert!(name_matches("web", "my-web-1"));
        assert!(name_matches("^web", "web-1"));
        assert!(!name_matches("^web", "my-web"));
        assert!(name_matches("^/web$", "web"));
        assert!(!name_matches("^web$", "web2"));
    }
}
