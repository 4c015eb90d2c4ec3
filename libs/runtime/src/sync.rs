//! What a forked child of the runtime (the init, a process being exec'd) tells the runtime over
//! the sync pipe: one JSON object per line.
//!
//! The first child sends [`SyncMsg::Pid`] with the pid of the process it forked into the new
//! pid namespace; that process sends [`SyncMsg::Ready`] once it is set up (and then waits for
//! `start`, or execs), or [`SyncMsg::Error`] with why it failed, its kind kept so that the
//! runtime exits as `docker run` would (127, 126, 125).

use std::io::{BufRead, BufReader};
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One message on the sync pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum SyncMsg {
    /// The host pid of the container's process.
    Pid { pid: i32 },
    /// The init has made its mounts and waits, before `pivot_root`, for the runtime to run
    /// the prestart and createRuntime hooks (the runtime answers with the state JSON on the go
    /// pipe).
    Hooks,
    /// The process is set up.
    Ready,
    /// The process failed.
    Error(InitError),
}

/// A child's failure as it crosses the pipe: the exec failures with their parts, anything else
/// as its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum InitError {
    ExecNotFound { arg0: String },
    ExecNotExecutable { path: String, why: String },
    Other { message: String },
}

/// Text on one line (the messages were lines of text before they were JSON; a newline in them
/// still becomes a space).
fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

impl From<&Error> for InitError {
    fn from(e: &Error) -> InitError {
        match e {
            Error::ExecNotFound(arg0) => InitError::ExecNotFound {
                arg0: one_line(arg0),
            },
            Error::ExecNotExecutable { path, why } => InitError::ExecNotExecutable {
                path: one_line(path),
                why: one_line(why),
            },
            e => InitError::Other {
                message: one_line(&e.to_string()),
            },
        }
    }
}

impl From<InitError> for Error {
    fn from(e: InitError) -> Error {
        match e {
            InitError::ExecNotFound { arg0 } => Error::ExecNotFound(arg0),
            InitError::ExecNotExecutable { path, why } => Error::ExecNotExecutable { path, why },
            InitError::Other { message } => Error::Init(message),
        }
    }
}

/// Sends `msg` (best effort: a runtime that stopped listening is not an error of the child's).
pub(crate) fn send(fd: BorrowedFd<'_>, msg: &SyncMsg) {
    let mut line = serde_json::to_vec(msg).expect("a sync message serialises");
    line.push(b'\n');
    let _ = write_all(fd, &line);
}

