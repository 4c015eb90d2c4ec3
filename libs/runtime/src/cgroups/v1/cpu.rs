//! The v1 cpu controller (shares, CFS and RT bandwidth).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::files::{parse_u64, read, write, write_error, write_raw};
use crate::error::{Error, Result};

/// runc's order: shares (read back: the kernel clamps), then period and quota; a shorter period
/// the kernel refuses (EINVAL, the old quota would exceed the parent's) is retried after the
/// quota.
pub(crate) fn apply_cpu_v1(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        write(dir, "cpu.shares", &shares.to_string())?;
        let read_back = read(dir, "cpu.shares")?;
        let read_back = parse_u64(&dir.join("cpu.shares"), &read_back)?;
        if shares > read_back {
            return Err(Error::Cgroup {
                path: dir.join("cpu.shares"),
                why: format!("cpu shares {shares}: the maximum allowed is {read_back}"),
            });
        } else if shares < read_back {
            return Err(Error::Cgroup {
                path: dir.join("cpu.shares"),
                why: format!("cpu shares {shares}: the minimum allowed is {read_back}"),
            });
        }
    }
    let quota = c.quota().unwrap_or(0);
    let mut retry_period = None;
    if let Some(period) = c.period().filter(|&p| p != 0) {
        let path = dir.join("cpu.cfs_period_us");
        match write_raw(&path, &period.to_string()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && quota != 0 => {
                retry_period = Some(period)
            }
            Err(e) => return Err(write_error(path, &period.to_string(), e)),
        }
    }
    if quota != 0 {
        write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        if let Some(period) = retry_period {
            write(dir, "cpu.cfs_period_us", &period.to_string())?;
        }
    }
    if let Some(p) = c.realtime_period().filter(|&p| p != 0) {
        write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r != 0) {
        write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    Ok(())
}
