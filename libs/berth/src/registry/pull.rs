//! Pulling: resolve a manifest, choose a platform, and stream every blob into the store with
//! its digest checked as it arrives. Layers download in parallel; an interrupted download is
//! kept as a partial file beside the blobs and resumed with a Range request, so a `kill -9` in
//! the middle of a layer costs only the bytes not yet written. A blob only ever appears under
//! its digest once its content has been verified.
//!
//! What is not an image is refused before any blob is fetched, as Docker's puller does: a
//! manifest whose config is not an image config (an artifact), a layer of a media type berth
//! cannot unpack, a config declared over the cap. A body longer than its descriptor declares
//! is refused at the first byte too many, and leaves nothing behind.

use std::path::PathBuf;
use std::sync::Mutex;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde_json::{json, Value};
use ureq::http::{Method, StatusCode};

pub use super::blobs::{download_all, fetch_blob, partial_path, Follow, Tap};
use super::client::{describe, Client, ReqBody};
use super::media::check_image_manifest;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::{self, Platform, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST};
use crate::reference::Reference;
use crate::snapshot::Snapshots;
use crate::store::{annotation, Layout, MAX_JSON_BLOB, ORIGINAL, REF_NAME};
use crate::unpack::{self, Applied};

pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest type berth reads, and schema 1 so that it can be named when refused.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.v1+prettyjws;q=0.1, \
application/vnd.docker.distribution.manifest.v1+json;q=0.1";

/// What kind of manifest a registry sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Index,
    Manifest,
}

/// A manifest as fetched: its exact bytes, media type and digest.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
    pub kind: ManifestKind,
}

impl Fetched {
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            MediaType::from(self.media_type.as_str()),
            self.bytes.len() as u64,
            &self.digest,
        )
    }
}

/// Reports progress of blob downloads (a terminal's progress bars, plain lines, or nothing).
pub trait Progress: Sync {
    /// A transfer of `size` bytes starts (at `resumed_at` when a partial download is resumed).
    fn start(&self, digest: &Digest, size: u64, resumed_at: u64);
    fn advance(&self, digest: &Digest, bytes: u64);
    /// The transfer is over: done and verified, or `skipped` because the other side had it.
    fn done(&self, digest: &Digest, skipped: bool);
    /// A layer is being unpacked into its snapshot.
    fn extracting(&self, _digest: &Digest) {}
    /// A layer is in the store and, when unpacking, in its snapshot (Docker's "Pull complete").
    fn complete(&self, _digest: &Digest) {}
    /// A line about the whole image: "1: Pulling from library/busybox", "Digest: …", "Status: …".
    fn note(&self, _line: &str) {}
}

/// Progress that reports nothing.
pub struct Quiet;
impl Progress for Quiet {
    fn start(&self, _: &Digest, _: u64, _: u64) {}
    fn advance(&self, _: &Digest, _: u64) {}
    fn done(&self, _: &Digest, _: bool) {}
}

/// Options of a pull.
pub struct PullOptions<'p> {
    pub platform: Option<Platform>,
    pub all_platforms: bool,
    pub max_concurrent: usize,
    pub progress: &'p dyn Progress,
    /// Unpack the chosen platform's layers into these snapshots while they download.
    pub snapshots: Option<&'p Snapshots>,
}

/// What a pull stored.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub reference: Reference,
    /// The digest the registry resolved the reference to (an index for multi-platform images).
    pub digest: Digest,
    pub image: image::Image,
    pub platform: Platform,
    pub size: u64,
    pub layers: Vec<Digest>,
    /// The image's snapshot directories, bottom layer first, when asked to unpack.
    pub snapshots: Vec<PathBuf>,
}

impl Pulled {
    pub fn to_json(&self) -> Value {
        json!({
            "ref": self.reference.to_string(),
            "digest": self.digest.to_string(),
            "id": self.image.id().to_string(),
            "platform": self.platform.to_string(),
            "size": self.size,
            "layers": self.layers.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
            "snapshots": self.snapshots,
        })
    }
}

/// `repo:tag` or `repo@sha256:…`, as a user would write the reference.
pub(super) fn repo_ref(repo: &str, reference: &str) -> String {
    let sep = if reference.contains(':') { '@' } else { ':' };
    format!("{repo}{sep}{reference}")
}

pub(super) fn repo_scope(path: &str, actions: &str) -> String {
    format!("repository:{path}:{actions}")
}

