//! Issue 18: restart policies without a daemon. The container's monitor restarts it with
//! Docker's backoff and counts RestartCount; `ctr-stop` ends the policy; `ctr-update --restart`
//! changes it live; `ctr-start --restart-policies` (the boot-time unit's command) starts what a
//! reboot stopped; bad values get Docker's errors and create nothing. Docker (the private
//! dockerd) gives the same answers.

use std::process::Command;

use serde_json::Value;

use crate::support::docker::Dockerd;
use crate::support::rig::{timed, wait_until, Rig};
use crate::support::{busybox_rootfs, own_network_namespace, run, Out};

fn state(r: &Rig, id: &str) -> (String, i64, u64) {
    let c = r.inspect(id);
    (
        c["State"]["Status"].as_str().unwrap_or("").to_string(),
        c["State"]["ExitCode"].as_i64().unwrap_or(-1),
        c["RestartCount"].as_u64().unwrap_or(0),
    )
}

/// The monitor's pid, from the record.
fn monitor_pid(r: &Rig, id: &str) -> i32 {
    let p = r.root.join("containers").join(id).join("state.json");
    let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    v["State"]["MonitorPid"].as_i64().unwrap() as i32
}

fn kill9(pid: i64) {
    assert!(pid > 0);
    run(Command::new("kill").args(["-9", &pid.to_string()])).ok();
}

#[test]
fn on_failure_restarts_n_times_then_stays_exited() {
    require_root!();
    let r = Rig::new();
    let id = r.detach(&[
        "--restart",
        "on-failure:3",
        "--network",
        "none",
        &r.image,
        "sh",
        "-c",
        "echo ran; exit 1",
    ]);
    assert!(
        wait_until(30, || state(&r, &id) == ("exited".into(), 1, 3)),
        "{:?}",
        state(&r, &id)
    );
    // It stays so: no fourth restart.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(state(&r, &id), ("exited".into(), 1, 3));
    let c = r.inspect(&id);
    assert_eq!(
        c["HostConfig"]["RestartPolicy"],
        serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    // The first run and three restarts, each in the log.
    let logs = r.t("ctr-logs", &[&id], 20).ok();
    assert_eq!(logs.stdout, "ran\n".repeat(4), "{logs:?}");
    // A start by hand starts the count over.
    r.t("ctr-start", &[&id], 20).ok();
    assert!(wait_until(30, || state(&r, &id) == ("exited".into(), 1, 3)));
    assert_eq!(r.t("ctr-logs", &[&id], 20).ok().stdout, "ran\n".repeat(8));
}

#[test]
fn always_survives_kill_9_and_ctr_stop_ends_it() {
    require_root!();
    let r = Rig::new();
    let id = r.detach(&[
        "--restart",
        "always",
        "--network",
        "none",
        &r.image,
        "sleep",
        "1000",
    ]);
    let pid = r.inspect(&id)["State"]["Pid"].as_i64().unwrap();
    // ctr-wait returns at the run's end, though a restart follows (as docker wait).
    let mut wait = r.cmd("ctr-wait");
    wait.arg(&id);
    let waiter = std::thread::spawn(move || timed(&mut wait, 30));
    std::thread::sleep(std::time::Duration::from_millis(300));
    kill9(pid);
    let waited = waiter.join().unwrap();
    assert_eq!(waited.code, 0, "{waited:?}");
    assert_eq!(waited.stdout.trim(), "137", "{waited:?}");
    assert!(
        wait_until(20, || {
            let c = r.inspect(&id);
            c["State"]["Running"] == true
                && c["State"]["Restarting"] == false
                && c["RestartCount"] == 1
                && c["State"]["Pid"].as_i64().unwrap_or(0) > 0
                && c["State"]["Pid"].as_i64() != Some(pid)
        }),
        "{}",
        r.inspect(&id)
    );
    // ctr-stop ends the policy: exited, and it stays so.
    r.t("ctr-stop", &["-t", "1", &id], 30).ok();
    let (status, _, count) = state(&r, &id);
    assert_eq!(status, "exited");
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(state(&r, &id).0, "exited");
    assert!(count >= 1);
    // No process or monitor is left.
    assert!(
        !std::path::Path::new(&format!("/proc/{}", monitor_pid(&r, &id))).exists()
            || monitor_pid(&r, &id) == 0
    );
    // ctr-kill ends it as well (Docker's kill marks it stopped by hand).
    r.t("ctr-start", &[&id], 20).ok();
    r.t("ctr-kill", &[&id], 30).ok();
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert_eq!(state(&r, &id).0, "exited");
}

#[test]
fn update_changes_the_policy_of_a_running_container() {
    require_root!();
    let r = Rig::new();
    let id = r.detach(&["--network", "none", &r.image, "sleep", "1000"]);
    r.t("ctr-update", &["--restart", "on-failure:1", &id], 20)
        .ok();
    assert_eq!(
        r.inspect(&id)["HostConfig"]["RestartPolicy"]["Name"],
        "on-failure"
    );
    kill9(r.inspect(&id)["State"]["Pid"].as_i64().unwrap());
    assert!(wait_until(20, || {
        let c = r.inspect(&id);
        c["RestartCount"] == 1 && c["State"]["Running"] == true && c["State"]["Pid"] != 0
    }));
    // Its retry used up, the next failure leaves it exited.
    kill9(r.inspect(&id)["State"]["Pid"].as_i64().unwrap());
    assert!(wait_until(20, || state(&r, &id) == ("exited".into(), 137, 1)));
    // --rm containers cannot get one.
    let rm = r.detach(&["--rm", "--network", "none", &r.image, "sleep", "1000"]);
    let out = r.t("ctr-update", &["--restart", "always", &rm], 20);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains("Restart policy cannot be updated because AutoRemove is enabled"),
        "{out:?}"
    );
}

