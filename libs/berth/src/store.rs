//! The OCI image layout on disk: blobs, `index.json` and the lock that serialises its writers.
//!
//! Blobs are written to a temporary file in the layout's own directory (so the rename stays on one
//! file system, and skopeo does the same), checked against their digest, fsynced and renamed into
//! place, then the directory is fsynced. `index.json` is only ever replaced by rename while an
//! exclusive `flock` on `index.json.lock` is held, so concurrent taggers never lose each other's
//! entries and a reader never sees half a file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType};
use tempfile::NamedTempFile;

use crate::digest::{Algorithm, Digest, HashingWriter, VerifyingReader};
use crate::error::{Error, IoContext, Result};

/// The annotation that names an image in `index.json`, with the full normalised reference.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// When berth last tagged this entry (RFC 3339), shown as Metadata.LastTagTime.
pub const TAG_TIME: &str = "io.berth.image.tag-time";
/// On an `index.json` entry whose manifest berth wrote as the OCI equivalent of the one the image
/// came as (a registry's Docker schema 2 manifest, an index of several platforms): the digest of
/// that original, kept byte for byte. It stays the image's digest (RepoDigests, `img-push`), while
/// the entry itself is an OCI image manifest, which is what skopeo and umoci read.
pub const ORIGINAL: &str = "io.berth.image.original";
/// Manifests, configs and indexes are small; anything larger is refused rather than read whole.
pub const MAX_JSON_BLOB: u64 = 4 << 20;

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;
const INDEX_FILE: &str = "index.json";
const GC_LOCK_FILE: &str = ".berth-gc.lock";
const LOCK_FILE: &str = "index.json.lock";

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// Opens an existing layout; the directory must hold `oci-layout` and `index.json`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Layout> {
        let dir = dir.as_ref().to_path_buf();
        let marker = dir.join(LAYOUT_FILE);
        let text = match fs::read_to_string(&marker) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotALayout {
                    path: dir,
                    why: "it has no oci-layout file".into(),
                })
            }
            Err(e) => return Err(Error::io("read", marker, e)),
        };
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(format!("{}", marker.display()), e))?;
        if v.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(Error::NotALayout {
                path: dir,
                why: format!("unsupported oci-layout {}", text.trim()),
            });
        }
        Ok(Layout { dir })
    }

    /// Opens a layout, creating the directory, `oci-layout`, `blobs/sha256` and an empty
    /// `index.json` where they are missing.
    pub fn open_or_create(dir: impl AsRef<Path>) -> Result<Layout> {
        let dir = dir.as_ref().to_path_buf();
        if dir.join(LAYOUT_FILE).exists() {
            // An existing layout that lost its index.json is reported, not silently emptied.
            return Layout::open(&dir);
        }
        fs::create_dir_all(dir.join("blobs").join("sha256")).with_path("create", &dir)?;
        let layout = Layout { dir };
        let _lock = layout.lock()?;
        if !layout.index_path().exists() {
            layout.write_index(&empty_index())?;
        }
        atomic_write(&layout.dir, LAYOUT_FILE, LAYOUT_CONTENT.as_bytes())?;
        Ok(layout)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join(INDEX_FILE)
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Starts writing a new blob; `commit` checks and moves it into place.
    pub fn blob_writer(&self) -> Result<BlobWriter<'_>> {
        let tmp = self.temp_file("blob")?;
        Ok(BlobWriter {
            layout: self,
            inner: HashingWriter::new(BufWriter::with_capacity(256 << 10, tmp), Algorithm::Sha256),
        })
    }

    /// Stores `data` as a sha256 blob.
    pub fn put_blob_bytes(&self, data: &[u8]) -> Result<Digest> {
        let digest = Digest::sha256_of(data);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut w = self.blob_writer()?;
        w.write_all(data)
            .map_err(|e| Error::stream("write blob", e))?;
        w.commit(Some(&digest))?;
        Ok(digest)
    }

    /// Streams `reader` into a blob. With `expected`, content that does not hash to it is
    /// refused and nothing is stored.
    pub fn put_blob(
        &self,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let mut w = self.blob_writer()?;
        io::copy(reader, &mut w).map_err(|e| Error::stream("write blob", e))?;
        w.commit(expected)
    }

    /// Opens a blob for streaming; wrap in [`VerifyingReader`] to check it as it is read.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::BlobMissing(digest.clone())
            } else {
                Error::io("open", path, e)
            }
        })
    }

    /// Opens a blob that is checked against its digest (and size) as it is read.
    pub fn open_blob_verified(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<VerifyingReader<File>> {
        Ok(VerifyingReader::new(
            self.open_blob(digest)?,
            digest.clone(),
            size,
        ))
    }

    /// Reads a small blob whole, verifying its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let f = self.open_blob(digest)?;
        let len = f
            .metadata()
            .with_path("stat", self.blob_path(digest))?
            .len();
        if len > MAX_JSON_BLOB {
            return Err(Error::corrupt(
                format!("blob {digest}"),
                format!(
                    "{len} bytes is more than the {MAX_JSON_BLOB} allowed for a manifest or config"
                ),
            ));
        }
        let mut data = Vec::with_capacity(len as usize);
        VerifyingReader::new(f, digest.clone(), None)
            .read_to_end(&mut data)
            .map_err(|e| Error::corrupt(format!("blob {digest}"), e))?;
        Ok(data)
    }

    /// Reads and parses a JSON blob (manifest, index, config), verifying its digest.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, digest: &Digest) -> Result<T> {
        let data = self.read_blob(digest)?;
        serde_json::from_slice(&data).map_err(|e| Error::corrupt(format!("blob {digest}"), e))
    }

    /// Removes a blob; a blob already gone is not an error.
    pub fn remove_blob(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }

    /// Every blob in the layout.
    pub fn all_blobs(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        let blobs = self.dir.join("blobs");
        for alg in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = blobs.join(alg.as_str());
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("list", dir, e)),
            };
            for entry in entries {
                let entry = entry.with_path("list", &dir)?;
                let name = entry.file_name();
                if let Ok(d) =
                    Digest::parse(&format!("{}:{}", alg.as_str(), name.to_string_lossy()))
                {
                    out.push(d);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Reads `index.json`. A missing or malformed one is an error naming the file.
    pub fn read_index(&self) -> Result<ImageIndex> {
        let path = self.index_path();
        let data = fs::read(&path).with_path("read", &path)?;
        parse_index(&data).map_err(|why| Error::corrupt(format!("{}", path.display()), why))
    }

    /// Runs `f` on the index's manifest list under the exclusive lock and writes the result back
    /// atomically. If `f` fails, nothing is written.
    pub fn update_index<R>(&self, f: impl FnOnce(&mut Vec<Descriptor>) -> Result<R>) -> Result<R> {
        let lock = self.lock()?;
        self.update_index_locked(&lock, f)
    }

    /// [`Layout::update_index`] for a caller that already holds [`Layout::lock`] (taking it
    /// again from the same process would wait for ever).
    pub fn update_index_locked<R>(
        &self,
        _lock: &Flock<File>,
        f: impl FnOnce(&mut Vec<Descriptor>) -> Result<R>,
    ) -> Result<R> {
        let mut index = self.read_index()?;
        let mut manifests = index.manifests().clone();
        let r = f(&mut manifests)?;
        index.set_manifests(manifests);
        self.write_index(&index)?;
        Ok(r)
    }

    /// A temporary file in the layout, `.berth-KIND-PID_START-XXXXXX`: named after this process
    /// (see [`Owner`]) and locked (`flock`) for as long as it is open, so that the next writer
    /// can tell it from the leftovers of a writer that was killed ([`Layout::sweep_stale`]).
    pub fn temp_file(&self, kind: &str) -> Result<NamedTempFile> {
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".berth-{kind}-{}-", Owner::me().token()))
            .tempfile_in(&self.dir)
            .with_path("create a temporary file in", &self.dir)?;
        // Best effort: a file system without flock leaves the pid check alone.
        let _ = rustix::fs::flock(
            tmp.as_file(),
            rustix::fs::FlockOperation::NonBlockingLockExclusive,
        );
        Ok(tmp)
    }

    /// Removes the temporary files that writers which are gone (killed, or crashed) left in the
    /// layout: the names [`Layout::temp_file`] and [`atomic_write`] make whose owner is not
    /// alive and whose lock nobody holds. A readdir of the layout directory, nothing deeper.
    /// Returns what was removed with its disk usage; files that cannot be removed are left for
    /// `img-prune` to report.
    pub fn sweep_stale(&self) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        if !Owner::can_tell() {
            return out;
        }
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return out;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let TempKind::Owned(owner) = classify_layout_name(name) else {
                continue;
            };
            if owner.alive() {
                continue;
            }
            let path = e.path();
            if let Some(bytes) = remove_unlocked_file(&path) {
                out.push((path, bytes));
            }
        }
        out
    }

    /// Holds the layout's exclusive lock until dropped; used by whoever must read, decide and
    /// write without another writer in between (tagging, removal, garbage collection).
    pub fn lock(&self) -> Result<Flock<File>> {
        self.flock(LOCK_FILE, FlockArg::LockExclusive)
    }

    /// Held (shared) by every operation that writes blobs and then names them (pull, import,
    /// commit, load), from its first blob to its tag, so that a prune (which takes it
    /// exclusively) never deletes a blob that is about to be tagged.
    ///
    /// Taking it also sweeps what writers that were killed left behind ([`Layout::sweep_stale`],
    /// and the image records' temporaries),
    /// so that their temporary files do not outlive them until the next prune.
    pub fn writer_guard(&self) -> Result<Flock<File>> {
        let guard = self.flock(GC_LOCK_FILE, FlockArg::LockShared)?;
        self.sweep_stale();
        crate::image::sweep_record_temporaries(self);
        Ok(guard)
    }

    /// Held exclusively by a prune: no writer is between writing a blob and naming it.
    pub fn gc_guard(&self) -> Result<Flock<File>> {
        self.flock(GC_LOCK_FILE, FlockArg::LockExclusive)
    }

    /// [`Layout::gc_guard`] if no writer holds [`Layout::writer_guard`] now, else None: for an
    /// `img-rm`, which deletes blobs only when no writer may be about to name them.
    pub fn try_gc_guard(&self) -> Result<Option<Flock<File>>> {
        match self.flock(GC_LOCK_FILE, FlockArg::LockExclusiveNonblock) {
            Ok(g) => Ok(Some(g)),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Locks the file `name` in the layout (made if missing) as `how` says, until dropped.
    fn flock(&self, name: &str, how: FlockArg) -> Result<Flock<File>> {
        Ok(berth_fsutil::lock(&self.dir.join(name), how)?)
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let data = serde_json::to_vec(index).map_err(|e| Error::corrupt("index.json", e))?;
        atomic_write(&self.dir, INDEX_FILE, &data)
    }
}

fn parse_index(data: &[u8]) -> std::result::Result<ImageIndex, String> {
    let v: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| format!("not JSON: {e}"))?;
    if v.get("schemaVersion").and_then(|s| s.as_u64()) != Some(2) {
        return Err("schemaVersion is not 2".into());
    }
    serde_json::from_value(v).map_err(|e| format!("not an OCI image index: {e}"))
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("static index")
}

