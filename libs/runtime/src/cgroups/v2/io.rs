//! The v2 io controller (weights, io.max).

use std::path::Path;

use oci_spec::runtime::LinuxBlockIo;

use crate::cgroups::files::write;
use crate::error::Result;

pub(crate) fn apply_io_v2(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // io.bfq.weight takes the v1 range (10..1000); io.weight is 1..10000 (runc's conversion).
    let bfq = dir.join("io.bfq.weight").exists();
    if let Some(w) = b.weight().filter(|&w| w != 0) {
        if bfq {
            write(dir, "io.bfq.weight", &w.to_string())?;
        } else {
            let w = u64::from(w.clamp(10, 1000));
            write(dir, "io.weight", &(1 + (w - 10) * 9999 / 990).to_string())?;
        }
    }
    if bfq {
        for d in b.weight_device().iter().flatten() {
            if let Some(w) = d.weight() {
                write(
                    dir,
                    "io.bfq.weight",
                    &format!("{}:{} {w}", d.major(), d.minor()),
                )?;
            }
        }
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, devices) in throttles {
        for d in devices.iter().flatten() {
            write(
                dir,
                "io.max",
                &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}
