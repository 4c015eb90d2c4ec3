//! A container's root file system: an overlay of its image's snapshots (lower, top layer
//! first), its own `upper/` and `work/`, mounted on `rootfs/` while it runs.

use std::fs;
use std::path::Path;

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

/// Mounts the container's overlay on its `rootfs/` (nothing if it is mounted already).
pub fn mount(c: &Container) -> Result<()> {
    let g = &c.graph_driver;
    let merged = Path::new(&g.merged);
    if is_mounted(merged) {
        return Ok(());
    }
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
    .map_err(|e| Error::Runtime {
        message: format!("mount the overlay on {}: {e}", merged.display()),
        code: 125,
    })
}

/// Unmounts the container's root file system (nothing if it is not mounted).
pub fn unmount(c: &Container) -> Result<()> {
    let merged = Path::new(&c.graph_driver.merged);
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
