//! Issue 18: `ctr-run`'s namespace, device, sysctl and init flags (`--init --device
//! --device-cgroup-rule --pid --ipc --uts --cgroupns --userns --shm-size --sysctl --domainname
//! --cgroup-parent --security-opt`), side by side with Docker: what the container sees, what
//! inspect records, and Docker's errors for bad values (which create nothing).
//!
//! Each berth test asserts the answers Docker 20.10 gives (measured with the private dockerd);
//! `docker_gives_the_same_answers` runs the same command lines through a private dockerd and
//! compares.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::docker::Dockerd;
use crate::support::rig::{timed, wait_until, Rig};
use crate::support::{busybox_rootfs, own_network_namespace, run, Env, Out};

const IMAGE: &str = "ns/bb:1";

/// The image's root file system as a tarball (for `img-import` and `docker import`).
fn image_tarball(env: &Env) -> std::path::PathBuf {
    let rootfs = busybox_rootfs(&env.tmp.path().join("rootfs"));
    let tar = env.tmp.path().join("ns-bb.tar");
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

fn rig() -> Rig {
    let env = Env::new();
    let tar = image_tarball(&env);
    env.run("img-import", &[tar.to_str().unwrap(), IMAGE]).ok();
    Rig {
        env,
        image: IMAGE.into(),
    }
}

fn host_ns(kind: &str) -> String {
    std::fs::read_link(format!("/proc/self/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// (flags, script): what a container sees with the flags; berth's output must be Docker's.
/// `host:KIND` in the expected output stands for the host's namespace of that kind.
const SEES: &[(&[&str], &str, &str)] = &[
    (
        &["--init"],
        "tr '\\0' ' ' </proc/1/cmdline; echo; grep -c ' /sbin/docker-init ' /proc/mounts",
        "/sbin/docker-init -- sh -c tr '\\0' ' ' </proc/1/cmdline; echo; grep -c ' \
         /sbin/docker-init ' /proc/mounts \n1\n",
    ),
    (
        &["--device", "/dev/null:/dev/n:r", "--device", "/dev/zero"],
        "stat -c '%F %t:%T %a %u:%g' /dev/n /dev/zero; head -c 3 /dev/zero | wc -c",
        "character special file 1:3 666 0:0\ncharacter special file 1:5 666 0:0\n3\n",
    ),
    (
        // c 1:2 (kmem) is not a device this kernel has: with the rule, opening it gets as far
        // as the driver (ENXIO); without, the devices cgroup refuses (EPERM).
        &["--device-cgroup-rule", "c 1:2 r"],
        "mknod /tmp/m c 1 2 && cat /tmp/m 2>&1; true",
        "cat: can't open '/tmp/m': No such device or address\n",
    ),
    (
        &[],
        "mknod /tmp/m c 1 2 && cat /tmp/m 2>&1; true",
        "cat: can't open '/tmp/m': Operation not permitted\n",
    ),
    (
        &["--shm-size", "1m"],
        "df -k /dev/shm | tail -n 1",
        "shm                       1024         0      1024   0% /dev/shm\n",
    ),
    (
        &["--ipc", "none"],
        "ls /dev/shm 2>&1; grep -c ' /dev/shm ' /proc/mounts; true",
        "ls: /dev/shm: No such file or directory\n0\n",
    ),
    (
        &[
            "--sysctl",
            "kernel.msgmax=1000",
            "--sysctl",
            "net.core.somaxconn=100",
            "--sysctl",
            "fs.mqueue.msg_max=20",
        ],
        "cat /proc/sys/kernel/msgmax /proc/sys/net/core/somaxconn /proc/sys/fs/mqueue/msg_max",
        "1000\n100\n20\n",
    ),
    (
        &["--domainname", "example.org"],
        "cat /proc/sys/kernel/domainname",
        "example.org\n",
    ),
    (
        &["--pid", "host"],
        "readlink /proc/self/ns/pid; grep -cE ' /proc/(keys|sys) ' /proc/mounts",
        "host:pid\n2\n",
    ),
    (
        &["--ipc", "host"],
        "readlink /proc/self/ns/ipc",
        "host:ipc\n",
    ),
    (&["--uts", "host"], "readlink /proc/self/ns/uts", "host:uts\n"),
    (
        &["--cgroupns", "host"],
        "readlink /proc/self/ns/cgroup",
        "host:cgroup\n",
    ),
    (
        &["--cgroupns", "host", "--cgroup-parent", "/berth-e2e-ns"],
        "grep ':memory:' /proc/self/cgroup | sed 's/:[0-9a-f]\\{64\\}$/:ID/; s/[0-9a-f]\\{64\\}$/ID/'",
        "memory:/berth-e2e-ns/ID\n",
    ),
    (
        &["--security-opt", "systempaths=unconfined"],
        "grep -cE ' /proc/(keys|sys) ' /proc/mounts; true",
        "0\n",
    ),
    (
        &["--userns", "host", "--security-opt", "label=disable"],
        "echo ok",
        "ok\n",
    ),
];

/// A directory of device nodes (and a file and a link, which are not devices) for
/// `--device DIR:/dev/mine`: its `--device` value, a script and what it prints (Docker's
/// answer: every node under the directory, at its place under /dev/mine, with its mode).
fn device_dir(env: &Env) -> (String, &'static str, &'static str) {
    use std::os::unix::fs::PermissionsExt;
    let d = env.tmp.path().join("devs");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    for (name, major, minor) in [("null", "1", "3"), ("sub/zero", "1", "5")] {
        run(Command::new("mknod")
            .args(["-m", "644"])
            .arg(d.join(name))
            .args(["c", major, minor]))
        .ok();
    }
    std::fs::set_permissions(d.join("sub/zero"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(d.join("plain"), "x").unwrap();
    std::os::unix::fs::symlink("/dev/full", d.join("link")).unwrap();
    (
        format!("{}:/dev/mine", d.display()),
        "find /dev/mine | sort; stat -c '%n %F %t:%T %a' /dev/mine/null /dev/mine/sub/zero",
        "/dev/mine\n/dev/mine/null\n/dev/mine/sub\n/dev/mine/sub/zero\n\
         /dev/mine/null character special file 1:3 644\n\
         /dev/mine/sub/zero character special file 1:5 640\n",
    )
}

/// The expected output of a [`SEES`] case on this host.
fn expected(want: &str) -> String {
    let mut w = want.to_string();
    for kind in ["pid", "ipc", "uts", "cgroup"] {
        w = w.replace(&format!("host:{kind}"), &host_ns(kind));
    }
    w
}

/// Removes the (empty) parent cgroup `--cgroup-parent /NAME` left in every hierarchy, as
/// Docker and berth leave a parent they made.
fn remove_parent_cgroup(name: &str) {
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(h.path().join(name));
    }
    let _ = std::fs::remove_dir(std::path::Path::new("/sys/fs/cgroup").join(name));
}

/// The memory cgroup line without its hierarchy number (which differs between hosts).
fn strip_hierarchy(out: &str) -> String {
    out.lines()
        .map(|l| l.split_once(':').map(|(_, r)| r).unwrap_or(l).to_string() + "\n")
        .collect()
}

fn sees_args<'a>(flags: &[&'a str], image: &'a str, script: &'a str) -> Vec<&'a str> {
    let mut a = vec!["run", "--rm", "--network", "none"];
    a.extend_from_slice(flags);
    a.extend_from_slice(&[image, "sh", "-c", script]);
    a
}

/// The domain name, the init, devices, sysctls and joined namespaces with `--runtime runc`:
/// the spec berth writes is what runc (1.1, which does not know the spec's `domainname`)
/// needs too.
#[test]
fn runc_runs_the_same_spec() {
    require_root!();
    require_program!("runc");
    let rig = rig();
    let out = rig.sh(
        &[
            "--runtime",
            "runc",
            "--network",
            "none",
            "--init",
            "--domainname",
            "example.org",
            "--device",
            "/dev/null:/dev/n",
            "--sysctl",
            "kernel.msgmax=1000",
            "--shm-size",
            "2m",
        ],
        "head -c 18 /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/sys/kernel/domainname \
         /proc/sys/kernel/msgmax; stat -c '%t:%T' /dev/n; df -k /dev/shm | tail -n 1",
    );
    assert_eq!(
        out,
        "/sbin/docker-init \nexample.org\n1000\n1:3\n\
         shm                       2048         0      2048   0% /dev/shm\n"
    );
    rig.detach(&[
        "--name",
        "donor",
        "--network",
        "none",
        "--ipc",
        "shareable",
        IMAGE,
        "sleep",
        "300",
    ]);
    let ipc = ns_of(&rig, "donor", "ipc");
    let out = rig.sh(
        &[
            "--runtime",
            "runc",
            "--network",
            "none",
            "--pid",
            "container:donor",
            "--ipc",
            "container:donor",
        ],
        "readlink /proc/self/ns/ipc; ps -o comm | grep -c sleep",
    );
    assert_eq!(out, format!("{ipc}1\n"));
}

#[test]
fn containers_see_what_docker_s_see() {
    require_root!();
    let rig = rig();
    for (flags, script, want) in SEES {
        let args = sees_args(flags, IMAGE, script);
        let out = rig.run(&args[1..]).ok();
        let got = if flags.contains(&"--cgroup-parent") {
            if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
                continue; // cgroup v2: no memory line of its own.
            }
            strip_hierarchy(&out.stdout)
        } else {
            out.stdout
        };
        assert_eq!(got, expected(want), "{flags:?}");
    }
    remove_parent_cgroup("berth-e2e-ns");
    let (dev, script, want) = device_dir(&rig.env);
    let out = rig
        .run(&sees_args(&["--device", &dev], IMAGE, script)[1..])
        .ok();
    assert_eq!(out.stdout, want);
    assert!(rig.ids().is_empty(), "--rm left {:?}", rig.ids());
}

/// The flags of [`inspect_records_docker_s_fields`], and the HostConfig fields compared.
const RECORDED: &[&str] = &[
    "--init",
    "--device",
    "/dev/null:/dev/n:rw",
    "--device",
    "/dev/zero",
    "--device-cgroup-rule",
    "c 1:3 mr",
    "--pid",
    "host",
    "--ipc",
    "shareable",
    "--shm-size",
    "128m",
    "--sysctl",
    "kernel.msgmax=1000",
    "--sysctl",
    "net.core.somaxconn=100",
    "--domainname",
    "example.org",
    "--userns",
    "host",
    "--cgroup-parent",
    "/mypar",
    "--cgroupns",
    "private",
    "--security-opt",
    "label=disable",
    "--security-opt",
    "systempaths=unconfined",
];
const FIELDS: &[&str] = &[
    "Init",
    "Devices",
    "DeviceCgroupRules",
    "PidMode",
    "IpcMode",
    "UTSMode",
    "ShmSize",
    "Sysctls",
    "UsernsMode",
    "CgroupParent",
    "SecurityOpt",
    "CgroupnsMode",
    "MaskedPaths",
    "ReadonlyPaths",
];

fn recorded(inspect: &Value) -> Value {
    let h = &inspect["HostConfig"];
    let mut v = json!({"Domainname": inspect["Config"]["Domainname"]});
    for f in FIELDS {
        v[f] = h.get(*f).cloned().unwrap_or(json!("<absent>"));
    }
    v
}

/// What Docker 20.10 records for [`RECORDED`].
fn docker_s_record() -> Value {
    json!({
        "Domainname": "example.org",
        "Init": true,
        "Devices": [
            {"PathOnHost": "/dev/null", "PathInContainer": "/dev/n", "CgroupPermissions": "rw"},
            {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/zero", "CgroupPermissions": "rwm"},
        ],
        "DeviceCgroupRules": ["c 1:3 mr"],
        "PidMode": "host",
        "IpcMode": "shareable",
        "UTSMode": "",
        "ShmSize": 134217728,
        "Sysctls": {"kernel.msgmax": "1000", "net.core.somaxconn": "100"},
        "UsernsMode": "host",
        "CgroupParent": "/mypar",
        "SecurityOpt": ["label=disable"],
        "CgroupnsMode": "private",
        "MaskedPaths": [],
        "ReadonlyPaths": [],
    })
}

#[test]
fn inspect_records_docker_s_fields() {
    require_root!();
    let rig = rig();
    let mut a = vec!["--name", "rec"];
    a.extend_from_slice(RECORDED);
    a.extend_from_slice(&[IMAGE, "true"]);
    rig.t("ctr-create", &a, 30).ok();
    assert_eq!(recorded(&rig.inspect("rec")), docker_s_record());
    // (--uts host with --domainname fails Docker's start: apart.)
    rig.t(
        "ctr-create",
        &["--name", "uts", "--uts", "host", IMAGE, "true"],
        30,
    )
    .ok();
    assert_eq!(rig.inspect("uts")["HostConfig"]["UTSMode"], "host");
    // Without the flags: Docker's defaults (Init and Sysctls absent, omitempty).
    rig.t("ctr-create", &["--name", "plain", IMAGE, "true"], 30)
        .ok();
    let p = recorded(&rig.inspect("plain"));
    assert_eq!(p["Init"], "<absent>");
    assert_eq!(p["Sysctls"], "<absent>");
    assert_eq!(p["IpcMode"], "private");
    assert_eq!(p["ShmSize"], 67108864);
    assert_eq!(p["Devices"], json!([]));
    assert_eq!(p["DeviceCgroupRules"], Value::Null);
}

/// (arguments, `ctr-run`'s exit code, `ctr-create`'s, what stderr says): Docker's messages.
/// The CLI's checks are usage errors (125 from both); the daemon's exit 1 from `docker
/// create` (berth finds them all before making anything).
const BAD: &[(&[&str], i32, i32, &str)] = &[
    (
        &["--device", "/nonexistent"],
        125,
        1,
        "error gathering device information while adding custom device \"/nonexistent\": no \
         such file or directory",
    ),
    (
        &["--device", "/dev/null:rel"],
        125,
        125,
        "rel is not an absolute path",
    ),
    (
        &["--device", "/dev/null:/dev/n:xyz"],
        125,
        125,
        "bad mode specified: xyz",
    ),
    (
        &["--device-cgroup-rule", "c 1:3 xx"],
        125,
        125,
        "invalid device cgroup format 'c 1:3 xx'",
    ),
    (
        &["--sysctl", "kernel.foo=1"],
        125,
        125,
        "sysctl 'kernel.foo=1' is not allowed",
    ),
    (
        &["--sysctl", "kernel.msgmax=1", "--ipc", "host"],
        125,
        1,
        "sysctl \"kernel.msgmax\" is not allowed in the hosts ipc namespace",
    ),
    (
        &["--sysctl", "net.ipv4.ip_forward=1", "--network", "host"],
        125,
        1,
        "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace",
    ),
    (&["--pid", "foo"], 125, 125, "--pid: invalid PID mode"),
    (&["--ipc", "foo"], 125, 1, "Invalid IPC mode: foo"),
    (
        &["--uts", "host", "--domainname", "x"],
        125,
        1,
        "sysctl \"kernel.domainname\" is not in a separate kernel namespace",
    ),
    (&["--uts", "foo"], 125, 125, "--uts: invalid UTS mode"),
    (
        &["--userns", "private"],
        125,
        125,
        "--userns: invalid USER mode",
    ),
    (
        &["--cgroupns", "foo"],
        125,
        125,
        "--cgroupns: invalid CGROUP mode",
    ),
    (&["--shm-size", "foo"], 125, 125, "invalid size: 'foo'"),
    (
        &["--uts", "host", "-h", "foo"],
        125,
        1,
        "conflicting options: hostname and the UTS mode",
    ),
    (
        &["--ipc", "container:missing"],
        125,
        1,
        "no such container: missing",
    ),
    (
        &["--pid", "container:missing"],
        125,
        1,
        "no such container: missing",
    ),
    (
        &["--security-opt", "foo"],
        125,
        125,
        "Invalid --security-opt: \"foo\"",
    ),
    (
        &["--security-opt", "foo=bar"],
        125,
        1,
        "invalid --security-opt 2: \"foo=bar\"",
    ),
    (
        &["--security-opt", "systempaths=foo"],
        125,
        1,
        "invalid --security-opt 2: \"systempaths=foo\"",
    ),
    (
        &["--security-opt", "seccomp=/nonexistent"],
        125,
        125,
        "opening seccomp profile (/nonexistent) failed: open /nonexistent: no such file or \
         directory",
    ),
];

#[test]
fn bad_values_get_docker_s_errors_and_create_nothing() {
    require_root!();
    let rig = rig();
    for (flags, run_code, create_code, msg) in BAD {
        for (tool, code) in [("ctr-run", run_code), ("ctr-create", create_code)] {
            let mut a = flags.to_vec();
            a.extend_from_slice(&[IMAGE, "true"]);
            rig.t(tool, &a, 30).fails_with(*code, msg);
        }
    }
    assert!(rig.ids().is_empty(), "made: {:?}", rig.ids());
    let ls = rig.t("ctr-ls", &["-a", "-q"], 20).ok();
    assert_eq!(ls.stdout, "");
}

fn ns_of(rig: &Rig, name: &str, kind: &str) -> String {
    rig.t(
        "ctr-exec",
        &[name, "readlink", &format!("/proc/self/ns/{kind}")],
        30,
    )
    .ok()
    .stdout
}

#[test]
fn containers_join_a_running_container_s_pid_and_ipc() {
    require_root!();
    let rig = rig();
    rig.detach(&[
        "--name",
        "donor",
        "--network",
        "none",
        "--ipc",
        "shareable",
        IMAGE,
        "sh",
        "-c",
        "echo shared >/dev/shm/f; sleep 300",
    ]);
    rig.detach(&[
        "--name",
        "private",
        "--network",
        "none",
        IMAGE,
        "sleep",
        "300",
    ]);
    let (pid, ipc) = (ns_of(&rig, "donor", "pid"), ns_of(&rig, "donor", "ipc"));
    assert!(wait_until(20, || {
        rig.t("ctr-exec", &["donor", "cat", "/dev/shm/f"], 20)
            .stdout
            == "shared\n"
    }));
    let out = rig.sh(
        &[
            "--network",
            "none",
            "--pid",
            "container:donor",
            "--ipc",
            "container:donor",
        ],
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; cat /dev/shm/f; ps -o comm | grep -c sleep",
    );
    assert_eq!(out, format!("{pid}{ipc}shared\n1\n"));
    let id = rig.inspect("donor")["Id"].as_str().unwrap().to_string();
    rig.t(
        "ctr-create",
        &[
            "--name",
            "joiner",
            "--pid",
            "container:donor",
            "--ipc",
            "container:donor",
            IMAGE,
            "true",
        ],
        30,
    )
    .ok();
    let h = &rig.inspect("joiner")["HostConfig"];
    assert_eq!(h["PidMode"], format!("container:{id}"));
    assert_eq!(h["IpcMode"], format!("container:{id}"));

    // Docker's refusals: a donor whose IPC is not shareable (at create), one not running (at
    // start).
    let pid_private = rig.inspect("private")["Id"].as_str().unwrap().to_string();
    rig.run(&["--rm", "--ipc", "container:private", IMAGE, "true"])
        .fails_with(
            125,
            &format!(
                "can't join IPC of container {pid_private}: non-shareable IPC (hint: use \
                 IpcMode:shareable for the donor container)"
            ),
        );
    rig.t("ctr-stop", &["-t", "1", "donor"], 30).ok();
    rig.t("ctr-start", &["-a", "joiner"], 30)
        .fails_with(125, &format!("container {id} is not running"));
    rig.t("ctr-rm", &["joiner"], 30).ok();
    rig.run(&["--rm", "--ipc", "container:donor", IMAGE, "true"])
        .fails_with(
            125,
            &format!("can't join IPC of container {id}: container {id} is not running"),
        );
    // The stopped donor's /dev/shm is unmounted; it is back when it starts again.
    let dir = rig.env.root.join("containers").join(&id).join("shm");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!info.contains(&format!(" {} ", dir.display())), "{info}");
    rig.t("ctr-rm", &["-f", "donor"], 30).ok();
}

fn docker_out(d: &Dockerd, args: &[&str]) -> Out {
    timed(d.command().args(args), 120)
}

#[test]
fn docker_gives_the_same_answers() {
    require_root!();
    own_network_namespace();
    let docker = require_dockerd!();
    let env = Env::new();
    let tar = image_tarball(&env);
    docker_out(&docker, &["import", tar.to_str().unwrap(), IMAGE]).ok();

    // Its own parent cgroup: the berth test may be using (and removing) berth's.
    let own = |s: &str| s.replace("berth-e2e-ns", "berth-e2e-ns-docker");
    for (flags, script, want) in SEES {
        let flags: Vec<String> = flags.iter().map(|f| own(f)).collect();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let out = docker_out(&docker, &sees_args(&flags, IMAGE, script)).ok();
        let got = if flags.contains(&"--cgroup-parent") {
            if !std::path::Path::new("/sys/fs/cgroup/memory").is_dir() {
                continue;
            }
            strip_hierarchy(&out.stdout)
        } else {
            out.stdout
        };
        assert_eq!(got, own(&expected(want)), "docker {flags:?}");
    }
    remove_parent_cgroup("berth-e2e-ns-docker");
    let (dev, script, want) = device_dir(&env);
    let out = docker_out(&docker, &sees_args(&["--device", &dev], IMAGE, script)).ok();
    assert_eq!(out.stdout, want);

    let mut a = vec!["create", "--name", "rec"];
    a.extend_from_slice(RECORDED);
    a.extend_from_slice(&[IMAGE, "true"]);
    docker_out(&docker, &a).ok();
    let v = docker_out(&docker, &["inspect", "rec"]).ok().json();
    assert_eq!(recorded(&v[0]), docker_s_record());
    docker_out(
        &docker,
        &["create", "--name", "uts", "--uts", "host", IMAGE, "true"],
    )
    .ok();
    let v = docker_out(&docker, &["inspect", "uts"]).ok().json();
    assert_eq!(v[0]["HostConfig"]["UTSMode"], "host");

    for (flags, run_code, _, msg) in BAD {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(flags);
        a.extend_from_slice(&[IMAGE, "true"]);
        let out = docker_out(&docker, &a);
        // Docker finds a missing device when it starts the container, and `docker run`
        // exits 127 for a start error that says "no such file"; berth refuses it at create.
        let code = if flags[1] == "/nonexistent" {
            127
        } else {
            *run_code
        };
        assert_eq!(out.code, code, "docker {a:?}: {out:#?}");
        assert!(
            out.stderr.to_lowercase().contains(&msg.to_lowercase()),
            "docker {a:?}: {out:#?}"
        );
    }
}
