//! Where a layer goes: a directory whose paths are resolved inside it (`openat2`
//! `RESOLVE_IN_ROOT`, or a walk from descriptors past PATH_MAX), and removal without following.

use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::*;

/// A directory that paths are resolved inside of.
pub struct Dest {
    pub(super) root: OwnedFd,
    path: PathBuf,
    /// The last parent directory resolved, reused while entries stay in one directory.
    cache: Option<(PathBuf, Rc<OwnedFd>)>,
}

pub(super) const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

pub(super) fn errno(e: Errno) -> io::Error {
    io::Error::from(e)
}

impl Dest {
    /// Opens `path`, which must be a directory.
    pub fn open(path: &Path) -> Result<Dest> {
        let root = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("open directory", path, errno(e)))?;
        Ok(Dest {
            root,
            path: path.to_path_buf(),
            cache: None,
        })
    }

    /// A directory already open (`O_PATH` is enough); `path` names it in messages.
    pub fn from_fd(root: OwnedFd, path: PathBuf) -> Dest {
        Dest {
            root,
            path,
            cache: None,
        }
    }

    /// The directory on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `rel` (resolved inside the root) with `flags`.
    pub fn open_in(&self, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        let p: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        if p.as_os_str().len() >= PATH_MAX {
            return self.walk(p, flags, false);
        }
        match berth_runtime::rootfs::openat2_retrying(
            &self.root,
            p,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        ) {
            Err(Errno::NAMETOOLONG) => self.walk(p, flags, false),
            r => r.map_err(errno),
        }
    }

    /// Resolves `rel` inside the root one component at a time from directory descriptors, as
    /// openat2(RESOLVE_IN_ROOT) does in one call: for paths longer than the kernel takes at
    /// once (PATH_MAX). A symlink is read and its target walked in its place (an absolute one
    /// from the root), `..` stops at the root, and the last component is followed unless
    /// `flags` has `O_NOFOLLOW`. With `create`, missing directories are made (mode 0755) on the
    /// way, the last one included.
    pub(super) fn walk(&self, rel: &Path, flags: OFlags, create: bool) -> io::Result<OwnedFd> {
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root_id = dev_ino(&self.root)?;
        let mut cur = self.root.try_clone()?;
        let mut todo: VecDeque<OsString> = names_of(rel.as_os_str().as_bytes());
        let mut links = 0;
        while let Some(c) = todo.pop_front() {
            let last = todo.is_empty();
            if c == ".." {
                if dev_ino(&cur)? != root_id {
                    cur = rfs::openat(&cur, "..", dir_flags, Mode::empty()).map_err(errno)?;
                }
                continue;
            }
            let fd = match rfs::openat(
                &cur,
                &c,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rfs::mkdirat(&cur, &c, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(errno(e)),
                    }
                    rfs::openat(&cur, &c, dir_flags | OFlags::NOFOLLOW, Mode::empty())
                        .map_err(errno)?
                }
                Err(e) => return Err(errno(e)),
            };
            let ft = FileType::from_raw_mode(rfs::fstat(&fd).map_err(errno)?.st_mode);
            if ft == FileType::Symlink && !(last && flags.contains(OFlags::NOFOLLOW)) {
                links += 1;
                if links > 40 {
                    return Err(errno(Errno::LOOP));
                }
                let target = rfs::readlinkat(&cur, &c, Vec::new()).map_err(errno)?;
                let target = target.as_bytes();
                if target.starts_with(b"/") {
                    cur = self.root.try_clone()?;
                }
                for n in names_of(target).into_iter().rev() {
                    todo.push_front(n);
                }
                continue;
            }
            if last {
                return rfs::openat(
                    &cur,
                    &c,
                    flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(errno);
            }
            if ft != FileType::Directory {
                return Err(errno(Errno::NOTDIR));
            }
            cur = fd;
        }
        // The path ends on a directory (`.`, `..`, a symlink to a directory).
        rfs::openat(&cur, ".", flags | OFlags::CLOEXEC, Mode::empty()).map_err(errno)
    }

    /// Reads a small file inside the root (`/etc/passwd`), following symlinks inside it.
    pub fn read_file(&self, rel: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let fd = self.open_in(rel, OFlags::RDONLY)?;
        let mut out = Vec::new();
        File::from(fd).take(limit).read_to_end(&mut out)?;
        Ok(out)
    }

    /// The directory `rel` (inside the root), made with its parents (mode 0755) when missing.
    /// The last one asked for stays open (shared, not duplicated) for the entries after it.
    pub(super) fn dir(&mut self, rel: &Path) -> io::Result<Rc<OwnedFd>> {
        if let Some((p, fd)) = &self.cache {
            if p == rel {
                return Ok(fd.clone());
            }
        }
        let fd = Rc::new(self.make_dir(rel)?);
        self.cache = Some((rel.to_path_buf(), fd.clone()));
        Ok(fd)
    }

    /// The directory `rel`, made with its parents when missing; a symlink to a directory that
    /// does not exist makes the directory it names, inside the root, as the container would see
    /// it.
    pub(super) fn make_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        match self.open_in(rel, flags) {
            Err(e) if e.raw_os_error() == Some(libc_enoent()) => self.walk(rel, flags, true),
            r => r,
        }
    }

    /// Forgets the cached parent: after anything is removed or replaced.
    pub(super) fn forget(&mut self) {
        self.cache = None;
    }
}

