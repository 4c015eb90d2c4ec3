//! `--link NAME[:ALIAS]`, Docker's legacy links. On the default bridge (moby
//! `registerLinks`, `setupLinkedContainers`, `links.Link.ToEnv`): the linked container must
//! exist at create and run at start; the container's /etc/hosts names it by alias, host name
//! and name, and its environment gets `ALIAS_PORT…`, `ALIAS_NAME` and `ALIAS_ENV_…`;
//! `HostConfig.Links` records `/NAME:/ME/ALIAS`. On a user-defined network a link is only an
//! alias for the other container (its endpoint's `Links`, `NAME:ALIAS`), with no variables.

use std::fs;
use std::path::Path;

use serde_json::Value;

use super::liveness::refresh;
use super::spec::NetFlags;
use super::{Container, Containers};
use crate::error::{Error, IoContext, Result};
use crate::record::NetworkSettings;
use crate::root::Root;
use crate::store::atomic_write_private;

/// What a create records of its links.
#[derive(Debug, Default)]
pub struct AtCreate {
    /// `HostConfig.Links` (legacy links).
    pub host_config: Option<Vec<String>>,
    /// The user-defined network and its endpoint's `Links`.
    endpoint: Option<(String, Vec<String>)>,
}

impl AtCreate {
    /// Puts the endpoint's links into the container's settings.
    pub fn endpoint(&self, s: &mut NetworkSettings) {
        if let Some((net, links)) = &self.endpoint {
            if let Some(ep) = s.networks.get_mut(net) {
                ep.links = Some(links.clone());
            }
        }
    }
}

/// Docker's checks at create: a network mode links cannot be used with, a container that does
/// not exist. `me` is the new container's name.
pub fn at_create(
    links: &[(String, String)],
    net: &NetFlags,
    containers: &Containers,
    me: &str,
) -> Result<AtCreate> {
    if links.is_empty() {
        return Ok(AtCreate::default());
    }
    if net.mode == "host" {
        return Err(Error::InvalidInput(
            "conflicting options: host type networking can't be used with links. This would \
             result in undefined behavior"
                .into(),
        ));
    }
    if net.mode.starts_with("container:") {
        return Err(Error::InvalidInput(
            "conflicting options: container type network can't be used with links. This would \
             result in undefined behavior"
                .into(),
        ));
    }
    let mut out = Vec::new();
    for (name, alias) in links {
        let child = containers.find(name).map_err(|e| match e {
            Error::ContainerNotFound(_) => Error::InvalidInput(format!(
                "could not get container for {name}: No such container: {name}"
            )),
            e => e,
        })?;
        if child.host_config.network_mode == "host" {
            return Err(Error::InvalidInput(
                "conflicting options: host type networking can't be used with links. This \
                 would result in undefined behavior"
                    .into(),
            ));
        }
        out.push((child.name, alias.clone()));
    }
    if net.on_bridge() && net.mode != "bridge" {
        return Ok(AtCreate {
            host_config: None,
            endpoint: Some((
                net.mode.clone(),
                out.iter().map(|(n, a)| format!("{n}:{a}")).collect(),
            )),
        });
    }
    Ok(AtCreate {
        host_config: Some(out.iter().map(|(n, a)| format!("/{n}:/{me}/{a}")).collect()),
        endpoint: None,
    })
}

/// A container's links: (the other container's name, alias, whether legacy).
fn links_of(rec: &Container) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for l in rec.host_config.links.iter().flatten() {
        if let Ok((n, a)) = super::spec::run_flags::parse_link(l) {
            out.push((n, a, true));
        }
    }
    for ep in rec
        .network_settings
        .iter()
        .flat_map(|s| s.networks.values())
    {
        for l in ep.links.iter().flatten() {
            if let Ok((n, a)) = super::spec::run_flags::parse_link(l) {
                out.push((n, a, false));
            }
        }
    }
    out
}

/// A linked container, running, and its address on the network the link is on.
struct Linked {
    child: Container,
    alias: String,
    ip: String,
    legacy: bool,
}

fn linked(root: &Root, rec: &Container) -> Result<Vec<Linked>> {
    let links = links_of(rec);
    if links.is_empty() {
        return Ok(Vec::new());
    }
    let store = Containers::open(root.containers_dir())?;
    let mut out = Vec::new();
    for (name, alias, legacy) in links {
        // Docker gives legacy links to containers on the default bridge only (with --network
        // none: no hosts entry, no variables).
        if legacy && rec.host_config.network_mode != "bridge" {
            continue;
        }
        let not_running = || Error::Runtime {
            message: format!(
                "Cannot link to a non running container: /{name} AS /{}/{alias}",
                rec.name
            ),
            code: 125,
        };
        let child = refresh(&store.find(&name).map_err(|_| not_running())?);
        if !child.state.running {
            return Err(not_running());
        }
        let net = if legacy {
            "bridge".to_string()
        } else {
            rec.host_config.network_mode.clone()
        };
        let ip = child
            .network_settings
            .as_ref()
            .and_then(|s| s.networks.get(&net))
            .map(|e| e.ip_address.clone())
            .filter(|ip| !ip.is_empty());
        let ip = match ip {
            Some(ip) => ip,
            None => {
                return Err(Error::Runtime {
                    message: format!(
                        "Cannot link to /{}, as it does not belong to the default network",
                        child.name
                    ),
                    code: 125,
                })
            }
        };
        out.push(Linked {
            child,
            alias,
            ip,
            legacy,
        });
    }
    Ok(out)
}

