//! Containers on networks, daemonless: what `ctr-create` records, what the monitor sets up
//! between the runtime's create and start (an address lease, a veth pair into the container's
//! network namespace, the published ports' DNAT rules and host port reservations, the hosts
//! files), and what it takes down when the container ends. The pieces (netlink, nftables, leases)
//! are `berth-net`'s; this module decides what a container gets.
//!
//! This module knows networks, leases and the kernel; it does not know containers' records: what
//! it needs of a container comes in as a [`Member`], and the records are read and written by
//! `container::orchestrate`, the one place that sees containers, networks and volumes.
//!
//! Crash safety: a lease records the container's init (pid and start time). It is written
//! before any kernel change and removed after them, so that a later network operation can find
//! leases whose init is gone and remove what they stood for: listing or removing networks checks
//! every lease ([`reconcile`]); a container joining checks only its own and those of containers
//! with port rules ([`reconcile_for_join`]), and the others' only when the address it needs is
//! held ([`reclaim`]), so that its cost does not grow with the number of containers.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::path::Path;

use berth_net::firewall::{self, NetRules, PortRule};
use berth_net::hosts::{self, ExtraHost};
use berth_net::netlink::Netlink;
use berth_net::ports::{self, Binding, Port, Reservation};
use berth_net::store::{Lease, Leases, NetStore, Network};
use berth_net::{subnet, sysctl};
use serde_json::{json, Value};

use crate::error::{Error, IoContext, Result};
use crate::record::{
    EndpointIpamConfig, EndpointSettings, HostConfig, NetworkSettings, OrderedMap, PortMap,
};
use crate::root::Root;

mod attach;
mod leases;

pub use attach::*;
pub use leases::*;

/// `$ROOT/networks`.
pub fn store(root: &Root) -> Result<NetStore> {
    Ok(NetStore::open(root.dir().join("networks"))?)
}

/// What the network side needs to know of a container: made from its record by
/// `container::orchestrate`.
#[derive(Debug, Clone, Default)]
pub struct Member {
    pub id: String,
    pub name: String,
    /// Its hosts file (bind mounted into it: rewritten in place).
    pub hosts_path: String,
    /// `Config.Hostname` (the short ID when the record has none).
    pub hostname: String,
    /// `Config.MacAddress`: the MAC asked for on the first network.
    pub mac: Option<String>,
    /// `Config.ExposedPorts`, in order.
    pub exposed: Vec<String>,
    pub host_config: HostConfig,
    pub network_settings: Option<NetworkSettings>,
    /// Hosts entries after the `--add-host` ones: the legacy links' (`IP`, `ALIAS HOST NAME`),
    /// one line each, as Docker writes them.
    pub link_hosts: Vec<(String, String)>,
}

/// What a container asks of its network at create (from ctr-create's flags).
#[derive(Debug, Clone, Copy)]
pub struct NetRequest<'a> {
    /// A network's name or ID (`bridge`, `host`, `none` or a user-defined one).
    pub network: &'a str,
    pub ip: Option<Ipv4Addr>,
    pub aliases: &'a [String],
    pub mac: Option<&'a str>,
}

/// Docker's endpoint settings of a container on a network, before it runs.
pub fn endpoint(
    net: &Network,
    ip: Option<Ipv4Addr>,
    aliases: &[String],
    mac: Option<&str>,
) -> EndpointSettings {
    EndpointSettings {
        ipam_config: ip.map(|ip| EndpointIpamConfig {
            ipv4_address: ip.to_string(),
            ..Default::default()
        }),
        aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
        mac_address: mac.unwrap_or("").to_string(),
        network_id: net.id.clone(),
        ..Default::default()
    }
}

/// Docker's `NetworkSettings` with no address yet: `Networks` holds one endpoint per network.
pub fn blank_settings(networks: OrderedMap<EndpointSettings>) -> NetworkSettings {
    NetworkSettings {
        networks,
        ..Default::default()
    }
}

/// At create: the network mode as recorded (`HostConfig.NetworkMode`: the network's name) and
/// the container's `NetworkSettings`. A network that does not exist is an error here, as with
/// Docker. (`container:<ID>` is the orchestration's: it knows containers.)
pub fn at_create(root: &Root, flags: &NetRequest) -> Result<(String, NetworkSettings)> {
    let ns = store(root)?;
    let net = ns.find(flags.network)?;
    if flags.ip.is_some() && net.name == berth_net::store::BRIDGE {
        return Err(Error::InvalidInput(
            "a user-specified IP address (--ip) is supported on user-defined networks only".into(),
        ));
    }
    if !flags.aliases.is_empty() && !net.resolves_names() {
        return Err(Error::InvalidInput(
            "a network-scoped alias (--network-alias) is supported only for containers on \
             user-defined networks"
                .into(),
        ));
    }
    if let (Some(ip), Some((s, _))) = (flags.ip, net.subnet()) {
        if !s.is_host(ip) {
            return Err(Error::InvalidInput(format!(
                "--ip {ip} is not an address of network {} ({s})",
                net.name
            )));
        }
    }
    let mut networks = OrderedMap::new();
    networks.insert(
        net.name.clone(),
        endpoint(&net, flags.ip, flags.aliases, flags.mac),
    );
    Ok((net.name.clone(), blank_settings(networks)))
}

