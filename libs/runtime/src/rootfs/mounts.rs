//! The spec's mounts, each onto its destination resolved inside the rootfs; cgroup mounts.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use super::fsops::{
    clean_components, display, fd_path, mount, mountinfo, open_in_root, remount, resolve_or_create,
    same_file, sys, MountInfo,
};
use super::options::{parse_mount_options, MountOptions};
use crate::error::{Error, Result};

pub(super) fn mount_entry(root: BorrowedFd<'_>, m: &Mount) -> Result<()> {
    let components = clean_components(m.destination());
    let dest = display(&components);
    let opts = parse_mount_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let bind = typ == "bind" || opts.flags.contains(MsFlags::MS_BIND);
    let source = m.source().as_deref();

    // A bind of a file needs a file to mount on.
    let mut file = false;
    if bind {
        let Some(src) = source else {
            return Err(Error::Spec(format!(
                "bind mount on {}: no source",
                dest.display()
            )));
        };
        let meta =
            std::fs::metadata(src).map_err(|e| Error::io("stat bind mount source", src, e))?;
        file = !meta.is_dir();
    }
    let target = resolve_or_create(root, &components, file)?;
    if !components.is_empty() && same_file(target.as_fd(), root)? {
        return Err(Error::Spec(format!(
            "mount destination {} resolves to the container's root (a symlink in the image?)",
            dest.display()
        )));
    }
    let target_path = fd_path(target.as_fd());

    if bind {
        let src = source.expect("checked above");
        let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        mount(Some(src), &target_path, None, flags, None, || {
            format!("bind-mount {} on {}", src.display(), dest.display())
        })?;
        let mounted = reopen(root, &components)?;
        let rest = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !rest.is_empty() {
            remount(mounted.as_fd(), rest, &dest)?;
        }
        return propagate(mounted.as_fd(), &opts.propagation, &dest);
    }

    match typ {
        "cgroup" | "cgroup2" => mount_cgroup(root, &components, &target, typ, &opts)?,
        "" => {
            return Err(Error::Spec(format!("mount on {}: no type", dest.display())));
        }
        _ => {
            let src = source.unwrap_or(Path::new(typ));
            let flags = opts.flags - MsFlags::MS_REMOUNT;
            let r = nix::mount::mount(
                Some(src),
                &target_path,
                Some(typ),
                flags,
                Some(opts.data.as_str()).filter(|d| !d.is_empty()),
            );
            match r {
                Ok(()) => {}
                // No sysfs of our own without a network namespace we own: bind the host's,
                // read-only (runc does the same).
                Err(Errno::EPERM) if typ == "sysfs" => {
                    mount(
                        Some(Path::new("/sys")),
                        &target_path,
                        None,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None,
                        || format!("bind-mount /sys on {}", dest.display()),
                    )?;
                    let mounted = reopen(root, &components)?;
                    remount(mounted.as_fd(), flags, &dest)?;
                }
                Err(e) => return Err(Error::sys(format!("mount {typ} on {}", dest.display()), e)),
            }
        }
    }
    let mounted = reopen(root, &components)?;
    propagate(mounted.as_fd(), &opts.propagation, &dest)
}

/// The descriptor of what is now mounted at `components` (a descriptor opened before the mount
/// still holds the covered directory).
pub(super) fn reopen(root: BorrowedFd<'_>, components: &[OsString]) -> Result<OwnedFd> {
    open_in_root(root, components).map_err(|e| {
        sys(
            format!("reopen {} after mounting", display(components).display()),
            e,
        )
    })
}

pub(super) fn propagate(fd: BorrowedFd<'_>, propagation: &[MsFlags], dest: &Path) -> Result<()> {
    for &p in propagation {
        mount(None, &fd_path(fd), None, p, None, || {
            format!("set propagation {:?} on {}", p, dest.display())
        })?;
    }
    Ok(())
}