#[test]
fn boot_time_start_follows_the_policies() {
    require_root!();
    let r = Rig::new();
    let mut ids = Vec::new();
    for (name, policy) in [
        ("al", "always"),
        ("un", "unless-stopped"),
        ("no", "no"),
        ("us", "unless-stopped"),
        ("as", "always"),
    ] {
        ids.push(r.detach(&[
            "--name",
            name,
            "--restart",
            policy,
            "--network",
            "none",
            &r.image,
            "sleep",
            "1000",
        ]));
    }
    // Stopped by hand before the "reboot": unless-stopped stays down, always comes back.
    r.t("ctr-stop", &["-t", "0", "us", "as"], 30).ok();
    // A created container with always is not started (it never ran).
    r.t(
        "ctr-create",
        &["--name", "cr", "--restart", "always", &r.image, "true"],
        20,
    )
    .ok();
    // The reboot: every monitor and process gone at once, nothing recorded.
    for id in &ids[..3] {
        let m = monitor_pid(&r, id);
        let p = r.inspect(id)["State"]["Pid"].as_i64().unwrap();
        kill9(m as i64);
        kill9(p);
    }
    assert!(wait_until(10, || ["al", "un", "no"]
        .iter()
        .all(|n| r.inspect(n)["State"]["Running"] == false)));
    let out = r.t("ctr-start", &["--restart-policies"], 60).ok();
    let started: Vec<String> = out
        .json_lines()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(started, ["al", "un", "as"], "{out:?}");
    for n in ["al", "un", "as"] {
        assert_eq!(r.inspect(n)["State"]["Status"], "running", "{n}");
    }
    for n in ["no", "us", "cr"] {
        assert_ne!(r.inspect(n)["State"]["Status"], "running", "{n}");
    }
    // Run again, it starts nothing more.
    let again = r.t("ctr-start", &["--restart-policies"], 60).ok();
    assert_eq!(again.stdout, "", "{again:?}");
}

/// Bad `--restart` values: Docker's messages, exit 125, nothing created.
const BAD: [(&[&str], &str); 5] = [
    (&["--restart", "maybe"], "invalid restart policy 'maybe'"),
    (
        &["--restart", "always:3"],
        "maximum retry count cannot be used with restart policy 'always'",
    ),
    (
        &["--restart", "on-failure:x"],
        "invalid restart policy format: maximum retry count must be an integer",
    ),
    (
        &["--restart", "on-failure:-2"],
        "maximum retry count cannot be negative",
    ),
    (
        &["--restart", "always", "--rm"],
        "conflicting options: cannot specify both --restart and --rm",
    ),
];

