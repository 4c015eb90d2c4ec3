//! vol-ls: list volumes, as `docker volume ls`.

use berth::cli::RootArgs;
use berth::output::{self, col, Format};
use berth::volume::{self, Volumes};
use berth::{Error, Result};
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

fn matches(v: &volume::Volume, used: bool, filters: &[(String, String)]) -> Result<bool> {
    for (k, val) in filters {
        let ok = match k.as_str() {
            "dangling" => match val.as_str() {
                "true" | "1" => !used,
                "false" | "0" => used,
                _ => return Err(Error::Usage(format!("invalid filter 'dangling={val}'"))),
            },
            "name" => v.name.contains(val.as_str()),
            "label" => {
                let (lk, lv) = match val.split_once('=') {
                    Some((a, b)) => (a, Some(b)),
                    None => (val.as_str(), None),
                };
                match v.labels.get(lk) {
                    Some(x) => lv.is_none_or(|lv| x.as_str() == Some(lv)),
                    None => false,
                }
            }
            "driver" => v.driver == *val,
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
    let filters: Vec<(String, String)> = cli
        .filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| Error::Usage(format!("invalid filter {f:?}: expected KEY=VALUE")))
        })
        .collect::<Result<_>>()?;
    let used = berth::container::orchestrate::volume_users(&root)?;
    let mut rows: Vec<Value> = Vec::new();
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
    output::print_list(&rows, &columns, Format::parse(cli.format.as_deref()))
}
