//! Whether an image is whole in the store, removing images, and the blobs nothing reaches.

use std::collections::{HashMap, HashSet};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::{annotation, Layout, ORIGINAL, REF_NAME};

use super::*;

/// Whether a layer's media type says it may be left out of a layout (Docker's foreign layers,
/// OCI's non-distributable ones), as registries and skopeo leave them out.
pub(crate) fn optional_layer(media_type: &str) -> bool {
    media_type.contains("foreign") || media_type.contains("nondistributable")
}

/// Checks that the image `desc` names is whole in `layout`: its manifest and config and every
/// layer (but foreign ones) for a manifest; for an index, at least one of its manifests, and each
/// one present whole. Says which blob is missing or unreadable otherwise.
pub fn check_complete(layout: &Layout, desc: &Descriptor) -> std::result::Result<(), String> {
    fn check(layout: &Layout, digest: &Digest, depth: usize) -> std::result::Result<(), String> {
        let raw: Value = layout.read_json(digest).map_err(|e| match e {
            Error::BlobMissing(_) => format!("its manifest {digest} is missing from the store"),
            e => format!("its manifest {digest} is unreadable: {e}"),
        })?;
        let need = |d: &Value, what: &str| -> std::result::Result<(), String> {
            let d = d
                .as_str()
                .and_then(|s| Digest::parse(s).ok())
                .ok_or_else(|| format!("manifest {digest} has no valid {what} digest"))?;
            if layout.has_blob(&d) {
                Ok(())
            } else {
                Err(format!("its {what} {d} is missing from the store"))
            }
        };
        if let Some(children) = raw.get("manifests").filter(|_| raw.get("layers").is_none()) {
            let children = children.as_array().map(Vec::as_slice).unwrap_or_default();
            if depth >= 4 {
                return Err(format!(
                    "image index {digest} is nested more than four deep"
                ));
            }
            let mut present = 0;
            for c in children {
                let d = c
                    .get("digest")
                    .and_then(Value::as_str)
                    .and_then(|s| Digest::parse(s).ok())
                    .ok_or_else(|| format!("image index {digest} names an invalid digest"))?;
                if layout.has_blob(&d) {
                    check(layout, &d, depth + 1)?;
                    present += 1;
                }
            }
            if present == 0 {
                return Err(format!(
                    "none of the manifests of image index {digest} is in the store"
                ));
            }
            return Ok(());
        }
        need(&raw["config"]["digest"], "config")?;
        for l in raw["layers"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if !l["mediaType"].as_str().is_some_and(optional_layer) {
                need(&l["digest"], "layer")?;
            }
        }
        Ok(())
    }
    let digest = Digest::try_from(desc.digest()).map_err(|e| e.to_string())?;
    check(layout, &digest, 0)?;
    // The manifest an OCI entry stands for (the registry's) is part of the image too.
    match annotation(desc, ORIGINAL).map(Digest::parse) {
        Some(Ok(o)) if o != digest => check(layout, &o, 0),
        Some(Err(e)) => Err(format!("its {ORIGINAL} annotation is not a digest: {e}")),
        _ => Ok(()),
    }
}

/// What `remove` did, in Docker's words.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Removed {
    /// The names that were untagged, as Docker prints them.
    pub untagged: Vec<String>,
    /// The image IDs that were deleted with their blobs.
    pub deleted: Vec<String>,
}

/// The containers that use each image (by image ID), running ones apart: what `img-rm` and
/// `img-prune` must not break.
#[derive(Debug, Default, Clone)]
pub struct ImageUsers {
    /// Images with a running (or paused, restarting) container: one such container's ID.
    pub running: HashMap<Digest, String>,
    /// Images with a container that is not running: one such container's ID.
    pub stopped: HashMap<Digest, String>,
}

impl ImageUsers {
    /// The containers of `root`, each counted running only while its monitor or init lives.
    pub fn of(root: &crate::root::Root) -> Result<ImageUsers> {
        let mut users = ImageUsers::default();
        let dir = root.containers_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(users),
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let Ok(data) = std::fs::read(path.join("state.json")) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&data) else {
                continue;
            };
            let Some(image) = v
                .get("Image")
                .and_then(Value::as_str)
                .and_then(|s| Digest::parse(s).ok())
            else {
                continue;
            };
            let id = v
                .get("Id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .unwrap_or_else(|| {
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
            let running = serde_json::from_value::<crate::container::Container>(v)
                .map(|c| {
                    crate::container::liveness::says_live(
                        &crate::container::liveness::refresh(&c).state,
                    )
                })
                .unwrap_or(false);
            let map = if running {
                &mut users.running
            } else {
                &mut users.stopped
            };
            map.entry(image).or_insert(id);
        }
        Ok(users)
    }

    /// Users of no kind: for a layout that is not the root's store.
    pub fn none() -> ImageUsers {
        ImageUsers::default()
    }

    /// Whether any container uses the image.
    pub fn uses(&self, id: &Digest) -> bool {
        self.running.contains_key(id) || self.stopped.contains_key(id)
    }

    /// One container that uses the image, a running one first.
    pub fn any(&self, id: &Digest) -> Option<&String> {
        self.running.get(id).or_else(|| self.stopped.get(id))
    }
}

