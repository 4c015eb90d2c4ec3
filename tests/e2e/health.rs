//! Issue 18: health checks without a daemon. The container's monitor runs `--health-cmd` (or the
//! image's HEALTHCHECK) in the container on Docker's schedule and records `State.Health` as
//! Docker 20.10 does; `ctr-ls` shows `(healthy)`, `(unhealthy)`, `(health: starting)` and filters
//! by `health=`; bad values get Docker's errors and make nothing. `docker_gives_the_same_answers`
//! runs the same flags on a private dockerd and compares what inspect records.

use serde_json::Value;

use crate::support::docker::Dockerd;
use crate::support::rig::{timed, wait_until, Rig, IMAGE};
use crate::support::{busybox_tarball, Compression, Out};

/// Runs a detached `sleep` container with `flags` (no network): its ID.
fn sleeper(rig: &Rig, flags: &[&str]) -> String {
    let mut a = vec!["--network", "none"];
    a.extend_from_slice(flags);
    a.extend_from_slice(&[&rig.image, "sleep", "1000"]);
    rig.detach(&a)
}

fn health(rig: &Rig, id: &str) -> Value {
    rig.inspect(id)["State"]["Health"].clone()
}

/// Waits (up to `secs`) until `State.Health` satisfies `f`; the last one seen.
fn wait_health(rig: &Rig, id: &str, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(secs, || {
        last = health(rig, id);
        f(&last)
    });
    assert!(ok, "State.Health never got there: {last:#}");
    last
}

fn exit_codes(h: &Value) -> Vec<i64> {
    h["Log"]
        .as_array()
        .expect("Log")
        .iter()
        .map(|e| e["ExitCode"].as_i64().expect("ExitCode"))
        .collect()
}

/// The exec form of a check whose command is not in the image.
const NOT_THERE: &str = "[\"/nonexist\"]";

/// `ctr-ls` (`-a` with `all`) with `--filter health=STATE`: the listed containers' IDs.
fn listed(rig: &Rig, all: bool, health: &str) -> Vec<String> {
    let filter = format!("health={health}");
    let mut a = vec!["--format", "json", "--no-trunc", "--filter", &filter];
    if all {
        a.push("-a");
    }
    let mut ids: Vec<String> = rig
        .t("ctr-ls", &a, 20)
        .ok()
        .json_lines()
        .iter()
        .map(|c| c["ID"].as_str().expect("ID").to_string())
        .collect();
    ids.sort();
    ids
}

/// `ctr-ls`'s STATUS of `id`.
fn status_column(rig: &Rig, id: &str) -> String {
    let filter = format!("id={id}");
    let lines = rig
        .t(
            "ctr-ls",
            &["-a", "--format", "json", "--filter", &filter],
            20,
        )
        .ok()
        .json_lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0]["Status"].as_str().expect("Status").to_string()
}

