//! Issue 19 (acceptance criteria 13 and 16): `berth-runtime` as containerd 1.6 runs it. A
//! private containerd (CRI disabled, root, state and sockets of its own under /tmp) is driven
//! with `ctr run --rootfs DIR --env PATH=/bin --runc-binary B --runc-root R`, once with
//! `/usr/sbin/runc` and once with berth-runtime, through every scenario of the runtime-cli
//! README's §4 but checkpoint. What a `ctr` user sees is compared: output, exit codes, task
//! states, `task ps`, `task metrics`, the error of a failing create. After each scenario
//! nothing may be left by either runtime: no leaf cgroup under the test's ctr namespace, no
//! state directory under the runtime's root, no mount under the test's directory, no runtime,
//! shim or container process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::rig::{mounts_under, processes_naming, timed, timed_input, wait_until};
use crate::support::{bin, busybox_rootfs, Out};

/// The ctr namespace of this test: containerd's runc shim makes cgroupsPath `/<ns>/<id>`, so
/// every cgroup of the test is under `/berthctd` in each v1 hierarchy.
const NS: &str = "berthctd";

/// A private containerd 1.6, stopped when dropped with everything it left: its shims, the
/// processes in the test's cgroups (thawed first), those cgroups, mounts under its directory
/// and the directory itself.
struct Containerd {
    dir: tempfile::TempDir,
    child: Child,
}

impl Containerd {
    fn start() -> Containerd {
        // Short: the sockets live here, and a unix socket path must stay under 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("bctd-")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path().display();
        let config = format!(
            "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c.sock.ttrpc\"\n\
             [debug]\n  address = \"{d}/d.sock\"\n[metrics]\n  address = \"\"\n"
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.path().join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn containerd");
        let ctd = Containerd { dir, child };
        let up = wait_until(20, || ctd.run(&["version"]).code == 0);
        assert!(
            up,
            "containerd did not come up: {}",
            std::fs::read_to_string(ctd.dir.path().join("containerd.log")).unwrap_or_default()
        );
        ctd
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn socket(&self) -> PathBuf {
        self.path().join("c.sock")
    }

    fn ctr(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(self.socket())
            .args(["-n", NS])
            .args(self.with_fifo_dir(args));
        c
    }

    /// `args` with `--fifo-dir` under the test's directory for `run` and `task exec`: ctr
    /// leaves the fifos of detached tasks and execs behind in /run/containerd/fifo otherwise.
    fn with_fifo_dir(&self, args: &[&str]) -> Vec<String> {
        let verb = match args {
            ["run", ..] => 1,
            ["task", "exec", ..] => 2,
            _ => 0,
        };
        let mut all: Vec<String> = args[..verb].iter().map(|a| a.to_string()).collect();
        if verb > 0 {
            all.push("--fifo-dir".into());
            all.push(self.path().join("fifo").display().to_string());
        }
        all.extend(args[verb..].iter().map(|a| a.to_string()));
        all
    }

    /// `ctr ARGS`, bounded.
    fn run(&self, args: &[&str]) -> Out {
        let mut c = self.ctr(args);
        c.stdin(Stdio::null());
        timed(&mut c, 30)
    }

    /// `ctr ARGS` under `script -qec` for a pty of 45 rows and 123 columns, with `input` typed
    /// into it, bounded; the output with the pty's `\r` and the `^@` that `script` prints
    /// dropped.
    fn run_in_pty(&self, args: &[&str], input: Option<&[u8]>) -> Out {
        let line = std::iter::once(format!(
            "stty rows 45 cols 123; ctr -a {} -n {NS}",
            self.socket().display()
        ))
        .chain(self.with_fifo_dir(args).iter().map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ");
        let mut o = timed_input(
            Command::new("script")
                .args(["-qec", &line, "/dev/null"])
                .stdin(Stdio::null()),
            input,
            30,
        );
        // ctr sizes the pty only after the process started (hence the sleeps before `stty
        // size` in the commands run here), and output a process writes just before it exits
        // can be lost between the shim and ctr (hence the sleeps before they exit). When the
        // process has exited before the size is set, the shim answers "cannot resize a
        // stopped container" and ctr logs that into the pty. Races of ctr's and the shim's,
        // as frequent with runc as with berth: not compared.
        o.stdout = o
            .stdout
            .replace('\r', "")
            .replace("^@", "")
            .lines()
            .filter(|l| !l.contains("resize pty"))
            .map(|l| format!("{l}\n"))
            .collect();
        o
    }

    /// The (pid, status) of task `id` in `ctr task ls`.
    fn task(&self, id: &str) -> Option<(i32, String)> {
        self.run(&["task", "ls"]).stdout.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[0] == id).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
        })
    }

