//! Issue 15, items 8, 9 and 11: ctr-run and ctr-create as a Docker user expects them. Usage
//! errors exit 125 (`--cpus -1` is a range error); an image not in the store is pulled as
//! `docker run` pulls it (`--pull`); a command that is not found exits 127 and leaves Docker's
//! State.ExitCode and State.Error; `--network container:X` takes X's host name; users get
//! Docker's supplementary groups; a container's own network namespace gets Docker's sysctls.
//!
//! Each test asserts the answers Docker 20.10 gives (measured with the private dockerd), and
//! `docker_gives_the_same_answers` checks those same answers against a private dockerd where the
//! machine can run one.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::docker::Dockerd;
use crate::support::rig::{timed, Rig};
use crate::support::{busybox_rootfs, own_network_namespace, run, Env, Out, Registry};

/// The image of these tests: busybox with users and groups whose /etc/group lists members,
/// a file without an execute bit in PATH, as `pr/bb:1`.
const IMAGE: &str = "pr/bb:1";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
alice:x:1000:1000:alice:/home/alice:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\ndaemon:x:1:root,alice\nbin:x:2:root\nwheel:x:10:root\n\
alice:x:1000:\nstaff:x:50:alice\nnogroup:x:65534:\n";

/// The image's root file system as a tarball in `dir`.
fn image_tarball(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let rootfs = busybox_rootfs(&dir.join("rootfs"));
    std::fs::write(rootfs.join("etc/passwd"), PASSWD).unwrap();
    std::fs::write(rootfs.join("etc/group"), GROUP).unwrap();
    std::fs::create_dir_all(rootfs.join("home/alice")).unwrap();
    let noexec = rootfs.join("bin/noexec");
    std::fs::write(&noexec, "#!/bin/sh\necho should not run\n").unwrap();
    std::fs::set_permissions(&noexec, std::fs::Permissions::from_mode(0o644)).unwrap();
    let tar = dir.join("pr-bb.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("--numeric-owner")
        .arg("-cf")
        .arg(&tar)
        .arg("."))
    .ok();
    tar
}

/// A rig whose image is [`IMAGE`].
fn rig() -> Rig {
    let env = Env::new();
    let tar = image_tarball(env.tmp.path());
    env.run("img-import", &[tar.to_str().unwrap(), IMAGE]).ok();
    Rig {
        env,
        image: IMAGE.into(),
    }
}

fn inspect_state(rig: &Rig, name: &str) -> Value {
    rig.inspect(name)["State"].clone()
}

// ---------------------------------------------------------------------------------------------
// Item 8: exit codes

/// (arguments after the tool, exit code) of usage errors: Docker's CLI exits 125 for them (the
/// Docker CLI exits 1 for a missing IMAGE; berth keeps to 125 for every usage error, as the
/// issue asks, so that no usage error reads as a container's exit code).
const RUN_USAGE: &[&[&str]] = &[
    &["--nosuchflag", IMAGE, "true"],
    &["--pull", "sometimes", IMAGE, "true"],
    &["--cpus", "abc", IMAGE, "true"],
    &["-m", "abc", IMAGE, "true"],
    &[],
];

#[test]
fn usage_errors_exit_125_and_cpus_out_of_range_is_a_range_error() {
    require_root!();
    let rig = rig();
    for args in RUN_USAGE {
        for tool in ["ctr-run", "ctr-create"] {
            let out = rig.t(tool, args, 30);
            assert_eq!(out.code, 125, "{tool} {args:?}: {out:#?}");
            assert!(
                out.stderr.contains(": error: "),
                "{tool} {args:?}: {out:#?}"
            );
            assert!(out.stdout.is_empty(), "{tool} {args:?}: {out:#?}");
        }
    }
    // --help and --version are not errors.
    for tool in ["ctr-run", "ctr-create"] {
        let out = rig.t(tool, &["--help"], 30).ok();
        assert!(out.stdout.contains("--pull <WHEN>"), "{out:#?}");
        rig.t(tool, &["--version"], 30).ok();
    }

    // --cpus -1 is Docker's range error, naming the value: 125 from ctr-run (as docker run),
    // 1 from ctr-create (as docker create, whose daemon finds it).
    let ncpu = std::thread::available_parallelism().unwrap().get();
    let range = format!(
        "invalid --cpus -1: range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} \
         CPUs available"
    );
    rig.run(&["--rm", "--cpus", "-1", IMAGE, "true"])
        .fails_with(125, &range);
    rig.t("ctr-create", &["--cpus", "-1", IMAGE, "true"], 30)
        .fails_with(1, &range);
    rig.run(&["--rm", "--cpus", "1000", IMAGE, "true"])
        .fails_with(125, "invalid --cpus 1000: range of CPUs");
    // A valid one runs.
    assert_eq!(rig.sh(&["--cpus", "0.5"], "echo ok"), "ok\n");
    // Docker's conflict: a host name with another container's network.
    rig.run(&["--rm", "--network", "container:x", "-h", "h", IMAGE, "true"])
        .fails_with(125, "conflicting options: hostname and the network mode");
    assert!(rig.ids().is_empty(), "nothing was made: {:?}", rig.ids());
}

