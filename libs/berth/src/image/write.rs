//! Writing images: configs and manifests as blobs, and the `index.json` entries that name them.

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::{annotate, annotation, Layout, ORIGINAL, REF_NAME, TAG_TIME};

use super::*;

/// Serialises JSON with every object's keys sorted, so that the same content always gives the
/// same bytes and so the same digest (HashMaps in the OCI types have no stable order).
pub fn canonical_json(v: &Value) -> Vec<u8> {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_vec(&sort(v)).expect("JSON values serialise")
}

/// Writes a config and a manifest for `layers` and returns the manifest's descriptor and the
/// config digest (the image ID). Nothing is tagged.
pub fn write_image(
    layout: &Layout,
    config: &ImageConfig,
    layers: Vec<Descriptor>,
) -> Result<(Descriptor, Digest)> {
    let config = config.to_value();
    check_config(&config).map_err(|why| Error::InvalidInput(format!("image config: {why}")))?;
    let config_bytes = canonical_json(&config);
    let config_digest = layout.put_blob_bytes(&config_bytes)?;
    let config_desc = Descriptor::new(
        MediaType::ImageConfig,
        config_bytes.len() as u64,
        &config_digest,
    );
    Ok((write_manifest(layout, config_desc, layers)?, config_digest))
}

/// Writes an OCI manifest for a config already stored (kept byte for byte, so that the image ID
/// does not change) and `layers`, and returns the manifest's descriptor. Nothing is tagged.
pub fn write_manifest(
    layout: &Layout,
    config: Descriptor,
    layers: Vec<Descriptor>,
) -> Result<Descriptor> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .build()
        .map_err(|e| Error::InvalidInput(format!("manifest: {e}")))?;
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let manifest_digest = layout.put_blob_bytes(&manifest_bytes)?;
    Ok(Descriptor::new(
        MediaType::ImageManifest,
        manifest_bytes.len() as u64,
        &manifest_digest,
    ))
}

/// A descriptor for an `index.json` entry: media type, digest, size and platform of `desc`,
/// with no annotations but [`ORIGINAL`].
pub(crate) fn bare(desc: &Descriptor) -> Descriptor {
    let mut d = Descriptor::new(
        desc.media_type().clone(),
        desc.size(),
        desc.digest().clone(),
    );
    d.set_platform(desc.platform().clone());
    match annotation(desc, ORIGINAL) {
        Some(o) => annotate(&d, ORIGINAL, o),
        None => d,
    }
}

/// The OCI media type for a Docker schema 2 one (manifest, config, layers); None for a media
/// type that is OCI's already (or that OCI has no name for).
/// A manifest's layers with their OCI media types (Docker's mapped), as the store enters every
/// image: the manifest written from them is the one skopeo reads at `oci:ROOT/images:REF`.
pub fn oci_layers(manifest: &oci_spec::image::ImageManifest) -> Vec<Descriptor> {
    manifest
        .layers()
        .iter()
        .cloned()
        .map(|mut l| {
            if let Some(m) = oci_media_type(l.media_type().as_ref()) {
                l.set_media_type(m);
            }
            l
        })
        .collect()
}

pub(crate) fn oci_media_type(m: &str) -> Option<MediaType> {
    Some(match m {
        DOCKER_MANIFEST => MediaType::ImageManifest,
        DOCKER_MANIFEST_LIST => MediaType::ImageIndex,
        DOCKER_CONFIG => MediaType::ImageConfig,
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => MediaType::ImageLayerGzip,
        "application/vnd.docker.image.rootfs.diff.tar" => MediaType::ImageLayer,
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
            MediaType::Other("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip".into())
        }
        "application/vnd.docker.image.rootfs.foreign.diff.tar" => {
            MediaType::Other("application/vnd.oci.image.layer.nondistributable.v1.tar".into())
        }
        _ => return None,
    })
}

/// Whether a JSON blob is an index (or Docker manifest list) rather than a manifest.
fn is_index_json(v: &Value) -> bool {
    v.get("manifests").is_some() && v.get("layers").is_none()
}

/// The media type a manifest or index blob declares, or the OCI one its shape says.
fn declared_media_type(v: &Value) -> MediaType {
    match v.get("mediaType").and_then(Value::as_str) {
        Some(m) if !m.is_empty() => MediaType::from(m),
        _ if is_index_json(v) => MediaType::ImageIndex,
        _ => MediaType::ImageManifest,
    }
}

