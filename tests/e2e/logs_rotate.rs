//! Issue 18, log drivers: `--log-driver json-file|local|none` and `--log-opt` as Docker 20.10
//! takes them. A container that prints far more than `max-size × max-file` keeps at most that
//! (and one entry per file) on disk, and `ctr-logs` reads the rotated files back in order
//! (`--tail`, `-f` into the new file); local keeps Docker's framed log; none keeps nothing and
//! `ctr-logs` says so as `docker logs` does; bad options get Docker's messages and make nothing.
//! `docker_agrees_on_log_drivers` puts the same questions to a private dockerd.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::rig::{timed, Rig};
use crate::support::{run, Out};

/// A long line (100 bytes with its newline), for volume.
const LONG: &str = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmno";

/// 20 MB of long lines, then the numbers 1 to `last`, one a line.
fn flood(last: u32) -> String {
    format!("yes {LONG} | head -c 20000000; seq 1 {last}")
}

/// The files in `dir` (recursively) whose names start with `prefix`: (name, size).
fn log_files(dir: &Path, prefix: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    out.sort();
    out
}

fn container_dir(rig: &Rig, id: &str) -> PathBuf {
    rig.env.root.join("containers").join(id)
}

/// Runs `script` detached with `flags`; waits (bounded) for it to exit 0; its ID.
fn run_to_end(rig: &Rig, flags: &[&str], script: &str) -> String {
    let mut a = flags.to_vec();
    a.extend_from_slice(&[&rig.image, "sh", "-c", script]);
    let id = rig.detach(&a);
    let out = rig.t("ctr-wait", &[&id], 300).ok();
    assert_eq!(out.stdout.trim(), "0", "{out:#?}");
    id
}

/// The numbers among `text`'s lines: they must run on from the first without a gap.
fn numbers(text: &str) -> Vec<u32> {
    let n: Vec<u32> = text.lines().filter_map(|l| l.parse().ok()).collect();
    for w in n.windows(2) {
        assert_eq!(w[1], w[0] + 1, "a gap or a line out of order");
    }
    n
}

#[test]
fn json_file_keeps_max_size_times_max_file_and_reads_back_in_order() {
    require_root!();
    let rig = Rig::new();
    let id = run_to_end(
        &rig,
        &["--log-opt", "max-size=1m", "--log-opt", "max-file=3"],
        &flood(50000),
    );
    let dir = container_dir(&rig, &id);
    let files = log_files(&dir, &format!("{id}-json.log"));
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let base = format!("{id}-json.log");
    assert_eq!(
        names,
        [base.clone(), format!("{base}.1"), format!("{base}.2")]
    );
    // Each file is rotated once it holds max-size (1m is 1,000,000 bytes, as Docker's units):
    // at most that and one entry.
    for (n, len) in &files {
        assert!(*len <= 1_000_000 + 200, "{n}: {len} bytes");
    }
    let all = rig.t("ctr-logs", &[&id], 60).ok();
    let n = numbers(&all.stdout);
    // 50,000 numbered lines are more than 3 MB of log: the first ones are gone, the last kept.
    assert_eq!(n.last(), Some(&50000));
    assert!(n[0] > 1, "the oldest lines were dropped");
    let tail = rig.t("ctr-logs", &["--tail", "3", &id], 60).ok();
    assert_eq!(tail.stdout, "49998\n49999\n50000\n");
    let inspect = rig.inspect(&id);
    assert_eq!(
        inspect["HostConfig"]["LogConfig"],
        serde_json::json!({"Type": "json-file", "Config": {"max-file": "3", "max-size": "1m"}})
    );
    assert_eq!(
        inspect["LogPath"].as_str().unwrap(),
        dir.join(&base).to_str().unwrap()
    );
}

#[test]
fn json_file_compresses_rotated_files() {
    require_root!();
    let rig = Rig::new();
    let id = run_to_end(
        &rig,
        &[
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "max-file=3",
            "--log-opt",
            "compress=true",
        ],
        &flood(50000),
    );
    let base = format!("{id}-json.log");
    let names: Vec<String> = log_files(&container_dir(&rig, &id), &base)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        [base.clone(), format!("{base}.1.gz"), format!("{base}.2.gz")]
    );
    // gzip itself reads them (and they are whole).
    let gz = container_dir(&rig, &id).join(format!("{base}.1.gz"));
    let z = run(Command::new("gzip").arg("-t").arg(&gz));
    assert_eq!(z.code, 0, "{z:#?}");
    let out = rig.t("ctr-logs", &[&id], 60).ok();
    assert_eq!(numbers(&out.stdout).last(), Some(&50000));
    let tail = rig.t("ctr-logs", &["-n", "2", &id], 60).ok();
    assert_eq!(tail.stdout, "49999\n50000\n");
}

