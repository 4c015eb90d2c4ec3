//! Issue 19 (first part): `berth-runtime`, runc's command line on berth's runtime. Each
//! scenario runs against `/usr/sbin/runc` and against `berth-runtime` on the same bundle, and
//! what a caller (containerd's runc shim) reads back is compared: exit codes, output, the pid
//! file, the state JSON, the errors it matches ("does not exist", "container not running"),
//! and what is left behind (state directories, cgroups, processes). A case where runc passes
//! and berth fails is a berth bug.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::rig::{timed, wait_until};
use crate::support::{bin, busybox_rootfs, have, Out};

/// A bundle for `id` in `dir`: busybox, the spec runc's `spec` writes, with `args`, no
/// terminal, and a cgroup of our own (so that leftovers can be looked for).
pub(crate) fn bundle(dir: &Path, id: &str, args: &[&str]) -> PathBuf {
    let b = dir.join(format!("bundle-{id}"));
    busybox_rootfs(&b.join("rootfs"));
    let out = Command::new("runc")
        .arg("spec")
        .current_dir(&b)
        .output()
        .expect("runc spec");
    assert!(out.status.success(), "{out:?}");
    let mut spec: Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    spec["process"]["terminal"] = Value::Bool(false);
    spec["root"]["readonly"] = Value::Bool(false);
    spec["process"]["args"] = serde_json::json!(args);
    spec["linux"]["cgroupsPath"] = Value::String(format!("/berth-rtcli/{id}"));
    std::fs::write(
        b.join("config.json"),
        serde_json::to_vec_pretty(&spec).unwrap(),
    )
    .unwrap();
    b
}

/// One runtime under test: its binary, a state root of its own, a --log file.
pub(crate) struct Rt {
    pub(crate) bin: PathBuf,
    pub(crate) root: PathBuf,
    pub(crate) log: PathBuf,
}

