//! A container's file system as a tar (`ctr-export`), as `docker export`: the merged view of
//! its overlay, written as the layer tars are (numeric owners, modes, mtimes, symlinks, hard
//! links, devices, extended attributes, entries in path order), streamed.
//!
//! A running container's root is mounted already. A stopped one is mounted for the export in a
//! mount namespace of this process's own (private propagation), so the mount is never seen
//! elsewhere and goes away with the process whatever happens; it is also unmounted at the end.

use std::io::Write;
use std::path::Path;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use super::{liveness, rootfs, Container, Containers};
use crate::error::{Error, Result};
use crate::root::Root;

/// Writes the file system of container `name` to `out`.
pub fn export(root: &Root, name: &str, out: impl Write) -> Result<Container> {
    let store = Containers::open(root.containers_dir())?;
    let c = liveness::refresh(&store.find(name)?);
    let merged = Path::new(&c.graph_driver.merged);
    if c.graph_driver.name == "copy" {
        crate::diff::write_tar(merged, out)?;
        return Ok(c);
    }
    // In a private namespace first: a running container's mount is then our own copy, which
    // stays while we read even if the container stops (and its monitor unmounts) meanwhile.
    let private = private_namespace();
    if rootfs::is_mounted(merged) {
        crate::diff::write_tar(merged, out)?;
        return Ok(c);
    }
    if let Err(e) = private {
        return Err(Error::Runtime {
            message: format!(
                "cannot mount the file system of container {} in a private mount namespace ({e}): exporting a stopped container needs root",
                c.id
            ),
            code: 1,
        });
    }
    rootfs::mount(&c)?;
    let r = crate::diff::write_tar(merged, out);
    let u = rootfs::unmount(&c);
    r?;
    u?;
    Ok(c)
}

/// Moves this process into a mount namespace of its own whose mounts propagate nowhere.
pub(crate) fn private_namespace() -> nix::Result<()> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}