/// Fetches a manifest or index by tag or digest, refusing schema 1 and anything over 4 MiB,
/// and checking the digest: against the reference when pulling by digest, against the
/// registry's `Docker-Content-Digest` otherwise.
pub fn fetch_manifest(client: &Client, repo: &str, reference: &str) -> Result<Fetched> {
    fetch_manifest_sized(client, repo, reference, None)
}

/// [`fetch_manifest`] of a manifest whose size a descriptor declares: refused before the
/// request when that is over the cap, and as soon as the registry says (Content-Length) or
/// sends more.
pub fn fetch_manifest_sized(
    client: &Client,
    repo: &str,
    reference: &str,
    declared: Option<u64>,
) -> Result<Fetched> {
    let what = format!("manifest {}", repo_ref(repo, reference));
    let too_big = |n: Option<u64>| {
        client.err(
            &what,
            format!(
                "the manifest is larger than {} MiB{}, refused",
                MAX_JSON_BLOB >> 20,
                n.map(|n| format!(" ({n} bytes)")).unwrap_or_default()
            ),
        )
    };
    if let Some(n) = declared.filter(|&n| n > MAX_JSON_BLOB) {
        return Err(too_big(Some(n)));
    }
    let path = format!("/v2/{repo}/manifests/{reference}");
    let scopes = [repo_scope(repo, "pull")];
    let mut resp = client.send(
        Method::GET,
        &path,
        &[("Accept", ACCEPT_MANIFESTS)],
        &ReqBody::Empty,
        &scopes,
    )?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(Error::ImageNotFound(format!(
            "{}/{}: the registry has no such manifest",
            client.domain,
            repo_ref(repo, reference)
        )));
    }
    if !resp.status().is_success() {
        return Err(client.unexpected(&format!("GET {what}"), resp));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string())
    };
    let content_type = header("content-type").unwrap_or_default();
    let declared_digest = header("docker-content-digest");
    let more_than_declared = |n: u64| {
        client.err(
            &what,
            format!("the registry sends more than the {n} bytes the index declares, refused"),
        )
    };
    if let Some(len) = header("content-length").and_then(|l| l.trim().parse::<u64>().ok()) {
        if len > MAX_JSON_BLOB {
            return Err(too_big(Some(len)));
        }
        if let Some(n) = declared.filter(|&n| len > n) {
            return Err(more_than_declared(n));
        }
    }
    let limit = declared.map_or(MAX_JSON_BLOB, |n| n.min(MAX_JSON_BLOB));
    let bytes = match resp.body_mut().with_config().limit(limit).read_to_vec() {
        Ok(b) => b,
        Err(ureq::Error::BodyExceedsLimit(_)) => {
            return Err(match declared {
                Some(n) if n < MAX_JSON_BLOB => more_than_declared(n),
                _ => too_big(None),
            })
        }
        Err(ureq::Error::Timeout(t)) => return Err(client.err(&what, client.timed_out(t))),
        Err(e) => return Err(client.err(&what, describe(&e))),
    };
    let computed = Digest::sha256_of(&bytes);
    if let Ok(want) = Digest::parse(reference) {
        let got = match want.algorithm() {
            crate::digest::Algorithm::Sha256 => computed.clone(),
            alg => {
                let mut h = alg.hasher();
                h.update(&bytes);
                h.finish()
            }
        };
        if got != want {
            return Err(client.err(
                &what,
                format!("the registry sent a manifest that hashes to {got}, not {want}"),
            ));
        }
        return classify(client, &what, bytes, &content_type, want);
    }
    if let Some(d) = declared_digest
        .as_deref()
        .and_then(|d| Digest::parse(d).ok())
    {
        if d.algorithm() == computed.algorithm() && d != computed {
            return Err(client.err(
                &what,
                format!("the registry says its digest is {d}, but it hashes to {computed}"),
            ));
        }
    }
    classify(client, &what, bytes, &content_type, computed)
}

