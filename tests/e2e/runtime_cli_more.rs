//! Issue 19: more of runc's contract (../shared/runtime-cli/README.md §6), each scenario run
//! against `/usr/sbin/runc` and `berth-runtime` and what the caller reads compared: the console
//! socket for create and exec, with consoleSize (criterion 6), a child-subreaper caller's waitpid
//! and no runtime process left behind (4), stdio passed through and fd 3 not (5), what
//! `exec --process` and the inline form honour, and execs that cannot run (7), kill's signal
//! forms and numbers (8), delete of created and paused containers (9), the state JSON in every
//! state (10), ps with exec'd processes, pause and resume (runc pauses a created container too)
//! (11), `update --resources` read back from the cgroup files (12), the init in its cgroups
//! (13), global flags, usage errors, a duplicate ID, bad bundles and failed creates that leave
//! nothing (1, 2, 14), and the init's own profile, devices and mounts.
//!
//! Where berth differs on purpose it is said at the comparison: oomScoreAdj of an exec'd process
//! (runc 1.1 ignores it), usage errors' exit code (berth's tools exit 2), the order of the mounts.

use std::io::{IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::runtime_cli::{
    assert_has, bundle, cgroups_of, edit_spec, ns_link, runtimes, same_views, take_down, views, Rt,
};
use crate::support::have;
use crate::support::rig::{timed, timed_input, wait_until};

fn create(rt: &Rt, b: &Path, id: &str, extra: &[&str]) -> i32 {
    let mut args = vec!["create", "--bundle", b.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push(id);
    let o = rt.run(&args);
    assert_eq!(o.code, 0, "{}: create {id}: {o:?}", rt.bin.display());
    rt.state(id)["pid"].as_i64().unwrap_or(0) as i32
}

/// The spec's process of bundle `b` with `f` applied, written to `dir/process-NAME.json`.
fn process_file(b: &Path, name: &str, f: impl FnOnce(&mut Value)) -> PathBuf {
    let spec: Value =
        serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    let mut p = spec["process"].clone();
    f(&mut p);
    let path = b.join(format!("process-{name}.json"));
    std::fs::write(&path, p.to_string()).unwrap();
    path
}

// ---- criterion 6: the console socket ----

/// One message from the console socket, as containerd's shim takes it: the payload (a name)
/// and the fds passed with SCM_RIGHTS. None when nothing connected.
fn receive_console(l: &UnixListener) -> Option<(String, Vec<OwnedFd>)> {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    l.set_nonblocking(true).unwrap();
    let (s, _) = l.accept().ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let n = recvmsg(
        &s,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .ok()?
    .bytes;
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(v) = m {
            fds.extend(v);
        }
    }
    Some((String::from_utf8_lossy(&buf[..n]).into_owned(), fds))
}

fn set_winsize(master: &OwnedFd, rows: u16, cols: u16) -> bool {
    let ws = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(master, ws).is_ok()
}

/// Writes a line to the master (the process waits for it with `read`), then reads what the
/// process prints until the slave side closes (EIO) or 10 s pass; the non-empty lines.
fn talk_to_master(master: &OwnedFd) -> Vec<String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut f = std::fs::File::from(master.try_clone().unwrap());
    let _ = f.write_all(b"go\n");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let mut pfd = [PollFd::new(
            std::os::fd::AsFd::as_fd(master),
            PollFlags::POLLIN,
        )];
        match poll(&mut pfd, PollTimeout::from(200u16)) {
            Ok(0) | Err(_) => continue,
            Ok(_) => {}
        }
        let mut buf = [0u8; 1024];
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty() && l != "go")
        .collect()
}