/// Writes `name` in `dir` by temporary file, fsync and rename, then fsyncs the directory.
pub fn atomic_write(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    atomic_write_mode(dir, name, data, 0o644)
}

/// As `atomic_write`, readable by the owner only (0600): containers' configs and records, which
/// hold their environment (`-e DB_PASSWORD=…`), as Docker keeps its own.
pub fn atomic_write_private(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    atomic_write_mode(dir, name, data, 0o600)
}

fn atomic_write_mode(dir: &Path, name: &str, data: &[u8], mode: u32) -> Result<()> {
    let how = berth_fsutil::Atomic {
        mode,
        temp_prefix: &format!(".{name}.{}-", Owner::me().token()),
        durable: true,
    };
    Ok(berth_fsutil::write_atomic(dir, name, data, &how)?)
}

/// fsyncs a directory so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    Ok(berth_fsutil::sync_dir(dir)?)
}

/// A blob being written. Dropping it without `commit` removes the temporary file.
pub struct BlobWriter<'a> {
    layout: &'a Layout,
    inner: HashingWriter<BufWriter<NamedTempFile>>,
}

impl BlobWriter<'_> {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.size()
    }

    /// Finishes the blob: checks it against `expected` (when given), fsyncs it and renames it
    /// to its digest. Content that does not match is discarded and the error says so.
    pub fn commit(self, expected: Option<&Digest>) -> Result<(Digest, u64)> {
        let (digest, size, buf) = self.inner.finish();
        if let Some(want) = expected {
            if *want != digest {
                return Err(Error::corrupt(
                    format!("blob {want}"),
                    format!("content hashes to {digest}"),
                ));
            }
        }
        let tmp = buf
            .into_inner()
            .map_err(|e| Error::stream("write blob", e.into_error()))?;
        let target = self.layout.blob_path(&digest);
        // Kept: from here the path is ours to remove when publishing fails.
        let (file, path) = tmp
            .keep()
            .map_err(|e| Error::io("keep", e.file.path(), e.error))?;
        berth_fsutil::publish(&file, &path, &target, 0o644).map_err(|e| {
            let _ = fs::remove_file(&path);
            Error::from(e)
        })?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The process that made a temporary file or directory, as its name records it: pid and start
/// time (clock ticks after boot, `/proc/PID/stat` field 22), so that a pid reused by another
/// process does not keep a dead writer's leftovers alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// 0 when unknown (names written by older versions carry the pid only).
    pub start: u64,
}

