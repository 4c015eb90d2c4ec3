//! What the container's processes do between fork and exec: the init's setup (namespaces,
//! rootfs, hostname, rlimits, user, capabilities, seccomp, the wait for `start`), and the same
//! profile for a process exec'd into a running container. Everything here runs in a freshly
//! forked single-threaded child; failures are reported to the parent over the sync pipe.

use std::ffi::CString;
use std::fs;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::sys::resource::{setrlimit, Resource};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, Result};
use crate::sync::{self, SyncMsg};

/// Reports `e` and exits: the end of every failed child.
pub(crate) fn fail(fd: BorrowedFd<'_>, e: &Error) -> ! {
    report(fd, e);
    crate::sys::exit_now(1)
}

/// Sends `e` over the sync pipe with its kind, which decides the runtime's exit code.
pub(crate) fn report(fd: BorrowedFd<'_>, e: &Error) {
    sync::send(fd, &SyncMsg::Error(e.into()));
}

/// Puts the standard streams in place: each given fd is dup'ed onto 0, 1, 2.
pub(crate) fn install_stdio(stdio: &[Option<RawFd>; 3]) -> Result<()> {
    for (target, fd) in stdio.iter().enumerate() {
        if let Some(fd) = fd {
            if *fd != target as RawFd {
                nix::unistd::dup2(*fd, target as RawFd)
                    .map_err(|e| Error::sys(format!("dup2 onto fd {target}"), e))?;
            }
        }
    }
    Ok(())
}

/// The socket pair a process's pty master travels back on (runc's console socket).
pub(crate) fn console_socket() -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("make the console socket", e))
}

/// In the container (after its mounts): makes a pty in the container's devpts, takes the slave
/// as stdio and controlling terminal of the (new) session, sized as the process's consoleSize,
/// sends the master over `sock`.
/// Returns the slave's path as the container sees it (for /dev/console).
pub(crate) fn make_console(sock: RawFd, process: &Process) -> Result<PathBuf> {
    use nix::fcntl::OFlag;
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("open /dev/ptmx", e))?;
    nix::pty::grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    nix::pty::unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let name = nix::pty::ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("open {name}"), e))?;
    // The spec's consoleSize (containerd puts the client's terminal size there), as runc.
    if let Some(size) = process.console_size() {
        if size.height() > 0 && size.width() > 0 {
            let ws = rustix::termios::Winsize {
                ws_row: size.height().min(u16::MAX.into()) as u16,
                ws_col: size.width().min(u16::MAX.into()) as u16,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            rustix::termios::tcsetwinsize(&master, ws)
                .map_err(|e| Error::sys("set the console size", errno(e)))?;
        }
    }
    for target in 0..3 {
        nix::unistd::dup2(slave, target).map_err(|e| Error::sys("dup2 the pty", e))?;
    }
    if slave > 2 {
        let _ = nix::unistd::close(slave);
    }
    // Fd 0 is the pty slave.
    rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())
        .map_err(|e| Error::sys("make the pty the controlling terminal", errno(e)))?;
    let fds = [std::os::fd::AsRawFd::as_raw_fd(&master)];
    sendmsg::<UnixAddr>(
        sock,
        &[std::io::IoSlice::new(b"c")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| Error::sys("send the pty master", e))?;
    Ok(PathBuf::from(name))
}

/// Receives the pty master that `make_console` sent.
pub(crate) fn receive_console(sock: &OwnedFd) -> Result<OwnedFd> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::mem::MaybeUninit;
    let mut buf = [0u8; 1];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    rustix::net::recvmsg(sock, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC)
        .map_err(|e| Error::sys("receive the pty master", errno(e)))?;
    for c in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = c {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(Error::Init("the container sent no pty master".into()))
}

/// nix's errno for rustix's (the same number).
pub(crate) fn errno(e: rustix::io::Errno) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error())
}

