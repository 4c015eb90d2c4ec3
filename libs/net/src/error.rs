//! The errors of the network code: each names the thing that was wrong.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A netlink request the kernel refused (`what` names the link, address or route).
    #[error("netlink: {what}: {source}")]
    Netlink {
        what: String,
        source: std::io::Error,
    },
    /// nft refused a ruleset or could not be run.
    #[error("nftables: {0}")]
    Nft(String),
    /// Bad input: a malformed port spec, subnet, address, network name.
    #[error("{0}")]
    InvalidInput(String),
    /// A network that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A host port or address already taken.
    #[error("{0}")]
    Conflict(String),
    /// No address left in a subnet.
    #[error("{0}")]
    Exhausted(String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches an action and a path to an io::Error.
pub trait IoContext<T> {
    fn with_path(self, what: &'static str, path: impl AsRef<std::path::Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn with_path(self, what: &'static str, path: impl AsRef<std::path::Path>) -> Result<T> {
        self.map_err(|source| Error::Io {
            what,
            path: path.as_ref().display().to_string(),
            source,
        })
    }
}
