//! ctr-create's flags ([`CreateArgs`], shared with ctr-run) and what they make together with an
//! image: the container's OCI runtime config (`config.json`), shaped as Docker's daemon makes it
//! (moby `oci/defaults.go` and `daemon/oci_linux.go`), and Docker's `Config` and `HostConfig`
//! for the record.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Map, Value};

use crate::bundle::{resolve_user_in, DEFAULT_PATH};
use crate::error::{Error, Result};

/// `docker create`'s flags that berth knows, then IMAGE and the command.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Assign a name to the container
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Set an environment variable (KEY alone takes this process's value of KEY)
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,

    /// Read environment variables from a file (KEY=VALUE lines, # comments)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Username or UID, and optionally group or GID
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// Container host name [default: the first 12 digits of the ID]
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Overwrite the image's ENTRYPOINT (an empty string clears it; the image's CMD is dropped)
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,

    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,

    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,

    /// Set metadata on the container
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]")]
    pub labels: Vec<String>,

    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,

    /// Add Linux capabilities (CHOWN or CAP_CHOWN, or ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// Drop Linux capabilities (CHOWN or CAP_CHOWN, or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// Give extended privileges: all capabilities, all devices, no seccomp, no masked paths
    #[arg(long)]
    pub privileged: bool,

    /// Security options: seccomp=FILE|unconfined, no-new-privileges[:true|false]
    /// (label= and apparmor= are accepted and ignored)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,

    /// Ulimit options: NAME=SOFT[:HARD] (nofile, nproc, core, memlock, stack, …)
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,

    /// Signal to stop the container [default: SIGTERM]
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// Seconds to wait before killing the container when stopping it [default: 10]
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,

    /// Memory limit (units b, k, m, g)
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,

    /// Memory plus swap limit; -1 for unlimited swap [default: twice --memory]
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    pub memory_swap: Option<String>,

    /// Number of CPUs (decimal)
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<String>,

    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "SHARES")]
    pub cpu_shares: Option<u64>,

    /// Tune the container's pids limit (-1 or 0 for unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,

    /// The OCI runtime: builtin, runc, crun, or the path of a runc-compatible binary
    #[arg(long, value_name = "RUNTIME", default_value = "builtin")]
    pub runtime: String,

    /// Connect the container to a network: bridge (the default: berth0, NAT), a user-defined
    /// network's name or ID, none (only lo), host (the host's), or container:NAME|ID (another
    /// container's, which must be running when this one starts)
    #[arg(long, alias = "net", value_name = "NETWORK", default_value = "bridge")]
    pub network: String,

    /// Another name for the container on a user-defined network (resolves like its name)
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,

    /// Publish a container's port on the host: [IP:][HOST_PORT[-END]:]CTR_PORT[-END][/tcp|udp];
    /// no host port: a free one is chosen
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    pub publish: Vec<String>,

    /// Publish every exposed port (the image's EXPOSE and --expose) on a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,

    /// Expose a port or a range of ports: PORT[-END][/tcp|udp]
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,

    /// The container's IPv4 address on a user-defined network
    #[arg(long, value_name = "IPV4")]
    pub ip: Option<String>,

    /// The container's MAC address (e.g. 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "MAC")]
    pub mac_address: Option<String>,

    /// A custom DNS server (replaces the host's name servers in /etc/resolv.conf)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,

    /// A DNS search domain ("." for none)
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,

    /// A DNS option (e.g. ndots:2)
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "OPT")]
    pub dns_option: Vec<String>,

    /// Add a line to /etc/hosts: NAME:IP (IP may be host-gateway: the network's gateway)
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,

    /// Bind mount a host directory or mount a volume: HOST:CTR[:ro], NAME:CTR[:ro], or CTR for
    /// an anonymous volume (a missing HOST directory is created)
    #[arg(short = 'v', long = "volume", value_name = "[SRC:]DST[:MODE]")]
    pub volume: Vec<String>,

    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=…,target=…[,readonly]
    #[arg(long = "mount", value_name = "MOUNT")]
    pub mount: Vec<String>,

    /// Mount a tmpfs directory: PATH[:OPTIONS] (size=64m,mode=1777,…)
    #[arg(long = "tmpfs", value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,

    /// The image: a reference, an image ID (or unique prefix), or - for the JSON a previous
    /// tool printed
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// The command and its arguments (replacing the image's CMD)
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
}

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

/// Docker's `RAMInBytes`: a size with an optional binary unit (`b`, `k`, `m`, `g`, `t`, `p`, with
/// or without a trailing `b`, any case), decimals allowed (`1.5g`).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let bad = || {
        Error::InvalidInput(format!(
            "invalid size: {s:?}: use a number with b, k, m or g"
        ))
    };
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult) as i64)
}

/// `--cpus 1.5` → 1_500_000_000 nano CPUs, as Docker's `NanoCPUs`.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let bad = || Error::InvalidInput(format!("invalid --cpus {s:?}: use a decimal number"));
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if frac.len() > 9 {
        return Err(Error::InvalidInput(format!(
            "invalid --cpus {s:?}: too much precision"
        )));
    }
    let i: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let f: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    i.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(f))
        .ok_or_else(bad)
}

/// One `--ulimit`: Docker's name, soft and hard (`u64::MAX` is unlimited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

fn rlimit_resource(name: &str) -> Option<rustix::process::Resource> {
    use rustix::process::Resource as R;
    Some(match name {
        "core" => R::Core,
        "cpu" => R::Cpu,
        "data" => R::Data,
        "fsize" => R::Fsize,
        "locks" => R::Locks,
        "memlock" => R::Memlock,
        "msgqueue" => R::Msgqueue,
        "nice" => R::Nice,
        "nofile" => R::Nofile,
        "nproc" => R::Nproc,
        "rss" => R::Rss,
        "rtprio" => R::Rtprio,
        "rttime" => R::Rttime,
        "sigpending" => R::Sigpending,
        "stack" => R::Stack,
        "as" => R::As,
        _ => return None,
    })
}

/// `u64::MAX`: no limit (RLIM_INFINITY).
const UNLIMITED: u64 = u64::MAX;

