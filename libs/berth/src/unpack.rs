//! Applying layers: a layer's tar stream written into a directory, never outside it.
//!
//! Every path in the tar is resolved inside the target with `openat2(RESOLVE_IN_ROOT)`: an
//! absolute path, a `..`, or a symlink planted by this or an earlier layer (`etc -> /etc`,
//! `x -> ../../..`) all land inside the target, as they would inside the container. The final
//! component of each entry is created with the `*at` calls on the resolved parent's descriptor
//! and never followed. A name that climbs out of the target (`../../x`) is refused, as Docker does.
//! A path longer than the kernel resolves in one call (PATH_MAX) is walked component by
//! component from descriptors, with the same rules.
//!
//! The tar is read by [`TarReader`], whose memory is bounded (a 1 MiB cap per PAX or long-name
//! header); sparse files are written sparse (data at its offsets, holes left as holes); a layer
//! that expands past its [`ExpansionLimit`] is stopped there; directory metadata, set after the
//! directory's children, goes to the very directory it was recorded for (by device and inode),
//! never through a symlink that replaced it later in the layer.
//!
//! Two ways to treat whiteouts:
//! - [`Whiteouts::Apply`] (a flattened root filesystem, `img-unpack`): `.wh.NAME` removes NAME
//!   and `.wh..wh..opq` removes what lower layers put in its directory.
//! - [`Whiteouts::Overlay`] (a snapshot, an overlayfs lower directory): `.wh.NAME` becomes a 0/0
//!   character device and `.wh..wh..opq` the `trusted.overlay.opaque` attribute, as overlayfs
//!   and containerd's overlay snapshotter write them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
};
use rustix::io::Errno;

use crate::archive::tar_reader::{short_name, Entry, Kind, TarReader};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::layer::{decompress_as, layer_compression, Compression, ExpansionLimit};
use crate::store::Layout;
use oci_spec::image::ImageManifest;

/// How whiteout entries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Remove what they name: one flattened tree.
    Apply,
    /// Write overlayfs whiteouts: a lower directory for overlay mounts.
    Overlay,
    /// No whiteouts: `.wh.NAME` is a file like any other (copying files in, as `docker cp`).
    Keep,
}

/// What applying a layer did.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// Entries written (files, directories, links, nodes, whiteouts).
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Device nodes that could not be made (not root), skipped with a warning.
    pub skipped_devices: Vec<PathBuf>,
    /// Hard links whose target is not in this layer (overlay mode): (link, target), to be
    /// copied up from the lower layers by the caller.
    pub lower_links: Vec<(PathBuf, PathBuf)>,
}

/// A directory that paths are resolved inside of.
pub struct Dest {
    root: OwnedFd,
    path: PathBuf,
    /// The last parent directory resolved, reused while entries stay in one directory.
    cache: Option<(PathBuf, Rc<OwnedFd>)>,
}

const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

fn errno(e: Errno) -> io::Error {
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
    fn walk(&self, rel: &Path, flags: OFlags, create: bool) -> io::Result<OwnedFd> {
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
    fn dir(&mut self, rel: &Path) -> io::Result<Rc<OwnedFd>> {
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
    fn make_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        match self.open_in(rel, flags) {
            Err(e) if e.raw_os_error() == Some(libc_enoent()) => self.walk(rel, flags, true),
            r => r,
        }
    }

    /// Forgets the cached parent: after anything is removed or replaced.
    fn forget(&mut self) {
        self.cache = None;
    }
}

/// The longest path the kernel resolves in one call.
const PATH_MAX: usize = 4096;

/// The components of a path (bytes), `.` and empty ones left out.
fn names_of(path: &[u8]) -> VecDeque<OsString> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_os_string())
        .collect()
}

fn libc_enoent() -> i32 {
    Errno::NOENT.raw_os_error()
}