    fn status(&self, id: &str) -> String {
        self.task(id).map(|t| t.1).unwrap_or_default()
    }

    /// The host pids `ctr task ps` lists.
    fn ps(&self, id: &str) -> Vec<i32> {
        self.run(&["task", "ps", id])
            .stdout
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// The shims of this containerd that still run.
    fn shims(&self) -> Vec<String> {
        let me = format!("-address {}", self.socket().display());
        processes_naming("containerd-shim-runc-v2")
            .into_iter()
            .filter(|p| p.contains(&me))
            .collect()
    }

    /// What is left behind after a scenario run with `rt`: leaf cgroups of the namespace,
    /// state directories under rt's root, mounts under the test's directory, runtime calls
    /// still running (and any berth-runtime process), shims, processes in the namespace's
    /// cgroups.
    fn leftovers(&self, rt: &Rt) -> Vec<String> {
        let mut left: Vec<String> = leaf_cgroups();
        let state = rt.root.join(NS);
        left.extend(
            std::fs::read_dir(&state)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| format!("state {}", e.path().display())),
        );
        left.extend(
            mounts_under(self.path())
                .into_iter()
                .map(|m| format!("mount {m}")),
        );
        left.extend(processes_naming(&rt.root.display().to_string()));
        // Whatever berth-runtime runs as (runc is left out: other tests may be running it).
        if rt.name == "berth" {
            left.extend(processes_naming(&rt.bin.display().to_string()));
        }
        left.extend(self.shims());
        left.extend(processes_in_namespace());
        left
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        for shim in self.shims() {
            let pid = shim.split(':').next().unwrap_or_default().to_string();
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
        // A shim killed leaves its socket, which is not under our directory: each bundle's
        // `address` file names it (unix:///run/containerd/s/HASH).
        let bundles = self
            .path()
            .join("state/io.containerd.runtime.v2.task")
            .join(NS);
        for b in subdirs(&bundles) {
            let address = std::fs::read_to_string(b.join("address")).unwrap_or_default();
            if let Some(socket) = address.trim().strip_prefix("unix://") {
                if socket.starts_with("/run/containerd/s/") {
                    let _ = std::fs::remove_file(socket);
                }
            }
        }
        // A paused container does not die until thawed.
        for dir in leaf_cgroups_of("freezer") {
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
        }
        for p in processes_in_namespace() {
            let pid = p.split(':').next().unwrap_or_default().to_string();
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        wait_until(5, || processes_in_namespace().is_empty());
        for dir in leaf_cgroups_of_all() {
            let _ = std::fs::remove_dir(dir);
        }
        for m in mounts_under(self.dir.path()).into_iter().rev() {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
    }
}

/// The v1 hierarchies' directories of the test's namespace (`/sys/fs/cgroup/*/berthctd`).
fn namespace_cgroups() -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(NS))
        .filter(|p| p.is_dir())
        .collect()
}

fn leaf_cgroups_of(controller: &str) -> Vec<PathBuf> {
    subdirs(&Path::new("/sys/fs/cgroup").join(controller).join(NS))
}

fn leaf_cgroups_of_all() -> Vec<PathBuf> {
    namespace_cgroups()
        .iter()
        .flat_map(|d| subdirs(d))
        .collect()
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

fn leaf_cgroups() -> Vec<String> {
    leaf_cgroups_of_all()
        .into_iter()
        .map(|p| format!("cgroup {}", p.display()))
        .collect()
}

/// `pid: cgroup line` of every process in a cgroup under `/berthctd/` that has not exited.
fn processes_in_namespace() -> Vec<String> {
    let needle = format!(":/{NS}/");
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A zombie has exited: what is left of it is its parent's to reap (for a child
        // orphaned into a joined pid namespace, that namespace's pid 1, which may never).
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
        {
            continue;
        }
        let cgroups = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
        if let Some(l) = cgroups.lines().find(|l| l.contains(&needle)) {
            found.push(format!("{name}: {l}"));
        }
    }
    found
}

/// One runtime as ctr is pointed at it: `--runc-binary`, a `--runc-root` of its own, and a
/// busybox root filesystem of its own.
struct Rt {
    name: &'static str,
    bin: PathBuf,
    root: PathBuf,
    rootfs: PathBuf,
}

impl Rt {
    fn new(ctd: &Containerd, name: &'static str, bin: PathBuf) -> Rt {
        let rootfs = ctd.path().join(format!("rootfs-{name}"));
        busybox_rootfs(&rootfs);
        Rt {
            name,
            bin,
            root: ctd.path().join(format!("rr-{name}")),
            rootfs,
        }
    }

