//! Control groups, v1 and v2, under a mount root that is `/sys/fs/cgroup` in real use and a plain
//! directory in unit tests (a fake cgroupfs).
//!
//! OWNER: cgroups helper. Interface used by the rest of the runtime (keep these signatures):
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
//! The code only reads and writes files (but for the bpf(2) calls of the device filter, which
//! a fake tree records instead), as runc's cgroupfs driver does, so that the same code
//! runs against a fake cgroupfs (a temp directory) in the unit tests. Writes open with `O_CREAT`
//! so that the fake tree need not hold every file beforehand; on a real cgroupfs the kernel has
//! made the files already, and creating a file that is not there fails (with an error naming it).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getpid, Pid};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxMemory, LinuxResources};

use crate::devfilter;
use crate::error::{Error, Result};

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

/// The v1 controllers berth uses.
const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "memory", "pids", "freezer", "devices", "blkio", "cpuset",
];

/// The v2 controllers berth enables in the ancestors' `cgroup.subtree_control`.
const V2_CONTROLLERS: &[&str] = &["cpu", "memory", "pids", "io", "cpuset"];

/// v1 reports "no limit" as a huge number (`PAGE_COUNTER_MAX * PAGE_SIZE`, 0x7FFFFFFFFFFFF000 on
/// 64-bit hosts); anything at or above this counts as unlimited.
const V1_UNLIMITED: u64 = 1 << 62;

/// How often `destroy` tries to remove a cgroup that still has processes.
const DESTROY_RETRIES: u32 = 5;

/// How long v2 waits for `cgroup.events` to report the freezer state.
const V2_FREEZE_TIMEOUT: Duration = Duration::from_secs(5);

/// v2 when `cgroup.controllers` exists at the mount root (a pure unified host); v1 otherwise,
/// including hybrid hosts whose v2 mount (`unified/`) has no controllers.
pub fn host_version(mount_root: &Path) -> Version {
    if mount_root.join("cgroup.controllers").exists() {
        Version::V2
    } else {
        Version::V1
    }
}

impl Cgroup {
    /// Opens (without creating) the cgroup `path` (the spec's `cgroupsPath`, cgroupfs style:
    /// `/berth/<id>`; a relative path is taken relative to the root) under `mount_root`.
    pub fn open(mount_root: &Path, path: &str) -> Result<Cgroup> {
        let rel = parse_cgroups_path(mount_root, path)?;
        let version = host_version(mount_root);
        let (controllers, hierarchies, unified) = match version {
            Version::V2 => (BTreeMap::new(), Vec::new(), None),
            Version::V1 => v1_hierarchies(mount_root)?,
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

    /// The cgroup's directory for `controller`: on v1 in that controller's hierarchy (`None` when
    /// it is not mounted), on v2 the one directory.
    pub fn controller_dir(&self, controller: &str) -> Option<PathBuf> {
        match self.version {
            Version::V2 => Some(self.mount_root.join(&self.rel)),
            Version::V1 => self.controllers.get(controller).map(|r| r.join(&self.rel)),
        }
    }

    /// The cgroup's directory in every hierarchy (v1, each distinct hierarchy once) or the one (v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        match self.version {
            Version::V2 => vec![self.mount_root.join(&self.rel)],
            Version::V1 => self.hierarchies.iter().map(|h| h.join(&self.rel)).collect(),
        }
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
        match self.version {
            Version::V1 => {
                for root in &self.hierarchies {
                    if self.is_cpuset_hierarchy(root) {
                        create_cpuset(root, &self.rel)?;
                    } else {
                        let dir = root.join(&self.rel);
                        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
                    }
                }
                Ok(())
            }
            Version::V2 => self.create_v2(),
        }
    }

    fn is_cpuset_hierarchy(&self, root: &Path) -> bool {
        self.controllers
            .get("cpuset")
            .is_some_and(|c| same_dir(c, root))
    }

