//! `$ROOT/containers`: records, names, IDs and the lock that keeps names unique.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::Container;
use crate::error::{Error, IoContext, Result};
use crate::store::atomic_write_private;

const LOCK_FILE: &str = ".lock";
const STATE_FILE: &str = "state.json";

/// The containers directory of a root.
#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
}

impl Containers {
    /// Opens (creating if needed) `dir`, normally `$ROOT/containers`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Containers> {
        let dir = dir.into();
        crate::root::private_dir(&dir)?;
        Ok(Containers { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory (bundle) of container `id`.
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Holds the containers' exclusive lock until dropped: taken by whoever reads, decides and
    /// writes records (create, rename, state changes, removal).
    pub fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join(LOCK_FILE);
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_path("open", &path)?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("lock", &path, io::Error::from(e)))
    }

    /// A fresh 64-hex ID that no container has.
    pub fn new_id(&self) -> Result<String> {
        loop {
            let mut buf = [0u8; 32];
            File::open("/dev/urandom")
                .and_then(|mut f| f.read_exact(&mut buf))
                .with_path("read", "/dev/urandom")?;
            let id: String = buf.iter().map(|b| format!("{b:02x}")).collect();
            // As Docker: an ID that is all digits would read as a number in templates.
            if id.bytes().all(|b| b.is_ascii_digit()) || self.path(&id).exists() {
                continue;
            }
            return Ok(id);
        }
    }

    /// Every container's record, oldest first. Directories without a readable record (a
    /// create that died half-way) are skipped.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut all = Vec::new();
        for entry in fs::read_dir(&self.dir).with_path("list", &self.dir)? {
            let entry = entry.with_path("list", &self.dir)?;
            let name = entry.file_name();
            let Some(id) = name.to_str() else { continue };
            if !is_id(id) {
                continue;
            }
            if let Ok(c) = self.load(id) {
                all.push(c);
            }
        }
        all.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// The record of `id` (a full ID).
    pub fn load(&self, id: &str) -> Result<Container> {
        let path = self.path(id).join(STATE_FILE);
        let data = match fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::ContainerNotFound(id.to_string()))
            }
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        serde_json::from_slice(&data).map_err(|e| Error::corrupt(path.display().to_string(), e))
    }

    /// Writes the record (atomically). Callers that read-modify-write hold `lock()`.
    pub fn save(&self, c: &Container) -> Result<()> {
        let data = serde_json::to_vec_pretty(c)
            .map_err(|e| Error::corrupt(format!("record of {}", c.id), e))?;
        atomic_write_private(&self.path(&c.id), STATE_FILE, &data)
    }

    /// The full ID of the container that `name` names: a full ID, a name (with or without
    /// Docker's leading `/`), or a unique ID prefix, in that order of precedence (as Docker).
    pub fn resolve(&self, name: &str) -> Result<String> {
        let all = self.list()?;
        if let Some(c) = all.iter().find(|c| c.id == name) {
            return Ok(c.id.clone());
        }
        let bare = name.strip_prefix('/').unwrap_or(name);
        if let Some(c) = all.iter().find(|c| c.name == bare) {
            return Ok(c.id.clone());
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits: Vec<&Container> = all.iter().filter(|c| c.id.starts_with(name)).collect();
            match hits.len() {
                1 => return Ok(hits[0].id.clone()),
                0 => {}
                _ => {
                    return Err(Error::AmbiguousContainerId {
                        prefix: name.to_string(),
                        candidates: hits.iter().map(|c| c.id[..12].to_string()).collect(),
                    })
                }
            }
        }
        Err(Error::ContainerNotFound(name.to_string()))
    }

    /// The record of whatever `name` names.
    pub fn find(&self, name: &str) -> Result<Container> {
        let id = self.resolve(name)?;
        self.load(&id)
    }

    /// Whether some container is called `name`.
    pub fn name_taken(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .list()?
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| c.id))
    }

    /// Deletes the container's directory (its record first, so that a crash half-way leaves a
    /// directory `list` skips and `ctr-prune` removes).
    pub fn remove_dir(&self, id: &str) -> Result<()> {
        let dir = self.path(id);
        match fs::remove_file(dir.join(STATE_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", dir.join(STATE_FILE), e)),
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &dir, e)),
        }
    }
}

/// Whether `s` is a full container ID.
pub fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Docker's rule for names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::Container;

    fn rec(store: &Containers, name: &str, created: &str) -> Container {
        let id = store.new_id().unwrap();
        fs::create_dir_all(store.path(&id)).unwrap();
        let c = Container {
            id,
            name: name.into(),
            created: created.into(),
            ..Default::default()
        };
        store.save(&c).unwrap();
        c
    }

    #[test]
    fn ids_names_and_prefixes_resolve() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Containers::open(tmp.path().join("containers")).unwrap();
        let a = rec(&store, "web", "2026-01-01T00:00:00Z");
        let b = rec(&store, "db", "2026-01-02T00:00:00Z");
        assert!(is_id(&a.id));
        assert_eq!(store.resolve("web").unwrap(), a.id);
        assert_eq!(store.resolve("/db").unwrap(), b.id);
        assert_eq!(store.resolve(&a.id).unwrap(), a.id);
        assert_eq!(store.resolve(&b.id[..10]).unwrap(), b.id);
        assert!(matches!(
            store.resolve("nope"),
            Err(Error::ContainerNotFound(_))
        ));
        let ids: Vec<String> = store.list().unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![a.id.clone(), b.id.clone()]);
        store.remove_dir(&a.id).unwrap();
        assert!(store.resolve("web").is_err());
        assert!(valid_name("my_app.1-x") && !valid_name("-x") && !valid_name("a/b"));
    }
}