    /// `ctr run` flags that put the container on this runtime, up to and including the
    /// root filesystem (the next argument is the id).
    fn run_args(&self) -> Vec<String> {
        [
            "--rootfs",
            "--env",
            "PATH=/bin",
            "--runc-binary",
            &self.bin.display().to_string(),
            "--runc-root",
            &self.root.display().to_string(),
            &self.rootfs.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

/// What a scenario showed, step by step, as (step, what ctr said) with ids and pids taken out.
type Seen = Vec<(String, String)>;

/// `ctr run OPTS <rt's flags> ID CMD…` as an argument list.
fn run_cmd(rt: &Rt, opts: &[&str], id: &str, cmd: &[&str]) -> Vec<String> {
    let mut a = vec!["run".to_string()];
    a.extend(opts.iter().map(|s| s.to_string()));
    a.extend(rt.run_args());
    a.push(id.to_string());
    a.extend(cmd.iter().map(|s| s.to_string()));
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Waits at most `secs` for `child`; kills it when the time is up.
fn wait_child(child: &mut Child, secs: u64) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `ctr run --rm`: exit 0, exit 3, killed by SIGKILL (137), and a create that fails because
/// the program does not exist.
fn run_rm(ctd: &Containerd, rt: &Rt) -> Seen {
    let id = format!("a-{}", rt.name);
    let mut seen = Seen::new();
    for code in [0, 3] {
        let script = format!("echo hi; exit {code}");
        let o = ctd.run(&strs(&run_cmd(rt, &["--rm"], &id, &["sh", "-c", &script])));
        seen.push((
            format!("run --rm exit {code}"),
            format!("{} {:?}", o.code, o.stdout),
        ));
    }
    let args = run_cmd(rt, &["--rm"], &id, &["sleep", "100"]);
    let mut c = ctd.ctr(&strs(&args));
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("ctr run");
    let running = wait_until(20, || ctd.status(&id) == "RUNNING");
    let kill = ctd.run(&["task", "kill", "-s", "SIGKILL", &id]);
    let status = wait_child(&mut child, 20);
    seen.push((
        "run --rm, task kill -s SIGKILL".into(),
        format!(
            "running {running}, kill {}, ctr exit {:?}",
            kill.code,
            status.and_then(|s| s.code())
        ),
    ));
    let o = ctd.run(&strs(&run_cmd(rt, &["--rm"], &id, &["/nonexistent"])));
    seen.push((
        "run --rm /nonexistent".into(),
        format!(
            "{} names the path: {}",
            o.code,
            o.stderr
                .contains("exec: \"/nonexistent\": stat /nonexistent: no such file or directory")
        ),
    ));
    let o = ctd.run(&["container", "ls", "-q"]);
    seen.push(("container ls".into(), o.stdout));
    seen
}

/// `ctr run --rm -t` under a pty: the container's tty is a /dev/pts.
fn run_tty(ctd: &Containerd, rt: &Rt) -> Seen {
    let id = format!("d-{}", rt.name);
    let o = ctd.run_in_pty(
        &strs(&run_cmd(
            rt,
            &["--rm", "-t"],
            &id,
            &[
                "sh",
                "-c",
                "sleep 0.3; echo hi; tty; stty size; sleep 0.3; exit 2",
            ],
        )),
        None,
    );
    let mut seen = vec![(
        "run --rm -t".into(),
        format!("{} {}", o.code, pts(&o.stdout)),
    )];
    // What is typed reaches the container's shell through the pty.
    let o = ctd.run_in_pty(
        &strs(&run_cmd(rt, &["--rm", "-t"], &id, &["sh"])),
        Some(b"echo from-$((6*7)); sleep 0.3\nexit 7\n"),
    );
    seen.push((
        "run --rm -t sh, typed into".into(),
        format!(
            "{} said: {}",
            o.code,
            o.stdout.lines().any(|l| l == "from-42")
        ),
    ));
    seen
}

/// `/dev/pts/N` made `/dev/pts/N` whatever N is.
fn pts(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix("/dev/pts/") {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => "/dev/pts/N",
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// A detached task through its life: exec with and without a tty, ps, metrics, pause and
/// resume, a TERM its pid 1 ignores, SIGKILL, delete.
fn detached(ctd: &Containerd, rt: &Rt) -> Seen {
    let id = format!("b-{}", rt.name);
    let mut seen = Seen::new();
    let o = ctd.run(&strs(&run_cmd(rt, &["-d"], &id, &["sleep", "1000"])));
    seen.push(("run -d".into(), o.code.to_string()));
    let (pid, status) = ctd.task(&id).unwrap_or_default();
    seen.push(("task ls".into(), status));
    // Criterion 13: the init is in cgroupsPath in every hierarchy before create returns.
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mut inside: Vec<&str> = cgroups
        .lines()
        .filter(|l| l.ends_with(&format!(":/{NS}/{id}")))
        .filter_map(|l| l.split(':').nth(1))
        .map(|c| if c.is_empty() { "unified" } else { c })
        .collect();
    inside.sort();
    seen.push(("init's cgroups".into(), inside.join(" ")));
    let o = ctd.run(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo fromexec; exit 5",
    ]);
    seen.push(("task exec".into(), format!("{} {:?}", o.code, o.stdout)));
    let o = ctd.run_in_pty(
        &[
            "task",
            "exec",
            "-t",
            "--exec-id",
            "x1",
            &id,
            "sh",
            "-c",
            "sleep 0.3; tty; echo ok; stty size; sleep 0.3; exit 4",
        ],
        None,
    );
    seen.push((
        "task exec -t".into(),
        format!("{} {}", o.code, pts(&o.stdout)),
    ));
    let o = ctd.run(&["task", "exec", "-d", "--exec-id", "e2", &id, "sleep", "500"]);
    seen.push(("task exec -d".into(), o.code.to_string()));
    let ps = ctd.ps(&id);
    seen.push((
        "task ps".into(),
        format!("{} pids, init among them: {}", ps.len(), ps.contains(&pid)),
    ));
    let m = ctd.run(&["task", "metrics", "--format", "json", &id]);
    let mj: Value = serde_json::from_str(&m.stdout).unwrap_or(Value::Null);
    seen.push((
        "task metrics".into(),
        format!(
            "{} pids {} cpu used {} memory used {}",
            m.code,
            mj["pids"]["current"],
            mj["cpu"]["usage"]["total"].as_u64().unwrap_or(0) > 0,
            mj["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        ),
    ));
    let o = ctd.run(&["task", "kill", "--exec-id", "e2", "-s", "SIGKILL", &id]);
    let one = wait_until(10, || ctd.ps(&id).len() == 1);
    seen.push((
        "task kill --exec-id".into(),
        format!("{} then one pid: {one}", o.code),
    ));
    let freezer = Path::new("/sys/fs/cgroup/freezer")
        .join(NS)
        .join(&id)
        .join("freezer.state");
    for (verb, want) in [("pause", "PAUSED"), ("resume", "RUNNING")] {
        let o = ctd.run(&["task", verb, &id]);
        let state = std::fs::read_to_string(&freezer).unwrap_or_default();
        seen.push((
            format!("task {verb}"),
            format!("{} {} {}", o.code, ctd.status(&id), state.trim()),
        ));
        assert_eq!(ctd.status(&id), want, "{}: task {verb}", rt.name);
    }
    let o = ctd.run(&["task", "kill", &id]);
    // pid 1 has no handler for TERM: it stays.
    std::thread::sleep(Duration::from_millis(300));
    seen.push((
        "task kill (TERM)".into(),
        format!("{} {}", o.code, ctd.status(&id)),
    ));
    let o = ctd.run(&["task", "kill", "-s", "SIGKILL", &id]);
    let stopped = wait_until(10, || ctd.status(&id) == "STOPPED");
    seen.push((
        "task kill -s SIGKILL".into(),
        format!("{} stopped {stopped}", o.code),
    ));
    let o = ctd.run(&["task", "delete", &id]);
    seen.push((
        "task delete".into(),
        format!(
            "{} says 137: {}",
            o.code,
            o.stderr.contains("exit with non-zero exit code 137")
        ),
    ));
    let o = ctd.run(&["container", "rm", &id]);
    seen.push(("container rm".into(), o.code.to_string()));
    seen
}

/// `task kill --all -s SIGKILL` kills every process of the container, not only its init.
fn kill_all(ctd: &Containerd, rt: &Rt) -> Seen {
    let id = format!("c-{}", rt.name);
    let mut seen = Seen::new();
    let o = ctd.run(&strs(&run_cmd(
        rt,
        &["-d"],
        &id,
        &["sh", "-c", "sleep 1000 & sleep 1000"],
    )));
    seen.push(("run -d".into(), o.code.to_string()));
    let two = wait_until(10, || ctd.ps(&id).len() == 2);
    seen.push(("two processes".into(), two.to_string()));
    let o = ctd.run(&["task", "kill", "--all", "-s", "SIGKILL", &id]);
    let stopped = wait_until(10, || ctd.status(&id) == "STOPPED");
    let procs = Path::new("/sys/fs/cgroup/pids")
        .join(NS)
        .join(&id)
        .join("cgroup.procs");
    let empty = wait_until(10, || {
        std::fs::read_to_string(&procs).is_ok_and(|p| p.trim().is_empty())
    });
    seen.push((
        "task kill --all".into(),
        format!("{} stopped {stopped}, cgroup empty {empty}", o.code),
    ));
    let o = ctd.run(&["task", "delete", &id]);
    seen.push(("task delete".into(), o.code.to_string()));
    let o = ctd.run(&["container", "rm", &id]);
    seen.push(("container rm".into(), o.code.to_string()));
    seen
}

/// `--with-ns pid:/proc/PID/ns/pid`: a task joins another's pid namespace; when its init
/// exits, the shim's `kill --all` takes the child it left behind.
fn with_ns(ctd: &Containerd, rt: &Rt) -> Seen {
    let (s1, s2) = (format!("s1-{}", rt.name), format!("s2-{}", rt.name));
    let mut seen = Seen::new();
    let o = ctd.run(&strs(&run_cmd(rt, &["-d"], &s1, &["sleep", "1000"])));
    seen.push(("run -d".into(), o.code.to_string()));
    let (pid, _) = ctd.task(&s1).unwrap_or_default();
    let ns = format!("pid:/proc/{pid}/ns/pid");
    let o = ctd.run(&strs(&run_cmd(
        rt,
        &["--rm", "--with-ns", &ns],
        &s2,
        &[
            "sh",
            "-c",
            "sleep 1000 & echo x; tr '\\0' ' ' < /proc/1/cmdline",
        ],
    )));
    seen.push((
        "run --rm --with-ns".into(),
        format!("{} {:?}", o.code, o.stdout),
    ));
    // Only s1's own init is left in the namespace: the shim killed s2's sleep.
    let one = wait_until(10, || {
        ctd.ps(&s1).len() == 1 && !processes_in_namespace().iter().any(|p| p.contains(&s2))
    });
    seen.push(("s2's child killed".into(), one.to_string()));
    let o = ctd.run(&["task", "kill", "-s", "SIGKILL", &s1]);
    let stopped = wait_until(10, || ctd.status(&s1) == "STOPPED");
    seen.push(("kill s1".into(), format!("{} {stopped}", o.code)));
    let o = ctd.run(&["task", "delete", &s1]);
    seen.push(("task delete".into(), o.code.to_string()));
    let o = ctd.run(&["container", "rm", &s1]);
    seen.push(("container rm".into(), o.code.to_string()));
    seen
}

/// Beyond §4, what other `ctr` flags and verbs reach the runtime as: resource limits from
/// `ctr run` flags in the cgroup files, exec with a cwd and a user (and its HOME), exec errors
/// (a missing program or cwd, a paused or stopped task), the OOM killer (and its event), a
/// read-only root and a cgroup path of the caller's choosing.
fn more(ctd: &Containerd, rt: &Rt) -> Seen {
    let id = format!("m-{}", rt.name);
    let mut seen = Seen::new();
    let limits = [
        "-d",
        "--memory-limit",
        "20000000",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpu-shares",
        "512",
    ];
    let o = ctd.run(&strs(&run_cmd(rt, &limits, &id, &["sleep", "1000"])));
    let files = [
        "memory/memory.limit_in_bytes",
        "cpu/cpu.cfs_quota_us",
        "cpu/cpu.cfs_period_us",
        "cpu/cpu.shares",
    ];
    let values: Vec<String> = files
        .iter()
        .map(|f| {
            let (c, file) = f.split_once('/').unwrap();
            let path = Path::new("/sys/fs/cgroup")
                .join(c)
                .join(NS)
                .join(&id)
                .join(file);
            std::fs::read_to_string(path)
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    seen.push((
        "run -d with limits".into(),
        format!("{} {values:?}", o.code),
    ));
    let o = ctd.run(&["task", "exec", "--exec-id", "n1", &id, "/nonexistent"]);
    seen.push((
        "task exec /nonexistent".into(),
        format!(
            "{} names the path: {}",
            o.code,
            o.stderr
                .contains("exec: \"/nonexistent\": stat /nonexistent: no such file or directory")
        ),
    ));
    let o = ctd.run(&[
        "task",
        "exec",
        "--exec-id",
        "n2",
        "--cwd",
        "/tmp",
        "--user",
        "65534",
        &id,
        "sh",
        "-c",
        "pwd; id -u; echo $HOME",
    ]);
    seen.push((
        "task exec --cwd --user".into(),
        format!("{} {:?}", o.code, o.stdout),
    ));
    // The init's cwd is made when missing, an exec'd process's is not: the exec fails.
    let o = ctd.run(&[
        "task",
        "exec",
        "--exec-id",
        "n5",
        "--cwd",
        "/nowhere",
        &id,
        "pwd",
    ]);
    seen.push((
        "task exec --cwd /nowhere".into(),
        format!(
            "{} says so: {}, made: {}",
            o.code,
            o.stderr
                .contains("chdir to cwd (\"/nowhere\") set in config.json failed"),
            rt.rootfs.join("nowhere").exists()
        ),
    ));
    ctd.run(&["task", "pause", &id]);
    let o = ctd.run(&["task", "exec", "--exec-id", "n3", &id, "true"]);
    seen.push((
        "task exec, paused".into(),
        format!("{} {}", o.code, o.stderr.trim()),
    ));
    ctd.run(&["task", "resume", &id]);
    ctd.run(&["task", "kill", "-s", "SIGKILL", &id]);
    let stopped = wait_until(10, || ctd.status(&id) == "STOPPED");
    let o = ctd.run(&["task", "exec", "--exec-id", "n4", &id, "true"]);
    seen.push((
        "task exec, stopped".into(),
        format!("{stopped} {} {}", o.code, o.stderr.trim()),
    ));
    let o = ctd.run(&["task", "kill", "-s", "SIGKILL", &id]);
    seen.push((
        "task kill, stopped".into(),
        format!("{} {}", o.code, o.stderr.trim()),
    ));
    ctd.run(&["task", "delete", &id]);
    let o = ctd.run(&["container", "rm", &id]);
    seen.push(("container rm".into(), o.code.to_string()));
    // The shim watches the memory cgroup it read from /proc/PID/cgroup right after create:
    // an OOM kill is a /tasks/oom event only when the init was in it by then. The shim starts
    // watching only after start returned (hence the sleep: an OOM before is missed, with
    // either runtime).
    let events_file = ctd.path().join(format!("events-{}", rt.name));
    let mut events = ctd
        .ctr(&["events"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&events_file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("ctr events");
    std::thread::sleep(Duration::from_millis(300));
    let oom = format!("oom-{}", rt.name);
    let o = ctd.run(&strs(&run_cmd(
        rt,
        &["--rm", "--memory-limit", "20000000"],
        &oom,
        &[
            "sh",
            "-c",
            "sleep 0.5; x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
        ],
    )));
    let said_oom = wait_until(5, || {
        std::fs::read_to_string(&events_file).is_ok_and(|t| t.contains("/tasks/oom"))
    });
    let _ = events.kill();
    let _ = events.wait();
    let mut topics: Vec<String> = std::fs::read_to_string(&events_file)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!("\"{oom}\"")))
        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_string))
        .collect();
    seen.push((
        "run --rm, out of memory".into(),
        format!("{} {:?}, oom event: {said_oom}", o.code, o.stdout),
    ));
    // The kernel reports an OOM once or many times (as it kills one process or several, one
    // after the other), and the shim publishes it before or after the exit, with either
    // runtime: which events, not how many or in which order.
    topics.sort();
    topics.dedup();
    seen.push(("events".into(), topics.join(" ")));
    let o = ctd.run(&strs(&run_cmd(
        rt,
        &["--rm", "--read-only"],
        &id,
        &["touch", "/x"],
    )));
    seen.push((
        "run --rm --read-only".into(),
        format!("{} {}", o.code, o.stderr.trim()),
    ));
    let cg = format!("/{NS}/own-{}", rt.name);
    let o = ctd.run(&strs(&run_cmd(
        rt,
        &["--rm", "--cgroup", &cg],
        &id,
        &["sed", "-n", "s/^[0-9]*:memory://p", "/proc/self/cgroup"],
    )));
    seen.push((
        "run --rm --cgroup".into(),
        format!("{} {:?}", o.code, o.stdout.replace(&cg, "/berthctd/own-RT")),
    ));
    seen
}

#[test]
fn ctr_on_berth_runtime_answers_as_on_runc() {
    require_root!();
    for prog in ["containerd", "ctr", "runc", "script"] {
        require_program!(prog);
    }
    let started = Instant::now();
    let ctd = Containerd::start();
    let runc = Rt::new(&ctd, "runc", PathBuf::from("/usr/sbin/runc"));
    let berth = Rt::new(&ctd, "berth", bin("berth-runtime"));
    type Scenario = fn(&Containerd, &Rt) -> Seen;
    let scenarios: [(&str, Scenario); 6] = [
        ("run --rm", run_rm),
        ("run --rm -t", run_tty),
        ("detached task", detached),
        ("kill --all", kill_all),
        ("--with-ns pid", with_ns),
        ("more", more),
    ];
    let mut answers = Vec::new();
    for (name, scenario) in scenarios {
        let mut seen = Vec::new();
        for rt in [&runc, &berth] {
            seen.push(scenario(&ctd, rt));
            let mut left = Vec::new();
            let clean = wait_until(5, || {
                left = ctd.leftovers(rt);
                left.is_empty()
            });
            assert!(clean, "{}: {name} left {left:#?}", rt.name);
        }
        assert_eq!(
            seen[0], seen[1],
            "{name}: runc (left) and berth-runtime (right) differ"
        );
        answers.push((name, seen.swap_remove(0)));
    }
    // What both said is what a ctr user expects.
    let said = |scenario: &str, step: &str| -> String {
        answers
            .iter()
            .find(|a| a.0 == scenario)
            .and_then(|a| a.1.iter().find(|s| s.0 == step))
            .map(|s| s.1.clone())
            .unwrap_or_else(|| panic!("no step {step} in {scenario}"))
    };
    assert_eq!(said("run --rm", "run --rm exit 0"), "0 \"hi\\n\"");
    assert_eq!(said("run --rm", "run --rm exit 3"), "3 \"hi\\n\"");
    assert_eq!(
        said("run --rm", "run --rm, task kill -s SIGKILL"),
        "running true, kill 0, ctr exit Some(137)"
    );
    assert_eq!(
        said("run --rm", "run --rm /nonexistent"),
        "1 names the path: true"
    );
    assert_eq!(said("run --rm -t", "run --rm -t"), "2 hi|/dev/pts/N|45 123");
    assert_eq!(
        said("run --rm -t", "run --rm -t sh, typed into"),
        "7 said: true"
    );
    let cgroups = said("detached task", "init's cgroups");
    for c in [
        "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
    ] {
        assert!(cgroups.split(' ').any(|x| x == c), "{c} not in {cgroups}");
    }
    assert_eq!(said("detached task", "task exec"), "5 \"fromexec\\n\"");
    assert_eq!(
        said("detached task", "task exec -t"),
        "4 /dev/pts/N|ok|45 123"
    );
    assert_eq!(
        said("detached task", "task ps"),
        "2 pids, init among them: true"
    );
    assert_eq!(
        said("detached task", "task metrics"),
        "0 pids 2 cpu used true memory used true"
    );
    assert_eq!(said("detached task", "task pause"), "0 PAUSED FROZEN");
    assert_eq!(said("detached task", "task kill (TERM)"), "0 RUNNING");
    assert_eq!(
        said("kill --all", "task kill --all"),
        "0 stopped true, cgroup empty true"
    );
    assert_eq!(
        said("--with-ns pid", "run --rm --with-ns"),
        "0 \"x\\nsleep 1000 \""
    );
    assert_eq!(said("--with-ns pid", "s2's child killed"), "true");
    assert_eq!(
        said("more", "run -d with limits"),
        "0 [\"19996672\", \"20000\", \"100000\", \"512\"]"
    );
    assert_eq!(
        said("more", "task exec /nonexistent"),
        "1 names the path: true"
    );
    assert_eq!(
        said("more", "task exec --cwd --user"),
        "0 \"/tmp\\n65534\\n/nonexistent\\n\""
    );
    assert_eq!(
        said("more", "task exec --cwd /nowhere"),
        "1 says so: true, made: false"
    );
    assert_eq!(
        said("more", "run --rm, out of memory"),
        "137 \"\", oom event: true"
    );
    assert_eq!(
        said("more", "events"),
        "/containers/create /containers/delete /tasks/create /tasks/delete /tasks/exit \
         /tasks/oom /tasks/start"
    );
    assert_eq!(
        said("more", "run --rm --cgroup"),
        "0 \"/berthctd/own-RT\\n\""
    );
    eprintln!("containerd scenarios took {:?}", started.elapsed());
}
