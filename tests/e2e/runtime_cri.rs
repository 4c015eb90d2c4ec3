//! Issue 19 (criterion 18): berth-runtime behind containerd 1.6's CRI plugin, as a Kubernetes
//! node drives it. A private containerd with CRI on (its own root, state, sockets and runc
//! roots under one short temp dir) has two runtime handlers, `runc` (/usr/sbin/runc) and
//! `berth` (berth-runtime as the shim's `BinaryName`); the same pod runs on each through the
//! CRI gRPC API (a Python client, `tests/fixtures/cri/cri_flow.py`): RunPodSandbox with host
//! network and pod pid and ipc namespaces (the container joins the sandbox's namespaces by
//! path), CreateContainer, StartContainer, ExecSync, ContainerStatus, ContainerStats,
//! UpdateContainerResources, StopContainer, RemoveContainer, StopPodSandbox, RemovePodSandbox.
//! What the client sees, and what the host shows of the pod while it runs (namespaces,
//! credentials, mounts, cgroup files), must be the same for both handlers; afterwards nothing
//! may be left (cgroups under the pod's cgroup parent, runtime state, shims, processes,
//! mounts).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::oci::{image, write_layout, Layer};
use crate::support::rig::{mounts_under, processes_naming, timed, wait_until};
use crate::support::{bin, busybox_tarball, Compression, Out};

/// Debian's python3, which has python3-grpcio and python3-grpc-tools (a `python3` earlier on
/// PATH may be another one).
const PYTHON: &str = "/usr/bin/python3";
const PAUSE_IMAGE: &str = "docker.io/berthlab/pause:1";
const IMAGE: &str = "docker.io/berthlab/bb:1";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/cri")
}

/// A private containerd with the CRI plugin, stopped when dropped: its shims and whatever runs
/// in the pods' cgroups killed, the mounts under its directory detached, the pods' cgroups and
/// the directory removed.
struct Containerd {
    dir: PathBuf,
    child: Option<Child>,
    cgroup_parents: Vec<String>,
}

impl Containerd {
    /// Starts containerd in `dir` (short: socket paths are limited to 108 bytes) with runtime
    /// handlers `runc` and `berth`, each with a state root of its own (`dir/rt-NAME`).
    fn start(dir: &Path, cgroup_parents: Vec<String>) -> Result<Containerd, String> {
        let d = dir.display();
        for sub in ["cni-bin", "cni-conf"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let berth = bin("berth-runtime");
        // restrict_oom_score_adj: the sandbox asks for oom_score_adj -998, which needs
        // CAP_SYS_RESOURCE; where root lacks it (a container), runc fails the sandbox's create
        // with "failed to update /proc/self/oom_score_adj: Permission denied". With it,
        // containerd asks for no less than its own score.
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni-bin"
    conf_dir = "{d}/cni-conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = "{d}/rt-runc"
        SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        BinaryName = "{berth}"
        Root = "{d}/rt-berth"
        SystemdCgroup = false
"#,
            berth = berth.display()
        );
        std::fs::write(dir.join("config.toml"), config).unwrap();
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn containerd: {e}"))?;
        let ctd = Containerd {
            dir: dir.to_path_buf(),
            child: Some(child),
            cgroup_parents,
        };
        let up = wait_until(30, || {
            ctd.sock().exists() && ctd.ctr(&["version"]).code == 0
        });
        if !up {
            return Err(format!("containerd did not come up:\n{}", ctd.log_tail()));
        }
        Ok(ctd)
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("c.sock")
    }

