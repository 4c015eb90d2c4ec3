//! Issue 19: what berth-runtime does beyond one container's own namespaces and stdio, each
//! scenario run against `/usr/sbin/runc` and `berth-runtime` and compared: namespaces joined by
//! path (the pattern of a Kubernetes pod, whose containers join the sandbox's pid, ipc, uts and
//! network namespaces), a hostname without a UTS namespace of the container's own, and
//! `--preserve-fds` for create (through `run`) and exec.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::runtime_cli::{
    both, bundle, cgroups_of, edit_spec, ns_link, runtimes, take_down, Cleanup, Rt,
};
use crate::support::have;
use crate::support::rig::{timed, timed_input, wait_until};

/// Creates and starts `id` from `b` with its output thrown away; returns the init's pid.
fn start_detached(rt: &Rt, b: &Path, id: &str) -> i32 {
    let mut c = rt.cmd(&["create", "--bundle", b.to_str().unwrap(), id]);
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let status = c.status().expect("create");
    assert!(
        status.success(),
        "{}: create {id}: {}",
        rt.bin.display(),
        rt.last_error()
    );
    assert_eq!(rt.run(&["start", id]).code, 0, "start {id}");
    rt.state(id)["pid"].as_i64().unwrap() as i32
}

/// A pod: a sandbox container with its own namespaces and a hostname, and containers that join
/// its pid, ipc, uts and network namespaces by /proc/PID/ns path (with a mount namespace of
/// their own). Inside, both runtimes give the same view: the sandbox's namespaces, its
/// hostname, its sleep as pid 1. Then the shim's pattern for a container whose init exits while
/// a child it left keeps running in the shared pid namespace: `kill --all ID 9` exits 0 and
/// kills the child, `delete` cleans up, and no cgroup is left.
#[test]
fn pod_joins_namespaces_by_path_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let names = ["pod", "podc", "podl"];
    let _clean = both(&names);
    let mut views = Vec::new();
    for (rt, name) in [(&runc, "runc"), (&berth, "berth")] {
        let sb = format!("pod-{name}");
        let b = bundle(dir.path(), &sb, &["sleep", "1000"]);
        edit_spec(&b, |s| s["hostname"] = Value::String("podhost".into()));
        let sb_pid = start_detached(rt, &b, &sb);
        let join = |s: &mut Value| {
            s.as_object_mut().unwrap().remove("hostname");
            for ns in s["linux"]["namespaces"].as_array_mut().unwrap() {
                let file = match ns["type"].as_str().unwrap() {
                    "pid" => "pid",
                    "ipc" => "ipc",
                    "uts" => "uts",
                    "network" => "net",
                    _ => continue,
                };
                ns["path"] = Value::String(format!("/proc/{sb_pid}/ns/{file}"));
            }
        };
        let c = format!("podc-{name}");
        let b = bundle(
            dir.path(),
            &c,
            &[
                "sh",
                "-c",
                "for n in pid ipc uts net mnt; do readlink /proc/self/ns/$n; done; hostname; \
                 tr '\\0' ' ' < /proc/1/cmdline; echo",
            ],
        );
        edit_spec(&b, join);
        let o = timed(
            &mut rt.cmd(&["run", "--bundle", b.to_str().unwrap(), &c]),
            60,
        );
        assert_eq!(o.code, 0, "{name}: {o:?} {}", rt.last_error());
        let lines: Vec<&str> = o.stdout.lines().collect();
        assert_eq!(lines.len(), 7, "{name}: {o:?}");
        let view = vec![
            format!("pid joined: {}", lines[0] == ns_link(sb_pid, "pid")),
            format!("ipc joined: {}", lines[1] == ns_link(sb_pid, "ipc")),
            format!("uts joined: {}", lines[2] == ns_link(sb_pid, "uts")),
            format!("net joined: {}", lines[3] == ns_link(sb_pid, "net")),
            format!("own mnt: {}", lines[4] != ns_link(sb_pid, "mnt")),
            format!("hostname: {}", lines[5]),
            format!("pid 1: {}", lines[6].trim()),
        ];
        rt.run(&["delete", "--force", &c]);

        // The init exits at once and leaves a sleep in the pod's pid namespace.
        let l = format!("podl-{name}");
        let b = bundle(dir.path(), &l, &["sh", "-c", "sleep 1000 & echo x"]);
        edit_spec(&b, join);
        start_detached(rt, &b, &l);
        let init_gone = wait_until(10, || rt.state(&l)["status"] == "stopped");
        let left = |id: &str| -> usize {
            cgroups_of(id)
                .iter()
                .map(|d| {
                    std::fs::read_to_string(d.join("cgroup.procs"))
                        .unwrap_or_default()
                        .lines()
                        .count()
                })
                .max()
                .unwrap_or(0)
        };
        let child_left = left(&l);
        let o = rt.run(&["kill", "--all", &l, "9"]);
        let emptied = wait_until(10, || left(&l) == 0);
        let d = rt.run(&["delete", &l]);
        let mut view = view;
        view.extend([
            format!("init gone: {init_gone}, its child still in the cgroup: {child_left}"),
            format!("kill --all of the stopped one: {}", o.code),
            format!("cgroup emptied: {emptied}"),
            format!("delete: {}", d.code),
            format!("no cgroup left: {}", cgroups_of(&l).is_empty()),
            format!("sandbox still running: {}", rt.state(&sb)["status"]),
        ]);
        take_down(rt, &sb);
        view.push(format!("sandbox gone: {}", cgroups_of(&sb).is_empty()));
        views.push(view);
    }
    assert_eq!(views[0], views[1], "runc (left) and berth (right) differ");
    assert_eq!(views[1][0], "pid joined: true", "{:?}", views[1]);
    assert_eq!(views[1][5], "hostname: podhost", "{:?}", views[1]);
    assert_eq!(views[1][6], "pid 1: sleep 1000", "{:?}", views[1]);
}