#[test]
fn local_driver_rotates_in_dockers_place_and_reads_back() {
    require_root!();
    let rig = Rig::new();
    let id = run_to_end(
        &rig,
        &[
            "--log-driver",
            "local",
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "max-file=3",
        ],
        // (stdout and stderr are two pipes: the pauses put "oops" between the others.)
        &format!(
            "{}; sleep 1; echo oops >&2; sleep 1; printf partial",
            flood(200000)
        ),
    );
    let dir = container_dir(&rig, &id);
    assert!(
        !dir.join(format!("{id}-json.log")).exists(),
        "no json-file log"
    );
    let files = log_files(&dir.join("local-logs"), "container.log");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    // compress is the local driver's default.
    assert_eq!(
        names,
        ["container.log", "container.log.1.gz", "container.log.2.gz"]
    );
    assert!(files[0].1 <= 1_000_000 + 200, "{files:?}");
    let out = rig.t("ctr-logs", &[&id], 60).ok();
    let n = numbers(&out.stdout);
    assert!(n[0] > 1, "the oldest lines were dropped");
    assert!(
        out.stdout.ends_with("199999\n200000\npartial"),
        "{}",
        &out.stdout[out.stdout.len() - 40..]
    );
    assert_eq!(out.stderr, "oops\n");
    let tail = rig.t("ctr-logs", &["--tail", "3", &id], 60).ok();
    assert_eq!(tail.stdout, "200000\npartial");
    assert_eq!(tail.stderr, "oops\n");
    let inspect = rig.inspect(&id);
    assert_eq!(
        inspect["HostConfig"]["LogConfig"],
        serde_json::json!({"Type": "local", "Config": {"max-file": "3", "max-size": "1m"}})
    );
    assert_eq!(inspect["LogPath"], "", "Docker shows no LogPath for local");
}

#[test]
fn none_keeps_no_log_and_ctr_logs_says_so() {
    require_root!();
    let rig = Rig::new();
    let id = run_to_end(&rig, &["--log-driver", "none"], "echo hi");
    let dir = container_dir(&rig, &id);
    let logs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("log"))
        .collect();
    assert!(logs.is_empty(), "{logs:?}");
    rig.t("ctr-logs", &[&id], 20)
        .fails_with(1, "configured logging driver does not support reading");
    let inspect = rig.inspect(&id);
    assert_eq!(
        inspect["HostConfig"]["LogConfig"],
        serde_json::json!({"Type": "none", "Config": {}})
    );
    assert_eq!(inspect["LogPath"], "");
    // An attached run still shows the output (the log is not the stream).
    let out = rig.run(&["--rm", "--log-driver", "none", &rig.image, "echo", "seen"]);
    assert_eq!(out.ok().stdout, "seen\n");
}

#[test]
fn follow_goes_on_into_the_new_file() {
    require_root!();
    let rig = Rig::new();
    for driver in ["json-file", "local"] {
        // 8,000 lines in 80 bursts: about 560 kB through 10 kB files (300 kB for local), of
        // which 50 are kept (25), so that only the first ~60 kB are gone at the end (a follower 49 files behind on a
        // loaded machine still finds its file; one 20 behind lost lines in CI once).
        let script = "for j in $(seq 1 80); do seq $((j*100-99)) $((j*100)); sleep 0.1; done";
        let mut a = vec![
            "--log-driver",
            driver,
            "--log-opt",
            "max-size=10k",
            "--log-opt",
            // local's entries are about half the size of json-file's lines.
            if driver == "local" {
                "max-file=25"
            } else {
                "max-file=50"
            },
        ];
        if driver == "local" {
            a.extend(["--log-opt", "compress=false"]);
        }
        a.extend([rig.image.as_str(), "sh", "-c", script]);
        let id = rig.detach(&a);
        let out = rig.t("ctr-logs", &["-f", &id], 120).ok();
        let n = numbers(&out.stdout);
        assert_eq!(n.first(), Some(&1), "{driver}");
        assert_eq!(n.last(), Some(&8000), "{driver}");
        // What is left on disk no longer has the first lines: only -f saw them all.
        let later = rig.t("ctr-logs", &[&id], 60).ok();
        assert!(numbers(&later.stdout)[0] > 1, "{driver}");
    }
}