impl Rt {
    pub(crate) fn new(bin: PathBuf, dir: &Path, name: &str) -> Rt {
        Rt {
            bin,
            root: dir.join(format!("root-{name}")),
            log: dir.join(format!("log-{name}.json")),
        }
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    pub(crate) fn run(&self, args: &[&str]) -> Out {
        timed(&mut self.cmd(args), 60)
    }

    pub(crate) fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.run(&["state", id]).stdout).unwrap_or(Value::Null)
    }

    /// The last error line of --log.
    pub(crate) fn last_error(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .rfind(|v| v["level"] == "error")
            .map(|v| v["msg"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    }
}

/// The cgroup directories of container `id` (cgroupsPath `/berth-rtcli/<id>`) that exist, in
/// every hierarchy mounted under /sys/fs/cgroup (v1's, and v2's unified one).
pub(crate) fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("berth-rtcli").join(id))
        .collect();
    dirs.push(Path::new("/sys/fs/cgroup/berth-rtcli").join(id));
    dirs.retain(|p| p.is_dir());
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Kills what is left in the test's cgroups and removes them (a failed test, or a runtime
/// that left something: the assertions say which).
pub(crate) struct Cleanup(pub(crate) Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.0 {
            for dir in cgroups_of(id) {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for p in procs.lines() {
                    let _ = Command::new("kill").args(["-9", p]).status();
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            for dir in cgroups_of(id) {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

/// The Cleanup of a test whose scenario runs once per runtime, with ids `PREFIX-runc` and
/// `PREFIX-berth`.
pub(crate) fn both(prefixes: &[&str]) -> Cleanup {
    Cleanup(
        prefixes
            .iter()
            .flat_map(|p| [format!("{p}-runc"), format!("{p}-berth")])
            .collect(),
    )
}

/// A scenario run against runc and then berth-runtime (each with its own state root and log
/// in one temporary directory, named `runc` and `berth`): what each saw, runc's first. The
/// containers named by `prefixes` are cleaned up whatever happens.
pub(crate) fn views(
    prefixes: &[&str],
    scenario: fn(&Rt, &Path, &str) -> Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = both(prefixes);
    let want = scenario(&runc, dir.path(), "runc");
    let got = scenario(&berth, dir.path(), "berth");
    (want, got)
}

/// [`views`], which must be equal: berth's.
pub(crate) fn same_views(
    prefixes: &[&str],
    scenario: fn(&Rt, &Path, &str) -> Vec<String>,
) -> Vec<String> {
    let (want, got) = views(prefixes, scenario);
    assert_eq!(want, got, "runc (left) and berth (right) differ");
    got
}

/// Each of `lines` is one of the lines of `got`.
pub(crate) fn assert_has(got: &[String], lines: &[&str]) {
    for line in lines {
        assert!(got.iter().any(|l| l == line), "{line:?} in {got:#?}");
    }
}

/// Rewrites the bundle's config.json with `f`.
pub(crate) fn edit_spec(b: &Path, f: impl FnOnce(&mut Value)) {
    let path = b.join("config.json");
    let mut spec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut spec);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
}

/// Kills and deletes `id` as the shim does (kill --all, then delete --force).
pub(crate) fn take_down(rt: &Rt, id: &str) {
    rt.run(&["kill", "--all", id, "9"]);
    wait_until(10, || rt.state(id)["status"] != "running");
    rt.run(&["delete", "--force", id]);
}

/// The namespace link `/proc/PID/ns/NS` points to.
pub(crate) fn ns_link(pid: i32, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// What the shim sees of one lifecycle: (step, exit code, what it reads), normalised so that
/// the two runtimes can be compared.
fn lifecycle(rt: &Rt, dir: &Path, id: &str) -> Vec<(String, i32, String)> {
    let b = bundle(dir, id, &["sh", "-c", "echo hi; exec sleep 100"]);
    let pid_file = b.join("init.pid");
    let out_file = dir.join(format!("out-{id}"));
    let mut steps = Vec::new();
    let mut c = rt.cmd(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
    ]);
    // The container's stdout is the caller's: a file here.
    c.stdout(std::fs::File::create(&out_file).unwrap());
    let status = c.status().expect("create");
    let pid_text = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let digits = !pid_text.is_empty() && pid_text.bytes().all(|b| b.is_ascii_digit());
    steps.push((
        "create".into(),
        status.code().unwrap_or(-1),
        format!("pid file digits only: {digits}"),
    ));
    let pid: i32 = pid_text.parse().unwrap_or(0);
    let st = rt.state(id);
    steps.push((
        "state".into(),
        0,
        format!("{} pid={}", st["status"], st["pid"] == pid),
    ));
    steps.push((
        "init in its cgroup".into(),
        0,
        std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map(|c| {
                c.lines()
                    .filter(|l| l.contains(&format!("/berth-rtcli/{id}")))
                    .count()
                    >= 4
            })
            .unwrap_or(false)
            .to_string(),
    ));
    let o = rt.run(&["start", id]);
    steps.push(("start".into(), o.code, String::new()));
    let said = wait_until(10, || {
        std::fs::read_to_string(&out_file).unwrap_or_default() == "hi\n"
    });
    steps.push(("output through fd 1".into(), 0, said.to_string()));
    let st = rt.state(id);
    steps.push(("state".into(), 0, st["status"].to_string()));
    let o = rt.run(&["start", id]);
    steps.push((
        "second start fails".into(),
        (o.code != 0) as i32,
        String::new(),
    ));
    let o = rt.run(&["ps", "--format", "json", id]);
    let pids: Vec<i32> = serde_json::from_str(&o.stdout).unwrap_or_default();
    steps.push(("ps".into(), o.code, pids.contains(&pid).to_string()));
    let o = rt.run(&["pause", id]);
    steps.push(("pause".into(), o.code, rt.state(id)["status"].to_string()));
    let o = rt.run(&["resume", id]);
    steps.push(("resume".into(), o.code, rt.state(id)["status"].to_string()));
    let o = rt.run(&["delete", id]);
    steps.push((
        "delete running".into(),
        o.code,
        o.stderr.contains("not stopped").to_string(),
    ));
    let o = rt.run(&["kill", id, "KILL"]);
    steps.push(("kill KILL".into(), o.code, String::new()));
    let gone = wait_until(10, || rt.state(id)["status"] == "stopped");
    let st = rt.state(id);
    steps.push(("stopped".into(), 0, format!("{gone} pid={}", st["pid"])));
    let o = rt.run(&["kill", id, "9"]);
    steps.push((
        "kill stopped".into(),
        o.code,
        o.stderr.contains("container not running").to_string(),
    ));
    let o = rt.run(&["kill", "--all", id, "9"]);
    steps.push(("kill --all stopped".into(), o.code, String::new()));
    let o = rt.run(&["delete", id]);
    steps.push(("delete".into(), o.code, String::new()));
    steps.push((
        "no cgroup left".into(),
        0,
        cgroups_of(id).is_empty().to_string(),
    ));
    steps.push((
        "no state left".into(),
        0,
        (!rt.root.join(id).exists()).to_string(),
    ));
    for verb in ["state", "delete", "kill"] {
        let o = rt.run(&[verb, id]);
        steps.push((
            format!("{verb} missing"),
            o.code,
            o.stderr.contains("does not exist").to_string(),
        ));
    }
    steps.push((
        "log names the cause".into(),
        0,
        rt.last_error().contains("does not exist").to_string(),
    ));
    let o = rt.run(&["delete", "--force", id]);
    steps.push(("delete --force missing".into(), o.code, String::new()));
    steps
}

pub(crate) fn runtimes(dir: &Path) -> (Rt, Rt) {
    (
        Rt::new(PathBuf::from("runc"), dir, "runc"),
        Rt::new(bin("berth-runtime"), dir, "berth"),
    )
}

#[test]
fn lifecycle_answers_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = Cleanup(vec!["rtc-runc".into(), "rtc-berth".into()]);
    let want = lifecycle(&runc, dir.path(), "rtc-runc");
    let got = lifecycle(&berth, dir.path(), "rtc-berth");
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "runc {want:#?}\nberth {got:#?}");
    }
    assert_eq!(want.len(), got.len());
    // The answers themselves (runc's, which berth's equal).
    let get = |step: &str| got.iter().find(|s| s.0 == step).unwrap().clone();
    assert_eq!(
        get("create"),
        ("create".into(), 0, "pid file digits only: true".into())
    );
    assert_eq!(get("kill stopped").1, 1);
    assert_eq!(get("kill --all stopped").1, 0);
    assert_eq!(get("delete --force missing").1, 0);
    assert_eq!(get("no cgroup left").2, "true");
}

/// `run` waits and exits with the container's code (3 → 3), as runc; a
/// process that cannot be found fails create with runc's words in the log.
#[test]
fn run_exit_codes_and_failed_create_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = both(&["ex3", "nx"]);
    for (rt, name) in [(&runc, "runc"), (&berth, "berth")] {
        let b = bundle(dir.path(), &format!("ex3-{name}"), &["sh", "-c", "exit 3"]);
        let o = rt.run(&[
            "run",
            "--bundle",
            b.to_str().unwrap(),
            &format!("ex3-{name}"),
        ]);
        assert_eq!(o.code, 3, "{name}: {o:?}");
        let id = format!("nx-{name}");
        let b = bundle(dir.path(), &id, &["/nonexistent"]);
        let o = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
        assert_ne!(o.code, 0, "{name}: {o:?}");
        assert!(
            rt.last_error().contains("/nonexistent"),
            "{name}: {}",
            rt.last_error()
        );
        assert_eq!(rt.run(&["delete", "--force", &id]).code, 0, "{name}");
        assert!(cgroups_of(&id).is_empty(), "{name}: {:?}", cgroups_of(&id));
    }
}

