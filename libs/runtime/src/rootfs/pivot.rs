//! The rootfs itself: the propagation of `/`, the bind mount of the rootfs, pivot_root (or
//! MS_MOVE where pivot_root cannot be used).

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, Spec};
use rustix::fs::{Mode, OFlags};

use super::devices::{create_device, default_devices, dev_is_bind, dev_symlinks};
use super::fsops::{clean_components, mount, mountinfo, sys};
use super::mounts::mount_entry;
use crate::error::{Error, Result};

/// Restores the umask when set-up ends, however it ends.
pub(super) struct UmaskGuard(pub(super) nix::sys::stat::Mode);

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        nix::sys::stat::umask(self.0);
    }
}

/// The root's propagation from the spec's `linux.rootfsPropagation` (always recursive).
pub(super) fn root_propagation(spec: &Spec) -> Result<MsFlags> {
    let p = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
        .unwrap_or_default();
    let flag = match p.trim_start_matches('r') {
        "" => MsFlags::MS_SLAVE,
        "private" => MsFlags::MS_PRIVATE,
        "slave" => MsFlags::MS_SLAVE,
        "shared" => MsFlags::MS_SHARED,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => {
            return Err(Error::Spec(format!(
                "rootfsPropagation {p:?} is not one of private, slave, shared, unbindable"
            )))
        }
    };
    Ok(flag | MsFlags::MS_REC)
}

/// pivot_root needs the rootfs's parent mount not to be shared (runc's
/// rootfsParentMountPrivate): make it private when it is.
pub(super) fn rootfs_parent_mount_private(rootfs: &Path) -> Result<()> {
    let mounts = mountinfo()?;
    let parent = mounts
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len());
    if let Some(m) = parent {
        if m.optional.split(' ').any(|o| o.starts_with("shared:")) {
            mount(
                None,
                &m.mount_point,
                None,
                MsFlags::MS_PRIVATE,
                None,
                || format!("make {} private", m.mount_point.display()),
            )?;
        }
    }
    Ok(())
}

/// Everything before pivot_root: propagation, the rootfs bind, the mounts, devices and /dev.
pub(super) fn mount_rootfs(spec: &Spec, rootfs: &Path) -> Result<()> {
    let flags = root_propagation(spec)?;
    mount(None, Path::new("/"), None, flags, None, || {
        format!("make / {flags:?}")
    })?;
    rootfs_parent_mount_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        || format!("bind-mount the rootfs {} on itself", rootfs.display()),
    )?;
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open the rootfs", rootfs, e.into()))?;

    for m in spec.mounts().iter().flatten() {
        mount_entry(root.as_fd(), m)?;
    }

    if !dev_is_bind(spec) {
        let extra: Vec<LinuxDevice> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().clone())
            .unwrap_or_default();
        let defaults = default_devices().into_iter().filter(|d| {
            !extra
                .iter()
                .any(|e| clean_components(e.path()) == clean_components(d.path()))
        });
        for d in defaults.chain(extra.iter().cloned()) {
            create_device(root.as_fd(), &d)?;
        }
        dev_symlinks(root.as_fd())?;
    }
    Ok(())
}

/// pivot_root(".", ".") in the rootfs, then detach the old root stacked under it (runc's way,
/// with no put_old directory). On a ramfs root (EINVAL) MS_MOVE + chroot instead.
pub(super) fn pivot(rootfs: &Path) -> Result<()> {
    let old_root = rustix::fs::open(
        "/",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", "/", e.into()))?;
    let new_root = rustix::fs::open(
        rootfs,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open the rootfs", rootfs, e.into()))?;
    rustix::process::fchdir(&new_root)
        .map_err(|e| Error::io("chdir to the rootfs", rootfs, e.into()))?;
    match rustix::process::pivot_root(".", ".") {
        Ok(()) => {}
        Err(rustix::io::Errno::INVAL) => return move_root(rootfs),
        Err(e) => return Err(sys(format!("pivot_root to {}", rootfs.display()), e)),
    }
    // The old root is now stacked under the new one, at ".": let nothing we do there propagate
    // back to the host, then detach it.
    rustix::process::fchdir(&old_root).map_err(|e| sys("chdir to the old root".to_string(), e))?;
    mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
        || "make the old root rslave".to_string(),
    )?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| Error::sys("unmount the old root", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir to /", e))
}

pub(super) fn move_root(rootfs: &Path) -> Result<()> {
    mount(
        Some(rootfs),
        Path::new("/"),
        None,
        MsFlags::MS_MOVE,
        None,
        || format!("move the rootfs {} to /", rootfs.display()),
    )?;
    nix::unistd::chroot(".").map_err(|e| Error::sys("chroot into the rootfs", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir to /", e))
}
