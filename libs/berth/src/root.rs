//! berth's state directory (`--root`, `BERTH_ROOT`) and what lives in it (DESIGN.md §4).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::store::Layout;

/// The default root: `/var/lib/berth` for root, `$XDG_DATA_HOME/berth` (or
/// `~/.local/share/berth`) for everyone else.
pub fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/berth");
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("berth");
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".local/share/berth"),
        None => PathBuf::from("/var/lib/berth"),
    }
}

/// The mode of berth's private directories: the root and the directories that hold snapshots,
/// containers and volumes (Docker's 0710: owner only, group may traverse).
pub const PRIVATE_DIR_MODE: u32 = 0o710;

/// Makes `dir` (and missing parents, with the usual mode) and gives it `PRIVATE_DIR_MODE`; an
/// existing directory owned by us that grants more than that to group or others is tightened.
/// Someone else's directory is left as it is.
pub fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_path("create directory", parent)?;
    }
    match fs::DirBuilder::new().mode(PRIVATE_DIR_MODE).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("create directory", dir, e)),
    }
    let md = fs::metadata(dir).with_path("inspect", dir)?;
    let mode = md.mode() & 0o7777;
    if md.uid() == nix::unistd::geteuid().as_raw() && mode & !PRIVATE_DIR_MODE & 0o077 != 0 {
        // The umask may have narrowed a fresh directory further; never widen it.
        let tight = mode & (0o7700 | PRIVATE_DIR_MODE);
        fs::set_permissions(dir, fs::Permissions::from_mode(tight))
            .with_path("restrict the permissions of", dir)?;
    }
    Ok(())
}

/// berth's state directory.
#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// The root at `dir`, or the default one, made absolute (containers' records keep paths in
    /// it and their monitors work from `/`). Nothing is created or changed: see `open`.
    pub fn new(dir: Option<PathBuf>) -> Root {
        let dir = dir.unwrap_or_else(default_root);
        Root {
            dir: std::path::absolute(&dir).unwrap_or(dir),
        }
    }

    /// The root at `dir` (or the default one), made private to its owner as a tool starts: created
    /// 0710 where missing, and an existing root of ours that others could enter is tightened to
    /// 0710, as dockerd does to /var/lib/docker (the CVE-2021-41091 class: other local users must
    /// not reach snapshots' setuid binaries and device nodes, or containers' configs). Best effort:
    /// a root that cannot be made (read-only, not ours) is left for the tool's own error.
    pub fn open(dir: Option<PathBuf>) -> Root {
        let root = Root::new(dir);
        let _ = private_dir(&root.dir);
        root
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn images_dir(&self) -> PathBuf {
        self.dir.join("images")
    }

    pub fn containers_dir(&self) -> PathBuf {
        self.dir.join("containers")
    }

    /// The layer snapshots (`$ROOT/snapshots`), created on first use.
    pub fn snapshots(&self) -> Result<crate::snapshot::Snapshots> {
        crate::snapshot::Snapshots::open(self.dir.join("snapshots"))
    }

    /// The image store, created on first use.
    pub fn images(&self) -> Result<Layout> {
        Layout::open_or_create(self.images_dir())
    }

    /// The image IDs (config digests) that containers under this root were created from. Each
    /// container keeps its image ID as `"Image"` in `containers/<id>/state.json`, the key Docker
    /// uses in `container inspect`.
    pub fn images_in_use(&self) -> Result<HashSet<Digest>> {
        Ok(self.image_users()?.into_keys().collect())
    }

    /// As `images_in_use`, with for each image the ID of one container that uses it (the first
    /// in directory order), for Docker's conflict messages.
    pub fn image_users(&self) -> Result<HashMap<Digest, String>> {
        let mut used = HashMap::new();
        let dir = self.containers_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(used),
            Err(e) => return Err(Error::io("list", dir, e)),
        };
        for entry in entries {
            let entry = entry.with_path("list", &dir)?;
            let state = entry.path().join("state.json");
            let Ok(data) = fs::read(&state) else { continue };
            let v: serde_json::Value = match serde_json::from_slice(&data) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if let Some(d) = v
                .get("Image")
                .and_then(|i| i.as_str())
                .and_then(|s| Digest::parse(s).ok())
            {
                let id = v
                    .get("Id")
                    .and_then(|i| i.as_str())
                    .map(String::from)
                    .unwrap_or_else(|| entry.file_name().to_string_lossy().into_owned());
                used.entry(d).or_insert(id);
            }
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_dirs_are_made_and_tightened_never_widened() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let fresh = t.path().join("a/b/root");
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), PRIVATE_DIR_MODE);
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o777)).unwrap();
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o710);
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o700)).unwrap();
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o700);
        fs::set_permissions(&fresh, fs::Permissions::from_mode(0o1751)).unwrap();
        private_dir(&fresh).unwrap();
        assert_eq!(mode(&fresh), 0o1710);
    }

    #[test]
    fn images_in_use_reads_container_states() {
        let t = tempfile::tempdir().unwrap();
        let root = Root::new(Some(t.path().to_path_buf()));
        assert!(root.images_in_use().unwrap().is_empty());
        let id = Digest::sha256_of(b"config");
        let c = root.containers_dir().join("abc");
        fs::create_dir_all(&c).unwrap();
        fs::write(c.join("state.json"), format!(r#"{{"Image":"{id}"}}"#)).unwrap();
        fs::create_dir_all(root.containers_dir().join("broken")).unwrap();
        fs::write(root.containers_dir().join("broken/state.json"), "{").unwrap();
        let used = root.images_in_use().unwrap();
        assert_eq!(used.len(), 1);
        assert!(used.contains(&id));
    }
}
