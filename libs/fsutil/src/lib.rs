//! Files on disk, said once for every berth store (images, containers, networks, registry
//! credentials): locks on lock files (`flock`, released when the guard drops), and writes that
//! leave the old content or the new, never a part (a temporary file in the same directory,
//! renamed over the target).
//!
//! Errors carry what was being done and to which path; each library wraps them in its own error
//! type with the same words.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use nix::fcntl::{Flock, FlockArg};

/// A failed file operation: `action` (a verb, as "lock" or "rename into place") on `path`.
#[derive(Debug)]
pub struct Error {
    pub action: &'static str,
    pub path: PathBuf,
    pub source: io::Error,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

trait Context<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn at(self, action: &'static str, path: &Path) -> Result<T> {
        self.map_err(|source| Error {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Opens the lock file `path` (made if missing, never truncated) and locks it as `how` says
/// (blocking unless `how` is a non-blocking kind) until the guard drops.
pub fn lock(path: &Path, how: FlockArg) -> Result<Flock<File>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at("open", path)?;
    lock_file(f, path, how)
}

/// Locks the open file `f` (at `path`, for the error) as `how` says, until the guard drops.
pub fn lock_file(f: File, path: &Path, how: FlockArg) -> Result<Flock<File>> {
    Flock::lock(f, how).map_err(|(_, e)| Error {
        action: "lock",
        path: path.to_path_buf(),
        source: io::Error::from(e),
    })
}

/// How [`write_atomic`] writes.
#[derive(Debug, Clone)]
pub struct Atomic<'a> {
    /// The file's permission bits.
    pub mode: u32,
    /// The start of the temporary file's name (random characters follow): a dot-name, so that
    /// listings skip it, that says whose it is if a crash leaves it.
    pub temp_prefix: &'a str,
    /// fsync the file before the rename and the directory after it, so that a power loss
    /// leaves the old content or the new. Without, a crash of the process still does.
    pub durable: bool,
}

/// Writes `data` as `dir/name`, whole or not at all: a temporary file in `dir`, its mode set,
/// (fsynced), renamed over the target, (the directory fsynced).
pub fn write_atomic(dir: &Path, name: &str, data: &[u8], how: &Atomic<'_>) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(how.temp_prefix)
        .tempfile_in(dir)
        .at("create a temporary file in", dir)?;
    tmp.write_all(data).at("write", tmp.path())?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(how.mode))
        .at("set permissions of", tmp.path())?;
    let target = dir.join(name);
    if how.durable {
        tmp.as_file().sync_all().at("sync", &target)?;
    }
    tmp.persist(&target)
        .map_err(|e| e.error)
        .at("rename into place", &target)?;
    if how.durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes the written file `file` (now at `from`) the file `to`: its mode set, fsynced, renamed,
/// and `to`'s directory fsynced (created first if missing).
pub fn publish(file: &File, from: &Path, to: &Path, mode: u32) -> Result<()> {
    file.set_permissions(fs::Permissions::from_mode(mode))
        .at("set permissions of", from)?;
    file.sync_all().at("sync", from)?;
    let dir = to.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).at("create", dir)?;
    fs::rename(from, to).at("rename into place", to)?;
    sync_dir(dir)
}

/// fsyncs a directory so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at("sync", dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_with_their_mode_and_no_leftover() {
        let d = tempfile::tempdir().unwrap();
        for durable in [true, false] {
            let how = Atomic {
                mode: 0o600,
                temp_prefix: ".x.",
                durable,
            };
            write_atomic(d.path(), "x", b"one", &how).unwrap();
            write_atomic(d.path(), "x", b"two", &how).unwrap();
            assert_eq!(fs::read(d.path().join("x")).unwrap(), b"two");
            let mode = fs::metadata(d.path().join("x"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        }
        let e = write_atomic(
            d.path().join("none").as_path(),
            "x",
            b"",
            &Atomic {
                mode: 0o644,
                temp_prefix: ".x.",
                durable: true,
            },
        )
        .unwrap_err();
        assert_eq!(e.action, "create a temporary file in");
    }

    #[test]
    fn locks_exclude_each_other_and_share() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let held = lock(&p, FlockArg::LockExclusive).unwrap();
        assert!(lock(&p, FlockArg::LockExclusiveNonblock).is_err());
        drop(held);
        let a = lock(&p, FlockArg::LockShared).unwrap();
        let b = lock(&p, FlockArg::LockSharedNonblock).unwrap();
        assert!(lock(&p, FlockArg::LockExclusiveNonblock).is_err());
        drop((a, b));
        lock(&p, FlockArg::LockExclusiveNonblock).unwrap();
    }

    #[test]
    fn publish_renames_into_a_new_directory() {
        let d = tempfile::tempdir().unwrap();
        let from = d.path().join("part");
        let mut f = File::create(&from).unwrap();
        f.write_all(b"blob").unwrap();
        let to = d.path().join("blobs/sha256/x");
        publish(&f, &from, &to, 0o644).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"blob");
        assert!(!from.exists());
    }
}
