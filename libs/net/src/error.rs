//! The errors of the network code: each names the thing that was wrong.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A netlink request the kernel refused (`what` names the link, address or route).
    #[error("netlink: {what}: {source}")]
    Netlink {
        what: String,
        source: std::io::Error,
    },
    /// An answer from the kernel that netlink-packet could not decode.
    #[error("netlink: {what}: {source}")]
    NetlinkDecode {
        what: String,
        source: netlink_packet_core::DecodeError,
    },
    /// nft refused a ruleset, or listed something berth cannot use.
    #[error("nftables: {0}")]
    Nft(String),
    /// nft could not be run, waited for or written to (`what` names which and the binary).
    #[error("nftables: {what}: {source}")]
    NftIo {
        what: String,
        source: std::io::Error,
    },
    /// `nft -j list` printed something that is not JSON.
    #[error("nftables: unreadable `nft -j list` output: {0}")]
    NftListing(#[source] serde_json::Error),
    /// Bad input: a malformed port spec, subnet, address, network name.
    #[error("{0}")]
    InvalidInput(String),
    /// No network has this name or ID (prefix).
    #[error("network {0} not found")]
    NetworkNotFound(String),
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