/// What an `index.json` entry stands for: the manifest or index the image came as (its
/// [`ORIGINAL`], with the entry's platform), or the entry itself when it has none. That is what
/// the image's digest is, and what `img-push` sends.
pub fn original_descriptor(layout: &Layout, desc: &Descriptor) -> Result<Descriptor> {
    let Some(o) = annotation(desc, ORIGINAL) else {
        return Ok(bare(desc));
    };
    let digest = Digest::parse(o)
        .map_err(|e| Error::corrupt(format!("annotation {ORIGINAL} of {}", desc.digest()), e))?;
    let bytes = layout.read_blob(&digest)?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::corrupt(format!("manifest {digest}"), e))?;
    let mut d = Descriptor::new(declared_media_type(&v), bytes.len() as u64, &digest);
    d.set_platform(desc.platform().clone());
    Ok(d)
}

/// The `index.json` entry for the image `desc` names, as skopeo and umoci read one: an OCI image
/// manifest. A manifest of OCI media types is its own entry. One of Docker's media types gets its
/// OCI equivalent (the same config and layer blobs, media types mapped, as `skopeo copy
/// docker://… oci:…` writes it), stored as a new blob; an index (or Docker manifest list) is
/// entered as its platform's manifest (this host's, else its first whole one). Either keeps the
/// manifest the image came as in [`ORIGINAL`]. Deterministic: the same `desc`, the same entry.
pub(crate) fn oci_entry(layout: &Layout, desc: &Descriptor) -> Result<Descriptor> {
    oci_entry_at(layout, desc, 0)
}

fn oci_entry_at(layout: &Layout, desc: &Descriptor, depth: usize) -> Result<Descriptor> {
    let digest = Digest::try_from(desc.digest())?;
    if depth > 4 {
        return Err(Error::corrupt(
            format!("image index {digest}"),
            "indexes nested more than four deep",
        ));
    }
    let bytes = layout.read_blob(&digest)?;
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::corrupt(format!("blob {digest}"), e))?;
    if is_index_json(&v) {
        let index: oci_spec::image::ImageIndex = serde_json::from_value(v)
            .map_err(|e| Error::corrupt(format!("image index {digest}"), e))?;
        let whole: Vec<&Descriptor> = index
            .manifests()
            .iter()
            // Attestations (platform unknown/unknown) are not images of a platform.
            .filter(|c| {
                c.platform()
                    .as_ref()
                    .is_none_or(|p| p.os().to_string() != "unknown")
                    && check_complete(layout, c).is_ok()
            })
            .collect();
        let host = Platform::host();
        let pick = whole
            .iter()
            .find(|c| {
                c.platform().as_ref().is_some_and(|p| {
                    host.matches(
                        &p.os().to_string(),
                        &p.architecture().to_string(),
                        p.variant().as_deref(),
                    )
                })
            })
            .or(whole.first())
            .ok_or_else(|| {
                Error::ImageNotFound(format!(
                    "{digest}: none of the manifests of the image index is in the store"
                ))
            })?;
        let child = oci_entry_at(layout, pick, depth + 1)?;
        let mut entry = Descriptor::new(
            child.media_type().clone(),
            child.size(),
            child.digest().clone(),
        );
        entry.set_platform(pick.platform().clone());
        return Ok(annotate(&entry, ORIGINAL, &digest.to_string()));
    }
    let mut manifest: oci_spec::image::ImageManifest = serde_json::from_value(v.clone())
        .map_err(|e| Error::corrupt(format!("manifest {digest}"), e))?;
    let declared = declared_media_type(&v);
    let mut changed =
        declared != MediaType::ImageManifest || *desc.media_type() != MediaType::ImageManifest;
    let mut config = manifest.config().clone();
    if let Some(m) = oci_media_type(config.media_type().as_ref()) {
        config.set_media_type(m);
        changed = true;
    }
    let mut layers = manifest.layers().clone();
    for l in layers.iter_mut() {
        if let Some(m) = oci_media_type(l.media_type().as_ref()) {
            l.set_media_type(m);
            changed = true;
        }
    }
    if !changed {
        let mut entry = bare(desc);
        entry.set_media_type(MediaType::ImageManifest);
        return Ok(entry);
    }
    manifest.set_media_type(Some(MediaType::ImageManifest));
    manifest.set_config(config);
    manifest.set_layers(layers);
    // Go's field order, as skopeo writes it, so that the same image gets skopeo's digest; maps of
    // more than one annotation have no stable order in the types, so those are sorted.
    let many = |a: &Option<std::collections::HashMap<String, String>>| {
        a.as_ref().is_some_and(|a| a.len() > 1)
    };
    let unstable = many(manifest.annotations())
        || many(manifest.config().annotations())
        || manifest.layers().iter().any(|l| many(l.annotations()));
    let out = if unstable {
        canonical_json(&serde_json::to_value(&manifest).expect("manifest serialises"))
    } else {
        serde_json::to_vec(&manifest).expect("manifest serialises")
    };
    let oci = layout.put_blob_bytes(&out)?;
    let mut entry = Descriptor::new(MediaType::ImageManifest, out.len() as u64, &oci);
    entry.set_platform(desc.platform().clone());
    let original = annotation(desc, ORIGINAL)
        .map(str::to_string)
        .unwrap_or_else(|| digest.to_string());
    Ok(annotate(&entry, ORIGINAL, &original))
}