/// Splits a relative path into its parent and last component.
fn split(rel: &Path) -> Option<(&Path, &OsStr)> {
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
fn remove_at(dir: &OwnedFd, name: &OsStr) -> io::Result<bool> {
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
fn remove_tree(top: &OwnedFd, name: &OsStr) -> io::Result<()> {
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
fn empty_dir(dir: &OwnedFd, keep: &HashSet<PathBuf>, at: &Path) -> io::Result<()> {
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

/// Metadata of a tar entry, with PAX records applied.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nsec: u32,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn timestamps(m: &Meta) -> Timestamps {
    let t = Timespec {
        tv_sec: m.mtime,
        tv_nsec: m.mtime_nsec.into(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Extended attributes a layer may not set: overlayfs's own, which would change what the
/// snapshot means, and those only the kernel's security modules manage.
fn xattr_allowed(name: &[u8]) -> bool {
    !(name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay."))
        && (name.starts_with(b"user.")
            || name.starts_with(b"trusted.")
            || name == b"security.capability"
            || name.starts_with(b"system.posix_acl"))
}

struct Applier<'a> {
    dest: &'a mut Dest,
    whiteouts: Whiteouts,
    as_root: bool,
    what: &'a str,
    /// Owner (uid, gid) given to every entry instead of the tar's (`ctr-cp` without `-a`).
    owner: Option<(u32, u32)>,
    /// Paths written by this layer: an opaque whiteout keeps them.
    written: HashSet<PathBuf>,
    /// Directories of this layer, with their metadata and (device, inode), set after their
    /// children, to that very directory: one replaced later in the layer is left alone.
    dirs: Vec<(PathBuf, Meta, (u64, u64))>,
    /// Directories this layer changes without carrying their entry, with their (device, inode)
    /// and times before: put back at the end, so that the tree depends on the image only (as
    /// `umoci unpack`).
    touched: HashMap<PathBuf, ((u64, u64), Timestamps)>,
    out: Applied,
    buf: Vec<u8>,
    /// The expansion limit (and the layer's compressed size) that sparse files' blocks count
    /// against: a data segment takes whole blocks on disk however few bytes it has.
    limit: Option<(ExpansionLimit, u64)>,
    /// Bytes of blocks the sparse files' data segments take.
    sparse_blocks: u64,
}

/// Applies the tar stream `tar` (already decompressed) to `dest`. `what` names the layer in
/// errors and warnings.
pub fn apply(dest: &mut Dest, tar: impl Read, whiteouts: Whiteouts, what: &str) -> Result<Applied> {
    apply_owned(dest, tar, whiteouts, what, None)
}

/// [`apply`], every entry owned by `owner` (uid, gid) when given, whatever the tar says.
pub fn apply_owned(
    dest: &mut Dest,
    tar: impl Read,
    whiteouts: Whiteouts,
    what: &str,
    owner: Option<(u32, u32)>,
) -> Result<Applied> {
    apply_inner(dest, tar, whiteouts, what, owner, None)
}

fn apply_inner(
    dest: &mut Dest,
    tar: impl Read,
    whiteouts: Whiteouts,
    what: &str,
    owner: Option<(u32, u32)>,
    limit: Option<(ExpansionLimit, u64)>,
) -> Result<Applied> {
    let mut a = Applier {
        dest,
        whiteouts,
        as_root: rustix::process::geteuid().is_root(),
        what,
        owner,
        written: HashSet::new(),
        dirs: Vec::new(),
        touched: HashMap::new(),
        out: Applied::default(),
        buf: vec![0; 256 << 10],
        limit,
        sparse_blocks: 0,
    };
    let mut r = TarReader::new(tar);
    loop {
        let entry = match r.next_entry() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) if r.position() == 0 => {
                return Err(Error::InvalidInput(format!(
                    "{what}: not a tar archive: {e}"
                )))
            }
            Err(e) => {
                return Err(Error::InvalidInput(format!(
                    "{what}: a corrupt tar archive: {e}"
                )))
            }
        };
        a.entry(entry, &mut r)?;
    }
    a.finish()?;
    Ok(a.out)
}

/// The (device, inode) of an open file.
fn dev_ino(fd: impl AsFd) -> io::Result<(u64, u64)> {
    let st = rfs::fstat(fd).map_err(errno)?;
    Ok((st.st_dev, st.st_ino))
}

impl Applier<'_> {
    fn fail(&self, name: &Path, why: impl std::fmt::Display) -> Error {
        Error::InvalidInput(format!(
            "{}: entry {}: {why}",
            self.what,
            short_name(name.as_os_str().as_bytes())
        ))
    }

    fn entry<R: Read>(&mut self, e: Entry, r: &mut TarReader<R>) -> Result<()> {
        let raw = PathBuf::from(OsStr::from_bytes(&e.name));
        let Some(rel) = clean(&raw) else {
            return Err(self.fail(&raw, "the name climbs out of the root filesystem"));
        };
        let meta = self.meta(&e);
        let name = rel.file_name().map(|n| n.as_bytes().to_vec());

        // Whiteouts.
        if let Some(n) = name
            .as_deref()
            .filter(|n| n.starts_with(b".wh.") && self.whiteouts != Whiteouts::Keep)
        {
            let (parent, _) = split(&rel).expect("a whiteout has a name");
            let parent = parent.to_path_buf();
            let target = &n[4..];
            if target == b".wh..opq" {
                return self.opaque(&parent).map_err(|err| self.fail(&raw, err));
            }
            if target.is_empty() || target == b"." || target == b".." || target.starts_with(b".wh.")
            {
                return Err(self.fail(&raw, "a whiteout of nothing"));
            }
            let target = OsStr::from_bytes(target).to_os_string();
            return self
                .whiteout(&parent, &target)
                .map_err(|err| self.fail(&raw, err));
        }

        if rel.as_os_str().is_empty() {
            // The root directory itself: only its metadata.
            if e.kind == Kind::Dir {
                let id = dev_ino(self.dest.root.as_fd()).map_err(|err| self.fail(&raw, err))?;
                self.dirs.push((rel, meta, id));
            }
            return Ok(());
        }
        let (parent, name) = split(&rel).expect("a non-root path has a name");
        let name = name.to_os_string();
        let pfd = self
            .dest
            .dir(parent)
            .map_err(|err| self.fail(&raw, format!("its directory: {err}")))?;
        self.remember(parent, &pfd);
        self.out.entries += 1;

        let res = match e.kind {
            Kind::Dir => self.directory(&pfd, &name, &rel, meta),
            Kind::File => self.file(&pfd, &name, &e, r, &meta),
            Kind::Symlink => {
                if e.link.is_empty() {
                    return Err(self.fail(&raw, "a symlink without a target"));
                }
                self.symlink(&pfd, &name, Path::new(OsStr::from_bytes(&e.link)), &meta)
            }
            Kind::HardLink => {
                if e.link.is_empty() {
                    return Err(self.fail(&raw, "a hard link without a target"));
                }
                let Some(target) = clean(Path::new(OsStr::from_bytes(&e.link))) else {
                    return Err(self.fail(
                        &raw,
                        format!(
                            "the hard link's target {} climbs out of the root filesystem",
                            short_name(&e.link)
                        ),
                    ));
                };
                self.hardlink(&pfd, &name, &rel, &target)
            }
            Kind::Fifo | Kind::Char | Kind::Block => {
                let dev = rfs::makedev(e.dev_major, e.dev_minor);
                let ft = match e.kind {
                    Kind::Fifo => FileType::Fifo,
                    Kind::Char => FileType::CharacterDevice,
                    _ => FileType::BlockDevice,
                };
                self.node(&pfd, &name, &rel, ft, dev, &meta)
            }
            Kind::Other(flag) => {
                self.out.entries -= 1;
                eprintln!(
                    "warning: {}: entry {} of tar type {:?} skipped",
                    self.what,
                    short_name(&e.name),
                    flag as char
                );
                return Ok(());
            }
        };
        res.map_err(|err| self.fail(&raw, err))?;
        self.written.insert(rel);
        Ok(())
    }

    fn meta(&self, e: &Entry) -> Meta {
        let (uid, gid) = self.owner.unwrap_or((e.uid as u32, e.gid as u32));
        Meta {
            mode: e.mode,
            uid,
            gid,
            mtime: e.mtime,
            mtime_nsec: e.mtime_nsec,
            xattrs: e.xattrs.clone(),
        }
    }

    /// Removes whatever is at `name` in `pfd` before something new goes there. The cached
    /// parent is forgotten when something was there (it may have been on the cached path, or a
    /// symlink that path went through); a name that was not there changes no path that was
    /// resolved.
    fn clear(&mut self, pfd: &OwnedFd, name: &OsStr) -> io::Result<()> {
        if remove_at(pfd, name)? {
            self.dest.forget();
        }
        Ok(())
    }

    fn directory(&mut self, pfd: &OwnedFd, name: &OsStr, rel: &Path, meta: Meta) -> io::Result<()> {
        match rfs::statat(pfd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
            Ok(_) => {
                self.clear(pfd, name)?;
                rfs::mkdirat(pfd, name, Mode::from_raw_mode(0o700)).map_err(errno)?;
            }
            Err(Errno::NOENT) => {
                rfs::mkdirat(pfd, name, Mode::from_raw_mode(0o700)).map_err(errno)?;
            }
            Err(e) => return Err(errno(e)),
        }
        let st = rfs::statat(pfd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
        self.dirs
            .push((rel.to_path_buf(), meta, (st.st_dev, st.st_ino)));
        Ok(())
    }

    /// A regular file: its content written in order, or, for a sparse file, each data segment
    /// at its offset and the length set last, so that the holes stay holes.
    fn file<R: Read>(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        e: &Entry,
        r: &mut TarReader<R>,
        meta: &Meta,
    ) -> io::Result<()> {
        let create = || {
            rfs::openat(
                pfd,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        };
        // Made new when nothing is there (most entries), else what is there goes first.
        let fd = match create() {
            Err(Errno::EXIST) => {
                self.clear(pfd, name)?;
                create()
            }
            r => r,
        }
        .map_err(errno)?;
        let f = File::from(fd);
        let whole = [(0, e.size)];
        let segments: &[(u64, u64)] = e.sparse.as_deref().unwrap_or(&whole);
        let mut got = 0u64;
        if e.sparse.is_some() {
            self.count_blocks(segments)?;
        }
        for &(offset, len) in segments {
            let mut done = 0u64;
            while done < len {
                let want = self.buf.len().min((len - done) as usize);
                let n = match r.read(&mut self.buf[..want]) {
                    Ok(n) => n,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "the layer ends inside the file's content ({got} of {} bytes)",
                                e.size
                            ),
                        ))
                    }
                    Err(err) => return Err(err),
                };
                f.write_all_at(&self.buf[..n], offset + done)?;
                done += n as u64;
                got += n as u64;
                self.out.bytes += n as u64;
            }
        }
        if e.sparse.is_some() {
            f.set_len(e.real_size)?;
        }
        self.set_meta(f.as_fd(), meta, true)
    }
    /// Counts the blocks a sparse file's data segments take against the expansion limit: a
    /// map of many one-byte segments far apart would take a block each.
    fn count_blocks(&mut self, segments: &[(u64, u64)]) -> io::Result<()> {
        const BLOCK: u64 = 4096;
        for &(off, len) in segments.iter().filter(|(_, len)| *len > 0) {
            let end = off.saturating_add(len).saturating_add(BLOCK - 1) / BLOCK;
            self.sparse_blocks = self
                .sparse_blocks
                .saturating_add((end - off / BLOCK) * BLOCK);
        }
        if let Some((limits, compressed)) = self.limit {
            if self.sparse_blocks > limits.for_size(compressed) {
                return Err(io::Error::other(
                    limits.exceeded("its sparse files", compressed).to_string(),
                ));
            }
        }
        Ok(())
    }

    /// Owner, mode, attributes and times of an open file or directory.
    fn set_meta(&self, fd: impl AsFd, meta: &Meta, times: bool) -> io::Result<()> {
        let fd = fd.as_fd();
        if self.as_root {
            rfs::fchown(
                fd,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
            )
            .map_err(errno)?;
        }
        // After chown, which clears setuid and setgid.
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(errno)?;
        for (k, v) in &meta.xattrs {
            if !xattr_allowed(k) {
                continue;
            }
            match rfs::fsetxattr(fd, OsStr::from_bytes(k), v, XattrFlags::empty()) {
                Ok(()) => {}
                // A file system or user that can't hold it: as tar and Docker, go on.
                Err(Errno::NOTSUP) | Err(Errno::PERM) | Err(Errno::ACCESS) => {}
                Err(e) => return Err(errno(e)),
            }
        }
        if times {
            rfs::futimens(fd, &timestamps(meta)).map_err(errno)?;
        }
        Ok(())
    }

    fn symlink(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        target: &Path,
        meta: &Meta,
    ) -> io::Result<()> {
        match rfs::symlinkat(target, pfd, name) {
            Err(Errno::EXIST) => {
                self.clear(pfd, name)?;
                rfs::symlinkat(target, pfd, name).map_err(errno)?;
            }
            r => r.map_err(errno)?,
        }
        self.set_meta_at(pfd, name, meta, false)
    }

    /// Owner, (mode,) and times of the entry `name` of `pfd`, never following it.
    fn set_meta_at(&self, pfd: &OwnedFd, name: &OsStr, meta: &Meta, mode: bool) -> io::Result<()> {
        if self.as_root {
            rfs::chownat(
                pfd,
                name,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(errno)?;
        }
        if mode {
            rfs::chmodat(pfd, name, Mode::from_raw_mode(meta.mode), AtFlags::empty())
                .map_err(errno)?;
        }
        rfs::utimensat(pfd, name, &timestamps(meta), AtFlags::SYMLINK_NOFOLLOW).map_err(errno)
    }

    fn hardlink(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        target: &Path,
    ) -> io::Result<()> {
        let Some((tparent, tname)) = split(target) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a hard link to the root directory",
            ));
        };
        if target == rel {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a hard link to itself",
            ));
        }
        let tpfd = match self.dest.open_in(tparent, OFlags::PATH | OFlags::DIRECTORY) {
            Ok(fd) => Some(fd),
            Err(e) if e.raw_os_error() == Some(libc_enoent()) => None,
            Err(e) => return Err(e),
        };
        let exists = tpfd
            .as_ref()
            .is_some_and(|fd| rfs::statat(fd, tname, AtFlags::SYMLINK_NOFOLLOW).is_ok());
        if !exists {
            if self.whiteouts == Whiteouts::Overlay && !self.written.contains(target) {
                // In a lower layer: the caller copies it up once the lowers are there.
                self.out
                    .lower_links
                    .push((rel.to_path_buf(), target.to_path_buf()));
                return Ok(());
            }
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the hard link's target {target:?} does not exist"),
            ));
        }
        let tpfd = tpfd.expect("exists");
        self.clear(pfd, name)?;
        // linkat without AT_SYMLINK_FOLLOW links the target entry itself, never what it points to.
        rfs::linkat(&tpfd, tname, pfd, name, AtFlags::empty()).map_err(errno)
    }

    fn node(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        ft: FileType,
        dev: rfs::Dev,
        meta: &Meta,
    ) -> io::Result<()> {
        self.clear(pfd, name)?;
        match rfs::mknodat(pfd, name, ft, Mode::from_raw_mode(meta.mode & 0o777), dev) {
            Ok(()) => {}
            Err(Errno::PERM) if ft != FileType::Fifo => {
                eprintln!(
                    "warning: {}: device node {} skipped: not allowed to make devices here",
                    self.what,
                    short_name(rel.as_os_str().as_bytes())
                );
                self.out.skipped_devices.push(rel.to_path_buf());
                return Ok(());
            }
            Err(e) => return Err(errno(e)),
        }
        self.set_meta_at(pfd, name, meta, true)
    }

    fn whiteout(&mut self, parent: &Path, target: &OsStr) -> io::Result<()> {
        let found = match self.whiteouts {
            Whiteouts::Apply | Whiteouts::Keep => self
                .dest
                .open_in(parent, OFlags::PATH | OFlags::DIRECTORY)
                .map(Rc::new),
            Whiteouts::Overlay => self.dest.dir(parent),
        };
        let pfd = match found {
            Ok(fd) => fd,
            // Removing something under a directory that isn't there: nothing to do.
            Err(e)
                if self.whiteouts == Whiteouts::Apply
                    && matches!(e.raw_os_error(), Some(c) if c == libc_enoent() || c == Errno::NOTDIR.raw_os_error()) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e),
        };
        self.remember(parent, &pfd);
        self.out.entries += 1;
        self.clear(&pfd, target)?;
        if self.whiteouts == Whiteouts::Overlay {
            rfs::mknodat(
                &pfd,
                target,
                FileType::CharacterDevice,
                Mode::empty(),
                rfs::makedev(0, 0),
            )
            .map_err(errno)?;
        }
        Ok(())
    }

    fn opaque(&mut self, dir: &Path) -> io::Result<()> {
        self.out.entries += 1;
        let pfd = self.dest.dir(dir)?;
        let fd = rfs::openat(
            &pfd,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        self.remember(dir, &fd);
        match self.whiteouts {
            // Keep never gets here (it has no whiteouts).
            Whiteouts::Apply | Whiteouts::Keep => {
                self.dest.forget();
                empty_dir(&fd, &self.written, dir)
            }
            Whiteouts::Overlay => {
                rfs::fsetxattr(&fd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                    .map_err(errno)
            }
        }
    }

    /// Notes the times of directory `rel` (open as `fd`) before this layer first changes it.
    fn remember(&mut self, rel: &Path, fd: &OwnedFd) {
        if self.touched.contains_key(rel) {
            return;
        }
        if let Ok(st) = rfs::fstat(fd) {
            let t = Timestamps {
                last_access: Timespec {
                    tv_sec: st.st_atime,
                    tv_nsec: st.st_atime_nsec as _,
                },
                last_modification: Timespec {
                    tv_sec: st.st_mtime,
                    tv_nsec: st.st_mtime_nsec as _,
                },
            };
            self.touched
                .insert(rel.to_path_buf(), ((st.st_dev, st.st_ino), t));
        }
    }

    /// The directory `rel` if it is still the one with (device, inode) `id`: not replaced since
    /// by anything, a symlink least of all (the symlink is not followed).
    fn same_dir(&self, rel: &Path, id: (u64, u64)) -> io::Result<Option<OwnedFd>> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
        match self.dest.open_in(rel, flags) {
            Ok(fd) => Ok((dev_ino(&fd)? == id).then_some(fd)),
            Err(e)
                if matches!(e.raw_os_error(), Some(c) if c == libc_enoent()
                    || c == Errno::NOTDIR.raw_os_error()
                    || c == Errno::LOOP.raw_os_error()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Directory metadata last, deepest first, so that writing children changes no time; the
    /// directories of lower layers that this one changed get their times back. Each goes to the
    /// very directory it was recorded for: one removed or replaced later in the layer (by a
    /// symlink to the root, say) is left alone, and only the last entry of a path counts.
    fn finish(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        let ours: HashSet<&Path> = dirs.iter().map(|(p, _, _)| p.as_path()).collect();
        for (rel, (id, t)) in std::mem::take(&mut self.touched) {
            if ours.contains(rel.as_path()) {
                continue;
            }
            // Gone or replaced since (a later whiteout, a file over it): nothing to put back.
            if let Some(fd) = self.same_dir(&rel, id).map_err(|e| self.fail(&rel, e))? {
                rfs::futimens(&fd, &t).map_err(|e| self.fail(&rel, errno(e)))?;
            }
        }
        let mut done: HashSet<&Path> = HashSet::new();
        for (rel, meta, id) in dirs.iter().rev() {
            if !done.insert(rel) {
                continue;
            }
            let r = self
                .same_dir(rel, *id)
                .and_then(|fd| fd.map_or(Ok(()), |fd| self.set_meta(&fd, meta, true)));
            r.map_err(|e| self.fail(rel, e))?;
        }
        Ok(())
    }
}

/// Reads what another thread sends: the decompressed layer, in chunks.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// One layer of an image, to be applied: its blob and the diffID its content must have.
#[derive(Debug, Clone)]
pub struct LayerRef {
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub media_type: String,
    /// What the media type says the blob is compressed with (None: its content decides).
    pub compression: Option<Compression>,
}

/// The layers of `image` with their diffIDs, checked to pair up.
pub fn layers_of(image: &Image) -> Result<Vec<LayerRef>> {
    pair_layers(&image.manifest, &image.config, image.id())
}

/// The layers of `manifest` paired with the diffIDs of `config` (whose digest is `config_digest`),
/// which must be as many.
pub fn pair_layers(
    manifest: &ImageManifest,
    config: &serde_json::Value,
    config_digest: &Digest,
) -> Result<Vec<LayerRef>> {
    let diff_ids: Vec<&str> = config
        .pointer("/rootfs/diff_ids")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let layers = manifest.layers();
    if diff_ids.len() != layers.len() {
        return Err(Error::corrupt(
            format!("image config {config_digest}"),
            format!(
                "the manifest has {} layers but the config {} diff_ids",
                layers.len(),
                diff_ids.len()
            ),
        ));
    }
    layers
        .iter()
        .zip(diff_ids)
        .map(|(l, d)| {
            let digest = Digest::try_from(l.digest())?;
            let media_type = l.media_type().to_string();
            Ok(LayerRef {
                compression: layer_compression(&media_type, &digest)?,
                digest,
                size: l.size(),
                diff_id: Digest::parse(d)?,
                media_type,
            })
        })
        .collect()
}

/// Applies one stored layer to `dest`: the blob is read, checked against its digest,
/// decompressed and checked against its diffID on one thread while another writes the files.
pub fn apply_stored(
    layout: &Layout,
    layer: &LayerRef,
    dest: &mut Dest,
    whiteouts: Whiteouts,
) -> Result<Applied> {
    let blob = layout.open_blob_verified(&layer.digest, Some(layer.size))?;
    apply_stream(blob, layer, dest, whiteouts)
}

/// Applies a layer read from `input` (compressed as it is stored: the caller checks the blob's
/// digest, or `input` does), checking its diffID. Decompression runs on its own thread, and
/// stops the layer as soon as it expands past the [`ExpansionLimit`].
pub fn apply_stream(
    input: impl Read + Send,
    layer: &LayerRef,
    dest: &mut Dest,
    whiteouts: Whiteouts,
) -> Result<Applied> {
    apply_stream_limited(input, layer, dest, whiteouts, ExpansionLimit::from_env()?)
}

/// [`apply_stream`] with the expansion limit given.
pub fn apply_stream_limited(
    input: impl Read + Send,
    layer: &LayerRef,
    dest: &mut Dest,
    whiteouts: Whiteouts,
    limits: ExpansionLimit,
) -> Result<Applied> {
    let what = format!("layer {}", layer.digest);
    let limit = limits.for_size(layer.size);
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    std::thread::scope(|s| {
        let what = &what;
        let reader = s.spawn(move || -> Result<()> {
            // tx moves here: when this ends, the writer sees the end of the stream.
            let plain = decompress_as(input, layer.compression, &layer.media_type, what)?;
            let mut input = HashingReader::new(plain, layer.diff_id.algorithm());
            let mut total = 0u64;
            loop {
                let mut chunk = vec![0u8; 64 << 10];
                let n = match input.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let msg = e.to_string();
                        let _ = tx.send(Err(e));
                        return Err(Error::Corrupt {
                            what: what.clone(),
                            why: msg,
                        });
                    }
                };
                chunk.truncate(n);
                total += n as u64;
                if total > limit {
                    let e = limits.exceeded(what, layer.size);
                    let _ = tx.send(Err(io::Error::other(e.to_string())));
                    return Err(e);
                }
                if tx.send(Ok(chunk)).is_err() {
                    return Ok(()); // The writer stopped: its error is the one to report.
                }
            }
            let (got, _) = input.finish();
            if got != layer.diff_id {
                let why = format!(
                    "its content has diffID {got}, not {} as the image config says",
                    layer.diff_id
                );
                let _ = tx.send(Err(io::Error::new(io::ErrorKind::InvalidData, why.clone())));
                return Err(Error::Corrupt {
                    what: what.clone(),
                    why,
                });
            }
            Ok(())
        });
        let mut r = ChunkReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        };
        let applied = apply_inner(
            dest,
            &mut r,
            whiteouts,
            what,
            None,
            Some((limits, layer.size)),
        );
        // Read to the end, so that a bad digest after the tar's last entry is seen.
        let drained = applied
            .as_ref()
            .ok()
            .map(|_| io::copy(&mut r, &mut io::sink()));
        drop(r);
        let read = reader.join().expect("the layer reader does not panic");
        read?;
        if let Some(Err(e)) = drained {
            return Err(Error::Corrupt {
                what: what.clone(),
                why: e.to_string(),
            });
        }
        applied
    })
}