/// What the caller of create (terminal: true) and of `exec --detach` (a terminal process) reads
/// from the console socket and the master.
fn console(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let script = "read x; tty; stty size";
    let id = format!("con-{name}");
    let b = bundle(dir, &id, &["sh", "-c", script]);
    edit_spec(&b, |s| s["process"]["terminal"] = Value::Bool(true));
    let sock = dir.join(format!("con-{name}.sock"));
    let l = UnixListener::bind(&sock).unwrap();
    let o = rt.run(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    seen.push(format!("create {}", o.code));
    let msg = receive_console(&l);
    seen.push(describe_message(&msg));
    if let Some((_, fds)) = msg.filter(|m| m.1.len() == 1) {
        seen.push(format!("winsize set {}", set_winsize(&fds[0], 40, 120)));
        seen.push(format!("start {}", rt.run(&["start", &id]).code));
        seen.extend(talk_to_master(&fds[0]));
    }
    take_down(rt, &id);

    let id = format!("conx-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    create(rt, &b, &id, &[]);
    assert_eq!(rt.run(&["start", &id]).code, 0);
    let pf = process_file(&b, name, |p| {
        p["terminal"] = Value::Bool(true);
        p["args"] = json!(["sh", "-c", script]);
    });
    let sock = dir.join(format!("conx-{name}.sock"));
    let l = UnixListener::bind(&sock).unwrap();
    let o = rt.run(&[
        "exec",
        "--process",
        pf.to_str().unwrap(),
        "--detach",
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    seen.push(format!("exec {}", o.code));
    let msg = receive_console(&l);
    seen.push(describe_message(&msg));
    if let Some((_, fds)) = msg.filter(|m| m.1.len() == 1) {
        seen.push(format!("winsize set {}", set_winsize(&fds[0], 40, 120)));
        seen.extend(talk_to_master(&fds[0]));
    }
    // containerd puts the client's terminal size in the exec'd process's consoleSize.
    let pf = process_file(&b, "size", |p| {
        p["terminal"] = Value::Bool(true);
        p["consoleSize"] = json!({"height": 30, "width": 90});
        p["args"] = json!(["sh", "-c", "read x; stty size"]);
    });
    let sock = dir.join(format!("conz-{name}.sock"));
    let l = UnixListener::bind(&sock).unwrap();
    let o = rt.run(&[
        "exec",
        "--process",
        pf.to_str().unwrap(),
        "--detach",
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
    ]);
    seen.push(format!("exec with consoleSize {}", o.code));
    if let Some((_, fds)) = receive_console(&l).filter(|m| m.1.len() == 1) {
        seen.extend(talk_to_master(&fds[0]));
    }
    take_down(rt, &id);
    seen
}

fn describe_message(msg: &Option<(String, Vec<OwnedFd>)>) -> String {
    match msg {
        None => "no message".into(),
        Some((name, fds)) => {
            let is_pty = fds.first().is_some_and(|fd| {
                std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                    .is_ok_and(|p| p.to_string_lossy().contains("ptmx"))
            });
            format!(
                "payload {name:?} fds {} master is a ptmx {is_pty}",
                fds.len()
            )
        }
    }
}

#[test]
fn console_socket_for_create_and_exec_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["con", "conx"], console);
    let lines: Vec<&str> = got.iter().map(String::as_str).collect();
    assert_eq!(
        lines.iter().filter(|l| **l == "40 120").count(),
        2,
        "{lines:#?}"
    );
    assert!(
        lines.iter().filter(|l| l.starts_with("/dev/pts/")).count() == 2,
        "{lines:#?}"
    );
    assert_eq!(lines.last(), Some(&"30 90"), "consoleSize: {lines:#?}");
}

// ---- criterion 4: a child subreaper's waitpid ----

/// The caller as containerd's shim is: a child subreaper that runs the runtime's commands and
/// waitpid()s the container's processes. Steps (JSON): ["run", argv, label, pid file or null],
/// ["wait", pid file], ["kill9", pid file]. After each run it counts its children that are not
/// a container process named by a pid file: a runtime process left behind.
const HARNESS: &str = r#"
import ctypes, json, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(36, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
me = os.getpid()
known = set()
def children():
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        if int(s[s.rindex(")") + 2:].split()[1]) == me:
            kids.append(int(d))
    return kids
def pid_of(path):
    with open(path) as f:
        return int(f.read())
for st in json.loads(sys.argv[1]):
    if st[0] == "run":
        r = subprocess.run(st[1], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        if st[3]:
            known.add(pid_of(st[3]))
        extra = [k for k in children() if k not in known]
        print("%s: exit %d, other children %d" % (st[2], r.returncode, len(extra)), flush=True)
    elif st[0] == "kill9":
        os.kill(pid_of(st[1]), 9)
    elif st[0] == "wait":
        _, status = os.waitpid(pid_of(st[1]), 0)
        if os.WIFEXITED(status):
            print("waitpid: exited %d" % os.WEXITSTATUS(status), flush=True)
        else:
            print("waitpid: signaled %d" % os.WTERMSIG(status), flush=True)
"#;

fn subreaper(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let base = |args: &[&str]| -> Vec<String> {
        let mut v = vec![
            rt.bin.display().to_string(),
            "--root".into(),
            rt.root.display().to_string(),
            "--log".into(),
            rt.log.display().to_string(),
            "--log-format".into(),
            "json".into(),
        ];
        v.extend(args.iter().map(|a| a.to_string()));
        v
    };
    let p = |f: &str| dir.join(format!("{f}-{name}.pid")).display().to_string();
    let (ia, ib, e3, ek) = (p("inita"), p("initb"), p("exec3"), p("execk"));
    let (a, bb) = (format!("sra-{name}"), format!("srb-{name}"));
    let ba = bundle(dir, &a, &["sleep", "100"]);
    let bb_dir = bundle(dir, &bb, &["sh", "-c", "exit 3"]);
    let p3 = process_file(&ba, "exit3", |p| p["args"] = json!(["sh", "-c", "exit 3"]));
    let pk = process_file(&ba, "sleep", |p| p["args"] = json!(["sleep", "100"]));
    let ba = ba.display().to_string();
    let bb_dir = bb_dir.display().to_string();
    let (p3, pk) = (p3.display().to_string(), pk.display().to_string());
    let exec =
        |pf: &str, pid: &str| base(&["exec", "--process", pf, "--detach", "--pid-file", pid, &a]);
    let steps = json!([
        [
            "run",
            base(&["create", "--bundle", &bb_dir, "--pid-file", &ib, &bb]),
            "create (exit 3)",
            ib
        ],
        ["run", base(&["start", &bb]), "start", null],
        ["wait", ib],
        ["run", base(&["delete", &bb]), "delete", null],
        [
            "run",
            base(&["create", "--bundle", &ba, "--pid-file", &ia, &a]),
            "create (sleep)",
            ia
        ],
        ["run", base(&["start", &a]), "start", null],
        ["run", exec(&p3, &e3), "exec --detach (exit 3)", e3],
        ["wait", e3],
        ["run", exec(&pk, &ek), "exec --detach (sleep)", ek],
        ["kill9", ek],
        ["wait", ek],
        ["run", base(&["kill", &a, "KILL"]), "kill KILL", null],
        ["wait", ia],
        ["run", base(&["delete", &a]), "delete", null],
    ]);
    let o = timed(
        Command::new("python3").args(["-c", HARNESS, &steps.to_string()]),
        60,
    );
    assert_eq!(o.code, 0, "{name}: harness: {o:?}");
    o.stdout.lines().map(str::to_string).collect()
}

#[test]
fn subreaper_waitpid_and_no_process_left_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    if !have("python3") {
        skip!("python3 is not installed");
    }
    let got = same_views(&["sra", "srb"], subreaper);
    let waits: Vec<&String> = got.iter().filter(|l| l.starts_with("waitpid")).collect();
    assert_eq!(
        waits,
        [
            "waitpid: exited 3",
            "waitpid: exited 3",
            "waitpid: signaled 9",
            "waitpid: signaled 9"
        ],
        "{got:#?}"
    );
    assert!(
        got.iter().all(|l| !l.contains("exit")
            || l.starts_with("waitpid")
            || l.ends_with("exit 0, other children 0")),
        "{got:#?}"
    );
}

// ---- criterion 5: stdio passed through, fd 3 not ----

/// Runs the runtime with `args` (a command that hands its stdio to a container process) with
/// stdin and stdout pipes and an fd 3 inherited without CLOEXEC (opened by a shell that then
/// execs the runtime); returns the pipes once it has exited.
fn spawn_with_pipes(
    rt: &Rt,
    args: &[&str],
) -> (i32, std::process::ChildStdin, std::process::ChildStdout) {
    let probe = rt.cmd(args);
    let mut c = Command::new("sh");
    c.args(["-c", "exec 3</proc/self/status; exec \"$@\"", "sh"])
        .arg(probe.get_program())
        .args(probe.get_args())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break -2;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (code, stdin, stdout)
}

/// Writes to the process's stdin, closes it, and reads its stdout to EOF (10 s at most).
fn round_trip(
    mut stdin: std::process::ChildStdin,
    mut stdout: std::process::ChildStdout,
) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    let _ = stdin.write_all(b"through the pipe\n");
    drop(stdin);
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| "NO EOF within 10 s".into())
}

const STDIO_SCRIPT: &str =
    "cat; if [ -e /proc/$$/fd/3 ]; then echo fd 3 open; else echo fd 3 closed; fi";

fn stdio(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("io-{name}");
    let b = bundle(dir, &id, &["sh", "-c", STDIO_SCRIPT]);
    let (code, i, o) = spawn_with_pipes(rt, &["create", "--bundle", b.to_str().unwrap(), &id]);
    seen.push(format!("create {code}"));
    seen.push(format!("start {}", rt.run(&["start", &id]).code));
    seen.push(format!("create: {:?}", round_trip(i, o)));
    seen.push(format!(
        "stopped {}",
        wait_until(10, || rt.state(&id)["status"] == "stopped")
    ));
    take_down(rt, &id);

    let id = format!("iox-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    create(rt, &b, &id, &[]);
    assert_eq!(rt.run(&["start", &id]).code, 0);
    let pf = process_file(&b, name, |p| p["args"] = json!(["sh", "-c", STDIO_SCRIPT]));
    let (code, i, o) = spawn_with_pipes(
        rt,
        &["exec", "--process", pf.to_str().unwrap(), "--detach", &id],
    );
    seen.push(format!("exec {code}"));
    seen.push(format!("exec: {:?}", round_trip(i, o)));
    take_down(rt, &id);
    seen
}

#[test]
fn stdio_round_trip_and_no_fd_3_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["io", "iox"], stdio);
    assert!(
        got.contains(&"exec: \"through the pipe\\nfd 3 closed\\n\"".to_string()),
        "{got:#?}"
    );
}