/// A hostname with the host's UTS namespace would rename the host: both runtimes refuse the
/// create with runc's words and leave nothing. (A domainname is refused by berth the same
/// way; runc 1.1 would set the host's, so that part is berth's alone.)
#[test]
fn hostname_needs_a_uts_namespace_of_its_own_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = Cleanup(vec!["hn-runc".into(), "hn-berth".into(), "dn-berth".into()]);
    let host_uts = |s: &mut Value| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "uts");
    };
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for (rt, name) in [(&runc, "runc"), (&berth, "berth")] {
        let id = format!("hn-{name}");
        let b = bundle(dir.path(), &id, &["true"]);
        edit_spec(&b, |s| {
            host_uts(s);
            s["hostname"] = Value::String("renamed".into());
        });
        let o = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
        assert_ne!(o.code, 0, "{name}: {o:?}");
        assert!(
            rt.last_error()
                .contains("unable to set hostname without a private UTS namespace"),
            "{name}: {}",
            rt.last_error()
        );
        assert!(cgroups_of(&id).is_empty(), "{name}: {:?}", cgroups_of(&id));
        assert!(!rt.root.join(&id).exists(), "{name}: state left");
    }
    let dn_before = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let b = bundle(dir.path(), "dn-berth", &["true"]);
    edit_spec(&b, |s| {
        host_uts(s);
        s.as_object_mut().unwrap().remove("hostname");
        s["domainname"] = Value::String("renamed.example".into());
    });
    let o = berth.run(&["create", "--bundle", b.to_str().unwrap(), "dn-berth"]);
    assert_ne!(o.code, 0, "{o:?}");
    assert!(
        berth.last_error().contains("unable to set domainname"),
        "{}",
        berth.last_error()
    );
    assert!(!berth.root.join("dn-berth").exists());
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(),
        dn_before
    );
}

/// Runs `rt` with ARGS from a shell that first opens `file` as fds 3 and 5 (fd 4 closed), as a
/// caller handing descriptors over would.
fn with_fds(rt: &Rt, file: &Path, args: &[&str]) -> crate::support::Out {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("exec 3<\"$F\" 5<\"$F\"; exec \"$@\"")
        .arg("sh")
        .arg(&rt.bin)
        .arg("--root")
        .arg(&rt.root)
        .arg("--log")
        .arg(&rt.log)
        .arg("--log-format")
        .arg("json")
        .args(args)
        .env("F", file)
        .stdin(std::process::Stdio::null());
    timed(&mut c, 60)
}

