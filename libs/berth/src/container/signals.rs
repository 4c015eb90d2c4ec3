//! The signals an attached client takes instead of dying of them: the ones it passes on to the
//! container (`--sig-proxy`, as Docker's ForwardAllSignals) and SIGWINCH, the terminal's resize,
//! which it passes on to the container's pty.
//!
//! They are blocked in the calling thread before any other thread exists (every thread then
//! inherits the mask, so none takes them) and read from a signalfd by one thread that acts on
//! them. A child started with `std::process::Command` gets an empty mask again; a process forked
//! otherwise inherits the blocked set, so block only once the container's process is forked.

use std::os::fd::AsFd;

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::error::{Error, Result};

/// What Docker's ForwardAllSignals proxies to the container: every signal Go's `signal.Notify`
/// can catch but SIGCHLD, SIGPIPE and SIGURG (which Docker skips) and SIGWINCH (a resize, which
/// reaches a container through its pty). Not here: SIGKILL and SIGSTOP (they cannot be caught),
/// the faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS: blocked, a real one would end the
/// client unreported) and the real-time signals.
pub const PROXIED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGABRT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGTERM,
    Signal::SIGSTKFLT,
    Signal::SIGCONT,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGIO,
    Signal::SIGPWR,
];

/// Blocked signals and the descriptor they are read from.
pub struct Watch {
    fd: SignalFd,
}

impl Watch {
    /// Blocks the proxied signals (with `proxy`) and SIGWINCH (with `resize`) in this thread;
    /// None when neither is asked for.
    pub fn block(proxy: bool, resize: bool) -> Result<Option<Watch>> {
        if !proxy && !resize {
            return Ok(None);
        }
        let mut mask = SigSet::empty();
        if proxy {
            for &s in PROXIED {
                mask.add(s);
            }
        }
        if resize {
            mask.add(Signal::SIGWINCH);
        }
        mask.thread_block().map_err(|e| Error::Runtime {
            message: format!("block signals: {e}"),
            code: 125,
        })?;
        let fd =
            SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).map_err(|e| Error::Runtime {
                message: format!("signalfd: {e}"),
                code: 125,
            })?;
        Ok(Some(Watch { fd }))
    }

    /// Waits for the next signal (None when the descriptor fails).
    pub fn next(&self) -> Option<Signal> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    Ok(s) => return Some(s),
                    Err(_) => continue,
                },
                Ok(None) | Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => {
                    let _ = nix::poll::poll(
                        &mut [nix::poll::PollFd::new(
                            self.fd.as_fd(),
                            nix::poll::PollFlags::POLLIN,
                        )],
                        nix::poll::PollTimeout::NONE,
                    );
                }
                Err(_) => return None,
            }
        }
    }
}

/// Blocks `sigs` in this thread and returns a non-blocking signalfd that reads them: how the
/// monitor, `ctr-exec` and the health probe learn of their children's ends in a poll loop.
pub fn nonblocking_signalfd(sigs: &[Signal]) -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    for s in sigs {
        mask.add(*s);
    }
    mask.thread_block().map_err(|e| Error::Runtime {
        message: format!("block {sigs:?}: {e}"),
        code: 125,
    })?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(|e| {
        Error::Runtime {
            message: format!("signalfd: {e}"),
            code: 125,
        }
    })
}

/// The size of the terminal on our stdout, as Docker takes it (`Out().GetTtySize()`); None when
/// stdout is not a terminal or the size is 0x0 (Docker then leaves the container's as it is).
pub fn stdout_size() -> Option<rustix::termios::Winsize> {
    let out = rustix::stdio::stdout();
    if !rustix::termios::isatty(out) {
        return None;
    }
    rustix::termios::tcgetwinsize(out)
        .ok()
        .filter(|ws| ws.ws_row != 0 || ws.ws_col != 0)
}

/// Whether our stdout is a terminal (Docker resizes a container's tty only then).
pub fn stdout_is_tty() -> bool {
    rustix::termios::isatty(rustix::stdio::stdout())
}

/// Whether our stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    rustix::termios::isatty(rustix::stdio::stdin())
}

/// Docker's CheckTty: attaching stdin to a container's tty needs a terminal on stdin ("the input
/// device is not a TTY", exit 1, before anything is made).
pub fn check_tty(attach_stdin: bool, tty: bool) -> Result<()> {
    if tty && attach_stdin && !stdin_is_tty() {
        return Err(Error::Runtime {
            message: "the input device is not a TTY".into(),
            code: 1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_signals_leave_out_what_docker_does_not_forward() {
        for s in [
            Signal::SIGCHLD,
            Signal::SIGPIPE,
            Signal::SIGURG,
            Signal::SIGWINCH,
            Signal::SIGKILL,
            Signal::SIGSTOP,
        ] {
            assert!(!PROXIED.contains(&s), "{s}");
        }
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
        ] {
            assert!(PROXIED.contains(&s), "{s}");
        }
    }
}
