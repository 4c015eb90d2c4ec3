//! What ctr-create's options ([`CreateOptions`], shared with ctr-run) make together with an
//! image: the container's OCI runtime config (`config.json`), shaped as Docker's daemon makes it
//! (moby `oci/defaults.go` and `daemon/oci_linux.go`), and Docker's `Config` and `HostConfig`
//! for the record. The options are checked in [`flags`], the tables are in [`caps`], the
//! units and limits in [`units`] and [`ulimit`]; namespaces, devices, sysctls and the init in
//! [`ns`].

use std::path::Path;

use oci_spec::runtime::Spec;
use serde_json::Value;

use crate::bundle::{resolve_groups, resolve_user_in, DEFAULT_PATH};
use crate::config::{list, Config, Empty, Set};
use crate::error::{Error, Result};
use crate::record::{HostConfig, HostUlimit};

pub mod caps;
pub mod flags;
pub mod health;
pub mod ns;
pub mod options;
pub mod resources;
pub mod run_flags;
pub mod runtime;
pub mod ulimit;
pub mod units;

pub use caps::*;
pub use flags::*;
pub use ns::NsFlags;
pub use options::CreateOptions;
pub use resources::{ResourceArgs, Resources};
pub use ulimit::*;
pub use units::*;

/// What goes into a container besides the flags: its ID and directory, and the image.
pub struct Input<'a> {
    pub id: &'a str,
    /// The container's directory: its resolv.conf, hostname and hosts are bound from here.
    pub dir: &'a Path,
    /// The image as the user named it (Docker's `Config.Image`).
    pub image_name: &'a str,
    /// The image config's `config` object (Cmd, Env, …; empty when it has none).
    pub image_config: &'a Config,
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
    /// The same config as JSON, its capabilities in Docker's order (oci-spec keeps them in
    /// hash sets, whose order changes from run to run): what `config.json` holds.
    pub spec_json: Value,
    /// Docker's `Config`.
    pub config: Config,
    /// Docker's `HostConfig`.
    pub host_config: HostConfig,
    /// The process, as Docker's `Path` and `Args`.
    pub path: String,
    pub args: Vec<String>,
    pub hostname: String,
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

