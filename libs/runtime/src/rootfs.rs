//! The container's file system view, set up by the init process inside its new mount namespace.
//!
//! OWNER: rootfs helper. Interface:
//! - `prepare(spec, rootfs)`: called after `unshare(CLONE_NEWNS)` with the process's cwd anywhere;
//!   makes `/` recursively slave (or the spec's rootfsPropagation), bind-mounts `rootfs` onto
//!   itself, mounts every `spec.mounts` entry with its destination resolved *inside* rootfs
//!   (openat2 RESOLVE_IN_ROOT, mount onto `/proc/self/fd/N`, never a path string that a symlink in
//!   the image can redirect), creates the default devices (null zero full random urandom tty, plus
//!   `spec.linux.devices`), the /dev symlinks (fd, stdin, stdout, stderr, ptmx -> pts/ptmx, core),
//!   then `pivot_root`s into it and detaches the old root. Ends with cwd `/`.
//! - `finish(spec)`: after `prepare`: sysctls, masked paths, read-only paths, a read-only root
//!   when asked.
//! - `bind_console(slave)`: after `prepare`, when the process has a terminal: bind-mounts the pty
//!   slave onto /dev/console.
//!
//! This follows runc's libcontainer/rootfs_linux.go. Every destination taken from the spec is
//! resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` on a descriptor of the rootfs,
//! missing components are created with `mkdirat` relative to the descriptor of their (resolved)
//! parent, and the mount goes onto `/proc/self/fd/N` of an `O_PATH` descriptor of the resolved
//! target: a symlink planted in the image (`proc -> /proc`, `dev -> ..`) can therefore never send
//! a mount to the host (CVE-2019-16884, CVE-2021-30465). A destination that resolves to the
//! rootfs itself (`dev -> ..`) is refused with an error rather than hiding the whole image.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType, Mount, Spec};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};

use crate::error::{Error, Result};

/// Flags that `mount(2)` may keep "locked" on a mount (inherited from a less privileged mount
/// namespace, or set on the source): a bind remount must repeat them or fail with EPERM.
const LOCKABLE: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_RDONLY)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME);

// ---------------------------------------------------------------------------------------------
// Mount options
// ---------------------------------------------------------------------------------------------

/// A spec mount's `options`, split as runc's parseMountOptions does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// `mount(2)` flags (ro, nosuid, nodev, noexec, bind, rec, …).
    pub flags: MsFlags,
    /// Propagation changes, applied in order after the mount (private, rslave, …).
    pub propagation: Vec<MsFlags>,
    /// Everything else, comma-joined: the file system's own data (`size=65536k,mode=755`).
    pub data: String,
}

/// Splits OCI mount options into flags, propagation changes and the data string.
pub fn parse_mount_options<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut flags = MsFlags::empty();
    let mut propagation = Vec::new();
    let mut data: Vec<&str> = Vec::new();
    for option in options {
        let option = option.as_ref();
        // (clear?, flag)
        let flag = match option {
            "defaults" => Some((false, MsFlags::empty())),
            "ro" => Some((false, MsFlags::MS_RDONLY)),
            "rw" => Some((true, MsFlags::MS_RDONLY)),
            "nosuid" => Some((false, MsFlags::MS_NOSUID)),
            "suid" => Some((true, MsFlags::MS_NOSUID)),
            "nodev" => Some((false, MsFlags::MS_NODEV)),
            "dev" => Some((true, MsFlags::MS_NODEV)),
            "noexec" => Some((false, MsFlags::MS_NOEXEC)),
            "exec" => Some((true, MsFlags::MS_NOEXEC)),
            "sync" => Some((false, MsFlags::MS_SYNCHRONOUS)),
            "async" => Some((true, MsFlags::MS_SYNCHRONOUS)),
            "dirsync" => Some((false, MsFlags::MS_DIRSYNC)),
            "remount" => Some((false, MsFlags::MS_REMOUNT)),
            "mand" => Some((false, MsFlags::MS_MANDLOCK)),
            "nomand" => Some((true, MsFlags::MS_MANDLOCK)),
            "noatime" => Some((false, MsFlags::MS_NOATIME)),
            "atime" => Some((true, MsFlags::MS_NOATIME)),
            "nodiratime" => Some((false, MsFlags::MS_NODIRATIME)),
            "diratime" => Some((true, MsFlags::MS_NODIRATIME)),
            "relatime" => Some((false, MsFlags::MS_RELATIME)),
            "norelatime" => Some((true, MsFlags::MS_RELATIME)),
            "strictatime" => Some((false, MsFlags::MS_STRICTATIME)),
            "nostrictatime" => Some((true, MsFlags::MS_STRICTATIME)),
            "bind" => Some((false, MsFlags::MS_BIND)),
            "rbind" => Some((false, MsFlags::MS_BIND | MsFlags::MS_REC)),
            _ => None,
        };
        if let Some((clear, flag)) = flag {
            if clear {
                flags.remove(flag);
            } else {
                flags.insert(flag);
            }
            continue;
        }
        if let Some(p) = propagation_flags(option) {
            propagation.push(p);
            continue;
        }
        // runc's own extensions that are not file system data.
        if option == "tmpcopyup" || option.starts_with("idmap") || option.starts_with("ridmap") {
            continue;
        }
        data.push(option);
    }
    MountOptions {
        flags,
        propagation,
        data: data.join(","),
    }
}

