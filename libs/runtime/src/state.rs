//! The runtime's own state, one directory per container under the runtime root (runc's
//! `--root`): `state.json` (the OCI state plus what we need to find the processes again) and,
//! between create and start, `exec.fifo`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

/// The OCI runtime state (`runc state`), with berth's additions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// `creating`, `created`, `running`, `paused` or `stopped`.
    pub status: String,
    pub pid: i32,
    pub bundle: PathBuf,
    /// RFC 3339.
    pub created: String,
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// The init's start time (clock ticks since boot), so that a recycled pid is never taken
    /// for the container's.
    #[serde(default)]
    pub pid_start: u64,
    /// The cgroup path as the spec named it.
    #[serde(default)]
    pub cgroup_path: String,
    /// The cgroup mount root the container was created under.
    #[serde(default)]
    pub cgroup_root: PathBuf,
    /// The spec's hooks, for those run after create (poststart, poststop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Checks a container ID as runc does: one path component of letters, digits, `_`, `+`, `-`
/// and `.`, neither `.` nor `..`.
pub fn check_id(id: &str) -> Result<()> {
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
        && id != "."
        && id != "..";
    if plain {
        Ok(())
    } else {
        Err(Error::InvalidId(id.into()))
    }
}

pub fn load(root: &Path, id: &str) -> Result<State> {
    check_id(id)?;
    let path = dir(root, id).join(STATE_FILE);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Error::NotFound(id.into())),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    serde_json::from_slice(&data).map_err(|e| Error::SpecFile {
        path,
        source: e.into(),
    })
}

/// Replaces state.json by rename, so that a reader never sees half of it.
pub fn save(root: &Path, st: &State) -> Result<()> {
    let d = dir(root, &st.id);
    let tmp = d.join(".state.json.tmp");
    let data = serde_json::to_vec(st).expect("state serialises");
    let mut f = fs::File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    f.write_all(&data)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, d.join(STATE_FILE)).map_err(|e| Error::io("rename", d.join(STATE_FILE), e))
}

/// The start time of `pid` (field 22 of /proc/PID/stat), or None when there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// Waits, at most `limit`, until `pid` (started at `start`, 0: any) is no longer alive: gone,
/// or a zombie (a process that has exited has left its cgroups, even before it is reaped).
pub fn wait_gone(pid: i32, start: u64, limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    while alive(pid, start) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Whether `pid` is alive and still the process that started at `start` (not a zombie).
pub fn alive(pid: i32, start: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(close) = stat.rfind(')') else {
        return false;
    };
    let mut fields = stat[close + 2..].split(' ');
    let state = fields.next().unwrap_or("");
    if state == "Z" || state == "X" {
        return false;
    }
    let st: Option<u64> = fields.nth(18).and_then(|s| s.parse().ok());
    start == 0 || st == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_names() {
        for ok in ["c1", "ok-id_1.2+3", "a.b", "...", "0"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "x\n", "é"] {
            assert!(matches!(check_id(bad), Err(Error::InvalidId(_))), "{bad:?}");
        }
        assert!(matches!(
            load(Path::new("/nonexistent"), "../etc"),
            Err(Error::InvalidId(_))
        ));
    }

    #[test]
    fn own_start_time_is_read_and_checked() {
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap();
        assert!(alive(me, t));
        assert!(!alive(me, t + 1));
        assert!(!alive(i32::MAX - 1, 0));
    }
}
