//! The volumes of a root: `$ROOT/volumes/<name>/_data` and `volume.json`.

use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

pub(super) fn check_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

pub(super) fn no_such(name: &str) -> Error {
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
