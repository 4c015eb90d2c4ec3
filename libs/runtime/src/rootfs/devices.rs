//! The container's /dev: the default and the spec's device nodes (or bind mounts of the host's),
//! and the /dev symlinks.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType, Spec};
use rustix::fs::{AtFlags, FileType, Mode};

use super::fsops::{
    clean_components, create_file, display, fd_path, mount, open_child, resolve_or_create, sys,
};
use super::options::parse_mount_options;
use crate::error::{Error, Result};

pub(super) fn char_device(path: &str, major: i64, minor: i64) -> LinuxDevice {
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
pub(super) fn create_device(root: BorrowedFd<'_>, dev: &LinuxDevice) -> Result<()> {
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

pub(super) fn bind_device(
    parent: BorrowedFd<'_>,
    name: &OsStr,
    dev: &LinuxDevice,
    dest: &Path,
) -> Result<()> {
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
pub(super) fn dev_symlinks(root: BorrowedFd<'_>) -> Result<()> {
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
pub(super) fn dev_is_bind(spec: &Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| {
        clean_components(m.destination()) == [OsString::from("dev")]
            && (m.typ().as_deref() == Some("bind")
                || parse_mount_options(m.options().as_deref().unwrap_or(&[]))
                    .flags
                    .contains(MsFlags::MS_BIND))
    })
}
