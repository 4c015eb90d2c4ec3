//! Making layers: an overlayfs upper directory (the changes a container made) written as a layer
//! tar, overlay whiteouts turned into OCI whiteouts.
//!
//! The tar is the same for the same change: entries in byte order of their paths, only the
//! metadata a layer carries (numeric owner, mode, mtime in seconds, device numbers, extended
//! attributes), no user names, access or change times. A 0/0 character device (overlayfs's
//! whiteout) becomes an empty `.wh.NAME`; a directory marked `trusted.overlay.opaque=y` (or
//! `user.overlay.opaque`) is followed by `.wh..wh..opq`. Hard links inside the upper directory
//! stay hard links.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs as rfs;

use crate::error::{Error, Result};
use crate::layer::{store_tar, Codec, NewLayer};
use crate::store::Layout;

/// Writes the layer tar of `upper` to `out`.
pub fn write_tar(upper: &Path, out: impl Write) -> Result<()> {
    write_tar_skipping(upper, out, &HashSet::new())
}

/// Writes the layer tar of `upper` to `out`, without the paths in `skip` (relative to `upper`)
/// and what is under them.
pub fn write_tar_skipping(upper: &Path, out: impl Write, skip: &HashSet<PathBuf>) -> Result<()> {
    write_tar_clamped(upper, out, skip, None)
}

/// [`write_tar_skipping`], every mtime in the tar no later than `mtime_clamp` when given
/// (`SOURCE_DATE_EPOCH`, as BuildKit's `rewrite-timestamp`: later times become it, earlier ones
/// stay).
pub fn write_tar_clamped(
    upper: &Path,
    out: impl Write,
    skip: &HashSet<PathBuf>,
    mtime_clamp: Option<i64>,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut w = Walk {
        b: &mut b,
        links: &mut links,
        skip,
        clamp: mtime_clamp,
    };
    w.walk(upper, Path::new(""))?;
    b.into_inner()
        .map_err(|e| Error::stream("write layer tar", e))?
        .flush()
        .map_err(|e| Error::stream("write layer tar", e))
}

/// Whether `upper` holds no change but the paths in `skip` (its layer would be an empty tar).
pub fn is_empty(upper: &Path, skip: &HashSet<PathBuf>) -> Result<bool> {
    for e in fs::read_dir(upper).map_err(|e| Error::io("read directory", upper, e))? {
        let e = e.map_err(|e| Error::io("read directory", upper, e))?;
        if !skip.contains(Path::new(&e.file_name())) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Stores the layer of `upper` in `layout`, compressed with `codec`: the tar is written on one
/// thread while it is hashed (diffID), compressed and hashed again (digest) on another.
/// Paths in `skip` (relative to `upper`) are left out; mtimes later than `mtime_clamp` (when
/// given) become it.
pub fn store_upper(
    layout: &Layout,
    upper: &Path,
    skip: &HashSet<PathBuf>,
    codec: Codec,
    mtime_clamp: Option<i64>,
) -> Result<NewLayer> {
    let md = fs::metadata(upper).map_err(|e| Error::io("read", upper, e))?;
    if !md.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{}: not a directory",
            upper.display()
        )));
    }
    let (reader, writer) = io::pipe().map_err(|e| Error::stream("pipe", e))?;
    std::thread::scope(|s| {
        let producer = s.spawn(move || write_tar_clamped(upper, writer, skip, mtime_clamp));
        let stored = store_tar(
            layout,
            reader,
            &format!("the changes in {}", upper.display()),
            codec,
        );
        let produced = producer.join().expect("the tar writer does not panic");
        // The writer's error says what went wrong in the directory; the reader's only that the
        // stream ended.
        produced?;
        stored
    })
}