/// Unpacks every layer of `image`, in order, into `dir`: the flattened root filesystem.
pub fn unpack_image(layout: &Layout, image: &Image, dir: &Path) -> Result<Applied> {
    let mut dest = Dest::open(dir)?;
    let mut total = Applied::default();
    for layer in layers_of(image)? {
        let a = apply_stored(layout, &layer, &mut dest, Whiteouts::Apply)?;
        total.entries += a.entries;
        total.bytes += a.bytes;
        total.skipped_devices.extend(a.skipped_devices);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::tar_reader::parse_pax_time;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn names_are_made_relative_and_climbing_out_is_refused() {
        let c = |s: &str| clean(Path::new(s)).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(c("./a/b"), Some("a/b".into()));
        assert_eq!(c("/etc/passwd"), Some("etc/passwd".into()));
        assert_eq!(c("a/../b"), Some("b".into()));
        assert_eq!(c("./"), Some("".into()));
        assert_eq!(c("../x"), None);
        assert_eq!(c("a/../../x"), None);
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time("7"), Some((7, 0)));
        assert_eq!(parse_pax_time("x"), None);
    }

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// A file entry whose name the tar crate would refuse to write (absolute, or with `..`).
    fn add_raw(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn add_file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    }

    fn add_link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        let mut h = header(kind, 0o777, 0);
        b.append_link(&mut h, name, target).unwrap();
    }

    fn add_dir(b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32) {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, name, io::empty()).unwrap();
    }

    fn apply_to(dir: &Path, tar: &[u8], w: Whiteouts) -> Result<Applied> {
        let mut d = Dest::open(dir)?;
        apply(&mut d, tar, w, "layer")
    }

    #[test]
    fn files_dirs_links_and_modes() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| {
            add_dir(b, "d", 0o750);
            add_file(b, "d/f", b"hello");
            let mut h = header(tar::EntryType::Regular, 0o4755, 2);
            b.append_data(&mut h, "bin/su", &b"#!"[..]).unwrap();
            add_link(b, tar::EntryType::Symlink, "l", "/d/f");
            add_link(b, tar::EntryType::Link, "d/hard", "d/f");
        });
        let out = apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        assert_eq!(out.bytes, 7);
        let p = t.path();
        assert_eq!(std::fs::read(p.join("d/f")).unwrap(), b"hello");
        let md = std::fs::metadata(p.join("d")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o750);
        assert_eq!(md.mtime(), 1_000_000);
        assert_eq!(
            std::fs::metadata(p.join("bin/su"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o4755
        );
        assert_eq!(std::fs::read_link(p.join("l")).unwrap(), Path::new("/d/f"));
        assert_eq!(
            std::fs::metadata(p.join("d/hard")).unwrap().ino(),
            std::fs::metadata(p.join("d/f")).unwrap().ino()
        );
    }

    #[test]
    fn symlinks_are_followed_inside_the_root_only() {
        let outside = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        let out = outside.path().to_str().unwrap().to_string();
        let tar = tar_of(|b| {
            add_link(b, tar::EntryType::Symlink, "esc", &out);
            add_file(b, "esc/planted", b"x");
            add_link(b, tar::EntryType::Symlink, "up", "../../../../..");
            add_file(b, "up/tmp-planted", b"y");
            add_raw(b, "/abs", b"z");
        });
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // Each landed inside, where the container would see it.
        let inner = t.path().join(out.trim_start_matches('/')).join("planted");
        assert_eq!(std::fs::read(inner).unwrap(), b"x");
        assert_eq!(std::fs::read(t.path().join("tmp-planted")).unwrap(), b"y");
        assert_eq!(std::fs::read(t.path().join("abs")).unwrap(), b"z");
    }

    #[test]
    fn climbing_names_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| add_raw(b, "../evil", b"x"));
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("climbs out"), "{e}");
        assert!(!t.path().parent().unwrap().join("evil").exists());
    }

    #[test]
    fn whiteouts_remove_and_opaque_keeps_this_layer() {
        let t = tempfile::tempdir().unwrap();
        let lower = tar_of(|b| {
            add_file(b, "a/old", b"1");
            add_file(b, "a/keep-not", b"1");
            add_file(b, "gone", b"1");
            add_file(b, "dir/x", b"1");
        });
        apply_to(t.path(), &lower, Whiteouts::Apply).unwrap();
        let upper = tar_of(|b| {
            add_file(b, "a/new", b"2");
            add_file(b, "a/.wh..wh..opq", b"");
            add_file(b, ".wh.gone", b"");
            add_file(b, ".wh.dir", b"");
            add_file(b, "nowhere/.wh.x", b"");
        });
        apply_to(t.path(), &upper, Whiteouts::Apply).unwrap();
        let p = t.path();
        assert!(p.join("a/new").exists());
        assert!(!p.join("a/old").exists());
        assert!(!p.join("a/keep-not").exists());
        assert!(!p.join("gone").exists());
        assert!(!p.join("dir").exists());
        assert!(!p.join("nowhere").exists());
    }

    #[test]
    fn a_tar_cut_inside_a_file_names_the_file() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| add_file(b, "cut", &[7u8; 3000]));
        let e = apply_to(t.path(), &tar[..512 + 1024], Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"cut\"") && e.contains("1024 of 3000"), "{e}");
    }

    #[test]
    fn blank_numeric_fields_read_as_zero() {
        let t = tempfile::tempdir().unwrap();
        // A header as `Header::new_gnu` leaves it: uid, gid and mtime all NULs.
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o640);
        let tar = tar_of(|b| b.append_data(&mut h, "f", &b"hi"[..]).unwrap());
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        let md = std::fs::metadata(t.path().join("f")).unwrap();
        assert_eq!((md.mode() & 0o7777, md.mtime()), (0o640, 0));
        // A field that holds garbage is still an error.
        let mut h = header(tar::EntryType::Regular, 0o644, 0);
        h.as_old_mut().uid.copy_from_slice(b"zzzzzzz\0");
        h.as_old_mut().name[..1].copy_from_slice(b"g");
        h.set_cksum();
        let tar = tar_of(|b| b.append(&h, io::empty()).unwrap());
        let e = apply_to(t.path(), &tar, Whiteouts::Apply).unwrap_err();
        assert!(e.to_string().contains("\"g\""), "{e}");
    }

    #[test]
    fn directories_of_lower_layers_keep_their_times() {
        let t = tempfile::tempdir().unwrap();
        let lower = tar_of(|b| {
            add_dir(b, "d", 0o755);
            add_file(b, "d/a", b"1");
            add_dir(b, "w", 0o755);
            add_file(b, "w/gone", b"1");
            add_dir(b, "o", 0o755);
            add_file(b, "o/old", b"1");
        });
        apply_to(t.path(), &lower, Whiteouts::Apply).unwrap();
        // A layer that changes the directories without carrying their entries.
        let upper = tar_of(|b| {
            add_file(b, "d/b", b"2");
            add_link(b, tar::EntryType::Link, "d/c", "d/a");
            add_file(b, "w/.wh.gone", b"");
            add_file(b, "o/.wh..wh..opq", b"");
        });
        apply_to(t.path(), &upper, Whiteouts::Apply).unwrap();
        for d in ["d", "w", "o"] {
            let md = std::fs::metadata(t.path().join(d)).unwrap();
            assert_eq!(md.mtime(), 1_000_000, "{d}");
        }
        assert!(t.path().join("d/c").exists());
        assert!(!t.path().join("w/gone").exists());
        assert!(!t.path().join("o/old").exists());
    }

    #[test]
    fn a_hard_link_to_a_missing_file_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| add_link(b, tar::EntryType::Link, "h", "missing"));
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn overlay_whiteouts_need_root() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root (mknod, trusted xattrs)");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| {
            add_file(b, ".wh.gone", b"");
            add_dir(b, "o", 0o755);
            add_file(b, "o/.wh..wh..opq", b"");
            add_link(b, tar::EntryType::Link, "lower-link", "in/lower");
        });
        let out = apply_to(t.path(), &tar, Whiteouts::Overlay).unwrap();
        let md = std::fs::symlink_metadata(t.path().join("gone")).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(md.file_type().is_char_device());
        assert_eq!(md.rdev(), 0);
        let v = rfs::getxattr(
            t.path().join("o"),
            "trusted.overlay.opaque",
            &mut [0u8; 4][..],
        );
        assert_eq!(v.unwrap(), 1);
        assert_eq!(
            out.lower_links,
            vec![(PathBuf::from("lower-link"), PathBuf::from("in/lower"))]
        );
    }

    /// A PAX record `LEN KEY=VALUE\n`.
    fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
        let body = 3 + key.len() + value.len(); // space, '=', newline
        let mut len = body + 1;
        while len.to_string().len() + body != len {
            len = len.to_string().len() + body;
        }
        let mut r = format!("{len} {key}=").into_bytes();
        r.extend_from_slice(value);
        r.push(b'\n');
        r
    }

    /// A metadata entry (`x`, `L`, ...) holding `data`.
    fn add_meta(b: &mut tar::Builder<Vec<u8>>, kind: u8, data: &[u8]) {
        let mut h = header(tar::EntryType::new(kind), 0o644, data.len() as u64);
        h.as_old_mut().name[..9].copy_from_slice(b"././@meta");
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn a_huge_long_name_or_pax_header_is_refused_before_it_is_read() {
        let t = tempfile::tempdir().unwrap();
        for kind in [b'L', b'K', b'x', b'g'] {
            // Only the header: its declared 1 GiB is never there, and never read.
            let mut h = header(tar::EntryType::new(kind), 0o644, 1 << 30);
            h.as_old_mut().name[..9].copy_from_slice(b"././@Long");
            h.set_cksum();
            let e = apply_to(t.path(), h.as_bytes(), Whiteouts::Apply)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("1073741824 bytes, more than the 1048576 allowed"),
                "{e}"
            );
        }
        // Many headers under the limit each, before one entry, are refused too.
        let tar = tar_of(|b| {
            for i in 0..5 {
                add_meta(b, b'x', &pax_record(&format!("k{i}"), &[b'v'; 1000 << 10]));
            }
            add_file(b, "f", b"x");
        });
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bytes of headers before one entry"), "{e}");
        assert!(!t.path().join("f").exists());
    }

    #[test]
    fn long_names_in_errors_are_cut_short() {
        let t = tempfile::tempdir().unwrap();
        let name = format!("../{}", "a".repeat(100_000));
        let tar = tar_of(|b| {
            add_meta(b, b'L', name.as_bytes());
            add_file(b, "short", b"x");
        });
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("climbs out") && e.contains("…"), "{e}");
        assert!(e.len() < 400, "{} bytes: {e}", e.len());
    }

    #[test]
    fn pax_records_override_the_header() {
        let t = tempfile::tempdir().unwrap();
        let long = format!("{}/{}/file", "d".repeat(150), "e".repeat(150));
        let tar = tar_of(|b| {
            let mut rec = pax_record("path", long.as_bytes());
            rec.extend(pax_record("size", b"5"));
            rec.extend(pax_record("uid", b"4242"));
            rec.extend(pax_record("mtime", b"1234.5"));
            add_meta(b, b'x', &rec);
            // The header's own size says 0: the PAX size is what the content is.
            let mut h = header(tar::EntryType::Regular, 0o640, 0);
            h.as_old_mut().name[..5].copy_from_slice(b"short");
            h.set_cksum();
            let mut data = h.as_bytes().to_vec();
            data.extend_from_slice(b"hello");
            data.resize(1024, 0);
            b.get_mut().extend_from_slice(&data);
            add_file(b, "next", b"after");
        });
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        let f = t.path().join(&long);
        assert_eq!(std::fs::read(&f).unwrap(), b"hello");
        let md = std::fs::metadata(&f).unwrap();
        assert_eq!((md.mtime(), md.mtime_nsec()), (1234, 500_000_000));
        if rustix::process::geteuid().is_root() {
            assert_eq!(md.uid(), 4242);
        }
        assert!(!t.path().join("short").exists());
        assert_eq!(std::fs::read(t.path().join("next")).unwrap(), b"after");
    }

    /// A 10 GiB sparse file with a few bytes here and there (seven data segments, more than an
    /// old GNU header holds), and the spots to check.
    fn sparse_source(dir: &Path) -> Vec<(u64, &'static [u8])> {
        let spots: Vec<(u64, &'static [u8])> = vec![
            (0, b"start"),
            (1 << 20, b"one MiB"),
            (100 << 20, b"hundred"),
            (1 << 30, b"a GiB"),
            (3 << 30, b"three"),
            (5 << 30, b"five GiB"),
            ((10 << 30) - 3, b"end"),
        ];
        let f = File::create(dir.join("big")).unwrap();
        f.set_len(10 << 30).unwrap();
        for (off, data) in &spots {
            f.write_all_at(data, *off).unwrap();
        }
        spots
    }

    #[test]
    fn sparse_files_are_written_sparse_in_every_gnu_format() {
        let src = tempfile::tempdir().unwrap();
        let spots = sparse_source(src.path());
        for args in [
            &["--format=gnu"][..],
            &["--format=posix", "--sparse-version=0.0"],
            &["--format=posix", "--sparse-version=0.1"],
            &["--format=posix", "--sparse-version=1.0"],
            &["--format=posix"],
        ] {
            let out = std::process::Command::new("tar")
                .args(["--sparse", "-c", "-f", "-", "-C"])
                .arg(src.path())
                .args(args)
                .arg("big")
                .output()
                .expect("GNU tar");
            assert!(out.status.success(), "{args:?}");
            assert!(
                out.stdout.len() < 100 << 10,
                "{args:?}: the archive is small"
            );
            let t = tempfile::tempdir().unwrap();
            let a = apply_to(t.path(), &out.stdout, Whiteouts::Apply).unwrap();
            let p = t.path().join("big");
            let md = std::fs::symlink_metadata(&p).unwrap();
            assert_eq!(md.len(), 10 << 30, "{args:?}");
            assert!(
                md.blocks() * 512 < 1 << 20,
                "{args:?}: {} blocks",
                md.blocks()
            );
            assert!(a.bytes < 64 << 10, "{args:?}: {} bytes written", a.bytes);
            let f = File::open(&p).unwrap();
            for (off, data) in &spots {
                let mut got = vec![0u8; data.len() + 2];
                let n = f.read_at(&mut got, off.saturating_sub(1)).unwrap();
                let mut want = vec![0u8; data.len() + 2];
                let at = usize::from(*off > 0);
                want[at..at + data.len()].copy_from_slice(data);
                want.truncate(n);
                assert_eq!(&got[..n], &want[..], "{args:?} at {off}");
            }
            let mut hole = [1u8; 4096];
            f.read_exact_at(&mut hole, 7 << 30).unwrap();
            assert!(hole.iter().all(|b| *b == 0), "{args:?}");
        }
    }

    #[test]
    fn a_sparse_map_that_does_not_add_up_is_refused() {
        let t = tempfile::tempdir().unwrap();
        // PAX 0.1: the map lists 10 bytes of data, the entry has 5.
        let tar = tar_of(|b| {
            let mut rec = pax_record("GNU.sparse.map", b"0,10");
            rec.extend(pax_record("GNU.sparse.size", b"100"));
            add_meta(b, b'x', &rec);
            add_file(b, "s", b"12345");
        });
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sparse map lists 10 bytes"), "{e}");
    }

    #[test]
    fn deferred_directory_metadata_does_not_follow_a_later_symlink() {
        for target in [".", "/", "../.."] {
            let t = tempfile::tempdir().unwrap();
            let root = t.path();
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
            let before = std::fs::metadata(root).unwrap();
            let tar = tar_of(|b| {
                let mut h = header(tar::EntryType::Directory, 0o701, 0);
                h.set_uid(1234);
                h.set_gid(1234);
                b.append_data(&mut h, "d", io::empty()).unwrap();
                add_file(b, "d/f", b"x");
                // `d` replaced by a symlink to the root later in the same layer.
                add_link(b, tar::EntryType::Symlink, "d", target);
            });
            apply_to(root, &tar, Whiteouts::Apply).unwrap();
            let after = std::fs::metadata(root).unwrap();
            assert_eq!(after.mode() & 0o7777, 0o755, "{target}");
            assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
            assert!(std::fs::symlink_metadata(root.join("d"))
                .unwrap()
                .file_type()
                .is_symlink());
        }
        // A directory given twice: the last entry counts.
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| {
            add_dir(b, "d", 0o700);
            add_file(b, "d", b"not a dir");
            add_dir(b, "d", 0o751);
        });
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        let md = std::fs::metadata(t.path().join("d")).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o751);
    }

    /// Opens `rel` under `root` one component at a time (a path string would be too long).
    fn open_deep(root: &Path, rel: &str) -> io::Result<OwnedFd> {
        let mut cur = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        for c in rel.split('/') {
            cur = rfs::openat(&cur, c, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())?;
        }
        Ok(cur)
    }

    #[test]
    fn paths_longer_than_path_max_are_extracted() {
        let t = tempfile::tempdir().unwrap();
        let deep: String = (0..30)
            .map(|i| format!("{i:02}{}", "x".repeat(198)))
            .collect::<Vec<_>>()
            .join("/");
        assert!(deep.len() > 6000);
        let with_pax =
            |b: &mut tar::Builder<Vec<u8>>, key: &str, name: &str, h: tar::Header, data: &[u8]| {
                add_meta(b, b'x', &pax_record(key, name.as_bytes()));
                let mut h = h;
                h.as_old_mut().name[..5].copy_from_slice(b"dummy");
                h.set_cksum();
                b.append(&h, data).unwrap();
            };
        let lower = tar_of(|b| {
            with_pax(
                b,
                "path",
                &format!("{deep}/f"),
                header(tar::EntryType::Regular, 0o600, 4),
                b"deep",
            );
            with_pax(
                b,
                "path",
                &format!("{deep}/gone"),
                header(tar::EntryType::Regular, 0o644, 1),
                b"g",
            );
            // A hard link at that depth to the file at that depth.
            let mut rec = pax_record("path", format!("{deep}/hard").as_bytes());
            rec.extend(pax_record("linkpath", format!("{deep}/f").as_bytes()));
            add_meta(b, b'x', &rec);
            let mut h = header(tar::EntryType::Link, 0o644, 0);
            h.as_old_mut().name[..5].copy_from_slice(b"dummy");
            h.set_cksum();
            b.append(&h, io::empty()).unwrap();
            with_pax(
                b,
                "path",
                &deep,
                header(tar::EntryType::Directory, 0o711, 0),
                b"",
            );
        });
        apply_to(t.path(), &lower, Whiteouts::Apply).unwrap();
        let f = open_deep(t.path(), &format!("{deep}/f")).unwrap();
        let h = open_deep(t.path(), &format!("{deep}/hard")).unwrap();
        assert_eq!(
            rfs::fstat(&f).unwrap().st_ino,
            rfs::fstat(&h).unwrap().st_ino
        );
        assert_eq!(rfs::fstat(&f).unwrap().st_size, 4);
        let d = open_deep(t.path(), &deep).unwrap();
        assert_eq!(rfs::fstat(&d).unwrap().st_mode & 0o7777, 0o711);
        // A whiteout at that depth, in the next layer.
        let upper = tar_of(|b| {
            with_pax(
                b,
                "path",
                &format!("{deep}/.wh.gone"),
                header(tar::EntryType::Regular, 0o644, 0),
                b"",
            );
        });
        apply_to(t.path(), &upper, Whiteouts::Apply).unwrap();
        let e = open_deep(t.path(), &format!("{deep}/gone")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(open_deep(t.path(), &format!("{deep}/f")).is_ok());
    }

    #[test]
    fn a_very_deep_tree_is_made_and_whited_out_without_recursion() {
        let t = tempfile::tempdir().unwrap();
        let deep = format!("top/{}", ["d"; 4_000].join("/"));
        let lower = tar_of(|b| {
            add_meta(b, b'x', &pax_record("path", format!("{deep}/f").as_bytes()));
            let mut h = header(tar::EntryType::Regular, 0o644, 1);
            h.as_old_mut().name[..5].copy_from_slice(b"dummy");
            h.set_cksum();
            b.append(&h, &b"f"[..]).unwrap();
            add_file(b, "keep", b"k");
        });
        apply_to(t.path(), &lower, Whiteouts::Apply).unwrap();
        assert!(open_deep(t.path(), &format!("{deep}/f")).is_ok());
        let upper = tar_of(|b| add_file(b, ".wh.top", b""));
        apply_to(t.path(), &upper, Whiteouts::Apply).unwrap();
        let left: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("keep")]);
    }

    #[test]
    fn a_deep_walk_stays_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        let long = (0..25)
            .map(|_| "y".repeat(200))
            .collect::<Vec<_>>()
            .join("/");
        let out = outside.path().to_str().unwrap().to_string();
        let tar = tar_of(|b| {
            add_link(b, tar::EntryType::Symlink, "abs", &out);
            add_link(b, tar::EntryType::Symlink, "up", "../../../..");
            for top in ["abs", "up"] {
                let name = format!("{top}/{long}/planted");
                add_meta(b, b'x', &pax_record("path", name.as_bytes()));
                let mut h = header(tar::EntryType::Regular, 0o644, 1);
                h.as_old_mut().name[..5].copy_from_slice(b"dummy");
                h.set_cksum();
                b.append(&h, &b"z"[..]).unwrap();
            }
        });
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        let inner = format!("{}/{long}/planted", out.trim_start_matches('/'));
        assert!(open_deep(t.path(), &inner).is_ok());
        assert!(open_deep(t.path(), &format!("{long}/planted")).is_ok());
    }

    fn stream_layer(blob: &[u8], media_type: &str, diff_id: Digest) -> Result<LayerRef> {
        let digest = Digest::sha256_of(blob);
        Ok(LayerRef {
            compression: layer_compression(media_type, &digest)?,
            digest,
            size: blob.len() as u64,
            diff_id,
            media_type: media_type.into(),
        })
    }

    #[test]
    fn a_decompression_bomb_is_stopped_early() {
        let zeros = vec![0u8; 1 << 20];
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 0o644, 64 << 20);
        let src = io::repeat(0).take(64 << 20);
        tar.append_data(&mut h, "zeros", src).unwrap();
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 200 << 10);
        drop(zeros);
        let layer = stream_layer(
            &gz,
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Digest::sha256_of(&tar),
        )
        .unwrap();
        let limits = ExpansionLimit {
            max_bytes: 8 << 20,
            ratio: 10,
        };
        let t = tempfile::tempdir().unwrap();
        let mut d = Dest::open(t.path()).unwrap();
        let e = apply_stream_limited(&gz[..], &layer, &mut d, Whiteouts::Apply, limits)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("decompression bomb") && e.contains("BERTH_LAYER_MAX_RATIO"),
            "{e}"
        );
        assert!(e.contains(&layer.digest.to_string()), "{e}");
        // Stopped at the limit, not at the end.
        let written = std::fs::metadata(t.path().join("zeros")).map_or(0, |m| m.len());
        assert!(written <= 8 << 20, "{written}");
        // Within the limit, it is unpacked.
        let limits = ExpansionLimit {
            max_bytes: 8 << 20,
            ratio: 2000,
        };
        let t = tempfile::tempdir().unwrap();
        let mut d = Dest::open(t.path()).unwrap();
        apply_stream_limited(&gz[..], &layer, &mut d, Whiteouts::Apply, limits).unwrap();
        assert_eq!(
            std::fs::metadata(t.path().join("zeros")).unwrap().len(),
            64 << 20
        );
    }

    #[test]
    fn sparse_segments_count_whole_blocks_against_the_limit() {
        // 2000 one-byte segments 1 MiB apart: 2000 bytes of data, 8 MB of blocks on disk.
        let map: Vec<String> = (0..2000u64).map(|i| format!("{},1", i << 20)).collect();
        let tar = tar_of(|b| {
            let mut rec = pax_record("GNU.sparse.map", map.join(",").as_bytes());
            rec.extend(pax_record(
                "GNU.sparse.size",
                (2000u64 << 20).to_string().as_bytes(),
            ));
            add_meta(b, b'x', &rec);
            add_file(b, "holes", &[b'x'; 2000]);
        });
        let layer = stream_layer(
            &tar,
            "application/vnd.oci.image.layer.v1.tar",
            Digest::sha256_of(&tar),
        )
        .unwrap();
        let run = |max_bytes| {
            let t = tempfile::tempdir().unwrap();
            let mut d = Dest::open(t.path()).unwrap();
            let limits = ExpansionLimit {
                max_bytes,
                ratio: 1,
            };
            let r = apply_stream_limited(&tar[..], &layer, &mut d, Whiteouts::Apply, limits);
            (t, r)
        };
        let (_t, r) = run(4 << 20);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("decompression bomb") && e.contains("\"holes\""),
            "{e}"
        );
        let (t, r) = run(16 << 20);
        r.unwrap();
        let md = std::fs::metadata(t.path().join("holes")).unwrap();
        assert_eq!(md.len(), 2000 << 20);
    }

    #[test]
    fn media_types_decide_compression_and_the_magic_must_agree() {
        let tar = tar_of(|b| add_file(b, "f", b"x"));
        let diff_id = Digest::sha256_of(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        // A skippable frame first (magic 0x184D2A5B, 4 bytes of payload).
        let mut skippable = vec![0x5b, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
        skippable.extend_from_slice(&zst);
        const OCI: &str = "application/vnd.oci.image.layer.v1.tar";
        let ok = [
            (&tar, OCI.to_string()),
            (&gz, format!("{OCI}+gzip")),
            (&zst, format!("{OCI}+zstd")),
            (&skippable, format!("{OCI}+zstd")),
            (
                &gz,
                "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
            ),
            (
                &gz,
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip".into(),
            ),
            (&tar, "application/vnd.docker.image.rootfs.diff.tar".into()),
            // Docker's plain type on a gzip layer: its content decides, as in containerd.
            (&gz, "application/vnd.docker.image.rootfs.diff.tar".into()),
        ];
        for (blob, mt) in ok {
            let t = tempfile::tempdir().unwrap();
            let mut d = Dest::open(t.path()).unwrap();
            let layer = stream_layer(blob, &mt, diff_id.clone()).unwrap();
            apply_stream(&blob[..], &layer, &mut d, Whiteouts::Apply).unwrap();
            assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"x", "{mt}");
        }
        let mismatched = [
            (
                &gz,
                OCI.to_string(),
                "says an uncompressed tar, but its content is gzip",
            ),
            (
                &tar,
                format!("{OCI}+gzip"),
                "says gzip, but its content is not",
            ),
            (
                &zst,
                format!("{OCI}+gzip"),
                "says gzip, but its content is zstd",
            ),
            (
                &gz,
                format!("{OCI}+zstd"),
                "says zstd, but its content is gzip",
            ),
        ];
        for (blob, mt, why) in mismatched {
            let t = tempfile::tempdir().unwrap();
            let mut d = Dest::open(t.path()).unwrap();
            let layer = stream_layer(blob, &mt, diff_id.clone()).unwrap();
            let e = apply_stream(&blob[..], &layer, &mut d, Whiteouts::Apply)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why) && e.contains(&mt), "{e}");
            assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
        }
        for mt in [
            "application/vnd.in-toto+json",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "text/plain",
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
        ] {
            let e = stream_layer(&gz, mt, diff_id.clone())
                .unwrap_err()
                .to_string();
            assert!(e.contains(mt) && e.contains("not an image layer"), "{e}");
        }
    }
}