/// Sets the process's rlimits from the spec. A limit above the current hard limit can only be
/// set by a privileged process and only where the hard limit may be raised; it fails with an
/// error that names it rather than being silently lowered.
pub(crate) fn set_rlimits(process: &Process) -> Result<()> {
    for r in process.rlimits().iter().flatten() {
        let name = r.typ().to_string();
        let res = resource(&name).ok_or_else(|| Error::Spec(format!("unknown rlimit {name}")))?;
        setrlimit(res, r.soft(), r.hard())
            .map_err(|e| Error::sys(format!("setrlimit {name} to {}:{}", r.soft(), r.hard()), e))?;
    }
    Ok(())
}

fn resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        _ => return None,
    })
}

/// How many descriptors beyond stdio (3…2+N) the process keeps (runc's `--preserve-fds`). Set
/// in the forked child only, before its setup runs.
static PRESERVED_FDS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// In the child after fork: the process keeps descriptors 3…2+`n` open across exec.
pub(crate) fn preserve_fds(n: u32) {
    PRESERVED_FDS.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// Marks every descriptor from 3 up close-on-exec, so that nothing of the host's (a directory
/// outside the root, CVE-2024-21626) reaches the container's process, but those the caller asked
/// to pass (`preserve_fds`), which lose their close-on-exec flag.
pub(crate) fn cloexec_from_3() {
    let keep = PRESERVED_FDS.load(std::sync::atomic::Ordering::Relaxed);
    let first = 3u32.saturating_add(keep);
    for fd in 3..first {
        let _ = nix::fcntl::fcntl(
            fd as RawFd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        );
    }
    if crate::sys::cloexec_range_from(first).is_ok() {
        return;
    }
    if let Ok(dir) = fs::read_dir("/proc/self/fd") {
        let fds: Vec<RawFd> = dir
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .filter(|fd| *fd >= first as RawFd)
            .collect();
        for fd in fds {
            // Setting FD_CLOEXEC on a descriptor we may or may not still own is harmless.
            let _ = nix::fcntl::fcntl(
                fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
            );
        }
    }
}

/// Looks `arg0` up as execve will: a path, or a name in the process's PATH. Run after
/// pivot_root, so it sees the container's files.
pub(crate) fn find_executable(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.is_empty() {
        return Err(Error::ExecNotFound(String::new()));
    }
    // As Go's exec.LookPath, which runc uses: a path names a file that must be a non-directory
    // with an execute bit (else "permission denied", 126); a bare name is looked for in PATH,
    // where a directory or a file without an execute bit does not count (127).
    let executable = |p: &Path| -> Option<bool> {
        fs::metadata(p)
            .ok()
            .map(|m| !m.is_dir() && m.permissions().mode() & 0o111 != 0)
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match executable(&p) {
            Some(true) => Ok(p),
            Some(false) => Err(Error::ExecNotExecutable {
                path: arg0.to_string(),
                why: "permission denied".into(),
            }),
            None => Err(Error::ExecNotFound(arg0.to_string())),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(arg0);
        if executable(&p) == Some(true) {
            return Ok(p);
        }
    }
    Err(Error::ExecNotFound(arg0.to_string()))
}

/// The working directory entered (the init's was made by [`create_cwd`] if missing).
pub(crate) fn enter_cwd(cwd: &Path) -> Result<()> {
    if !cwd.is_absolute() {
        return Err(Error::Spec(format!(
            "cwd {} is not absolute",
            cwd.display()
        )));
    }
    nix::unistd::chdir(cwd).map_err(|e| {
        Error::sys(
            format!(
                "chdir to cwd ({:?}) set in config.json failed",
                cwd.display().to_string()
            ),
            e,
        )
    })
}

/// The init's working directory is made when the root file system lacks it (before the root
/// is made read-only), as runc does; an exec'd process's must exist (runc's chdir fails, and
/// an exec does not change the container's files).
pub(crate) fn create_cwd(cwd: &Path) -> Result<()> {
    if cwd.is_absolute() && !cwd.is_dir() {
        fs::create_dir_all(cwd).map_err(|e| Error::io("create the working directory", cwd, e))?;
    }
    Ok(())
}

/// The home directory of `uid` in the container's /etc/passwd, or `/` when it has none there
/// (runc's default). The image decides what /etc/passwd is: only a regular file is read (a
/// FIFO would block the open, /dev/zero never end), and at most 1 MiB of it.
fn home_of(uid: u32) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/etc/passwd")
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
        .and_then(|f| {
            let mut text = String::new();
            f.take(1 << 20).read_to_string(&mut text).ok().map(|_| text)
        })
        .and_then(|text| {
            text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
            })
        })
        .unwrap_or_else(|| "/".into())
}

