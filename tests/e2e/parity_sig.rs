//! Issue 15, items 2, 3 and parts of 8 and 11: an attached client passes its signals on to the
//! container (`--sig-proxy`, as Docker's), a resize of its terminal resizes the container's pty
//! each time, `-it` without a terminal on stdin is refused as Docker refuses it, and ctr-exec and
//! ctr-attach on a container that is not running exit 1 as docker exec and docker attach do.
//!
//! The clients run as children of the test; signals are sent to them with kill(2); terminals are
//! pty pairs the test opens, the client on the slave, the test resizing the master.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::rig::{kill_group, timed, timed_input, wait_until, Rig, IMAGE};

/// A client running in the background, its stdout and stderr in files.
struct Client {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _dir: tempfile::TempDir,
}

/// How a client ended.
#[derive(Debug)]
struct Ended {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Client {
    /// Starts `c` in its own process group, stdin /dev/null unless set.
    fn spawn(c: &mut Command) -> Client {
        let dir = tempfile::tempdir().unwrap();
        let (out, err) = (dir.path().join("out"), dir.path().join("err"));
        c.stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .process_group(0);
        let child = c.spawn().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
        Client {
            child,
            out,
            err,
            _dir: dir,
        }
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.out).unwrap_or_default()).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.err).unwrap_or_default()).into_owned()
    }

    /// Waits (up to `secs`) until stdout shows `what`.
    fn wait_stdout(&mut self, what: &str, secs: u64) {
        let ok = wait_until(secs, || {
            self.stdout().contains(what) || matches!(self.child.try_wait(), Ok(Some(_)))
        });
        let out = self.stdout();
        assert!(
            ok && out.contains(what),
            "never printed {what:?}: stdout {out:?}, stderr {:?}",
            self.stderr()
        );
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// Waits (up to `secs`, then kills its group and fails) for the client to end.
    fn finish(mut self, secs: u64) -> Ended {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                kill_group(self.child.id() as i32);
                let _ = self.child.wait();
                panic!(
                    "client did not end in {secs}s: stdout {:?}, stderr {:?}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ended {
            code: status.code(),
            signal: status.signal(),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            kill_group(self.child.id() as i32);
            let _ = self.child.wait();
        }
    }
}

/// A script that reports the signals it traps and exits `code` at SIGTERM.
fn trapper(code: i32) -> String {
    format!(
        "for s in HUP INT QUIT USR1 USR2; do trap \"echo got $s\" $s; done; \
         trap 'echo got TERM; exit {code}' TERM; echo ready; while :; do sleep 0.1; done"
    )
}

// ---------------------------------------------------------------------------------------------
// Item 2: signals

#[test]
fn ctr_run_rm_passes_sigterm_on_and_exits_with_the_container_leaving_nothing() {
    require_root!();
    let rig = Rig::new();
    let mut c = Client::spawn(
        rig.cmd("ctr-run")
            .args(["--rm", IMAGE, "sh", "-c", &trapper(3)]),
    );
    c.wait_stdout("ready", 60);
    c.signal(Signal::SIGTERM);
    let end = c.finish(30);
    assert_eq!(end.code, Some(3), "the container's exit code: {end:?}");
    assert!(end.stdout.contains("got TERM"), "{end:?}");
    assert!(!end.stderr.contains("error"), "{end:?}");
    assert!(rig.ids().is_empty(), "--rm left {:?}", rig.ids());
    let ls = rig.t("ctr-ls", &["-a", "--format", "json"], 20).ok();
    assert_eq!(ls.stdout.trim(), "", "ctr-ls -a still shows it");
    assert!(rig.processes().is_empty(), "{:?}", rig.processes());
}

