//! `docker run`'s namespace, device, sysctl and init flags (`--pid --ipc --uts --cgroupns
//! --userns --device --device-cgroup-rule --sysctl --shm-size --domainname --cgroup-parent
//! --init`, `--security-opt systempaths=unconfined`): checked as Docker's CLI and daemon check
//! them ([`NsFlags::parse`], with their messages), put in the runtime spec as moby's
//! `daemon/oci_linux.go` puts them ([`apply`]) and recorded in Docker's `HostConfig` and
//! `Config` ([`record`]). A namespace of another container (`container:X`) is joined when the
//! container starts (see `container::ns_share`), as Docker does: X must be running then.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxNamespaceType, MountBuilder, Spec,
};
use serde_json::{json, Value};

use super::{parse_bytes, CreateOptions, SHM_SIZE};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::record::HostConfig;

/// Where Docker mounts its init in the container (moby `daemon/config.DefaultInitBinary`'s
/// place, `inits.Path`).
pub const INIT_PATH: &str = "/sbin/docker-init";

/// The init binaries berth looks for on PATH, in order: Debian's static tini (it must run in
/// any image, busybox's too), then Docker's `docker-init` (a link to it in Debian's docker.io).
pub const INIT_BINARIES: [&str; 2] = ["tini-static", "docker-init"];

/// `--device HOST[:CONTAINER[:PERMISSIONS]]`, as Docker records it (`HostConfig.Devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub cgroup_permissions: String,
}

/// One device node found on the host for a `--device`: what the container's node is made
/// from, and its cgroup rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// `c` or `b`.
    pub kind: char,
    /// The node's path in the container.
    pub path: String,
    pub major: i64,
    pub minor: i64,
    /// The host node's permission bits, owner and group.
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// The cgroup access (`rwm`).
    pub access: String,
}

/// A `--device-cgroup-rule`, parsed: `None` numbers are `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupRule {
    /// `a`, `b` or `c`.
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

/// The flags of this module, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsFlags {
    /// `--init`: the init binary on the host, bind-mounted at [`INIT_PATH`].
    pub init: Option<PathBuf>,
    pub devices: Vec<DeviceMapping>,
    /// The device nodes of `devices`, found on the host (a directory gives several).
    pub host_devices: Vec<HostDevice>,
    pub device_cgroup_rules: Vec<String>,
    pub cgroup_rules: Vec<CgroupRule>,
    /// `""` (its own), `host`, or `container:REF` (REF as given; the ID is recorded).
    pub pid_mode: String,
    /// `private` (the default), `shareable`, `none`, `host` or `container:REF`.
    pub ipc_mode: String,
    /// `""` or `host`.
    pub uts_mode: String,
    /// `--cgroupns`, when given: `host` or `private`.
    pub cgroupns_mode: Option<String>,
    /// `""` or `host`.
    pub userns_mode: String,
    /// Bytes of /dev/shm.
    pub shm_size: u64,
    pub sysctls: BTreeMap<String, String>,
    pub domainname: String,
    pub cgroup_parent: String,
    /// `--security-opt systempaths=unconfined`: no masked or read-only paths.
    pub systempaths_unconfined: bool,
    /// For `--ipc container:X`: X's /dev/shm on the host (its `shm` directory, or the host's
    /// /dev/shm when X has the host's IPC), set by `create` once X is found.
    pub donor_shm: Option<PathBuf>,
    /// `--privileged`: every device is allowed already (moby `WithDevices` then leaves out
    /// `--device` and `--device-cgroup-rule`, which it still records).
    pub privileged: bool,
}

impl Default for NsFlags {
    fn default() -> NsFlags {
        NsFlags {
            init: None,
            devices: Vec::new(),
            host_devices: Vec::new(),
            device_cgroup_rules: Vec::new(),
            cgroup_rules: Vec::new(),
            pid_mode: String::new(),
            ipc_mode: "private".into(),
            uts_mode: String::new(),
            cgroupns_mode: None,
            userns_mode: String::new(),
            shm_size: SHM_SIZE,
            sysctls: BTreeMap::new(),
            domainname: String::new(),
            cgroup_parent: String::new(),
            systempaths_unconfined: false,
            donor_shm: None,
            privileged: false,
        }
    }
}