/// The rlimits a Docker container gets when no `--ulimit` is given, in Docker's `--ulimit`
/// names. Docker puts none in its spec: a container inherits dockerd's, which the packaged
/// `docker.service` sets (Debian 12's docker.io and Docker CE before 25: `LimitNOFILE=1048576`,
/// `LimitNPROC=infinity`, `LimitCORE=infinity`); the others are what systemd gives a service, the
/// kernel's limits of init (`INIT_RLIMITS`: stack 8 MiB soft, memlock 8 MiB, msgqueue 819200,
/// nice and rtprio 0, sigpending half of `kernel.threads-max`, the rest unlimited). berth has
/// no daemon to inherit from, so the spec carries them all: the caller's own limits (`ulimit -n
/// 512` in the shell, `ulimit -c unlimited`) never reach the container.
pub fn docker_default_ulimits() -> Vec<Ulimit> {
    let sigpending = std::fs::read_to_string("/proc/sys/kernel/threads-max")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .map(|t| (t / 2).max(1));
    let mut out = Vec::new();
    let mut add = |name: &str, soft: u64, hard: u64| {
        out.push(Ulimit {
            name: name.to_string(),
            soft,
            hard,
        })
    };
    add("cpu", UNLIMITED, UNLIMITED);
    add("fsize", UNLIMITED, UNLIMITED);
    add("data", UNLIMITED, UNLIMITED);
    add("stack", 8 << 20, UNLIMITED);
    add("core", UNLIMITED, UNLIMITED);
    add("rss", UNLIMITED, UNLIMITED);
    add("nproc", UNLIMITED, UNLIMITED);
    add("nofile", 1 << 20, 1 << 20);
    add("memlock", 8 << 20, 8 << 20);
    add("as", UNLIMITED, UNLIMITED);
    add("locks", UNLIMITED, UNLIMITED);
    if let Some(n) = sigpending {
        add("sigpending", n, n);
    }
    add("msgqueue", 819_200, 819_200);
    add("nice", 0, 0);
    add("rtprio", 0, 0);
    add("rttime", UNLIMITED, UNLIMITED);
    out
}

/// The container's rlimits: Docker's defaults with each `--ulimit` in place of the default of
/// its resource, every default clamped to this process's hard limit (an unprivileged caller, or
/// one without CAP_SYS_RESOURCE, cannot raise it; the runtime would fail to set more). The
/// `--ulimit`s were checked against the hard limit when parsed.
pub fn container_ulimits(user: &[Ulimit]) -> Vec<Ulimit> {
    let mut out = docker_default_ulimits();
    for u in out.iter_mut() {
        if let Some(res) = rlimit_resource(&u.name) {
            let max = rustix::process::getrlimit(res).maximum.unwrap_or(UNLIMITED);
            u.hard = u.hard.min(max);
            u.soft = u.soft.min(u.hard);
        }
    }
    for given in user {
        match out.iter_mut().find(|u| u.name == given.name) {
            Some(u) => *u = given.clone(),
            None => out.push(given.clone()),
        }
    }
    out
}

/// Parses `NAME=SOFT[:HARD]` and checks it against this process's hard limit, which a
/// container's limit cannot exceed (the runtime could not set it).
pub fn parse_ulimit(s: &str) -> Result<Ulimit> {
    let (name, vals) = s.split_once('=').ok_or_else(|| {
        Error::InvalidInput(format!("invalid --ulimit {s:?}: expected NAME=SOFT[:HARD]"))
    })?;
    let res = rlimit_resource(name).ok_or_else(|| {
        Error::InvalidInput(format!("invalid --ulimit {s:?}: unknown name {name:?}"))
    })?;
    let num = |v: &str| -> Result<u64> {
        match v {
            "-1" | "unlimited" => Ok(u64::MAX),
            _ => v.parse::<u64>().map_err(|_| {
                Error::InvalidInput(format!("invalid --ulimit {s:?}: {v:?} is not a number"))
            }),
        }
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let v = num(vals)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(Error::InvalidInput(format!(
            "invalid --ulimit {s:?}: the soft limit must be less than or equal to the hard limit"
        )));
    }
    let max = rustix::process::getrlimit(res).maximum.unwrap_or(u64::MAX);
    if hard > max {
        return Err(Error::InvalidInput(format!(
            "--ulimit {s}: {hard} is above this process's hard limit of {max} for {name}, \
             which a container cannot exceed"
        )));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

/// Which seccomp filter the container gets.
#[derive(Debug, Clone, PartialEq)]
pub enum Seccomp {
    /// Docker's default profile.
    Default,
    /// None (`seccomp=unconfined`, `--privileged`).
    Unconfined,
    /// A profile in Docker's JSON format, read from the user's file.
    Profile(String),
}

/// The flags, checked and parsed: everything that can be wrong with them is found here, before
/// anything is made.
#[derive(Debug, Clone)]
pub struct Flags {
    pub caps: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub seccomp: Seccomp,
    pub no_new_privileges: bool,
    /// `--security-opt` as Docker records it (a seccomp file's content inlined).
    pub security_opt: Vec<String>,
    pub ulimits: Vec<Ulimit>,
    pub memory: i64,
    pub memory_swap: i64,
    pub nano_cpus: i64,
    pub cpu_shares: i64,
    pub pids_limit: Option<i64>,
    pub network: String,
    pub runtime: String,
    pub labels: Map<String, Value>,
    /// `-e` and `--env-file`, in order, host values filled in.
    pub env: Vec<String>,
    /// `-v`, `--mount` and `--tmpfs`, parsed.
    pub mounts: Vec<crate::volume::Request>,
    /// `-p`, `-P`, `--expose`, `--dns*`, `--add-host`, `--ip`, `--mac-address`, aliases.
    pub net: NetFlags,
}

/// The network flags, checked (the network itself is looked up by `create`).
#[derive(Debug, Clone, Default)]
pub struct NetFlags {
    /// `none`, `host`, `bridge`, `container:REF`, or a user-defined network's name or ID.
    pub mode: String,
    pub port_bindings: berth_net::ports::PortBindings,
    pub publish_all: bool,
    /// `--expose` and the `-p` container ports, as `80/tcp`.
    pub exposed: Vec<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `--add-host`, as Docker's `ExtraHosts` (`NAME:IP`).
    pub extra_hosts: Vec<String>,
    pub ip: Option<std::net::Ipv4Addr>,
    pub mac: Option<String>,
    pub aliases: Vec<String>,
}

impl NetFlags {
    /// Whether the container gets an interface on a bridge network (the default or a
    /// user-defined one).
    pub fn on_bridge(&self) -> bool {
        !matches!(self.mode.as_str(), "none" | "host") && !self.mode.starts_with("container:")
    }
}

/// Docker's checks of the network flags against the network mode.
fn parse_network_flags(args: &CreateArgs, warn: &dyn Fn(&str)) -> Result<NetFlags> {
    use berth_net::ports::{parse_publish, Port};
    let mode = match args.network.as_str() {
        "" | "default" => "bridge".to_string(),
        n if n.starts_with("container:") => {
            if n.len() == "container:".len() {
                return Err(Error::InvalidInput(
                    "--network container: needs a container's name or ID".into(),
                ));
            }
            n.to_string()
        }
        n => n.to_string(),
    };
    let user_defined =
        !matches!(mode.as_str(), "bridge" | "none" | "host") && !mode.starts_with("container:");
    let conflict = |what: &str| {
        Error::InvalidInput(format!(
            "conflicting options: {what} and the network mode ({mode})"
        ))
    };
    let is_container = mode.starts_with("container:");
    let mut port_bindings = berth_net::ports::PortBindings::new();
    for p in &args.publish {
        parse_publish(p, &mut port_bindings).map_err(Error::from)?;
    }
    if is_container && (!port_bindings.is_empty() || args.publish_all) {
        return Err(conflict("port publishing"));
    }
    if is_container
        && (!args.dns.is_empty() || !args.dns_search.is_empty() || !args.dns_option.is_empty())
    {
        return Err(conflict("dns"));
    }
    if is_container && !args.add_host.is_empty() {
        return Err(conflict("custom host-to-IP mapping"));
    }
    if (is_container || mode == "host" || mode == "none") && args.mac_address.is_some() {
        return Err(conflict("mac-address"));
    }
    if (mode == "host" || mode == "none") && (!port_bindings.is_empty() || args.publish_all) {
        warn(&format!(
            "published ports are discarded when using the {mode} network mode"
        ));
        port_bindings.clear();
    }
    if args.ip.is_some() && !user_defined {
        return Err(Error::InvalidInput(
            "a user-specified IP address (--ip) is supported on user-defined networks only".into(),
        ));
    }
    if !args.network_alias.is_empty() && !user_defined {
        return Err(Error::InvalidInput(
            "a network-scoped alias (--network-alias) is supported only for containers on \
             user-defined networks"
                .into(),
        ));
    }
    let ip = match &args.ip {
        Some(s) => Some(
            s.parse::<std::net::Ipv4Addr>()
                .map_err(|_| Error::InvalidInput(format!("invalid IPv4 address {s:?} for --ip")))?,
        ),
        None => None,
    };
    let mac = match &args.mac_address {
        Some(m) => Some(berth_net::subnet::format_mac(
            &berth_net::subnet::parse_mac(m).map_err(Error::from)?,
        )),
        None => None,
    };
    let mut exposed = Vec::new();
    for e in &args.expose {
        let (range, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let bad = || {
            Error::InvalidInput(format!(
                "invalid --expose {e:?}: expected PORT[-END][/PROTO]"
            ))
        };
        let a: u16 = a.parse().map_err(|_| bad())?;
        let b: u16 = b.parse().map_err(|_| bad())?;
        if a == 0 || b < a {
            return Err(bad());
        }
        for p in a..=b {
            let port: Port = format!("{p}/{proto}").parse().map_err(Error::from)?;
            exposed.push(port.to_string());
        }
    }
    exposed.extend(port_bindings.keys().cloned());
    for d in &args.dns {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::InvalidInput(format!(
                "invalid --dns {d:?}: not an IP address"
            )));
        }
    }
    let mut extra_hosts = Vec::new();
    for h in &args.add_host {
        let e = berth_net::hosts::parse_add_host(h).map_err(Error::from)?;
        extra_hosts.push(format!("{}:{}", e.name, e.ip));
    }
    Ok(NetFlags {
        mode,
        port_bindings,
        publish_all: args.publish_all,
        exposed,
        dns: args.dns.clone(),
        dns_search: args.dns_search.clone(),
        dns_options: args.dns_option.clone(),
        extra_hosts,
        ip,
        mac,
        aliases: args.network_alias.clone(),
    })
}

/// Docker's check for names of signals (`--stop-signal`): `SIGTERM`, `TERM`, `15`.
fn check_signal(s: &str) -> Result<()> {
    if s.parse::<i32>().is_ok_and(|n| (1..=64).contains(&n)) {
        return Ok(());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    if name.parse::<nix::sys::signal::Signal>().is_ok() || name.starts_with("SIGRTM") {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("invalid signal: {s}")))
    }
}

