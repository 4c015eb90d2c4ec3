//! What a container changed in its file system (`ctr-diff`), as `docker diff`: the overlay upper
//! directory walked in path order. A whiteout (0/0 character device) or an opaque directory is a
//! deletion; anything else is a modification when the path exists in one of the image's lower
//! directories, an addition otherwise. The parent of an added or deleted entry is listed as
//! modified (once), as Docker does, and a directory that is the same as the lower one (size,
//! mode, mtime) is not listed by itself.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Container;
use crate::error::{Error, Result};

/// Docker's change kinds.
pub const MODIFIED: u8 = 0;
pub const ADDED: u8 = 1;
pub const DELETED: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    pub kind: u8,
    pub path: String,
}

impl Change {
    /// `C /etc`, `A /etc/new`, `D /gone`.
    pub fn line(&self) -> String {
        let k = match self.kind {
            MODIFIED => 'C',
            ADDED => 'A',
            _ => 'D',
        };
        format!("{k} {}", self.path)
    }
}

fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    let mut v = [0u8; 4];
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|n| rustix::fs::lgetxattr(path, *n, &mut v[..]).is_ok_and(|len| &v[..len] == b"y"))
}

/// What the runtime creates in every container as mount points (Docker keeps them in an "init"
/// layer below the container's, so `docker diff` never lists them): hidden while they are added,
/// empty and of the kind the runtime makes.
const INIT_PATHS: &[&str] = &[
    "/dev",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

fn is_init_mount_point(rel: &Path, path: &Path, md: &fs::Metadata) -> bool {
    INIT_PATHS.iter().any(|p| Path::new(p) == rel)
        && ((md.is_file() && md.len() == 0)
            || (md.is_dir()
                && fs::read_dir(path).is_ok_and(|mut d| {
                    d.all(|e| {
                        e.is_ok_and(|e| {
                            let r = rel.join(e.file_name());
                            INIT_PATHS.iter().any(|p| Path::new(p) == r)
                        })
                    })
                })))
}

/// What the runtime made in `upper` as its mount points where the image (`lower`, top first)
/// lacks them (a container without an init layer): paths relative to `upper`, to leave out of
/// a commit as `changes` leaves them out of the diff. A directory of the image is among them
/// when all it holds in `upper` is, and its mode and owner are the image's.
pub fn runtime_made(upper: &Path, lower: &[PathBuf]) -> HashSet<PathBuf> {
    runtime_made_with(upper, lower, &[])
}

/// [`runtime_made`], with more mount points: `extra` (absolute paths in the container: a
/// build step's `--mount` targets, its secrets). As BuildKit's mount stub cleaner: a mount
/// point the image lacked, and each of its parents the image lacked, is left out while it is
/// an empty file or a directory holding nothing but such stubs.
pub fn runtime_made_with(upper: &Path, lower: &[PathBuf], extra: &[PathBuf]) -> HashSet<PathBuf> {
    let mut points: HashSet<PathBuf> = INIT_PATHS.iter().map(PathBuf::from).collect();
    let mut parents = HashSet::new();
    for p in extra {
        let Some(clean) = crate::unpack::clean(p) else {
            continue;
        };
        let abs = Path::new("/").join(clean);
        let mut up = abs.parent();
        while let Some(d) = up.filter(|d| *d != Path::new("/")) {
            parents.insert(d.to_path_buf());
            up = d.parent();
        }
        points.insert(abs);
    }
    let stubs = Stubs { points, parents };
    let mut out = HashSet::new();
    stubs.collect(upper, lower, Path::new("/"), &mut out);
    out.into_iter()
        .filter_map(|p| p.strip_prefix("/").ok().map(Path::to_path_buf))
        .collect()
}

/// The mount points of a container, and the directories above them.
struct Stubs {
    points: HashSet<PathBuf>,
    parents: HashSet<PathBuf>,
}

impl Stubs {
    /// Whether everything in `upper`'s directory `rel` was made by the runtime (true when it
    /// is empty), and whether it holds anything.
    fn collect(
        &self,
        upper: &Path,
        lower: &[PathBuf],
        rel: &Path,
        out: &mut HashSet<PathBuf>,
    ) -> (bool, bool) {
        let dir = upper.join(rel.strip_prefix("/").unwrap_or(rel));
        let Ok(entries) = fs::read_dir(&dir) else {
            return (false, false);
        };
        let (mut all, mut any) = (true, false);
        for e in entries.flatten() {
            any = true;
            let crel = rel.join(e.file_name());
            let path = e.path();
            let Ok(md) = path.symlink_metadata() else {
                all = false;
                continue;
            };
            let made = match in_lower(lower, &crel) {
                None => {
                    let point = self.points.contains(&crel);
                    if md.is_file() {
                        point && md.len() == 0
                    } else if md.is_dir() && !is_opaque(&path) {
                        (point || self.parents.contains(&crel))
                            && self.collect(upper, lower, &crel, out).0
                    } else {
                        false
                    }
                }
                Some(l) => {
                    md.is_dir()
                        && l.is_dir()
                        && !is_opaque(&path)
                        && l.mode() == md.mode()
                        && l.uid() == md.uid()
                        && l.gid() == md.gid()
                        && self.collect(upper, lower, &crel, out) == (true, true)
                }
            };
            if made {
                out.insert(crel);
            } else {
                all = false;
            }
        }
        (all, any)
    }
}

/// The changes of container `c` (its GraphDriver's upper and lower directories).
pub fn changes(c: &Container) -> Result<Vec<Change>> {
    let upper = PathBuf::from(super::rootfs::upper(c)?);
    let lower = super::rootfs::lower_dirs(c);
    changes_of(&upper, &lower)
}

/// The changes of an upper directory over its lower directories (top first).
pub fn changes_of(upper: &Path, lower: &[PathBuf]) -> Result<Vec<Change>> {
    let mut out = Vec::new();
    let mut changed_dirs = HashSet::new();
    if !upper.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{}: the container's upper directory is missing",
            upper.display()
        )));
    }
    walk(upper, lower, Path::new("/"), &mut out, &mut changed_dirs)?;
    Ok(out)
}

