//! Seccomp profiles in Docker's JSON format, and their translation to an OCI `linux.seccomp`.
//!
//! [`default_profile`] is Docker's default profile (moby `profiles/seccomp/default.json`, the
//! Docker 24/25 allow-list): everything not listed fails with EPERM. A profile says, per rule,
//! which capabilities, architectures and kernel versions the rule is for; [`to_oci`] does what
//! Docker's `setupSeccomp` does when it builds a container's spec: it keeps the rules that apply to
//! this container (its capabilities, the native architecture, the running kernel), and expands the
//! `archMap` into the architectures the filter must cover. A user's own profile
//! (`--security-opt seccomp=FILE`) goes through the same function.

use std::sync::OnceLock;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Docker's default seccomp profile, as JSON in Docker's profile format.
pub fn default_profile() -> &'static str {
    include_str!("../profiles/seccomp-default.json")
}

/// Translates a profile in Docker's format into the OCI seccomp object for a container holding the
/// capabilities `caps` (names such as `CAP_SYS_ADMIN`; the `CAP_` prefix may be left out).
///
/// As Docker: a rule is kept when every capability in its `includes.caps` is held, the native
/// architecture is in its `includes.arches` (if any), and the running kernel is at least its
/// `includes.minKernel`; it is dropped when any capability of `excludes.caps` is held, the native
/// architecture is in `excludes.arches`, or the kernel is at least `excludes.minKernel`. Errors name
/// the field that is wrong, e.g. `syscalls[3].args[0].op`.
pub fn to_oci(profile_json: &str, caps: &[String]) -> Result<LinuxSeccomp> {
    let host = Host {
        arch: NativeArch::current(),
        kernel: &running_kernel,
    };
    translate(profile_json, caps, &host)
}

/// The architecture names a profile uses for the machine: Go's `GOARCH` spelling in
/// `includes.arches`/`excludes.arches`, libseccomp's in `archMap`.
#[derive(Clone, Copy, Debug)]
struct NativeArch {
    go: &'static str,
    seccomp: &'static str,
}

impl NativeArch {
    fn current() -> NativeArch {
        let (go, seccomp) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
            "x86" => ("386", "SCMP_ARCH_X86"),
            "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
            "arm" => ("arm", "SCMP_ARCH_ARM"),
            "mips" if cfg!(target_endian = "little") => ("mipsle", "SCMP_ARCH_MIPSEL"),
            "mips" => ("mips", "SCMP_ARCH_MIPS"),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", "SCMP_ARCH_MIPSEL64"),
            "mips64" => ("mips64", "SCMP_ARCH_MIPS64"),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", "SCMP_ARCH_PPC64LE"),
            "powerpc64" => ("ppc64", "SCMP_ARCH_PPC64"),
            "powerpc" => ("ppc", "SCMP_ARCH_PPC"),
            "s390x" => ("s390x", "SCMP_ARCH_S390X"),
            "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
            "loongarch64" => ("loong64", "SCMP_ARCH_LOONGARCH64"),
            other => (other, "SCMP_ARCH_NATIVE"),
        };
        NativeArch { go, seccomp }
    }
}

/// What the translation depends on besides the profile and the capabilities.
struct Host<'a> {
    arch: NativeArch,
    /// The running kernel's version (major, minor); asked only when a rule has a `minKernel`.
    kernel: &'a dyn Fn() -> Result<(u32, u32)>,
}

/// The running kernel's (major, minor), from its release string (`6.1.0-18-amd64` → (6, 1)).
fn running_kernel() -> Result<(u32, u32)> {
    static KERNEL: OnceLock<std::result::Result<(u32, u32), String>> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            let path = "/proc/sys/kernel/osrelease";
            let release = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the kernel version from {path}: {e}"))?;
            parse_kernel_release(release.trim()).ok_or_else(|| {
                format!("cannot make out the kernel version in {:?}", release.trim())
            })
        })
        .clone()
        .map_err(Error::InvalidInput)
}

fn parse_kernel_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

