//! The v1 memory controller.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::files::{parse_u64, read, read_opt, write, write_error, write_raw};
use crate::error::{Error, Result};

/// runc's setMemoryAndSwap: when both memory and memory+swap are set, write memsw first if it
/// grows past the current limit (or is unlimited), else memory first, so the kernel never sees
/// memory > memory+swap.
pub(crate) fn apply_memory_v1(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let has_memsw = dir.join("memory.memsw.limit_in_bytes").exists();
    if limit == -1 && swap == 0 && has_memsw {
        swap = -1;
    }
    if !has_memsw {
        // No swap accounting on this host (swapaccount=0): the swap limit cannot be set.
        swap = 0;
    }
    let mut swap_first = false;
    if limit != 0 && swap != 0 {
        let current = read(dir, "memory.limit_in_bytes")?;
        // The kernel reads back "no limit" as a huge number; a fake cgroupfs may hold the "-1"
        // written to it.
        let current = match current.trim() {
            "-1" => u64::MAX,
            _ => parse_u64(&dir.join("memory.limit_in_bytes"), &current)?,
        };
        swap_first = swap == -1 || current < swap as u64;
    }
    if swap_first {
        write_v1_memory(dir, "memory.memsw.limit_in_bytes", swap)?;
        write_v1_memory(dir, "memory.limit_in_bytes", limit)?;
    } else {
        write_v1_memory(dir, "memory.limit_in_bytes", limit)?;
        write_v1_memory(dir, "memory.memsw.limit_in_bytes", swap)?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::Cgroup {
                path: dir.join("memory.swappiness"),
                why: format!("invalid swappiness {s}: must be 0 to 100"),
            });
        }
        write(dir, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

/// Writes a v1 memory limit (0 = leave as is); a limit the kernel refuses because the cgroup
/// uses more (EBUSY) is reported with the usage, as runc does.
pub(crate) fn write_v1_memory(dir: &Path, file: &str, value: i64) -> Result<()> {
    if value == 0 {
        return Ok(());
    }
    let path = dir.join(file);
    match write_raw(&path, &value.to_string()) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let (usage, max) = if file.contains("memsw") {
                (
                    "memory.memsw.usage_in_bytes",
                    "memory.memsw.max_usage_in_bytes",
                )
            } else {
                ("memory.usage_in_bytes", "memory.max_usage_in_bytes")
            };
            let usage = read_opt(dir, usage).ok().flatten().unwrap_or_default();
            let max = read_opt(dir, max).ok().flatten().unwrap_or_default();
            Err(Error::Cgroup {
                path,
                why: format!(
                    "cannot set the limit to {value}: below the current usage {} (peak {})",
                    usage.trim(),
                    max.trim()
                ),
            })
        }
        Err(e) => Err(write_error(path, &value.to_string(), e)),
    }
}
