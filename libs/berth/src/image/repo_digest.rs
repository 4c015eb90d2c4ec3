//! Docker's RepoDigests: `repo@sha256:…` for the repositories an image was pulled from or
//! pushed to, never for a name that only exists locally (imported, committed, loaded, tagged).
//!
//! A pull or a push records, for the manifest or index the image came as (the entry's original), the
//! repository and the digest the registry has (`docker.io/library/busybox@sha256:…`), one line
//! each in the layout's `.berth-repo-digests/<algorithm>-<hex>`. Keyed by content, the record
//! holds across retags and loads of the same manifest, as Docker keeps repo digests per image.
//! `img-inspect` shows a record while the image still has a name in that repository (Docker
//! drops a repository's digest reference with its last tag). Written only in layouts berth
//! already writes to (they have its `index.json.lock`).

use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::reference::Reference;
use crate::store::Layout;

const DIR: &str = ".berth-repo-digests";

/// Whether berth writes to this layout (it has berth's `index.json.lock`): records are kept only
/// there, never in a foreign `--layout`.
pub(super) fn berth_writes(layout: &Layout) -> bool {
    layout.dir().join("index.json.lock").exists()
}

/// The file of the record about `key` in the record directory `dir`: `<algorithm>-<hex>`.
pub(super) fn record_file(layout: &Layout, dir: &str, key: &Digest) -> PathBuf {
    layout
        .dir()
        .join(dir)
        .join(format!("{}-{}", key.algorithm().as_str(), key.hex()))
}

/// Writes the record about `key` in `dir` atomically. Best effort: a layout berth does not
/// write to, or that cannot be written, is left alone.
pub(super) fn write_record(layout: &Layout, dir: &str, key: &Digest, bytes: &[u8]) {
    if !berth_writes(layout) {
        return;
    }
    let path = record_file(layout, dir, key);
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    let _ = crate::store::atomic_write(parent, &name.to_string_lossy(), bytes);
}

fn record_path(layout: &Layout, entry: &Digest) -> PathBuf {
    record_file(layout, DIR, entry)
}

/// The repo digests recorded for the index entry with this digest.
pub fn recorded_repo_digests(layout: &Layout, entry: &Digest) -> Vec<Reference> {
    let Ok(text) = std::fs::read_to_string(record_path(layout, entry)) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| Reference::parse(l.trim()).ok())
        .filter(|r| r.digest().is_some())
        .collect()
}

/// Records that the registry holds the image of index entry `entry` as `repo@digest` (after a
/// pull or a push). Best effort, as the sizes: a layout berth does not write to is left alone.
pub fn record_repo_digest(layout: &Layout, entry: &Digest, repo: &Reference, digest: &Digest) {
    if !berth_writes(layout) {
        return;
    }
    let Ok(_lock) = layout.lock() else { return };
    let line = format!("{}@{digest}", repo.name());
    let mut lines: Vec<String> = recorded_repo_digests(layout, entry)
        .iter()
        .map(Reference::to_string)
        .filter(|l| *l != line && Reference::parse(l).is_ok_and(|r| r.name() != repo.name()))
        .collect();
    lines.push(line);
    lines.sort();
    write_record(layout, DIR, entry, (lines.join("\n") + "\n").as_bytes());
}

/// Removes what writers killed while writing a record left in the record directories (the
/// temporary files of `atomic_write`, `.NAME.<owner>-…`, of an owner that is gone). Run by
/// every writer as it starts ([`Layout::writer_guard`]) and by a prune, so a rerun of a killed
/// tool leaves nothing behind.
pub(crate) fn sweep_record_temporaries(layout: &Layout) -> Vec<(PathBuf, u64)> {
    [DIR, super::size::SIZES_DIR, crate::build::cache::CACHE_DIR]
        .iter()
        .flat_map(|d| sweep_dead_temporaries(&layout.dir().join(d)))
        .collect()
}

/// [`sweep_record_temporaries`] in one directory.
fn sweep_dead_temporaries(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    if !crate::store::Owner::can_tell() {
        return out;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let owner = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once('.'))
            .and_then(|(_, rest)| rest.split_once('-'))
            .and_then(|(token, _)| crate::store::Owner::parse(token));
        if owner.is_some_and(|o| !o.alive()) {
            let bytes = e.metadata().map(|m| m.len()).unwrap_or(0);
            if std::fs::remove_file(e.path()).is_ok() {
                out.push((e.path(), bytes));
            }
        }
    }
    out
}

/// Removes the records of entries whose blob is gone (after a prune or an rm).
pub(crate) fn forget_removed(layout: &Layout) {
    let Ok(rd) = std::fs::read_dir(layout.dir().join(DIR)) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((alg, hex)) = name.split_once('-') else {
            continue;
        };
        if let Ok(d) = Digest::parse(&format!("{alg}:{hex}")) {
            if !layout.has_blob(&d) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
