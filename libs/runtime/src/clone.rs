//! Runs the calling program from a binary that cannot be written through /proc/PID/exe
//! (CVE-2019-5736).
//!
//! A process that enters a container (the init before its exec, a process being exec'd in) is
//! visible there for a moment, and a container process that opens its /proc/PID/exe could write
//! the host's binary through it. As runc 1.1.12+: the binary is bind-mounted read-only on a
//! temporary file, opened, the mount detached, and the program re-executed from that
//! descriptor: /proc/PID/exe then leads to a read-only mount nobody can reach otherwise
//! (writes fail with EROFS), and the pages stay the shared page cache of the one binary. Where
//! mounting is not allowed, a sealed memfd copy does the same at the cost of a private copy.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use crate::error::{Error, Result};

const MARK: &str = "_BERTH_CLONED_BINARY";

/// Whether this process runs from a binary that cannot be written: a read-only mount or a
/// sealed memfd.
pub fn is_cloned() -> bool {
    let Ok(f) = fs::File::open("/proc/self/exe") else {
        return false;
    };
    if nix::sys::statvfs::fstatvfs(&f)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
    {
        return true;
    }
    rustix::fs::fcntl_get_seals(&f).is_ok_and(|s| s.contains(rustix::fs::SealFlags::WRITE))
}

/// The running binary on a detached read-only bind mount, as an O_PATH descriptor.
fn read_only_binary() -> Result<OwnedFd> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    let dir = std::env::temp_dir();
    let target = dir.join(format!(".berth-exe-{}", std::process::id()));
    fs::File::create(&target).map_err(|e| Error::io("create", &target, e))?;
    let r = (|| {
        mount(
            Some("/proc/self/exe"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| Error::sys("bind-mount the binary", e))?;
        let ro = mount(
            None::<&str>,
            &target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        );
        let fd = ro
            .map_err(|e| Error::sys("make the binary's mount read-only", e))
            .and_then(|_| {
                fs::File::options()
                    .read(true)
                    .open(&target)
                    .map(OwnedFd::from)
                    .map_err(|e| Error::io("open", &target, e))
            });
        let _ = umount2(&target, MntFlags::MNT_DETACH);
        fd
    })();
    let _ = fs::remove_file(&target);
    r
}

/// Re-executes the program from a sealed memfd copy unless it already runs from one. Returns
/// only when already cloned (or on error); on success the process image is replaced.
pub fn ensure_cloned_binary() -> Result<()> {
    if is_cloned() {
        std::env::remove_var(MARK);
        return Ok(());
    }
    if std::env::var_os(MARK).is_some() {
        // We were re-executed and still are not sealed: do not loop.
        return Err(Error::Spec(
            "could not run from a sealed copy of the binary".into(),
        ));
    }
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| Error::Spec("NUL in an argument".into())))
        .collect::<Result<_>>()?;
    let mut env: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    env.push(CString::new(format!("{MARK}=1")).expect("static"));
    if let Ok(fd) = read_only_binary() {
        let e = nix::unistd::fexecve(fd.as_raw_fd(), &args, &env).unwrap_err();
        return Err(Error::sys("re-execute from the read-only binary", e));
    }
    use rustix::fs::{MemfdFlags, SealFlags};
    let memfd = rustix::fs::memfd_create(
        c"berth-runtime",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(|e| Error::io("create", "a memfd", e.into()))?;
    let mut src =
        fs::File::open("/proc/self/exe").map_err(|e| Error::io("open", "/proc/self/exe", e))?;
    let mut dst = fs::File::from(memfd);
    io::copy(&mut src, &mut dst).map_err(|e| Error::io("copy", "/proc/self/exe", e))?;
    let seals = SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE;
    rustix::fs::fcntl_add_seals(&dst, seals)
        .map_err(|e| Error::io("seal", "the binary's copy", e.into()))?;
    let e = nix::unistd::fexecve(dst.as_raw_fd(), &args, &env).unwrap_err();
    Err(Error::sys("re-execute from a sealed copy", e))
}

/// Unmaps the resident pages of the program's and libraries' code (read-only, executable file
/// mappings) from this process: they are clean shared page cache and fault back in when run
/// again. A long-lived process calls it after its start-up, so that its resident set holds only
/// the code its steady state uses (the monitor: from 4.3 to about 1 MiB).
pub fn release_code_pages() {
    crate::sys::release_code_pages()
}
