//! Copying files between the host and a container (`ctr-cp`), as `docker cp`.
//!
//! The path rules are Docker's (moby's `archive.CopyInfo` and `PrepareArchiveCopy`), decided by
//! [`plan`]: a file onto a file replaces it, a file or a directory onto an existing directory goes
//! into it under its own name, onto a missing path it is created under that name, `SRC/.` copies
//! a directory's contents, and the parent of a missing destination must exist.
//!
//! Inside the container, paths are resolved as the container sees them, symlinks included, and
//! never outside its root (CVE-2018-15664): every lookup is `openat2(RESOLVE_IN_ROOT)` on a
//! descriptor of the container's root file system, and a tree is walked with `openat(O_NOFOLLOW)`
//! relative to the descriptors of the directories already opened, so a directory the container
//! swaps for a symlink meanwhile is never followed. Copies out are tars built from those
//! descriptors; copies in are the hardened layer extraction ([`unpack::apply_owned`]) on a
//! descriptor of the destination directory. Nothing of the container's file system is loaded or
//! run (CVE-2019-14271): no chroot, no name service.
//!
//! The file system is the container's mounted view, as Docker's: a path in a volume or a bind
//! mount reads and writes the mount's host source (the longest destination wins, as the kernel
//! stacks them), a directory copied out includes the mounts below it, and a copy into a
//! read-only mount is refused before anything is written. A running container's view is its
//! init's root, `/proc/PID/root`, every mount (tmpfs too) in place; a stopped one's is rebuilt
//! in a private mount namespace of this process: the root file system mounted, its volumes and
//! binds bound onto their destinations (resolved inside it), read-only where they are. Its
//! tmpfs mounts have no content then, and copies through them are refused.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::{export, liveness, rootfs, Container, Containers};
use crate::error::{Error, Result};
use crate::root::Root;
use crate::unpack::{self, Dest, Whiteouts};

mod tree;
use tree::*;

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// A path on the host.
    Host(PathBuf),
    /// `-`: a tar stream on stdin (as the source) or stdout (as the destination).
    Stdio,
    /// `CONTAINER:PATH`.
    Container { name: String, path: String },
}

/// Reads a command-line argument as Docker's `splitCpArg` does: an absolute path, or one whose
/// part before the first `:` starts with `.`, is a host path.
pub fn parse_side(arg: &str) -> Side {
    if arg == "-" {
        return Side::Stdio;
    }
    if arg.starts_with('/') {
        return Side::Host(PathBuf::from(arg));
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() && !name.starts_with('.') => Side::Container {
            name: name.to_string(),
            path: path.to_string(),
        },
        _ => Side::Host(PathBuf::from(arg)),
    }
}

/// What is at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Dir,
    File,
    Missing,
}

/// Where the copy goes: into the destination itself or into its parent, and under what name
/// (none: the source directory's contents go straight in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub into_parent: bool,
    pub name: Option<OsString>,
}

/// The source as [`plan`] needs it.
#[derive(Debug, Clone)]
pub struct Source {
    pub is_dir: bool,
    /// `SRC/.` (or the root): the contents of the directory.
    pub contents: bool,
    /// The last component of the source path.
    pub name: OsString,
}

/// The last component of `path` and whether the path asks for a directory's contents (`/.`,
/// `/`), or for a directory at all (a trailing `/`).
pub fn split_name(path: &str) -> (Option<OsString>, bool, bool) {
    let trimmed = path.trim_end_matches('/');
    let contents = trimmed.is_empty() || trimmed == "." || trimmed.ends_with("/.");
    let dir_wanted = path.ends_with('/') && !trimmed.is_empty();
    let name = Path::new(trimmed)
        .file_name()
        .map(|n| n.to_os_string())
        .filter(|_| !contents);
    (name, contents, dir_wanted)
}

