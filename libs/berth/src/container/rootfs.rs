//! A container's root file system: an overlay of its image's snapshots (lower, top layer
//! first), its own `upper/` and `work/`, mounted on `rootfs/` while it runs. Where overlayfs
//! cannot be mounted (or `BERTH_STORAGE_DRIVER=copy`), the `copy` driver: the snapshots are
//! flattened into `rootfs/` once, through the same tar writer and hardened extraction images
//! use, and the container writes there (as Docker's vfs driver; no diff, no commit).

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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
    let init = ensure_init_layer(c)?.display().to_string();
    for lower in g.lower.iter().rev().chain([&init]) {
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

/// What Docker's "init layer" holds: the mount points the runtime needs and `/.dockerenv`,
/// each made only where the image lacks it. An entry is a directory, an empty file (mode 0755,
/// as Docker makes them), or a symbolic link to its target.
const INIT_LAYER: &[(&str, Option<&str>, bool)] = &[
    // (path, link target, directory)
    ("dev/pts", None, true),
    ("dev/shm", None, true),
    ("proc", None, true),
    ("sys", None, true),
    (".dockerenv", None, false),
    ("etc/resolv.conf", None, false),
    ("etc/hosts", None, false),
    ("etc/hostname", None, false),
    ("dev/console", None, false),
    ("etc/mtab", Some("/proc/mounts"), false),
];

/// The container's init layer: its top lower directory, below its own changes, so that what the
/// runtime mounts on is neither a change (`ctr-diff`, `img-commit`) nor missing from
/// `ctr-export`, as Docker's `<id>-init` layer.
pub fn init_layer(c: &Container) -> PathBuf {
    Path::new(&c.graph_driver.merged).with_file_name("init")
}

/// The lower directories of a container's overlay, top first: its init layer (where it has one:
/// containers mounted before berth had it have none) and its image's snapshots.
pub fn lower_dirs(c: &Container) -> Vec<PathBuf> {
    let init = init_layer(c);
    init.is_dir()
        .then_some(init)
        .into_iter()
        .chain(c.graph_driver.lower.iter().map(PathBuf::from))
        .collect()
}

/// `GraphDriver.Data.LowerDir` as ctr-inspect shows it, top first, as Docker's overlay2 lists a
/// container's: its init layer (Docker's `<id>-init/diff`; made at the first mount, listed from
/// creation on as Docker's) and its image's snapshots. An image of 500 layers runs without an
/// init layer, so none is listed for it.
pub fn inspect_lower_dirs(c: &Container) -> Vec<String> {
    let init = init_layer(c);
    let g = &c.graph_driver;
    let has_init = init.is_dir() || g.name == COPY || g.lower.len() < OVERLAY_MAX_LOWER;
    has_init
        .then(|| init.display().to_string())
        .into_iter()
        .chain(g.lower.iter().cloned())
        .collect()
}

/// What the image has at `rel` (following no link), from the top lower directory down: None
/// where no layer has it or a whiteout deletes it.
fn in_image(lower: &[String], rel: &Path) -> Option<fs::Metadata> {
    for l in lower {
        if let Ok(md) = Path::new(l).join(rel).symlink_metadata() {
            let whiteout = md.file_type().is_char_device() && md.rdev() == 0;
            return (!whiteout).then_some(md);
        }
    }
    None
}

/// Makes the container's init layer once (in a temporary directory renamed into place).
fn ensure_init_layer(c: &Container) -> Result<PathBuf> {
    let dir = init_layer(c);
    if dir.is_dir() {
        return Ok(dir);
    }
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let tmp = tempfile::Builder::new()
        .prefix(".init-")
        .tempdir_in(parent)
        .with_path("create a directory in", parent)?;
    let lower = &c.graph_driver.lower;
    let mut made_dirs: Vec<(PathBuf, fs::Metadata)> = Vec::new();
    'entries: for (path, link, is_dir) in INIT_LAYER {
        let rel = Path::new(path);
        if in_image(lower, rel).is_some() {
            continue;
        }
        // Its parents: directories in the image (made here with their mode and owner), or made.
        let mut at = PathBuf::new();
        for comp in rel.parent().into_iter().flat_map(Path::components) {
            at.push(comp);
            let here = tmp.path().join(&at);
            if here.is_dir() {
                continue;
            }
            match in_image(lower, &at) {
                Some(md) if md.is_dir() => {
                    fs::create_dir(&here).with_path("create", &here)?;
                    fs::set_permissions(&here, fs::Permissions::from_mode(md.mode() & 0o7777))
                        .with_path("chmod", &here)?;
                    std::os::unix::fs::lchown(&here, Some(md.uid()), Some(md.gid()))
                        .with_path("chown", &here)?;
                    made_dirs.push((here, md));
                }
                // A link or a file in the image: the runtime resolves (or refuses) it there.
                Some(_) => continue 'entries,
                None => {
                    fs::create_dir(&here).with_path("create", &here)?;
                    fs::set_permissions(&here, fs::Permissions::from_mode(0o755))
                        .with_path("chmod", &here)?;
                }
            }
        }
        let at = tmp.path().join(rel);
        match (link, is_dir) {
            (Some(target), _) => {
                std::os::unix::fs::symlink(target, &at).with_path("create", &at)?
            }
            (None, true) => {
                fs::create_dir(&at).with_path("create", &at)?;
                fs::set_permissions(&at, fs::Permissions::from_mode(0o755))
                    .with_path("chmod", &at)?;
            }
            (None, false) => {
                fs::File::create(&at).with_path("create", &at)?;
                fs::set_permissions(&at, fs::Permissions::from_mode(0o755))
                    .with_path("chmod", &at)?;
            }
        }
    }
    // The image's directories keep their times in the merged view, not the init layer's.
    for (here, md) in made_dirs.iter().rev() {
        let times = fs::FileTimes::new()
            .set_accessed(md.accessed().unwrap_or(std::time::UNIX_EPOCH))
            .set_modified(md.modified().unwrap_or(std::time::UNIX_EPOCH));
        fs::File::open(here)
            .and_then(|f| f.set_times(times))
            .with_path("set the times of", here)?;
    }
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
        .with_path("chmod", tmp.path())?;
    let tmp = tmp.keep();
    match fs::rename(&tmp, &dir) {
        Ok(()) => Ok(dir),
        // Another tool made it meanwhile.
        Err(_) if dir.is_dir() => {
            let _ = fs::remove_dir_all(&tmp);
            Ok(dir)
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            Err(Error::io("rename", &tmp, e))
        }
    }
}

