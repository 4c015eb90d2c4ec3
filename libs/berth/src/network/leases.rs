//! Leases and hosts files: a container's addresses on its networks, found again after a crash
//! ([`reconcile`]), and the hosts files of the containers that share a network.

use super::*;

/// The hosts-file and lease names of a container: its name, its short ID, its aliases.
pub(super) fn dns_names(rec: &Member, ep: &EndpointSettings) -> Vec<String> {
    let mut names = vec![rec.name.clone(), rec.id[..12].to_string()];
    for a in ep.aliases.iter().flatten() {
        if !names.iter().any(|n| n == a) {
            names.push(a.clone());
        }
    }
    names
}

/// Whether the init of a lease is still the process it was.
pub(super) fn lease_alive(l: &Lease) -> bool {
    l.pid > 0 && berth_runtime::state::start_time(l.pid).is_some_and(|t| t == l.pid_start)
}

/// Under the network lock: leases whose container's init is gone are released, with their
/// DNAT rules and host veths; rules of owners that hold no lease are removed too. This checks
/// every lease (one `/proc` read each): for the operations that show or remove networks. A
/// container joining a network checks only what it must ([`reconcile_for_join`], [`reclaim`]).
pub fn reconcile(leases: &mut Leases) -> Result<bool> {
    if !release_dead(leases, |_, _| true)? {
        return Ok(false);
    }
    let holders = leases.holders();
    for owner in firewall::owners()? {
        if !holders.contains(&owner) {
            firewall::remove_owner(&owner)?;
        }
    }
    Ok(true)
}

/// Releases the leases that `check` selects (by network ID and lease) and whose container's
/// init is gone, with everything of those containers. Whether any was.
fn release_dead(leases: &mut Leases, check: impl Fn(&str, &Lease) -> bool) -> Result<bool> {
    let dead: Vec<String> = leases
        .0
        .iter()
        .flat_map(|(net, m)| m.values().map(move |l| (net, l)))
        .filter(|(net, l)| check(net, l) && !lease_alive(l))
        .map(|(_, l)| l.container.clone())
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
    Ok(true)
}

/// Under the network lock, before container `id` joins a network: the leases it must not find
/// stale are checked, not every lease, so that a join costs the same with one container on the
/// network or a thousand. Checked: `id`'s own leases (left by an earlier run of it), and the
/// leases of the containers that have port rules (`rule_owners`, from the listing the join
/// makes anyway: a dead container's DNAT rules must not outlive it); rules of owners that hold
/// no lease go. Any other dead container's lease is left until its address is needed
/// ([`reclaim`]) or the networks are listed ([`reconcile`]).
pub fn reconcile_for_join(
    leases: &mut Leases,
    id: &str,
    rule_owners: &std::collections::BTreeSet<String>,
) -> Result<()> {
    release_dead(leases, |_, l| {
        l.container == id || rule_owners.contains(&l.container)
    })?;
    let holders = leases.holders();
    for owner in rule_owners {
        if owner != id && !holders.contains(owner) {
            firewall::remove_owner(owner)?;
        }
    }
    Ok(())
}

/// When an address of network `net` cannot be had (`want` is taken, or the pool is exhausted):
/// the lease that holds `want`, or every lease on `net`, is checked, and those of dead
/// containers are released. Whether any was: then the allocation is worth trying again.
pub fn reclaim(leases: &mut Leases, net: &str, want: Option<Ipv4Addr>) -> Result<bool> {
    let holder = want.and_then(|ip| leases.0.get(net)?.get(&ip).map(|l| l.container.clone()));
    if want.is_some() && holder.is_none() {
        return Ok(false);
    }
    release_dead(leases, |n, l| {
        n == net && holder.as_ref().is_none_or(|h| *h == l.container)
    })
}

/// Removes `id`'s rules, veths and leases, and rewrites the hosts files of the containers that
/// shared a network with it.
pub(super) fn release(nl: &mut Netlink, leases: &mut Leases, id: &str) -> Result<()> {
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

/// Rewrites the member part of the hosts file of every container on the networks `nets` that
/// resolve names.
pub(super) fn refresh_members(leases: &Leases, nets: &[String]) {
    let mut done = std::collections::BTreeSet::new();
    for n in nets {
        // Only members of networks that resolve names list each other: a change on the
        // default bridge changes no other container's hosts file (as with Docker, which
        // writes no other container into it without `--link`).
        for (_, l) in leases.on(n).filter(|(_, l)| l.resolves) {
            if done.insert(l.container.clone()) {
                let _ =
                    rewrite_members(Path::new(&l.hosts_path), &members_of(leases, &l.container));
            }
        }
    }
}

/// The other containers on the networks of `id` that resolve names: their addresses and names.
pub(super) fn members_of(leases: &Leases, id: &str) -> Vec<(IpAddr, Vec<String>)> {
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
pub(super) fn rewrite_members(path: &Path, members: &[(IpAddr, Vec<String>)]) -> Result<()> {
    rewrite_hosts(path, &[], members)
}

/// Rewrites a container's hosts file: its own lines for `dropped` addresses removed (those it
/// had on a network it left), the members' part replaced by `members`.
pub(super) fn rewrite_hosts(
    path: &Path,
    dropped: &[IpAddr],
    members: &[(IpAddr, Vec<String>)],
) -> Result<()> {
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

pub(super) fn write_in_place(path: &Path, data: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .with_path("open", path)?;
    f.write_all(data).with_path("write", path)
}

/// Before the runtime's create: a container that shares another's network (whose init is
/// `other_pid`) joins that namespace (its `config.json` in `dir` names it, and its host name
/// `hostname`, which replaces `own_hostname`) and gets that container's hosts, resolv.conf and
/// hostname files (`from`) copied onto its own (`to`, in place).
pub fn share_namespace(
    dir: &Path,
    other_pid: i32,
    (own_hostname, hostname): (&str, &str),
    from: [&str; 3],
    to: [&str; 3],
) -> Result<()> {
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
    // The other's host name, and HOSTNAME in the environment where it was the default.
    spec["hostname"] = json!(hostname);
    for e in spec["process"]["env"].as_array_mut().into_iter().flatten() {
        if e.as_str() == Some(&format!("HOSTNAME={own_hostname}")) {
            *e = json!(format!("HOSTNAME={hostname}"));
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

/// Frees container `id`'s lease on network `net` and its veth; its mates' hosts files lose it.
pub(super) fn release_on(leases: &mut Leases, id: &str, net: &str) -> Result<()> {
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