fn in_lower(lower: &[PathBuf], rel: &Path) -> Option<fs::Metadata> {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lower
        .iter()
        .find_map(|l| l.join(rel).symlink_metadata().ok())
}

fn walk(
    upper: &Path,
    lower: &[PathBuf],
    rel: &Path,
    out: &mut Vec<Change>,
    changed_dirs: &mut HashSet<PathBuf>,
) -> Result<()> {
    let dir = upper.join(rel.strip_prefix("/").unwrap_or(rel));
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| Error::io("read directory", &dir, e))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let crel = rel.join(&name);
        let md = path
            .symlink_metadata()
            .map_err(|e| Error::io("read", &path, e))?;
        let kind = if is_whiteout(&md) || (md.is_dir() && is_opaque(&path)) {
            Some(DELETED)
        } else {
            match in_lower(lower, &crel) {
                Some(lmd) => {
                    let same_dir = md.is_dir()
                        && lmd.is_dir()
                        && md.len() == lmd.len()
                        && md.mode() == lmd.mode()
                        && md.mtime() == lmd.mtime()
                        && md.mtime_nsec() == lmd.mtime_nsec();
                    (!same_dir).then_some(MODIFIED)
                }
                None if is_init_mount_point(&crel, &path, &md) => None,
                None => Some(ADDED),
            }
        };
        // As Docker: a directory listed by itself is not listed again as a parent.
        if md.is_dir() && kind.is_some() {
            changed_dirs.insert(crel.clone());
        }
        if let Some(kind) = kind {
            if kind != MODIFIED {
                if let Some(parent) = crel.parent() {
                    if parent != Path::new("/") && changed_dirs.insert(parent.to_path_buf()) {
                        out.push(Change {
                            kind: MODIFIED,
                            path: parent.display().to_string(),
                        });
                    }
                }
            }
            out.push(Change {
                kind,
                path: crel.display().to_string(),
            });
        }
        if md.is_dir() && !is_whiteout(&md) {
            let at = out.len();
            walk(upper, lower, &crel, out, changed_dirs)?;
            // A directory whose only change is its time (the runtime made a mount point in it)
            // is not a change by itself.
            if kind == Some(MODIFIED)
                && out.len() == at
                && in_lower(lower, &crel).is_some_and(|l| {
                    l.mode() == md.mode() && l.uid() == md.uid() && l.gid() == md.gid()
                })
                && fs::read_dir(&path).is_ok_and(|d| {
                    d.flatten().all(|e| {
                        e.path().symlink_metadata().is_ok_and(|m| {
                            is_init_mount_point(&crel.join(e.file_name()), &e.path(), &m)
                        })
                    })
                })
            {
                out.pop();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_and_modified_against_lower() {
        let t = tempfile::tempdir().unwrap();
        let (up, low) = (t.path().join("u"), t.path().join("l"));
        fs::create_dir_all(up.join("etc")).unwrap();
        fs::create_dir_all(low.join("etc")).unwrap();
        fs::write(low.join("etc/passwd"), "a").unwrap();
        fs::write(up.join("etc/passwd"), "b").unwrap();
        fs::write(up.join("etc/new"), "n").unwrap();
        fs::create_dir_all(up.join("srv/x")).unwrap();
        fs::create_dir_all(up.join("dev/pts")).unwrap();
        fs::write(up.join("etc/hosts"), "").unwrap();
        let got: Vec<String> = changes_of(&up, &[low])
            .unwrap()
            .iter()
            .map(Change::line)
            .collect();
        assert_eq!(
            got,
            vec![
                "C /etc",
                "A /etc/new",
                "C /etc/passwd",
                "A /srv",
                "A /srv/x"
            ]
        );
    }

    #[test]
    fn what_the_runtime_made_is_left_out_of_a_commit() {
        let t = tempfile::tempdir().unwrap();
        let (up, low) = (t.path().join("u"), t.path().join("l"));
        for d in ["etc", "var"] {
            fs::create_dir_all(up.join(d)).unwrap();
            fs::create_dir_all(low.join(d)).unwrap();
        }
        fs::create_dir_all(up.join("dev/pts")).unwrap();
        fs::create_dir_all(up.join("proc")).unwrap();
        fs::create_dir_all(up.join("data")).unwrap();
        fs::write(up.join("etc/hosts"), "").unwrap();
        fs::write(up.join("etc/hostname"), "").unwrap();
        fs::write(up.join("var/new"), "n").unwrap();
        let mut got: Vec<String> = runtime_made(&up, std::slice::from_ref(&low))
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        got.sort();
        assert_eq!(
            got,
            ["dev", "dev/pts", "etc", "etc/hostname", "etc/hosts", "proc"]
        );
        // A change among them keeps its directory.
        fs::write(up.join("etc/new"), "n").unwrap();
        let got = runtime_made(&up, &[low]);
        assert!(!got.contains(Path::new("etc")) && got.contains(Path::new("etc/hosts")));
    }
}