/// Mounts the overlay.
fn mount_overlay(c: &Container) -> Result<()> {
    let g = &c.graph_driver;
    let merged = Path::new(&g.merged);
    for d in [&g.upper, &g.work, &g.merged] {
        fs::create_dir_all(d).with_path("create", d)?;
    }
    if g.lower.len() > OVERLAY_MAX_LOWER {
        return Err(Error::InvalidInput(format!(
            "the image has {} layers, more than the {OVERLAY_MAX_LOWER} overlayfs can stack \
             (BERTH_STORAGE_DRIVER=copy runs it from a copy)",
            g.lower.len()
        )));
    }
    // The init layer takes one of the 500: an image of 500 layers runs without it (the runtime
    // then makes its mount points among the container's changes, which ctr-diff still hides).
    let init = if g.lower.len() < OVERLAY_MAX_LOWER {
        Some(ensure_init_layer(c)?.display().to_string())
    } else {
        None
    };
    let mut lower: Vec<String> = init.into_iter().chain(g.lower.iter().cloned()).collect();
    if lower.is_empty() {
        let empty = Path::new(&g.merged).with_file_name("empty");
        fs::create_dir_all(&empty).with_path("create", &empty)?;
        lower.push(empty.display().to_string());
    }
    let api = match std::env::var("BERTH_OVERLAY_MOUNT").as_deref() {
        Ok("data") => MountApi::Data,
        _ => MountApi::PerLayer,
    };
    mount_overlay_on(
        &Overlay {
            lower: &lower,
            upper: Path::new(&g.upper),
            work: Path::new(&g.work),
        },
        merged,
        api,
    )
    .map(|_| ())
}

/// An overlay's directories: lower ones top first.
pub struct Overlay<'a> {
    pub lower: &'a [String],
    pub upper: &'a Path,
    pub work: &'a Path,
}

