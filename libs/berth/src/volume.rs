//! Volumes, as Docker's `local` driver keeps them: `$ROOT/volumes/<name>/_data` holds the data,
//! `$ROOT/volumes/<name>/volume.json` the record (Docker's `docker volume inspect` shape). Also
//! the parsing of `-v`, `--mount` and `--tmpfs`, and what a container's mounts become: the
//! runtime's `config.json` mounts and Docker's `Mounts` record.
//!
//! Filling a new volume from the image copies the image's content at the mount's destination,
//! its layers merged as overlayfs would show them ([`fill_from_layers`]).

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, Mode, OFlags};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::container::record::{Mount, MountPoint, OrderedMap, VolumeOptions};
use crate::container::Containers;
use crate::error::{Error, IoContext, Result};
use crate::root::Root;

/// The label Docker puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// A volume's record, as `docker volume inspect` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: Value,
    pub mountpoint: String,
    pub name: String,
    pub options: Value,
    pub scope: String,
}

impl Volume {
    pub fn is_anonymous(&self) -> bool {
        self.labels.get(ANONYMOUS_LABEL).is_some()
    }
}

/// Docker's rule for local volume names.
pub fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    name.len() >= 2
        && b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn check_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

fn no_such(name: &str) -> Error {
    Error::InvalidInput(format!("no such volume: {name}"))
}

/// A random 64-hex name, as Docker gives anonymous volumes.
pub fn random_name() -> Result<String> {
    let mut buf = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut buf))
        .with_path("read", "/dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The volumes of a root.
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    /// `$ROOT/volumes`, created on first use.
    pub fn open(root: &Root) -> Result<Volumes> {
        let dir = root.dir().join("volumes");
        crate::root::private_dir(&dir)?;
        Ok(Volumes { dir })
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// The volume `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        if !valid_name(name) {
            return Err(no_such(name));
        }
        let p = self.dir.join(name).join("volume.json");
        let text = match fs::read(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(no_such(name)),
            Err(e) => return Err(Error::io("read", &p, e)),
        };
        serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
            what: format!("volume record {}", p.display()),
            why: e.to_string(),
        })
    }

    /// Creates volume `name` (a random one when `None`), or returns the one that exists; the flag
    /// says whether it was made now.
    pub fn create(&self, name: Option<&str>, labels: Map<String, Value>) -> Result<(Volume, bool)> {
        let name = match name {
            Some(n) => {
                check_name(n)?;
                if let Ok(v) = self.get(n) {
                    return Ok((v, false));
                }
                n.to_string()
            }
            None => random_name()?,
        };
        let vdir = self.dir.join(&name);
        let data = vdir.join("_data");
        fs::create_dir_all(&data).with_path("create directory", &data)?;
        let v = Volume {
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            driver: "local".into(),
            labels: if labels.is_empty() {
                Value::Null
            } else {
                Value::Object(labels)
            },
            mountpoint: data.to_string_lossy().into_owned(),
            name,
            options: Value::Null,
            scope: "local".into(),
        };
        let text = serde_json::to_vec_pretty(&v).expect("JSON serialises");
        crate::store::atomic_write(&vdir, "volume.json", &text)?;
        Ok((v, true))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).with_path("read directory", &self.dir)? {
            let e = e.with_path("read directory", &self.dir)?;
            if let Some(n) = e.file_name().to_str() {
                if let Ok(v) = self.get(n) {
                    out.push(v);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes volume `name` and its data (the caller checks it is unused).
    pub fn remove(&self, name: &str) -> Result<()> {
        self.get(name)?;
        let p = self.dir.join(name);
        fs::remove_dir_all(&p).with_path("remove", &p)
    }
}

/// Which containers use each volume (name → container IDs).
pub fn users(root: &Root) -> Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let dir = root.containers_dir();
    if !dir.exists() {
        return Ok(out);
    }
    for c in Containers::open(dir)?.list()? {
        for m in &c.mounts {
            if m.kind == "volume" {
                out.entry(m.name.clone()).or_default().push(c.id.clone());
            }
        }
    }
    Ok(out)
}

/// The containers' lock, held while a volume's users are counted and it is removed: a
/// container is created (its volumes made and its record saved) under the same lock, so it
/// cannot start using a volume half-removed.
fn lock_containers(root: &Root) -> Result<nix::fcntl::Flock<fs::File>> {
    Containers::open(root.containers_dir())?.lock()
}

/// `vol-rm`: removes a volume no container uses (`force` only hides "no such volume": a
/// volume in use is refused all the same, as Docker).
pub fn remove(root: &Root, name: &str, force: bool) -> Result<()> {
    let vols = Volumes::open(root)?;
    let _lock = lock_containers(root)?;
    if let Err(e) = vols.get(name) {
        return if force { Ok(()) } else { Err(e) };
    }
    if let Some(ids) = users(root)?.get(name) {
        return Err(Error::Conflict(format!(
            "remove {name}: volume is in use - [{}]",
            ids.join(", ")
        )));
    }
    vols.remove(name)
}

/// `vol-prune`: removes unused anonymous volumes (all unused ones with `all`); their names.
pub fn prune(root: &Root, all: bool) -> Result<Vec<String>> {
    let vols = Volumes::open(root)?;
    let _lock = lock_containers(root)?;
    let used = users(root)?;
    let mut out = Vec::new();
    for v in vols.list()? {
        if used.contains_key(&v.name) || !(all || v.is_anonymous()) {
            continue;
        }
        vols.remove(&v.name)?;
        out.push(v.name);
    }
    Ok(out)
}

/// Removes the anonymous volumes among a removed container's `mounts` that no other container
/// uses (`ctr-rm -v`).
pub fn remove_anonymous(root: &Root, mounts: &[MountPoint]) -> Result<()> {
    let vols = Volumes::open(root)?;
    let _lock = lock_containers(root)?;
    let used = users(root)?;
    for m in mounts {
        let n = m.name.as_str();
        if m.kind != "volume" {
            continue;
        }
        if used.contains_key(n) {
            continue;
        }
        if vols.get(n).is_ok_and(|v| v.is_anonymous()) {
            vols.remove(n)?;
        }
    }
    Ok(())
}

/// `ctr-rm` with `-v`: the container, then its anonymous volumes.
pub fn rm_container(root: &Root, name: &str, force: bool, volumes: bool) -> Result<String> {
    let mounts = if volumes {
        Containers::open(root.containers_dir())?.find(name)?.mounts
    } else {
        Vec::new()
    };
    let id = crate::container::lifecycle::rm(root, name, force)?;
    remove_anonymous(root, &mounts)?;
    Ok(id)
}

/// The kind of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bind,
    Volume,
    Tmpfs,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Bind => "bind",
            Kind::Volume => "volume",
            Kind::Tmpfs => "tmpfs",
        }
    }
}