// ---------------------------------------------------------------------------------------------
// Item 11: a command that cannot run

/// (command, exit code, what State.Error and stderr say), as Docker 20.10 with runc says them.
const NOT_RUN: &[(&str, i32, &str)] = &[
    (
        "nosuch",
        127,
        "exec: \"nosuch\": executable file not found in $PATH",
    ),
    (
        "/nosuch/x",
        127,
        "exec: \"/nosuch/x\": stat /nosuch/x: no such file or directory",
    ),
    // In PATH but not executable: not found, as Go's LookPath.
    (
        "noexec",
        127,
        "exec: \"noexec\": executable file not found in $PATH",
    ),
    (
        "/bin/noexec",
        126,
        "exec: \"/bin/noexec\": permission denied",
    ),
    ("/etc", 126, "exec: \"/etc\": permission denied"),
];

#[test]
fn a_command_not_found_exits_127_and_inspect_shows_dockers_state() {
    require_root!();
    let rig = rig();
    for (i, (cmd, code, why)) in NOT_RUN.iter().enumerate() {
        let name = format!("c{i}");
        rig.run(&["--name", &name, IMAGE, cmd])
            .fails_with(*code, why);
        let s = inspect_state(&rig, &name);
        assert_eq!(s["Status"], "created", "{cmd}: {s}");
        assert_eq!(s["ExitCode"], *code, "{cmd}: {s}");
        assert!(
            s["Error"].as_str().unwrap_or_default().contains(why),
            "{cmd}: {s}"
        );
        assert_eq!(s["Running"], false);
        assert_eq!(s["Pid"], 0);
        assert_eq!(s["StartedAt"], "0001-01-01T00:00:00Z", "{s}");
    }
    // Detached, the same code (docker run -d exits 127 too), and --rm leaves nothing.
    let before = rig.ids().len();
    rig.t("ctr-run", &["-d", "--rm", IMAGE, "nosuch"], 60)
        .fails_with(127, NOT_RUN[0].2);
    assert_eq!(rig.ids().len(), before, "--rm removed it");
    // ctr-start of such a container fails the same way, and the record says so again.
    let out = rig.t("ctr-start", &["c0"], 60);
    assert!(
        out.code != 0 && out.stderr.contains(NOT_RUN[0].2),
        "{out:#?}"
    );
    let s = inspect_state(&rig, "c0");
    assert_eq!(
        (s["Status"].as_str(), s["ExitCode"].as_i64()),
        (Some("created"), Some(127))
    );
    // A command that runs clears the error, as Docker's start does.
    let out = rig.run(&["--name", "fine", IMAGE, "true"]).ok();
    assert!(out.stderr.is_empty(), "{out:#?}");
    let s = inspect_state(&rig, "fine");
    assert_eq!(
        (s["Status"].as_str(), s["ExitCode"].as_i64()),
        (Some("exited"), Some(0))
    );
    assert_eq!(s["Error"], "");
}

// ---------------------------------------------------------------------------------------------
// Item 11: supplementary groups

