//! ctr-create's flags and an image → a container's OCI runtime config plus Docker's Config and
//! HostConfig. OWNER: spec helper.

use oci_spec::runtime::{Capabilities, Capability};

/// Every capability (`--privileged`).
pub fn all_capabilities() -> Capabilities {
    use Capability::*;
    [
        AuditControl,
        AuditRead,
        AuditWrite,
        BlockSuspend,
        Bpf,
        CheckpointRestore,
        Chown,
        DacOverride,
        DacReadSearch,
        Fowner,
        Fsetid,
        IpcLock,
        IpcOwner,
        Kill,
        Lease,
        LinuxImmutable,
        MacAdmin,
        MacOverride,
        Mknod,
        NetAdmin,
        NetBindService,
        NetBroadcast,
        NetRaw,
        Perfmon,
        Setfcap,
        Setgid,
        Setpcap,
        Setuid,
        SysAdmin,
        SysBoot,
        SysChroot,
        SysModule,
        SysNice,
        SysPacct,
        SysPtrace,
        SysRawio,
        SysResource,
        SysTime,
        SysTtyConfig,
        Syslog,
        WakeAlarm,
    ]
    .into_iter()
    .collect()
}

/// `-e KEY=VALUE` as given; `-e KEY` takes this process's value, and is dropped when unset (as
/// Docker).
pub fn expand_env(e: &str) -> Option<String> {
    if e.contains('=') {
        return Some(e.to_string());
    }
    std::env::var(e).ok().map(|v| format!("{e}={v}"))
}

/// Docker's `--env-file`: KEY=VALUE lines, `#` comments and blank lines skipped, a bare KEY
/// taking this process's value.
pub fn read_env_file(path: &std::path::Path) -> crate::Result<Vec<String>> {
    use crate::error::IoContext;
    let text = std::fs::read_to_string(path).with_path("read the env file", path)?;
    Ok(text
        .lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(expand_env)
        .collect())
}