/// Docker's CLI's `validDeviceMode`: one to three of r, w, m, each once.
fn valid_device_mode(mode: &str) -> bool {
    let mut seen = String::new();
    !mode.is_empty()
        && mode.chars().all(|c| {
            let fresh = "rwm".contains(c) && !seen.contains(c);
            seen.push(c);
            fresh
        })
}

/// `--device`, as Docker's CLI parses and checks it (`parseLinuxDevice`, `validateLinuxPath`):
/// usage errors with its messages.
pub fn parse_device(s: &str) -> Result<DeviceMapping> {
    let bad = |m: String| Error::Usage(m);
    if s.matches(':').count() > 2 || s.starts_with(':') || s.is_empty() {
        return Err(bad(format!("bad format for path: {s}")));
    }
    let parts: Vec<&str> = s.split(':').collect();
    let (src, mut dst, mut perms) = (parts[0], "", "rwm");
    match parts.len() {
        3 => {
            if !valid_device_mode(parts[2]) {
                return Err(bad(format!("bad mode specified: {}", parts[2])));
            }
            dst = parts[1];
            perms = parts[2];
        }
        2 if valid_device_mode(parts[1]) => perms = parts[1],
        2 => dst = parts[1],
        _ => {}
    }
    if dst.is_empty() {
        dst = src;
    }
    if !dst.starts_with('/') {
        return Err(bad(format!("{dst} is not an absolute path")));
    }
    Ok(DeviceMapping {
        path_on_host: src.to_string(),
        path_in_container: dst.to_string(),
        cgroup_permissions: perms.to_string(),
    })
}

/// Go's text for an errno (`no such file or directory`).
pub(super) fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let d = nix::errno::Errno::from_raw(n).desc();
            let mut c = d.chars();
            match c.next() {
                Some(f) => f.to_lowercase().chain(c).collect(),
                None => d.to_string(),
            }
        }
        None => e.to_string(),
    }
}

/// The device node at `path` (not following a symlink), or why not (`None`: not a device).
fn device_at(path: &Path, ctr_path: &str, access: &str) -> std::io::Result<Option<HostDevice>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let md = std::fs::symlink_metadata(path)?;
    let ft = md.file_type();
    let kind = if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else {
        return Ok(None);
    };
    let rdev = md.rdev();
    Ok(Some(HostDevice {
        kind,
        path: ctr_path.to_string(),
        major: rustix::fs::major(rdev) as i64,
        minor: rustix::fs::minor(rdev) as i64,
        file_mode: md.mode() & 0o7777,
        uid: md.uid(),
        gid: md.gid(),
        access: access.to_string(),
    }))
}

/// The files under `dir`, depth first in name order, as Go's `filepath.Walk` (not following
/// symlinks).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    out.push(dir.to_path_buf());
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        match std::fs::symlink_metadata(&p) {
            Ok(md) if md.is_dir() => walk(&p, out),
            Ok(_) => out.push(p),
            Err(_) => {}
        }
    }
}

/// The host's device nodes for `m`, as moby's `DevicesFromPath`: a symlink followed, a node,
/// or every node under a directory (its path in the container under PathInContainer). None is
/// Docker's error.
pub fn gather_devices(m: &DeviceMapping) -> Result<Vec<HostDevice>> {
    let host = Path::new(&m.path_on_host);
    let resolved = match std::fs::symlink_metadata(host) {
        Ok(md) if md.file_type().is_symlink() => {
            std::fs::canonicalize(host).unwrap_or_else(|_| host.to_path_buf())
        }
        _ => host.to_path_buf(),
    };
    let perms = &m.cgroup_permissions;
    let why = match device_at(&resolved, &m.path_in_container, perms) {
        Ok(Some(d)) => return Ok(vec![d]),
        Ok(None) => "not a device node".to_string(),
        Err(e) => errno_text(&e),
    };
    let mut found = Vec::new();
    if resolved.is_dir() {
        let base = resolved.to_string_lossy().into_owned();
        let mut files = Vec::new();
        walk(&resolved, &mut files);
        for f in files {
            let f = f.to_string_lossy().into_owned();
            let ctr = f.replacen(&base, &m.path_in_container, 1);
            if let Ok(Some(d)) = device_at(Path::new(&f), &ctr, perms) {
                found.push(d);
            }
        }
    }
    if found.is_empty() {
        return Err(Error::InvalidInput(format!(
            "error gathering device information while adding custom device {:?}: {why}",
            m.path_on_host
        )));
    }
    Ok(found)
}

