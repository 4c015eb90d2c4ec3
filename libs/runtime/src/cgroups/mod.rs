//! Control groups, v1 and v2, under a mount root that is `/sys/fs/cgroup` in real use and a plain
//! directory in unit tests (a fake cgroupfs).
//!
//! The interface used by the rest of the runtime and by berth is [`Cgroup`]:
//!
//! - `Cgroup::open(mount_root, path)`: `path` is the spec's `cgroupsPath` (e.g. `/berth/<id>`).
//!   Detects v1 (a directory per controller: memory, cpu,cpuacct, pids, freezer, devices, cpuset,
//!   blkio …) or v2 (unified: `cgroup.controllers` at the mount root; hybrid hosts whose v2 mount
//!   has no controllers count as v1). On v1 the container's cgroup is made and joined in every
//!   hierarchy mounted there, as runc's cgroupfs driver does: the controllers, named ones
//!   (`name=systemd`) and a hybrid host's v2 mount (`unified/`) too.
//! - Device rules: v1 writes `devices.deny`/`devices.allow`; v2 (and a hybrid host's v2 mount,
//!   besides) attaches an eBPF program made from the same rules (`devfilter`).
//! - `create()`, `apply(&LinuxResources)`, `add_pid(pid)`, `pids()`, `freeze()`, `thaw()`,
//!   `stats()`, `oom_kills()`, `kill_all(signal)`, `destroy()`, `join_paths()`.
//!
//! What differs between the versions is behind the [`Manager`] trait (as in youki's
//! libcgroups): [`v1::V1`] with a module per controller (`v1/{cpu,memory,blkio,devices}.rs`) and
//! [`v2::V2`] (`v2/{cpu,memory,io}.rs`); [`Cgroup`]'s methods pick the host's and keep what is
//! common (joining, listing and signalling processes, removing).
//!
//! The code only reads and writes files (but for the bpf(2) calls of the device filter, which
//! a fake tree records instead), as runc's cgroupfs driver does, so that the same code
//! runs against a fake cgroupfs (a temp directory) in the unit tests. Writes open with `O_CREAT`
//! so that the fake tree need not hold every file beforehand; on a real cgroupfs the kernel has
//! made the files already, and creating a file that is not there fails (with an error naming it).

mod device_filter;
mod files;
pub mod systemd_path;
#[cfg(test)]
mod tests;
pub mod v1;
pub mod v2;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getpid, Pid};
use oci_spec::runtime::LinuxResources;

use crate::error::{Error, Result};
use files::{parse_limit, parse_u64, read_opt, remove_cgroup_dir};
pub use v2::cpu::shares_to_weight;

/// Which hierarchy a host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// What `ctr-stats` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Total CPU time used, nanoseconds.
    pub cpu_usage_ns: u64,
    /// Memory in use, bytes (v1: usage minus inactive file cache, as Docker shows it).
    pub memory_usage: u64,
    /// The memory limit, bytes; `None` when unlimited.
    pub memory_limit: Option<u64>,
    pub pids_current: u64,
    pub pids_limit: Option<u64>,
    /// How many times the OOM killer killed a process in this cgroup.
    pub oom_kills: u64,
}

/// One container's cgroup.
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub version: Version,
    /// The mount root (`/sys/fs/cgroup`).
    pub mount_root: PathBuf,
    /// The cgroup path relative to each hierarchy (`berth/<id>`).
    pub rel: PathBuf,
    /// v1 only: each controller we use that is mounted → the root of its hierarchy (e.g. `cpu` →
    /// `/sys/fs/cgroup/cpu`, which may be a symlink to `cpu,cpuacct`). Empty on v2.
    pub controllers: BTreeMap<String, PathBuf>,
    /// v1 only: the roots of every hierarchy the container joins: the distinct ones among
    /// `controllers` (a combined `cpu,cpuacct` hierarchy appears once), then every other cgroup
    /// mount under the root (named ones such as `name=systemd`, controllers berth sets no limits
    /// in, and the v2 hierarchy of a hybrid host), as runc's cgroupfs driver joins them all.
    /// Empty on v2.
    pub hierarchies: Vec<PathBuf>,
    /// v1 only: the root of the v2 hierarchy of a hybrid host (`unified/`), where the device
    /// filter is attached besides the v1 devices controller.
    pub unified: Option<PathBuf>,
}

/// How often `destroy` tries to remove a cgroup that still has processes.
const DESTROY_RETRIES: u32 = 5;

/// v2 when `cgroup.controllers` exists at the mount root (a pure unified host); v1 otherwise,
/// including hybrid hosts whose v2 mount (`unified/`) has no controllers.
pub fn host_version(mount_root: &Path) -> Version {
    if mount_root.join("cgroup.controllers").exists() {
        Version::V2
    } else {
        Version::V1
    }
}

