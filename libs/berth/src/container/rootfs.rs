//! A container's root file system: an overlay of its image's snapshots (lower, top layer
//! first), its own `upper/` and `work/`, mounted on `rootfs/` while it runs. Where overlayfs
//! cannot be mounted (or `BERTH_STORAGE_DRIVER=copy`), the `copy` driver: the snapshots are
//! flattened into `rootfs/` once, through the same tar writer and hardened extraction images
//! use, and the container writes there (as Docker's vfs driver; no diff, no commit).

use std::fs;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use super::Container;
use crate::error::{Error, IoContext, Result};

/// Whether `path` is a mount point (listed in our mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.to_string_lossy();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|m| unescape(m) == want)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// The storage driver `ctr-create` records: `BERTH_STORAGE_DRIVER` (overlay or copy), or
/// overlay.
pub fn default_driver() -> Result<String> {
    match std::env::var("BERTH_STORAGE_DRIVER").as_deref() {
        Err(_) | Ok("") | Ok("overlay") | Ok("overlay2") => Ok("overlay".into()),
        Ok("copy") | Ok("vfs") => Ok("copy".into()),
        Ok(other) => Err(Error::InvalidInput(format!(
            "BERTH_STORAGE_DRIVER={other}: berth has the overlay and copy drivers"
        ))),
    }
}

/// The upper directory (the container's changes), which only the overlay driver has.
pub fn upper(c: &Container) -> Result<&str> {
    if c.graph_driver.name == COPY {
        return Err(Error::InvalidInput(format!(
            "container {} uses the copy storage driver, which keeps no separate record of its changes",
            c.id
        )));
    }
    Ok(&c.graph_driver.upper)
}

pub const COPY: &str = "copy";
pub(crate) const COPIED_MARK: &str = ".berth-copied";

/// Mounts the container's root file system on its `rootfs/` (nothing if it is mounted or
/// copied already). Returns the driver used: `overlay`, or `copy` when overlayfs could not be
/// mounted here and the layers were copied instead (the caller records it).
pub fn mount(c: &Container) -> Result<&'static str> {
    let g = &c.graph_driver;
    let merged = Path::new(&g.merged);
    if g.name == COPY {
        copy_layers(c)?;
        return Ok(COPY);
    }
    if is_mounted(merged) {
        return Ok("overlay");
    }
    match mount_overlay(c) {
        Ok(()) => Ok("overlay"),
        Err(e) => {
            // Not a file system overlayfs takes (an overlay root, some network file systems):
            // copy, as Docker falls back to vfs. Other failures are errors.
            let unsupported = matches!(
                e,
                Error::Sys {
                    source: Errno::EINVAL | Errno::ENODEV | Errno::EOPNOTSUPP,
                    ..
                }
            );
            if !unsupported {
                return Err(e);
            }
            copy_layers(c)?;
            Ok(COPY)
        }
    }
}

/// Flattens the snapshots into `rootfs/` (bottom layer first, whiteouts applied), once.
fn copy_layers(c: &Container) -> Result<()> {
    let g = &c.graph_driver;
    let merged = Path::new(&g.merged);
    if merged.join(COPIED_MARK).exists() {
        return Ok(());
    }
    fs::create_dir_all(merged).with_path("create", merged)?;
    let mut dest = crate::unpack::Dest::open(merged)?;
    for lower in g.lower.iter().rev() {
        let (r, w) = super::pipes::pipe()?;
        let src = lower.clone();
        let writer =
            std::thread::spawn(move || crate::diff::write_tar(Path::new(&src), fs::File::from(w)));
        let applied = crate::unpack::apply(
            &mut dest,
            fs::File::from(r),
            crate::unpack::Whiteouts::Apply,
            lower,
        );
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(Error::InvalidInput(format!("copying {lower} failed"))));
        applied?;
        written?;
    }
    fs::write(merged.join(COPIED_MARK), b"").with_path("write", merged.join(COPIED_MARK))
}

/// Mounts the overlay.
fn mount_overlay(c: &Container) -> Result<()> {
    let g = &c.graph_driver;
    let merged = Path::new(&g.merged);
    for d in [&g.upper, &g.work, &g.merged] {
        fs::create_dir_all(d).with_path("create", d)?;
    }
    let mut lower = g.lower.clone();
    if lower.is_empty() {
        // An image without layers (FROM scratch, nothing imported): overlay needs one lower dir.
        let empty = Path::new(&g.merged).with_file_name("empty");
        fs::create_dir_all(&empty).with_path("create", &empty)?;
        lower.push(empty.display().to_string());
    }
    for l in &lower {
        if l.contains([',', ':']) {
            return Err(Error::InvalidInput(format!(
                "snapshot path {l} contains ',' or ':', which overlayfs cannot take"
            )));
        }
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        g.upper,
        g.work
    );
    nix::mount::mount(
        Some("overlay"),
        merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|source| Error::Sys {
        what: format!("mount the overlay on {}", merged.display()),
        source,
    })
}

/// Unmounts the container's root file system (nothing if it is not mounted).
pub fn unmount(c: &Container) -> Result<()> {
    let merged = Path::new(&c.graph_driver.merged);
    if c.graph_driver.name == COPY {
        return Ok(());
    }
    if !is_mounted(merged) {
        return Ok(());
    }
    nix::mount::umount2(merged, MntFlags::MNT_DETACH).map_err(|e| Error::Runtime {
        message: format!("unmount {}: {e}", merged.display()),
        code: 125,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_paths_unescape() {
        assert_eq!(super::unescape("/a\\040b"), "/a b");
        assert_eq!(super::unescape("/plain"), "/plain");
    }
}
