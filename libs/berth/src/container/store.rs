//! `$ROOT/containers`: records, names, IDs and the lock that keeps names unique.
//!
//! So that one operation touches only its own container, whatever the number of containers,
//! `.index/` beside the records says what would otherwise need every record read:
//!
//! - `.index/names/NAME`: a symbolic link to the ID of the container called NAME. Written (under
//!   the lock, as every record) before the record that names it, so a name in a record always
//!   has its link; a link whose container does not exist or is called otherwise now (a create
//!   that died half-way, a rename) is stale, and is read as no link.
//! - `.index/live/ID`: the pids (and start times) of a container whose record says it runs, or
//!   that `--rm` has yet to remove: the containers a dead monitor could have left to
//!   [`liveness::reconcile`](super::liveness::reconcile), which reads the records of only
//!   those whose pids are gone. Written before a record that needs it, removed after one that
//!   does not, so a record that needs it always has it.
//! - `.index/complete`: the boot ID of the machine when the index was last rebuilt from every
//!   record. Missing (a root written before the index existed) or from another boot (a power
//!   loss may have lost the last links written), the index is rebuilt from the records, under
//!   the lock; until then, answers come from every record, as they did before.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use berth_fsutil::{Flock, FlockArg};

use super::{status, Container};
use crate::error::{Error, IoContext, Result};
use crate::store::atomic_write_private;