#[test]
fn ctr_run_passes_on_hup_int_quit_usr1_usr2() {
    require_root!();
    let rig = Rig::new();
    let mut c = Client::spawn(rig.cmd("ctr-run").args([
        "--name",
        "trapper",
        IMAGE,
        "sh",
        "-c",
        &trapper(9),
    ]));
    c.wait_stdout("ready", 60);
    for (sig, name) in [
        (Signal::SIGHUP, "HUP"),
        (Signal::SIGINT, "INT"),
        (Signal::SIGQUIT, "QUIT"),
        (Signal::SIGUSR1, "USR1"),
        (Signal::SIGUSR2, "USR2"),
    ] {
        c.signal(sig);
        c.wait_stdout(&format!("got {name}"), 20);
    }
    c.signal(Signal::SIGTERM);
    let end = c.finish(30);
    assert_eq!(end.code, Some(9), "{end:?}");
    let state = &rig.inspect("trapper")["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 9);
}

#[test]
fn ctr_run_with_sig_proxy_false_dies_and_the_container_runs_on() {
    require_root!();
    let rig = Rig::new();
    let mut c = Client::spawn(rig.cmd("ctr-run").args([
        "--rm",
        "--sig-proxy=false",
        IMAGE,
        "sh",
        "-c",
        &trapper(3),
    ]));
    c.wait_stdout("ready", 60);
    c.signal(Signal::SIGTERM);
    let end = c.finish(30);
    assert_eq!(end.signal, Some(Signal::SIGTERM as i32), "{end:?}");
    let id = rig.only();
    assert_eq!(rig.status(&id), "running");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!rig.logs(&id).contains("got TERM"), "{}", rig.logs(&id));
}

#[test]
fn ctr_run_t_passes_signals_on_too_as_docker_20_10() {
    require_root!();
    // docker run has proxied with a tty since docker/cli ee29504 (2019, before 20.10).
    let rig = Rig::new();
    let mut c =
        Client::spawn(
            rig.cmd("ctr-run")
                .args(["-t", "--rm", IMAGE, "sh", "-c", &trapper(4)]),
        );
    c.wait_stdout("ready", 60);
    c.signal(Signal::SIGTERM);
    let end = c.finish(30);
    assert_eq!(end.code, Some(4), "{end:?}");
    assert!(end.stdout.contains("got TERM"), "{end:?}");
    assert!(rig.ids().is_empty(), "--rm left {:?}", rig.ids());
}

#[test]
fn ctr_start_a_passes_signals_on() {
    require_root!();
    let rig = Rig::new();
    let made = rig
        .t("ctr-create", &[IMAGE, "sh", "-c", &trapper(5)], 60)
        .ok()
        .json();
    let id = made["id"].as_str().unwrap().to_string();
    let mut c = Client::spawn(rig.cmd("ctr-start").args(["-a", &id]));
    c.wait_stdout("ready", 60);
    c.signal(Signal::SIGUSR1);
    c.wait_stdout("got USR1", 20);
    c.signal(Signal::SIGINT);
    c.wait_stdout("got INT", 20);
    c.signal(Signal::SIGTERM);
    let end = c.finish(30);
    assert_eq!(end.code, Some(5), "{end:?}");
    assert_eq!(rig.inspect(&id)["State"]["ExitCode"], 5);
}

#[test]
fn ctr_attach_passes_signals_on_unless_sig_proxy_false() {
    require_root!();
    let rig = Rig::new();
    let script = "trap 'echo got USR1' USR1; trap 'echo got TERM; exit 6' TERM; \
                  while :; do echo tick; sleep 0.2; done";
    let id = rig.detach(&["--name", "looper", IMAGE, "sh", "-c", script]);

    // --sig-proxy=false: the client dies of it, the container does not hear of it.
    let mut c = Client::spawn(rig.cmd("ctr-attach").args(["--sig-proxy=false", "looper"]));
    c.wait_stdout("tick", 30);
    c.signal(Signal::SIGTERM);
    let end = c.finish(30);
    assert_eq!(end.signal, Some(Signal::SIGTERM as i32), "{end:?}");
    assert_eq!(rig.status(&id), "running");
    assert!(!rig.logs(&id).contains("got TERM"));

    // The default: the signals go to the container, the client exits with its code.
    let mut c = Client::spawn(rig.cmd("ctr-attach").arg("looper"));
    c.wait_stdout("tick", 30);
    c.signal(Signal::SIGUSR1);
    c.wait_stdout("got USR1", 20);
    c.signal(Signal::SIGTERM);
    let end = c.finish(30);
    assert_eq!(end.code, Some(6), "{end:?}");
    assert!(end.stdout.contains("got TERM"), "{end:?}");
    let state = &rig.inspect(&id)["State"];
    assert_eq!(state["Status"], "exited");
    assert_eq!(state["ExitCode"], 6);
}