/// A profile's `minKernel`: `"<major>.<minor>"` as Docker's `KernelVersion`.
fn parse_min_kernel(value: &Value, path: &str) -> Result<(u32, u32)> {
    let text = as_str(value, path)?;
    let bad = || {
        Error::InvalidInput(format!(
            "seccomp profile: {path}: invalid kernel version {text:?}, expected <major>.<minor>"
        ))
    };
    let (major, minor) = text.split_once('.').ok_or_else(bad)?;
    let major: u32 = major.parse().map_err(|_| bad())?;
    let minor: u32 = minor.parse().map_err(|_| bad())?;
    if major == 0 {
        return Err(bad());
    }
    Ok((major, minor))
}

fn translate(profile_json: &str, caps: &[String], host: &Host) -> Result<LinuxSeccomp> {
    let profile: Value = serde_json::from_str(profile_json)
        .map_err(|e| Error::InvalidInput(format!("seccomp profile is not valid JSON: {e}")))?;
    let profile = as_object(&profile, "the profile")?;
    let caps: Vec<String> = caps.iter().map(|c| normalize_cap(c)).collect();

    let default_action: LinuxSeccompAction = match profile.get("defaultAction") {
        Some(v) if !v.is_null() => enum_field(v, "defaultAction", "action")?,
        _ => return Err(invalid("defaultAction", "missing")),
    };
    let mut oci = LinuxSeccomp::default();
    oci.set_default_action(default_action);
    oci.set_default_errno_ret(opt_u32(profile.get("defaultErrnoRet"), "defaultErrnoRet")?);

    // Architectures: listed outright, or through the archMap entry of the native architecture.
    let listed = opt_list(profile.get("architectures"), "architectures")?;
    let arch_map = opt_list(profile.get("archMap"), "archMap")?;
    if !listed.is_empty() && !arch_map.is_empty() {
        return Err(invalid(
            "architectures",
            "both 'architectures' and 'archMap' are given; use one of them",
        ));
    }
    let mut arches: Vec<Arch> = Vec::new();
    for (i, a) in listed.iter().enumerate() {
        arches.push(enum_field(
            a,
            &format!("architectures[{i}]"),
            "architecture",
        )?);
    }
    for (i, entry) in arch_map.iter().enumerate() {
        let path = format!("archMap[{i}]");
        let entry = as_object(entry, &path)?;
        let main = entry
            .get("architecture")
            .ok_or_else(|| invalid(&format!("{path}.architecture"), "missing"))?;
        let main_name = as_str(main, &format!("{path}.architecture"))?;
        let main: Arch = enum_field(main, &format!("{path}.architecture"), "architecture")?;
        let subs = opt_list(
            entry.get("subArchitectures"),
            &format!("{path}.subArchitectures"),
        )?;
        let mut sub_arches = Vec::new();
        for (j, s) in subs.iter().enumerate() {
            let p = format!("{path}.subArchitectures[{j}]");
            sub_arches.push(enum_field::<Arch>(s, &p, "architecture")?);
        }
        if main_name == host.arch.seccomp {
            arches.push(main);
            arches.extend(sub_arches);
        }
    }
    if !arches.is_empty() {
        oci.set_architectures(Some(arches));
    }

    let flags = opt_list(profile.get("flags"), "flags")?;
    if !flags.is_empty() {
        let mut parsed: Vec<LinuxSeccompFilterFlag> = Vec::new();
        for (i, f) in flags.iter().enumerate() {
            parsed.push(enum_field(f, &format!("flags[{i}]"), "flag")?);
        }
        oci.set_flags(Some(parsed));
    }
    if let Some(p) = profile.get("listenerPath").filter(|v| !v.is_null()) {
        oci.set_listener_path(Some(as_str(p, "listenerPath")?.into()));
    }
    if let Some(m) = profile.get("listenerMetadata").filter(|v| !v.is_null()) {
        oci.set_listener_metadata(Some(as_str(m, "listenerMetadata")?.to_string()));
    }

    let mut syscalls = Vec::new();
    for (i, rule) in opt_list(profile.get("syscalls"), "syscalls")?
        .iter()
        .enumerate()
    {
        let path = format!("syscalls[{i}]");
        if let Some(call) = translate_rule(rule, &path, &caps, host)? {
            syscalls.push(call);
        }
    }
    if !syscalls.is_empty() {
        oci.set_syscalls(Some(syscalls));
    }
    Ok(oci)
}