/// Where a mount request came from: Docker records each kind in its own place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `-v` (the text, for `HostConfig.Binds`; anonymous ones go to `Config.Volumes`).
    Volume(String),
    /// `--mount` (Docker's `mount.Mount` for `HostConfig.Mounts`).
    Mount(Box<Mount>),
    /// `--tmpfs` (for `HostConfig.Tmpfs`).
    Tmpfs,
    /// `VOLUME` in the image.
    Image,
}

/// One mount asked for, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: Kind,
    /// A host path (bind), a volume name (empty: anonymous), or empty (tmpfs).
    pub source: String,
    pub target: String,
    pub readonly: bool,
    /// Docker's `Mode` (`-v`'s mode text).
    pub mode: String,
    pub nocopy: bool,
    /// tmpfs options (`size=64m,mode=1777`).
    pub tmpfs_opts: Vec<String>,
    pub origin: Origin,
}

fn check_target(t: &str, spec: &str) -> Result<String> {
    if !t.starts_with('/') {
        return Err(Error::InvalidInput(format!(
            "invalid mount config: mount path must be absolute: {t:?} (in {spec:?})"
        )));
    }
    let clean = crate::unpack::clean(Path::new(t))
        .map(|p| format!("/{}", p.display()))
        .unwrap_or_else(|| "/".into());
    if clean == "/" {
        return Err(Error::InvalidInput(format!(
            "invalid specification: destination can't be '/' in {spec:?}"
        )));
    }
    Ok(clean.trim_end_matches('/').to_string())
}

/// A host path, cleaned (`/` allowed).
fn clean_abs(p: &str) -> String {
    crate::unpack::clean(Path::new(p))
        .map(|p| format!("/{}", p.display()))
        .unwrap_or_else(|| "/".into())
}

/// `-v [SOURCE:]TARGET[:MODE]`.
pub fn parse_volume(spec: &str) -> Result<Request> {
    let bad = || Error::InvalidInput(format!("invalid volume specification: '{spec}'"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => return Err(bad()),
    };
    if target.is_empty() || (parts.len() > 1 && source.is_empty()) {
        return Err(bad());
    }
    let mut readonly = false;
    let mut nocopy = false;
    for o in mode.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" | "z" | "Z" | "private" | "rprivate" | "shared" | "rshared" | "slave"
            | "rslave" | "consistent" | "cached" | "delegated" => {}
            "nocopy" => nocopy = true,
            _ => return Err(bad()),
        }
    }
    let target = check_target(target, spec)?;
    let kind = if source.starts_with('/') {
        Kind::Bind
    } else {
        if !source.is_empty() {
            check_name(source)?;
        }
        Kind::Volume
    };
    let source = if kind == Kind::Bind {
        clean_abs(source)
    } else {
        source.to_string()
    };
    Ok(Request {
        kind,
        source,
        target,
        readonly,
        mode: mode.to_string(),
        nocopy,
        tmpfs_opts: Vec::new(),
        origin: Origin::Volume(spec.to_string()),
    })
}