// ---------------------------------------------------------------------------------------------
// Item 3: SIGWINCH

/// A pty pair of `rows` x `cols`: the master for the test, the slave for the client.
struct Pty {
    master: File,
    slave: Option<OwnedFd>,
    seen: Arc<Mutex<Vec<u8>>>,
}

fn winsize(rows: u16, cols: u16) -> nix::pty::Winsize {
    nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Pty {
    fn open(rows: u16, cols: u16) -> Pty {
        let p = nix::pty::openpty(Some(&winsize(rows, cols)), None).expect("openpty");
        let master = File::from(p.master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut r = master.try_clone().unwrap();
        let s = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once no one has the slave open.
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            slave: Some(p.slave),
            seen,
        }
    }

    /// Runs `c` on the slave (stdin, stdout and stderr); our copy of the slave is closed.
    fn spawn(&mut self, c: &mut Command) -> Child {
        let slave = self.slave.take().expect("one client per pty");
        let s = File::from(slave);
        c.stdin(Stdio::from(s.try_clone().unwrap()))
            .stdout(Stdio::from(s.try_clone().unwrap()))
            .stderr(Stdio::from(s))
            .process_group(0);
        c.spawn().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits (up to `secs`) until the terminal shows `what` after byte `from`.
    fn wait_for(&self, what: &str, from: usize, secs: u64) -> usize {
        let ok = wait_until(secs, || self.text()[from..].contains(what));
        let text = self.text();
        assert!(
            ok,
            "the terminal never showed {what:?} after byte {from}: {text:?}"
        );
        text.len()
    }

    /// Resizes the terminal as a terminal emulator does, and tells the client (the kernel
    /// signals only the terminal's foreground process group, which the client is not here).
    fn resize(&self, client: &Child, rows: u16, cols: u16) {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.master, ws).unwrap();
        kill(Pid::from_raw(client.id() as i32), Signal::SIGWINCH).unwrap();
    }

    fn type_in(&mut self, data: &[u8]) {
        self.master.write_all(data).unwrap();
    }
}

/// Waits (up to `secs`) for `child` to end; its exit status (killed and failed on timeout).
fn finish_child(mut child: Child, secs: u64, pty: &Pty) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            kill_group(child.id() as i32);
            let _ = child.wait();
            panic!("client did not end in {secs}s: {:?}", pty.text());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Prints the pty's size five times a second.
const SIZES: &str = "while :; do stty size; sleep 0.2; done";

#[test]
fn ctr_run_it_resizes_the_container_tty_at_each_sigwinch() {
    require_root!();
    let rig = Rig::new();
    let mut pty = Pty::open(24, 80);
    let client = pty.spawn(
        rig.cmd("ctr-run")
            .args(["-it", "--rm", IMAGE, "sh", "-c", SIZES]),
    );
    let at = pty.wait_for("24 80", 0, 60);
    pty.resize(&client, 40, 120);
    let at = pty.wait_for("40 120", at, 20);
    pty.resize(&client, 50, 132);
    pty.wait_for("50 132", at, 20);
    let id = rig.only();
    rig.t("ctr-kill", &[&id], 30).ok();
    let status = finish_child(client, 30, &pty);
    assert_eq!(status.code(), Some(137), "{:?}", pty.text());
    assert!(rig.ids().is_empty(), "--rm left {:?}", rig.ids());
}

#[test]
fn ctr_attach_resizes_the_container_tty_at_each_sigwinch_and_detaches() {
    require_root!();
    let rig = Rig::new();
    let id = rig.detach(&["-it", "--name", "sizes", IMAGE, "sh", "-c", SIZES]);
    let mut pty = Pty::open(30, 90);
    let client = pty.spawn(rig.cmd("ctr-attach").arg("sizes"));
    let at = pty.wait_for("30 90", 0, 30);
    pty.resize(&client, 41, 121);
    let at = pty.wait_for("41 121", at, 20);
    pty.resize(&client, 25, 100);
    pty.wait_for("25 100", at, 20);
    pty.type_in(b"\x10\x11");
    let status = finish_child(client, 30, &pty);
    assert_eq!(status.code(), Some(0), "detached: {:?}", pty.text());
    assert_eq!(rig.status(&id), "running");
}

#[test]
fn ctr_exec_it_resizes_the_process_tty_at_each_sigwinch() {
    require_root!();
    let rig = Rig::new();
    let id = rig.detach(&[IMAGE, "sh", "-c", "while :; do sleep 1; done"]);
    let mut pty = Pty::open(24, 80);
    let client = pty.spawn(rig.cmd("ctr-exec").args(["-it", &id, "sh", "-c", SIZES]));
    let at = pty.wait_for("24 80", 0, 30);
    pty.resize(&client, 33, 99);
    let at = pty.wait_for("33 99", at, 20);
    pty.resize(&client, 60, 200);
    pty.wait_for("60 200", at, 20);
    // Ctrl-C on the exec'd process's terminal ends it (it is not the container's init).
    pty.type_in(b"\x03");
    let status = finish_child(client, 30, &pty);
    assert_eq!(status.code(), Some(130), "{:?}", pty.text());
    assert_eq!(rig.status(&id), "running");
}

// ---------------------------------------------------------------------------------------------
// Items 11 and 8: what docker run, exec and attach refuse

#[test]
fn it_without_a_terminal_on_stdin_is_refused_and_makes_nothing() {
    require_root!();
    let rig = Rig::new();
    let out = timed_input(
        rig.cmd("ctr-run").args(["-it", "--rm", IMAGE, "true"]),
        Some(b"x\n"),
        60,
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("the input device is not a TTY"),
        "{out:?}"
    );
    assert!(rig.ids().is_empty(), "made {:?}", rig.ids());
    // Without -t, or with -d, stdin need not be a terminal.
    let out = timed_input(
        rig.cmd("ctr-run").args(["-i", "--rm", IMAGE, "cat"]),
        Some(b"x\n"),
        60,
    )
    .ok();
    assert_eq!(out.stdout, "x\n");

    let id = rig.detach(&["-it", IMAGE, "sh"]);
    let out = timed_input(
        rig.cmd("ctr-exec").args(["-it", &id, "true"]),
        Some(b"x\n"),
        60,
    );
    assert_eq!(out.code, 1, "ctr-exec: {out:?}");
    assert!(
        out.stderr.contains("the input device is not a TTY"),
        "{out:?}"
    );
    let out = timed_input(rig.cmd("ctr-attach").arg(&id), Some(b"x\n"), 60);
    assert_eq!(out.code, 1, "ctr-attach: {out:?}");
    assert!(
        out.stderr.contains("the input device is not a TTY"),
        "{out:?}"
    );
    assert_eq!(rig.status(&id), "running");
}

#[test]
fn ctr_exec_and_ctr_attach_on_a_stopped_container_exit_1() {
    require_root!();
    let rig = Rig::new();
    let created = rig
        .t("ctr-create", &["--name", "made", IMAGE, "true"], 60)
        .ok();
    let created = created.json()["id"].as_str().unwrap().to_string();
    rig.run(&["--name", "ended", IMAGE, "true"]).ok();
    for name in ["made", "ended"] {
        let out = rig.t("ctr-exec", &[name, "true"], 30);
        assert_eq!(out.code, 1, "ctr-exec {name}: {out:?}");
        assert!(out.stderr.contains("is not running"), "{out:?}");
        let out = rig.t("ctr-attach", &[name], 30);
        assert_eq!(out.code, 1, "ctr-attach {name}: {out:?}");
        assert!(
            out.stderr
                .contains("you cannot attach to a stopped container, start it first"),
            "{out:?}"
        );
    }
    assert_eq!(rig.status(&created), "created");
    let out = rig.t("ctr-exec", &["nosuch", "true"], 30);
    assert_eq!(out.code, 1, "{out:?}");
    let out = rig.t("ctr-attach", &["nosuch"], 30);
    assert_eq!(out.code, 1, "{out:?}");

    // Paused: docker exec and docker attach refuse it too, exit 1.
    let id = rig.detach(&["--name", "frozen", IMAGE, "sleep", "1000"]);
    rig.t("ctr-pause", &["frozen"], 30).ok();
    let out = rig.t("ctr-exec", &["frozen", "true"], 30);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("is paused"), "{out:?}");
    let out = rig.t("ctr-attach", &["frozen"], 30);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("you cannot attach to a paused container"),
        "{out:?}"
    );
    rig.t("ctr-unpause", &["frozen"], 30).ok();
    assert_eq!(rig.status(&id), "running");
}

