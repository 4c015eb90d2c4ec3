//! A fake registry for faults a real one won't make: an HTTP/1.1 server on 127.0.0.1 that
//! serves in-memory images over the distribution API (pull side: `/v2/`, manifests, blobs with
//! Range, tags list, catalog) with correct `Docker-Content-Digest` headers, and misbehaves on
//! request paths as a [`Behaviour`] says: wrong bytes, bodies cut short or longer than
//! declared, 5xx, redirects to another server, oversized manifests, stalls, trickles, slow
//! links, Basic or Bearer auth. It records every request for the test to assert on.
//!
//! [`FakeImage`] builds the images: gzipped layers from tars, an OCI (or Docker schema 2)
//! manifest and config with correct digests and sizes, optionally a multi-platform index.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::http::{self, Delivery, Reply, Request, Server, TlsIdentity};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The size above which a manifest is "too big" (what registries and clients commonly cap at).
pub const MANIFEST_LIMIT: usize = 4 << 20;

/// `sha256:HEX` of `data`.
pub fn sha256(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A blob with its media type and digest.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub data: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.to_string(),
            digest: sha256(&data),
            data,
        }
    }

    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// An OCI descriptor of this blob.
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.data.len()})
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    pub fn linux_amd64() -> Platform {
        Platform::new("linux", "amd64")
    }

    /// linux/arm64/v8.
    pub fn linux_arm64() -> Platform {
        Platform {
            variant: Some("v8".to_string()),
            ..Platform::new("linux", "arm64")
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({"architecture": self.architecture, "os": self.os});
        if let Some(var) = &self.variant {
            v["variant"] = json!(var);
        }
        v
    }
}

/// The media types an image is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Oci,
    /// Docker schema 2 (manifest list for the index).
    Docker,
}

/// One platform's image: manifest, config and layers.
#[derive(Debug, Clone)]
pub struct FakeManifest {
    pub platform: Platform,
    pub manifest: Blob,
    pub config: Blob,
    /// The layers as served (gzipped).
    pub layers: Vec<Blob>,
    /// The layers' uncompressed tars, as given.
    pub tars: Vec<Vec<u8>>,
    /// `sha256:` of each uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_ids: Vec<String>,
}

/// An image in a repository under a tag: one manifest, or an index of several.
#[derive(Debug, Clone)]
pub struct FakeImage {
    pub repo: String,
    pub tag: String,
    /// The index (or Docker manifest list) the tag points at, for a multi-platform image.
    pub index: Option<Blob>,
    pub manifests: Vec<FakeManifest>,
}

impl FakeImage {
    /// A linux/amd64 OCI image whose layers are `tars` (uncompressed tars, gzipped here).
    pub fn new(repo: &str, tag: &str, tars: Vec<Vec<u8>>) -> FakeImage {
        FakeImage::build(
            repo,
            tag,
            vec![(Platform::linux_amd64(), tars)],
            Format::Oci,
            false,
        )
    }

    /// An OCI index over one image per platform (e.g. linux/amd64 and linux/arm64).
    pub fn multi_platform(
        repo: &str,
        tag: &str,
        platforms: Vec<(Platform, Vec<Vec<u8>>)>,
    ) -> FakeImage {
        FakeImage::build(repo, tag, platforms, Format::Oci, true)
    }