/// One entry of `syscalls`: `None` when its includes/excludes leave it out for this container.
fn translate_rule(
    rule: &Value,
    path: &str,
    caps: &[String],
    host: &Host,
) -> Result<Option<LinuxSyscall>> {
    let rule = as_object(rule, path)?;

    // Parse everything first, so that a malformed rule is an error even where it does not apply.
    let mut names: Vec<String> = Vec::new();
    for (j, n) in opt_list(rule.get("names"), &format!("{path}.names"))?
        .iter()
        .enumerate()
    {
        names.push(as_str(n, &format!("{path}.names[{j}]"))?.to_string());
    }
    if let Some(name) = rule.get("name").filter(|v| !v.is_null()) {
        let name = as_str(name, &format!("{path}.name"))?;
        if !names.is_empty() {
            return Err(invalid(
                &format!("{path}.name"),
                "both 'name' and 'names' are given; use one of them",
            ));
        }
        names.push(name.to_string());
    }
    if names.is_empty() {
        return Err(invalid(&format!("{path}.names"), "no syscall named"));
    }
    if let Some(n) = names.iter().find(|n| n.is_empty()) {
        return Err(invalid(
            &format!("{path}.names"),
            &format!("empty name {n:?}"),
        ));
    }
    let action: LinuxSeccompAction = match rule.get("action") {
        Some(v) if !v.is_null() => enum_field(v, &format!("{path}.action"), "action")?,
        _ => return Err(invalid(&format!("{path}.action"), "missing")),
    };
    let errno_ret = opt_u32(rule.get("errnoRet"), &format!("{path}.errnoRet"))?;
    let mut args = Vec::new();
    for (j, a) in opt_list(rule.get("args"), &format!("{path}.args"))?
        .iter()
        .enumerate()
    {
        args.push(translate_arg(a, &format!("{path}.args[{j}]"))?);
    }
    let includes = Filter::parse(rule.get("includes"), &format!("{path}.includes"))?;
    let excludes = Filter::parse(rule.get("excludes"), &format!("{path}.excludes"))?;

    // Docker's order: excludes first, then includes.
    if excludes.arches.iter().any(|a| a == host.arch.go)
        || excludes.caps.iter().any(|c| caps.contains(c))
    {
        return Ok(None);
    }
    if let Some(min) = excludes.min_kernel {
        if (host.kernel)()? >= min {
            return Ok(None);
        }
    }
    if !includes.arches.is_empty() && !includes.arches.iter().any(|a| a == host.arch.go) {
        return Ok(None);
    }
    if !includes.caps.iter().all(|c| caps.contains(c)) {
        return Ok(None);
    }
    if let Some(min) = includes.min_kernel {
        if (host.kernel)()? < min {
            return Ok(None);
        }
    }

    let mut call = LinuxSyscall::default();
    call.set_names(names);
    call.set_action(action);
    call.set_errno_ret(errno_ret);
    if !args.is_empty() {
        call.set_args(Some(args));
    }
    Ok(Some(call))
}

fn translate_arg(arg: &Value, path: &str) -> Result<LinuxSeccompArg> {
    let arg = as_object(arg, path)?;
    let index = match arg.get("index") {
        Some(v) => as_u64(v, &format!("{path}.index"))?,
        None => return Err(invalid(&format!("{path}.index"), "missing")),
    };
    // The kernel passes six arguments.
    if index > 5 {
        return Err(invalid(
            &format!("{path}.index"),
            &format!("{index} is out of range (a syscall has arguments 0 to 5)"),
        ));
    }
    let value = match arg.get("value") {
        Some(v) => as_u64(v, &format!("{path}.value"))?,
        None => return Err(invalid(&format!("{path}.value"), "missing")),
    };
    let value_two = match arg.get("valueTwo") {
        Some(v) if !v.is_null() => Some(as_u64(v, &format!("{path}.valueTwo"))?),
        _ => None,
    };
    let op: LinuxSeccompOperator = match arg.get("op") {
        Some(v) if !v.is_null() => enum_field(v, &format!("{path}.op"), "operator")?,
        _ => return Err(invalid(&format!("{path}.op"), "missing")),
    };
    let mut out = LinuxSeccompArgBuilder::default()
        .index(index as usize)
        .value(value)
        .op(op);
    if let Some(two) = value_two {
        out = out.value_two(two);
    }
    out.build()
        .map_err(|e| invalid(path, &format!("cannot build the OCI argument: {e}")))
}

