//! ctr-ls: list containers, as `docker ps` / `docker container ls`.

use berth::container::{self, status, view, Container, Containers, Status};
use berth::filter::{Filters, Label};
use berth::image::Catalog;
use berth::output::{self, col, Column, Format, Formatter, Item};
use berth::template::Template;
use berth::{Error, Result};
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::Value;

const AFTER: &str = "\
Filters (-f, repeatable; filters of one kind are alternatives, all kinds must match), as Docker's:
  status=STATUS        created, restarting, running, removing, paused, exited or dead (lists all)
  name=TEXT            names containing TEXT (^ and $ anchor it)
  id=PREFIX            IDs starting with PREFIX
  label=KEY[=VALUE]    containers with this label
  ancestor=IMAGE       containers created from IMAGE (a reference or an image ID)
  exited=CODE          containers that ran and exited with CODE (with -a: stopped ones are
                       listed only with -a, as Docker)
  before=CONTAINER     containers created before CONTAINER (a name or an ID)
  since=CONTAINER      containers created after CONTAINER
  volume=NAME|PATH     containers that mount the volume NAME, the host PATH, or at PATH
  network=NAME|ID      containers connected to the network (a name, or an ID prefix)
  health=STATE         starting, healthy, unhealthy, or none (no health check)
  publish=PORT[/PROTO] containers that publish the port (on the host; a range START-END too)
  expose=PORT[/PROTO]  containers with the port exposed (in the container; a range too)
  is-task=BOOL         swarm tasks (berth has none), isolation=… (accepted, as on Linux)

Output: a table on a terminal, JSON Lines otherwise (fields as `docker ps --format json`: ID,
Image, Command, CreatedAt, RunningFor, Status, State, Ports, Names, Labels, Mounts, Size,
Networks, LocalVolumes). --format json|table|TEMPLATE: --format '{{.ID}} {{.Status}}', and
'{{.Label \"KEY\"}}' for one label. A field that does not exist is an error, as Docker's.

-s (or a template using .Size) computes SIZE as Docker does: the bytes of the container's
writable layer, and with the image's layers its virtual size: `1kB (virtual 4.26MB)`; the JSON
then also has SizeRw and SizeRootFs in bytes.

A container whose record says running but whose process is gone is shown as exited.

Examples:
  ctr-ls
  ctr-ls -a --filter status=exited -q | xargs -r ctr-rm
  ctr-ls -a --filter exited=0 --filter since=web
  ctr-ls -s --format '{{.Names}} {{.Size}}'
  ctr-ls -l --format '{{.Names}} {{.Label \"com.example.tier\"}}'";

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

    /// Display total file sizes
    #[arg(
        short,
        long,
        long_help = "Display total file sizes: the SIZE column shows the bytes of each \
                     container's writable layer and, in parentheses, its virtual size (the \
                     image's layers and the writable layer), as `docker ps -s`. The JSON gains \
                     SizeRw and SizeRootFs (bytes). A --format template that uses .Size turns \
                     it on."
    )]
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

const HEALTHS: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];

const KEYS: [&str; 15] = [
    "status",
    "name",
    "id",
    "label",
    "ancestor",
    "exited",
    "before",
    "since",
    "volume",
    "network",
    "health",
    "publish",
    "expose",
    "is-task",
    "isolation",
];

/// A `publish=`/`expose=` value: `PORT[/PROTO]` or `START-END[/PROTO]`, as Docker's (no host
/// address), expanded to `PORT/PROTO` each.
fn port_filter(key: &str, v: &str, into: &mut Vec<(u16, String)>) -> Result<()> {
    if v.contains(':') {
        return Err(Error::Usage(format!(
            "filter for '{key}' should not contain ':': {v}"
        )));
    }
    let (ports, proto) = v.split_once('/').unwrap_or((v, "tcp"));
    let bad = || {
        Error::Usage(format!(
            "error while looking up for {key} {v}: invalid port"
        ))
    };
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if end < start {
        return Err(bad());
    }
    into.extend((start..=end).map(|p| (p, proto.to_lowercase())));
    Ok(())
}

/// The filters, with each `ancestor` resolved to an image ID and `before`/`since` to a
/// container ID once.
struct Wanted {
    filters: Filters,
    /// (as given, image ID if found)
    ancestor: Vec<(String, Option<String>)>,
    exited: Vec<i64>,
    before: Option<String>,
    since: Option<String>,
    /// `publish=` and `expose=`: (port, protocol).
    publish: Vec<(u16, String)>,
    expose: Vec<(u16, String)>,
}

