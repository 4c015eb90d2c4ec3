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
//! before any kernel change and removed after them, so that every later network operation can
//! find leases whose init is gone and remove what they stood for ([`reconcile`]).

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

/// The hosts-file and lease names of a container: its name, its short ID, its aliases.
fn dns_names(rec: &Member, ep: &EndpointSettings) -> Vec<String> {
    let mut names = vec![rec.name.clone(), rec.id[..12].to_string()];
    for a in ep.aliases.iter().flatten() {
        if !names.iter().any(|n| n == a) {
            names.push(a.clone());
        }
    }
    names
}

/// Whether the init of a lease is still the process it was.
fn lease_alive(l: &Lease) -> bool {
    l.pid > 0 && berth_runtime::state::start_time(l.pid).is_some_and(|t| t == l.pid_start)
}

/// Under the network lock: leases whose container's init is gone are released, with their
/// DNAT rules and host veths; rules of owners that hold no lease are removed too.
pub fn reconcile(leases: &mut Leases) -> Result<bool> {
    let dead: Vec<String> = leases
        .0
        .values()
        .flat_map(|m| m.values())
        .filter(|l| !lease_alive(l))
        .map(|l| l.container.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if dead.is_empty() {
        return Ok(false);
    }
    let mut nl = Netlink::open()?;
    for id in &dead {
        release(&mut nl, leases, id)?;
    }
    let holders = leases.holders();
    for owner in firewall::owners()? {
        if !holders.contains(&owner) {
            firewall::remove_owner(&owner)?;
        }
    }
    Ok(true)
}

/// Removes `id`'s rules, veths and leases, and rewrites the hosts files of the containers that
/// shared a network with it.
fn release(nl: &mut Netlink, leases: &mut Leases, id: &str) -> Result<()> {
    firewall::remove_owner(id)?;
    let freed = leases.release(id);
    for (_, _, l) in &freed {
        if !l.host_veth.is_empty() {
            nl.delete_link(&l.host_veth)?;
        }
    }
    let nets: Vec<String> = freed.iter().map(|(n, _, _)| n.clone()).collect();
    refresh_members(leases, &nets);
    Ok(())
}

/// Rewrites the member part of the hosts file of every container on the networks `nets`.
fn refresh_members(leases: &Leases, nets: &[String]) {
    let mut done = std::collections::BTreeSet::new();
    for n in nets {
        for (_, l) in leases.on(n) {
            if done.insert(l.container.clone()) {
                let _ =
                    rewrite_members(Path::new(&l.hosts_path), &members_of(leases, &l.container));
            }
        }
    }
}

/// The other containers on the networks of `id` that resolve names: their addresses and names.
fn members_of(leases: &Leases, id: &str) -> Vec<(IpAddr, Vec<String>)> {
    let mut out = Vec::new();
    for m in leases.0.values() {
        if !m.values().any(|l| l.container == id && l.resolves) {
            continue;
        }
        for (ip, l) in m {
            if l.container != id {
                out.push((IpAddr::V4(*ip), l.names.clone()));
            }
        }
    }
    out
}

/// Replaces what follows [`hosts::MEMBERS_MARK`] in a hosts file, in place: the file is bind
/// mounted into the container, so its inode must stay the same.
fn rewrite_members(path: &Path, members: &[(IpAddr, Vec<String>)]) -> Result<()> {
    rewrite_hosts(path, &[], members)
}

/// Rewrites a container's hosts file: its own lines for `dropped` addresses removed (those it
/// had on a network it left), the members' part replaced by `members`.
fn rewrite_hosts(path: &Path, dropped: &[IpAddr], members: &[(IpAddr, Vec<String>)]) -> Result<()> {
    let old = fs::read_to_string(path).with_path("read", path)?;
    let head = old.split(hosts::MEMBERS_MARK).next().unwrap_or("");
    let mut s: String = head
        .split_inclusive('\n')
        .filter(|line| {
            let ip = line
                .split_whitespace()
                .next()
                .and_then(|w| w.parse::<IpAddr>().ok());
            !ip.is_some_and(|ip| dropped.contains(&ip))
        })
        .collect();
    if !members.is_empty() {
        s.push_str(hosts::MEMBERS_MARK);
        for (ip, names) in members {
            s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
    }
    if s != old {
        write_in_place(path, s.as_bytes())?;
    }
    Ok(())
}

fn write_in_place(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .with_path("open", path)?;
    f.write_all(data).with_path("write", path)
}

/// Before the runtime's create: a container that shares another's network (whose init is
/// `other_pid`) joins that namespace (its `config.json` in `dir` names it) and gets that
/// container's hosts and resolv.conf (`from`) copied onto its own (`to`, in place).
pub fn share_namespace(dir: &Path, other_pid: i32, from: [&str; 2], to: [&str; 2]) -> Result<()> {
    let cfg = dir.join("config.json");
    let mut spec: Value = serde_json::from_slice(&fs::read(&cfg).with_path("read", &cfg)?)
        .map_err(|e| Error::Corrupt {
            what: cfg.display().to_string(),
            why: e.to_string(),
        })?;
    let path = format!("/proc/{other_pid}/ns/net");
    for ns in spec["linux"]["namespaces"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if ns["type"] == "network" {
            ns["path"] = json!(path);
        }
    }
    crate::store::atomic_write_private(
        dir,
        "config.json",
        &serde_json::to_vec_pretty(&spec).expect("JSON"),
    )?;
    for (from, to) in from.iter().zip(to.iter()) {
        if let Ok(data) = fs::read(from) {
            write_in_place(Path::new(to), &data)?;
        }
    }
    Ok(())
}

/// Between the runtime's create and start (`pid` is the container's init, blocked before its
/// process): every bridge network of the container gets an address and a veth (`eth0`, `eth1`,
/// …; the first network has the default route), published ports get their reservations and
/// DNAT rules, and the hosts files are written. Returns what to hold and the new
/// `NetworkSettings`. On failure, nothing is left.
pub fn attach(root: &Root, rec: &Member, pid: i32) -> Result<(Attached, NetworkSettings)> {
    let mut settings = rec.network_settings.clone().unwrap_or_default();
    let eps: Vec<(String, EndpointSettings)> = settings
        .networks
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let ns = store(root)?;
    let mut nets = Vec::new();
    for (name, ep) in &eps {
        let key = Some(ep.network_id.as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or(name);
        let net = ns
            .find(key)
            .map_err(|_| Error::NetworkNotFound(name.clone()))?;
        if net.driver == "bridge" {
            nets.push((name.clone(), ep.clone(), net));
        }
    }
    if nets.is_empty() {
        settings.sandbox_key = format!("/proc/{pid}/ns/net");
        return Ok((Attached::default(), settings));
    }
    let _lock = ns.lock()?;
    let mut leases = ns.leases()?;
    reconcile(&mut leases)?;
    let r = attach_locked(&ns, &mut leases, rec, pid, &nets, &mut settings);
    match r {
        Ok(a) => Ok((a, settings)),
        Err(e) => {
            if let Ok(mut nl) = Netlink::open() {
                let _ = release(&mut nl, &mut leases, &rec.id);
            }
            let _ = ns.save_leases(&leases);
            Err(e)
        }
    }
}

/// One endpoint made: what the hosts files and the settings need.
struct Endpoint {
    ip: Ipv4Addr,
    gateway: Ipv4Addr,
}

/// The kernel side of the network set-up that every endpoint shares: forwarding on, berth's
/// table, the set of bridges that have their rules.
struct Kernel {
    host: Netlink,
    inside: Netlink,
    netns: File,
    ruled: std::collections::BTreeSet<String>,
}

impl Kernel {
    fn open(pid: i32) -> Result<Kernel> {
        let netns_path = format!("/proc/{pid}/ns/net");
        let netns = File::open(&netns_path).with_path("open", &netns_path)?;
        let host = Netlink::open()?;
        let inside = Netlink::open_in(netns.as_fd())?;
        sysctl::enable_forwarding(false)?;
        // One listing serves both: the table is complete, and which bridges have rules.
        let ruled = firewall::ensure_table_listed()?.network_bridges();
        Ok(Kernel {
            host,
            inside,
            netns,
            ruled,
        })
    }
}

/// Connects container `rec` (init `pid`) to `net` as interface `eth<idx>`: an address lease,
/// the bridge and its rules if new, the veth pair, the address, the default route when `idx` is
/// 0; fills the endpoint settings `ep`.
#[allow(clippy::too_many_arguments)]
fn attach_endpoint(
    ns: &NetStore,
    leases: &mut Leases,
    k: &mut Kernel,
    rec: &Member,
    pid: i32,
    idx: usize,
    net: &Network,
    ep: &mut EndpointSettings,
) -> Result<Endpoint> {
    let (sub, gw) = net
        .subnet()
        .ok_or_else(|| Error::InvalidInput(format!("network {} has no IPv4 subnet", net.name)))?;
    let bridge = net
        .bridge()
        .unwrap_or(berth_net::store::DEFAULT_BRIDGE_IF)
        .to_string();
    let want = ep
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.parse().ok());
    let host_veth = format!("vb{}{idx}", &rec.id[..11]);
    let names = dns_names(rec, ep);
    let ip = leases.allocate(
        net,
        want,
        Lease {
            container: rec.id.clone(),
            names: names.clone(),
            mac: String::new(),
            hosts_path: rec.hosts_path.clone(),
            host_veth: host_veth.clone(),
            pid,
            pid_start: berth_runtime::state::start_time(pid).unwrap_or(0),
            resolves: net.resolves_names(),
        },
    )?;
    let mac = match (idx, rec.mac.as_deref()) {
        (0, Some(m)) => subnet::parse_mac(m)?,
        _ => subnet::mac_for(ip),
    };
    let mac_s = subnet::format_mac(&mac);
    if let Some(l) = leases.0.get_mut(&net.id).and_then(|m| m.get_mut(&ip)) {
        l.mac = mac_s.clone();
    }
    // The lease is on disk before the kernel changes, so that a crash leaves something
    // reconcile can find.
    ns.save_leases(leases)?;

    k.host.ensure_bridge(&bridge)?;
    k.host.add_address(&bridge, IpAddr::V4(gw), sub.prefix)?;
    if !k.ruled.contains(&bridge) {
        firewall::add_network(&NetRules {
            bridge: bridge.clone(),
            subnets: vec![(IpAddr::V4(sub.network), sub.prefix)],
            internal: net.internal,
        })?;
        k.ruled.insert(bridge.clone());
    }
    let ifname = format!("eth{idx}");
    k.host.create_veth(
        &host_veth,
        &ifname,
        k.netns.as_fd(),
        Some(mac),
        Some(&bridge),
    )?;
    k.inside.add_address(&ifname, IpAddr::V4(ip), sub.prefix)?;
    k.inside.set_up(&ifname)?;
    if idx == 0 && !net.internal {
        k.inside.add_default_route(IpAddr::V4(gw))?;
    }
    ep.network_id = net.id.clone();
    ep.endpoint_id = berth_net::store::endpoint_id(&net.id, &rec.id);
    ep.gateway = gw.to_string();
    ep.ip_address = ip.to_string();
    ep.ip_prefix_len = sub.prefix;
    ep.mac_address = mac_s;
    ep.dns_names = net.resolves_names().then_some(names);
    Ok(Endpoint { ip, gateway: gw })
}

fn hostname_of(rec: &Member) -> String {
    rec.hostname.clone()
}

fn attach_locked(
    ns: &NetStore,
    leases: &mut Leases,
    rec: &Member,
    pid: i32,
    nets: &[(String, EndpointSettings, Network)],
    settings: &mut NetworkSettings,
) -> Result<Attached> {
    let mut k = Kernel::open(pid)?;
    let mut own = Vec::new();
    let mut first: Option<Endpoint> = None;
    for (idx, (name, ep, net)) in nets.iter().enumerate() {
        let mut ep = ep.clone();
        let e = attach_endpoint(ns, leases, &mut k, rec, pid, idx, net, &mut ep)?;
        own.push((IpAddr::V4(e.ip), hostname_of(rec)));
        if net.name == berth_net::store::BRIDGE {
            // Docker fills the top-level fields for the default bridge only.
            settings.endpoint_id = ep.endpoint_id.clone();
            settings.gateway = ep.gateway.clone();
            settings.ip_address = ep.ip_address.clone();
            settings.ip_prefix_len = ep.ip_prefix_len;
            settings.mac_address = ep.mac_address.clone();
        }
        settings.networks.insert(name.clone(), ep);
        first.get_or_insert(e);
    }
    settings.sandbox_key = format!("/proc/{pid}/ns/net");

    // Published ports.
    let mut attached = Attached::default();
    let mut published: BTreeMap<String, Vec<Binding>> = BTreeMap::new();
    if let Some(e) = &first {
        let mut rules = Vec::new();
        for (port, binding) in wanted_ports(rec)? {
            let r = ports::reserve(port, &binding)?;
            rules.push(PortRule {
                proto: port.proto,
                host_ip: (!r.host_ip.is_unspecified()).then_some(r.host_ip),
                host_port: r.host_port,
                ctr_ip: IpAddr::V4(e.ip),
                ctr_port: port.port,
            });
            published
                .entry(port.to_string())
                .or_default()
                .push(Binding {
                    host_ip: r.host_ip.to_string(),
                    host_port: r.host_port.to_string(),
                });
            attached.reservations.push(r);
        }
        if !rules.is_empty() {
            firewall::add_ports_to_table(&rec.id, &rules)?;
        }
    }
    // Every exposed port appears in Ports, published or not (null), as Docker shows them.
    let mut ports_v = PortMap::new();
    for p in &rec.exposed {
        ports_v.insert(p.clone(), None);
    }
    for (k, v) in published {
        ports_v.insert(k, Some(v));
    }
    settings.ports = ports_v;

    // Hosts files: this container's, then its network mates'.
    let gw = first.map(|e| e.gateway.to_string()).unwrap_or_default();
    let extra: Vec<ExtraHost> = rec
        .host_config
        .extra_hosts
        .iter()
        .flatten()
        .filter_map(|h| hosts::parse_add_host(h).ok())
        .map(|mut e| {
            if e.ip == "host-gateway" {
                e.ip = gw.clone();
            }
            e
        })
        .collect();
    let text = hosts::hosts_file(&extra, &own, &members_of(leases, &rec.id));
    write_in_place(Path::new(&rec.hosts_path), text.as_bytes())?;
    let ids: Vec<String> = nets.iter().map(|(_, _, n)| n.id.clone()).collect();
    refresh_members(leases, &ids);
    Ok(attached)
}

/// The container's port bindings: `PortBindings`, and with `PublishAllPorts` every exposed
/// port that has none (on a free host port).
fn wanted_ports(rec: &Member) -> Result<Vec<(Port, Binding)>> {
    let bindings = &rec.host_config.port_bindings;
    let mut out = Vec::new();
    for (k, list) in bindings {
        let port: Port = k.parse()?;
        for b in list {
            out.push((port, b.clone()));
        }
    }
    if rec.host_config.publish_all_ports {
        for k in &rec.exposed {
            if !bindings.contains_key(k) {
                out.push((k.parse()?, Binding::default()));
            }
        }
    }
    Ok(out)
}

/// When the container has stopped (or is being removed): its rules, veths and leases go, the
/// hosts files of its network mates lose it. Idempotent; cheap when it holds no lease. The
/// record's settings are then [`stopped_settings`].
pub fn detach(root: &Root, id: &str) -> Result<()> {
    let ns = store(root)?;
    let _lock = ns.lock()?;
    let mut leases = ns.leases()?;
    if leases.holders().contains(id) {
        let mut nl = Netlink::open()?;
        release(&mut nl, &mut leases, id)?;
        ns.save_leases(&leases)?;
    }
    Ok(())
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

/// `net-connect` of a running container (init `pid`): its interface on `net` at once (`eth1`,
/// …), its hosts file and its new mates'. Returns the endpoint `ep` filled.
pub fn connect_running(
    root: &Root,
    rec: &Member,
    pid: i32,
    net: &Network,
    mut ep: EndpointSettings,
) -> Result<EndpointSettings> {
    let ns = store(root)?;
    let _lock = ns.lock()?;
    let mut leases = ns.leases()?;
    reconcile(&mut leases)?;
    let used: Vec<String> = leases
        .0
        .values()
        .flat_map(|m| m.values())
        .filter(|l| l.container == rec.id)
        .map(|l| l.host_veth.clone())
        .collect();
    let idx = (0..10)
        .find(|i| !used.contains(&format!("vb{}{i}", &rec.id[..11])))
        .ok_or_else(|| {
            Error::Conflict(format!("container {} is on too many networks", rec.name))
        })?;
    let made = (|| {
        let mut k = Kernel::open(pid)?;
        let e = attach_endpoint(&ns, &mut leases, &mut k, rec, pid, idx.max(1), net, &mut ep)?;
        // Its own new address, then its mates'.
        let path = Path::new(&rec.hosts_path);
        let old = fs::read_to_string(path).with_path("read", path)?;
        let head = old
            .split(hosts::MEMBERS_MARK)
            .next()
            .unwrap_or("")
            .to_string();
        let line = format!("{}\t{}\n", e.ip, hostname_of(rec));
        write_in_place(path, format!("{head}{line}").as_bytes())?;
        refresh_members(&leases, std::slice::from_ref(&net.id));
        Ok::<(), Error>(())
    })();
    if let Err(e) = made {
        let _ = release_on(&mut leases, &rec.id, &net.id);
        let _ = ns.save_leases(&leases);
        return Err(e);
    }
    ns.save_leases(&leases)?;
    Ok(ep)
}

/// Frees container `id`'s lease on network `net` and its veth; its mates' hosts files lose it.
fn release_on(leases: &mut Leases, id: &str, net: &str) -> Result<()> {
    let mut mine = Leases::default();
    if let Some(m) = leases.0.get_mut(net) {
        let ips: Vec<Ipv4Addr> = m
            .iter()
            .filter(|(_, l)| l.container == id)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in ips {
            if let Some(l) = m.remove(&ip) {
                mine.0.entry(net.to_string()).or_default().insert(ip, l);
            }
        }
    }
    let mut nl = Netlink::open()?;
    for l in mine.0.values().flat_map(|m| m.values()) {
        nl.delete_link(&l.host_veth)?;
    }
    refresh_members(leases, &[net.to_string()]);
    // Its own hosts file loses its address on that network (as Docker's sandbox drops the
    // endpoint's entry) and that network's members.
    let released: Vec<IpAddr> = mine
        .0
        .values()
        .flat_map(|m| m.keys())
        .map(|ip| IpAddr::V4(*ip))
        .collect();
    if let Some(l) = mine.0.values().flat_map(|m| m.values()).next() {
        let _ = rewrite_hosts(Path::new(&l.hosts_path), &released, &members_of(leases, id));
    }
    Ok(())
}

/// `net-disconnect`'s network side: container `id`'s lease on `net`, its veth, and the hosts
/// files' lines for it go.
pub fn disconnect(root: &Root, id: &str, net: &Network) -> Result<()> {
    let ns = store(root)?;
    let _lock = ns.lock()?;
    let mut leases = ns.leases()?;
    release_on(&mut leases, id, &net.id)?;
    Ok(ns.save_leases(&leases)?)
}
