//! Images in a layout: the entries of `index.json`, resolving what a user typed to one image,
//! reading manifests and configs, writing new images, tagging and removing.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType};
use serde_json::{json, Value};

use crate::digest::{is_hex_id, Digest};
use crate::error::{Error, Result};
use crate::reference::{ImageName, Reference};
use crate::store::{annotate, annotation, Layout, REF_NAME, TAG_TIME};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// An OS/architecture pair, as `--platform` takes it: `linux/amd64`, `linux/arm/v7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this program runs on, in Go's names (GOOS/GOARCH) as images use them.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            "riscv64" => ("riscv64", None),
            "s390x" => ("s390x", None),
            other => (other, None),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(Into::into),
        }
    }

    /// Whether a platform from a manifest list matches this one. A missing variant on either
    /// side matches any; arm64's implicit variant is v8.
    pub fn matches(&self, os: &str, arch: &str, variant: Option<&str>) -> bool {
        let norm = |a: &str, v: Option<&str>| match (a, v) {
            ("arm64", Some("v8")) => None,
            (_, v) => v.map(str::to_string),
        };
        self.os == os
            && self.architecture == arch
            && match (
                norm(&self.architecture, self.variant.as_deref()),
                norm(arch, variant),
            ) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

impl FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            Error::InvalidInput(format!(
                "invalid platform {s:?}: expected OS/ARCH[/VARIANT], such as linux/amd64"
            ))
        };
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let ok = |p: &str| p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !parts.iter().all(|p| ok(p)) {
            return Err(bad());
        }
        let arch = match parts[1].to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            a => a.to_string(),
        };
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: arch,
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One entry of `index.json`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The raw `org.opencontainers.image.ref.name`, if any.
    pub name: Option<String>,
    /// That name parsed and normalised, when it is a reference (skopeo may write a bare tag).
    pub reference: Option<Reference>,
    pub descriptor: Descriptor,
    pub digest: Digest,
}

impl Entry {
    fn from_descriptor(desc: &Descriptor) -> Result<Entry> {
        let digest = Digest::try_from(desc.digest())?;
        let name = annotation(desc, REF_NAME).map(str::to_string);
        let reference = name
            .as_deref()
            .and_then(|n| Reference::parse_with_default_tag(n).ok());
        Ok(Entry {
            name,
            reference,
            descriptor: desc.clone(),
            digest,
        })
    }

    /// When this entry was last tagged by berth.
    pub fn tag_time(&self) -> Option<&str> {
        annotation(&self.descriptor, TAG_TIME)
    }

    /// The entry's name as Docker would show it: `busybox:latest`, `localhost:5000/x:1`.
    pub fn familiar(&self) -> Option<String> {
        match (&self.reference, &self.name) {
            (Some(r), _) => Some(r.familiar_string()),
            (None, Some(n)) => Some(n.clone()),
            _ => None,
        }
    }

    fn matches(&self, want: &Reference) -> bool {
        match &self.reference {
            Some(r) => r == want,
            None => false,
        }
    }
}

/// An image: one platform's manifest and its config.
#[derive(Debug, Clone)]
pub struct Image {
    /// The digest of the `index.json` entry: a manifest, or an index for multi-platform images.
    pub digest: Digest,
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    /// The config's digest, which is the image ID (as Docker's IMAGE ID).
    pub config_digest: Digest,
    /// The config as stored, so that fields the OCI types do not know (Healthcheck, Shell…) survive.
    pub config: Value,
}

