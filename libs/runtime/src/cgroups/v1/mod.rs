//! cgroup v1: a hierarchy per controller (or per group of controllers, `cpu,cpuacct`), the
//! container's cgroup made and joined in each; a module per controller whose limits berth sets.

pub(crate) mod blkio;
pub(crate) mod cpu;
pub(crate) mod devices;
pub(crate) mod memory;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use oci_spec::runtime::LinuxResources;

use super::device_filter::attach_device_filter;
use super::files::{
    apply_cpuset, keyed, parse_limit, parse_u64, pids_value, read, read_opt, usage_without_cache,
    write,
};
use super::{pids_stats, procs, Cgroup, Manager, Stats};
use crate::devfilter;
use crate::error::{Error, Result};
pub(crate) use blkio::apply_blkio_v1;
pub(crate) use cpu::apply_cpu_v1;
pub(crate) use devices::apply_devices_v1;
pub(crate) use memory::apply_memory_v1;

/// The v1 controllers berth uses.
const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "memory", "pids", "freezer", "devices", "blkio", "cpuset",
];

/// v1 reports "no limit" as a huge number (`PAGE_COUNTER_MAX * PAGE_SIZE`, 0x7FFFFFFFFFFFF000 on
/// 64-bit hosts); anything at or above this counts as unlimited.
pub(crate) const V1_UNLIMITED: u64 = 1 << 62;

/// A v1 cgroup: the [`Manager`] of a [`Cgroup`] on a v1 (or hybrid) host.
pub struct V1<'a>(pub &'a Cgroup);

impl V1<'_> {
    fn is_cpuset_hierarchy(&self, root: &Path) -> bool {
        self.0
            .controllers
            .get("cpuset")
            .is_some_and(|c| same_dir(c, root))
    }

    fn missing(&self, controller: &str) -> Error {
        Error::Cgroup {
            path: self.0.mount_root.join(controller),
            why: format!("the {controller} controller is not mounted, cannot apply its limits"),
        }
    }

    fn freezer_dir(&self) -> Result<PathBuf> {
        self.controller_dir("freezer").ok_or_else(|| Error::Cgroup {
            path: self.0.mount_root.join("freezer"),
            why: "the freezer controller is not mounted".into(),
        })
    }
}