/// `--device-cgroup-rule`, as Docker's CLI checks it (`^[acb] ([0-9]+|\*):([0-9]+|\*)
/// [rwm]{1,3}$`).
pub fn parse_cgroup_rule(s: &str) -> Result<CgroupRule> {
    let bad = || Error::Usage(format!("invalid device cgroup format '{s}'"));
    let parts: Vec<&str> = s.split(' ').collect();
    let [kind, nums, access] = parts[..] else {
        return Err(bad());
    };
    let kind = match kind {
        "a" | "b" | "c" => kind.chars().next().expect("one letter"),
        _ => return Err(bad()),
    };
    let num = |n: &str| -> Result<Option<i64>> {
        if n == "*" {
            return Ok(None);
        }
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        n.parse().map(Some).map_err(|_| bad())
    };
    let (ma, mi) = nums.split_once(':').ok_or_else(bad)?;
    if access.is_empty() || access.len() > 3 || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    Ok(CgroupRule {
        kind,
        major: num(ma)?,
        minor: num(mi)?,
        access: access.to_string(),
    })
}

// The sysctls Docker's CLI lets a container set (`opts.ValidateSysctl`): the IPC namespace's
// (these and `fs.mqueue.*`) and the network namespace's.
use berth_runtime::rootfs::IPC_SYSCTLS;

/// `--sysctl KEY=VALUE`, checked as Docker's CLI checks it.
pub fn parse_sysctl(s: &str) -> Result<(String, String)> {
    let bad = || Error::Usage(format!("sysctl '{s}' is not allowed"));
    let (k, v) = s.split_once('=').ok_or_else(bad)?;
    if IPC_SYSCTLS.contains(&k) || k.starts_with("fs.mqueue.") || k.starts_with("net.") {
        Ok((k.to_string(), v.to_string()))
    } else {
        Err(bad())
    }
}

/// Whether the sysctl `key` belongs to the IPC namespace (the others Docker allows are the
/// network namespace's).
fn is_ipc_sysctl(key: &str) -> bool {
    IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.")
}

/// Docker's CLI's check of a namespace mode that may be `host` or `container:X` (`--pid`).
fn valid_container_mode(m: &str) -> bool {
    match m.split_once(':') {
        None => m == "host",
        Some(("container", x)) => !x.is_empty() && !x.contains(':'),
        Some(_) => false,
    }
}

/// The init binary on PATH ([`INIT_BINARIES`]).
fn find_init() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/usr/local/bin".into()])
        .collect();
    for name in INIT_BINARIES {
        for d in &dirs {
            let p = d.join(name);
            if p.is_file() {
                return Ok(std::fs::canonicalize(&p).unwrap_or(p));
            }
        }
    }
    Err(Error::InvalidInput(
        "--init: exec: \"docker-init\": executable file not found in $PATH: install Debian's \
         tini package (its static tini-static runs in any image)"
            .into(),
    ))
}