/// Makes the container's configuration from `input` and the parsed `flags` (see
/// [`Flags::parse`]), as Docker's daemon does from an image and `docker create`'s flags.
pub fn build(args: &CreateOptions, flags: &Flags, input: &Input) -> Result<Built> {
    let img = input.image_config;

    // Entrypoint and Cmd (moby daemon `merge`): a given --entrypoint drops the image's Cmd.
    let entrypoint: Vec<String> = match &args.entrypoint {
        Some(e) if e.is_empty() => Vec::new(),
        Some(e) => vec![e.clone()],
        None => list(&img.entrypoint).to_vec(),
    };
    let cmd: Vec<String> = if !args.command.is_empty() {
        args.command.clone()
    } else if args.entrypoint.is_some() {
        Vec::new()
    } else {
        list(&img.cmd).to_vec()
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
    for e in list(&img.env) {
        if !config_env.iter().any(|u| key(u) == key(e)) {
            config_env.push(e.clone());
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
        .unwrap_or_else(|| img.user.clone().unwrap_or_default());
    let user = resolve_user_in(&user_spec, input.passwd, input.group)?;
    let groups = user.docker_groups(&resolve_groups(&args.group_add, input.group)?);

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
        .or_else(|| img.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_default();
    let cwd = if workdir.is_empty() {
        "/".to_string()
    } else {
        workdir.clone()
    };

    let (binds, host_mounts, tmpfs, anon) = crate::volume::host_config_parts(
        &input
            .mounts
            .iter()
            .map(|p| p.req.clone())
            .collect::<Vec<_>>(),
    );
    let mut config_volumes = img.volumes.clone().flatten();
    for a in anon {
        config_volumes
            .get_or_insert_with(Set::new)
            .insert(a, Empty {});
    }

    let mut spec = runtime::runtime_spec(
        &runtime::Parts {
            id: input.id,
            dir: input.dir,
            hostname: &hostname,
            terminal: args.tty,
            privileged: args.privileged,
            read_only: args.read_only,
            uid: user.uid,
            gid: user.gid,
            additional_gids: &groups,
            args: &process_args,
            env: &env,
            cwd: &cwd,
            user_mounts: input.mounts.iter().map(|p| p.oci_mount()).collect(),
        },
        flags,
    )?;
    ns::apply(&mut spec, &flags.ns, input.id, input.dir)?;
    let spec_json = runtime::config_json(&spec, &flags.caps);

    // Docker's Config: the image's labels, then the user's.
    let mut labels = img.labels.clone().flatten().unwrap_or_default();
    for (k, v) in &flags.labels {
        labels.insert(k.clone(), v.clone());
    }
    let or_null = |v: Vec<String>| Some((!v.is_empty()).then_some(v));
    let mut exposed_ports = img.exposed_ports.clone();
    for p in &flags.net.exposed {
        exposed_ports
            .get_or_insert_with(Set::new)
            .insert(p.clone(), Empty {});
    }
    let stop_signal = args
        .stop_signal
        .clone()
        .or_else(|| img.stop_signal.clone())
        .filter(|s| !s.is_empty());
    let mut config = Config {
        hostname: Some(hostname.clone()),
        domainname: Some(String::new()),
        user: Some(user_spec),
        attach_stdin: Some(flags.attach.stdin),
        attach_stdout: Some(flags.attach.stdout),
        attach_stderr: Some(flags.attach.stderr),
        exposed_ports,
        tty: Some(args.tty),
        open_stdin: Some(args.interactive),
        // As Docker's CLI: once stdin is closed the container's is (not with run -d).
        stdin_once: Some(args.interactive && flags.attach.stdin),
        env: Some(Some(config_env)),
        cmd: or_null(cmd),
        image: Some(input.image_name.to_string()),
        volumes: Some(config_volumes),
        working_dir: Some(workdir),
        entrypoint: or_null(entrypoint),
        // As Docker's: a container does not take its image's ONBUILD triggers (so a commit
        // drops them).
        on_build: Some(None),
        labels: Some(Some(labels)),
        mac_address: flags.net.mac.clone(),
        stop_signal,
        stop_timeout: args.stop_timeout,
        healthcheck: health::merge(flags.healthcheck.clone(), img.healthcheck.as_ref()),
        ..Config::default()
    };

    let ulimits: Vec<HostUlimit> = flags
        .ulimits
        .iter()
        .map(|u| {
            let n = |v: u64| if v == u64::MAX { -1 } else { v as i64 };
            HostUlimit {
                name: u.name.clone(),
                hard: n(u.hard),
                soft: n(u.soft),
            }
        })
        .collect();
    let some = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    let paths = |p: &[&str]| (!args.privileged).then(|| p.iter().map(|s| s.to_string()).collect());
    let mut host_config = HostConfig {
        binds,
        network_mode: flags.network.clone(),
        port_bindings: flags.net.port_bindings.clone(),
        auto_remove: args.rm,
        restart_policy: flags.restart_policy.clone(),
        cap_add: some(&flags.cap_add),
        cap_drop: some(&flags.cap_drop),
        dns: flags.net.dns.clone(),
        dns_options: flags.net.dns_options.clone(),
        dns_search: flags.net.dns_search.clone(),
        extra_hosts: some(&flags.net.extra_hosts),
        privileged: args.privileged,
        publish_all_ports: flags.net.publish_all,
        readonly_rootfs: args.read_only,
        security_opt: some(&flags.security_opt),
        group_add: some(&args.group_add),
        shm_size: SHM_SIZE,
        runtime: flags.runtime.clone(),
        mounts: host_mounts,
        tmpfs,
        cpu_shares: flags.cpu_shares,
        memory: flags.memory,
        nano_cpus: flags.nano_cpus,
        memory_swap: flags.memory_swap,
        pids_limit: flags.pids_limit,
        ulimits,
        masked_paths: paths(&MASKED_PATHS),
        readonly_paths: paths(&READONLY_PATHS),
        log_config: flags.log_config.clone(),
        ..resource_fields(args, flags, HostConfig::default())
    };
    ns::record(&flags.ns, &mut host_config, &mut config);

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

/// The `HostConfig` fields of [`resources`], `--cidfile`, `--volumes-from` and `--link` (as
/// Docker records them: links as `/NAME:/ME/ALIAS` once the container's name is known, by
/// `create`), set on `hc`.
fn resource_fields(args: &CreateOptions, flags: &Flags, hc: HostConfig) -> HostConfig {
    let r = &flags.res;
    HostConfig {
        container_id_file: args
            .cidfile
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        volumes_from: (!args.volumes_from.is_empty()).then(|| args.volumes_from.clone()),
        oom_score_adj: r.oom_score_adj,
        cpuset_cpus: r.cpuset_cpus.clone(),
        cpuset_mems: r.cpuset_mems.clone(),
        cpu_period: r.cpu_period,
        cpu_quota: r.cpu_quota,
        memory_reservation: r.memory_reservation,
        memory_swappiness: r.memory_swappiness,
        blkio_weight: r.blkio_weight,
        oom_kill_disable: Some(r.oom_kill_disable),
        ..hc
    }
}