/// Now, as RFC 3339 with nanoseconds in UTC, the form image configs use.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Tags `desc` as `reference`, entered as its [`oci_entry`]. An image that loses its last name
/// this way stays in the index without one (Docker's dangling `<none>` image) rather than
/// disappearing.
pub fn tag(layout: &Layout, reference: &Reference, desc: &Descriptor) -> Result<()> {
    let name = reference.to_string();
    tag_named(layout, &name, desc, true, &|n: &str| {
        n == name || Reference::parse_with_default_tag(n).is_ok_and(|r| r == *reference)
    })
}

/// Tags `desc` with `name` verbatim, as skopeo names images in a layout it does not own
/// (`oci:DIR:latest`): the descriptor as given too (an index stays an index), not its
/// [`oci_entry`].
pub fn tag_raw(layout: &Layout, name: &str, desc: &Descriptor) -> Result<()> {
    tag_named(layout, name, desc, false, &|n: &str| n == name)
}

fn tag_named(
    layout: &Layout,
    name: &str,
    desc: &Descriptor,
    convert: bool,
    same_name: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let now = now_rfc3339();
    layout.update_index(|m| {
        // Under the lock every blob deletion takes: what is checked here stays until the
        // index names it, and a name never points at blobs an img-rm removed meanwhile.
        check_complete(layout, desc).map_err(|why| incomplete(desc, Some(name), why))?;
        let entry = if convert {
            oci_entry(layout, desc)?
        } else {
            bare(desc)
        };
        let new_digest = entry.digest().clone();
        let original = desc.digest().clone();
        let mut replaced = Vec::new();
        m.retain(|e| {
            let named = annotation(e, REF_NAME);
            if named.is_some_and(same_name) {
                replaced.push(e.clone());
                return false;
            }
            // An untagged entry for the image being tagged is now redundant (also one an older
            // berth wrote, for the original manifest).
            !(named.is_none() && (*e.digest() == new_digest || *e.digest() == original))
        });
        m.push(annotate(&annotate(&entry, REF_NAME, name), TAG_TIME, &now));
        for old in replaced {
            if !m.iter().any(|e| e.digest() == old.digest()) {
                m.push(bare(&old));
            }
        }
        if convert {
            upgrade_older_entries(layout, m);
        }
        Ok(())
    })
}

/// Entries an older berth wrote with Docker's media types (a registry's schema 2 manifest or
/// manifest list as pulled, which skopeo and umoci skip) become their [`oci_entry`], keeping
/// their names and tag times; one that cannot be read stays as it is. skopeo never writes
/// Docker's media types into a layout, so nothing it wrote is touched.
fn upgrade_older_entries(layout: &Layout, m: &mut [Descriptor]) {
    for e in m.iter_mut() {
        let t = e.media_type().to_string();
        if (t != DOCKER_MANIFEST && t != DOCKER_MANIFEST_LIST) || check_complete(layout, e).is_err()
        {
            continue;
        }
        let Ok(mut new) = oci_entry(layout, e) else {
            continue;
        };
        let mut ann = e.annotations().clone().unwrap_or_default();
        if let Some(o) = annotation(&new, ORIGINAL) {
            ann.insert(ORIGINAL.to_string(), o.to_string());
        }
        new.set_annotations(Some(ann));
        *e = new;
    }
}

