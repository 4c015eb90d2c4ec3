//! Garbage collection (`img-prune`): blobs no image reaches, snapshots no image uses, what
//! interrupted writers left behind, and with `all` the untagged images no container uses.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::build::cache::{self, BuildCache, Record};
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
            let used = used_snapshots(layout, root, snaps.dir())?;
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
    // Cache records whose blobs went (by hand, or an older berth) are dropped.
    BuildCache::open(layout)?.forget_stale();
    Ok(out)
}

/// The snapshot directory names (in `snaps`) something still needs: the layers of every image
/// in the store, of every whole build cache record's state, and of every container.
fn used_snapshots(layout: &Layout, root: &Root, snaps: &Path) -> Result<HashSet<String>> {
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
    // Those the build cache's records' states are made of.
    used.extend(cache::snapshot_chains(layout));
    // Those containers' root file systems are made of, whose image may be gone (img-rm -f of
    // an image only stopped containers use deletes it, as Docker).
    used.extend(container_snapshots(root, snaps));
    Ok(used)
}

/// Which build cache records `img-prune --build-cache` removes, as `docker builder prune`.
#[derive(Debug, Default, Clone)]
pub struct PruneCache {
    /// Every record (`-a`), not only dangling ones.
    pub all: bool,
    /// `--filter until=`: only records last used before this time (seconds since the epoch).
    pub until: Option<i64>,
    /// `--keep-storage`: stop once the records left hold at most this many bytes (the least
    /// recently used go first).
    pub keep_storage: Option<u64>,
}

/// What `img-prune --build-cache` removed.
#[derive(Debug, Default)]
pub struct CachePruned {
    /// The keys of the records removed (stale ones included).
    pub records: Vec<Digest>,
    pub blobs: Vec<Digest>,
    pub snapshots: Vec<String>,
    /// Bytes freed on disk.
    pub reclaimed: u64,
}

impl CachePruned {
    pub fn to_json(&self) -> Value {
        json!({
            "cache_records_deleted": self.records.len(),
            "space_reclaimed": self.reclaimed,
            "deleted": self.records.iter().map(Digest::to_string).collect::<Vec<_>>(),
            "blobs": self.blobs.iter().map(Digest::to_string).collect::<Vec<_>>(),
            "snapshots": self.snapshots,
            "total_reclaimed_space": crate::output::human_size(self.reclaimed),
        })
    }

    /// `docker builder prune`'s report: `Deleted build cache objects:` and an ID a line, a
    /// blank line, then `Total reclaimed space: …`.
    pub fn report(&self) -> String {
        let mut out = String::new();
        if !self.records.is_empty() {
            out.push_str("Deleted build cache objects:\n");
            for k in &self.records {
                out.push_str(k.hex());
                out.push('\n');
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

/// The records a tagged image uses: its ID is the record's state, or the state of a step
/// after it (the parent of a used state is used, transitively). The others are dangling: the
/// steps of builds whose result lost its tag, or that an edit replaced.
pub fn used_records(layout: &Layout, records: &[Record]) -> Result<HashSet<Digest>> {
    let catalog = Catalog::load(layout)?;
    let mut used_states: HashSet<String> = catalog
        .items
        .iter()
        .filter(|i| {
            i.entry.name.is_some()
                && i.entry
                    .reference
                    .as_ref()
                    .is_none_or(|r| r.digest().is_none())
        })
        .filter_map(|i| i.image.as_ref().ok().map(|img| img.id().to_string()))
        .collect();
    let states = cache::states(layout, records);
    let mut used = HashSet::new();
    // Each round adds a record, or ends.
    for _ in 0..=records.len() {
        let mut more = false;
        for r in records {
            if !used.contains(&r.key) && states.get(&r.key).is_some_and(|s| used_states.contains(s))
            {
                used.insert(r.key.clone());
                used_states.insert(r.inputs.parent.clone());
                more = true;
            }
        }
        if !more {
            break;
        }
    }
    Ok(used)
}

/// `img-prune --build-cache`, as `docker builder prune`: removes the records `which` selects
/// (and every stale one), then the blobs and snapshots only they reached.
///
/// Without `all` only dangling records go ([`used_records`]); `until` keeps the records used
/// since; `keep_storage` removes the least recently used of those first and stops once the
/// records left hold at most that many bytes (their layers, as stored).
pub fn prune_build_cache(
    layout: &Layout,
    root: Option<&Root>,
    which: &PruneCache,
) -> Result<CachePruned> {
    // No build is between writing a blob and recording it while this is held.
    let _gc = layout.gc_guard()?;
    let cache = BuildCache::open(layout)?;
    let mut out = CachePruned {
        records: cache.forget_stale(),
        ..CachePruned::default()
    };
    let mut seen = HashSet::new();
    let records = cache.list()?;
    let used = if which.all {
        HashSet::new()
    } else {
        used_records(layout, &records)?
    };
    let last_used = |r: &Record| crate::filter::created_secs(&r.last_used).unwrap_or(0);
    let mut doomed: Vec<&Record> = records
        .iter()
        .filter(|r| which.all || !used.contains(&r.key))
        .filter(|r| which.until.is_none_or(|t| last_used(r) < t))
        .collect();
    // Least recently used first.
    doomed.sort_by(|a, b| {
        a.last_used
            .cmp(&b.last_used)
            .then_with(|| a.key.cmp(&b.key))
    });
    if let Some(keep) = which.keep_storage {
        let mut total: u64 = records.iter().map(Record::size).sum();
        let n = doomed
            .iter()
            .take_while(|r| {
                let over = total > keep;
                total = total.saturating_sub(r.size());
                over
            })
            .count();
        doomed.truncate(n);
    }
    let mut blobs: HashSet<Digest> = HashSet::new();
    let mut chains: HashSet<String> = HashSet::new();
    for r in &doomed {
        blobs.extend(image::blobs_of(layout, &r.manifest));
        chains.extend(cache::chains_of(layout, r));
        if cache.remove(&r.key)? {
            out.records.push(r.key.clone());
        }
    }
    out.records.sort();
    out.records.dedup();

    let sizes: std::collections::HashMap<Digest, u64> = blobs
        .iter()
        .map(|d| (d.clone(), usage(&layout.blob_path(d), &mut seen)))
        .collect();
    out.blobs = image::delete_unreachable(layout, &blobs)?;
    out.reclaimed += out.blobs.iter().map(|d| sizes[d]).sum::<u64>();

    if let Some(root) = root {
        let dir = root.dir().join("snapshots");
        if dir.is_dir() && !chains.is_empty() {
            let snaps = Snapshots::open_only(&dir)?;
            let used = used_snapshots(layout, root, snaps.dir())?;
            let mut gone: Vec<String> = chains.into_iter().filter(|c| !used.contains(c)).collect();
            gone.sort();
            for name in gone {
                let p = snaps.dir().join(&name);
                if p.is_dir() {
                    out.reclaimed += usage(&p, &mut seen);
                    std::fs::remove_dir_all(&p).map_err(|e| Error::io("remove", &p, e))?;
                    out.snapshots.push(name);
                }
            }
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
