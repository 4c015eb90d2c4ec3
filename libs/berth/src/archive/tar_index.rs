//! An archive read in place: the tar's entries scanned once for their names and where their data
//! lies, then any file read by name, as often and in any order, without extracting anything.
//!
//! Names are checked as they are scanned: an absolute name or one with a `..` component is
//! refused (whatever a later step would do with it), and links may only point inside the archive.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use super::tar_reader::{short_name, Kind, TarReader};
use crate::error::{Error, Result};

#[derive(Debug, Clone)]
enum Node {
    File {
        offset: u64,
        size: u64,
    },
    /// A symbolic or hard link, with its target as a name in the archive.
    Link(String),
}

pub(super) struct TarIndex {
    file: File,
    nodes: HashMap<String, Node>,
    /// Names the archive in errors.
    what: String,
}

/// A name in the archive without `./`, empty components or a trailing slash; None when it is
/// absolute or has a `..` component.
pub(super) fn clean_name(name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Resolves a symbolic link's `target` from the directory of `name`; None when it leaves the
/// archive.
fn resolve_link(name: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl TarIndex {
    pub fn scan(file: File, what: &str) -> Result<TarIndex> {
        let len = file
            .metadata()
            .map_err(|e| Error::stream(format!("stat {what}"), e))?
            .len();
        let bad =
            |why: String| Error::InvalidInput(format!("{what} is not a valid tar archive: {why}"));
        if len == 0 {
            return Err(Error::InvalidInput(format!("{what} is empty")));
        }
        io::Seek::rewind(&mut &file).map_err(|e| Error::stream(format!("read {what}"), e))?;
        let mut nodes = HashMap::new();
        let mut entries = 0usize;
        let mut r = TarReader::seekable(&file);
        while let Some(entry) = r.next_entry().map_err(|e| bad(e.to_string()))? {
            entries += 1;
            let raw = String::from_utf8(entry.name.clone())
                .map_err(|_| bad(format!("the name {} is not UTF-8", short_name(&entry.name))))?;
            let name = clean_name(&raw).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{what}: refusing the entry {}: names in an image archive may not be absolute or contain '..'",
                    short_name(raw.as_bytes())
                ))
            })?;
            let link_target = || -> Result<String> {
                let t = String::from_utf8_lossy(&entry.link).into_owned();
                let resolved = if entry.kind == Kind::Symlink {
                    resolve_link(&name, &t)
                } else {
                    clean_name(&t)
                };
                resolved.ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "{what}: refusing the link {} to {}: it points outside the archive",
                        short_name(raw.as_bytes()),
                        short_name(t.as_bytes())
                    ))
                })
            };
            match entry.kind {
                Kind::File if entry.sparse.is_none() => {
                    let offset = entry.offset;
                    let size = entry.size;
                    if offset.saturating_add(size) > len {
                        return Err(bad(format!(
                            "it is truncated: {} needs {size} bytes and the file ends {} bytes into them",
                            short_name(raw.as_bytes()),
                            len.saturating_sub(offset)
                        )));
                    }
                    nodes.insert(name, Node::File { offset, size });
                }
                Kind::Symlink | Kind::HardLink => {
                    let target = link_target()?;
                    nodes.insert(name, Node::Link(target));
                }
                // Directories and anything else an image archive has no use for are skipped.
                _ => {}
            }
        }
        if entries == 0 {
            return Err(bad("it has no entries".into()));
        }
        Ok(TarIndex {
            file,
            nodes,
            what: what.to_string(),
        })
    }

    pub fn what(&self) -> &str {
        &self.what
    }

    /// Where the data of the file `name` (following links) lies.
    fn locate(&self, name: &str) -> Result<(u64, u64)> {
        let missing = || {
            Error::InvalidInput(format!(
                "{}: {name} is named in the archive's index but is not in the archive",
                self.what
            ))
        };
        let mut cur = clean_name(name).ok_or_else(|| {
            Error::InvalidInput(format!(
                "{}: refusing the name {name:?}: it may not be absolute or contain '..'",
                self.what
            ))
        })?;
        for _ in 0..16 {
            match self.nodes.get(&cur).ok_or_else(missing)? {
                Node::File { offset, size } => return Ok((*offset, *size)),
                Node::Link(t) => cur = t.clone(),
            }
        }
        Err(Error::InvalidInput(format!(
            "{}: {name}: too many levels of links",
            self.what
        )))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.locate(name).is_ok()
    }

    /// A reader of the file `name`, and its size.
    pub fn open(&self, name: &str) -> Result<(Section<'_>, u64)> {
        let (offset, size) = self.locate(name)?;
        Ok((
            Section {
                file: &self.file,
                pos: offset,
                end: offset + size,
            },
            size,
        ))
    }

    /// Reads a small file (a manifest, a config) whole; one larger than `limit` is refused.
    pub fn read_small(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let (mut r, size) = self.open(name)?;
        if size > limit {
            return Err(Error::InvalidInput(format!(
                "{}: {name} is {size} bytes, more than the {limit} allowed for a manifest or config",
                self.what
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        r.read_to_end(&mut data)
            .map_err(|e| Error::stream(format!("read {name} in {}", self.what), e))?;
        Ok(data)
    }
}

/// A file inside the archive, read with `pread` so that any number can be open at once.
pub(super) struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(left as usize);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside a file",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_and_traversal_refused() {
        assert_eq!(
            clean_name("./manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(
            clean_name("blobs//sha256/x").as_deref(),
            Some("blobs/sha256/x")
        );
        assert_eq!(clean_name("abc/").as_deref(), Some("abc"));
        assert_eq!(clean_name("../x"), None);
        assert_eq!(clean_name("a/../../x"), None);
        assert_eq!(clean_name("/etc/passwd"), None);
        assert_eq!(
            resolve_link("b/layer.tar", "../a/layer.tar").as_deref(),
            Some("a/layer.tar")
        );
        assert_eq!(resolve_link("b/layer.tar", "../../x"), None);
        assert_eq!(resolve_link("b/layer.tar", "/x"), None);
    }

    fn archive(entries: &[(&str, &[u8])]) -> File {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &b.into_inner().unwrap()).unwrap();
        f
    }

    #[test]
    fn reads_files_by_name_and_follows_links() {
        let f = archive(&[("a/layer.tar", b"AAAA"), ("./x.json", b"{}")]);
        // Append a symlink b/layer.tar -> ../a/layer.tar the way `docker save` (≤ 24) does.
        let idx = TarIndex::scan(f, "t").unwrap();
        assert_eq!(idx.read_small("x.json", 10).unwrap(), b"{}");
        assert_eq!(idx.read_small("a/layer.tar", 10).unwrap(), b"AAAA");
        assert!(idx.read_small("a/layer.tar", 2).is_err());
        let err = idx.open("nope").err().unwrap().to_string();
        assert!(err.contains("not in the archive"), "{err}");

        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_cksum();
        b.append_data(&mut h, "a/layer.tar", &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "b/layer.tar", "../a/layer.tar")
            .unwrap();
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &b.into_inner().unwrap()).unwrap();
        let idx = TarIndex::scan(f, "t").unwrap();
        assert_eq!(idx.read_small("b/layer.tar", 10).unwrap(), b"abc");
    }

    #[test]
    fn truncated_and_hostile_archives_are_refused() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5000);
        h.set_cksum();
        b.append_data(&mut h, "big", &[1u8; 5000][..]).unwrap();
        let mut data = b.into_inner().unwrap();
        data.truncate(2048);
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        let err = TarIndex::scan(f, "t").err().unwrap().to_string();
        assert!(err.contains("truncated"), "{err}");

        // The tar crate refuses to write "../x", so the name is put in the header by hand.
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..4].copy_from_slice(b"../x");
        h.set_size(1);
        h.set_cksum();
        let mut data = h.as_bytes().to_vec();
        data.extend_from_slice(&[b'x'; 512]);
        data.extend_from_slice(&[0; 1024]);
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        let err = TarIndex::scan(f, "t").err().unwrap().to_string();
        assert!(err.contains("refusing the entry \"../x\""), "{err}");

        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, b"this is not a tar archive at all").unwrap();
        assert!(TarIndex::scan(f, "t").is_err());
    }
}