/// A rule's `includes` or `excludes`.
#[derive(Default)]
struct Filter {
    caps: Vec<String>,
    arches: Vec<String>,
    min_kernel: Option<(u32, u32)>,
}

impl Filter {
    fn parse(value: Option<&Value>, path: &str) -> Result<Filter> {
        let Some(value) = value.filter(|v| !v.is_null()) else {
            return Ok(Filter::default());
        };
        let obj = as_object(value, path)?;
        let strings = |key: &str| -> Result<Vec<String>> {
            let p = format!("{path}.{key}");
            opt_list(obj.get(key), &p)?
                .iter()
                .enumerate()
                .map(|(i, v)| as_str(v, &format!("{p}[{i}]")).map(str::to_string))
                .collect()
        };
        let min_kernel = match obj.get("minKernel") {
            Some(v) if !v.is_null() => Some(parse_min_kernel(v, &format!("{path}.minKernel"))?),
            _ => None,
        };
        Ok(Filter {
            caps: strings("caps")?.iter().map(|c| normalize_cap(c)).collect(),
            arches: strings("arches")?,
            min_kernel,
        })
    }
}

/// `sys_admin` and `CAP_SYS_ADMIN` alike become `CAP_SYS_ADMIN`.
fn normalize_cap(cap: &str) -> String {
    let upper = cap.to_ascii_uppercase();
    if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

fn invalid(path: &str, why: &str) -> Error {
    Error::InvalidInput(format!("seccomp profile: {path}: {why}"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn as_object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| invalid(path, &format!("expected an object, found {}", type_name(v))))
}

fn as_str<'a>(v: &'a Value, path: &str) -> Result<&'a str> {
    v.as_str()
        .ok_or_else(|| invalid(path, &format!("expected a string, found {}", type_name(v))))
}

fn as_u64(v: &Value, path: &str) -> Result<u64> {
    v.as_u64()
        .ok_or_else(|| invalid(path, &format!("expected an unsigned integer, found {v}")))
}

/// An optional number that must fit in 32 bits (an errno).
fn opt_u32(v: Option<&Value>, path: &str) -> Result<Option<u32>> {
    match v {
        Some(v) if !v.is_null() => {
            let n = as_u64(v, path)?;
            u32::try_from(n)
                .map(Some)
                .map_err(|_| invalid(path, &format!("{n} is too large")))
        }
        _ => Ok(None),
    }
}

/// An optional list: absent and `null` are empty.
fn opt_list<'a>(v: Option<&'a Value>, path: &str) -> Result<&'a [Value]> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(invalid(
            path,
            &format!("expected a list, found {}", type_name(other)),
        )),
    }
}