/// Drops to the process's user and capability sets, as runc's finalizeNamespace: bounding set
/// first, keep capabilities across the uid change, then set the rest.
pub(crate) fn set_user_and_caps(process: &Process) -> Result<()> {
    use caps::CapSet;
    let caps_of = |set: &Option<oci_spec::runtime::Capabilities>| -> Result<caps::CapsHashSet> {
        let mut out = caps::CapsHashSet::new();
        for c in set.iter().flatten() {
            let name = serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            match name.parse::<caps::Capability>() {
                Ok(cap) => {
                    out.insert(cap);
                }
                // A capability this kernel or crate does not know: skipped, as runc warns.
                Err(_) => continue,
            }
        }
        Ok(out)
    };
    let pc = process.capabilities().clone().unwrap_or_default();
    let bounding = caps_of(pc.bounding())?;
    let effective = caps_of(pc.effective())?;
    let permitted = caps_of(pc.permitted())?;
    let inheritable = caps_of(pc.inheritable())?;
    let ambient = caps_of(pc.ambient())?;
    let cap_err =
        |what: &'static str, source: caps::errors::CapsError| Error::Caps { what, source };

    for cap in caps::all() {
        if !bounding.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(|e| cap_err("drop a bounding capability", e))?;
        }
    }
    let _ = nix::sys::prctl::set_keepcaps(true);
    let user = process.user();
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&gids).map_err(|e| Error::sys("setgroups", e))?;
    let gid = Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| Error::sys(format!("setgid {gid}"), e))?;
    let uid = Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| Error::sys(format!("setuid {uid}"), e))?;
    let _ = nix::sys::prctl::set_keepcaps(false);
    if let Some(umask) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
            umask as libc::mode_t,
        ));
    }
    // Effective first: at every step effective must stay within permitted.
    let now_permitted = caps::read(None, CapSet::Permitted).unwrap_or_default();
    let first: caps::CapsHashSet = effective.intersection(&now_permitted).copied().collect();
    caps::set(None, CapSet::Effective, &first)
        .map_err(|e| cap_err("set effective capabilities", e))?;
    caps::set(None, CapSet::Inheritable, &inheritable)
        .map_err(|e| cap_err("set inheritable capabilities", e))?;
    caps::set(None, CapSet::Permitted, &permitted)
        .map_err(|e| cap_err("set permitted capabilities", e))?;
    caps::set(None, CapSet::Effective, &effective)
        .map_err(|e| cap_err("set effective capabilities", e))?;
    caps::clear(None, CapSet::Ambient).ok();
    for cap in ambient {
        // Only a capability both permitted and inheritable can be ambient; runc skips the
        // others (its warning goes to its log, not to the container's stderr, where ours
        // would land: so nothing is said).
        let _ = caps::raise(None, CapSet::Ambient, cap);
    }
    Ok(())
}

pub(crate) fn set_no_new_privs() -> Result<()> {
    nix::sys::prctl::set_no_new_privs().map_err(|e| Error::sys("set no_new_privs", e))
}