fn parse_filters(list: &[String], cli: &Cli, store: &Containers) -> Result<Wanted> {
    let mut exited = Vec::new();
    let mut publish = Vec::new();
    let mut expose = Vec::new();
    let filters = Filters::parse_usage(list, |k, v| match k {
        "status" if !STATUSES.contains(&v) => Err(Error::Usage(format!(
            "invalid filter 'status={v}': use one of {}",
            STATUSES.join(", ")
        ))),
        "publish" => port_filter(k, v, &mut publish),
        "expose" => port_filter(k, v, &mut expose),
        // berth runs no swarm tasks.
        "is-task" if v != "true" && v != "false" => {
            Err(Error::Usage(format!("Invalid filter 'is-task={v}'")))
        }
        "health" if !HEALTHS.contains(&v) => Err(Error::Usage(format!(
            "Unrecognised filter value for health: {v} (use one of {})",
            HEALTHS.join(", ")
        ))),
        "exited" => match v.parse::<i64>() {
            Ok(code) => {
                exited.push(code);
                Ok(())
            }
            // Docker's strconv.Atoi message.
            Err(_) => Err(Error::Usage(format!(
                "invalid filter 'exited={v}': strconv.Atoi: parsing {v:?}: invalid syntax"
            ))),
        },
        k if KEYS.contains(&k) => Ok(()),
        other => Err(Error::Usage(format!(
            "invalid filter {other:?}: supported are {}",
            KEYS.join(", ")
        ))),
    })?;
    // As Docker: a name or an ID (here also a unique ID prefix); the last one given counts.
    let container = |key: &str| -> Result<Option<String>> {
        filters
            .get(key)
            .last()
            .map(|v| store.resolve(v))
            .transpose()
    };
    let before = container("before")?;
    let since = container("since")?;
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
    Ok(Wanted {
        filters,
        ancestor,
        exited,
        before,
        since,
        publish,
        expose,
    })
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

/// Whether Docker counts `c` as running (paused and restarting containers are).
fn is_running(c: &Container) -> bool {
    c.state.running || matches!(c.state.status, Status::Running | Status::Paused)
}

/// Whether `c` ever started (Docker's `!StartedAt.IsZero()`).
fn has_started(c: &Container) -> bool {
    berth::filter::created_secs(&c.state.started_at).is_some_and(|t| t > 0)
}

impl Wanted {
    /// Docker's name, id and label filters (checked before `-n` counts a container).
    fn first_pass(&self, c: &Container) -> bool {
        let f = &self.filters;
        f.any("name", |p| name_matches(p, &c.name))
            && f.any("id", |p| c.id.starts_with(p))
            && f.get("label").all(|v| {
                let l = Label::parse(v);
                l.matches(c.config.label(&l.key))
            })
    }

    /// The rest of Docker's filters, in its order.
    fn second_pass(&self, c: &Container) -> bool {
        let f = &self.filters;
        (self.exited.is_empty()
            || (!is_running(c)
                && has_started(c)
                && self.exited.contains(&(c.state.exit_code as i64))))
            && f.any("status", |s| c.state.status == s)
            && f.any("health", |h| h == c.state.health_status())
            && f.any("volume", |v| {
                c.mounts.iter().any(|m| {
                    let name = if m.name.is_empty() {
                        &m.source
                    } else {
                        &m.name
                    };
                    name == v || (!m.destination.is_empty() && m.destination == v)
                })
            })
            && (self.ancestor.is_empty()
                || self.ancestor.iter().any(|(given, id)| {
                    c.config.image.as_deref() == Some(given.as_str())
                        || id.as_deref() == Some(c.image.as_str())
                }))
            && f.any("network", |n| match &c.network_settings {
                Some(ns) => {
                    ns.networks.contains_key(n)
                        || ns
                            .networks
                            .values()
                            .any(|e| !e.network_id.is_empty() && e.network_id.starts_with(n))
                }
                None => c.host_config.network_mode == n,
            })
            && f.get("is-task").all(|v| v == "false")
            && ((self.publish.is_empty() && self.expose.is_empty())
                || view::ports(c).iter().any(|p| {
                    self.publish
                        .iter()
                        .any(|(n, proto)| p.public_port == *n && p.proto == *proto)
                        || self
                            .expose
                            .iter()
                            .any(|(n, proto)| p.private_port == *n && p.proto == *proto)
                }))
    }

    /// The containers Docker lists, newest first (`all` is): `before` skips up to its
    /// container, `since` stops at its, `show_all` lists stopped ones, at most `limit`.
    fn select<'a>(
        &self,
        all: &'a [Container],
        show_all: bool,
        limit: Option<usize>,
    ) -> Vec<&'a Container> {
        let mut before = self.before.as_deref();
        let mut out = Vec::new();
        for c in all {
            if let Some(b) = before {
                if c.id == b {
                    before = None;
                }
                continue;
            }
            if self.since.as_deref() == Some(c.id.as_str()) {
                break;
            }
            if !show_all && !is_running(c) {
                continue;
            }
            if !self.first_pass(c) {
                continue;
            }
            if limit == Some(out.len()) {
                break;
            }
            if self.second_pass(c) {
                out.push(c);
            }
        }
        out
    }
}