/// Docker's `links.Link.ToEnv` for one link: the linked container's exposed ports (sorted,
/// tcp before udp at the same number; contiguous runs also as `_START`/`_END`), its name as
/// this container sees it, and its `Config.Env` but PATH and HOME.
pub fn link_env(
    alias: &str,
    link_name: &str,
    ip: &str,
    ports: &[String],
    env: &[String],
) -> Vec<String> {
    let a = alias.to_ascii_uppercase().replace('-', "_");
    let mut ports: Vec<(u32, String)> = ports
        .iter()
        .filter_map(|p| {
            let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            Some((n.parse().ok()?, proto.to_ascii_lowercase()))
        })
        .collect();
    ports.sort_by(|(n1, p1), (n2, p2)| n1.cmp(n2).then((p1 != "tcp").cmp(&(p2 != "tcp"))));
    let mut out = Vec::new();
    if let Some((n, proto)) = ports.first() {
        out.push(format!("{a}_PORT={proto}://{ip}:{n}"));
    }
    let mut i = 0;
    while i < ports.len() {
        // moby's nextContiguous.
        let (mut j, mut value) = (i, ports[i].0);
        while j + 1 < ports.len() && ports[j + 1].0 <= value + 1 {
            value += 1;
            j += 1;
        }
        if j > i + 1 {
            let (n, proto) = &ports[i];
            let up = proto.to_ascii_uppercase();
            out.push(format!("{a}_PORT_{n}_{up}_START={proto}://{ip}:{n}"));
            out.push(format!("{a}_PORT_{n}_{up}_ADDR={ip}"));
            out.push(format!("{a}_PORT_{n}_{up}_PROTO={proto}"));
            out.push(format!("{a}_PORT_{n}_{up}_PORT_START={n}"));
            let (m, qproto) = &ports[j];
            let qup = qproto.to_ascii_uppercase();
            out.push(format!("{a}_PORT_{n}_{qup}_END={qproto}://{ip}:{m}"));
            out.push(format!("{a}_PORT_{n}_{qup}_PORT_END={m}"));
            i = j + 1;
        } else {
            i += 1;
        }
    }
    for (n, proto) in &ports {
        let up = proto.to_ascii_uppercase();
        out.push(format!("{a}_PORT_{n}_{up}={proto}://{ip}:{n}"));
        out.push(format!("{a}_PORT_{n}_{up}_ADDR={ip}"));
        out.push(format!("{a}_PORT_{n}_{up}_PORT={n}"));
        out.push(format!("{a}_PORT_{n}_{up}_PROTO={proto}"));
    }
    out.push(format!("{a}_NAME={link_name}"));
    for e in env {
        if let Some((k, v)) = e.split_once('=') {
            if k != "HOME" && k != "PATH" {
                out.push(format!("{a}_ENV_{k}={v}"));
            }
        }
    }
    out
}

/// The file in the container's directory that lists the variables the last start added, so
/// that the next start replaces them.
const ENV_KEYS: &str = "links.env";

fn key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Before the runtime creates the container: every linked container must run; the legacy
/// links' variables go into `config.json`'s environment after Docker's own (PATH, HOSTNAME,
/// TERM) and before the container's, which win (moby `CreateDaemonEnvironment`).
pub fn before_start(root: &Root, rec: &Container, dir: &Path) -> Result<()> {
    let links = linked(root, rec)?;
    let keys_path = dir.join(ENV_KEYS);
    let old_keys: Vec<String> = fs::read_to_string(&keys_path)
        .map(|t| t.lines().map(String::from).collect())
        .unwrap_or_default();
    if links.is_empty() && old_keys.is_empty() {
        return Ok(());
    }
    let mut add = Vec::new();
    for l in links.iter().filter(|l| l.legacy) {
        let ports: Vec<String> = l
            .child
            .config
            .exposed_ports
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let env = l.child.config.env.clone().flatten().unwrap_or_default();
        add.extend(link_env(
            &l.alias,
            &format!("/{}/{}", rec.name, l.alias),
            &l.ip,
            &ports,
            &env,
        ));
    }
    let path = dir.join("config.json");
    let data = fs::read(&path).with_path("read", &path)?;
    let mut spec: Value =
        serde_json::from_slice(&data).map_err(|e| Error::corrupt(path.display().to_string(), e))?;
    let Some(list) = spec["process"]["env"].as_array_mut() else {
        return Ok(());
    };
    list.retain(|e| {
        !e.as_str()
            .is_some_and(|e| old_keys.iter().any(|k| k == key(e)))
    });
    let own: Vec<String> = rec.config.env.clone().flatten().unwrap_or_default();
    let add: Vec<String> = add
        .into_iter()
        .filter(|e| !own.iter().any(|o| key(o) == key(e)))
        .collect();
    let base = list
        .iter()
        .take_while(|e| {
            e.as_str()
                .is_some_and(|e| matches!(key(e), "PATH" | "HOSTNAME" | "TERM"))
        })
        .count();
    for (i, e) in add.iter().enumerate() {
        list.insert(base + i, Value::from(e.clone()));
    }
    let out = serde_json::to_vec_pretty(&spec).expect("JSON values serialise");
    atomic_write_private(dir, "config.json", &out)?;
    let keys: Vec<&str> = add.iter().map(|e| key(e)).collect();
    atomic_write_private(dir, ENV_KEYS, keys.join("\n").as_bytes())
}

