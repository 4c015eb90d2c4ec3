//! The container tools beyond the lifecycle: ctr-pause/unpause, ctr-top, ctr-stats, ctr-update,
//! ctr-diff, ctr-export, ctr-prune, img-commit of a container and img-rm of an image in use.
//! They run containers, so they need root; elsewhere they skip.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::rig;

/// The shared rig with the busybox image as `bb`; every container is removed (forced) at the end.
struct Ctrs(rig::Rig);

impl std::ops::Deref for Ctrs {
    type Target = rig::Rig;
    fn deref(&self) -> &rig::Rig {
        &self.0
    }
}

impl Ctrs {
    fn new() -> Ctrs {
        Ctrs(rig::Rig::with_image("bb"))
    }

    /// `ctr-run -d --name NAME ARGS…`; the container's ID.
    fn run_d(&self, name: &str, args: &[&str]) -> String {
        let mut a = vec!["-d", "--name", name];
        a.extend_from_slice(args);
        let out = self.env.run("ctr-run", &a).ok();
        out.json()["id"].as_str().unwrap().to_string()
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.env.root.join("containers").join(id)
    }

    fn state(&self, id: &str) -> Value {
        let data = std::fs::read(self.dir(id).join("state.json")).unwrap();
        serde_json::from_slice(&data).unwrap()
    }

    fn spec(&self, id: &str) -> Value {
        let data = std::fs::read(self.dir(id).join("config.json")).unwrap();
        serde_json::from_slice(&data).unwrap()
    }

    fn upper(&self, id: &str) -> PathBuf {
        PathBuf::from(self.state(id)["GraphDriver"]["Upper"].as_str().unwrap())
    }
}

fn is_mounted(path: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = path.to_string_lossy();
    info.lines().any(|l| l.split(' ').nth(4) == Some(&*want))
}

#[test]
fn pause_freezes_the_processes_and_unpause_lets_them_go_on() {
    require_root!();
    let t = Ctrs::new();
    let id = t.run_d(
        "counter",
        &[
            "bb",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; sleep 0.05; done",
        ],
    );
    let counter = t.upper(&id).join("tmp/n");
    let read = || -> u64 {
        std::fs::read_to_string(&counter)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0)
    };
    std::thread::sleep(Duration::from_millis(400));
    assert!(read() > 0, "the loop runs");

    let out = t.env.run("ctr-pause", &["counter"]).ok().json();
    assert_eq!(out["status"], "paused");
    let st = t.state(&id)["State"].clone();
    assert_eq!(st["Status"], "paused");
    assert_eq!(st["Paused"], true);
    let a = read();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(read(), a, "a paused container's process does not advance");
    t.env
        .run("ctr-pause", &["counter"])
        .fails_with(1, "is already paused");

    let out = t.env.run("ctr-unpause", &["counter"]).ok().json();
    assert_eq!(out["status"], "running");
    assert_eq!(t.state(&id)["State"]["Status"], "running");
    assert_eq!(t.state(&id)["State"]["Paused"], false);
    std::thread::sleep(Duration::from_millis(500));
    assert!(read() > a, "it runs again after unpause");
    t.env
        .run("ctr-unpause", &["counter"])
        .fails_with(1, &format!("container {id} is not paused"));

    // A paused container stops (it is thawed for the signal).
    t.env.run("ctr-pause", &["counter"]).ok();
    t.env.run("ctr-stop", &["-t", "1", "counter"]).ok();
    t.env
        .run("ctr-pause", &["counter"])
        .fails_with(1, &format!("container {id} is not running"));
    t.env
        .run("ctr-pause", &["nosuch"])
        .fails_with(1, "no such container: nosuch");
}

