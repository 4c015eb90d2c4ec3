//! After pivot_root: sysctls, masked and read-only paths.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use rustix::fs::FileType;

use super::fsops::{
    clean_components, display, existing_flags, fd_path, mount, open_in_root, remount, sys,
};
use super::mounts::reopen;
use crate::error::{Error, Result};

/// After pivot_root /proc is the container's: use /proc/self/fd/N when it is there, else the
/// path (which can only name something in the container now).
pub(super) fn target_path(fd: BorrowedFd<'_>, path: &Path) -> PathBuf {
    if Path::new("/proc/self/fd").is_dir() {
        fd_path(fd)
    } else {
        path.to_path_buf()
    }
}

/// The sysctls of the IPC namespace (besides `fs.mqueue.*`), as runc and Docker's CLI list them.
pub const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// runc's check (`validateSysctl`): a sysctl must belong to a namespace the container has of
/// its own (IPC, network, UTS's domain name), or it would change the host's.
pub(super) fn check_sysctl_namespace(spec: &Spec, key: &str) -> Result<()> {
    use oci_spec::runtime::LinuxNamespaceType as T;
    let has = |t: T| {
        spec.linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|n| n.iter().any(|n| n.typ() == t))
    };
    if IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        return match has(T::Ipc) {
            true => Ok(()),
            false => Err(Error::Spec(format!(
                "sysctl {key:?} is not allowed in the hosts ipc namespace"
            ))),
        };
    }
    if key.starts_with("net.") {
        return match has(T::Network) {
            true => Ok(()),
            false => Err(Error::Spec(format!(
                "sysctl {key:?} not allowed in host network namespace"
            ))),
        };
    }
    match key {
        "kernel.domainname" if has(T::Uts) => Ok(()),
        "kernel.hostname" if has(T::Uts) => Err(Error::Spec(format!(
            "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
        ))),
        _ => Err(Error::Spec(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        ))),
    }
}

pub(super) fn set_sysctls(spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let mut keys: Vec<_> = sysctl.keys().collect();
    keys.sort();
    for key in &keys {
        check_sysctl_namespace(spec, key)?;
    }
    for key in keys {
        let rel = key.replace('.', "/");
        if rel.is_empty() || rel.split('/').any(|p| p.is_empty() || p == "..") {
            return Err(Error::Spec(format!("sysctl {key:?} is not a valid name")));
        }
        let path = Path::new("/proc/sys").join(rel);
        std::fs::write(&path, sysctl[key].as_bytes())
            .map_err(|e| Error::io("set sysctl", path, e))?;
    }
    Ok(())
}

pub(super) fn mask_path(root: BorrowedFd<'_>, path: &str) -> Result<()> {
    let components = clean_components(Path::new(path));
    let dest = display(&components);
    let fd = match open_in_root(root, &components) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(sys(format!("resolve masked path {}", dest.display()), e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| sys(format!("stat {}", dest.display()), e))?;
    let target = target_path(fd.as_fd(), &dest);
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        mount(
            Some(Path::new("tmpfs")),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
            || format!("mask {} with an empty tmpfs", dest.display()),
        )
    } else {
        mount(
            Some(Path::new("/dev/null")),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
            || format!("mask {} with /dev/null", dest.display()),
        )
    }
}

pub(super) fn readonly_path(root: BorrowedFd<'_>, path: &str) -> Result<()> {
    let components = clean_components(Path::new(path));
    let dest = display(&components);
    let fd = match open_in_root(root, &components) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(sys(format!("resolve read-only path {}", dest.display()), e)),
    };
    let target = target_path(fd.as_fd(), &dest);
    mount(
        Some(&target),
        &target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        || format!("bind-mount {} on itself", dest.display()),
    )?;
    let mounted = reopen(root, &components)?;
    let keep = existing_flags(mounted.as_fd())
        & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    remount_path(mounted.as_fd(), &dest, keep | MsFlags::MS_RDONLY)
}

/// [`remount`] by descriptor, or by path when there is no /proc in the container.
pub(super) fn remount_path(fd: BorrowedFd<'_>, dest: &Path, flags: MsFlags) -> Result<()> {
    if Path::new("/proc/self/fd").is_dir() {
        return remount(fd, flags, dest);
    }
    let flags = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match nix::mount::mount(None::<&str>, dest, None::<&str>, flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => mount(None, dest, None, flags | existing_flags(fd), None, || {
            format!("remount {} ({flags:?})", dest.display())
        }),
        Err(e) => Err(Error::sys(
            format!("remount {} ({flags:?})", dest.display()),
            e,
        )),
    }
}