/// How the lower directories reach the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountApi {
    /// The new mount API, one `lowerdir+` per layer (Linux 6.8+): any number of layers, up to
    /// overlayfs's 500; `Data` where the kernel lacks it.
    PerLayer,
    /// mount(2), whose options must fit in one page: `lowerdir=` with the absolute paths when
    /// they fit, otherwise with short relative names (`12:13:14…`: descriptors of the lower
    /// directories, named from /proc/self/fd, the mounting thread's working directory), as
    /// Docker's overlay2 driver mounts with the short names of its `l/` links.
    Data,
}

/// The most lower directories overlayfs stacks (OVL_MAX_STACK).
const OVERLAY_MAX_LOWER: usize = 500;

/// The one page mount(2) copies of its options (the smallest page Linux has).
const MOUNT_DATA_MAX: usize = 4096;
/// The longest string fsconfig(2) takes.
const FSCONFIG_STRING_MAX: usize = 256;

/// Mounts `o` on `merged` with `api`, falling back from `PerLayer` to `Data` where the kernel
/// has no `lowerdir+` (or no new mount API). Returns the API that mounted it.
pub fn mount_overlay_on(o: &Overlay, merged: &Path, api: MountApi) -> Result<MountApi> {
    for l in o.lower {
        if l.contains([',', ':']) {
            return Err(Error::InvalidInput(format!(
                "snapshot path {l} contains ',' or ':', which overlayfs cannot take"
            )));
        }
    }
    let what = || format!("mount the overlay on {}", merged.display());
    let fits = o
        .lower
        .iter()
        .map(String::as_str)
        .chain([
            o.upper.to_str().unwrap_or(""),
            o.work.to_str().unwrap_or(""),
        ])
        .all(|p| !p.is_empty() && p.len() < FSCONFIG_STRING_MAX);
    if api == MountApi::PerLayer && fits {
        match mount_per_layer(o, merged) {
            Ok(()) => return Ok(MountApi::PerLayer),
            // No new mount API (before 5.2, or a seccomp filter), or no `lowerdir+` (before
            // 6.8): mount(2) says what it thinks.
            Err((Errno::ENOSYS | Errno::EPERM | Errno::EINVAL, _)) => {}
            Err((source, log)) => {
                return Err(Error::Sys {
                    what: with_log(what(), &log),
                    source,
                })
            }
        }
    }
    mount_data(o, merged).map_err(|source| Error::Sys {
        what: what(),
        source,
    })?;
    Ok(MountApi::Data)
}

fn with_log(what: String, log: &str) -> String {
    if log.is_empty() {
        what
    } else {
        format!("{what} ({log})")
    }
}

/// fsopen, an fsconfig per directory, fsmount, move_mount. On failure, the errno and what the
/// kernel logged on the context (`overlayfs: failed to resolve …`).
fn mount_per_layer(o: &Overlay, merged: &Path) -> std::result::Result<(), (Errno, String)> {
    use rustix::mount as m;
    let errno = |e: rustix::io::Errno| Errno::from_raw(e.raw_os_error());
    let fs = m::fsopen("overlay", m::FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| (errno(e), String::new()))?;
    let log = |e: rustix::io::Errno| (errno(e), context_log(&fs));
    for l in o.lower {
        m::fsconfig_set_string(&fs, "lowerdir+", l.as_str()).map_err(log)?;
    }
    m::fsconfig_set_string(&fs, "upperdir", o.upper).map_err(log)?;
    m::fsconfig_set_string(&fs, "workdir", o.work).map_err(log)?;
    m::fsconfig_create(&fs).map_err(log)?;
    let mnt = m::fsmount(
        &fs,
        m::FsMountFlags::FSMOUNT_CLOEXEC,
        m::MountAttrFlags::empty(),
    )
    .map_err(log)?;
    m::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        merged,
        m::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(log)
}

/// The messages the kernel left on a file system context, one line.
fn context_log(fs: &std::os::fd::OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    // Bounded: the kernel keeps at most 8 messages.
    for _ in 0..8 {
        match rustix::io::read(fs, &mut buf[..]) {
            Ok(n) if n > 0 => out.push(String::from_utf8_lossy(&buf[..n]).trim().to_string()),
            _ => break,
        }
    }
    out.join("; ")
}

