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

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};

use berth_fsutil::FlockArg;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde_json::{json, Value};
use ureq::http::{Method, StatusCode};

use super::client::{describe, Client, ReqBody};
use super::deadline::{is_timeout, ureq_timeout, Watchdog};
use super::media::{check_image_manifest, IMAGE_CONFIG_TYPES};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::image::{self, Platform, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST};
use crate::reference::Reference;
use crate::snapshot::{Plan, Snapshots};
use crate::store::{Layout, MAX_JSON_BLOB};
use crate::unpack::{self, Applied, Whiteouts};

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
    fn start(&self, digest: &Digest, size: u64, resumed_at: u64);
    fn advance(&self, digest: &Digest, bytes: u64);
    fn done(&self, digest: &Digest, skipped: bool);
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

fn repo_scope(path: &str, actions: &str) -> String {
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
    let what = format!("manifest {repo}:{reference}");
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
            "{}/{repo}:{reference}: the registry has no such manifest",
            client.domain
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
            fetch_blob(client, layout, repo, parsed.config(), opts.progress, None)?;
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
                None => match plan.unpack_from_store(layout, k) {
                    Ok(a) => applied.push(a),
                    Err(e) => {
                        plan.cleanup();
                        return Err(e);
                    }
                },
            }
        }
        snapshot_dirs = snaps.finish(plan, &applied)?;
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
    image::tag(layout, &name, &desc)?;
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

/// Downloads every blob not in the store yet, `max_concurrent` at a time.
pub fn download_all(
    client: &Client,
    layout: &Layout,
    repo: &str,
    blobs: &[Descriptor],
    opts: &PullOptions<'_>,
    unpack: Option<(&Plan, &Mutex<Vec<Option<Applied>>>)>,
) -> Result<()> {
    let queue: Mutex<Vec<&Descriptor>> = Mutex::new(blobs.iter().rev().collect());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let workers = opts.max_concurrent.clamp(1, 16).min(blobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if first_error.lock().expect("lock").is_some() {
                    return;
                }
                let Some(d) = queue.lock().expect("lock").pop() else {
                    return;
                };
                if let Err(e) = fetch_maybe_unpacking(client, layout, repo, d, opts, unpack) {
                    first_error.lock().expect("lock").get_or_insert(e);
                    return;
                }
            });
        }
    });
    match first_error.into_inner().expect("lock") {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A download that another thread reads while it is written: the reader follows the partial
/// file up to what has been written; a download that starts over from zero makes the reader
/// fail (the caller falls back to the stored blob); the reader sees the end only once the
/// blob's digest has been checked.
#[derive(Default)]
pub struct Tap {
    state: Mutex<TapState>,
    changed: Condvar,
}

#[derive(Default)]
struct TapState {
    file: Option<File>,
    written: u64,
    generation: u64,
    done: Option<bool>,
}

impl Tap {
    fn update(&self, f: impl FnOnce(&mut TapState)) {
        f(&mut self.state.lock().expect("tap lock"));
        self.changed.notify_all();
    }

    fn attach(&self, file: File) {
        self.update(|s| s.file = Some(file));
    }

    fn wrote(&self, total: u64) {
        self.update(|s| s.written = total);
    }

    fn reset(&self) {
        self.update(|s| {
            s.generation += 1;
            s.written = 0;
        });
    }

    fn end(&self, ok: bool) {
        self.update(|s| s.done = Some(ok));
    }

    /// A reader of the download, from its first byte.
    pub fn follow(&self) -> Follow<'_> {
        Follow {
            tap: self,
            file: None,
            pos: 0,
            generation: 0,
        }
    }
}

/// See [`Tap::follow`].
pub struct Follow<'t> {
    tap: &'t Tap,
    file: Option<File>,
    pos: u64,
    generation: u64,
}

impl Read for Follow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let gone = |why: &str| std::io::Error::other(why.to_string());
        let mut st = self.tap.state.lock().expect("tap lock");
        loop {
            if st.generation != self.generation {
                return Err(gone("the download started over"));
            }
            if self.file.is_none() {
                if let Some(f) = &st.file {
                    self.file = Some(f.try_clone()?);
                }
            }
            if let (Some(f), true) = (&self.file, self.pos < st.written) {
                let n = buf.len().min((st.written - self.pos) as usize);
                drop(st);
                let n = f.read_at(&mut buf[..n], self.pos)?;
                self.pos += n as u64;
                return Ok(n);
            }
            match st.done {
                Some(true) => return Ok(0),
                Some(false) => return Err(gone("the download failed")),
                None => st = self.tap.changed.wait(st).expect("tap lock"),
            }
        }
    }
}

