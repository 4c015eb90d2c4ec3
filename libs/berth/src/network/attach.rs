//! The kernel side of a container on its networks: addresses, veths, routes, published ports,
//! set up between the runtime's create and start and taken down when the container ends.

use super::*;

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
    let r = Kernel::open(pid).and_then(|mut k| {
        reconcile_for_join(&mut leases, &rec.id, &k.rule_owners)?;
        attach_locked(&ns, &mut leases, &mut k, rec, pid, &nets, &mut settings)
    });
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
    /// The containers that have port rules, when the table was listed.
    rule_owners: std::collections::BTreeSet<String>,
}

impl Kernel {
    fn open(pid: i32) -> Result<Kernel> {
        let netns_path = format!("/proc/{pid}/ns/net");
        let netns = File::open(&netns_path).with_path("open", &netns_path)?;
        let host = Netlink::open()?;
        let inside = Netlink::open_in(netns.as_fd())?;
        sysctl::enable_forwarding(false)?;
        // One listing serves both: the table is complete, and which bridges have rules.
        let listing = firewall::ensure_table_listed()?;
        Ok(Kernel {
            host,
            inside,
            netns,
            ruled: listing.network_bridges(),
            rule_owners: listing.comment_suffixes(firewall::CTR_PREFIX),
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
    let lease = Lease {
        container: rec.id.clone(),
        names: names.clone(),
        mac: String::new(),
        hosts_path: rec.hosts_path.clone(),
        host_veth: host_veth.clone(),
        pid,
        pid_start: berth_runtime::state::start_time(pid).unwrap_or(0),
        resolves: net.resolves_names(),
    };
    let ip = match leases.allocate(net, want, lease.clone()) {
        Ok(ip) => ip,
        // The address or the pool may be held by containers that died with their monitor:
        // only now are their leases checked.
        Err(berth_net::Error::Conflict(_) | berth_net::Error::Exhausted(_))
            if reclaim(leases, &net.id, want)? =>
        {
            leases.allocate(net, want, lease)?
        }
        Err(e) => return Err(e.into()),
    };
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
    k: &mut Kernel,
    rec: &Member,
    pid: i32,
    nets: &[(String, EndpointSettings, Network)],
    settings: &mut NetworkSettings,
) -> Result<Attached> {
    let mut own = Vec::new();
    let mut first: Option<Endpoint> = None;
    for (idx, (name, ep, net)) in nets.iter().enumerate() {
        let mut ep = ep.clone();
        let e = attach_endpoint(ns, leases, k, rec, pid, idx, net, &mut ep)?;
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
        .chain(rec.link_hosts.iter().map(|(ip, names)| ExtraHost {
            name: names.clone(),
            ip: ip.clone(),
        }))
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
/// record's settings are then `NetworkSettings::stopped`.
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
    let mut k = Kernel::open(pid)?;
    reconcile_for_join(&mut leases, &rec.id, &k.rule_owners)?;
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

/// `net-disconnect`'s network side: container `id`'s lease on `net`, its veth, and the hosts
/// files' lines for it go.
pub fn disconnect(root: &Root, id: &str, net: &Network) -> Result<()> {
    let ns = store(root)?;
    let _lock = ns.lock()?;
    let mut leases = ns.leases()?;
    release_on(&mut leases, id, &net.id)?;
    Ok(ns.save_leases(&leases)?)
}