const LOCK_FILE: &str = ".lock";
pub(crate) const STATE_FILE: &str = "state.json";
const INDEX_DIR: &str = ".index";
const NAMES_DIR: &str = "names";
const LIVE_DIR: &str = "live";
const COMPLETE_FILE: &str = "complete";

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
        self.flock(FlockArg::LockExclusive)
    }

    fn flock(&self, how: FlockArg) -> Result<Flock<File>> {
        Ok(berth_fsutil::lock(&self.dir.join(LOCK_FILE), how)?)
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

    /// The IDs of the container directories (with or without a record), in directory order.
    fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir).with_path("list", &self.dir)? {
            let entry = entry.with_path("list", &self.dir)?;
            if let Some(id) = entry.file_name().to_str().filter(|s| is_id(s)) {
                ids.push(id.to_string());
            }
        }
        Ok(ids)
    }

    /// Every container's record, oldest first. Directories without a readable record (a
    /// create that died half-way) are skipped.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut all: Vec<Container> = self
            .ids()?
            .iter()
            .filter_map(|id| self.load(id).ok())
            .collect();
        sort(&mut all);
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

    /// Writes the record (atomically), and the index entries that name it first. Callers hold
    /// `lock()` (every writer of records does).
    pub fn save(&self, c: &Container) -> Result<()> {
        let data = serde_json::to_vec_pretty(c)
            .map_err(|e| Error::corrupt(format!("record of {}", c.id), e))?;
        let index = Index::new(&self.dir);
        if valid_name(&c.name) && index.name(&c.name).as_deref() != Some(c.id.as_str()) {
            // A new name (create, rename): the old one's link goes once the record is written.
            let old = self.load(&c.id).ok().map(|o| o.name);
            index.link_name(&c.name, &c.id)?;
            if needs_watch(c) {
                index.watch(c)?;
            }
            atomic_write_private(&self.path(&c.id), STATE_FILE, &data)?;
            if let Some(old) = old.filter(|o| *o != c.name) {
                index.unlink_name(&old, &c.id);
            }
        } else {
            if needs_watch(c) {
                index.watch(c)?;
            }
            atomic_write_private(&self.path(&c.id), STATE_FILE, &data)?;
        }
        if !needs_watch(c) {
            index.unwatch(&c.id);
        }
        Ok(())
    }

    /// The full ID of the container that `name` names: a full ID, a name (with or without
    /// Docker's leading `/`), or a unique ID prefix, in that order of precedence (as Docker).
    pub fn resolve(&self, name: &str) -> Result<String> {
        self.find(name).map(|c| c.id)
    }

    /// The record of whatever `name` names (as [`resolve`](Self::resolve)). Reads the records
    /// of the containers it could be only (by path: its ID, its name's link, the IDs that start
    /// with it), not every record.
    pub fn find(&self, name: &str) -> Result<Container> {
        if !self.indexed() {
            return self.find_in(&self.list()?, name);
        }
        if is_id(name) {
            if let Ok(c) = self.load(name) {
                return Ok(c);
            }
        }
        let bare = name.strip_prefix('/').unwrap_or(name);
        if let Some(c) = self.named(bare) {
            return Ok(c);
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut hits: Vec<Container> = self
                .ids()?
                .iter()
                .filter(|id| id.starts_with(name))
                .filter_map(|id| self.load(id).ok())
                .collect();
            sort(&mut hits);
            return prefix_hit(name, hits);
        }
        Err(Error::ContainerNotFound(name.to_string()))
    }

    /// `find` over the records `all` (oldest first): the index's answer without it.
    fn find_in(&self, all: &[Container], name: &str) -> Result<Container> {
        if let Some(c) = all.iter().find(|c| c.id == name) {
            return Ok(c.clone());
        }
        let bare = name.strip_prefix('/').unwrap_or(name);
        if let Some(c) = all.iter().find(|c| c.name == bare) {
            return Ok(c.clone());
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hits = all.iter().filter(|c| c.id.starts_with(name)).cloned();
            return prefix_hit(name, hits.collect());
        }
        Err(Error::ContainerNotFound(name.to_string()))
    }

    /// The record of the container called `name`, by its link in the index.
    fn named(&self, name: &str) -> Option<Container> {
        if !valid_name(name) {
            return None;
        }
        let id = Index::new(&self.dir).name(name)?;
        self.load(&id).ok().filter(|c| c.name == name)
    }

    /// Whether some container is called `name`.
    pub fn name_taken(&self, name: &str) -> Result<Option<String>> {
        if !self.indexed() {
            return Ok(self
                .list()?
                .into_iter()
                .find(|c| c.name == name)
                .map(|c| c.id));
        }
        Ok(self.named(name).map(|c| c.id))
    }

    /// The IDs of the containers a dead monitor may have left undone (see
    /// [`liveness::abandoned`](super::liveness::abandoned)): from the index, those whose monitor
    /// and init are both gone, without reading records (without the index, the abandoned ones
    /// among every record). Callers read each record again (under the lock) before deciding, and call
    /// [`settle`](Self::settle).
    pub fn suspects(&self) -> Result<Vec<String>> {
        if !self.indexed() {
            let all = self.list()?.into_iter();
            return Ok(all
                .filter(super::liveness::abandoned)
                .map(|c| c.id)
                .collect());
        }
        Index::new(&self.dir).suspects()
    }

    /// Brings the index entry of a suspect `id` (see [`suspects`](Self::suspects)) in line with
    /// its record `rec` (None: it has none). Under the lock.
    pub fn settle(&self, id: &str, rec: Option<&Container>) {
        let index = Index::new(&self.dir);
        match rec {
            Some(c) if needs_watch(c) => {
                let _ = index.watch(c);
            }
            _ => index.unwatch(id),
        }
    }

    /// Deletes the container's directory (its record first, so that a crash half-way leaves a
    /// directory `list` skips and `ctr-prune` removes), then its index entries.
    pub fn remove_dir(&self, id: &str) -> Result<()> {
        let dir = self.path(id);
        let name = self.load(id).ok().map(|c| c.name);
        match fs::remove_file(dir.join(STATE_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", dir.join(STATE_FILE), e)),
        }
        let index = Index::new(&self.dir);
        if let Some(name) = name {
            index.unlink_name(&name, id);
        }
        index.unwatch(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &dir, e)),
        }
    }

    /// Whether the index is whole (rebuilding it first when it is not and the lock is free).
    /// False: the caller reads every record, as before the index.
    fn indexed(&self) -> bool {
        let index = Index::new(&self.dir);
        if index.complete() {
            return true;
        }
        // Not blocking: this process may hold the lock already (create asks for a name under
        // it); then this one answer comes from the records and a later command rebuilds.
        let Ok(_lock) = self.flock(FlockArg::LockExclusiveNonblock) else {
            return false;
        };
        if index.complete() {
            return true;
        }
        match self.list() {
            Ok(all) => index.rebuild(&all).is_ok(),
            Err(_) => false,
        }
    }
}

/// Oldest first, then by ID.
fn sort(all: &mut [Container]) {
    all.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
}

