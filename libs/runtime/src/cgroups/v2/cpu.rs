//! The v2 cpu controller (cpu.weight, cpu.max).

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::files::write;
use crate::error::Result;

/// runc's conversion of v1 cpu shares (2..262144) to v2 cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

pub(crate) fn apply_cpu_v2(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(shares) = c.shares().filter(|&s| s != 0) {
        write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if quota != 0 || period != 0 {
        let mut max = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            max = format!("{max} {period}");
        }
        write(dir, "cpu.max", &max)?;
    }
    Ok(())
}