    /// The general form: one image per platform, in `format`, with an index on top when
    /// `index` (required when there is more than one platform).
    pub fn build(
        repo: &str,
        tag: &str,
        platforms: Vec<(Platform, Vec<Vec<u8>>)>,
        format: Format,
        index: bool,
    ) -> FakeImage {
        assert!(!platforms.is_empty());
        assert!(
            index || platforms.len() == 1,
            "several platforms need an index"
        );
        let (mt_manifest, mt_index, mt_config, mt_layer) = match format {
            Format::Oci => (OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, OCI_LAYER_GZIP),
            Format::Docker => (
                DOCKER_MANIFEST,
                DOCKER_LIST,
                DOCKER_CONFIG,
                DOCKER_LAYER_GZIP,
            ),
        };
        let manifests: Vec<FakeManifest> = platforms
            .into_iter()
            .map(|(platform, tars)| {
                let diff_ids: Vec<String> = tars.iter().map(|t| sha256(t)).collect();
                let layers: Vec<Blob> = tars.iter().map(|t| Blob::new(mt_layer, gzip(t))).collect();
                let mut config = platform.json();
                config["created"] = json!("2024-01-01T00:00:00Z");
                config["config"] = json!({
                    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                    "Cmd": ["/bin/sh"],
                });
                config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
                config["history"] = Value::Array(
                    (0..layers.len())
                        .map(|i| json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("fake layer {i}")}))
                        .collect(),
                );
                let config = Blob::new(mt_config, serde_json::to_vec(&config).unwrap());
                let manifest = json!({
                    "schemaVersion": 2,
                    "mediaType": mt_manifest,
                    "config": config.descriptor(),
                    "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
                });
                FakeManifest {
                    platform,
                    manifest: Blob::new(mt_manifest, serde_json::to_vec_pretty(&manifest).unwrap()),
                    config,
                    layers,
                    tars,
                    diff_ids,
                }
            })
            .collect();
        let index = index.then(|| {
            let list: Vec<Value> = manifests
                .iter()
                .map(|m| {
                    let mut d = m.manifest.descriptor();
                    d["platform"] = m.platform.json();
                    d
                })
                .collect();
            let idx = json!({"schemaVersion": 2, "mediaType": mt_index, "manifests": list});
            Blob::new(mt_index, serde_json::to_vec_pretty(&idx).unwrap())
        });
        FakeImage {
            repo: repo.to_string(),
            tag: tag.to_string(),
            index,
            manifests,
        }
    }

    /// What the tag resolves to: the index, or the one manifest.
    pub fn top(&self) -> &Blob {
        self.index.as_ref().unwrap_or(&self.manifests[0].manifest)
    }

    /// The digest of [`FakeImage::top`].
    pub fn digest(&self) -> &str {
        &self.top().digest
    }

    /// The (first) manifest for `architecture`.
    pub fn for_arch(&self, architecture: &str) -> &FakeManifest {
        self.manifests
            .iter()
            .find(|m| m.platform.architecture == architecture)
            .unwrap_or_else(|| panic!("no {architecture} manifest"))
    }

    /// The first manifest's layers.
    pub fn layers(&self) -> &[Blob] {
        &self.manifests[0].layers
    }

    /// Every manifest (and the index) of the image.
    pub fn all_manifests(&self) -> impl Iterator<Item = &Blob> {
        self.index
            .iter()
            .chain(self.manifests.iter().map(|m| &m.manifest))
    }

    /// Every config and layer of the image.
    pub fn all_blobs(&self) -> impl Iterator<Item = &Blob> {
        self.manifests
            .iter()
            .flat_map(|m| std::iter::once(&m.config).chain(m.layers.iter()))
    }

    /// The manifest (or index) `reference` (a tag or a digest) names, if any.
    pub fn manifest(&self, reference: &str) -> Option<&Blob> {
        if reference == self.tag {
            return Some(self.top());
        }
        self.all_manifests().find(|b| b.digest == reference)
    }

    pub fn blob(&self, digest: &str) -> Option<&Blob> {
        self.all_blobs().find(|b| b.digest == digest)
    }
}