/// Bad options: (flags, exit code of ctr-run, of ctr-create, what stderr says).
const BAD: &[(&[&str], i32, i32, &str)] = &[
    (
        &["--log-opt", "foo=1"],
        125,
        1,
        "unknown log opt 'foo' for json-file log driver",
    ),
    (
        &["--log-driver", "local", "--log-opt", "tag=x"],
        125,
        1,
        "unknown log opt 'tag' for log driver local",
    ),
    (
        &["--log-driver", "none", "--log-opt", "max-size=1m"],
        125,
        125,
        "invalid logging opts for driver none",
    ),
    (
        &["--log-opt", "max-size=x"],
        125,
        1,
        "failed to initialize logging driver: invalid size: 'x'",
    ),
    (
        &["--log-opt", "max-size=0"],
        125,
        1,
        "failed to initialize logging driver: max-size must be a positive number",
    ),
    (
        &["--log-opt", "max-file=0"],
        125,
        1,
        "failed to initialize logging driver: max-file cannot be less than 1",
    ),
    (
        &["--log-opt", "compress=true"],
        125,
        1,
        "compress cannot be true when max-file is less than 2 or max-size is not set",
    ),
    (
        &["--log-driver", "local", "--log-opt", "max-file=1"],
        125,
        1,
        "compression cannot be enabled when max file count is 1",
    ),
    (
        &["--log-driver", "syslog"],
        125,
        1,
        "logging driver syslog is not supported by berth: use json-file, local or none",
    ),
    (
        &["--log-driver", "nosuch"],
        125,
        1,
        "error looking up logging plugin nosuch: plugin \"nosuch\" not found",
    ),
];

#[test]
fn bad_options_get_dockers_errors_and_make_nothing() {
    require_root!();
    let rig = Rig::new();
    for (flags, run_code, create_code, msg) in BAD {
        for (tool, code) in [("ctr-run", *run_code), ("ctr-create", *create_code)] {
            let mut a = flags.to_vec();
            a.extend_from_slice(&[&rig.image, "true"]);
            rig.t(tool, &a, 30).fails_with(code, msg);
        }
    }
    let ls = rig.t("ctr-ls", &["-a", "-q"], 20).ok();
    assert_eq!(ls.stdout, "", "nothing was made");
    assert!(rig.ids().is_empty(), "{:?}", rig.ids());
}

#[test]
fn labels_env_and_tag_are_recorded_and_shown_with_details() {
    require_root!();
    let rig = Rig::new();
    let id = run_to_end(
        &rig,
        &[
            "--name",
            "web",
            "-l",
            "a=x y&",
            "-e",
            "FOO=bar",
            "--log-opt",
            "labels=a",
            "--log-opt",
            "env=FOO",
            "--log-opt",
            "tag={{.Name}}",
        ],
        "echo hi",
    );
    let log =
        std::fs::read_to_string(container_dir(&rig, &id).join(format!("{id}-json.log"))).unwrap();
    let line: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(
        line["attrs"],
        serde_json::json!({"FOO": "bar", "a": "x y&", "tag": "web"})
    );
    // Docker's --details: the attributes, query-escaped, before the line.
    let out = rig.t("ctr-logs", &["--details", "web"], 20).ok();
    assert_eq!(out.stdout, "FOO=bar,a=x+y%26,tag=web hi\n");
}

