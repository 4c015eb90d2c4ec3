//! Running nft: applying a document, listing the table.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::listing::{parse_listing, Listing};
use super::nft;
use super::rules::document;
use super::{FAMILY, TABLE};
use crate::{Error, Result};

fn nft_binary() -> &'static Path {
    static NFT: OnceLock<PathBuf> = OnceLock::new();
    NFT.get_or_init(|| {
        for p in ["/usr/sbin/nft", "/sbin/nft"] {
            if Path::new(p).is_file() {
                return PathBuf::from(p);
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let p = dir.join("nft");
                if p.is_file() {
                    return p;
                }
            }
        }
        PathBuf::from("nft")
    })
}

/// Applies `commands` as one nft transaction.
pub fn apply(commands: Vec<nft::Command>) -> Result<()> {
    if commands.is_empty() {
        return Ok(());
    }
    let doc = serde_json::to_string(&document(commands)).expect("nft commands serialise");
    let nft = nft_binary();
    let mut child = Command::new(nft)
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::NftIo {
            what: format!("running {}", nft.display()),
            source,
        })?;
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(doc.as_bytes());
    let out = child.wait_with_output().map_err(|source| Error::NftIo {
        what: format!("waiting for {}", nft.display()),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Nft(format!(
            "`nft -j -f -` failed ({}): {}\nthe document: {doc}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    written.map_err(|source| Error::NftIo {
        what: "writing to nft".into(),
        source,
    })
}

/// Lists berth's table; `None` when there is no such table.
pub fn list() -> Result<Option<Listing>> {
    let nft = nft_binary();
    let out = Command::new(nft)
        .args(["-j", "list", "table", FAMILY, TABLE])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::NftIo {
            what: format!("running {}", nft.display()),
            source,
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No such file or directory") {
            return Ok(None);
        }
        return Err(Error::Nft(format!(
            "`nft -j list table {FAMILY} {TABLE}` failed ({}): {}",
            out.status,
            err.trim()
        )));
    }
    parse_listing(&String::from_utf8_lossy(&out.stdout)).map(Some)
}