/// Downloads one blob; when it is a layer `unpack` wants, unpacks it on the way (into the
/// plan's temporary directory) and records the result.
fn fetch_maybe_unpacking(
    client: &Client,
    layout: &Layout,
    repo: &str,
    d: &Descriptor,
    opts: &PullOptions<'_>,
    unpack: Option<(&Plan, &Mutex<Vec<Option<Applied>>>)>,
) -> Result<()> {
    let digest = Digest::try_from(d.digest())?;
    let wanted = unpack.and_then(|(p, out)| p.missing_index(&digest).map(|k| (p, out, k)));
    let Some((plan, out, k)) = wanted.filter(|_| !layout.has_blob(&digest)) else {
        return fetch_blob(client, layout, repo, d, opts.progress, None);
    };
    let tap = Tap::default();
    let (fetched, applied) = std::thread::scope(|s| {
        let unpacker = s.spawn(|| -> Option<Applied> {
            let mut dest = plan.fresh_temp(k).ok()?;
            let layer = &plan.layers[plan.missing[k]];
            unpack::apply_stream(tap.follow(), layer, &mut dest, Whiteouts::Overlay).ok()
        });
        let fetched = fetch_blob(client, layout, repo, d, opts.progress, Some(&tap));
        (fetched, unpacker.join().ok().flatten())
    });
    if fetched.is_ok() {
        out.lock().expect("lock")[k] = applied;
    }
    fetched
}

/// Where a blob being downloaded waits until it is complete and verified.
pub fn partial_path(layout: &Layout, digest: &Digest) -> PathBuf {
    layout.dir().join(format!(
        ".berth-partial-{}-{}",
        digest.algorithm().as_str(),
        digest.hex()
    ))
}

/// Downloads one blob into the store, resuming a partial download, verifying the digest.
/// With a `tap`, another thread can read the download as it is written (see [`Tap`]).
pub fn fetch_blob(
    client: &Client,
    layout: &Layout,
    repo: &str,
    desc: &Descriptor,
    progress: &dyn Progress,
    tap: Option<&Tap>,
) -> Result<()> {
    let r = fetch_blob_inner(client, layout, repo, desc, progress, tap);
    if let Some(t) = tap {
        t.end(r.is_ok());
    }
    r
}

