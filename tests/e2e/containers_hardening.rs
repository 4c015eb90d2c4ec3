//! Issue 13's runtime hardening, end to end: the rlimits a container gets whatever the
//! caller's, the container's own cgroup in every hierarchy (name=systemd and a hybrid host's
//! v2 one included, nothing left after ctr-rm), and the cgroup v2 device filter.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::containers::{timed, Rig, IMAGE};
use crate::support::Out;

/// `ctr-run ARGS` started from `sh -c 'PRELUDE && exec ctr-run ARGS'`: the shell changes its
/// own limits (`ulimit …`) and the tool inherits them.
fn run_after(rig: &Rig, prelude: &str, args: &[&str]) -> Out {
    let base = rig.cmd("ctr-run");
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!("{prelude} && exec \"$0\" \"$@\""))
        .arg(base.get_program())
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    timed(&mut c, 60)
}

/// `/proc/self/limits` → name → (soft, hard) as printed ("unlimited" or a number).
fn limits(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            // "Max open files            1024                 4096                 files"
            let name = l.get(..26)?.trim().to_string();
            let mut rest = l.get(26..)?.split_whitespace();
            Some((name, rest.next()?.to_string(), rest.next()?.to_string()))
        })
        .collect()
}

fn limit<'a>(l: &'a [(String, String, String)], name: &str) -> (&'a str, &'a str) {
    let (_, s, h) = l
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {name:?} in {l:?}"));
    (s, h)
}

/// min(want, this process's hard limit), as /proc/self/limits prints it.
fn clamp(want: Option<u64>, hard: &str) -> String {
    let hard: Option<u64> = hard.parse().ok(); // None: unlimited
    match (want, hard) {
        (None, None) => "unlimited".into(),
        (Some(w), None) => w.to_string(),
        (None, Some(h)) => h.to_string(),
        (Some(w), Some(h)) => w.min(h).to_string(),
    }
}

#[test]
fn rlimits_are_dockers_whatever_the_callers() {
    require_root!();
    let rig = Rig::new();
    let host = limits(&std::fs::read_to_string("/proc/self/limits").unwrap());
    let script = "cat /proc/self/limits";
    // The caller lowers its soft limits (a soft limit can be raised back up to the hard one):
    // the container sees Docker's defaults all the same (core: unlimited, as docker.service).
    let prelude = "ulimit -Sn 512 && ulimit -Ss 1024 && ulimit -Sc 0 && ulimit -Sl 0";
    let args = ["--rm", IMAGE, "sh", "-c", script];
    let inside = run_after(&rig, prelude, &args).ok().stdout;
    let inside = limits(&inside);
    let expect = |name: &str, soft: Option<u64>, hard: Option<u64>| {
        let (_, host_hard) = limit(&host, name);
        let hard = clamp(hard, host_hard);
        let soft = clamp(soft, &hard);
        assert_eq!(
            limit(&inside, name),
            (soft.as_str(), hard.as_str()),
            "{name}: {inside:?}"
        );
    };
    expect("Max open files", Some(1 << 20), Some(1 << 20));
    expect("Max core file size", None, None);
    expect("Max processes", None, None);
    expect("Max stack size", Some(8 << 20), None);
    expect("Max locked memory", Some(8 << 20), Some(8 << 20));
    expect("Max msgqueue size", Some(819_200), Some(819_200));
    expect("Max file size", None, None);
    expect("Max nice priority", Some(0), Some(0));

    // The same under runc, which gets the spec's rlimits.
    if crate::support::have("runc") {
        let mut a = vec!["--runtime", "runc"];
        a.extend_from_slice(&args);
        let under_runc = limits(&run_after(&rig, prelude, &a).ok().stdout);
        assert_eq!(under_runc, inside);
    }

    // --ulimit wins for its resource; the others keep the defaults.
    let out = run_after(
        &rig,
        prelude,
        &[
            "--rm",
            "--ulimit",
            "nofile=100:200",
            IMAGE,
            "sh",
            "-c",
            script,
        ],
    )
    .ok();
    let given = limits(&out.stdout);
    assert_eq!(limit(&given, "Max open files"), ("100", "200"));
    assert_eq!(
        limit(&given, "Max stack size"),
        limit(&inside, "Max stack size")
    );

    // A hard limit the caller cannot raise bounds the container's (never an error).
    let lowered = run_after(&rig, "ulimit -n 512", &args).ok();
    assert_eq!(
        limit(&limits(&lowered.stdout), "Max open files"),
        ("512", "512")
    );
}

