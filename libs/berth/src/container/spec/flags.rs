//! ctr-create's options checked and parsed ([`Flags`]): everything that can be wrong with
//! them is found before anything is made.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;

use super::{
    nano_cpus, normalize_cap, parse_bytes, parse_ulimit, tweak_caps, CreateOptions, Ulimit,
};
use crate::error::{Error, Result};

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
    /// `--restart`, checked as Docker's daemon checks it.
    pub restart_policy: crate::record::RestartPolicy,
    pub labels: IndexMap<String, String>,
    /// `-e` and `--env-file`, in order, host values filled in.
    pub env: Vec<String>,
    /// `-v`, `--mount` and `--tmpfs`, parsed.
    pub mounts: Vec<crate::volume::Request>,
    /// `-p`, `-P`, `--expose`, `--dns*`, `--add-host`, `--ip`, `--mac-address`, aliases.
    pub net: NetFlags,
    /// `--pid --ipc --uts --cgroupns --userns --device* --sysctl --shm-size --domainname
    /// --cgroup-parent --init`, `--security-opt systempaths=`.
    pub ns: super::ns::NsFlags,
    /// `--log-driver` and `--log-opt`, checked.
    pub log_config: crate::record::LogConfig,
    /// `--cpuset-*`, `--cpu-period/-quota`, `--memory-reservation/-swappiness`,
    /// `--blkio-weight`, `--oom-*`, checked (see [`super::resources`]).
    pub res: super::Resources,
    /// `-a` (and `-i`, and `ctr-run -d`): the streams attached.
    pub attach: super::run_flags::Attach,
    /// `--link`: (container, alias) pairs.
    pub links: Vec<(String, String)>,
    /// `--volumes-from`: (container, whether its mounts stay writable) pairs.
    pub volumes_from: Vec<(String, bool)>,
    /// The `--health-*` flags' Healthcheck, before the image's is merged in.
    pub healthcheck: Option<crate::config::HealthConfig>,
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

/// A flag's value that does not parse: a usage error, as Docker's CLI finds it (`docker run` and
/// `docker create` exit 125 for it), where a value that parses but is refused is the daemon's.
fn usage(e: Error) -> Error {
    match e {
        Error::InvalidInput(m) => Error::Usage(m),
        e => e,
    }
}

/// Docker's checks of the network flags against the network mode.
fn parse_network_flags(args: &CreateOptions, warn: &dyn Fn(&str)) -> Result<NetFlags> {
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
    if is_container && args.hostname.is_some() {
        // It has the other container's host name.
        return Err(conflict("hostname"));
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
    pub fn parse(args: &CreateOptions, warn: &dyn Fn(&str)) -> Result<Flags> {
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
            // Docker's CLI (`parseSecurityOpts`): KEY=VALUE or the older KEY:VALUE, a value
            // needed but for no-new-privileges.
            let (k, v) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None if opt == "no-new-privileges" => (opt.as_str(), None),
                None => match opt.split_once(':') {
                    Some((k, v)) => (k, Some(v)),
                    None => (opt.as_str(), None),
                },
            };
            if v.is_none_or(str::is_empty) && k != "no-new-privileges" {
                return Err(Error::Usage(format!("Invalid --security-opt: {opt:?}")));
            }
            // The daemon's (`parseSecurityOpt`).
            let invalid = || Error::InvalidInput(format!("invalid --security-opt 2: {opt:?}"));
            match (k, v) {
                ("seccomp", Some("unconfined")) => {
                    seccomp = Seccomp::Unconfined;
                    security_opt.push("seccomp=unconfined".to_string());
                }
                ("seccomp", Some(file)) => {
                    let text = std::fs::read_to_string(file).map_err(|e| {
                        Error::Usage(format!(
                            "opening seccomp profile ({file}) failed: open {file}: {}",
                            super::ns::errno_text(&e)
                        ))
                    })?;
                    let v: Value = serde_json::from_str(&text).map_err(|e| {
                        Error::Usage(format!(
                            "compacting json for seccomp profile ({file}) failed: {e}"
                        ))
                    })?;
                    let compact = serde_json::to_string(&v).expect("JSON values serialise");
                    if !args.privileged {
                        seccomp = Seccomp::Profile(compact.clone());
                    }
                    security_opt.push(format!("seccomp={compact}"));
                }
                ("no-new-privileges", v) => {
                    // Go's strconv.ParseBool.
                    no_new_privileges = match v.unwrap_or("true") {
                        "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
                        "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
                        _ => return Err(invalid()),
                    };
                    security_opt.push(opt.clone());
                }
                // No masked or read-only paths (see `ns`); Docker's CLI takes it out of
                // SecurityOpt and sets MaskedPaths and ReadonlyPaths empty.
                ("systempaths", Some("unconfined")) => {}
                ("label" | "apparmor", Some(_)) => {
                    warn(&format!(
                        "--security-opt {opt}: berth has no SELinux or AppArmor support; ignored"
                    ));
                    security_opt.push(opt.clone());
                }
                _ => return Err(invalid()),
            }
        }

        let ulimits = args
            .ulimit
            .iter()
            .map(|u| parse_ulimit(u))
            .collect::<Result<Vec<_>>>()?;

        let memory = match &args.memory {
            Some(m) => {
                let b = parse_bytes(m).map_err(usage)?;
                if b != 0 && b < 6 * 1024 * 1024 {
                    return Err(Error::InvalidInput(
                        "Minimum memory limit allowed is 6MB".into(),
                    ));
                }
                b
            }
            None => 0,
        };
        // Docker's CLI: 0 is "not given".
        let swap_given = match args.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            Some(s) => Some(parse_bytes(s).map_err(usage)?).filter(|&b| b != 0),
            None => None,
        };
        let memory_swap = match swap_given {
            Some(-1) => -1,
            Some(b) => {
                if memory == 0 {
                    return Err(Error::InvalidInput(
                        "You should always set the Memory limit when using Memoryswap limit, \
                         see usage"
                            .into(),
                    ));
                }
                if b < memory {
                    return Err(Error::InvalidInput(
                        "Minimum memoryswap limit should be larger than memory limit, see usage"
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
            Some(c) => nano_cpus(c)?,
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

        let restart_policy = crate::container::restart::parse(&args.restart)?;
        if args.rm && !crate::container::restart::is_none(&restart_policy) {
            return Err(Error::Usage(
                "conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }

        let mut labels = IndexMap::new();
        let from_files = super::run_flags::read_label_files(&args.label_file)?;
        for l in from_files.iter().chain(&args.labels) {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            if k.is_empty() {
                return Err(Error::InvalidInput(format!("invalid label {l:?}")));
            }
            labels.insert(k.to_string(), v.to_string());
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
        let healthcheck = super::health::parse(args)?;
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
            restart_policy,
            labels,
            env,
            mounts: crate::volume::parse_all(&args.volume, &args.mount, &args.tmpfs)?,
            ns: super::ns::NsFlags::parse(args, &net.mode)?,
            net,
            log_config: crate::container::logdriver::parse_config(
                args.log_driver.as_deref(),
                &args.log_opt,
            )?,
            res: args
                .resources
                .check(memory, nano_cpus, &super::resources::Host::probe(), warn)?,
            attach: super::run_flags::parse_attach(&args.attach, args.interactive, args.detach)?,
            links: args
                .link
                .iter()
                .map(|l| super::run_flags::parse_link(l))
                .collect::<Result<_>>()?,
            volumes_from: args
                .volumes_from
                .iter()
                .map(|v| super::run_flags::parse_volumes_from(v))
                .collect::<Result<_>>()?,
            healthcheck,
        })
    }
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
