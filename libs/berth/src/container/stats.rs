//! Resource usage of containers (`ctr-stats`), computed as `docker stats` does.
//!
//! CPU % is the container's CPU time used between two samples over the wall-clock time between
//! them, × 100 (Docker divides by the host's CPU time over the same interval and multiplies by
//! the number of CPUs, which comes to the same). Memory is the cgroup's usage without inactive
//! file cache; its limit is the cgroup's, or the host's total memory (`/proc/meminfo` MemTotal)
//! when unlimited. Network and block I/O are not measured and show `--`.

use std::fs;
use std::time::Instant;

use serde_json::{json, Value};

use super::{engine, liveness, Container, Containers, Status};

/// One reading of a container's cgroup.
#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub stats: berth_runtime::cgroups::Stats,
}

/// Reads the cgroup of `c` now; None when the container is not running (or has no cgroup).
pub fn sample(store: &Containers, c: &Container) -> Option<Sample> {
    let c = liveness::refresh(c);
    if c.state.status != Status::Running && c.state.status != Status::Paused {
        return None;
    }
    let cg = engine::cgroup_of(&store.path(&c.id), &c.id).ok()?;
    let stats = cg.stats().ok()?;
    Some(Sample {
        at: Instant::now(),
        stats,
    })
}

/// The host's memory in bytes (MemTotal), 0 when unknown.
pub fn host_memory() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// CPU % between two samples.
pub fn cpu_percent(before: &Sample, after: &Sample) -> f64 {
    let wall = after.at.duration_since(before.at).as_nanos() as f64;
    if wall <= 0.0 {
        return 0.0;
    }
    let cpu = after
        .stats
        .cpu_usage_ns
        .saturating_sub(before.stats.cpu_usage_ns) as f64;
    cpu / wall * 100.0
}

/// Docker's `units.BytesSize`: binary units, four significant digits (`1.539MiB`, `64MiB`).
pub fn bytes_size(n: u64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    let decimals = if v >= 1000.0 {
        0
    } else if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[i])
}

/// One row of `docker stats --format json`, from two samples (None: not running, zeros).
pub fn row(
    c: &Container,
    given: &str,
    before: Option<&Sample>,
    after: Option<&Sample>,
    host_mem: u64,
) -> Value {
    let id12 = c.id.get(..12).unwrap_or(&c.id).to_string();
    let (cpu, usage, limit, pids) = match (before, after) {
        (Some(b), Some(a)) => (
            cpu_percent(b, a),
            a.stats.memory_usage,
            a.stats
                .memory_limit
                .unwrap_or(host_mem)
                .min(if host_mem > 0 { host_mem } else { u64::MAX }),
            a.stats.pids_current,
        ),
        (None, Some(a)) => (
            0.0,
            a.stats.memory_usage,
            a.stats.memory_limit.unwrap_or(host_mem),
            a.stats.pids_current,
        ),
        _ => (0.0, 0, 0, 0),
    };
    let mem_perc = if limit > 0 {
        usage as f64 / limit as f64 * 100.0
    } else {
        0.0
    };
    json!({
        "BlockIO": "--",
        "CPUPerc": format!("{cpu:.2}%"),
        "Container": given,
        "ID": id12,
        "MemPerc": format!("{mem_perc:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(usage), bytes_size(limit)),
        "Name": c.name,
        "NetIO": "--",
        "PIDs": pids.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(64 << 20), "64MiB");
        assert_eq!(bytes_size(1_613_824), "1.539MiB");
        assert_eq!(bytes_size(1023), "1023B");
        assert!(host_memory() > 0);
    }
}