/// `--preserve-fds N` passes the caller's fds 3…2+N to the container's process and closes every
/// other: for `run` (create) and for `exec`, the process sees the same descriptors under both
/// runtimes, reads the file through fd 3, and has no fd 5. Without the flag it has only 0–2.
#[test]
fn preserve_fds_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = both(&["pf", "pf0", "pfx"]);
    let file = dir.path().join("handed-over");
    std::fs::write(&file, "three\n").unwrap();
    // The shell's own descriptors above 2 (builtins only: a pipe would add its own).
    let show = "cat <&3 2>/dev/null || echo no-fd-3; \
                for f in 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$f ] && echo -n \"$f \"; done; echo";
    let mut views = Vec::new();
    for (rt, name) in [(&runc, "runc"), (&berth, "berth")] {
        let mut view = Vec::new();
        for (id, n) in [(format!("pf-{name}"), "1"), (format!("pf0-{name}"), "0")] {
            let b = bundle(dir.path(), &id, &["sh", "-c", show]);
            let o = with_fds(
                rt,
                &file,
                &[
                    "run",
                    "--preserve-fds",
                    n,
                    "--bundle",
                    b.to_str().unwrap(),
                    &id,
                ],
            );
            view.push(format!("run --preserve-fds {n}: {} {}", o.code, o.stdout));
            rt.run(&["delete", "--force", &id]);
        }
        let id = format!("pfx-{name}");
        let b = bundle(dir.path(), &id, &["sleep", "1000"]);
        start_detached(rt, &b, &id);
        for n in ["1", "0"] {
            let o = with_fds(
                rt,
                &file,
                &["exec", "--preserve-fds", n, &id, "sh", "-c", show],
            );
            view.push(format!("exec --preserve-fds {n}: {} {}", o.code, o.stdout));
        }
        take_down(rt, &id);
        views.push(view);
    }
    assert_eq!(views[0], views[1], "runc (left) and berth (right) differ");
    assert_eq!(views[1][0], "run --preserve-fds 1: 0 three\n3 \n");
    assert_eq!(views[1][1], "run --preserve-fds 0: 0 no-fd-3\n\n");

    // A descriptor that is not open cannot be passed (one of the runtime's own would take its
    // number and reach the container): berth says which, and creates nothing.
    let b = dir.path().join("bundle-pfx-berth");
    let o = with_fds(
        &berth,
        &file,
        &[
            "create",
            "--preserve-fds",
            "2",
            "--bundle",
            b.to_str().unwrap(),
            "pfbad",
        ],
    );
    assert_ne!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("file descriptor 4 is not open"), "{o:?}");
    assert!(!berth.root.join("pfbad").exists());
}

