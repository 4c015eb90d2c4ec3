//! vol-ls: list volumes, as `docker volume ls`.

use berth::filter::{parse_bool, Filters, Label};
use berth::output::{self, col, Format, Formatter, Item};
use berth::volume::{self, Volumes};
use berth::{Error, Result};
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::{json, Value};

const AFTER: &str = "\
Filters (-f, repeatable; all must match):
  dangling=true|false  volumes no container uses (or that one uses)
  name=TEXT            names containing TEXT
  label=KEY[=VALUE]    volumes with this label

Output: a table on a terminal, JSON Lines otherwise (fields Driver, Name, Mountpoint, Labels,
Scope). --format json|table|TEMPLATE: --format '{{.Name}}'.

Examples:
  vol-ls
  vol-ls -q --filter dangling=true";

/// List volumes
#[derive(Parser, Debug)]
#[command(name = "vol-ls", version, after_help = AFTER)]
pub struct Cli {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,

    /// Filter output (see below)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,

    /// Output format: json, table, table TEMPLATE, or a Go TEMPLATE
    #[arg(long)]
    pub format: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Whether `v` passes every filter. A bad filter is found here, when there is a volume to
/// match, as before the filters had their own module.
fn matches(v: &volume::Volume, used: bool, filters: &Filters) -> Result<bool> {
    for (k, val) in filters.iter() {
        let ok = match k {
            "dangling" => match parse_bool(val) {
                Some(dangling) => dangling != used,
                None => return Err(Error::Usage(format!("invalid filter 'dangling={val}'"))),
            },
            "name" => v.name.contains(val),
            "label" => {
                let l = Label::parse(val);
                // A label that is there but not a string matches `label=KEY` alone.
                match v.labels.get(&l.key) {
                    Some(x) => l.value.is_none() || l.matches(x.as_str()),
                    None => false,
                }
            }
            "driver" => v.driver == val,
            other => {
                return Err(Error::Usage(format!(
                    "invalid filter {other:?}: supported are dangling, name, label, driver"
                )))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    berth::container::liveness::reconcile(&root);
    let filters = Filters::parse_usage(&cli.filters, |_, _| Ok(()))?;
    let used = berth::container::orchestrate::volume_users(&root)?;
    let mut rows: Vec<Value> = Vec::new();
    let mut labels_of: Vec<Value> = Vec::new();
    for v in Volumes::open(&root)?.list()? {
        if !matches(&v, used.contains_key(&v.name), &filters)? {
            continue;
        }
        let labels = v
            .labels
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        labels_of.push(v.labels.clone());
        rows.push(json!({"Driver": v.driver, "Name": v.name, "Mountpoint": v.mountpoint,
            "Labels": labels, "Scope": v.scope, "Links": "N/A", "Size": "N/A", "Availability": "N/A",
            "Group": "N/A"}));
    }
    if cli.quiet {
        let mut out = String::new();
        for r in &rows {
            out.push_str(r["Name"].as_str().unwrap_or(""));
            out.push('\n');
        }
        return output::write_stdout(out.as_bytes());
    }
    let columns = [col("DRIVER", "Driver"), col("VOLUME NAME", "Name")];
    // Docker's volume formatter: {{.Label "KEY"}} reads the labels.
    let items: Vec<Item> = rows
        .into_iter()
        .zip(labels_of)
        .map(|(fields, private)| Item { fields, private })
        .collect();
    let formatter = Formatter {
        type_name: "*formatter.volumeContext",
        methods: &[output::LABEL],
        headers: &[
            col("VOLUME NAME", "Name"),
            col("DRIVER", "Driver"),
            col("SCOPE", "Scope"),
            col("MOUNTPOINT", "Mountpoint"),
            col("LABELS", "Labels"),
            col("LINKS", "Links"),
            col("SIZE", "Size"),
            col("AVAILABILITY", "Availability"),
            col("GROUP", "Group"),
        ],
        header_methods: &[output::LABEL_HEADER],
    };
    output::print_items(
        &formatter,
        &items,
        &columns,
        Format::parse(cli.format.as_deref()),
    )
}