/// (ctr-run flags, the Groups line of /proc/self/status, `id`), as Docker 20.10 gives them:
/// the primary group, the groups of /etc/group that list the user unless a group was named,
/// and --group-add's.
const GROUPS: &[(&[&str], &str, &str)] = &[
    (
        &[],
        "0 1 2 10",
        "uid=0(root) gid=0(root) groups=0(root),1(daemon),2(bin),10(wheel)",
    ),
    (
        &["-u", "0"],
        "0 1 2 10",
        "uid=0(root) gid=0(root) groups=0(root),1(daemon),2(bin),10(wheel)",
    ),
    (
        &["-u", "1000"],
        "1 50 1000",
        "uid=1000(alice) gid=1000(alice) groups=1(daemon),50(staff),1000(alice)",
    ),
    (
        &["-u", "alice"],
        "1 50 1000",
        "uid=1000(alice) gid=1000(alice) groups=1(daemon),50(staff),1000(alice)",
    ),
    (
        &["-u", "1000:1000"],
        "1000",
        "uid=1000(alice) gid=1000(alice) groups=1000(alice)",
    ),
    (
        &["-u", "alice:staff"],
        "50",
        "uid=1000(alice) gid=50(staff) groups=50(staff)",
    ),
    (&["-u", "2000"], "0", "uid=2000 gid=0(root) groups=0(root)"),
    (
        &["-u", "2000:2000"],
        "2000",
        "uid=2000 gid=2000 groups=2000",
    ),
    (
        &["-u", "1000", "--group-add", "77"],
        "1 50 77 1000",
        "uid=1000(alice) gid=1000(alice) groups=1(daemon),50(staff),77,1000(alice)",
    ),
    (
        &["-u", "1000:1000", "--group-add", "staff"],
        "50 1000",
        "uid=1000(alice) gid=1000(alice) groups=50(staff),1000(alice)",
    ),
];

const GROUPS_SCRIPT: &str = "grep Groups /proc/self/status | cut -f2; id";

fn groups_line(out: &str) -> (String, String) {
    let mut l = out.lines();
    (
        l.next().unwrap_or_default().trim().to_string(),
        l.next().unwrap_or_default().to_string(),
    )
}

