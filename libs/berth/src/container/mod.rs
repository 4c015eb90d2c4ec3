//! Containers on disk (`$ROOT/containers/<id>/`, DESIGN.md §4): the record (`state.json`,
//! Docker-shaped so `ctr-inspect` prints it nearly as is), names and IDs, and the lock that keeps
//! names unique. `spec` turns an image and `ctr-create`'s flags into an OCI runtime config.
//!
//! A container directory holds `config.json` (OCI runtime spec, the directory is the bundle),
//! `state.json` (this record), `upper/ work/ rootfs/` (overlay; `rootfs/` is the mount point),
//! `<id>-json.log`, `hostname`, `hosts`, `resolv.conf`, `attach.sock`.

pub mod attach;
pub mod changes;
pub mod copy;
pub mod create;
pub mod engine;
pub mod exec;
pub mod export;
pub mod health;
pub mod lifecycle;
pub mod links;
pub mod liveness;
pub mod logdriver;
pub mod logs;
pub mod monitor;
pub mod ns_share;
pub mod orchestrate;
pub mod pause;
pub mod pipes;
pub mod prune;
pub mod pull;
pub mod restart;
pub mod rootfs;
pub mod signals;
pub mod spec;
pub mod stats;
pub mod store;
pub mod top;
pub mod update;
pub mod view;

use serde::{Deserialize, Serialize};

/// Docker's records (they are the crate's [`crate::record`], named here too).
pub use crate::config::Config;
pub use crate::record;
pub use crate::record::{
    EndpointSettings, HostConfig, MountPoint, NetworkSettings, OrderedMap, PortMap, Status,
};
pub use create::create;
pub use lifecycle::remove;
pub use liveness::refresh;
pub use store::Containers;

/// Docker's "never" time.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The attach socket's name in a container's directory.
pub const ATTACH_SOCKET: &str = "attach.sock";

/// Docker's container states as text (the values of `ctr-ls --filter status=`); the record
/// holds a [`Status`], which compares equal to these.
pub mod status {
    use super::Status;
    pub const CREATED: &str = Status::Created.as_str();
    pub const RUNNING: &str = Status::Running.as_str();
    pub const PAUSED: &str = Status::Paused.as_str();
    pub const RESTARTING: &str = Status::Restarting.as_str();
    pub const REMOVING: &str = Status::Removing.as_str();
    pub const EXITED: &str = Status::Exited.as_str();
    pub const DEAD: &str = Status::Dead.as_str();
}

/// `State` of `docker inspect`, plus what berth needs to find the processes again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct State {
    pub status: Status,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    /// The init's pid on the host, 0 when not running.
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    /// RFC 3339 with nanoseconds, `0001-01-01T00:00:00Z` when never (as Docker).
    pub started_at: String,
    pub finished_at: String,
    /// berth: the monitor's pid while one runs, 0 otherwise.
    pub monitor_pid: i32,
    /// berth: start time (clock ticks after boot, /proc/PID/stat field 22) of `pid` and
    /// `monitor_pid`, so that a recycled pid is never signalled.
    pub pid_start: u64,
    pub monitor_start: u64,
    /// berth (Docker keeps it outside inspect, in `config.v2.json`): stopped by `ctr-stop` or
    /// `ctr-kill`, which ends the restart policy until the next `ctr-start`
    /// (see [`restart`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub has_been_manually_stopped: bool,
    /// Docker's `State.Health`: only for a container with a health check (none without, as
    /// Docker, whose `ps --filter health=none` lists those).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// Docker's `State.Health`: `starting`, `healthy` or `unhealthy`, the failures in a row, and the
/// last checks' results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: String,
    pub failing_streak: u64,
    pub log: Vec<serde_json::Value>,
}

impl State {
    /// The health as `docker ps --filter health=` sees it: the check's status, or `none`
    /// without a health check.
    pub fn health_status(&self) -> &str {
        self.health.as_ref().map_or("none", |h| h.status.as_str())
    }
}

