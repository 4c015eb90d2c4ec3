//! Applying layers: a layer's tar stream written into a directory, never outside it.
//!
//! Every path in the tar is resolved inside the target with `openat2(RESOLVE_IN_ROOT)`: an
//! absolute path, a `..`, or a symlink planted by this or an earlier layer (`etc -> /etc`,
//! `x -> ../../..`) all land inside the target, as they would inside the container. The final
//! component of each entry is created with the `*at` calls on the resolved parent's descriptor
//! and never followed. A name that climbs out of the target (`../../x`) is refused, as Docker does.
//! A path longer than the kernel resolves in one call (PATH_MAX) is walked component by
//! component from descriptors, with the same rules.
//!
//! The tar is read by [`TarReader`], whose memory is bounded (a 1 MiB cap per PAX or long-name
//! header); sparse files are written sparse (data at its offsets, holes left as holes); a layer
//! that expands past its [`ExpansionLimit`] is stopped there; directory metadata, set after the
//! directory's children, goes to the very directory it was recorded for (by device and inode),
//! never through a symlink that replaced it later in the layer.
//!
//! Two ways to treat whiteouts:
//! - [`Whiteouts::Apply`] (a flattened root filesystem, `img-unpack`): `.wh.NAME` removes NAME
//!   and `.wh..wh..opq` removes what lower layers put in its directory.
//! - [`Whiteouts::Overlay`] (a snapshot, an overlayfs lower directory): `.wh.NAME` becomes a 0/0
//!   character device and `.wh..wh..opq` the `trusted.overlay.opaque` attribute, as overlayfs
//!   and containerd's overlay snapshotter write them.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::archive::tar_reader::{short_name, Entry, Kind, TarReader};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::image::Image;
use crate::layer::{decompress_as, layer_compression, Compression, ExpansionLimit};
use crate::store::Layout;
use oci_spec::image::ImageManifest;

mod apply;
mod dest;

use apply::*;
pub use apply::{apply, apply_owned};
pub use dest::clean;
pub use dest::Dest;

/// The prefix of a whiteout's name: `.wh.NAME` hides NAME of the layers below.
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The opaque whiteout: what the layers below put in its directory is hidden.
pub const OPAQUE_WHITEOUT: &[u8] = b".wh..wh..opq";

/// How whiteout entries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// Remove what they name: one flattened tree.
    Apply,
    /// Write overlayfs whiteouts: a lower directory for overlay mounts.
    Overlay,
    /// No whiteouts: `.wh.NAME` is a file like any other (copying files in, as `docker cp`).
    Keep,
}

/// What applying a layer did.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// Entries written (files, directories, links, nodes, whiteouts).
    pub entries: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Docker's size of the layer: the sum of its entries' sizes (a sparse file's full length),
    /// what `docker image ls` and `history` count ([`crate::image::layer_sizes`]).
    pub size: u64,
    /// Device nodes that could not be made (not root), skipped with a warning.
    pub skipped_devices: Vec<PathBuf>,
    /// Hard links whose target is not in this layer (overlay mode): (link, target), to be
    /// copied up from the lower layers by the caller.
    pub lower_links: Vec<(PathBuf, PathBuf)>,
}

