//! The container's OCI runtime spec (`config.json`), built with oci-spec's builders from what
//! [`super::build`] decided: Docker's defaults (moby `oci/defaults.go`) and the options.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::runtime::{
    Capability, LinuxBlockIoBuilder, LinuxBuilder, LinuxCapabilities, LinuxCpuBuilder,
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxPidsBuilder,
    LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
    ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};
use serde_json::Value;

use super::{container_ulimits, Flags, Seccomp, MASKED_PATHS, READONLY_PATHS, SHM_SIZE};
use crate::error::{Error, Result};

/// What the runtime spec is made of, decided by [`super::build`].
pub struct Parts<'a> {
    pub id: &'a str,
    /// The container's directory: its resolv.conf, hostname and hosts are bound from here.
    pub dir: &'a Path,
    pub hostname: &'a str,
    pub terminal: bool,
    pub privileged: bool,
    pub read_only: bool,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: &'a [u32],
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: &'a str,
    /// The user's mounts, as the runtime takes them.
    pub user_mounts: Vec<Mount>,
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("runtime spec: {e}"))
}

/// A string the spec's types read from JSON (`CAP_CHOWN`, `RLIMIT_NOFILE`).
fn parse_as<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_value(Value::String(s.to_string())).map_err(bad)
}

fn mount(dest: &str, typ: &str, src: &str, opts: &[&str]) -> Result<Mount> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(src)
        .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(bad)
}

/// Docker's mounts of every container, then the user's, parents before children (as Docker
/// sorts them: a volume on /etc is under the container's /etc/hosts).
fn mounts(p: &Parts) -> Result<Vec<Mount>> {
    let sys_opts: &[&str] = if p.privileged {
        &["nosuid", "noexec", "nodev"]
    } else {
        &["nosuid", "noexec", "nodev", "ro"]
    };
    let shm_size = format!("size={SHM_SIZE}");
    let bind = |name: &str, dest: &str| {
        mount(
            dest,
            "bind",
            &p.dir.join(name).to_string_lossy(),
            &["rbind", "rprivate"],
        )
    };
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
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
        )?,
        mount("/sys", "sysfs", "sysfs", sys_opts)?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
        )?,
        bind("resolv.conf", "/etc/resolv.conf")?,
        bind("hostname", "/etc/hostname")?,
        bind("hosts", "/etc/hosts")?,
    ];
    if !p.user_mounts.is_empty() {
        mounts.extend(p.user_mounts.iter().cloned());
        mounts.sort_by_key(|m| {
            let d = m.destination().to_string_lossy().into_owned();
            d.trim_end_matches('/').matches('/').count()
        });
    }
    Ok(mounts)
}

/// Docker's device rules: all denied, then the few every container may use.
fn devices(privileged: bool) -> Result<Vec<LinuxDeviceCgroup>> {
    if privileged {
        return Ok(vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwm")
            .build()
            .map_err(bad)?]);
    }
    let dev = |allow: bool, major: i64, minor: i64| {
        LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(LinuxDeviceType::C)
            .major(major)
            .minor(minor)
            .access("rwm")
            .build()
            .map_err(bad)
    };
    Ok(vec![
        LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .map_err(bad)?,
        dev(true, 1, 5)?,     // /dev/zero
        dev(true, 1, 3)?,     // /dev/null
        dev(true, 1, 9)?,     // /dev/urandom
        dev(true, 1, 8)?,     // /dev/random
        dev(true, 5, 0)?,     // /dev/tty
        dev(true, 5, 1)?,     // /dev/console
        dev(false, 10, 229)?, // /dev/fuse
    ])
}

/// The sysctls Docker sets in a container's own network namespace.
pub const DEFAULT_SYSCTLS: [(&str, &str); 2] = [
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv4.ping_group_range", "0 2147483647"),
];

