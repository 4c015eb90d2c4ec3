//! Garbage collection (`img-prune`): blobs no image reaches, snapshots no image uses, what
//! interrupted writers left behind, and with `all` the untagged images no container uses.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::filter::PruneFilter;
use crate::image::{self, Catalog, Entry, ImageUsers};
use crate::root::Root;
use crate::snapshot::{chain_ids, Snapshots};
use crate::store::{classify_layout_name, Layout, TempKind};

/// What a prune removed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// The names untagged with the images removed (Docker's `untagged:` lines).
    pub untagged: Vec<String>,
    /// Image IDs removed (Docker's `deleted:` lines).
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
            "untagged": self.untagged,
            "images": self.images.iter().map(Digest::to_string).collect::<Vec<_>>(),
            "blobs": self.blobs.iter().map(Digest::to_string).collect::<Vec<_>>(),
            "snapshots": self.snapshots,
            "leftovers": self.leftovers,
            "reclaimed": self.reclaimed,
            "total_reclaimed_space": crate::output::human_size(self.reclaimed),
        })
    }

    /// Docker's report: `Deleted Images:` with an `untagged:` or `deleted:` line each, then
    /// `Total reclaimed space: …`.
    pub fn report(&self) -> String {
        let mut out = String::new();
        if !self.untagged.is_empty() || !self.images.is_empty() {
            out.push_str("Deleted Images:\n");
            for n in &self.untagged {
                out.push_str(&format!("untagged: {n}\n"));
            }
            for d in &self.images {
                out.push_str(&format!("deleted: {d}\n"));
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "Total reclaimed space: {}\n",
            crate::output::human_size(self.reclaimed)
        ));
        out
    }
}

/// Which images a prune removes, as `docker image prune`.
#[derive(Debug, Default, Clone)]
pub struct PruneImages {
    /// Every image no container uses (`-a`, or `dangling=false`), not only dangling ones.
    pub all: bool,
    /// `until=`, `label=`, `label!=`: all must match.
    pub filters: Vec<PruneFilter>,
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

/// Prunes `layout` (and, when it is the root's store, the root's snapshots): the images `which`
/// selects that no container uses, then blobs no image reaches, snapshots no image and no
/// container uses, and what interrupted writers left.
///
/// Images go as `docker image prune` removes them: dangling ones (no tag: untagged entries,
/// names pulled by digest) and with `all` tagged ones too; never one a container (running or
/// not) was created from; only those every filter matches (`until` against the image's
/// Created, labels against its config's).
pub fn prune(layout: &Layout, root: Option<&Root>, which: &PruneImages) -> Result<Pruned> {
    // No writer is between writing a blob and tagging it while this is held.
    let _gc = layout.gc_guard()?;
    let mut out = Pruned::default();
    let mut seen = HashSet::new();

    let users = match root {
        Some(r) => ImageUsers::of(r)?,
        None => ImageUsers::none(),
    };
    {
        let lock = layout.lock()?;
        let catalog = Catalog::load(layout)?;
        let is_tag = |e: &Entry| {
            e.name.is_some() && e.reference.as_ref().is_none_or(|r| r.digest().is_none())
        };
        // The entries to drop, by index in the catalog.
        let mut doomed: Vec<usize> = Vec::new();
        let mut ids: Vec<Digest> = Vec::new();
        for (k, item) in catalog.items.iter().enumerate() {
            let img = match &item.image {
                Ok(img) => img,
                // An unreadable entry without a tag is dangling whatever it was.
                Err(_) => {
                    if !is_tag(&item.entry) {
                        doomed.push(k);
                    }
                    continue;
                }
            };
            let id = img.id();
            if users.uses(id) {
                continue;
            }
            if !which.all && catalog.entries_of(id).any(is_tag) {
                continue;
            }
            let created = img.created().unwrap_or("1970-01-01T00:00:00Z");
            let labels = img.run_config().labels.as_ref().and_then(Option::as_ref);
            let label = |k: &str| labels.and_then(|l| l.get(k)).cloned();
            if !which
                .filters
                .iter()
                .all(|f| f.matches_parts(created, label))
            {
                continue;
            }
            doomed.push(k);
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        if !doomed.is_empty() {
            let gone: Vec<&Entry> = doomed.iter().map(|&k| &catalog.items[k].entry).collect();
            layout.update_index_locked(&lock, |m| {
                m.retain(|d| {
                    let name = crate::store::annotation(d, crate::store::REF_NAME);
                    !gone
                        .iter()
                        .any(|e| e.name.as_deref() == name && e.descriptor.digest() == d.digest())
                });
                Ok(())
            })?;
            for e in &gone {
                if let Some(n) = e.familiar() {
                    out.untagged.push(n);
                }
            }
            out.untagged.sort();
            out.images = ids;
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
    for (p, bytes) in layout
        .sweep_stale()
        .into_iter()
        .chain(image::sweep_record_temporaries(layout))
    {
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
            // And those containers' root file systems are made of, whose image may be gone
            // (img-rm -f of an image only stopped containers use deletes it, as Docker).
            used.extend(container_snapshots(root, snaps.dir()));
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
    image::forget_removed(layout);
    Ok(out)
}

/// The snapshot directory names (in `snaps`) that containers' records list as their lower
/// directories.
fn container_snapshots(root: &Root, snaps: &Path) -> HashSet<String> {
    let mut out = HashSet::new();
    let Ok(rd) = std::fs::read_dir(root.containers_dir()) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(data) = std::fs::read(e.path().join("state.json")) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&data) else {
            continue;
        };
        let lower = v.pointer("/GraphDriver/Lower").and_then(Value::as_array);
        for l in lower.map(Vec::as_slice).unwrap_or_default() {
            let Some(p) = l.as_str().map(Path::new) else {
                continue;
            };
            if p.parent() == Some(snaps) {
                if let Some(n) = p.file_name() {
                    out.insert(n.to_string_lossy().into_owned());
                }
            }
        }
    }
    out
}