/// An `-e`/`--env-file` entry: `KEY=VALUE` as is, `KEY` alone takes this process's value (or is
/// dropped when it has none), as Docker.
fn env_entry(e: &str, out: &mut Vec<String>) -> Result<()> {
    match e.split_once('=') {
        Some(("", _)) => Err(Error::InvalidInput(format!(
            "invalid environment variable: {e}"
        ))),
        Some(_) => {
            out.push(e.to_string());
            Ok(())
        }
        None if e.is_empty() => Err(Error::InvalidInput(
            "invalid environment variable: an empty name".into(),
        )),
        None => {
            if let Ok(v) = std::env::var(e) {
                out.push(format!("{e}={v}"));
            }
            Ok(())
        }
    }
}

fn is_executable_on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

impl Flags {
    /// Checks and parses `args`; `warn` hears of options accepted but ignored.
    pub fn parse(args: &CreateArgs, warn: &dyn Fn(&str)) -> Result<Flags> {
        let caps = tweak_caps(&args.cap_add, &args.cap_drop, args.privileged)?;
        let norm =
            |v: &[String]| -> Result<Vec<String>> { v.iter().map(|c| normalize_cap(c)).collect() };

        let mut seccomp = if args.privileged {
            Seccomp::Unconfined
        } else {
            Seccomp::Default
        };
        let mut no_new_privileges = false;
        let mut security_opt = Vec::new();
        for opt in &args.security_opt {
            // Docker takes KEY=VALUE and the older KEY:VALUE.
            let (k, v) = match opt.split_once(['=', ':']) {
                Some((k, v)) => (k, Some(v)),
                None => (opt.as_str(), None),
            };
            match (k, v) {
                ("seccomp", Some("unconfined")) => {
                    seccomp = Seccomp::Unconfined;
                    security_opt.push("seccomp=unconfined".to_string());
                }
                ("seccomp", Some(file)) if !file.is_empty() => {
                    let text = std::fs::read_to_string(file).map_err(|e| {
                        Error::InvalidInput(format!("opening seccomp profile {file}: {e}"))
                    })?;
                    let v: Value = serde_json::from_str(&text).map_err(|e| {
                        Error::InvalidInput(format!("seccomp profile {file} is not JSON: {e}"))
                    })?;
                    let compact = serde_json::to_string(&v).expect("JSON values serialise");
                    if !args.privileged {
                        seccomp = Seccomp::Profile(compact.clone());
                    }
                    security_opt.push(format!("seccomp={compact}"));
                }
                ("no-new-privileges", None | Some("true")) => {
                    no_new_privileges = true;
                    security_opt.push(opt.clone());
                }
                ("no-new-privileges", Some("false")) => {
                    no_new_privileges = false;
                    security_opt.push(opt.clone());
                }
                ("label" | "apparmor", Some(_)) => {
                    warn(&format!(
                        "--security-opt {opt}: berth has no SELinux or AppArmor support; ignored"
                    ));
                    security_opt.push(opt.clone());
                }
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "invalid --security-opt {opt:?}: berth takes seccomp=FILE|unconfined and \
                         no-new-privileges[:true|false]"
                    )))
                }
            }
        }

        let ulimits = args
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<Vec<_>>>()?;

        let memory = match &args.memory {
            Some(m) => {
                let b = parse_bytes(m)?;
                if b != 0 && b < 6 * 1024 * 1024 {
                    return Err(Error::InvalidInput(
                        "minimum memory limit allowed is 6MB".into(),
                    ));
                }
                b
            }
            None => 0,
        };
        let memory_swap = match args.memory_swap.as_deref() {
            Some("-1") => -1,
            Some(s) => {
                let b = parse_bytes(s)?;
                if memory == 0 {
                    return Err(Error::InvalidInput(
                        "you should always set the memory limit when using the memoryswap limit"
                            .into(),
                    ));
                }
                if b < memory {
                    return Err(Error::InvalidInput(
                        "minimum memoryswap limit should be larger than memory limit, see usage"
                            .into(),
                    ));
                }
                b
            }
            // As Docker's daemon: swap as much as memory.
            None if memory > 0 => memory * 2,
            None => 0,
        };
        let nano_cpus = match &args.cpus {
            Some(c) => {
                let n = parse_cpus(c)?;
                let ncpu = std::thread::available_parallelism()
                    .map(|n| n.get() as i64)
                    .unwrap_or(1);
                if n != 0 && (n < 10_000_000 || n > ncpu * 1_000_000_000) {
                    return Err(Error::InvalidInput(format!(
                        "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs \
                         available"
                    )));
                }
                n
            }
            None => 0,
        };
        let cpu_shares = args.cpu_shares.unwrap_or(0) as i64;

        let net = parse_network_flags(args, warn)?;
        let network = net.mode.clone();
        let runtime = match args.runtime.as_str() {
            "builtin" => "builtin".to_string(),
            r @ ("runc" | "crun" | "youki") => {
                if !is_executable_on_path(r) {
                    return Err(Error::InvalidInput(format!(
                        "--runtime {r}: {r} is not installed (not found on PATH)"
                    )));
                }
                r.to_string()
            }
            p if p.contains('/') => {
                if !Path::new(p).is_file() {
                    return Err(Error::InvalidInput(format!("--runtime {p}: no such file")));
                }
                p.to_string()
            }
            r => {
                return Err(Error::InvalidInput(format!(
                    "unknown runtime {r:?}: use builtin, runc, crun or the path of a runtime"
                )))
            }
        };

        let mut labels = Map::new();
        for l in &args.labels {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() {
                return Err(Error::InvalidInput(format!("invalid label {l:?}")));
            }
            labels.insert(k.to_string(), Value::String(v.to_string()));
        }

        let mut env = Vec::new();
        for f in &args.env_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| Error::InvalidInput(format!("--env-file {}: {e}", f.display())))?;
            for line in text.lines() {
                let line = line.trim_start();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                env_entry(line, &mut env)?;
            }
        }
        for e in &args.env {
            env_entry(e, &mut env)?;
        }

        if let Some(w) = &args.workdir {
            if !w.starts_with('/') {
                return Err(Error::InvalidInput(format!(
                    "the working directory '{w}' is invalid, it needs to be an absolute path"
                )));
            }
        }
        if let Some(s) = &args.stop_signal {
            check_signal(s)?;
        }
        if let Some(h) = &args.hostname {
            if h.is_empty() || h.len() > 64 || h.contains(['/', ' ', '\n']) {
                return Err(Error::InvalidInput(format!("invalid hostname {h:?}")));
            }
        }

        Ok(Flags {
            caps,
            cap_add: norm(&args.cap_add)?,
            cap_drop: norm(&args.cap_drop)?,
            seccomp,
            no_new_privileges,
            security_opt,
            ulimits,
            memory,
            memory_swap,
            nano_cpus,
            cpu_shares,
            pids_limit: args.pids_limit,
            network,
            runtime,
            labels,
            env,
            mounts: crate::volume::parse_all(&args.volume, &args.mount, &args.tmpfs)?,
            net,
        })
    }
}