#[test]
fn users_get_dockers_supplementary_groups() {
    require_root!();
    let rig = rig();
    for (flags, groups, id) in GROUPS {
        let out = rig.sh(flags, GROUPS_SCRIPT);
        assert_eq!(
            groups_line(&out),
            (groups.to_string(), id.to_string()),
            "{flags:?}"
        );
    }
    // ctr-exec -u gets them the same way, with the container's --group-add (moby `getUser`).
    let c = rig.detach(&["--group-add", "77", IMAGE, "sleep", "60"]);
    let out = rig
        .t(
            "ctr-exec",
            &["-u", "1000", &c, "sh", "-c", GROUPS_SCRIPT],
            30,
        )
        .ok();
    assert_eq!(groups_line(&out.stdout).0, "1 50 77 1000");
    let out = rig
        .t(
            "ctr-exec",
            &["-u", "1000:1000", &c, "sh", "-c", GROUPS_SCRIPT],
            30,
        )
        .ok();
    assert_eq!(groups_line(&out.stdout).0, "77 1000");
    // An unknown group is an error, as Docker's.
    rig.run(&["--rm", "--group-add", "nosuch", IMAGE, "true"])
        .fails_with(125, "unable to find group nosuch");
    assert_eq!(
        rig.inspect(&c)["HostConfig"]["GroupAdd"],
        serde_json::json!(["77"])
    );
    let plain = rig.detach(&[IMAGE, "sleep", "60"]);
    assert_eq!(rig.inspect(&plain)["HostConfig"]["GroupAdd"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// Item 11: sysctls

const SYSCTL_SCRIPT: &str = "cat /proc/sys/net/ipv4/ip_unprivileged_port_start \
/proc/sys/net/ipv4/ping_group_range; httpd -p 80 && echo bound";

#[test]
fn an_own_network_namespace_gets_dockers_sysctls() {
    require_root!();
    let rig = rig();
    for net in ["bridge", "none"] {
        let out = rig
            .run(&[
                "--rm",
                "--network",
                net,
                "-u",
                "1000",
                IMAGE,
                "sh",
                "-c",
                SYSCTL_SCRIPT,
            ])
            .ok();
        assert_eq!(out.stdout, "0\n0\t2147483647\nbound\n", "{net}: {out:#?}");
    }
    // The host's namespace is left as it is (this test's: the kernel's defaults).
    let port_start =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let out = rig.run(&[
        "--rm",
        "--network",
        "host",
        "-u",
        "1000",
        IMAGE,
        "sh",
        "-c",
        SYSCTL_SCRIPT,
    ]);
    assert!(out.stdout.starts_with(&port_start), "{out:#?}");
    if port_start.trim() != "0" {
        assert!(!out.stdout.contains("bound"), "{out:#?}");
        assert!(out.stderr.contains("bind: Permission denied"), "{out:#?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 11: --network container:X

#[test]
fn network_container_shares_the_host_name() {
    require_root!();
    let rig = rig();
    let x = rig.detach(&["--name", "xx", "-h", "xhost", IMAGE, "sleep", "300"]);
    let y = rig
        .t(
            "ctr-create",
            &[
                "--name",
                "yy",
                "--network",
                "container:xx",
                IMAGE,
                "sh",
                "-c",
                "hostname; cat /etc/hostname; uname -n; echo $HOSTNAME",
            ],
            30,
        )
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // As Docker: its own name until it starts, then X's.
    assert_eq!(rig.inspect(&y)["Config"]["Hostname"], &y[..12]);
    let out = rig.t("ctr-start", &["-a", "yy"], 60).ok();
    assert_eq!(out.stdout, "xhost\nxhost\nxhost\nxhost\n");
    assert_eq!(rig.inspect(&y)["Config"]["Hostname"], "xhost");
    assert_eq!(
        rig.inspect(&y)["HostConfig"]["NetworkMode"],
        format!("container:{x}")
    );
    // Again (a second start), the same.
    let out = rig.t("ctr-start", &["-a", "yy"], 60).ok();
    assert_eq!(out.stdout, "xhost\nxhost\nxhost\nxhost\n");
    // X stopped: yy cannot start, and its record says why, as Docker's (ExitCode 128).
    rig.t("ctr-kill", &["xx"], 30).ok();
    let out = rig.t("ctr-start", &["-a", "yy"], 60);
    assert!(
        out.code != 0 && out.stderr.contains("non-running container"),
        "{out:#?}"
    );
    let s = inspect_state(&rig, "yy");
    assert_eq!(s["ExitCode"], 128, "{s}");
    assert!(
        s["Error"]
            .as_str()
            .unwrap()
            .contains("non-running container"),
        "{s}"
    );
    // X without -h: its ID's 12 digits.
    rig.detach(&["--name", "zz", IMAGE, "sleep", "300"]);
    let z = rig.inspect("zz")["Id"].as_str().unwrap().to_string();
    assert_eq!(
        rig.sh(&["--network", "container:zz"], "hostname"),
        format!("{}\n", &z[..12])
    );
}

// ---------------------------------------------------------------------------------------------
// Item 9: pulling a missing image

/// Docker's lines on stderr for a pull of `shown` at digest `digest`.
fn assert_pull_lines(err: &str, shown: &str, repo: &str, tag: &str, digest: &str, fresh: bool) {
    let lines: Vec<&str> = err.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| *l == needle)
            .unwrap_or_else(|| panic!("no line {needle:?} in {err}"))
    };
    let pulling = at(&format!("{tag}: Pulling from {repo}"));
    let dig = at(&format!("Digest: {digest}"));
    let status = at(&if fresh {
        format!("Status: Downloaded newer image for {shown}")
    } else {
        format!("Status: Image is up to date for {shown}")
    });
    assert!(pulling < dig && dig < status, "{err}");
    if fresh {
        assert_eq!(
            lines[0],
            format!("Unable to find image '{shown}' locally"),
            "{err}"
        );
    } else {
        assert!(!err.contains("Unable to find"), "{err}");
    }
}

#[test]
fn ctr_run_and_ctr_create_pull_a_missing_image_as_docker() {
    require_root!();
    require_program!("docker-registry");
    // The tools reach the registry from this test's network namespace.
    own_network_namespace();
    let reg = Registry::start();
    let src = rig();
    let shown = format!("{}/t/bb:1", reg.addr());
    let pushed = src.t("img-push", &[IMAGE, &shown], 60).ok().json();
    let digest = pushed["digest"].as_str().unwrap().to_string();
    let shown2 = format!("{}/t/bb:2", reg.addr());
    src.t("img-push", &[IMAGE, &shown2], 60).ok();

    let rig = Rig {
        env: Env::new(),
        image: shown.clone(),
    };
    // --pull never: no such image, nothing pulled, exit 125.
    rig.run(&["--rm", "--pull", "never", &shown, "true"])
        .fails_with(125, &format!("no such image: {shown}"));
    rig.t("ctr-create", &["--pull", "never", &shown, "true"], 30)
        .fails_with(1, "no such image");
    assert!(rig.ids().is_empty());

    // Missing (the default): pulled, Docker's lines on stderr, the container's output alone on
    // stdout.
    let out = rig.run(&["--rm", &shown, "echo", "out"]).ok();
    assert_eq!(out.stdout, "out\n");
    assert_pull_lines(&out.stderr, &shown, "t/bb", "1", &digest, true);
    assert_eq!(
        rig.t("img-inspect", &[&shown], 30).ok().json()[0]["Id"],
        src.t("img-inspect", &[IMAGE], 30).ok().json()[0]["Id"]
    );
    // Present: no pull, nothing on stderr.
    let out = rig.run(&["--rm", &shown, "echo", "again"]).ok();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("again\n", ""));
    // --pull always: pulled again, up to date.
    let out = rig
        .run(&["--rm", "--pull", "always", &shown, "echo", "always"])
        .ok();
    assert_eq!(out.stdout, "always\n");
    assert_pull_lines(&out.stderr, &shown, "t/bb", "1", &digest, false);
    // -q: silent.
    rig.t("img-rm", &[&shown], 30).ok();
    let out = rig.run(&["--rm", "-q", &shown, "echo", "quiet"]).ok();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("quiet\n", ""));

    // ctr-create: stdout is its JSON alone.
    let out = rig
        .t("ctr-create", &["--name", "made", &shown2, "true"], 60)
        .ok();
    let made = out.json();
    assert_eq!(made["name"], "made");
    assert_pull_lines(&out.stderr, &shown2, "t/bb", "2", &digest, true);

    // Not in the registry: the pull's error, 125, nothing left behind.
    let gone = format!("{}/t/nosuch:1", reg.addr());
    let out = rig.run(&["--rm", &gone, "true"]);
    assert_eq!(out.code, 125, "{out:#?}");
    assert!(
        out.stderr
            .starts_with(&format!("Unable to find image '{gone}' locally\n")),
        "{out:#?}"
    );
    assert!(out.stderr.contains("ctr-run: error: "), "{out:#?}");
    assert_eq!(rig.ids().len(), 1, "only `made`: {:?}", rig.ids());
}

// ---------------------------------------------------------------------------------------------
// The same answers from Docker

fn docker_out(d: &Dockerd, args: &[&str]) -> Out {
    timed(d.command().args(args), 120)
}

#[test]
fn docker_gives_the_same_answers() {
    require_root!();
    own_network_namespace();
    let docker = require_dockerd!();
    let env = Env::new();
    let tar = image_tarball(env.tmp.path());
    docker_out(&docker, &["import", tar.to_str().unwrap(), IMAGE]).ok();

    // Item 8: usage errors 125 (but Docker's 1 for a missing IMAGE), --cpus -1 a range error.
    for args in RUN_USAGE.iter().filter(|a| !a.is_empty()) {
        for verb in ["run", "create"] {
            let mut a = vec![verb];
            a.extend_from_slice(args);
            assert_eq!(docker_out(&docker, &a).code, 125, "docker {a:?}");
        }
    }
    let out = docker_out(&docker, &["run", "--rm", "--cpus", "-1", IMAGE, "true"]);
    assert_eq!(out.code, 125, "{out:#?}");
    assert!(
        out.stderr.contains("Range of CPUs is from 0.01 to"),
        "{out:#?}"
    );
    assert_eq!(
        docker_out(&docker, &["create", "--cpus", "-1", IMAGE, "true"]).code,
        1
    );
    let out = docker_out(
        &docker,
        &["run", "--rm", "--network", "container:x", "-h", "h", IMAGE],
    );
    assert!(out
        .stderr
        .contains("conflicting options: hostname and the network mode"));

    // Item 11: not found / not executable.
    for (i, (cmd, code, why)) in NOT_RUN.iter().enumerate() {
        let name = format!("c{i}");
        let out = docker_out(&docker, &["run", "--name", &name, IMAGE, cmd]);
        assert_eq!(out.code, *code, "{cmd}: {out:#?}");
        let s: Value = docker_out(&docker, &["inspect", "--format", "{{json .State}}", &name])
            .ok()
            .json();
        assert_eq!(s["Status"], "created", "{cmd}: {s}");
        assert_eq!(s["ExitCode"], *code, "{cmd}: {s}");
        assert!(s["Error"].as_str().unwrap().contains(why), "{cmd}: {s}");
        assert_eq!(s["StartedAt"], "0001-01-01T00:00:00Z", "{s}");
    }

    // Item 11: groups.
    for (flags, groups, id) in GROUPS {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&[IMAGE, "sh", "-c", GROUPS_SCRIPT]);
        let out = docker_out(&docker, &a).ok();
        assert_eq!(
            groups_line(&out.stdout),
            (groups.to_string(), id.to_string()),
            "docker {flags:?}"
        );
    }

    docker_out(
        &docker,
        &[
            "run",
            "-d",
            "--name",
            "ga",
            "--group-add",
            "77",
            IMAGE,
            "sleep",
            "60",
        ],
    )
    .ok();
    for (user, groups) in [("1000", "1 50 77 1000"), ("1000:1000", "77 1000")] {
        let out = docker_out(
            &docker,
            &["exec", "-u", user, "ga", "sh", "-c", GROUPS_SCRIPT],
        )
        .ok();
        assert_eq!(groups_line(&out.stdout).0, groups, "docker exec -u {user}");
    }
    docker_out(&docker, &["rm", "-f", "ga"]).ok();

    // Item 11: sysctls (--bridge=none: the default network is none here).
    let out = docker_out(
        &docker,
        &[
            "run",
            "--rm",
            "-u",
            "1000",
            IMAGE,
            "sh",
            "-c",
            SYSCTL_SCRIPT,
        ],
    )
    .ok();
    assert_eq!(out.stdout, "0\n0\t2147483647\nbound\n");

    // Item 11: --network container:X.
    docker_out(
        &docker,
        &[
            "run", "-d", "--name", "xx", "-h", "xhost", IMAGE, "sleep", "300",
        ],
    )
    .ok();
    let out = docker_out(
        &docker,
        &[
            "run",
            "--rm",
            "--network",
            "container:xx",
            IMAGE,
            "sh",
            "-c",
            "hostname; cat /etc/hostname; uname -n; echo $HOSTNAME",
        ],
    )
    .ok();
    assert_eq!(out.stdout, "xhost\nxhost\nxhost\nxhost\n");
    // A start that fails for another reason than the command: ExitCode 128.
    docker_out(
        &docker,
        &[
            "create",
            "--name",
            "yy",
            "--network",
            "container:xx",
            IMAGE,
            "true",
        ],
    )
    .ok();
    docker_out(&docker, &["kill", "xx"]).ok();
    let out = docker_out(&docker, &["start", "yy"]);
    assert!(
        out.code != 0 && out.stderr.contains("non running container"),
        "{out:#?}"
    );
    let s: Value = docker_out(&docker, &["inspect", "--format", "{{json .State}}", "yy"])
        .ok()
        .json();
    assert_eq!(s["ExitCode"], 128, "{s}");
    assert!(
        s["Error"]
            .as_str()
            .unwrap()
            .contains("non running container"),
        "{s}"
    );
    docker_out(&docker, &["rm", "-f", "xx", "yy"]).ok();

    // Item 9: Docker's pull lines, from the same registry.
    if !crate::support::have("docker-registry") {
        return;
    }
    let reg = Registry::start();
    let shown = format!("{}/t/bb:1", reg.addr());
    env.run("img-import", &[tar.to_str().unwrap(), IMAGE]).ok();
    let digest = env.run("img-push", &[IMAGE, &shown]).ok().json()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let out = docker_out(&docker, &["run", "--rm", &shown, "echo", "out"]).ok();
    assert_eq!(out.stdout, "out\n");
    assert_pull_lines(&out.stderr, &shown, "t/bb", "1", &digest, true);
    let out = docker_out(
        &docker,
        &["run", "--rm", "--pull", "always", &shown, "true"],
    )
    .ok();
    assert_pull_lines(&out.stderr, &shown, "t/bb", "1", &digest, false);
    let out = docker_out(
        &docker,
        &["run", "--rm", "--pull", "never", "nosuch:1", "true"],
    );
    assert_eq!(out.code, 125);
    assert_eq!(
        docker_out(&docker, &["create", "--pull", "never", "nosuch:1"]).code,
        1
    );
}
