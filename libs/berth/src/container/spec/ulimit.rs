//! `--ulimit` and the rlimits a container gets when none is given.

use crate::error::{Error, Result};

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