/// Docker's answers to the same, from the private daemon (a container that is only created
/// needs no runtime): the exit codes and messages the tests above hold berth to.
#[test]
fn docker_refuses_the_same_with_exit_1() {
    let docker = require_dockerd!();
    let rig = Rig::new();
    // -it without a terminal: refused before the image is even looked at.
    let out = timed_input(
        docker
            .command()
            .args(["run", "-it", "--rm", "nosuch/image", "true"]),
        Some(b"x\n"),
        60,
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("the input device is not a TTY"),
        "{out:?}"
    );

    let tar = rig.path("bb.tar");
    rig.t("img-save", &[IMAGE, "-o", tar.to_str().unwrap()], 60)
        .ok();
    let loaded = timed(
        docker.command().args(["load", "-i", tar.to_str().unwrap()]),
        60,
    );
    assert_eq!(loaded.code, 0, "{loaded:?}");
    let made = timed(
        docker
            .command()
            .args(["create", "--name", "made", IMAGE, "true"]),
        60,
    );
    assert_eq!(made.code, 0, "{made:?}");
    let out = timed(docker.command().args(["exec", "made", "true"]), 60);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.to_lowercase().contains("is not running"),
        "{out:?}"
    );
    let out = timed(docker.command().args(["attach", "made"]), 60);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("You cannot attach to a stopped container, start it first"),
        "{out:?}"
    );
    let out = timed(docker.command().args(["exec", "nosuch", "true"]), 60);
    assert_eq!(out.code, 1, "{out:?}");
}

