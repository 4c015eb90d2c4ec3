//! The spec's hooks (OCI runtime spec, "POSIX-platform Hooks"), run where and when runc runs
//! them: `prestart` and `createRuntime` by the runtime once the container's namespaces exist
//! and its mounts are made, before `pivot_root`; `createContainer` by the init at that point
//! (the container's mount namespace, the host's paths); `startContainer` by the init after
//! `start`, just before it execs the process; `poststart` by the runtime after `start`;
//! `poststop` by the runtime when the container is deleted. Each hook gets the container's state
//! JSON on stdin; a hook that exits non-zero or outlives its timeout fails, with runc's words
//! and what it printed.

use std::io::{Read, Seek, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks, Spec};

use crate::error::{Error, Result};

/// The hooks of one kind in `hooks`.
pub(crate) fn of(hooks: &Option<Hooks>, kind: fn(&Hooks) -> &Option<Vec<Hook>>) -> &[Hook] {
    hooks
        .as_ref()
        .and_then(|h| kind(h).as_deref())
        .unwrap_or(&[])
}

/// Whether the init must stop before `pivot_root` for the runtime's hooks and its own (and to
/// learn the state its startContainer hooks read).
pub(crate) fn before_pivot(spec: &Spec) -> bool {
    let h = spec.hooks();
    !prestart(h).is_empty()
        || !of(h, Hooks::create_runtime).is_empty()
        || !of(h, Hooks::create_container).is_empty()
        || !of(h, Hooks::start_container).is_empty()
}

/// The prestart hooks (deprecated by the spec in favour of createRuntime, still what Docker
/// and the NVIDIA toolkit use; runc runs them first, at the same point).
pub(crate) fn prestart(hooks: &Option<Hooks>) -> &[Hook] {
    of(hooks, Hooks::prestart)
}

/// The state JSON a hook reads: the OCI state of the container.
pub(crate) fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &std::path::Path,
    annotations: &std::collections::BTreeMap<String, String>,
) -> String {
    let mut v = serde_json::json!({
        "ociVersion": "1.0.2",
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
    });
    if !annotations.is_empty() {
        v["annotations"] = serde_json::json!(annotations);
    }
    v.to_string()
}

/// Runs `hooks` in order with `state` on stdin; the first that fails ends it, as runc's
/// "error running hook #N".
pub(crate) fn run_all(hooks: &[Hook], state: &str) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run(h, state).map_err(|why| Error::Hook(format!("error running hook #{i}: {why}")))?;
    }
    Ok(())
}

/// One hook: its path executed with its args (args[0] as argv[0]) and only its env, the state
/// on stdin, its output kept (in memory files: a hook that prints much cannot block), waited for
/// up to its timeout.
fn run(hook: &Hook, state: &str) -> std::result::Result<(), String> {
    let out = memfile("hook-stdout")?;
    let err = memfile("hook-stderr")?;
    let mut cmd = Command::new(hook.path());
    let args = hook.args().clone().unwrap_or_default();
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear()
        .envs(
            hook.env()
                .iter()
                .flatten()
                .filter_map(|kv| kv.split_once('=')),
        )
        .stdin(Stdio::piped())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(err.try_clone().map_err(|e| e.to_string())?);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("fork/exec {}: {e}", hook.path().display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error (EPIPE).
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        if let Some(t) = timeout {
            if started.elapsed() >= t {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "hook ran past specified timeout of {:.1}s",
                    t.as_secs_f64()
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    if status.success() {
        return Ok(());
    }
    let why = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("signal: {s}"),
        _ => status.to_string(),
    };
    Err(format!(
        "error running hook: {why}, stdout: {}, stderr: {}",
        read_back(out),
        read_back(err)
    ))
}

fn memfile(name: &str) -> std::result::Result<std::fs::File, String> {
    rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC)
        .map(std::fs::File::from)
        .map_err(|e| format!("memfd_create: {e}"))
}

/// What a hook printed, at most 4 KiB of it.
fn read_back(mut f: std::fs::File) -> String {
    let mut buf = Vec::new();
    let _ = f.rewind();
    let _ = (&mut f).take(4096).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(args: &[&str], timeout: Option<i64>) -> Hook {
        let mut h = Hook::default();
        h.set_path("/bin/sh".into());
        h.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
        h.set_env(Some(vec!["FOO=bar".into()]));
        h.set_timeout(timeout);
        h
    }

    #[test]
    fn a_hook_reads_the_state_and_its_own_env() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("seen");
        let h = hook(
            &[
                "sh",
                "-c",
                &format!(
                    "cat > {}; echo \" $FOO $HOME\" >> {}",
                    out.display(),
                    out.display()
                ),
            ],
            None,
        );
        run_all(&[h], r#"{"id":"c1"}"#).unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "{\"id\":\"c1\"} bar \n"
        );
    }

    #[test]
    fn failures_and_timeouts_are_runcs() {
        let ok = hook(&["sh", "-c", "true"], None);
        let bad = hook(&["sh", "-c", "echo out; echo err >&2; exit 3"], None);
        let e = run_all(&[ok, bad], "{}").unwrap_err().to_string();
        assert!(
            e.contains("error running hook #1: error running hook: exit status 3, stdout: out, stderr: err"),
            "{e}"
        );
        let slow = hook(&["sh", "-c", "sleep 5"], Some(1));
        let t = Instant::now();
        let e = run_all(&[slow], "{}").unwrap_err().to_string();
        assert!(e.contains("hook ran past specified timeout of 1.0s"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
        let mut missing = hook(&["x"], None);
        missing.set_path("/nonexistent/hook".into());
        let e = run_all(&[missing], "{}").unwrap_err().to_string();
        assert!(e.contains("/nonexistent/hook"), "{e}");
    }
}