impl Owner {
    /// This process.
    pub fn me() -> Owner {
        static ME: std::sync::OnceLock<Owner> = std::sync::OnceLock::new();
        *ME.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                pid,
                start: berth_runtime::state::start_time(pid as i32).unwrap_or(0),
            }
        })
    }

    /// Whether this system shows process start times (a mounted /proc); without them no
    /// leftover is ever judged stale.
    pub fn can_tell() -> bool {
        Owner::me().start != 0
    }

    /// `PID_START`, as names carry it.
    pub fn token(&self) -> String {
        format!("{}_{}", self.pid, self.start)
    }

    /// Parses [`Owner::token`], or a bare pid.
    pub fn parse(token: &str) -> Option<Owner> {
        let (pid, start) = match token.split_once('_') {
            Some((p, s)) => (p, s.parse().ok()?),
            None => (token, 0),
        };
        let pid: u32 = pid.parse().ok()?;
        (pid > 0).then_some(Owner { pid, start })
    }

    /// Whether the owner still runs (and is the process that made the name).
    pub fn alive(&self) -> bool {
        i32::try_from(self.pid).is_ok_and(|pid| berth_runtime::state::alive(pid, self.start))
    }
}

/// What a name in a layout directory is, as far as leftovers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempKind {
    /// Not a temporary name.
    NotTemp,
    /// A temporary file naming its owner.
    Owned(Owner),
    /// A temporary blob of an older berth, which did not name its owner: only a prune, which
    /// excludes every writer, removes it.
    Anonymous,
    /// A resumable download (`.berth-partial-…`): kept for the next pull of that blob.
    Partial,
}