// ---- criteria 7, 11, 13: what exec --process honours; ps; pause and resume ----

const EXEC_SCRIPT: &str = "id; pwd; echo FOO=$FOO; \
    grep -E '^(Cap|NoNewPrivs)' /proc/self/status; ulimit -n; ulimit -Hn; \
    cat /proc/self/oom_score_adj; if [ -t 0 ]; then echo tty; else echo no tty; fi; \
    echo done; exec sleep 100";

fn exec_fields(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("exf-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    let init = create(rt, &b, &id, &[]);
    // Criterion 13: the init is in cgroupsPath, in these controllers, before create returns.
    let cg = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap_or_default();
    let mut in_path: Vec<&str> = cg
        .lines()
        .filter(|l| l.ends_with(&format!(":/berth-rtcli/{id}")))
        .filter_map(|l| l.split(':').nth(1))
        .collect();
    in_path.sort();
    seen.push(format!("created, init's cgroups: {in_path:?}"));
    // runc pauses a created container (it cannot be started while paused) and resumes it to
    // created.
    let o = rt.run(&["pause", &id]);
    seen.push(format!(
        "pause created {}: {}",
        o.code,
        rt.state(&id)["status"]
    ));
    seen.push(format!(
        "start paused fails {}",
        rt.run(&["start", &id]).code != 0
    ));
    let o = rt.run(&["resume", &id]);
    seen.push(format!("resume {}: {}", o.code, rt.state(&id)["status"]));
    assert_eq!(rt.run(&["start", &id]).code, 0);
    seen.push(format!("resume running {}", rt.run(&["resume", &id]).code));
    let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let pf = process_file(&b, name, |p| {
        p["args"] = json!(["sh", "-c", EXEC_SCRIPT]);
        p["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
        p["cwd"] = json!("/tmp");
        p["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]});
        p["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps,
            "inheritable": caps, "ambient": ["CAP_KILL"]});
        p["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1000, "soft": 500}]);
        p["noNewPrivileges"] = json!(true);
        p["oomScoreAdj"] = json!(123);
    });
    let out = dir.join(format!("exf-{name}.out"));
    let pid_file = dir.join(format!("exf-{name}.pid"));
    let mut c = rt.cmd(&[
        "exec",
        "--process",
        pf.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    c.stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null());
    seen.push(format!("exec {}", c.status().unwrap().code().unwrap_or(-1)));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_default()
        .parse()
        .unwrap_or(0);
    wait_until(10, || {
        std::fs::read_to_string(&out).is_ok_and(|t| t.contains("done\n"))
    });
    // The script execs sleep once done: give it the moment.
    wait_until(5, || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c == "sleep\n")
    });
    // runc 1.1 does not apply oomScoreAdj to an exec'd process (it keeps the caller's, 0
    // here); berth applies it, as the contract asks: that line is compared apart.
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let oom_at = lines.len().saturating_sub(3);
    for (i, l) in lines.iter().enumerate() {
        if i == oom_at {
            seen.push(format!(
                "oom_score_adj {}",
                if *l == "0" { "the caller's" } else { l }
            ));
        } else {
            seen.push(l.to_string());
        }
    }
    for ns in ["cgroup", "ipc", "mnt", "net", "pid", "uts", "user"] {
        let (a, b) = (ns_link(pid, ns), ns_link(init, ns));
        seen.push(format!(
            "{ns} namespace the init's: {}",
            !a.is_empty() && a == b
        ));
    }
    let cg = |p: i32| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap_or_default();
    seen.push(format!(
        "cgroups the init's: {}",
        !cg(pid).is_empty() && cg(pid) == cg(init)
    ));
    let o = rt.run(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_str(&o.stdout).unwrap_or_default();
    seen.push(format!(
        "ps {}: init {} exec'd {}",
        o.code,
        pids.contains(&init),
        pids.contains(&pid)
    ));
    assert_eq!(rt.run(&["kill", &id, "KILL"]).code, 0);
    seen.push(format!(
        "stopped {}",
        wait_until(10, || rt.state(&id)["status"] == "stopped")
    ));
    let pf2 = process_file(&b, "true", |p| p["args"] = json!(["true"]));
    let o = rt.run(&["exec", "--process", pf2.to_str().unwrap(), "--detach", &id]);
    seen.push(format!("exec stopped fails {}", o.code != 0));
    seen.push(format!("pause stopped {}", rt.run(&["pause", &id]).code));
    seen.push(format!("resume stopped {}", rt.run(&["resume", &id]).code));
    seen.push(format!("delete {}", rt.run(&["delete", &id]).code));
    seen.push(format!("cgroups left {:?}", cgroups_of(&id).len()));
    seen
}

#[test]
fn exec_process_fields_namespaces_and_cgroups_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let (want, got) = views(&["exf"], exec_fields);
    // Not compared: the oom score (runc 1.1 ignores an exec's), and the soft NOFILE limit (the
    // line after NoNewPrivs), which runc 1.1 built with Go ≥ 1.19 sets or not as a race goes:
    // now 500 as asked, now the hard 1000. berth's is checked to be 500 below.
    let oom = |v: &[String]| -> Vec<String> {
        let soft = v.iter().position(|l| l == "NoNewPrivs:\t1").map(|i| i + 1);
        v.iter()
            .enumerate()
            .filter(|(i, l)| !l.starts_with("oom_score_adj") && Some(*i) != soft)
            .map(|(_, l)| l.clone())
            .collect()
    };
    assert_eq!(
        oom(&want),
        oom(&got),
        "runc (left) and berth (right) differ"
    );
    assert!(
        want.iter().any(|l| l == "oom_score_adj the caller's"),
        "{want:#?}"
    );
    assert!(got.iter().any(|l| l == "oom_score_adj 123"), "{got:#?}");
    assert_has(
        &got,
        &[
            "uid=1000 gid=1001 groups=10,20",
            "/tmp",
            "FOO=bar baz",
            "NoNewPrivs:\t1",
            "500",
            "1000",
            "pause created 0: \"paused\"",
            "start paused fails true",
            "resume 0: \"created\"",
            "no tty",
            "pid namespace the init's: true",
            "cgroups the init's: true",
            "ps 0: init true exec'd true",
            "exec stopped fails true",
        ],
    );
    assert!(got
        .iter()
        .any(|l| l.starts_with("CapAmb:\t") && !l.ends_with("0000000000000000")));
}

// ---- criterion 8: kill's signal forms ----

fn kill_forms(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for (n, form) in [Some("9"), Some("KILL"), Some("SIGKILL"), None]
        .into_iter()
        .enumerate()
    {
        let id = format!("kf{n}-{name}");
        let b = bundle(
            dir,
            &id,
            &[
                "sh",
                "-c",
                "trap 'echo TERM; exit 7' TERM; echo up; sleep 100 & wait",
            ],
        );
        let out = dir.join(format!("{id}.out"));
        let mut c = rt.cmd(&["create", "--bundle", b.to_str().unwrap(), &id]);
        c.stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::null());
        assert!(c.status().unwrap().success());
        assert_eq!(rt.run(&["start", &id]).code, 0);
        wait_until(10, || {
            std::fs::read_to_string(&out).is_ok_and(|t| t.contains("up"))
        });
        let mut args = vec!["kill", id.as_str()];
        args.extend(form);
        let o = rt.run(&args);
        let stopped = wait_until(10, || rt.state(&id)["status"] == "stopped");
        seen.push(format!(
            "kill {form:?}: {} stopped {stopped} output {:?}",
            o.code,
            std::fs::read_to_string(&out).unwrap_or_default()
        ));
        take_down(rt, &id);
    }
    seen
}

#[test]
fn kill_signal_forms_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["kf0", "kf1", "kf2", "kf3"], kill_forms);
    assert_eq!(
        got[3], "kill None: 0 stopped true output \"up\\nTERM\\n\"",
        "{got:#?}"
    );
}