/// Docker's rules: where `src` goes for destination `dest` (as typed, `found` what is there).
pub fn plan(src: &Source, dest: &str, found: Found) -> std::result::Result<Plan, String> {
    let (dest_name, _, dest_slash) = split_name(dest);
    match (found, src.is_dir) {
        (Found::Dir, _) => Ok(Plan {
            into_parent: false,
            name: (!src.contents).then(|| src.name.clone()),
        }),
        (Found::File, true) => Err(format!(
            "cannot overwrite non-directory {dest} with a directory"
        )),
        (Found::File, false) if dest_slash => Err(format!("{dest}: not a directory")),
        (Found::File, false) | (Found::Missing, _) => {
            if found == Found::Missing && dest_slash && !src.is_dir {
                return Err(format!("{dest}: no such directory"));
            }
            match dest_name {
                Some(n) => Ok(Plan {
                    into_parent: true,
                    name: Some(n),
                }),
                None => Err(format!("{dest}: no such directory")),
            }
        }
    }
}

/// The parent of a path as typed (`""` for a bare name).
fn parent_of(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => "/".to_string(),
        Some(i) => trimmed[..i].to_string(),
        None => String::new(),
    }
}

/// What a copy did.
#[derive(Debug, Clone)]
pub struct Copied {
    pub container: Container,
    pub entries: u64,
    pub bytes: u64,
}

/// Options of a copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// `-a`: keep the source's owners (copies into the container; copies out always keep them).
    pub archive: bool,
    /// `-L`: follow a symlink that is the source.
    pub follow: bool,
}

/// One of the container's mounts, as the copy needs it: its `Mounts` record (volumes, binds,
/// `--mount type=tmpfs`) or a `--tmpfs` (which Docker keeps in `HostConfig.Tmpfs` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// Cleaned, absolute, no trailing slash.
    pub destination: String,
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// The host path mounted (empty for tmpfs).
    pub source: String,
    pub rw: bool,
}

fn clean_abs(p: &str) -> String {
    unpack::clean(Path::new(p))
        .map(|p| format!("/{}", p.display()))
        .unwrap_or_else(|| "/".into())
}

/// The mounts of container `c`.
pub fn mounts_of(c: &Container) -> Vec<MountPoint> {
    let mut out: Vec<MountPoint> = c
        .mounts
        .iter()
        .filter(|m| !m.destination.is_empty() && !m.kind.is_empty())
        .map(|m| MountPoint {
            destination: clean_abs(&m.destination),
            kind: m.kind.clone(),
            source: m.source.clone(),
            rw: m.rw,
        })
        .collect();
    if let Some(t) = &c.host_config.tmpfs {
        for (dest, opts) in t.iter() {
            let destination = clean_abs(dest);
            if out.iter().any(|m| m.destination == destination) {
                continue;
            }
            let ro = opts.split(',').any(|o| o == "ro");
            out.push(MountPoint {
                destination,
                kind: "tmpfs".into(),
                source: String::new(),
                rw: !ro,
            });
        }
    }
    out
}

/// The mount that holds the container path `path` (as typed): the one with the longest
/// destination that is `path` or one of its parents, as Docker picks it.
pub fn mount_for<'a>(mounts: &'a [MountPoint], path: &str) -> Option<&'a MountPoint> {
    let p = clean_abs(path);
    mounts
        .iter()
        .filter(|m| {
            m.destination == "/"
                || p == m.destination
                || p.strip_prefix(&m.destination)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|m| m.destination.len())
}

/// A container's file system opened for the copy, as the container sees it, its mounts
/// included. A running container's is its init's root (`/proc/PID/root`), every mount in
/// place. A stopped container's root file system is mounted in a private mount namespace of
/// this process, its volumes and bind mounts bound onto it there (unmounted on drop, and gone
/// with the process anyway).
struct Opened {
    container: Container,
    root: Dest,
    mounts: Vec<MountPoint>,
    running: bool,
    mounted: bool,
}

impl Drop for Opened {
    fn drop(&mut self) {
        if self.mounted {
            let _ = rootfs::unmount(&self.container);
        }
    }
}

impl Opened {
    fn name(&self) -> &str {
        self.container.name.trim_start_matches('/')
    }

