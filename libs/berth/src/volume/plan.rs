//! What a container's mounts become: volumes named (anonymous ones made up), the runtime's
//! `config.json` mounts, Docker's `Mounts` record and `HostConfig` parts, and the volumes and
//! bind sources made on the host.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Map};

use super::{
    check_target, fill_from_layers, random_name, Kind, Origin, Request, Volumes, ANONYMOUS_LABEL,
};
use crate::config::Set;
use crate::error::{IoContext, Result};
use crate::record::{Mount, MountPoint, OrderedMap};
use crate::root::Root;

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
pub fn plan(root: &Root, reqs: &[Request], image_volumes: Option<&Set>) -> Result<Vec<Planned>> {
    let vols = Volumes::open(root)?;
    let mut all = reqs.to_vec();
    if let Some(iv) = image_volumes {
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
    pub fn oci_mount(&self) -> oci_spec::runtime::Mount {
        let r = &self.req;
        let (typ, source, opts) = match r.kind {
            Kind::Tmpfs => {
                let mut opts: Vec<String> = vec!["nosuid".into(), "nodev".into()];
                if !r.tmpfs_opts.iter().any(|o| o == "exec") {
                    opts.push("noexec".into());
                }
                opts.extend(r.tmpfs_opts.iter().filter(|o| *o != "exec").cloned());
                ("tmpfs", "tmpfs", opts)
            }
            _ => {
                let mut opts: Vec<String> = vec!["rbind".into(), "rprivate".into()];
                if r.readonly {
                    opts.push("ro".into());
                }
                ("bind", self.host_source.as_str(), opts)
            }
        };
        let mut m = oci_spec::runtime::Mount::default();
        m.set_destination(r.target.clone().into());
        m.set_typ(Some(typ.to_string()));
        m.set_source(Some(source.into()));
        m.set_options(Some(opts));
        m
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
