//! net-create: create a network, as `docker network create`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth::berth_net::store::{NewNetwork, BRIDGE_NAME_OPTION};
use berth::berth_net::subnet::Subnet;
use berth::output::print_json;
use berth::{Error, Result};
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  net-create app
  net-create --subnet 10.10.0.0/24 --gateway 10.10.0.254 backend
  net-create --internal --label env=test isolated
  ctr-run -d --network app --name web busybox httpd -f   # others on app reach it as `web`

Makes a user-defined bridge network: containers on it reach each other by name and by
--network-alias. Without --subnet it gets the first free /16 of Docker's pools (172.18.0.0/16,
…); a subnet that overlaps another network's is refused. Its Linux bridge (berth-<id>, or the
name given with -o com.docker.network.bridge.name=berthNAME) is made when the first container
joins it. --internal: no route out of the network. Prints {\"id\", \"name\"}.";

/// Create a network
#[derive(Parser, Debug)]
#[command(name = "net-create", version, after_help = AFTER)]
pub struct Cli {
    /// The network's name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Driver to manage the network: only bridge
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,

    /// Subnet in CIDR format, e.g. 172.30.0.0/16 [default: a free one]
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,

    /// IPv4 gateway of the subnet [default: its first address]
    #[arg(long, value_name = "IP")]
    pub gateway: Option<String>,

    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,

    /// Set metadata on the network
    #[arg(long = "label", value_name = "KEY[=VALUE]")]
    pub labels: Vec<String>,

    /// Set driver specific options (recorded in Options; berth applies
    /// com.docker.network.bridge.name)
    #[arg(short, long = "opt", value_name = "KEY=VALUE")]
    pub opts: Vec<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

fn key_values(list: &[String], what: &str, need_value: bool) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in list {
        let (k, v) = match s.split_once('=') {
            Some((k, v)) => (k, v),
            None if !need_value => (s.as_str(), ""),
            None => {
                return Err(Error::Usage(format!(
                    "invalid {what} {s:?}: expected KEY=VALUE"
                )))
            }
        };
        if k.is_empty() {
            return Err(Error::Usage(format!("invalid {what} {s:?}: empty key")));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The library's request for the command line.
pub fn request(cli: &Cli) -> Result<NewNetwork> {
    if cli.driver != "bridge" {
        return Err(Error::InvalidInput(format!(
            "network driver {:?} is not supported: berth has the bridge driver only",
            cli.driver
        )));
    }
    let subnet = cli
        .subnet
        .as_deref()
        .map(|s| s.parse::<Subnet>())
        .transpose()
        .map_err(Error::from)?;
    let gateway = match &cli.gateway {
        None => None,
        Some(_) if subnet.is_none() => {
            return Err(Error::InvalidInput(
                "--gateway needs --subnet: give the subnet the gateway belongs to".into(),
            ))
        }
        Some(g) => Some(g.parse::<Ipv4Addr>().map_err(|_| {
            Error::InvalidInput(format!("invalid gateway {g:?}: expected an IPv4 address"))
        })?),
    };
    let mut options = key_values(&cli.opts, "option", true)?;
    let bridge = options.remove(BRIDGE_NAME_OPTION);
    Ok(NewNetwork {
        name: cli.name.clone(),
        subnet,
        gateway,
        internal: cli.internal,
        labels: key_values(&cli.labels, "label", false)?,
        bridge,
        options,
    })
}

pub fn run(cli: Cli) -> Result<()> {
    let req = request(&cli)?;
    for k in req.options.keys() {
        berth_cli::warn(
            "net-create",
            format!("option {k} is recorded in the network's Options but berth does not apply it"),
        );
    }
    let n = berth::network::create_network(&cli.root.root(), &req)?;
    print_json(&json!({"id": n.id, "name": n.name}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        let mut a = vec!["net-create"];
        a.extend_from_slice(args);
        Cli::try_parse_from(a).unwrap()
    }

    #[test]
    fn flags_become_a_request() {
        let r = request(&cli(&[
            "--subnet",
            "10.10.0.0/24",
            "--gateway",
            "10.10.0.254",
            "--internal",
            "--label",
            "a=b",
            "--label",
            "flag",
            "-o",
            "com.docker.network.bridge.name=berthx",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "n1",
        ]))
        .unwrap();
        assert_eq!(r.name, "n1");
        assert_eq!(r.subnet.unwrap().to_string(), "10.10.0.0/24");
        assert_eq!(r.gateway, Some("10.10.0.254".parse().unwrap()));
        assert!(r.internal);
        assert_eq!(r.labels["a"], "b");
        assert_eq!(r.labels["flag"], "");
        assert_eq!(r.bridge.as_deref(), Some("berthx"));
        assert_eq!(r.options["com.docker.network.driver.mtu"], "1400");
        assert!(!r.options.contains_key(BRIDGE_NAME_OPTION));
    }

    #[test]
    fn bad_flags_are_clear_errors() {
        let e = request(&cli(&["--subnet", "10.0.0.0/33", "n"])).unwrap_err();
        assert!(e.to_string().contains("invalid subnet"), "{e}");
        let e = request(&cli(&["--subnet", "nonsense", "n"])).unwrap_err();
        assert!(e.to_string().contains("CIDR"), "{e}");
        let e = request(&cli(&["--gateway", "10.0.0.1", "n"])).unwrap_err();
        assert!(e.to_string().contains("--gateway needs --subnet"), "{e}");
        let e = request(&cli(&["--subnet", "10.0.0.0/24", "--gateway", "x", "n"])).unwrap_err();
        assert!(e.to_string().contains("invalid gateway"), "{e}");
        let e = request(&cli(&["-d", "overlay", "n"])).unwrap_err();
        assert!(e.to_string().contains("bridge driver only"), "{e}");
        let e = request(&cli(&["-o", "novalue", "n"])).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
    }
}