/// What each cgroup version does its own way, on the fields of a [`Cgroup`] (youki's
/// `CgroupManager`). [`Cgroup::manager`] gives the host's.
pub trait Manager {
    /// The cgroup's directory in every hierarchy it joins (v1, each distinct hierarchy once) or
    /// the one (v2).
    fn dirs(&self) -> Vec<PathBuf>;
    /// The cgroup's directory for `controller`: on v1 in that controller's hierarchy (`None` when
    /// it is not mounted), on v2 the one directory.
    fn controller_dir(&self, controller: &str) -> Option<PathBuf>;
    /// The directory whose `cgroup.procs` lists the cgroup's processes.
    fn procs_dir(&self) -> Option<PathBuf>;
    /// Makes the cgroup (mkdir -p, and what the version needs besides).
    fn create(&self) -> Result<()>;
    /// Writes the resource limits of `r` into the cgroup's files.
    fn apply(&self, r: &LinuxResources) -> Result<()>;
    /// Freezes every process in the cgroup and waits until the kernel reports it frozen.
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn is_frozen(&self) -> Result<bool>;
    /// CPU, memory and pids figures (the OOM kills are [`Manager::oom_kills`]').
    fn stats(&self) -> Result<Stats>;
    /// How many processes the OOM killer killed in this cgroup.
    fn oom_kills(&self) -> Result<u64>;
    /// Kills every process at once where the version can (v2's `cgroup.kill`); `None` where it
    /// cannot.
    fn kill_all_at_once(&self) -> Option<Result<()>>;
}

impl Cgroup {
    /// Opens (without creating) the cgroup `path` (the spec's `cgroupsPath`, cgroupfs style:
    /// `/berth/<id>`; a relative path is taken relative to the root) under `mount_root`.
    pub fn open(mount_root: &Path, path: &str) -> Result<Cgroup> {
        let rel = parse_cgroups_path(mount_root, path)?;
        let version = host_version(mount_root);
        let (controllers, hierarchies, unified) = match version {
            Version::V2 => (BTreeMap::new(), Vec::new(), None),
            Version::V1 => v1::hierarchies(mount_root)?,
        };
        Ok(Cgroup {
            version,
            mount_root: mount_root.to_path_buf(),
            rel,
            controllers,
            hierarchies,
            unified,
        })
    }

