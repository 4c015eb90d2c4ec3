//! The build cache: one record per built step, keyed by what the step's result depends on.
//!
//! A step's key is the sha256 of the canonical JSON (keys sorted, no spaces:
//! [`crate::image::canonical_json`]) of its [`KeyInputs`]: the parent state's config digest, the
//! expanded instruction, the build args the step uses, the platform, the digest of its sources
//! (COPY/ADD) and anything else that changes the result. Same inputs, same key, on any machine
//! and from any checkout path, as long as the builder puts no host path or time in them.
//!
//! A [`Record`] says which state (a manifest whose config and layers are in the store) the step
//! gave. Records live in the layout, in `.berth-build-cache/sha256-<key hex>`, one small JSON
//! file each (next to `.berth-sizes/`), owner-only, written atomically (temporary file,
//! rename; not fsynced: a record a power cut loses is a miss). A record's file's mtime is its
//! last use: a hit sets it (one `futimens`, no write, no fsync).
//!
//! Records are gc roots: `img-prune` and `img-rm` keep every blob a record reaches and the
//! snapshots of its layers ([`reachable_blobs`], [`snapshot_chains`]); a record whose blobs are
//! gone is ignored and dropped. `img-prune --build-cache` removes records
//! ([`crate::gc::prune_build_cache`]).
//!
//! Writers: the builder holds [`Layout::writer_guard`] from its first blob to its last record,
//! as every writer, so that a prune never removes a blob a record is about to name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::image::{self, canonical_json, Image};
use crate::store::Layout;

/// The record directory in a layout.
pub const CACHE_DIR: &str = ".berth-build-cache";

/// What a step's cache key is made of. The builder fills it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyInputs {
    /// The parent state's config digest (`scratch` for none).
    pub parent: String,
    /// The expanded instruction (`RUN apt-get install -y x`).
    pub instruction: String,
    /// Only the build args the step uses.
    pub args: BTreeMap<String, String>,
    /// `linux/amd64`.
    pub platform: String,
    /// COPY/ADD: Merkle digest of the context sources, or the source stage's config digest for
    /// `--from`.
    pub sources: Option<String>,
    /// Mounts, network, chown…: anything else that changes the result.
    pub extra: BTreeMap<String, String>,
}

impl KeyInputs {
    /// sha256 of the canonical JSON of the inputs.
    pub fn key(&self) -> Digest {
        let v = serde_json::to_value(self).expect("key inputs serialise");
        Digest::sha256_of(&canonical_json(&v))
    }
}

/// One cached step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub key: Digest,
    pub inputs: KeyInputs,
    /// The state after the step (config + layers), blobs in the store.
    pub manifest: Descriptor,
    /// The layer the step added, if any.
    pub layer: Option<Descriptor>,
    pub stage: String,
    pub line: usize,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339; [`BuildCache::get`] and [`BuildCache::list`] give the record file's mtime.
    pub last_used: String,
}

impl Record {
    /// The bytes of the layer the step added (as stored, compressed); 0 for metadata steps.
    pub fn size(&self) -> u64 {
        self.layer.as_ref().map_or(0, |l| l.size())
    }
}

/// The build cache of a layout: `$ROOT/images/.berth-build-cache/`.
#[derive(Debug, Clone)]
pub struct BuildCache {
    layout: Layout,
    dir: PathBuf,
}

/// Whether everything `rec` names is in the store: its manifest, that manifest's config and
/// layers (foreign layers aside), and its own layer. Says what is missing otherwise.
pub fn check_record(layout: &Layout, rec: &Record) -> std::result::Result<(), String> {
    image::check_complete(layout, &rec.manifest)?;
    if let Some(l) = &rec.layer {
        let d = Digest::try_from(l.digest()).map_err(|e| e.to_string())?;
        if !layout.has_blob(&d) {
            return Err(format!("its layer {d} is missing from the store"));
        }
    }
    Ok(())
}

fn mtime_rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The key a record file is named for (`sha256-<hex>`), None for other names (temporaries).
fn key_of_name(name: &str) -> Option<Digest> {
    let (alg, hex) = name.split_once('-')?;
    Digest::parse(&format!("{alg}:{hex}")).ok()
}