/// gzip of `data` (no name, mtime 0: the same input gives the same bytes).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A tar of regular files (`path`, contents), mode 0644 (0755 under `bin/`), owner 0, mtime 0,
/// with parent directories, in the given order.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dirs: Vec<String> = Vec::new();
    for (path, data) in files {
        let mut parent = String::new();
        for comp in path.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
            parent.push_str(comp);
            parent.push('/');
            if !dirs.contains(&parent) {
                dirs.push(parent.clone());
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(0);
                h.set_cksum();
                b.append_data(&mut h, &parent, std::io::empty()).unwrap();
            }
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(if path.starts_with("bin/") {
            0o755
        } else {
            0o644
        });
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, path, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// `len` bytes of deterministic noise (xorshift) that gzip cannot shrink: for layers big enough
/// to interrupt.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Which requests a [`Rule`] applies to.
#[derive(Debug, Clone)]
pub enum Match {
    Any,
    /// This exact path (no query).
    Path(String),
    /// Paths containing this.
    PathContains(String),
    /// Any `/v2/…/blobs/…`.
    AnyBlob,
    /// `/v2/…/blobs/DIGEST`.
    Blob(String),
    /// Any `/v2/…/manifests/…`.
    AnyManifest,
    /// `/v2/…/manifests/REFERENCE` (a tag or a digest).
    Manifest(String),
}

impl Match {
    fn matches(&self, path: &str) -> bool {
        match self {
            Match::Any => true,
            Match::Path(p) => path == p,
            Match::PathContains(p) => path.contains(p.as_str()),
            Match::AnyBlob => path.starts_with("/v2/") && path.contains("/blobs/"),
            Match::Blob(d) => path.starts_with("/v2/") && path.ends_with(&format!("/blobs/{d}")),
            Match::AnyManifest => path.starts_with("/v2/") && path.contains("/manifests/"),
            Match::Manifest(r) => {
                path.starts_with("/v2/") && path.ends_with(&format!("/manifests/{r}"))
            }
        }
    }
}

/// A way to misbehave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status with an OCI error body (`{"errors":[…]}`), e.g. 500 or 503.
    Status(u16),
    /// Right headers (length, Docker-Content-Digest), wrong bytes: a blob with one byte
    /// flipped in the middle; a manifest with one digest in it altered (still valid JSON, same
    /// length).
    WrongContent,
    /// Right bytes, but a Docker-Content-Digest header that is not their digest.
    WrongDigestHeader,
    /// Content-Length of the whole body, then half of it, then the connection is closed.
    CutShort,
    /// A redirect (status, e.g. 307) to the same path on the server at `to` (a base URL such
    /// as `http://127.0.0.1:PORT`), with a query (`?sig=berth-test`) as object stores add.
    Redirect { status: u16, to: String },
    /// A manifest over [`MANIFEST_LIMIT`] bytes: the real one padded with an annotation; valid
    /// JSON, correct Content-Length and Docker-Content-Digest.
    HugeManifest,
    /// Read the request, never answer (nor close) until the client goes away.
    Stall,
    /// Send the headers and half the body, then nothing more (nor close).
    StallBody,
    /// `extra` bytes more than the real body, with a Content-Length that says so.
    Oversend { extra: usize },
    /// `extra` bytes more than the real body, without a Content-Length (until close).
    OversendUnframed { extra: usize },
    /// Send the headers, then the body one byte every `every` (a registry that trickles).
    Trickle { every: Duration },
    /// Send the body at about `bytes_per_sec` in tenths of a second (slow but steady).
    Throttle { bytes_per_sec: usize },
}

impl Fault {
    /// A 307 to the same path on `other`.
    pub fn redirect_to(other: &FakeRegistry) -> Fault {
        Fault::Redirect {
            status: 307,
            to: other.url(),
        }
    }
}

/// A fault on the requests that match, the first `times` of them or all.
#[derive(Debug, Clone)]
pub struct Rule {
    pub when: Match,
    /// Only for this method (GET, HEAD…); any when None.
    pub method: Option<String>,
    pub fault: Fault,
    /// Apply to the first `times` matching requests, then let them through.
    pub times: Option<usize>,
}

impl Rule {
    pub fn new(when: Match, fault: Fault) -> Rule {
        Rule {
            when,
            method: None,
            fault,
            times: None,
        }
    }

    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_string());
        self
    }
}

