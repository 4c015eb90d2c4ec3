//! Docker's tables for a container's runtime spec: capabilities (defaults, all, the
//! `--cap-add`/`--cap-drop` arithmetic), masked and read-only paths, the `/dev/shm` size.

use serde_json::Value;

use crate::error::{Error, Result};

/// Docker's default capabilities (moby `oci/caps`), in Docker's order.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines, by number (CAP_CHOWN is 0).
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's masked paths (moby `oci/defaults.go`).
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default `/dev/shm` size (64 MiB).
pub const SHM_SIZE: u64 = 67_108_864;

/// The capabilities this kernel knows: all of [`ALL_CAPS`] up to `cap_last_cap`, as Docker's
/// `GetAllCapabilities`.
pub fn known_caps() -> Vec<&'static str> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPS.len() - 1);
    ALL_CAPS.iter().take(last + 1).copied().collect()
}

/// `chown`, `CHOWN`, `cap_chown` → `CAP_CHOWN`; `all` → `ALL`. Unknown names are an error.
pub fn normalize_cap(name: &str) -> Result<String> {
    let up = name.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let full = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(Error::InvalidInput(format!("unknown capability: {name:?}")))
    }
}

/// The capability set from Docker's defaults and `--cap-add`/`--cap-drop` (moby
/// `caps.TweakCapabilities`): `--cap-add ALL` gives every capability but those dropped,
/// `--cap-drop ALL` only those added; `--privileged` every capability.
pub fn tweak_caps(add: &[String], drop: &[String], privileged: bool) -> Result<Vec<String>> {
    let add: Vec<String> = add
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| normalize_cap(c))
        .collect::<Result<_>>()?;
    let known = known_caps();
    if privileged {
        return Ok(known.iter().map(|s| s.to_string()).collect());
    }
    let has = |v: &[String], c: &str| v.iter().any(|x| x == c);
    let mut caps: Vec<String> = Vec::new();
    let mut push = |c: &str| {
        if c != "ALL" && !caps.iter().any(|x| x == c) {
            caps.push(c.to_string());
        }
    };
    if has(&add, "ALL") {
        for c in &known {
            if !has(&drop, c) {
                push(c);
            }
        }
    } else if has(&drop, "ALL") {
        for c in &add {
            push(c);
        }
    } else {
        for c in DEFAULT_CAPS {
            if !has(&drop, c) {
                push(c);
            }
        }
        for c in &add {
            push(c);
        }
    }
    Ok(caps)
}

/// Every capability this kernel knows (`--privileged`), as the runtime spec types them.
pub fn all_capabilities() -> oci_spec::runtime::Capabilities {
    known_caps()
        .into_iter()
        .filter_map(|name| serde_json::from_value(Value::String(name.to_string())).ok())
        .collect()
}