    /// A stopped container's tmpfs has no content: refused rather than showing or changing
    /// the directory under it.
    fn check_tmpfs(&self, path: &str) -> Result<()> {
        match mount_for(&self.mounts, path) {
            Some(m) if m.kind == "tmpfs" && !self.running => Err(Error::InvalidInput(format!(
                "{path} in container {}: it is in the tmpfs mount {}, which has no content while the container is stopped",
                self.name(),
                m.destination
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses a copy into `dir` (the destination directory, resolved) when it is on a
    /// read-only mount, before anything is written, with Docker's words.
    fn check_writable(&self, dir: &OwnedFd, dest: &str) -> Result<()> {
        let ro = rfs::fstatvfs(dir)
            .map(|s| s.f_flag.contains(rfs::StatVfsMountFlags::RDONLY))
            .unwrap_or(false);
        let mount = mount_for(&self.mounts, dest);
        let typed = mount.filter(|m| !m.rw);
        let readonly_rootfs = self.container.host_config.readonly_rootfs;
        // A stopped container's rootfs is mounted writable for the copy: --read-only is
        // checked from its record (a path in one of its writable mounts is fine, as Docker).
        if !ro && typed.is_none() && !(readonly_rootfs && mount.is_none()) {
            return Ok(());
        }
        let why = match typed {
            Some(m) => format!(
                "{} is a read-only mount: mounted volume is marked read-only",
                m.destination
            ),
            None if readonly_rootfs => "container rootfs is marked read-only".to_string(),
            None => "it is on a read-only file system".to_string(),
        };
        Err(Error::InvalidInput(format!(
            "copy to {dest} in container {}: {why}",
            self.name()
        )))
    }
}

fn open_container(root: &Root, name: &str) -> Result<Opened> {
    let store = Containers::open(root.containers_dir())?;
    let c = liveness::refresh(&store.find(name)?);
    let mounts = mounts_of(&c);
    if (c.state.running || c.state.paused) && c.state.pid > 0 {
        if let Some(d) = open_running(&c)? {
            return Ok(Opened {
                root: d,
                container: c,
                mounts,
                running: true,
                mounted: false,
            });
        }
    }
    let merged = PathBuf::from(&c.graph_driver.merged);
    let binds: Vec<&MountPoint> = mounts.iter().filter(|m| m.kind != "tmpfs").collect();
    let private = if c.graph_driver.name == "copy" && binds.is_empty() {
        Ok(())
    } else {
        export::private_namespace()
    };
    let (root, mounted) = if c.graph_driver.name == "copy" || rootfs::is_mounted(&merged) {
        (Dest::open(&merged)?, false)
    } else {
        if let Err(e) = &private {
            return Err(need_root(&c, e));
        }
        rootfs::mount(&c)?;
        match Dest::open(&merged) {
            Ok(d) => (d, true),
            Err(e) => {
                let _ = rootfs::unmount(&c);
                return Err(e);
            }
        }
    };
    let mut o = Opened {
        root,
        mounted,
        container: c,
        mounts: Vec::new(),
        running: false,
    };
    if !binds.is_empty() {
        if let Err(e) = &private {
            return Err(need_root(&o.container, e));
        }
        // Parents first, so that a mount inside another one lands on it.
        let mut binds: Vec<MountPoint> = binds.into_iter().cloned().collect();
        binds.sort_by_key(|m| m.destination.matches('/').count());
        for m in &binds {
            bind_mount(&o.root, m).map_err(|e| {
                Error::InvalidInput(format!(
                    "container {}: cannot mount {} on {} for the copy: {e}",
                    o.name(),
                    m.source,
                    m.destination
                ))
            })?;
        }
    }
    o.mounts = mounts;
    Ok(o)
}

/// Copying with a stopped container mounts in a private mount namespace: root's to make.
fn need_root(c: &Container, e: &dyn std::fmt::Display) -> Error {
    Error::Runtime {
        message: format!(
            "cannot mount the file system of container {} in a private mount namespace ({e}): copying with a stopped container needs root",
            c.id
        ),
        code: 1,
    }
}

/// A running container's root as its init sees it (`/proc/PID/root`: its mount namespace,
/// volumes, binds and tmpfs mounts included). None when the init is gone or is another
/// process now (checked after the open, so a reused pid is never entered).
fn open_running(c: &Container) -> Result<Option<Dest>> {
    let p = PathBuf::from(format!("/proc/{}/root", c.state.pid));
    let fd = match rfs::open(
        &p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::SRCH) => return Ok(None),
        Err(e) => return Err(Error::io("open", &p, e.into())),
    };
    if !liveness::is_alive(c.state.pid, c.state.pid_start) {
        return Ok(None);
    }
    Ok(Some(Dest::from_fd(fd, p)))
}

/// Binds the mount's host source onto its destination inside `root` (resolved inside it,
/// missing directories made, as the runtime makes them at start), read-only when it is.
fn bind_mount(root: &Dest, m: &MountPoint) -> io::Result<()> {
    let src = rfs::open(
        m.source.as_str(),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let is_dir = FileType::from_raw_mode(rfs::fstat(&src)?.st_mode) == FileType::Directory;
    let target = mountpoint(root, &rel(&m.destination), is_dir)?;
    let fdp = |fd: &OwnedFd| format!("/proc/self/fd/{}", fd.as_raw_fd());
    nix::mount::mount(
        Some(fdp(&src).as_str()),
        fdp(&target).as_str(),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )?;
    if !m.rw {
        // The bind just made, looked up again: the old descriptor is the directory under it.
        let top = root.open_in(&rel(&m.destination), OFlags::PATH)?;
        nix::mount::mount(
            None::<&str>,
            fdp(&top).as_str(),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND
                | nix::mount::MsFlags::MS_REMOUNT
                | nix::mount::MsFlags::MS_RDONLY,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// `rel` inside `root` (an `O_PATH` descriptor), made when missing: directories, and the last
/// component an empty file when a file is to be bound on it.
fn mountpoint(root: &Dest, rel: &Path, dir: bool) -> io::Result<OwnedFd> {
    let parts: Vec<&OsStr> = rel.iter().collect();
    let mut sofar = PathBuf::new();
    for (i, part) in parts.iter().enumerate() {
        let next = sofar.join(part);
        match root.open_in(&next, OFlags::PATH) {
            Ok(_) => {}
            Err(e) if is_enoent(&e) => {
                let parent = root.open_in(&sofar, OFlags::PATH | OFlags::DIRECTORY)?;
                let last = i + 1 == parts.len();
                let made = if last && !dir {
                    rfs::openat(
                        &parent,
                        *part,
                        OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o644),
                    )
                    .map(drop)
                } else {
                    rfs::mkdirat(&parent, *part, Mode::from_raw_mode(0o755))
                };
                match made {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        }
        sofar = next;
    }
    root.open_in(&sofar, OFlags::PATH)
}

fn rel(path: &str) -> PathBuf {
    let p = path.trim_start_matches('/');
    PathBuf::from(if p.is_empty() { "." } else { p })
}

fn is_enoent(e: &io::Error) -> bool {
    e.raw_os_error() == Some(Errno::NOENT.raw_os_error())
}

fn is_enotdir(e: &io::Error) -> bool {
    e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error())
}

/// The source inside the container: an `O_PATH` descriptor (the last component not followed
/// unless `follow` or the path asks for a directory) and its status.
fn open_src_in(
    root: &Dest,
    c: &Container,
    path: &str,
    follow: bool,
) -> Result<(OwnedFd, Stat, Source)> {
    let (name, contents, dir_wanted) = split_name(path);
    let missing = || {
        Error::InvalidInput(format!(
            "Could not find the file {path} in container {}",
            c.name.trim_start_matches('/')
        ))
    };
    let fail = |e: io::Error| {
        if is_enoent(&e) {
            missing()
        } else if is_enotdir(&e) {
            Error::InvalidInput(format!("{path}: not a directory"))
        } else {
            Error::InvalidInput(format!("{path} in container {}: {e}", c.id))
        }
    };
    let fd = match &name {
        Some(n) if !follow && !dir_wanted => {
            let parent = root
                .open_in(&rel(&parent_of(path)), OFlags::PATH | OFlags::DIRECTORY)
                .map_err(fail)?;
            rfs::openat(
                &parent,
                n.as_os_str(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| fail(e.into()))?
        }
        _ => {
            let mut flags = OFlags::PATH;
            if contents || dir_wanted {
                flags |= OFlags::DIRECTORY;
            }
            root.open_in(&rel(path), flags).map_err(fail)?
        }
    };
    let st = rfs::fstat(&fd).map_err(|e| fail(e.into()))?;
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    Ok((
        fd,
        st,
        Source {
            is_dir,
            contents: contents && is_dir,
            name: name.unwrap_or_else(|| OsString::from(".")),
        },
    ))
}

/// The source on the host.
fn open_src_host(path: &Path, follow: bool) -> Result<(OwnedFd, Stat, Source)> {
    let s = path.to_string_lossy();
    let (name, contents, dir_wanted) = split_name(&s);
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if !(follow || contents || dir_wanted) {
        flags |= OFlags::NOFOLLOW;
    }
    if contents || dir_wanted {
        flags |= OFlags::DIRECTORY;
    }
    let fd = rfs::open(path, flags, Mode::empty())
        .map_err(|e| Error::io("open", path, io::Error::from(e)))?;
    let st = rfs::fstat(&fd).map_err(|e| Error::io("read", path, io::Error::from(e)))?;
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    Ok((
        fd,
        st,
        Source {
            is_dir,
            contents: contents && is_dir,
            name: name.unwrap_or_else(|| OsString::from(".")),
        },
    ))
}

/// Streams the tree at `fd` under `top` into `dest`, owned by `owner` when given.
fn pipe_into(
    fd: OwnedFd,
    st: &Stat,
    top: Option<&Path>,
    dest: &mut Dest,
    what: &str,
    owner: Option<(u32, u32)>,
) -> Result<unpack::Applied> {
    let (reader, writer) = io::pipe().map_err(|e| Error::stream("pipe", e))?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || write_tree(fd, st, top, writer));
        let applied = unpack::apply_owned(dest, reader, Whiteouts::Keep, what, owner);
        let produced = producer.join().expect("the tar writer does not panic");
        produced?;
        applied
    })
}

/// What is at `path` on the host (symlinks followed, as Docker on the client side).
fn host_found(path: &Path) -> Result<Found> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(Found::Dir),
        Ok(_) => Ok(Found::File),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Missing),
        Err(e) if e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => Ok(Found::Missing),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Copies `src` inside container `name` to the host path `dest`, or as a tar to `out` when
/// `dest` is `None`.
pub fn copy_out(
    root: &Root,
    name: &str,
    src: &str,
    dest: Option<&Path>,
    out: impl Write,
    opts: Options,
) -> Result<Copied> {
    let o = open_container(root, name)?;
    o.check_tmpfs(src)?;
    let (fd, st, source) = open_src_in(&o.root, &o.container, src, opts.follow)?;
    let Some(dest) = dest else {
        let top = (!source.contents).then(|| PathBuf::from(&source.name));
        write_tree(fd, &st, top.as_deref(), out)?;
        return Ok(Copied {
            container: o.container.clone(),
            entries: 0,
            bytes: 0,
        });
    };
    let dest_s = dest.to_string_lossy();
    let found = host_found(dest)?;
    let p = plan(&source, &dest_s, found).map_err(Error::InvalidInput)?;
    let dir = if p.into_parent {
        let parent = parent_of(&dest_s);
        let parent = if parent.is_empty() {
            ".".into()
        } else {
            parent
        };
        if host_found(Path::new(&parent))? != Found::Dir {
            return Err(Error::InvalidInput(format!(
                "the directory {parent} does not exist"
            )));
        }
        PathBuf::from(parent)
    } else {
        dest.to_path_buf()
    };
    let mut d = Dest::open(&dir)?;
    let a = pipe_into(
        fd,
        &st,
        p.name.as_deref().map(Path::new),
        &mut d,
        &format!("the copy to {}", dest.display()),
        None,
    )?;
    Ok(Copied {
        container: o.container.clone(),
        entries: a.entries,
        bytes: a.bytes,
    })
}

/// Copies the host path `src` (or a tar read from `input` when `src` is `None`) to `dest`
/// inside container `name`.
pub fn copy_in(
    root: &Root,
    src: Option<&Path>,
    input: impl Read,
    name: &str,
    dest: &str,
    opts: Options,
) -> Result<Copied> {
    // The host side first: a missing source changes nothing.
    let host = src.map(|s| open_src_host(s, opts.follow)).transpose()?;
    let o = open_container(root, name)?;
    o.check_tmpfs(dest)?;
    let owner = (!opts.archive).then_some((0, 0));
    let cname = o.container.name.trim_start_matches('/').to_string();
    let in_ctr =
        |e: io::Error, p: &str| Error::InvalidInput(format!("{p} in container {cname}: {e}"));
    let found = match o.root.open_in(&rel(dest), OFlags::PATH) {
        Ok(fd) => match rfs::fstat(&fd) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => Found::Dir,
            Ok(_) => Found::File,
            Err(e) => return Err(in_ctr(e.into(), dest)),
        },
        Err(e) if is_enoent(&e) || is_enotdir(&e) => Found::Missing,
        Err(e) => return Err(in_ctr(e, dest)),
    };
    let what = format!("the copy to {dest} in container {cname}");
    let Some((fd, st, source)) = host else {
        // A tar stream: extracted into the destination, which must be a directory.
        if found != Found::Dir {
            return Err(Error::InvalidInput(format!(
                "{dest} in container {cname}: {}",
                if found == Found::Missing {
                    "no such directory"
                } else {
                    "not a directory: a tar stream is extracted into a directory"
                }
            )));
        }
        let dfd = o
            .root
            .open_in(&rel(dest), OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| in_ctr(e, dest))?;
        o.check_writable(&dfd, dest)?;
        let mut d = Dest::from_fd(dfd, PathBuf::from(dest));
        let a = unpack::apply_owned(&mut d, input, Whiteouts::Keep, &what, owner)?;
        return Ok(Copied {
            container: o.container.clone(),
            entries: a.entries,
            bytes: a.bytes,
        });
    };
    let p = plan(&source, dest, found).map_err(Error::InvalidInput)?;
    let dir = if p.into_parent {
        parent_of(dest)
    } else {
        dest.to_string()
    };
    let dfd = match o.root.open_in(&rel(&dir), OFlags::PATH | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if is_enoent(&e) || is_enotdir(&e) => {
            return Err(Error::InvalidInput(format!(
                "the directory {dir} does not exist in container {cname}"
            )))
        }
        Err(e) => return Err(in_ctr(e, &dir)),
    };
    o.check_writable(&dfd, dest)?;
    let mut d = Dest::from_fd(dfd, PathBuf::from(&dir));
    let a = pipe_into(
        fd,
        &st,
        p.name.as_deref().map(Path::new),
        &mut d,
        &what,
        owner,
    )?;
    Ok(Copied {
        container: o.container.clone(),
        entries: a.entries,
        bytes: a.bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(is_dir: bool, path: &str) -> Source {
        let (name, contents, _) = split_name(path);
        Source {
            is_dir,
            contents: contents && is_dir,
            name: name.unwrap_or_else(|| ".".into()),
        }
    }

    fn go(
        s: Source,
        dest: &str,
        found: Found,
    ) -> std::result::Result<(bool, Option<String>), String> {
        plan(&s, dest, found).map(|p| {
            (
                p.into_parent,
                p.name.map(|n| n.to_string_lossy().into_owned()),
            )
        })
    }

    #[test]
    fn arguments_split_as_docker() {
        assert_eq!(parse_side("-"), Side::Stdio);
        assert_eq!(parse_side("/a:b"), Side::Host("/a:b".into()));
        assert_eq!(parse_side("./a:b"), Side::Host("./a:b".into()));
        assert_eq!(parse_side("file"), Side::Host("file".into()));
        assert_eq!(
            parse_side("web:/www/index.html"),
            Side::Container {
                name: "web".into(),
                path: "/www/index.html".into()
            }
        );
    }

    #[test]
    fn names_contents_and_slashes() {
        assert_eq!(split_name("/a/b"), (Some("b".into()), false, false));
        assert_eq!(split_name("/a/b/"), (Some("b".into()), false, true));
        assert_eq!(split_name("/a/b/."), (None, true, false));
        assert_eq!(split_name("/"), (None, true, false));
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("a"), "");
        assert_eq!(parent_of("x/y/"), "x");
    }

    #[test]
    fn file_rules() {
        // Onto a file: replaced.
        assert_eq!(
            go(src(false, "/f"), "/d/g", Found::File),
            Ok((true, Some("g".into())))
        );
        // Into a directory, with or without a slash.
        assert_eq!(
            go(src(false, "/f"), "/d", Found::Dir),
            Ok((false, Some("f".into())))
        );
        assert_eq!(
            go(src(false, "/f"), "/d/", Found::Dir),
            Ok((false, Some("f".into())))
        );
        // A new name.
        assert_eq!(
            go(src(false, "/f"), "/d/n", Found::Missing),
            Ok((true, Some("n".into())))
        );
        // A missing directory.
        assert!(go(src(false, "/f"), "/d/n/", Found::Missing)
            .unwrap_err()
            .contains("no such directory"));
        // A file with a slash.
        assert!(go(src(false, "/f"), "/d/g/", Found::File)
            .unwrap_err()
            .contains("not a directory"));
    }

    #[test]
    fn directory_rules() {
        assert_eq!(
            go(src(true, "/s"), "/d", Found::Dir),
            Ok((false, Some("s".into())))
        );
        assert_eq!(
            go(src(true, "/s"), "/n", Found::Missing),
            Ok((true, Some("n".into())))
        );
        assert_eq!(
            go(src(true, "/s"), "/n/", Found::Missing),
            Ok((true, Some("n".into())))
        );
        assert!(go(src(true, "/s"), "/f", Found::File)
            .unwrap_err()
            .contains("cannot overwrite non-directory"));
        // Contents.
        assert_eq!(go(src(true, "/s/."), "/d", Found::Dir), Ok((false, None)));
        assert_eq!(
            go(src(true, "/s/."), "/n", Found::Missing),
            Ok((true, Some("n".into())))
        );
    }

    #[test]
    fn the_longest_mount_destination_holds_a_path() {
        let c = Container {
            mounts: serde_json::from_value(serde_json::json!([
                {"Type": "volume", "Name": "v", "Source": "/vol/_data",
                    "Destination": "/data", "RW": true},
                {"Type": "bind", "Source": "/h", "Destination": "/data/sub/",
                    "RW": false},
            ]))
            .unwrap(),
            host_config: serde_json::from_value(
                serde_json::json!({"Tmpfs": {"/run": "size=1m", "/ro": "ro"}}),
            )
            .unwrap(),
            ..Default::default()
        };
        let ms = mounts_of(&c);
        assert_eq!(ms.len(), 4);
        let at = |p: &str| mount_for(&ms, p).map(|m| (m.destination.as_str(), m.rw));
        assert_eq!(at("/data"), Some(("/data", true)));
        assert_eq!(at("/data/"), Some(("/data", true)));
        assert_eq!(at("/data/x/y"), Some(("/data", true)));
        assert_eq!(at("/data/sub"), Some(("/data/sub", false)));
        assert_eq!(at("/data/sub/f"), Some(("/data/sub", false)));
        assert_eq!(at("/data/subway"), Some(("/data", true)));
        assert_eq!(at("/datum"), None);
        assert_eq!(at("/"), None);
        assert_eq!(at("/run/x").map(|m| m.0), Some("/run"));
        assert_eq!(at("/ro"), Some(("/ro", false)));
        assert_eq!(mount_for(&ms, "/run").unwrap().kind, "tmpfs");
    }
}