/// What goes into a container besides the flags: its ID and directory, and the image.
pub struct Input<'a> {
    pub id: &'a str,
    /// The container's directory: its resolv.conf, hostname and hosts are bound from here.
    pub dir: &'a Path,
    /// The image as the user named it (Docker's `Config.Image`).
    pub image_name: &'a str,
    /// The image config's `config` object (Cmd, Env, …; null when it has none).
    pub image_config: &'a Value,
    /// The text of the image's `/etc/passwd` and `/etc/group` (empty when it has none).
    pub passwd: &'a str,
    pub group: &'a str,
    /// The user's mounts and the image's volumes, planned (see [`crate::volume::plan`]).
    pub mounts: &'a [crate::volume::Planned],
}

/// A container's configuration, made from the image and the flags.
#[derive(Debug, Clone)]
pub struct Built {
    /// The OCI runtime config (`config.json`).
    pub spec: Spec,
    /// The same config as JSON in Docker's order (oci-spec keeps capabilities in hash sets,
    /// whose order changes from run to run): what `config.json` holds.
    pub spec_json: Value,
    /// Docker's `Config`.
    pub config: Value,
    /// Docker's `HostConfig`.
    pub host_config: Value,
    /// The process, as Docker's `Path` and `Args`.
    pub path: String,
    pub args: Vec<String>,
    pub hostname: String,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    })
}

fn key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Docker's `ReplaceOrAppendEnvValues`: each of `over` replaces the entry of `base` with its key,
/// or is appended.
fn replace_or_append(mut base: Vec<String>, over: &[String]) -> Vec<String> {
    for e in over {
        match base.iter().position(|b| key(b) == key(e)) {
            Some(i) => base[i] = e.clone(),
            None => base.push(e.clone()),
        }
    }
    base
}

/// The seccomp filter for the final capability set.
fn seccomp_for(choice: &Seccomp, caps: &[String]) -> Result<Option<Value>> {
    let profile = match choice {
        Seccomp::Unconfined => return Ok(None),
        Seccomp::Default => crate::seccomp::to_oci(crate::seccomp::default_profile(), caps)?,
        Seccomp::Profile(text) => crate::seccomp::to_oci(text, caps)?,
    };
    Ok(Some(serde_json::to_value(profile).expect("serialises")))
}

fn mount(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": src, "options": opts})
}

