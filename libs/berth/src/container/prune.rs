//! Removing every stopped container (`ctr-prune`), as `docker container prune`, and the
//! directories that a create which died half-way left without a record.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{lifecycle, liveness, rootfs, store, Container, Containers, Status};
use crate::error::{Error, Result};
use crate::root::Root;

/// The prune tools' filters, and their time parsing, live in [`crate::filter`].
pub use crate::filter::{created_secs, parse_until, PruneFilter as Filter};

impl Filter {
    fn matches(&self, c: &Container) -> bool {
        self.matches_parts(&c.created, |k| c.config.label(k).map(String::from))
    }
}

/// What was pruned.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    pub deleted: Vec<String>,
    pub space: u64,
}

/// The bytes of the files in `dir` (each inode once), as Docker counts a container's RW layer.
pub fn dir_size(dir: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>, total: &mut u64) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                walk(&e.path(), seen, total);
            } else if seen.insert((md.dev(), md.ino())) {
                *total += md.len();
            }
        }
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    walk(dir, &mut seen, &mut total);
    total
}

/// Removes the stopped containers (created, exited, dead) that every filter matches, and the
/// record-less directories left by a create that died.
pub fn prune(root: &Root, filters: &[Filter]) -> Result<Pruned> {
    let store = Containers::open(root.containers_dir())?;
    let mut out = Pruned::default();
    for c in store.list()? {
        let c = liveness::refresh(&c);
        if !matches!(
            c.state.status,
            Status::Created | Status::Exited | Status::Dead
        ) {
            continue;
        }
        if !filters.iter().all(|f| f.matches(&c)) {
            continue;
        }
        let size = dir_size(Path::new(&c.graph_driver.upper));
        match lifecycle::remove(root, &c.id) {
            Ok(()) => {
                out.deleted.push(c.id.clone());
                out.space += size;
            }
            Err(e) => eprintln!("ctr-prune: warning: container {}: {e}", c.id),
        }
    }
    if filters.is_empty() {
        remove_leftovers(&store, &mut out)?;
    }
    Ok(out)
}

/// Directories named as containers but without a record: a create that died half-way.
fn remove_leftovers(store: &Containers, out: &mut Pruned) -> Result<()> {
    let _lock = store.lock()?;
    let rd = match fs::read_dir(store.dir()) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", store.dir(), e)),
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(id) = name.to_str() else { continue };
        if !store::is_id(id) || !e.path().is_dir() || e.path().join("state.json").exists() {
            continue;
        }
        let merged = e.path().join("rootfs");
        if rootfs::is_mounted(&merged) {
            let _ = nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH);
        }
        let size = dir_size(&e.path().join("upper"));
        if fs::remove_dir_all(e.path()).is_ok() {
            out.deleted.push(id.to_string());
            out.space += size;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_and_labels() {
        assert_eq!(parse_until("1h30m", 10_000).unwrap(), 10_000 - 5400);
        assert_eq!(parse_until("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(
            parse_until("2026-01-02T00:00:00Z", 0).unwrap(),
            created_secs("2026-01-02T00:00:00Z").unwrap()
        );
        assert!(parse_until("soon", 0).is_err());
        let c = Container {
            config: crate::config::Config {
                labels: Some(Some([("a".to_string(), "1".to_string())].into())),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(Filter::parse("label=a").unwrap().matches(&c));
        assert!(Filter::parse("label=a=1").unwrap().matches(&c));
        assert!(!Filter::parse("label=a=2").unwrap().matches(&c));
        assert!(Filter::parse("label!=b").unwrap().matches(&c));
        assert!(Filter::parse("bogus=1").is_err());
    }
}
