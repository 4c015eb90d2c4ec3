//! berth's container runtime: runc's lifecycle as a library (DESIGN.md §6).
//!
//! `create` makes the namespaces, mounts and cgroup and leaves the container's init alive and
//! blocked until `start`; `start` lets it exec the process; `state`, `kill`, `delete`, `exec`,
//! `ps`, `pause`/`resume` and `update` work as runc's. Logs, attach and exit records are the
//! monitor's (libs/berth), which uses this library as runc would be used.
//!
//! The caller of `create` and `exec` must be single-threaded (the children fork again and run
//! arbitrary setup code) and should be a child subreaper (`become_subreaper`): the container's
//! init and exec'd processes are grandchildren and are reparented to it.

pub mod cgroups;
pub mod clone;
pub mod devfilter;
pub mod error;
mod hooks;
mod init;
mod process;
pub mod rootfs;
pub mod seccomp;
pub mod state;
mod sync;
#[allow(unsafe_code)] // fork, _exit and the raw system calls nix and rustix do not wrap
mod sys;
mod time;

use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, Pid};
use oci_spec::runtime::{Hooks, LinuxResources, Process, Spec};

pub use cgroups::{Cgroup, Stats};
pub use error::{Error, Result};
use init::{exec_stage1, init_stage1, namespaces};
pub use state::State;
pub use time::{now_rfc3339, rfc3339};

/// The default cgroup mount root.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Where the runtime keeps its state (one directory per container) and finds cgroups.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub root: PathBuf,
    pub cgroup_root: PathBuf,
    /// cgroupsPath is systemd's `slice:prefix:name` (runc's `--systemd-cgroup`), made as the
    /// directories systemd would make ([`cgroups::systemd_path`]).
    pub systemd_cgroup: bool,
}

/// The container process's standard streams: each `Some` fd is installed as 0, 1, 2; `None`
/// inherits the caller's. With `terminal`, the fds are ignored: the process makes a pty in the
/// container's own devpts (as runc), takes it as its controlling terminal, stdio and
/// /dev/console, and the master comes back in [`Created::console`]. `preserve_fds` passes the
/// caller's descriptors 3…2+N to the process as they are (runc's `--preserve-fds`); every other
/// descriptor above 2 is closed at exec.
#[derive(Debug, Default)]
pub struct Stdio {
    pub fds: [Option<OwnedFd>; 3],
    pub terminal: bool,
    pub preserve_fds: u32,
}

impl Stdio {
    /// The process's fds 0, 1, 2 (`None`: the caller's own), no terminal.
    pub fn fds(fds: [Option<OwnedFd>; 3]) -> Stdio {
        Stdio {
            fds,
            ..Stdio::default()
        }
    }

    /// A terminal made in the container; the master comes back in [`Created::console`].
    pub fn terminal() -> Stdio {
        Stdio {
            terminal: true,
            ..Stdio::default()
        }
    }
}

/// A process the runtime made: its host pid and, with a terminal, the pty master.
#[derive(Debug)]
pub struct Created {
    pub pid: i32,
    pub console: Option<OwnedFd>,
}

/// Makes the calling process a child subreaper, so that it can wait for the container's init
/// and exec'd processes (they are its grandchildren).
pub fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| Error::sys("become a child subreaper", e))
}

/// The cgroup path of container `id`: the spec's `cgroupsPath`, or `/berth/<id>`.
pub fn cgroup_path(spec: &Spec, id: &str) -> String {
    cgroups_path_of(spec).unwrap_or_else(|| format!("/berth/{id}"))
}

/// The spec's `linux.cgroupsPath`, as it is written.
fn cgroups_path_of(spec: &Spec) -> Option<String> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .map(|p| p.display().to_string())
}

/// Reads a bundle's config.json.
pub fn load_spec(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    Spec::load(&path).map_err(|e| Error::SpecFile {
        path,
        source: e.into(),
    })
}