/// The hosts entries of the links, (IP, names): the alias, the linked container's host name
/// and its name (when not the alias), on one line as moby's sandbox options write them.
pub fn extra_hosts(root: &Root, rec: &Container) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for l in linked(root, rec)? {
        if l.ip.is_empty() {
            continue;
        }
        let host = l
            .child
            .config
            .hostname
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| l.child.id[..12].to_string());
        let mut names = format!("{} {host}", l.alias);
        if l.alias != l.child.name {
            names = format!("{names} {}", l.child.name);
        }
        out.push((l.ip.clone(), names));
    }
    Ok(out)
}

/// `ctr-rename` of `c` (its name already `new`, not saved yet; the caller holds the lock), as
/// Docker's link index follows it: its own links are named under its new name
/// (`/db:/NEW/alias`), and the links of other containers to it name it anew (`/NEW:/web/db`,
/// `NEW:alias`).
pub fn renamed(store: &Containers, c: &mut Container, old: &str) -> Result<()> {
    let new = c.name.clone();
    for l in c.host_config.links.iter_mut().flatten() {
        if let Some((child, alias)) = l.split_once(':') {
            if let Some(a) = alias.strip_prefix(&format!("/{old}/")) {
                *l = format!("{child}:/{new}/{a}");
            }
        }
    }
    for mut other in store.list()? {
        if other.id == c.id {
            continue;
        }
        let mut changed = false;
        for l in other.host_config.links.iter_mut().flatten() {
            if let Some(rest) = l.strip_prefix(&format!("/{old}:")) {
                *l = format!("/{new}:{rest}");
                changed = true;
            }
        }
        for ep in other
            .network_settings
            .iter_mut()
            .flat_map(|s| s.networks.values_mut())
        {
            for l in ep.links.iter_mut().flatten() {
                if let Some(rest) = l.strip_prefix(&format!("{old}:")) {
                    *l = format!("{new}:{rest}");
                    changed = true;
                }
            }
        }
        if changed {
            store.save(&other)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_variables_as_docker() {
        let env = link_env(
            "db-1",
            "/web/db-1",
            "172.17.0.2",
            &["80/tcp".into(), "53/udp".into(), "53/tcp".into()],
            &["PATH=/bin".into(), "PASS=x=y".into(), "HOME=/root".into()],
        );
        assert_eq!(
            env,
            [
                "DB_1_PORT=tcp://172.17.0.2:53",
                "DB_1_PORT_53_TCP=tcp://172.17.0.2:53",
                "DB_1_PORT_53_TCP_ADDR=172.17.0.2",
                "DB_1_PORT_53_TCP_PORT=53",
                "DB_1_PORT_53_TCP_PROTO=tcp",
                "DB_1_PORT_53_UDP=udp://172.17.0.2:53",
                "DB_1_PORT_53_UDP_ADDR=172.17.0.2",
                "DB_1_PORT_53_UDP_PORT=53",
                "DB_1_PORT_53_UDP_PROTO=udp",
                "DB_1_PORT_80_TCP=tcp://172.17.0.2:80",
                "DB_1_PORT_80_TCP_ADDR=172.17.0.2",
                "DB_1_PORT_80_TCP_PORT=80",
                "DB_1_PORT_80_TCP_PROTO=tcp",
                "DB_1_NAME=/web/db-1",
                "DB_1_ENV_PASS=x=y",
            ]
        );
        // A run of three ports: the range variables too.
        let env = link_env(
            "a",
            "/b/a",
            "10.0.0.2",
            &["7000/tcp".into(), "7001/tcp".into(), "7002/tcp".into()],
            &[],
        );
        assert!(
            env.contains(&"A_PORT_7000_TCP_START=tcp://10.0.0.2:7000".to_string()),
            "{env:?}"
        );
        assert!(
            env.contains(&"A_PORT_7000_TCP_END=tcp://10.0.0.2:7002".to_string()),
            "{env:?}"
        );
        assert!(
            env.contains(&"A_PORT_7000_TCP_PORT_END=7002".to_string()),
            "{env:?}"
        );
    }
}