impl BuildCache {
    /// The cache of `layout` (nothing is created until the first [`BuildCache::put`]).
    pub fn open(layout: &Layout) -> Result<BuildCache> {
        let dir = layout.dir().join(CACHE_DIR);
        if dir.exists() && !dir.is_dir() {
            return Err(Error::InvalidInput(format!(
                "build cache {}: not a directory",
                dir.display()
            )));
        }
        Ok(BuildCache {
            layout: layout.clone(),
            dir,
        })
    }

    /// The directory of the records.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &Digest) -> PathBuf {
        self.dir
            .join(format!("{}-{}", key.algorithm().as_str(), key.hex()))
    }

    /// Reads the record file at `path` for `key`; Ok(None) when it is not there; Err(why) when
    /// it is unreadable or not a record of `key`.
    fn read(
        &self,
        path: &Path,
        key: &Digest,
    ) -> Result<Option<std::result::Result<Record, String>>> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let rec = match serde_json::from_slice::<Record>(&data) {
            Ok(r) => r,
            Err(e) => return Ok(Some(Err(format!("not a cache record: {e}")))),
        };
        if rec.key != *key {
            return Ok(Some(Err(format!("it holds the record of {}", rec.key))));
        }
        Ok(Some(Ok(rec)))
    }

    /// The record, if it exists AND every blob it names (manifest, config, layers) is still in
    /// the store (else None and the stale record is dropped). A hit sets the record file's
    /// mtime, which is its `last_used`: one `futimens`, no write.
    pub fn get(&self, layout: &Layout, key: &Digest) -> Result<Option<Record>> {
        let path = self.path(key);
        let mut rec = match self.read(&path, key)? {
            None => return Ok(None),
            Some(Err(_)) => {
                let _ = std::fs::remove_file(&path);
                return Ok(None);
            }
            Some(Ok(r)) => r,
        };
        if check_record(layout, &rec).is_err() {
            let _ = std::fs::remove_file(&path);
            return Ok(None);
        }
        let now = SystemTime::now();
        // Best effort: a cache in a store this user may read but not write still hits.
        if let Ok(f) = std::fs::File::open(&path) {
            let _ = f.set_modified(now);
        }
        rec.last_used = mtime_rfc3339(now);
        Ok(Some(rec))
    }

    /// Stores `rec` (crash-safe: temporary file, rename). Its key must be its inputs'
    /// key and every blob it names must be in the store.
    pub fn put(&self, rec: &Record) -> Result<()> {
        let want = rec.inputs.key();
        if rec.key != want {
            return Err(Error::InvalidInput(format!(
                "build cache record {}: its inputs' key is {want}",
                rec.key
            )));
        }
        check_record(&self.layout, rec)
            .map_err(|why| Error::InvalidInput(format!("build cache record {}: {why}", rec.key)))?;
        let data = serde_json::to_vec(rec).expect("records serialise");
        std::fs::create_dir_all(&self.dir).with_path("create", &self.dir)?;
        let path = self.path(&rec.key);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Whole or not at all (temporary file, rename), owner-only: the inputs hold build
        // args' values, which users pass tokens in. Not fsynced (5 ms a step here): a power
        // loss can lose the record or leave it empty, which is a miss ([`BuildCache::get`]
        // drops what it cannot read), never a record naming blobs that are not there (they
        // were fsynced when stored).
        let how = berth_fsutil::Atomic {
            mode: 0o600,
            temp_prefix: &format!(".{name}.{}-", crate::store::Owner::me().token()),
            durable: false,
        };
        berth_fsutil::write_atomic(&self.dir, &name, &data, &how)?;
        // The file's mtime is the record's last use: the one given, to the nanosecond (the
        // file system's own clock is coarser, and could put it before `created`).
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&rec.last_used) {
            if let Ok(f) = std::fs::File::open(&path) {
                let _ = f.set_modified(SystemTime::from(t));
            }
        }
        Ok(())
    }

    /// Every readable record (whole or not), `last_used` from its file's mtime, most recently
    /// used first.
    pub fn list(&self) -> Result<Vec<Record>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read directory", &self.dir, e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(key) = key_of_name(&name) else {
                continue;
            };
            let path = e.path();
            let Ok(Some(Ok(mut rec))) = self.read(&path, &key) else {
                continue;
            };
            if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                rec.last_used = mtime_rfc3339(t);
            }
            out.push(rec);
        }
        out.sort_by(|a, b| {
            b.last_used
                .cmp(&a.last_used)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(out)
    }

    /// The records whose blobs are all in the store ([`BuildCache::list`] without the stale).
    pub fn live(&self) -> Result<Vec<Record>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|r| check_record(&self.layout, r).is_ok())
            .collect())
    }

    /// Removes the record of `key`; whether there was one.
    pub fn remove(&self, key: &Digest) -> Result<bool> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }

    /// Removes every readable-but-stale and every unreadable record file; their keys.
    pub fn forget_stale(&self) -> Vec<Digest> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(key) = key_of_name(&name) else {
                continue;
            };
            let stale = match self.read(&e.path(), &key) {
                Ok(Some(Ok(rec))) => check_record(&self.layout, &rec).is_err(),
                Ok(Some(Err(_))) => true,
                _ => false,
            };
            if stale && std::fs::remove_file(e.path()).is_ok() {
                out.push(key);
            }
        }
        out.sort();
        out
    }

    /// For `img-build --explain`: on a miss, why. The nearest record is one with the same
    /// parent (the one that differs least: same instruction first, then the same instruction
    /// word, then the most recently used); else one with the same instruction on another
    /// parent. The sentence names the FIRST input that differs, in the order parent,
    /// instruction, build args, platform, sources, extra:
    /// `instruction differs: was "RUN echo 1", now "RUN echo 2"`, `build arg V: was "1", now "2"`,
    /// `sources differ: was sha256:…, now sha256:…`, `parent differs (an earlier step missed)`,
    /// `no cached step to compare`.
    pub fn explain(&self, inputs: &KeyInputs) -> Result<String> {
        self.explain_at(inputs, None)
    }

    /// [`BuildCache::explain`], with the step's stage and Dockerfile line: a record of the same
    /// stage and line on another parent is near too.
    pub fn explain_at(&self, inputs: &KeyInputs, at: Option<(&str, usize)>) -> Result<String> {
        let records = self.list()?;
        Ok(explain_among(&self.layout, &records, inputs, at))
    }
}