/// `--systemd-cgroup` (containerd's `SystemdCgroup = true`): the cgroupsPath
/// `slice:prefix:name` is the scope `prefix-name.scope` inside the nested slices, where the init
/// is in every controller before create returns; delete removes the scope. A path not of that
/// form is refused with runc's words. (runc needs a running systemd for this; there is none
/// here, so berth is checked alone.)
#[test]
fn systemd_cgroup_paths_are_scopes_in_slices() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let (_, berth) = runtimes(dir.path());
    let slices = ["berthtest.slice", "berthtest-pod1.slice"];
    struct Slices(Vec<std::path::PathBuf>);
    impl Drop for Slices {
        fn drop(&mut self) {
            for d in self.0.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
    let mut made = Vec::new();
    for c in ["memory", "pids", "cpu,cpuacct", "devices", "freezer"] {
        let scope = Path::new("/sys/fs/cgroup")
            .join(c)
            .join(slices[0])
            .join(slices[1]);
        made.extend([
            scope.parent().unwrap().to_path_buf(),
            scope.clone(),
            scope.join("cri-containerd-sd1.scope"),
        ]);
    }
    let _slices = Slices(made);
    let b = bundle(dir.path(), "sd1", &["sleep", "1000"]);
    edit_spec(&b, |s| {
        s["linux"]["cgroupsPath"] = Value::String("berthtest-pod1.slice:cri-containerd:sd1".into())
    });
    let mut c = berth.cmd(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "sd1",
    ]);
    c.stdout(std::process::Stdio::null());
    assert!(c.status().unwrap().success(), "{}", berth.last_error());
    let pid = berth.state("sd1")["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let scope = "/berthtest.slice/berthtest-pod1.slice/cri-containerd-sd1.scope";
    let in_scope = cg.lines().filter(|l| l.ends_with(scope)).count();
    assert!(in_scope >= 5, "{cg}");
    let limit = Path::new("/sys/fs/cgroup/memory")
        .join(&scope[1..])
        .join("memory.limit_in_bytes");
    let o = timed_input(
        &mut berth.cmd(&["--systemd-cgroup", "update", "--resources", "-", "sd1"]),
        Some(br#"{"memory":{"limit":104857600}}"#),
        30,
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read_to_string(&limit).unwrap().trim(), "104857600");
    assert_eq!(berth.run(&["kill", "sd1", "9"]).code, 0);
    assert!(wait_until(10, || berth.state("sd1")["status"] == "stopped"));
    assert_eq!(berth.run(&["delete", "sd1"]).code, 0);
    assert!(!limit.parent().unwrap().exists(), "the scope is left");

    let b = bundle(dir.path(), "sd2", &["true"]);
    edit_spec(&b, |s| {
        s["linux"]["cgroupsPath"] = Value::String("/plain/sd2".into())
    });
    let o = berth.run(&[
        "--systemd-cgroup",
        "create",
        "--bundle",
        b.to_str().unwrap(),
        "sd2",
    ]);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        berth
            .last_error()
            .contains("expected cgroupsPath to be of format \"slice:prefix:name\""),
        "{}",
        berth.last_error()
    );
    assert!(!berth.root.join("sd2").exists());
}

/// runc's inline exec (`exec [flags] ID CMD…`, as scripts use it): --env (the last value of a
/// name wins), --user UID (the spec's gid kept) and UID:GID, --additional-gids, --cap,
/// --no-new-privs, --cwd; a paused container refuses an exec; a failed exec exits 255. The
/// process sees the same under both runtimes.
#[test]
fn inline_exec_flags_as_runc() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = Cleanup(vec!["ix-runc".into(), "ix-berth".into()]);
    let show = "echo $TERM $FOO; id; pwd; grep -E 'CapEff|NoNewPrivs' /proc/self/status";
    let mut views = Vec::new();
    for (rt, name) in [(&runc, "runc"), (&berth, "berth")] {
        let id = format!("ix-{name}");
        let b = bundle(dir.path(), &id, &["sleep", "1000"]);
        start_detached(rt, &b, &id);
        let mut view = Vec::new();
        for flags in [
            &["--env", "TERM=dumb", "--env", "FOO=1", "--env", "FOO=2"][..],
            &["--user", "5", "-g", "7", "-g", "8"],
            &["--user", "5:6", "--cwd", "/tmp"],
            &["--cap", "CAP_SYS_ADMIN", "--no-new-privs"],
        ] {
            let mut args = vec!["exec"];
            args.extend_from_slice(flags);
            args.extend([id.as_str(), "sh", "-c", show]);
            let o = rt.run(&args);
            view.push(format!("{flags:?}: {} {}", o.code, o.stdout));
        }
        let o = rt.run(&["exec", &id, "/nonexistent"]);
        view.push(format!("missing binary: {}", o.code));
        assert_eq!(rt.run(&["pause", &id]).code, 0);
        let o = rt.run(&["exec", &id, "true"]);
        view.push(format!(
            "paused: {} {}",
            o.code,
            o.stderr.contains("cannot exec in a paused container")
        ));
        rt.run(&["resume", &id]);
        if name == "berth" {
            // containerd's `task checkpoint` (runc needs criu): refused, the container untouched.
            let o = rt.run(&[
                "checkpoint",
                "--image-path",
                "/nonexistent",
                "--leave-running",
                &id,
            ]);
            assert_eq!(o.code, 1, "{o:?}");
            assert!(o.stderr.contains("not supported"), "{o:?}");
            assert_eq!(rt.state(&id)["status"], "running");
        }
        take_down(rt, &id);
        views.push(view);
    }
    assert_eq!(views[0], views[1], "runc (left) and berth (right) differ");
    assert!(views[1][0].contains(": 0 dumb 2\n"), "{:?}", views[1]);
    assert!(
        views[1][1].contains("uid=5 gid=0(root) groups=7,8"),
        "{:?}",
        views[1]
    );
    assert_eq!(views[1][4], "missing binary: 255");
    assert_eq!(views[1][5], "paused: 255 true");
}