/// Makes the container's configuration from `input` and the parsed `flags` (see
/// [`Flags::parse`]), as Docker's daemon does from an image and `docker create`'s flags.
pub fn build(args: &CreateArgs, flags: &Flags, input: &Input) -> Result<Built> {
    let img = input.image_config;

    // Entrypoint and Cmd (moby daemon `merge`): a given --entrypoint drops the image's Cmd.
    let entrypoint: Vec<String> = match &args.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => strings(&img["Entrypoint"]).unwrap_or_default(),
    };
    let cmd: Vec<String> = if !args.command.is_empty() {
        args.command.clone()
    } else if args.entrypoint.is_some() {
        Vec::new()
    } else {
        strings(&img["Cmd"]).unwrap_or_default()
    };
    let mut process_args = entrypoint.clone();
    process_args.extend(cmd.iter().cloned());
    if process_args.is_empty() {
        return Err(Error::InvalidInput(
            "no command specified: the image has no ENTRYPOINT or CMD; give one after IMAGE".into(),
        ));
    }

    // Env (moby `merge`): the user's first, then the image's whose keys the user did not set.
    let mut config_env = flags.env.clone();
    for e in strings(&img["Env"]).unwrap_or_default() {
        if !config_env.iter().any(|u| key(u) == key(&e)) {
            config_env.push(e);
        }
    }

    let hostname = match (&args.hostname, flags.network.as_str()) {
        (Some(h), _) => h.clone(),
        (None, "host") => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| input.id[..12].to_string()),
        (None, _) => input.id[..12].to_string(),
    };

    let user_spec = args
        .user
        .clone()
        .unwrap_or_else(|| img["User"].as_str().unwrap_or("").to_string());
    let user = resolve_user_in(&user_spec, input.passwd, input.group)?;

    // The process's environment (moby `CreateDaemonEnvironment`).
    let mut base = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    if args.tty {
        base.push("TERM=xterm".to_string());
    }
    let mut env = replace_or_append(base, &config_env);
    if !env.iter().any(|e| key(e) == "HOME") {
        env.push(format!("HOME={}", user.home));
    }

    let workdir = args
        .workdir
        .clone()
        .or_else(|| {
            img["WorkingDir"]
                .as_str()
                .filter(|w| !w.is_empty())
                .map(String::from)
        })
        .unwrap_or_default();
    let cwd = if workdir.is_empty() {
        "/".to_string()
    } else {
        workdir.clone()
    };

    // Capabilities (moby `oci.SetCapabilities`): a non-root user gets none effective or
    // permitted, as execve would leave it.
    let caps = &flags.caps;
    let capabilities = if user.uid == 0 {
        json!({"bounding": caps, "effective": caps, "permitted": caps})
    } else {
        json!({"bounding": caps})
    };

    let rlimits: Vec<Value> = container_ulimits(&flags.ulimits)
        .iter()
        .map(|u| {
            json!({"type": format!("RLIMIT_{}", u.name.to_ascii_uppercase()),
                   "soft": u.soft, "hard": u.hard})
        })
        .collect();

    let mut process = json!({
        "terminal": args.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": process_args,
        "env": env,
        "cwd": cwd,
        "capabilities": capabilities,
        "noNewPrivileges": flags.no_new_privileges,
        "oomScoreAdj": 0,
    });
    if !user.additional_gids.is_empty() {
        process["user"]["additionalGids"] = json!(user.additional_gids);
    }
    process["rlimits"] = json!(rlimits);

    let sys_opts: &[&str] = if args.privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let shm_size = format!("size={SHM_SIZE}");
    let dir = input.dir;
    let bind = |name: &str, dest: &str| {
        mount(
            dest,
            "bind",
            &dir.join(name).to_string_lossy(),
            &["rbind", "rprivate"],
        )
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        mount("/sys", "sysfs", "sysfs", sys_opts),
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        ),
        bind("resolv.conf", "/etc/resolv.conf"),
        bind("hostname", "/etc/hostname"),
        bind("hosts", "/etc/hosts"),
    ];
    // With the user's mounts, parents before children (as Docker sorts them): a volume on /etc
    // is under the container's /etc/hosts.
    if !input.mounts.is_empty() {
        mounts.extend(input.mounts.iter().map(|p| p.oci_mount()));
        mounts.sort_by_key(|m| {
            let d = m["destination"].as_str().unwrap_or("");
            d.trim_end_matches('/').matches('/').count()
        });
    }
    let (binds, host_mounts, tmpfs, anon) = crate::volume::host_config_parts(
        &input
            .mounts
            .iter()
            .map(|p| p.req.clone())
            .collect::<Vec<_>>(),
    );
    let mut config_volumes = img.get("Volumes").cloned().unwrap_or(Value::Null);
    for a in anon {
        if !config_volumes.is_object() {
            config_volumes = json!({});
        }
        config_volumes[a] = json!({});
    }

    let mut namespaces = vec![json!({"type": "mount"})];
    if flags.network != "host" {
        namespaces.push(json!({"type": "network"}));
    }
    namespaces.extend([
        json!({"type": "uts"}),
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "cgroup"}),
    ]);

    let devices = if args.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        let dev = |allow: bool, major: i64, minor: i64| json!({"allow": allow, "type": "c", "major": major, "minor": minor, "access": "rwm"});
        json!([
            {"allow": false, "access": "rwm"},
            dev(true, 1, 5),   // /dev/zero
            dev(true, 1, 3),   // /dev/null
            dev(true, 1, 9),   // /dev/urandom
            dev(true, 1, 8),   // /dev/random
            dev(true, 5, 0),   // /dev/tty
            dev(true, 5, 1),   // /dev/console
            dev(false, 10, 229), // /dev/fuse
        ])
    };
    let mut resources = json!({"devices": devices});
    if flags.memory > 0 {
        resources["memory"] = json!({"limit": flags.memory, "swap": flags.memory_swap});
    }
    if flags.nano_cpus > 0 || flags.cpu_shares > 0 {
        let mut cpu = json!({});
        if flags.cpu_shares > 0 {
            cpu["shares"] = json!(flags.cpu_shares);
        }
        if flags.nano_cpus > 0 {
            cpu["quota"] = json!(flags.nano_cpus * 100_000 / 1_000_000_000);
            cpu["period"] = json!(100_000);
        }
        resources["cpu"] = cpu;
    }
    if let Some(p) = flags.pids_limit.filter(|&p| p > 0) {
        resources["pids"] = json!({"limit": p});
    }

    let mut linux = json!({
        "resources": resources,
        "cgroupsPath": format!("/berth/{}", input.id),
        "namespaces": namespaces,
    });
    if !args.privileged {
        linux["maskedPaths"] = json!(MASKED_PATHS);
        linux["readonlyPaths"] = json!(READONLY_PATHS);
    }
    if let Some(s) = seccomp_for(&flags.seccomp, caps)? {
        linux["seccomp"] = s;
    }

    let spec_json = json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": "rootfs", "readonly": args.read_only},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    });
    let spec: Spec = serde_json::from_value(spec_json.clone())
        .map_err(|e| Error::InvalidInput(format!("runtime spec: {e}")))?;

    // Docker's Config: the image's labels, then the user's.
    let mut labels = img["Labels"].as_object().cloned().unwrap_or_default();
    for (k, v) in &flags.labels {
        labels.insert(k.clone(), v.clone());
    }
    let or_null = |v: &[String]| {
        if v.is_empty() {
            Value::Null
        } else {
            json!(v)
        }
    };
    let mut config = json!({
        "Hostname": hostname,
        "Domainname": "",
        "User": user_spec,
        "AttachStdin": args.interactive,
        "AttachStdout": true,
        "AttachStderr": true,
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive,
        "Env": config_env,
        "Cmd": or_null(&cmd),
        "Image": input.image_name,
        "Volumes": config_volumes,
        "WorkingDir": workdir,
        "Entrypoint": or_null(&entrypoint),
        "OnBuild": img.get("OnBuild").cloned().unwrap_or(Value::Null),
        "Labels": labels,
    });
    if let Some(p) = img.get("ExposedPorts").filter(|p| !p.is_null()) {
        config["ExposedPorts"] = p.clone();
    }
    for p in &flags.net.exposed {
        if !config["ExposedPorts"].is_object() {
            config["ExposedPorts"] = json!({});
        }
        config["ExposedPorts"][p] = json!({});
    }
    if let Some(m) = &flags.net.mac {
        config["MacAddress"] = json!(m);
    }
    match args
        .stop_signal
        .clone()
        .or_else(|| img["StopSignal"].as_str().map(String::from))
    {
        Some(s) if !s.is_empty() => config["StopSignal"] = json!(s),
        _ => {}
    }
    if let Some(t) = args.stop_timeout {
        config["StopTimeout"] = json!(t);
    }

    let ulimits: Vec<Value> = flags
        .ulimits
        .iter()
        .map(|u| {
            let n = |v: u64| if v == u64::MAX { -1 } else { v as i64 };
            json!({"Name": u.name, "Hard": n(u.hard), "Soft": n(u.soft)})
        })
        .collect();
    let host_config = json!({
        "Binds": binds,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": flags.network,
        "PortBindings": flags.net.port_bindings,
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": args.rm,
        "VolumeDriver": "",
        "VolumesFrom": null,
        "ConsoleSize": [0, 0],
        "CapAdd": or_null(&flags.cap_add),
        "CapDrop": or_null(&flags.cap_drop),
        "CgroupnsMode": "private",
        "Dns": flags.net.dns,
        "DnsOptions": flags.net.dns_options,
        "DnsSearch": flags.net.dns_search,
        "ExtraHosts": or_null(&flags.net.extra_hosts),
        "GroupAdd": null,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": null,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": args.privileged,
        "PublishAllPorts": flags.net.publish_all,
        "ReadonlyRootfs": args.read_only,
        "SecurityOpt": or_null(&flags.security_opt),
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": SHM_SIZE,
        "Runtime": flags.runtime,
        "Isolation": "",
        "Mounts": host_mounts,
        "Tmpfs": tmpfs,
    });
    // Two halves: one json! of all would exceed the macro recursion limit.
    let resources = json!({
        "CpuShares": flags.cpu_shares,
        "Memory": flags.memory,
        "NanoCpus": flags.nano_cpus,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": null,
        "DeviceRequests": null,
        "MemoryReservation": 0,
        "MemorySwap": flags.memory_swap,
        "MemorySwappiness": null,
        "OomKillDisable": null,
        "PidsLimit": flags.pids_limit,
        "Ulimits": ulimits,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": if args.privileged { Value::Null } else { json!(MASKED_PATHS) },
        "ReadonlyPaths": if args.privileged { Value::Null } else { json!(READONLY_PATHS) },
    });
    let mut host_config = host_config;
    if let (Some(h), Value::Object(r)) = (host_config.as_object_mut(), resources) {
        h.extend(r);
    }

    let mut it = process_args.into_iter();
    let path = it.next().unwrap_or_default();
    Ok(Built {
        spec,
        spec_json,
        config,
        host_config,
        path,
        args: it.collect(),
        hostname,
    })
}