fn xattrs(path: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut names = vec![0u8; 64 << 10];
    let Ok(n) = rfs::llistxattr(path, &mut names[..]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names[..n].split(|b| *b == 0).filter(|s| !s.is_empty()) {
        if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
            continue;
        }
        let mut value = vec![0u8; 64 << 10];
        if let Ok(len) = rfs::lgetxattr(path, OsStr::from_bytes(name), &mut value[..]) {
            value.truncate(len);
            out.push((name.to_vec(), value));
        }
    }
    out.sort();
    out
}

fn is_opaque(path: &Path) -> bool {
    let mut v = [0u8; 4];
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|n| rfs::lgetxattr(path, *n, &mut v[..]).is_ok_and(|len| &v[..len] == b"y"))
}

/// A PAX extended header's records.
fn pax_records(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(k);
        // "LEN KEY=VALUE\n", LEN counting itself.
        let body = key.len() + v.len() + 3;
        let mut len = body + body.to_string().len();
        if len.to_string().len() != body.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(&key);
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out
}

fn header(md: &fs::Metadata, kind: tar::EntryType, size: u64, clamp: Option<i64>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(md.uid().into());
    h.set_gid(md.gid().into());
    let mtime = match clamp {
        Some(c) => md.mtime().min(c),
        None => md.mtime(),
    };
    h.set_mtime(mtime.max(0) as u64);
    h.set_size(size);
    h
}

/// One tar being written: where it goes, the hard links seen, what to leave out.
struct Walk<'a, W: Write> {
    b: &'a mut tar::Builder<W>,
    links: &'a mut HashMap<(u64, u64), PathBuf>,
    skip: &'a HashSet<PathBuf>,
    clamp: Option<i64>,
}

