//! Applying layers: a layer's tar stream written into a directory, never outside it.
//!
//! Every path in the tar is resolved inside the target with `openat2(RESOLVE_IN_ROOT)`: an
//! absolute path, a `..`, or a symlink planted by this or an earlier layer (`etc -> /etc`,
//! `x -> ../../..`) all land inside the target, as they would inside the container. The final
//! component of each entry is created with the `*at` calls on the resolved parent's descriptor
//! and never followed. A name that climbs out of the target (`../../x`) is refused, as Docker does.
//!
//! Two ways to treat whiteouts:
//! - [`Whiteouts::Apply`] (a flattened root filesystem, `img-unpack`): `.wh.NAME` removes NAME
//!   and `.wh..wh..opq` removes what lower layers put in its directory.
//! - [`Whiteouts::Overlay`] (a snapshot, an overlayfs lower directory): `.wh.NAME` becomes a 0/0
//!   character device and `.wh..wh..opq` the `trusted.overlay.opaque` attribute, as overlayfs
//!   and containerd's overlay snapshotter write them.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{
    self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags,
};
use rustix::io::Errno;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::layer::decompress;
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
    cache: Option<(PathBuf, OwnedFd)>,
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
        berth_runtime::rootfs::openat2_retrying(
            &self.root,
            p,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )
        .map_err(errno)
    }

    /// Reads a small file inside the root (`/etc/passwd`), following symlinks inside it.
    pub fn read_file(&self, rel: &Path, limit: u64) -> io::Result<Vec<u8>> {
        let fd = self.open_in(rel, OFlags::RDONLY)?;
        let mut out = Vec::new();
        File::from(fd).take(limit).read_to_end(&mut out)?;
        Ok(out)
    }

    /// The directory `rel` (inside the root), made with its parents (mode 0755) when missing.
    fn dir(&mut self, rel: &Path) -> io::Result<OwnedFd> {
        if let Some((p, fd)) = &self.cache {
            if p == rel {
                return fd.try_clone();
            }
        }
        let fd = self.make_dir(rel)?;
        self.cache = Some((rel.to_path_buf(), fd.try_clone()?));
        Ok(fd)
    }

    fn make_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        self.make_dir_at(rel, 0)
    }

    fn make_dir_at(&self, rel: &Path, depth: u32) -> io::Result<OwnedFd> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        match self.open_in(rel, flags) {
            Err(e) if e.raw_os_error() == Some(libc_enoent()) => {
                let (parent, name) = split(rel).ok_or(e)?;
                let pfd = self.make_dir_at(parent, depth)?;
                match rfs::mkdirat(&pfd, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(errno(e)),
                }
                match self.open_in(rel, flags) {
                    // A symlink to a directory that does not exist: make the directory it
                    // names, inside the root, as the container would see it.
                    Err(e) if e.raw_os_error() == Some(libc_enoent()) => {
                        if depth >= 40 {
                            return Err(errno(Errno::LOOP));
                        }
                        let target = rfs::readlinkat(&pfd, name, Vec::new()).map_err(|_| e)?;
                        let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                        self.make_dir_at(&parent.join(target), depth + 1)?;
                        self.open_in(rel, flags)
                    }
                    r => r,
                }
            }
            r => r,
        }
    }

    /// Forgets the cached parent: after anything is removed or replaced.
    fn forget(&mut self) {
        self.cache = None;
    }
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
fn remove_at(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => {
            let sub = match rfs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::NOTDIR) => {
                    return rfs::unlinkat(dir, name, AtFlags::empty()).map_err(errno)
                }
                Err(e) => return Err(errno(e)),
            };
            empty_dir(&sub, &HashSet::new(), Path::new(""))?;
            match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(errno(e)),
            }
        }
        Err(e) => Err(errno(e)),
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
    /// Directories of this layer, with their metadata, set after their children.
    dirs: Vec<(PathBuf, Meta)>,
    /// Directories this layer changes without carrying their entry, with their times before:
    /// put back at the end, so that the tree depends on the image only (as `umoci unpack`).
    touched: HashMap<PathBuf, Timestamps>,
    out: Applied,
    buf: Vec<u8>,
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
    };
    let mut ar = tar::Archive::new(tar);
    let entries = ar
        .entries()
        .map_err(|e| Error::InvalidInput(format!("{what}: not a tar archive: {e}")))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| Error::InvalidInput(format!("{what}: a corrupt tar archive: {e}")))?;
        a.entry(entry)?;
    }
    a.finish()?;
    Ok(a.out)
}