impl Manager for V1<'_> {
    fn dirs(&self) -> Vec<PathBuf> {
        self.0
            .hierarchies
            .iter()
            .map(|h| h.join(&self.0.rel))
            .collect()
    }

    fn controller_dir(&self, controller: &str) -> Option<PathBuf> {
        self.0
            .controllers
            .get(controller)
            .map(|r| r.join(&self.0.rel))
    }

    /// The memory hierarchy's, or else the pids one's, or else the first.
    fn procs_dir(&self) -> Option<PathBuf> {
        self.controller_dir("memory")
            .or_else(|| self.controller_dir("pids"))
            .or_else(|| self.dirs().into_iter().next())
    }

    /// In every mounted hierarchy, copying `cpuset.cpus`/`cpuset.mems` from the parent where
    /// empty, as runc does.
    fn create(&self) -> Result<()> {
        for root in &self.0.hierarchies {
            if self.is_cpuset_hierarchy(root) {
                create_cpuset(root, &self.0.rel)?;
            } else {
                let dir = root.join(&self.0.rel);
                fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
            }
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        if let Some(rules) = r.devices() {
            // A hybrid host's v2 hierarchy gets the filter too: both apply.
            let program = match self.0.unified {
                Some(_) => Some(devfilter::program(rules)?),
                None => None,
            };
            if let Some(dir) = self.controller_dir("devices") {
                apply_devices_v1(&dir, rules)?;
            }
            if let (Some(unified), Some(program)) = (&self.0.unified, program) {
                attach_device_filter(&unified.join(&self.0.rel), &program)?;
            }
        }
        if let Some(m) = r.memory() {
            if let Some(dir) = self.controller_dir("memory") {
                apply_memory_v1(&dir, m)?;
            } else if m.limit().is_some_and(|l| l > 0) {
                return Err(self.missing("memory"));
            }
        }
        if let Some(c) = r.cpu() {
            if let Some(dir) = self.controller_dir("cpu") {
                apply_cpu_v1(&dir, c)?;
            } else if c.quota().is_some_and(|q| q > 0) || c.shares().is_some_and(|s| s > 0) {
                return Err(self.missing("cpu"));
            }
            if let Some(dir) = self.controller_dir("cpuset") {
                apply_cpuset(&dir, c)?;
            }
        }
        if let Some(p) = r.pids() {
            if let Some(dir) = self.controller_dir("pids") {
                write(&dir, "pids.max", &pids_value(p.limit()))?;
            } else if p.limit() > 0 {
                return Err(self.missing("pids"));
            }
        }
        if let Some(b) = r.block_io() {
            if let Some(dir) = self.controller_dir("blkio") {
                apply_blkio_v1(&dir, b)?;
            }
        }
        if let Some(u) = r.unified() {
            if !u.is_empty() {
                return Err(Error::Cgroup {
                    path: self.0.mount_root.clone(),
                    why: "the spec's linux.resources.unified needs cgroup v2, the host runs v1"
                        .into(),
                });
            }
        }
        Ok(())
    }

    /// runc's loop: write FROZEN and read back until FROZEN, now and then thawing to let
    /// processes stuck in FREEZING make progress.
    fn freeze(&self) -> Result<()> {
        let dir = self.freezer_dir()?;
        for i in 0..1000 {
            if i % 50 == 49 {
                let _ = write(&dir, "freezer.state", "THAWED");
                sleep(Duration::from_millis(10));
            }
            write(&dir, "freezer.state", "FROZEN")?;
            if i % 25 == 24 {
                sleep(Duration::from_micros(10));
            }
            let state = read(&dir, "freezer.state")?;
            match state.trim() {
                "FROZEN" => return Ok(()),
                "FREEZING" => continue,
                other => {
                    return Err(Error::Cgroup {
                        path: dir.join("freezer.state"),
                        why: format!("unexpected state {other:?} after writing FROZEN"),
                    })
                }
            }
        }
        let _ = write(&dir, "freezer.state", "THAWED");
        Err(Error::Cgroup {
            path: dir.join("freezer.state"),
            why: "unable to freeze: stuck in FREEZING".into(),
        })
    }

    fn thaw(&self) -> Result<()> {
        let dir = self.freezer_dir()?;
        for _ in 0..1000 {
            write(&dir, "freezer.state", "THAWED")?;
            if read(&dir, "freezer.state")?.trim() == "THAWED" {
                return Ok(());
            }
            sleep(Duration::from_millis(1));
        }
        Err(Error::Cgroup {
            path: dir.join("freezer.state"),
            why: "unable to thaw".into(),
        })
    }

    fn is_frozen(&self) -> Result<bool> {
        let Some(dir) = self.controller_dir("freezer") else {
            return Ok(false);
        };
        Ok(read_opt(&dir, "freezer.state")?.is_some_and(|s| s.trim() == "FROZEN"))
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(dir) = self.controller_dir("cpuacct") {
            if let Some(v) = read_opt(&dir, "cpuacct.usage")? {
                s.cpu_usage_ns = parse_u64(&dir.join("cpuacct.usage"), &v)?;
            }
        }
        if let Some(dir) = self.controller_dir("memory") {
            if let Some(v) = read_opt(&dir, "memory.usage_in_bytes")? {
                let usage = parse_u64(&dir.join("memory.usage_in_bytes"), &v)?;
                let stat = read_opt(&dir, "memory.stat")?.unwrap_or_default();
                s.memory_usage = usage_without_cache(usage, keyed(&stat, "total_inactive_file"));
            }
            if let Some(v) = read_opt(&dir, "memory.limit_in_bytes")? {
                let limit = parse_limit(&dir.join("memory.limit_in_bytes"), &v)?;
                s.memory_limit = limit.filter(|&l| l < V1_UNLIMITED);
            }
        }
        if let Some(dir) = self.controller_dir("pids") {
            pids_stats(&dir, self.procs_dir(), &mut s)?;
        } else {
            s.pids_current = procs(self.procs_dir())?.len() as u64;
        }
        Ok(s)
    }

    /// `memory.oom_control`'s "oom_kill N" (kernel ≥ 4.13; 0 when absent).
    fn oom_kills(&self) -> Result<u64> {
        let Some(dir) = self.controller_dir("memory") else {
            return Ok(0);
        };
        Ok(read_opt(&dir, "memory.oom_control")?
            .and_then(|t| keyed(&t, "oom_kill"))
            .unwrap_or(0))
    }

    fn kill_all_at_once(&self) -> Option<Result<()>> {
        None
    }
}

