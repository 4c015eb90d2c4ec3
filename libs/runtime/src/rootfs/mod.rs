//! The container's file system view, set up by the init process inside its new mount namespace.
//!
//! Interface:
//! - `prepare(spec, rootfs)`: called after `unshare(CLONE_NEWNS)` with the process's cwd anywhere;
//!   makes `/` recursively slave (or the spec's rootfsPropagation), bind-mounts `rootfs` onto
//!   itself, mounts every `spec.mounts` entry with its destination resolved *inside* rootfs
//!   (openat2 RESOLVE_IN_ROOT, mount onto `/proc/self/fd/N`, never a path string that a symlink in
//!   the image can redirect), creates the default devices (null zero full random urandom tty, plus
//!   `spec.linux.devices`), the /dev symlinks (fd, stdin, stdout, stderr, ptmx -> pts/ptmx, core),
//!   then `pivot_root`s into it and detaches the old root. Ends with cwd `/`.
//! - `finish(spec)`: after `prepare`: sysctls, masked paths, read-only paths, a read-only root
//!   when asked.
//! - `bind_console(slave)`: after `prepare`, when the process has a terminal: bind-mounts the pty
//!   slave onto /dev/console.
//!
//! This follows runc's libcontainer/rootfs_linux.go. Every destination taken from the spec is
//! resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` on a descriptor of the rootfs,
//! missing components are created with `mkdirat` relative to the descriptor of their (resolved)
//! parent, and the mount goes onto `/proc/self/fd/N` of an `O_PATH` descriptor of the resolved
//! target: a symlink planted in the image (`proc -> /proc`, `dev -> ..`) can therefore never send
//! a mount to the host (CVE-2019-16884, CVE-2021-30465). A destination that resolves to the
//! rootfs itself (`dev -> ..`) is refused with an error rather than hiding the whole image.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use rustix::fs::{Mode, OFlags};

use crate::error::{Error, Result};

mod devices;
mod fsops;
mod masked;
pub use masked::IPC_SYSCTLS;
mod mounts;
mod options;
mod pivot;
#[cfg(test)]
mod tests;

use fsops::{mount, resolve_or_create};
use masked::{mask_path, readonly_path, remount_path, set_sysctls, target_path};
use pivot::{mount_rootfs, pivot, root_propagation, UmaskGuard};

pub use devices::default_devices;
pub use fsops::openat2_retrying;
pub use options::{parse_mount_options, MountOptions};

/// Flags that `mount(2)` may keep "locked" on a mount (inherited from a less privileged mount
/// namespace, or set on the source): a bind remount must repeat them or fail with EPERM.
const LOCKABLE: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_RDONLY)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME);

/// The container init's file system set-up (see the module documentation). `before_pivot`
/// runs once the mounts are made, before `pivot_root` (the spec's hooks run there).
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    before_pivot: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let rootfs =
        std::fs::canonicalize(rootfs).map_err(|e| Error::io("resolve the rootfs", rootfs, e))?;
    let _umask = UmaskGuard(nix::sys::stat::umask(nix::sys::stat::Mode::empty()));
    mount_rootfs(spec, &rootfs)?;
    before_pivot()?;
    pivot(&rootfs)?;
    // As runc: the spec's root propagation, now also on the new `/`.
    let asked = spec.linux().as_ref().is_some_and(|l| {
        l.rootfs_propagation()
            .as_deref()
            .is_some_and(|p| !p.is_empty())
    });
    if asked {
        let flags = root_propagation(spec)?;
        mount(None, Path::new("/"), None, flags, None, || {
            format!("make the container's / {flags:?}")
        })?;
    }
    Ok(())
}

/// Bind-mounts the pty slave `slave_path` onto /dev/console (made first as an empty file).
/// Called by the init after [`prepare`], when the process has a terminal.
pub fn bind_console(slave_path: &Path) -> Result<()> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", "/", e.into()))?;
    let components = [OsString::from("dev"), OsString::from("console")];
    let console = resolve_or_create(root.as_fd(), &components, true)?;
    let target = target_path(console.as_fd(), Path::new("/dev/console"));
    mount(
        Some(slave_path),
        &target,
        None,
        MsFlags::MS_BIND,
        None,
        || format!("bind-mount {} on /dev/console", slave_path.display()),
    )
}

/// The last file system steps, after [`prepare`] and before capabilities are dropped: sysctls
/// (before /proc/sys turns read-only), read-only paths, masked paths (in runc's order), a
/// read-only root.
pub fn finish(spec: &Spec) -> Result<()> {
    set_sysctls(spec)?;
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", "/", e.into()))?;
    if let Some(linux) = spec.linux() {
        for p in linux.readonly_paths().iter().flatten() {
            readonly_path(root.as_fd(), p)?;
        }
        for p in linux.masked_paths().iter().flatten() {
            mask_path(root.as_fd(), p)?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_path(root.as_fd(), Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    Ok(())
}