#[test]
fn a_failing_check_turns_unhealthy_a_passing_one_healthy_and_ls_shows_and_filters_them() {
    require_root!();
    let rig = Rig::new();
    let failing = sleeper(
        &rig,
        &[
            "--health-cmd",
            "echo out; echo err >&2; exit 3",
            "--health-interval",
            "1s",
            "--health-retries",
            "2",
        ],
    );
    let passing = sleeper(
        &rig,
        &["--health-cmd", "echo ok", "--health-interval", "1s"],
    );
    let slow = sleeper(&rig, &["--health-cmd", "true", "--health-interval", "1h"]);
    let none = sleeper(&rig, &[]);

    // Before its first check (one interval after the start): starting.
    let h = health(&rig, &slow);
    assert_eq!(h["Status"], "starting", "{h:#}");
    assert_eq!(h["FailingStreak"], 0, "{h:#}");
    assert_eq!(h["Log"], serde_json::json!([]), "{h:#}");
    assert!(
        status_column(&rig, &slow).ends_with(" (health: starting)"),
        "{}",
        status_column(&rig, &slow)
    );
    assert!(health(&rig, &none).is_null(), "no check, no State.Health");

    let h = wait_health(&rig, &failing, 60, |h| h["Status"] == "unhealthy");
    assert!(h["FailingStreak"].as_i64().unwrap() >= 2, "{h:#}");
    let codes = exit_codes(&h);
    assert!(codes.len() >= 2 && codes.iter().all(|&c| c == 3), "{h:#}");
    let out = h["Log"][0]["Output"].as_str().unwrap();
    // stdout and stderr together, in the order they came.
    assert!(out == "out\nerr\n" || out == "err\nout\n", "{h:#}");
    for e in h["Log"].as_array().unwrap() {
        for k in ["Start", "End"] {
            let t = e[k].as_str().unwrap();
            assert!(t.starts_with("20") && t.ends_with('Z'), "{k}: {e}");
        }
    }
    assert!(status_column(&rig, &failing).ends_with(" (unhealthy)"));

    let h = wait_health(&rig, &passing, 60, |h| h["Status"] == "healthy");
    assert_eq!(h["FailingStreak"], 0, "{h:#}");
    assert_eq!(h["Log"][0]["ExitCode"], 0, "{h:#}");
    assert_eq!(h["Log"][0]["Output"], "ok\n", "{h:#}");
    assert!(status_column(&rig, &passing).ends_with(" (healthy)"));

    assert_eq!(listed(&rig, false, "unhealthy"), [failing.as_str()]);
    assert_eq!(listed(&rig, false, "healthy"), [passing.as_str()]);
    assert_eq!(listed(&rig, false, "starting"), [slow.as_str()]);
    assert_eq!(listed(&rig, false, "none"), [none.as_str()]);
    rig.t("ctr-ls", &["--filter", "health=sick"], 20)
        .fails_with(2, "Unrecognised filter value for health: sick");

    // The log keeps the last five checks.
    let h = wait_health(&rig, &failing, 60, |h| {
        h["FailingStreak"].as_i64().unwrap_or(0) >= 7
    });
    assert_eq!(h["Log"].as_array().unwrap().len(), 5, "{h:#}");
}

#[test]
fn a_stopped_container_keeps_its_health_and_a_start_makes_it_starting_again() {
    require_root!();
    let rig = Rig::new();
    let id = sleeper(
        &rig,
        &[
            "--health-cmd",
            "false",
            "--health-interval",
            "2s",
            "--health-retries",
            "2",
        ],
    );
    wait_health(&rig, &id, 60, |h| h["Status"] == "unhealthy");
    rig.t("ctr-stop", &["-t", "1", &id], 60).ok();
    let stopped = health(&rig, &id);
    // As Docker: the status as it was, and the container still listed as unhealthy.
    assert_eq!(stopped["Status"], "unhealthy", "{stopped:#}");
    assert!(stopped["FailingStreak"].as_i64().unwrap() >= 2);
    assert!(status_column(&rig, &id).starts_with("Exited ("));
    assert_eq!(listed(&rig, true, "unhealthy"), [id.as_str()]);
    assert!(listed(&rig, false, "unhealthy").is_empty());

    rig.t("ctr-start", &[&id], 60).ok();
    // A check every 2 s and 2 retries: starting for at least 4 s after the start, its streak
    // from 0 again.
    let h = health(&rig, &id);
    assert_eq!(h["Status"], "starting", "{h:#}");
    assert!(h["FailingStreak"].as_i64().unwrap() <= 1, "{h:#}");
    assert!(
        !h["Log"].as_array().unwrap().is_empty(),
        "the log is kept: {h:#}"
    );
    wait_health(&rig, &id, 60, |h| h["Status"] == "unhealthy");
}

#[test]
fn the_check_runs_in_the_container_as_its_process() {
    require_root!();
    let rig = Rig::new();
    let id = sleeper(
        &rig,
        &[
            "-u",
            "65534",
            "-w",
            "/tmp",
            "-e",
            "FOO=bar",
            "-h",
            "box",
            "--health-cmd",
            "id -u; pwd; echo $FOO; hostname; tr '\\0' ' ' </proc/1/cmdline; echo; grep CapEff /proc/self/status",
            "--health-interval",
            "1s",
        ],
    );
    let h = wait_health(&rig, &id, 60, |h| h["Status"] == "healthy");
    let out = h["Log"][0]["Output"].as_str().unwrap().to_string();
    let exec = rig
        .t(
            "ctr-exec",
            &[&id, "sh", "-c", "grep CapEff /proc/self/status"],
            30,
        )
        .ok()
        .stdout;
    assert_eq!(
        out,
        format!("65534\n/tmp\nbar\nbox\nsleep 1000 \n{exec}"),
        "{h:#}"
    );
}

