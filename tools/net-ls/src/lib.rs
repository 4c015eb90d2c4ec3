//! net-ls: list networks, as `docker network ls`.

use berth::berth_net::store::Network;
use berth::filter::{Filters, Label};
use berth::output::{self, col, Format, Formatter, Item};
use berth::{Error, Result};
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::Value;

const AFTER: &str = "\
Filters (-f, repeatable; filters of one kind are alternatives, all kinds must match):
  name=TEXT            names containing TEXT
  id=PREFIX            IDs starting with PREFIX
  driver=DRIVER        bridge, host or null
  label=KEY[=VALUE]    networks with this label
  scope=SCOPE          local (every berth network)
  type=custom|builtin  user-defined networks, or the predefined bridge, host and none

Output: a table on a terminal, JSON Lines otherwise (fields as `docker network ls --format
json`: CreatedAt, Driver, ID, IPv4, IPv6, Internal, Labels, Name, Scope), sorted by name.
--format json|table|TEMPLATE: --format '{{.Name}} {{.Driver}}'.

Examples:
  net-ls
  net-ls -q --filter type=custom
  net-ls --filter label=env=test --format '{{.Name}}'";

/// List networks
#[derive(Parser, Debug)]
#[command(name = "net-ls", version, after_help = AFTER)]
pub struct Cli {
    /// Only display network IDs
    #[arg(short, long)]
    pub quiet: bool,

    /// Filter output (see below)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,

    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,

    /// Output format: json, table, table TEMPLATE, or a Go TEMPLATE
    #[arg(long)]
    pub format: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

const KINDS: [&str; 6] = ["name", "id", "driver", "label", "scope", "type"];

/// The filters, `KEY=VALUE` each; `type` must be custom or builtin.
pub fn parse_filters(list: &[String]) -> Result<Filters> {
    Filters::parse_usage(list, |k, v| {
        if !KINDS.contains(&k) {
            return Err(Error::Usage(format!(
                "invalid filter {k:?}: supported are {}",
                KINDS.join(", ")
            )));
        }
        if k == "type" && v != "custom" && v != "builtin" {
            return Err(Error::Usage(format!(
                "invalid filter 'type={v}': use custom or builtin"
            )));
        }
        Ok(())
    })
}

/// Whether `n` passes `filters`: for each kind given, one of its values matches.
pub fn matches(n: &Network, filters: &Filters) -> bool {
    let one = |k: &str, v: &str| match k {
        "name" => n.name.contains(v),
        "id" => n.id.starts_with(v),
        "driver" => n.driver == v,
        "scope" => n.scope == v,
        "type" => (v == "builtin") == n.is_predefined(),
        "label" => {
            let l = Label::parse(v);
            l.matches(n.labels.get(&l.key).map(String::as_str))
        }
        _ => false,
    };
    KINDS.iter().all(|kind| filters.any(kind, |v| one(kind, v)))
}

pub fn run(cli: Cli) -> Result<()> {
    let filters = parse_filters(&cli.filters)?;
    let mut nets: Vec<Network> = berth::network::store(&cli.root.root())?
        .networks()?
        .into_iter()
        .filter(|n| matches(n, &filters))
        .collect();
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    let rows: Vec<Value> = nets
        .iter()
        .map(|n| berth::network::ls_row(n, cli.no_trunc))
        .collect();
    if cli.quiet {
        let mut out = String::new();
        for r in &rows {
            out.push_str(r["ID"].as_str().unwrap_or(""));
            out.push('\n');
        }
        return output::write_stdout(out.as_bytes());
    }
    let columns = [
        col("NETWORK ID", "ID"),
        col("NAME", "Name"),
        col("DRIVER", "Driver"),
        col("SCOPE", "Scope"),
    ];
    // Docker's network formatter: {{.Label "KEY"}} reads the labels.
    let items: Vec<Item> = rows
        .into_iter()
        .zip(&nets)
        .map(|(fields, n)| Item {
            fields,
            private: serde_json::to_value(&n.labels).unwrap_or(Value::Null),
        })
        .collect();
    let formatter = Formatter {
        type_name: "*network.networkContext",
        methods: &[output::LABEL],
        headers: &[
            col("NETWORK ID", "ID"),
            col("NAME", "Name"),
            col("DRIVER", "Driver"),
            col("SCOPE", "Scope"),
            col("IPV4", "IPv4"),
            col("IPV6", "IPv6"),
            col("INTERNAL", "Internal"),
            col("LABELS", "Labels"),
            col("CREATED AT", "CreatedAt"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, id: &str, driver: &str, labels: &[(&str, &str)]) -> Network {
        Network {
            name: name.into(),
            id: id.into(),
            driver: driver.into(),
            scope: "local".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn f(list: &[&str]) -> Filters {
        parse_filters(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn filters_as_docker() {
        let bridge = net("bridge", "aaa1", "bridge", &[]);
        let host = net("host", "bbb2", "host", &[]);
        let app = net("app", "ccc3", "bridge", &[("env", "test"), ("flag", "")]);
        assert!(matches(&app, &f(&[])));
        assert!(matches(&app, &f(&["type=custom"])));
        assert!(!matches(&bridge, &f(&["type=custom"])));
        assert!(matches(&bridge, &f(&["type=builtin"])));
        assert!(matches(&host, &f(&["driver=host"])));
        assert!(!matches(&app, &f(&["driver=host"])));
        // Values of one kind are alternatives; kinds must all match.
        assert!(matches(&host, &f(&["name=nope", "name=os"])));
        assert!(!matches(&host, &f(&["name=os", "driver=bridge"])));
        assert!(matches(&app, &f(&["id=ccc"])));
        assert!(!matches(&app, &f(&["id=cc3"])));
        assert!(matches(&app, &f(&["label=env"])));
        assert!(matches(&app, &f(&["label=env=test"])));
        assert!(!matches(&app, &f(&["label=env=prod"])));
        assert!(!matches(&bridge, &f(&["label=env"])));
        assert!(matches(&app, &f(&["scope=local"])));
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        for bad in ["type=other", "nokey", "colour=red"] {
            let e = parse_filters(&[bad.to_string()]).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
        }
    }
}