impl Image {
    /// Loads the image an index entry points to, choosing `platform` (or the host's) from a
    /// multi-platform index.
    pub fn load(layout: &Layout, desc: &Descriptor, platform: Option<&Platform>) -> Result<Image> {
        let top = Digest::try_from(desc.digest())?;
        let mut digest = top.clone();
        let mut media = desc.media_type().to_string();
        for _ in 0..4 {
            let raw: Value = layout.read_json(&digest)?;
            let is_index = media == MediaType::ImageIndex.to_string()
                || media == DOCKER_MANIFEST_LIST
                || (raw.get("manifests").is_some() && raw.get("layers").is_none());
            if !is_index {
                let manifest: ImageManifest = serde_json::from_value(raw)
                    .map_err(|e| Error::corrupt(format!("manifest {digest}"), e))?;
                let config_digest = Digest::try_from(manifest.config().digest())?;
                let config: Value = layout.read_json(&config_digest)?;
                check_config(&config)
                    .map_err(|why| Error::corrupt(format!("image config {config_digest}"), why))?;
                return Ok(Image {
                    digest: top,
                    manifest_digest: digest,
                    manifest,
                    config_digest,
                    config,
                });
            }
            let index: ImageIndex = serde_json::from_value(raw)
                .map_err(|e| Error::corrupt(format!("image index {digest}"), e))?;
            let want = platform.cloned().unwrap_or_else(Platform::host);
            let chosen = select_platform(&index, &want).ok_or_else(|| {
                Error::ImageNotFound(format!(
                    "{top}: no manifest for platform {want} in the image index (it has {})",
                    list_platforms(&index)
                ))
            })?;
            digest = Digest::try_from(chosen.digest())?;
            media = chosen.media_type().to_string();
        }
        Err(Error::corrupt(
            format!("image index {top}"),
            "indexes nested more than four deep",
        ))
    }

    /// The image ID, as Docker shows it: `sha256:<hex>` of the config.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// The size of the image's layers as stored.
    pub fn size(&self) -> u64 {
        self.manifest.layers().iter().map(|l| l.size()).sum()
    }

    pub fn created(&self) -> Option<&str> {
        self.config.get("created").and_then(Value::as_str)
    }

