//! What the runtime's forked children run: the first child of `create` (namespaces, then the
//! fork of the init), the init itself (root file system, hostname, the process's profile, the
//! wait for `start`, exec) and the first child of `exec`. Each reports to the runtime over the
//! sync pipe (`sync`) and ends in exec or `_exit`.

use std::fs;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::unistd::ForkResult;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::error::{Error, Result};
use crate::sync::{self, SyncMsg};
use crate::{process, rootfs, sys};

/// The namespaces to create (flags) and to join (type, path), from the spec.
pub(crate) fn namespaces(spec: &Spec) -> Result<(CloneFlags, Vec<(PathBuf, CloneFlags)>)> {
    let mut unshare = CloneFlags::empty();
    let mut join = Vec::new();
    for ns in spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
    {
        let flag = match ns.typ() {
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::User => {
                return Err(Error::Spec("user namespaces are not supported yet".into()))
            }
            LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
        };
        match ns.path() {
            Some(p) if !p.as_os_str().is_empty() => join.push((p.clone(), flag)),
            _ => unshare |= flag,
        }
    }
    if !unshare.contains(CloneFlags::CLONE_NEWNS) {
        return Err(Error::Spec("a mount namespace is required".into()));
    }
    // As runc: the names would be set in the host's UTS namespace (a joined one is the
    // container's own, as a pod's).
    let uts = unshare.contains(CloneFlags::CLONE_NEWUTS)
        || join.iter().any(|(_, f)| *f == CloneFlags::CLONE_NEWUTS);
    if !uts {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        if set(spec.hostname()) {
            return Err(Error::Spec(
                "unable to set hostname without a private UTS namespace".into(),
            ));
        }
        if set(spec.domainname()) {
            return Err(Error::Spec(
                "unable to set domainname without a private UTS namespace".into(),
            ));
        }
    }
    Ok((unshare, join))
}

/// The first child of create: joins the namespaces the spec names, makes the new ones, forks
/// the init (pid 1 of a new pid namespace) and reports its pid.
#[allow(clippy::too_many_arguments)]
pub(crate) fn init_stage1(
    spec: &Spec,
    process: &Process,
    rootfs: &Path,
    stdio: &[Option<RawFd>; 3],
    console: Option<RawFd>,
    unshare: CloneFlags,
    join: &[(PathBuf, CloneFlags)],
    go_r: OwnedFd,
    sync: BorrowedFd<'_>,
    fifo: &OwnedFd,
) -> Result<()> {
    process::set_undumpable();
    // Wait until the runtime has put us in the cgroup (a new cgroup namespace is rooted there).
    let mut b = [0u8; 1];
    let _ = fs::File::from(go_r).read(&mut b);
    process::install_stdio(stdio)?;
    for (path, flag) in join {
        let fd = process::open_path_ro(path)?;
        nix::sched::setns(&fd, *flag)
            .map_err(|e| Error::sys(format!("join namespace {}", path.display()), e))?;
    }
    nix::sched::unshare(unshare).map_err(|e| Error::sys("unshare namespaces", e))?;
    // Still single-threaded; the grandchild ends in exec or _exit.
    fork_reporting_pid(sync, "fork the init", || {
        init_stage2(spec, process, rootfs, console, sync, fifo)
    })
}

/// Forks; the parent reports the child's pid over `sync`, the child runs `child`, which ends in
/// exec, and reports its error before `_exit(1)` when it does not.
fn fork_reporting_pid(
    sync: BorrowedFd<'_>,
    what: &str,
    child: impl FnOnce() -> Result<()>,
) -> Result<()> {
    match sys::fork().map_err(|e| Error::sys(what, e))? {
        ForkResult::Parent { child } => {
            sync::send(
                sync,
                &SyncMsg::Pid {
                    pid: child.as_raw(),
                },
            );
            Ok(())
        }
        ForkResult::Child => {
            if let Err(e) = child() {
                process::fail(sync, &e);
            }
            sys::exit_now(1)
        }
    }
}