/// A string naming one of OCI's enumerated values (an action, an operator, an architecture).
fn enum_field<T: DeserializeOwned>(v: &Value, path: &str, what: &str) -> Result<T> {
    let name = as_str(v, path)?;
    serde_json::from_value(Value::String(name.to_string()))
        .map_err(|_| invalid(path, &format!("unknown {what} {name:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::container::spec::DEFAULT_CAPS;

    fn default_caps() -> Vec<String> {
        DEFAULT_CAPS.iter().map(|c| c.to_string()).collect()
    }

    fn x86_64_host(kernel: (u32, u32)) -> impl Fn(&str, &[String]) -> Result<LinuxSeccomp> {
        move |json, caps| {
            let kernel_fn = move || Ok(kernel);
            let host = Host {
                arch: NativeArch {
                    go: "amd64",
                    seccomp: "SCMP_ARCH_X86_64",
                },
                kernel: &kernel_fn,
            };
            translate(json, caps, &host)
        }
    }

    /// The rules with action ALLOW that name `syscall` (with or without argument conditions).
    fn allow_rules<'a>(oci: &'a LinuxSeccomp, syscall: &str) -> Vec<&'a LinuxSyscall> {
        oci.syscalls()
            .iter()
            .flatten()
            .filter(|r| {
                r.action() == LinuxSeccompAction::ScmpActAllow
                    && r.names().iter().any(|n| n == syscall)
            })
            .collect()
    }

    fn allowed_unconditionally(oci: &LinuxSeccomp, syscall: &str) -> bool {
        allow_rules(oci, syscall)
            .iter()
            .any(|r| r.args().as_ref().is_none_or(|a| a.is_empty()))
    }

    #[test]
    fn seccomp_default_profile_parses() {
        let oci = to_oci(default_profile(), &default_caps()).expect("default profile");
        assert_eq!(oci.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(oci.default_errno_ret(), Some(1));
        assert!(oci.syscalls().as_ref().is_some_and(|s| s.len() > 5));
        // And round-trips through OCI's JSON, as it will in config.json.
        let json = serde_json::to_string(&oci).unwrap();
        let back: LinuxSeccomp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, oci);
    }

    #[test]
    fn seccomp_default_profile_x86_64_architectures() {
        let oci = x86_64_host((6, 1))(default_profile(), &default_caps()).unwrap();
        assert_eq!(
            oci.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        // arch_prctl is for amd64 and x32 only; s390's clone rule is left out.
        assert!(allowed_unconditionally(&oci, "arch_prctl"));
        assert!(allowed_unconditionally(&oci, "modify_ldt"));
        assert!(allow_rules(&oci, "s390_runtime_instr").is_empty());
        assert!(allow_rules(&oci, "riscv_flush_icache").is_empty());
    }

    #[test]
    fn seccomp_default_caps_deny_and_allow() {
        let oci = x86_64_host((6, 1))(default_profile(), &default_caps()).unwrap();
        for denied in ["mount", "unshare", "init_module", "kexec_load", "keyctl"] {
            assert!(
                allow_rules(&oci, denied).is_empty(),
                "{denied} should not be allowed with the default capabilities"
            );
        }
        for allowed in [
            "read", "clone", "execve", "capset", "setuid", "socket", "chmod",
        ] {
            assert!(
                !allow_rules(&oci, allowed).is_empty(),
                "{allowed} should be allowed with the default capabilities"
            );
        }
        // chroot comes with CAP_SYS_CHROOT, which is a default capability.
        assert!(allowed_unconditionally(&oci, "chroot"));
        // clone3 answers ENOSYS, so that libcs fall back to clone.
        let clone3 = oci
            .syscalls()
            .iter()
            .flatten()
            .find(|r| r.names().iter().any(|n| n == "clone3"))
            .expect("a clone3 rule");
        assert_eq!(clone3.action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3.errno_ret(), Some(38));
    }

    #[test]
    fn seccomp_clone_namespace_mask_without_sys_admin() {
        let oci = x86_64_host((6, 1))(default_profile(), &default_caps()).unwrap();
        let clone = allow_rules(&oci, "clone");
        assert_eq!(clone.len(), 1, "{clone:?}");
        let args = clone[0]
            .args()
            .as_ref()
            .expect("clone has an argument condition");
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        assert_eq!(args[0].value(), 0x7E02_0000);
        assert!(!allowed_unconditionally(&oci, "clone"));
    }

    #[test]
    fn seccomp_sys_admin_allows_mount() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".into());
        let oci = x86_64_host((6, 1))(default_profile(), &caps).unwrap();
        for call in ["mount", "unshare", "setns", "clone", "umount2"] {
            assert!(allowed_unconditionally(&oci, call), "{call} with SYS_ADMIN");
        }
        // The masked clone rule and the clone3 ENOSYS rule are for containers without SYS_ADMIN.
        assert!(oci
            .syscalls()
            .iter()
            .flatten()
            .all(|r| r.args().is_none() || !r.names().iter().any(|n| n == "clone")));
        assert!(oci
            .syscalls()
            .iter()
            .flatten()
            .all(|r| r.action() == LinuxSeccompAction::ScmpActAllow
                || !r.names().iter().any(|n| n == "clone3")));
        // Capability names without the prefix work too.
        let oci = x86_64_host((6, 1))(default_profile(), &["sys_admin".to_string()]).unwrap();
        assert!(allowed_unconditionally(&oci, "mount"));
    }

    #[test]
    fn seccomp_min_kernel() {
        let old = x86_64_host((4, 4))(default_profile(), &default_caps()).unwrap();
        assert!(allow_rules(&old, "ptrace").is_empty());
        let new = x86_64_host((4, 8))(default_profile(), &default_caps()).unwrap();
        assert!(allowed_unconditionally(&new, "ptrace"));
        assert_eq!(parse_kernel_release("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(parse_kernel_release("5.10"), Some((5, 10)));
        assert_eq!(parse_kernel_release("x"), None);
        running_kernel().expect("the running kernel's version");
    }

    #[test]
    fn seccomp_user_profile_forms() {
        let json = r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "flags": ["SECCOMP_FILTER_FLAG_LOG"],
            "syscalls": [
                {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_GT"}]},
                {"names": ["chown"], "action": "SCMP_ACT_KILL", "excludes": {"arches": ["amd64"]}}
            ]
        }"#;
        let oci = x86_64_host((6, 1))(json, &[]).unwrap();
        assert_eq!(oci.default_action(), LinuxSeccompAction::ScmpActAllow);
        assert_eq!(oci.default_errno_ret(), None);
        assert_eq!(
            oci.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64][..])
        );
        assert_eq!(
            oci.flags().as_deref(),
            Some(&[LinuxSeccompFilterFlag::SeccompFilterFlagLog][..])
        );
        let rules = oci.syscalls().as_ref().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].names(), &["mkdir".to_string()]);
        assert_eq!(rules[0].errno_ret(), Some(13));
        let arg = rules[1].args().as_ref().unwrap()[0];
        assert_eq!(arg.value_two(), Some(0));
        assert_eq!(arg.op(), LinuxSeccompOperator::ScmpCmpGt);
    }

    #[test]
    fn seccomp_malformed_profiles_name_the_field() {
        let cases = [
            ("not json", "not valid JSON"),
            ("[]", "the profile: expected an object"),
            (r#"{"syscalls": []}"#, "defaultAction: missing"),
            (
                r#"{"defaultAction": "SCMP_ACT_MAYBE"}"#,
                "defaultAction: unknown action",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": -1}"#,
                "defaultErrnoRet",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
                    "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#,
                "both 'architectures' and 'archMap'",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_VAX"}]}"#,
                "archMap[0].architecture: unknown architecture \"SCMP_ARCH_VAX\"",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]}"#,
                "syscalls[0].action: missing",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_SIMILAR"}]}]}"#,
                "syscalls[1].args[0].op: unknown operator \"SCMP_CMP_SIMILAR\"",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
                    "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
                "syscalls[0].args[0].index: 6 is out of range",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
                    "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": "zero", "op": "SCMP_CMP_EQ"}]}]}"#,
                "syscalls[0].args[0].value: expected an unsigned integer",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": "read", "action": "SCMP_ACT_ALLOW"}]}"#,
                "syscalls[0].names: expected a list, found a string",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"],
                    "action": "SCMP_ACT_ALLOW"}]}"#,
                "syscalls[0].name: both 'name' and 'names'",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["ptrace"],
                    "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "four"}}]}"#,
                "syscalls[0].includes.minKernel: invalid kernel version \"four\"",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["ptrace"],
                    "action": "SCMP_ACT_ALLOW", "includes": {"caps": [1]}}]}"#,
                "syscalls[0].includes.caps[0]: expected a string",
            ),
        ];
        for (json, want) in cases {
            let err = x86_64_host((6, 1))(json, &default_caps())
                .expect_err(json)
                .to_string();
            assert!(
                err.contains(want),
                "{json}\n  gave {err:?}\n  wanted {want:?}"
            );
        }
    }
}