// ---- criterion 12: update --resources ----

const CGROUP_FILES: [(&str, &str); 7] = [
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.memsw.limit_in_bytes"),
    ("cpu", "cpu.shares"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpuset", "cpuset.cpus"),
    ("pids", "pids.max"),
];

fn cgroup_values(id: &str) -> String {
    CGROUP_FILES
        .iter()
        .map(|(c, f)| {
            let v = std::fs::read_to_string(format!("/sys/fs/cgroup/{c}/berth-rtcli/{id}/{f}"))
                .unwrap_or_else(|_| "missing".into());
            format!("{f}={}", v.trim())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn resources(mem: i64, shares: u64, quota: i64, period: u64, cpus: &str, pids: i64) -> String {
    json!({
        "memory": {"limit": mem, "swap": mem * 2},
        "cpu": {"shares": shares, "quota": quota, "period": period, "cpus": cpus},
        "pids": {"limit": pids},
    })
    .to_string()
}

fn update(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("upd-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    // The spec's own resources are applied by create (and runc's default device rules).
    edit_spec(&b, |s| {
        let r: Value =
            serde_json::from_str(&resources(80 << 20, 300, 30000, 60000, "0", 30)).unwrap();
        for (k, v) in r.as_object().unwrap() {
            s["linux"]["resources"][k] = v.clone();
        }
    });
    create(rt, &b, &id, &[]);
    seen.push(format!("create: {}", cgroup_values(&id)));
    let mut devices: Vec<String> = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/devices/berth-rtcli/{id}/devices.list"
    ))
    .unwrap_or_default()
    .lines()
    .map(str::to_string)
    .collect();
    devices.sort();
    seen.push(format!("devices.list {devices:?}"));
    assert_eq!(rt.run(&["start", &id]).code, 0);
    let all_cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus").unwrap();
    let r1 = resources(64 << 20, 512, 20000, 100000, "0", 50);
    let o = timed_input(
        &mut rt.cmd(&["update", "--resources", "-", &id]),
        Some(r1.as_bytes()),
        30,
    );
    seen.push(format!("--resources - {}: {}", o.code, cgroup_values(&id)));
    let r2 = resources(100 << 20, 256, 50000, 200000, all_cpus.trim(), 60);
    let o = timed_input(
        &mut rt.cmd(&["update", "--resources=-", &id]),
        Some(r2.as_bytes()),
        30,
    );
    seen.push(format!("--resources=- {}: {}", o.code, cgroup_values(&id)));
    let r3 = resources(48 << 20, 1024, -1, 100000, "0", 70);
    let file = dir.join(format!("resources-{name}.json"));
    std::fs::write(&file, r3).unwrap();
    let o = rt.run(&["update", "--resources", file.to_str().unwrap(), &id]);
    seen.push(format!(
        "--resources FILE {}: {}",
        o.code,
        cgroup_values(&id)
    ));
    take_down(rt, &id);
    seen.push(format!("cgroups left {}", cgroups_of(&id).len()));
    seen
}

#[test]
fn update_resources_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["upd"], update);
    assert!(got[0].contains("cpu.shares=300"), "{got:#?}");
    assert!(
        got[2].starts_with(
            "--resources - 0: memory.limit_in_bytes=67108864 \
             memory.memsw.limit_in_bytes=134217728 cpu.shares=512 cpu.cfs_quota_us=20000 \
             cpu.cfs_period_us=100000 cpuset.cpus=0 pids.max=50"
        ),
        "{got:#?}"
    );
}

// ---- criteria 1, 2, 14: global flags, an unknown subcommand, a duplicate ID, bad bundles ----

fn looks_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && (t.ends_with('Z') || t[19..].contains(['+', '-']))
}

