//! Garbage collection (`img-prune`): blobs no image reaches, snapshots no image uses, what
//! interrupted writers left behind, and with `all` the untagged images no container uses.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::image::{self, Catalog, Entry};
use crate::root::Root;
use crate::snapshot::{chain_ids, Snapshots};
use crate::store::{classify_layout_name, Layout, TempKind};

/// What a prune removed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Image IDs whose untagged entries were removed.
    pub images: Vec<Digest>,
    pub blobs: Vec<Digest>,
    /// Snapshot directory names (chain ID hex).
    pub snapshots: Vec<String>,
    /// Temporary files and directories of writers that are gone.
    pub leftovers: Vec<PathBuf>,
    /// Bytes freed on disk.
    pub reclaimed: u64,
}

impl Pruned {
    pub fn to_json(&self) -> Value {
        json!({
            "images": self.images.iter().map(Digest::to_string).collect::<Vec<_>>(),
            "blobs": self.blobs.iter().map(Digest::to_string).collect::<Vec<_>>(),
            "snapshots": self.snapshots,
            "leftovers": self.leftovers,
            "reclaimed": self.reclaimed,
        })
    }
}

/// Disk usage of a file or a tree, counting each inode once.
pub(crate) fn usage(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let mut n = 0;
    if seen.insert((md.dev(), md.ino())) {
        n += md.blocks() * 512;
    }
    if md.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                n += usage(&e.path(), seen);
            }
        }
    }
    n
}

/// Prunes `layout` (and, when it is the root's store, the root's snapshots).
pub fn prune(layout: &Layout, root: Option<&Root>, all: bool) -> Result<Pruned> {
    // No writer is between writing a blob and tagging it while this is held.
    let _gc = layout.gc_guard()?;
    let mut out = Pruned::default();
    let mut seen = HashSet::new();

    if all {
        let in_use = match root {
            Some(r) => r.images_in_use()?,
            None => HashSet::new(),
        };
        let catalog = Catalog::load(layout)?;
        // Dangling, as Docker says: no name at all, and no container uses it.
        let doomed: Vec<Entry> = catalog
            .items
            .iter()
            .filter(|i| i.entry.name.is_none())
            .filter(|i| match &i.image {
                Ok(img) => {
                    !in_use.contains(img.id())
                        && catalog.entries_of(img.id()).all(|e| e.name.is_none())
                }
                Err(_) => true,
            })
            .map(|i| i.entry.clone())
            .collect();
        if !doomed.is_empty() {
            let digests: HashSet<&Digest> = doomed.iter().map(|e| &e.digest).collect();
            layout.update_index(|m| {
                m.retain(|d| {
                    let untagged = crate::store::annotation(d, crate::store::REF_NAME).is_none();
                    !(untagged && Digest::try_from(d.digest()).is_ok_and(|g| digests.contains(&g)))
                });
                Ok(())
            })?;
            for i in &catalog.items {
                if doomed.iter().any(|e| e.digest == i.entry.digest) {
                    if let Ok(img) = &i.image {
                        if !out.images.contains(img.id()) {
                            out.images.push(img.id().clone());
                        }
                    }
                }
            }
        }
    }

    // Blobs nothing reaches.
    let candidates: HashSet<Digest> = image::unreferenced_blobs(layout)?.into_iter().collect();
    let sizes: u64 = candidates
        .iter()
        .map(|d| usage(&layout.blob_path(d), &mut seen))
        .sum();
    out.blobs = image::delete_unreachable(layout, &candidates)?;
    out.reclaimed += sizes;

    // What writers that are gone left in the layout: temporary blobs of processes that are not
    // alive, and (no writer runs while the guard is held) partial downloads and the anonymous
    // temporary blobs of older versions.
    for (p, bytes) in layout.sweep_stale() {
        out.reclaimed += bytes;
        out.leftovers.push(p);
    }
    let rd = std::fs::read_dir(layout.dir()).with_path("read directory", layout.dir())?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if matches!(
            classify_layout_name(&name),
            TempKind::Partial | TempKind::Anonymous
        ) {
            let p = e.path();
            out.reclaimed += usage(&p, &mut seen);
            match std::fs::remove_file(&p) {
                Ok(()) => out.leftovers.push(p),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &p, e)),
            }
        }
    }

    // Snapshots no image in the store uses.
    if let Some(root) = root {
        let dir = root.dir().join("snapshots");
        if dir.is_dir() {
            let snaps = Snapshots::open_only(&dir)?;
            // Temporaries of processes that are gone (those of a live unpack stay).
            for (p, bytes) in snaps.sweep_stale() {
                out.reclaimed += bytes;
                out.leftovers.push(p);
            }
            let mut used: HashSet<String> = HashSet::new();
            for item in Catalog::load(layout)?.items {
                if let Ok(img) = item.image {
                    let ids: Vec<Digest> = img
                        .diff_ids()
                        .iter()
                        .filter_map(|d| Digest::parse(d).ok())
                        .collect();
                    used.extend(chain_ids(&ids).iter().map(|c| c.hex().to_string()));
                }
            }
            let rd = std::fs::read_dir(snaps.dir()).with_path("read directory", snaps.dir())?;
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.starts_with('.') && !used.contains(&name) {
                    let p = e.path();
                    out.reclaimed += usage(&p, &mut seen);
                    std::fs::remove_dir_all(&p).map_err(|e| Error::io("remove", &p, e))?;
                    out.snapshots.push(name);
                }
            }
            out.snapshots.sort();
        }
    }
    Ok(out)
}