fn fetch_blob_inner(
    client: &Client,
    layout: &Layout,
    repo: &str,
    desc: &Descriptor,
    progress: &dyn Progress,
    tap: Option<&Tap>,
) -> Result<()> {
    let digest = Digest::try_from(desc.digest())?;
    let size = desc.size();
    if layout.has_blob(&digest) {
        progress.done(&digest, true);
        return Ok(());
    }
    let part = partial_path(layout, &digest);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&part)
        .with_path("open", &part)?;
    // Another process downloading the same blob holds this lock; wait for it.
    let mut file = berth_fsutil::lock_file(file, &part, FlockArg::LockExclusive)?;
    if layout.has_blob(&digest) {
        let _ = fs::remove_file(&part);
        progress.done(&digest, true);
        return Ok(());
    }
    if let Some(t) = tap {
        t.attach(file.try_clone().with_path("open", &part)?);
    }
    let reset = |tap: Option<&Tap>| {
        if let Some(t) = tap {
            t.reset();
        }
    };
    let path = format!("/v2/{repo}/blobs/{digest}");
    let what = format!("blob {digest}");
    let scopes = [repo_scope(repo, "pull")];
    let mut restarted = false;
    let mut attempts = 0;
    // A config is small (capped): all of it within the request deadline. Layers, of any size,
    // must keep moving instead (see `Deadlines`).
    let small = IMAGE_CONFIG_TYPES.contains(&desc.media_type().to_string().as_str());
    loop {
        let mut oversized = false;
        let mut have = file.metadata().with_path("stat", &part)?.len();
        if have > size {
            reset(tap);
            file.set_len(0).with_path("truncate", &part)?;
            have = 0;
        }
        let mut hasher = digest.algorithm().hasher();
        if have > 0 {
            hash_prefix(&mut file, have, &mut hasher).with_path("read", &part)?;
        }
        if let Some(t) = tap {
            t.wrote(have);
        }
        progress.start(&digest, size, have);
        let range = format!("bytes={have}-");
        let headers: Vec<(&str, &str)> = if have > 0 {
            vec![("Range", range.as_str())]
        } else {
            vec![]
        };
        let result = if have == size && size > 0 {
            Ok(())
        } else {
            let sent = if small {
                client.send(Method::GET, &path, &headers, &ReqBody::Empty, &scopes)
            } else {
                client.send_stream(Method::GET, &path, &headers, &scopes)
            };
            sent.and_then(|mut resp| {
                    let status = resp.status();
                    if status == StatusCode::PARTIAL_CONTENT && have > 0 {
                        // Appending where we stopped.
                    } else if status.is_success() {
                        if have > 0 {
                            reset(tap);
                        }
                        file.set_len(0).with_path("truncate", &part)?;
                        hasher = digest.algorithm().hasher();
                        have = 0;
                    } else if status == StatusCode::NOT_FOUND {
                        return Err(client.err(&what, "the registry has no such blob (404)"));
                    } else {
                        return Err(client.unexpected(&format!("GET {what}"), resp));
                    }
                    let mut more = || {
                        oversized = true;
                        client.err(
                            &what,
                            format!("the registry sends more than the {size} bytes the manifest declares, refused"),
                        )
                    };
                    let length = resp
                        .headers()
                        .get("content-length")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if length.is_some_and(|l| l > size - have) {
                        return Err(more());
                    }
                    file.seek(SeekFrom::Start(have)).with_path("seek", &part)?;
                    // One byte past the declared size is enough to know it lies.
                    let mut reader = resp.body_mut().with_config().limit(size - have + 1).reader();
                    let mut buf = vec![0u8; 256 << 10];
                    let mut got = have;
                    let mut watchdog = Watchdog::new(&client.deadlines);
                    loop {
                        let n = match reader.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => n,
                            Err(e) if is_timeout(&e) => {
                                let why = match ureq_timeout(&e) {
                                    Some(t) if small => client.timed_out(t),
                                    _ => watchdog.silent(),
                                };
                                return Err(client.err(&format!("GET {what}"), why));
                            }
                            Err(e) => return Err(Error::stream(format!("download {what}"), e)),
                        };
                        got += n as u64;
                        if got > size {
                            return Err(more());
                        }
                        if !small {
                            watchdog
                                .moved(n as u64)
                                .map_err(|why| client.err(&format!("GET {what}"), why))?;
                        }
                        hasher.update(&buf[..n]);
                        file.write_all(&buf[..n]).with_path("write", &part)?;
                        if let Some(t) = tap {
                            t.wrote(got);
                        }
                        progress.advance(&digest, n as u64);
                    }
                    if got < size {
                        return Err(Error::stream(
                            format!("download {what}"),
                            std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("the body ended after {got} of {size} bytes")),
                        ));
                    }
                    Ok(())
                })
        };
        match result {
            Ok(()) => {
                let got = hasher.finish();
                if got != digest {
                    // Bad bytes never become a blob. A resumed download may have resumed onto
                    // bad bytes: start once from zero before giving up.
                    reset(tap);
                    file.set_len(0).with_path("truncate", &part)?;
                    if !restarted {
                        restarted = true;
                        continue;
                    }
                    let _ = fs::remove_file(&part);
                    return Err(client.err(
                        &what,
                        format!("the registry sent content that hashes to {got}"),
                    ));
                }
                berth_fsutil::publish(&file, &part, &layout.blob_path(&digest), 0o644)?;
                progress.done(&digest, false);
                return Ok(());
            }
            // A cut connection: keep what arrived and resume from there.
            Err(Error::Stream { .. } | Error::Io { .. }) if attempts < client.retries => {
                attempts += 1;
                let _ = file.sync_data();
                std::thread::sleep(std::time::Duration::from_millis(250 << attempts.min(4)));
                continue;
            }
            Err(e @ Error::Stream { .. }) => return Err(client.err(&what, e)),
            Err(e) => {
                // Content over what the manifest declares is no start of the blob.
                if oversized {
                    reset(tap);
                    let _ = fs::remove_file(&part);
                }
                return Err(e);
            }
        }
    }
}

fn hash_prefix(f: &mut File, len: u64, hasher: &mut Hasher) -> std::io::Result<()> {
    f.seek(SeekFrom::Start(0))?;
    let mut r = (&mut *f).take(len);
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}
