//! The v2 memory controller (memory.max, memory.swap.max, memory.low).

use std::io;
use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::v2_value;
use crate::cgroups::files::{parse_u64, read_opt, write, write_error, write_raw};
use crate::error::{Error, Result};

/// runc's ConvertMemorySwapToCgroupV2Value: the spec's swap is memory+swap; v2's memory.swap.max is
/// the swap alone.
pub(crate) fn v2_swap(swap: i64, memory: i64, dir: &Path) -> Result<i64> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    let bad = |why: String| Error::Cgroup {
        path: dir.join("memory.swap.max"),
        why,
    };
    if memory == 0 || memory == -1 {
        return Err(bad(format!(
            "cannot set a swap limit ({swap}) without a memory limit"
        )));
    }
    if memory < 0 {
        return Err(bad(format!("invalid memory limit {memory}")));
    }
    if swap < memory {
        return Err(bad(format!(
            "memory+swap limit {swap} must be at least the memory limit {memory}"
        )));
    }
    Ok(swap - memory)
}

pub(crate) fn apply_memory_v2(dir: &Path, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap_spec = m.swap().unwrap_or(0);
    let swap = v2_swap(swap_spec, limit, dir)?;
    let swap_str = match v2_value(swap) {
        None if swap_spec > 0 => Some("0".to_string()), // memory == memory+swap: no swap
        s => s,
    };
    if let Some(s) = swap_str {
        let path = dir.join("memory.swap.max");
        if let Err(e) = write_raw(&path, &s) {
            // Without swap (accounting), setting no swap or unlimited swap is moot.
            if !(e.kind() == io::ErrorKind::NotFound && (s == "max" || s == "0")) {
                return Err(write_error(path, &s, e));
            }
        }
    }
    if let Some(v) = v2_value(limit) {
        if limit > 0 {
            // v2 would OOM-kill rather than refuse; refuse, as v1 does, when the cgroup already
            // uses more than the new limit.
            if let Some(cur) = read_opt(dir, "memory.current")? {
                let cur = parse_u64(&dir.join("memory.current"), &cur)?;
                if cur > limit as u64 {
                    return Err(Error::Cgroup {
                        path: dir.join("memory.max"),
                        why: format!(
                            "cannot set the limit to {limit}: below the current usage {cur}"
                        ),
                    });
                }
            }
        }
        write(dir, "memory.max", &v)?;
    }
    if let Some(v) = m.reservation().and_then(v2_value) {
        write(dir, "memory.low", &v)?;
    }
    Ok(())
}