impl NsFlags {
    /// Checks `args`' flags of this module: Docker CLI's checks are usage errors, its daemon's
    /// (which `docker create` exits 1 for) not. `network` is the network mode.
    pub fn parse(args: &CreateOptions, network: &str) -> Result<NsFlags> {
        let mut f = NsFlags::default();

        // The CLI's checks.
        let devices = args
            .device
            .iter()
            .map(|d| parse_device(d))
            .collect::<Result<Vec<_>>>()?;
        for r in &args.device_cgroup_rule {
            f.cgroup_rules.push(parse_cgroup_rule(r)?);
        }
        f.device_cgroup_rules = args.device_cgroup_rule.clone();
        for s in &args.sysctl {
            let (k, v) = parse_sysctl(s)?;
            f.sysctls.insert(k, v);
        }
        if let Some(p) = args.pid.as_deref().filter(|p| !p.is_empty()) {
            if !valid_container_mode(p) {
                return Err(Error::Usage("--pid: invalid PID mode".into()));
            }
            f.pid_mode = p.to_string();
        }
        match args.uts.as_deref() {
            None | Some("") => {}
            Some("host") => f.uts_mode = "host".into(),
            Some(_) => return Err(Error::Usage("--uts: invalid UTS mode".into())),
        }
        match args.userns.as_deref() {
            None | Some("") => {}
            Some("host") => f.userns_mode = "host".into(),
            Some(_) => return Err(Error::Usage("--userns: invalid USER mode".into())),
        }
        match args.cgroupns.as_deref() {
            None | Some("") => {}
            Some(m @ ("host" | "private")) => f.cgroupns_mode = Some(m.into()),
            Some(_) => return Err(Error::Usage("--cgroupns: invalid CGROUP mode".into())),
        }
        if let Some(s) = &args.shm_size {
            let b = parse_bytes(s).map_err(|_| Error::Usage(format!("invalid size: '{s}'")))?;
            if b > 0 {
                f.shm_size = b as u64;
            }
        }
        f.systempaths_unconfined = args.security_opt.iter().any(|o| {
            matches!(
                o.split_once(['=', ':']),
                Some(("systempaths", "unconfined"))
            )
        });

        // The daemon's.
        match args.ipc.as_deref() {
            None | Some("") => {}
            Some(m @ ("private" | "shareable" | "none" | "host")) => f.ipc_mode = m.into(),
            Some(m) if m.strip_prefix("container:").is_some_and(|x| !x.is_empty()) => {
                f.ipc_mode = m.into()
            }
            Some(m) => return Err(Error::InvalidInput(format!("Invalid IPC mode: {m}"))),
        }
        if f.uts_mode == "host" && args.hostname.is_some() {
            return Err(Error::InvalidInput(
                "conflicting options: hostname and the UTS mode".into(),
            ));
        }
        // runc's checks (at create here: nothing is made for a container that cannot start).
        for k in f.sysctls.keys() {
            if is_ipc_sysctl(k) && f.ipc_mode == "host" {
                return Err(Error::InvalidInput(format!(
                    "sysctl {k:?} is not allowed in the hosts ipc namespace"
                )));
            }
            if k.starts_with("net.") && network == "host" {
                return Err(Error::InvalidInput(format!(
                    "sysctl {k:?} not allowed in host network namespace"
                )));
            }
        }
        if f.uts_mode == "host" && args.domainname.as_deref().is_some_and(|d| !d.is_empty()) {
            return Err(Error::InvalidInput(
                "sysctl \"kernel.domainname\" is not in a separate kernel namespace".into(),
            ));
        }
        if let Some(p) = &args.cgroup_parent {
            if p.split('/').any(|c| c == "..") {
                return Err(Error::InvalidInput(format!(
                    "invalid --cgroup-parent {p:?}: \"..\" is not allowed"
                )));
            }
            f.cgroup_parent = p.clone();
        }
        f.domainname = args.domainname.clone().unwrap_or_default();
        for d in &devices {
            f.host_devices.extend(gather_devices(d)?);
        }
        f.devices = devices;
        f.privileged = args.privileged;
        if args.init {
            f.init = Some(find_init()?);
        }
        Ok(f)
    }

    /// The container's cgroup path (`linux.cgroupsPath`): under `--cgroup-parent`, or berth's.
    pub fn cgroups_path(&self, id: &str) -> String {
        let parent = self.cgroup_parent.trim_matches('/');
        if parent.is_empty() {
            format!("/berth/{id}")
        } else {
            format!("/{parent}/{id}")
        }
    }
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("runtime spec: {e}"))
}

fn linux_device(d: &HostDevice) -> Result<LinuxDevice> {
    LinuxDeviceBuilder::default()
        .path(&d.path)
        .typ(if d.kind == 'b' {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        })
        .major(d.major)
        .minor(d.minor)
        .file_mode(d.file_mode)
        .uid(d.uid)
        .gid(d.gid)
        .build()
        .map_err(bad)
}