/// The container's cgroup directories in any hierarchy under /sys/fs/cgroup.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut bases = vec![PathBuf::from("/sys/fs/cgroup/berth")];
    if let Ok(d) = std::fs::read_dir("/sys/fs/cgroup") {
        bases.extend(d.flatten().map(|e| e.path().join("berth")));
    }
    for base in bases {
        if base.join(id).is_dir() {
            found.push(base.join(id));
        }
    }
    found
}

/// The cgroup hierarchies this host mounts under /sys/fs/cgroup (mount points), v2 included.
fn hierarchies() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            let fstype = f.get(sep + 1)?;
            (f[4].starts_with("/sys/fs/cgroup") && (*fstype == "cgroup" || *fstype == "cgroup2"))
                .then(|| f[4].to_string())
        })
        .collect()
}

#[test]
fn own_cgroup_in_every_hierarchy_joined_by_exec_and_removed() {
    require_root!();
    let rig = Rig::new();
    let id = rig.detach(&[IMAGE, "sleep", "1000"]);
    let pid = rig.inspect(&id)["State"]["Pid"].as_i64().unwrap();
    // On the host: every line of /proc/PID/cgroup, name=systemd and 0:: included, is the
    // container's own cgroup (0:: where a v2 hierarchy is mounted).
    let host_view = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v2_mounted = Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
        || Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
    for line in host_view.lines() {
        if line.starts_with("0::") && !v2_mounted {
            continue;
        }
        assert!(
            line.ends_with(&format!("/berth/{id}")),
            "{line} in {host_view}"
        );
    }
    // A directory in every mounted hierarchy.
    let dirs = cgroup_dirs(&id);
    assert_eq!(dirs.len(), hierarchies().len(), "{dirs:?}");

    // Inside (a cgroup namespace): "/" everywhere, for the init and for an exec'd process.
    let inside = rig
        .t(
            "ctr-exec",
            &[&id, "cat", "/proc/1/cgroup", "/proc/self/cgroup"],
            30,
        )
        .ok()
        .stdout;
    assert_eq!(inside.lines().count(), 2 * host_view.lines().count());
    for line in inside.lines() {
        assert!(line.ends_with(":/"), "{line} in {inside}");
    }
    // The container's /sys/fs/cgroup shows its own cgroup, not the host's tree (where berth/
    // holds every container).
    let listing = rig
        .t("ctr-exec", &[&id, "sh", "-c", "ls /sys/fs/cgroup/*/"], 30)
        .ok()
        .stdout;
    assert!(!listing.contains("berth"), "{listing}");

    rig.t("ctr-rm", &["-f", &id], 30).ok();
    assert_eq!(cgroup_dirs(&id), Vec::<PathBuf>::new());
}

/// The first block device of the host (`major`, `minor`), from /proc/partitions.
fn host_disk() -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/proc/partitions").ok()?;
    let line = text.lines().skip(2).find(|l| !l.trim().is_empty())?;
    let mut f = line.split_whitespace();
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// Devices Docker's rules refuse (a host disk, /dev/fuse, /dev/loop-control) that this test,
/// on the host, can open: (type, major, minor). (Not /dev/kmsg: without CAP_SYSLOG the
/// container is refused it whatever the device rules.)
fn refused_devices_the_host_opens(dir: &Path) -> Vec<(char, u32, u32)> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let mut candidates = vec![('c', 10, 229), ('c', 10, 237)];
    if let Some((major, minor)) = host_disk() {
        candidates.insert(0, ('b', major, minor));
    }
    candidates
        .into_iter()
        .enumerate()
        .filter(|&(i, (t, major, minor))| {
            let node = dir.join(format!("node{i}"));
            let kind = if t == 'b' {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFCHR
            };
            mknod(
                &node,
                kind,
                Mode::from_bits_truncate(0o600),
                makedev(major.into(), minor.into()),
            )
            .is_ok()
                && std::fs::File::open(&node).is_ok()
        })
        .map(|(_, d)| d)
        .collect()
}

