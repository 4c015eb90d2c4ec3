//! Reading and writing cgroup files, shared by both versions. Every write is one write(2) of
//! one value and opens with `O_CREAT`, so that a fake cgroupfs need not hold every file
//! beforehand (the unit tests); the tests also see each write in order.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxCpu;

use crate::error::{Error, Result};

#[cfg(test)]
thread_local! {
    /// Every write this thread made, in order (the tests check runc's write order with it).
    pub(crate) static WRITES: std::cell::RefCell<Vec<(PathBuf, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    #[cfg(test)]
    WRITES.with(|w| w.borrow_mut().push((path.to_path_buf(), value.to_string())));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    // One write(2): cgroupfs takes each write as one value.
    f.write_all(value.as_bytes())
}

pub(crate) fn write_error(path: PathBuf, value: &str, source: io::Error) -> Error {
    Error::CgroupWrite {
        path,
        value: value.to_string(),
        source,
    }
}

pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    write_raw(&path, value).map_err(|e| write_error(path, value, e))
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|e| Error::io("read", path, e))
}

/// `None` when the file is not there.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>> {
    let path = dir.join(file);
    match fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| Error::Cgroup {
        path: path.to_path_buf(),
        why: format!("not a number: {:?}", text.trim()),
    })
}

/// A limit file: "max" (v2) → `None`, else the number.
pub(crate) fn parse_limit(path: &Path, text: &str) -> Result<Option<u64>> {
    if text.trim() == "max" {
        Ok(None)
    } else {
        parse_u64(path, text).map(Some)
    }
}

/// The value of "KEY N" in a flat-keyed file (memory.stat, cpu.stat, memory.events, …).
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut it = line.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next()?.parse().ok())
            .flatten()
    })
}

/// Docker's CLI: usage minus the inactive file cache, when that is smaller than the usage.
pub(crate) fn usage_without_cache(usage: u64, inactive_file: Option<u64>) -> u64 {
    match inactive_file {
        Some(i) if i < usage => usage - i,
        _ => usage,
    }
}

/// pids.max: a positive limit, or "max" for -1/0 (unlimited).
pub(crate) fn pids_value(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_string()
    }
}

/// cpuset.cpus / cpuset.mems, v1 and v2 alike.
pub(crate) fn apply_cpuset(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

/// rmdir a cgroup directory, its child cgroups first; a missing directory is fine. On a real
/// cgroupfs the control files go with the directory; in a fake one (ENOTEMPTY) the plain files
/// are removed first.
pub(crate) fn remove_cgroup_dir(dir: &Path) -> Result<()> {
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("read", dir, e)),
    };
    let mut plain_files = Vec::new();
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => remove_cgroup_dir(&path)?,
            _ => plain_files.push(path),
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.raw_os_error() != Some(libc::ENOTEMPTY) => {
            return Err(Error::io("remove", dir, e))
        }
        Err(_) => {}
    }
    // A fake cgroupfs: plain files keep the directory.
    for f in plain_files {
        let _ = fs::remove_file(f);
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", dir, e)),
    }
}
