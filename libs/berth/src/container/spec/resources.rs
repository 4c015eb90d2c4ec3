//! The resource flags beyond `--memory`, `--cpus` and `--pids-limit` (`--cpuset-cpus/-mems`,
//! `--cpu-period/-quota`, `--memory-reservation/-swappiness`, `--blkio-weight`,
//! `--oom-kill-disable`, `--oom-score-adj`), checked with Docker's rules and messages: the CLI's
//! for values that do not parse (usage errors), the daemon's (moby
//! `verifyPlatformContainerResources`, 20.10) for values out of range.

use std::path::Path;

use crate::error::{Error, Result};

/// Docker's smallest memory limit and reservation (`linuxMinMemory`).
pub const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// The resource flags of this module, as typed (shared by ctr-create and ctr-update).
#[derive(Debug, Clone, Default)]
pub struct ResourceArgs {
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub memory_reservation: Option<String>,
    pub memory_swappiness: Option<i64>,
    pub blkio_weight: Option<u16>,
    pub oom_kill_disable: bool,
    pub oom_score_adj: Option<i64>,
}

/// The same, checked: Docker's `HostConfig` values (0 and empty: not set).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub memory_reservation: i64,
    /// `None`: the kernel's (Docker's CLI sends -1, "unset", by default).
    pub memory_swappiness: Option<i64>,
    pub blkio_weight: u16,
    pub oom_kill_disable: bool,
    pub oom_score_adj: i64,
}

/// What the host offers, as Docker's `sysinfo` finds it.
#[derive(Debug, Clone)]
pub struct Host {
    /// The CPUs and memory nodes containers may use (`0-1`).
    pub cpus: String,
    pub mems: String,
    /// Whether the kernel has block I/O weights (v1 `blkio.weight` or `blkio.bfq.weight`, v2
    /// the io controller).
    pub blkio_weight: bool,
    /// Whether the kernel accounts swap (v1 `memory.memsw.limit_in_bytes`; v2 always).
    pub swap_limit: bool,
}

impl Host {
    /// This host's, from /sys/fs/cgroup (v1 or v2) and, failing that, /sys/devices/system.
    pub fn probe() -> Host {
        let cg = Path::new("/sys/fs/cgroup");
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let v2 = cg.join("cgroup.controllers").exists();
        let (cpus, mems) = if v2 {
            (
                read(&cg.join("cpuset.cpus.effective")),
                read(&cg.join("cpuset.mems.effective")),
            )
        } else {
            (
                read(&cg.join("cpuset/cpuset.cpus")),
                read(&cg.join("cpuset/cpuset.mems")),
            )
        };
        let cpus = cpus
            .or_else(|| read(Path::new("/sys/devices/system/cpu/online")))
            .unwrap_or_else(|| "0".into());
        let mems = mems
            .or_else(|| read(Path::new("/sys/devices/system/node/online")))
            .unwrap_or_else(|| "0".into());
        let blkio_weight = if v2 {
            read(&cg.join("cgroup.controllers"))
                .is_some_and(|c| c.split_whitespace().any(|w| w == "io"))
        } else {
            cg.join("blkio/blkio.weight").exists() || cg.join("blkio/blkio.bfq.weight").exists()
        };
        Host {
            cpus,
            mems,
            blkio_weight,
            swap_limit: v2 || cg.join("memory/memory.memsw.limit_in_bytes").exists(),
        }
    }
}

impl super::Flags {
    /// Docker's daemon where the kernel does not account swap (`swapaccount=0`): the limit is
    /// memory alone, with Docker's warning. Kept out of [`super::Flags::parse`], whose result
    /// does not depend on the host's swap accounting.
    pub fn fit_swap_to(&mut self, host: &Host, warn: &dyn Fn(&str)) {
        if self.memory > 0 && self.memory_swap != -1 && !host.swap_limit {
            warn(
                "Your kernel does not support swap limit capabilities or the cgroup is not \
                 mounted. Memory limited without swap.",
            );
            self.memory_swap = -1;
        }
    }
}

/// Docker's `parsers.ParseUintList`: `0-2,4` → [0, 1, 2, 4]; anything else is `invalid format`.
pub fn parse_uint_list(s: &str) -> std::result::Result<Vec<u32>, String> {
    let bad = || format!("invalid format: {s}");
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            None => out.push(part.parse::<u32>().map_err(|_| bad())?),
            Some((a, b)) => {
                let a: u32 = a.parse().map_err(|_| bad())?;
                let b: u32 = b.parse().map_err(|_| bad())?;
                if b < a {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
        }
    }
    Ok(out)
}

