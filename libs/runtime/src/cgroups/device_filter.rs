//! Attaching the eBPF device filter (`devfilter`) to a cgroup v2 directory: on a v2 host, and
//! besides the v1 devices controller on a hybrid host's v2 mount.

use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

use crate::devfilter;
use crate::error::{Error, Result};

/// cgroup2's `statfs` magic.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[cfg(test)]
thread_local! {
    /// The device programs this thread would have attached to directories of a fake cgroupfs.
    pub(crate) static PROGRAMS: std::cell::RefCell<Vec<(PathBuf, Vec<devfilter::Insn>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Attaches the device program to the cgroup `dir`, which must be a cgroup v2 directory: a
/// failure (no bpf(2) permission, a kernel without cgroup BPF) fails the container, as runc
/// fails it on v2, rather than leaving it without a device filter. The unit tests' fake trees
/// record the program instead.
pub(crate) fn attach_device_filter(dir: &Path, program: &[devfilter::Insn]) -> Result<()> {
    let fs = nix::sys::statfs::statfs(dir).map_err(|source| Error::CgroupSys {
        path: dir.to_path_buf(),
        what: "statfs".into(),
        source,
    })?;
    if fs.filesystem_type().0 as i64 != CGROUP2_SUPER_MAGIC {
        #[cfg(test)]
        {
            PROGRAMS.with(|p| p.borrow_mut().push((dir.to_path_buf(), program.to_vec())));
            return Ok(());
        }
        #[cfg(not(test))]
        return Err(Error::Cgroup {
            path: dir.to_path_buf(),
            why: "not a cgroup v2 directory: cannot attach the device filter".into(),
        });
    }
    devfilter::attach(dir, program)
}
