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
/// after it (the parent of a used state is used, transitively); or, as BuildKit keeps the
/// cache an image's layers share, the record added a layer and the image has that layer on
/// the same layers below (its chain ID). The others are dangling: the steps of builds whose
/// result lost its tag, or that an edit replaced.
pub fn used_records(layout: &Layout, records: &[Record]) -> Result<HashSet<Digest>> {
    let catalog = Catalog::load(layout)?;
    let tagged: Vec<&image::Image> = catalog
        .items
        .iter()
        .filter(|i| {
            i.entry.name.is_some()
                && i.entry
                    .reference
                    .as_ref()
                    .is_none_or(|r| r.digest().is_none())
        })
        .filter_map(|i| i.image.as_ref().ok())
        .collect();
    let mut used_states: HashSet<String> = tagged.iter().map(|img| img.id().to_string()).collect();
    let mut tagged_chains: HashSet<String> = HashSet::new();
    for img in &tagged {
        let ids: Vec<Digest> = img
            .diff_ids()
            .iter()
            .filter_map(|d| Digest::parse(d).ok())
            .collect();
        tagged_chains.extend(chain_ids(&ids).iter().map(|c| c.hex().to_string()));
    }
    let shares_layer: HashSet<&Digest> = records
        .iter()
        .filter(|r| r.layer.is_some())
        .filter(|r| {
            cache::chains_of(layout, r)
                .last()
                .is_some_and(|top| tagged_chains.contains(top))
        })
        .map(|r| &r.key)
        .collect();
    let states = cache::states(layout, records);
    let mut used = HashSet::new();
    // Each round adds a record, or ends.
    for _ in 0..=records.len() {
        let mut more = false;
        for r in records {
            if !used.contains(&r.key)
                && (shares_layer.contains(&r.key)
                    || states.get(&r.key).is_some_and(|s| used_states.contains(s)))
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
        // The file listings `img-build --explain` keeps per COPY sources digest: those no
        // record left names go too.
        let listings = root.dir().join("build").join("sources");
        if let Ok(entries) = std::fs::read_dir(&listings) {
            let named: HashSet<String> = cache
                .list()?
                .iter()
                .filter_map(|r| r.inputs.sources.as_deref())
                .map(|s| s.strip_prefix("sha256:").unwrap_or(s).to_string())
                .collect();
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !named.contains(&name) {
                    out.reclaimed += usage(&e.path(), &mut seen);
                    let _ = std::fs::remove_file(e.path());
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::build::cache::tests::{inputs, record, state};
    use crate::reference::Reference;

    fn root() -> (tempfile::TempDir, Root, Layout) {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let l = Layout::open_or_create(root.images_dir()).unwrap();
        std::fs::create_dir_all(root.dir().join("snapshots")).unwrap();
        (t, root, l)
    }

    fn d(desc: &oci_spec::image::Descriptor) -> Digest {
        Digest::try_from(desc.digest()).unwrap()
    }

    /// A snapshot directory for each chain of `layers`.
    fn snapshot(root: &Root, layers: &[oci_spec::image::Descriptor]) -> Vec<String> {
        let ids: Vec<Digest> = layers.iter().map(d).collect();
        chain_ids(&ids)
            .iter()
            .map(|c| {
                let p = root.dir().join("snapshots").join(c.hex());
                std::fs::create_dir_all(&p).unwrap();
                std::fs::write(p.join("f"), [1u8; 5000]).unwrap();
                c.hex().to_string()
            })
            .collect()
    }

    fn set_last_used(l: &Layout, rec: &Record, secs_ago: u64) {
        let c = BuildCache::open(l).unwrap();
        let p = c.dir().join(format!("sha256-{}", rec.key.hex()));
        let t = SystemTime::now() - Duration::from_secs(secs_ago);
        std::fs::File::open(p).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn image_prune_keeps_what_cache_records_reach() {
        let (_t, root, l) = root();
        let c = BuildCache::open(&l).unwrap();
        let (l1, m1, id1) = state(&l, &[], 1);
        let (l2, m2, id2) = state(&l, &l1, 2);
        let r2 = record(inputs(&id1.to_string(), "COPY b /b"), &m2, &l2);
        c.put(&r2).unwrap();
        let mut kept = snapshot(&root, &l2);
        kept.sort();
        // What only an image nobody tagged reached (m1's state, below r2's but its own
        // manifest and config) goes; its layer is r2's too and stays.
        let (l3, _, _) = state(&l, &[], 3);
        let gone = snapshot(&root, &l3);
        let pruned = prune(&l, Some(&root), &PruneImages::default()).unwrap();
        assert!(pruned.blobs.contains(&d(&m1)) && pruned.blobs.contains(&id1));
        assert!(pruned.blobs.contains(&d(&l3[0])));
        // m1, id1, and l3's state: its manifest, config and layer.
        assert_eq!(pruned.blobs.len(), 5, "{:?}", pruned.blobs);
        for b in [d(&m2), id2, d(&l2[0]), d(&l2[1])] {
            assert!(l.has_blob(&b), "{b} kept");
        }
        assert_eq!(pruned.snapshots, gone);
        for s in &kept {
            assert!(root.dir().join("snapshots").join(s).is_dir(), "{s} kept");
        }
        assert!(c.get(&l, &r2.key).unwrap().is_some(), "still a hit");

        // img-rm's collection keeps them as well.
        let r = Reference::parse("built").unwrap().with_default_tag();
        image::tag(&l, &r, &m2).unwrap();
        image::remove(&l, "built", false, &image::ImageUsers::none()).unwrap();
        assert!(
            c.get(&l, &r2.key).unwrap().is_some(),
            "still a hit after img-rm"
        );

        // A record whose blobs went by hand is dropped by a prune, and protects nothing.
        l.remove_blob(&d(&l2[1])).unwrap();
        let pruned = prune(&l, Some(&root), &PruneImages::default()).unwrap();
        assert!(c.list().unwrap().is_empty());
        assert!(pruned.blobs.contains(&d(&m2)));
        assert_eq!(pruned.snapshots, kept);
    }

    /// r1 → r2 made the tagged image; r3 is an edited step 2 (dangling); r4 a build whose
    /// result lost its tag (dangling).
    fn four(l: &Layout) -> Vec<Record> {
        let c = BuildCache::open(l).unwrap();
        let (base, _, base_id) = state(l, &[], 9);
        let (l1, m1, id1) = state(l, &base, 1);
        let (l2, m2, _) = state(l, &l1, 2);
        let (l3, m3, _) = state(l, &l1, 3);
        let (l4, m4, _) = state(l, &[], 4);
        let recs = vec![
            record(inputs(&base_id.to_string(), "COPY a /a"), &m1, &l1),
            record(inputs(&id1.to_string(), "COPY b /b"), &m2, &l2),
            record(inputs(&id1.to_string(), "COPY c /b"), &m3, &l3),
            record(inputs("scratch", "COPY d /d"), &m4, &l4),
        ];
        for r in &recs {
            c.put(r).unwrap();
        }
        let r = Reference::parse("app").unwrap().with_default_tag();
        image::tag(l, &r, &m2).unwrap();
        let r = Reference::parse("base").unwrap().with_default_tag();
        let (_, mb, _) = state(l, &[], 9);
        image::tag(l, &r, &mb).unwrap();
        recs
    }

    fn keys(recs: &[&Record]) -> Vec<Digest> {
        let mut v: Vec<Digest> = recs.iter().map(|r| r.key.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn build_cache_prune_takes_the_dangling_records_by_default() {
        let (_t, root, l) = root();
        let recs = four(&l);
        let used = used_records(&l, &recs).unwrap();
        assert_eq!(
            used,
            HashSet::from([recs[0].key.clone(), recs[1].key.clone()])
        );
        let chains3 = cache::chains_of(&l, &recs[2]);
        for c in &chains3 {
            std::fs::create_dir_all(root.dir().join("snapshots").join(c)).unwrap();
        }
        let out = prune_build_cache(&l, Some(&root), &PruneCache::default()).unwrap();
        assert_eq!(out.records, keys(&[&recs[2], &recs[3]]));
        // r3's own layer, manifest and config go; its lower layers are r1's.
        let l3 = recs[2].layer.as_ref().map(d).unwrap();
        assert!(out.blobs.contains(&l3) && !l.has_blob(&l3));
        assert!(out.blobs.contains(&d(&recs[2].manifest)));
        assert!(l.has_blob(&d(&recs[1].manifest)));
        assert!(l.has_blob(recs[0].layer.as_ref().map(d).as_ref().unwrap()));
        assert_eq!(
            out.snapshots,
            [chains3[2].clone()],
            "only r3's top snapshot"
        );
        assert!(out.reclaimed > 0);
        let c = BuildCache::open(&l).unwrap();
        assert!(c.get(&l, &recs[1].key).unwrap().is_some());
        // Once the image loses its tag, its records are dangling too.
        image::remove(&l, "app", false, &image::ImageUsers::none()).unwrap();
        let out = prune_build_cache(&l, Some(&root), &PruneCache::default()).unwrap();
        assert_eq!(out.records, keys(&[&recs[0], &recs[1]]));
        assert!(c.list().unwrap().is_empty());
        let j = out.to_json();
        assert_eq!(j["cache_records_deleted"], 2);
        let report = out.report();
        assert!(
            report.starts_with("Deleted build cache objects:\n"),
            "{report}"
        );
        assert!(
            report.contains(&format!(
                "\n{}\n\nTotal reclaimed space: ",
                out.records[1].hex()
            )),
            "{report}"
        );
    }

    #[test]
    fn a_record_whose_layer_a_tagged_image_has_is_used() {
        let (_t, _root, l) = root();
        let c = BuildCache::open(&l).unwrap();
        // COPY (layer) → ENV (no layer) → RUN (layer), then the image tagged with one more
        // label than the RUN step's state: another config, the same layers.
        let (l1, m1, id1) = state(&l, &[], 1);
        let copy = record(inputs("scratch", "COPY a /a"), &m1, &l1);
        let with_config = |m: &oci_spec::image::Descriptor,
                           layers: &[oci_spec::image::Descriptor],
                           cfg: serde_json::Value| {
            let img = image::Image::load(&l, m, None).unwrap();
            let mut v = img.config.to_value();
            v["config"] = cfg;
            let cfg = image::ImageConfig::from_value(v).unwrap();
            image::write_image(&l, &cfg, layers.to_vec()).unwrap().0
        };
        let m2 = with_config(&m1, &l1, serde_json::json!({"Env": ["A=1"]}));
        let mut env_step = record(inputs(&id1.to_string(), "ENV A=1"), &m2, &l1);
        env_step.layer = None;
        let env_state = cache::states(&l, std::slice::from_ref(&env_step))[&env_step.key].clone();
        let (l3, m3, _) = state(&l, &l1, 3);
        let run = record(inputs(&env_state, "RUN x"), &m3, &l3);
        let final_m = with_config(&m3, &l3, serde_json::json!({"Labels": {"v": "1"}}));
        let r = Reference::parse("app").unwrap().with_default_tag();
        image::tag(&l, &r, &final_m).unwrap();
        let recs = vec![copy.clone(), env_step.clone(), run.clone()];
        for r in &recs {
            c.put(r).unwrap();
        }
        let used = used_records(&l, &recs).unwrap();
        assert_eq!(
            used,
            HashSet::from([copy.key.clone(), env_step.key.clone(), run.key.clone()])
        );
        assert!(prune_build_cache(&l, None, &PruneCache::default())
            .unwrap()
            .records
            .is_empty());
        // Untagged: all three are dangling.
        image::remove(&l, "app", false, &image::ImageUsers::none()).unwrap();
        assert!(used_records(&l, &recs).unwrap().is_empty());
    }

    #[test]
    fn build_cache_prune_all_until_and_keep_storage() {
        let (_t, _root, l) = root();
        let recs = four(&l);
        // Last used 4 days, 3 days, 2 hours, 1 hour ago.
        for (r, ago) in recs.iter().zip([4 * 86400, 3 * 86400, 7200, 3600]) {
            set_last_used(&l, r, ago);
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        // -a --filter until=24h: the two not used for a day, tagged or not.
        let which = PruneCache {
            all: true,
            until: Some(now - 86400),
            keep_storage: None,
        };
        let out = prune_build_cache(&l, None, &which).unwrap();
        assert_eq!(out.records, keys(&[&recs[0], &recs[1]]));
        assert!(
            l.has_blob(&d(&recs[1].manifest)),
            "the tagged image keeps its blobs"
        );
        // --keep-storage 150 of the 200 bytes left: the least recently used goes first.
        let which = PruneCache {
            all: true,
            until: None,
            keep_storage: Some(150),
        };
        let out = prune_build_cache(&l, None, &which).unwrap();
        assert_eq!(out.records, keys(&[&recs[2]]));
        let which = PruneCache {
            all: true,
            until: None,
            keep_storage: Some(100),
        };
        assert!(prune_build_cache(&l, None, &which)
            .unwrap()
            .records
            .is_empty());
        // -a: everything.
        let out = prune_build_cache(
            &l,
            None,
            &PruneCache {
                all: true,
                ..PruneCache::default()
            },
        )
        .unwrap();
        assert_eq!(out.records, keys(&[&recs[3]]));
        assert!(BuildCache::open(&l).unwrap().list().unwrap().is_empty());
    }
}
