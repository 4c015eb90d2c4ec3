//! Namespaces shared between containers (`--pid container:X`, `--ipc container:X`) and a
//! shareable container's /dev/shm (`--ipc shareable`), as Docker's daemon has them:
//!
//! - at create ([`at_create`]): X must exist, and for IPC be shareable (or have the host's
//!   IPC); the record names it by ID, and the container's /dev/shm is X's;
//! - at start ([`before_runtime_create`]): X must be running; the runtime joins its
//!   namespaces by `/proc/PID/ns/…`. A shareable container gets its /dev/shm tmpfs, on the host
//!   (in its directory), so that others can bind it;
//! - when it stops ([`release`]): that tmpfs goes.

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

use super::spec::ns::shm_dir;
use super::spec::Flags;
use super::{refresh, Containers};
use crate::error::{Error, IoContext, Result};
use crate::root::Root;

/// `flags` with `container:REF` modes naming the container's ID, and an IPC donor's /dev/shm;
/// Docker's errors for a container that does not exist or whose IPC is not shareable.
pub fn at_create(flags: &Flags, containers: &Containers) -> Result<Flags> {
    let mut flags = flags.clone();
    let ns = &mut flags.ns;
    if let Some(r) = ns.pid_mode.strip_prefix("container:") {
        ns.pid_mode = format!("container:{}", containers.resolve(r)?);
    }
    if let Some(r) = ns.ipc_mode.strip_prefix("container:") {
        let donor = containers.find(r)?;
        ns.donor_shm = Some(match donor.host_config.ipc_mode.as_str() {
            "shareable" => shm_dir(&containers.path(&donor.id)),
            "host" => "/dev/shm".into(),
            _ => {
                return Err(Error::InvalidInput(format!(
                    "can't join IPC of container {}: non-shareable IPC (hint: use \
                     IpcMode:shareable for the donor container)",
                    donor.id
                )))
            }
        });
        ns.ipc_mode = format!("container:{}", donor.id);
    }
    Ok(flags)
}

/// The init's pid of container `id`, which must be running; `what` says it otherwise.
fn running_pid(store: &Containers, id: &str, what: impl Fn(&str) -> String) -> Result<i32> {
    let c = refresh(&store.load(id).map_err(|_| Error::Runtime {
        message: what(&format!("no such container: {id}")),
        code: 125,
    })?);
    if !c.state.running || c.state.pid <= 0 {
        return Err(Error::Runtime {
            message: what(&format!("container {id} is not running")),
            code: 125,
        });
    }
    Ok(c.state.pid)
}

/// Before the runtime's create: the shareable /dev/shm mounted; the namespaces of the
/// containers named by `container:ID` modes (which must be running) joined, by their paths
/// written into `dir/config.json`.
pub fn before_runtime_create(root: &Root, rec: &super::Container, dir: &Path) -> Result<()> {
    let hc = &rec.host_config;
    if hc.ipc_mode == "shareable" {
        mount_shm(dir, hc.shm_size)?;
    }
    let mut joins = Vec::new();
    let store = Containers::open(root.containers_dir())?;
    if let Some(id) = hc.pid_mode.strip_prefix("container:") {
        let pid = running_pid(&store, id, |why| why.to_string())?;
        joins.push(("pid", pid));
    }
    if let Some(id) = hc.ipc_mode.strip_prefix("container:") {
        let pid = running_pid(&store, id, |why| {
            format!("can't join IPC of container {id}: {why}")
        })?;
        joins.push(("ipc", pid));
    }
    if joins.is_empty() {
        return Ok(());
    }
    let cfg = dir.join("config.json");
    let mut spec: Value = serde_json::from_slice(&fs::read(&cfg).with_path("read", &cfg)?)
        .map_err(|e| Error::corrupt(cfg.display().to_string(), e))?;
    for ns in spec["linux"]["namespaces"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if let Some((kind, pid)) = joins.iter().find(|(k, _)| ns["type"] == *k) {
            ns["path"] = json!(format!("/proc/{pid}/ns/{kind}"));
        }
    }
    crate::store::atomic_write_private(
        dir,
        "config.json",
        &serde_json::to_vec_pretty(&spec).expect("JSON"),
    )
}

/// Mounts the shareable container's /dev/shm tmpfs at [`shm_dir`] (moby `setupIpcDirs`),
/// unless it is there from an earlier start.
fn mount_shm(dir: &Path, size: u64) -> Result<()> {
    use nix::mount::MsFlags;
    let at = shm_dir(dir);
    if super::rootfs::is_mounted(&at) {
        return Ok(());
    }
    match fs::create_dir(&at) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("create directory", &at, e)),
    }
    nix::mount::mount(
        Some("shm"),
        &at,
        Some("tmpfs"),
        MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(format!("mode=1777,size={size}").as_str()),
    )
    .map_err(|e| Error::Runtime {
        message: format!("mounting shm tmpfs: {e}"),
        code: 125,
    })
}

/// When the container has stopped or is removed: its shareable /dev/shm goes (containers that
/// joined it keep theirs until they stop).
pub fn release(dir: &Path) {
    let at = shm_dir(dir);
    if super::rootfs::is_mounted(&at) {
        let _ = nix::mount::umount2(&at, nix::mount::MntFlags::MNT_DETACH);
    }
}