    /// The implementation for the host's version.
    pub fn manager(&self) -> Box<dyn Manager + '_> {
        match self.version {
            Version::V1 => Box::new(v1::V1(self)),
            Version::V2 => Box::new(v2::V2(self)),
        }
    }

    /// The cgroup's directory for `controller`: on v1 in that controller's hierarchy (`None` when
    /// it is not mounted), on v2 the one directory.
    pub fn controller_dir(&self, controller: &str) -> Option<PathBuf> {
        self.manager().controller_dir(controller)
    }

    /// The cgroup's directory in every hierarchy (v1, each distinct hierarchy once) or the one (v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.manager().dirs()
    }

    /// The `cgroup.procs` files a process must be written into to join this cgroup (for exec).
    pub fn join_paths(&self) -> Vec<PathBuf> {
        self.dirs()
            .into_iter()
            .map(|d| d.join("cgroup.procs"))
            .collect()
    }

    /// Makes the cgroup (mkdir -p). v1: in every mounted controller we use, copying
    /// `cpuset.cpus`/`cpuset.mems` from the parent where empty, as runc does. v2: also enables our
    /// controllers in the `cgroup.subtree_control` of the mount root and every ancestor.
    pub fn create(&self) -> Result<()> {
        self.manager().create()
    }

    /// Writes the resource limits of `r` into the cgroup's files.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        self.manager().apply(r)
    }

    /// Moves `pid` into the cgroup: `cgroup.procs` in every hierarchy (v1) or the one (v2).
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            files::write(&dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// The processes in the cgroup (from `cgroup.procs`; v1: of the memory or else pids
    /// hierarchy). A cgroup that does not exist (any more) has none.
    pub fn pids(&self) -> Result<Vec<i32>> {
        procs(self.manager().procs_dir())
    }

    /// Freezes every process in the cgroup and waits until the kernel reports it frozen.
    pub fn freeze(&self) -> Result<()> {
        self.manager().freeze()
    }

    /// Thaws the cgroup's processes.
    pub fn thaw(&self) -> Result<()> {
        self.manager().thaw()
    }

    /// Whether the cgroup is frozen (v1 `freezer.state` FROZEN, v2 `cgroup.events` "frozen 1").
    pub fn is_frozen(&self) -> Result<bool> {
        self.manager().is_frozen()
    }

    /// What `ctr-stats` shows. Controllers that are not mounted, and files that are not there,
    /// count as zero (or unlimited).
    pub fn stats(&self) -> Result<Stats> {
        let m = self.manager();
        let mut s = m.stats()?;
        s.oom_kills = m.oom_kills()?;
        Ok(s)
    }

    /// How many processes the OOM killer killed in this cgroup: v1 `memory.oom_control`'s
    /// "oom_kill N" (kernel ≥ 4.13; 0 when absent — under_oom and memory.failcnt are not kills),
    /// v2 `memory.events`' "oom_kill N".
    pub fn oom_kills(&self) -> Result<u64> {
        self.manager().oom_kills()
    }

    /// Sends `sig` to every process in the cgroup. SIGKILL uses v2's `cgroup.kill` when there is
    /// one; otherwise the cgroup is frozen while the signals go out (so that no process forks
    /// away from them), then thawed, as runc does.
    pub fn kill_all(&self, sig: Signal) -> Result<()> {
        if sig == Signal::SIGKILL {
            if let Some(r) = self.manager().kill_all_at_once() {
                return r;
            }
            let frozen = self.freeze().is_ok();
            let res = self.signal_pids(sig);
            if frozen {
                self.thaw()?;
            }
            res
        } else {
            self.signal_pids(sig)
        }
    }

    fn signal_pids(&self, sig: Signal) -> Result<()> {
        let me = getpid().as_raw();
        for pid in self.pids()? {
            // Never 0 or negative (process groups), never ourselves.
            if pid <= 0 || pid == me {
                continue;
            }
            match kill(Pid::from_raw(pid), sig) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(e) => return Err(Error::sys(format!("kill {pid} with {sig}"), e)),
            }
        }
        Ok(())
    }

    /// Removes the cgroup in every hierarchy (children first). While it still has processes,
    /// freezes, SIGKILLs and thaws them and tries again, a bounded number of times (runc's way).
    /// A cgroup that is already gone is fine. Parents (`berth/`) are left.
    pub fn destroy(&self) -> Result<()> {
        let mut left: Vec<PathBuf> = self.dirs();
        let mut delay = Duration::from_millis(10);
        let mut last_err = None;
        for attempt in 0..DESTROY_RETRIES {
            if attempt > 0 {
                sleep(delay);
                delay *= 2;
            }
            if left.iter().any(|d| d.exists()) && !self.pids()?.is_empty() {
                self.kill_all(Signal::SIGKILL)?;
            }
            let mut still = Vec::new();
            for dir in left {
                match remove_cgroup_dir(&dir) {
                    Ok(()) => {}
                    Err(e) => {
                        last_err = Some(e);
                        still.push(dir);
                    }
                }
            }
            left = still;
            if left.is_empty() {
                return Ok(());
            }
        }
        Err(last_err.unwrap_or_else(|| Error::Cgroup {
            path: left[0].clone(),
            why: "could not remove the cgroup".into(),
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Opening

/// `/berth/<id>` (or `berth/<id>`) → `berth/<id>`; refuses `..`, the root itself and systemd-style
/// `slice:prefix:name` paths.
fn parse_cgroups_path(mount_root: &Path, path: &str) -> Result<PathBuf> {
    let bad = |why: &str| Error::Cgroup {
        path: mount_root.join(path.trim_start_matches('/')),
        why: format!("cgroupsPath {path:?}: {why}"),
    };
    if !path.starts_with('/') && path.matches(':').count() == 2 {
        return Err(bad(
            "systemd-style paths (slice:prefix:name) are not supported; use a path like /berth/<id>",
        ));
    }
    let mut rel = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => rel.push(p),
            Component::ParentDir | Component::Prefix(_) => return Err(bad("must not contain ..")),
        }
    }
    if rel.as_os_str().is_empty() {
        return Err(bad("names the root cgroup"));
    }
    Ok(rel)
}

/// The processes listed in `dir`'s `cgroup.procs`; none without a directory or that file.
fn procs(dir: Option<PathBuf>) -> Result<Vec<i32>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let Some(text) = read_opt(&dir, "cgroup.procs")? else {
        return Ok(Vec::new());
    };
    let mut pids = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let pid = line.parse::<i32>().map_err(|_| Error::Cgroup {
            path: dir.join("cgroup.procs"),
            why: format!("not a process ID: {line:?}"),
        })?;
        pids.push(pid);
    }
    Ok(pids)
}

/// `pids.current` and `pids.max` of `dir` into `s`; without `pids.current`, the processes
/// listed in `procs_dir`.
fn pids_stats(dir: &Path, procs_dir: Option<PathBuf>, s: &mut Stats) -> Result<()> {
    match read_opt(dir, "pids.current")? {
        Some(v) => s.pids_current = parse_u64(&dir.join("pids.current"), &v)?,
        None => s.pids_current = procs(procs_dir)?.len() as u64,
    }
    if let Some(v) = read_opt(dir, "pids.max")? {
        s.pids_limit = parse_limit(&dir.join("pids.max"), &v)?;
    }
    Ok(())
}