/// mount(2) with the options in one page.
fn mount_data(o: &Overlay, merged: &Path) -> std::result::Result<(), Errno> {
    let (upper, work) = (o.upper.display(), o.work.display());
    let data = format!(
        "lowerdir={},upperdir={upper},workdir={work}",
        o.lower.join(":")
    );
    let mount = |data: &str| {
        nix::mount::mount(
            Some("overlay"),
            merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(data),
        )
    };
    if data.len() < MOUNT_DATA_MAX {
        return mount(&data);
    }
    // Short names: each lower directory opened (O_PATH), and named by its descriptor's number
    // from a thread whose working directory (unshared from the rest of the process) is
    // /proc/self/fd: `12:13:14…`, at most 4 bytes a layer. overlayfs follows these links at
    // mount time; the descriptors are closed once mounted.
    let (upper, work, merged) = (
        std::path::absolute(o.upper).map_err(io_errno)?,
        std::path::absolute(o.work).map_err(io_errno)?,
        std::path::absolute(merged).map_err(io_errno)?,
    );
    let fds = o
        .lower
        .iter()
        .map(|l| {
            rustix::fs::open(
                l.as_str(),
                rustix::fs::OFlags::PATH
                    | rustix::fs::OFlags::DIRECTORY
                    | rustix::fs::OFlags::CLOEXEC,
                rustix::fs::Mode::empty(),
            )
            .map_err(|e| Errno::from_raw(e.raw_os_error()))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let names: Vec<String> = fds.iter().map(|fd| fd.as_raw_fd().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        names.join(":"),
        upper.display(),
        work.display()
    );
    if data.len() >= MOUNT_DATA_MAX {
        return Err(Errno::E2BIG);
    }
    let mounted = std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
            nix::unistd::chdir("/proc/self/fd")?;
            nix::mount::mount(
                Some("overlay"),
                &merged,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
        })
        .join()
        .unwrap_or(Err(Errno::EIO))
    });
    drop(fds);
    mounted
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
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
    use super::*;

    /// 130 lower directories whose absolute paths take far more than a page: mounted with the
    /// per-layer API and with mount(2)'s short links, the bottom and the top layer's files are
    /// there and a whiteout in the middle hides the bottom's.
    #[test]
    fn overlays_of_many_layers_mount_with_either_api() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root (mount)");
            return;
        }
        // In a mount namespace of this thread's own: its mounts go away with it.
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .unwrap();
            let t = tempfile::tempdir().unwrap();
            let lower: Vec<String> = (0..130)
                .map(|i| {
                    let d = t.path().join(format!("layer-{i:0>64}"));
                    fs::create_dir(&d).unwrap();
                    d.display().to_string()
                })
                .collect();
            let (top, middle, bottom) = (&lower[0], &lower[65], &lower[129]);
            assert!(lower.join(":").len() > 2 * MOUNT_DATA_MAX);
            fs::write(Path::new(bottom).join("bottom"), "b").unwrap();
            fs::write(Path::new(bottom).join("gone"), "g").unwrap();
            fs::write(Path::new(top).join("top"), "t").unwrap();
            rustix::fs::mknodat(
                rustix::fs::CWD,
                Path::new(middle).join("gone"),
                rustix::fs::FileType::CharacterDevice,
                rustix::fs::Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .unwrap();
            for (i, api) in [MountApi::PerLayer, MountApi::Data].into_iter().enumerate() {
                let c = t.path().join(format!("c{i}"));
                let (upper, work, merged) = (c.join("upper"), c.join("work"), c.join("rootfs"));
                for d in [&upper, &work, &merged] {
                    fs::create_dir_all(d).unwrap();
                }
                let o = Overlay {
                    lower: &lower,
                    upper: &upper,
                    work: &work,
                };
                let used = mount_overlay_on(&o, &merged, api).unwrap();
                if api == MountApi::Data {
                    assert_eq!(used, MountApi::Data);
                }
                eprintln!("{api:?}: mounted with {used:?}");
                assert_eq!(fs::read_to_string(merged.join("bottom")).unwrap(), "b");
                assert_eq!(fs::read_to_string(merged.join("top")).unwrap(), "t");
                assert!(!merged.join("gone").exists(), "the whiteout hides it");
                fs::write(merged.join("new"), "n").unwrap();
                assert!(upper.join("new").exists());
                nix::mount::umount2(&merged, MntFlags::MNT_DETACH).unwrap();
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn mountinfo_paths_unescape() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