/// The spec's hooks, as runc runs them: prestart and createRuntime by the runtime, then
/// createContainer in the container's mount namespace (the host's paths), all before create
/// returns; startContainer inside the container after start (its path and its log are the
/// container's); poststart after start; poststop at delete. Each reads the state JSON. The
/// order, the status each sees, whether it has a pid, the id and bundle are the same under both
/// runtimes. A failing createRuntime hook fails the create with runc's words and leaves nothing.
#[test]
fn hooks_run_as_runcs() {
    require_root!();
    if !have("runc") {
        skip!("runc is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (runc, berth) = runtimes(dir.path());
    let _clean = both(&["hk", "hkbad"]);
    let hook = |log: &str, name: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat >> {log}; echo ' {name}' >> {log}")],
            "timeout": 10
        })
    };
    // One line per hook: its name, the status and whether the state had a pid, id and bundle.
    let read_log = |path: &Path, id: &str, b: &Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (json, name) = l.rsplit_once(' ').unwrap_or((l, "?"));
                let v: Value = serde_json::from_str(json.trim()).unwrap_or(Value::Null);
                format!(
                    "{name}: {} pid>0={} id={} bundle={}",
                    v["status"],
                    v["pid"].as_i64().unwrap_or(0) > 0,
                    v["id"] == id,
                    v["bundle"].as_str().map(Path::new) == Some(b)
                )
            })
            .collect()
    };
    let mut views = Vec::new();
    for (rt, name) in [(&runc, "runc"), (&berth, "berth")] {
        let id = format!("hk-{name}");
        let b = bundle(dir.path(), &id, &["sleep", "1000"]);
        let host_log = dir.path().join(format!("hooks-{name}.log"));
        let h = host_log.to_str().unwrap().to_string();
        edit_spec(&b, |s| {
            s["hooks"] = serde_json::json!({
                "prestart": [hook(&h, "prestart")],
                "createRuntime": [hook(&h, "createRuntime")],
                "createContainer": [hook(&h, "createContainer")],
                "startContainer": [hook("/hooks.log", "startContainer")],
                "poststart": [hook(&h, "poststart")],
                "poststop": [hook(&h, "poststop")],
            })
        });
        let b = std::fs::canonicalize(&b).unwrap();
        let mut view = Vec::new();
        let mut c = rt.cmd(&["create", "--bundle", b.to_str().unwrap(), &id]);
        c.stdout(std::process::Stdio::null());
        let created = c.status().unwrap().success();
        view.push(format!("create: {created}"));
        view.extend(read_log(&host_log, &id, &b));
        assert_eq!(rt.run(&["start", &id]).code, 0, "{name}");
        let inside = b.join("rootfs/hooks.log");
        wait_until(10, || {
            std::fs::read_to_string(&inside).is_ok_and(|t| t.contains('\n'))
        });
        view.push("after start:".into());
        view.extend(read_log(&host_log, &id, &b).into_iter().skip(3));
        view.extend(read_log(&inside, &id, &b));
        rt.run(&["kill", &id, "9"]);
        wait_until(10, || rt.state(&id)["status"] == "stopped");
        let d = rt.run(&["delete", &id]);
        view.push(format!("delete: {}", d.code));
        view.extend(read_log(&host_log, &id, &b).into_iter().skip(4));

        let id = format!("hkbad-{name}");
        let b = bundle(dir.path(), &id, &["sleep", "1000"]);
        edit_spec(&b, |s| {
            s["hooks"] = serde_json::json!({"createRuntime": [
                {"path": "/bin/sh", "args": ["sh", "-c", "echo no >&2; exit 3"]}
            ]})
        });
        let o = rt.run(&["create", "--bundle", b.to_str().unwrap(), &id]);
        let err = rt.last_error();
        view.push(format!(
            "failing hook: {} {} {}",
            o.code,
            err.contains(
                "error running hook #0: error running hook: exit status 3, stdout: , stderr: no"
            ),
            cgroups_of(&id).is_empty()
        ));
        rt.run(&["delete", "--force", &id]);
        view.push(format!("no state left: {}", !rt.root.join(&id).exists()));
        views.push(view);
    }
    // One difference on purpose: runc 1.1 runs the poststart hooks at create (status
    // "created"), which the spec (and runc 1.2) puts after start; berth runs them after start.
    assert!(
        views[0].contains(&"poststart: \"created\" pid>0=true id=true bundle=true".to_string()),
        "{:#?}",
        views[0]
    );
    assert_eq!(
        views[1][5], "poststart: \"running\" pid>0=true id=true bundle=true",
        "{:#?}",
        views[1]
    );
    let others = |v: &[String]| -> Vec<String> {
        v.iter()
            .filter(|l| !l.starts_with("poststart"))
            .cloned()
            .collect()
    };
    assert_eq!(
        others(&views[0]),
        others(&views[1]),
        "runc (left) and berth (right) differ"
    );
    assert_eq!(views[1].len(), 11, "{:#?}", views[1]);
}