/// write(2) until all of `buf` is written.
fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> nix::Result<()> {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(0) => return Err(nix::errno::Errno::EIO),
            Ok(n) => buf = &buf[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads the pid and the outcome from a sync pipe: the pid once the child is ready.
pub(crate) fn read_outcome(sync_r: OwnedFd) -> Result<i32> {
    read_outcome_with(sync_r, &mut |_| Ok(()), &mut |_| {
        Err(Error::Init(
            "a hooks request from a process that runs no hooks".into(),
        ))
    })
}

/// [`read_outcome`], running `on_pid` as soon as the pid is known, while the process still sets
/// itself up, and `on_hooks` with the pid when the init asks for its hooks; an error of either
/// fails the outcome and kills the process.
pub(crate) fn read_outcome_with(
    sync_r: OwnedFd,
    on_pid: &mut dyn FnMut(i32) -> Result<()>,
    on_hooks: &mut dyn FnMut(i32) -> Result<()>,
) -> Result<i32> {
    let reader = BufReader::new(std::fs::File::from(sync_r));
    let mut pid = None;
    let mut outcome = None;
    for line in reader.lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<SyncMsg>(&line) {
            Ok(SyncMsg::Pid { pid: p }) => {
                pid = Some(p);
                if let Err(e) = on_pid(p) {
                    outcome = Some(Err(e));
                    break;
                }
            }
            Ok(SyncMsg::Hooks) => {
                if let Err(e) = pid
                    .ok_or_else(|| Error::Init("a hooks request before the pid".into()))
                    .and_then(&mut *on_hooks)
                {
                    outcome = Some(Err(e));
                    break;
                }
            }
            Ok(SyncMsg::Ready) => outcome = Some(Ok(())),
            Ok(SyncMsg::Error(e)) => outcome = Some(Err(Error::from(e))),
            Err(_) => {}
        }
        if pid.is_some() && outcome.is_some() {
            break;
        }
    }
    match outcome {
        Some(Ok(())) => pid.ok_or_else(|| Error::Init("the process did not report its pid".into())),
        Some(Err(e)) => {
            // A child that failed may still be alive (it reports, then exits): make sure.
            if let Some(p) = pid {
                let _ = nix::sys::signal::kill(Pid::from_raw(p), Signal::SIGKILL);
                // Not reaped here (it is a grandchild), but out of the container's cgroup
                // before the caller hears of the failure, as runc leaves it.
                crate::state::wait_gone(p, 0, std::time::Duration::from_secs(2));
            }
            Err(e)
        }
        None => Err(Error::Init("the process exited before it was ready".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn round_trip(msgs: &[SyncMsg]) -> Result<i32> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        for m in msgs {
            send(w.as_fd(), m);
        }
        drop(w);
        read_outcome(r)
    }

    #[test]
    fn the_messages_are_json_lines() {
        let line = serde_json::to_string(&SyncMsg::Pid { pid: 42 }).unwrap();
        assert_eq!(line, r#"{"type":"pid","pid":42}"#);
        let e = SyncMsg::Error(InitError::from(&Error::ExecNotFound("x\ny".into())));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"error","kind":"exec_not_found","arg0":"x y"}"#
        );
    }

    #[test]
    fn outcomes_keep_their_kind_and_message() {
        assert_eq!(
            round_trip(&[SyncMsg::Pid { pid: 7 }, SyncMsg::Ready]).unwrap(),
            7
        );
        let notfound = Error::ExecNotFound("nope".into());
        let e = round_trip(&[SyncMsg::Error((&notfound).into())]).unwrap_err();
        assert_eq!(e.to_string(), notfound.to_string());
        assert_eq!(e.exit_code(), 127);
        let noexec = Error::ExecNotExecutable {
            path: "/etc".into(),
            why: "is a directory".into(),
        };
        let e = round_trip(&[SyncMsg::Error((&noexec).into())]).unwrap_err();
        assert_eq!((e.to_string(), e.exit_code()), (noexec.to_string(), 126));
        let other = Error::Spec("cwd x is not absolute".into());
        let e = round_trip(&[SyncMsg::Error((&other).into())]).unwrap_err();
        assert_eq!(
            (e.to_string(), e.exit_code()),
            (format!("container init: {other}"), 125)
        );
        let e = round_trip(&[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "container init: the process exited before it was ready"
        );
    }

    /// `on_pid` runs once the pid comes, whether before or after Ready; its error is the outcome.
    #[test]
    fn on_pid_runs_with_the_pid_and_its_error_fails_the_outcome() {
        // A pid above pid_max: the kill of a failed outcome finds no process.
        let pid = i32::MAX;
        for msgs in [
            [SyncMsg::Pid { pid }, SyncMsg::Ready],
            [SyncMsg::Ready, SyncMsg::Pid { pid }],
        ] {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
            for m in &msgs {
                send(w.as_fd(), m);
            }
            drop(w);
            let mut seen = Vec::new();
            let got = read_outcome_with(
                r,
                &mut |p| {
                    seen.push(p);
                    Ok(())
                },
                &mut |_| Ok(()),
            );
            assert_eq!((got.unwrap(), seen), (pid, vec![pid]));
        }
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        send(w.as_fd(), &SyncMsg::Pid { pid });
        send(w.as_fd(), &SyncMsg::Ready);
        drop(w);
        let e = read_outcome_with(
            r,
            &mut |_| Err(Error::Spec("no room for state.json".into())),
            &mut |_| Ok(()),
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            Error::Spec("no room for state.json".into()).to_string()
        );
    }
}
