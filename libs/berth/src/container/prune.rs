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

/// One `--filter`: `until=TIMESTAMP|DURATION`, `label=KEY[=VALUE]`, `label!=KEY[=VALUE]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Created before this many seconds since the epoch.
    Until(i64),
    Label(String, Option<String>),
    NotLabel(String, Option<String>),
}

impl Filter {
    pub fn parse(s: &str) -> Result<Filter> {
        let bad = || Error::InvalidInput(format!("invalid filter {s:?}"));
        if let Some(v) = s.strip_prefix("label!=") {
            let (k, val) = split_label(v);
            return Ok(Filter::NotLabel(k, val));
        }
        let (key, value) = s.split_once('=').ok_or_else(bad)?;
        match key {
            "until" => Ok(Filter::Until(parse_until(value, now_secs())?)),
            "label" => {
                let (k, val) = split_label(value);
                Ok(Filter::Label(k, val))
            }
            _ => Err(Error::InvalidInput(format!(
                "invalid filter {key:?}: prune takes until=…, label=… and label!=…"
            ))),
        }
    }

    /// Every `--filter` of a prune tool, parsed.
    pub fn parse_all(filters: &[String]) -> Result<Vec<Filter>> {
        filters.iter().map(|f| Filter::parse(f)).collect()
    }

    fn matches(&self, c: &Container) -> bool {
        self.matches_parts(&c.created, |k| {
            c.config["Labels"][k].as_str().map(String::from)
        })
    }

    /// Whether a thing created at `created` (RFC 3339) with labels `label` matches: the same
    /// filters serve containers, networks and volumes.
    pub fn matches_parts(&self, created: &str, label: impl Fn(&str) -> Option<String>) -> bool {
        let has = |k: &str, v: &Option<String>| match (label(k), v) {
            (Some(_), None) => true,
            (Some(a), Some(b)) => a == *b,
            (None, _) => false,
        };
        match self {
            Filter::Until(t) => created_secs(created).is_some_and(|cr| cr < *t),
            Filter::Label(k, v) => has(k, v),
            Filter::NotLabel(k, v) => !has(k, v),
        }
    }
}

fn split_label(s: &str) -> (String, Option<String>) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), Some(v.to_string())),
        None => (s.to_string(), None),
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Docker's `until`: a Go duration (`10m`, `1h30m`, `24h`) before now, a Unix timestamp, or an
/// RFC 3339 date/time (`2026-01-02`, `2026-01-02T15:04:05Z`).
pub fn parse_until(v: &str, now: i64) -> Result<i64> {
    let bad = || {
        Error::InvalidInput(format!("invalid until filter {v:?}: use a duration (10m, 24h), a Unix timestamp or an RFC 3339 time"))
    };
    if let Ok(n) = v.parse::<f64>() {
        return Ok(n as i64);
    }
    if let Some(d) = parse_duration(v) {
        return Ok(now - d);
    }
    let t = if v.len() == 10 {
        format!("{v}T00:00:00Z")
    } else {
        v.to_string()
    };
    created_secs(&t).ok_or_else(bad)
}

fn parse_duration(v: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    let mut any = false;
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let mut unit = ch.to_string();
        if ch == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total as i64)
}

/// Seconds since the epoch of an RFC 3339 time (UTC `Z` or an offset), None if unreadable.
pub fn created_secs(t: &str) -> Option<i64> {
    let dt = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some(dt.timestamp())
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
            config: serde_json::json!({"Labels": {"a": "1"}}),
            ..Default::default()
        };
        assert!(Filter::parse("label=a").unwrap().matches(&c));
        assert!(Filter::parse("label=a=1").unwrap().matches(&c));
        assert!(!Filter::parse("label=a=2").unwrap().matches(&c));
        assert!(Filter::parse("label!=b").unwrap().matches(&c));
        assert!(Filter::parse("bogus=1").is_err());
    }
}