    fn create_v2(&self) -> Result<()> {
        let available = read_opt(&self.mount_root, "cgroup.controllers")?.unwrap_or_default();
        let available: Vec<&str> = available.split_whitespace().collect();
        let enable: Vec<String> = V2_CONTROLLERS
            .iter()
            .filter(|c| available.contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        let mut dir = self.mount_root.clone();
        for part in self.rel.components() {
            // Enable the controllers for the children of the root and of every ancestor; never in
            // the leaf itself (its processes would be "internal" ones).
            if !enable.is_empty() {
                enable_subtree_controllers(&dir, &enable);
            }
            dir.push(part);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("create", &dir, e)),
            }
        }
        Ok(())
    }

    /// Writes the resource limits of `r` into the cgroup's files.
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        match self.version {
            Version::V1 => self.apply_v1(r),
            Version::V2 => self.apply_v2(r),
        }
    }

    fn apply_v1(&self, r: &LinuxResources) -> Result<()> {
        if let Some(rules) = r.devices() {
            // A hybrid host's v2 hierarchy gets the filter too: both apply.
            let program = match self.unified {
                Some(_) => Some(devfilter::program(rules)?),
                None => None,
            };
            if let Some(dir) = self.controller_dir("devices") {
                apply_devices_v1(&dir, rules)?;
            }
            if let (Some(unified), Some(program)) = (&self.unified, program) {
                attach_device_filter(&unified.join(&self.rel), &program)?;
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
                    path: self.mount_root.clone(),
                    why: "the spec's linux.resources.unified needs cgroup v2, the host runs v1"
                        .into(),
                });
            }
        }
        Ok(())
    }

    fn apply_v2(&self, r: &LinuxResources) -> Result<()> {
        let dir = self.mount_root.join(&self.rel);
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

    fn missing(&self, controller: &str) -> Error {
        Error::Cgroup {
            path: self.mount_root.join(controller),
            why: format!("the {controller} controller is not mounted, cannot apply its limits"),
        }
    }

    /// Moves `pid` into the cgroup: `cgroup.procs` in every hierarchy (v1) or the one (v2).
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            write(&dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// The processes in the cgroup (from `cgroup.procs`; v1: of the memory or else pids
    /// hierarchy). A cgroup that does not exist (any more) has none.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = match self.version {
            Version::V2 => Some(self.mount_root.join(&self.rel)),
            Version::V1 => self
                .controller_dir("memory")
                .or_else(|| self.controller_dir("pids"))
                .or_else(|| self.dirs().into_iter().next()),
        };
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

    /// Freezes every process in the cgroup and waits until the kernel reports it frozen.
    pub fn freeze(&self) -> Result<()> {
        match self.version {
            Version::V1 => {
                let dir = self.freezer_dir()?;
                // runc's loop: write FROZEN and read back until FROZEN, now and then thawing to
                // let processes stuck in FREEZING make progress.
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
            Version::V2 => {
                let dir = self.mount_root.join(&self.rel);
                write(&dir, "cgroup.freeze", "1")?;
                if let Err(e) = wait_v2_frozen(&dir, true) {
                    let _ = write(&dir, "cgroup.freeze", "0");
                    return Err(e);
                }
                Ok(())
            }
        }
    }

    /// Thaws the cgroup's processes.
    pub fn thaw(&self) -> Result<()> {
        match self.version {
            Version::V1 => {
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
            Version::V2 => {
                let dir = self.mount_root.join(&self.rel);
                write(&dir, "cgroup.freeze", "0")?;
                wait_v2_frozen(&dir, false)
            }
        }
    }

    /// Whether the cgroup is frozen (v1 `freezer.state` FROZEN, v2 `cgroup.events` "frozen 1").
    pub fn is_frozen(&self) -> Result<bool> {
        match self.version {
            Version::V1 => {
                let Some(dir) = self.controller_dir("freezer") else {
                    return Ok(false);
                };
                Ok(read_opt(&dir, "freezer.state")?.is_some_and(|s| s.trim() == "FROZEN"))
            }
            Version::V2 => {
                let dir = self.mount_root.join(&self.rel);
                if let Some(events) = read_opt(&dir, "cgroup.events")? {
                    if let Some(frozen) = keyed(&events, "frozen") {
                        return Ok(frozen == 1);
                    }
                }
                Ok(read_opt(&dir, "cgroup.freeze")?.is_some_and(|s| s.trim() == "1"))
            }
        }
    }

    fn freezer_dir(&self) -> Result<PathBuf> {
        self.controller_dir("freezer").ok_or_else(|| Error::Cgroup {
            path: self.mount_root.join("freezer"),
            why: "the freezer controller is not mounted".into(),
        })
    }

    /// What `ctr-stats` shows. Controllers that are not mounted, and files that are not there,
    /// count as zero (or unlimited).
    pub fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        match self.version {
            Version::V1 => {
                if let Some(dir) = self.controller_dir("cpuacct") {
                    if let Some(v) = read_opt(&dir, "cpuacct.usage")? {
                        s.cpu_usage_ns = parse_u64(&dir.join("cpuacct.usage"), &v)?;
                    }
                }
                if let Some(dir) = self.controller_dir("memory") {
                    if let Some(v) = read_opt(&dir, "memory.usage_in_bytes")? {
                        let usage = parse_u64(&dir.join("memory.usage_in_bytes"), &v)?;
                        let stat = read_opt(&dir, "memory.stat")?.unwrap_or_default();
                        s.memory_usage =
                            usage_without_cache(usage, keyed(&stat, "total_inactive_file"));
                    }
                    if let Some(v) = read_opt(&dir, "memory.limit_in_bytes")? {
                        let limit = parse_limit(&dir.join("memory.limit_in_bytes"), &v)?;
                        s.memory_limit = limit.filter(|&l| l < V1_UNLIMITED);
                    }
                }
                if let Some(dir) = self.controller_dir("pids") {
                    self.pids_stats(&dir, &mut s)?;
                } else {
                    s.pids_current = self.pids()?.len() as u64;
                }
            }
            Version::V2 => {
                let dir = self.mount_root.join(&self.rel);
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
                self.pids_stats(&dir, &mut s)?;
            }
        }
        s.oom_kills = self.oom_kills()?;
        Ok(s)
    }

    fn pids_stats(&self, dir: &Path, s: &mut Stats) -> Result<()> {
        match read_opt(dir, "pids.current")? {
            Some(v) => s.pids_current = parse_u64(&dir.join("pids.current"), &v)?,
            None => s.pids_current = self.pids()?.len() as u64,
        }
        if let Some(v) = read_opt(dir, "pids.max")? {
            s.pids_limit = parse_limit(&dir.join("pids.max"), &v)?;
        }
        Ok(())
    }

    /// How many processes the OOM killer killed in this cgroup: v1 `memory.oom_control`'s
    /// "oom_kill N" (kernel ≥ 4.13; 0 when absent — under_oom and memory.failcnt are not kills),
    /// v2 `memory.events`' "oom_kill N".
    pub fn oom_kills(&self) -> Result<u64> {
        let (dir, file) = match self.version {
            Version::V1 => match self.controller_dir("memory") {
                Some(dir) => (dir, "memory.oom_control"),
                None => return Ok(0),
            },
            Version::V2 => (self.mount_root.join(&self.rel), "memory.events"),
        };
        Ok(read_opt(&dir, file)?
            .and_then(|t| keyed(&t, "oom_kill"))
            .unwrap_or(0))
    }

    /// Sends `sig` to every process in the cgroup. SIGKILL uses v2's `cgroup.kill` when there is
    /// one; otherwise the cgroup is frozen while the signals go out (so that no process forks
    /// away from them), then thawed, as runc does.
    pub fn kill_all(&self, sig: Signal) -> Result<()> {
        if sig == Signal::SIGKILL {
            if self.version == Version::V2 {
                let dir = self.mount_root.join(&self.rel);
                if dir.join("cgroup.kill").exists() {
                    return write(&dir, "cgroup.kill", "1");
                }
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

/// The v1 hierarchies under `mount_root`: every entry that is a directory (or a symlink to one)
/// whose name, split at commas, holds a controller we use. An exact name (`cpu`) wins over a
/// combined one (`cpu,cpuacct`) for the controller map; both are the same hierarchy. Then every
/// other directory that is a cgroup root (it has `cgroup.procs`): named hierarchies
/// (`systemd/`), other controllers, and the v2 mount of a hybrid host (it has
/// `cgroup.controllers`), which is also returned on its own.
#[allow(clippy::type_complexity)]
fn v1_hierarchies(
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

// ---------------------------------------------------------------------------------------------
// Creating

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

// ---------------------------------------------------------------------------------------------
// The v2 device filter

/// cgroup2's `statfs` magic.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[cfg(test)]
thread_local! {
    /// The device programs this thread would have attached to directories of a fake cgroupfs.
    static PROGRAMS: std::cell::RefCell<Vec<(PathBuf, Vec<devfilter::Insn>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Attaches the device program to the cgroup `dir`, which must be a cgroup v2 directory: a
/// failure (no bpf(2) permission, a kernel without cgroup BPF) fails the container, as runc
/// fails it on v2, rather than leaving it without a device filter. The unit tests' fake trees
/// record the program instead.
fn attach_device_filter(dir: &Path, program: &[devfilter::Insn]) -> Result<()> {
    let fs = nix::sys::statfs::statfs(dir).map_err(|source| Error::CgroupSys {
        path: dir.to_path_buf(),
        what: "statfs".into(),
        source,
    })?;
    if fs.filesystem_type().0 as i64 != CGROUP2_SUPER_MAGIC {
        #[cfg(test)]
        {
            PROGRAMS.with(|p| p.borrow_mut().push((dir.to_path_buf(), program.to_vec())));
            return Ok(());
        }
        #[cfg(not(test))]
        return Err(Error::Cgroup {
            path: dir.to_path_buf(),
            why: "not a cgroup v2 directory: cannot attach the device filter".into(),
        });
    }
    devfilter::attach(dir, program)
}

// ---------------------------------------------------------------------------------------------
// Applying limits, v1

/// runc's order: deny everything, then each rule in order (allow rules to devices.allow, deny
/// rules to devices.deny).
fn apply_devices_v1(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    write(dir, "devices.deny", "a")?;
    for rule in rules {
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(dir, file, &device_rule(rule))?;
    }
    Ok(())
}

/// "c 1:3 rwm"; a missing (or negative) major or minor is "*", missing access is "rwm".
fn device_rule(rule: &LinuxDeviceCgroup) -> String {
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    format!(
        "{} {}:{} {}",
        rule.typ().unwrap_or_default().as_str(),
        num(rule.major()),
        num(rule.minor()),
        access
    )
}

/// runc's setMemoryAndSwap: when both memory and memory+swap are set, write memsw first if it
/// grows past the current limit (or is unlimited), else memory first, so the kernel never sees
/// memory > memory+swap.
fn apply_memory_v1(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let has_memsw = dir.join("memory.memsw.limit_in_bytes").exists();
    if limit == -1 && swap == 0 && has_memsw {
        swap = -1;
    }
    if !has_memsw {
        // No swap accounting on this host (swapaccount=0): the swap limit cannot be set.
        swap = 0;
    }
    let mut swap_first = false;
    if limit != 0 && swap != 0 {
        let current = read(dir, "memory.limit_in_bytes")?;
        // The kernel reads back "no limit" as a huge number; a fake cgroupfs may hold the "-1"
        // written to it.
        let current = match current.trim() {
            "-1" => u64::MAX,
            _ => parse_u64(&dir.join("memory.limit_in_bytes"), &current)?,
        };
        swap_first = swap == -1 || current < swap as u64;
    }
    if swap_first {
        write_v1_memory(dir, "memory.memsw.limit_in_bytes", swap)?;
        write_v1_memory(dir, "memory.limit_in_bytes", limit)?;
    } else {
        write_v1_memory(dir, "memory.limit_in_bytes", limit)?;
        write_v1_memory(dir, "memory.memsw.limit_in_bytes", swap)?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::Cgroup {
                path: dir.join("memory.swappiness"),
                why: format!("invalid swappiness {s}: must be 0 to 100"),
            });
        }
        write(dir, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

/// Writes a v1 memory limit (0 = leave as is); a limit the kernel refuses because the cgroup
/// uses more (EBUSY) is reported with the usage, as runc does.
fn write_v1_memory(dir: &Path, file: &str, value: i64) -> Result<()> {
    if value == 0 {
        return Ok(());
    }
    let path = dir.join(file);
    match write_raw(&path, &value.to_string()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let (usage, max) = if file.contains("memsw") {
                (
                    "memory.memsw.usage_in_bytes",
                    "memory.memsw.max_usage_in_bytes",
                )
            } else {
                ("memory.usage_in_bytes", "memory.max_usage_in_bytes")
            };
            let usage = read_opt(dir, usage).ok().flatten().unwrap_or_default();
            let max = read_opt(dir, max).ok().flatten().unwrap_or_default();
            Err(Error::Cgroup {
                path,
                why: format!(
                    "cannot set the limit to {value}: below the current usage {} (peak {})",
                    usage.trim(),
                    max.trim()
                ),
            })
        }
        Err(e) => Err(write_error(path, &value.to_string(), e)),
    }
}

/// runc's order: shares (read back: the kernel clamps), then period and quota; a shorter period
/// the kernel refuses (EINVAL, the old quota would exceed the parent's) is retried after the
/// quota.
fn apply_cpu_v1(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        write(dir, "cpu.shares", &shares.to_string())?;
        let read_back = read(dir, "cpu.shares")?;
        let read_back = parse_u64(&dir.join("cpu.shares"), &read_back)?;
        if shares > read_back {
            return Err(Error::Cgroup {
                path: dir.join("cpu.shares"),
                why: format!("cpu shares {shares}: the maximum allowed is {read_back}"),
            });
        } else if shares < read_back {
            return Err(Error::Cgroup {
                path: dir.join("cpu.shares"),
                why: format!("cpu shares {shares}: the minimum allowed is {read_back}"),
            });
        }
    }
    let quota = c.quota().unwrap_or(0);
    let mut retry_period = None;
    if let Some(period) = c.period().filter(|&p| p != 0) {
        let path = dir.join("cpu.cfs_period_us");
        match write_raw(&path, &period.to_string()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && quota != 0 => {
                retry_period = Some(period)
            }
            Err(e) => return Err(write_error(path, &period.to_string(), e)),
        }
    }
    if quota != 0 {
        write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(period) = retry_period {
            write(dir, "cpu.cfs_period_us", &period.to_string())?;
        }
    }
    if let Some(p) = c.realtime_period().filter(|&p| p != 0) {
        write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r != 0) {
        write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    Ok(())
}

/// cpuset.cpus / cpuset.mems, v1 and v2 alike.
fn apply_cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

fn apply_blkio_v1(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // Kernels with the BFQ scheduler and no CFQ only have the bfq files.
    let bfq = !dir.join("blkio.weight").exists() && dir.join("blkio.bfq.weight").exists();
    let (weight_file, weight_device_file) = if bfq {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        write(dir, weight_file, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
        write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            write(
                dir,
                weight_device_file,
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
    }
    let throttles = [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (file, devices) in throttles {
        for d in devices.iter().flatten() {
            write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

/// pids.max: a positive limit, or "max" for -1/0 (unlimited).
fn pids_value(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Applying limits, v2

/// 0 → not set, -1 → "max", else the number.
fn v2_value(v: i64) -> Option<String> {
    match v {
        0 => None,
        v if v < 0 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// runc's ConvertMemorySwapToCgroupV2Value: the spec's swap is memory+swap; v2's memory.swap.max is
/// the swap alone.
fn v2_swap(swap: i64, memory: i64, dir: &Path) -> Result<i64> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    let bad = |why: String| Error::Cgroup {
        path: dir.join("memory.swap.max"),
        why,
    };
    if memory == 0 || memory == -1 {
        return Err(bad(format!(
            "cannot set a swap limit ({swap}) without a memory limit"
        )));
    }
    if memory < 0 {
        return Err(bad(format!("invalid memory limit {memory}")));
    }
    if swap < memory {
        return Err(bad(format!(
            "memory+swap limit {swap} must be at least the memory limit {memory}"
        )));
    }
    Ok(swap - memory)
}

fn apply_memory_v2(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap_spec = m.swap().unwrap_or(0);
    let swap = v2_swap(swap_spec, limit, dir)?;
    let swap_str = match v2_value(swap) {
        None if swap_spec > 0 => Some("0".to_string()), // memory == memory+swap: no swap
        s => s,
    };
    if let Some(s) = swap_str {
        let path = dir.join("memory.swap.max");
        if let Err(e) = write_raw(&path, &s) {
            // Without swap (accounting), setting no swap or unlimited swap is moot.
            if !(e.kind() == io::ErrorKind::NotFound && (s == "max" || s == "0")) {
                return Err(write_error(path, &s, e));
            }
        }
    }
    if let Some(v) = v2_value(limit) {
        if limit > 0 {
            // v2 would OOM-kill rather than refuse; refuse, as v1 does, when the cgroup already
            // uses more than the new limit.
            if let Some(cur) = read_opt(dir, "memory.current")? {
                let cur = parse_u64(&dir.join("memory.current"), &cur)?;
                if cur > limit as u64 {
                    return Err(Error::Cgroup {
                        path: dir.join("memory.max"),
                        why: format!(
                            "cannot set the limit to {limit}: below the current usage {cur}"
                        ),
                    });
                }
            }
        }
        write(dir, "memory.max", &v)?;
    }
    if let Some(v) = m.reservation().and_then(v2_value) {
        write(dir, "memory.low", &v)?;
    }
    Ok(())
}

/// runc's conversion of v1 cpu shares (2..262144) to v2 cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

fn apply_cpu_v2(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut max = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            max = format!("{max} {period}");
        }
        write(dir, "cpu.max", &max)?;
    }
    Ok(())
}

fn apply_io_v2(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // io.bfq.weight takes the v1 range (10..1000); io.weight is 1..10000 (runc's conversion).
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        if bfq {
            write(dir, "io.bfq.weight", &w.to_string())?;
        } else {
            let w = u64::from(w.clamp(10, 1000));
            write(dir, "io.weight", &(1 + (w - 10) * 9999 / 990).to_string())?;
        }
    }
    if bfq {
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                write(
                    dir,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", d.major(), d.minor()),
                )?;
            }
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, devices) in throttles {
        for d in devices.iter().flatten() {
            write(
                dir,
                "io.max",
                &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Freezing (v2) and removing

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

/// rmdir a cgroup directory, its child cgroups first; a missing directory is fine. On a real
/// cgroupfs the control files go with the directory; in a fake one (ENOTEMPTY) the plain files
/// are removed first.
fn remove_cgroup_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    let mut plain_files = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => remove_cgroup_dir(&path)?,
            _ => plain_files.push(path),
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.raw_os_error() != Some(libc::ENOTEMPTY) => {
            return Err(Error::io("remove", dir, e))
        }
        Err(_) => {}
    }
    // A fake cgroupfs: plain files keep the directory.
    for f in plain_files {
        let _ = fs::remove_file(f);
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", dir, e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Files

#[cfg(test)]
thread_local! {
    /// Every write this thread made, in order (the tests check runc's write order with it).
    static WRITES: std::cell::RefCell<Vec<(PathBuf, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    #[cfg(test)]
    WRITES.with(|w| w.borrow_mut().push((path.to_path_buf(), value.to_string())));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    // One write(2): cgroupfs takes each write as one value.
    f.write_all(value.as_bytes())
}

fn write_error(path: PathBuf, value: &str, source: io::Error) -> Error {
    Error::CgroupWrite {
        path,
        value: value.to_string(),
        source,
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_raw(&path, value).map_err(|e| write_error(path, value, e))
}

fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|e| Error::io("read", path, e))
}

/// `None` when the file is not there.
fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| Error::Cgroup {
        path: path.to_path_buf(),
        why: format!("not a number: {:?}", text.trim()),
    })
}

/// A limit file: "max" (v2) → `None`, else the number.
fn parse_limit(path: &Path, text: &str) -> Result<Option<u64>> {
    if text.trim() == "max" {
        Ok(None)
    } else {
        parse_u64(path, text).map(Some)
    }
}

/// The value of "KEY N" in a flat-keyed file (memory.stat, cpu.stat, memory.events, …).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut it = line.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next()?.parse().ok())
            .flatten()
    })
}

/// Docker's CLI: usage minus the inactive file cache, when that is smaller than the usage.
fn usage_without_cache(usage: u64, inactive_file: Option<u64>) -> u64 {
    match inactive_file {
        Some(i) if i < usage => usage - i,
        _ => usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const MIB: u64 = 1024 * 1024;
    const V1_MAX: &str = "9223372036854771712\n";

    fn resources(v: serde_json::Value) -> LinuxResources {
        serde_json::from_value(v).expect("resources JSON")
    }

    fn put(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn get(path: &Path) -> String {
        fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    fn take_writes() -> Vec<(PathBuf, String)> {
        WRITES.with(|w| std::mem::take(&mut *w.borrow_mut()))
    }

    fn take_programs() -> Vec<(PathBuf, Vec<devfilter::Insn>)> {
        PROGRAMS.with(|w| std::mem::take(&mut *w.borrow_mut()))
    }

    /// A hybrid v1 host: a directory per controller, `cpu,cpuacct` combined with `cpu` and
    /// `cpuacct` symlinks, a named systemd hierarchy and an empty v2 mount.
    fn fake_v1() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in [
            "cpu,cpuacct",
            "memory",
            "pids",
            "freezer",
            "devices",
            "blkio",
            "cpuset",
            "systemd",
            "unified",
            "net_cls,net_prio",
        ] {
            fs::create_dir(r.join(d)).unwrap();
        }
        symlink("cpu,cpuacct", r.join("cpu")).unwrap();
        symlink("cpu,cpuacct", r.join("cpuacct")).unwrap();
        // Cgroup roots berth sets no limits in: joined all the same. A directory without
        // cgroup.procs is not a hierarchy.
        for d in ["systemd", "unified", "net_cls,net_prio"] {
            put(&r.join(d).join("cgroup.procs"), "");
        }
        put(&r.join("unified/cgroup.controllers"), "");
        fs::create_dir(r.join("not-a-cgroup")).unwrap();
        put(&r.join("cpuset/cpuset.cpus"), "0-3\n");
        put(&r.join("cpuset/cpuset.mems"), "0\n");
        t
    }

    /// Makes the files the kernel would make in a new v1 memory cgroup.
    fn fake_v1_memory_files(cg: &Cgroup) {
        let dir = cg.controller_dir("memory").unwrap();
        put(&dir.join("memory.limit_in_bytes"), V1_MAX);
        put(&dir.join("memory.memsw.limit_in_bytes"), V1_MAX);
    }

    fn fake_v2() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        put(
            &t.path().join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        );
        put(&t.path().join("cgroup.subtree_control"), "");
        t
    }

    #[test]
    fn version_detection() {
        let v1 = fake_v1();
        assert_eq!(host_version(v1.path()), Version::V1);
        let v2 = fake_v2();
        assert_eq!(host_version(v2.path()), Version::V2);
    }

    #[test]
    fn open_parses_the_path_and_finds_v1_hierarchies() {
        let t = fake_v1();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        assert_eq!(cg.version, Version::V1);
        assert_eq!(cg.rel, PathBuf::from("berth/abc"));
        assert_eq!(cg.controllers["cpu"], t.path().join("cpu"));
        assert_eq!(cg.controllers["cpuacct"], t.path().join("cpuacct"));
        assert_eq!(cg.controllers["memory"], t.path().join("memory"));
        assert_eq!(cg.controllers.len(), 8);
        // cpu,cpuacct once; systemd, unified and net_cls too (runc joins them all).
        assert_eq!(cg.hierarchies.len(), 10, "{:?}", cg.hierarchies);
        assert_eq!(cg.join_paths().len(), 10);
        for h in ["systemd", "unified", "net_cls,net_prio"] {
            assert!(cg
                .join_paths()
                .contains(&t.path().join(h).join("berth/abc/cgroup.procs")));
        }
        assert_eq!(cg.unified, Some(t.path().join("unified")));
        assert!(cg
            .join_paths()
            .contains(&t.path().join("memory/berth/abc/cgroup.procs")));

        let rel = Cgroup::open(t.path(), "berth/abc").unwrap();
        assert_eq!(rel.rel, PathBuf::from("berth/abc"));
        for bad in ["", "/", "/berth/../../etc", "system.slice:berth:abc"] {
            let e = Cgroup::open(t.path(), bad).unwrap_err();
            assert!(matches!(e, Error::Cgroup { .. }), "{bad:?}: {e}");
        }
        let empty = tempfile::tempdir().unwrap();
        assert!(Cgroup::open(empty.path(), "/berth/x").is_err());
    }

    #[test]
    fn v1_create_makes_every_hierarchy_and_copies_cpuset() {
        let t = fake_v1();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        for d in [
            "cpu,cpuacct",
            "memory",
            "pids",
            "freezer",
            "devices",
            "blkio",
            "cpuset",
        ] {
            assert!(t.path().join(d).join("berth/abc").is_dir(), "{d}");
        }
        for d in ["systemd", "unified", "net_cls,net_prio"] {
            assert!(t.path().join(d).join("berth/abc").is_dir(), "{d}");
        }
        assert!(!t.path().join("not-a-cgroup/berth").exists());
        for dir in ["cpuset/berth", "cpuset/berth/abc"] {
            assert_eq!(get(&t.path().join(dir).join("cpuset.cpus")), "0-3");
            assert_eq!(get(&t.path().join(dir).join("cpuset.mems")), "0");
        }
        // Again: idempotent, and a cpuset already set is kept.
        put(&t.path().join("cpuset/berth/abc/cpuset.cpus"), "1");
        cg.create().unwrap();
        assert_eq!(get(&t.path().join("cpuset/berth/abc/cpuset.cpus")), "1");
    }

    #[test]
    fn v1_apply_writes_the_limits_in_runc_order() {
        let t = fake_v1();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        fake_v1_memory_files(&cg);
        take_writes();
        let r = resources(serde_json::json!({
            "devices": [
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rw"},
                {"allow": false, "type": "b", "major": 8, "minor": 0, "access": "m"}
            ],
            "memory": {"limit": 64 * MIB, "swap": 128 * MIB, "reservation": 32 * MIB},
            "cpu": {"shares": 512, "quota": 150000, "period": 100000, "cpus": "0-1"},
            "pids": {"limit": 100}
        }));
        cg.apply(&r).unwrap();
        let m = t.path().join("memory/berth/abc");
        assert_eq!(get(&m.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(get(&m.join("memory.memsw.limit_in_bytes")), "134217728");
        assert_eq!(get(&m.join("memory.soft_limit_in_bytes")), "33554432");
        let c = t.path().join("cpu,cpuacct/berth/abc");
        assert_eq!(get(&c.join("cpu.shares")), "512");
        assert_eq!(get(&c.join("cpu.cfs_quota_us")), "150000");
        assert_eq!(get(&c.join("cpu.cfs_period_us")), "100000");
        assert_eq!(get(&t.path().join("cpuset/berth/abc/cpuset.cpus")), "0-1");
        assert_eq!(get(&t.path().join("pids/berth/abc/pids.max")), "100");

        let writes: Vec<(String, String)> = take_writes()
            .into_iter()
            .map(|(p, v)| (p.file_name().unwrap().to_str().unwrap().to_string(), v))
            .collect();
        let w = |f: &str, v: &str| (f.to_string(), v.to_string());
        let devices: Vec<_> = writes
            .iter()
            .filter(|(f, _)| f.starts_with("devices."))
            .cloned()
            .collect();
        assert_eq!(
            devices,
            vec![
                w("devices.deny", "a"),
                w("devices.deny", "a *:* rwm"),
                w("devices.allow", "c 1:3 rwm"),
                w("devices.allow", "c 136:* rw"),
                w("devices.deny", "b 8:0 m"),
            ]
        );
        // A hybrid host: the same rules as a program on the v2 hierarchy too.
        let programs = take_programs();
        assert_eq!(programs.len(), 1);
        assert_eq!(programs[0].0, t.path().join("unified/berth/abc"));
        assert_eq!(
            programs[0].1,
            crate::devfilter::program(r.devices().as_ref().unwrap()).unwrap()
        );
        // Without a v2 mount, no program.
        let t2 = fake_v1();
        fs::remove_dir_all(t2.path().join("unified")).unwrap();
        let cg2 = Cgroup::open(t2.path(), "/berth/abc").unwrap();
        assert_eq!(cg2.unified, None);
        cg2.create().unwrap();
        cg2.apply(&resources(
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}),
        ))
        .unwrap();
        assert!(take_programs().is_empty());
        let memory: Vec<_> = writes
            .iter()
            .filter(|(f, _)| f.starts_with("memory."))
            .cloned()
            .collect();
        // The current limit is unlimited, above the new memsw: memory first.
        assert_eq!(
            memory,
            vec![
                w("memory.limit_in_bytes", "67108864"),
                w("memory.memsw.limit_in_bytes", "134217728"),
                w("memory.soft_limit_in_bytes", "33554432"),
            ]
        );
        let cpu: Vec<_> = writes
            .iter()
            .filter(|(f, _)| f.starts_with("cpu."))
            .cloned()
            .collect();
        assert_eq!(
            cpu,
            vec![
                w("cpu.shares", "512"),
                w("cpu.cfs_period_us", "100000"),
                w("cpu.cfs_quota_us", "150000"),
            ]
        );
    }

    #[test]
    fn v1_memory_and_swap_order() {
        let t = fake_v1();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        fake_v1_memory_files(&cg);
        let files = |writes: Vec<(PathBuf, String)>| -> Vec<String> {
            writes
                .into_iter()
                .map(|(p, v)| format!("{}={v}", p.file_name().unwrap().to_str().unwrap()))
                .collect()
        };
        let mem = |limit: u64, swap: u64| {
            resources(serde_json::json!({"memory": {"limit": limit, "swap": swap}}))
        };
        cg.apply(&mem(64 * MIB, 64 * MIB)).unwrap();
        take_writes();
        // Raising past the current limit: memory+swap first.
        cg.apply(&mem(256 * MIB, 512 * MIB)).unwrap();
        assert_eq!(
            files(take_writes()),
            [
                "memory.memsw.limit_in_bytes=536870912",
                "memory.limit_in_bytes=268435456"
            ]
        );
        // Lowering: memory first.
        cg.apply(&mem(32 * MIB, 64 * MIB)).unwrap();
        assert_eq!(
            files(take_writes()),
            [
                "memory.limit_in_bytes=33554432",
                "memory.memsw.limit_in_bytes=67108864"
            ]
        );
        // Unlimited memory without a swap value: both unlimited, swap first.
        cg.apply(&resources(serde_json::json!({"memory": {"limit": -1}})))
            .unwrap();
        assert_eq!(
            files(take_writes()),
            ["memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"]
        );
        // From unlimited ("-1" as written, in the fake fs) to limits: memory first.
        cg.apply(&mem(64 * MIB, 128 * MIB)).unwrap();
        assert_eq!(
            files(take_writes()),
            [
                "memory.limit_in_bytes=67108864",
                "memory.memsw.limit_in_bytes=134217728"
            ]
        );
        // No swap accounting on the host: the swap value is dropped.
        fs::remove_file(
            cg.controller_dir("memory")
                .unwrap()
                .join("memory.memsw.limit_in_bytes"),
        )
        .unwrap();
        cg.apply(&mem(64 * MIB, 128 * MIB)).unwrap();
        assert_eq!(files(take_writes()), ["memory.limit_in_bytes=67108864"]);
    }

    #[test]
    fn pids_limit_values() {
        assert_eq!(pids_value(100), "100");
        assert_eq!(pids_value(0), "max");
        assert_eq!(pids_value(-1), "max");
        let t = fake_v1();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        cg.apply(&resources(serde_json::json!({"pids": {"limit": -1}})))
            .unwrap();
        assert_eq!(get(&t.path().join("pids/berth/abc/pids.max")), "max");
    }

    #[test]
    fn a_write_that_fails_names_the_file_and_value() {
        let t = fake_v1();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        // A directory where the file should be: the write fails.
        fs::create_dir(t.path().join("pids/berth/abc/pids.max")).unwrap();
        let e = cg
            .apply(&resources(serde_json::json!({"pids": {"limit": 7}})))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pids/berth/abc/pids.max"), "{e}");
        assert!(e.contains("\"7\""), "{e}");
    }

    #[test]
    fn v1_procs_freeze_stats_destroy() {
        let t = fake_v1();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        cg.add_pid(4242).unwrap();
        for p in cg.join_paths() {
            assert_eq!(get(&p), "4242", "{}", p.display());
        }
        put(
            &t.path().join("memory/berth/abc/cgroup.procs"),
            "4242\n4243\n",
        );
        assert_eq!(cg.pids().unwrap(), vec![4242, 4243]);

        assert!(!cg.is_frozen().unwrap());
        cg.freeze().unwrap();
        assert_eq!(
            get(&t.path().join("freezer/berth/abc/freezer.state")),
            "FROZEN"
        );
        assert!(cg.is_frozen().unwrap());
        cg.thaw().unwrap();
        assert_eq!(
            get(&t.path().join("freezer/berth/abc/freezer.state")),
            "THAWED"
        );
        assert!(!cg.is_frozen().unwrap());

        let m = t.path().join("memory/berth/abc");
        put(&m.join("memory.usage_in_bytes"), "10485760\n");
        put(
            &m.join("memory.stat"),
            "cache 4194304\nrss 6291456\ninactive_file 1\ntotal_cache 4194304\n\
             total_inactive_file 3145728\ntotal_active_file 1048576\n",
        );
        put(&m.join("memory.limit_in_bytes"), V1_MAX);
        put(
            &m.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        );
        put(
            &t.path().join("cpuacct/berth/abc/cpuacct.usage"),
            "123456789\n",
        );
        put(&t.path().join("pids/berth/abc/pids.current"), "2\n");
        put(&t.path().join("pids/berth/abc/pids.max"), "max\n");
        assert_eq!(
            cg.stats().unwrap(),
            Stats {
                cpu_usage_ns: 123456789,
                memory_usage: 10485760 - 3145728,
                memory_limit: None,
                pids_current: 2,
                pids_limit: None,
                oom_kills: 3,
            }
        );
        put(&m.join("memory.limit_in_bytes"), "33554432\n");
        put(&t.path().join("pids/berth/abc/pids.max"), "50\n");
        let s = cg.stats().unwrap();
        assert_eq!(s.memory_limit, Some(32 * MIB));
        assert_eq!(s.pids_limit, Some(50));

        // destroy: every hierarchy, idempotent, parents left. (No processes in the fake procs.)
        put(&t.path().join("memory/berth/abc/cgroup.procs"), "");
        for p in cg.join_paths() {
            put(&p, "");
        }
        cg.destroy().unwrap();
        for d in [
            "cpu,cpuacct",
            "memory",
            "pids",
            "freezer",
            "devices",
            "blkio",
            "cpuset",
            "systemd",
            "unified",
            "net_cls,net_prio",
        ] {
            assert!(!t.path().join(d).join("berth/abc").exists(), "{d}");
            assert!(t.path().join(d).join("berth").is_dir(), "{d}");
        }
        cg.destroy().unwrap();
        assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
    }

    #[test]
    fn oom_kills_parsing() {
        let t = fake_v1();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        // No file, or an old kernel's file without oom_kill: 0 (under_oom and failcnt are not
        // kills).
        assert_eq!(cg.oom_kills().unwrap(), 0);
        let m = t.path().join("memory/berth/abc");
        put(
            &m.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 1\n",
        );
        put(&m.join("memory.failcnt"), "17\n");
        assert_eq!(cg.oom_kills().unwrap(), 0);
        put(
            &m.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n",
        );
        assert_eq!(cg.oom_kills().unwrap(), 5);

        let t2 = fake_v2();
        let cg2 = Cgroup::open(t2.path(), "/berth/abc").unwrap();
        cg2.create().unwrap();
        assert_eq!(cg2.oom_kills().unwrap(), 0);
        put(
            &t2.path().join("berth/abc/memory.events"),
            "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n",
        );
        assert_eq!(cg2.oom_kills().unwrap(), 2);
    }

    #[test]
    fn unlimited_detection() {
        let p = Path::new("x");
        assert_eq!(parse_limit(p, "max\n").unwrap(), None);
        assert_eq!(parse_limit(p, "100\n").unwrap(), Some(100));
        let v1 = |s: &str| parse_limit(p, s).unwrap().filter(|&l| l < V1_UNLIMITED);
        assert_eq!(v1(V1_MAX), None);
        assert_eq!(v1("9223372036854775807"), None);
        assert_eq!(v1("67108864"), Some(64 * MIB));
        assert!(parse_limit(p, "lots").is_err());
        assert_eq!(usage_without_cache(100, Some(30)), 70);
        assert_eq!(usage_without_cache(100, Some(300)), 100);
        assert_eq!(usage_without_cache(100, None), 100);
    }

    #[test]
    fn shares_to_weight_as_runc() {
        assert_eq!(shares_to_weight(512), 20);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn v2_create_enables_controllers_in_ancestors() {
        let t = fake_v2();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        assert_eq!(cg.version, Version::V2);
        assert_eq!(
            cg.join_paths(),
            vec![t.path().join("berth/abc/cgroup.procs")]
        );
        cg.create().unwrap();
        assert!(t.path().join("berth/abc").is_dir());
        let all = "+cpu +memory +pids +io +cpuset";
        assert_eq!(get(&t.path().join("cgroup.subtree_control")), all);
        assert_eq!(get(&t.path().join("berth/cgroup.subtree_control")), all);
        assert!(!t.path().join("berth/abc/cgroup.subtree_control").exists());

        // Only what the host has.
        let t = fake_v2();
        put(&t.path().join("cgroup.controllers"), "memory pids\n");
        Cgroup::open(t.path(), "/a/b/c").unwrap().create().unwrap();
        for d in ["", "a", "a/b"] {
            assert_eq!(
                get(&t.path().join(d).join("cgroup.subtree_control")),
                "+memory +pids"
            );
        }
    }

    #[test]
    fn v2_apply_writes_the_limits() {
        let t = fake_v2();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        let dir = t.path().join("berth/abc");
        take_writes();
        let r = resources(serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 64 * MIB, "swap": 128 * MIB, "reservation": 32 * MIB},
            "cpu": {"shares": 512, "quota": 150000, "period": 100000},
            "pids": {"limit": 100}
        }));
        cg.apply(&r).unwrap();
        assert_eq!(get(&dir.join("memory.max")), "67108864");
        assert_eq!(get(&dir.join("memory.swap.max")), "67108864");
        assert_eq!(get(&dir.join("memory.low")), "33554432");
        assert_eq!(get(&dir.join("cpu.max")), "150000 100000");
        assert_eq!(get(&dir.join("cpu.weight")), "20");
        assert_eq!(get(&dir.join("pids.max")), "100");
        // Device rules become an eBPF program attached to the cgroup (recorded on a fake tree).
        assert!(!dir.join("devices.deny").exists());
        let programs = take_programs();
        assert_eq!(programs.len(), 1);
        assert_eq!(programs[0].0, dir);
        assert_eq!(
            programs[0].1,
            crate::devfilter::program(r.devices().as_ref().unwrap()).unwrap()
        );
        let order: Vec<String> = take_writes()
            .into_iter()
            .map(|(p, _)| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            order,
            [
                "memory.swap.max",
                "memory.max",
                "memory.low",
                "cpu.weight",
                "cpu.max",
                "pids.max"
            ]
        );

        // No quota: "max PERIOD"; unlimited memory and swap; memory == memory+swap: no swap.
        cg.apply(&resources(serde_json::json!({
            "cpu": {"quota": -1, "period": 50000}, "memory": {"limit": -1}, "pids": {"limit": 0}
        })))
        .unwrap();
        assert_eq!(get(&dir.join("cpu.max")), "max 50000");
        assert_eq!(get(&dir.join("memory.max")), "max");
        assert_eq!(get(&dir.join("memory.swap.max")), "max");
        assert_eq!(get(&dir.join("pids.max")), "max");
        cg.apply(&resources(
            serde_json::json!({"memory": {"limit": 64 * MIB, "swap": 64 * MIB}}),
        ))
        .unwrap();
        assert_eq!(get(&dir.join("memory.swap.max")), "0");
        // swap below memory: refused.
        assert!(cg
            .apply(&resources(
                serde_json::json!({"memory": {"limit": 64 * MIB, "swap": 32 * MIB}})
            ))
            .is_err());
    }

    #[test]
    fn v2_memory_limit_below_usage_is_refused() {
        let t = fake_v2();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        let dir = t.path().join("berth/abc");
        put(&dir.join("memory.current"), "104857600\n");
        put(&dir.join("memory.max"), "max\n");
        let e = cg
            .apply(&resources(
                serde_json::json!({"memory": {"limit": 64 * MIB}}),
            ))
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Cgroup { ref path, .. } if path == &dir.join("memory.max")));
        assert!(
            msg.contains("67108864") && msg.contains("104857600"),
            "{msg}"
        );
        assert_eq!(get(&dir.join("memory.max")), "max\n");
    }

    #[test]
    fn v2_freeze_stats_destroy() {
        let t = fake_v2();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        let dir = t.path().join("berth/abc");
        // Without cgroup.events there is nothing to wait for.
        cg.freeze().unwrap();
        assert_eq!(get(&dir.join("cgroup.freeze")), "1");
        assert!(cg.is_frozen().unwrap());
        cg.thaw().unwrap();
        assert!(!cg.is_frozen().unwrap());
        // With it, the state comes from "frozen N".
        put(&dir.join("cgroup.events"), "populated 1\nfrozen 1\n");
        cg.freeze().unwrap();
        assert!(cg.is_frozen().unwrap());
        put(&dir.join("cgroup.events"), "populated 1\nfrozen 0\n");
        cg.thaw().unwrap();
        assert_eq!(get(&dir.join("cgroup.freeze")), "0");
        assert!(!cg.is_frozen().unwrap());

        cg.add_pid(77).unwrap();
        assert_eq!(get(&dir.join("cgroup.procs")), "77");
        put(&dir.join("cgroup.procs"), "77\n78\n");
        assert_eq!(cg.pids().unwrap(), vec![77, 78]);

        put(
            &dir.join("cpu.stat"),
            "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 0\n",
        );
        put(&dir.join("memory.current"), "8388608\n");
        put(
            &dir.join("memory.stat"),
            "anon 4194304\nfile 4194304\ninactive_file 2097152\n",
        );
        put(&dir.join("memory.max"), "max\n");
        put(
            &dir.join("memory.events"),
            "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n",
        );
        put(&dir.join("pids.current"), "2\n");
        put(&dir.join("pids.max"), "100\n");
        assert_eq!(
            cg.stats().unwrap(),
            Stats {
                cpu_usage_ns: 1_234_000,
                memory_usage: 8388608 - 2097152,
                memory_limit: None,
                pids_current: 2,
                pids_limit: Some(100),
                oom_kills: 1,
            }
        );
        put(&dir.join("memory.max"), "67108864\n");
        assert_eq!(cg.stats().unwrap().memory_limit, Some(64 * MIB));

        put(&dir.join("cgroup.procs"), "");
        fs::create_dir(dir.join("child")).unwrap();
        put(&dir.join("child/cgroup.procs"), "");
        cg.destroy().unwrap();
        assert!(!dir.exists());
        assert!(t.path().join("berth").is_dir());
        cg.destroy().unwrap();
    }

    #[test]
    fn kill_all_signals_the_processes() {
        let t = fake_v2();
        let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
        cg.create().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        // Ourselves, 0 and -1 are never signalled.
        let procs = format!("{}\n{}\n0\n-1\n", child.id(), std::process::id());
        put(&t.path().join("berth/abc/cgroup.procs"), &procs);
        cg.kill_all(Signal::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
        // v2's cgroup.kill, when there is one.
        put(&t.path().join("berth/abc/cgroup.kill"), "");
        put(&t.path().join("berth/abc/cgroup.procs"), "");
        cg.kill_all(Signal::SIGKILL).unwrap();
        assert_eq!(get(&t.path().join("berth/abc/cgroup.kill")), "1");
    }

    /// Removes the test cgroup (and kills the child) even when an assertion fails.
    struct RealGuard {
        cg: Cgroup,
        child: Option<std::process::Child>,
    }

    impl Drop for RealGuard {
        fn drop(&mut self) {
            if let Some(c) = self.child.as_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
            let _ = self.cg.thaw();
            let _ = self.cg.destroy();
        }
    }

    #[test]
    fn real_v1_hierarchy() {
        let root = Path::new("/sys/fs/cgroup");
        if !nix::unistd::geteuid().is_root()
            || !root.join("memory").is_dir()
            || host_version(root) != Version::V1
        {
            println!(
                "skipped: needs root and a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory"
            );
            return;
        }
        let name = format!("/berth-test-{}", std::process::id());
        let cg = Cgroup::open(root, &name).unwrap();
        let mut guard = RealGuard {
            cg: cg.clone(),
            child: None,
        };
        cg.create().unwrap();
        for d in cg.dirs() {
            assert!(d.is_dir(), "{}", d.display());
        }
        cg.apply(&resources(serde_json::json!({
            "memory": {"limit": 32 * MIB}, "pids": {"limit": 50}
        })))
        .unwrap();

        let child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        guard.child = Some(child);
        cg.add_pid(pid).unwrap();
        assert_eq!(cg.pids().unwrap(), vec![pid]);
        for p in cg.join_paths() {
            assert!(
                get(&p).lines().any(|l| l == pid.to_string()),
                "{}",
                p.display()
            );
        }
        let s = cg.stats().unwrap();
        assert_eq!(s.memory_limit, Some(32 * MIB));
        assert_eq!(s.pids_limit, Some(50));
        assert_eq!(s.pids_current, 1);
        assert_eq!(s.oom_kills, 0);
        println!("real v1 stats: {s:?}");

        cg.freeze().unwrap();
        assert!(cg.is_frozen().unwrap());
        cg.thaw().unwrap();
        assert!(!cg.is_frozen().unwrap());

        // destroy kills what is still inside.
        cg.destroy().unwrap();
        let status = guard.child.take().unwrap().wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        for d in cg.dirs() {
            assert!(!d.exists(), "{} is left", d.display());
        }
        cg.destroy().unwrap();
    }
}