impl<W: Write> Walk<'_, W> {
    fn walk(&mut self, dir: &Path, rel: &Path) -> Result<()> {
        let (clamp, skip) = (self.clamp, self.skip);
        let header =
            |md: &fs::Metadata, kind: tar::EntryType, size: u64| header(md, kind, size, clamp);
        let at = dir.join(rel);
        let mut names: Vec<_> = fs::read_dir(&at)
            .map_err(|e| Error::io("read directory", &at, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(|e| Error::io("read directory", &at, e))?;
        names.sort_by(|a, c| a.as_bytes().cmp(c.as_bytes()));
        let werr = |e: io::Error| Error::stream("write layer tar", e);
        for name in names {
            let path = at.join(&name);
            let name_rel = rel.join(&name);
            if skip.contains(&name_rel) {
                continue;
            }
            let md = fs::symlink_metadata(&path).map_err(|e| Error::io("read", &path, e))?;
            let ft = md.file_type();
            if ft.is_char_device() && md.rdev() == 0 {
                let mut h = header(&md, tar::EntryType::Regular, 0);
                h.set_mode(0);
                let mut wh = std::ffi::OsString::from(".wh.");
                wh.push(&name);
                self.b
                    .append_data(&mut h, rel.join(wh), io::empty())
                    .map_err(werr)?;
                continue;
            }
            let x = xattrs(&path);
            if !x.is_empty() {
                let records = pax_records(&x);
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::XHeader);
                h.set_mode(0o644);
                h.set_mtime(0);
                h.set_size(records.len() as u64);
                h.set_path("PaxHeaders/xattrs").map_err(werr)?;
                h.set_cksum();
                self.b.append(&h, &records[..]).map_err(werr)?;
            }
            if ft.is_dir() {
                let mut h = header(&md, tar::EntryType::Directory, 0);
                let mut p = name_rel.clone().into_os_string();
                p.push("/");
                self.b
                    .append_data(&mut h, PathBuf::from(p), io::empty())
                    .map_err(werr)?;
                if is_opaque(&path) {
                    let mut h = header(&md, tar::EntryType::Regular, 0);
                    h.set_mode(0);
                    self.b
                        .append_data(&mut h, name_rel.join(".wh..wh..opq"), io::empty())
                        .map_err(werr)?;
                }
                self.walk(dir, &name_rel)?;
            } else if ft.is_symlink() {
                let target = fs::read_link(&path).map_err(|e| Error::io("read link", &path, e))?;
                let mut h = header(&md, tar::EntryType::Symlink, 0);
                self.b
                    .append_link(&mut h, &name_rel, &target)
                    .map_err(werr)?;
            } else if ft.is_file() {
                if md.nlink() > 1 {
                    if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                        let mut h = header(&md, tar::EntryType::Link, 0);
                        self.b.append_link(&mut h, &name_rel, first).map_err(werr)?;
                        continue;
                    }
                    self.links.insert((md.dev(), md.ino()), name_rel.clone());
                }
                let f = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
                let mut h = header(&md, tar::EntryType::Regular, md.len());
                self.b.append_data(&mut h, &name_rel, f).map_err(werr)?;
            } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
                let kind = if ft.is_fifo() {
                    tar::EntryType::Fifo
                } else if ft.is_char_device() {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                let mut h = header(&md, kind, 0);
                let dev = md.rdev();
                h.set_device_major(rfs::major(dev)).map_err(werr)?;
                h.set_device_minor(rfs::minor(dev)).map_err(werr)?;
                self.b
                    .append_data(&mut h, &name_rel, io::empty())
                    .map_err(werr)?;
            }
            // Sockets are not part of a layer, as in Docker.
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, String)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.header().entry_type(),
                    link,
                )
            })
            .collect()
    }

    fn tar_of(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        write_tar(dir, &mut out).unwrap();
        out
    }

    #[test]
    fn sorted_with_links_and_the_same_bytes_twice() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        fs::create_dir_all(p.join("b/c")).unwrap();
        fs::write(p.join("b/c/f"), b"data").unwrap();
        fs::write(p.join("a"), b"x").unwrap();
        fs::hard_link(p.join("a"), p.join("z-hard")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("s")).unwrap();
        let one = tar_of(p);
        let got = entries(&one);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["a", "b/", "b/c/", "b/c/f", "s", "z-hard"]);
        assert_eq!(got[4].1, tar::EntryType::Symlink);
        assert_eq!(got[4].2, "/etc/passwd");
        assert_eq!(got[5].1, tar::EntryType::Link);
        assert_eq!(got[5].2, "a");
        // Reading the files changes their atimes; the tar does not change.
        assert_eq!(tar_of(p), one);
    }

    #[test]
    fn overlay_whiteouts_become_oci_whiteouts() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root (mknod, trusted xattrs)");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        fs::create_dir(p.join("o")).unwrap();
        fs::write(p.join("o/new"), b"n").unwrap();
        rfs::setxattr(
            p.join("o"),
            "trusted.overlay.opaque",
            b"y",
            rfs::XattrFlags::empty(),
        )
        .unwrap();
        rfs::mknodat(
            rfs::CWD,
            p.join("gone"),
            rfs::FileType::CharacterDevice,
            rfs::Mode::empty(),
            rfs::makedev(0, 0),
        )
        .unwrap();
        fs::write(p.join("cap"), b"c").unwrap();
        rfs::setxattr(p.join("cap"), "user.note", b"hi", rfs::XattrFlags::empty()).unwrap();
        let got = entries(&tar_of(p));
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, ["cap", ".wh.gone", "o/", "o/.wh..wh..opq", "o/new"]);
        // The xattr went as PAX, and the overlay one did not.
        let tar = tar_of(p);
        let mut a = tar::Archive::new(&tar[..]);
        let mut e = a.entries().unwrap().next().unwrap().unwrap();
        let pax: Vec<(String, Vec<u8>)> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|x| {
                let x = x.unwrap();
                (x.key().unwrap().to_string(), x.value_bytes().to_vec())
            })
            .collect();
        assert_eq!(
            pax,
            vec![("SCHILY.xattr.user.note".to_string(), b"hi".to_vec())]
        );
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        let r = pax_records(&[(b"user.a".to_vec(), b"b".to_vec())]);
        let s = String::from_utf8(r).unwrap();
        let (len, _) = s.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), s.len());
    }
}