    /// `ctr` on this containerd, in CRI's namespace `k8s.io`.
    fn ctr(&self, args: &[&str]) -> Out {
        timed(
            Command::new("ctr")
                .arg("-a")
                .arg(self.sock())
                .args(["-n", "k8s.io"])
                .args(args)
                .stdin(Stdio::null()),
            60,
        )
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The processes started for this containerd (its shims: their command lines name its
    /// directory), containerd itself left out, as `pid: cmdline`.
    fn shims(&self) -> Vec<String> {
        let me = self.child.as_ref().map(|c| format!("{}:", c.id()));
        processes_naming(&self.dir.display().to_string())
            .into_iter()
            .filter(|p| me.as_ref().is_none_or(|me| !p.starts_with(me.as_str())))
            .collect()
    }

    /// What a handler's pod left behind: cgroups under its cgroup parent, processes in them,
    /// runtime state (the handler's state root, containerd's task bundles), shims, mounts.
    fn leftovers(&self, handler: &str, cgroup_parent: &str) -> Vec<String> {
        let mut left = Vec::new();
        for d in cgroup_dirs(cgroup_parent) {
            left.push(format!("cgroup {}", d.display()));
        }
        for p in cgroup_procs(cgroup_parent) {
            left.push(format!("process {p} in the pod's cgroups"));
        }
        for dir in [
            self.dir.join(format!("rt-{handler}/k8s.io")),
            self.dir.join("state/io.containerd.runtime.v2.task/k8s.io"),
        ] {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                left.push(format!("state {}", e.path().display()));
            }
        }
        for p in self.shims() {
            left.push(format!("shim {p}"));
        }
        for m in mounts_under(&self.dir) {
            left.push(format!("mount {m}"));
        }
        left
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let kill = |p: i32| {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        };
        for p in self.shims() {
            if let Some(pid) = p.split(':').next().and_then(|p| p.parse().ok()) {
                kill(pid);
            }
        }
        for parent in &self.cgroup_parents {
            for p in cgroup_procs(parent) {
                kill(p);
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for m in mounts_under(&self.dir).iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        for parent in &self.cgroup_parents {
            wait_until(5, || cgroup_procs(parent).is_empty());
            let mut dirs = cgroup_dirs(parent);
            // Deepest first, then the parent itself.
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            dirs.extend(cgroup_roots(parent));
            for d in dirs {
                let _ = std::fs::remove_dir(d);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `parent` (a cgroupfs path such as `/bcri-1-runc`) in each hierarchy where it exists (v1's
/// below /sys/fs/cgroup, v2's at it).
fn cgroup_roots(parent: &str) -> Vec<PathBuf> {
    let hierarchies = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    std::iter::once(PathBuf::from("/sys/fs/cgroup"))
        .chain(hierarchies)
        .map(|h| h.join(parent.trim_start_matches('/')))
        .filter(|p| p.is_dir())
        .collect()
}

/// The cgroups below `parent` in every hierarchy (the pods' and containers' own).
fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path());
                walk(&e.path(), out);
            }
        }
    }
    let mut out = Vec::new();
    for root in cgroup_roots(parent) {
        walk(&root, &mut out);
    }
    out
}

/// The processes in `parent` or below it, in any hierarchy.
fn cgroup_procs(parent: &str) -> Vec<i32> {
    let mut procs: Vec<i32> = cgroup_roots(parent)
        .into_iter()
        .chain(cgroup_dirs(parent))
        .flat_map(|d| {
            std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    procs.sort_unstable();
    procs.dedup();
    procs
}

/// An OCI archive of two busybox images, the sandbox's (`sleep` as a pause) and the
/// container's, named for `ctr images import` by `io.containerd.image.name`.
fn images_archive(dir: &Path) -> PathBuf {
    let tar = std::fs::read(busybox_tarball(&dir.join("busybox.tar"), Compression::None)).unwrap();
    let with_cmd = |cmd: Value| {
        move |c: &mut Value| {
            c["config"]["Env"] = json!(["PATH=/bin"]);
            c["config"]["Cmd"] = cmd;
        }
    };
    let pause = image(
        "pause",
        vec![Layer::new(tar.clone(), Compression::None)],
        with_cmd(json!(["sleep", "1000000"])),
    );
    let bb = image(
        "bb",
        vec![Layer::new(tar, Compression::None)],
        with_cmd(json!(["sh"])),
    );
    let layout = dir.join("layout");
    write_layout(&layout, &[&pause, &bb]);
    let index_path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    for (m, name) in index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip([PAUSE_IMAGE, IMAGE])
    {
        m["annotations"]["io.containerd.image.name"] = json!(name);
    }
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    let archive = dir.join("images.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    b.append_dir_all(".", &layout).unwrap();
    b.finish().unwrap();
    std::fs::remove_dir_all(&layout).unwrap();
    archive
}

/// What two handlers' runs should agree on: the run without its timings, the names of its
/// handler, and the times in the container's log.
fn comparable(run: &Value) -> Value {
    let mut v = run.clone();
    let o = v.as_object_mut().unwrap();
    for k in ["handler", "sandbox_handler", "stop_ms"] {
        o.remove(k);
    }
    if let Some(steps) = o.get_mut("steps").and_then(Value::as_array_mut) {
        for s in steps {
            s.as_object_mut().unwrap().remove("ms");
        }
    }
    if let Some(w) = o.get("working_set_bytes").and_then(Value::as_u64) {
        o.insert("working_set_bytes".into(), json!(w > 0));
    }
    untimed_log(o);
    if let Some(c2) = o.get_mut("c2").and_then(Value::as_object_mut) {
        c2.remove("stop_ms");
        untimed_log(c2);
    }
    v
}

/// The "log" of a run, its lines without their times.
fn untimed_log(o: &mut serde_json::Map<String, Value>) {
    if let Some(log) = o.get("log").and_then(Value::as_str) {
        let lines: Vec<&str> = log
            .lines()
            .map(|l| l.split_once(' ').map_or(l, |(_, rest)| rest))
            .collect();
        o.insert("log".into(), json!(lines));
    }
}

/// The pod flow of `handler`, as the client reports it.
fn cri_flow(ctd: &Containerd, stubs: &Path, handler: &str, cgroup_parent: &str) -> Value {
    let log_dir = ctd.dir.join(format!("logs-{handler}"));
    std::fs::create_dir_all(&log_dir).unwrap();
    let o = timed(
        Command::new(PYTHON)
            .arg(fixtures().join("cri_flow.py"))
            .arg(stubs)
            .arg(ctd.sock())
            .arg(handler)
            .arg(format!("pod-{handler}"))
            .arg(cgroup_parent)
            .arg(&log_dir)
            .arg(IMAGE)
            .arg(ctd.dir.join(format!("rt-{handler}/k8s.io"))),
        180,
    );
    let run: Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{handler}: no JSON from cri_flow.py ({e}): {o:?}\ncontainerd:\n{}",
            ctd.log_tail()
        )
    });
    assert!(
        run.get("failed").is_none(),
        "{handler}: the CRI flow failed: {}\ncontainerd:\n{}",
        serde_json::to_string_pretty(&run).unwrap(),
        ctd.log_tail()
    );
    run
}

#[test]
fn cri_pod_on_berth_as_on_runc() {
    require_root!();
    require_program!("containerd");
    require_program!("ctr");
    require_program!("runc");
    if !Path::new(PYTHON).exists()
        || !timed(
            Command::new(PYTHON).args(["-c", "import grpc, grpc_tools.protoc"]),
            30,
        )
        .code
        .eq(&0)
    {
        skip!("{PYTHON} with python3-grpcio and python3-grpc-tools is not installed");
    }
    let started = Instant::now();
    let dir = PathBuf::from(format!("/tmp/bcri-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let parent = |h: &str| format!("/bcri-{}-{h}", std::process::id());
    let handlers = ["runc", "berth"];

    // From here on, the guard removes what the test made.
    let ctd = Containerd::start(&dir, handlers.iter().map(|h| parent(h)).collect())
        .unwrap_or_else(|e| panic!("{e}"));
    // The client's stubs, generated from the fixture's proto.
    let stubs = dir.join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let o = timed(
        Command::new(PYTHON)
            .args(["-m", "grpc_tools.protoc", "-I"])
            .arg(fixtures())
            .arg("--python_out")
            .arg(&stubs)
            .arg("--grpc_python_out")
            .arg(&stubs)
            .arg(fixtures().join("api.proto")),
        60,
    );
    assert_eq!(o.code, 0, "protoc: {o:?}");
    let archive = images_archive(&dir);
    let o = ctd.ctr(&["images", "import", archive.to_str().unwrap()]);
    assert_eq!(o.code, 0, "ctr images import: {o:?}");

    let mut runs = Vec::new();
    for h in handlers {
        let run = cri_flow(&ctd, &stubs, h, &parent(h));
        // The shim exits once the pod is removed; nothing else may be left.
        let mut left = Vec::new();
        wait_until(10, || {
            left = ctd.leftovers(h, &parent(h));
            left.is_empty()
        });
        assert!(left.is_empty(), "{h}: left behind: {left:#?}");
        let times: Vec<String> = run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s["step"].as_str().unwrap_or(""), s["ms"]))
            .collect();
        eprintln!("runtime_cri: {h} (ms): {}", times.join(", "));
        runs.push(run);
    }

    for (h, run) in handlers.iter().zip(&runs) {
        let steps: Vec<&Value> = run["steps"].as_array().unwrap().iter().collect();
        assert!(
            steps.iter().all(|s| s["ok"] == true) && steps.len() == 31,
            "{h}: {steps:#?}"
        );
        assert_eq!(run["sandbox_handler"], *h);
        assert_eq!(run["sandbox_state"], "SANDBOX_READY", "{h}");
        assert_eq!(run["state"], "CONTAINER_RUNNING", "{h}");
        // The shim ran the handler's runtime, with the handler's state root.
        assert_eq!(
            run["runtime_state"],
            json!({"sandbox": true, "container": true}),
            "{h}"
        );
        assert_eq!(
            run["exec"],
            json!({"stdout": "hi-exec\n", "stderr": "", "exit_code": 4}),
            "{h}"
        );
        // The pod pattern: pid and ipc of the sandbox's (not the host's), the host's network.
        let ns = &run["namespaces"];
        for n in ["pid", "ipc"] {
            assert_eq!(
                ns[n],
                json!({"shares_sandbox": true, "is_host": false}),
                "{h}: {n}"
            );
        }
        assert_eq!(ns["net"]["is_host"], true, "{h}");
        assert_eq!(ns["mnt"]["shares_sandbox"], false, "{h}");
        assert_eq!(
            run["exec_process"]["pid1"], "sleep 1000000 ",
            "{h}: pid 1 of the pod"
        );
        assert_eq!(run["exec_process"]["same_cgroups_as_init"], true, "{h}");
        assert!(run["working_set_bytes"].as_u64() > Some(0), "{h}: {run}");
        assert_eq!(run["memory_limit_created"], "209715200", "{h}");
        assert_eq!(run["memory_limit_updated"], "314572800", "{h}");
        assert_eq!(run["cpu_shares_updated"], "512", "{h}");
        assert_eq!(run["cfs_updated"], "50000/100000", "{h}");
        // containerd sets the swap limit to the memory limit.
        assert_eq!(run["memsw_limit_updated"], "314572800", "{h}");
        // The pod's sysctl (of its ipc namespace) reaches the container.
        assert_eq!(run["exec_process"]["shm_rmid_forced"], "1\n", "{h}");
        let log = run["log"].as_str().unwrap();
        assert!(
            log.lines().count() == 1 && log.ends_with(" stdout F started\n"),
            "{h}: the container's log: {log:?}"
        );
        // sleep is not the pod's pid 1: TERM ends it, well before the 2 s timeout's KILL.
        assert_eq!(
            run["stopped"],
            json!({"state": "CONTAINER_EXITED", "exit_code": 143, "reason": "Error"}),
            "{h}"
        );
        assert!(run["stop_ms"].as_u64() < Some(2000), "{h}: {run}");

        // The confined container: its own pid namespace (where its sh, pid 1, ignores TERM:
        // killed after the 2 s), user 65534, a read-only root, one capability, no_new_privs.
        let c2 = &run["c2"];
        assert_eq!(c2["state"], "CONTAINER_RUNNING", "{h}");
        assert_eq!(
            c2["shares_sandbox"],
            json!({"pid": false, "ipc": true, "net": true, "uts": true, "mnt": false}),
            "{h}"
        );
        let status = &c2["process"]["status"];
        assert_eq!(status["Uid"], "65534\t65534\t65534\t65534", "{h}");
        assert_eq!(status["NoNewPrivs"], "1", "{h}");
        // CAP_NET_BIND_SERVICE alone.
        assert_eq!(status["CapBnd"], "0000000000000400", "{h}");
        assert_eq!(
            c2["exec"],
            json!({
                "stdout": "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\ntouch=1\n\
                    sh -c echo $FOO $(id -u) $(pwd); while :; do sleep 1; done \n",
                "stderr": "",
                "exit_code": 7,
            }),
            "{h}"
        );
        let log = c2["log"].as_str().unwrap();
        assert!(log.ends_with(" stdout F bar 65534 /tmp\n"), "{h}: {log:?}");
        assert_eq!(
            c2["stopped"],
            json!({"state": "CONTAINER_EXITED", "exit_code": 137, "reason": "Error"}),
            "{h}"
        );
        let ms = c2["stop_ms"].as_u64().unwrap();
        assert!((2000..10_000).contains(&ms), "{h}: stopped in {ms} ms");

        // The privileged container: every capability, the host's devices, /proc/sys writable.
        let p = &run["privileged"];
        assert_eq!(p["state"], "CONTAINER_RUNNING", "{h}");
        let own = std::fs::read_to_string("/proc/self/status").unwrap();
        let bounding = own
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .unwrap()
            .trim();
        assert_eq!(p["process"]["status"]["CapEff"], bounding, "{h}");
        let devices = p["exec"]["stdout"].as_str().unwrap();
        assert!(
            devices.contains(" null") && devices.ends_with("proc-sys-writable\n"),
            "{h}: {devices}"
        );
    }
    let (runc, berth) = (comparable(&runs[0]), comparable(&runs[1]));
    assert!(
        runc == berth,
        "berth differs from runc:\nrunc:  {}\nberth: {}",
        serde_json::to_string_pretty(&runc).unwrap(),
        serde_json::to_string_pretty(&berth).unwrap()
    );
    drop(ctd);
    assert!(!dir.exists(), "{} is left", dir.display());
    eprintln!("runtime_cri: {:?}", started.elapsed());
}