impl Applier<'_> {
    fn fail(&self, name: &Path, why: impl std::fmt::Display) -> Error {
        Error::InvalidInput(format!("{}: entry {:?}: {why}", self.what, name))
    }

    fn entry<R: Read>(&mut self, mut e: tar::Entry<'_, R>) -> Result<()> {
        let raw = e
            .path()
            .map_err(|err| Error::InvalidInput(format!("{}: a bad entry name: {err}", self.what)))?
            .into_owned();
        let Some(rel) = clean(&raw) else {
            return Err(self.fail(&raw, "the name climbs out of the root filesystem"));
        };
        let kind = e.header().entry_type();
        let meta = self.meta(&mut e, &raw)?;
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
            if kind.is_dir() {
                self.dirs.push((rel, meta));
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

        use tar::EntryType as T;
        let r = match kind {
            T::Directory => self.directory(&pfd, &name, &rel, meta),
            T::Regular | T::Continuous | T::GNUSparse => self.file(&pfd, &name, &mut e, &meta),
            T::Symlink => {
                let target = e
                    .link_name()
                    .map_err(|err| self.fail(&raw, err))?
                    .ok_or_else(|| self.fail(&raw, "a symlink without a target"))?
                    .into_owned();
                self.symlink(&pfd, &name, &target, &meta)
            }
            T::Link => {
                let target = e
                    .link_name()
                    .map_err(|err| self.fail(&raw, err))?
                    .ok_or_else(|| self.fail(&raw, "a hard link without a target"))?
                    .into_owned();
                let Some(target) = clean(&target) else {
                    return Err(self.fail(
                        &raw,
                        "the hard link's target climbs out of the root filesystem",
                    ));
                };
                self.hardlink(&pfd, &name, &rel, &target)
            }
            T::Fifo | T::Char | T::Block => {
                let dev = rfs::makedev(
                    e.header().device_major().ok().flatten().unwrap_or(0),
                    e.header().device_minor().ok().flatten().unwrap_or(0),
                );
                let ft = match kind {
                    T::Fifo => FileType::Fifo,
                    T::Char => FileType::CharacterDevice,
                    _ => FileType::BlockDevice,
                };
                self.node(&pfd, &name, &rel, ft, dev, &meta)
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {
                self.out.entries -= 1;
                Ok(())
            }
            other => {
                self.out.entries -= 1;
                eprintln!(
                    "warning: {}: entry {:?} of tar type {:?} skipped",
                    self.what,
                    raw,
                    other.as_byte() as char
                );
                Ok(())
            }
        };
        r.map_err(|err| self.fail(&raw, err))?;
        self.written.insert(rel);
        Ok(())
    }

    fn meta<R: Read>(&self, e: &mut tar::Entry<'_, R>, raw: &Path) -> Result<Meta> {
        let h = e.header();
        let bad = |err: io::Error| self.fail(raw, err);
        let old = h.as_old();
        let mut m = Meta {
            mode: blank_is_zero(h.mode().map(u64::from), &old.mode).map_err(bad)? as u32 & 0o7777,
            uid: blank_is_zero(h.uid(), &old.uid).map_err(bad)? as u32,
            gid: blank_is_zero(h.gid(), &old.gid).map_err(bad)? as u32,
            mtime: blank_is_zero(h.mtime(), &old.mtime).map_err(bad)? as i64,
            mtime_nsec: 0,
            xattrs: Vec::new(),
        };
        if let Some(pax) = e.pax_extensions().map_err(bad)? {
            for ext in pax {
                let ext = ext.map_err(bad)?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                let num = || std::str::from_utf8(value).ok().map(str::trim);
                match key {
                    "uid" => m.uid = num().and_then(|v| v.parse().ok()).unwrap_or(m.uid),
                    "gid" => m.gid = num().and_then(|v| v.parse().ok()).unwrap_or(m.gid),
                    "mtime" => {
                        if let Some((s, ns)) = num().and_then(parse_pax_time) {
                            m.mtime = s;
                            m.mtime_nsec = ns;
                        }
                    }
                    k => {
                        if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                            m.xattrs.push((name.as_bytes().to_vec(), value.to_vec()));
                        }
                    }
                }
            }
        }
        if let Some((uid, gid)) = self.owner {
            m.uid = uid;
            m.gid = gid;
        }
        Ok(m)
    }

    /// Removes whatever is at `name` in `pfd` before something new goes there.
    fn clear(&mut self, pfd: &OwnedFd, name: &OsStr) -> io::Result<()> {
        self.dest.forget();
        remove_at(pfd, name)
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
        self.dirs.push((rel.to_path_buf(), meta));
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        e: &mut tar::Entry<'_, R>,
        meta: &Meta,
    ) -> io::Result<()> {
        self.clear(pfd, name)?;
        let fd = rfs::openat(
            pfd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(errno)?;
        let mut f = File::from(fd);
        let mut got = 0u64;
        loop {
            let n = match e.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            f.write_all(&self.buf[..n])?;
            self.out.bytes += n as u64;
            got += n as u64;
        }
        // The tar crate ends an entry's content quietly where the stream ends.
        let want = e.size();
        if got < want && e.header().entry_type() != tar::EntryType::GNUSparse {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the layer ends inside the file's content ({got} of {want} bytes)"),
            ));
        }
        self.set_meta(f.as_fd(), meta, true)
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
        self.clear(pfd, name)?;
        rfs::symlinkat(target, pfd, name).map_err(errno)?;
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
                    "warning: {}: device node {:?} skipped: not allowed to make devices here",
                    self.what, rel
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
            Whiteouts::Apply | Whiteouts::Keep => {
                self.dest.open_in(parent, OFlags::PATH | OFlags::DIRECTORY)
            }
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
            self.touched.insert(rel.to_path_buf(), t);
        }
    }

    /// Directory metadata last, deepest first, so that writing children changes no time; the
    /// directories of lower layers that this one changed get their times back.
    fn finish(&mut self) -> Result<()> {
        let dirs = std::mem::take(&mut self.dirs);
        let ours: HashSet<&Path> = dirs.iter().map(|(p, _)| p.as_path()).collect();
        for (rel, t) in std::mem::take(&mut self.touched) {
            if ours.contains(rel.as_path()) {
                continue;
            }
            // Gone or replaced since (a later whiteout, a file over it): nothing to put back.
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW;
            if let Ok(fd) = self.dest.open_in(&rel, flags) {
                rfs::futimens(&fd, &t).map_err(|e| self.fail(&rel, errno(e)))?;
            }
        }
        for (rel, meta) in dirs.iter().rev() {
            let fd = self
                .dest
                .open_in(rel, OFlags::RDONLY | OFlags::DIRECTORY)
                .and_then(|fd| self.set_meta(&fd, meta, true));
            fd.map_err(|e| self.fail(rel, e))?;
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
            Ok(LayerRef {
                digest: Digest::try_from(l.digest())?,
                size: l.size(),
                diff_id: Digest::parse(d)?,
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
/// digest, or `input` does), checking its diffID. Decompression runs on its own thread.
pub fn apply_stream(
    input: impl Read + Send,
    layer: &LayerRef,
    dest: &mut Dest,
    whiteouts: Whiteouts,
) -> Result<Applied> {
    let what = format!("layer {}", layer.digest);
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    std::thread::scope(|s| {
        let what = &what;
        let reader = s.spawn(move || -> Result<()> {
            // tx moves here: when this ends, the writer sees the end of the stream.
            let mut input = HashingReader::new(decompress(input, what)?, layer.diff_id.algorithm());
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
        let applied = apply(dest, &mut r, whiteouts, what);
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

/// A numeric header field that is all NULs or spaces reads as 0, as Go's archive/tar (Docker,
/// containerd, umoci) reads it; the `tar` crate calls it "not a number".
fn blank_is_zero(parsed: io::Result<u64>, field: &[u8]) -> io::Result<u64> {
    match parsed {
        Err(_) if field.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        r => r,
    }
}

fn parse_pax_time(v: &str) -> Option<(i64, u32)> {
    let (s, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs = s.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    Some((secs, digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