/// The longest path the kernel resolves in one call.
pub(super) const PATH_MAX: usize = 4096;

/// The components of a path (bytes), `.` and empty ones left out.
pub(super) fn names_of(path: &[u8]) -> VecDeque<OsString> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

pub(super) fn libc_enoent() -> i32 {
    Errno::NOENT.raw_os_error()
}

/// Splits a relative path into its parent and last component.
pub(super) fn split(rel: &Path) -> Option<(&Path, &OsStr)> {
    let name = rel.file_name()?;
    Some((rel.parent().unwrap_or(Path::new("")), name))
}

/// A tar name made relative to the root: `/a/./b` is `a/b`, `a/../b` is `b`; a name that climbs
/// above the root is refused. The root itself is the empty path.
pub fn clean(name: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// Removes the entry `name` of directory `dir`, recursively, without following symlinks.
/// Whether there was one.
pub(super) fn remove_at(dir: &OwnedFd, name: &OsStr) -> io::Result<bool> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(Errno::ISDIR) | Err(Errno::PERM) => remove_tree(dir, name).map(|()| true),
        Err(e) => Err(errno(e)),
    }
}

/// Removes the directory `name` of `top` and everything under it, one level at a time with one
/// descriptor open, however deep it goes: each directory is emptied of its other entries, the
/// first subdirectory entered, and an empty one removed from its parent (reached by `..`, the
/// directory it was entered from).
pub(super) fn remove_tree(top: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let open = |at: &OwnedFd, n: &OsStr| {
        rfs::openat(
            at,
            n,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
    };
    let mut cur = match open(top, name) {
        Ok(fd) => fd,
        Err(Errno::NOTDIR) | Err(Errno::LOOP) => {
            return rfs::unlinkat(top, name, AtFlags::empty()).map_err(errno)
        }
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(errno(e)),
    };
    let mut path: Vec<OsString> = vec![name.to_os_string()];
    loop {
        let mut sub = None;
        for ent in rfs::Dir::read_from(&cur).map_err(errno)? {
            let ent = ent.map_err(errno)?;
            let n = ent.file_name().to_bytes();
            if n == b"." || n == b".." {
                continue;
            }
            let n = OsStr::from_bytes(n);
            match rfs::unlinkat(&cur, n, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                Err(Errno::ISDIR) | Err(Errno::PERM) => {
                    sub = Some(n.to_os_string());
                    break;
                }
                Err(e) => return Err(errno(e)),
            }
        }
        if let Some(n) = sub {
            match open(&cur, &n) {
                Ok(fd) => {
                    cur = fd;
                    path.push(n);
                }
                Err(Errno::NOTDIR) => rfs::unlinkat(&cur, &n, AtFlags::empty()).map_err(errno)?,
                Err(e) => return Err(errno(e)),
            }
            continue;
        }
        let n = path.pop().expect("a directory being removed");
        let parent = if path.is_empty() {
            None
        } else {
            Some(open(&cur, OsStr::new("..")).map_err(errno)?)
        };
        match rfs::unlinkat(parent.as_ref().unwrap_or(top), &n, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(errno(e)),
        }
        match parent {
            Some(p) => cur = p,
            None => return Ok(()),
        }
    }
}

/// Removes every entry of the open directory `dir` whose path (`at`/NAME) is not in `keep`.
pub(super) fn empty_dir(dir: &OwnedFd, keep: &HashSet<PathBuf>, at: &Path) -> io::Result<()> {
    let mut names = Vec::new();
    for ent in rfs::Dir::read_from(dir).map_err(errno)? {
        let ent = ent.map_err(errno)?;
        let n = ent.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        names.push(OsStr::from_bytes(n).to_os_string());
    }
    for n in names {
        if !keep.contains(&at.join(&n)) {
            remove_at(dir, &n)?;
        }
    }
    Ok(())
}

/// The (device, inode) of an open file.
pub(super) fn dev_ino(fd: impl AsFd) -> io::Result<(u64, u64)> {
    let st = rfs::fstat(fd).map_err(errno)?;
    Ok((st.st_dev, st.st_ino))
}
