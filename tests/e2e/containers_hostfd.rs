//! Issue 13: what the host-side tools hand a container and leave behind. `ctr-exec` gives the
//! process pipes it relays (never the caller's own descriptors, which the container could reopen
//! through /proc/self/fd), `berth-monitor` keeps nothing of its caller (descriptors, working
//! directory), and the next command finishes what a dead monitor of an `--rm` container left
//! (mount, cgroup, lease, anonymous volumes, directory), as a failed `--rm` start does at once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::containers::{cgroup_dirs, mount_points, timed, wait_until, Rig, IMAGE};
use crate::support::{bin_dir, Out};

/// `sh -c SCRIPT` with this root and the tools first on PATH, from `cwd` (the test's temporary
/// directory when None), bounded to `secs`.
fn shell_in(rig: &Rig, cwd: Option<&Path>, script: &str, secs: u64) -> Out {
    // Enter the tests' own network namespace first, as every container tool of the rig does.
    drop(rig.cmd("ctr-ls"));
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .env("BERTH_ROOT", &rig.root)
        .env("PATH", path)
        .env_remove("XDG_DATA_HOME")
        .current_dir(cwd.unwrap_or(rig.tmp.path()))
        .stdin(Stdio::null());
    timed(&mut c, secs)
}

fn shell(rig: &Rig, script: &str) -> Out {
    shell_in(rig, None, script, 60)
}

/// A host file only root can change, with `content`.
fn read_only_file(rig: &Rig, name: &str, content: &str) -> String {
    let p = rig.path(name);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
    p.to_string_lossy().into_owned()
}

fn state(rig: &Rig, id: &str) -> Value {
    let p = rig.root.join("containers").join(id).join("state.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn pid_of(rig: &Rig, id: &str, key: &str) -> i32 {
    let pid = state(rig, id)["State"][key].as_i64().unwrap_or(0) as i32;
    assert!(pid > 0, "no {key} in the record of {id}");
    pid
}

fn kill9(pid: i32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
    assert!(
        wait_until(20, || !alive(pid)),
        "process {pid} survived SIGKILL"
    );
}

/// Whether `pid` is a process that is not a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------------
// ctr-exec's stdio

/// Scripts that try to write the file behind the process's stdin.
const WRITE_STDIN: [&str; 3] = [
    "echo pwned > /proc/self/fd/0",
    "exec 3<>/proc/self/fd/0; echo pwned >&3",
    "echo pwned >> /proc/self/fd/0; : > /proc/self/fd/0",
];

fn assert_stdin_unchanged(rig: &Rig, id: &str, flags: &str, runtime: &str) {
    let file = read_only_file(rig, &format!("input-{runtime}"), "original\n");
    for script in WRITE_STDIN {
        shell(
            rig,
            &format!("ctr-exec {flags} {id} sh -c '{script}' < {file}"),
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "original\n",
            "{runtime}: `ctr-exec {flags} … {script}` changed the host file behind its stdin"
        );
    }
}

#[test]
fn exec_cannot_write_the_read_only_host_file_given_as_its_stdin() {
    require_root!();
    let rig = Rig::new();
    let id = rig.detach(&[IMAGE, "sleep", "1000"]);
    assert_stdin_unchanged(&rig, &id, "-i", "builtin");
    assert_stdin_unchanged(&rig, &id, "", "builtin");
    let file = read_only_file(&rig, "data", "relayed\n");
    // With -i the process reads our stdin through a pipe; without, it has /dev/null.
    let out = shell(
        &rig,
        &format!("ctr-exec -i {id} readlink /proc/self/fd/0 < {file}"),
    )
    .ok();
    assert!(out.stdout.starts_with("pipe:["), "{out:?}");
    let out = shell(&rig, &format!("ctr-exec -i {id} cat < {file}")).ok();
    assert_eq!(out.stdout, "relayed\n");
    let out = shell(
        &rig,
        &format!("ctr-exec {id} readlink /proc/self/fd/0 < {file}"),
    )
    .ok();
    assert_eq!(out.stdout, "/dev/null\n");
    let out = shell(&rig, &format!("ctr-exec {id} cat < {file}")).ok();
    assert_eq!(out.stdout, "");
}

#[test]
fn exec_cannot_read_or_truncate_the_host_file_its_stdout_appends_to() {
    require_root!();
    let rig = Rig::new();
    let id = rig.detach(&[IMAGE, "sleep", "1000"]);
    let log = rig.path("appended");
    let errs = rig.path("errors");
    std::fs::write(&log, "secret\n").unwrap();
    // The process sees pipes; reading one back finds nothing of the host file (cat waits on
    // the empty pipe until `timeout` ends it), truncating it truncates nothing.
    let script = "readlink /proc/$$/fd/1 >&2; readlink /proc/$$/fd/2 >&2; \
                  timeout 1 cat /proc/self/fd/1 >&2; \
                  : > /proc/self/fd/1; : > /proc/self/fd/2; echo out; echo err >&2; exit 3";
    let out = shell(
        &rig,
        &format!(
            "ctr-exec {id} sh -c '{script}' >> {} 2>> {}",
            log.display(),
            errs.display()
        ),
    );
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "secret\nout\n");
    let err = std::fs::read_to_string(&errs).unwrap();
    assert_eq!(err.matches("pipe:[").count(), 2, "{err:?}");
    assert!(!err.contains("secret"), "read the host file back: {err:?}");
    assert!(err.ends_with("err\n"), "{err:?}");
}