fn parse_bool(k: &str, v: Option<&str>) -> Result<bool> {
    match v {
        None | Some("1") | Some("true") => Ok(true),
        Some("0") | Some("false") => Ok(false),
        Some(v) => Err(Error::InvalidInput(format!(
            "invalid value for {k}: {v} (true or false)"
        ))),
    }
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]`.
pub fn parse_mount(spec: &str) -> Result<Request> {
    let mut kind = Kind::Volume;
    let (mut source, mut target) = (String::new(), String::new());
    let (mut readonly, mut nocopy) = (false, false);
    let mut tmpfs_opts = Vec::new();
    let mut mode = String::new();
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (field.trim(), None),
        };
        let need = || {
            v.map(String::from).ok_or_else(|| {
                Error::InvalidInput(format!("invalid field '{field}' must be a key=value pair"))
            })
        };
        match k.to_ascii_lowercase().as_str() {
            "type" => {
                kind = match need()?.as_str() {
                    "bind" => Kind::Bind,
                    "volume" => Kind::Volume,
                    "tmpfs" => Kind::Tmpfs,
                    t => {
                        return Err(Error::InvalidInput(format!(
                            "invalid mount type {t:?}: berth knows bind, volume and tmpfs"
                        )))
                    }
                }
            }
            "source" | "src" => source = need()?,
            "target" | "destination" | "dst" => target = need()?,
            "readonly" | "ro" => readonly = parse_bool(k, v)?,
            "volume-nocopy" | "volume-no-copy" => nocopy = parse_bool(k, v)?,
            "tmpfs-size" => tmpfs_opts.push(format!("size={}", need()?)),
            "tmpfs-mode" => tmpfs_opts.push(format!("mode={}", need()?)),
            "bind-propagation" => mode = need()?,
            "consistency" | "volume-driver" | "volume-label" | "volume-opt" | "bind-recursive" => {}
            _ => {
                return Err(Error::InvalidInput(format!(
                    "unexpected key '{k}' in '{field}'"
                )))
            }
        }
    }
    if target.is_empty() {
        return Err(Error::InvalidInput(format!(
            "invalid mount config: target is required (in {spec:?})"
        )));
    }
    let target = check_target(&target, spec)?;
    match kind {
        Kind::Bind => {
            if source.is_empty() {
                return Err(Error::InvalidInput(
                    "invalid mount config for type \"bind\": field Source must not be empty".into(),
                ));
            }
            if !source.starts_with('/') {
                return Err(Error::InvalidInput(format!(
                    "invalid mount config for type \"bind\": invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            source = clean_abs(&source);
            if !Path::new(&source).exists() {
                return Err(Error::InvalidInput(format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {source}"
                )));
            }
        }
        Kind::Volume if !source.is_empty() => check_name(&source)?,
        Kind::Tmpfs if !source.is_empty() => {
            return Err(Error::InvalidInput(
                "invalid mount config for type \"tmpfs\": field Source must be empty".into(),
            ))
        }
        _ => {}
    }
    let m = Mount {
        kind: kind.as_str().to_string(),
        target: target.clone(),
        source: source.clone(),
        read_only: readonly,
        volume_options: nocopy.then(|| VolumeOptions {
            no_copy: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(Request {
        kind,
        source,
        target,
        readonly,
        mode: if kind == Kind::Volume {
            "z".into()
        } else {
            String::new()
        },
        nocopy,
        tmpfs_opts,
        origin: Origin::Mount(Box::new(m)),
    })
    .map(|mut r| {
        if !mode.is_empty() {
            r.mode = mode;
        }
        r
    })
}

/// `--tmpfs PATH[:OPTIONS]`.
pub fn parse_tmpfs(spec: &str) -> Result<Request> {
    let (t, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let target = check_target(t, spec)?;
    let tmpfs_opts: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(String::from)
        .collect();
    Ok(Request {
        kind: Kind::Tmpfs,
        source: String::new(),
        target,
        readonly: tmpfs_opts.iter().any(|o| o == "ro"),
        mode: String::new(),
        nocopy: false,
        tmpfs_opts,
        origin: Origin::Tmpfs,
    })
}

/// The user's mount flags parsed, checked for duplicate destinations.
pub fn parse_all(volumes: &[String], mounts: &[String], tmpfs: &[String]) -> Result<Vec<Request>> {
    let mut out = Vec::new();
    for v in volumes {
        out.push(parse_volume(v)?);
    }
    for m in mounts {
        out.push(parse_mount(m)?);
    }
    for t in tmpfs {
        out.push(parse_tmpfs(t)?);
    }
    let mut seen = std::collections::HashSet::new();
    for r in &out {
        if !seen.insert(r.target.clone()) {
            return Err(Error::InvalidInput(format!(
                "Duplicate mount point: {}",
                r.target
            )));
        }
    }
    Ok(out)
}

/// A mount made ready for a container: the volume named, the host source known.
#[derive(Debug, Clone)]
pub struct Planned {
    pub req: Request,
    /// The volume's name (volumes only; anonymous ones get a random one).
    pub name: String,
    /// The host path mounted (empty for tmpfs).
    pub host_source: String,
    pub anonymous: bool,
}

/// Plans `reqs` plus the image's `VOLUME`s (those no request covers) as anonymous volumes.
pub fn plan(root: &Root, reqs: &[Request], image_volumes: &Value) -> Result<Vec<Planned>> {
    let vols = Volumes::open(root)?;
    let mut all = reqs.to_vec();
    if let Some(iv) = image_volumes.as_object() {
        let mut keys: Vec<&String> = iv.keys().collect();
        keys.sort();
        for k in keys {
            let Ok(t) = check_target(k, k) else { continue };
            if all.iter().any(|r| r.target == t) {
                continue;
            }
            all.push(Request {
                kind: Kind::Volume,
                source: String::new(),
                target: t,
                readonly: false,
                mode: String::new(),
                nocopy: false,
                tmpfs_opts: Vec::new(),
                origin: Origin::Image,
            });
        }
    }
    all.iter()
        .map(|r| {
            let (name, host_source, anonymous) = match r.kind {
                Kind::Bind => (String::new(), r.source.clone(), false),
                Kind::Tmpfs => (String::new(), String::new(), false),
                Kind::Volume if r.source.is_empty() => {
                    let n = random_name()?;
                    let d = vols.data(&n).to_string_lossy().into_owned();
                    (n, d, true)
                }
                Kind::Volume => {
                    let d = vols.data(&r.source).to_string_lossy().into_owned();
                    (r.source.clone(), d, false)
                }
            };
            Ok(Planned {
                req: r.clone(),
                name,
                host_source,
                anonymous,
            })
        })
        .collect()
}

impl Planned {
    /// The runtime's mount (`config.json`).
    pub fn oci_mount(&self) -> Value {
        let r = &self.req;
        match r.kind {
            Kind::Tmpfs => {
                let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into()];
                if !r.tmpfs_opts.iter().any(|o| o == "exec") {
                    opts.push("noexec".into());
                }
                opts.extend(r.tmpfs_opts.iter().filter(|o| *o != "exec").cloned());
                json!({"destination": r.target, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
            _ => {
                let mut opts = vec!["rbind", "rprivate"];
                if r.readonly {
                    opts.push("ro");
                }
                json!({"destination": r.target, "type": "bind", "source": self.host_source, "options": opts})
            }
        }
    }

    /// Docker's `Mounts` entry (none for `--tmpfs`, as Docker).
    pub fn record(&self) -> Option<MountPoint> {
        let r = &self.req;
        let point = |kind: &str, source: &str, mode: String, propagation: &str| MountPoint {
            kind: kind.into(),
            source: source.into(),
            destination: r.target.clone(),
            mode,
            rw: !r.readonly,
            propagation: propagation.into(),
            ..Default::default()
        };
        match r.kind {
            Kind::Tmpfs if r.origin == Origin::Tmpfs => None,
            Kind::Tmpfs => Some(point("tmpfs", "", String::new(), "")),
            Kind::Bind => Some(point("bind", &self.host_source, r.mode.clone(), "rprivate")),
            Kind::Volume => {
                let mode = match &r.origin {
                    Origin::Volume(_) if r.mode.is_empty() && !self.anonymous => "z".to_string(),
                    _ => r.mode.clone(),
                };
                Some(MountPoint {
                    name: self.name.clone(),
                    driver: "local".into(),
                    ..point("volume", &self.host_source, mode, "")
                })
            }
        }
    }
}

/// Docker's `HostConfig.Binds`, `HostConfig.Mounts`, `HostConfig.Tmpfs` and the anonymous `-v`
/// targets for `Config.Volumes`.
pub fn host_config_parts(reqs: &[Request]) -> HostConfigParts {
    let mut binds = Vec::new();
    let mut mounts = Vec::new();
    let mut tmpfs = OrderedMap::new();
    let mut anon = Vec::new();
    for r in reqs {
        match &r.origin {
            Origin::Volume(_) if r.source.is_empty() => anon.push(r.target.clone()),
            Origin::Volume(s) => binds.push(s.clone()),
            Origin::Mount(m) => mounts.push((**m).clone()),
            Origin::Tmpfs => tmpfs.insert(r.target.clone(), r.tmpfs_opts.join(",")),
            Origin::Image => {}
        }
    }
    (
        (!binds.is_empty()).then_some(binds),
        (!mounts.is_empty()).then_some(mounts),
        (!tmpfs.is_empty()).then_some(tmpfs),
        anon,
    )
}

/// What [`host_config_parts`] returns: Binds, Mounts, Tmpfs and the anonymous targets.
pub type HostConfigParts = (
    Option<Vec<String>>,
    Option<Vec<Mount>>,
    Option<OrderedMap<String>>,
    Vec<String>,
);

/// Makes what `planned` needs on the host: missing `-v` bind sources (directories, as Docker),
/// volumes (new or empty ones filled from the image's `layers`, bottom first, unless nocopy).
/// Returns the volumes made now, for the caller to remove if the container is not made.
pub fn prepare(root: &Root, planned: &[Planned], layers: &[PathBuf]) -> Result<Vec<String>> {
    let vols = Volumes::open(root)?;
    let mut made = Vec::new();
    let res = (|| -> Result<()> {
        for p in planned {
            match p.req.kind {
                Kind::Bind => {
                    if !Path::new(&p.host_source).exists() {
                        fs::create_dir_all(&p.host_source)
                            .with_path("create directory", &p.host_source)?;
                    }
                }
                Kind::Volume => {
                    let mut labels = Map::new();
                    if p.anonymous {
                        labels.insert(ANONYMOUS_LABEL.into(), json!(""));
                    }
                    let (_, new) = vols.create(Some(&p.name), labels)?;
                    if new {
                        made.push(p.name.clone());
                    }
                    let data = vols.data(&p.name);
                    let empty = fs::read_dir(&data)
                        .with_path("read directory", &data)?
                        .next()
                        .is_none();
                    if empty && !p.req.nocopy {
                        fill_from_layers(layers, &p.req.target, &data)?;
                    }
                }
                Kind::Tmpfs => {}
            }
        }
        Ok(())
    })();
    match res {
        Ok(()) => Ok(made),
        Err(e) => {
            for n in &made {
                let _ = vols.remove(n);
            }
            Err(e)
        }
    }
}

/// Copies the directory `target` of the image into `dest`, as Docker fills a new volume: the
/// image's merged view at that path, every layer (bottom first in `layers`) contributing, upper
/// ones overriding lower ones, whiteouts (overlayfs 0/0 devices or `.wh.NAME`) hiding and opaque
/// directories (`trusted.overlay.opaque` or `.wh..wh..opq`) cutting off what is below them.
/// Symlinks on the way to `target` resolve in that merged view, never above its root; owners,
/// modes and mtimes are kept. Nothing when the image has no directory there.
pub fn fill_from_layers(layers: &[PathBuf], target: &str, dest: &Path) -> Result<()> {
    let mut roots = Vec::new();
    for layer in layers.iter().rev() {
        match rfs::open(
            layer,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => roots.push(fd),
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(Error::io("open", layer, e.into())),
        }
    }
    let err = |e: io::Error| Error::io("copy the image's content into volume", dest, e);
    let Some((dirs, st)) = merged::resolve(roots, target).map_err(err)? else {
        return Ok(());
    };
    merged::copy_dir(&dirs, dest).map_err(err)?;
    merged::set_meta(&st, dest).map_err(err)
}

/// The merged view of a stack of layer directories (top first), read without mounting it.
mod merged {
    use std::collections::BTreeSet;
    use std::ffi::{OsStr, OsString};
    use std::io;
    use std::os::fd::OwnedFd;
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Component, Path};

    use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps};
    use rustix::io::Errno;

    const WH: &[u8] = b".wh.";
    const OPAQUE: &[u8] = b".wh..wh..opq";
    /// As the kernel's limit on symlinks followed in one lookup.
    const MAX_LINKS: usize = 40;

    /// What a name is in the merged view of `dirs` (top first).
    pub enum Child {
        Missing,
        /// A directory: the layers' directories that make it (top first) and the top one's
        /// status.
        Dir(Vec<OwnedFd>, Stat),
        /// Anything else: the top-most layer's entry (index in `dirs`) and its status.
        Leaf(usize, Stat),
    }

    fn stat_at(dir: &OwnedFd, name: &OsStr) -> io::Result<Option<Stat>> {
        match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn is_whiteout(st: &Stat) -> bool {
        FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
    }

    fn is_opaque(dir: &OwnedFd) -> io::Result<bool> {
        let mut v = [0u8; 1];
        if let Ok(1) = rfs::fgetxattr(dir, "trusted.overlay.opaque", &mut v) {
            if v[0] == b'y' {
                return Ok(true);
            }
        }
        Ok(stat_at(dir, OsStr::from_bytes(OPAQUE))?.is_some())
    }

    fn whited_out(dir: &OwnedFd, name: &OsStr) -> io::Result<bool> {
        let mut wh = WH.to_vec();
        wh.extend_from_slice(name.as_bytes());
        Ok(stat_at(dir, OsStr::from_bytes(&wh))?.is_some())
    }

    /// `name` in the merged directory made of `dirs`.
    pub fn child(dirs: &[OwnedFd], name: &OsStr) -> io::Result<Child> {
        let mut found = Vec::new();
        let mut top = None;
        for (i, d) in dirs.iter().enumerate() {
            match stat_at(d, name)? {
                Some(st) if is_whiteout(&st) => break,
                Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                    let fd = rfs::openat(
                        d,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    // A tar-style layer may hold both `.wh.NAME` and a new NAME.
                    let cut = is_opaque(&fd)? || whited_out(d, name)?;
                    found.push(fd);
                    top.get_or_insert(st);
                    if cut {
                        break;
                    }
                }
                // Not a directory: it is the entry if nothing above is, and hides the rest.
                Some(st) => {
                    if found.is_empty() {
                        return Ok(Child::Leaf(i, st));
                    }
                    break;
                }
                None if whited_out(d, name)? => break,
                None => {}
            }
        }
        Ok(match top {
            Some(st) => Child::Dir(found, st),
            None => Child::Missing,
        })
    }

    /// The merged directory at `path` (symlinks followed inside the merged view, `..` stopping
    /// at its root), or None when there is no directory there.
    pub fn resolve(roots: Vec<OwnedFd>, path: &str) -> io::Result<Option<(Vec<OwnedFd>, Stat)>> {
        let Some(first) = roots.first() else {
            return Ok(None);
        };
        let root_st = rfs::fstat(first)?;
        let dup = |v: &[OwnedFd]| {
            v.iter()
                .map(|f| f.try_clone())
                .collect::<io::Result<Vec<_>>>()
        };
        // The directories walked so far (the root at the bottom), each with its status.
        let mut stack: Vec<(Vec<OwnedFd>, Stat)> = vec![(dup(&roots)?, root_st)];
        let mut todo: Vec<OsString> = components(path.as_bytes());
        todo.reverse();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_bytes() {
                b"." => continue,
                b".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let here = &stack.last().expect("the root stays").0;
            match child(here, &part)? {
                Child::Missing => return Ok(None),
                Child::Dir(dirs, st) => stack.push((dirs, st)),
                Child::Leaf(i, st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Ok(None);
                    }
                    let t = rfs::readlinkat(&here[i], part.as_os_str(), Vec::new())?;
                    let t = t.as_bytes();
                    if t.starts_with(b"/") {
                        stack.truncate(1);
                    }
                    let mut more = components(t);
                    more.reverse();
                    todo.extend(more);
                }
                Child::Leaf(..) => return Ok(None),
            }
        }
        let (dirs, st) = stack.pop().expect("the root stays");
        Ok(Some((dirs, st)))
    }

    fn components(p: &[u8]) -> Vec<OsString> {
        Path::new(OsStr::from_bytes(p))
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect()
    }

    /// Copies the merged directory `dirs` into the existing directory `dest`.
    pub fn copy_dir(dirs: &[OwnedFd], dest: &Path) -> io::Result<()> {
        let mut names = BTreeSet::new();
        for d in dirs {
            for ent in rfs::Dir::read_from(d)? {
                let ent = ent?;
                let n = ent.file_name().to_bytes();
                if n == b"." || n == b".." || n.starts_with(WH) {
                    continue;
                }
                names.insert(OsStr::from_bytes(n).to_os_string());
            }
        }
        for name in names {
            let to = dest.join(&name);
            match child(dirs, &name)? {
                Child::Missing => {}
                Child::Dir(sub, st) => {
                    std::fs::create_dir(&to)?;
                    copy_dir(&sub, &to)?;
                    set_meta(&st, &to)?;
                }
                Child::Leaf(i, st) => {
                    match FileType::from_raw_mode(st.st_mode) {
                        FileType::RegularFile => {
                            let f = rfs::openat(
                                &dirs[i],
                                name.as_os_str(),
                                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                                Mode::empty(),
                            )?;
                            let mut out = std::fs::OpenOptions::new()
                                .write(true)
                                .create_new(true)
                                .open(&to)?;
                            io::copy(&mut std::fs::File::from(f), &mut out)?;
                        }
                        FileType::Symlink => {
                            let t = rfs::readlinkat(&dirs[i], name.as_os_str(), Vec::new())?;
                            std::os::unix::fs::symlink(OsStr::from_bytes(t.as_bytes()), &to)?;
                        }
                        // Devices, sockets and fifos are not copied.
                        _ => continue,
                    }
                    set_meta(&st, &to)?;
                }
            }
        }
        Ok(())
    }

    /// Owner, mode and mtime of `st` on `to` (not followed if a symlink).
    pub fn set_meta(st: &Stat, to: &Path) -> io::Result<()> {
        let _ = std::os::unix::fs::lchown(to, Some(st.st_uid), Some(st.st_gid));
        if FileType::from_raw_mode(st.st_mode) != FileType::Symlink {
            rfs::chmod(to, Mode::from_raw_mode(st.st_mode & 0o7777))?;
        }
        let t = Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        };
        let times = Timestamps {
            last_access: t,
            last_modification: t,
        };
        rfs::utimensat(rfs::CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{AtFlags, FileType, Timespec, Timestamps};
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn v_is_parsed_as_docker() {
        let r = parse_volume("/host/dir:/data:ro").unwrap();
        assert_eq!(
            (r.kind, r.source.as_str(), r.target.as_str(), r.readonly),
            (Kind::Bind, "/host/dir", "/data", true)
        );
        let r = parse_volume("myvol:/data/").unwrap();
        assert_eq!(
            (r.kind, r.source.as_str(), r.target.as_str(), r.readonly),
            (Kind::Volume, "myvol", "/data", false)
        );
        let r = parse_volume("/anon").unwrap();
        assert_eq!((r.kind, r.source.as_str()), (Kind::Volume, ""));
        for bad in [
            "a:b:c:d",
            "vol:rel",
            "vol:/x:bogus",
            "/x:/",
            "./x:/y",
            ":/y",
            "x:/y",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
        let e = parse_volume("./x:/y").unwrap_err().to_string();
        assert!(e.contains("invalid characters"), "{e}");
    }

    #[test]
    fn mount_is_parsed_as_docker() {
        let r = parse_mount("type=bind,source=/,target=/h,readonly").unwrap();
        assert_eq!(
            (r.kind, r.source.as_str(), r.target.as_str(), r.readonly),
            (Kind::Bind, "/", "/h", true)
        );
        assert_eq!(
            r.origin,
            Origin::Mount(Box::new(
                serde_json::from_value(
                    json!({"Type": "bind", "Source": "/", "Target": "/h", "ReadOnly": true})
                )
                .unwrap()
            ))
        );
        let r = parse_mount("src=data,dst=/d").unwrap();
        assert_eq!(
            (r.kind, r.source.as_str(), r.readonly),
            (Kind::Volume, "data", false)
        );
        let r = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m").unwrap();
        assert_eq!(r.tmpfs_opts, ["size=1m"]);
        assert!(parse_mount("type=bind,source=/no/such/dir/x,target=/h").is_err());
        assert!(parse_mount("type=bind,target=/h").is_err());
        assert!(parse_mount("type=nfs,target=/h").is_err());
        assert!(parse_mount("type=volume,source=v").is_err());
        assert!(parse_mount("type=volume,target=/x,bogus=1").is_err());
        let t = parse_tmpfs("/run:size=64m,mode=1777").unwrap();
        assert_eq!((t.target.as_str(), t.tmpfs_opts.len()), ("/run", 2));
        let e = parse_all(&["v1:/d".into()], &["type=tmpfs,dst=/d".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("Duplicate mount point: /d"), "{e}");
    }

    #[test]
    fn volumes_are_made_listed_and_removed() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let vols = Volumes::open(&root).unwrap();
        let (v, new) = vols.create(Some("data"), Map::new()).unwrap();
        assert!(new && v.driver == "local" && v.scope == "local");
        assert!(Path::new(&v.mountpoint).is_dir());
        assert!(!vols.create(Some("data"), Map::new()).unwrap().1);
        assert!(vols.create(Some("bad/name"), Map::new()).is_err());
        let mut l = Map::new();
        l.insert(ANONYMOUS_LABEL.into(), json!(""));
        let (a, _) = vols.create(None, l).unwrap();
        assert_eq!(a.name.len(), 64);
        assert_eq!(vols.list().unwrap().len(), 2);
        assert_eq!(prune(&root, false).unwrap(), vec![a.name.clone()]);
        assert!(remove(&root, "nope", false).is_err());
        assert!(remove(&root, "nope", true).is_ok());
        remove(&root, "data", false).unwrap();
        assert!(vols.list().unwrap().is_empty());
    }

    #[test]
    fn removal_waits_for_a_create_under_the_containers_lock() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        let vols = Volumes::open(&root).unwrap();
        vols.create(Some("data"), Map::new()).unwrap();
        vols.create(Some("other"), Map::new()).unwrap();
        // A create holds the lock while it makes its volumes and saves its record.
        let store = Containers::open(root.containers_dir()).unwrap();
        let lock = store.lock().unwrap();
        let r = root.clone();
        let rm = std::thread::spawn(move || remove(&r, "data", true));
        let r = root.clone();
        let pr = std::thread::spawn(move || prune(&r, true));
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(vols.get("data").is_ok(), "vol-rm waits for the lock");
        let id = store.new_id().unwrap();
        fs::create_dir_all(store.path(&id)).unwrap();
        let c = crate::container::Container {
            id: id.clone(),
            name: "user".into(),
            mounts: vec![serde_json::from_value(
                json!({"Type": "volume", "Name": "data", "Destination": "/d"}),
            )
            .unwrap()],
            ..Default::default()
        };
        store.save(&c).unwrap();
        drop(lock);
        let e = rm.join().unwrap().unwrap_err();
        let text = e.to_string();
        assert!(
            text.ends_with(&format!("remove data: volume is in use - [{id}]")),
            "{text}"
        );
        assert_eq!(e.exit_code(), 1);
        let gone = pr.join().unwrap().unwrap();
        assert!(vols.get("data").is_ok());
        assert!(!gone.contains(&"data".to_string()));
    }

    #[test]
    fn fill_resolves_in_the_merged_image() {
        let t = tempfile::tempdir().unwrap();
        let l0 = t.path().join("l0");
        let l1 = t.path().join("l1");
        fs::create_dir_all(l0.join("etc/sub")).unwrap();
        fs::write(l0.join("etc/sub/f"), "low").unwrap();
        fs::create_dir_all(l1.join("data")).unwrap();
        fs::write(l1.join("data/x"), "top").unwrap();
        symlink("../../../../etc", l1.join("link")).unwrap();
        symlink("sub/f", l1.join("data/ln")).unwrap();
        let layers = vec![l0, l1];
        let d = t.path().join("v1");
        fs::create_dir(&d).unwrap();
        fill_from_layers(&layers, "/data", &d).unwrap();
        assert_eq!(fs::read_to_string(d.join("x")).unwrap(), "top");
        assert_eq!(fs::read_link(d.join("ln")).unwrap(), Path::new("sub/f"));
        // The symlink resolves inside the image (its `..` stop at the image's root, and the
        // directory it names is in a lower layer): the host's /etc is never read.
        let d2 = t.path().join("v2");
        fs::create_dir(&d2).unwrap();
        fill_from_layers(&layers, "/link", &d2).unwrap();
        assert!(!d2.join("passwd").exists());
        assert_eq!(fs::read_to_string(d2.join("sub/f")).unwrap(), "low");
        let d3 = t.path().join("v3");
        fs::create_dir(&d3).unwrap();
        fill_from_layers(&layers, "/etc", &d3).unwrap();
        assert_eq!(fs::read_to_string(d3.join("sub/f")).unwrap(), "low");
        // Nothing there: nothing copied.
        let d4 = t.path().join("v4");
        fs::create_dir(&d4).unwrap();
        fill_from_layers(&layers, "/data/x", &d4).unwrap();
        fill_from_layers(&layers, "/nope", &d4).unwrap();
        assert_eq!(fs::read_dir(&d4).unwrap().count(), 0);
    }

    #[test]
    fn fill_merges_layers_with_whiteouts_and_opaque_directories() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        let l = |i: usize| t.path().join(format!("l{i}"));
        let w = |p: PathBuf, s: &str| {
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, s).unwrap();
        };
        // Bottom layer.
        for f in ["a", "b", "keep/k", "gone/g", "opq/old", "ovl/o"] {
            w(l(0).join("data").join(f), "0");
        }
        fs::set_permissions(l(0).join("data/keep"), fs::Permissions::from_mode(0o700)).unwrap();
        let old = Timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 0,
        };
        let times = Timestamps {
            last_access: old,
            last_modification: old,
        };
        rfs::utimensat(rfs::CWD, l(0).join("data/keep/k"), &times, AtFlags::empty()).unwrap();
        // Middle layer: a replaced, b and gone whited out, opq made opaque, c new.
        w(l(1).join("data/a"), "1");
        w(l(1).join("data/.wh.b"), "");
        w(l(1).join("data/.wh.gone"), "");
        w(l(1).join("data/opq/.wh..wh..opq"), "");
        w(l(1).join("data/opq/new"), "1");
        w(l(1).join("data/c"), "1");
        // Top layer: more in keep; overlayfs-style whiteout and opaque dir where root can.
        w(l(2).join("data/keep/k2"), "2");
        // The top-most directory's mode wins.
        fs::set_permissions(l(2).join("data/keep"), fs::Permissions::from_mode(0o750)).unwrap();
        let root = rustix::process::geteuid().is_root();
        if root {
            rfs::mknodat(
                rfs::CWD,
                l(2).join("data/c"),
                FileType::CharacterDevice,
                Mode::from_raw_mode(0o600),
                rfs::makedev(0, 0),
            )
            .unwrap();
            w(l(2).join("data/ovl/n"), "2");
            rfs::setxattr(
                l(2).join("data/ovl"),
                "trusted.overlay.opaque",
                b"y",
                rfs::XattrFlags::empty(),
            )
            .unwrap();
        }
        let d = t.path().join("vol");
        fs::create_dir(&d).unwrap();
        fill_from_layers(&[l(0), l(1), l(2)], "/data", &d).unwrap();
        let read = |p: &str| fs::read_to_string(d.join(p)).ok();
        assert_eq!(read("a").as_deref(), Some("1"));
        assert_eq!(read("b"), None);
        assert!(!d.join("gone").exists());
        assert_eq!(read("keep/k").as_deref(), Some("0"));
        assert_eq!(read("keep/k2").as_deref(), Some("2"));
        assert_eq!(read("opq/new").as_deref(), Some("1"));
        assert_eq!(read("opq/old"), None);
        let mut names: Vec<String> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.iter().all(|n| !n.starts_with(".wh.")), "{names:?}");
        assert!(!d.join("opq/.wh..wh..opq").exists());
        assert_eq!(fs::metadata(d.join("keep")).unwrap().mode() & 0o7777, 0o750);
        assert_eq!(
            fs::metadata(d.join("keep/k")).unwrap().mtime(),
            1_000_000_000
        );
        if root {
            assert_eq!(read("c"), None);
            assert_eq!(read("ovl/n").as_deref(), Some("2"));
            assert_eq!(read("ovl/o"), None);
            assert_eq!(names, ["a", "keep", "opq", "ovl"]);
        } else {
            assert_eq!(read("c").as_deref(), Some("1"));
            assert_eq!(names, ["a", "c", "keep", "opq", "ovl"]);
        }
    }
}
