//! Image manifests, indexes and configs as berth reads them from its store (`Layout::read_index`,
//! `Catalog::load`, `Image::load`, then `inspect`, `history`, `layers_of`, `blobs_of`): never a
//! panic, whatever the JSON.
//!
//! The input is up to three documents separated by 0xFF bytes (never in JSON text):
//! `index.json`, a blob (an image manifest or an index) and a second blob (a config). In the
//! first two, `@M` is replaced by the first blob's digest and `@C` by the second's, so that
//! the seeds (and what the fuzzer makes of them) point at each other as a real layout does.
#![no_main]

use std::path::Path;

use berth::digest::Digest;
use berth::image::{blobs_of, history, inspect, Catalog};
use berth::store::Layout;
use berth::unpack::layers_of;
use libfuzzer_sys::fuzz_target;

fn replace(data: &[u8], what: &[u8], with: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(what) {
            out.extend_from_slice(with.as_bytes());
            i += what.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fn put(layout: &Layout, data: &[u8]) -> Digest {
    let d = Digest::sha256_of(data);
    let path = layout.blob_path(&d);
    std::fs::write(&path, data).expect("write a blob");
    d
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&b| b == 0xff);
    let index = parts.next().unwrap_or_default();
    let manifest = parts.next().unwrap_or_default();
    let config = parts.next().unwrap_or_default();

    // Files on tmpfs when there is one: the layout is written for every input.
    let tmp = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    let layout = Layout::open_or_create(tmp.path()).expect("a new layout");
    let c = put(&layout, config).to_string();
    let m = put(&layout, &replace(manifest, b"@C", &c)).to_string();
    let index = replace(&replace(index, b"@M", &m), b"@C", &c);
    std::fs::write(layout.index_path(), &index).expect("write index.json");

    let Ok(catalog) = Catalog::load(&layout) else {
        return;
    };
    for item in &catalog.items {
        let _ = blobs_of(&layout, &item.entry.descriptor);
        let _ = item.entry.familiar();
        if let Ok(image) = &item.image {
            let _ = inspect(&catalog, image);
            let _ = history(image);
            let _ = layers_of(image);
            let _ = (image.diff_ids(), image.size(), image.created(), image.os());
            let _ = image.architecture();
        }
    }
});