#[test]
fn exec_relays_bytes_streams_eof_codes_and_detaches() {
    require_root!();
    let rig = Rig::new();
    let id = rig.detach(&[IMAGE, "sleep", "1000"]);
    // Binary output, byte for byte, stdout and stderr apart.
    let bin = rig.path("out.bin");
    let sums = rig.path("sums");
    shell(
        &rig,
        &format!(
            "ctr-exec {id} sh -c 'head -c 3000000 /dev/urandom > /tmp/blob; \
             sha256sum /tmp/blob >&2; cat /tmp/blob' > {} 2> {}",
            bin.display(),
            sums.display()
        ),
    )
    .ok();
    let data = std::fs::read(&bin).unwrap();
    assert_eq!(data.len(), 3_000_000);
    let hex: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sums = std::fs::read_to_string(&sums).unwrap();
    assert_eq!(
        sums.split_whitespace().next(),
        Some(hex.as_str()),
        "{sums:?}"
    );
    // The caller's stdin ends: the process's does (-i); without -i it has none.
    let out = shell(
        &rig,
        &format!("printf 'one\\ntwo' | ctr-exec -i {id} sh -c 'cat; echo; echo after-eof'"),
    )
    .ok();
    assert_eq!(out.stdout, "one\ntwo\nafter-eof\n");
    let out = shell(&rig, &format!("printf data | ctr-exec {id} cat")).ok();
    assert_eq!(out.stdout, "");
    // Exit code and streams.
    let out = shell(
        &rig,
        &format!("ctr-exec {id} sh -c 'echo o; echo e >&2; exit 7'"),
    );
    assert_eq!((out.code, out.stdout.as_str()), (7, "o\n"), "{out:?}");
    assert_eq!(out.stderr, "e\n");
    // Detached: /dev/null for all three, whatever the caller had.
    let file = read_only_file(&rig, "detached-input", "original\n");
    shell(
        &rig,
        &format!(
            "ctr-exec -d -i {id} sh -c 'a=$(readlink /proc/$$/fd/0); \
             b=$(readlink /proc/$$/fd/1); c=$(readlink /proc/$$/fd/2); \
             echo $a $b $c > /tmp/fds.tmp; mv /tmp/fds.tmp /tmp/fds' < {file} >> {file}"
        ),
    )
    .ok();
    let mut fds = String::new();
    assert!(
        wait_until(20, || {
            fds = rig.t("ctr-exec", &[&id, "cat", "/tmp/fds"], 20).stdout;
            !fds.is_empty()
        }),
        "the detached process never wrote"
    );
    assert_eq!(fds, "/dev/null /dev/null /dev/null\n");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "original\n");
}

#[test]
fn exec_through_runc_gets_pipes_too() {
    require_root!();
    require_program!("runc");
    let rig = Rig::new();
    let id = rig.detach(&["--runtime", "runc", IMAGE, "sleep", "1000"]);
    assert_stdin_unchanged(&rig, &id, "-i", "runc");
    let file = read_only_file(&rig, "data", "relayed\n");
    let out = shell(
        &rig,
        &format!(
            "ctr-exec -i {id} sh -c 'readlink /proc/self/fd/0; readlink /proc/self/fd/1; cat' \
             < {file}"
        ),
    )
    .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(
        lines[..2].iter().all(|l| l.starts_with("pipe:[")),
        "{out:?}"
    );
    assert_eq!(lines[2], "relayed");
    let out = shell(&rig, &format!("ctr-exec {id} sh -c 'echo e >&2; exit 4'"));
    assert_eq!((out.code, out.stderr.as_str()), (4, "e\n"), "{out:?}");
    assert_eq!(
        shell(&rig, &format!("ctr-exec {id} no-such-command")).code,
        127
    );
}