fn classify(
    client: &Client,
    what: &str,
    bytes: Vec<u8>,
    content_type: &str,
    digest: Digest,
) -> Result<Fetched> {
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| client.err(what, format!("the manifest is not JSON: {e}")))?;
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let body_type = v.get("mediaType").and_then(Value::as_str).unwrap_or("");
    let media = if ct.is_empty() || ct == "application/json" || ct == "text/plain" {
        body_type.to_string()
    } else {
        ct.to_string()
    };
    if media == DOCKER_SCHEMA1
        || media == DOCKER_SCHEMA1_SIGNED
        || v.get("schemaVersion").and_then(Value::as_u64) == Some(1)
    {
        return Err(client.err(
            what,
            "it is a Docker schema 1 manifest, which berth does not pull (deprecated since 2017; push the image again with a current Docker)",
        ));
    }
    let is_index = media == MediaType::ImageIndex.to_string()
        || media == DOCKER_MANIFEST_LIST
        || (media.is_empty() && v.get("manifests").is_some());
    let is_manifest = media == MediaType::ImageManifest.to_string()
        || media == DOCKER_MANIFEST
        || (media.is_empty() && v.get("layers").is_some());
    let (kind, media) = match (is_index, is_manifest) {
        (true, _) => (
            ManifestKind::Index,
            if media.is_empty() {
                MediaType::ImageIndex.to_string()
            } else {
                media
            },
        ),
        (_, true) => (
            ManifestKind::Manifest,
            if media.is_empty() {
                MediaType::ImageManifest.to_string()
            } else {
                media
            },
        ),
        _ => return Err(client.err(what, format!("unsupported manifest media type {media:?}"))),
    };
    Ok(Fetched {
        bytes,
        media_type: media,
        digest,
        kind,
    })
}