#[test]
fn bad_policies_get_dockers_errors_and_create_nothing() {
    require_root!();
    let r = Rig::new();
    for (flags, msg) in BAD {
        for tool in ["ctr-run", "ctr-create"] {
            let mut a = flags.to_vec();
            a.extend_from_slice(&[&r.image, "true"]);
            let out = r.t(tool, &a, 20);
            // docker run's usage errors are 125; docker create's are 1 where its daemon
            // finds them (the docker test compares both).
            if tool == "ctr-run" {
                assert_eq!(out.code, 125, "{tool} {flags:?}: {out:?}");
            } else {
                assert!(
                    out.code == 1 || out.code == 125,
                    "{tool} {flags:?}: {out:?}"
                );
            }
            assert!(out.stderr.contains(msg), "{tool} {flags:?}: {out:?}");
        }
    }
    assert!(r.ids().is_empty(), "{:?}", r.ids());
}

fn docker_out(d: &Dockerd, args: &[&str]) -> Out {
    timed(d.command().args(args), 120)
}

#[test]
fn docker_gives_the_same_answers() {
    require_root!();
    own_network_namespace();
    let docker = require_dockerd!();
    let r = Rig::new();
    let dir = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(&dir.path().join("rootfs"));
    let tar = dir.path().join("bb.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg("."))
    .ok();
    docker_out(&docker, &["import", tar.to_str().unwrap(), "rs:1"]).ok();
    for (flags, msg) in BAD {
        let mut a = vec!["run"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["rs:1", "true"]);
        let out = docker_out(&docker, &a);
        assert_eq!(out.code, 125, "docker {a:?}: {out:?}");
        assert!(out.stderr.contains(msg), "docker {a:?}: {out:?}");
        a[0] = "create";
        let d = docker_out(&docker, &a);
        let mut b = flags.to_vec();
        b.extend_from_slice(&[&r.image, "true"]);
        let ours = r.t("ctr-create", &b, 20);
        assert_eq!(
            ours.code, d.code,
            "create {flags:?}: docker {d:?}, berth {ours:?}"
        );
    }
    let out = docker_out(&docker, &["ps", "-aq"]).ok();
    assert_eq!(out.stdout, "", "docker created something: {out:?}");

    // on-failure:3: three restarts, then exited with RestartCount 3.
    let script = "echo ran; exit 1";
    docker_out(
        &docker,
        &[
            "run",
            "-d",
            "--name",
            "rf",
            "--network",
            "none",
            "--restart",
            "on-failure:3",
            "rs:1",
            "sh",
            "-c",
            script,
        ],
    )
    .ok();
    let b = r.detach(&[
        "--restart",
        "on-failure:3",
        "--network",
        "none",
        &r.image,
        "sh",
        "-c",
        script,
    ]);
    let d_state = || -> (String, i64, u64) {
        let v: Value = docker_out(&docker, &["inspect", "rf"]).ok().json();
        let c = &v[0];
        (
            c["State"]["Status"].as_str().unwrap().to_string(),
            c["State"]["ExitCode"].as_i64().unwrap(),
            c["RestartCount"].as_u64().unwrap(),
        )
    };
    assert!(
        wait_until(60, || d_state() == ("exited".into(), 1, 3)),
        "{:?}",
        d_state()
    );
    assert!(wait_until(60, || state(&r, &b) == ("exited".into(), 1, 3)));
    let dv: Value = docker_out(&docker, &["inspect", "rf"]).ok().json();
    assert_eq!(
        dv[0]["HostConfig"]["RestartPolicy"],
        r.inspect(&b)["HostConfig"]["RestartPolicy"]
    );
    let dl = docker_out(&docker, &["logs", "rf"]).ok();
    assert_eq!(dl.stdout, r.t("ctr-logs", &[&b], 20).ok().stdout);

    // always: docker stop ends it, as ctr-stop does.
    docker_out(
        &docker,
        &[
            "run",
            "-d",
            "--name",
            "ra",
            "--network",
            "none",
            "--restart",
            "always",
            "rs:1",
            "sleep",
            "1000",
        ],
    )
    .ok();
    docker_out(&docker, &["stop", "-t", "1", "ra"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let v: Value = docker_out(&docker, &["inspect", "ra"]).ok().json();
    assert_eq!(v[0]["State"]["Status"], "exited", "{}", v[0]["State"]);
    let _ = docker_out(&docker, &["rm", "-f", "rf", "ra"]);
}

/// A restarted container's health check starts over (`starting`, then its checks again), as
/// Docker's does at each start.
#[test]
fn a_restart_starts_the_health_check_over() {
    require_root!();
    let r = Rig::new();
    let id = r.detach(&[
        "--restart",
        "always",
        "--health-cmd",
        "true",
        "--health-interval",
        "3s",
        "--network",
        "none",
        &r.image,
        "sleep",
        "1000",
    ]);
    let health = |r: &Rig| r.inspect(&id)["State"]["Health"]["Status"].clone();
    assert!(
        wait_until(20, || health(&r) == "healthy"),
        "{}",
        r.inspect(&id)
    );
    kill9(r.inspect(&id)["State"]["Pid"].as_i64().unwrap());
    // For an interval after the restart the check has not run: starting.
    assert!(
        wait_until(20, || r.inspect(&id)["RestartCount"] == 1
            && health(&r) == "starting"),
        "{}",
        r.inspect(&id)
    );
    assert!(
        wait_until(20, || health(&r) == "healthy"),
        "{}",
        r.inspect(&id)
    );
    let ls = r
        .t("ctr-ls", &["--filter", "health=healthy", "-q"], 20)
        .ok();
    assert_eq!(ls.stdout.trim(), &id[..12], "{ls:?}");
}

/// Between two runs (the backoff has grown to seconds): exec and pause get Docker's refusal,
/// ctr-stop ends the policy at once, ctr-rm -f removes it.
#[test]
fn between_runs_exec_and_pause_are_refused_and_stop_ends_it() {
    require_root!();
    let r = Rig::new();
    let id = r.detach(&[
        "--restart",
        "on-failure",
        "--network",
        "none",
        &r.image,
        "sh",
        "-c",
        "exit 1",
    ]);
    // After 5 restarts the delays are 1.6 s and more: most of the time is spent restarting.
    assert!(wait_until(30, || {
        let c = r.inspect(&id);
        c["State"]["Status"] == "restarting" && c["RestartCount"].as_u64() >= Some(5)
    }));
    let st = r.inspect(&id)["State"].clone();
    assert_eq!(st["Running"], true, "{st}");
    assert_eq!(st["Pid"], 0, "{st}");
    assert_eq!(st["ExitCode"], 1, "{st}");
    // (Unless a run has just begun meanwhile.)
    let ls = r
        .t(
            "ctr-ls",
            &["--filter", "status=restarting", "--format", "{{.Status}}"],
            20,
        )
        .ok();
    assert!(
        ls.stdout.is_empty() || ls.stdout.starts_with("Restarting (1) "),
        "{ls:?}"
    );
    let msg = format!("Container {id} is restarting, wait until the container is running");
    for (tool, args) in [
        ("ctr-exec", vec![id.as_str(), "true"]),
        ("ctr-pause", vec![id.as_str()]),
    ] {
        let out = r.t(tool, &args, 20);
        if r.inspect(&id)["State"]["Status"] == "restarting" {
            assert_ne!(out.code, 0, "{tool}: {out:?}");
            assert!(out.stderr.contains(&msg), "{tool}: {out:?}");
        }
    }
    let t = std::time::Instant::now();
    r.t("ctr-stop", &[&id], 30).ok();
    assert_eq!(state(&r, &id).0, "exited");
    // Not the restart's delay: the monitor saw the mark.
    assert!(t.elapsed() < std::time::Duration::from_secs(25));
    r.t("ctr-rm", &["-f", &id], 30).ok();
    assert!(r.ids().is_empty());
}