#[test]
fn run_and_start_attached_give_the_container_the_monitors_pipes() {
    require_root!();
    let rig = Rig::new();
    // The container's stdio is the monitor's (pipes, /dev/null without -i), whatever the
    // attached tool's own descriptors are.
    for script in WRITE_STDIN {
        let file = read_only_file(&rig, "run-input", "original\n");
        shell(
            &rig,
            &format!("ctr-run -i --rm {IMAGE} sh -c '{script}' < {file}"),
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "original\n",
            "{script}"
        );
    }
    let file = read_only_file(&rig, "input", "original\n");
    let out_file = rig.path("appended");
    std::fs::write(&out_file, "secret\n").unwrap();
    let fds = "a=$(readlink /proc/$$/fd/0); b=$(readlink /proc/$$/fd/1); \
               c=$(readlink /proc/$$/fd/2); echo $a $b $c; : > /proc/$$/fd/1";
    let out = shell(
        &rig,
        &format!(
            "ctr-run -i --rm {IMAGE} sh -c '{fds}' < {file} >> {}",
            out_file.display()
        ),
    )
    .ok();
    let seen = std::fs::read_to_string(&out_file).unwrap();
    let words: Vec<&str> = seen.lines().nth(1).unwrap_or("").split(' ').collect();
    assert_eq!(seen.lines().next(), Some("secret"), "{seen:?} {out:?}");
    assert_eq!(words.len(), 3, "{seen:?}");
    assert!(words.iter().all(|w| w.starts_with("pipe:[")), "{seen:?}");
    let id = rig
        .t("ctr-create", &[IMAGE, "sh", "-c", fds], 30)
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = shell(&rig, &format!("ctr-start -a {id} < {file}")).ok();
    assert!(out.stdout.starts_with("/dev/null pipe:["), "{out:?}");
}

// ---------------------------------------------------------------------------------------------
// berth-monitor

#[test]
fn monitor_keeps_no_caller_descriptor_and_works_from_root() {
    require_root!();
    let rig = Rig::new();
    let cwd = rig.path("caller-dir");
    std::fs::create_dir(&cwd).unwrap();
    // The caller reads the container's ID from fd 3 of a command substitution: it must end as
    // ctr-run does, not when the container does. The root is relative to the caller's
    // directory. (The bound fails the test long before the container's 1000 s.)
    let out = shell_in(
        &rig,
        Some(&cwd),
        &format!(
            "exec 7</etc/hostname; \
             x=$(BERTH_ROOT=../root ctr-run -d {IMAGE} sh -c 'echo hello; sleep 1000' \
             3>&1 >/dev/null); echo done",
        ),
        30,
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, "done\n"), "{out:?}");
    let id = rig.only();
    let dir = rig.root.join("containers").join(&id);
    let monitor = pid_of(&rig, &id, "MonitorPid");
    let cwd_link = std::fs::read_link(format!("/proc/{monitor}/cwd")).unwrap();
    assert_eq!(cwd_link, Path::new("/"));
    let mut links = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{monitor}/fd"))
        .unwrap()
        .flatten()
    {
        let fd: i32 = e.file_name().to_string_lossy().parse().unwrap();
        let target = std::fs::read_link(e.path()).unwrap_or_default();
        links.push((fd, target.to_string_lossy().into_owned()));
    }
    for (fd, target) in &links {
        let expected = target == "/dev/null"
            || ["pipe:[", "socket:[", "anon_inode:"]
                .iter()
                .any(|p| target.starts_with(p))
            || Path::new(target).starts_with(&dir);
        assert!(expected, "monitor fd {fd} -> {target}: {links:?}");
    }
    for fd in 0..=2 {
        assert!(
            links.contains(&(fd, "/dev/null".to_string())),
            "stdio is /dev/null: {links:?}"
        );
    }
    // It works from /, with the root it was given made absolute: the log is written.
    rig.wait_logs(&id, "hello", 1, 20);
}

// ---------------------------------------------------------------------------------------------
// A dead monitor's --rm container, and a failed --rm start