/// The first word of an instruction (`RUN`, `COPY`…).
fn verb(instruction: &str) -> &str {
    instruction.split_whitespace().next().unwrap_or("")
}

fn quoted(v: Option<&String>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "unset".into(),
    }
}

/// The first input (after the parent) in which `now` differs from `was`, as a sentence.
fn first_difference(was: &KeyInputs, now: &KeyInputs) -> Option<String> {
    if was.instruction != now.instruction {
        return Some(format!(
            "instruction differs: was {:?}, now {:?}",
            was.instruction, now.instruction
        ));
    }
    let names: std::collections::BTreeSet<&String> =
        was.args.keys().chain(now.args.keys()).collect();
    for k in names {
        let (a, b) = (was.args.get(k), now.args.get(k));
        if a != b {
            return Some(format!(
                "build arg {k}: was {}, now {}",
                quoted(a),
                quoted(b)
            ));
        }
    }
    if was.platform != now.platform {
        return Some(format!(
            "platform differs: was {:?}, now {:?}",
            was.platform, now.platform
        ));
    }
    if was.sources != now.sources {
        let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        return Some(format!(
            "sources differ: was {}, now {}",
            s(&was.sources),
            s(&now.sources)
        ));
    }
    let names: std::collections::BTreeSet<&String> =
        was.extra.keys().chain(now.extra.keys()).collect();
    for k in names {
        let (a, b) = (was.extra.get(k), now.extra.get(k));
        if a != b {
            return Some(format!("{k} differs: was {}, now {}", quoted(a), quoted(b)));
        }
    }
    None
}

/// The config digest of each record's state (read from its manifest), for those readable.
pub(crate) fn states(layout: &Layout, records: &[Record]) -> HashMap<Digest, String> {
    records
        .iter()
        .filter_map(|r| {
            let m: serde_json::Value = layout
                .read_json(&Digest::try_from(r.manifest.digest()).ok()?)
                .ok()?;
            Some((r.key.clone(), m["config"]["digest"].as_str()?.to_string()))
        })
        .collect()
}