/// `exec --process F --detach --pid-file P` runs the process in the container; `--version` is
/// runc-shaped (dockerd parses `NAME version X`).
#[test]
fn exec_detached_and_version_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = Cleanup(vec!["ex-runc".into(), "ex-berth".into()]);
    for (rt, name) in [(&runc, "runc"), (&berth, "berth")] {
        let id = format!("ex-{name}");
        let b = bundle(dir.path(), &id, &["sleep", "100"]);
        assert_eq!(
            rt.run(&["create", "--bundle", b.to_str().unwrap(), &id])
                .code,
            0
        );
        assert_eq!(rt.run(&["start", &id]).code, 0);
        let spec: Value =
            serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
        let mut p = spec["process"].clone();
        p["args"] = serde_json::json!(["sh", "-c", "echo fromexec > /tmp/x"]);
        let pf = dir.path().join(format!("process-{name}.json"));
        std::fs::write(&pf, p.to_string()).unwrap();
        let pid_file = dir.path().join(format!("exec-{name}.pid"));
        let o = rt.run(&[
            "exec",
            "--process",
            pf.to_str().unwrap(),
            "--detach",
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ]);
        assert_eq!(o.code, 0, "{name}: {o:?}");
        let text = std::fs::read_to_string(&pid_file).unwrap_or_default();
        assert!(text.parse::<i32>().is_ok(), "{name}: pid file {text:?}");
        assert!(
            wait_until(10, || std::fs::read_to_string(b.join("rootfs/tmp/x"))
                .is_ok_and(|t| t == "fromexec\n")),
            "{name}"
        );
        assert_eq!(rt.run(&["kill", &id, "KILL"]).code, 0, "{name}");
        assert!(
            wait_until(10, || rt.state(&id)["status"] == "stopped"),
            "{name}"
        );
        assert_eq!(rt.run(&["delete", &id]).code, 0, "{name}");
        assert!(cgroups_of(&id).is_empty(), "{name}: {:?}", cgroups_of(&id));
        let v = timed(Command::new(&rt.bin).arg("--version"), 20).ok();
        let first = v.stdout.lines().next().unwrap_or("");
        assert!(first.contains(" version "), "{name}: {first}");
    }
}

