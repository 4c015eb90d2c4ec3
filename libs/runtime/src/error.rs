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

    /// A hook of the spec failed (runc's words: "error running hook #N: …").
    #[error("{0}")]
    Hook(String),

    /// An ID that is not a plain name (runc's rule: letters, digits, `_ + - .`, not `.` or
    /// `..`), which would otherwise name a path outside the state directory.
    #[error("invalid container ID format: {0:?}")]
    InvalidId(String),

    /// The container is in the wrong state for the operation.
    #[error("container {id} is {status}: {why}")]
    State {
        id: String,
        status: String,
        why: String,
    },

    /// The process to run is not in the container (docker run exits 127). Said as runc says it
    /// (Go's exec.LookPath): `exec: "x": executable file not found in $PATH`, or for a path,
    /// `exec: "/x": stat /x: no such file or directory`.
    #[error("exec: {name:?}: {why}", name = .0, why = not_found_why(.0))]
    ExecNotFound(String),

    /// The process to run exists but cannot be executed (docker run exits 126).
    #[error("exec: {path:?}: {why}")]
    ExecNotExecutable { path: String, why: String },

    /// The container's init reported a failure while setting up.
    #[error("container init: {0}")]
    Init(String),

    /// A bundle's config.json (or a state file) that cannot be read or parsed.
    #[error("invalid runtime spec: {}: {source}", path.display())]
    SpecFile {
        path: PathBuf,
        #[source]
        source: SpecFileError,
    },

    /// Setting the process's capabilities failed.
    #[error("invalid runtime spec: {what}: {source}")]
    Caps {
        what: &'static str,
        #[source]
        source: caps::errors::CapsError,
    },

    #[error("seccomp: {0}")]
    Seccomp(String),

    /// libseccomp refused a step of building or loading the filter.
    #[error("seccomp: {what}: {source}")]
    SeccompFilter {
        what: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },

    /// seccomp(2) refused the prepared program.
    #[error("seccomp: loading the filter: {0}")]
    SeccompLoad(#[source] io::Error),

    #[error("cgroup {}: {why}", path.display())]
    Cgroup { path: PathBuf, why: String },

    /// Writing a cgroup file failed.
    #[error("cgroup {}: write {value:?}: {source}", path.display())]
    CgroupWrite {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },

    /// A system call on a cgroup directory failed (statfs, the device filter's bpf(2)).
    #[error("cgroup {}: {what}: {source}", path.display())]
    CgroupSys {
        path: PathBuf,
        what: String,
        #[source]
        source: nix::errno::Errno,
    },

    /// The kernel refused the cgroup v2 device filter; `detail` is the verifier's last word.
    #[error(
        "container init: load the cgroup v2 device filter ({insns} instructions): {source}{detail}"
    )]
    DeviceFilterLoad {
        insns: usize,
        #[source]
        source: nix::errno::Errno,
        detail: String,
    },
}

/// Why a spec or state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SpecFileError {
    #[error(transparent)]
    Oci(#[from] oci_spec::OciSpecError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// Why `path` was not found, in Go's words.
fn not_found_why(path: &str) -> String {
    if path.contains('/') {
        format!("stat {path}: no such file or directory")
    } else {
        "executable file not found in $PATH".into()
    }
}

impl Error {
    /// What `docker run` exits with for this error: 127 the command was not found, 126 it
    /// could not be executed, 125 anything else (the runtime failed).
    pub fn exit_code(&self) -> u8 {
        match self {
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