#[test]
fn v2_device_filter_refuses_devices_on_its_own() {
    require_root!();
    let v2_root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        PathBuf::from("/sys/fs/cgroup")
    } else if Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists() {
        PathBuf::from("/sys/fs/cgroup/unified")
    } else {
        skip!("no cgroup v2 hierarchy is mounted");
    };
    let rig = Rig::new();
    let nodes = rig.path("nodes");
    std::fs::create_dir(&nodes).unwrap();
    let devices = refused_devices_the_host_opens(&nodes);
    if devices.is_empty() {
        skip!("this host opens none of the devices the test would have the container refused");
    }
    // For each device: mknod (allowed, as in Docker), then open it (refused), in /tmp (the
    // rootfs) and in /dev (a tmpfs).
    let mut script = String::new();
    for (i, (t, major, minor)) in devices.iter().enumerate() {
        for dir in ["/tmp", "/dev"] {
            let node = format!("{dir}/node{i}");
            script.push_str(&format!(
                "rm -f {node}; mknod {node} {t} {major} {minor} && echo made; \
                 (exec 3<{node}) && echo opened {node}; "
            ));
        }
    }
    let made = "made\n".repeat(2 * devices.len());
    let refused = 2 * devices.len();

    let id = rig.detach(&[IMAGE, "sleep", "1000"]);
    assert!(v2_root.join("berth").join(&id).is_dir());
    // On a hybrid host, make the v1 devices controller allow everything: only the v2 filter
    // is left to refuse.
    let v1 = Path::new("/sys/fs/cgroup/devices/berth").join(&id);
    if v1.is_dir() {
        let before = rig.t("ctr-exec", &[&id, "sh", "-c", &script], 30);
        assert_eq!(before.stdout, made, "{before:?}");
        assert_eq!(
            before.stderr.matches("Operation not permitted").count(),
            refused
        );
        std::fs::write(v1.join("devices.allow"), "a *:* rwm").unwrap();
        assert_eq!(
            std::fs::read_to_string(v1.join("devices.list"))
                .unwrap()
                .trim(),
            "a *:* rwm"
        );
    }
    // Neither file system is nodev (whose refusal would be EACCES, not the device cgroup's
    // EPERM).
    let mounts = rig
        .t("ctr-exec", &[&id, "cat", "/proc/self/mountinfo"], 30)
        .ok()
        .stdout;
    for point in ["/", "/dev"] {
        let line = mounts
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(point))
            .unwrap_or_else(|| panic!("no {point} in {mounts}"));
        assert!(!line.contains("nodev"), "{line}");
    }
    let out = rig.t("ctr-exec", &[&id, "sh", "-c", &script], 30);
    assert_eq!(out.stdout, made, "{devices:?}: {out:?}");
    assert_eq!(
        out.stderr.matches("Operation not permitted").count(),
        refused,
        "{out:?}"
    );
    // The standard devices work.
    let std_devs = "echo x > /dev/null && head -c3 /dev/zero | wc -c && \
                    head -c4 /dev/urandom | wc -c && exec 3<>/dev/ptmx && echo ptmx; \
                    cat /dev/tty";
    let out = rig.t("ctr-exec", &[&id, "sh", "-c", std_devs], 30);
    assert_eq!(out.stdout, "3\n4\nptmx\n", "{out:?}");
    // /dev/tty reaches its driver (no controlling terminal here), not a filter's refusal.
    assert!(out.stderr.contains("No such device or address"), "{out:?}");
    assert!(!out.stderr.contains("not permitted"), "{out:?}");
    rig.t("ctr-rm", &["-f", &id], 30).ok();
    assert!(!v2_root.join("berth").join(&id).exists());
}

/// `SigIgn:` and `SigBlk:` of a process's /proc/PID/status.
fn ignored_and_blocked(status: &str) -> Vec<&str> {
    status
        .lines()
        .filter(|l| l.starts_with("SigIgn:") || l.starts_with("SigBlk:"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect()
}

#[test]
fn processes_start_with_no_signal_ignored_or_blocked() {
    require_root!();
    let rig = Rig::new();
    // Rust ignores SIGPIPE in the tools; Docker's processes start with nothing ignored.
    let out = rig.run(&["--rm", IMAGE, "cat", "/proc/self/status"]).ok();
    assert_eq!(
        ignored_and_blocked(&out.stdout),
        ["0000000000000000", "0000000000000000"],
        "{}",
        out.stdout
    );
    rig.t(
        "ctr-run",
        &["-d", "--name", "sig", IMAGE, "sleep", "60"],
        60,
    )
    .ok();
    let out = rig
        .t("ctr-exec", &["sig", "cat", "/proc/self/status"], 30)
        .ok();
    assert_eq!(
        ignored_and_blocked(&out.stdout),
        ["0000000000000000", "0000000000000000"],
        "{}",
        out.stdout
    );
    // So a writer into a closed pipe dies of SIGPIPE, as under Docker (the shell reports 141).
    let out = rig
        .t(
            "ctr-exec",
            &[
                "sig",
                "sh",
                "-c",
                "yes | head -c1 >/dev/null; cat /dev/zero | true; echo done",
            ],
            30,
        )
        .ok();
    assert!(!out.stderr.contains("Broken pipe"), "{out:?}");
    assert_eq!(out.stdout.trim(), "done");
    rig.t("ctr-rm", &["-f", "sig"], 30).ok();
}