#[test]
fn a_check_that_exceeds_its_timeout_is_killed_and_fails() {
    require_root!();
    let rig = Rig::new();
    let id = sleeper(
        &rig,
        &[
            "--health-cmd",
            "sleep 77",
            "--health-interval",
            "1s",
            "--health-timeout",
            "1s",
            "--health-retries",
            "1",
        ],
    );
    let h = wait_health(&rig, &id, 60, |h| h["Status"] == "unhealthy");
    assert_eq!(h["Log"][0]["ExitCode"], -1, "{h:#}");
    assert_eq!(
        h["Log"][0]["Output"], "Health check exceeded timeout (1s)",
        "{h:#}"
    );
    // The check was ended: no `sleep 77` piles up in the container (one may be running now).
    let ps = rig
        .t("ctr-exec", &[&id, "ps", "-o", "args"], 30)
        .ok()
        .stdout;
    assert!(ps.matches("sleep 77").count() <= 1, "{ps}");
}

#[test]
fn output_is_cut_at_4096_bytes() {
    require_root!();
    let rig = Rig::new();
    let id = sleeper(
        &rig,
        &[
            "--health-cmd",
            "head -c 5000 /dev/zero | tr '\\0' a",
            "--health-interval",
            "1s",
        ],
    );
    let h = wait_health(&rig, &id, 60, |h| h["Status"] == "healthy");
    let out = h["Log"][0]["Output"].as_str().unwrap();
    assert_eq!(out, format!("{}...", "a".repeat(4096)));
}

/// `hc:1`: busybox with `HEALTHCHECK --interval=1s --retries=1 CMD ["/bin/false"]`, and
/// `ne:1` whose check's command does not exist.
fn image_with_healthcheck(rig: &Rig) {
    rig.t(
        "img-config",
        &[
            IMAGE,
            "-c",
            &format!("HEALTHCHECK --interval=1s --retries=1 CMD {NOT_THERE}"),
            "ne:1",
        ],
        60,
    )
    .ok();
    rig.t(
        "img-config",
        &[
            IMAGE,
            "-c",
            "HEALTHCHECK --interval=1s --retries=1 CMD [\"/bin/false\"]",
            "hc:1",
        ],
        60,
    )
    .ok();
}

#[test]
fn the_images_healthcheck_is_used_merged_with_the_flags_and_no_healthcheck_disables_it() {
    require_root!();
    let rig = Rig::new();
    image_with_healthcheck(&rig);
    let run = |flags: &[&str]| {
        let mut a = vec!["--network", "none"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&["hc:1", "sleep", "1000"]);
        rig.detach(&a)
    };
    let image = run(&[]);
    let config = rig.inspect(&image)["Config"]["Healthcheck"].clone();
    assert_eq!(
        config,
        serde_json::json!({"Test": ["CMD", "/bin/false"], "Interval": 1_000_000_000i64, "Retries": 1})
    );
    let h = wait_health(&rig, &image, 60, |h| h["Status"] == "unhealthy");
    assert_eq!(exit_codes(&h)[0], 1);

    // The flags replace what they set; the image fills in the rest.
    let mine = run(&["--health-cmd", "true", "--health-timeout", "5s"]);
    assert_eq!(
        rig.inspect(&mine)["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000_000i64,
            "Timeout": 5_000_000_000i64, "Retries": 1})
    );
    wait_health(&rig, &mine, 60, |h| h["Status"] == "healthy");

    let off = run(&["--no-healthcheck"]);
    assert_eq!(
        rig.inspect(&off)["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["NONE"], "Interval": 1_000_000_000i64, "Retries": 1})
    );
    assert_eq!(listed(&rig, false, "none"), [off.as_str()]);
    // Three intervals later still no check has run.
    wait_health(&rig, &image, 60, |h| h["FailingStreak"].as_i64() >= Some(4));
    assert!(health(&rig, &off).is_null(), "{:#}", rig.inspect(&off));
}