fn device_rule(
    kind: char,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup> {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(match kind {
            'a' => LinuxDeviceType::A,
            'b' => LinuxDeviceType::B,
            _ => LinuxDeviceType::C,
        })
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().map_err(bad)
}

/// The directory a shareable container's /dev/shm is (a tmpfs mounted there when it starts),
/// in its directory `dir`.
pub fn shm_dir(dir: &Path) -> PathBuf {
    dir.join("shm")
}

/// The `/dev/shm` mount for the IPC mode (moby `setupIpcDirs`, `IpcMounts`): the default
/// tmpfs of `--shm-size` for `private`, none for `none`, a bind of the host's /dev/shm for
/// `host`, of the container's [`shm_dir`] for `shareable`, of the donor's for `container:X`.
fn shm_mount(ns: &NsFlags, dir: &Path) -> Result<Option<oci_spec::runtime::Mount>> {
    let src = match ns.ipc_mode.as_str() {
        "none" => return Ok(None),
        "host" => Some(PathBuf::from("/dev/shm")),
        "shareable" => Some(shm_dir(dir)),
        m if m.starts_with("container:") => ns.donor_shm.clone(),
        _ => None,
    };
    let shm_source = src.as_deref();
    let m = MountBuilder::default().destination("/dev/shm");
    let m = match shm_source {
        Some(src) => m
            .typ("bind")
            .source(src)
            .options(vec!["rbind".to_string(), "rprivate".to_string()]),
        None => m.typ("tmpfs").source("shm").options(
            ["nosuid", "noexec", "nodev", "mode=1777"]
                .iter()
                .map(|s| s.to_string())
                .chain([format!("size={}", ns.shm_size)])
                .collect::<Vec<_>>(),
        ),
    };
    m.build().map(Some).map_err(bad)
}

/// Puts `ns` in the runtime spec made for the other flags, as moby's `oci_linux.go` does:
/// namespaces left or joined, the devices and their rules, sysctls, /dev/shm, the domain name,
/// the cgroup path, the init. `dir` is the container's directory.
pub fn apply(spec: &mut Spec, ns: &NsFlags, id: &str, dir: &Path) -> Result<()> {
    let privileged_all_paths = ns.systempaths_unconfined;
    let shm = shm_mount(ns, dir)?;
    if let Some(mounts) = spec.mounts_mut() {
        // A mount of the user's on /dev/shm wins (moby `IpcMounts`).
        let shm_mounts = mounts
            .iter()
            .filter(|m| m.destination() == Path::new("/dev/shm"))
            .count();
        let at = mounts
            .iter()
            .position(|m| m.destination() == Path::new("/dev/shm"))
            .filter(|_| shm_mounts == 1);
        match (at, shm) {
            (Some(i), Some(m)) => mounts[i] = m,
            (Some(i), None) => {
                mounts.remove(i);
            }
            (None, _) => {}
        }
        if let Some(init) = &ns.init {
            mounts.push(
                MountBuilder::default()
                    .destination(INIT_PATH)
                    .typ("bind")
                    .source(init)
                    .options(vec!["bind".to_string(), "ro".to_string()])
                    .build()
                    .map_err(bad)?,
            );
        }
    }
    if ns.init.is_some() {
        if let Some(p) = spec.process_mut() {
            let mut args = vec![INIT_PATH.to_string(), "--".to_string()];
            args.extend(p.args().clone().unwrap_or_default());
            p.set_args(Some(args));
        }
    }
    if ns.uts_mode == "host" {
        spec.set_hostname(None);
    }
    if !ns.domainname.is_empty() {
        spec.set_domainname(Some(ns.domainname.clone()));
    }
    let Some(linux) = spec.linux_mut() else {
        return Ok(());
    };
    if let Some(list) = linux.namespaces_mut() {
        list.retain(|n| {
            let host = match n.typ() {
                LinuxNamespaceType::Pid => ns.pid_mode == "host",
                LinuxNamespaceType::Ipc => ns.ipc_mode == "host",
                LinuxNamespaceType::Uts => ns.uts_mode == "host",
                LinuxNamespaceType::Cgroup => ns.cgroupns_mode.as_deref() == Some("host"),
                _ => false,
            };
            !host
        });
    }
    if !ns.host_devices.is_empty() && !ns.privileged {
        let mut devs = linux.devices().clone().unwrap_or_default();
        for d in &ns.host_devices {
            devs.push(linux_device(d)?);
        }
        linux.set_devices(Some(devs));
    }
    if let Some(res) = linux.resources_mut().as_mut().filter(|_| !ns.privileged) {
        let mut rules = res.devices().clone().unwrap_or_default();
        for d in &ns.host_devices {
            rules.push(device_rule(
                d.kind,
                Some(d.major),
                Some(d.minor),
                &d.access,
            )?);
        }
        for r in &ns.cgroup_rules {
            rules.push(device_rule(r.kind, r.major, r.minor, &r.access)?);
        }
        res.set_devices(Some(rules));
    }
    if !ns.sysctls.is_empty() || !ns.domainname.is_empty() {
        let mut s = linux.sysctl().clone().unwrap_or_default();
        // As moby's `setLinuxDomainname`: the sysctl sets it too, for runtimes that do not
        // know the spec's field (runc before 1.2).
        if !ns.domainname.is_empty() {
            s.insert("kernel.domainname".into(), ns.domainname.clone());
        }
        for (k, v) in &ns.sysctls {
            s.insert(k.clone(), v.clone());
        }
        linux.set_sysctl(Some(s));
    }
    if privileged_all_paths {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }
    linux.set_cgroups_path(Some(PathBuf::from(ns.cgroups_path(id))));
    Ok(())
}

/// Records `ns` as Docker does: in `HostConfig` (Init and Sysctls only when set, as Docker's
/// `omitempty`) and `Config.Domainname`; `container:X` modes name X by its ID once `create`
/// has found it.
pub fn record(ns: &NsFlags, hc: &mut HostConfig, config: &mut Config) {
    if ns.init.is_some() {
        hc.extra.insert("Init".into(), Value::Bool(true));
    }
    if !ns.sysctls.is_empty() {
        hc.extra.insert("Sysctls".into(), json!(ns.sysctls));
    }
    hc.devices = ns
        .devices
        .iter()
        .map(|d| {
            json!({
                "PathOnHost": d.path_on_host,
                "PathInContainer": d.path_in_container,
                "CgroupPermissions": d.cgroup_permissions,
            })
        })
        .collect();
    hc.device_cgroup_rules =
        (!ns.device_cgroup_rules.is_empty()).then(|| ns.device_cgroup_rules.clone());
    hc.pid_mode = ns.pid_mode.clone();
    hc.ipc_mode = ns.ipc_mode.clone();
    hc.uts_mode = ns.uts_mode.clone();
    hc.userns_mode = ns.userns_mode.clone();
    if let Some(m) = &ns.cgroupns_mode {
        hc.cgroupns_mode = m.clone();
    }
    hc.shm_size = ns.shm_size;
    hc.cgroup_parent = ns.cgroup_parent.clone();
    if ns.systempaths_unconfined {
        hc.masked_paths = Some(Vec::new());
        hc.readonly_paths = Some(Vec::new());
    }
    config.domainname = Some(ns.domainname.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Usage(m)) => m,
            other => panic!("not a usage error: {other:?}"),
        }
    }

    #[test]
    fn devices_parse_as_docker_s_cli() {
        let d = |h: &str, c: &str, p: &str| DeviceMapping {
            path_on_host: h.into(),
            path_in_container: c.into(),
            cgroup_permissions: p.into(),
        };
        assert_eq!(
            parse_device("/dev/null").unwrap(),
            d("/dev/null", "/dev/null", "rwm")
        );
        assert_eq!(
            parse_device("/dev/null:r").unwrap(),
            d("/dev/null", "/dev/null", "r")
        );
        assert_eq!(
            parse_device("/dev/null:/dev/n").unwrap(),
            d("/dev/null", "/dev/n", "rwm")
        );
        assert_eq!(
            parse_device("/dev/null:/dev/n:mw").unwrap(),
            d("/dev/null", "/dev/n", "mw")
        );
        assert_eq!(
            usage(parse_device("/dev/null:rel")),
            "rel is not an absolute path"
        );
        assert_eq!(usage(parse_device("null")), "null is not an absolute path");
        assert_eq!(
            usage(parse_device("/dev/null:/dev/n:xyz")),
            "bad mode specified: xyz"
        );
        assert_eq!(
            usage(parse_device("/dev/null:/dev/n:rr")),
            "bad mode specified: rr"
        );
        assert_eq!(
            usage(parse_device("/a:/b:r:w")),
            "bad format for path: /a:/b:r:w"
        );
        assert_eq!(usage(parse_device(":/b")), "bad format for path: :/b");
    }

    #[test]
    fn devices_are_found_on_the_host_or_docker_s_error() {
        let got = gather_devices(&parse_device("/dev/null:/dev/n:rw").unwrap()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].kind, got[0].major, got[0].minor), ('c', 1, 3));
        assert_eq!(
            (got[0].path.as_str(), got[0].access.as_str()),
            ("/dev/n", "rw")
        );
        assert_eq!(got[0].file_mode, 0o666);
        match gather_devices(&parse_device("/nonexistent").unwrap()) {
            Err(Error::InvalidInput(m)) => assert_eq!(
                m,
                "error gathering device information while adding custom device \
                 \"/nonexistent\": no such file or directory"
            ),
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("plain");
        std::fs::write(&f, "x").unwrap();
        let m = parse_device(f.to_str().unwrap()).unwrap();
        match gather_devices(&m) {
            Err(Error::InvalidInput(m)) => assert!(m.ends_with(": not a device node"), "{m}"),
            other => panic!("{other:?}"),
        }
        // A directory without devices is the same error; one with a link to a device node
        // finds none either (links under a directory are not followed, as filepath.Walk).
        std::os::unix::fs::symlink("/dev/null", dir.path().join("null")).unwrap();
        let m = parse_device(dir.path().to_str().unwrap()).unwrap();
        assert!(gather_devices(&m).is_err());
        // A link given is followed.
        let m = parse_device(&format!("{}:/dev/x", dir.path().join("null").display())).unwrap();
        assert_eq!(gather_devices(&m).unwrap()[0].path, "/dev/x");
    }

    #[test]
    fn a_directory_of_devices_maps_under_the_container_path() {
        if !Path::new("/dev/pts/ptmx").exists() {
            return;
        }
        let got = gather_devices(&parse_device("/dev/pts:/dev/mypts").unwrap()).unwrap();
        assert!(
            got.iter()
                .any(|d| d.path == "/dev/mypts/ptmx" && d.kind == 'c' && d.major == 5),
            "{got:?}"
        );
    }

    #[test]
    fn cgroup_rules_parse_as_docker_s_cli() {
        assert_eq!(
            parse_cgroup_rule("c 1:3 mr").unwrap(),
            CgroupRule {
                kind: 'c',
                major: Some(1),
                minor: Some(3),
                access: "mr".into()
            }
        );
        assert_eq!(
            parse_cgroup_rule("a *:* rwm").unwrap(),
            CgroupRule {
                kind: 'a',
                major: None,
                minor: None,
                access: "rwm".into()
            }
        );
        assert_eq!(parse_cgroup_rule("b 8:* r").unwrap().minor, None);
        for bad in [
            "bad",
            "c 1:3 xx",
            "c 1:3",
            "d 1:3 r",
            "c 1:3 rwmr",
            "c -1:3 r",
            "c 1:3  r",
            "c 1 r",
        ] {
            assert_eq!(
                usage(parse_cgroup_rule(bad)),
                format!("invalid device cgroup format '{bad}'")
            );
        }
    }

    #[test]
    fn sysctls_are_docker_s_namespaced_ones() {
        for ok in [
            "kernel.msgmax=1",
            "kernel.shm_rmid_forced=1",
            "fs.mqueue.msg_max=20",
            "net.ipv4.ip_forward=1",
            "net.core.somaxconn=a=b",
        ] {
            parse_sysctl(ok).unwrap();
        }
        assert_eq!(parse_sysctl("net.core.somaxconn=a=b").unwrap().1, "a=b");
        for bad in [
            "kernel.foo=1",
            "kernel.shmmax",
            "kernel.domainname=x",
            "foo=1",
            "vm.swappiness=1",
        ] {
            assert_eq!(
                usage(parse_sysctl(bad)),
                format!("sysctl '{bad}' is not allowed")
            );
        }
    }

    fn opts(f: impl FnOnce(&mut CreateOptions)) -> CreateOptions {
        let mut o = CreateOptions::default();
        f(&mut o);
        o
    }

    #[test]
    fn modes_are_checked_as_docker() {
        let p = |o: CreateOptions| NsFlags::parse(&o, "bridge");
        assert_eq!(
            usage(p(opts(|o| o.pid = Some("foo".into())))),
            "--pid: invalid PID mode"
        );
        assert_eq!(
            usage(p(opts(|o| o.pid = Some("container:".into())))),
            "--pid: invalid PID mode"
        );
        assert_eq!(
            usage(p(opts(|o| o.uts = Some("container:x".into())))),
            "--uts: invalid UTS mode"
        );
        assert_eq!(
            usage(p(opts(|o| o.userns = Some("private".into())))),
            "--userns: invalid USER mode"
        );
        assert_eq!(
            usage(p(opts(|o| o.cgroupns = Some("foo".into())))),
            "--cgroupns: invalid CGROUP mode"
        );
        assert_eq!(
            usage(p(opts(|o| o.shm_size = Some("-1".into())))),
            "invalid size: '-1'"
        );
        assert_eq!(
            usage(p(opts(|o| o.shm_size = Some("foo".into())))),
            "invalid size: 'foo'"
        );
        match p(opts(|o| o.ipc = Some("foo".into()))) {
            Err(Error::InvalidInput(m)) => assert_eq!(m, "Invalid IPC mode: foo"),
            other => panic!("{other:?}"),
        }
        match p(opts(|o| {
            o.uts = Some("host".into());
            o.hostname = Some("h".into());
        })) {
            Err(Error::InvalidInput(m)) => {
                assert_eq!(m, "conflicting options: hostname and the UTS mode")
            }
            other => panic!("{other:?}"),
        }
        let f = p(opts(|o| {
            o.pid = Some("container:db".into());
            o.ipc = Some("shareable".into());
            o.shm_size = Some("1k".into());
            o.cgroupns = Some("host".into());
        }))
        .unwrap();
        assert_eq!(f.pid_mode, "container:db");
        assert_eq!(f.ipc_mode, "shareable");
        assert_eq!(f.shm_size, 1024);
        assert_eq!(f.cgroupns_mode.as_deref(), Some("host"));
        // 0 is the default size, as Docker's.
        assert_eq!(
            p(opts(|o| o.shm_size = Some("0".into()))).unwrap().shm_size,
            SHM_SIZE
        );
        assert_eq!(p(CreateOptions::default()).unwrap(), NsFlags::default());
    }

    #[test]
    fn sysctls_of_a_host_namespace_are_runc_s_errors() {
        let e = NsFlags::parse(
            &opts(|o| {
                o.ipc = Some("host".into());
                o.sysctl = vec!["kernel.msgmax=1".into()];
            }),
            "bridge",
        );
        match e {
            Err(Error::InvalidInput(m)) => {
                assert_eq!(
                    m,
                    "sysctl \"kernel.msgmax\" is not allowed in the hosts ipc namespace"
                )
            }
            other => panic!("{other:?}"),
        }
        let o = opts(|o| o.sysctl = vec!["net.ipv4.ip_forward=1".into()]);
        match NsFlags::parse(&o, "host") {
            Err(Error::InvalidInput(m)) => {
                assert_eq!(
                    m,
                    "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            NsFlags::parse(&o, "bridge").unwrap().sysctls["net.ipv4.ip_forward"],
            "1"
        );
    }

    #[test]
    fn cgroup_paths_go_under_the_parent() {
        let mut f = NsFlags::default();
        assert_eq!(f.cgroups_path("abc"), "/berth/abc");
        f.cgroup_parent = "/mypar".into();
        assert_eq!(f.cgroups_path("abc"), "/mypar/abc");
        f.cgroup_parent = "a/b/".into();
        assert_eq!(f.cgroups_path("abc"), "/a/b/abc");
        let e = NsFlags::parse(
            &opts(|o| o.cgroup_parent = Some("/a/../../b".into())),
            "bridge",
        );
        assert!(matches!(e, Err(Error::InvalidInput(_))), "{e:?}");
    }

    #[test]
    fn systempaths_unconfined_is_seen() {
        let f = NsFlags::parse(
            &opts(|o| o.security_opt = vec!["systempaths=unconfined".into()]),
            "bridge",
        )
        .unwrap();
        assert!(f.systempaths_unconfined);
    }
}
