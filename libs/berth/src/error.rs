//! The library's error type. Every variant says what was wrong and why, naming the offending
//! value; `exit_code` maps it to the exit codes of DESIGN.md §3.

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, DigestError};
use crate::reference::ReferenceError;
use crate::template::TemplateError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] ReferenceError),

    #[error(transparent)]
    Digest(#[from] DigestError),

    #[error("{0}")]
    Template(#[from] TemplateError),

    /// A file system operation failed on a named path.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// An I/O error on a stream (stdin, stdout, a pipe).
    #[error("{what}: {source}")]
    Stream {
        what: String,
        #[source]
        source: io::Error,
    },

    #[error("no such image: {0}")]
    ImageNotFound(String),

    #[error("image ID prefix {prefix} is ambiguous: it matches {}", candidates.join(", "))]
    AmbiguousImageId {
        prefix: String,
        candidates: Vec<String>,
    },

    #[error("{} is not an OCI image layout: {why}", path.display())]
    NotALayout { path: PathBuf, why: String },

    /// Stored content that is not what it claims to be: a blob whose bytes do not match its
    /// digest, an index.json that is not JSON, a manifest of the wrong shape.
    #[error("corrupt {what}: {why}")]
    Corrupt { what: String, why: String },

    #[error("blob {0} is missing from the image layout")]
    BlobMissing(Digest),

    /// Input from the user that cannot be used: a file that is not a tarball, a bad `--change`.
    #[error("{0}")]
    InvalidInput(String),

    /// The operation would break something that is in use (an image a container needs).
    #[error("conflict: {0}")]
    Conflict(String),

    /// A registry answered something berth cannot use, or could not be reached.
    #[error("registry {0}")]
    Registry(String),

    /// A registry refused the credentials, or wants some.
    #[error("authentication failed: {0}")]
    Auth(String),

    #[error("no such container: {0}")]
    ContainerNotFound(String),

    /// Docker's message for a container name that another container has.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse { name: String, id: String },

    #[error("container ID prefix {prefix} is ambiguous: it matches {}", candidates.join(", "))]
    AmbiguousContainerId {
        prefix: String,
        candidates: Vec<String>,
    },

    /// The container runtime failed; `code` is what `docker run` exits with for it (125 the
    /// runtime failed, 126 the command cannot be executed, 127 it was not found).
    #[error("{message}")]
    Runtime { message: String, code: u8 },

    /// The built-in runtime failed: its error kept whole (its code, see [`Error::runtime_code`]).
    #[error(transparent)]
    BuiltinRuntime(#[from] berth_runtime::Error),

    /// A system call failed (mounting a container's root file system); the errno kept.
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: nix::errno::Errno,
    },

    #[error("network {0} not found")]
    NetworkNotFound(String),

    /// A build step failed: `at` says where (`Dockerfile:12: RUN make`), `source` why.
    #[error("{}{source}", if at.is_empty() { String::new() } else { format!("{at}: ") })]
    Build { at: String, source: Box<Error> },

    /// Wrong use of the command line that clap could not catch.
    #[error("{0}")]
    Usage(String),

    /// A RUN's command exited with `code` (what `docker build` exits with).
    #[error("{message}")]
    RunFailed { message: String, code: u8 },
}

/// Network errors keep their kind: bad input, a conflict (a port in use), a missing network.
impl From<berth_net::Error> for Error {
    fn from(e: berth_net::Error) -> Error {
        use berth_net::Error as N;
        match e {
            N::InvalidInput(m) => Error::InvalidInput(m),
            N::Conflict(m) | N::Exhausted(m) => Error::Conflict(m),
            N::NetworkNotFound(name) => Error::NetworkNotFound(name),
            e => Error::Runtime {
                message: e.to_string(),
                code: 125,
            },
        }
    }
}

impl Error {
    /// The process exit code for this error: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::RunFailed { code, .. } => *code,
            Error::Build { source, .. } => source.exit_code(),
            _ => 1,
        }
    }

    /// The exit code for this error in a tool that exits as `docker run`: a runtime failure's
    /// own code (125, 126, 127), 2 for usage errors, 125 for anything else.
    pub fn run_exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            e => e.runtime_code().unwrap_or(125),
        }
    }

    /// For a failure of the container runtime, the code `docker run` exits with for it (125 the
    /// runtime failed, 126 the command cannot be executed, 127 it was not found).
    pub fn runtime_code(&self) -> Option<u8> {
        match self {
            Error::Runtime { code, .. } => Some(*code),
            Error::BuiltinRuntime(e) => Some(e.exit_code()),
            _ => None,
        }
    }

    /// Whether this error is a closed stdout (`tool | head`), which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            Error::Stream { source, .. } | Error::Io { source, .. } => {
                source.kind() == io::ErrorKind::BrokenPipe
            }
            _ => false,
        }
    }

    pub fn io(action: &'static str, path: impl AsRef<Path>, source: io::Error) -> Error {
        Error::Io {
            action,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub fn stream(what: impl Into<String>, source: io::Error) -> Error {
        Error::Stream {
            what: what.into(),
            source,
        }
    }

    pub fn corrupt(what: impl Into<String>, why: impl ToString) -> Error {
        Error::Corrupt {
            what: what.into(),
            why: why.to_string(),
        }
    }
}

/// Attaches a path and an action to io results: `fs::read(p).with_path("read", p)?`.
pub trait IoContext<T> {
    fn with_path(self, action: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn with_path(self, action: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(action, path, e))
    }
}

impl From<berth_fsutil::Error> for Error {
    fn from(e: berth_fsutil::Error) -> Error {
        Error::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        }
    }
}
