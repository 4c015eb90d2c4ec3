//! Image and layer sizes as Docker shows them: uncompressed.
//!
//! Docker's size of a layer is what its graph driver reported when it applied the layer: with
//! the vfs driver (and every driver that applies through Docker's archive package) the sum of
//! the sizes of the layer's tar entries (a regular file's length, a sparse file's full length;
//! 0 for directories, links, whiteouts); `docker image ls`' SIZE and `image inspect`'s Size are
//! the sum over the image's layers, `image history` shows each layer's own. (overlay2 measures
//! the unpacked directory instead, which adds the lengths of symlink targets.)
//!
//! berth records a layer's size, keyed by its diffID, when it unpacks the layer into a snapshot
//! (pulls, and ctr-create of an image whose snapshots are missing). A layer without a record
//! (an image committed, imported or loaded and not run yet, a store older than the record) is
//! measured once from its blob, read and decompressed, and the result recorded. The records
//! live in the layout's `.berth-sizes/` (one small file per diffID), written only in layouts
//! berth already writes to (they have its `index.json.lock`): a foreign `--layout` is measured
//! every time and left as it is. A layer whose blob is not stored (a foreign layer registries
//! leave out) counts with its size in the manifest.

use std::io::Read;
use std::path::PathBuf;

use crate::archive::tar_reader::{Kind, TarReader};
use crate::digest::Digest;
use crate::error::Result;
use crate::layer::decompress_as;
use crate::store::Layout;
use crate::unpack::{layers_of, LayerRef};

use super::Image;

pub(crate) const SIZES_DIR: &str = ".berth-sizes";
fn record_path(layout: &Layout, diff_id: &Digest) -> PathBuf {
    super::repo_digest::record_file(layout, SIZES_DIR, diff_id)
}

/// The recorded size of the layer with this diffID, if any.
pub fn recorded_layer_size(layout: &Layout, diff_id: &Digest) -> Option<u64> {
    std::fs::read_to_string(record_path(layout, diff_id))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Records the uncompressed size of the layer with this diffID (best effort: a layout that
/// cannot be written, or that berth does not write to, is left alone).
pub fn record_layer_size(layout: &Layout, diff_id: &Digest, size: u64) {
    super::repo_digest::write_record(layout, SIZES_DIR, diff_id, size.to_string().as_bytes());
}

/// The size Docker counts for one tar entry.
pub fn entry_size(kind: Kind, size: u64, real_size: u64) -> u64 {
    match kind {
        Kind::File => real_size,
        _ => size,
    }
}

/// Docker's size of a layer read from `tar` (uncompressed): the sum of its entries' sizes.
pub fn tar_content_size(tar: impl Read) -> std::io::Result<u64> {
    let mut r = TarReader::new(tar);
    let mut total = 0u64;
    while let Some(e) = r.next_entry()? {
        total = total.saturating_add(entry_size(e.kind, e.size, e.real_size));
    }
    Ok(total)
}

/// Measures a stored layer from its blob.
fn measure(layout: &Layout, layer: &LayerRef) -> Result<u64> {
    let blob = layout.open_blob(&layer.digest)?;
    let what = format!("layer {}", layer.digest);
    let plain = decompress_as(blob, layer.compression, &layer.media_type, &what)?;
    tar_content_size(plain).map_err(|e| crate::Error::corrupt(what, e))
}

/// The uncompressed size of each of the image's layers, bottom first (see the module's doc).
pub fn layer_sizes(layout: &Layout, image: &Image) -> Vec<u64> {
    let manifest_sizes: Vec<u64> = image.manifest.layers().iter().map(|l| l.size()).collect();
    let Ok(layers) = layers_of(image) else {
        return manifest_sizes;
    };
    layers
        .iter()
        .zip(manifest_sizes)
        .map(|(l, stored)| {
            if let Some(n) = recorded_layer_size(layout, &l.diff_id) {
                return n;
            }
            match measure(layout, l) {
                Ok(n) => {
                    record_layer_size(layout, &l.diff_id, n);
                    n
                }
                Err(_) => stored,
            }
        })
        .collect()
}

/// The image's size as Docker shows it: the sum of its layers' uncompressed sizes.
pub fn image_size(layout: &Layout, image: &Image) -> u64 {
    layer_sizes(layout, image).iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_counts_its_files_not_its_links_or_directories() {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        dir.set_mode(0o755);
        b.append_data(&mut dir, "bin/", &[][..]).unwrap();
        let mut f = tar::Header::new_gnu();
        f.set_size(1000);
        f.set_mode(0o755);
        b.append_data(&mut f, "bin/a", &[7u8; 1000][..]).unwrap();
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Link);
        l.set_size(0);
        b.append_link(&mut l, "bin/b", "bin/a").unwrap();
        let mut s = tar::Header::new_gnu();
        s.set_entry_type(tar::EntryType::Symlink);
        s.set_size(0);
        b.append_link(&mut s, "bin/c", "/bin/a").unwrap();
        let mut g = tar::Header::new_gnu();
        g.set_size(3);
        g.set_mode(0o644);
        b.append_data(&mut g, "etc/x", &b"hi\n"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        // What Docker 20.10 (vfs) shows for the same tar imported: 1003.
        assert_eq!(tar_content_size(&tar[..]).unwrap(), 1003);
    }
}