/// The headers of Docker's container formatter, for `table` templates.
const HEADERS: &[Column] = &[
    col("CONTAINER ID", "ID"),
    col("NAMES", "Names"),
    col("IMAGE", "Image"),
    col("COMMAND", "Command"),
    col("CREATED AT", "CreatedAt"),
    col("CREATED", "RunningFor"),
    col("PORTS", "Ports"),
    col("STATE", "State"),
    col("STATUS", "Status"),
    col("SIZE", "Size"),
    col("LABELS", "Labels"),
    col("MOUNTS", "Mounts"),
    col("LOCAL VOLUMES", "LocalVolumes"),
    col("NETWORKS", "Networks"),
];

const FORMATTER: Formatter = Formatter {
    type_name: "*formatter.ContainerContext",
    methods: &[output::LABEL],
    headers: HEADERS,
    header_methods: &[output::LABEL_HEADER],
};

pub fn run(cli: Cli) -> Result<()> {
    berth::container::liveness::reconcile(&cli.root.root());
    let format = Format::parse(cli.format.as_deref());
    // As Docker: the template is tried on an empty container before anything is listed, so a
    // field that does not exist is an error even when no container is.
    let template = match &format {
        Format::Template(t) | Format::Table(Some(t)) => Some(t.clone()),
        _ => None,
    };
    if let Some(t) = &template {
        let empty = view::ps_row(&Container::default(), false, None);
        let fields = Value::Object(
            empty
                .as_object()
                .expect("a row is an object")
                .keys()
                .map(|k| (k.clone(), Value::from("")))
                .collect(),
        );
        let item = Item {
            fields,
            private: Value::Null,
        };
        output::render_item(&Template::parse(t)?, &FORMATTER, &item)?;
    }
    let containers = Containers::open(cli.root.root().containers_dir())?;
    let filters = parse_filters(&cli.filters, &cli, &containers)?;
    let mut all: Vec<Container> = containers.list()?.iter().map(container::refresh).collect();
    // Newest first, as Docker lists them.
    all.reverse();
    let limit = if cli.latest {
        Some(1)
    } else {
        cli.last.filter(|&n| n > 0).map(|n| n as usize)
    };
    let show_all = cli.all || limit.is_some() || filters.filters.contains("status");
    let listed = filters.select(&all, show_all, limit);
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
    // As Docker: -s, or a template that shows .Size.
    let size = cli.size || template.as_deref().is_some_and(|t| t.contains(".Size"));
    let items: Vec<Item> = listed
        .iter()
        .map(|c| Item {
            fields: view::ps_row(c, cli.no_trunc, size.then(|| view::sizes(c))),
            private: serde_json::to_value(c.config.labels.clone().flatten().unwrap_or_default())
                .unwrap_or(Value::Null),
        })
        .collect();
    let mut columns = vec![
        col("CONTAINER ID", "ID"),
        col("IMAGE", "Image"),
        col("COMMAND", "Command"),
        col("CREATED", "RunningFor"),
        col("STATUS", "Status"),
        col("PORTS", "Ports"),
        col("NAMES", "Names"),
    ];
    if size {
        columns.push(col("SIZE", "Size"));
    }
    output::print_items(&FORMATTER, &items, &columns, format)
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

    #[test]
    fn port_filters_as_dockers() {
        let mut v = Vec::new();
        port_filter("publish", "80", &mut v).unwrap();
        port_filter("publish", "53/udp", &mut v).unwrap();
        port_filter("publish", "8000-8002/tcp", &mut v).unwrap();
        let want: Vec<(u16, String)> = [
            (80, "tcp"),
            (53, "udp"),
            (8000, "tcp"),
            (8001, "tcp"),
            (8002, "tcp"),
        ]
        .iter()
        .map(|(p, s)| (*p, s.to_string()))
        .collect();
        assert_eq!(v, want);
        let e = port_filter("publish", "0.0.0.0:80", &mut v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "filter for 'publish' should not contain ':': 0.0.0.0:80"
        );
        assert!(port_filter("expose", "http", &mut v).is_err());
        assert!(port_filter("expose", "90-80", &mut v).is_err());
    }
}