/// Docker's cpuset check: `wanted` parses and is within `available`.
fn check_cpuset(wanted: &str, available: &str, what: &str, nodes: &str) -> Result<()> {
    let w = parse_uint_list(wanted).map_err(|e| {
        Error::InvalidInput(format!("Invalid value {wanted} for cpuset {what}: {e}"))
    })?;
    let a = parse_uint_list(available).unwrap_or_default();
    if let Some(_missing) = w.iter().find(|n| !a.contains(n)) {
        return Err(Error::InvalidInput(format!(
            "Requested {nodes} are not available - requested {wanted}, available: {available}"
        )));
    }
    Ok(())
}

impl ResourceArgs {
    /// Whether any flag of this module is given (ctr-update needs one).
    pub fn is_empty(&self) -> bool {
        self.cpuset_cpus.is_none()
            && self.cpuset_mems.is_none()
            && self.cpu_period.is_none()
            && self.cpu_quota.is_none()
            && self.memory_reservation.is_none()
            && self.memory_swappiness.is_none()
            && self.blkio_weight.is_none()
            && !self.oom_kill_disable
            && self.oom_score_adj.is_none()
    }

    /// Checks the flags alone: the CLI's parse errors (usage) and the daemon's range checks
    /// that need nothing else. `memory` and `nano_cpus` are the container's (0: none), for the
    /// checks that compare; `warn` hears what Docker warns of (a setting discarded).
    pub fn check(
        &self,
        memory: i64,
        nano_cpus: i64,
        host: &Host,
        warn: &dyn Fn(&str),
    ) -> Result<Resources> {
        let memory_reservation = match &self.memory_reservation {
            Some(m) => super::parse_bytes(m).map_err(|e| match e {
                Error::InvalidInput(m) => Error::Usage(m),
                e => e,
            })?,
            None => 0,
        };
        // The CLI's check; -1 is its "unset".
        let memory_swappiness = match self.memory_swappiness {
            None | Some(-1) => None,
            Some(s) if !(0..=100).contains(&s) => {
                return Err(Error::Usage(format!(
                    "invalid value: {s}. Valid memory swappiness range is 0-100"
                )))
            }
            Some(s) => Some(s),
        };
        if memory_reservation > 0 && memory_reservation < MIN_MEMORY {
            return Err(Error::InvalidInput(
                "Minimum memory reservation allowed is 6MB".into(),
            ));
        }
        if memory > 0 && memory_reservation > 0 && memory < memory_reservation {
            return Err(Error::InvalidInput(
                "Minimum memory limit can not be less than memory reservation limit, see usage"
                    .into(),
            ));
        }
        if self.oom_kill_disable && memory == 0 {
            warn(
                "OOM killer is disabled for the container, but no memory limit is set, this can \
                 result in the system running out of resources.",
            );
        }
        let cpu_period = self.cpu_period.unwrap_or(0);
        let cpu_quota = self.cpu_quota.unwrap_or(0);
        if nano_cpus > 0 && cpu_period > 0 {
            return Err(Error::InvalidInput(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set".into(),
            ));
        }
        if nano_cpus > 0 && cpu_quota > 0 {
            return Err(Error::InvalidInput(
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into(),
            ));
        }
        if cpu_period != 0 && !(1000..=1_000_000).contains(&cpu_period) {
            return Err(Error::InvalidInput(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. \
                 1000000)"
                    .into(),
            ));
        }
        if cpu_quota > 0 && cpu_quota < 1000 {
            return Err(Error::InvalidInput(
                "CPU cfs quota can not be less than 1ms (i.e. 1000)".into(),
            ));
        }
        let cpuset_cpus = self.cpuset_cpus.clone().unwrap_or_default();
        let cpuset_mems = self.cpuset_mems.clone().unwrap_or_default();
        check_cpuset(&cpuset_cpus, &host.cpus, "cpus", "CPUs")?;
        check_cpuset(&cpuset_mems, &host.mems, "mems", "memory nodes")?;
        // As Docker: a weight the kernel cannot apply is dropped (and then not range-checked).
        let mut blkio_weight = self.blkio_weight.unwrap_or(0);
        if blkio_weight > 0 && !host.blkio_weight {
            warn(
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. \
                 Weight discarded.",
            );
            blkio_weight = 0;
        }
        if blkio_weight > 0 && !(10..=1000).contains(&blkio_weight) {
            return Err(Error::InvalidInput(
                "Range of blkio weight is from 10 to 1000".into(),
            ));
        }
        let oom_score_adj = self.oom_score_adj.unwrap_or(0);
        if !(-1000..=1000).contains(&oom_score_adj) {
            return Err(Error::InvalidInput(format!(
                "Invalid value {oom_score_adj}, range for oom score adj is [-1000, 1000]"
            )));
        }
        Ok(Resources {
            cpuset_cpus,
            cpuset_mems,
            cpu_period,
            cpu_quota,
            memory_reservation,
            memory_swappiness,
            blkio_weight,
            oom_kill_disable: self.oom_kill_disable,
            oom_score_adj,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(blkio: bool) -> Host {
        Host {
            cpus: "0-1".into(),
            mems: "0".into(),
            blkio_weight: blkio,
            swap_limit: true,
        }
    }

    fn err(a: &ResourceArgs, memory: i64, nano: i64) -> (bool, String) {
        match a.check(memory, nano, &host(true), &|_| {}).unwrap_err() {
            Error::Usage(m) => (true, m),
            e => (false, e.to_string()),
        }
    }

    #[test]
    fn uint_lists_as_docker() {
        assert_eq!(parse_uint_list("0-2,4").unwrap(), vec![0, 1, 2, 4]);
        assert_eq!(parse_uint_list("").unwrap(), Vec::<u32>::new());
        for bad in ["0-x", "1,", "2-1", "-1", "a"] {
            assert_eq!(
                parse_uint_list(bad).unwrap_err(),
                format!("invalid format: {bad}")
            );
        }
    }

    #[test]
    fn dockers_errors_for_values_out_of_range() {
        let a = |f: &dyn Fn(&mut ResourceArgs)| {
            let mut a = ResourceArgs::default();
            f(&mut a);
            a
        };
        let cases: Vec<(ResourceArgs, i64, i64, bool, &str)> = vec![
            (
                a(&|a| a.cpuset_cpus = Some("5".into())),
                0,
                0,
                false,
                "Requested CPUs are not available - requested 5, available: 0-1",
            ),
            (
                a(&|a| a.cpuset_cpus = Some("0-x".into())),
                0,
                0,
                false,
                "Invalid value 0-x for cpuset cpus: invalid format: 0-x",
            ),
            (
                a(&|a| a.cpuset_mems = Some("1".into())),
                0,
                0,
                false,
                "Requested memory nodes are not available - requested 1, available: 0",
            ),
            (
                a(&|a| a.memory_reservation = Some("20m".into())),
                10 << 20,
                0,
                false,
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ),
            (
                a(&|a| a.memory_reservation = Some("1m".into())),
                0,
                0,
                false,
                "Minimum memory reservation allowed is 6MB",
            ),
            (
                a(&|a| a.memory_reservation = Some("lots".into())),
                0,
                0,
                true,
                "invalid size",
            ),
            (
                a(&|a| a.memory_swappiness = Some(101)),
                0,
                0,
                true,
                "invalid value: 101. Valid memory swappiness range is 0-100",
            ),
            (
                a(&|a| a.blkio_weight = Some(5)),
                0,
                0,
                false,
                "Range of blkio weight is from 10 to 1000",
            ),
            (
                a(&|a| a.oom_score_adj = Some(-1001)),
                0,
                0,
                false,
                "Invalid value -1001, range for oom score adj is [-1000, 1000]",
            ),
            (
                a(&|a| a.cpu_period = Some(100)),
                0,
                0,
                false,
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
            ),
            (
                a(&|a| a.cpu_quota = Some(100)),
                0,
                0,
                false,
                "CPU cfs quota can not be less than 1ms (i.e. 1000)",
            ),
            (
                a(&|a| a.cpu_period = Some(100_000)),
                0,
                1_000_000_000,
                false,
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ),
            (
                a(&|a| a.cpu_quota = Some(50_000)),
                0,
                1_000_000_000,
                false,
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
            ),
        ];
        for (args, mem, nano, usage, want) in cases {
            let (u, got) = err(&args, mem, nano);
            assert!(got.contains(want), "{args:?}: {got}");
            assert_eq!(u, usage, "{args:?}: {got}");
        }
    }

    #[test]
    fn values_in_range_and_dockers_warnings() {
        let a = ResourceArgs {
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            cpu_period: Some(50_000),
            cpu_quota: Some(25_000),
            memory_reservation: Some("32m".into()),
            memory_swappiness: Some(-1),
            blkio_weight: Some(300),
            oom_kill_disable: true,
            oom_score_adj: Some(-1000),
        };
        let warned = std::cell::RefCell::new(Vec::new());
        let w = |m: &str| warned.borrow_mut().push(m.to_string());
        let r = a.check(64 << 20, 0, &host(true), &w).unwrap();
        assert_eq!(r.memory_reservation, 32 << 20);
        assert_eq!(r.memory_swappiness, None);
        assert_eq!(r.blkio_weight, 300);
        assert_eq!(r.oom_score_adj, -1000);
        assert!(warned.borrow().is_empty());
        // No memory limit: Docker's warning. No blkio weight on the host: dropped, warned,
        // and not range-checked (Docker 20.10 takes --blkio-weight 5 there).
        let a = ResourceArgs {
            blkio_weight: Some(5),
            oom_kill_disable: true,
            ..Default::default()
        };
        let r = a.check(0, 0, &host(false), &w).unwrap();
        assert_eq!(r.blkio_weight, 0);
        let warned = warned.borrow();
        assert!(
            warned[0].starts_with("OOM killer is disabled"),
            "{warned:?}"
        );
        assert!(warned[1].starts_with("Your kernel does not support Block I/O weight"));
    }
}