/// The prefixes of temporary files in a layout: blobs being written, archives being loaded, and
/// the files [`atomic_write`] replaces `index.json` and `oci-layout` with.
const TEMP_PREFIXES: [&str; 4] = [
    ".berth-blob-",
    ".berth-load-",
    ".index.json.",
    ".oci-layout.",
];

/// Classifies a name in a layout directory; see [`TempKind`].
pub fn classify_layout_name(name: &str) -> TempKind {
    if name.starts_with(".berth-partial-") {
        return TempKind::Partial;
    }
    for prefix in TEMP_PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            return match rest.split_once('-').and_then(|(t, _)| Owner::parse(t)) {
                Some(o) => TempKind::Owned(o),
                None if prefix.starts_with(".berth-") => TempKind::Anonymous,
                None => TempKind::NotTemp,
            };
        }
    }
    TempKind::NotTemp
}

/// Removes the file `path` unless a live process holds its `flock` (its writer, in another pid
/// namespace than ours, or a pid check that raced): returns its disk usage when it was removed.
pub(crate) fn remove_unlocked_file(path: &Path) -> Option<u64> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .ok()?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
    let md = f.metadata().ok()?;
    if !md.is_file() {
        return None;
    }
    fs::remove_file(path).ok()?;
    Some(md.blocks() * 512)
}

