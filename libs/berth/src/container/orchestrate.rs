//! The one place that sees containers, networks and volumes together. `network` and `volume`
//! are stores that know nothing of containers' records: what they need of a container comes in
//! as plain values ([`member`], a list of users), and what they give back is written into the
//! records here. The rest of `container` reaches them only through these hooks:
//!
//! - create: the network asked for ([`network_at_create`]), the volumes planned and made
//!   ([`plan_volumes`], [`prepare_volumes`], [`forget_volumes`]);
//! - the monitor's start and stop: [`before_runtime_create`] (a shared network namespace),
//!   [`attach_network`], [`detach_network`];
//! - removal with volumes: [`remove_with_volumes`] (`--rm`), [`rm_container`] (`ctr-rm -v`);
//! - in-use checks: [`volume_users`], [`remove_volume`], [`prune_volumes`], [`prune_networks`];
//! - `net-connect`, `net-disconnect` and `net-inspect`'s member names.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_net::store::Network;
use serde_json::Value;

use super::spec::NetFlags;
use super::{lifecycle, refresh, Container, Containers, NetworkSettings};
use crate::config::Set;
use crate::error::{Error, Result};
pub use crate::network::Attached;
use crate::network::{self, Member, NetRequest};
use crate::record::MountPoint;
use crate::root::Root;
use crate::volume::{self, Planned, Request, Users};