fn short_id(c: &str) -> &str {
    c.get(..12).unwrap_or(c)
}

/// Removes what `query` names, as Docker 20.10's `docker rmi` does:
/// - a name is untagged (without `force`, not when it is the image's only name and a container
///   uses the image); with its last name the image is deleted, unless a running container uses
///   it: then it stays, untagged, as Docker leaves it. With `force` an image only stopped
///   containers use is deleted all the same (the snapshots those containers need stay).
/// - an image ID deletes the image with all its names; several names need `force`, and so does
///   an image a stopped container uses. An image a running container uses is never deleted
///   ("cannot be forced").
pub fn remove(layout: &Layout, query: &str, force: bool, users: &ImageUsers) -> Result<Removed> {
    // Blobs go only when no writer holds the writer guard (it may be about to name some of them):
    // otherwise they stay, unreachable, for the next img-prune. Taken before the index lock, in
    // the order every other holder of both takes them.
    let gc = layout.try_gc_guard()?;
    // One lock from reading the index to deleting blobs: no tag appears or moves in between.
    let lock = layout.lock()?;
    let catalog = Catalog::load(layout)?;
    let item = catalog.find(query)?;
    let image = match &item.image {
        Ok(image) => image,
        Err(_) => return remove_broken(layout, &lock, gc.is_some(), &catalog, item, query, force),
    };
    let id = image.id().clone();
    let names: Vec<&Entry> = catalog.entries_of(&id).collect();
    let by_name = item.entry.name.is_some()
        && Reference::parse(query).is_ok_and(|r| {
            item.entry
                .reference
                .as_ref()
                .is_some_and(|er| r.digest().is_none() && *er == r.clone().with_default_tag())
        });
    let tagged: Vec<&Entry> = names.iter().copied().filter(|e| e.name.is_some()).collect();
    let to_untag: Vec<&Entry> = if by_name {
        vec![&item.entry]
    } else {
        tagged.clone()
    };
    let last_name = to_untag.len() == tagged.len();
    let conflict = |why: String, hard: bool| {
        let how = if hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        Error::Conflict(format!("unable to delete {} ({how}) - {why}", id.short()))
    };
    if by_name {
        if let Some(user) = users.any(&id).filter(|_| last_name && !force) {
            return Err(Error::Conflict(format!(
                "unable to remove repository reference \"{query}\" (must force) - container {} is using its referenced image {}",
                short_id(user),
                id.short()
            )));
        }
    } else {
        // Docker's order: running containers, other names, stopped containers.
        if let Some(user) = users.running.get(&id) {
            return Err(conflict(
                format!(
                    "image is being used by running container {}",
                    short_id(user)
                ),
                true,
            ));
        }
        if tagged.len() > 1 && !force {
            return Err(conflict(
                "image is referenced in multiple repositories".into(),
                false,
            ));
        }
        if let Some(user) = users.stopped.get(&id).filter(|_| !force) {
            return Err(conflict(
                format!(
                    "image is being used by stopped container {}",
                    short_id(user)
                ),
                false,
            ));
        }
    }
    // An image a running container uses stays, untagged (Docker: untagged, not deleted).
    let delete = last_name && !users.running.contains_key(&id);
    let untag_names: HashSet<String> = to_untag.iter().filter_map(|e| e.name.clone()).collect();
    let digests: HashSet<Digest> = names.iter().map(|e| e.digest.clone()).collect();
    let mut removed = Removed {
        untagged: to_untag.iter().filter_map(|e| e.familiar()).collect(),
        ..Removed::default()
    };
    layout.update_index_locked(&lock, |m| {
        m.retain(|e| {
            let Ok(d) = Digest::try_from(e.digest()) else {
                return true;
            };
            match annotation(e, REF_NAME) {
                Some(n) => !untag_names.contains(n),
                None => !(delete && digests.contains(&d)),
            }
        });
        if !delete {
            // Keep the image reachable, untagged, when its names go but it must stay.
            for d in &digests {
                if !m
                    .iter()
                    .any(|e| Digest::try_from(e.digest()).is_ok_and(|x| x == *d))
                {
                    if let Some(e) = names.iter().find(|e| e.digest == *d) {
                        m.push(bare(&e.descriptor));
                    }
                }
            }
        }
        Ok(())
    })?;
    if delete {
        if gc.is_some() {
            let mut candidates = HashSet::new();
            for e in &names {
                candidates.extend(blobs_of(layout, &e.descriptor));
            }
            delete_unreachable_locked(layout, &lock, &candidates)?;
        }
        removed.deleted.push(id.to_string());
        forget_removed(layout);
    }
    Ok(removed)
}