/// `cgroup` at /sys/fs/cgroup: on a cgroup v2 host a cgroup2 mount; on a v1 host a tmpfs with a
/// read-only bind of the process's own cgroup directory of each hierarchy (as runc).
pub(super) fn mount_cgroup(
    root: BorrowedFd<'_>,
    components: &[OsString],
    target: &OwnedFd,
    typ: &str,
    opts: &MountOptions,
) -> Result<()> {
    let dest = display(components);
    let target_path = fd_path(target.as_fd());
    let mounts = mountinfo()?;
    let v2 = typ == "cgroup2"
        || mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == Path::new("/sys/fs/cgroup"))
            .is_some_and(|m| m.fstype == "cgroup2");
    let flags = opts.flags - MsFlags::MS_REMOUNT;
    if v2 {
        match nix::mount::mount(
            Some("cgroup2"),
            &target_path,
            Some("cgroup2"),
            flags,
            Some(opts.data.as_str()).filter(|d| !d.is_empty()),
        ) {
            Ok(()) => return Ok(()),
            // Not allowed (no cgroup namespace of our own): bind the host's hierarchy.
            Err(Errno::EPERM) | Err(Errno::EBUSY) => {
                mount(
                    Some(Path::new("/sys/fs/cgroup")),
                    &target_path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                    || format!("bind-mount /sys/fs/cgroup on {}", dest.display()),
                )?;
                let mounted = reopen(root, components)?;
                return remount(mounted.as_fd(), flags, &dest);
            }
            Err(e) => {
                return Err(Error::sys(
                    format!("mount cgroup2 on {}", dest.display()),
                    e,
                ))
            }
        }
    }

    // cgroup v1: a tmpfs holding one directory per hierarchy.
    let tmpfs_flags = flags - MsFlags::MS_RDONLY;
    mount(
        Some(Path::new("tmpfs")),
        &target_path,
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
        || format!("mount tmpfs on {}", dest.display()),
    )?;
    let path = "/proc/self/cgroup";
    let own = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    // The hierarchies in the order of the host's mounts, as runc binds them.
    let mut lines: Vec<&str> = own.lines().collect();
    lines.sort_by_key(|line| {
        let controllers = line.split(':').nth(1).unwrap_or("");
        let wanted: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        mounts
            .iter()
            .position(|m| {
                !wanted.is_empty()
                    && m.fstype == "cgroup"
                    && m.mount_point.starts_with("/sys/fs/cgroup")
                    && {
                        let have: Vec<&str> = m.super_options.split(',').collect();
                        wanted.iter().all(|w| have.contains(w))
                    }
            })
            .unwrap_or(usize::MAX)
    });
    for line in lines {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(cgroup)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let wanted: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        let is_it = |m: &&MountInfo| {
            if wanted.is_empty() {
                m.fstype == "cgroup2"
            } else {
                m.fstype == "cgroup" && {
                    let have: Vec<&str> = m.super_options.split(',').collect();
                    wanted.iter().all(|w| have.contains(w))
                }
            }
        };
        // The host's own mount under /sys/fs/cgroup first, any other mount of it otherwise.
        let hierarchy = mounts
            .iter()
            .filter(is_it)
            .find(|m| m.mount_point.starts_with("/sys/fs/cgroup"))
            .or_else(|| mounts.iter().find(is_it));
        // The empty v2 hierarchy of a hybrid host is left out, as runc leaves it.
        if wanted.is_empty() {
            continue;
        }
        let Some(h) = hierarchy else { continue };
        let Some(sub) = h.mount_point.file_name().map(OsStr::to_os_string) else {
            continue;
        };
        let mut sub_components = components.to_vec();
        sub_components.push(sub.clone());
        let sub_dest = display(&sub_components);
        // The process's cgroup, as a path inside that hierarchy's mount. In a cgroup namespace
        // the host's mounts lie above the namespace's root ("/.."): there a fresh mount of the
        // hierarchy shows the namespace's root, the container's cgroup (as runc mounts it).
        match Path::new(cgroup).strip_prefix(&h.root) {
            Ok(rel) if h.mount_point.join(rel).is_dir() => {
                let source = h.mount_point.join(rel);
                let dir = resolve_or_create(root, &sub_components, false)?;
                mount(
                    Some(&source),
                    &fd_path(dir.as_fd()),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                    || format!("bind-mount {} on {}", source.display(), sub_dest.display()),
                )?;
            }
            _ if !wanted.is_empty() => {
                let dir = resolve_or_create(root, &sub_components, false)?;
                let data = wanted.join(",");
                mount(
                    Some(Path::new("cgroup")),
                    &fd_path(dir.as_fd()),
                    Some("cgroup"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    Some(data.as_str()),
                    || format!("mount cgroup ({data}) on {}", sub_dest.display()),
                )?;
            }
            _ => continue,
        }
        let mounted = reopen(root, &sub_components)?;
        remount(
            mounted.as_fd(),
            flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            &sub_dest,
        )?;
        // cpu,cpuacct is also reachable as cpu and cpuacct.
        if wanted.len() > 1 {
            let parent = reopen(root, components)?;
            for c in wanted.iter().filter(|c| !c.contains('=')) {
                match rustix::fs::symlinkat(sub.as_os_str(), parent.as_fd(), *c) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => {
                        return Err(sys(format!("symlink {}/{c}", dest.display()), e));
                    }
                }
            }
        }
    }
    // The tmpfs itself stays writable, as runc 1.1 leaves it: "ro" applies to the hierarchies.
    let mounted = reopen(root, components)?;
    remount(mounted.as_fd(), tmpfs_flags, &dest)
}
