//! The merged view of a stack of layer directories (top first), read without mounting it: what
//! a new volume is filled from ([`fill_from_layers`]).

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Copies the directory `target` of the image into `dest`, as Docker fills a new volume: the
/// image's merged view at that path, every layer (bottom first in `layers`) contributing, upper
/// ones overriding lower ones, whiteouts (overlayfs 0/0 devices or `.wh.NAME`) hiding and opaque
/// directories (`trusted.overlay.opaque` or `.wh..wh..opq`) cutting off what is below them.
/// Symlinks on the way to `target` resolve in that merged view, never above its root; owners,
/// modes and mtimes are kept. Nothing when the image has no directory there.
pub fn fill_from_layers(layers: &[PathBuf], target: &str, dest: &Path) -> Result<()> {
    let mut roots = Vec::new();
    for layer in layers.iter().rev() {
        match rfs::open(
            layer,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => roots.push(fd),
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(Error::io("open", layer, e.into())),
        }
    }
    let err = |e: io::Error| Error::io("copy the image's content into volume", dest, e);
    let Some((dirs, st)) = resolve(roots, target).map_err(err)? else {
        return Ok(());
    };
    copy_dir(&dirs, dest).map_err(err)?;
    set_meta(&st, dest).map_err(err)
}

use crate::unpack::{OPAQUE_WHITEOUT as OPAQUE, WHITEOUT_PREFIX as WH};
/// As the kernel's limit on symlinks followed in one lookup.
const MAX_LINKS: usize = 40;

/// What a name is in the merged view of `dirs` (top first).
pub enum Child {
    Missing,
    /// A directory: the layers' directories that make it (top first) and the top one's
    /// status.
    Dir(Vec<OwnedFd>, Stat),
    /// Anything else: the top-most layer's entry (index in `dirs`) and its status.
    Leaf(usize, Stat),
}

fn stat_at(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<Stat>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn is_whiteout(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

fn is_opaque(dir: &OwnedFd) -> io::Result<bool> {
    let mut v = [0u8; 1];
    if let Ok(1) = rfs::fgetxattr(dir, "trusted.overlay.opaque", &mut v) {
        if v[0] == b'y' {
            return Ok(true);
        }
    }
    Ok(stat_at(dir, OsStr::from_bytes(OPAQUE))?.is_some())
}

fn whited_out(dir: &OwnedFd, name: &OsStr) -> io::Result<bool> {
    let mut wh = WH.to_vec();
    wh.extend_from_slice(name.as_bytes());
    Ok(stat_at(dir, OsStr::from_bytes(&wh))?.is_some())
}

/// `name` in the merged directory made of `dirs`.
pub fn child(dirs: &[OwnedFd], name: &OsStr) -> io::Result<Child> {
    let mut found = Vec::new();
    let mut top = None;
    for (i, d) in dirs.iter().enumerate() {
        match stat_at(d, name)? {
            Some(st) if is_whiteout(&st) => break,
            Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                let fd = rfs::openat(
                    d,
                    name,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                // A tar-style layer may hold both `.wh.NAME` and a new NAME.
                let cut = is_opaque(&fd)? || whited_out(d, name)?;
                found.push(fd);
                top.get_or_insert(st);
                if cut {
                    break;
                }
            }
            // Not a directory: it is the entry if nothing above is, and hides the rest.
            Some(st) => {
                if found.is_empty() {
                    return Ok(Child::Leaf(i, st));
                }
                break;
            }
            None if whited_out(d, name)? => break,
            None => {}
        }
    }
    Ok(match top {
        Some(st) => Child::Dir(found, st),
        None => Child::Missing,
    })
}

/// The merged directory at `path` (symlinks followed inside the merged view, `..` stopping
/// at its root), or None when there is no directory there.
pub fn resolve(roots: Vec<OwnedFd>, path: &str) -> io::Result<Option<(Vec<OwnedFd>, Stat)>> {
    let Some(first) = roots.first() else {
        return Ok(None);
    };
    let root_st = rfs::fstat(first)?;
    let dup = |v: &[OwnedFd]| {
        v.iter()
            .map(|f| f.try_clone())
            .collect::<io::Result<Vec<_>>>()
    };
    // The directories walked so far (the root at the bottom), each with its status.
    let mut stack: Vec<(Vec<OwnedFd>, Stat)> = vec![(dup(&roots)?, root_st)];
    let mut todo: Vec<OsString> = components(path.as_bytes());
    todo.reverse();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_bytes() {
            b"." => continue,
            b".." => {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            _ => {}
        }
        let here = &stack.last().expect("the root stays").0;
        match child(here, &part)? {
            Child::Missing => return Ok(None),
            Child::Dir(dirs, st) => stack.push((dirs, st)),
            Child::Leaf(i, st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Ok(None);
                }
                let t = rfs::readlinkat(&here[i], part.as_os_str(), Vec::new())?;
                let t = t.as_bytes();
                if t.starts_with(b"/") {
                    stack.truncate(1);
                }
                let mut more = components(t);
                more.reverse();
                todo.extend(more);
            }
            Child::Leaf(..) => return Ok(None),
        }
    }
    let (dirs, st) = stack.pop().expect("the root stays");
    Ok(Some((dirs, st)))
}

fn components(p: &[u8]) -> Vec<OsString> {
    Path::new(OsStr::from_bytes(p))
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

/// Copies the merged directory `dirs` into the existing directory `dest`.
pub fn copy_dir(dirs: &[OwnedFd], dest: &Path) -> io::Result<()> {
    let mut names = BTreeSet::new();
    for d in dirs {
        for ent in rfs::Dir::read_from(d)? {
            let ent = ent?;
            let n = ent.file_name().to_bytes();
            if n == b"." || n == b".." || n.starts_with(WH) {
                continue;
            }
            names.insert(OsStr::from_bytes(n).to_os_string());
        }
    }
    for name in names {
        let to = dest.join(&name);
        match child(dirs, &name)? {
            Child::Missing => {}
            Child::Dir(sub, st) => {
                std::fs::create_dir(&to)?;
                copy_dir(&sub, &to)?;
                set_meta(&st, &to)?;
            }
            Child::Leaf(i, st) => {
                match FileType::from_raw_mode(st.st_mode) {
                    FileType::RegularFile => {
                        let f = rfs::openat(
                            &dirs[i],
                            name.as_os_str(),
                            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                            Mode::empty(),
                        )?;
                        let mut out = std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&to)?;
                        io::copy(&mut std::fs::File::from(f), &mut out)?;
                    }
                    FileType::Symlink => {
                        let t = rfs::readlinkat(&dirs[i], name.as_os_str(), Vec::new())?;
                        std::os::unix::fs::symlink(OsStr::from_bytes(t.as_bytes()), &to)?;
                    }
                    // Devices, sockets and fifos are not copied.
                    _ => continue,
                }
                set_meta(&st, &to)?;
            }
        }
    }
    Ok(())
}

/// Owner, mode and mtime of `st` on `to` (not followed if a symlink).
pub fn set_meta(st: &Stat, to: &Path) -> io::Result<()> {
    let _ = std::os::unix::fs::lchown(to, Some(st.st_uid), Some(st.st_gid));
    if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
        rfs::chmod(to, Mode::from_raw_mode(st.st_mode & 0o7777))?;
    }
    let t = Timespec {
        tv_sec: st.st_mtime as _,
        tv_nsec: st.st_mtime_nsec as _,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rfs::utimensat(rfs::CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}
