//! `-v`, `--mount` and `--tmpfs` as Docker reads them: each a [`Request`].

use std::path::Path;

use super::store::check_name;
use crate::error::{Error, Result};
use crate::record::{Mount, VolumeOptions};

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

pub(super) fn check_target(t: &str, spec: &str) -> Result<String> {
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
pub(super) fn clean_abs(p: &str) -> String {
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