/// The auth a fake registry requires on `/v2/…`.
#[derive(Debug, Clone)]
pub enum FakeAuth {
    /// Basic with this account; the challenge is `Basic realm="fake-registry"`.
    Basic { user: String, password: String },
    /// Bearer tokens from the fake's own `GET /token` (realm `URL/token`, service
    /// `fake-registry`), given for these Basic credentials, or to anyone when `anonymous`.
    /// Tokens are opaque strings; any issued token opens every repository.
    Bearer {
        user: String,
        password: String,
        anonymous: bool,
    },
}

/// What a fake registry does besides serving its images.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Looked at in order; the first rule that matches (and has uses left) applies.
    pub rules: Vec<Rule>,
    pub auth: Option<FakeAuth>,
}

impl Behaviour {
    /// Serve correctly.
    pub fn normal() -> Behaviour {
        Behaviour::default()
    }

    pub fn rule(mut self, rule: Rule) -> Behaviour {
        self.rules.push(rule);
        self
    }

    /// `fault` on every request `when` matches.
    pub fn always(self, when: Match, fault: Fault) -> Behaviour {
        self.rule(Rule::new(when, fault))
    }

    /// `fault` on the first `n` requests `when` matches, then serve correctly.
    pub fn first(self, n: usize, when: Match, fault: Fault) -> Behaviour {
        self.rule(Rule::new(when, fault).times(n))
    }

    pub fn basic_auth(mut self, user: &str, password: &str) -> Behaviour {
        self.auth = Some(FakeAuth::Basic {
            user: user.to_string(),
            password: password.to_string(),
        });
        self
    }

    pub fn bearer_auth(mut self, user: &str, password: &str, anonymous: bool) -> Behaviour {
        self.auth = Some(FakeAuth::Bearer {
            user: user.to_string(),
            password: password.to_string(),
            anonymous,
        });
        self
    }
}

/// A request the fake registry got, and what it did.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    /// The status answered (for Stall, the status that would have been).
    pub status: u16,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// Whether it came over TLS.
    pub secure: bool,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        http::header(&self.headers, name)
    }

    /// Whether an Authorization header came.
    pub fn has_auth(&self) -> bool {
        self.header("authorization").is_some()
    }
}

/// The fake registry; stops when dropped.
pub struct FakeRegistry {
    server: Server,
    state: Arc<State>,
}

struct State {
    url: OnceLock<String>,
    images: Mutex<Vec<FakeImage>>,
    behaviour: Mutex<(Behaviour, Vec<usize>)>,
    log: Mutex<Vec<Recorded>>,
    tokens: Mutex<Vec<String>>,
    serial: AtomicU64,
}

impl FakeRegistry {
    /// Serves `image` (add more with [`FakeRegistry::add_image`]) as `behaviour` says.
    pub fn start(image: FakeImage, behaviour: Behaviour) -> FakeRegistry {
        FakeRegistry::start_with(image, behaviour, None, 0).expect("bind 127.0.0.1:0")
    }

    /// [`FakeRegistry::start`] that speaks HTTPS (a self-signed certificate for 127.0.0.1:
    /// clients need `--tls-verify=false`) and plain HTTP on the same port; [`Recorded::secure`]
    /// tells which a request came over, [`FakeRegistry::url`] is the `https://` one.
    pub fn start_tls(image: FakeImage, behaviour: Behaviour) -> FakeRegistry {
        FakeRegistry::start_with(image, behaviour, Some(TlsIdentity::self_signed()), 0)
            .expect("bind 127.0.0.1:0")
    }

    /// A fake on 127.0.0.1:`port` (HTTPS and HTTP when `tls`), None when the port is taken
    /// (or needs privileges this test lacks): for URLs without a port (80, 443).
    pub fn start_on(
        port: u16,
        image: FakeImage,
        behaviour: Behaviour,
        tls: bool,
    ) -> Option<FakeRegistry> {
        let identity = tls.then(TlsIdentity::self_signed);
        FakeRegistry::start_with(image, behaviour, identity, port)
    }