fn flags_and_bad_input(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let root = rt.root.display().to_string();
    let log = dir.join(format!("flags-{name}.log")).display().to_string();
    let spaced = [
        "--root",
        &root,
        "--log",
        &log,
        "--log-format",
        "json",
        "--debug",
        "--systemd-cgroup",
        "--criu",
        "criu",
        "--rootless",
        "false",
    ];
    let root_eq = format!("--root={root}");
    let log_eq = format!("--log={log}");
    let joined = [
        root_eq.as_str(),
        &log_eq,
        "--log-format=json",
        "--criu=criu",
        "--rootless=false",
    ];
    for (form, flags) in [("--f v", &spaced[..]), ("--f=v", &joined[..])] {
        for args in [&["list"][..], &["state", "nosuch"][..]] {
            let o = timed(Command::new(&rt.bin).args(flags).args(args), 30);
            seen.push(format!("{form} {args:?}: {}", o.code));
        }
    }
    let o = timed(
        Command::new(&rt.bin).args(["--log-format", "text", "--root", &root, "list"]),
        30,
    );
    seen.push(format!("--log-format text: {}", o.code));
    let o = timed(Command::new(&rt.bin).args(["--root", &root, "nosuch"]), 30);
    seen.push(format!("unknown subcommand fails {}", o.code != 0));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let last: Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::Null);
    seen.push(format!(
        "log: every line JSON {}, last names the cause {}, time RFC3339 {}",
        text.lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        last["msg"]
            .as_str()
            .unwrap_or("")
            .contains("does not exist"),
        looks_rfc3339(last["time"].as_str().unwrap_or(""))
    ));

    let id = format!("dup-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    let pid = create(rt, &b, &id, &[]);
    let before = rt.last_error();
    let o = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
    let after = rt.last_error();
    let st = rt.state(&id);
    seen.push(format!(
        "duplicate create fails {}, logged {}, first still {} with its pid {}",
        o.code != 0,
        after != before && !after.is_empty(),
        st["status"],
        st["pid"] == pid
    ));
    take_down(rt, &id);

    for (what, config) in [("no config.json", None), ("bad JSON", Some("{not json"))] {
        let id = format!("bad-{name}");
        let b = bundle(dir, &id, &["true"]);
        match config {
            None => std::fs::remove_file(b.join("config.json")).unwrap(),
            Some(c) => std::fs::write(b.join("config.json"), c).unwrap(),
        }
        let before = rt.last_error();
        let _ = std::fs::remove_file(&rt.log);
        let o = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
        seen.push(format!(
            "{what}: fails {}, logged {}, state left {}, cgroups left {}",
            o.code != 0,
            !rt.last_error().is_empty() && rt.last_error() != before,
            rt.root.join(&id).exists(),
            cgroups_of(&id).len()
        ));
        std::fs::remove_dir_all(&b).unwrap();
    }
    seen
}

#[test]
fn global_flags_duplicate_id_and_bad_bundles_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["dup", "bad"], flags_and_bad_input);
    assert_eq!(got[0], "--f v [\"list\"]: 0", "{got:#?}");
    assert!(
        got.iter()
            .all(|l| !l.contains("left true") && !l.contains("left 1")),
        "{got:#?}"
    );
}

// ---- criteria 2, 8, 9, 11, 12: the edges a caller meets ----

