//! The one container rig of the e2e tests: a root with busybox imported whose containers are
//! all removed (and mounts left under it lazily unmounted) when it drops, and every child process
//! bounded in time (`timed`). The container, volume, network and ctr-cp tests build on it.

use std::fs::File;
use std::io::Write;
use std::ops::Deref;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{bin_dir, Env, Out};

/// The busybox image of `Rig::new`.
pub const IMAGE: &str = "bb:1";

/// Runs `c` with its stdout and stderr in files (a process that inherits them, a monitor, cannot
/// make the test wait for an EOF), in its own process group, killed with it after `secs`. A
/// timeout reads as code -2 with "TIMED OUT" in stderr.
pub fn timed(c: &mut Command, secs: u64) -> Out {
    timed_input(c, None, secs)
}

pub fn timed_input(c: &mut Command, input: Option<&[u8]>, secs: u64) -> Out {
    let dir = tempfile::tempdir().expect("tempdir");
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    c.stdout(File::create(&o).unwrap())
        .stderr(File::create(&e).unwrap())
        .process_group(0);
    if input.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("piped");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut nap = Duration::from_millis(1);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() > deadline {
            kill_group(child.id() as i32);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&std::fs::read(&o).unwrap_or_default()).into_owned();
    let mut stderr = String::from_utf8_lossy(&std::fs::read(&e).unwrap_or_default()).into_owned();
    let code = match status {
        Some(s) => s.code().unwrap_or(-1),
        None => {
            stderr.push_str(&format!("\nTIMED OUT after {secs}s: {c:?}"));
            -2
        }
    };
    Out {
        code,
        stdout,
        stderr,
    }
}

pub fn kill_group(pgid: i32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// Polls `f` every 20 ms for up to `secs`; whether it became true.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A test's root with the busybox image imported, whose containers are all removed (and any
/// mount left under it lazily unmounted) when it drops, so a failing test leaves nothing running.
pub struct Rig {
    pub env: Env,
    /// The busybox image's reference (`sh` runs it).
    pub image: String,
}

impl Deref for Rig {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.env
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for id in self.ids() {
            let _ = timed(self.env.cmd("ctr-rm").args(["-f", &id]), 20);
        }
        for m in mounts_under(self.env.tmp.path()).into_iter().rev() {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
    }
}

impl Rig {
    /// A new root with busybox imported as `IMAGE`.
    pub fn new() -> Rig {
        Rig::with_image(IMAGE)
    }

    /// A new root with busybox imported as `reference`.
    pub fn with_image(reference: &str) -> Rig {
        let env = Env::new();
        env.import_busybox(reference);
        Rig {
            env,
            image: reference.to_string(),
        }
    }

    /// A tool, bounded to `secs`.
    pub fn t(&self, tool: &str, args: &[&str], secs: u64) -> Out {
        timed(self.env.cmd(tool).args(args), secs)
    }

    /// `ctr-run` with `args`, attached, bounded to 60 s.
    pub fn run(&self, args: &[&str]) -> Out {
        self.t("ctr-run", args, 60)
    }

    /// `ctr-run --rm IMAGE sh -c SCRIPT` with `flags` before the image; must succeed.
    pub fn sh(&self, flags: &[&str], script: &str) -> String {
        let mut a = vec!["--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&[&self.image, "sh", "-c", script]);
        self.run(&a).ok().stdout
    }

    /// `ctr-run -d` with `args`: the new container's ID.
    pub fn detach(&self, args: &[&str]) -> String {
        let mut a = vec!["-d"];
        a.extend_from_slice(args);
        let out = self.t("ctr-run", &a, 60).ok();
        let id = out.json()["id"].as_str().expect("id").to_string();
        assert_eq!(id.len(), 64, "{out:?}");
        id
    }

    /// The full IDs of the containers in this root.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.env.root.join("containers"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// The only container of this root.
    pub fn only(&self) -> String {
        let ids = self.ids();
        assert_eq!(ids.len(), 1, "one container expected: {ids:?}");
        ids[0].clone()
    }

    /// The container's record, Docker-inspect-shaped: `ctr-inspect` once it is built here,
    /// `$ROOT/containers/<id>/state.json` until then.
    pub fn inspect(&self, id: &str) -> Value {
        if bin_dir().join("ctr-inspect").exists() {
            let v = self.t("ctr-inspect", &[id], 20).ok().json();
            return match v {
                Value::Array(mut a) if !a.is_empty() => a.remove(0),
                v => v,
            };
        }
        let p = self.env.root.join("containers").join(id).join("state.json");
        let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_slice(&data).expect("state.json is JSON")
    }

    pub fn status(&self, id: &str) -> String {
        self.inspect(id)["State"]["Status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// stdout and stderr of `ctr-logs`.
    pub fn logs(&self, id: &str) -> String {
        let out = self.t("ctr-logs", &[id], 20).ok();
        out.stdout + &out.stderr
    }

    /// Waits (up to `secs`) until the logs contain `what` `n` times.
    pub fn wait_logs(&self, id: &str, what: &str, n: usize, secs: u64) -> String {
        let mut last = String::new();
        let ok = wait_until(secs, || {
            last = self.logs(id);
            last.matches(what).count() >= n
        });
        assert!(ok, "logs never showed {what:?} {n} times: {last:?}");
        last
    }

    /// Processes that name this root on their command line (monitors, attached tools).
    pub fn processes(&self) -> Vec<String> {
        processes_naming(&self.env.root.to_string_lossy())
    }
}

/// Runs `c` to completion within `secs` (killed after), with `input` on stdin.
pub fn timed_bytes(c: &mut Command, input: Option<&[u8]>, secs: u64) -> (Out, Vec<u8>) {
    c.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("piped");
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if d.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    });
    let o = child.wait_with_output().expect("wait");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let out = Out {
        code: o.status.code().unwrap_or(-2),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    (out, o.stdout)
}

/// Mount points of this process's mount table (the host's) under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.to_string_lossy().into_owned();
    mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// Every mount point of /proc/self/mountinfo, in order.
pub fn mount_points() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// `pid: cmdline` of every process whose command line contains `needle`.
pub fn processes_naming(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            found.push(format!("{name}: {cmd}"));
        }
    }
    found
}