/// [`remove`] for an entry whose image cannot be read (its manifest or config is missing or
/// corrupt: a name an older berth left pointing at removed blobs, a store damaged by hand). A
/// name is untagged; a digest removes every entry of it, which needs `force` when it has several
/// names. Whatever of it is still stored and unreachable goes.
fn remove_broken(
    layout: &Layout,
    lock: &nix::fcntl::Flock<std::fs::File>,
    may_delete: bool,
    catalog: &Catalog,
    item: &Item,
    query: &str,
    force: bool,
) -> Result<Removed> {
    let digest = item.entry.digest.clone();
    let by_name = item.entry.name.is_some()
        && Reference::parse(query).is_ok_and(|r| {
            r.digest().is_none()
                && item
                    .entry
                    .reference
                    .as_ref()
                    .is_some_and(|er| *er == r.clone().with_default_tag())
        });
    let all: Vec<&Entry> = catalog
        .items
        .iter()
        .filter(|i| i.entry.digest == digest)
        .map(|i| &i.entry)
        .collect();
    let named: Vec<&Entry> = all.iter().copied().filter(|e| e.name.is_some()).collect();
    if !by_name && named.len() > 1 && !force {
        return Err(Error::Conflict(format!(
            "unable to delete {} (must be forced): image is referenced in multiple repositories ({})",
            digest.short(),
            named.iter().filter_map(|e| e.familiar()).collect::<Vec<_>>().join(", ")
        )));
    }
    let gone: Vec<&Entry> = if by_name { vec![&item.entry] } else { all };
    let untag: HashSet<&str> = gone.iter().filter_map(|e| e.name.as_deref()).collect();
    let last = !by_name || named.len() <= 1;
    layout.update_index_locked(lock, |m| {
        m.retain(|e| match annotation(e, REF_NAME) {
            Some(n) => !untag.contains(n),
            None => !(last && Digest::try_from(e.digest()).is_ok_and(|d| d == digest)),
        });
        Ok(())
    })?;
    let mut removed = Removed {
        untagged: gone.iter().filter_map(|e| e.familiar()).collect(),
        ..Removed::default()
    };
    if last {
        if may_delete {
            delete_unreachable_locked(layout, lock, &blobs_of(layout, &item.entry.descriptor))?;
        }
        removed.deleted.push(digest.to_string());
    }
    Ok(removed)
}

/// The blobs an index entry reaches: itself, and for manifests their config and layers, for
/// indexes their manifests, recursively. Blobs that are missing or unreadable are skipped.
pub fn blobs_of(layout: &Layout, desc: &Descriptor) -> HashSet<Digest> {
    let mut out = HashSet::new();
    let mut todo = vec![desc.clone()];
    // And the manifest (or index) the entry is the OCI equivalent of.
    if let Some(o) = annotation(desc, ORIGINAL).and_then(|o| Digest::parse(o).ok()) {
        todo.push(Descriptor::new(MediaType::ImageIndex, 0, &o));
    }
    while let Some(d) = todo.pop() {
        let Ok(digest) = Digest::try_from(d.digest()) else {
            continue;
        };
        if !out.insert(digest.clone()) {
            continue;
        }
        let is_json = matches!(
            d.media_type(),
            MediaType::ImageManifest | MediaType::ImageIndex
        ) || matches!(d.media_type(), MediaType::Other(m) if m == DOCKER_MANIFEST || m == DOCKER_MANIFEST_LIST);
        if !is_json {
            continue;
        }
        let Ok(v) = layout.read_json::<Value>(&digest) else {
            continue;
        };
        if let Ok(m) = serde_json::from_value::<ImageManifest>(v.clone()) {
            todo.push(m.config().clone());
            todo.extend(m.layers().iter().cloned());
        } else if let Ok(i) = serde_json::from_value::<ImageIndex>(v) {
            todo.extend(i.manifests().iter().cloned());
        }
    }
    out
}

/// Every blob reachable from `index.json`, and from the build cache's records (gc roots too).
pub fn reachable_blobs(layout: &Layout) -> Result<HashSet<Digest>> {
    let index = layout.read_index()?;
    let mut out = crate::build::cache::reachable_blobs(layout);
    for d in index.manifests() {
        out.extend(blobs_of(layout, d));
    }
    Ok(out)
}

/// Blobs in the layout that nothing in `index.json` reaches (what a prune may delete).
pub fn unreferenced_blobs(layout: &Layout) -> Result<Vec<Digest>> {
    let reachable = reachable_blobs(layout)?;
    Ok(layout
        .all_blobs()?
        .into_iter()
        .filter(|d| !reachable.contains(d))
        .collect())
}

/// Deletes those of `candidates` that nothing in the index reaches, under the layout lock so
/// that no tag can appear in between.
pub fn delete_unreachable(layout: &Layout, candidates: &HashSet<Digest>) -> Result<Vec<Digest>> {
    let lock = layout.lock()?;
    delete_unreachable_locked(layout, &lock, candidates)
}

/// [`delete_unreachable`] for a caller that holds the layout lock.
pub fn delete_unreachable_locked(
    layout: &Layout,
    _lock: &nix::fcntl::Flock<std::fs::File>,
    candidates: &HashSet<Digest>,
) -> Result<Vec<Digest>> {
    let reachable = reachable_blobs(layout)?;
    let mut deleted = Vec::new();
    for d in candidates {
        if !reachable.contains(d) {
            layout.remove_blob(d)?;
            deleted.push(d.clone());
        }
    }
    deleted.sort();
    Ok(deleted)
}