/// Reads what another thread sends: the decompressed layer, in chunks.
struct ChunkReader {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.chunk = c;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// One layer of an image, to be applied: its blob and the diffID its content must have.
#[derive(Debug, Clone)]
pub struct LayerRef {
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub media_type: String,
    /// What the media type says the blob is compressed with (None: its content decides).
    pub compression: Option<Compression>,
}

/// The layers of `image` with their diffIDs, checked to pair up.
pub fn layers_of(image: &Image) -> Result<Vec<LayerRef>> {
    pair_layers(&image.manifest, &image.config.to_value(), image.id())
}

/// The layers of `manifest` paired with the diffIDs of `config` (whose digest is `config_digest`),
/// which must be as many.
pub fn pair_layers(
    manifest: &ImageManifest,
    config: &serde_json::Value,
    config_digest: &Digest,
) -> Result<Vec<LayerRef>> {
    let diff_ids: Vec<&str> = config
        .pointer("/rootfs/diff_ids")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let layers = manifest.layers();
    if diff_ids.len() != layers.len() {
        return Err(Error::corrupt(
            format!("image config {config_digest}"),
            format!(
                "the manifest has {} layers but the config {} diff_ids",
                layers.len(),
                diff_ids.len()
            ),
        ));
    }
    layers
        .iter()
        .zip(diff_ids)
        .map(|(l, d)| {
            let digest = Digest::try_from(l.digest())?;
            let media_type = l.media_type().to_string();
            Ok(LayerRef {
                compression: layer_compression(&media_type, &digest)?,
                digest,
                size: l.size(),
                diff_id: Digest::parse(d)?,
                media_type,
            })
        })
        .collect()
}

/// Applies one stored layer to `dest`: the blob is read, checked against its digest,
/// decompressed and checked against its diffID on one thread while another writes the files.
pub fn apply_stored(
    layout: &Layout,
    layer: &LayerRef,
    dest: &mut Dest,
    whiteouts: Whiteouts,
) -> Result<Applied> {
    let blob = layout.open_blob_verified(&layer.digest, Some(layer.size))?;
    apply_stream(blob, layer, dest, whiteouts)
}

/// Applies a layer read from `input` (compressed as it is stored: the caller checks the blob's
/// digest, or `input` does), checking its diffID. Decompression runs on its own thread, and
/// stops the layer as soon as it expands past the [`ExpansionLimit`].
pub fn apply_stream(
    input: impl Read + Send,
    layer: &LayerRef,
    dest: &mut Dest,
    whiteouts: Whiteouts,
) -> Result<Applied> {
    apply_stream_limited(input, layer, dest, whiteouts, ExpansionLimit::from_env()?)
}

/// [`apply_stream`] with the expansion limit given.
pub fn apply_stream_limited(
    input: impl Read + Send,
    layer: &LayerRef,
    dest: &mut Dest,
    whiteouts: Whiteouts,
    limits: ExpansionLimit,
) -> Result<Applied> {
    let what = format!("layer {}", layer.digest);
    let limit = limits.for_size(layer.size);
    let (tx, rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(8);
    std::thread::scope(|s| {
        let what = &what;
        let reader = s.spawn(move || -> Result<()> {
            // tx moves here: when this ends, the writer sees the end of the stream.
            let plain = decompress_as(input, layer.compression, &layer.media_type, what)?;
            let mut input = HashingReader::new(plain, layer.diff_id.algorithm());
            let mut total = 0u64;
            loop {
                let mut chunk = vec![0u8; 64 << 10];
                let n = match input.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        let msg = e.to_string();
                        let _ = tx.send(Err(e));
                        return Err(Error::Corrupt {
                            what: what.clone(),
                            why: msg,
                        });
                    }
                };
                chunk.truncate(n);
                total += n as u64;
                if total > limit {
                    let e = limits.exceeded(what, layer.size);
                    let _ = tx.send(Err(io::Error::other(e.to_string())));
                    return Err(e);
                }
                if tx.send(Ok(chunk)).is_err() {
                    return Ok(()); // The writer stopped: its error is the one to report.
                }
            }
            let (got, _) = input.finish();
            if got != layer.diff_id {
                let why = format!(
                    "its content has diffID {got}, not {} as the image config says",
                    layer.diff_id
                );
                let _ = tx.send(Err(io::Error::new(io::ErrorKind::InvalidData, why.clone())));
                return Err(Error::Corrupt {
                    what: what.clone(),
                    why,
                });
            }
            Ok(())
        });
        let mut r = ChunkReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        };
        let applied = apply_inner(
            dest,
            &mut r,
            whiteouts,
            what,
            None,
            Some((limits, layer.size)),
        );
        // Read to the end, so that a bad digest after the tar's last entry is seen.
        let drained = applied
            .as_ref()
            .ok()
            .map(|_| io::copy(&mut r, &mut io::sink()));
        drop(r);
        let read = reader.join().expect("the layer reader does not panic");
        read?;
        if let Some(Err(e)) = drained {
            return Err(Error::Corrupt {
                what: what.clone(),
                why: e.to_string(),
            });
        }
        applied
    })
}