/// Signals as runc parses them (a number, a name with or without SIG in any case), realtime
/// ones (`docker kill --signal SIGRTMIN+3` reaches the runtime as 37) and 0 (is it alive?),
/// on an init that ignores them; ps of a created container; a non-detached exec's exit code;
/// update of one resource (the others stay); delete of a created container without --force.
fn edges(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("edg-{name}");
    let b = bundle(
        dir,
        &id,
        &["sh", "-c", "trap '' USR1 USR2 HUP 37 40 64; exec sleep 100"],
    );
    let init = create(rt, &b, &id, &[]);
    let o = rt.run(&["ps", "--format", "json", &id]);
    let pids: Vec<i32> = serde_json::from_str(&o.stdout).unwrap_or_default();
    seen.push(format!("ps created {}: {}", o.code, pids == [init]));
    assert_eq!(rt.run(&["start", &id]).code, 0);
    // The trap must be set before the signals come: sleep is exec'd after it.
    wait_until(10, || {
        std::fs::read_to_string(format!("/proc/{init}/comm")).is_ok_and(|c| c == "sleep\n")
    });
    for sig in [
        "0", "usr1", "SIGusr2", "Hup", "10", "37", "40", "64", "65", "-1", "RTMIN", "bogus", "",
    ] {
        let o = rt.run(&["kill", &id, sig]);
        seen.push(format!(
            "kill {sig:?}: {} {}",
            o.code,
            rt.state(&id)["status"]
        ));
    }
    for (script, what) in [("exit 5", "exit 5"), ("kill -9 $$", "killed")] {
        let pf = process_file(&b, "nd", |p| p["args"] = json!(["sh", "-c", script]));
        let o = rt.run(&["exec", "--process", pf.to_str().unwrap(), &id]);
        seen.push(format!("exec (waited) {what}: {}", o.code));
    }
    let o = timed_input(
        &mut rt.cmd(&["update", "--resources", "-", &id]),
        Some(br#"{"memory": {"limit": 52428800}, "pids": {"limit": 90}}"#),
        30,
    );
    seen.push(format!(
        "update memory alone {}: {}",
        o.code,
        cgroup_values(&id)
    ));
    let o = timed_input(
        &mut rt.cmd(&["update", "--resources", "-", &id]),
        Some(br#"{"pids": {"limit": 80}}"#),
        30,
    );
    seen.push(format!(
        "update pids alone {}: {}",
        o.code,
        cgroup_values(&id)
    ));
    let o = timed_input(
        &mut rt.cmd(&["update", "--resources", "-", &id]),
        Some(br#"{"memory": {"limit": -1, "swap": -1}, "pids": {"limit": -1}}"#),
        30,
    );
    seen.push(format!(
        "update unlimited {}: {}",
        o.code,
        cgroup_values(&id)
    ));
    let o = timed_input(
        &mut rt.cmd(&["update", "--resources", "-", &id]),
        Some(b"{not json"),
        30,
    );
    seen.push(format!("update bad JSON fails {}", o.code != 0));
    take_down(rt, &id);
    let o = rt.run(&["update", "--resources", "-", &id]);
    seen.push(format!("update missing fails {}", o.code != 0));

    // `run` (foreground) answers with the init's status: 128+N for a signal.
    let id = format!("edr-{name}");
    let b = bundle(dir, &id, &["sh", "-c", "kill -9 $$"]);
    // Not pid 1 of a namespace of its own, which no SIGKILL from inside reaches.
    edit_spec(&b, |s| {
        if let Some(nss) = s["linux"]["namespaces"].as_array_mut() {
            nss.retain(|ns| ns["type"] != "pid");
        }
    });
    let o = rt.run(&["run", "--bundle", b.to_str().unwrap(), &id]);
    seen.push(format!(
        "run killed by 9: {}, state left {}",
        o.code,
        rt.root.join(&id).exists()
    ));
    rt.run(&["delete", "--force", &id]);

    let id = format!("edc-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    let init = create(rt, &b, &id, &[]);
    let o = rt.run(&["delete", &id]);
    seen.push(format!(
        "delete created {}: init gone {}, state left {}, cgroups left {}",
        o.code,
        wait_until(5, || !Path::new(&format!("/proc/{init}")).exists()
            || std::fs::read_to_string(format!("/proc/{init}/stat"))
                .is_ok_and(|s| s.contains(") Z "))),
        rt.root.join(&id).exists(),
        cgroups_of(&id).len()
    ));
    seen
}

#[test]
fn signals_ps_exec_codes_partial_update_and_delete_created_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["edg", "edc", "edr"], edges);
    assert_has(
        &got,
        &[
            "ps created 0: true",
            "kill \"0\": 0 \"running\"",
            "kill \"37\": 0 \"running\"",
            "exec (waited) exit 5: 5",
            "update bad JSON fails true",
            "run killed by 9: 137, state left false",
        ],
    );
}

/// A create that fails after the container is made (the pid file cannot be written, the
/// console socket is not there) or before (a terminal without a console socket, a console
/// socket without a terminal) leaves no state, cgroup or process.
fn failed_creates(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let cases: [(&str, bool, &[&str]); 4] = [
        (
            "pid file in a missing dir",
            false,
            &["--pid-file", "/nonexistent/dir/p"],
        ),
        (
            "console socket missing",
            true,
            &["--console-socket", "/nonexistent.sock"],
        ),
        ("terminal without a console socket", true, &[]),
        (
            "console socket without a terminal",
            false,
            &["--console-socket", "/nonexistent.sock"],
        ),
    ];
    for (n, (what, terminal, extra)) in cases.into_iter().enumerate() {
        let id = format!("fc{n}-{name}");
        let b = bundle(dir, &id, &["sleep", "100"]);
        edit_spec(&b, |s| s["process"]["terminal"] = Value::Bool(terminal));
        let mut args = vec!["create", "--bundle", b.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(&id);
        let before = rt.last_error();
        let o = rt.run(&args);
        let left = crate::support::rig::processes_naming(&b.display().to_string()).len()
            + cgroups_of(&id)
                .iter()
                .map(|c| {
                    std::fs::read_to_string(c.join("cgroup.procs"))
                        .unwrap_or_default()
                        .lines()
                        .count()
                })
                .sum::<usize>();
        seen.push(format!(
            "{what}: fails {}, logged {}, state left {}, cgroups left {}, processes left {}",
            o.code != 0,
            rt.last_error() != before,
            rt.root.join(&id).exists(),
            cgroups_of(&id).len(),
            left
        ));
        rt.run(&["delete", "--force", &id]);
    }
    seen
}

#[test]
fn failed_create_leaves_nothing_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    same_views(&["fc0", "fc1", "fc2", "fc3"], failed_creates);
}

// ---- criteria 9, 11: a paused container ----

/// What a paused container answers: pause again, exec, ps, update, a signal (pending while
/// frozen), resume, then `kill --all ID 9` on a paused one (the shim's stop of a paused task)
/// and `delete --force` of a paused one: nothing may be left frozen behind.
fn paused(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let status = |id: &str| rt.state(id)["status"].to_string();
    for (n, end) in ["kill --all", "delete --force"].into_iter().enumerate() {
        let id = format!("pz{n}-{name}");
        let b = bundle(dir, &id, &["sh", "-c", "sleep 100 & exec sleep 100"]);
        create(rt, &b, &id, &[]);
        assert_eq!(rt.run(&["start", &id]).code, 0);
        wait_until(10, || {
            rt.run(&["ps", "--format", "json", &id])
                .stdout
                .matches(',')
                .count()
                == 1
        });
        let o = rt.run(&["pause", &id]);
        seen.push(format!("pause {}: {}", o.code, status(&id)));
        seen.push(format!("pause again {}", rt.run(&["pause", &id]).code));
        let pf = process_file(&b, "true", |p| p["args"] = json!(["true"]));
        let o = rt.run(&["exec", "--process", pf.to_str().unwrap(), "--detach", &id]);
        seen.push(format!("exec while paused fails {}", o.code != 0));
        let o = rt.run(&["ps", "--format", "json", &id]);
        let pids: Vec<i32> = serde_json::from_str(&o.stdout).unwrap_or_default();
        seen.push(format!("ps {}: {} pids", o.code, pids.len()));
        let o = timed_input(
            &mut rt.cmd(&["update", "--resources", "-", &id]),
            Some(br#"{"pids": {"limit": 40}}"#),
            30,
        );
        seen.push(format!("update {}: {}", o.code, status(&id)));
        if n == 0 {
            let o = rt.run(&["resume", &id]);
            seen.push(format!("resume {}: {}", o.code, status(&id)));
            seen.push(format!("resume again {}", rt.run(&["resume", &id]).code));
            assert_eq!(rt.run(&["pause", &id]).code, 0);
            let o = rt.run(&["kill", "--all", &id, "9"]);
            let stopped = wait_until(10, || rt.state(&id)["status"] == "stopped");
            seen.push(format!("kill --all 9 paused {}: stopped {stopped}", o.code));
            let o = rt.run(&["delete", &id]);
            seen.push(format!("delete {}", o.code));
        } else {
            let o = rt.run(&["delete", "--force", &id]);
            seen.push(format!("delete --force paused {}", o.code));
        }
        let procs: usize = cgroups_of(&id)
            .iter()
            .map(|c| {
                std::fs::read_to_string(c.join("cgroup.procs"))
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum();
        seen.push(format!(
            "{end}: state left {}, cgroups left {}, processes left {procs}",
            rt.root.join(&id).exists(),
            cgroups_of(&id).len()
        ));
    }
    seen
}

#[test]
fn paused_container_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["pz0", "pz1"], paused);
    assert!(got.contains(&"pause 0: \"paused\"".to_string()), "{got:#?}");
}

// ---- criterion 7: exec's inline form ----

/// `exec [--cwd D] [--env K=V] [--user U:G] [--tty] ID CMD…` (no --process): the container's
/// process with these changes, waited for, its exit code returned.
fn inline_exec(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("inl-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    create(rt, &b, &id, &[]);
    assert_eq!(rt.run(&["start", &id]).code, 0);
    let script = "id; pwd; echo HOME=$HOME A=$A; env | grep -v -e ^PWD= -e ^SHLVL= | sort; \
                  grep -E '^Cap(Eff|Bnd)' /proc/self/status; exit 4";
    for flags in [
        &[][..],
        &["--cwd", "/tmp", "--env", "A=b", "--user", "65534:65534"][..],
        &["--cwd=/etc", "--env=A=c", "--user=1000"][..],
    ] {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.extend([id.as_str(), "sh", "-c", script]);
        let o = rt.run(&args);
        seen.push(format!("{flags:?}: {} {:?}", o.code, o.stdout));
    }
    take_down(rt, &id);
    seen
}

#[test]
fn exec_inline_form_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["inl"], inline_exec);
    assert!(got[1].contains("uid=65534(nobody)"), "{got:#?}");
}

// ---- the init's profile, as the contract's exec one ----

/// What the init sees of itself and its container: user, groups, umask, HOME, capabilities,
/// rlimits, no_new_privs, oom_score_adj, hostname, the devices, the mounts (point, type, ro or
/// rw), the masked and read-only paths of runc's default spec, the blocked and ignored signals.
const INIT_SCRIPT: &str = "id; umask; echo HOME=$HOME; hostname; \
    grep -E '^(Cap|NoNewPrivs|SigBlk|SigIgn)' /proc/self/status; ulimit -n; ulimit -Hn; \
    cat /proc/self/oom_score_adj; ls /dev | tr '\\n' ' '; echo; \
    awk '{print $5, $9, substr($6, 1, 2)}' /proc/self/mountinfo; \
    if [ -s /proc/kcore ]; then echo kcore visible; else echo kcore masked; fi; \
    if (echo 1 > /proc/sys/vm/overcommit_memory) 2>/dev/null; then echo sys rw; \
    else echo sys ro; fi; ls /proc/acpi 2>&1 | head -1; echo end";

fn init_fields(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for (n, custom) in [false, true].into_iter().enumerate() {
        let id = format!("inf{n}-{name}");
        let b = bundle(dir, &id, &["sh", "-c", INIT_SCRIPT]);
        if custom {
            let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_SETUID"]);
            edit_spec(&b, |s| {
                s["process"]["user"] =
                    json!({"uid": 65534, "gid": 65534, "additionalGids": [5], "umask": 63});
                s["process"]["env"] = json!(["PATH=/bin"]);
                s["process"]["capabilities"] = json!({"bounding": caps, "effective": caps,
                    "permitted": caps, "inheritable": [], "ambient": []});
                s["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 100}]);
                s["process"]["noNewPrivileges"] = json!(false);
                s["process"]["oomScoreAdj"] = json!(321);
                s["hostname"] = json!("inithost");
            });
        }
        let out = dir.join(format!("{id}.out"));
        let mut c = rt.cmd(&["create", "--bundle", b.to_str().unwrap(), &id]);
        c.stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(dir.join(format!("{id}.err"))).unwrap());
        let code = c.status().unwrap().code().unwrap_or(-1);
        seen.push(format!("create {code}"));
        seen.push(format!("start {}", rt.run(&["start", &id]).code));
        wait_until(10, || {
            std::fs::read_to_string(&out).is_ok_and(|t| t.ends_with("end\n"))
        });
        // Compared apart from runc's details that no caller reads: the order of the mounts
        // (runc makes the read-only paths before the masked ones, the cgroup hierarchies in
        // another order), whether the tmpfs at /sys/fs/cgroup is ro (runc leaves it rw; berth
        // makes it ro as the spec's options ask), and the signals runc's Go init leaves
        // ignored (32).
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        let mut mounts = Vec::new();
        for l in text.lines() {
            if l.starts_with('/') {
                mounts.push(l.replace("/sys/fs/cgroup tmpfs ro", "/sys/fs/cgroup tmpfs rw"));
            } else if !l.starts_with("SigIgn:") {
                seen.push(l.to_string());
            }
        }
        mounts.sort();
        seen.extend(mounts);
        take_down(rt, &id);
    }
    seen
}

#[test]
fn init_profile_devices_and_mounts_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["inf0", "inf1"], init_fields);
    assert_has(
        &got,
        &[
            "kcore masked",
            "sys ro",
            "inithost",
            "0077",
            "321",
            "HOME=/nonexistent",
        ],
    );
}