/// The one container among `hits` (oldest first) whose ID starts with `prefix`.
fn prefix_hit(prefix: &str, mut hits: Vec<Container>) -> Result<Container> {
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(Error::ContainerNotFound(prefix.to_string())),
        _ => Err(Error::AmbiguousContainerId {
            prefix: prefix.to_string(),
            candidates: hits.iter().map(|c| c.id[..12].to_string()).collect(),
        }),
    }
}

/// Whether the record is one a dead monitor could leave undone: it says the container runs (or
/// is paused, or restarting), or `--rm` has yet to remove it. What
/// [`liveness::abandoned`](super::liveness::abandoned) asks before it checks the pids.
fn needs_watch(c: &Container) -> bool {
    super::liveness::says_live(&c.state)
        || (super::lifecycle::auto_remove(c)
            && matches!(c.state.status.as_str(), status::EXITED | status::DEAD))
}

/// This boot's ID (Linux's `/proc/sys/kernel/random/boot_id`), empty when unknown.
fn boot_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| {
        fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// `$ROOT/containers/.index` (see the module's documentation).
struct Index {
    dir: PathBuf,
}

impl Index {
    fn new(containers: &Path) -> Index {
        Index {
            dir: containers.join(INDEX_DIR),
        }
    }

    fn complete(&self) -> bool {
        fs::read_to_string(self.dir.join(COMPLETE_FILE)).is_ok_and(|s| s.trim() == boot_id())
    }

    /// The ID `name`'s link points to (it may be stale).
    fn name(&self, name: &str) -> Option<String> {
        let target = fs::read_link(self.dir.join(NAMES_DIR).join(name)).ok()?;
        target.to_str().filter(|s| is_id(s)).map(str::to_string)
    }

    fn subdir(&self, which: &str) -> Result<PathBuf> {
        let dir = self.dir.join(which);
        if !dir.is_dir() {
            fs::create_dir_all(&dir).with_path("create directory", &dir)?;
        }
        Ok(dir)
    }

    /// Points `name`'s link at `id` (replacing it whole, by rename).
    fn link_name(&self, name: &str, id: &str) -> Result<()> {
        let dir = self.subdir(NAMES_DIR)?;
        // Names start with a letter or digit: a dot-name is never a container's.
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(id, &tmp).with_path("create link", &tmp)?;
        let link = dir.join(name);
        fs::rename(&tmp, &link).with_path("rename into place", &link)
    }

    /// Removes `name`'s link if it points to `id` (best effort: a stale link is read as none).
    fn unlink_name(&self, name: &str, id: &str) {
        if valid_name(name) && self.name(name).as_deref() == Some(id) {
            let _ = fs::remove_file(self.dir.join(NAMES_DIR).join(name));
        }
    }

    /// Records the pids of `c`, a container a dead monitor could leave undone.
    fn watch(&self, c: &Container) -> Result<()> {
        let dir = self.subdir(LIVE_DIR)?;
        let s = &c.state;
        let line = format!(
            "{} {} {} {}\n",
            s.monitor_pid, s.monitor_start, s.pid, s.pid_start
        );
        let path = dir.join(&c.id);
        if fs::read(&path).is_ok_and(|old| old == line.as_bytes()) {
            return Ok(());
        }
        let tmp = dir.join(format!(".{}.{}", c.id, std::process::id()));
        fs::write(&tmp, line).with_path("write", &tmp)?;
        fs::rename(&tmp, &path).with_path("rename into place", &path)
    }

    fn unwatch(&self, id: &str) {
        let _ = fs::remove_file(self.dir.join(LIVE_DIR).join(id));
    }

    /// The watched containers whose monitor and init are both gone (or whose entry cannot be
    /// read).
    fn suspects(&self) -> Result<Vec<String>> {
        let dir = self.dir.join(LIVE_DIR);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &dir, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.with_path("list", &dir)?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .filter(|s| is_id(s))
                .map(String::from)
            else {
                continue;
            };
            let pids: Option<Vec<i64>> = fs::read_to_string(entry.path())
                .ok()
                .and_then(|s| s.split_whitespace().map(|w| w.parse().ok()).collect());
            let live = match pids.as_deref() {
                Some(&[mpid, mstart, pid, pstart]) => {
                    let up = |pid: i64, start: i64| {
                        pid > 0
                            && super::liveness::is_alive(
                                i32::try_from(pid).unwrap_or(0),
                                u64::try_from(start).unwrap_or(0),
                            )
                    };
                    up(mpid, mstart) || up(pid, pstart)
                }
                _ => false,
            };
            if !live {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Makes the index again from every record `all`, then marks it complete for this boot.
    /// Under the lock.
    fn rebuild(&self, all: &[Container]) -> Result<()> {
        let names = self.subdir(NAMES_DIR)?;
        let live = self.subdir(LIVE_DIR)?;
        for dir in [&names, &live] {
            for entry in fs::read_dir(dir).with_path("list", dir)? {
                let entry = entry.with_path("list", dir)?;
                let _ = fs::remove_file(entry.path());
            }
        }
        for c in all {
            if valid_name(&c.name) && self.name(&c.name).is_none() {
                self.link_name(&c.name, &c.id)?;
            }
            if needs_watch(c) {
                self.watch(c)?;
            }
        }
        crate::store::atomic_write(
            &self.dir,
            COMPLETE_FILE,
            format!("{}\n", boot_id()).as_bytes(),
        )
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

    #[test]
    fn the_index_follows_renames_removals_and_stale_links() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Containers::open(tmp.path().join("containers")).unwrap();
        let mut a = rec(&store, "web", "2026-01-01T00:00:00Z");
        assert!(store.indexed());
        assert_eq!(store.name_taken("web").unwrap(), Some(a.id.clone()));
        a.name = "api".into();
        store.save(&a).unwrap();
        assert_eq!(store.name_taken("web").unwrap(), None);
        assert_eq!(store.resolve("api").unwrap(), a.id);
        assert!(!tmp.path().join("containers/.index/names/web").exists());
        // A create that died after its link: the link is stale, the name free.
        let ghost = store.new_id().unwrap();
        Index::new(store.dir()).link_name("db", &ghost).unwrap();
        assert_eq!(store.name_taken("db").unwrap(), None);
        assert!(store.resolve("db").is_err());
        let b = rec(&store, "db", "2026-01-02T00:00:00Z");
        assert_eq!(store.resolve("db").unwrap(), b.id);
        store.remove_dir(&b.id).unwrap();
        assert!(!tmp.path().join("containers/.index/names/db").exists());
        // Lost, or from another boot: rebuilt from the records.
        fs::remove_dir_all(tmp.path().join("containers/.index")).unwrap();
        assert_eq!(store.resolve("/api").unwrap(), a.id);
        assert!(store.indexed());
        fs::write(tmp.path().join("containers/.index/complete"), "other\n").unwrap();
        assert_eq!(store.name_taken("api").unwrap(), Some(a.id.clone()));
        assert!(Index::new(store.dir()).complete());
    }

    #[test]
    fn only_containers_whose_processes_are_gone_are_suspects() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Containers::open(tmp.path().join("containers")).unwrap();
        let mut live = rec(&store, "live", "2026-01-01T00:00:00Z");
        let mut dead = rec(&store, "dead", "2026-01-01T00:00:01Z");
        let _created = rec(&store, "created", "2026-01-01T00:00:02Z");
        let me = std::process::id() as i32;
        live.state.status = crate::record::Status::Running;
        live.state.monitor_pid = me;
        live.state.monitor_start = super::super::liveness::pid_start_time(me).unwrap();
        store.save(&live).unwrap();
        dead.state.status = crate::record::Status::Running;
        dead.state.monitor_pid = i32::MAX - 1;
        store.save(&dead).unwrap();
        assert_eq!(store.suspects().unwrap(), vec![dead.id.clone()]);
        dead.state.status = crate::record::Status::Exited;
        store.save(&dead).unwrap();
        assert!(store.suspects().unwrap().is_empty());
        // An entry without a record (removed half-way) is a suspect until settled.
        fs::write(
            tmp.path().join("containers/.index/live").join(&dead.id),
            "garbage",
        )
        .unwrap();
        assert_eq!(store.suspects().unwrap(), vec![dead.id.clone()]);
        store.settle(&dead.id, None);
        assert!(store.suspects().unwrap().is_empty());
    }
}