/// Pulls `reference` into `layout` and tags it there.
pub fn pull(
    client: &Client,
    layout: &Layout,
    reference: &Reference,
    opts: &PullOptions<'_>,
) -> Result<Pulled> {
    let repo = reference.path();
    let want = reference
        .digest()
        .map(|d| d.to_string())
        .or_else(|| reference.tag().map(str::to_string))
        .unwrap_or_else(|| "latest".to_string());
    let top = fetch_manifest(client, repo, &want)?;
    opts.progress.note(&format!("{want}: Pulling from {repo}"));
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);

    // The manifests to store and the blobs they need.
    let mut manifests: Vec<Fetched> = Vec::new();
    let (tagged, chosen) = match top.kind {
        ManifestKind::Manifest => (top.clone(), top.clone()),
        ManifestKind::Index => {
            let index: ImageIndex =
                serde_json::from_slice(&top.bytes).map_err(|e| client.err("image index", e))?;
            let children: Vec<&Descriptor> = index
                .manifests()
                .iter()
                .filter(|d| {
                    // Attestations and signatures are not images of a platform.
                    d.platform()
                        .as_ref()
                        .is_some_and(|p| p.os().to_string() != "unknown")
                })
                .collect();
            let pick = children
                .iter()
                .find(|d| {
                    let p = d.platform().as_ref().expect("filtered");
                    platform.matches(
                        &p.os().to_string(),
                        &p.architecture().to_string(),
                        p.variant().as_deref(),
                    )
                })
                .ok_or_else(|| {
                    Error::ImageNotFound(format!(
                        "{reference}: no manifest for {platform} in the image index (it has {})",
                        children
                            .iter()
                            .filter_map(|d| d.platform().as_ref())
                            .map(|p| format!(
                                "{}/{}{}",
                                p.os(),
                                p.architecture(),
                                p.variant()
                                    .as_ref()
                                    .map(|v| format!("/{v}"))
                                    .unwrap_or_default()
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            let chosen = fetch_child(client, repo, pick)?;
            if opts.all_platforms {
                for d in &children {
                    if d.digest() != pick.digest() {
                        manifests.push(fetch_child(client, repo, d)?);
                    }
                }
                (top.clone(), chosen)
            } else {
                (chosen.clone(), chosen)
            }
        }
    };
    manifests.insert(0, chosen.clone());

    // Every manifest is checked before any blob is fetched: an artifact (a config that is not
    // an image's), a layer berth cannot unpack or a config over the cap is refused here, so a
    // refused pull downloads, stores and tags nothing.
    let mut blobs: Vec<Descriptor> = Vec::new();
    for m in &manifests {
        let parsed: ImageManifest = serde_json::from_slice(&m.bytes)
            .map_err(|e| client.err(&format!("manifest {}", m.digest), e))?;
        check_image_manifest(&parsed)
            .map_err(|why| client.err(&format!("manifest {}", m.digest), why))?;
        for d in std::iter::once(parsed.config()).chain(parsed.layers().iter()) {
            if !blobs.iter().any(|b| b.digest() == d.digest()) {
                blobs.push(d.clone());
            }
        }
    }
    // To unpack while downloading, the config's diffIDs are needed first.
    let plan = match opts.snapshots {
        Some(snaps) => {
            let parsed: ImageManifest = serde_json::from_slice(&chosen.bytes)
                .map_err(|e| client.err(&format!("manifest {}", chosen.digest), e))?;
            fetch_blob(client, layout, repo, parsed.config(), &Quiet, None)?;
            let config_digest = Digest::try_from(parsed.config().digest())?;
            let config: Value = layout.read_json(&config_digest)?;
            let layers = unpack::pair_layers(&parsed, &config, &config_digest)?;
            Some((snaps, snaps.plan_layers(layers)))
        }
        None => None,
    };
    let streamed: Mutex<Vec<Option<Applied>>> = Mutex::new(
        (0..plan.as_ref().map_or(0, |(_, p)| p.missing.len()))
            .map(|_| None)
            .collect(),
    );
    if let Err(e) = download_all(
        client,
        layout,
        repo,
        &blobs,
        opts,
        plan.as_ref().map(|(_, p)| (p, &streamed)),
    ) {
        if let Some((_, p)) = &plan {
            p.cleanup();
        }
        return Err(e);
    }
    let mut snapshot_dirs = Vec::new();
    if let Some((snaps, plan)) = &plan {
        // Layers that could not be unpacked as they came (already stored, or a download that
        // started over) are unpacked from the store now.
        let mut applied = Vec::new();
        for (k, a) in streamed.into_inner().expect("lock").into_iter().enumerate() {
            match a {
                Some(a) => applied.push(a),
                None => {
                    let digest = &plan.layers[plan.missing[k]].digest;
                    opts.progress.extracting(digest);
                    match plan.unpack_from_store(layout, k) {
                        Ok(a) => {
                            opts.progress.complete(digest);
                            applied.push(a)
                        }
                        Err(e) => {
                            plan.cleanup();
                            return Err(e);
                        }
                    }
                }
            }
        }
        snapshot_dirs = snaps.finish(plan, &applied)?;
        plan.record_sizes(layout, &applied);
    }
    for m in &manifests {
        layout.put_blob_bytes(&m.bytes)?;
    }
    if tagged.digest != chosen.digest {
        layout.put_blob_bytes(&tagged.bytes)?;
    }

    // A pull by digest names the image by that digest (Docker's `repo@sha256:…`, no tag).
    let name = reference.clone().with_default_tag();
    let mut desc = tagged.descriptor();
    if tagged.kind == ManifestKind::Manifest && top.kind == ManifestKind::Index {
        desc.set_platform(
            serde_json::from_value(json!({"os": platform.os, "architecture": platform.architecture, "variant": platform.variant}))
                .ok(),
        );
    }
    // The entry may be the OCI form of what the registry sent, naming it as its original.
    let up_to_date = layout.read_index()?.manifests().iter().any(|d| {
        (d.digest() == desc.digest() || annotation(d, ORIGINAL) == Some(desc.digest().as_ref()))
            && annotation(d, REF_NAME)
                .and_then(|n| Reference::parse_with_default_tag(n).ok())
                .is_some_and(|r| r == name)
    });
    image::tag(layout, &name, &desc)?;
    image::record_repo_digest(
        layout,
        &Digest::try_from(desc.digest())?,
        &name,
        &top.digest,
    );
    opts.progress.note(&format!("Digest: {}", top.digest));
    opts.progress.note(&format!(
        "Status: {} for {}",
        if up_to_date {
            "Image is up to date"
        } else {
            "Downloaded newer image"
        },
        name.familiar_string()
    ));
    let img = image::Image::load(layout, &desc, Some(&platform))?;
    let layers: Vec<Digest> = img
        .manifest
        .layers()
        .iter()
        .filter_map(|l| Digest::try_from(l.digest()).ok())
        .collect();
    Ok(Pulled {
        reference: name,
        digest: top.digest,
        size: img.size(),
        platform: Platform {
            os: img.os().to_string(),
            architecture: img.architecture().to_string(),
            variant: img.config.variant.clone(),
        },
        image: img,
        layers,
        snapshots: snapshot_dirs,
    })
}

fn fetch_child(client: &Client, repo: &str, d: &Descriptor) -> Result<Fetched> {
    let f = fetch_manifest_sized(client, repo, d.digest().as_ref(), Some(d.size()))?;
    if f.kind != ManifestKind::Manifest {
        return Err(client.err(
            &format!("manifest {}", f.digest),
            "an index inside an index is not supported",
        ));
    }
    Ok(f)
}