impl Runtime {
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            root: root.into(),
            cgroup_root: PathBuf::from(CGROUP_ROOT),
            systemd_cgroup: false,
        }
    }

    fn cgroup_of(&self, spec: &Spec, id: &str) -> Result<Cgroup> {
        let path = if self.systemd_cgroup {
            cgroups::systemd_path::expand(&cgroups_path_of(spec).unwrap_or_default(), id)?
        } else {
            cgroup_path(spec, id)
        };
        Cgroup::open(&self.cgroup_root, &path)
    }

    /// Readies the spec's seccomp program (from the cache under the state root) for the child.
    fn prepare_seccomp(&self, spec: &Spec) {
        if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
            seccomp::prepare(s, &self.root.join("seccomp-cache"));
        }
    }

    fn cgroup_of_state(&self, st: &State) -> Result<Cgroup> {
        let root = if st.cgroup_root.as_os_str().is_empty() {
            &self.cgroup_root
        } else {
            &st.cgroup_root
        };
        Cgroup::open(root, &st.cgroup_path)
    }

    /// Creates container `id` from the bundle: its init is alive in the new namespaces, in the
    /// root file system, in the cgroup, blocked until `start`. Returns the init's pid.
    pub fn create(&self, id: &str, bundle: &Path, stdio: Stdio) -> Result<Created> {
        state::check_id(id)?;
        let bundle =
            fs::canonicalize(bundle).map_err(|e| Error::io("open the bundle", bundle, e))?;
        let spec = load_spec(&bundle)?;
        let dir = state::dir(&self.root, id);
        if dir.join(state::STATE_FILE).exists() {
            return Err(Error::State {
                id: id.into(),
                status: "existing".into(),
                why: "a container with this ID exists in the runtime".into(),
            });
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io("create", &dir, e))?;
        let r = self.create_in(id, &bundle, &spec, stdio);
        if r.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        r
    }

    fn create_in(&self, id: &str, bundle: &Path, spec: &Spec, stdio: Stdio) -> Result<Created> {
        let dir = state::dir(&self.root, id);
        let fifo = dir.join(state::EXEC_FIFO);
        let _ = fs::remove_file(&fifo);
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
            .map_err(|e| Error::sys(format!("mkfifo {}", fifo.display()), e))?;
        // Writable by the container's user whatever the umask (the init opens it after setuid).
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&fifo, fs::Permissions::from_mode(0o622))
                .map_err(|e| Error::io("chmod", &fifo, e))?;
        }
        let process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::Spec("no process".into()))?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::Spec("no root".into()))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            bundle.join(root.path())
        };
        let cgroup = self.cgroup_of(spec, id)?;
        cgroup.create()?;
        let fail = |e: Error| {
            let _ = cgroup.destroy();
            e
        };
        if let Some(res) = spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
            cgroup.apply(&with_allowed_devices(res)).map_err(fail)?;
        }
        let (ns_unshare, ns_join) = namespaces(spec).map_err(fail)?;
        self.prepare_seccomp(spec);
        let (sync_r, sync_w) = pipe().map_err(fail)?;
        let (go_r, go_w) = pipe().map_err(fail)?;
        let fifo_fd = process::open_path(&fifo).map_err(fail)?;
        let stdio_raw = [0, 1, 2].map(|i| stdio.fds[i].as_ref().map(|f| f.as_raw_fd()));
        let preserve = stdio.preserve_fds;
        let (console_parent, console_child) = if stdio.terminal {
            let (a, b) = process::console_socket().map_err(fail)?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };

        // The caller is single-threaded (documented); the child only runs this crate's setup
        // code and ends in exec or _exit.
        match sys::fork().map_err(|e| fail(Error::sys("fork", e)))? {
            ForkResult::Child => {
                drop(sync_r);
                drop(go_w);
                process::preserve_fds(preserve);
                let w = sync_w.as_fd();
                drop(console_parent);
                let r = init_stage1(
                    spec,
                    &process,
                    &rootfs,
                    &stdio_raw,
                    console_child.as_ref().map(|c| c.as_raw_fd()),
                    ns_unshare,
                    &ns_join,
                    go_r,
                    w,
                    &fifo_fd,
                );
                if let Err(e) = r {
                    process::fail(w, &e);
                }
                sys::exit_now(0)
            }
            ForkResult::Parent { child } => {
                drop(sync_w);
                drop(go_r);
                drop(fifo_fd);
                drop(stdio);
                drop(console_child);
                let r = self.create_parent(id, bundle, spec, &cgroup, child, go_w, sync_r);
                let _ = nix::sys::wait::waitpid(child, None);
                let pid = r.map_err(fail)?;
                let console = match console_parent {
                    Some(sock) => Some(process::receive_console(&sock).map_err(|e| {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                        fail(e)
                    })?),
                    None => None,
                };
                Ok(Created { pid, console })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_parent(
        &self,
        id: &str,
        bundle: &Path,
        spec: &Spec,
        cgroup: &Cgroup,
        child: Pid,
        go_w: OwnedFd,
        sync_r: OwnedFd,
    ) -> Result<i32> {
        cgroup.add_pid(child.as_raw())?;
        let mut go = fs::File::from(go_w);
        std::io::Write::write_all(&mut go, b"g").map_err(|e| Error::io("signal", "the init", e))?;
        let annotations: std::collections::BTreeMap<String, String> = spec
            .annotations()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        // state.json is written (and synced) as soon as the init's pid is known, while the init
        // sets up its root file system; a create that fails after removes it with the rest.
        // Before the init's pivot_root, the prestart and createRuntime hooks run, then the init
        // gets the state (its createContainer and startContainer hooks read it).
        let pid = sync::read_outcome_with(
            sync_r,
            &mut |pid| {
                let st = State {
                    oci_version: "1.0.2".into(),
                    id: id.into(),
                    status: "created".into(),
                    pid,
                    bundle: bundle.to_path_buf(),
                    created: now_rfc3339(),
                    annotations: annotations.clone(),
                    pid_start: state::start_time(pid).unwrap_or(0),
                    cgroup_path: cgroup.rel.display().to_string(),
                    cgroup_root: cgroup.mount_root.clone(),
                    hooks: spec.hooks().clone(),
                };
                state::save(&self.root, &st)
            },
            &mut |pid| {
                let state = hooks::state_json(id, "creating", pid, bundle, &annotations);
                hooks::run_all(hooks::prestart(spec.hooks()), &state)?;
                hooks::run_all(hooks::of(spec.hooks(), Hooks::create_runtime), &state)?;
                std::io::Write::write_all(&mut go, format!("{state}\n").as_bytes())
                    .map_err(|e| Error::io("answer", "the init", e))
            },
        )?;
        drop(go);
        Ok(pid)
    }

    /// Lets a created container's init exec its process.
    pub fn start(&self, id: &str) -> Result<()> {
        let st = self.state(id)?;
        if st.status != "created" {
            return Err(Error::State {
                id: id.into(),
                status: st.status,
                why: "only a created container can be started".into(),
            });
        }
        let fifo = state::dir(&self.root, id).join(state::EXEC_FIFO);
        let fd = rustix::fs::open(
            &fifo,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| Error::sys(format!("open {}", fifo.display()), process::errno(e)))?;
        let mut f = fs::File::from(fd);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut buf = [0u8; 1];
            match f.read(&mut buf) {
                Ok(1) => break,
                Ok(_) | Err(_) if !state::alive(st.pid, st.pid_start) => {
                    return Err(Error::Init("the container's init died before start".into()))
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(Error::io("read", &fifo, e)),
            }
            if Instant::now() > deadline {
                return Err(Error::Init(
                    "the container's init did not take the start".into(),
                ));
            }
            let pfd =
                nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&f), nix::poll::PollFlags::POLLIN);
            let _ = nix::poll::poll(&mut [pfd], nix::poll::PollTimeout::from(50u8));
        }
        // The fifo gone is what makes the container "running" (`state` derives the status from
        // the init and the fifo, never from state.json): nothing to rewrite, and no fsync.
        let _ = fs::remove_file(&fifo);
        let post = hooks::of(&st.hooks, Hooks::poststart);
        if !post.is_empty() {
            let state = hooks::state_json(id, "running", st.pid, &st.bundle, &st.annotations);
            if let Err(e) = hooks::run_all(post, &state) {
                // As runc: a container whose poststart hook failed is stopped.
                let _ = nix::sys::signal::kill(Pid::from_raw(st.pid), Signal::SIGKILL);
                if let Ok(cg) = self.cgroup_of_state(&st) {
                    let _ = cg.kill_all(Signal::SIGKILL);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// The container's state, its status refreshed from the processes and the cgroup.
    pub fn state(&self, id: &str) -> Result<State> {
        let mut st = state::load(&self.root, id)?;
        // Frozen before created: runc pauses a created container too (and it is created again
        // once resumed).
        st.status = if !state::alive(st.pid, st.pid_start) {
            "stopped".into()
        } else if self
            .cgroup_of_state(&st)
            .and_then(|c| c.is_frozen())
            .unwrap_or(false)
        {
            "paused".into()
        } else if state::dir(&self.root, id).join(state::EXEC_FIFO).exists() {
            "created".into()
        } else {
            "running".into()
        };
        Ok(st)
    }

    /// [`Runtime::kill`] with a signal number, as runc takes one: a realtime signal
    /// (`docker kill --signal SIGRTMIN+3` arrives as 37) or 0 too; a number that is no signal
    /// is the kernel's EINVAL.
    pub fn kill_signo(&self, id: &str, signo: i32, all: bool) -> Result<()> {
        if let Ok(sig) = Signal::try_from(signo) {
            return self.kill(id, sig, all);
        }
        let st = self.state(id)?;
        let pids = if all {
            self.cgroup_of_state(&st)?.pids()?
        } else if st.status == "stopped" {
            return Err(Error::State {
                id: id.into(),
                status: st.status,
                why: "container not running".into(),
            });
        } else {
            vec![st.pid]
        };
        let me = std::process::id() as i32;
        for pid in pids.into_iter().filter(|&p| p > 0 && p != me) {
            match sys::kill_raw(pid, signo) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) if all => {}
                Ok(()) => {}
                Err(e) => return Err(Error::sys(format!("kill {pid} with signal {signo}"), e)),
            }
        }
        Ok(())
    }

    /// Sends `sig` to the init, or with `all` to every process of the container. Killing a
    /// stopped container with `all` does nothing (idempotent, as runc).
    pub fn kill(&self, id: &str, sig: Signal, all: bool) -> Result<()> {
        let st = self.state(id)?;
        if all {
            let cg = self.cgroup_of_state(&st)?;
            return cg.kill_all(sig);
        }
        if st.status == "stopped" {
            return Err(Error::State {
                id: id.into(),
                status: st.status,
                why: "container not running".into(),
            });
        }
        nix::sys::signal::kill(Pid::from_raw(st.pid), sig)
            .map_err(|e| Error::sys(format!("kill {} with {sig}", st.pid), e))
    }

    /// Removes a stopped container (or any, with `force`, killing it): its cgroup and state. A
    /// container the runtime does not know is an error unless `force` (idempotent).
    pub fn delete(&self, id: &str, force: bool) -> Result<()> {
        let st = match self.state(id) {
            Ok(st) => st,
            Err(Error::NotFound(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let cg = self.cgroup_of_state(&st)?;
        if st.status != "stopped" {
            if !force {
                return Err(Error::State {
                    id: id.into(),
                    status: st.status,
                    why: "stop it first, or delete with force".into(),
                });
            }
            let _ = cg.thaw();
            let _ = nix::sys::signal::kill(Pid::from_raw(st.pid), Signal::SIGKILL);
            let _ = cg.kill_all(Signal::SIGKILL);
            state::wait_gone(st.pid, st.pid_start, Duration::from_secs(10));
        }
        cg.destroy()?;
        // The poststop hooks: the container is gone whether they succeed or not (a failure is
        // reported, and a second delete finds nothing).
        let post = hooks::run_all(
            hooks::of(&st.hooks, Hooks::poststop),
            &hooks::state_json(id, "stopped", 0, &st.bundle, &st.annotations),
        );
        let dir = state::dir(&self.root, id);
        fs::remove_dir_all(&dir).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(Error::io("remove", &dir, e)),
        })?;
        post
    }

    /// The pids (host view) of the container's processes.
    pub fn ps(&self, id: &str) -> Result<Vec<i32>> {
        let st = state::load(&self.root, id)?;
        self.cgroup_of_state(&st)?.pids()
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        let st = self.state(id)?;
        if st.status != "running" && st.status != "created" {
            return Err(Error::State {
                id: id.into(),
                status: st.status,
                why: "only a running or created container can be paused".into(),
            });
        }
        self.cgroup_of_state(&st)?.freeze()
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        let st = self.state(id)?;
        if st.status != "paused" {
            return Err(Error::State {
                id: id.into(),
                status: st.status,
                why: "the container is not paused".into(),
            });
        }
        self.cgroup_of_state(&st)?.thaw()
    }

    /// Applies new resource limits to a container's cgroup.
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<()> {
        let st = state::load(&self.root, id)?;
        self.cgroup_of_state(&st)?.apply(resources)
    }

    pub fn stats(&self, id: &str) -> Result<Stats> {
        let st = state::load(&self.root, id)?;
        self.cgroup_of_state(&st)?.stats()
    }

    /// The container's cgroup.
    pub fn cgroup(&self, id: &str) -> Result<Cgroup> {
        let st = state::load(&self.root, id)?;
        self.cgroup_of_state(&st)
    }

    /// Runs `process` in the running container `id`: its namespaces, cgroup, root and the
    /// profile of `process` (user, capabilities, no_new_privs, rlimits) with the container's
    /// seccomp filter. Returns the new process's host pid; the caller (a subreaper) waits for it.
    pub fn exec(&self, id: &str, process: &Process, stdio: Stdio) -> Result<Created> {
        let st = self.state(id)?;
        if st.status != "running" {
            return Err(Error::State {
                id: id.into(),
                status: st.status,
                why: "exec needs a running container".into(),
            });
        }
        let spec = load_spec(&st.bundle)?;
        let cg = self.cgroup_of_state(&st)?;
        // Open the namespaces that differ from ours, the mount namespace last (it changes our
        // root), the pid namespace applies to the child forked after it.
        let mut joins = Vec::new();
        for (name, flag) in [
            ("cgroup", CloneFlags::CLONE_NEWCGROUP),
            ("ipc", CloneFlags::CLONE_NEWIPC),
            ("uts", CloneFlags::CLONE_NEWUTS),
            ("net", CloneFlags::CLONE_NEWNET),
            ("pid", CloneFlags::CLONE_NEWPID),
            ("mnt", CloneFlags::CLONE_NEWNS),
        ] {
            let theirs = format!("/proc/{}/ns/{name}", st.pid);
            let ours = format!("/proc/self/ns/{name}");
            let same = match (fs::read_link(&theirs), fs::read_link(&ours)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            if !same {
                joins.push((process::open_path_ro(Path::new(&theirs))?, flag));
            }
        }
        if !state::alive(st.pid, st.pid_start) {
            return Err(Error::State {
                id: id.into(),
                status: "stopped".into(),
                why: "the container exited".into(),
            });
        }
        self.prepare_seccomp(&spec);
        let (sync_r, sync_w) = pipe()?;
        let stdio_raw = [0, 1, 2].map(|i| stdio.fds[i].as_ref().map(|f| f.as_raw_fd()));
        let preserve = stdio.preserve_fds;
        let procs = cg.join_paths();
        let (console_parent, console_child) = if stdio.terminal {
            let (a, b) = process::console_socket()?;
            (Some(a), Some(b))
        } else {
            (None, None)
        };
        // As in create: single-threaded caller, the child ends in exec or _exit.
        match sys::fork().map_err(|e| Error::sys("fork", e))? {
            ForkResult::Child => {
                drop(sync_r);
                drop(console_parent);
                process::preserve_fds(preserve);
                let w = sync_w.as_fd();
                let console = console_child.as_ref().map(|c| c.as_raw_fd());
                if let Err(e) = exec_stage1(&spec, process, &stdio_raw, console, &joins, &procs, w)
                {
                    process::fail(w, &e);
                }
                sys::exit_now(0)
            }
            ForkResult::Parent { child } => {
                drop(sync_w);
                drop(stdio);
                drop(joins);
                drop(console_child);
                let r = sync::read_outcome(sync_r);
                let _ = nix::sys::wait::waitpid(child, None);
                let pid = r?;
                let console = match console_parent {
                    Some(sock) => Some(process::receive_console(&sock).inspect_err(|_| {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                    })?),
                    None => None,
                };
                Ok(Created { pid, console })
            }
        }
    }
}

/// The spec's device rules followed by the ones runc always allows (specconv.AllowedDevices):
/// mknod of any device, the standard nodes, ptys and tun. A spec that denies everything first
/// (Docker's) still gets a working /dev, as under runc.
fn with_allowed_devices(res: &LinuxResources) -> LinuxResources {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let Some(rules) = res.devices().clone() else {
        return res.clone();
    };
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(typ));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.to_string()));
        r
    };
    let (c, b) = (LinuxDeviceType::C, LinuxDeviceType::B);
    let mut all = rules;
    all.extend([
        rule(c, None, None, "m"),
        rule(b, None, None, "m"),
        rule(c, Some(1), Some(3), "rwm"),
        rule(c, Some(1), Some(8), "rwm"),
        rule(c, Some(1), Some(7), "rwm"),
        rule(c, Some(5), Some(0), "rwm"),
        rule(c, Some(1), Some(5), "rwm"),
        rule(c, Some(1), Some(9), "rwm"),
        rule(c, Some(136), None, "rwm"),
        rule(c, Some(5), Some(2), "rwm"),
        rule(c, Some(10), Some(200), "rwm"),
    ]);
    let mut out = res.clone();
    out.set_devices(Some(all));
    out
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe", e))
}
