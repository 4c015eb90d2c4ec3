//! Loads an OCI `linux.seccomp` filter into the calling thread (as runc does, with libseccomp).
//!
//! OWNER: seccomp helper. Interface: `apply(&LinuxSeccomp) -> Result<()>`.
//!
//! The semantics are runc's (`libcontainer/seccomp/seccomp_linux.go`):
//! - the default action is the filter's; `SCMP_ACT_ERRNO` without `defaultErrnoRet` is EPERM, as is
//!   `SCMP_ACT_TRACE` without a value;
//! - the listed architectures are added to the native one;
//! - a rule whose action is the default action is redundant and skipped (libseccomp refuses it);
//! - a syscall name libseccomp does not know is skipped, not an error: profiles list syscalls of
//!   every architecture and of newer kernels;
//! - the conditions of a rule are ANDed, except that when two conditions test the same argument the
//!   rule is split into one rule per condition (ORed), which is what Docker's profiles mean;
//! - `no_new_privs` is left alone: the filter attribute that would make libseccomp set it is turned
//!   off, so the caller decides (loading without it needs CAP_SYS_ADMIN).
//!
//! Not done: `SCMP_ACT_NOTIFY` (a seccomp agent on `listenerPath`), and runc's patch of the BPF
//! program that makes syscalls newer than the profile answer ENOSYS instead of the default action.

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

use crate::error::{Error, Result};

/// The kernel passes a syscall six arguments.
const SYSCALL_MAX_ARGUMENTS: usize = 6;

/// Compiles and loads `profile`; every syscall not matched gets the default action. A program
/// [`prepare`]d for the same profile before the fork is loaded as it is, without compiling.
pub fn apply(profile: &LinuxSeccomp) -> Result<()> {
    if let Some(program) = prepared_for(profile) {
        // A cached program the kernel refuses (a damaged cache file) falls back to compiling.
        if load_program(&program).is_ok() {
            return Ok(());
        }
    }
    let filter = compile(profile)?;
    filter.load().map_err(|source| Error::SeccompFilter {
        what: "loading the filter".into(),
        source,
    })
}

/// The BPF program prepared for a profile: (the profile's key, the program's bytes).
static PREPARED: std::sync::Mutex<Option<(String, Vec<u8>)>> = std::sync::Mutex::new(None);

/// A profile's cache key: its JSON, the libseccomp version and our architecture.
fn key(profile: &LinuxSeccomp) -> Option<String> {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(profile).ok()?;
    let v = libseccomp::ScmpVersion::current().ok()?;
    let mut h = Sha256::new();
    h.update(format!(
        "{}.{}.{} {} ",
        v.major,
        v.minor,
        v.micro,
        std::env::consts::ARCH
    ));
    h.update(&json);
    Some(format!("{:x}", h.finalize()))
}

/// Compiling Docker's profile with libseccomp takes about 25 ms, on every container start. Called
/// in the runtime before it forks the init: takes the compiled program from `cache_dir` (keyed
/// by the profile, the libseccomp version and the architecture) or compiles it and stores it
/// there, and keeps it for [`apply`] in the child. Profiles with filter flags are left to
/// libseccomp's own load. Any failure here only means the child compiles as before.
pub fn prepare(profile: &LinuxSeccomp, cache_dir: &std::path::Path) {
    use std::io::Write;
    if profile.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return;
    }
    let Some(key) = key(profile) else { return };
    let path = cache_dir.join(format!("{key}.bpf"));
    let program = match std::fs::read(&path) {
        Ok(p) if !p.is_empty() && p.len().is_multiple_of(8) => p,
        _ => {
            let Ok(filter) = compile(profile) else { return };
            let _ = std::fs::create_dir_all(cache_dir);
            let tmp = cache_dir.join(format!(".{key}.{}", std::process::id()));
            let Ok(mut f) = std::fs::File::create(&tmp) else {
                return;
            };
            if filter.export_bpf(&f).is_err() || f.flush().is_err() {
                let _ = std::fs::remove_file(&tmp);
                return;
            }
            let program = std::fs::read(&tmp).unwrap_or_default();
            if program.is_empty()
                || !program.len().is_multiple_of(8)
                || std::fs::rename(&tmp, &path).is_err()
            {
                let _ = std::fs::remove_file(&tmp);
                return;
            }
            program
        }
    };
    if let Ok(mut p) = PREPARED.lock() {
        *p = Some((key, program));
    }
}