/// `spec` writes runc's starter config.json byte for byte (and with `--rootless` runc's
/// rootless one, for this user), and neither overwrites an existing one.
#[test]
fn spec_writes_runcs_starter_config() {
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    for flags in [&[][..], &["--rootless"][..]] {
        let mut written = Vec::new();
        for (name, bin) in [
            ("runc", PathBuf::from("runc")),
            ("berth", bin("berth-runtime")),
        ] {
            let b = dir.path().join(format!("{name}{}", flags.len()));
            std::fs::create_dir(&b).unwrap();
            let o = timed(
                Command::new(&bin)
                    .arg("spec")
                    .args(flags)
                    .arg("--bundle")
                    .arg(&b),
                30,
            );
            assert_eq!(o.code, 0, "{name} {flags:?}: {o:?}");
            written.push(std::fs::read(b.join("config.json")).unwrap());
            let again = timed(Command::new(&bin).arg("spec").arg("--bundle").arg(&b), 30);
            assert_eq!(again.code, 1, "{name}: {again:?}");
            assert!(
                again
                    .stderr
                    .contains("File config.json exists. Remove it first"),
                "{name}: {again:?}"
            );
        }
        assert_eq!(
            String::from_utf8_lossy(&written[0]),
            String::from_utf8_lossy(&written[1]),
            "{flags:?}: runc (left) and berth (right) differ"
        );
    }
}

/// An ID that is not a plain name is refused by every command, as runc refuses it ("invalid
/// container ID format"), before anything is written: `../esc` with a cgroupsPath of its own
/// would otherwise put the state beside the state root.
#[test]
fn ids_that_are_paths_are_refused_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = Cleanup(vec!["badid-runc".into(), "badid-berth".into()]);
    for (rt, name) in [(&runc, "runc"), (&berth, "berth")] {
        let b = bundle(dir.path(), &format!("badid-{name}"), &["true"]);
        for id in ["../esc", "a/b", ".", "..", "a b", "x\ny"] {
            let o = rt.run(&["create", "--bundle", b.to_str().unwrap(), id]);
            assert_eq!(o.code, 1, "{name} create {id:?}: {o:?}");
            assert!(
                rt.last_error().contains("invalid container ID format"),
                "{name} {id:?}: {}",
                rt.last_error()
            );
            for verb in [&["state"][..], &["kill"], &["delete"], &["start"]] {
                let mut args = verb.to_vec();
                args.push(id);
                assert_eq!(rt.run(&args).code, 1, "{name} {args:?}");
            }
        }
        assert!(
            !dir.path().join("esc").exists(),
            "{name}: state outside its root"
        );
        assert!(cgroups_of(&format!("badid-{name}")).is_empty(), "{name}");
    }
}