/// The v1 hierarchies under `mount_root`: every entry that is a directory (or a symlink to one)
/// whose name, split at commas, holds a controller we use. An exact name (`cpu`) wins over a
/// combined one (`cpu,cpuacct`) for the controller map; both are the same hierarchy. Then every
/// other directory that is a cgroup root (it has `cgroup.procs`): named hierarchies
/// (`systemd/`), other controllers, and the v2 mount of a hybrid host (it has
/// `cgroup.controllers`), which is also returned on its own.
#[allow(clippy::type_complexity)]
pub(crate) fn hierarchies(
    mount_root: &Path,
) -> Result<(BTreeMap<String, PathBuf>, Vec<PathBuf>, Option<PathBuf>)> {
    let entries = fs::read_dir(mount_root).map_err(|e| Error::io("read", mount_root, e))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut controllers: BTreeMap<String, PathBuf> = BTreeMap::new();
    for name in &names {
        let path = mount_root.join(name);
        if !path.is_dir() {
            continue;
        }
        for part in name.split(',') {
            if V1_CONTROLLERS.contains(&part) && (part == name || !controllers.contains_key(part)) {
                controllers.insert(part.to_string(), path.clone());
            }
        }
    }
    if controllers.is_empty() {
        return Err(Error::Cgroup {
            path: mount_root.to_path_buf(),
            why: "no cgroup v1 controllers are mounted here, and it is not a cgroup v2 mount"
                .into(),
        });
    }
    let mut hierarchies: Vec<PathBuf> = Vec::new();
    for root in controllers.values() {
        if !hierarchies.iter().any(|h| same_dir(h, root)) {
            hierarchies.push(root.clone());
        }
    }
    let mut unified = None;
    for name in &names {
        let path = mount_root.join(name);
        if !path.join("cgroup.procs").is_file() || hierarchies.iter().any(|h| same_dir(h, &path)) {
            continue;
        }
        if path.join("cgroup.controllers").is_file() && unified.is_none() {
            unified = Some(path.clone());
        }
        hierarchies.push(path);
    }
    Ok((controllers, hierarchies, unified))
}

/// Whether two paths are the same directory (after symlinks): same device and inode.
fn same_dir(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => a == b,
    }
}

/// mkdir each level of `rel` in the cpuset hierarchy, copying the parent's `cpuset.cpus` and
/// `cpuset.mems` into each level where they are empty (a v1 cpuset with none cannot hold tasks).
fn create_cpuset(root: &Path, rel: &Path) -> Result<()> {
    let mut parent = root.to_path_buf();
    for part in rel.components() {
        let dir = parent.join(part);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create", &dir, e)),
        }
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let current = read_opt(&dir, file)?.unwrap_or_default();
            if current.trim().is_empty() {
                let from_parent = read_opt(&parent, file)?.unwrap_or_default();
                if !from_parent.trim().is_empty() {
                    write(&dir, file, from_parent.trim())?;
                }
            }
        }
        parent = dir;
    }
    Ok(())
}