/// The runtime spec for `p` and the checked options `flags`.
pub fn runtime_spec(p: &Parts, flags: &Flags) -> Result<Spec> {
    // Capabilities (moby `oci.SetCapabilities`): a non-root user gets none effective or
    // permitted, as execve would leave it.
    let caps: HashSet<Capability> = flags
        .caps
        .iter()
        .map(|c| parse_as(c))
        .collect::<Result<_>>()?;
    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(caps.clone()));
    capabilities.set_effective((p.uid == 0).then(|| caps.clone()));
    capabilities.set_permitted((p.uid == 0).then(|| caps.clone()));
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    let rlimits: Vec<PosixRlimit> = container_ulimits(&flags.ulimits)
        .iter()
        .map(|u| {
            let typ: PosixRlimitType =
                parse_as(&format!("RLIMIT_{}", u.name.to_ascii_uppercase()))?;
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(u.soft)
                .hard(u.hard)
                .build()
                .map_err(bad)
        })
        .collect::<Result<_>>()?;

    // Docker's containers start with umask 0022 (what dockerd runs with), whatever the umask of
    // the tool that made them: a RUN step's files do not depend on the builder's umask.
    let mut user = UserBuilder::default().uid(p.uid).gid(p.gid).umask(0o022u32);
    if !p.additional_gids.is_empty() {
        user = user.additional_gids(p.additional_gids.to_vec());
    }
    let process = ProcessBuilder::default()
        .terminal(p.terminal)
        .user(user.build().map_err(bad)?)
        .args(p.args.to_vec())
        .env(p.env.to_vec())
        .cwd(p.cwd)
        .capabilities(capabilities)
        .no_new_privileges(flags.no_new_privileges)
        .oom_score_adj(flags.res.oom_score_adj as i32)
        .rlimits(rlimits)
        .build()
        .map_err(bad)?;

    let mut namespaces: Vec<LinuxNamespace> = Vec::new();
    let mut ns = |t: LinuxNamespaceType| -> Result<()> {
        namespaces.push(
            LinuxNamespaceBuilder::default()
                .typ(t)
                .build()
                .map_err(bad)?,
        );
        Ok(())
    };
    ns(LinuxNamespaceType::Mount)?;
    if flags.network != "host" {
        ns(LinuxNamespaceType::Network)?;
    }
    ns(LinuxNamespaceType::Uts)?;
    ns(LinuxNamespaceType::Pid)?;
    ns(LinuxNamespaceType::Ipc)?;
    ns(LinuxNamespaceType::Cgroup)?;

    let mut resources = LinuxResourcesBuilder::default().devices(devices(p.privileged)?);
    // As moby's getMemoryResources and getCPUResources: only what is set.
    let res = &flags.res;
    if flags.memory > 0
        || res.memory_reservation > 0
        || res.memory_swappiness.is_some()
        || res.oom_kill_disable
    {
        let mut m = LinuxMemoryBuilder::default();
        if flags.memory > 0 {
            m = m.limit(flags.memory).swap(flags.memory_swap);
        }
        if res.memory_reservation > 0 {
            m = m.reservation(res.memory_reservation);
        }
        if let Some(s) = res.memory_swappiness {
            m = m.swappiness(s as u64);
        }
        if res.oom_kill_disable {
            m = m.disable_oom_killer(true);
        }
        resources = resources.memory(m.build().map_err(bad)?);
    }
    if flags.nano_cpus > 0
        || flags.cpu_shares > 0
        || res.cpu_period != 0
        || res.cpu_quota != 0
        || !res.cpuset_cpus.is_empty()
        || !res.cpuset_mems.is_empty()
    {
        let mut cpu = LinuxCpuBuilder::default();
        if flags.cpu_shares > 0 {
            cpu = cpu.shares(flags.cpu_shares as u64);
        }
        if flags.nano_cpus > 0 {
            cpu = cpu
                .quota(flags.nano_cpus * 100_000 / 1_000_000_000)
                .period(100_000u64);
        }
        if res.cpu_period != 0 {
            cpu = cpu.period(res.cpu_period as u64);
        }
        if res.cpu_quota != 0 {
            cpu = cpu.quota(res.cpu_quota);
        }
        if !res.cpuset_cpus.is_empty() {
            cpu = cpu.cpus(res.cpuset_cpus.clone());
        }
        if !res.cpuset_mems.is_empty() {
            cpu = cpu.mems(res.cpuset_mems.clone());
        }
        resources = resources.cpu(cpu.build().map_err(bad)?);
    }
    if res.blkio_weight > 0 {
        resources = resources.block_io(
            LinuxBlockIoBuilder::default()
                .weight(res.blkio_weight)
                .build()
                .map_err(bad)?,
        );
    }
    if let Some(n) = flags.pids_limit.filter(|&n| n > 0) {
        resources = resources.pids(LinuxPidsBuilder::default().limit(n).build().map_err(bad)?);
    }

    let mut linux = LinuxBuilder::default()
        .resources(resources.build().map_err(bad)?)
        .cgroups_path(format!("/berth/{}", p.id))
        .namespaces(namespaces)
        .build()
        .map_err(bad)?;
    if flags.network != "host" && !flags.network.starts_with("container:") {
        // Docker's defaults (moby 20.10 `WithSysctls`) for a container with its own network
        // namespace: ping without CAP_NET_RAW, any port bound without CAP_NET_BIND_SERVICE.
        linux.set_sysctl(Some(
            DEFAULT_SYSCTLS
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
    }
    let paths = |l: &[&str]| (!p.privileged).then(|| l.iter().map(|s| s.to_string()).collect());
    linux.set_masked_paths(paths(&MASKED_PATHS));
    linux.set_readonly_paths(paths(&READONLY_PATHS));
    linux.set_seccomp(match &flags.seccomp {
        Seccomp::Unconfined => None,
        Seccomp::Default => Some(crate::seccomp::to_oci(
            crate::seccomp::default_profile(),
            &flags.caps,
        )?),
        Seccomp::Profile(text) => Some(crate::seccomp::to_oci(text, &flags.caps)?),
    });

    let mut spec = SpecBuilder::default()
        .version("1.2.0")
        .process(process)
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(p.read_only)
                .build()
                .map_err(bad)?,
        )
        .hostname(p.hostname)
        .mounts(mounts(p)?)
        .linux(linux)
        .build()
        .map_err(bad)?;
    spec.set_annotations(None);
    Ok(spec)
}

/// What `config.json` holds: `spec` as JSON, its capability sets in Docker's order (`caps`;
/// oci-spec keeps them in hash sets, whose order changes from run to run).
pub fn config_json(spec: &Spec, caps: &[String]) -> Value {
    let mut v = serde_json::to_value(spec).expect("the runtime spec serialises");
    if let Some(c) = v
        .get_mut("process")
        .and_then(|p| p.get_mut("capabilities"))
        .and_then(Value::as_object_mut)
    {
        for set in c.values_mut() {
            *set = Value::from(caps.to_vec());
        }
    }
    v
}