/// What the network side needs to know of container `c`.
pub fn member(c: &Container) -> Member {
    Member {
        id: c.id.clone(),
        name: c.name.clone(),
        hosts_path: c.hosts_path.clone(),
        hostname: c
            .config
            .hostname
            .clone()
            .unwrap_or_else(|| c.id[..12].to_string()),
        mac: c.config.mac_address.clone(),
        exposed: c
            .config
            .exposed_ports
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        host_config: c.host_config.clone(),
        network_settings: c.network_settings.clone(),
        link_hosts: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Create

/// At create, under the containers' lock: the network mode as recorded (`HostConfig.NetworkMode`:
/// a network's name, or `container:<ID>`) and the container's `NetworkSettings`. A network that
/// does not exist, or a container to share that does not, is an error here, as with Docker.
pub fn network_at_create(
    root: &Root,
    flags: &NetFlags,
    containers: &Containers,
) -> Result<(String, NetworkSettings)> {
    if let Some(other) = flags.mode.strip_prefix("container:") {
        let id = containers.resolve(other)?;
        return Ok((format!("container:{id}"), NetworkSettings::default()));
    }
    network::at_create(
        root,
        &NetRequest {
            network: &flags.mode,
            ip: flags.ip,
            aliases: &flags.aliases,
            mac: flags.mac.as_deref(),
        },
    )
}

/// The user's mounts and the image's `VOLUME`s, planned (see [`volume::plan`]).
pub fn plan_volumes(
    root: &Root,
    reqs: &[Request],
    image_volumes: Option<&Set>,
) -> Result<Vec<Planned>> {
    volume::plan(root, reqs, image_volumes)
}

/// Makes what `planned` needs (see [`volume::prepare`]); the volumes made now.
pub fn prepare_volumes(
    root: &Root,
    planned: &[Planned],
    layers: &[PathBuf],
) -> Result<Vec<String>> {
    volume::prepare(root, planned, layers)
}

/// Removes the volumes a failed create made.
pub fn forget_volumes(root: &Root, names: &[String]) {
    if let Ok(vols) = volume::Volumes::open(root) {
        for n in names {
            let _ = vols.remove(n);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The monitor's hooks

/// Before the runtime's create: the PID and IPC namespaces shared with other containers and a
/// shareable /dev/shm (see [`super::ns_share`]); a container that shares another's network
/// joins that container's namespace (its init must be running) and gets its hosts and
/// resolv.conf.
pub fn before_runtime_create(root: &Root, rec: &Container, dir: &Path) -> Result<()> {
    super::ns_share::before_runtime_create(root, rec, dir)?;
    super::links::before_start(root, rec, dir)?;
    let Some(other) = rec.host_config.network_mode.strip_prefix("container:") else {
        return Ok(());
    };
    let store = Containers::open(root.containers_dir())?;
    let o = refresh(&store.find(other)?);
    if !o.state.running || o.state.pid <= 0 {
        return Err(Error::Runtime {
            message: format!(
                "cannot join the network of a non-running container: {}",
                o.name
            ),
            code: 125,
        });
    }
    // As Docker (moby `initializeNetworking`): the container takes the other's host name too,
    // in its record, its /etc/hostname, its UTS namespace and its HOSTNAME.
    let hostname = o
        .config
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| o.id[..12].to_string());
    let own = rec.config.hostname.clone().unwrap_or_default();
    network::share_namespace(
        dir,
        o.state.pid,
        (&own, &hostname),
        [&o.hosts_path, &o.resolv_conf_path, &o.hostname_path],
        [&rec.hosts_path, &rec.resolv_conf_path, &rec.hostname_path],
    )?;
    if own != hostname {
        let _lock = store.lock()?;
        let mut now = store.load(&rec.id)?;
        now.config.hostname = Some(hostname);
        store.save(&now)?;
    }
    Ok(())
}

/// Between the runtime's create and start: the container's networks (see
/// [`network::attach`]); what to hold and the new `NetworkSettings`.
pub fn attach_network(
    root: &Root,
    rec: &Container,
    pid: i32,
) -> Result<(Attached, NetworkSettings)> {
    let mut m = member(rec);
    // The links' names resolve to the linked containers (Docker's extra hosts for them).
    m.link_hosts = super::links::extra_hosts(root, rec)?;
    network::attach(root, &m, pid)
}

/// When the container has stopped or is removed: its network goes (see [`network::detach`]).
pub fn detach_network(root: &Root, id: &str) -> Result<()> {
    // And a shareable /dev/shm (see `ns_share`), which lives as long.
    super::ns_share::release(&root.containers_dir().join(id));
    network::detach(root, id)
}

// ---------------------------------------------------------------------------------------------
// Volumes in use

/// The containers' lock, held while a volume's users are counted and it is removed: a
/// container is created (its volumes made and its record saved) under the same lock, so it
/// cannot start using a volume half-removed.
fn lock_containers(root: &Root) -> Result<nix::fcntl::Flock<std::fs::File>> {
    Containers::open(root.containers_dir())?.lock()
}

/// Which containers use each volume (name → container IDs).
pub fn volume_users(root: &Root) -> Result<Users> {
    let mut out = Users::new();
    let dir = root.containers_dir();
    if !dir.exists() {
        return Ok(out);
    }
    for c in Containers::open(dir)?.list()? {
        for m in &c.mounts {
            if m.kind == "volume" {
                out.entry(m.name.clone()).or_default().push(c.id.clone());
            }
        }
    }
    Ok(out)
}

/// `vol-rm`: see [`volume::remove`].
pub fn remove_volume(root: &Root, name: &str, force: bool) -> Result<()> {
    let _lock = lock_containers(root)?;
    volume::remove(root, name, force, &|| volume_users(root))
}

/// `vol-prune`: see [`volume::prune`].
pub fn prune_volumes(root: &Root, all: bool) -> Result<Vec<String>> {
    let _lock = lock_containers(root)?;
    volume::prune(root, all, &|| volume_users(root))
}

/// Removes the anonymous volumes among a removed container's `mounts` that no other container
/// uses.
fn remove_anonymous_volumes(root: &Root, mounts: &[MountPoint]) -> Result<()> {
    let _lock = lock_containers(root)?;
    volume::remove_anonymous(root, mounts, &|| volume_users(root))
}

/// Removes an `--rm` container as `docker run --rm` does: everything of it, and its anonymous
/// volumes that no other container uses (named ones stay).
pub fn remove_with_volumes(root: &Root, id: &str) -> Result<()> {
    let mounts = Containers::open(root.containers_dir())?
        .load(id)
        .map(|c| c.mounts)
        .unwrap_or_default();
    lifecycle::remove(root, id)?;
    remove_anonymous_volumes(root, &mounts)
}

/// `ctr-rm` with `-v`: the container, then its anonymous volumes.
pub fn rm_container(root: &Root, name: &str, force: bool, volumes: bool) -> Result<String> {
    let mounts = if volumes {
        Containers::open(root.containers_dir())?.find(name)?.mounts
    } else {
        Vec::new()
    };
    let id = lifecycle::rm(root, name, force)?;
    remove_anonymous_volumes(root, &mounts)?;
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// Networks and their members

/// The names of containers by ID, for network inspection.
pub fn container_names(root: &Root) -> BTreeMap<String, String> {
    Containers::open(root.containers_dir())
        .and_then(|s| s.list())
        .map(|l| l.into_iter().map(|c| (c.id, c.name)).collect())
        .unwrap_or_default()
}

/// `net-ls` / `net-inspect`: see [`network::inspect_all`].
pub fn inspect_networks(root: &Root) -> Result<Vec<Value>> {
    network::inspect_all(root, &container_names(root))
}

/// `net-inspect`: see [`network::inspect`].
pub fn inspect_network(root: &Root, key: &str) -> Result<Value> {
    network::inspect(root, key, &container_names(root))
}

/// `net-prune`: every user-defined network that no container (running or not) names and that
/// `keep` keeps.
pub fn prune_networks(root: &Root, keep: &dyn Fn(&Network) -> bool) -> Result<Vec<Network>> {
    let in_use = |net: &Network| -> Result<bool> {
        let store = Containers::open(root.containers_dir())?;
        Ok(store.list()?.iter().any(|c| {
            c.network_settings
                .as_ref()
                .is_some_and(|s| network::names_network(s, net))
        }))
    };
    network::prune(root, &in_use, keep)
}

/// `net-connect`: adds network `key` to container `name`; a running container gets its
/// interface at once (`eth1`, …), a stopped one when it starts.
pub fn connect(
    root: &Root,
    name: &str,
    key: &str,
    aliases: &[String],
    ip: Option<Ipv4Addr>,
) -> Result<Container> {
    let net = network::store(root)?.find(key)?;
    let cstore = Containers::open(root.containers_dir())?;
    let rec = {
        let _lock = cstore.lock()?;
        let mut rec = cstore.find(name)?;
        let connected = rec
            .network_settings
            .as_ref()
            .is_some_and(|s| s.networks.contains_key(&net.name));
        network::check_connect(
            &net,
            &rec.name,
            &rec.host_config.network_mode,
            connected,
            ip,
            aliases,
        )?;
        rec.network_settings
            .get_or_insert_with(|| network::blank_settings(Default::default()))
            .networks
            .insert(net.name.clone(), network::endpoint(&net, ip, aliases, None));
        cstore.save(&rec)?;
        rec
    };
    let live = refresh(&rec);
    if !live.state.running {
        return Ok(rec);
    }
    let ep = rec
        .network_settings
        .as_ref()
        .and_then(|s| s.networks.get(&net.name).cloned())
        .unwrap_or_default();
    let ep = network::connect_running(root, &member(&rec), live.state.pid, &net, ep)?;
    let _clock = cstore.lock()?;
    let mut now = cstore.load(&rec.id)?;
    now.network_settings
        .get_or_insert_with(|| network::blank_settings(Default::default()))
        .networks
        .insert(net.name.clone(), ep);
    cstore.save(&now)?;
    Ok(now)
}

/// `net-disconnect`: removes network `key` from container `name` (and its interface, if it
/// runs).
pub fn disconnect(root: &Root, name: &str, key: &str) -> Result<Container> {
    let cstore = Containers::open(root.containers_dir())?;
    let net = network::store(root)?.find(key)?;
    let rec = {
        let _lock = cstore.lock()?;
        let mut rec = cstore.find(name)?;
        let removed = rec
            .network_settings
            .as_mut()
            .and_then(|s| s.networks.shift_remove(&net.name));
        if removed.is_none() {
            return Err(Error::Conflict(format!(
                "container {} is not connected to network {}",
                rec.name, net.name
            )));
        }
        if net.name == berth_net::store::BRIDGE {
            if let Some(s) = rec.network_settings.as_mut() {
                s.clear_default_bridge();
            }
        }
        cstore.save(&rec)?;
        rec
    };
    network::disconnect(root, &rec.id, &net)?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};
    use std::fs;
    use volume::Volumes;

    fn remove(root: &Root, name: &str, force: bool) -> Result<()> {
        remove_volume(root, name, force)
    }

    fn prune(root: &Root, all: bool) -> Result<Vec<String>> {
        prune_volumes(root, all)
    }

    #[test]
    fn removal_waits_for_a_create_under_the_containers_lock() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let vols = Volumes::open(&root).unwrap();
        vols.create(Some("data"), Map::new()).unwrap();
        vols.create(Some("other"), Map::new()).unwrap();
        // A create holds the lock while it makes its volumes and saves its record.
        let store = Containers::open(root.containers_dir()).unwrap();
        let lock = store.lock().unwrap();
        let r = root.clone();
        let rm = std::thread::spawn(move || remove(&r, "data", true));
        let r = root.clone();
        let pr = std::thread::spawn(move || prune(&r, true));
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(vols.get("data").is_ok(), "vol-rm waits for the lock");
        let id = store.new_id().unwrap();
        fs::create_dir_all(store.path(&id)).unwrap();
        let c = crate::container::Container {
            id: id.clone(),
            name: "user".into(),
            mounts: vec![serde_json::from_value(
                json!({"Type": "volume", "Name": "data", "Destination": "/d"}),
            )
            .unwrap()],
            ..Default::default()
        };
        store.save(&c).unwrap();
        drop(lock);
        let e = rm.join().unwrap().unwrap_err();
        let text = e.to_string();
        assert!(
            text.ends_with(&format!("remove data: volume is in use - [{id}]")),
            "{text}"
        );
        assert_eq!(e.exit_code(), 1);
        let gone = pr.join().unwrap().unwrap();
        assert!(vols.get("data").is_ok());
        assert!(!gone.contains(&"data".to_string()));
    }
}
