//! Changing a container's resource limits (`ctr-update`), as `docker update`: a running
//! container's cgroup gets the new limits at once; the record's `HostConfig` and `config.json`'s
//! `linux.resources` keep them for the next start. A stopped container only has its record and
//! config changed.

use std::fs;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources, Spec};
use serde_json::Value;

use super::spec::resources::Host;
use super::spec::{nano_cpus, parse_bytes, ResourceArgs, Resources};
use super::{engine, liveness, Container, Containers, HostConfig, Status};
use crate::error::{Error, IoContext, Result};
use crate::root::Root;
use crate::store::atomic_write_private;

/// What the user asked to change (flags as typed).
#[derive(Debug, Clone, Default)]
pub struct Update {
    /// `--restart`: the new restart policy (a running container's monitor follows it from its
    /// next exit on).
    pub restart: Option<String>,
    pub memory: Option<String>,
    pub memory_swap: Option<String>,
    pub cpus: Option<String>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    /// `--cpuset-cpus`, `--cpuset-mems`, `--cpu-period`, `--cpu-quota`,
    /// `--memory-reservation`, `--blkio-weight` (docker update's; the others stay unset).
    pub res: ResourceArgs,
}

/// The limits in numbers, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub restart: Option<crate::record::RestartPolicy>,
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    /// The resource flags given, checked (what is not given is 0 or empty: unchanged).
    pub res: Resources,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.restart.is_none()
            && self.memory.is_none()
            && self.memory_swap.is_none()
            && self.cpus.is_none()
            && self.cpu_shares.is_none()
            && self.pids_limit.is_none()
            && self.res.is_empty()
    }

    /// Parses the flags as ctr-create does (same units, same bounds).
    pub fn parse(&self) -> Result<Limits> {
        self.parse_warned(&|_| {})
    }

    /// [`Update::parse`], `warn` hearing Docker's warnings (a setting the kernel cannot apply,
    /// dropped).
    pub fn parse_warned(&self, warn: &dyn Fn(&str)) -> Result<Limits> {
        let memory = self
            .memory
            .as_deref()
            .map(|m| {
                let b = parse_bytes(m)?;
                if b != 0 && b < 6 * 1024 * 1024 {
                    return Err(Error::InvalidInput(
                        "Minimum memory limit allowed is 6MB".into(),
                    ));
                }
                Ok(b)
            })
            .transpose()?;
        let memory_swap = match self.memory_swap.as_deref() {
            None => None,
            Some("-1") => Some(-1),
            Some(s) => Some(parse_bytes(s)?),
        };
        let nano_cpus = self.cpus.as_deref().map(nano_cpus).transpose()?;
        if self.cpu_shares.is_some_and(|s| s < 0) {
            return Err(Error::InvalidInput(
                "--cpu-shares cannot be negative".into(),
            ));
        }
        let restart = self
            .restart
            .as_deref()
            .map(super::restart::parse)
            .transpose()?;
        // The flags alone, as docker update's daemon checks them; those that compare with
        // the container's values are checked again by `merge`.
        let res = self.res.check(
            memory.unwrap_or(0),
            nano_cpus.unwrap_or(0),
            &Host::probe(),
            warn,
        )?;
        Ok(Limits {
            restart,
            memory,
            memory_swap,
            nano_cpus,
            cpu_shares: self.cpu_shares,
            pids_limit: self.pids_limit,
            res,
        })
    }
}