/// Where the container's root file system comes from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriver {
    /// `overlay`, or `copy` where overlayfs cannot be mounted.
    pub name: String,
    /// Lower dirs, top layer first (the order of overlay's `lowerdir=`).
    pub lower: Vec<String>,
    pub upper: String,
    pub work: String,
    pub merged: String,
}

/// One container: `state.json`, shaped as `docker container inspect`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Container {
    /// 64 lowercase hex digits.
    pub id: String,
    /// Without Docker's leading `/` (ctr-inspect adds it).
    pub name: String,
    pub created: String,
    /// The process: Path is args[0], Args the rest, as Docker.
    pub path: String,
    pub args: Vec<String>,
    pub state: State,
    /// The image ID, `sha256:…`.
    pub image: String,
    /// Docker's `Config`, as [`spec::build`] makes it: every field Docker prints set (Image as
    /// the user named it), ExposedPorts, MacAddress, StopSignal and StopTimeout when given.
    /// Keys berth does not know are kept (`extra`).
    pub config: Config,
    /// Docker's `HostConfig` (AutoRemove, Privileged, ReadonlyRootfs, CapAdd, CapDrop, SecurityOpt,
    /// Memory, NanoCpus, PidsLimit, Ulimits, Runtime, NetworkMode, LogConfig, ...).
    pub host_config: HostConfig,
    pub mounts: Vec<MountPoint>,
    pub log_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub resolv_conf_path: String,
    pub restart_count: u64,
    pub driver: String,
    pub graph_driver: GraphDriver,
    /// berth: the OCI runtime that runs it: `builtin`, `runc`, `crun` or a path.
    pub runtime: String,
    /// Docker's `NetworkSettings`: `Networks` (one endpoint per network, with what was asked
    /// for: aliases, address, MAC; and while running its address, gateway, MAC), `Ports`,
    /// `IPAddress`, `Gateway`, `MacAddress`, `SandboxKey`. None in a record made before berth
    /// had networks.
    pub network_settings: Option<NetworkSettings>,
}

/// Re-executes the running tool from a sealed in-memory copy of itself, unless it runs from one
/// already: for tools whose process enters a container (CVE-2019-5736).
pub fn protect_binary() -> crate::Result<()> {
    berth_runtime::clone::ensure_cloned_binary().map_err(crate::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::Value;

    /// A record as berth wrote it before its parts were typed (the golden test's, its pids
    /// made numbers again) loads and saves as the same text, but for `Config`, whose keys now
    /// follow Go's `container.Config` (`ExposedPorts` after `AttachStderr`): the same value.
    #[test]
    fn records_written_before_typing_load_and_save_unchanged() {
        for text in [
            include_str!("../../../../tests/fixtures/golden/state-running.json"),
            include_str!("../../../../tests/fixtures/golden/state-stopped.json"),
        ] {
            let text = text.replace("\"<n>\"", "7");
            let c: Container = serde_json::from_str(&text).unwrap();
            let mut want: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(serde_json::to_string_pretty(&want).unwrap() + "\n", text);
            let mut got = serde_json::to_value(&c).unwrap();
            assert_eq!(got["Config"], want["Config"]);
            assert!(want["Config"]["ExposedPorts"].is_object());
            want["Config"].take();
            got["Config"].take();
            assert_eq!(
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(&want).unwrap()
            );
        }
    }

    /// A key of `Config` berth does not know survives a load and a save.
    #[test]
    fn unknown_config_keys_survive() {
        let text = include_str!("../../../../tests/fixtures/golden/state-stopped.json")
            .replace("\"<n>\"", "7")
            .replace("\"Hostname\":", "\"Zzz\": {\"q\": [1]},\n    \"Hostname\":");
        let c: Container = serde_json::from_str(&text).unwrap();
        assert_eq!(c.config.extra["Zzz"], serde_json::json!({"q": [1]}));
        let again: Value = serde_json::to_value(&c).unwrap();
        assert_eq!(again["Config"]["Zzz"], serde_json::json!({"q": [1]}));
    }
}