/// Every capability this kernel knows (`--privileged`), as the runtime spec types them.
pub fn all_capabilities() -> oci_spec::runtime::Capabilities {
    known_caps()
        .into_iter()
        .filter_map(|name| serde_json::from_value(Value::String(name.to_string())).ok())
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::BTreeSet;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        a: CreateArgs,
    }

    fn args(argv: &[&str]) -> CreateArgs {
        T::try_parse_from(std::iter::once("ctr-create").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www\n";

    fn image() -> Value {
        json!({
            "Env": ["PATH=/usr/bin:/bin", "LANG=C"],
            "Entrypoint": ["/entry"],
            "Cmd": ["serve", "--port", "80"],
            "WorkingDir": "/app",
            "Labels": {"from": "image"},
        })
    }

    fn make(argv: &[&str], img: &Value) -> Result<Built> {
        let a = args(argv);
        let flags = Flags::parse(&a, &|_| {})?;
        build(
            &a,
            &flags,
            &Input {
                id: ID,
                dir: Path::new("/var/lib/berth/containers/x"),
                image_name: &a.image,
                image_config: img,
                passwd: PASSWD,
                group: GROUP,
                mounts: &[],
            },
        )
    }

    fn spec_json(b: &Built) -> Value {
        serde_json::to_value(&b.spec).unwrap()
    }

    fn set(v: &Value) -> BTreeSet<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn entrypoint_and_cmd_precedence() {
        let img = image();
        let b = make(&["app"], &img).unwrap();
        assert_eq!(b.path, "/entry");
        assert_eq!(b.args, vec!["serve", "--port", "80"]);
        let b = make(&["app", "other", "-x"], &img).unwrap();
        assert_eq!(
            (b.path.as_str(), b.args.clone()),
            ("/entry", vec!["other".into(), "-x".into()])
        );
        // --entrypoint drops the image's Cmd, as Docker.
        let b = make(&["--entrypoint", "/bin/sh", "app"], &img).unwrap();
        assert_eq!((b.path.as_str(), b.args.len()), ("/bin/sh", 0));
        assert_eq!(b.config["Cmd"], Value::Null);
        let b = make(&["--entrypoint", "", "app", "ls", "-l"], &img).unwrap();
        assert_eq!(b.path, "ls");
        assert_eq!(b.config["Entrypoint"], Value::Null);
        assert_eq!(spec_json(&b)["process"]["args"], json!(["ls", "-l"]));
        let e = make(&["--entrypoint", "", "app"], &img).unwrap_err();
        assert!(e.to_string().contains("no command specified"), "{e}");
    }

    #[test]
    fn environment_as_docker() {
        std::env::set_var("BERTH_SPEC_TEST_HOST", "from-host");
        let b = make(
            &[
                "-t",
                "-e",
                "LANG=en",
                "-e",
                "BERTH_SPEC_TEST_HOST",
                "-e",
                "BERTH_SPEC_TEST_UNSET_X",
                "-h",
                "box",
                "app",
            ],
            &image(),
        )
        .unwrap();
        let env = set(&spec_json(&b)["process"]["env"]);
        for want in [
            "PATH=/usr/bin:/bin",
            "HOSTNAME=box",
            "TERM=xterm",
            "LANG=en",
            "BERTH_SPEC_TEST_HOST=from-host",
            "HOME=/root",
        ] {
            assert!(env.contains(want), "{want} missing from {env:?}");
        }
        assert!(!env.iter().any(|e| e.starts_with("BERTH_SPEC_TEST_UNSET_X")));
        assert_eq!(env.iter().filter(|e| e.starts_with("PATH=")).count(), 1);
        assert_eq!(
            b.config["Env"],
            json!([
                "LANG=en",
                "BERTH_SPEC_TEST_HOST=from-host",
                "PATH=/usr/bin:/bin"
            ])
        );
        // No PATH in the image: Docker's default.
        let b = make(&["app"], &json!({"Cmd": ["sh"]})).unwrap();
        let env = set(&spec_json(&b)["process"]["env"]);
        assert!(env.contains(DEFAULT_PATH));
        assert!(env.contains(&format!("HOSTNAME={}", &ID[..12])));
        assert!(!env.iter().any(|e| e.starts_with("TERM=")));
        assert_eq!(spec_json(&b)["process"]["cwd"], "/");
        assert!(make(&["-e", "=x", "app"], &image()).is_err());
    }

    #[test]
    fn users_resolve_in_the_image() {
        let b = make(&["-u", "www", "app"], &image()).unwrap();
        let p = &spec_json(&b)["process"];
        assert_eq!(
            p["user"],
            json!({"uid": 33, "gid": 33, "additionalGids": [50]})
        );
        assert!(set(&p["env"]).contains("HOME=/var/www"));
        // Not root: nothing effective or permitted, as moby.
        assert!(p["capabilities"]["effective"].is_null());
        assert!(p["capabilities"]["permitted"].is_null());
        assert_eq!(set(&p["capabilities"]["bounding"]).len(), 14);
        assert_eq!(b.config["User"], "www");
        let b = make(&["-u", "1000:50", "app"], &image()).unwrap();
        assert_eq!(
            spec_json(&b)["process"]["user"],
            json!({"uid": 1000, "gid": 50})
        );
        let img = json!({"Cmd": ["x"], "User": "www"});
        let b = make(&["app"], &img).unwrap();
        assert_eq!(spec_json(&b)["process"]["user"]["uid"], 33);
        assert!(make(&["-u", "nobody", "app"], &image())
            .unwrap_err()
            .to_string()
            .contains("unable to find user nobody"));
    }

    #[test]
    fn capabilities_add_drop_all() {
        let caps = |argv: &[&str]| {
            let b = make(argv, &image()).unwrap();
            set(&spec_json(&b)["process"]["capabilities"]["bounding"])
        };
        let d = caps(&["app"]);
        assert_eq!(d, DEFAULT_CAPS.iter().map(|s| s.to_string()).collect());
        let c = caps(&["--cap-add", "sys_admin", "--cap-drop", "CAP_CHOWN", "app"]);
        assert!(c.contains("CAP_SYS_ADMIN") && !c.contains("CAP_CHOWN") && c.len() == 14);
        let c = caps(&["--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "app"]);
        assert_eq!(c, ["CAP_NET_ADMIN".to_string()].into());
        let c = caps(&["--cap-add", "all", "--cap-drop", "MKNOD", "app"]);
        assert_eq!(c.len(), known_caps().len() - 1);
        assert!(!c.contains("CAP_MKNOD"));
        let b = make(&["--cap-add", "ALL", "app"], &image()).unwrap();
        let p = &spec_json(&b)["process"]["capabilities"];
        assert_eq!(set(&p["effective"]), set(&p["bounding"]));
        assert!(p["inheritable"].is_null() && p["ambient"].is_null());
        assert!(make(&["--cap-add", "FLY", "app"], &image())
            .unwrap_err()
            .to_string()
            .contains("unknown capability"));
    }

    #[test]
    fn privileged_and_defaults() {
        let b = make(&["app"], &image()).unwrap();
        let s = spec_json(&b);
        assert_eq!(s["linux"]["maskedPaths"], json!(MASKED_PATHS));
        assert_eq!(s["linux"]["readonlyPaths"], json!(READONLY_PATHS));
        assert_eq!(s["linux"]["cgroupsPath"], format!("/berth/{ID}"));
        assert_eq!(
            s["linux"]["resources"]["devices"][0],
            json!({"allow": false, "access": "rwm"})
        );
        let ns: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["mount", "network", "uts", "pid", "ipc", "cgroup"]);
        let dests: Vec<&str> = s["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        assert_eq!(
            s["mounts"][7]["source"],
            "/var/lib/berth/containers/x/resolv.conf"
        );
        assert!(set(&s["mounts"][3]["options"]).contains("ro"));
        assert_eq!(s["root"], json!({"path": "rootfs", "readonly": false}));
        assert_eq!(s["hostname"], &ID[..12]);
        assert_eq!(s["process"]["oomScoreAdj"], 0);
        assert_eq!(s["process"]["cwd"], "/app");
        assert_eq!(b.host_config["NetworkMode"], "bridge");
        assert_eq!(b.config["Labels"], json!({"from": "image"}));

        let b = make(
            &["--privileged", "--read-only", "--network", "host", "app"],
            &image(),
        )
        .unwrap();
        let s = spec_json(&b);
        assert!(s["linux"]["maskedPaths"].is_null() && s["linux"]["readonlyPaths"].is_null());
        assert!(s["linux"]["seccomp"].is_null());
        assert_eq!(
            set(&s["process"]["capabilities"]["bounding"]).len(),
            known_caps().len()
        );
        assert!(!set(&s["mounts"][3]["options"]).contains("ro"));
        assert_eq!(
            s["linux"]["resources"]["devices"],
            json!([{"allow": true, "access": "rwm"}])
        );
        assert!(!s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network"));
        assert_eq!(s["root"]["readonly"], true);
        assert_eq!(b.host_config["Privileged"], true);
    }

    #[test]
    fn ulimits_within_the_hard_limit() {
        let b = make(&["--ulimit", "nofile=1024:2048", "app"], &image()).unwrap();
        let limits = spec_json(&b)["process"]["rlimits"].clone();
        let of = |l: &Value, name: &str| -> Value {
            l.as_array()
                .unwrap()
                .iter()
                .find(|r| r["type"] == name)
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(
            of(&limits, "RLIMIT_NOFILE"),
            json!({"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048})
        );
        // The other resources keep Docker's defaults; every resource appears once.
        let n = limits.as_array().unwrap().len();
        assert!(n >= 15, "{limits}");
        let names: BTreeSet<String> = limits
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names.len(), n, "{limits}");
        let hard_of = |res| rustix::process::getrlimit(res).maximum.unwrap_or(u64::MAX);
        let core_hard = hard_of(rustix::process::Resource::Core);
        assert_eq!(
            of(&limits, "RLIMIT_CORE"),
            json!({"type": "RLIMIT_CORE", "soft": core_hard, "hard": core_hard})
        );
        assert_eq!(
            b.host_config["Ulimits"],
            json!([{"Name": "nofile", "Hard": 2048, "Soft": 1024}])
        );
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .maximum
            .unwrap_or(u64::MAX);
        if hard < u64::MAX - 1 {
            let e = make(
                &["--ulimit", &format!("nofile={}", hard + 1), "app"],
                &image(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("hard limit"), "{e}");
        }
        // Without --ulimit: Docker's defaults, clamped to this process's hard limits.
        let d = spec_json(&make(&["app"], &image()).unwrap())["process"]["rlimits"].clone();
        let nofile = 1u64 << 20;
        let nofile = nofile.min(hard_of(rustix::process::Resource::Nofile));
        assert_eq!(
            of(&d, "RLIMIT_NOFILE"),
            json!({"type": "RLIMIT_NOFILE", "soft": nofile, "hard": nofile})
        );
        let stack_hard = hard_of(rustix::process::Resource::Stack);
        assert_eq!(
            of(&d, "RLIMIT_STACK"),
            json!({"type": "RLIMIT_STACK", "soft": (8u64 << 20).min(stack_hard), "hard": stack_hard})
        );
        assert_eq!(
            of(&d, "RLIMIT_NICE"),
            json!({"type": "RLIMIT_NICE", "soft": 0, "hard": 0})
        );
        // Docker records only the user's ulimits.
        assert_eq!(
            make(&["app"], &image()).unwrap().host_config["Ulimits"],
            json!([])
        );
        assert!(make(&["--ulimit", "nofile=10:5", "app"], &image()).is_err());
        assert!(make(&["--ulimit", "bogus=1", "app"], &image()).is_err());
    }

    #[test]
    fn resource_units() {
        assert_eq!(parse_bytes("512").unwrap(), 512);
        assert_eq!(parse_bytes("64k").unwrap(), 65536);
        assert_eq!(parse_bytes("100m").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1.5GB").unwrap(), 3 << 29);
        assert!(parse_bytes("10x").is_err() && parse_bytes("").is_err());
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("0.01").unwrap(), 10_000_000);
        assert!(parse_cpus("a").is_err() && parse_cpus("1.2.3").is_err());

        let b = make(
            &[
                "-m",
                "100m",
                "--cpus",
                "0.5",
                "--pids-limit",
                "64",
                "-c",
                "512",
                "app",
            ],
            &image(),
        )
        .unwrap();
        let r = &spec_json(&b)["linux"]["resources"];
        assert_eq!(r["memory"], json!({"limit": 100 << 20, "swap": 200 << 20}));
        assert_eq!(
            r["cpu"],
            json!({"shares": 512, "quota": 50000, "period": 100000})
        );
        assert_eq!(r["pids"], json!({"limit": 64}));
        assert_eq!(b.host_config["MemorySwap"], 200 << 20);
        assert_eq!(b.host_config["NanoCpus"], 500_000_000);
        let b = make(&["-m", "100m", "--memory-swap", "-1", "app"], &image()).unwrap();
        assert_eq!(spec_json(&b)["linux"]["resources"]["memory"]["swap"], -1);
        assert!(make(&["-m", "1m", "app"], &image()).is_err());
        assert!(make(&["--memory-swap", "1g", "app"], &image()).is_err());
        assert!(make(&["--cpus", "1000", "app"], &image()).is_err());
    }

    #[test]
    fn flags_refused_clearly() {
        // Docker's network flag conflicts (a network name itself is looked up by create).
        let e = make(&["--network", "container:a", "-p", "80", "app"], &image()).unwrap_err();
        assert!(e.to_string().contains("port publishing"), "{e}");
        let e = make(&["--ip", "10.0.0.2", "app"], &image()).unwrap_err();
        assert!(e.to_string().contains("user-defined networks only"), "{e}");
        let e = make(
            &[
                "--network",
                "host",
                "--mac-address",
                "02:42:00:00:00:01",
                "app",
            ],
            &image(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("mac-address"), "{e}");
        assert!(make(&["--network", "container:", "app"], &image()).is_err());
        assert!(make(&["-p", "99999:80", "app"], &image()).is_err());
        assert!(make(&["--runtime", "zzz", "app"], &image()).is_err());
        assert!(make(&["--security-opt", "bogus", "app"], &image()).is_err());
        assert!(make(&["-w", "rel", "app"], &image()).is_err());
        assert!(make(&["--stop-signal", "SIGNOPE", "app"], &image()).is_err());
        let b = make(
            &[
                "--security-opt",
                "no-new-privileges",
                "--stop-signal",
                "SIGINT",
                "--stop-timeout",
                "3",
                "app",
            ],
            &image(),
        )
        .unwrap();
        assert_eq!(spec_json(&b)["process"]["noNewPrivileges"], true);
        assert_eq!(b.config["StopSignal"], "SIGINT");
        assert_eq!(b.config["StopTimeout"], 3);
        let warned = std::cell::RefCell::new(Vec::new());
        let a = args(&["--security-opt", "label=disable", "app"]);
        Flags::parse(&a, &|w| warned.borrow_mut().push(w.to_string())).unwrap();
        assert_eq!(warned.borrow().len(), 1);
        let f = Flags::parse(
            &args(&["--security-opt", "seccomp=unconfined", "app"]),
            &|_| {},
        )
        .unwrap();
        assert_eq!(f.seccomp, Seccomp::Unconfined);
    }
}