fn prepared_for(profile: &LinuxSeccomp) -> Option<Vec<u8>> {
    let p = PREPARED.lock().ok()?;
    let (k, program) = p.as_ref()?;
    (key(profile)? == *k).then(|| program.clone())
}

/// Loads a BPF program (as libseccomp exports it: `struct sock_filter`s in native byte order)
/// with seccomp(SECCOMP_SET_MODE_FILTER), no flags: what libseccomp's load does for a profile
/// without filter flags and with its no_new_privs attribute off.
fn load_program(program: &[u8]) -> Result<()> {
    let filters: Vec<libc::sock_filter> = program
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    if u16::try_from(filters.len()).is_err() {
        return Err(Error::Seccomp(format!(
            "a BPF program of {} instructions",
            filters.len()
        )));
    }
    crate::sys::seccomp_set_mode_filter(&filters)
        .map_err(|e| Error::SeccompLoad(std::io::Error::from_raw_os_error(e as i32)))?;
    Ok(())
}

/// Builds the libseccomp filter for `profile` without loading it.
fn compile(profile: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default_action = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "defaultAction",
    )?;
    let mut filter =
        ScmpFilterContext::new(default_action).map_err(|source| Error::SeccompFilter {
            what: "creating the filter".into(),
            source,
        })?;
    // libseccomp would otherwise set no_new_privs when loading; that is the caller's decision.
    filter
        .set_ctl_nnp(false)
        .map_err(|source| Error::SeccompFilter {
            what: "turning off the no_new_privs attribute".into(),
            source,
        })?;

    for arch in profile.architectures().iter().flatten() {
        let scmp = scmp_arch(*arch)?;
        filter
            .add_arch(scmp)
            .map_err(|source| Error::SeccompFilter {
                what: format!("adding architecture {arch}"),
                source,
            })?;
    }

    for flag in profile.flags().iter().flatten() {
        let set = match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => filter.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => filter.set_ctl_ssb(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => filter.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                filter.set_ctl_waitkill(true)
            }
        };
        set.map_err(|source| Error::SeccompFilter {
            what: format!("flag {}", flag_name(*flag)),
            source,
        })?;
    }

    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        add_rule(&mut filter, rule, i, default_action)?;
    }
    Ok(filter)
}

fn add_rule(
    filter: &mut ScmpFilterContext,
    rule: &LinuxSyscall,
    index: usize,
    default_action: ScmpAction,
) -> Result<()> {
    let what = || format!("syscalls[{index}] ({})", rule.names().join(", "));
    let act = action(rule.action(), rule.errno_ret(), &what())?;
    let args = rule.args().as_deref().unwrap_or_default();
    let conditions = args
        .iter()
        .map(|a| condition(a).map_err(|why| Error::Seccomp(format!("{}: {why}", what()))))
        .collect::<Result<Vec<_>>>()?;
    // runc: when two conditions test the same argument, each condition becomes a rule of its own.
    let mut per_index = [0usize; SYSCALL_MAX_ARGUMENTS];
    for a in args {
        per_index[a.index()] += 1;
    }
    let split = per_index.iter().any(|&n| n > 1);

    for name in rule.names() {
        if name.is_empty() {
            return Err(Error::Seccomp(format!("{}: an empty syscall name", what())));
        }
        if act == default_action {
            // Redundant, and libseccomp refuses a rule with the default action.
            continue;
        }
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            // Unknown to libseccomp for this architecture or kernel: skipped, as runc does.
            continue;
        };
        let added = if conditions.is_empty() {
            filter.add_rule(act, syscall).map(drop)
        } else if split {
            conditions.iter().try_for_each(|c| {
                filter
                    .add_rule_conditional(act, syscall, std::slice::from_ref(c))
                    .map(drop)
            })
        } else {
            filter
                .add_rule_conditional(act, syscall, &conditions)
                .map(drop)
        };
        added.map_err(|source| Error::SeccompFilter {
            what: format!("{}: adding the rule for {name}", what()),
            source,
        })?;
    }
    Ok(())
}