/// (flags, Docker's message, exit code of ctr-create; ctr-run exits 125 for all, as docker run).
const BAD: &[(&[&str], &str, i32)] = &[
    (
        &["--health-interval", "500us"],
        "Interval in Healthcheck cannot be less than 1ms",
        1,
    ),
    (
        &["--health-timeout", "0.5ms"],
        "Timeout in Healthcheck cannot be less than 1ms",
        1,
    ),
    (
        &["--health-start-period", "100us"],
        "StartPeriod in Healthcheck cannot be less than 1ms",
        1,
    ),
    (
        &["--health-interval", "-1s"],
        "--health-interval cannot be negative",
        125,
    ),
    (
        &["--health-timeout", "-1s"],
        "--health-timeout cannot be negative",
        125,
    ),
    (
        &["--health-start-period", "-2s"],
        "--health-start-period cannot be negative",
        125,
    ),
    (
        &["--health-retries", "-1"],
        "--health-retries cannot be negative",
        125,
    ),
    (
        &["--health-retries", "x"],
        "invalid argument \"x\" for \"--health-retries\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
        125,
    ),
    (
        &["--health-interval", "1x"],
        "invalid argument \"1x\" for \"--health-interval\" flag: time: unknown unit \"x\" in duration \"1x\"",
        125,
    ),
    (
        &["--health-interval", "10"],
        "invalid argument \"10\" for \"--health-interval\" flag: time: missing unit in duration \"10\"",
        125,
    ),
    (
        &["--no-healthcheck", "--health-retries", "1"],
        "--no-healthcheck conflicts with --health-* options",
        125,
    ),
    (
        &["--no-healthcheck", "--health-cmd", "true"],
        "--no-healthcheck conflicts with --health-* options",
        125,
    ),
];

#[test]
fn bad_values_get_dockers_errors_and_make_nothing() {
    require_root!();
    let rig = Rig::new();
    for (flags, msg, create_code) in BAD {
        let mut a = vec!["--network", "none"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&[IMAGE, "true"]);
        rig.t("ctr-create", &a, 30).fails_with(*create_code, msg);
        rig.t("ctr-run", &a, 30).fails_with(125, msg);
    }
    assert!(rig.ids().is_empty(), "nothing was made: {:?}", rig.ids());
    // Zero values are no setting (Docker's CLI): no Healthcheck, and no conflict.
    let id = rig.t(
        "ctr-create",
        &["--no-healthcheck", "--health-interval", "0s", IMAGE, "true"],
        30,
    );
    let id = id.ok().json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        rig.inspect(&id)["Config"]["Healthcheck"],
        serde_json::json!({"Test": ["NONE"]})
    );
    let id = rig.t(
        "ctr-create",
        &[
            "--health-interval",
            "0s",
            "--health-retries",
            "0",
            IMAGE,
            "true",
        ],
        30,
    );
    let id = id.ok().json()["id"].as_str().unwrap().to_string();
    assert!(rig.inspect(&id)["Config"]["Healthcheck"].is_null());
}

fn docker(d: &Dockerd, args: &[&str]) -> Out {
    timed(d.command().args(args), 120)
}

fn docker_health(d: &Dockerd, name: &str) -> Value {
    docker(d, &["inspect", "--format", "{{json .State.Health}}", name])
        .ok()
        .json()
}