/// Adds `desc` to the index without a name, unless the index already has an entry for it.
pub fn add_untagged(layout: &Layout, desc: &Descriptor) -> Result<()> {
    layout.update_index(|m| {
        if m.iter().any(|e| e.digest() == desc.digest()) {
            return Ok(());
        }
        check_complete(layout, desc).map_err(|why| incomplete(desc, None, why))?;
        let entry = oci_entry(layout, desc)?;
        if !m.iter().any(|e| e.digest() == entry.digest()) {
            m.push(entry);
        }
        Ok(())
    })
}

/// The error for an image that cannot be named because part of it is not in the store.
pub(crate) fn incomplete(desc: &Descriptor, name: Option<&str>, why: String) -> Error {
    let to = name
        .map(|n| format!(" (to be tagged {n})"))
        .unwrap_or_default();
    Error::ImageNotFound(format!(
        "{}{to}: {why}; was it removed (img-rm, img-prune) while this command ran?",
        desc.digest()
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A Docker schema 2 image (one gzip layer) in a fresh layout: its manifest's descriptor,
    /// the manifest's bytes and the config digest.
    fn docker_image(l: &Layout, arch: &str) -> (Descriptor, Digest) {
        let layer = l.put_blob_bytes(&[7; 10]).unwrap();
        let config = json!({"architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(b"x").to_string()]}});
        let config = l.put_blob_bytes(&canonical_json(&config)).unwrap();
        let config_size = l.read_blob(&config).unwrap().len();
        let m = format!(
            r#"{{
   "schemaVersion": 2,
   "mediaType": "{DOCKER_MANIFEST}",
   "config": {{"mediaType": "{DOCKER_CONFIG}", "size": {config_size}, "digest": "{config}"}},
   "layers": [{{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 10, "digest": "{layer}"}}]
}}"#
        );
        let d = l.put_blob_bytes(m.as_bytes()).unwrap();
        (
            Descriptor::new(MediaType::from(DOCKER_MANIFEST), m.len() as u64, &d),
            config,
        )
    }

    fn layout() -> (tempfile::TempDir, Layout) {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(t.path().join("images")).unwrap();
        (t, l)
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap().with_default_tag()
    }

    #[test]
    fn a_docker_manifest_is_entered_as_its_oci_equivalent_and_keeps_its_digest() {
        let (_t, l) = layout();
        let (desc, config) = docker_image(&l, "amd64");
        tag(&l, &r("a"), &desc).unwrap();
        let index = l.read_index().unwrap();
        let e = &index.manifests()[0];
        assert_eq!(*e.media_type(), MediaType::ImageManifest);
        assert_eq!(annotation(e, ORIGINAL), Some(desc.digest().as_ref()));
        let oci: Value = l.read_json(&Digest::try_from(e.digest()).unwrap()).unwrap();
        assert_eq!(
            oci["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            oci["config"]["mediaType"],
            "application/vnd.oci.image.config.v1+json"
        );
        assert_eq!(oci["config"]["digest"], config.to_string());
        assert_eq!(
            oci["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        // Go's field order, as skopeo writes it.
        let text = String::from_utf8(l.read_blob(&Digest::try_from(e.digest()).unwrap()).unwrap())
            .unwrap();
        assert!(
            text.starts_with(r#"{"schemaVersion":2,"mediaType":"#),
            "{text}"
        );

        // The image is what it came as.
        let img = Image::load(&l, e, None).unwrap();
        assert_eq!(img.digest.to_string(), desc.digest().to_string());
        assert_eq!(img.media_type, DOCKER_MANIFEST);
        assert_eq!(img.config_digest, config);
        assert_eq!(original_descriptor(&l, e).unwrap().digest(), desc.digest());
        // Both manifests are kept alive.
        let reach = reachable_blobs(&l).unwrap();
        assert!(reach.contains(&Digest::try_from(desc.digest()).unwrap()));
        assert!(reach.contains(&Digest::try_from(e.digest()).unwrap()));
        assert!(unreferenced_blobs(&l).unwrap().is_empty());

        // Tagging the same image again, by either descriptor, names the same entry.
        tag(&l, &r("b"), &desc).unwrap();
        tag(&l, &r("c"), e).unwrap();
        add_untagged(&l, &desc).unwrap();
        let index = l.read_index().unwrap();
        assert_eq!(index.manifests().len(), 3);
        for m in index.manifests() {
            assert_eq!(m.digest(), e.digest());
            assert_eq!(annotation(m, ORIGINAL), Some(desc.digest().as_ref()));
        }
        // And found by the original digest.
        let catalog = Catalog::load(&l).unwrap();
        let found = catalog.find(desc.digest().as_ref()).unwrap();
        assert_eq!(found.entry.digest.to_string(), e.digest().to_string());
    }

    #[test]
    fn entries_an_older_berth_wrote_are_upgraded_by_the_next_tag() {
        let (_t, l) = layout();
        let (old, _) = docker_image(&l, "amd64");
        // As an older berth tagged a pull: the registry's manifest itself.
        l.update_index(|m| {
            m.push(annotate(
                &annotate(&old, REF_NAME, "docker.io/library/old:1"),
                TAG_TIME,
                "2024-01-01T00:00:00Z",
            ));
            Ok(())
        })
        .unwrap();
        let (new, _) = docker_image(&l, "arm64");
        tag(&l, &r("new"), &new).unwrap();
        let index = l.read_index().unwrap();
        let e = index
            .manifests()
            .iter()
            .find(|e| annotation(e, REF_NAME) == Some("docker.io/library/old:1"))
            .unwrap();
        assert_eq!(*e.media_type(), MediaType::ImageManifest);
        assert_eq!(annotation(e, ORIGINAL), Some(old.digest().as_ref()));
        assert_eq!(annotation(e, TAG_TIME), Some("2024-01-01T00:00:00Z"));
        let img = Image::load(&l, e, None).unwrap();
        assert_eq!(img.digest.to_string(), old.digest().to_string());
        assert!(unreferenced_blobs(&l).unwrap().is_empty());
    }

    #[test]
    fn an_index_is_entered_as_this_hosts_manifest() {
        let (_t, l) = layout();
        let host = Platform::host();
        let (mine, my_config) = docker_image(&l, &host.architecture);
        let other_arch = if host.architecture == "s390x" {
            "ppc64le"
        } else {
            "s390x"
        };
        let (other, _) = docker_image(&l, other_arch);
        let child = |d: &Descriptor, arch: &str| {
            json!({"mediaType": DOCKER_MANIFEST, "size": d.size(), "digest": d.digest().to_string(),
                   "platform": {"os": "linux", "architecture": arch}})
        };
        let list = json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": [child(&other, other_arch), child(&mine, &host.architecture)]});
        let bytes = serde_json::to_vec(&list).unwrap();
        let d = l.put_blob_bytes(&bytes).unwrap();
        let desc = Descriptor::new(
            MediaType::from(DOCKER_MANIFEST_LIST),
            bytes.len() as u64,
            &d,
        );
        tag(&l, &r("multi"), &desc).unwrap();
        let e = l.read_index().unwrap().manifests()[0].clone();
        assert_eq!(*e.media_type(), MediaType::ImageManifest);
        assert_eq!(annotation(&e, ORIGINAL), Some(d.to_string().as_str()));
        assert_eq!(
            e.platform().as_ref().unwrap().architecture().to_string(),
            host.architecture
        );
        let oci: Value = l.read_json(&Digest::try_from(e.digest()).unwrap()).unwrap();
        assert_eq!(oci["config"]["digest"], my_config.to_string());
        let img = Image::load(&l, &e, None).unwrap();
        assert_eq!(img.digest, d);
        assert_eq!(img.manifest_digest.to_string(), mine.digest().to_string());
        // The other platform stays reachable through the index.
        let other_platform = Platform {
            os: "linux".into(),
            architecture: other_arch.into(),
            variant: None,
        };
        let img = Image::load(&l, &e, Some(&other_platform)).unwrap();
        assert_eq!(img.manifest_digest.to_string(), other.digest().to_string());
        assert!(unreferenced_blobs(&l).unwrap().is_empty());
    }
}
