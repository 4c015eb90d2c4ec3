//! A tar stream applied to a [`Dest`]: each entry made with the `*at` calls on its resolved
//! parent, whiteouts applied or written for overlayfs, directory metadata set last.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;

use super::dest::*;
use super::*;

/// Metadata of a tar entry, with PAX records applied.
pub(super) struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    mtime_nsec: u32,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

pub(super) fn timestamps(m: &Meta) -> Timestamps {
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
pub(super) fn xattr_allowed(name: &[u8]) -> bool {
    !(name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay."))
        && (name.starts_with(b"user.")
            || name.starts_with(b"trusted.")
            || name == b"security.capability"
            || name.starts_with(b"system.posix_acl"))
}

pub(super) struct Applier<'a> {
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

pub(super) fn apply_inner(
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
        a.out.size = a.out.size.saturating_add(crate::image::entry_size(
            entry.kind,
            entry.size,
            entry.real_size,
        ));
        a.entry(entry, &mut r)?;
    }
    a.finish()?;
    Ok(a.out)
}

impl Applier<'_> {
    pub(super) fn fail(&self, name: &Path, why: impl std::fmt::Display) -> Error {
        Error::InvalidInput(format!(
            "{}: entry {}: {why}",
            self.what,
            short_name(name.as_os_str().as_bytes())
        ))
    }

    pub(super) fn entry<R: Read>(&mut self, e: Entry, r: &mut TarReader<R>) -> Result<()> {
        let raw = PathBuf::from(OsStr::from_bytes(&e.name));
        let Some(rel) = clean(&raw) else {
            return Err(self.fail(&raw, "the name climbs out of the root filesystem"));
        };
        let meta = self.meta(&e);
        let name = rel.file_name().map(|n| n.as_bytes().to_vec());

        // Whiteouts.
        if let Some(n) = name
            .as_deref()
            .filter(|n| n.starts_with(WHITEOUT_PREFIX) && self.whiteouts != Whiteouts::Keep)
        {
            let (parent, _) = split(&rel).expect("a whiteout has a name");
            let parent = parent.to_path_buf();
            let target = &n[WHITEOUT_PREFIX.len()..];
            if n == OPAQUE_WHITEOUT {
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

    pub(super) fn meta(&self, e: &Entry) -> Meta {
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
    pub(super) fn clear(&mut self, pfd: &OwnedFd, name: &OsStr) -> io::Result<()> {
        if remove_at(pfd, name)? {
            self.dest.forget();
        }
        Ok(())
    }

    pub(super) fn directory(
        &mut self,
        pfd: &OwnedFd,
        name: &OsStr,
        rel: &Path,
        meta: Meta,
    ) -> io::Result<()> {
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
    pub(super) fn file<R: Read>(
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
    pub(super) fn count_blocks(&mut self, segments: &[(u64, u64)]) -> io::Result<()> {
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
    pub(super) fn set_meta(&self, fd: impl AsFd, meta: &Meta, times: bool) -> io::Result<()> {
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

    pub(super) fn symlink(
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
    pub(super) fn set_meta_at(
        &self,
        pfd: &OwnedFd,
        name: &OsStr,
        meta: &Meta,
        mode: bool,
    ) -> io::Result<()> {
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

    pub(super) fn hardlink(
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

    pub(super) fn node(
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

    pub(super) fn whiteout(&mut self, parent: &Path, target: &OsStr) -> io::Result<()> {
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

    pub(super) fn opaque(&mut self, dir: &Path) -> io::Result<()> {
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
    pub(super) fn remember(&mut self, rel: &Path, fd: &OwnedFd) {
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
    pub(super) fn same_dir(&self, rel: &Path, id: (u64, u64)) -> io::Result<Option<OwnedFd>> {
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
    pub(super) fn finish(&mut self) -> Result<()> {
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