    fn start_with(
        image: FakeImage,
        behaviour: Behaviour,
        tls: Option<TlsIdentity>,
        port: u16,
    ) -> Option<FakeRegistry> {
        let state = Arc::new(State {
            url: OnceLock::new(),
            images: Mutex::new(vec![image]),
            behaviour: Mutex::new((behaviour, Vec::new())),
            log: Mutex::new(Vec::new()),
            tokens: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
        });
        let st = state.clone();
        let handler = move |req: &Request| st.handle(req);
        let server = Server::start_on(handler, tls.as_ref(), port)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        state
            .url
            .set(format!("{scheme}://{}", server.addr()))
            .unwrap();
        Some(FakeRegistry { server, state })
    }

    pub fn add_image(&self, image: FakeImage) {
        self.state.images.lock().unwrap().push(image);
    }

    /// Replaces the behaviour (and resets the rules' use counts).
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().unwrap() = (behaviour, Vec::new());
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.server.addr().to_string()
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `http://127.0.0.1:PORT` (`https://` for [`FakeRegistry::start_tls`]).
    pub fn url(&self) -> String {
        self.state.url.get().unwrap().clone()
    }

    /// `127.0.0.1:PORT/REPO:TAG` for `image`.
    pub fn reference(&self, image: &FakeImage) -> String {
        format!("{}/{}:{}", self.addr(), image.repo, image.tag)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.log.lock().unwrap().clone()
    }

    /// The requests whose path contains `fragment`.
    pub fn requests_to(&self, fragment: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.contains(fragment))
            .collect()
    }

    pub fn clear_requests(&self) {
        self.state.log.lock().unwrap().clear();
    }
}

fn oci_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::new(status)
        .header("Docker-Distribution-API-Version", "registry/2.0")
        .json(&json!({"errors": [{"code": code, "message": message, "detail": null}]}))
}