/// Returns a copy of `desc` with annotation `key` set to `value`.
pub fn annotate(desc: &Descriptor, key: &str, value: &str) -> Descriptor {
    let mut d = desc.clone();
    let mut ann: HashMap<String, String> = d.annotations().clone().unwrap_or_default();
    ann.insert(key.to_string(), value.to_string());
    d.set_annotations(Some(ann));
    d
}

/// The annotation `key` of `desc`, if any.
pub fn annotation<'d>(desc: &'d Descriptor, key: &str) -> Option<&'d str> {
    desc.annotations().as_ref()?.get(key).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(t.path().join("images")).unwrap();
        (t, l)
    }

    #[test]
    fn creates_a_valid_layout() {
        let (_t, l) = layout();
        assert_eq!(
            fs::read_to_string(l.dir().join("oci-layout")).unwrap(),
            LAYOUT_CONTENT
        );
        assert!(l.read_index().unwrap().manifests().is_empty());
        assert!(Layout::open(l.dir()).is_ok());
    }

    #[test]
    fn open_refuses_a_plain_directory() {
        let t = tempfile::tempdir().unwrap();
        let err = Layout::open(t.path()).unwrap_err();
        assert!(err.to_string().contains("no oci-layout"), "{err}");
    }

    #[test]
    fn blob_round_trip_and_verification() {
        let (_t, l) = layout();
        let d = l.put_blob_bytes(b"hello").unwrap();
        assert_eq!(l.read_blob(&d).unwrap(), b"hello");
        let (d2, n) = l.put_blob(&mut &b"hello"[..], Some(&d)).unwrap();
        assert_eq!((d2, n), (d.clone(), 5));
        // A wrong expected digest stores nothing.
        let before = l.all_blobs().unwrap();
        let err = l.put_blob(&mut &b"hellO"[..], Some(&d)).unwrap_err();
        assert!(err.to_string().contains("content hashes to"), "{err}");
        assert_eq!(l.all_blobs().unwrap(), before);
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(l.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".berth-blob-"))
            .collect();
        assert!(leftovers.is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(l.blob_path(&d)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "blobs are world-readable");
        let mode = fs::metadata(l.index_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "index.json is world-readable");
        // Corrupt the blob on disk: reading it is refused.
        fs::write(l.blob_path(&d), b"jello").unwrap();
        let err = l.read_blob(&d).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
    }

    #[test]
    fn corrupt_index_is_an_error_and_update_changes_nothing() {
        let (_t, l) = layout();
        fs::write(l.index_path(), b"{not json").unwrap();
        let err = l.read_index().unwrap_err();
        assert!(err.to_string().contains("index.json"), "{err}");
        assert!(l.update_index(|_| Ok(())).is_err());
        assert_eq!(fs::read(l.index_path()).unwrap(), b"{not json");
    }

    #[test]
    fn owner_tokens_round_trip_and_names_are_classified() {
        let me = Owner::me();
        assert_eq!(Owner::parse(&me.token()), Some(me));
        assert!(me.alive());
        assert_eq!(Owner::parse("42"), Some(Owner { pid: 42, start: 0 }));
        assert_eq!(Owner::parse("x_1"), None);
        assert_eq!(Owner::parse("0_5"), None);
        assert!(
            !Owner {
                start: me.start + 1,
                ..me
            }
            .alive(),
            "a reused pid"
        );
        let t = me.token();
        assert_eq!(
            classify_layout_name(&format!(".berth-blob-{t}-aB3x9Z")),
            TempKind::Owned(me)
        );
        assert_eq!(
            classify_layout_name(&format!(".index.json.{t}-aB3x9Z")),
            TempKind::Owned(me)
        );
        assert_eq!(
            classify_layout_name(".berth-blob-aB3x9Z"),
            TempKind::Anonymous
        );
        assert_eq!(
            classify_layout_name(".berth-partial-sha256-00"),
            TempKind::Partial
        );
        assert_eq!(
            classify_layout_name(".index.json.aB3x9Z"),
            TempKind::NotTemp
        );
        assert_eq!(classify_layout_name("index.json"), TempKind::NotTemp);
        assert_eq!(classify_layout_name(".berth-gc.lock"), TempKind::NotTemp);
    }

    #[test]
    fn the_sweep_removes_only_what_dead_writers_left() {
        let (_t, l) = layout();
        if !Owner::can_tell() {
            return;
        }
        let me = Owner::me();
        let dead = Owner {
            pid: 999_999_999,
            start: 1,
        };
        let reused = Owner {
            start: me.start + 1,
            ..me
        };
        let put = |name: String| {
            let p = l.dir().join(name);
            fs::write(&p, vec![7u8; 8192]).unwrap();
            p
        };
        let stale = [
            put(format!(".berth-blob-{}-aaaaaa", dead.token())),
            put(format!(".berth-load-{}-aaaaaa", reused.token())),
            put(format!(".index.json.{}-aaaaaa", dead.token())),
            put(".berth-blob-999999999-aaaaaa".into()),
        ];
        let mine = put(format!(".berth-blob-{}-bbbbbb", me.token()));
        let live = l.temp_file("blob").unwrap();
        // A writer whose pid we cannot see (another pid namespace) still holds its file's lock.
        let locked = put(format!(".berth-blob-{}-cccccc", dead.token()));
        let held = File::open(&locked).unwrap();
        rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        let others = [
            put(".berth-blob-dddddd".into()),
            put(".berth-partial-sha256-00".into()),
        ];

        let mut swept: Vec<PathBuf> = l
            .sweep_stale()
            .into_iter()
            .map(|(p, n)| {
                assert!(n >= 8192, "its disk usage: {n}");
                p
            })
            .collect();
        swept.sort();
        let mut want = stale.to_vec();
        want.sort();
        assert_eq!(swept, want);
        for p in stale {
            assert!(!p.exists());
        }
        for p in [&mine, live.path(), &locked, &others[0], &others[1]] {
            assert!(p.exists(), "{} stays", p.display());
        }
        // The writer guard sweeps as it is taken.
        drop(held);
        drop(l.writer_guard().unwrap());
        assert!(!locked.exists());
        assert!(live.path().exists());
    }

    #[test]
    fn try_gc_guard_fails_while_a_writer_runs() {
        let (_t, l) = layout();
        let w = l.writer_guard().unwrap();
        assert!(l.try_gc_guard().unwrap().is_none());
        drop(w);
        let g = l.try_gc_guard().unwrap();
        assert!(g.is_some());
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let (_t, l) = layout();
        let d = l.put_blob_bytes(b"{}").unwrap();
        std::thread::scope(|s| {
            for i in 0..8 {
                let l = l.clone();
                let d = d.clone();
                s.spawn(move || {
                    for j in 0..10 {
                        l.update_index(|m| {
                            let desc = Descriptor::new(MediaType::ImageManifest, 2, &d);
                            m.push(annotate(&desc, REF_NAME, &format!("t{i}-{j}")));
                            Ok(())
                        })
                        .unwrap();
                    }
                });
            }
        });
        assert_eq!(l.read_index().unwrap().manifests().len(), 80);
    }
}