/// The container's init: file system, hostname, then the common profile, the wait for start,
/// exec.
pub(crate) fn init_stage2(
    spec: &Spec,
    process: &Process,
    rootfs: &Path,
    console: Option<RawFd>,
    sync: BorrowedFd<'_>,
    fifo: &OwnedFd,
) -> Result<()> {
    let _ = nix::unistd::setsid();
    if new_net_namespace(spec) {
        loopback_up()?;
    }
    rootfs::prepare(spec, rootfs)?;
    if let Some(sock) = console {
        let slave = process::make_console(sock)?;
        let _ = rootfs::bind_console(&slave);
    }
    if let Some(h) = spec.hostname() {
        if !h.is_empty() {
            nix::unistd::sethostname(h).map_err(|e| Error::sys(format!("sethostname {h}"), e))?;
        }
    }
    if let Some(d) = spec.domainname() {
        if !d.is_empty() {
            sys::setdomainname(d).map_err(|e| Error::sys(format!("setdomainname {d}"), e))?;
        }
    }
    rootfs::finish(spec)?;
    let fifo_path = format!("/proc/self/fd/{}", fifo.as_raw_fd());
    let wait = || -> Result<()> {
        // Changing uid made us undumpable, which makes /proc/self/fd root's: become dumpable
        // again to reopen the fifo (nothing else runs in the container yet).
        let _ = nix::sys::prctl::set_dumpable(true);
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&fifo_path)
            .map_err(|e| Error::io("open", "the exec fifo", e))?;
        std::io::Write::write_all(&mut &f, b"0").map_err(|e| Error::io("write", "the exec fifo", e))
    };
    match process::finish_and_exec(spec, process, sync, true, wait) {
        Ok(never) => match never {},
        Err(e) => {
            // After Ready the runtime no longer listens: say it on stderr, as runc's init.
            eprintln!("berth-runtime: {e}");
            let code = match e {
                Error::ExecNotFound(_) => 127,
                Error::ExecNotExecutable { .. } => 126,
                _ => 1,
            };
            process::report(sync, &e);
            sys::exit_now(code)
        }
    }
}

/// Whether the spec makes a new network namespace (rather than joining one).
fn new_net_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|nss| {
            nss.iter().any(|ns| {
                ns.typ() == LinuxNamespaceType::Network
                    && ns.path().as_ref().is_none_or(|p| p.as_os_str().is_empty())
            })
        })
}

/// Brings `lo` up in a new network namespace, as Docker's `none` network has it (runc leaves
/// that to the caller; berth has no network manager for `none`).
fn loopback_up() -> Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socket for lo", e))?;
    sys::loopback_up(sock.as_fd()).map_err(|(set, e)| match set {
        false => Error::sys("get the flags of lo", e),
        true => Error::sys("bring lo up", e),
    })
}

/// The first child of exec: joins the cgroup and namespaces, forks the process into the pid
/// namespace and reports its pid.
pub(crate) fn exec_stage1(
    spec: &Spec,
    process: &Process,
    stdio: &[Option<RawFd>; 3],
    console: Option<RawFd>,
    joins: &[(OwnedFd, CloneFlags)],
    procs: &[PathBuf],
    sync: BorrowedFd<'_>,
) -> Result<()> {
    process::set_undumpable();
    let me = std::process::id().to_string();
    for p in procs {
        fs::write(p, &me).map_err(|e| Error::io("join the cgroup", p, e))?;
    }
    process::install_stdio(stdio)?;
    for (fd, flag) in joins {
        nix::sched::setns(fd, *flag)
            .map_err(|e| Error::sys(format!("join the container's {flag:?}"), e))?;
    }
    // Single-threaded; the grandchild ends in exec or _exit.
    fork_reporting_pid(sync, "fork", || {
        let _ = nix::unistd::setsid();
        if let Some(sock) = console {
            process::make_console(sock)?;
        }
        match process::finish_and_exec(spec, process, sync, false, || Ok(()))? {}
    })
}