/// OCI's action, with its errno (or trace value), as libseccomp's.
fn action(action: LinuxSeccompAction, errno_ret: Option<u32>, what: &str) -> Result<ScmpAction> {
    let ret = || -> Result<u16> {
        match errno_ret {
            None => Ok(libc::EPERM as u16),
            Some(n) => u16::try_from(n).map_err(|_| {
                Error::Seccomp(format!("{what}: errnoRet {n} is out of range (0 to 65535)"))
            }),
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret()?),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::Seccomp(format!(
                "{what}: SCMP_ACT_NOTIFY needs a seccomp agent, which berth does not support"
            )))
        }
    })
}

/// One argument condition. MASKED_EQ takes the mask from `value` and compares with `valueTwo`.
fn condition(arg: &LinuxSeccompArg) -> std::result::Result<ScmpArgCompare, String> {
    let index = arg.index();
    if index >= SYSCALL_MAX_ARGUMENTS {
        return Err(format!(
            "argument index {index} is out of range (0 to {})",
            SYSCALL_MAX_ARGUMENTS - 1
        ));
    }
    let (op, datum) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (ScmpCompareOp::NotEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (ScmpCompareOp::Less, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (ScmpCompareOp::Equal, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (ScmpCompareOp::Greater, arg.value()),
        LinuxSeccompOperator::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(arg.value()),
            arg.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(index as u32, op, datum))
}

/// OCI's architecture as libseccomp's, through their shared `SCMP_ARCH_*` names.
fn scmp_arch(arch: Arch) -> Result<ScmpArch> {
    let name = serde_json::to_value(arch)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{arch:?}"));
    name.parse::<ScmpArch>()
        .map_err(|source| Error::SeccompFilter {
            what: format!("architecture {name}"),
            source,
        })
}

fn flag_name(flag: LinuxSeccompFilterFlag) -> String {
    serde_json::to_value(flag)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{flag:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSyscallBuilder};

    use std::process::Command;

    const CHILD_ENV: &str = "BERTH_SECCOMP_TEST_CHILD";

    /// Runs the test `name` again in a fresh process of this test binary, where `body` runs (a
    /// filter must not outlive the test, and fork in the threaded test harness is unsafe). `body`
    /// returns 0 when all is well, else the number of the check that failed.
    fn in_child(name: &str, body: fn() -> i32) {
        if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
            let code = body();
            // _exit ends the process at once; nothing in it runs after a filter that may deny
            // what an orderly exit would call.
            crate::sys::exit_now(code);
        }
        let out = Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, name)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "child for {name}: {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A raw syscall's result and errno (no libc wrapper caching or retrying anything).
    fn sys(nr: libc::c_long, a0: u64, a1: u64) -> (libc::c_long, i32) {
        crate::sys::syscall2(nr, a0, a1)
    }

    /// What the child needs to get to `_exit` and report, besides what a test checks.
    const BASICS: [&str; 9] = [
        "exit",
        "exit_group",
        "write",
        "futex",
        "rt_sigreturn",
        "rt_sigprocmask",
        "sigaltstack",
        "munmap",
        "brk",
    ];

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("test profile")
    }

    fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
        LinuxSyscallBuilder::default()
            .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .action(action)
            .build()
            .unwrap()
    }

    fn allow_rule(names: &[&str]) -> LinuxSyscall {
        rule(names, LinuxSeccompAction::ScmpActAllow)
    }

    /// An allow rule with conditions (index, value, op; MASKED_EQ's mask as value, valueTwo 0).
    fn allow_if(names: &[&str], args: &[(usize, u64, LinuxSeccompOperator)]) -> LinuxSyscall {
        let args: Vec<LinuxSeccompArg> = args
            .iter()
            .map(|&(index, value, op)| {
                let a = LinuxSeccompArgBuilder::default()
                    .index(index)
                    .value(value)
                    .op(op);
                let a = match op {
                    LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two(0u64),
                    _ => a,
                };
                a.build().unwrap()
            })
            .collect();
        let mut r = allow_rule(names);
        r.set_args(Some(args));
        r
    }

    /// A profile: the default action (its errno), the rules.
    fn typed_profile(
        default: LinuxSeccompAction,
        errno: Option<u32>,
        syscalls: Vec<LinuxSyscall>,
    ) -> LinuxSeccomp {
        let mut p = LinuxSeccompBuilder::default()
            .default_action(default)
            .syscalls(syscalls)
            .build()
            .unwrap();
        p.set_default_errno_ret(errno);
        p
    }

    fn load_or_exit(p: &LinuxSeccomp) {
        if !nix::unistd::geteuid().is_root() {
            // Without CAP_SYS_ADMIN a filter needs no_new_privs, which is the caller's to set.
            nix::sys::prctl::set_no_new_privs().unwrap();
        }
        if let Err(e) = apply(p) {
            eprintln!("apply: {e}");
            // As in in_child.
            crate::sys::exit_now(100);
        }
    }

    /// Allows the basics and getppid, getuid answers ENOSYS, getgid has the default action (a
    /// redundant rule libseccomp must not be given), everything else EPERM.
    fn errno_allow_list_profile() -> LinuxSeccomp {
        let mut rules = vec![
            allow_rule(&BASICS),
            allow_rule(&["getppid", "not_a_syscall_berth"]),
        ];
        // A rule with its own errno.
        let mut getuid = rule(&["getuid"], LinuxSeccompAction::ScmpActErrno);
        getuid.set_errno_ret(Some(38));
        rules.push(getuid);
        // A rule with the default action is redundant and must not fail the load.
        rules.push(rule(&["getgid"], LinuxSeccompAction::ScmpActErrno));
        let mut p = typed_profile(LinuxSeccompAction::ScmpActErrno, None, rules);
        p.set_architectures(Some(vec![
            Arch::ScmpArchX86_64,
            Arch::ScmpArchX86,
            Arch::ScmpArchX32,
        ]));
        p
    }

    /// In a child with [`errno_allow_list_profile`] loaded: 0, or which check failed.
    fn errno_allow_list_holds() -> i32 {
        if sys(libc::SYS_getppid, 0, 0).0 <= 0 {
            return 1;
        }
        if sys(libc::SYS_getpid, 0, 0) != (-1, libc::EPERM) {
            return 2;
        }
        if sys(libc::SYS_unshare, 0, 0) != (-1, libc::EPERM) {
            return 3;
        }
        if sys(libc::SYS_getuid, 0, 0) != (-1, libc::ENOSYS) {
            return 4;
        }
        if sys(libc::SYS_getgid, 0, 0) != (-1, libc::EPERM) {
            return 5;
        }
        0
    }

    #[test]
    fn seccomp_errno_default_and_allow_list() {
        in_child(
            "seccomp::tests::seccomp_errno_default_and_allow_list",
            || {
                load_or_exit(&errno_allow_list_profile());
                errno_allow_list_holds()
            },
        );
    }

    #[test]
    fn seccomp_prepared_program_is_cached_and_behaves_as_compiled() {
        in_child(
            "seccomp::tests::seccomp_prepared_program_is_cached_and_behaves_as_compiled",
            || {
                let p = errno_allow_list_profile();
                let dir = tempfile::tempdir().unwrap();
                prepare(&p, dir.path());
                // Written once, then read back: the same bytes either way.
                if std::fs::read_dir(dir.path()).unwrap().count() != 1 {
                    return 10;
                }
                let first = PREPARED.lock().unwrap().clone();
                prepare(&p, dir.path());
                if first.is_none() || *PREPARED.lock().unwrap() != first {
                    return 11;
                }
                // A different profile is not served the prepared program.
                let other = profile(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#);
                if prepared_for(&other).is_some() || prepared_for(&p).is_none() {
                    return 12;
                }
                drop(dir);
                load_or_exit(&p);
                errno_allow_list_holds()
            },
        );
    }

    #[test]
    fn seccomp_default_errno_ret() {
        in_child("seccomp::tests::seccomp_default_errno_ret", || {
            let p = typed_profile(
                LinuxSeccompAction::ScmpActErrno,
                Some(13),
                vec![allow_rule(&BASICS)],
            );
            load_or_exit(&p);
            if sys(libc::SYS_getpid, 0, 0) != (-1, libc::EACCES) {
                return 1;
            }
            0
        });
    }

    #[test]
    fn seccomp_arg_conditions() {
        in_child("seccomp::tests::seccomp_arg_conditions", || {
            use LinuxSeccompOperator::{ScmpCmpEq as Eq, ScmpCmpMaskedEq as MaskedEq};
            let p = typed_profile(
                LinuxSeccompAction::ScmpActErrno,
                None,
                vec![
                    allow_rule(&BASICS),
                    // personality only when querying (0xffffffff) or PER_LINUX (0): two
                    // conditions on the same argument mean either.
                    allow_if(&["personality"], &[(0, 0xffff_ffff, Eq), (0, 0, Eq)]),
                    // getpriority only for (PRIO_PROCESS, 0): conditions on different
                    // arguments mean both.
                    allow_if(&["getpriority"], &[(0, 0, Eq), (1, 0, Eq)]),
                    // getsid only when no namespace-like bits are set in arg 0 (MASKED_EQ).
                    allow_if(&["getsid"], &[(0, 0x7E02_0000, MaskedEq)]),
                ],
            );
            load_or_exit(&p);
            if sys(libc::SYS_personality, 0xffff_ffff, 0).0 < 0 {
                return 1;
            }
            if sys(libc::SYS_personality, 0, 0).0 < 0 {
                return 2;
            }
            if sys(libc::SYS_personality, 8, 0) != (-1, libc::EPERM) {
                return 3;
            }
            if sys(libc::SYS_getpriority, 0, 0).0 < 0 {
                return 4;
            }
            if sys(libc::SYS_getpriority, 1, 0) != (-1, libc::EPERM) {
                return 5;
            }
            if sys(libc::SYS_getpriority, 0, 1) != (-1, libc::EPERM) {
                return 6;
            }
            if sys(libc::SYS_getsid, 0, 0).0 < 0 {
                return 7;
            }
            if sys(libc::SYS_getsid, 0x1000_0000, 0) != (-1, libc::EPERM) {
                return 8;
            }
            0
        });
    }

    #[test]
    fn seccomp_compiles_docker_style_profile() {
        // Compiling alone (no load): a profile with every action and operator the default
        // profile uses, names of other architectures, and a flag.
        let p = profile(
            r#"{
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls": [
                    {"names": ["read", "s390_runtime_instr", "arm_fadvise64_64"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
                    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
                    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                    {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_PROCESS"},
                    {"names": ["acct"], "action": "SCMP_ACT_LOG"},
                    {"names": ["vhangup"], "action": "SCMP_ACT_TRAP"}
                ]
            }"#,
        );
        compile(&p).expect("compiles");
    }

    #[test]
    fn seccomp_bad_rules_name_the_rule() {
        let bad_errno = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}"#,
        );
        let err = compile(&bad_errno).unwrap_err().to_string();
        assert!(
            err.contains("syscalls[0] (mkdir)") && err.contains("70000"),
            "{err}"
        );

        let bad_index = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 7, "value": 0, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        let err = compile(&bad_index).unwrap_err().to_string();
        assert!(
            err.contains("syscalls[1] (mkdir)") && err.contains("index 7"),
            "{err}"
        );

        let notify = profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}"#,
        );
        let err = compile(&notify).unwrap_err().to_string();
        assert!(err.contains("SCMP_ACT_NOTIFY"), "{err}");
    }
}