/// The new HostConfig values, from the old ones and the update (Docker's rules: swap follows
/// memory at twice its value unless it was unlimited or is given; it cannot be below memory).
fn merge(hc: &mut HostConfig, l: &Limits, id: &str) -> Result<()> {
    let old_mem = hc.memory;
    let old_swap = hc.memory_swap;
    let memory = l.memory.unwrap_or(old_mem);
    let swap = match (l.memory, l.memory_swap) {
        (_, Some(s)) => s,
        (Some(m), None) if m > 0 && old_swap != -1 => m * 2,
        (Some(0), None) => 0,
        _ => old_swap,
    };
    if swap > 0 && memory == 0 {
        return Err(Error::InvalidInput(format!(
            "Cannot update container {id}: You should always set the Memory limit when using Memoryswap limit, see usage"
        )));
    }
    if swap > 0 && swap < memory {
        return Err(Error::InvalidInput(format!(
            "Cannot update container {id}: Minimum memoryswap limit should be larger than memory limit, see usage"
        )));
    }
    // moby `UpdateContainer`: NanoCPUs and a CFS period or quota exclude each other, whichever
    // came first.
    let conflict = |what: &str| {
        Error::InvalidInput(format!(
            "Cannot update container {id}: Conflicting options: {what}"
        ))
    };
    let r = &l.res;
    if l.nano_cpus.is_some_and(|n| n > 0) && hc.cpu_period > 0 {
        return Err(conflict(
            "Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if l.nano_cpus.is_some_and(|n| n > 0) && hc.cpu_quota > 0 {
        return Err(conflict(
            "Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if r.cpu_period > 0 && hc.nano_cpus > 0 {
        return Err(conflict(
            "CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if r.cpu_quota > 0 && hc.nano_cpus > 0 {
        return Err(conflict(
            "CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    let reservation = if r.memory_reservation != 0 {
        r.memory_reservation
    } else {
        hc.memory_reservation
    };
    // Docker's update takes a reservation above the limit (the kernel does too).
    hc.memory_reservation = reservation;
    if r.blkio_weight != 0 {
        hc.blkio_weight = r.blkio_weight;
    }
    if r.cpu_period != 0 {
        hc.cpu_period = r.cpu_period;
    }
    if r.cpu_quota != 0 {
        hc.cpu_quota = r.cpu_quota;
    }
    if !r.cpuset_cpus.is_empty() {
        hc.cpuset_cpus = r.cpuset_cpus.clone();
    }
    if !r.cpuset_mems.is_empty() {
        hc.cpuset_mems = r.cpuset_mems.clone();
    }
    hc.memory = memory;
    hc.memory_swap = swap;
    if let Some(n) = l.nano_cpus {
        hc.nano_cpus = n;
    }
    if let Some(s) = l.cpu_shares {
        hc.cpu_shares = s;
    }
    if let Some(p) = l.pids_limit {
        // As Docker: 0 and -1 both mean unlimited.
        hc.pids_limit = Some(if p <= 0 { 0 } else { p });
    }
    Ok(())
}

/// `linux.resources` for the values in `hc` (only the parts `l` touches, plus memory/swap which
/// move together), in the shape ctr-create writes.
fn resources_of(hc: &HostConfig, l: &Limits) -> LinuxResources {
    let mut r = LinuxResources::default();
    let res = &l.res;
    if l.memory.is_some() || l.memory_swap.is_some() || res.memory_reservation > 0 {
        let mut mem = LinuxMemory::default();
        if l.memory.is_some() || l.memory_swap.is_some() {
            let (m, s) = (hc.memory, hc.memory_swap);
            // 0 is "no limit" for Docker; -1 is the runtime's "max".
            let lim = |v: i64| if v > 0 { v } else { -1 };
            mem.set_limit(Some(lim(m)));
            mem.set_swap(Some(lim(if m > 0 { s } else { -1 })));
        }
        if res.memory_reservation > 0 {
            mem.set_reservation(Some(res.memory_reservation));
        }
        r.set_memory(Some(mem));
    }
    if res.blkio_weight > 0 {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(res.blkio_weight));
        r.set_block_io(Some(b));
    }
    if l.nano_cpus.is_some()
        || l.cpu_shares.is_some()
        || res.cpu_period != 0
        || res.cpu_quota != 0
        || !res.cpuset_cpus.is_empty()
        || !res.cpuset_mems.is_empty()
    {
        let mut cpu = LinuxCpu::default();
        if let Some(s) = l.cpu_shares {
            // 1024: cgroup v1's default weight.
            cpu.set_shares(Some(if s > 0 { s as u64 } else { 1024 }));
        }
        if let Some(n) = l.nano_cpus {
            cpu.set_quota(Some(if n > 0 {
                n * 100_000 / 1_000_000_000
            } else {
                -1
            }));
            cpu.set_period(Some(100_000));
        }
        if res.cpu_period != 0 {
            cpu.set_period(Some(res.cpu_period as u64));
        }
        if res.cpu_quota != 0 {
            cpu.set_quota(Some(res.cpu_quota));
        }
        if !res.cpuset_cpus.is_empty() {
            cpu.set_cpus(Some(res.cpuset_cpus.clone()));
        }
        if !res.cpuset_mems.is_empty() {
            cpu.set_mems(Some(res.cpuset_mems.clone()));
        }
        r.set_cpu(Some(cpu));
    }
    if let Some(p) = l.pids_limit {
        let mut pids = LinuxPids::default();
        pids.set_limit(if p > 0 { p } else { -1 });
        r.set_pids(Some(pids));
    }
    r
}

/// Stores `changes` into config.json's `linux.resources`, where "no limit" is written as
/// ctr-create writes it: absent. The rest of the spec is kept, its capabilities in their order.
fn store_spec(dir: &std::path::Path, changes: &LinuxResources) -> Result<()> {
    let path = dir.join("config.json");
    let data = fs::read(&path).with_path("read", &path)?;
    let corrupt = |e: serde_json::Error| Error::corrupt(path.display().to_string(), e);
    let old: Value = serde_json::from_slice(&data).map_err(corrupt)?;
    let caps: Vec<String> = old["process"]["capabilities"]["bounding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(String::from))
        .collect();
    let mut spec: Spec = serde_json::from_value(old).map_err(corrupt)?;
    let mut linux = match spec.linux() {
        Some(l) => l.clone(),
        None => serde_json::from_value(serde_json::json!({})).map_err(corrupt)?,
    };
    let mut res = linux.resources().clone().unwrap_or_default();
    if let Some(m) = changes.memory() {
        let mut mem = res.memory().unwrap_or_default();
        if let Some(limit) = m.limit() {
            let set = (limit > 0).then_some(limit);
            mem.set_limit(set);
            mem.set_swap(set.and(m.swap()));
        }
        if m.reservation().is_some() {
            mem.set_reservation(m.reservation());
        }
        let empty = mem.limit().is_none()
            && mem.reservation().is_none()
            && mem.swappiness().is_none()
            && mem.disable_oom_killer().is_none();
        res.set_memory((!empty).then_some(mem));
    }
    if let Some(b) = changes.block_io() {
        let mut blkio = res.block_io().clone().unwrap_or_default();
        blkio.set_weight(b.weight());
        res.set_block_io(Some(blkio));
    }
    if let Some(c) = changes.cpu() {
        let mut cpu = res.cpu().clone().unwrap_or_default();
        if let Some(s) = c.shares() {
            cpu.set_shares(Some(s));
        }
        if let Some(q) = c.quota() {
            if q > 0 {
                cpu.set_quota(Some(q));
                if c.period().is_some() {
                    cpu.set_period(c.period());
                }
            } else {
                cpu.set_quota(None);
                cpu.set_period(None);
            }
        } else if c.period().is_some() {
            cpu.set_period(c.period());
        }
        if c.cpus().is_some() {
            cpu.set_cpus(c.cpus().clone());
        }
        if c.mems().is_some() {
            cpu.set_mems(c.mems().clone());
        }
        res.set_cpu(Some(cpu));
    }
    if let Some(p) = changes.pids() {
        res.set_pids((p.limit() > 0).then_some(*p));
    }
    linux.set_resources(Some(res));
    spec.set_linux(Some(linux));
    let out = serde_json::to_vec_pretty(&super::spec::runtime::config_json(&spec, &caps))
        .expect("JSON values serialise");
    atomic_write_private(dir, "config.json", &out)
}

/// Applies `u` to the container `name`; returns the updated record.
pub fn update(root: &Root, name: &str, u: &Update) -> Result<Container> {
    let limits = u.parse()?;
    let store = Containers::open(root.containers_dir())?;
    let _lock = store.lock()?;
    let mut c = liveness::refresh(&store.find(name)?);
    let mut hc = c.host_config.clone();
    if let Some(p) = &limits.restart {
        if hc.auto_remove && !super::restart::is_none(p) {
            return Err(Error::InvalidInput(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        hc.restart_policy = p.clone();
    }
    merge(&mut hc, &limits, &c.id)?;
    let changes = resources_of(&hc, &limits);
    let dir = store.path(&c.id);
    if matches!(c.state.status, Status::Running | Status::Paused) {
        let cg = engine::cgroup_of(&dir, &c.id)?;
        cg.apply(&changes).map_err(|e| Error::Runtime {
            message: format!("cannot update container {}: {e}", c.id),
            code: 1,
        })?;
    }
    store_spec(&dir, &changes)?;
    c.host_config = hc;
    store.save(&c)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn swap_follows_memory_and_limits_map_to_resources() {
        let u = Update {
            memory: Some("64m".into()),
            pids_limit: Some(20),
            cpus: Some("0.5".into()),
            ..Default::default()
        };
        let l = u.parse().unwrap();
        let mut hc = HostConfig::default();
        merge(&mut hc, &l, "x").unwrap();
        assert_eq!(hc.memory, 64 << 20);
        assert_eq!(hc.memory_swap, 128 << 20);
        assert_eq!(hc.pids_limit, Some(20));
        let r = serde_json::to_value(resources_of(&hc, &l)).unwrap();
        assert_eq!(r["memory"], json!({"limit": 64 << 20, "swap": 128 << 20}));
        assert_eq!(r["cpu"]["quota"], 50_000);
        assert_eq!(r["pids"]["limit"], 20);
        let _: LinuxResources = serde_json::from_value(r).unwrap();
        let bad = Update {
            memory_swap: Some("1g".into()),
            ..Default::default()
        };
        let mut hc = HostConfig::default();
        assert!(merge(&mut hc, &bad.parse().unwrap(), "x").is_err());
    }
}