// ---- criteria 2, 8, 11, 12: create's accepted flags, a created container killed, ps's table,
// a memory reservation ----

fn more_flags(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("npv-{name}");
    let b = bundle(
        dir,
        &id,
        &[
            "sh",
            "-c",
            "trap 'exit 0' TERM; sleep 100 & sleep 100 & wait",
        ],
    );
    let o = rt.run(&[
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "--no-pivot",
        "--no-new-keyring",
        &id,
    ]);
    seen.push(format!("create --no-pivot --no-new-keyring {}", o.code));
    seen.push(format!("start {}", rt.run(&["start", &id]).code));
    wait_until(10, || {
        rt.run(&["ps", "--format", "json", &id])
            .stdout
            .matches(',')
            .count()
            == 2
    });
    let o = rt.run(&["ps", &id]);
    let lines: Vec<&str> = o.stdout.lines().collect();
    seen.push(format!(
        "ps table {}: {} lines, header {:?}, sleeps {}",
        o.code,
        lines.len(),
        lines
            .first()
            .map(|h| h.split_whitespace().take(2).collect::<Vec<_>>()),
        lines.iter().filter(|l| l.contains("sleep 100")).count()
    ));
    let o = timed_input(
        &mut rt.cmd(&["update", "--resources", "-", &id]),
        Some(br#"{"memory": {"limit": 104857600, "reservation": 33554432}}"#),
        30,
    );
    let soft = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/berth-rtcli/{id}/memory.soft_limit_in_bytes"
    ))
    .unwrap_or_default();
    seen.push(format!("update reservation {}: {}", o.code, soft.trim()));
    let o = rt.run(&["kill", "--all", &id, "TERM"]);
    let stopped = wait_until(10, || rt.state(&id)["status"] == "stopped");
    seen.push(format!("kill --all TERM {}: stopped {stopped}", o.code));
    seen.push(format!("delete {}", rt.run(&["delete", &id]).code));

    let id = format!("ckl-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    create(rt, &b, &id, &[]);
    let o = rt.run(&["kill", &id, "KILL"]);
    let stopped = wait_until(10, || rt.state(&id)["status"] == "stopped");
    seen.push(format!("kill KILL created {}: stopped {stopped}", o.code));
    seen.push(format!(
        "start stopped fails {}",
        rt.run(&["start", &id]).code != 0
    ));
    seen.push(format!("delete {}", rt.run(&["delete", &id]).code));
    seen.push(format!("cgroups left {}", cgroups_of(&id).len()));
    seen
}

#[test]
fn create_flags_ps_table_reservation_and_killed_created_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["npv", "ckl"], more_flags);
    assert_has(
        &got,
        &[
            "update reservation 0: 33554432",
            "kill --all TERM 0: stopped true",
            "kill KILL created 0: stopped true",
            "start stopped fails true",
        ],
    );
}

// ---- criterion 7: an exec that cannot run ----