fn explain_among(
    layout: &Layout,
    records: &[Record],
    inputs: &KeyInputs,
    at: Option<(&str, usize)>,
) -> String {
    let key = inputs.key();
    if let Some(r) = records.iter().find(|r| r.key == key) {
        return match check_record(layout, r) {
            Err(why) => format!("the cached step was pruned: {why}"),
            Ok(()) => "cached".into(),
        };
    }
    // Most recently used first (as list() gives them): the first best candidate wins.
    let rank = |r: &Record| {
        if r.inputs.instruction == inputs.instruction {
            0
        } else if verb(&r.inputs.instruction) == verb(&inputs.instruction) {
            1
        } else {
            2
        }
    };
    let same_parent = records
        .iter()
        .filter(|r| r.inputs.parent == inputs.parent)
        .min_by_key(|r| rank(r));
    if let Some(r) = same_parent {
        return first_difference(&r.inputs, inputs)
            .unwrap_or_else(|| "inputs differ in a field this berth does not know".into());
    }
    let elsewhere = records
        .iter()
        .filter(|r| at.is_some_and(|(s, l)| r.stage == s && r.line == l))
        .chain(
            records
                .iter()
                .filter(|r| r.inputs.instruction == inputs.instruction),
        )
        .next();
    match elsewhere {
        Some(r) => {
            // A parent no cached step made is a base image (or scratch): say it changed.
            let made: HashSet<String> = states(layout, records).into_values().collect();
            if made.contains(&r.inputs.parent) {
                "parent differs (an earlier step missed)".into()
            } else {
                format!(
                    "parent differs (the base image changed: was {}, now {})",
                    r.inputs.parent, inputs.parent
                )
            }
        }
        None => "no cached step to compare".into(),
    }
}

/// Every blob the whole records of `layout` reach (manifest, config, layers): gc roots.
/// Records whose blobs are gone are ignored.
pub fn reachable_blobs(layout: &Layout) -> HashSet<Digest> {
    let mut out = HashSet::new();
    let Ok(cache) = BuildCache::open(layout) else {
        return out;
    };
    for rec in cache.list().unwrap_or_default() {
        if check_record(layout, &rec).is_ok() {
            out.extend(image::blobs_of(layout, &rec.manifest));
            if let Some(d) = rec
                .layer
                .as_ref()
                .and_then(|l| Digest::try_from(l.digest()).ok())
            {
                out.insert(d);
            }
        }
    }
    out
}

/// The chain IDs (snapshot directory names) of the layers of one record's state.
pub fn chains_of(layout: &Layout, rec: &Record) -> Vec<String> {
    let Ok(img) = Image::load(layout, &rec.manifest, None) else {
        return Vec::new();
    };
    let ids: Vec<Digest> = img
        .diff_ids()
        .iter()
        .filter_map(|d| Digest::parse(d).ok())
        .collect();
    crate::snapshot::chain_ids(&ids)
        .iter()
        .map(|c| c.hex().to_string())
        .collect()
}