/// Docker's answer to ctr_run_rm_passes_sigterm_on_and_exits_with_the_container_leaving_nothing:
/// the same container under the private daemon, where it can run containers at all.
#[test]
fn docker_run_rm_passes_sigterm_on_the_same_way() {
    let docker = require_dockerd!();
    let rig = Rig::new();
    let tar = rig.path("bb.tar");
    rig.t("img-save", &[IMAGE, "-o", tar.to_str().unwrap()], 60)
        .ok();
    let loaded = timed(
        docker.command().args(["load", "-i", tar.to_str().unwrap()]),
        60,
    );
    assert_eq!(loaded.code, 0, "{loaded:?}");
    let mut c = Client::spawn(docker.command().args([
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        &trapper(3),
    ]));
    let started = wait_until(60, || {
        c.stdout().contains("ready") || matches!(c.child.try_wait(), Ok(Some(_)))
    });
    if !c.stdout().contains("ready") {
        // The daemon could not run a container here (no runc, cgroups): nothing to compare.
        eprintln!(
            "SKIPPED: this dockerd cannot run containers (started: {started}): {}",
            c.stderr()
        );
        return;
    }
    c.signal(Signal::SIGTERM);
    let end = c.finish(30);
    assert_eq!(end.code, Some(3), "{end:?}");
    assert!(end.stdout.contains("got TERM"), "{end:?}");
    let ps = timed(docker.command().args(["ps", "-a", "-q"]), 30);
    assert_eq!(ps.stdout.trim(), "", "docker run --rm left {ps:?}");
}