/// Nothing of container `id` is left: record, directory, mount, cgroup, network lease, volume.
fn assert_all_gone(rig: &Rig, id: &str, after: &str) {
    assert!(
        !rig.root.join("containers").join(id).exists(),
        "{after}: the container's directory stayed"
    );
    let listed = rig.t("ctr-ls", &["-a", "-q", "--no-trunc"], 20).ok().stdout;
    assert!(!listed.contains(id), "{after}: still listed: {listed}");
    let mounts: Vec<String> = mount_points()
        .into_iter()
        .filter(|m| m.contains(id))
        .collect();
    assert!(mounts.is_empty(), "{after}: mounts stayed: {mounts:?}");
    let cgroups = cgroup_dirs(id);
    assert!(cgroups.is_empty(), "{after}: cgroups stayed: {cgroups:?}");
    let leases = std::fs::read_to_string(rig.root.join("networks/leases.json")).unwrap_or_default();
    assert!(!leases.contains(id), "{after}: lease stayed: {leases}");
    let vols = rig.t("vol-ls", &["-q"], 20).ok().stdout;
    assert_eq!(vols.trim(), "", "{after}: anonymous volume stayed");
}

#[test]
fn a_dead_monitors_rm_container_is_removed_by_the_next_command() {
    require_root!();
    let rig = Rig::new();
    let commands: [&[&str]; 5] = [
        &["ctr-ls", "-a"],
        &["ctr-run", "--rm", IMAGE, "true"],
        &["ctr-create", "--name", "other", IMAGE, "true"],
        &["ctr-rm", "other"],
        &["ctr-prune", "-f"],
    ];
    for (i, cmd) in commands.iter().enumerate() {
        let id = rig.detach(&["--rm", "-v", "/data", IMAGE, "sleep", "1000"]);
        assert_eq!(rig.t("vol-ls", &["-q"], 20).ok().stdout.lines().count(), 1);
        assert!(!cgroup_dirs(&id).is_empty(), "no cgroup to check for");
        let init = pid_of(&rig, &id, "Pid");
        kill9(pid_of(&rig, &id, "MonitorPid"));
        if i % 2 == 0 {
            // The init with it.
            kill9(init);
        } else {
            // The init lives on: the container runs (unmonitored) until it is stopped.
            let st = rig.t("ctr-inspect", &[&id], 20).ok().json();
            assert_eq!(st[0]["State"]["Status"], "running", "{st}");
            rig.t("ctr-kill", &[&id], 20).ok();
            assert!(
                wait_until(20, || !alive(init)),
                "the init survived ctr-kill"
            );
        }
        let out = rig.t(cmd[0], &cmd[1..], 60);
        assert_eq!(out.code, 0, "{cmd:?}: {out:?}");
        assert_all_gone(&rig, &id, &format!("{cmd:?}"));
    }
    // Without --rm it is recorded as exited, and stays.
    let id = rig.detach(&[IMAGE, "sleep", "1000"]);
    kill9(pid_of(&rig, &id, "MonitorPid"));
    kill9(pid_of(&rig, &id, "Pid"));
    rig.t("ctr-ls", &["-a"], 20).ok();
    let st = state(&rig, &id);
    assert_eq!(st["State"]["Status"], "exited", "{st}");
    assert_eq!(st["State"]["ExitCode"], 255, "{st}");
    rig.t("ctr-rm", &[&id], 30).ok();
}

#[test]
fn a_failed_rm_start_leaves_no_anonymous_volume() {
    require_root!();
    let rig = Rig::new();
    rig.run(&["--rm", "-v", "/data", IMAGE, "no-such-command"])
        .fails_with(127, "no-such-command");
    assert!(rig.ids().is_empty(), "{:?}", rig.ids());
    assert_eq!(rig.t("vol-ls", &["-q"], 20).ok().stdout, "");
    rig.run(&["-d", "--rm", "-v", "/data", IMAGE, "/etc/passwd"])
        .fails_with(126, "/etc/passwd");
    assert!(rig.ids().is_empty(), "{:?}", rig.ids());
    assert_eq!(rig.t("vol-ls", &["-q"], 20).ok().stdout, "");
    // ctr-start of a created --rm container, as docker start; a named volume stays.
    let id = rig
        .t(
            "ctr-create",
            &[
                "--rm",
                "-v",
                "/data",
                "-v",
                "kept:/kept",
                IMAGE,
                "no-such-command",
            ],
            30,
        )
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rig.t("vol-ls", &["-q"], 20).ok().stdout.lines().count(), 2);
    rig.t("ctr-start", &["-a", &id], 60)
        .fails_with(127, "no-such-command");
    assert!(rig.ids().is_empty(), "{:?}", rig.ids());
    assert_eq!(rig.t("vol-ls", &["-q"], 20).ok().stdout, "kept\n");
    // Without --rm the container stays, created, as Docker leaves it.
    rig.run(&["-v", "/data", IMAGE, "no-such-command"])
        .fails_with(127, "no-such-command");
    assert_eq!(rig.ids().len(), 1);
}
