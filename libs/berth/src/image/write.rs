//! Writing images: configs and manifests as blobs, and the `index.json` entries that name them.

use oci_spec::image::{Descriptor, ImageManifestBuilder, MediaType};
use serde_json::Value;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::{annotate, annotation, Layout, REF_NAME, TAG_TIME};

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
/// with no annotations.
pub(crate) fn bare(desc: &Descriptor) -> Descriptor {
    let mut d = Descriptor::new(
        desc.media_type().clone(),
        desc.size(),
        desc.digest().clone(),
    );
    d.set_platform(desc.platform().clone());
    d
}

/// Now, as RFC 3339 with nanoseconds in UTC, the form image configs use.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Tags `desc` as `reference`. An image that loses its last name this way stays in the index
/// without one (Docker's dangling `<none>` image) rather than disappearing.
pub fn tag(layout: &Layout, reference: &Reference, desc: &Descriptor) -> Result<()> {
    let name = reference.to_string();
    tag_named(layout, &name, desc, &|n: &str| {
        n == name || Reference::parse_with_default_tag(n).is_ok_and(|r| r == *reference)
    })
}

/// Tags `desc` with `name` verbatim, as skopeo names images in a layout it does not own
/// (`oci:DIR:latest`).
pub fn tag_raw(layout: &Layout, name: &str, desc: &Descriptor) -> Result<()> {
    tag_named(layout, name, desc, &|n: &str| n == name)
}

fn tag_named(
    layout: &Layout,
    name: &str,
    desc: &Descriptor,
    same_name: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let now = now_rfc3339();
    layout.update_index(|m| {
        // Under the lock every blob deletion takes: what is checked here stays until the
        // index names it, and a name never points at blobs an img-rm removed meanwhile.
        check_complete(layout, desc).map_err(|why| incomplete(desc, Some(name), why))?;
        let new_digest = desc.digest().clone();
        let mut replaced = Vec::new();
        m.retain(|e| {
            let named = annotation(e, REF_NAME);
            if named.is_some_and(same_name) {
                replaced.push(e.clone());
                return false;
            }
            // An untagged entry for the image being tagged is now redundant.
            !(named.is_none() && *e.digest() == new_digest)
        });
        m.push(annotate(
            &annotate(&bare(desc), REF_NAME, name),
            TAG_TIME,
            &now,
        ));
        for old in replaced {
            if !m.iter().any(|e| e.digest() == old.digest()) {
                m.push(bare(&old));
            }
        }
        Ok(())
    })
}

/// Adds `desc` to the index without a name, unless the index already has an entry for it.
pub fn add_untagged(layout: &Layout, desc: &Descriptor) -> Result<()> {
    layout.update_index(|m| {
        if !m.iter().any(|e| e.digest() == desc.digest()) {
            check_complete(layout, desc).map_err(|why| incomplete(desc, None, why))?;
            m.push(bare(desc));
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
