//! cgroup v2: one unified hierarchy, the container's cgroup one directory in it, the
//! controllers enabled from the root down; a module per controller whose limits berth sets.

pub(crate) mod cpu;
pub(crate) mod io;
pub(crate) mod memory;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::device_filter::attach_device_filter;
use super::files::{
    apply_cpuset, keyed, parse_limit, parse_u64, pids_value, read_opt, usage_without_cache, write,
};
use super::{pids_stats, Cgroup, Manager, Stats};
use crate::devfilter;
use crate::error::{Error, Result};
pub(crate) use cpu::apply_cpu_v2;
pub(crate) use io::apply_io_v2;
pub(crate) use memory::apply_memory_v2;

/// The v2 controllers berth enables in the ancestors' `cgroup.subtree_control`.
const V2_CONTROLLERS: &[&str] = &["cpu", "memory", "pids", "io", "cpuset"];

/// How long v2 waits for `cgroup.events` to report the freezer state.
const V2_FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// A v2 cgroup: the [`Manager`] of a [`Cgroup`] on a unified host.
pub struct V2<'a>(pub &'a Cgroup);

impl V2<'_> {
    /// The cgroup's one directory.
    fn dir(&self) -> PathBuf {
        self.0.mount_root.join(&self.0.rel)
    }
}

impl Manager for V2<'_> {
    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.dir()]
    }

    fn controller_dir(&self, _controller: &str) -> Option<PathBuf> {
        Some(self.dir())
    }

    fn procs_dir(&self) -> Option<PathBuf> {
        Some(self.dir())
    }

    /// Also enables our controllers in the `cgroup.subtree_control` of the mount root and every
    /// ancestor.
    fn create(&self) -> Result<()> {
        let available = read_opt(&self.0.mount_root, "cgroup.controllers")?.unwrap_or_default();
        let available: Vec<&str> = available.split_whitespace().collect();
        let enable: Vec<String> = V2_CONTROLLERS
            .iter()
            .filter(|c| available.contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        let mut dir = self.0.mount_root.clone();
        for part in self.0.rel.components() {
            // Enable the controllers for the children of the root and of every ancestor; never in
            // the leaf itself (its processes would be "internal" ones).
            if !enable.is_empty() {
                enable_subtree_controllers(&dir, &enable);
            }
            dir.push(part);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("create", &dir, e)),
            }
        }
        Ok(())
    }

    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let dir = self.dir();
        // v2 has no devices.allow: the rules become an eBPF program attached to the cgroup.
        if let Some(rules) = r.devices() {
            attach_device_filter(&dir, &devfilter::program(rules)?)?;
        }
        if let Some(m) = r.memory() {
            apply_memory_v2(&dir, m)?;
        }
        if let Some(c) = r.cpu() {
            apply_cpu_v2(&dir, c)?;
            apply_cpuset(&dir, c)?;
        }
        if let Some(p) = r.pids() {
            write(&dir, "pids.max", &pids_value(p.limit()))?;
        }
        if let Some(b) = r.block_io() {
            apply_io_v2(&dir, b)?;
        }
        if let Some(u) = r.unified() {
            let mut keys: Vec<_> = u.iter().collect();
            keys.sort();
            for (file, value) in keys {
                if file.contains('/') || file.starts_with('.') {
                    return Err(Error::Cgroup {
                        path: dir.join(file),
                        why: "linux.resources.unified names a file outside the cgroup".into(),
                    });
                }
                write(&dir, file, value)?;
            }
        }
        Ok(())
    }

    fn freeze(&self) -> Result<()> {
        let dir = self.dir();
        write(&dir, "cgroup.freeze", "1")?;
        if let Err(e) = wait_v2_frozen(&dir, true) {
            let _ = write(&dir, "cgroup.freeze", "0");
            return Err(e);
        }
        Ok(())
    }

    fn thaw(&self) -> Result<()> {
        let dir = self.dir();
        write(&dir, "cgroup.freeze", "0")?;
        wait_v2_frozen(&dir, false)
    }

    fn is_frozen(&self) -> Result<bool> {
        let dir = self.dir();
        if let Some(events) = read_opt(&dir, "cgroup.events")? {
            if let Some(frozen) = keyed(&events, "frozen") {
                return Ok(frozen == 1);
            }
        }
        Ok(read_opt(&dir, "cgroup.freeze")?.is_some_and(|s| s.trim() == "1"))
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        let dir = self.dir();
        if let Some(stat) = read_opt(&dir, "cpu.stat")? {
            s.cpu_usage_ns = keyed(&stat, "usage_usec").unwrap_or(0).saturating_mul(1000);
        }
        if let Some(v) = read_opt(&dir, "memory.current")? {
            let usage = parse_u64(&dir.join("memory.current"), &v)?;
            let stat = read_opt(&dir, "memory.stat")?.unwrap_or_default();
            s.memory_usage = usage_without_cache(usage, keyed(&stat, "inactive_file"));
        }
        if let Some(v) = read_opt(&dir, "memory.max")? {
            s.memory_limit = parse_limit(&dir.join("memory.max"), &v)?;
        }
        pids_stats(&dir, self.procs_dir(), &mut s)?;
        Ok(s)
    }

    /// `memory.events`' "oom_kill N".
    fn oom_kills(&self) -> Result<u64> {
        Ok(read_opt(&self.dir(), "memory.events")?
            .and_then(|t| keyed(&t, "oom_kill"))
            .unwrap_or(0))
    }

    /// `cgroup.kill`, where the kernel has it (5.14).
    fn kill_all_at_once(&self) -> Option<Result<()>> {
        let dir = self.dir();
        dir.join("cgroup.kill")
            .exists()
            .then(|| write(&dir, "cgroup.kill", "1"))
    }
}

/// Enables `enable` (`+cpu`, …) in `dir`'s `cgroup.subtree_control`: all at once, else one by one;
/// controllers that cannot be enabled are left out (their limits then fail to apply, naming the
/// file), as runc does.
fn enable_subtree_controllers(dir: &Path, enable: &[String]) {
    if write(dir, "cgroup.subtree_control", &enable.join(" ")).is_err() {
        for c in enable {
            let _ = write(dir, "cgroup.subtree_control", c);
        }
    }
}

/// 0 → not set, -1 → "max", else the number.
pub(crate) fn v2_value(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// Waits until `cgroup.events` reports "frozen 1" (or "frozen 0"). Without a `cgroup.events`
/// (a fake cgroupfs) or without a "frozen" line (kernels before 5.2) there is nothing to wait for.
fn wait_v2_frozen(dir: &Path, frozen: bool) -> Result<()> {
    let want = u64::from(frozen);
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        let Some(events) = read_opt(dir, "cgroup.events")? else {
            return Ok(());
        };
        match keyed(&events, "frozen") {
            None => return Ok(()),
            Some(v) if v == want => return Ok(()),
            Some(_) => {}
        }
        if start.elapsed() > V2_FREEZE_TIMEOUT {
            return Err(Error::Cgroup {
                path: dir.join("cgroup.events"),
                why: format!(
                    "timed out after {:?} waiting for \"frozen {want}\"",
                    V2_FREEZE_TIMEOUT
                ),
            });
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}
