//! A process's stdio as pipes, and our ends of them, for the monitor (a container's init) and
//! ctr-exec (an exec'd process): the caller's own descriptors never reach the container, where
//! `/proc/self/fd/N` would reopen the host file behind them (read a file our stdout appends to,
//! write one our stdin reads), as Docker's pipes keep them out.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;

use crate::error::{Error, IoContext, Result};

/// A pipe whose ends are closed on exec.
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::io("make", "a pipe", io::Error::from(e)))
}

/// The process's ends and ours.
pub struct Pipes {
    /// The process's stdin (the read end of a pipe when it is interactive, /dev/null
    /// otherwise), stdout and stderr (write ends).
    pub child: [OwnedFd; 3],
    /// Our end of its stdin, when it is interactive.
    pub stdin: Option<File>,
    pub stdout: File,
    pub stderr: File,
}

impl Pipes {
    pub fn new(interactive: bool) -> Result<Pipes> {
        let (child_in, stdin) = if interactive {
            let (r, w) = pipe()?;
            (r, Some(File::from(w)))
        } else {
            let null = File::open("/dev/null").with_path("open", "/dev/null")?;
            (OwnedFd::from(null), None)
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        Ok(Pipes {
            child: [child_in, out_w, err_w],
            stdin,
            stdout: File::from(out_r),
            stderr: File::from(err_r),
        })
    }
}