/// Unpacks every layer of `image`, in order, into `dir`: the flattened root filesystem.
pub fn unpack_image(layout: &Layout, image: &Image, dir: &Path) -> Result<Applied> {
    let mut dest = Dest::open(dir)?;
    let mut total = Applied::default();
    for layer in layers_of(image)? {
        let a = apply_stored(layout, &layer, &mut dest, Whiteouts::Apply)?;
        total.entries += a.entries;
        total.bytes += a.bytes;
        total.size += a.size;
        total.skipped_devices.extend(a.skipped_devices);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::tar_reader::parse_pax_time;
    use rustix::fs::{self as rfs, Mode, OFlags};
    use std::fs::File;
    use std::os::fd::OwnedFd;
    use std::os::unix::fs::FileExt;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn names_are_made_relative_and_climbing_out_is_refused() {
        let c = |s: &str| clean(Path::new(s)).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(c("./a/b"), Some("a/b".into()));
        assert_eq!(c("/etc/passwd"), Some("etc/passwd".into()));
        assert_eq!(c("a/../b"), Some("b".into()));
        assert_eq!(c("./"), Some("".into()));
        assert_eq!(c("../x"), None);
        assert_eq!(c("a/../../x"), None);
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time("7"), Some((7, 0)));
        assert_eq!(parse_pax_time("x"), None);
    }

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// A file entry whose name the tar crate would refuse to write (absolute, or with `..`).
    fn add_raw(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn add_file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        b.append_data(&mut h, name, data).unwrap();
    }

    fn add_link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        let mut h = header(kind, 0o777, 0);
        b.append_link(&mut h, name, target).unwrap();
    }

    fn add_dir(b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32) {
        let mut h = header(tar::EntryType::Directory, mode, 0);
        b.append_data(&mut h, name, io::empty()).unwrap();
    }

    fn apply_to(dir: &Path, tar: &[u8], w: Whiteouts) -> Result<Applied> {
        let mut d = Dest::open(dir)?;
        apply(&mut d, tar, w, "layer")
    }

    #[test]
    fn files_dirs_links_and_modes() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| {
            add_dir(b, "d", 0o750);
            add_file(b, "d/f", b"hello");
            let mut h = header(tar::EntryType::Regular, 0o4755, 2);
            b.append_data(&mut h, "bin/su", &b"#!"[..]).unwrap();
            add_link(b, tar::EntryType::Symlink, "l", "/d/f");
            add_link(b, tar::EntryType::Link, "d/hard", "d/f");
        });
        let out = apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        assert_eq!(out.bytes, 7);
        let p = t.path();
        assert_eq!(std::fs::read(p.join("d/f")).unwrap(), b"hello");
        let md = std::fs::metadata(p.join("d")).unwrap();
        assert_eq!(md.permissions().mode() & 0o7777, 0o750);
        assert_eq!(md.mtime(), 1_000_000);
        assert_eq!(
            std::fs::metadata(p.join("bin/su"))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777,
            0o4755
        );
        assert_eq!(std::fs::read_link(p.join("l")).unwrap(), Path::new("/d/f"));
        assert_eq!(
            std::fs::metadata(p.join("d/hard")).unwrap().ino(),
            std::fs::metadata(p.join("d/f")).unwrap().ino()
        );
    }

    #[test]
    fn symlinks_are_followed_inside_the_root_only() {
        let outside = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        let out = outside.path().to_str().unwrap().to_string();
        let tar = tar_of(|b| {
            add_link(b, tar::EntryType::Symlink, "esc", &out);
            add_file(b, "esc/planted", b"x");
            add_link(b, tar::EntryType::Symlink, "up", "../../../../..");
            add_file(b, "up/tmp-planted", b"y");
            add_raw(b, "/abs", b"z");
        });
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // Each landed inside, where the container would see it.
        let inner = t.path().join(out.trim_start_matches('/')).join("planted");
        assert_eq!(std::fs::read(inner).unwrap(), b"x");
        assert_eq!(std::fs::read(t.path().join("tmp-planted")).unwrap(), b"y");
        assert_eq!(std::fs::read(t.path().join("abs")).unwrap(), b"z");
    }

    #[test]
    fn climbing_names_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| add_raw(b, "../evil", b"x"));
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("climbs out"), "{e}");
        assert!(!t.path().parent().unwrap().join("evil").exists());
    }

    #[test]
    fn whiteouts_remove_and_opaque_keeps_this_layer() {
        let t = tempfile::tempdir().unwrap();
        let lower = tar_of(|b| {
            add_file(b, "a/old", b"1");
            add_file(b, "a/keep-not", b"1");
            add_file(b, "gone", b"1");
            add_file(b, "dir/x", b"1");
        });
        apply_to(t.path(), &lower, Whiteouts::Apply).unwrap();
        let upper = tar_of(|b| {
            add_file(b, "a/new", b"2");
            add_file(b, "a/.wh..wh..opq", b"");
            add_file(b, ".wh.gone", b"");
            add_file(b, ".wh.dir", b"");
            add_file(b, "nowhere/.wh.x", b"");
        });
        apply_to(t.path(), &upper, Whiteouts::Apply).unwrap();
        let p = t.path();
        assert!(p.join("a/new").exists());
        assert!(!p.join("a/old").exists());
        assert!(!p.join("a/keep-not").exists());
        assert!(!p.join("gone").exists());
        assert!(!p.join("dir").exists());
        assert!(!p.join("nowhere").exists());
    }

    #[test]
    fn a_tar_cut_inside_a_file_names_the_file() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| add_file(b, "cut", &[7u8; 3000]));
        let e = apply_to(t.path(), &tar[..512 + 1024], Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"cut\"") && e.contains("1024 of 3000"), "{e}");
    }

    #[test]
    fn blank_numeric_fields_read_as_zero() {
        let t = tempfile::tempdir().unwrap();
        // A header as `Header::new_gnu` leaves it: uid, gid and mtime all NULs.
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o640);
        let tar = tar_of(|b| b.append_data(&mut h, "f", &b"hi"[..]).unwrap());
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        let md = std::fs::metadata(t.path().join("f")).unwrap();
        assert_eq!((md.mode() & 0o7777, md.mtime()), (0o640, 0));
        // A field that holds garbage is still an error.
        let mut h = header(tar::EntryType::Regular, 0o644, 0);
        h.as_old_mut().uid.copy_from_slice(b"zzzzzzz\0");
        h.as_old_mut().name[..1].copy_from_slice(b"g");
        h.set_cksum();
        let tar = tar_of(|b| b.append(&h, io::empty()).unwrap());
        let e = apply_to(t.path(), &tar, Whiteouts::Apply).unwrap_err();
        assert!(e.to_string().contains("\"g\""), "{e}");
    }

    #[test]
    fn directories_of_lower_layers_keep_their_times() {
        let t = tempfile::tempdir().unwrap();
        let lower = tar_of(|b| {
            add_dir(b, "d", 0o755);
            add_file(b, "d/a", b"1");
            add_dir(b, "w", 0o755);
            add_file(b, "w/gone", b"1");
            add_dir(b, "o", 0o755);
            add_file(b, "o/old", b"1");
        });
        apply_to(t.path(), &lower, Whiteouts::Apply).unwrap();
        // A layer that changes the directories without carrying their entries.
        let upper = tar_of(|b| {
            add_file(b, "d/b", b"2");
            add_link(b, tar::EntryType::Link, "d/c", "d/a");
            add_file(b, "w/.wh.gone", b"");
            add_file(b, "o/.wh..wh..opq", b"");
        });
        apply_to(t.path(), &upper, Whiteouts::Apply).unwrap();
        for d in ["d", "w", "o"] {
            let md = std::fs::metadata(t.path().join(d)).unwrap();
            assert_eq!(md.mtime(), 1_000_000, "{d}");
        }
        assert!(t.path().join("d/c").exists());
        assert!(!t.path().join("w/gone").exists());
        assert!(!t.path().join("o/old").exists());
    }

    #[test]
    fn a_hard_link_to_a_missing_file_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| add_link(b, tar::EntryType::Link, "h", "missing"));
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn overlay_whiteouts_need_root() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root (mknod, trusted xattrs)");
            return;
        }
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| {
            add_file(b, ".wh.gone", b"");
            add_dir(b, "o", 0o755);
            add_file(b, "o/.wh..wh..opq", b"");
            add_link(b, tar::EntryType::Link, "lower-link", "in/lower");
        });
        let out = apply_to(t.path(), &tar, Whiteouts::Overlay).unwrap();
        let md = std::fs::symlink_metadata(t.path().join("gone")).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(md.file_type().is_char_device());
        assert_eq!(md.rdev(), 0);
        let v = rfs::getxattr(
            t.path().join("o"),
            "trusted.overlay.opaque",
            &mut [0u8; 4][..],
        );
        assert_eq!(v.unwrap(), 1);
        assert_eq!(
            out.lower_links,
            vec![(PathBuf::from("lower-link"), PathBuf::from("in/lower"))]
        );
    }

    /// A PAX record `LEN KEY=VALUE\n`.
    fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
        let body = 3 + key.len() + value.len(); // space, '=', newline
        let mut len = body + 1;
        while len.to_string().len() + body != len {
            len = len.to_string().len() + body;
        }
        let mut r = format!("{len} {key}=").into_bytes();
        r.extend_from_slice(value);
        r.push(b'\n');
        r
    }

    /// A metadata entry (`x`, `L`, ...) holding `data`.
    fn add_meta(b: &mut tar::Builder<Vec<u8>>, kind: u8, data: &[u8]) {
        let mut h = header(tar::EntryType::new(kind), 0o644, data.len() as u64);
        h.as_old_mut().name[..9].copy_from_slice(b"././@meta");
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn a_huge_long_name_or_pax_header_is_refused_before_it_is_read() {
        let t = tempfile::tempdir().unwrap();
        for kind in [b'L', b'K', b'x', b'g'] {
            // Only the header: its declared 1 GiB is never there, and never read.
            let mut h = header(tar::EntryType::new(kind), 0o644, 1 << 30);
            h.as_old_mut().name[..9].copy_from_slice(b"././@Long");
            h.set_cksum();
            let e = apply_to(t.path(), h.as_bytes(), Whiteouts::Apply)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("1073741824 bytes, more than the 1048576 allowed"),
                "{e}"
            );
        }
        // Many headers under the limit each, before one entry, are refused too.
        let tar = tar_of(|b| {
            for i in 0..5 {
                add_meta(b, b'x', &pax_record(&format!("k{i}"), &[b'v'; 1000 << 10]));
            }
            add_file(b, "f", b"x");
        });
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bytes of headers before one entry"), "{e}");
        assert!(!t.path().join("f").exists());
    }

    #[test]
    fn long_names_in_errors_are_cut_short() {
        let t = tempfile::tempdir().unwrap();
        let name = format!("../{}", "a".repeat(100_000));
        let tar = tar_of(|b| {
            add_meta(b, b'L', name.as_bytes());
            add_file(b, "short", b"x");
        });
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("climbs out") && e.contains("…"), "{e}");
        assert!(e.len() < 400, "{} bytes: {e}", e.len());
    }

    #[test]
    fn pax_records_override_the_header() {
        let t = tempfile::tempdir().unwrap();
        let long = format!("{}/{}/file", "d".repeat(150), "e".repeat(150));
        let tar = tar_of(|b| {
            let mut rec = pax_record("path", long.as_bytes());
            rec.extend(pax_record("size", b"5"));
            rec.extend(pax_record("uid", b"4242"));
            rec.extend(pax_record("mtime", b"1234.5"));
            add_meta(b, b'x', &rec);
            // The header's own size says 0: the PAX size is what the content is.
            let mut h = header(tar::EntryType::Regular, 0o640, 0);
            h.as_old_mut().name[..5].copy_from_slice(b"short");
            h.set_cksum();
            let mut data = h.as_bytes().to_vec();
            data.extend_from_slice(b"hello");
            data.resize(1024, 0);
            b.get_mut().extend_from_slice(&data);
            add_file(b, "next", b"after");
        });
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        let f = t.path().join(&long);
        assert_eq!(std::fs::read(&f).unwrap(), b"hello");
        let md = std::fs::metadata(&f).unwrap();
        assert_eq!((md.mtime(), md.mtime_nsec()), (1234, 500_000_000));
        if rustix::process::geteuid().is_root() {
            assert_eq!(md.uid(), 4242);
        }
        assert!(!t.path().join("short").exists());
        assert_eq!(std::fs::read(t.path().join("next")).unwrap(), b"after");
    }

    /// A 10 GiB sparse file with a few bytes here and there (seven data segments, more than an
    /// old GNU header holds), and the spots to check.
    fn sparse_source(dir: &Path) -> Vec<(u64, &'static [u8])> {
        let spots: Vec<(u64, &'static [u8])> = vec![
            (0, b"start"),
            (1 << 20, b"one MiB"),
            (100 << 20, b"hundred"),
            (1 << 30, b"a GiB"),
            (3 << 30, b"three"),
            (5 << 30, b"five GiB"),
            ((10 << 30) - 3, b"end"),
        ];
        let f = File::create(dir.join("big")).unwrap();
        f.set_len(10 << 30).unwrap();
        for (off, data) in &spots {
            f.write_all_at(data, *off).unwrap();
        }
        spots
    }

    #[test]
    fn sparse_files_are_written_sparse_in_every_gnu_format() {
        let src = tempfile::tempdir().unwrap();
        let spots = sparse_source(src.path());
        for args in [
            &["--format=gnu"][..],
            &["--format=posix", "--sparse-version=0.0"],
            &["--format=posix", "--sparse-version=0.1"],
            &["--format=posix", "--sparse-version=1.0"],
            &["--format=posix"],
        ] {
            let out = std::process::Command::new("tar")
                .args(["--sparse", "-c", "-f", "-", "-C"])
                .arg(src.path())
                .args(args)
                .arg("big")
                .output()
                .expect("GNU tar");
            assert!(out.status.success(), "{args:?}");
            assert!(
                out.stdout.len() < 100 << 10,
                "{args:?}: the archive is small"
            );
            let t = tempfile::tempdir().unwrap();
            let a = apply_to(t.path(), &out.stdout, Whiteouts::Apply).unwrap();
            let p = t.path().join("big");
            let md = std::fs::symlink_metadata(&p).unwrap();
            assert_eq!(md.len(), 10 << 30, "{args:?}");
            assert!(
                md.blocks() * 512 < 1 << 20,
                "{args:?}: {} blocks",
                md.blocks()
            );
            assert!(a.bytes < 64 << 10, "{args:?}: {} bytes written", a.bytes);
            let f = File::open(&p).unwrap();
            for (off, data) in &spots {
                let mut got = vec![0u8; data.len() + 2];
                let n = f.read_at(&mut got, off.saturating_sub(1)).unwrap();
                let mut want = vec![0u8; data.len() + 2];
                let at = usize::from(*off > 0);
                want[at..at + data.len()].copy_from_slice(data);
                want.truncate(n);
                assert_eq!(&got[..n], &want[..], "{args:?} at {off}");
            }
            let mut hole = [1u8; 4096];
            f.read_exact_at(&mut hole, 7 << 30).unwrap();
            assert!(hole.iter().all(|b| *b == 0), "{args:?}");
        }
    }

    #[test]
    fn a_sparse_map_that_does_not_add_up_is_refused() {
        let t = tempfile::tempdir().unwrap();
        // PAX 0.1: the map lists 10 bytes of data, the entry has 5.
        let tar = tar_of(|b| {
            let mut rec = pax_record("GNU.sparse.map", b"0,10");
            rec.extend(pax_record("GNU.sparse.size", b"100"));
            add_meta(b, b'x', &rec);
            add_file(b, "s", b"12345");
        });
        let e = apply_to(t.path(), &tar, Whiteouts::Apply)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sparse map lists 10 bytes"), "{e}");
    }

    #[test]
    fn deferred_directory_metadata_does_not_follow_a_later_symlink() {
        for target in [".", "/", "../.."] {
            let t = tempfile::tempdir().unwrap();
            let root = t.path();
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
            let before = std::fs::metadata(root).unwrap();
            let tar = tar_of(|b| {
                let mut h = header(tar::EntryType::Directory, 0o701, 0);
                h.set_uid(1234);
                h.set_gid(1234);
                b.append_data(&mut h, "d", io::empty()).unwrap();
                add_file(b, "d/f", b"x");
                // `d` replaced by a symlink to the root later in the same layer.
                add_link(b, tar::EntryType::Symlink, "d", target);
            });
            apply_to(root, &tar, Whiteouts::Apply).unwrap();
            let after = std::fs::metadata(root).unwrap();
            assert_eq!(after.mode() & 0o7777, 0o755, "{target}");
            assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
            assert!(std::fs::symlink_metadata(root.join("d"))
                .unwrap()
                .file_type()
                .is_symlink());
        }
        // A directory given twice: the last entry counts.
        let t = tempfile::tempdir().unwrap();
        let tar = tar_of(|b| {
            add_dir(b, "d", 0o700);
            add_file(b, "d", b"not a dir");
            add_dir(b, "d", 0o751);
        });
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        let md = std::fs::metadata(t.path().join("d")).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o751);
    }

    /// Opens `rel` under `root` one component at a time (a path string would be too long).
    fn open_deep(root: &Path, rel: &str) -> io::Result<OwnedFd> {
        let mut cur = rfs::open(root, OFlags::PATH | OFlags::DIRECTORY, Mode::empty())?;
        for c in rel.split('/') {
            cur = rfs::openat(&cur, c, OFlags::PATH | OFlags::NOFOLLOW, Mode::empty())?;
        }
        Ok(cur)
    }

    #[test]
    fn paths_longer_than_path_max_are_extracted() {
        let t = tempfile::tempdir().unwrap();
        let deep: String = (0..30)
            .map(|i| format!("{i:02}{}", "x".repeat(198)))
            .collect::<Vec<_>>()
            .join("/");
        assert!(deep.len() > 6000);
        let with_pax =
            |b: &mut tar::Builder<Vec<u8>>, key: &str, name: &str, h: tar::Header, data: &[u8]| {
                add_meta(b, b'x', &pax_record(key, name.as_bytes()));
                let mut h = h;
                h.as_old_mut().name[..5].copy_from_slice(b"dummy");
                h.set_cksum();
                b.append(&h, data).unwrap();
            };
        let lower = tar_of(|b| {
            with_pax(
                b,
                "path",
                &format!("{deep}/f"),
                header(tar::EntryType::Regular, 0o600, 4),
                b"deep",
            );
            with_pax(
                b,
                "path",
                &format!("{deep}/gone"),
                header(tar::EntryType::Regular, 0o644, 1),
                b"g",
            );
            // A hard link at that depth to the file at that depth.
            let mut rec = pax_record("path", format!("{deep}/hard").as_bytes());
            rec.extend(pax_record("linkpath", format!("{deep}/f").as_bytes()));
            add_meta(b, b'x', &rec);
            let mut h = header(tar::EntryType::Link, 0o644, 0);
            h.as_old_mut().name[..5].copy_from_slice(b"dummy");
            h.set_cksum();
            b.append(&h, io::empty()).unwrap();
            with_pax(
                b,
                "path",
                &deep,
                header(tar::EntryType::Directory, 0o711, 0),
                b"",
            );
        });
        apply_to(t.path(), &lower, Whiteouts::Apply).unwrap();
        let f = open_deep(t.path(), &format!("{deep}/f")).unwrap();
        let h = open_deep(t.path(), &format!("{deep}/hard")).unwrap();
        assert_eq!(
            rfs::fstat(&f).unwrap().st_ino,
            rfs::fstat(&h).unwrap().st_ino
        );
        assert_eq!(rfs::fstat(&f).unwrap().st_size, 4);
        let d = open_deep(t.path(), &deep).unwrap();
        assert_eq!(rfs::fstat(&d).unwrap().st_mode & 0o7777, 0o711);
        // A whiteout at that depth, in the next layer.
        let upper = tar_of(|b| {
            with_pax(
                b,
                "path",
                &format!("{deep}/.wh.gone"),
                header(tar::EntryType::Regular, 0o644, 0),
                b"",
            );
        });
        apply_to(t.path(), &upper, Whiteouts::Apply).unwrap();
        let e = open_deep(t.path(), &format!("{deep}/gone")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        assert!(open_deep(t.path(), &format!("{deep}/f")).is_ok());
    }

    #[test]
    fn a_very_deep_tree_is_made_and_whited_out_without_recursion() {
        let t = tempfile::tempdir().unwrap();
        let deep = format!("top/{}", ["d"; 4_000].join("/"));
        let lower = tar_of(|b| {
            add_meta(b, b'x', &pax_record("path", format!("{deep}/f").as_bytes()));
            let mut h = header(tar::EntryType::Regular, 0o644, 1);
            h.as_old_mut().name[..5].copy_from_slice(b"dummy");
            h.set_cksum();
            b.append(&h, &b"f"[..]).unwrap();
            add_file(b, "keep", b"k");
        });
        apply_to(t.path(), &lower, Whiteouts::Apply).unwrap();
        assert!(open_deep(t.path(), &format!("{deep}/f")).is_ok());
        let upper = tar_of(|b| add_file(b, ".wh.top", b""));
        apply_to(t.path(), &upper, Whiteouts::Apply).unwrap();
        let left: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("keep")]);
    }

    #[test]
    fn a_deep_walk_stays_inside_the_root() {
        let outside = tempfile::tempdir().unwrap();
        let t = tempfile::tempdir().unwrap();
        let long = (0..25)
            .map(|_| "y".repeat(200))
            .collect::<Vec<_>>()
            .join("/");
        let out = outside.path().to_str().unwrap().to_string();
        let tar = tar_of(|b| {
            add_link(b, tar::EntryType::Symlink, "abs", &out);
            add_link(b, tar::EntryType::Symlink, "up", "../../../..");
            for top in ["abs", "up"] {
                let name = format!("{top}/{long}/planted");
                add_meta(b, b'x', &pax_record("path", name.as_bytes()));
                let mut h = header(tar::EntryType::Regular, 0o644, 1);
                h.as_old_mut().name[..5].copy_from_slice(b"dummy");
                h.set_cksum();
                b.append(&h, &b"z"[..]).unwrap();
            }
        });
        apply_to(t.path(), &tar, Whiteouts::Apply).unwrap();
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        let inner = format!("{}/{long}/planted", out.trim_start_matches('/'));
        assert!(open_deep(t.path(), &inner).is_ok());
        assert!(open_deep(t.path(), &format!("{long}/planted")).is_ok());
    }

    fn stream_layer(blob: &[u8], media_type: &str, diff_id: Digest) -> Result<LayerRef> {
        let digest = Digest::sha256_of(blob);
        Ok(LayerRef {
            compression: layer_compression(media_type, &digest)?,
            digest,
            size: blob.len() as u64,
            diff_id,
            media_type: media_type.into(),
        })
    }

    #[test]
    fn a_decompression_bomb_is_stopped_early() {
        let zeros = vec![0u8; 1 << 20];
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = header(tar::EntryType::Regular, 0o644, 64 << 20);
        let src = io::repeat(0).take(64 << 20);
        tar.append_data(&mut h, "zeros", src).unwrap();
        let tar = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 200 << 10);
        drop(zeros);
        let layer = stream_layer(
            &gz,
            "application/vnd.oci.image.layer.v1.tar+gzip",
            Digest::sha256_of(&tar),
        )
        .unwrap();
        let limits = ExpansionLimit {
            max_bytes: 8 << 20,
            ratio: 10,
        };
        let t = tempfile::tempdir().unwrap();
        let mut d = Dest::open(t.path()).unwrap();
        let e = apply_stream_limited(&gz[..], &layer, &mut d, Whiteouts::Apply, limits)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("decompression bomb") && e.contains("BERTH_LAYER_MAX_RATIO"),
            "{e}"
        );
        assert!(e.contains(&layer.digest.to_string()), "{e}");
        // Stopped at the limit, not at the end.
        let written = std::fs::metadata(t.path().join("zeros")).map_or(0, |m| m.len());
        assert!(written <= 8 << 20, "{written}");
        // Within the limit, it is unpacked.
        let limits = ExpansionLimit {
            max_bytes: 8 << 20,
            ratio: 2000,
        };
        let t = tempfile::tempdir().unwrap();
        let mut d = Dest::open(t.path()).unwrap();
        apply_stream_limited(&gz[..], &layer, &mut d, Whiteouts::Apply, limits).unwrap();
        assert_eq!(
            std::fs::metadata(t.path().join("zeros")).unwrap().len(),
            64 << 20
        );
    }

    #[test]
    fn sparse_segments_count_whole_blocks_against_the_limit() {
        // 2000 one-byte segments 1 MiB apart: 2000 bytes of data, 8 MB of blocks on disk.
        let map: Vec<String> = (0..2000u64).map(|i| format!("{},1", i << 20)).collect();
        let tar = tar_of(|b| {
            let mut rec = pax_record("GNU.sparse.map", map.join(",").as_bytes());
            rec.extend(pax_record(
                "GNU.sparse.size",
                (2000u64 << 20).to_string().as_bytes(),
            ));
            add_meta(b, b'x', &rec);
            add_file(b, "holes", &[b'x'; 2000]);
        });
        let layer = stream_layer(
            &tar,
            "application/vnd.oci.image.layer.v1.tar",
            Digest::sha256_of(&tar),
        )
        .unwrap();
        let run = |max_bytes| {
            let t = tempfile::tempdir().unwrap();
            let mut d = Dest::open(t.path()).unwrap();
            let limits = ExpansionLimit {
                max_bytes,
                ratio: 1,
            };
            let r = apply_stream_limited(&tar[..], &layer, &mut d, Whiteouts::Apply, limits);
            (t, r)
        };
        let (_t, r) = run(4 << 20);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("decompression bomb") && e.contains("\"holes\""),
            "{e}"
        );
        let (t, r) = run(16 << 20);
        r.unwrap();
        let md = std::fs::metadata(t.path().join("holes")).unwrap();
        assert_eq!(md.len(), 2000 << 20);
    }

    #[test]
    fn media_types_decide_compression_and_the_magic_must_agree() {
        let tar = tar_of(|b| add_file(b, "f", b"x"));
        let diff_id = Digest::sha256_of(&tar);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &tar).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&tar[..], 3).unwrap();
        // A skippable frame first (magic 0x184D2A5B, 4 bytes of payload).
        let mut skippable = vec![0x5b, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4];
        skippable.extend_from_slice(&zst);
        const OCI: &str = "application/vnd.oci.image.layer.v1.tar";
        let ok = [
            (&tar, OCI.to_string()),
            (&gz, format!("{OCI}+gzip")),
            (&zst, format!("{OCI}+zstd")),
            (&skippable, format!("{OCI}+zstd")),
            (
                &gz,
                "application/vnd.docker.image.rootfs.diff.tar.gzip".into(),
            ),
            (
                &gz,
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip".into(),
            ),
            (&tar, "application/vnd.docker.image.rootfs.diff.tar".into()),
            // Docker's plain type on a gzip layer: its content decides, as in containerd.
            (&gz, "application/vnd.docker.image.rootfs.diff.tar".into()),
        ];
        for (blob, mt) in ok {
            let t = tempfile::tempdir().unwrap();
            let mut d = Dest::open(t.path()).unwrap();
            let layer = stream_layer(blob, &mt, diff_id.clone()).unwrap();
            apply_stream(&blob[..], &layer, &mut d, Whiteouts::Apply).unwrap();
            assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"x", "{mt}");
        }
        let mismatched = [
            (
                &gz,
                OCI.to_string(),
                "says an uncompressed tar, but its content is gzip",
            ),
            (
                &tar,
                format!("{OCI}+gzip"),
                "says gzip, but its content is not",
            ),
            (
                &zst,
                format!("{OCI}+gzip"),
                "says gzip, but its content is zstd",
            ),
            (
                &gz,
                format!("{OCI}+zstd"),
                "says zstd, but its content is gzip",
            ),
        ];
        for (blob, mt, why) in mismatched {
            let t = tempfile::tempdir().unwrap();
            let mut d = Dest::open(t.path()).unwrap();
            let layer = stream_layer(blob, &mt, diff_id.clone()).unwrap();
            let e = apply_stream(&blob[..], &layer, &mut d, Whiteouts::Apply)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why) && e.contains(&mt), "{e}");
            assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
        }
        for mt in [
            "application/vnd.in-toto+json",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
            "text/plain",
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
        ] {
            let e = stream_layer(&gz, mt, diff_id.clone())
                .unwrap_err()
                .to_string();
            assert!(e.contains(mt) && e.contains("not an image layer"), "{e}");
        }
    }
}