/// The `mount(2)` flags of a propagation option (`rprivate` is private and recursive).
fn propagation_flags(option: &str) -> Option<MsFlags> {
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn errno(e: rustix::io::Errno) -> Errno {
    Errno::from_raw(e.raw_os_error())
}

fn sys(what: impl Into<String>, e: rustix::io::Errno) -> Error {
    Error::sys(what, errno(e))
}

/// `/proc/self/fd/N` for a descriptor: mounting there reaches exactly the file the descriptor
/// holds, whatever symlinks the path to it had.
fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// `mount(2)`, with an error that names the operation and the container path it was for.
fn mount(
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
fn clean_components(path: &Path) -> Vec<OsString> {
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

fn display(components: &[OsString]) -> PathBuf {
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
fn open_in_root(root: BorrowedFd<'_>, components: &[OsString]) -> rustix::io::Result<OwnedFd> {
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
fn open_child(parent: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    openat2_retrying(
        parent,
        name,
        OFlags::PATH | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
}

/// Creates an empty regular file `name` in `parent` unless something is there already.
fn create_file(parent: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<()> {
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
fn resolve_or_create(root: BorrowedFd<'_>, components: &[OsString], file: bool) -> Result<OwnedFd> {
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
fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool> {
    let sa = rustix::fs::fstat(a).map_err(|e| sys("fstat".to_string(), e))?;
    let sb = rustix::fs::fstat(b).map_err(|e| sys("fstat".to_string(), e))?;
    Ok(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
}

/// The flags a mount already carries that a remount must keep (see [`LOCKABLE`]).
fn existing_flags(fd: BorrowedFd<'_>) -> MsFlags {
    match rustix::fs::fstatvfs(fd) {
        // ST_* and MS_* share their values for these flags.
        Ok(st) => MsFlags::from_bits_truncate(st.f_flag.bits() as libc::c_ulong) & LOCKABLE,
        Err(_) => MsFlags::empty(),
    }
}

/// A bind remount of the mount at `fd` with `flags`; on EPERM it retries with the flags the
/// mount already has (locked flags), as runc does.
fn remount(fd: BorrowedFd<'_>, flags: MsFlags, dest: &Path) -> Result<()> {
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

// ---------------------------------------------------------------------------------------------
// /proc/self/mountinfo
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct MountInfo {
    root: String,
    mount_point: PathBuf,
    optional: String,
    fstype: String,
    super_options: String,
}

fn unescape(s: &str) -> String {
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

fn mountinfo() -> Result<Vec<MountInfo>> {
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

// ---------------------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------------------

fn char_device(path: &str, major: i64, minor: i64) -> LinuxDevice {
    LinuxDeviceBuilder::default()
        .path(path)
        .typ(LinuxDeviceType::C)
        .major(major)
        .minor(minor)
        .file_mode(0o666u32)
        .uid(0u32)
        .gid(0u32)
        .build()
        .expect("every field of a default device is set")
}

/// The devices every container gets (runc's and Docker's defaults), 0666 root:root.
pub fn default_devices() -> Vec<LinuxDevice> {
    vec![
        char_device("/dev/null", 1, 3),
        char_device("/dev/zero", 1, 5),
        char_device("/dev/full", 1, 7),
        char_device("/dev/random", 1, 8),
        char_device("/dev/urandom", 1, 9),
        char_device("/dev/tty", 5, 0),
    ]
}

/// mknod one device in the rootfs; bind-mounts the host's node when mknod is not permitted
/// (in a user namespace), as runc does. An existing node is left alone.
fn create_device(root: BorrowedFd<'_>, dev: &LinuxDevice) -> Result<()> {
    let components = clean_components(dev.path());
    let Some((name, dirs)) = components.split_last() else {
        return Err(Error::Spec(format!(
            "device path {:?} names no file",
            dev.path()
        )));
    };
    let dest = display(&components);
    let file_type = match dev.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => FileType::CharacterDevice,
        LinuxDeviceType::B => FileType::BlockDevice,
        LinuxDeviceType::P => FileType::Fifo,
        LinuxDeviceType::A => {
            return Err(Error::Spec(format!(
                "device {}: type \"a\" is for cgroup rules, not a node",
                dest.display()
            )))
        }
    };
    let parent = resolve_or_create(root, dirs, false)?;
    let mode = Mode::from_raw_mode(dev.file_mode().unwrap_or(0o666) & 0o7777);
    let (major, minor) = (
        u32::try_from(dev.major())
            .map_err(|_| Error::Spec(format!("device {}: bad major", dest.display())))?,
        u32::try_from(dev.minor())
            .map_err(|_| Error::Spec(format!("device {}: bad minor", dest.display())))?,
    );
    let rdev = rustix::fs::makedev(major, minor);
    match rustix::fs::mknodat(parent.as_fd(), name, file_type, mode, rdev) {
        Ok(()) => {}
        Err(rustix::io::Errno::EXIST) => return Ok(()),
        Err(rustix::io::Errno::PERM) => return bind_device(parent.as_fd(), name, dev, &dest),
        Err(e) => return Err(sys(format!("mknod {}", dest.display()), e)),
    }
    let uid = dev.uid().map(nix::unistd::Uid::from_raw);
    let gid = dev.gid().map(nix::unistd::Gid::from_raw);
    nix::unistd::fchownat(
        Some(parent.as_raw_fd()),
        name.as_os_str(),
        uid,
        gid,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::sys(format!("chown {}", dest.display()), e))
}

fn bind_device(parent: BorrowedFd<'_>, name: &OsStr, dev: &LinuxDevice, dest: &Path) -> Result<()> {
    match create_file(parent, name) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(sys(format!("create {}", dest.display()), e)),
    }
    let fd = open_child(parent, name).map_err(|e| sys(format!("open {}", dest.display()), e))?;
    mount(
        Some(dev.path()),
        &fd_path(fd.as_fd()),
        None,
        MsFlags::MS_BIND,
        None,
        || {
            format!(
                "bind-mount device {} on {}",
                dev.path().display(),
                dest.display()
            )
        },
    )
}

/// The /dev symlinks runc makes, and /dev/ptmx -> pts/ptmx.
fn dev_symlinks(root: BorrowedFd<'_>) -> Result<()> {
    let dev = resolve_or_create(root, &[OsString::from("dev")], false)?;
    let mut links = vec![
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    for (name, target) in links {
        match rustix::fs::symlinkat(target, dev.as_fd(), name) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(sys(format!("symlink /dev/{name} -> {target}"), e)),
        }
    }
    match rustix::fs::unlinkat(dev.as_fd(), "ptmx", AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => {}
        Err(rustix::io::Errno::ISDIR) => {
            rustix::fs::unlinkat(dev.as_fd(), "ptmx", AtFlags::REMOVEDIR)
                .map_err(|e| sys("remove /dev/ptmx".to_string(), e))?
        }
        Err(e) => return Err(sys("remove /dev/ptmx".to_string(), e)),
    }
    rustix::fs::symlinkat("pts/ptmx", dev.as_fd(), "ptmx")
        .map_err(|e| sys("symlink /dev/ptmx -> pts/ptmx".to_string(), e))
}

/// Whether the spec gives /dev from the host (a bind mount): then runc leaves it alone.
fn dev_is_bind(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        clean_components(m.destination()) == [OsString::from("dev")]
            && (m.typ().as_deref() == Some("bind")
                || parse_mount_options(m.options().as_deref().unwrap_or(&[]))
                    .flags
                    .contains(MsFlags::MS_BIND))
    })
}

// ---------------------------------------------------------------------------------------------
// Mounts
// ---------------------------------------------------------------------------------------------

fn mount_entry(root: BorrowedFd<'_>, m: &Mount) -> Result<()> {
    let components = clean_components(m.destination());
    let dest = display(&components);
    let opts = parse_mount_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let bind = typ == "bind" || opts.flags.contains(MsFlags::MS_BIND);
    let source = m.source().as_deref();

    // A bind of a file needs a file to mount on.
    let mut file = false;
    if bind {
        let Some(src) = source else {
            return Err(Error::Spec(format!(
                "bind mount on {}: no source",
                dest.display()
            )));
        };
        let meta =
            std::fs::metadata(src).map_err(|e| Error::io("stat bind mount source", src, e))?;
        file = !meta.is_dir();
    }
    let target = resolve_or_create(root, &components, file)?;
    if !components.is_empty() && same_file(target.as_fd(), root)? {
        return Err(Error::Spec(format!(
            "mount destination {} resolves to the container's root (a symlink in the image?)",
            dest.display()
        )));
    }
    let target_path = fd_path(target.as_fd());

    if bind {
        let src = source.expect("checked above");
        let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
        mount(Some(src), &target_path, None, flags, None, || {
            format!("bind-mount {} on {}", src.display(), dest.display())
        })?;
        let mounted = reopen(root, &components)?;
        let rest = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !rest.is_empty() {
            remount(mounted.as_fd(), rest, &dest)?;
        }
        return propagate(mounted.as_fd(), &opts.propagation, &dest);
    }

    match typ {
        "cgroup" | "cgroup2" => mount_cgroup(root, &components, &target, typ, &opts)?,
        "" => {
            return Err(Error::Spec(format!("mount on {}: no type", dest.display())));
        }
        _ => {
            let src = source.unwrap_or(Path::new(typ));
            let flags = opts.flags - MsFlags::MS_REMOUNT;
            let r = nix::mount::mount(
                Some(src),
                &target_path,
                Some(typ),
                flags,
                Some(opts.data.as_str()).filter(|d| !d.is_empty()),
            );
            match r {
                Ok(()) => {}
                // No sysfs of our own without a network namespace we own: bind the host's,
                // read-only (runc does the same).
                Err(Errno::EPERM) if typ == "sysfs" => {
                    mount(
                        Some(Path::new("/sys")),
                        &target_path,
                        None,
                        MsFlags::MS_BIND | MsFlags::MS_REC,
                        None,
                        || format!("bind-mount /sys on {}", dest.display()),
                    )?;
                    let mounted = reopen(root, &components)?;
                    remount(mounted.as_fd(), flags, &dest)?;
                }
                Err(e) => return Err(Error::sys(format!("mount {typ} on {}", dest.display()), e)),
            }
        }
    }
    let mounted = reopen(root, &components)?;
    propagate(mounted.as_fd(), &opts.propagation, &dest)
}

/// The descriptor of what is now mounted at `components` (a descriptor opened before the mount
/// still holds the covered directory).
fn reopen(root: BorrowedFd<'_>, components: &[OsString]) -> Result<OwnedFd> {
    open_in_root(root, components).map_err(|e| {
        sys(
            format!("reopen {} after mounting", display(components).display()),
            e,
        )
    })
}

fn propagate(fd: BorrowedFd<'_>, propagation: &[MsFlags], dest: &Path) -> Result<()> {
    for &p in propagation {
        mount(None, &fd_path(fd), None, p, None, || {
            format!("set propagation {:?} on {}", p, dest.display())
        })?;
    }
    Ok(())
}

/// `cgroup` at /sys/fs/cgroup: on a cgroup v2 host a cgroup2 mount; on a v1 host a tmpfs with a
/// read-only bind of the process's own cgroup directory of each hierarchy (as runc).
fn mount_cgroup(
    root: BorrowedFd<'_>,
    components: &[OsString],
    target: &OwnedFd,
    typ: &str,
    opts: &MountOptions,
) -> Result<()> {
    let dest = display(components);
    let target_path = fd_path(target.as_fd());
    let mounts = mountinfo()?;
    let v2 = typ == "cgroup2"
        || mounts
            .iter()
            .rev()
            .find(|m| m.mount_point == Path::new("/sys/fs/cgroup"))
            .is_some_and(|m| m.fstype == "cgroup2");
    let flags = opts.flags - MsFlags::MS_REMOUNT;
    if v2 {
        match nix::mount::mount(
            Some("cgroup2"),
            &target_path,
            Some("cgroup2"),
            flags,
            Some(opts.data.as_str()).filter(|d| !d.is_empty()),
        ) {
            Ok(()) => return Ok(()),
            // Not allowed (no cgroup namespace of our own): bind the host's hierarchy.
            Err(Errno::EPERM) | Err(Errno::EBUSY) => {
                mount(
                    Some(Path::new("/sys/fs/cgroup")),
                    &target_path,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                    || format!("bind-mount /sys/fs/cgroup on {}", dest.display()),
                )?;
                let mounted = reopen(root, components)?;
                return remount(mounted.as_fd(), flags, &dest);
            }
            Err(e) => {
                return Err(Error::sys(
                    format!("mount cgroup2 on {}", dest.display()),
                    e,
                ))
            }
        }
    }

    // cgroup v1: a tmpfs holding one directory per hierarchy.
    let tmpfs_flags = flags - MsFlags::MS_RDONLY;
    mount(
        Some(Path::new("tmpfs")),
        &target_path,
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
        || format!("mount tmpfs on {}", dest.display()),
    )?;
    let path = "/proc/self/cgroup";
    let own = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(cgroup)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let wanted: Vec<&str> = controllers.split(',').filter(|c| !c.is_empty()).collect();
        let is_it = |m: &&MountInfo| {
            if wanted.is_empty() {
                m.fstype == "cgroup2"
            } else {
                m.fstype == "cgroup" && {
                    let have: Vec<&str> = m.super_options.split(',').collect();
                    wanted.iter().all(|w| have.contains(w))
                }
            }
        };
        // The host's own mount under /sys/fs/cgroup first, any other mount of it otherwise.
        let hierarchy = mounts
            .iter()
            .filter(is_it)
            .find(|m| m.mount_point.starts_with("/sys/fs/cgroup"))
            .or_else(|| mounts.iter().find(is_it));
        // The empty v2 hierarchy of a hybrid host is left out, as runc leaves it.
        if wanted.is_empty() {
            continue;
        }
        let Some(h) = hierarchy else { continue };
        let Some(sub) = h.mount_point.file_name().map(OsStr::to_os_string) else {
            continue;
        };
        let mut sub_components = components.to_vec();
        sub_components.push(sub.clone());
        let sub_dest = display(&sub_components);
        // The process's cgroup, as a path inside that hierarchy's mount. In a cgroup namespace
        // the host's mounts lie above the namespace's root ("/.."): there a fresh mount of the
        // hierarchy shows the namespace's root, the container's cgroup (as runc mounts it).
        match Path::new(cgroup).strip_prefix(&h.root) {
            Ok(rel) if h.mount_point.join(rel).is_dir() => {
                let source = h.mount_point.join(rel);
                let dir = resolve_or_create(root, &sub_components, false)?;
                mount(
                    Some(&source),
                    &fd_path(dir.as_fd()),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                    || format!("bind-mount {} on {}", source.display(), sub_dest.display()),
                )?;
            }
            _ if !wanted.is_empty() => {
                let dir = resolve_or_create(root, &sub_components, false)?;
                let data = wanted.join(",");
                mount(
                    Some(Path::new("cgroup")),
                    &fd_path(dir.as_fd()),
                    Some("cgroup"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                    Some(data.as_str()),
                    || format!("mount cgroup ({data}) on {}", sub_dest.display()),
                )?;
            }
            _ => continue,
        }
        let mounted = reopen(root, &sub_components)?;
        remount(
            mounted.as_fd(),
            flags | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            &sub_dest,
        )?;
        // cpu,cpuacct is also reachable as cpu and cpuacct.
        if wanted.len() > 1 {
            let parent = reopen(root, components)?;
            for c in wanted.iter().filter(|c| !c.contains('=')) {
                match rustix::fs::symlinkat(sub.as_os_str(), parent.as_fd(), *c) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => {
                        return Err(sys(format!("symlink {}/{c}", dest.display()), e));
                    }
                }
            }
        }
    }
    let mounted = reopen(root, components)?;
    remount(mounted.as_fd(), flags, &dest)
}

// ---------------------------------------------------------------------------------------------
// prepare
// ---------------------------------------------------------------------------------------------

/// Restores the umask when set-up ends, however it ends.
struct UmaskGuard(nix::sys::stat::Mode);

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        nix::sys::stat::umask(self.0);
    }
}

/// The root's propagation from the spec's `linux.rootfsPropagation` (always recursive).
fn root_propagation(spec: &Spec) -> Result<MsFlags> {
    let p = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
        .unwrap_or_default();
    let flag = match p.trim_start_matches('r') {
        "" => MsFlags::MS_SLAVE,
        "private" => MsFlags::MS_PRIVATE,
        "slave" => MsFlags::MS_SLAVE,
        "shared" => MsFlags::MS_SHARED,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        _ => {
            return Err(Error::Spec(format!(
                "rootfsPropagation {p:?} is not one of private, slave, shared, unbindable"
            )))
        }
    };
    Ok(flag | MsFlags::MS_REC)
}

/// pivot_root needs the rootfs's parent mount not to be shared (runc's
/// rootfsParentMountPrivate): make it private when it is.
fn rootfs_parent_mount_private(rootfs: &Path) -> Result<()> {
    let mounts = mountinfo()?;
    let parent = mounts
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len());
    if let Some(m) = parent {
        if m.optional.split(' ').any(|o| o.starts_with("shared:")) {
            mount(
                None,
                &m.mount_point,
                None,
                MsFlags::MS_PRIVATE,
                None,
                || format!("make {} private", m.mount_point.display()),
            )?;
        }
    }
    Ok(())
}

/// Everything before pivot_root: propagation, the rootfs bind, the mounts, devices and /dev.
fn mount_rootfs(spec: &Spec, rootfs: &Path) -> Result<()> {
    let flags = root_propagation(spec)?;
    mount(None, Path::new("/"), None, flags, None, || {
        format!("make / {flags:?}")
    })?;
    rootfs_parent_mount_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        || format!("bind-mount the rootfs {} on itself", rootfs.display()),
    )?;
    let root = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open the rootfs", rootfs, e.into()))?;

    for m in spec.mounts().iter().flatten() {
        mount_entry(root.as_fd(), m)?;
    }

    if !dev_is_bind(spec) {
        let extra: Vec<LinuxDevice> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.devices().clone())
            .unwrap_or_default();
        let defaults = default_devices().into_iter().filter(|d| {
            !extra
                .iter()
                .any(|e| clean_components(e.path()) == clean_components(d.path()))
        });
        for d in defaults.chain(extra.iter().cloned()) {
            create_device(root.as_fd(), &d)?;
        }
        dev_symlinks(root.as_fd())?;
    }
    Ok(())
}

/// pivot_root(".", ".") in the rootfs, then detach the old root stacked under it (runc's way,
/// with no put_old directory). On a ramfs root (EINVAL) MS_MOVE + chroot instead.
fn pivot(rootfs: &Path) -> Result<()> {
    let old_root = rustix::fs::open(
        "/",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", "/", e.into()))?;
    let new_root = rustix::fs::open(
        rootfs,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open the rootfs", rootfs, e.into()))?;
    rustix::process::fchdir(&new_root)
        .map_err(|e| Error::io("chdir to the rootfs", rootfs, e.into()))?;
    match rustix::process::pivot_root(".", ".") {
        Ok(()) => {}
        Err(rustix::io::Errno::INVAL) => return move_root(rootfs),
        Err(e) => return Err(sys(format!("pivot_root to {}", rootfs.display()), e)),
    }
    // The old root is now stacked under the new one, at ".": let nothing we do there propagate
    // back to the host, then detach it.
    rustix::process::fchdir(&old_root).map_err(|e| sys("chdir to the old root".to_string(), e))?;
    mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
        || "make the old root rslave".to_string(),
    )?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| Error::sys("unmount the old root", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir to /", e))
}

fn move_root(rootfs: &Path) -> Result<()> {
    mount(
        Some(rootfs),
        Path::new("/"),
        None,
        MsFlags::MS_MOVE,
        None,
        || format!("move the rootfs {} to /", rootfs.display()),
    )?;
    nix::unistd::chroot(".").map_err(|e| Error::sys("chroot into the rootfs", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::sys("chdir to /", e))
}

/// The container init's file system set-up (see the module documentation).
pub fn prepare(spec: &Spec, rootfs: &Path) -> Result<()> {
    let rootfs =
        std::fs::canonicalize(rootfs).map_err(|e| Error::io("resolve the rootfs", rootfs, e))?;
    let _umask = UmaskGuard(nix::sys::stat::umask(nix::sys::stat::Mode::empty()));
    mount_rootfs(spec, &rootfs)?;
    pivot(&rootfs)?;
    // As runc: the spec's root propagation, now also on the new `/`.
    let asked = spec.linux().as_ref().is_some_and(|l| {
        l.rootfs_propagation()
            .as_deref()
            .is_some_and(|p| !p.is_empty())
    });
    if asked {
        let flags = root_propagation(spec)?;
        mount(None, Path::new("/"), None, flags, None, || {
            format!("make the container's / {flags:?}")
        })?;
    }
    Ok(())
}

/// Bind-mounts the pty slave `slave_path` onto /dev/console (made first as an empty file).
/// Called by the init after [`prepare`], when the process has a terminal.
pub fn bind_console(slave_path: &Path) -> Result<()> {
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", "/", e.into()))?;
    let components = [OsString::from("dev"), OsString::from("console")];
    let console = resolve_or_create(root.as_fd(), &components, true)?;
    let target = target_path(console.as_fd(), Path::new("/dev/console"));
    mount(
        Some(slave_path),
        &target,
        None,
        MsFlags::MS_BIND,
        None,
        || format!("bind-mount {} on /dev/console", slave_path.display()),
    )
}

// ---------------------------------------------------------------------------------------------
// finish
// ---------------------------------------------------------------------------------------------

/// After pivot_root /proc is the container's: use /proc/self/fd/N when it is there, else the
/// path (which can only name something in the container now).
fn target_path(fd: BorrowedFd<'_>, path: &Path) -> PathBuf {
    if Path::new("/proc/self/fd").is_dir() {
        fd_path(fd)
    } else {
        path.to_path_buf()
    }
}

fn set_sysctls(spec: &Spec) -> Result<()> {
    let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let mut keys: Vec<_> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        let rel = key.replace('.', "/");
        if rel.is_empty() || rel.split('/').any(|p| p.is_empty() || p == "..") {
            return Err(Error::Spec(format!("sysctl {key:?} is not a valid name")));
        }
        let path = Path::new("/proc/sys").join(rel);
        std::fs::write(&path, sysctl[key].as_bytes())
            .map_err(|e| Error::io("set sysctl", path, e))?;
    }
    Ok(())
}

fn mask_path(root: BorrowedFd<'_>, path: &str) -> Result<()> {
    let components = clean_components(Path::new(path));
    let dest = display(&components);
    let fd = match open_in_root(root, &components) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(sys(format!("resolve masked path {}", dest.display()), e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| sys(format!("stat {}", dest.display()), e))?;
    let target = target_path(fd.as_fd(), &dest);
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        mount(
            Some(Path::new("tmpfs")),
            &target,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
            || format!("mask {} with an empty tmpfs", dest.display()),
        )
    } else {
        mount(
            Some(Path::new("/dev/null")),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
            || format!("mask {} with /dev/null", dest.display()),
        )
    }
}

fn readonly_path(root: BorrowedFd<'_>, path: &str) -> Result<()> {
    let components = clean_components(Path::new(path));
    let dest = display(&components);
    let fd = match open_in_root(root, &components) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(sys(format!("resolve read-only path {}", dest.display()), e)),
    };
    let target = target_path(fd.as_fd(), &dest);
    mount(
        Some(&target),
        &target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        || format!("bind-mount {} on itself", dest.display()),
    )?;
    let mounted = reopen(root, &components)?;
    let keep = existing_flags(mounted.as_fd())
        & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    remount_path(mounted.as_fd(), &dest, keep | MsFlags::MS_RDONLY)
}

/// [`remount`] by descriptor, or by path when there is no /proc in the container.
fn remount_path(fd: BorrowedFd<'_>, dest: &Path, flags: MsFlags) -> Result<()> {
    if Path::new("/proc/self/fd").is_dir() {
        return remount(fd, flags, dest);
    }
    let flags = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match nix::mount::mount(None::<&str>, dest, None::<&str>, flags, None::<&str>) {
        Ok(()) => Ok(()),
        Err(Errno::EPERM) => mount(None, dest, None, flags | existing_flags(fd), None, || {
            format!("remount {} ({flags:?})", dest.display())
        }),
        Err(e) => Err(Error::sys(
            format!("remount {} ({flags:?})", dest.display()),
            e,
        )),
    }
}

/// The last file system steps, after [`prepare`] and before capabilities are dropped: sysctls
/// (before /proc/sys turns read-only), masked paths, read-only paths, a read-only root.
pub fn finish(spec: &Spec) -> Result<()> {
    set_sysctls(spec)?;
    let root = rustix::fs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", "/", e.into()))?;
    if let Some(linux) = spec.linux() {
        for p in linux.masked_paths().iter().flatten() {
            mask_path(root.as_fd(), p)?;
        }
        for p in linux.readonly_paths().iter().flatten() {
            readonly_path(root.as_fd(), p)?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_path(root.as_fd(), Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Root-only tests. Each re-runs its own test in a child process (env BERTH_ROOTFS_CHILD),
    //! which makes a new pid namespace and forks a pid 1 with a new mount (and UTS) namespace
    //! that does the work: nothing leaks into the test process or the host.

    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::process::Command;

    const CHILD: &str = "BERTH_ROOTFS_CHILD";
    const DIR: &str = "BERTH_ROOTFS_DIR";
    const MARKER: &str = "berth-rootfs-marker";

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = parse_mount_options(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rbind",
            "rslave",
            "ro",
            "rw",
            "noexec",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID
                | MsFlags::MS_STRICTATIME
                | MsFlags::MS_BIND
                | MsFlags::MS_REC
                | MsFlags::MS_NOEXEC
        );
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, "mode=755,size=65536k");
        let o = parse_mount_options(&["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
        assert_eq!(o.flags, MsFlags::empty());
        assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
    }

    #[test]
    fn destinations_are_cleaned_lexically() {
        let c = clean_components(Path::new("/../dev//./pts/../shm"));
        assert_eq!(c, vec![OsString::from("dev"), OsString::from("shm")]);
        assert_eq!(display(&c), Path::new("/dev/shm"));
        assert_eq!(unescape("/a\\040b"), "/a b");
    }

    #[test]
    fn default_devices_are_runc_s() {
        let d = default_devices();
        let names: Vec<_> = d.iter().map(|d| d.path().display().to_string()).collect();
        assert_eq!(
            names,
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty"
            ]
        );
        assert_eq!((d[0].major(), d[0].minor()), (1, 3));
        assert_eq!(d[5].file_mode(), Some(0o666));
    }

    // ---- the harness ----------------------------------------------------------------------

    /// Mount points (with their file system type) in the test process's mount table.
    fn mount_lines() -> Vec<(PathBuf, String, String)> {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let sep = f.iter().position(|x| *x == "-")?;
                Some((
                    PathBuf::from(unescape(f[4])),
                    f.get(sep + 1)?.to_string(),
                    f[5].to_string(),
                ))
            })
            .collect()
    }

    /// The host mounts a broken set-up could touch: the well-known ones, and any under `dir`.
    fn watched(dir: &Path) -> BTreeMap<String, usize> {
        let well_known = [
            "/",
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup",
            "/etc",
        ];
        let mut out = BTreeMap::new();
        for (mp, fstype, opts) in mount_lines() {
            if well_known.iter().any(|w| mp == Path::new(w))
                || mp.starts_with(dir)
                || mp.starts_with("/proc/")
                || mp.starts_with("/sys/fs/cgroup/")
            {
                *out.entry(format!("{} {fstype} {opts}", mp.display()))
                    .or_default() += 1;
            }
        }
        out
    }

    /// A tiny rootfs: busybox, a few directories, a marker file; `hostile` plants symlinks.
    fn make_rootfs(hostile: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in ["bin", "etc", "tmp", "usr/bin", "run"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
        std::fs::write(r.join(MARKER), "yes\n").unwrap();
        std::fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        for (name, target) in hostile {
            std::os::unix::fs::symlink(target, r.join(name)).unwrap();
        }
        dir
    }

    /// Re-runs test `name` in a child with the rootfs in the environment; the host's mount
    /// table must be the same afterwards.
    fn run_child(name: &str, rootfs: &Path) {
        let before = watched(rootfs);
        let out = Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env(DIR, rootfs)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("--- child stdout:\n{stdout}\n--- child stderr:\n{stderr}");
        assert!(out.status.success(), "the child failed: {:?}", out.status);
        assert!(stdout.contains("1 passed"), "the child ran no test");
        assert_eq!(before, watched(rootfs), "the host's mount table changed");
        assert!(
            !mount_lines()
                .iter()
                .any(|(mp, _, _)| mp.starts_with(rootfs)),
            "a mount is left under the rootfs on the host"
        );
    }

    /// In the child: a new pid namespace, and a forked pid 1 with new mount and UTS namespaces
    /// that runs `f`; panics (fails the child's test) when `f` fails.
    fn in_container(f: impl FnOnce() -> std::result::Result<(), String>) {
        use nix::sched::{unshare, CloneFlags};
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::ForkResult;

        unshare(CloneFlags::CLONE_NEWPID).expect("unshare(CLONE_NEWPID)");
        // The child only runs this test's code and leaves with _exit; the other threads of the
        // harness (if any) hold no lock the child needs (glibc's malloc is fork-safe).
        match crate::sys::fork().expect("fork") {
            ForkResult::Child => {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)
                        .map_err(|e| format!("unshare: {e}"))?;
                    f()
                }));
                let code = match r {
                    Ok(Ok(())) => 0,
                    Ok(Err(e)) => {
                        eprintln!("container: FAILED: {e}");
                        1
                    }
                    Err(_) => 2,
                };
                // Leave the forked copy of the harness at once, without its atexit work.
                crate::sys::exit_now(code)
            }
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, 0) => {}
                other => panic!("container process: {other:?}"),
            },
        }
    }

    fn docker_spec(extra_mounts: serde_json::Value) -> Spec {
        let mut mounts = serde_json::json!([
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["ro", "nosuid", "noexec", "nodev"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
        ]);
        mounts
            .as_array_mut()
            .unwrap()
            .extend(extra_mounts.as_array().unwrap().iter().cloned());
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": false},
            "mounts": mounts,
            "linux": {
                "sysctl": {"kernel.domainname": "berth-test"},
                "maskedPaths": [
                    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                    "/sys/devices/virtual/powercap"
                ],
                "readonlyPaths": [
                    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
                ]
            }
        }))
        .unwrap()
    }

    fn check(ok: bool, what: &str) -> std::result::Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(what.to_string())
        }
    }

    // ---- Docker's default set-up ------------------------------------------------------------

    #[test]
    fn docker_default_mounts() {
        if !is_root() {
            eprintln!("skip: docker_default_mounts needs root");
            return;
        }
        if std::env::var_os(CHILD).is_some() {
            return in_container(docker_default_mounts_child);
        }
        let rootfs = make_rootfs(&[]);
        run_child("rootfs::tests::docker_default_mounts", rootfs.path());
    }

    fn docker_default_mounts_child() -> std::result::Result<(), String> {
        let rootfs = PathBuf::from(std::env::var_os(DIR).unwrap());
        let hosts = rootfs.join("host-hosts");
        std::fs::write(&hosts, "10.0.0.1 berth\n").unwrap();
        let spec = docker_spec(serde_json::json!([
            {"destination": "/etc/hosts", "type": "bind", "source": hosts,
             "options": ["rbind", "ro", "rprivate"]},
            {"destination": "/data/deep/dir", "type": "bind", "source": "/bin",
             "options": ["bind", "nosuid"]}
        ]));
        prepare(&spec, &rootfs).map_err(|e| format!("prepare: {e}"))?;
        finish(&spec).map_err(|e| format!("finish: {e}"))?;

        check(Path::new("/").join(MARKER).exists(), "/ is not the rootfs")?;
        check(
            std::env::current_dir().unwrap() == Path::new("/"),
            "cwd is not /",
        )?;
        check(std::process::id() == 1, "not pid 1")?;
        check(
            Path::new("/proc/1").exists(),
            "/proc is not this pid namespace's",
        )?;

        let mounts = mount_lines();
        for line in &mounts {
            println!(
                "container mount: {} {} {}",
                line.0.display(),
                line.1,
                line.2
            );
        }
        let find = |mp: &str| {
            mounts
                .iter()
                .rev()
                .find(|(p, _, _)| p == Path::new(mp))
                .cloned()
        };
        for (mp, fstype) in [
            ("/", ""),
            ("/proc", "proc"),
            ("/dev", "tmpfs"),
            ("/dev/pts", "devpts"),
            ("/dev/shm", "tmpfs"),
            ("/dev/mqueue", "mqueue"),
            ("/sys", "sysfs"),
            ("/etc/hosts", ""),
            ("/data/deep/dir", ""),
            ("/proc/keys", ""),
            ("/proc/sys", "proc"),
        ] {
            let m = find(mp).ok_or(format!("no mount at {mp}"))?;
            check(
                fstype.is_empty() || m.1 == fstype,
                &format!("{mp} is {} not {fstype}", m.1),
            )?;
        }
        let cg = find("/sys/fs/cgroup").ok_or("no mount at /sys/fs/cgroup")?;
        check(
            cg.2.split(',').any(|o| o == "ro"),
            "/sys/fs/cgroup is not read-only",
        )?;
        check(
            find("/sys").unwrap().2.split(',').any(|o| o == "ro"),
            "/sys is not ro",
        )?;
        check(
            find("/etc/hosts").unwrap().2.split(',').any(|o| o == "ro"),
            "/etc/hosts is not ro",
        )?;
        check(
            find("/data/deep/dir")
                .unwrap()
                .2
                .split(',')
                .any(|o| o == "nosuid"),
            "/data/deep/dir is not nosuid",
        )?;
        check(
            std::fs::read_to_string("/etc/hosts").unwrap() == "10.0.0.1 berth\n",
            "/etc/hosts is not the bind-mounted file",
        )?;
        check(
            Path::new("/data/deep/dir/busybox").exists(),
            "the /bin bind is empty",
        )?;
        let e = std::fs::write("/etc/hosts", "x").unwrap_err();
        check(
            e.raw_os_error() == Some(libc::EROFS),
            "/etc/hosts is writable",
        )?;

        let null = std::fs::metadata("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        check(
            null.file_type().is_char_device(),
            "/dev/null is not a char device",
        )?;
        check(
            (libc::major(null.rdev()), libc::minor(null.rdev())) == (1, 3),
            "/dev/null is not 1:3",
        )?;
        check(null.mode() & 0o777 == 0o666, "/dev/null is not 0666")?;
        for d in ["zero", "full", "random", "urandom", "tty"] {
            check(Path::new("/dev").join(d).exists(), &format!("no /dev/{d}"))?;
        }
        let link = |p: &str| std::fs::read_link(p).unwrap_or_default();
        check(link("/dev/ptmx") == Path::new("pts/ptmx"), "/dev/ptmx link")?;
        check(
            link("/dev/fd") == Path::new("/proc/self/fd"),
            "/dev/fd link",
        )?;
        check(
            link("/dev/stderr") == Path::new("/proc/self/fd/2"),
            "/dev/stderr link",
        )?;
        check(Path::new("/dev/pts/ptmx").exists(), "no /dev/pts/ptmx")?;

        let e = std::fs::write("/proc/sys/kernel/hostname", "evil").unwrap_err();
        check(
            e.raw_os_error() == Some(libc::EROFS),
            &format!("writing /proc/sys/kernel/hostname: {e}, not EROFS"),
        )?;
        check(
            std::fs::read_to_string("/proc/sys/kernel/domainname")
                .unwrap()
                .trim()
                == "berth-test",
            "the sysctl was not set",
        )?;
        // Masked files read empty (this kernel may have no /proc/kcore: then it stays absent).
        for masked in ["/proc/kcore", "/proc/keys", "/proc/timer_list"] {
            if Path::new(masked).exists() {
                check(
                    std::fs::read(masked).map(|b| b.is_empty()).unwrap_or(false),
                    &format!("{masked} is not empty"),
                )?;
            }
        }
        check(
            Path::new("/proc/kcore").exists() == std::fs::read_link("/dev/core").is_ok(),
            "/dev/core and /proc/kcore disagree",
        )?;
        check(
            std::fs::read_dir("/sys/firmware")
                .map(|d| d.count() == 0)
                .unwrap_or(true),
            "/sys/firmware is not masked",
        )?;
        let e = std::fs::create_dir("/sys/fs/cgroup/x").unwrap_err();
        check(
            e.raw_os_error() == Some(libc::EROFS),
            "/sys/fs/cgroup is writable",
        )?;
        let e = std::fs::write("/sys/kernel/uevent_helper", "x").unwrap_err();
        check(e.raw_os_error() == Some(libc::EROFS), "/sys is writable")?;
        std::fs::write("/tmp/ok", "rw").map_err(|e| format!("the root is not writable: {e}"))?;

        let out = Command::new("/bin/busybox")
            .args(["ls", "/dev", "/sys/fs/cgroup"])
            .output()
            .map_err(|e| format!("run busybox: {e}"))?;
        println!("{}", String::from_utf8_lossy(&out.stdout));
        check(out.status.success(), "busybox ls failed")
    }

    #[test]
    fn readonly_root_and_console() {
        if !is_root() {
            eprintln!("skip: readonly_root_and_console needs root");
            return;
        }
        if std::env::var_os(CHILD).is_some() {
            return in_container(readonly_root_and_console_child);
        }
        let rootfs = make_rootfs(&[]);
        run_child("rootfs::tests::readonly_root_and_console", rootfs.path());
    }

    fn readonly_root_and_console_child() -> std::result::Result<(), String> {
        let rootfs = PathBuf::from(std::env::var_os(DIR).unwrap());
        let mut spec = docker_spec(serde_json::json!([]));
        spec.root_mut().as_mut().unwrap().set_readonly(Some(true));
        // rshared: the rootfs's parent mount turns shared too, which pivot_root refuses unless
        // it is made private first (runc's rootfsParentMountPrivate).
        spec.linux_mut()
            .as_mut()
            .unwrap()
            .set_rootfs_propagation(Some("rshared".to_string()));
        prepare(&spec, &rootfs).map_err(|e| format!("prepare: {e}"))?;
        // As runc: the console is a pty of the container's own devpts instance.
        use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
        let master = posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)
            .map_err(|e| format!("open /dev/ptmx: {e}"))?;
        grantpt(&master)
            .and_then(|_| unlockpt(&master))
            .map_err(|e| format!("pty: {e}"))?;
        let slave = PathBuf::from(ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?);
        check(slave.starts_with("/dev/pts"), "the pty is not in /dev/pts")?;
        bind_console(&slave).map_err(|e| format!("bind_console: {e}"))?;
        finish(&spec).map_err(|e| format!("finish: {e}"))?;
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        check(
            info.lines()
                .any(|l| l.split(' ').nth(4) == Some("/") && l.contains(" shared:")),
            "the container's / is not shared",
        )?;
        let e = std::fs::write("/tmp/x", "x").unwrap_err();
        check(
            e.raw_os_error() == Some(libc::EROFS),
            "the root is writable",
        )?;
        std::fs::write("/dev/shm/x", "x").map_err(|e| format!("/dev/shm is not writable: {e}"))?;
        let console =
            std::fs::metadata("/dev/console").map_err(|e| format!("/dev/console: {e}"))?;
        let pts = std::fs::metadata(&slave).map_err(|e| format!("{}: {e}", slave.display()))?;
        println!("console bound from {}", slave.display());
        check(
            console.file_type().is_char_device() && console.rdev() == pts.rdev(),
            "/dev/console is not the pty slave",
        )
    }

    // ---- hostile images ---------------------------------------------------------------------

    /// In the child: mount everything (no pivot_root) and check that every new mount is under
    /// the rootfs; the set-up may fail, with a clear error, but never mount elsewhere.
    fn hostile_child(expect_ok: bool) -> std::result::Result<(), String> {
        let rootfs = std::fs::canonicalize(std::env::var_os(DIR).unwrap()).unwrap();
        let spec = docker_spec(serde_json::json!([]));
        let before = mount_lines();
        let r = mount_rootfs(&spec, &rootfs);
        let after = mount_lines();
        match &r {
            Ok(()) => println!("hostile image: set up"),
            Err(e) => println!("hostile image: refused: {e}"),
        }
        let mut left = before.clone();
        for m in &after {
            if let Some(i) = left.iter().position(|b| b == m) {
                left.remove(i);
                continue;
            }
            println!("new mount: {} {} {}", m.0.display(), m.1, m.2);
            check(
                m.0.starts_with(&rootfs),
                &format!("{} was mounted outside the rootfs", m.0.display()),
            )?;
        }
        // The host's own /proc, /dev and /sys in this namespace are as they were.
        for p in ["/proc", "/dev", "/sys"] {
            let count =
                |v: &[(PathBuf, String, String)]| v.iter().filter(|m| m.0 == Path::new(p)).count();
            check(count(&before) == count(&after), &format!("{p} got a mount"))?;
        }
        if r.is_err() {
            return check(!expect_ok, "the set-up failed");
        }
        check(expect_ok, "the hostile image was set up")?;
        // Set up: the mounts landed inside, and pivot_root still works.
        check(
            after
                .iter()
                .any(|m| m.0.starts_with(&rootfs) && m.1 == "proc"),
            "no proc under the rootfs",
        )?;
        pivot(&rootfs).map_err(|e| format!("pivot: {e}"))?;
        check(Path::new("/").join(MARKER).exists(), "/ is not the rootfs")
    }

    fn hostile(name: &str, links: &[(&str, &str)], expect_ok: bool) {
        if !is_root() {
            eprintln!("skip: {name} needs root");
            return;
        }
        if std::env::var_os(CHILD).is_some() {
            return in_container(|| hostile_child(expect_ok));
        }
        let rootfs = make_rootfs(links);
        run_child(&format!("rootfs::tests::{name}"), rootfs.path());
        // Nothing was created outside the rootfs through the links either.
        assert!(!Path::new("/pts").exists() && !Path::new("/mqueue").exists());
    }

    #[test]
    fn hostile_proc_link_to_host_proc() {
        hostile(
            "hostile_proc_link_to_host_proc",
            &[("proc", "/proc")],
            false,
        );
    }

    #[test]
    fn hostile_dev_link_to_parent() {
        hostile("hostile_dev_link_to_parent", &[("dev", "..")], false);
    }

    #[test]
    fn hostile_dev_link_to_host_dev() {
        hostile("hostile_dev_link_to_host_dev", &[("dev", "/dev")], false);
    }

    #[test]
    fn hostile_sys_link_to_host_sys() {
        hostile("hostile_sys_link_to_host_sys", &[("sys", "/sys")], false);
    }

    #[test]
    fn hostile_links_to_other_host_paths() {
        // proc -> /etc and sys -> ../../../run: resolved in the root, these are the image's own
        // /etc and /run, so the set-up succeeds with the mounts there.
        hostile(
            "hostile_links_to_other_host_paths",
            &[("proc", "/etc"), ("sys", "../../../run"), ("tmp/x", "/dev")],
            true,
        );
    }

    #[test]
    fn hostile_dangling_link_to_host_path() {
        // dev -> /berth-no-such-dir would be created on the host by a path-joining runtime.
        hostile(
            "hostile_dangling_link_to_host_path",
            &[("dev", "/berth-no-such-dir")],
            false,
        );
        assert!(!Path::new("/berth-no-such-dir").exists());
    }
}