/// `bytes=A-` or `bytes=A-B` → (A, B inclusive) within `len`; Err for unsatisfiable.
fn parse_range(v: &str, len: usize) -> Option<Result<(usize, usize), ()>> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let start: usize = a.trim().parse().ok()?;
    let end: usize = match b.trim() {
        "" => len.saturating_sub(1),
        e => e.parse::<usize>().ok()?.min(len.saturating_sub(1)),
    };
    if start >= len || end < start {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

/// `manifest` with one of its digests altered: same length, still JSON, another digest.
fn tamper_manifest(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    let s = String::from_utf8_lossy(data);
    let i = s.rfind("sha256:").expect("a manifest names digests") + "sha256:".len();
    out[i] = if out[i] == b'0' { b'1' } else { b'0' };
    out
}

fn flip_middle(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    if !out.is_empty() {
        let m = out.len() / 2;
        out[m] ^= 0xff;
    }
    out
}

/// `manifest` padded past [`MANIFEST_LIMIT`] with an annotation.
fn huge_manifest(data: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(data).unwrap();
    v["annotations"] = json!({"org.berth.test.padding": "x".repeat(MANIFEST_LIMIT + 1)});
    serde_json::to_vec(&v).unwrap()
}

/// `/v2/NAME/KIND/REF` → (NAME, KIND, REF) for manifests, blobs and tags/list.
fn split_v2(path: &str) -> Option<(&str, &str, &str)> {
    let rest = path.strip_prefix("/v2/")?;
    if let Some(name) = rest.strip_suffix("/tags/list") {
        return Some((name, "tags", "list"));
    }
    for kind in ["manifests", "blobs"] {
        if let Some(i) = rest.rfind(&format!("/{kind}/")) {
            return Some((&rest[..i], kind, &rest[i + kind.len() + 2..]));
        }
    }
    None
}

impl State {
    fn url(&self) -> &str {
        self.url.get().map(String::as_str).unwrap_or("")
    }

    fn handle(&self, req: &Request) -> Reply {
        let (reply, fault) = self.answer(req);
        self.log.lock().unwrap().push(Recorded {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            headers: req.headers.clone(),
            status: reply.status,
            fault,
            secure: req.secure,
        });
        reply
    }

    /// The rule for this request, if one applies (counting its use).
    fn fault_for(&self, req: &Request) -> Option<Fault> {
        let mut b = self.behaviour.lock().unwrap();
        let (behaviour, used) = &mut *b;
        used.resize(behaviour.rules.len(), 0);
        for (i, rule) in behaviour.rules.iter().enumerate() {
            if !rule.when.matches(&req.path) {
                continue;
            }
            if rule.method.as_deref().is_some_and(|m| m != req.method) {
                continue;
            }
            if rule.times.is_some_and(|t| used[i] >= t) {
                continue;
            }
            used[i] += 1;
            return Some(rule.fault.clone());
        }
        None
    }

    /// The challenge answer when `req` lacks the auth it needs, else None.
    fn check_auth(&self, req: &Request) -> Option<Reply> {
        let auth = self.behaviour.lock().unwrap().0.auth.clone()?;
        match auth {
            FakeAuth::Basic { user, password } => {
                if req.basic_credentials() == Some((user, password)) {
                    return None;
                }
                Some(
                    oci_error(401, "UNAUTHORIZED", "authentication required")
                        .header("WWW-Authenticate", "Basic realm=\"fake-registry\""),
                )
            }
            FakeAuth::Bearer { .. } => {
                if let Some(t) = req.bearer_token() {
                    if self.tokens.lock().unwrap().iter().any(|k| k == t) {
                        return None;
                    }
                }
                let mut challenge = format!(
                    "Bearer realm=\"{}/token\",service=\"fake-registry\"",
                    self.url()
                );
                if let Some((name, _, _)) = split_v2(&req.path) {
                    let actions = if matches!(req.method.as_str(), "GET" | "HEAD") {
                        "pull"
                    } else {
                        "pull,push"
                    };
                    challenge.push_str(&format!(",scope=\"repository:{name}:{actions}\""));
                }
                if req.header("authorization").is_some() {
                    challenge.push_str(",error=\"invalid_token\"");
                }
                Some(
                    oci_error(401, "UNAUTHORIZED", "authentication required")
                        .header("WWW-Authenticate", challenge),
                )
            }
        }
    }

    /// GET /token on a Bearer fake.
    fn token(&self, req: &Request) -> Reply {
        let auth = self.behaviour.lock().unwrap().0.auth.clone();
        let Some(FakeAuth::Bearer {
            user,
            password,
            anonymous,
        }) = auth
        else {
            return oci_error(404, "NOT_FOUND", "no token service here");
        };
        let ok = match req.basic_credentials() {
            Some(c) => c == (user, password),
            None => anonymous,
        };
        if !ok {
            return Reply::new(401).json(&json!({"details": "incorrect username or password"}));
        }
        let t = format!("fake-token-{}", self.serial.fetch_add(1, Ordering::SeqCst));
        self.tokens.lock().unwrap().push(t.clone());
        Reply::new(200).json(&json!({"token": t, "access_token": t, "expires_in": 300}))
    }

    fn answer(&self, req: &Request) -> (Reply, Option<Fault>) {
        if req.path == "/token" {
            let fault = self.fault_for(req);
            let reply = self.token(req);
            return match fault {
                Some(f) => (self.misbehave(req, reply, &f), Some(f)),
                None => (reply, None),
            };
        }
        if let Some(challenge) = self.check_auth(req) {
            return (challenge, None);
        }
        let fault = self.fault_for(req);
        let reply = self.serve(req, fault.as_ref());
        match fault {
            Some(f) => (self.misbehave(req, reply, &f), Some(f)),
            None => (reply, None),
        }
    }

    /// The correct answer (HugeManifest changes what the manifest is, so it is applied here).
    fn serve(&self, req: &Request, fault: Option<&Fault>) -> Reply {
        if !matches!(req.method.as_str(), "GET" | "HEAD") {
            return oci_error(405, "UNSUPPORTED", "this fake registry only serves pulls");
        }
        if req.path == "/v2/" || req.path == "/v2" {
            return Reply::new(200)
                .header("Docker-Distribution-API-Version", "registry/2.0")
                .json(&json!({}));
        }
        let images = self.images.lock().unwrap();
        if req.path == "/v2/_catalog" {
            let mut repos: Vec<&str> = images.iter().map(|i| i.repo.as_str()).collect();
            repos.sort();
            repos.dedup();
            return Reply::new(200).json(&json!({"repositories": repos}));
        }
        let Some((name, kind, reference)) = split_v2(&req.path) else {
            return oci_error(404, "NOT_FOUND", "no such endpoint");
        };
        let repo: Vec<&FakeImage> = images.iter().filter(|i| i.repo == name).collect();
        if repo.is_empty() {
            return oci_error(404, "NAME_UNKNOWN", "repository name not known to registry");
        }
        match kind {
            "tags" => {
                let tags: Vec<&str> = repo.iter().map(|i| i.tag.as_str()).collect();
                Reply::new(200).json(&json!({"name": name, "tags": tags}))
            }
            "manifests" => {
                let Some(m) = repo.iter().find_map(|i| i.manifest(reference)) else {
                    return oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown");
                };
                let data = if fault == Some(&Fault::HugeManifest) {
                    huge_manifest(&m.data)
                } else {
                    m.data.clone()
                };
                let digest = sha256(&data);
                Reply::new(200)
                    .header("Content-Type", m.media_type.clone())
                    .header("Docker-Content-Digest", digest.clone())
                    .header("Etag", format!("\"{digest}\""))
                    .header("Docker-Distribution-API-Version", "registry/2.0")
                    .body(data)
            }
            _ => {
                let Some(b) = repo.iter().find_map(|i| i.blob(reference)) else {
                    return oci_error(404, "BLOB_UNKNOWN", "blob unknown to registry");
                };
                let len = b.data.len();
                let base = Reply::new(200)
                    .header("Content-Type", "application/octet-stream")
                    .header("Docker-Content-Digest", b.digest.clone())
                    .header("Etag", format!("\"{}\"", b.digest))
                    .header("Accept-Ranges", "bytes")
                    .header("Docker-Distribution-API-Version", "registry/2.0");
                match req.header("range").and_then(|r| parse_range(r, len)) {
                    None => base.body(b.data.clone()),
                    Some(Err(())) => {
                        let mut r = oci_error(416, "RANGE_INVALID", "range not satisfiable");
                        r.headers
                            .push(("Content-Range".into(), format!("bytes */{len}")));
                        r
                    }
                    Some(Ok((start, end))) => {
                        let mut r = base.body(b.data[start..=end].to_vec());
                        r.status = 206;
                        r.headers
                            .push(("Content-Range".into(), format!("bytes {start}-{end}/{len}")));
                        r
                    }
                }
            }
        }
    }

    /// Applies `fault` to the correct answer.
    fn misbehave(&self, req: &Request, mut reply: Reply, fault: &Fault) -> Reply {
        match fault {
            Fault::Status(code) => oci_error(*code, "UNKNOWN", "injected fault"),
            Fault::WrongContent => {
                if reply.status < 300 {
                    reply.body = if req.path.contains("/manifests/") {
                        tamper_manifest(&reply.body)
                    } else {
                        flip_middle(&reply.body)
                    };
                }
                reply
            }
            Fault::WrongDigestHeader => {
                for (k, v) in reply.headers.iter_mut() {
                    if k.eq_ignore_ascii_case("docker-content-digest") {
                        *v = sha256(v.as_bytes());
                    }
                }
                reply
            }
            Fault::CutShort => reply.delivery(Delivery::CutShort),
            Fault::Redirect { status, to } => {
                let location = format!("{to}{}?sig=berth-test", req.path);
                Reply::new(*status)
                    .header("Location", location)
                    .header("Docker-Distribution-API-Version", "registry/2.0")
            }
            Fault::HugeManifest => reply,
            Fault::Stall => reply.delivery(Delivery::NoAnswer),
            Fault::StallBody => reply.delivery(Delivery::StallBody),
            Fault::Oversend { extra } => {
                if reply.status < 300 {
                    reply.body.extend(noise(*extra, 99));
                }
                reply
            }
            Fault::OversendUnframed { extra } => {
                if reply.status < 300 {
                    reply.body.extend(noise(*extra, 99));
                }
                reply.delivery(Delivery::UntilClose)
            }
            Fault::Trickle { every } => reply.delivery(Delivery::Paced {
                chunk: 1,
                every: *every,
            }),
            Fault::Throttle { bytes_per_sec } => reply.delivery(Delivery::Paced {
                chunk: (bytes_per_sec / 10).max(1),
                every: Duration::from_millis(100),
            }),
        }
    }
}

/// `image` (one platform, no index) with a config that claims these diffIDs instead of its
/// layers' own: an image that lies about its content.
pub fn with_diff_ids(mut image: FakeImage, ids: &[String]) -> FakeImage {
    assert!(image.index.is_none() && image.manifests.len() == 1);
    let m = &mut image.manifests[0];
    let mut config: Value = serde_json::from_slice(&m.config.data).unwrap();
    config["rootfs"]["diff_ids"] = json!(ids);
    m.config = Blob::new(&m.config.media_type, serde_json::to_vec(&config).unwrap());
    let mut manifest: Value = serde_json::from_slice(&m.manifest.data).unwrap();
    manifest["config"] = m.config.descriptor();
    m.manifest = Blob::new(
        &m.manifest.media_type,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    );
    m.diff_ids = ids.to_vec();
    image
}

/// Writes `m`'s manifest again from its config and layers (after a test changed them).
fn remanifest(m: &mut FakeManifest) {
    let mut manifest: Value = serde_json::from_slice(&m.manifest.data).unwrap();
    manifest["config"] = m.config.descriptor();
    manifest["layers"] = Value::Array(m.layers.iter().map(Blob::descriptor).collect());
    m.manifest = Blob::new(
        &m.manifest.media_type,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    );
}

/// `image` (one platform, no index) whose config has media type `media_type`: an artifact
/// when that is not an image config's (a Helm chart, a signature, a Docker plugin).
pub fn with_config_type(mut image: FakeImage, media_type: &str) -> FakeImage {
    assert!(image.index.is_none() && image.manifests.len() == 1);
    let m = &mut image.manifests[0];
    m.config.media_type = media_type.to_string();
    remanifest(m);
    image
}

/// `image` (one platform, no index) whose layer `i` is declared with `media_type`.
pub fn with_layer_type(mut image: FakeImage, i: usize, media_type: &str) -> FakeImage {
    assert!(image.index.is_none() && image.manifests.len() == 1);
    let m = &mut image.manifests[0];
    m.layers[i].media_type = media_type.to_string();
    remanifest(m);
    image
}

/// `image` (one platform, no index) with its config padded to `size` bytes (an annotation in
/// the config's `config.Labels`), declared with its true size.
pub fn with_config_size(mut image: FakeImage, size: usize) -> FakeImage {
    assert!(image.index.is_none() && image.manifests.len() == 1);
    let m = &mut image.manifests[0];
    let mut config: Value = serde_json::from_slice(&m.config.data).unwrap();
    config["config"]["Labels"] = json!({"org.berth.test.padding": ""});
    let base = serde_json::to_vec(&config).unwrap().len();
    config["config"]["Labels"]["org.berth.test.padding"] = json!("x".repeat(size - base));
    let data = serde_json::to_vec(&config).unwrap();
    assert_eq!(data.len(), size);
    m.config = Blob::new(&m.config.media_type, data);
    remanifest(m);
    image
}