/// An exec whose program is missing or not executable, whose cwd is missing, whose process
/// file is missing or not JSON: it fails, the log names the cause, and the container keeps
/// running with nothing more in it; the same for a create whose cwd is missing.
fn failed_execs(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("fex-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    create(rt, &b, &id, &[]);
    assert_eq!(rt.run(&["start", &id]).code, 0);
    let count = || {
        serde_json::from_str::<Vec<i32>>(&rt.run(&["ps", "--format", "json", &id]).stdout)
            .unwrap_or_default()
            .len()
    };
    let cases: [(&str, Value, &str); 4] = [
        (
            "missing program",
            json!({"args": ["/nonexistent"]}),
            "/nonexistent",
        ),
        (
            "not executable",
            json!({"args": ["/etc/passwd"]}),
            "/etc/passwd",
        ),
        (
            "missing cwd",
            json!({"args": ["true"], "cwd": "/nonexistent-dir"}),
            "nonexistent-dir",
        ),
        ("not JSON", Value::Null, ""),
    ];
    for (n, (what, change, cause)) in cases.into_iter().enumerate() {
        let pf = process_file(&b, &format!("bad{n}"), |p| {
            if let Value::Object(m) = change {
                for (k, v) in m {
                    p[k] = v;
                }
            }
        });
        if what == "not JSON" {
            std::fs::write(&pf, "{not json").unwrap();
        }
        let before = rt.last_error();
        let o = rt.run(&["exec", "--process", pf.to_str().unwrap(), "--detach", &id]);
        let err = rt.last_error();
        seen.push(format!(
            "exec {what}: exit {}, log names it {}, processes {}, {}",
            o.code,
            err != before && err.contains(cause),
            count(),
            rt.state(&id)["status"]
        ));
    }
    let o = rt.run(&["exec", "--process", "/nonexistent.json", "--detach", &id]);
    seen.push(format!("exec missing process file: exit {}", o.code));
    let o = rt.run(&["exec", &id]);
    seen.push(format!("exec without a command: exit {}", o.code));
    let o = rt.run(&["exec", "nosuch", "true"]);
    seen.push(format!("exec into a missing container: exit {}", o.code));
    for prog in ["/nonexistent", "/etc/passwd"] {
        let o = rt.run(&["exec", &id, prog]);
        seen.push(format!("exec (waited) {prog}: {}", o.code));
    }
    take_down(rt, &id);

    let id = format!("fcw-{name}");
    let b = bundle(dir, &id, &["true"]);
    edit_spec(&b, |s| s["process"]["cwd"] = json!("/nonexistent-dir"));
    let o = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
    seen.push(format!(
        "create missing cwd: fails {}, log names it {}, state left {}, cgroups left {}",
        o.code != 0,
        rt.last_error().contains("nonexistent-dir"),
        rt.root.join(&id).exists(),
        cgroups_of(&id).len()
    ));
    rt.run(&["delete", "--force", &id]);
    seen
}

#[test]
fn failed_exec_leaves_the_container_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["fex", "fcw"], failed_execs);
    assert_eq!(
        got[2],
        "exec missing cwd: exit 255, log names it true, processes 1, \"running\""
    );
    // runc makes the init's missing cwd.
    assert!(
        got.last()
            .unwrap()
            .starts_with("create missing cwd: fails false"),
        "{got:#?}"
    );
}

// ---- criteria 1, 9, 10: every verb on a missing container, and without its arguments ----

fn missing(rt: &Rt) -> Vec<String> {
    let mut seen = Vec::new();
    let verbs: [&[&str]; 9] = [
        &["start"],
        &["state"],
        &["pause"],
        &["resume"],
        &["ps"],
        &["kill"],
        &["delete"],
        &["update", "--resources", "/dev/null"],
        &["exec", "--process", "/dev/null"],
    ];
    for verb in verbs {
        let mut args = verb.to_vec();
        args.push("nosuch");
        let o = rt.run(&args);
        seen.push(format!(
            "{verb:?} missing: {} says does not exist {}",
            o.code,
            rt.last_error().contains("does not exist")
        ));
        // Usage errors exit non-zero; the code differs on purpose: runc's is 1 (3 for an
        // unknown subcommand), berth's tools all exit 2 (tests/e2e/cli.rs).
        let o = rt.run(verb);
        seen.push(format!("{verb:?} without an ID fails {}", o.code != 0));
    }
    let o = rt.run(&["nosuch"]);
    seen.push(format!("unknown subcommand fails {}", o.code != 0));
    let o = rt.run(&["state", "a", "b"]);
    seen.push(format!("two IDs fail {}", o.code != 0));
    seen
}

#[test]
fn verbs_on_a_missing_container_and_without_arguments_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let want = missing(&runc);
    let got = missing(&berth);
    assert_eq!(want, got, "runc (left) and berth (right) differ");
}

// ---- criterion 10: the state JSON in all four states ----

/// The state JSON's shape in each state: its keys, the status, whether pid is the init's (0
/// when stopped), bundle and rootfs absolute, created an RFC 3339 time, owner, annotations.
fn state_shapes(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("sts-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    edit_spec(&b, |s| s["annotations"] = json!({"org.example/a": "b"}));
    let init = create(rt, &b, &id, &[]);
    let describe = |st: &Value| {
        let mut keys: Vec<&String> = st
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        keys.sort();
        format!(
            "{keys:?} status {} pid {} bundle {} rootfs {} created {} owner {} annotations {}",
            st["status"],
            if st["pid"] == init {
                "init".into()
            } else {
                st["pid"].to_string()
            },
            st["bundle"] == b.display().to_string(),
            st["rootfs"] == b.join("rootfs").display().to_string(),
            looks_rfc3339(st["created"].as_str().unwrap_or("")),
            st["owner"],
            st["annotations"]
        )
    };
    seen.push(describe(&rt.state(&id)));
    assert_eq!(rt.run(&["start", &id]).code, 0);
    seen.push(describe(&rt.state(&id)));
    assert_eq!(rt.run(&["pause", &id]).code, 0);
    seen.push(describe(&rt.state(&id)));
    assert_eq!(rt.run(&["resume", &id]).code, 0);
    assert_eq!(rt.run(&["kill", &id, "KILL"]).code, 0);
    wait_until(10, || rt.state(&id)["status"] == "stopped");
    seen.push(describe(&rt.state(&id)));
    take_down(rt, &id);
    seen
}

#[test]
fn state_json_in_every_state_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let got = same_views(&["sts"], state_shapes);
    assert!(got[3].contains("status \"stopped\" pid 0"), "{got:#?}");
}

// ---- criterion 7: a process file with only what it must have ----

/// Exec of a minimal process (args and cwd; no env, user, capabilities or rlimits): whether
/// it runs (no PATH to find `sh` in), and with an absolute path what it gets.
fn minimal_exec(rt: &Rt, dir: &Path, name: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let id = format!("min-{name}");
    let b = bundle(dir, &id, &["sleep", "100"]);
    create(rt, &b, &id, &[]);
    assert_eq!(rt.run(&["start", &id]).code, 0);
    let script = "echo PATH=$PATH HOME=$HOME; id; grep -E '^Cap(Eff|Bnd)' /proc/self/status; \
                  ulimit -n";
    for (n, arg0) in ["sh", "/bin/sh"].into_iter().enumerate() {
        let pf = b.join(format!("min{n}.json"));
        std::fs::write(
            &pf,
            json!({"args": [arg0, "-c", script], "cwd": "/"}).to_string(),
        )
        .unwrap();
        let o = rt.run(&["exec", "--process", pf.to_str().unwrap(), &id]);
        seen.push(format!("{arg0}: {} {:?}", o.code, o.stdout));
    }
    take_down(rt, &id);
    seen
}

#[test]
fn minimal_process_file_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let (want, got) = views(&["min"], minimal_exec);
    // Without PATH runc's Go lookup finds no `sh` (exit 255); berth looks in execvp's default
    // path and runs it: a difference on purpose, not compared.
    assert_eq!(want[0], "sh: 255 \"\"");
    assert_eq!(want[1..], got[1..], "runc (left) and berth (right) differ");
    assert!(got[1].starts_with("/bin/sh: 0"), "{got:#?}");
}
