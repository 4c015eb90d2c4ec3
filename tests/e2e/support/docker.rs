//! A private Docker daemon for one test: its own data root, exec root, pid file, config and
//! socket under a temporary directory, no iptables and no bridge, the vfs storage driver (works
//! on any file system, and the tests' images are tiny), and its own containerd namespace in case
//! it shares a system containerd. Stopped (SIGTERM, then SIGKILL) when dropped. Needs root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{have, is_root, run, Out};

pub struct Dockerd {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Dockerd {
    /// Starts a daemon, or says why it cannot (for the test to skip with).
    pub fn start() -> Result<Dockerd, String> {
        Dockerd::start_opts(false, "{}")
    }

    /// A daemon with this daemon.json (e.g. `{"runtimes": …}`).
    pub fn start_with_config(config: &str) -> Result<Dockerd, String> {
        Dockerd::start_opts(false, config)
    }

    /// A daemon with Docker's default bridge (docker0, still no iptables), for a test that
    /// has its own network namespace (`support::own_network_namespace`, called first: the
    /// daemon and its bridge are made in the calling thread's).
    pub fn start_with_default_bridge() -> Result<Dockerd, String> {
        Dockerd::start_opts(true, "{}")
    }

    fn start_opts(bridge: bool, config: &str) -> Result<Dockerd, String> {
        if !is_root() {
            return Err("a private dockerd needs root".into());
        }
        for prog in ["dockerd", "docker"] {
            if !have(prog) {
                return Err(format!(
                    "{prog} is not installed (apt-get install docker.io)"
                ));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        let socket = d.join("docker.sock");
        let log = d.join("dockerd.log");
        std::fs::write(d.join("daemon.json"), config).map_err(|e| e.to_string())?;
        let ns = format!("berth-e2e-{}", std::process::id());
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .args(["--iptables=false", "--storage-driver=vfs"])
            .args((!bridge).then_some("--bridge=none"))
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}-plugins")])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .stderr(
                std::fs::File::options()
                    .append(true)
                    .open(&log)
                    .map_err(|e| e.to_string())?,
            )
            .spawn()
            .map_err(|e| format!("starting dockerd: {e}"))?;
        let mut daemon = Dockerd {
            child,
            socket,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if daemon.socket.exists() && daemon.docker(&["version"]).code == 0 {
                return Ok(daemon);
            }
            if let Ok(Some(status)) = daemon.child.try_wait() {
                return Err(format!("dockerd exited ({status}): {}", daemon.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "dockerd did not answer in 60s: {}",
                    daemon.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs the docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Out {
        run(self.command().args(args))
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        c
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.unmount_leftovers();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.unmount_leftovers();
    }
}

impl Dockerd {
    /// dockerd leaves its `exec/netns/default` (and, killed, more) mounted in its directory: unmount
    /// them so the directory can go and nothing piles up across runs.
    fn unmount_leftovers(&self) {
        let mut mounts = super::rig::mounts_under(self._dir.path());
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = Command::new("umount").args(["-l", &m]).status();
        }
    }
}
