//! The container's file system view, set up by the init process inside its new mount namespace.
//!
//! OWNER: rootfs helper. Interface:
//! - `prepare(spec, rootfs)`: called after `unshare(CLONE_NEWNS)` with the process's cwd anywhere;
//!   makes `/` recursively slave (or the spec's rootfsPropagation), bind-mounts `rootfs` onto
//!   itself, mounts every `spec.mounts` entry with its destination resolved *inside* rootfs
//!   (openat2 RESOLVE_IN_ROOT, mount onto `/proc/self/fd/N`, never a path string that a symlink in
//!   the image can redirect), creates the default devices (null zero full random urandom tty, plus
//!   `spec.linux.devices`), the /dev symlinks (fd, stdin, stdout, stderr, ptmx -> pts/ptmx, core),
//!   then `pivot_root`s into it and detaches the old root. Ends with cwd `/`.
//! - `finish(spec)`: after `prepare`: masked paths, read-only paths, a read-only root when asked.

use std::path::Path;

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

pub fn prepare(spec: &Spec, rootfs: &Path) -> Result<()> {
    let _ = (spec, rootfs);
    Err(Error::Spec("rootfs: not written yet".into()))
}

pub fn finish(spec: &Spec) -> Result<()> {
    let _ = spec;
    Err(Error::Spec("rootfs: not written yet".into()))
}

// TEMPORARY until the rootfs branch merges.
pub fn bind_console(slave: &Path) -> Result<()> {
    let _ = slave;
    Err(Error::Spec("rootfs: not written yet".into()))
}
