//! Issue 19: Docker itself drives berth-runtime. A private dockerd gets berth-runtime as an extra
//! runtime (`"runtimes": {"berth": {"path": …}}` in daemon.json, what a Docker user adds to use
//! another runc), and the same `docker` commands run with `--runtime runc` and `--runtime berth`:
//! what the user sees (output, exit codes, inspect's exit code, errors) must be the same.

use crate::support::docker::Dockerd;
use crate::support::{bin, busybox_tarball, have, Compression};

/// What one runtime gives for the scenarios, `RT` in the container names.
fn scenarios(d: &Dockerd, rt: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let name = format!("t-{rt}");
    let run = |label: &str, args: &[&str]| -> String {
        let o = crate::support::rig::timed(d.command().args(args), 60);
        // The runtime's own prefixes (runc's "runc create failed: " and "unable to start
        // container process: ") are the only part of an error that may differ.
        let unprefix = |t: &str| {
            t.replace("runc create failed: ", "")
                .replace("unable to start container process: ", "")
        };
        let err = unprefix(&o.stderr).lines().next().unwrap_or("").to_string();
        let out = unprefix(&o.stdout).replace(&name, "NAME");
        format!("{label}: {} {out:?} {err:?}", o.code)
    };
    seen.push(run(
        "exit 3",
        &[
            "run",
            "--rm",
            "--runtime",
            rt,
            "bb",
            "sh",
            "-c",
            "echo hi; exit 3",
        ],
    ));
    let _id = run(
        "detached",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--runtime",
            rt,
            "bb",
            "sh",
            "-c",
            "trap 'exit 7' TERM; while true; do sleep 1; done",
        ],
    );
    seen.push(run(
        "exec",
        &["exec", &name, "sh", "-c", "echo from exec; exit 4"],
    ));
    seen.push(run(
        "exec -u -w -e",
        &[
            "exec",
            "-u",
            "5:6",
            "-w",
            "/tmp",
            "-e",
            "A=b",
            &name,
            "sh",
            "-c",
            "id; pwd; echo $A",
        ],
    ));
    seen.push(run("exec missing", &["exec", &name, "/nonexistent"]));
    seen.push(run("pause", &["pause", &name]));
    seen.push(run(
        "paused",
        &["inspect", "-f", "{{.State.Status}}", &name],
    ));
    seen.push(run("unpause", &["unpause", &name]));
    seen.push(run(
        "update",
        &[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--pids-limit",
            "50",
            &name,
        ],
    ));
    seen.push(run(
        "limits",
        &[
            "exec",
            &name,
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/pids/pids.max",
        ],
    ));
    seen.push(run("stop", &["stop", "-t", "5", &name]));
    seen.push(run(
        "exit code",
        &["inspect", "-f", "{{.State.ExitCode}}", &name],
    ));
    seen.push(run("restart", &["start", &name]));
    seen.push(run("kill", &["kill", &name]));
    seen.push(run("killed", &["wait", &name]));
    seen.push(run("rm", &["rm", &name]));
    seen.push(run(
        "confined",
        &[
            "run", "--rm", "--runtime", rt, "--network", "none", "--read-only", "--cap-drop", "ALL",
            "--user", "1000", "-h", "box", "--init", "bb", "sh", "-c",
            "id; hostname; grep CapEff /proc/self/status; touch /x 2>&1; cat /proc/1/cmdline | tr '\\0' ' '",
        ],
    ));
    seen.push(run(
        "missing binary",
        &["run", "--rm", "--runtime", rt, "bb", "/nonexistent"],
    ));
    seen.push(run(
        "not executable",
        &["run", "--rm", "--runtime", rt, "bb", "/etc/passwd"],
    ));
    seen
}

#[test]
fn docker_runs_containers_on_berth_runtime_as_on_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let config = serde_json::json!({
        "runtimes": {"berth": {"path": bin("berth-runtime")}}
    });
    let d = match Dockerd::start_with_config(&config.to_string()) {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIPPED: no Docker daemon: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let tar = busybox_tarball(&dir.path().join("bb.tar"), Compression::None);
    assert_eq!(d.docker(&["import", tar.to_str().unwrap(), "bb"]).code, 0);
    let info = d.docker(&["info", "-f", "{{json .Runtimes}}"]);
    assert!(info.stdout.contains("berth"), "{info:?}");
    let want = scenarios(&d, "runc");
    let got = scenarios(&d, "berth");
    assert_eq!(want, got, "runc (left) and berth (right) differ");
    for line in [
        "exit 3: 3 \"hi\\n\" \"\"",
        "exec: 4 \"from exec\\n\" \"\"",
        "limits: 0 \"67108864\\n50\\n\" \"\"",
        "exit code: 0 \"7\\n\" \"\"",
        "killed: 0 \"137\\n\" \"\"",
    ] {
        assert!(got.iter().any(|l| l == line), "{line:?} in {got:#?}");
    }
    let confined = got.iter().find(|l| l.starts_with("confined")).unwrap();
    assert!(
        confined.contains("uid=1000") && confined.contains("box") && confined.contains("Read-only"),
        "{confined}"
    );
    assert!(
        got.iter().any(|l| l.starts_with("missing binary: 127")),
        "{got:#?}"
    );
    // Nothing is left: no container (the shim deleted each with the runtime).
    let ps = d.docker(&["ps", "-aq"]);
    assert_eq!((ps.code, ps.stdout.trim()), (0, ""), "{ps:?}");
}
