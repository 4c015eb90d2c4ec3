//! Descriptor-relative file operations inside the rootfs (openat2 RESOLVE_IN_ROOT, mkdirat,
//! mknodat, mounts onto /proc/self/fd/N) and /proc/self/mountinfo.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::LOCKABLE;
use crate::error::{Error, Result};

pub(super) fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_raw(e.raw_os_error())
}

pub(super) fn sys(what: impl Into<String>, e: rustix::io::Errno) -> Error {
    Error::sys(what, errno(e))
}

/// `/proc/self/fd/N` for a descriptor: mounting there reaches exactly the file the descriptor
/// holds, whatever symlinks the path to it had.
pub(super) fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `mount(2)`, with an error that names the operation and the container path it was for.
pub(super) fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<()> {
    let data = data.filter(|d| !d.is_empty());
    nix::mount::mount(source, target, fstype, flags, data).map_err(|e| Error::sys(what(), e))
}

/// A spec path made lexical: absolute, without `.`, `..` or repeated slashes (the spec's own
/// `..` cannot climb above `/`). Symlinks are not touched: those are resolved in the root.
pub(super) fn clean_components(path: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

pub(super) fn display(components: &[OsString]) -> PathBuf {
    let mut p = PathBuf::from("/");
    p.extend(components);
    p
}

/// openat2(2), asked again when it answers EAGAIN: with RESOLVE_IN_ROOT or RESOLVE_BENEATH the
/// kernel refuses a lookup through `..` that raced a rename or a mount anywhere on the system
/// (it cannot prove the `..` stayed inside), and says the caller may retry. Bounded, as
/// libpathrs does; a lookup still refused after that is an error.
pub fn openat2_retrying<P: rustix::path::Arg + Copy, Fd: rustix::fd::AsFd>(
    dir: Fd,
    path: P,
    flags: OFlags,
    mode: Mode,
    resolve: ResolveFlags,
) -> rustix::io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(&dir, path, flags, mode, resolve) {
            Err(rustix::io::Errno::AGAIN) if tries < 128 => tries += 1,
            r => return r,
        }
    }
}

/// Opens `rel` (components relative to the root) as O_PATH, resolved as if `root` were `/`.
pub(super) fn open_in_root(
    root: BorrowedFd<'_>,
    components: &[OsString],
) -> rustix::io::Result<OwnedFd> {
    let mut rel = PathBuf::new();
    rel.extend(components);
    let rel: &Path = if components.is_empty() {
        Path::new(".")
    } else {
        &rel
    };
    openat2_retrying(
        root,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Opens the entry `name` just created in `parent`, refusing any symlink.
pub(super) fn open_child(parent: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    openat2_retrying(
        parent,
        name,
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Creates an empty regular file `name` in `parent` unless something is there already.
pub(super) fn create_file(parent: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<()> {
    // O_EXCL|O_NOFOLLOW: a symlink planted there is never followed to create its target.
    rustix::fs::openat(
        parent,
        name,
        OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .map(drop)
}

/// Resolves `components` inside the root, creating what is missing (directories, and the last
/// component as an empty file when `file`), component by component relative to the descriptor
/// of the resolved parent. Returns an O_PATH descriptor of the target.
pub(super) fn resolve_or_create(
    root: BorrowedFd<'_>,
    components: &[OsString],
    file: bool,
) -> Result<OwnedFd> {
    let dest = display(components);
    match open_in_root(root, components) {
        Ok(fd) => return Ok(fd),
        Err(rustix::io::Errno::NOENT) => {}
        Err(rustix::io::Errno::LOOP) => {
            return Err(Error::Spec(format!(
                "mount destination {}: a symlink loop in the image (a link to itself or to a \
                 host path such as /proc?)",
                dest.display()
            )))
        }
        Err(e) => return Err(sys(format!("resolve {} in the rootfs", dest.display()), e)),
    }
    let mut parent = open_in_root(root, &[]).map_err(|e| sys("open the rootfs".to_string(), e))?;
    for (i, name) in components.iter().enumerate() {
        let prefix = &components[..=i];
        match open_in_root(root, prefix) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => {
                return Err(sys(
                    format!("resolve {} in the rootfs", display(prefix).display()),
                    e,
                ))
            }
        }
        let last = i + 1 == components.len();
        let created = if last && file {
            create_file(parent.as_fd(), name)
        } else {
            rustix::fs::mkdirat(parent.as_fd(), name, Mode::from_raw_mode(0o755))
        };
        match created {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                // It exists but did not resolve: a dangling symlink (maybe to a host path).
                return Err(Error::Spec(format!(
                    "mount destination {}: {} is a dangling symlink in the image",
                    dest.display(),
                    display(prefix).display()
                )));
            }
            Err(e) => {
                return Err(sys(
                    format!("create {} in the rootfs", display(prefix).display()),
                    e,
                ))
            }
        }
        parent = open_child(parent.as_fd(), name).map_err(|e| {
            sys(
                format!("open {} in the rootfs", display(prefix).display()),
                e,
            )
        })?;
    }
    Ok(parent)
}

/// Whether two descriptors hold the same inode.
pub(super) fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool> {
    let sa = rustix::fs::fstat(a).map_err(|e| sys("fstat".to_string(), e))?;
    let sb = rustix::fs::fstat(b).map_err(|e| sys("fstat".to_string(), e))?;
    Ok(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
}

/// The flags a mount already carries that a remount must keep (see [`LOCKABLE`]).
pub(super) fn existing_flags(fd: BorrowedFd<'_>) -> MsFlags {
    match rustix::fs::fstatvfs(fd) {
        // ST_* and MS_* share their values for these flags.
        Ok(st) => MsFlags::from_bits_truncate(st.f_flag.bits() as libc::c_ulong) & LOCKABLE,
        Err(_) => MsFlags::empty(),
    }
}

/// A bind remount of the mount at `fd` with `flags`; on EPERM it retries with the flags the
/// mount already has (locked flags), as runc does.
pub(super) fn remount(fd: BorrowedFd<'_>, flags: MsFlags, dest: &Path) -> Result<()> {
    let target = fd_path(fd);
    let flags = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    let what = || format!("remount {} ({:?})", dest.display(), flags);
    match nix::mount::mount(None::<&str>, &target, None::<&str>, flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => {
            let flags = flags | existing_flags(fd);
            mount(None, &target, None, flags, None, what)
        }
        Err(e) => Err(Error::sys(what(), e)),
    }
}

// /proc/self/mountinfo

#[derive(Debug, Clone)]
pub(super) struct MountInfo {
    pub(super) root: String,
    pub(super) mount_point: PathBuf,
    pub(super) optional: String,
    pub(super) fstype: String,
    pub(super) super_options: String,
}

pub(super) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn mountinfo() -> Result<Vec<MountInfo>> {
    let path = "/proc/self/mountinfo";
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < 5 || fields.len() < sep + 3 {
            continue;
        }
        out.push(MountInfo {
            root: unescape(fields[3]),
            mount_point: PathBuf::from(unescape(fields[4])),
            optional: fields[6..sep].join(" "),
            fstype: fields[sep + 1].to_string(),
            super_options: fields.get(sep + 3).copied().unwrap_or("").to_string(),
        });
    }
    Ok(out)
}