#[test]
fn top_lists_the_container_processes() {
    require_root!();
    let t = Ctrs::new();
    let id = t.run_d("sleeper", &["bb", "sleep", "1000"]);
    let pid = t.state(&id)["State"]["Pid"].as_i64().unwrap();
    let top = t.env.run("ctr-top", &["sleeper"]).ok().json();
    let titles: Vec<&str> = top["Titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let procs = top["Processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{top}");
    assert_eq!(procs[0][1], pid.to_string());
    assert_eq!(procs[0][7], "sleep 1000");

    let top = t
        .env
        .run("ctr-top", &["sleeper", "-o", "pid,args"])
        .ok()
        .json();
    assert_eq!(top["Titles"], serde_json::json!(["PID", "COMMAND"]));
    let table = t.env.run("ctr-top", &["--format", "table", "sleeper"]).ok();
    assert!(table.stdout.starts_with("UID "), "{}", table.stdout);
    assert!(table.stdout.contains("sleep 1000"));
    t.env.run("ctr-stop", &["-t", "0", "sleeper"]).ok();
    t.env
        .run("ctr-top", &["sleeper"])
        .fails_with(1, "is not running");
}

#[test]
fn stats_shows_the_memory_limit_and_pids() {
    require_root!();
    let t = Ctrs::new();
    let id = t.run_d("limited", &["--memory", "64m", "bb", "sleep", "1000"]);
    let out = t
        .env
        .run("ctr-stats", &["--no-stream", "limited"])
        .ok()
        .json_lines();
    assert_eq!(out.len(), 1);
    let row = &out[0];
    for k in [
        "BlockIO",
        "CPUPerc",
        "Container",
        "ID",
        "MemPerc",
        "MemUsage",
        "Name",
        "NetIO",
        "PIDs",
    ] {
        assert!(row.get(k).is_some(), "{k} in {row}");
    }
    assert_eq!(row["ID"], id[..12]);
    assert_eq!(row["Name"], "limited");
    assert_eq!(row["Container"], "limited");
    assert_eq!(row["PIDs"], "1");
    assert!(
        row["MemUsage"].as_str().unwrap().ends_with(" / 64MiB"),
        "{row}"
    );
    assert!(row["CPUPerc"].as_str().unwrap().ends_with('%'));

    // Without names: the running containers; the table has Docker's columns.
    t.run_d("free", &["bb", "sleep", "1000"]);
    let table = t
        .env
        .run("ctr-stats", &["--no-stream", "--format", "table"])
        .ok();
    assert!(table.stdout.starts_with(
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS"
    ), "{}", table.stdout);
    assert_eq!(table.lines().len(), 3, "{}", table.stdout);
    // Streaming ends when the containers stop.
    t.env.run("ctr-stop", &["-t", "0", "limited", "free"]).ok();
    let out = t.env.run("ctr-stats", &[]).ok();
    assert!(out.stdout.is_empty() || out.stdout.lines().count() <= 2);
}

#[test]
fn update_changes_the_running_cgroup_and_the_record() {
    require_root!();
    let t = Ctrs::new();
    let id = t.run_d("upd", &["bb", "sleep", "1000"]);
    t.env
        .run(
            "ctr-update",
            &["--pids-limit", "2", "--memory", "32m", "upd"],
        )
        .ok();
    let hc = t.state(&id)["HostConfig"].clone();
    assert_eq!(hc["PidsLimit"], 2);
    assert_eq!(hc["Memory"], 32 << 20);
    let spec = t.spec(&id);
    assert_eq!(spec["linux"]["resources"]["pids"]["limit"], 2);
    assert_eq!(spec["linux"]["resources"]["memory"]["limit"], 32 << 20);
    let cg = PathBuf::from("/sys/fs/cgroup/pids/berth").join(&id);
    let pids_max = if cg.exists() {
        cg.join("pids.max")
    } else {
        // cgroup v2
        PathBuf::from("/sys/fs/cgroup/berth")
            .join(&id)
            .join("pids.max")
    };
    assert_eq!(std::fs::read_to_string(&pids_max).unwrap().trim(), "2");
    // Enforced: sleep and the exec'd shell are the two; the shell cannot fork a third.
    let out = t
        .env
        .run("ctr-exec", &["upd", "sh", "-c", "sleep 1 & wait"]);
    assert_ne!(out.code, 0, "a third process must not start: {out:#?}");
    let stats = t.env.run("ctr-stats", &["--no-stream", "upd"]).ok().json();
    assert!(stats["MemUsage"].as_str().unwrap().ends_with("/ 32MiB"));

    t.env
        .run("ctr-update", &["upd"])
        .fails_with(2, "one or more flags");
    t.env
        .run("ctr-update", &["--memory", "1k", "upd"])
        .fails_with(1, "Minimum memory limit");

    // A stopped container: the record and config.json, which the next start applies.
    t.env.run("ctr-stop", &["-t", "0", "upd"]).ok();
    t.env.run("ctr-update", &["--pids-limit", "7", "upd"]).ok();
    assert_eq!(t.state(&id)["HostConfig"]["PidsLimit"], 7);
    assert_eq!(t.spec(&id)["linux"]["resources"]["pids"]["limit"], 7);
    t.env.run("ctr-start", &["upd"]).ok();
    assert_eq!(std::fs::read_to_string(&pids_max).unwrap().trim(), "7");
    t.env.run("ctr-update", &["--pids-limit", "-1", "upd"]).ok();
    assert_eq!(std::fs::read_to_string(&pids_max).unwrap().trim(), "max");
}

#[test]
fn diff_lists_added_changed_and_deleted_paths() {
    require_root!();
    let t = Ctrs::new();
    t.run_d("changer", &["bb", "sleep", "1000"]);
    let fresh = t.env.run("ctr-diff", &["changer"]).ok();
    assert_eq!(fresh.stdout, "", "a fresh container changed nothing");
    t.env
        .run(
            "ctr-exec",
            &[
                "changer",
                "sh",
                "-c",
                "echo n > /etc/new && echo x >> /etc/passwd && rm /etc/group && mkdir -p /srv/a",
            ],
        )
        .ok();
    let lines: Vec<(i64, String)> = t
        .env
        .run("ctr-diff", &["changer"])
        .ok()
        .json_lines()
        .iter()
        .map(|v| {
            (
                v["Kind"].as_i64().unwrap(),
                v["Path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(i64, String)> = [
        (0, "/etc"),
        (1, "/etc/new"),
        (0, "/etc/passwd"),
        (2, "/etc/group"),
        (1, "/srv"),
        (1, "/srv/a"),
    ]
    .iter()
    .map(|(k, p)| (*k, p.to_string()))
    .collect();
    for w in &want {
        assert!(lines.contains(w), "{w:?} in {lines:?}");
    }
    assert_eq!(lines.len(), want.len(), "{lines:?}");
    let text = t.env.run("ctr-diff", &["--format", "text", "changer"]).ok();
    assert!(text.lines().contains(&"A /etc/new"), "{}", text.stdout);
    assert!(text.lines().contains(&"D /etc/group"));
    assert!(text.lines().contains(&"C /etc/passwd"));
}

fn tar_entries(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (p, v)
        })
        .collect()
}

#[test]
fn export_writes_the_merged_file_system() {
    require_root!();
    let t = Ctrs::new();
    let id = t.run_d("exp", &["bb", "sleep", "1000"]);
    t.env
        .run(
            "ctr-exec",
            &["exp", "sh", "-c", "echo inside > /root/exported"],
        )
        .ok();
    let file = t.env.path("exp.tar");
    t.env
        .run("ctr-export", &["-o", file.to_str().unwrap(), "exp"])
        .ok();
    let entries = tar_entries(&std::fs::read(&file).unwrap());
    assert!(entries
        .iter()
        .any(|(p, d)| p == "root/exported" && d == b"inside\n"));
    assert!(entries.iter().any(|(p, _)| p == "bin/busybox"));

    // Stopped: mounted for the export only, and not left mounted.
    t.env.run("ctr-stop", &["-t", "0", "exp"]).ok();
    let out = t.env.cmd("ctr-export").arg("exp").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let entries = tar_entries(&out.stdout);
    assert!(entries
        .iter()
        .any(|(p, d)| p == "root/exported" && d == b"inside\n"));
    assert!(!is_mounted(&t.dir(&id).join("rootfs")));
    t.env
        .run("ctr-export", &["nosuch"])
        .fails_with(1, "no such container");
}

#[test]
fn prune_removes_stopped_containers_and_half_made_ones() {
    require_root!();
    let t = Ctrs::new();
    let done = t.env.run("ctr-run", &["--name", "done", "bb", "true"]).ok();
    assert_eq!(done.code, 0);
    let done_id = t.state_id("done");
    let live = t.run_d("live", &["bb", "sleep", "1000"]);
    let half = "ab".repeat(32);
    std::fs::create_dir_all(t.dir(&half).join("upper")).unwrap();
    let out = t.env.run("ctr-prune", &["-f"]).ok().json();
    let deleted: Vec<&str> = out["ContainersDeleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(deleted.contains(&done_id.as_str()), "{out}");
    assert!(deleted.contains(&half.as_str()), "{out}");
    assert!(!deleted.contains(&live.as_str()));
    assert!(out["SpaceReclaimed"].is_u64());
    assert!(!t.dir(&done_id).exists() && !t.dir(&half).exists());
    assert!(t.dir(&live).join("state.json").exists());
    let again = t.env.run("ctr-prune", &["-f"]).ok().json();
    assert_eq!(again["ContainersDeleted"], serde_json::json!([]));
    t.env
        .run("ctr-prune", &["-f", "--filter", "color=red"])
        .fails_with(1, "invalid filter");
}

impl Ctrs {
    /// The ID of the container called `name` (from the records).
    fn state_id(&self, name: &str) -> String {
        for e in std::fs::read_dir(self.env.root.join("containers")).unwrap() {
            let p = e.unwrap().path().join("state.json");
            if let Ok(d) = std::fs::read(&p) {
                let v: Value = serde_json::from_slice(&d).unwrap();
                if v["Name"] == name {
                    return v["Id"].as_str().unwrap().to_string();
                }
            }
        }
        panic!("no container {name}");
    }
}

#[test]
fn commit_of_a_container_makes_an_image_with_its_files() {
    require_root!();
    let t = Ctrs::new();
    let id = t.run_d("src", &["bb", "sleep", "1000"]);
    t.env
        .run(
            "ctr-exec",
            &["src", "sh", "-c", "echo yes > /etc/committed"],
        )
        .ok();
    let out = t.env.run("img-commit", &["src", "snap:1"]).ok().json();
    assert_eq!(out["ref"], "docker.io/library/snap:1");
    // Paused during the commit only.
    assert_eq!(t.state(&id)["State"]["Status"], "running");
    let run = t
        .env
        .run("ctr-run", &["--rm", "snap:1", "cat", "/etc/committed"])
        .ok();
    assert_eq!(run.stdout, "yes\n");
    // The container's command is the image's.
    let inspect = t.env.run("img-inspect", &["snap:1"]).ok().json();
    let cfg = if inspect.is_array() {
        inspect[0]["Config"].clone()
    } else {
        inspect["Config"].clone()
    };
    assert_eq!(cfg["Cmd"], serde_json::json!(["sleep", "1000"]));
    t.env
        .run("img-commit", &["nosuch", "x:1"])
        .fails_with(1, "no such container");
}

#[test]
fn img_rm_refuses_an_image_a_container_uses() {
    require_root!();
    let t = Ctrs::new();
    let image_id = t.env.run("img-inspect", &["bb"]).ok().stdout;
    let id = t.run_d("user", &["bb", "sleep", "1000"]);
    let img = t.state(&id)["Image"].as_str().unwrap().to_string();
    assert!(image_id.contains(&img));
    let out = t.env.run("img-rm", &["bb"]).fails_with(
        1,
        &format!(
            "conflict: unable to remove repository reference \"bb\" (must force) - container {} is using its referenced image {}",
            &id[..12],
            &img[7..19]
        ),
    );
    drop(out);
    // -f untags and keeps what the container needs.
    t.env.run("img-rm", &["-f", "bb"]).ok();
    t.env.run("ctr-stop", &["-t", "0", "user"]).ok();
    t.env.run("ctr-start", &["user"]).ok();
    let ls = t.env.run("img-ls", &["--format", "json"]).ok().stdout;
    assert!(ls.contains(&img[7..19]), "{ls}");
    t.env.run("ctr-rm", &["-f", "user"]).ok();
    t.env.run("img-rm", &[&img]).ok();
}
