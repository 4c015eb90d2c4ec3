//! The runtime's only unsafe code: the system calls that neither nix nor rustix offer safely
//! (fork, `_exit`, kill with a raw signal number, the loopback's interface flags, `rt_sigaction` for every signal,
//! `close_range`, `madvise` of our own code, seccomp(2) and bpf(2)). Each function here is safe
//! to call: what makes its `unsafe` block sound is said at the block, and the arguments it
//! takes cannot break it. Everything else in the crate is `unsafe`-free (`#![deny(unsafe_code)]`
//! comes from the workspace lints; only this module is allowed).

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::ForkResult;

pub(crate) mod bpf;

/// setdomainname(2) (the UTS namespace's NIS domain name), which nix does not offer.
pub(crate) fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: the kernel reads `len` bytes from the pointer, which points into `name`.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(r).map(drop)
}

/// kill(2) with any signal number: realtime signals (which neither nix's nor rustix's `Signal`
/// holds) and 0 (is it alive?), as runc sends whatever number it is given.
pub(crate) fn kill_raw(pid: i32, signo: i32) -> Result<(), Errno> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let r = unsafe { libc::kill(pid, signo) };
    Errno::result(r).map(drop)
}

/// fork(2).
///
/// The runtime's contract (documented on the crate and on `Runtime::create`/`exec`) is that its
/// caller is single-threaded, and every child it forks runs only this crate's setup code and
/// ends in `execve` or [`exit_now`]: no lock another thread held can be left locked in the
/// child. The unit tests that fork run their child's body and leave with [`exit_now`] too.
pub(crate) fn fork() -> nix::Result<ForkResult> {
    // SAFETY: see above: the callers are single-threaded (or, in the tests, the child touches
    // nothing another thread may hold) and the child ends in exec or `_exit`.
    unsafe { nix::unistd::fork() }
}

/// `_exit(2)`: ends a forked child at once, without running the parent's atexit handlers or
/// flushing buffers that belong to the parent's copy of the process.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes an integer and never returns; it touches no memory of ours.
    unsafe { libc::_exit(code) }
}

/// Sets IFF_UP on interface `lo` through `sock` (any AF_INET socket): SIOCGIFFLAGS then
/// SIOCSIFFLAGS. On failure, which of the two failed (`false`: getting the flags) and the errno.
pub(crate) fn loopback_up(sock: BorrowedFd<'_>) -> Result<(), (bool, Errno)> {
    // SAFETY: `ifreq` is plain data (integers, arrays and a union of them), for which all-zero
    // bytes are a valid value; the name is NUL-terminated within IFNAMSIZ; SIOCGIFFLAGS and
    // SIOCSIFFLAGS read and write only the `ifreq` we own and pass by pointer, and reading
    // `ifru_flags` after SIOCGIFFLAGS reads the member the kernel just wrote.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err((false, Errno::last()));
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err((true, Errno::last()));
        }
    }
    Ok(())
}

/// Puts every signal 1..=64 but SIGKILL and SIGSTOP back to its default disposition, glibc's own
/// real-time ones (32, 33) included, which its sigaction (and nix's) refuse: rt_sigaction
/// directly, with a zeroed kernel sigaction (handler SIG_DFL, no flags, no mask).
pub(crate) fn default_all_signal_dispositions() {
    let dfl = [0u64; 4];
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: the kernel reads a `struct sigaction` (handler, flags, restorer, an 8-byte
        // mask: 32 bytes) from `dfl`, which is that many zeroed bytes alive for the call; the
        // old action pointer is null, so nothing is written.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<u64>(),
                8usize,
            )
        };
    }
}

/// close_range(first, ~0, CLOSE_RANGE_CLOEXEC): marks every descriptor from `first` up
/// close-on-exec (nix and rustix have no close_range).
pub(crate) fn cloexec_range_from(first: u32) -> Result<(), Errno> {
    // SAFETY: with CLOSE_RANGE_CLOEXEC the call only sets a flag on descriptors; it closes
    // none, so no descriptor owned elsewhere in the process becomes invalid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

/// Unmaps the resident pages of the program's and libraries' code and read-only data from this
/// process: read-only private file mappings that were never written (as /proc/self/smaps lists
/// them: executable ones, and unexecutable ones with no anonymous (copied-on-write) page, which
/// leaves out relocated RELRO data). They are clean shared page cache and fault back in when used
/// again.
pub(crate) fn release_code_pages() {
    // smaps, not maps: only smaps tells which mappings hold written pages.
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    // (start, end) of the mapping being read, and whether it is still a candidate.
    let mut current: Option<(usize, usize, bool)> = None;
    let mut candidates = Vec::new();
    let mut flush = |cur: &mut Option<(usize, usize, bool)>| {
        if let Some((start, end, true)) = cur.take() {
            candidates.push((start, end));
        }
    };
    for line in smaps.lines() {
        if let Some(kb) = line.strip_prefix("Anonymous:") {
            if kb.trim().trim_end_matches("kB").trim() != "0" {
                if let Some(c) = current.as_mut() {
                    c.2 = false;
                }
            }
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        else {
            continue; // a field line of smaps, not a mapping's header
        };
        flush(&mut current);
        let path = f.nth(3).unwrap_or("");
        // Only private, unwritable file mappings: text and read-only data; not the vdso or
        // vsyscall pages.
        if (perms == "r-xp" || perms == "r--p") && path.starts_with('/') {
            current = Some((start, end, true));
        }
    }
    flush(&mut current);
    for (start, end) in candidates {
        // SAFETY: the range is a whole read-only, private, file-backed mapping of this process
        // that holds no anonymous (written) page, as the kernel listed it just now; it cannot be
        // written without an mprotect, which nothing here does. With MADV_DONTNEED its pages are
        // dropped from our page tables and refaulted unchanged from the file on the next use,
        // so no memory that Rust code refers to changes.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// seccomp(SECCOMP_SET_MODE_FILTER, 0, prog): loads a classic BPF program into the calling
/// thread. EINVAL for a program longer than the kernel's u16 length.
pub(crate) fn seccomp_set_mode_filter(filters: &[libc::sock_filter]) -> Result<(), Errno> {
    let len = u16::try_from(filters.len()).map_err(|_| Errno::EINVAL)?;
    let prog = libc::sock_fprog {
        len,
        filter: filters.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `len` filters in `filters`, alive for the call; the kernel only
    // reads (and copies) them, never through the `*mut`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &prog as *const libc::sock_fprog,
        )
    };
    if r != 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// A raw system call with two integer arguments, its result and errno (the seccomp tests must
/// see what the kernel answers, with no libc wrapper in between).
#[cfg(test)]
pub(crate) fn syscall2(nr: libc::c_long, a0: u64, a1: u64) -> (libc::c_long, i32) {
    // SAFETY: the tests call it only with system calls that take integers, no pointers, and
    // change no memory of the process (getpid, getuid, unshare(0), personality, …).
    let r = unsafe { libc::syscall(nr, a0, a1) };
    let errno = if r == -1 { Errno::last_raw() } else { 0 };
    (r, errno)
}