/// Docker's half: what the same flags give with a private dockerd (Docker 20.10 takes the
/// bad values at create and refuses them at start, with the message berth gives at once).
#[test]
fn docker_agrees_on_log_drivers() {
    require_root!();
    let docker = require_dockerd!();
    let rig = Rig::new();
    let tar = rig.env.path("bb-docker.tar");
    crate::support::busybox_tarball(&tar, crate::support::Compression::None);
    let imported = docker.docker(&["import", tar.to_str().unwrap(), "bb-logs"]);
    assert_eq!(imported.code, 0, "{imported:#?}");
    let net = ["--network", "none"];

    // The messages.
    for (flags, _, _, msg) in BAD
        .iter()
        .filter(|b| !b.3.contains("berth") && !b.3.contains("plugin"))
    {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(&net);
        a.extend_from_slice(flags);
        a.extend_from_slice(&["bb-logs", "true"]);
        let out = docker.docker(&a);
        assert_eq!(out.code, 125, "docker {a:?}: {out:#?}");
        assert!(out.stderr.contains(msg), "docker {a:?}: {out:#?}");
    }
    let out = docker.docker(&["run", "--rm", "--log-driver", "nosuch", "bb-logs", "true"]);
    assert!(
        out.stderr
            .contains("error looking up logging plugin nosuch: plugin \"nosuch\" not found"),
        "{out:#?}"
    );

    // The json-file lines themselves (but their times): Docker's escaping, field order, attrs.
    let script = r#"printf 'x<y>&"z\\\t\001\r\n'; printf '\342\200\250\377\n'"#;
    let flags = ["-l", "a=x y&", "--log-opt", "labels=a"];
    let mut a = vec!["run", "-d"];
    a.extend_from_slice(&net);
    a.extend_from_slice(&flags);
    a.extend_from_slice(&["bb-logs", "sh", "-c", script]);
    let did = docker.docker(&a).ok().stdout.trim().to_string();
    docker.docker(&["wait", &did]);
    let d = &docker.docker(&["inspect", &did]).json()[0];
    let theirs = std::fs::read_to_string(d["LogPath"].as_str().unwrap()).unwrap();
    let ours = run_to_end(&rig, &flags, script);
    let ours = std::fs::read_to_string(rig.inspect(&ours)["LogPath"].as_str().unwrap()).unwrap();
    let untimed = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l[..l.find(",\"time\":").expect("a time")].to_string())
            .collect()
    };
    assert_eq!(untimed(&ours), untimed(&theirs), "{theirs}");
    assert!(theirs.contains("\\u003c"), "{theirs}");

    // The local driver's entries: the same fields, framed alike (but times and partial IDs).
    let script = "echo one; echo two >&2; printf three";
    let flags = ["--log-driver", "local"];
    let mut a = vec!["run", "-d"];
    a.extend_from_slice(&net);
    a.extend_from_slice(&flags);
    a.extend_from_slice(&["bb-logs", "sh", "-c", script]);
    let did = docker.docker(&a).ok().stdout.trim().to_string();
    docker.docker(&["wait", &did]);
    let d = &docker.docker(&["inspect", &did]).json()[0];
    assert_eq!(d["HostConfig"]["LogConfig"]["Type"], "local");
    let data_root = docker
        .docker(&["info", "-f", "{{.DockerRootDir}}"])
        .ok()
        .stdout;
    let theirs = std::fs::read(
        Path::new(data_root.trim())
            .join("containers")
            .join(&did)
            .join("local-logs/container.log"),
    )
    .unwrap();
    let ours = run_to_end(&rig, &flags, script);
    let ours = std::fs::read(container_dir(&rig, &ours).join("local-logs/container.log")).unwrap();
    let entries = |data: &[u8]| {
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let n = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            assert_eq!(
                data[at + 4 + n..at + 8 + n],
                data[at..at + 4],
                "the length after"
            );
            let e = berth::container::logdriver::decode_local(&data[at + 4..at + 4 + n]).unwrap();
            assert!(e.time_nano > 0);
            out.push((e.source, e.line, e.partial, e.last, e.ordinal, e.id.len()));
            at += n + 8;
        }
        out
    };
    let (mut t, mut o) = (entries(&theirs), entries(&ours));
    // stdout and stderr are two pipes: their entries' order between them is not the point.
    t.sort();
    o.sort();
    assert_eq!(o, t);

    // What inspect records, and what logs show.
    let script = "echo hi; echo err >&2; sleep 0.5; printf partial";
    for flags in [
        &[
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "max-file=3",
            "--log-opt",
            "compress=true",
        ][..],
        &["--log-driver", "local"],
        &[
            "--log-driver",
            "local",
            "--log-opt",
            "max-size=10k",
            "--log-opt",
            "compress=false",
            "--log-opt",
            "max-file=2",
        ],
        &["--log-driver", "none"],
        &[],
    ] {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(&net);
        a.extend_from_slice(flags);
        a.extend_from_slice(&["bb-logs", "sh", "-c", script]);
        let out = docker.docker(&a);
        assert_eq!(out.code, 0, "docker {a:?}: {out:#?}");
        let did = out.stdout.trim().to_string();
        docker.docker(&["wait", &did]);
        let d = &docker.docker(&["inspect", &did]).json()[0];
        let ours = run_to_end(&rig, flags, script);
        let b = rig.inspect(&ours);
        assert_eq!(
            b["HostConfig"]["LogConfig"], d["HostConfig"]["LogConfig"],
            "{flags:?}"
        );
        assert_eq!(
            b["LogPath"].as_str().unwrap().is_empty(),
            d["LogPath"].as_str().unwrap().is_empty(),
            "{flags:?}"
        );
        let dl = docker.docker(&["logs", &did]);
        let bl: Out = timed(rig.env.cmd("ctr-logs").arg(&ours), 20);
        if flags.contains(&"none") {
            let msg = "configured logging driver does not support reading";
            assert!(dl.code == 1 && dl.stderr.contains(msg), "{dl:#?}");
            assert!(bl.code == 1 && bl.stderr.contains(msg), "{bl:#?}");
            docker.docker(&["rm", "-f", &did]);
            continue;
        }
        assert_eq!(
            (bl.code, &bl.stdout, &bl.stderr),
            (dl.code, &dl.stdout, &dl.stderr),
            "{flags:?}"
        );
        let dl = docker.docker(&["logs", "--tail", "1", &did]);
        let bl = timed(rig.env.cmd("ctr-logs").args(["--tail", "1", &ours]), 20);
        assert_eq!(
            (&bl.stdout, &bl.stderr),
            (&dl.stdout, &dl.stderr),
            "{flags:?} --tail 1"
        );
        docker.docker(&["rm", "-f", &did]);
    }
}