    pub fn architecture(&self) -> &str {
        self.config
            .get("architecture")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn os(&self) -> &str {
        self.config.get("os").and_then(Value::as_str).unwrap_or("")
    }

    /// The `config` object of the image config (Cmd, Env, …), or null.
    pub fn run_config(&self) -> &Value {
        self.config.get("config").unwrap_or(&Value::Null)
    }

    /// The uncompressed layer digests (`rootfs.diff_ids`).
    pub fn diff_ids(&self) -> Vec<String> {
        self.config
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The checks an image config must pass before berth uses it.
pub(crate) fn check_config(config: &Value) -> std::result::Result<(), String> {
    let obj = config.as_object().ok_or("not a JSON object")?;
    for key in ["architecture", "os"] {
        if !obj.get(key).is_some_and(Value::is_string) {
            return Err(format!("missing {key:?}"));
        }
    }
    let diff_ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .ok_or("missing rootfs.diff_ids")?;
    for d in diff_ids {
        let s = d.as_str().ok_or("a diff_id is not a string")?;
        Digest::parse(s).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn select_platform<'i>(index: &'i ImageIndex, want: &Platform) -> Option<&'i Descriptor> {
    index.manifests().iter().find(|m| match m.platform() {
        Some(p) => want.matches(
            &p.os().to_string(),
            &p.architecture().to_string(),
            p.variant().as_deref(),
        ),
        None => false,
    })
}

fn list_platforms(index: &ImageIndex) -> String {
    let v: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|m| m.platform().as_ref())
        .map(|p| match p.variant() {
            Some(v) => format!("{}/{}/{v}", p.os(), p.architecture()),
            None => format!("{}/{}", p.os(), p.architecture()),
        })
        .collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// Every entry of a layout with its image loaded (or why it could not be).
pub struct Catalog {
    pub items: Vec<Item>,
}

pub struct Item {
    pub entry: Entry,
    pub image: Result<Image>,
}

impl Catalog {
    pub fn load(layout: &Layout) -> Result<Catalog> {
        let index = layout.read_index()?;
        let mut items = Vec::new();
        let mut cache: HashMap<Digest, Image> = HashMap::new();
        for desc in index.manifests() {
            let entry = Entry::from_descriptor(desc)?;
            let image = match cache.get(&entry.digest) {
                Some(img) => Ok(img.clone()),
                None => Image::load(layout, desc, None),
            };
            if let Ok(img) = &image {
                cache.insert(entry.digest.clone(), img.clone());
            }
            items.push(Item { entry, image });
        }
        Ok(Catalog { items })
    }

    /// The entries (tags and untagged entries) whose image has this ID.
    pub fn entries_of<'c>(&'c self, id: &'c Digest) -> impl Iterator<Item = &'c Entry> + 'c {
        self.items
            .iter()
            .filter(move |i| i.image.as_ref().is_ok_and(|img| img.id() == id))
            .map(|i| &i.entry)
    }

    /// Finds the image a user named: a reference (`busybox`, `host:5000/a:t`, `name@digest`), a
    /// full image ID or manifest digest (`sha256:…` or 64 hex), or a unique prefix of an image ID.
    /// References win over ID prefixes, as in Docker.
    pub fn find(&self, query: &str) -> Result<&Item> {
        let q = query.strip_prefix("sha256:").filter(|_| query.len() == 71);
        if let Some(hex) = q.or(Some(query).filter(|s| s.len() == 64 && is_hex_id(s))) {
            let d = Digest::parse(&format!("sha256:{hex}"))?;
            return self
                .find_digest(&d)
                .ok_or_else(|| Error::ImageNotFound(query.into()));
        }
        let parsed = Reference::parse(query);
        if let Ok(r) = &parsed {
            if let Some(item) = self.find_reference(r) {
                return Ok(item);
            }
        }
        if query.len() >= 4 && is_hex_id(query) {
            let mut hits: Vec<&Item> = Vec::new();
            for item in &self.items {
                if let Ok(img) = &item.image {
                    if img.id().hex().starts_with(query)
                        && !hits.iter().any(|h| same_image(h, item))
                    {
                        hits.push(item);
                    }
                }
            }
            match hits.len() {
                0 => {}
                1 => return Ok(hits[0]),
                _ => {
                    return Err(Error::AmbiguousImageId {
                        prefix: query.into(),
                        candidates: hits
                            .iter()
                            .filter_map(|h| h.image.as_ref().ok())
                            .map(|i| i.id().short().to_string())
                            .collect(),
                    })
                }
            }
        }
        match parsed {
            Err(e) => Err(e.into()),
            Ok(r) => Err(Error::ImageNotFound(r.with_default_tag().familiar_string())),
        }
    }

    fn find_digest(&self, d: &Digest) -> Option<&Item> {
        let tagged_first = |pred: &dyn Fn(&Item) -> bool| {
            let hits: Vec<&Item> = self.items.iter().filter(|i| pred(i)).collect();
            hits.iter()
                .find(|i| i.entry.name.is_some())
                .or(hits.first())
                .copied()
        };
        tagged_first(&|i: &Item| i.image.as_ref().is_ok_and(|img| img.id() == d)).or_else(|| {
            tagged_first(&|i: &Item| {
                i.entry.digest == *d || i.image.as_ref().is_ok_and(|img| img.manifest_digest == *d)
            })
        })
    }

    fn find_reference(&self, r: &Reference) -> Option<&Item> {
        match r.digest() {
            // name@digest: the digest decides; the name must match one of its tags, if any.
            Some(d) => {
                let hits: Vec<&Item> = self
                    .items
                    .iter()
                    .filter(|i| {
                        i.entry.digest == *d
                            || i.image.as_ref().is_ok_and(|img| img.manifest_digest == *d)
                    })
                    .collect();
                hits.iter()
                    .find(|i| {
                        i.entry
                            .reference
                            .as_ref()
                            .is_some_and(|er| er.name() == r.name())
                    })
                    .or(hits.first())
                    .copied()
            }
            None => {
                let want = r.clone().with_default_tag();
                self.items.iter().find(|i| i.entry.matches(&want))
            }
        }
    }
}

fn same_image(a: &Item, b: &Item) -> bool {
    match (&a.image, &b.image) {
        (Ok(x), Ok(y)) => x.id() == y.id(),
        _ => false,
    }
}

/// Opens the image a user named on the command line: `oci:DIR[:REF]` in any layout, anything
/// else in `default` (the store, or `--layout`). Returns the layout, its catalog and the index of
/// the item found.
pub fn open_named(default: &Layout, query: &str) -> Result<(Layout, Catalog, usize)> {
    let (layout, q) = match ImageName::parse(query) {
        Ok(ImageName::Layout { dir, reference }) => (Layout::open(dir)?, reference),
        _ => (default.clone(), Some(query.to_string())),
    };
    let catalog = Catalog::load(&layout)?;
    let idx = match q {
        None => match catalog.items.len() {
            1 => 0,
            0 => {
                return Err(Error::ImageNotFound(format!(
                    "{query}: the layout has no image"
                )))
            }
            n => {
                return Err(Error::InvalidInput(format!(
                    "{query}: the layout has {n} images; name one as oci:DIR:REF"
                )))
            }
        },
        Some(q) => {
            // In a foreign layout the name is matched verbatim first, as skopeo does.
            let exact = catalog
                .items
                .iter()
                .position(|i| i.entry.name.as_deref() == Some(q.as_str()));
            match exact {
                Some(i) => i,
                None => {
                    let item = catalog.find(&q)?;
                    catalog
                        .items
                        .iter()
                        .position(|i| std::ptr::eq(i, item))
                        .expect("item from this catalog")
                }
            }
        }
    };
    if let Err(e) = &catalog.items[idx].image {
        return Err(Error::corrupt(format!("image {query}"), e));
    }
    Ok((layout, catalog, idx))
}

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
    config: &Value,
    layers: Vec<Descriptor>,
) -> Result<(Descriptor, Digest)> {
    check_config(config).map_err(|why| Error::InvalidInput(format!("image config: {why}")))?;
    let config_bytes = canonical_json(config);
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
fn bare(desc: &Descriptor) -> Descriptor {
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
fn incomplete(desc: &Descriptor, name: Option<&str>, why: String) -> Error {
    let to = name
        .map(|n| format!(" (to be tagged {n})"))
        .unwrap_or_default();
    Error::ImageNotFound(format!(
        "{}{to}: {why}; was it removed (img-rm, img-prune) while this command ran?",
        desc.digest()
    ))
}

/// Whether a layer's media type says it may be left out of a layout (Docker's foreign layers,
/// OCI's non-distributable ones), as registries and skopeo leave them out.
fn optional_layer(media_type: &str) -> bool {
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
    check(layout, &digest, 0)
}

/// What `remove` did, in Docker's words.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Removed {
    /// The names that were untagged, as Docker prints them.
    pub untagged: Vec<String>,
    /// The image IDs that were deleted with their blobs.
    pub deleted: Vec<String>,
}

/// Removes what `query` names, as `docker rmi` does: a name is untagged, and the image goes with
/// its last name; an ID removes the image, which needs `force` when it has several names. An
/// image a container uses (`in_use`) is never deleted: without `force` that is a conflict, with
/// it the names go and the image stays, untagged.
pub fn remove(
    layout: &Layout,
    query: &str,
    force: bool,
    in_use: &HashMap<Digest, String>,
) -> Result<Removed> {
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
    if !by_name && tagged.len() > 1 && !force {
        return Err(Error::Conflict(format!(
            "unable to delete {} (must be forced): image is referenced in multiple repositories ({})",
            id.short(),
            tagged.iter().filter_map(|e| e.familiar()).collect::<Vec<_>>().join(", ")
        )));
    }
    if let Some(user) = in_use.get(&id).filter(|_| last_name && !force) {
        let user = user.get(..12).unwrap_or(user);
        return Err(Error::Conflict(if by_name {
            format!(
                "unable to remove repository reference \"{query}\" (must force) - container {user} is using its referenced image {}",
                id.short()
            )
        } else {
            format!(
                "unable to delete {} (must be forced) - image is being used by container {user}",
                id.short()
            )
        }));
    }
    let delete = last_name && !in_use.contains_key(&id);
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

/// Every blob reachable from `index.json`.
pub fn reachable_blobs(layout: &Layout) -> Result<HashSet<Digest>> {
    let index = layout.read_index()?;
    let mut out = HashSet::new();
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

/// The image as `docker image inspect` shows it.
pub fn inspect(catalog: &Catalog, image: &Image) -> Value {
    let id = image.id();
    let entries: Vec<&Entry> = catalog.entries_of(id).collect();
    let mut tags: Vec<String> = entries.iter().filter_map(|e| e.familiar()).collect();
    tags.sort();
    tags.dedup();
    let mut repo_digests: Vec<String> = entries
        .iter()
        .filter_map(|e| e.reference.as_ref())
        .map(|r| format!("{}@{}", r.familiar_name(), image.digest))
        .collect();
    repo_digests.sort();
    repo_digests.dedup();
    let last_tag = entries
        .iter()
        .filter_map(|e| e.tag_time())
        .max()
        .unwrap_or("");
    let c = image.run_config();
    let field = |k: &str| c.get(k).cloned().unwrap_or(Value::Null);
    let mut config = json!({
        "Hostname": "",
        "Domainname": "",
        "User": c.get("User").cloned().unwrap_or(json!("")),
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
    });
    let obj = config.as_object_mut().expect("object");
    if let Some(p) = c.get("ExposedPorts") {
        obj.insert("ExposedPorts".into(), p.clone());
    }
    obj.insert("Tty".into(), json!(false));
    obj.insert("OpenStdin".into(), json!(false));
    obj.insert("StdinOnce".into(), json!(false));
    obj.insert("Env".into(), field("Env"));
    obj.insert("Cmd".into(), field("Cmd"));
    for k in ["Healthcheck", "ArgsEscaped"] {
        if let Some(v) = c.get(k) {
            obj.insert(k.into(), v.clone());
        }
    }
    obj.insert("Image".into(), json!(""));
    obj.insert("Volumes".into(), field("Volumes"));
    obj.insert(
        "WorkingDir".into(),
        c.get("WorkingDir").cloned().unwrap_or(json!("")),
    );
    obj.insert("Entrypoint".into(), field("Entrypoint"));
    obj.insert("OnBuild".into(), field("OnBuild"));
    obj.insert("Labels".into(), field("Labels"));
    for k in ["StopSignal", "StopTimeout", "Shell"] {
        if let Some(v) = c.get(k) {
            obj.insert(k.into(), v.clone());
        }
    }
    let cfg = &image.config;
    let s = |k: &str| cfg.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = json!({
        "Id": id.to_string(),
        "RepoTags": tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": history_comment(cfg),
        "Created": s("created"),
        "DockerVersion": s("docker_version"),
        "Author": s("author"),
        "Config": config,
        "Architecture": s("architecture"),
    });
    let o = out.as_object_mut().expect("object");
    if let Some(v) = cfg.get("variant") {
        o.insert("Variant".into(), v.clone());
    }
    o.insert("Os".into(), json!(s("os")));
    if let Some(v) = cfg.get("os.version") {
        o.insert("OsVersion".into(), v.clone());
    }
    o.insert("Size".into(), json!(image.size()));
    o.insert(
        "RootFS".into(),
        json!({"Type": "layers", "Layers": image.diff_ids()}),
    );
    o.insert("Metadata".into(), json!({"LastTagTime": last_tag}));
    o.insert(
        "Descriptor".into(),
        json!({
            "mediaType": media_type_of(&catalog.items, &image.digest),
            "digest": image.digest.to_string(),
        }),
    );
    out
}

fn media_type_of(items: &[Item], digest: &Digest) -> String {
    items
        .iter()
        .find(|i| i.entry.digest == *digest)
        .map(|i| i.entry.descriptor.media_type().to_string())
        .unwrap_or_default()
}

/// Docker's image Comment: the comment of the last history entry.
fn history_comment(cfg: &Value) -> String {
    cfg.get("history")
        .and_then(Value::as_array)
        .and_then(|h| h.last())
        .and_then(|h| h.get("comment"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// One row of `img-history`, newest first.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    /// The image ID for the newest row, None (`<missing>`) for the others, as Docker shows.
    pub id: Option<Digest>,
    pub created: Option<String>,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub empty_layer: bool,
}

/// The image's history paired with its layers, newest first.
pub fn history(image: &Image) -> Vec<HistoryRow> {
    let layers = image.manifest.layers();
    let mut layer_iter = layers.iter();
    let mut rows = Vec::new();
    let hist = image
        .config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for h in &hist {
        let empty = h
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let size = if empty {
            0
        } else {
            layer_iter.next().map(|l| l.size()).unwrap_or(0)
        };
        let s = |k: &str| h.get(k).and_then(Value::as_str).map(str::to_string);
        rows.push(HistoryRow {
            id: None,
            created: s("created"),
            created_by: s("created_by").unwrap_or_default(),
            size,
            comment: s("comment").unwrap_or_default(),
            empty_layer: empty,
        });
    }
    // Layers with no history entry (configs written without history) still show.
    for l in layer_iter {
        rows.push(HistoryRow {
            id: None,
            created: None,
            created_by: String::new(),
            size: l.size(),
            comment: String::new(),
            empty_layer: false,
        });
    }
    rows.reverse();
    if let Some(first) = rows.first_mut() {
        first.id = Some(image.id().clone());
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let t = tempfile::tempdir().unwrap();
        let l = Layout::open_or_create(t.path().join("images")).unwrap();
        (t, l)
    }

    fn config(n: u8) -> Value {
        json!({"architecture": "amd64", "os": "linux",
               "rootfs": {"type": "layers", "diff_ids": [Digest::sha256_of(&[n]).to_string()]}})
    }

    /// An image with one stored layer of content `[n; 10]`.
    fn image(l: &Layout, n: u8) -> Descriptor {
        let layer = l.put_blob_bytes(&[n; 10]).unwrap();
        let desc = Descriptor::new(MediaType::ImageLayer, 10, &layer);
        write_image(l, &config(n), vec![desc]).unwrap().0
    }

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap().with_default_tag()
    }

    fn names(l: &Layout) -> Vec<String> {
        let mut v: Vec<String> = l
            .read_index()
            .unwrap()
            .manifests()
            .iter()
            .filter_map(|d| annotation(d, REF_NAME).map(str::to_string))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn tagging_refuses_an_image_with_any_blob_missing() {
        let (_t, l) = layout();
        let whole = image(&l, 1);
        tag(&l, &r("whole"), &whole).unwrap();
        let before = std::fs::read(l.index_path()).unwrap();

        // A layer that is not stored.
        let ghost = Digest::sha256_of(b"never stored");
        let (no_layer, _) = write_image(
            &l,
            &config(2),
            vec![Descriptor::new(MediaType::ImageLayerGzip, 5, &ghost)],
        )
        .unwrap();
        let err = tag(&l, &r("a"), &no_layer).unwrap_err().to_string();
        assert!(
            err.contains(&format!("its layer {ghost} is missing")),
            "{err}"
        );
        assert!(
            err.contains("(to be tagged docker.io/library/a:latest)"),
            "{err}"
        );
        assert!(add_untagged(&l, &no_layer).is_err());

        // A config that is gone.
        let no_config = image(&l, 3);
        let img = Image::load(&l, &no_config, None).unwrap();
        l.remove_blob(img.id()).unwrap();
        let err = tag(&l, &r("b"), &no_config).unwrap_err().to_string();
        assert!(err.contains("its config"), "{err}");

        // A manifest that is gone.
        let no_manifest = image(&l, 4);
        l.remove_blob(&Digest::try_from(no_manifest.digest()).unwrap())
            .unwrap();
        let err = tag(&l, &r("c"), &no_manifest).unwrap_err().to_string();
        assert!(err.contains("its manifest"), "{err}");
        assert!(err.starts_with("no such image: "), "{err}");

        assert_eq!(
            std::fs::read(l.index_path()).unwrap(),
            before,
            "nothing written"
        );

        // A foreign layer may be left out, as registries and skopeo leave it out.
        let foreign =
            MediaType::Other("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into());
        let (windows, _) =
            write_image(&l, &config(5), vec![Descriptor::new(foreign, 5, &ghost)]).unwrap();
        tag(&l, &r("foreign"), &windows).unwrap();
        assert_eq!(
            names(&l),
            [
                "docker.io/library/foreign:latest",
                "docker.io/library/whole:latest"
            ]
        );
    }

    #[test]
    fn an_index_needs_one_whole_manifest() {
        let (_t, l) = layout();
        let m = image(&l, 1);
        let absent = Digest::sha256_of(b"other platform");
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": absent.to_string()},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": m.size(), "digest": m.digest().to_string()},
        ]});
        let bytes = serde_json::to_vec(&index).unwrap();
        let d = l.put_blob_bytes(&bytes).unwrap();
        let desc = Descriptor::new(MediaType::ImageIndex, bytes.len() as u64, &d);
        tag(&l, &r("multi"), &desc).unwrap();
        l.remove_blob(&Digest::try_from(m.digest()).unwrap())
            .unwrap();
        let err = tag(&l, &r("multi2"), &desc).unwrap_err().to_string();
        assert!(err.contains("none of the manifests"), "{err}");
    }

    #[test]
    fn a_name_pointing_at_removed_blobs_is_removed_by_name_and_by_digest() {
        let (_t, l) = layout();
        let a = image(&l, 1);
        tag(&l, &r("a"), &a).unwrap();
        let b = image(&l, 2);
        tag(&l, &r("b1"), &b).unwrap();
        tag(&l, &r("b2"), &b).unwrap();
        let layer_a = Digest::sha256_of(&[1; 10]);
        // What an older berth could leave: a config or a manifest gone, the names still there.
        l.remove_blob(Image::load(&l, &a, None).unwrap().id())
            .unwrap();
        let b_config = Image::load(&l, &b, None).unwrap().config_digest;
        l.remove_blob(&Digest::try_from(b.digest()).unwrap())
            .unwrap();
        let none = HashMap::new();
        let out = remove(&l, "a", false, &none).unwrap();
        assert_eq!(out.untagged, ["a:latest"]);
        assert_eq!(out.deleted, [a.digest().to_string()]);
        assert!(
            !l.has_blob(&layer_a),
            "what its manifest names goes with it"
        );
        // By digest: every name of it, which needs force when it has several.
        let err = remove(&l, b.digest().as_ref(), false, &none).unwrap_err();
        assert!(err.to_string().contains("must be forced"), "{err}");
        let out = remove(&l, b.digest().as_ref(), true, &none).unwrap();
        assert_eq!(out.untagged, ["b1:latest", "b2:latest"]);
        assert!(l.read_index().unwrap().manifests().is_empty());
        // Without its manifest nothing says what else was its: that is left to img-prune.
        assert!(unreferenced_blobs(&l).unwrap().contains(&b_config));
    }

    #[test]
    fn rm_leaves_blobs_to_prune_while_a_writer_runs() {
        let (_t, l) = layout();
        let a = image(&l, 1);
        tag(&l, &r("a"), &a).unwrap();
        let blobs = l.all_blobs().unwrap();
        let none = HashMap::new();
        {
            let _writer = l.writer_guard().unwrap();
            let out = remove(&l, "a", false, &none).unwrap();
            assert_eq!(out.deleted.len(), 1);
            assert!(names(&l).is_empty());
            assert_eq!(
                l.all_blobs().unwrap(),
                blobs,
                "a writer may be about to use them"
            );
            // And the writer may tag it again: it is whole.
            tag(&l, &r("again"), &a).unwrap();
        }
        remove(&l, "again", false, &none).unwrap();
        assert!(l.all_blobs().unwrap().is_empty(), "no writer: the blobs go");
    }
}