/// Makes this process undumpable, so that processes in the container cannot open its
/// /proc/PID/exe or memory while it joins them (CVE-2019-5736); execve makes it dumpable again.
pub(crate) fn set_undumpable() {
    let _ = nix::sys::prctl::set_dumpable(false);
}

pub(crate) fn cstrings(v: &[String]) -> Result<Vec<CString>> {
    v.iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| Error::Spec(format!("{s:?} contains a NUL byte")))
        })
        .collect()
}

/// runc's HOME: when the process's env has none, the user's home in the container's
/// /etc/passwd, or `/` (containerd's processes rely on it; berth's bundles set their own).
fn with_home(mut env: Vec<String>, uid: u32) -> Vec<String> {
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(uid)));
    }
    env
}

/// The profile shared by the init and exec'd processes, from the point where the process is in
/// the container's namespaces and root: cwd, rlimits, no_new_privs, seccomp, user and
/// capabilities, then (after `wait`) exec. `wait` is the init's wait for `start`.
pub(crate) fn finish_and_exec(
    spec: &Spec,
    process: &Process,
    sync: BorrowedFd<'_>,
    wait: impl FnOnce() -> Result<()>,
) -> Result<std::convert::Infallible> {
    set_rlimits(process)?;
    if let Some(adj) = process.oom_score_adj() {
        // As runc: a score the kernel refuses (below the current one without
        // CAP_SYS_RESOURCE) fails the start rather than leaving the process another score.
        fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            Error::io(
                "write the OOM score adjustment to",
                "/proc/self/oom_score_adj",
                e,
            )
        })?;
    }
    enter_cwd(process.cwd())?;
    let args = process.args().clone().unwrap_or_default();
    let env = with_home(
        process.env().clone().unwrap_or_default(),
        process.user().uid(),
    );
    let arg0 = args.first().cloned().unwrap_or_default();
    let exe = find_executable(&arg0, &env)?;
    let nnp = process.no_new_privileges().unwrap_or(false);
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    if nnp {
        set_no_new_privs()?;
    }
    // Without no_new_privs only a privileged process may load a filter: load it before the
    // capabilities go (the default profile allows what follows: setuid, capset, open, execve).
    if !nnp {
        if let Some(s) = &seccomp {
            crate::seccomp::apply(s)?;
        }
    }
    set_user_and_caps(process)?;
    cloexec_from_3();
    sync::send(sync, &SyncMsg::Ready);
    wait()?;
    if nnp {
        if let Some(s) = &seccomp {
            crate::seccomp::apply(s)?;
        }
    }
    let path =
        CString::new(exe.as_os_str().as_bytes()).map_err(|_| Error::Spec("NUL in path".into()))?;
    let argv = cstrings(&args)?;
    let envp = cstrings(&env)?;
    default_signals();
    let e = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    Err(match e {
        nix::errno::Errno::ENOENT => Error::ExecNotFound(arg0),
        nix::errno::Errno::EACCES | nix::errno::Errno::ENOEXEC => Error::ExecNotExecutable {
            path: arg0,
            why: e.desc().to_lowercase(),
        },
        e => Error::sys(format!("exec {arg0}"), e),
    })
}

/// Opens `path` (O_PATH) so that it can be reopened after pivot_root through /proc/self/fd.
/// What a process started by Docker has: no signal ignored, none blocked. A Rust parent ignores
/// SIGPIPE (and ignored signals survive execve), so without this `ctr-exec c cat big | head`
/// ends with "write error: Broken pipe" and exit 1 instead of dying of SIGPIPE (141).
pub(crate) fn default_signals() {
    use nix::sys::signal::{SigSet, SigmaskHow};
    crate::sys::default_all_signal_dispositions();
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

pub(crate) fn open_path(path: &Path) -> Result<OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::sys(format!("open {}", path.display()), errno(e)))
}

/// Opens `path` read-only (a namespace file to setns into).
pub(crate) fn open_path_ro(path: &Path) -> Result<OwnedFd> {
    fs::File::open(path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io("open", path, e))
}