/// The snapshot directory names the whole records' states are made of: gc keeps them.
pub fn snapshot_chains(layout: &Layout) -> HashSet<String> {
    let mut out = HashSet::new();
    let Ok(cache) = BuildCache::open(layout) else {
        return out;
    };
    for rec in cache.list().unwrap_or_default() {
        if check_record(layout, &rec).is_ok() {
            out.extend(chains_of(layout, &rec));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use oci_spec::image::MediaType;
    use serde_json::json;

    use super::*;
    use crate::image::ImageConfig;

    pub(crate) fn layout() -> (tempfile::TempDir, Layout) {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(t.path().join("images")).unwrap();
        (t, l)
    }

    /// A state with the layers `below` and one more of content `[n; 100]` (uncompressed, so
    /// its digest is its diffID): (all layers, manifest, config digest).
    pub(crate) fn state(
        l: &Layout,
        below: &[Descriptor],
        n: u8,
    ) -> (Vec<Descriptor>, Descriptor, Digest) {
        let d = l.put_blob_bytes(&[n; 100]).unwrap();
        let mut layers = below.to_vec();
        layers.push(Descriptor::new(MediaType::ImageLayer, 100, &d));
        let diff_ids: Vec<String> = layers.iter().map(|x| x.digest().to_string()).collect();
        let config = ImageConfig::from_value(json!({"architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids}}))
        .unwrap();
        let (m, id) = image::write_image(l, &config, layers.clone()).unwrap();
        (layers, m, id)
    }

    pub(crate) fn inputs(parent: &str, instruction: &str) -> KeyInputs {
        KeyInputs {
            parent: parent.into(),
            instruction: instruction.into(),
            args: BTreeMap::new(),
            platform: "linux/amd64".into(),
            sources: None,
            extra: BTreeMap::new(),
        }
    }

    pub(crate) fn record(
        inputs: KeyInputs,
        manifest: &Descriptor,
        layers: &[Descriptor],
    ) -> Record {
        Record {
            key: inputs.key(),
            inputs,
            manifest: manifest.clone(),
            layer: layers.last().cloned(),
            stage: "0".into(),
            line: 2,
            created: image::now_rfc3339(),
            last_used: image::now_rfc3339(),
        }
    }

    #[test]
    fn the_key_is_the_sha256_of_the_inputs_canonical_json() {
        let mut a = inputs("scratch", "RUN echo hi");
        a.args.insert("B".into(), "2".into());
        a.args.insert("A".into(), "1".into());
        a.extra.insert("network".into(), "none".into());
        // Written by hand: keys sorted at every level, no spaces.
        let canonical = r#"{"args":{"A":"1","B":"2"},"extra":{"network":"none"},"instruction":"RUN echo hi","parent":"scratch","platform":"linux/amd64","sources":null}"#;
        assert_eq!(a.key(), Digest::sha256_of(canonical.as_bytes()));
        // The order things were inserted in does not matter.
        let mut b = inputs("scratch", "RUN echo hi");
        b.extra.insert("network".into(), "none".into());
        b.args.insert("A".into(), "1".into());
        b.args.insert("B".into(), "2".into());
        assert_eq!(a.key(), b.key());
        // Every field counts.
        let base = a.key();
        let mut keys = HashSet::new();
        for change in 0..6 {
            let mut c = a.clone();
            match change {
                0 => c.parent = "sha256:00".into(),
                1 => c.instruction.push(' '),
                2 => drop(c.args.insert("A".into(), "3".into())),
                3 => c.platform = "linux/arm64".into(),
                4 => c.sources = Some("sha256:11".into()),
                _ => drop(c.extra.insert("chown".into(), "1:1".into())),
            }
            assert_ne!(c.key(), base, "change {change}");
            keys.insert(c.key());
        }
        assert_eq!(keys.len(), 6);
        // An empty source set is not no sources.
        let mut d = a.clone();
        d.sources = Some(String::new());
        assert_ne!(d.key(), base);
    }

    #[test]
    fn put_get_and_list() {
        let (_t, l) = layout();
        let c = BuildCache::open(&l).unwrap();
        let (layers, m, _) = state(&l, &[], 1);
        let rec = record(inputs("scratch", "COPY a /a"), &m, &layers);
        assert!(c.get(&l, &rec.key).unwrap().is_none(), "nothing yet");
        c.put(&rec).unwrap();
        assert_eq!(c.list().unwrap()[0].last_used, rec.last_used, "as given");
        let got = c.get(&l, &rec.key).unwrap().unwrap();
        assert_eq!(got.inputs, rec.inputs);
        assert_eq!(got.manifest, rec.manifest);
        assert_eq!(got.layer, rec.layer);
        assert_eq!(c.list().unwrap().len(), 1);
        assert!(l
            .dir()
            .join(CACHE_DIR)
            .join(format!("sha256-{}", rec.key.hex()))
            .is_file());

        // A record whose key is not its inputs' is refused, and so is one naming absent blobs.
        let mut bad = rec.clone();
        bad.inputs.instruction = "COPY b /b".into();
        let e = c.put(&bad).unwrap_err().to_string();
        assert!(e.contains("its inputs' key is"), "{e}");
        let mut ghost = record(inputs("scratch", "RUN x"), &m, &layers);
        ghost.layer = Some(Descriptor::new(
            MediaType::ImageLayer,
            5,
            &Digest::sha256_of(b"never stored"),
        ));
        let e = c.put(&ghost).unwrap_err().to_string();
        assert!(e.contains("is missing from the store"), "{e}");
        assert_eq!(c.list().unwrap().len(), 1, "nothing written");
    }

    #[test]
    fn a_hit_bumps_last_used() {
        let (_t, l) = layout();
        let c = BuildCache::open(&l).unwrap();
        let (layers, m, _) = state(&l, &[], 1);
        let mut rec = record(inputs("scratch", "COPY a /a"), &m, &layers);
        c.put(&rec).unwrap();
        let path = c.path(&rec.key);
        let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        assert_eq!(
            c.list().unwrap()[0].last_used,
            "2001-09-09T01:46:40.000000000Z"
        );
        rec = c.get(&l, &rec.key).unwrap().unwrap();
        let listed = &c.list().unwrap()[0];
        assert_eq!(listed.last_used, rec.last_used);
        assert!(listed.last_used.as_str() > "2020", "{}", listed.last_used);
    }

    #[test]
    fn get_drops_records_whose_blobs_are_gone() {
        let (_t, l) = layout();
        let c = BuildCache::open(&l).unwrap();
        let (l1, m1, _) = state(&l, &[], 1);
        let (l2, m2, id2) = state(&l, &l1, 2);
        let (l3, m3, _) = state(&l, &[], 3);
        let r1 = record(inputs("scratch", "COPY a /a"), &m1, &l1);
        let r2 = record(inputs("x", "COPY b /b"), &m2, &l2);
        let r3 = record(inputs("y", "COPY c /c"), &m3, &l3);
        for r in [&r1, &r2, &r3] {
            c.put(r).unwrap();
        }
        // A layer, a config, a manifest removed.
        l.remove_blob(&Digest::try_from(l1[0].digest()).unwrap())
            .unwrap();
        l.remove_blob(&id2).unwrap();
        l.remove_blob(&Digest::try_from(m3.digest()).unwrap())
            .unwrap();
        for r in [&r1, &r2, &r3] {
            assert!(c.get(&l, &r.key).unwrap().is_none());
            assert!(!c.path(&r.key).exists(), "the stale record is dropped");
        }
        // A corrupt record is a miss too, and dropped.
        let (l4, m4, _) = state(&l, &[], 4);
        let r4 = record(inputs("z", "RUN z"), &m4, &l4);
        c.put(&r4).unwrap();
        std::fs::write(c.path(&r4.key), b"{").unwrap();
        assert!(c.get(&l, &r4.key).unwrap().is_none());
        assert!(!c.path(&r4.key).exists());
    }

    #[test]
    fn explain_names_the_first_input_that_differs() {
        let (_t, l) = layout();
        let c = BuildCache::open(&l).unwrap();
        assert_eq!(
            c.explain(&inputs("scratch", "RUN echo 1")).unwrap(),
            "no cached step to compare"
        );
        let (base_layers, base_m, base) = state(&l, &[], 9);
        let _ = base_m;
        let parent = base.to_string();
        // Step 1 on the base image, step 2 on step 1's state.
        let (l1, m1, id1) = state(&l, &base_layers, 1);
        let mut i1 = inputs(&parent, "RUN echo 1");
        i1.args.insert("V".into(), "1".into());
        c.put(&record(i1.clone(), &m1, &l1)).unwrap();
        let (l2, m2, _) = state(&l, &l1, 2);
        let mut i2 = inputs(&id1.to_string(), "COPY . /src");
        i2.sources = Some("sha256:aaaa".into());
        let mut r2 = record(i2.clone(), &m2, &l2);
        r2.line = 3;
        c.put(&r2).unwrap();

        assert_eq!(c.explain(&i1).unwrap(), "cached");
        let mut now = i1.clone();
        now.instruction = "RUN echo 2".into();
        assert_eq!(
            c.explain(&now).unwrap(),
            r#"instruction differs: was "RUN echo 1", now "RUN echo 2""#
        );
        let mut now = i1.clone();
        now.args.insert("V".into(), "2".into());
        assert_eq!(c.explain(&now).unwrap(), r#"build arg V: was "1", now "2""#);
        let mut now = i1.clone();
        now.args.clear();
        assert_eq!(
            c.explain(&now).unwrap(),
            r#"build arg V: was "1", now unset"#
        );
        let mut now = i1.clone();
        now.platform = "linux/arm64".into();
        assert_eq!(
            c.explain(&now).unwrap(),
            r#"platform differs: was "linux/amd64", now "linux/arm64""#
        );
        let mut now = i1.clone();
        now.extra.insert("network".into(), "none".into());
        assert_eq!(
            c.explain(&now).unwrap(),
            r#"network differs: was unset, now "none""#
        );
        let mut now = i2.clone();
        now.sources = Some("sha256:bbbb".into());
        assert_eq!(
            c.explain(&now).unwrap(),
            "sources differ: was sha256:aaaa, now sha256:bbbb"
        );
        // Step 2 on another state of step 1: an earlier step missed.
        let mut now = i2.clone();
        now.parent =
            "sha256:1111111111111111111111111111111111111111111111111111111111111111".into();
        assert_eq!(
            c.explain(&now).unwrap(),
            "parent differs (an earlier step missed)"
        );
        // Step 1 on another base image.
        let mut now = i1.clone();
        now.parent =
            "sha256:2222222222222222222222222222222222222222222222222222222222222222".into();
        assert_eq!(
            c.explain(&now).unwrap(),
            format!(
                "parent differs (the base image changed: was {parent}, now {})",
                now.parent
            )
        );
        // Another instruction on a new parent: only its stage and line say which step it was.
        let mut now = inputs("sha256:33", "COPY . /app");
        assert_eq!(c.explain(&now).unwrap(), "no cached step to compare");
        assert_eq!(
            c.explain_at(&now, Some(("0", 3))).unwrap(),
            "parent differs (an earlier step missed)"
        );
        // The nearest record of the same parent is the one with the same instruction.
        now = i1.clone();
        now.parent = id1.to_string();
        now.instruction = "COPY . /src".into();
        now.sources = Some("sha256:aaaa".into());
        now.args.insert("V".into(), "1".into());
        assert_eq!(
            c.explain(&now).unwrap(),
            r#"build arg V: was unset, now "1""#
        );
        // A record whose blobs went: said so.
        l.remove_blob(&Digest::try_from(l2[2].digest()).unwrap())
            .unwrap();
        let e = c.explain(&i2).unwrap();
        assert!(
            e.starts_with("the cached step was pruned: its layer"),
            "{e}"
        );
    }

    #[test]
    fn records_are_gc_roots() {
        let (_t, l) = layout();
        let c = BuildCache::open(&l).unwrap();
        let (l1, m1, id1) = state(&l, &[], 1);
        let rec = record(inputs("scratch", "COPY a /a"), &m1, &l1);
        c.put(&rec).unwrap();
        let reach = image::reachable_blobs(&l).unwrap();
        let m1d = Digest::try_from(m1.digest()).unwrap();
        let l1d = Digest::try_from(l1[0].digest()).unwrap();
        for d in [&m1d, &id1, &l1d] {
            assert!(reach.contains(d), "{d}");
        }
        assert!(image::unreferenced_blobs(&l).unwrap().is_empty());
        assert_eq!(
            snapshot_chains(&l),
            HashSet::from([l1d.hex().to_string()]),
            "one layer: its chain ID is its diffID"
        );
        // A record with a blob gone protects nothing.
        l.remove_blob(&id1).unwrap();
        assert!(reachable_blobs(&l).is_empty());
        assert_eq!(c.forget_stale(), vec![rec.key.clone()]);
        assert!(c.list().unwrap().is_empty());
    }

    /// Not a timing assertion: prints what a cached rebuild's lookups cost.
    #[test]
    fn twenty_hits_cost() {
        let (_t, l) = layout();
        let c = BuildCache::open(&l).unwrap();
        let mut below = Vec::new();
        let mut keys = Vec::new();
        for n in 0..20u8 {
            let (layers, m, _) = state(&l, &below, n);
            let rec = record(inputs(&format!("p{n}"), "RUN x"), &m, &layers);
            c.put(&rec).unwrap();
            keys.push(rec.key);
            below = layers;
        }
        let t = std::time::Instant::now();
        for k in &keys {
            assert!(c.get(&l, k).unwrap().is_some());
        }
        eprintln!("20 hits (states of 1..20 layers): {:?}", t.elapsed());
        let t = std::time::Instant::now();
        for r in c.list().unwrap() {
            c.put(&r).unwrap();
        }
        eprintln!("20 puts: {:?}", t.elapsed());
        let mode = std::fs::metadata(c.path(&keys[0])).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "build args may be secrets"
        );
    }
}