/// The same flags on Docker and on berth: the same Config.Healthcheck, the same
/// State.Health.Status, FailingStreak (at the moment it turns unhealthy) and Log exit codes and
/// outputs, the same errors.
#[test]
fn docker_gives_the_same_answers() {
    require_root!();
    let d = require_dockerd!();
    let rig = Rig::new();
    image_with_healthcheck(&rig);
    let tar = busybox_tarball(&rig.tmp.path().join("bb.tar"), Compression::None);
    docker(&d, &["import", tar.to_str().unwrap(), IMAGE]).ok();
    docker(
        &d,
        &[
            "import",
            "--change",
            "HEALTHCHECK --interval=1s --retries=1 CMD [\"/bin/false\"]",
            tar.to_str().unwrap(),
            "hc:1",
        ],
    )
    .ok();
    docker(
        &d,
        &[
            "import",
            "--change",
            &format!("HEALTHCHECK --interval=1s --retries=1 CMD {NOT_THERE}"),
            tar.to_str().unwrap(),
            "ne:1",
        ],
    )
    .ok();

    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--health-cmd",
                "echo out; exit 3",
                "--health-interval",
                "1s",
                "--health-retries",
                "2",
            ],
            "unhealthy",
        ),
        (
            &["--health-cmd", "echo ok", "--health-interval", "1s"],
            "healthy",
        ),
        (
            &[
                "--health-cmd",
                "sleep 77",
                "--health-interval",
                "1s",
                "--health-timeout",
                "1s",
                "--health-retries",
                "1",
                "--health-start-period",
                "1m",
            ],
            "starting",
        ),
    ];
    let image_cases: &[(&[&str], &str)] = &[
        (&[], "unhealthy"),
        (
            &["--health-cmd", "true", "--health-timeout", "5s"],
            "healthy",
        ),
    ];
    // A command that cannot be run: -1 and the runtime's words, as Docker's.
    let missing: &[(&[&str], &str)] = &[(&[], "unhealthy")];
    let all = cases
        .iter()
        .map(|c| (c, IMAGE))
        .chain(image_cases.iter().map(|c| (c, "hc:1")))
        .chain(missing.iter().map(|c| (c, "ne:1")));
    for (i, ((flags, want), image)) in all.enumerate() {
        let name = format!("h{i}");
        let mut a = vec!["--name", &name, "--network", "none"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&[image, "sleep", "1000"]);
        let mut run = vec!["run", "-d"];
        run.extend_from_slice(&a);
        docker(&d, &run).ok();
        let ours = rig.detach(&a);
        let theirs_config: Value = docker(
            &d,
            &["inspect", "--format", "{{json .Config.Healthcheck}}", &name],
        )
        .ok()
        .json();
        assert_eq!(
            rig.inspect(&ours)["Config"]["Healthcheck"],
            theirs_config,
            "{flags:?}"
        );
        // Both until the status wanted and (for the starting one) two checks logged.
        let done =
            |h: &Value| h["Status"] == *want && (*want != "starting" || exit_codes(h).len() >= 2);
        let mut theirs = Value::Null;
        assert!(
            wait_until(90, || {
                theirs = docker_health(&d, &name);
                done(&theirs)
            }),
            "docker {flags:?}: {theirs:#}"
        );
        let mine = wait_health(&rig, &ours, 90, done);
        // The first check of each: the same status, exit code and output.
        let first = |h: &Value| {
            (
                h["Status"].clone(),
                h["Log"][0]["ExitCode"].clone(),
                h["Log"][0]["Output"].clone(),
            )
        };
        assert_eq!(
            first(&mine),
            first(&theirs),
            "{flags:?}: berth {mine:#} docker {theirs:#}"
        );
        // The streak when it turned unhealthy is the retries (a later check may add one).
        if *want == "unhealthy" {
            let retries = if image == IMAGE { 2 } else { 1 };
            for h in [&theirs, &mine] {
                let n = h["FailingStreak"].as_i64().unwrap();
                assert!(n >= retries && n as usize <= exit_codes(h).len(), "{h:#}");
                assert!(exit_codes(h).iter().all(|&c| c == exit_codes(h)[0]));
            }
        }
        if *want == "starting" {
            for h in [&theirs, &mine] {
                assert_eq!(h["FailingStreak"], 0, "start period: {h:#}");
                assert!(exit_codes(h).iter().all(|&c| c == -1), "{h:#}");
            }
        }
    }

    // The same errors for the same bad values.
    for (flags, msg, _) in BAD {
        let mut a = vec!["create", "--network", "none"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&[IMAGE, "true"]);
        let out = docker(&d, &a);
        assert_ne!(out.code, 0, "docker {a:?}");
        assert!(out.stderr.contains(msg), "docker {a:?}: {out:#?}");
    }
}
