//! The runtime's error type: each variant names what was wrong.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system operation failed on a named path.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::errno::Errno,
    },

    /// The spec asks for something this runtime cannot do, or is malformed.
    #[error("invalid runtime spec: {0}")]
    Spec(String),

    /// No container with this ID in the state directory.
    #[error("container {0} does not exist")]
    NotFound(String),

    /// The container is in the wrong state for the operation.
    #[error("container {id} is {status}: {why}")]
    State {
        id: String,
        status: String,
        why: String,
    },

    /// The process to run is not in the container (docker run exits 127).
    #[error("exec: {0}: executable file not found in $PATH")]
    ExecNotFound(String),

    /// The process to run exists but cannot be executed (docker run exits 126).
    #[error("exec: {path}: {why}")]
    ExecNotExecutable { path: String, why: String },

    /// The process could not be executed; `code` is what `docker run` exits with (126, 127).
    #[error("{message}")]
    Exec { message: String, code: u8 },

    /// The container's init reported a failure while setting up.
    #[error("container init: {0}")]
    Init(String),

    #[error("seccomp: {0}")]
    Seccomp(String),

    #[error("cgroup {}: {why}", path.display())]
    Cgroup { path: PathBuf, why: String },
}

impl Error {
    /// What `docker run` exits with for this error: 127 the command was not found, 126 it
    /// could not be executed, 125 anything else (the runtime failed).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Exec { code, .. } => *code,
            Error::ExecNotFound(_) => 127,
            Error::ExecNotExecutable { .. } => 126,
            _ => 125,
        }
    }

    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub fn sys(what: impl Into<String>, source: nix::errno::Errno) -> Error {
        Error::Sys {
            what: what.into(),
            source,
        }
    }
}