/// What the monitor holds while the container runs: its host port reservations.
#[derive(Debug, Default)]
pub struct Attached {
    pub reservations: Vec<Reservation>,
}

/// `net-create`: a user-defined bridge network. Its bridge and rules are made when the first
/// container joins it.
pub fn create_network(root: &Root, req: &berth_net::store::NewNetwork) -> Result<Network> {
    let ns = store(root)?;
    let _ = ns.networks()?;
    let _lock = ns.lock()?;
    Ok(ns.create(req)?)
}

/// `net-ls` / `net-inspect`: networks as `docker network inspect` shows them, with the
/// containers that have an address on each (`names`: container ID → name).
pub fn inspect_all(root: &Root, names: &BTreeMap<String, String>) -> Result<Vec<Value>> {
    let ns = store(root)?;
    let nets = ns.networks()?;
    let leases = {
        let _lock = ns.lock()?;
        let mut l = ns.leases()?;
        if reconcile(&mut l)? {
            ns.save_leases(&l)?;
        }
        l
    };
    Ok(nets
        .iter()
        .map(|n| {
            berth_net::store::inspect(n, &leases, |id| names.get(id).cloned().unwrap_or_default())
        })
        .collect())
}

/// `net-inspect`: one network (by name, ID or unique ID prefix) as `docker network inspect`
/// shows it.
pub fn inspect(root: &Root, key: &str, names: &BTreeMap<String, String>) -> Result<Value> {
    let net = store(root)?.find(key)?;
    inspect_all(root, names)?
        .into_iter()
        .find(|v| v["Id"] == net.id.as_str())
        .ok_or_else(|| Error::NetworkNotFound(key.to_string()))
}

/// One row of `docker network ls --format json` (keys as Docker's).
pub fn ls_row(n: &Network, no_trunc: bool) -> Value {
    let id = if no_trunc {
        n.id.clone()
    } else {
        n.id.chars().take(12).collect()
    };
    let labels = n
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    json!({
        "CreatedAt": crate::output::go_time(Some(&n.created)),
        "Driver": n.driver,
        "ID": id,
        "IPv4": "true",
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels,
        "Name": n.name,
        "Scope": n.scope,
    })
}

/// Whether `settings` name network `net` (by name or ID).
pub fn names_network(settings: &NetworkSettings, net: &Network) -> bool {
    settings
        .networks
        .iter()
        .any(|(k, e)| *k == net.name || e.network_id == net.id)
}

/// `net-rm`: a user-defined network no running container is on (Docker's "has active
/// endpoints"); its bridge and rules go with it.
pub fn remove_network(root: &Root, key: &str) -> Result<Network> {
    let ns = store(root)?;
    let net = ns.find(key)?;
    if net.is_predefined() {
        return Err(Error::Conflict(format!(
            "{} is a pre-defined network and cannot be removed",
            net.name
        )));
    }
    let _lock = ns.lock()?;
    let mut leases = ns.leases()?;
    if reconcile(&mut leases)? {
        ns.save_leases(&leases)?;
    }
    let active: Vec<String> = leases
        .on(&net.id)
        .map(|(_, l)| l.container[..12].to_string())
        .collect();
    if !active.is_empty() {
        return Err(Error::Conflict(format!(
            "network {} has active endpoints (containers {})",
            net.name,
            active.join(", ")
        )));
    }
    if let Some(b) = net.bridge() {
        firewall::remove_network(b)?;
        Netlink::open()?.delete_link(b)?;
    }
    ns.remove(&net.id)?;
    Ok(net)
}

/// `net-prune`: every user-defined network that is not `in_use` (named by a container,
/// running or not) and that the filters `keep`.
pub fn prune(
    root: &Root,
    in_use: &dyn Fn(&Network) -> Result<bool>,
    keep: &dyn Fn(&Network) -> bool,
) -> Result<Vec<Network>> {
    let ns = store(root)?;
    let mut out = Vec::new();
    for net in ns.networks()? {
        if net.is_predefined() || in_use(&net)? || !keep(&net) {
            continue;
        }
        match remove_network(root, &net.id) {
            Ok(n) => out.push(n),
            Err(Error::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `net-connect`'s checks: whether container `name` (network mode `mode`, `connected` already
/// or not) can join `net`, with `ip` and `aliases` if asked.
pub fn check_connect(
    net: &Network,
    name: &str,
    mode: &str,
    connected: bool,
    ip: Option<Ipv4Addr>,
    aliases: &[String],
) -> Result<()> {
    if net.driver != "bridge" || mode == "host" || mode == "none" || mode.starts_with("container:")
    {
        return Err(Error::Conflict(format!(
            "container {name} (network mode {mode}) cannot be connected to network {} ({}): \
             only containers on bridge networks can join bridge networks",
            net.name, net.driver
        )));
    }
    if connected {
        return Err(Error::Conflict(format!(
            "container {name} is already connected to network {}",
            net.name
        )));
    }
    if (ip.is_some() || !aliases.is_empty()) && !net.resolves_names() {
        return Err(Error::InvalidInput(
            "--ip and --alias are supported on user-defined networks only".into(),
        ));
    }
    Ok(())
}
