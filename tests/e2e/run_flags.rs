//! Issue 18: docker run's resource flags (`--cpuset-*`, `--cpu-period/-quota`,
//! `--memory-reservation/-swap/-swappiness`, `--oom-*`, `--blkio-weight`, also on ctr-update)
//! and `--volumes-from`, `--cidfile`, `-a`, `--label-file`, `--link`, `--platform`.
//!
//! Each berth test asserts what Docker 20.10 answers on this kind of host (cgroup v1, 2 CPUs
//! or more, one memory node), measured with the private dockerd;
//! `docker_gives_the_same_answers_for_run_flags` runs the same scripts and bad values against a
//! private dockerd and compares.

use std::path::Path;

use serde_json::Value;

use crate::support::docker::Dockerd;
use crate::support::rig::{timed, Rig};
use crate::support::{busybox_tarball, own_network_namespace, Compression, Out};

const IMAGE: &str = "bb:1";

/// The resource flags of [`RES_SCRIPT`], and what the container reads back.
const RES_FLAGS: &[&str] = &[
    "--cpuset-cpus",
    "1",
    "--cpuset-mems",
    "0",
    "-m",
    "64m",
    "--memory-swap",
    "128m",
    "--memory-reservation",
    "32m",
    "--memory-swappiness",
    "10",
    "--oom-kill-disable",
    "--oom-score-adj",
    "300",
    "--cpu-shares",
    "512",
    "--cpu-period",
    "50000",
    "--cpu-quota",
    "25000",
];

/// What a cgroup v1 container sees of them (its own cgroups, under its cgroup namespace).
const RES_SCRIPT: &str = "cd /sys/fs/cgroup; cat cpuset/cpuset.cpus cpuset/cpuset.mems \
    memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes memory/memory.swappiness \
    cpu/cpu.shares cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us /proc/1/oom_score_adj; \
    grep oom_kill_disable memory/memory.oom_control; \
    cat memory/memory.memsw.limit_in_bytes 2>/dev/null || echo no-swap-accounting";

const RES_SEEN: &str = "1\n0\n67108864\n33554432\n10\n512\n50000\n25000\n300\noom_kill_disable 1\n";

/// The HostConfig fields the flags set, as Docker records them.
fn res_record(hc: &Value) -> Value {
    let keys = [
        "CpusetCpus",
        "CpusetMems",
        "Memory",
        "MemorySwap",
        "MemoryReservation",
        "MemorySwappiness",
        "OomKillDisable",
        "OomScoreAdj",
        "CpuShares",
        "CpuPeriod",
        "CpuQuota",
        "BlkioWeight",
        "NanoCpus",
    ];
    Value::Object(
        keys.iter()
            .map(|k| (k.to_string(), hc[k].clone()))
            .collect(),
    )
}

fn expected_record() -> Value {
    serde_json::json!({
        "CpusetCpus": "1", "CpusetMems": "0", "Memory": 64 << 20, "MemorySwap": 128 << 20,
        "MemoryReservation": 32 << 20, "MemorySwappiness": 10, "OomKillDisable": true,
        "OomScoreAdj": 300, "CpuShares": 512, "CpuPeriod": 50000, "CpuQuota": 25000,
        "BlkioWeight": 0, "NanoCpus": 0,
    })
}

fn cgroup_v1() -> bool {
    Path::new("/sys/fs/cgroup/cpuset/cpuset.cpus").exists()
}

fn two_cpus() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2)
}

/// Whether the kernel has block I/O weights (else Docker drops `--blkio-weight` with a warning).
fn blkio_weight() -> bool {
    Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
        || Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists()
}

/// Whether this process has CAP_SYS_RESOURCE (needed to lower an OOM score).
fn has_sys_resource() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << 24) != 0)
}

const BLKIO_WARNING: &str =
    "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.";

#[test]
fn resource_flags_reach_the_cgroups_and_the_record() {
    require_root!();
    if !cgroup_v1() || !two_cpus() {
        skip!("needs cgroup v1 and two CPUs");
    }
    let rig = Rig::new();
    let mut a = vec!["--name", "res"];
    a.extend_from_slice(RES_FLAGS);
    a.extend_from_slice(&["--blkio-weight", "300", IMAGE, "sh", "-c", RES_SCRIPT]);
    let out = rig.run(&a).ok();
    assert!(out.stdout.starts_with(RES_SEEN), "{out:#?}");
    let swap = out.stdout[RES_SEEN.len()..].trim();
    assert!(
        swap == "134217728" || swap == "no-swap-accounting",
        "{out:#?}"
    );
    let hc = &rig.inspect("res")["HostConfig"];
    let mut want = expected_record();
    if blkio_weight() {
        want["BlkioWeight"] = 300.into();
    } else {
        assert!(out.stderr.contains(BLKIO_WARNING), "{out:#?}");
    }
    assert_eq!(res_record(hc), want);
    // config.json has them for the runtime (and runc).
    let id = rig.inspect("res")["Id"].as_str().unwrap().to_string();
    let spec: Value = serde_json::from_slice(
        &std::fs::read(rig.root.join("containers").join(&id).join("config.json")).unwrap(),
    )
    .unwrap();
    let r = &spec["linux"]["resources"];
    assert_eq!(r["cpu"]["cpus"], "1");
    assert_eq!(r["cpu"]["quota"], 25000);
    assert_eq!(r["memory"]["reservation"], 32 << 20);
    assert_eq!(r["memory"]["disableOOMKiller"], true);
    assert_eq!(spec["process"]["oomScoreAdj"], 300);

    // Without flags: Docker's defaults in the record (OomKillDisable false, swappiness null).
    rig.run(&["--name", "plain", IMAGE, "true"]).ok();
    let hc = &rig.inspect("plain")["HostConfig"];
    assert_eq!(hc["OomKillDisable"], false);
    assert_eq!(hc["MemorySwappiness"], Value::Null);
    assert_eq!(hc["CpusetCpus"], "");
    // Docker's warning for --oom-kill-disable without a memory limit; the OOM score can go
    // down to -1000.
    let out = rig.run(&[
        "--rm",
        "--oom-kill-disable",
        "--oom-score-adj",
        "-1000",
        IMAGE,
        "cat",
        "/proc/1/oom_score_adj",
    ]);
    if has_sys_resource() {
        assert_eq!(out.stdout, "-1000\n");
    } else {
        // Lowering the score needs CAP_SYS_RESOURCE, which this machine does not give: the
        // start fails, as runc's (Docker's) does.
        assert_eq!(out.code, 125, "{out:#?}");
        assert!(
            out.stderr.contains("oom_score_adj: Permission denied"),
            "{out:#?}"
        );
    }
    assert!(
        out.stderr.contains(
            "OOM killer is disabled for the container, but no memory limit is set, this can \
             result in the system running out of resources."
        ),
        "{out:#?}"
    );
}

/// (flags, exit code of ctr-run, of ctr-create, Docker's message): usage errors are 125 for
/// both (Docker's CLI finds them); what Docker's daemon refuses is 125 from run, 1 from create.
const BAD: &[(&[&str], i32, i32, &str)] = &[
    (
        &["--cpuset-cpus", "5"],
        125,
        1,
        "Requested CPUs are not available - requested 5, available: 0-",
    ),
    (
        &["--cpuset-cpus", "0-x"],
        125,
        1,
        "Invalid value 0-x for cpuset cpus: invalid format: 0-x",
    ),
    (
        &["--cpuset-mems", "7"],
        125,
        1,
        "Requested memory nodes are not available - requested 7, available: 0",
    ),
    (
        &["--memory-swap", "100m"],
        125,
        1,
        "You should always set the Memory limit when using Memoryswap limit, see usage",
    ),
    (
        &["-m", "100m", "--memory-swap", "50m"],
        125,
        1,
        "Minimum memoryswap limit should be larger than memory limit, see usage",
    ),
    (
        &["-m", "10m", "--memory-reservation", "20m"],
        125,
        1,
        "Minimum memory limit can not be less than memory reservation limit, see usage",
    ),
    (
        &["--memory-reservation", "1m"],
        125,
        1,
        "Minimum memory reservation allowed is 6MB",
    ),
    (
        &["--memory-swappiness", "101"],
        125,
        125,
        "invalid value: 101. Valid memory swappiness range is 0-100",
    ),
    (
        &["--oom-score-adj", "-1001"],
        125,
        1,
        "Invalid value -1001, range for oom score adj is [-1000, 1000]",
    ),
    (
        &["--oom-score-adj", "1001"],
        125,
        1,
        "Invalid value 1001, range for oom score adj is [-1000, 1000]",
    ),
    (
        &["--cpu-period", "100"],
        125,
        1,
        "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
    ),
    (
        &["--cpu-quota", "100"],
        125,
        1,
        "CPU cfs quota can not be less than 1ms (i.e. 1000)",
    ),
    (
        &["--cpus", "1", "--cpu-period", "100000"],
        125,
        1,
        "Conflicting options: Nano CPUs and CPU Period cannot both be set",
    ),
    (&["--blkio-weight", "70000"], 125, 125, "70000"),
    (
        &["-a", "foo"],
        125,
        125,
        "valid streams are STDIN, STDOUT and STDERR",
    ),
    (
        &["--volumes-from", "nosuch"],
        125,
        1,
        "No such container: nosuch",
    ),
    (
        &["--link", "nosuch"],
        125,
        1,
        "could not get container for nosuch: No such container: nosuch",
    ),
    (
        &["--link", "a:b:c"],
        125,
        125,
        "bad format for links: a:b:c",
    ),
    (
        &["--label-file", "/nonexist"],
        125,
        125,
        "open /nonexist: no such file or directory",
    ),
    (
        &["--platform", "foo"],
        125,
        1,
        "error parsing specified platform: \"foo\": unknown operating system or architecture",
    ),
];

#[test]
fn bad_values_get_dockers_errors_and_make_nothing() {
    require_root!();
    let rig = Rig::new();
    for (flags, run_code, create_code, msg) in BAD {
        for (tool, code) in [("ctr-run", run_code), ("ctr-create", create_code)] {
            let mut a: Vec<&str> = flags.to_vec();
            a.extend_from_slice(&[IMAGE, "true"]);
            let out = rig.t(tool, &a, 60);
            assert_eq!(out.code, *code, "{tool} {a:?}: {out:#?}");
            assert!(out.stderr.contains(msg), "{tool} {a:?}: {out:#?}");
            assert!(out.stdout.is_empty(), "{tool} {a:?}: {out:#?}");
        }
    }
    // Docker's CLI conflict, before anything is made.
    rig.t("ctr-run", &["-d", "-a", "stdout", IMAGE, "true"], 30)
        .fails_with(
            125,
            "conflicting options: cannot specify both --attach and --detach",
        );
    assert!(rig.ids().is_empty(), "nothing was made: {:?}", rig.ids());
    let ls = rig.t("ctr-ls", &["-a", "-q"], 30).ok();
    assert_eq!(ls.stdout, "", "{ls:#?}");
}

#[test]
fn ctr_update_applies_the_resource_flags_live_and_records_them() {
    require_root!();
    if !cgroup_v1() || !two_cpus() {
        skip!("needs cgroup v1 and two CPUs");
    }
    let rig = Rig::new();
    rig.detach(&["--name", "upd", "-m", "64m", IMAGE, "sleep", "300"]);
    let out = rig
        .t(
            "ctr-update",
            &[
                "--cpuset-cpus",
                "0",
                "--memory-reservation",
                "20m",
                "--cpu-period",
                "40000",
                "--cpu-quota",
                "20000",
                "upd",
            ],
            30,
        )
        .ok();
    assert_eq!(out.json()["name"], "upd", "{out:#?}");
    let seen = rig
        .t("ctr-exec", &["upd", "sh", "-c", UPDATE_SCRIPT], 30)
        .ok();
    assert_eq!(seen.stdout, UPDATE_SEEN);
    let hc = &rig.inspect("upd")["HostConfig"];
    assert_eq!(hc["CpusetCpus"], "0");
    assert_eq!(hc["MemoryReservation"], 20 << 20);
    assert_eq!(hc["CpuPeriod"], 40000);
    assert_eq!(hc["CpuQuota"], 20000);
    assert_eq!(hc["Memory"], 64 << 20, "kept");
    // Docker's rules: a reservation above the limit is taken (by the kernel too), a CPU count
    // with a CFS period set is not.
    rig.t("ctr-update", &["--memory-reservation", "100m", "upd"], 30)
        .ok();
    assert_eq!(
        rig.inspect("upd")["HostConfig"]["MemoryReservation"],
        100 << 20
    );
    rig.t("ctr-update", &["--memory-reservation", "20m", "upd"], 30)
        .ok();
    rig.t("ctr-update", &["--cpus", "1", "upd"], 30).fails_with(
        1,
        "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
    );
    rig.t("ctr-update", &["--cpuset-cpus", "9", "upd"], 30)
        .fails_with(1, "Requested CPUs are not available - requested 9");
    // A weight the kernel cannot apply: Docker's warning, nothing recorded.
    let out = rig
        .t("ctr-update", &["--blkio-weight", "300", "upd"], 30)
        .ok();
    let weight = rig.inspect("upd")["HostConfig"]["BlkioWeight"].clone();
    if blkio_weight() {
        assert_eq!(weight, 300);
    } else {
        assert_eq!(out.json()["warnings"], serde_json::json!([BLKIO_WARNING]));
        assert_eq!(weight, 0);
    }
    // The next start has them too.
    rig.t("ctr-stop", &["-t", "0", "upd"], 30).ok();
    rig.t("ctr-start", &["upd"], 30).ok();
    let seen = rig
        .t("ctr-exec", &["upd", "sh", "-c", UPDATE_SCRIPT], 30)
        .ok();
    assert_eq!(seen.stdout, UPDATE_SEEN);
    // A stopped container: its record and config.json change, and its next start applies
    // them.
    rig.t("ctr-stop", &["-t", "0", "upd"], 30).ok();
    rig.t(
        "ctr-update",
        &[
            "--cpuset-cpus",
            "1",
            "--memory-reservation",
            "30m",
            "--cpu-quota",
            "30000",
            "upd",
        ],
        30,
    )
    .ok();
    assert_eq!(rig.inspect("upd")["HostConfig"]["CpusetCpus"], "1");
    rig.t("ctr-start", &["upd"], 30).ok();
    let seen = rig
        .t("ctr-exec", &["upd", "sh", "-c", UPDATE_SCRIPT], 30)
        .ok();
    assert_eq!(seen.stdout, "1\n31457280\n40000\n30000\n67108864\n");
}

const UPDATE_SCRIPT: &str = "cd /sys/fs/cgroup; cat cpuset/cpuset.cpus \
    memory/memory.soft_limit_in_bytes cpu/cpu.cfs_period_us cpu/cpu.cfs_quota_us \
    memory/memory.limit_in_bytes";
const UPDATE_SEEN: &str = "0\n20971520\n40000\n20000\n67108864\n";

/// The `Mounts` of a container as (Type, Destination, RW, Mode, Name is set), sorted.
fn mounts_shape(c: &Value) -> Vec<(String, String, bool, String, bool)> {
    let mut v: Vec<_> = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Type"].as_str().unwrap().to_string(),
                m["Destination"].as_str().unwrap().to_string(),
                m["RW"].as_bool().unwrap(),
                m["Mode"].as_str().unwrap().to_string(),
                m["Name"].as_str().is_some_and(|n| !n.is_empty()),
            )
        })
        .collect();
    v.sort();
    v
}

/// What the second container sees of the first's mounts: written there, the modes.
const VF_SCRIPT: &str = "cat /data/f /bind/g /anon/h; \
    touch /data/x 2>/dev/null && echo data-rw || echo data-ro; \
    touch /bind/x 2>/dev/null && echo bind-rw || echo bind-ro";

fn volumes_from_scenario(
    run: &dyn Fn(&[&str]) -> Out,
    inspect: &dyn Fn(&str) -> Value,
    host_dir: &Path,
) -> (Vec<String>, Vec<Value>) {
    std::fs::write(host_dir.join("g"), "g\n").unwrap();
    let bind = format!("{}:/bind:ro", host_dir.display());
    let mk = run(&[
        "--name",
        "vsrc",
        "-v",
        "vfvol:/data",
        "-v",
        &bind,
        "-v",
        "/anon",
        IMAGE,
        "sh",
        "-c",
        "echo f > /data/f; echo h > /anon/h",
    ]);
    assert_eq!(mk.code, 0, "{mk:#?}");
    let mut seen = Vec::new();
    for (name, from) in [("v1", "vsrc"), ("v2", "vsrc:ro")] {
        let out = run(&[
            "--name",
            name,
            "--volumes-from",
            from,
            IMAGE,
            "sh",
            "-c",
            VF_SCRIPT,
        ]);
        assert_eq!(out.code, 0, "{out:#?}");
        seen.push(out.stdout);
    }
    // An anonymous -v at the same target gives way to the other container's mount (Docker's
    // Config.Volumes come last); a named one wins.
    let out = run(&[
        "--name",
        "v3",
        "--volumes-from",
        "vsrc",
        "-v",
        "/data",
        IMAGE,
        "sh",
        "-c",
        "ls /data | wc -l",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    seen.push(out.stdout);
    let out = run(&[
        "--rm",
        "--volumes-from",
        "vsrc",
        "-v",
        "vfother:/data",
        IMAGE,
        "sh",
        "-c",
        "ls /data | wc -l",
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    seen.push(out.stdout);
    let records = ["v1", "v2"]
        .iter()
        .map(|n| {
            let c = inspect(n);
            serde_json::json!({
                "VolumesFrom": c["HostConfig"]["VolumesFrom"],
                "Mounts": format!("{:?}", mounts_shape(&c)),
            })
        })
        .collect();
    (seen, records)
}

const VF_SEEN: [&str; 4] = [
    "f\ng\nh\ndata-rw\nbind-ro\n",
    "f\ng\nh\ndata-ro\nbind-ro\n",
    "2\n",
    "0\n",
];

#[test]
fn volumes_from_mounts_the_other_containers_volumes_and_binds() {
    require_root!();
    let rig = Rig::new();
    let host = tempfile::tempdir().unwrap();
    let (seen, records) = volumes_from_scenario(
        &|a: &[&str]| rig.run(a),
        &|n: &str| rig.inspect(n),
        host.path(),
    );
    assert_eq!(seen, VF_SEEN);
    assert_eq!(records[0]["VolumesFrom"], serde_json::json!(["vsrc"]));
    assert_eq!(records[1]["VolumesFrom"], serde_json::json!(["vsrc:ro"]));
    assert_eq!(
        records[1]["Mounts"],
        format!(
            "{:?}",
            vec![
                ("bind", "/bind", false, "", false),
                ("volume", "/anon", false, "", true),
                ("volume", "/data", false, "", true),
            ]
            .into_iter()
            .map(|(a, b, c, d, e)| (a.to_string(), b.to_string(), c, d.to_string(), e))
            .collect::<Vec<_>>()
        )
    );
}

#[test]
fn cidfile_label_file_and_attached_streams() {
    require_root!();
    let rig = Rig::new();
    let dir = tempfile::tempdir().unwrap();
    let cid = dir.path().join("cid");
    let cid_s = cid.to_str().unwrap();
    let made = rig
        .t(
            "ctr-create",
            &["--name", "cid", "--cidfile", cid_s, IMAGE, "true"],
            30,
        )
        .ok();
    let id = made.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        std::fs::read_to_string(&cid).unwrap(),
        id,
        "no newline, as Docker"
    );
    assert_eq!(
        rig.inspect("cid")["HostConfig"]["ContainerIDFile"],
        cid_s,
        "recorded as given"
    );
    // The file in the way: Docker's message, nothing made, the file untouched.
    let n = rig.ids().len();
    let msg = format!(
        "container ID file found, make sure the other container isn't running or delete {cid_s}"
    );
    rig.t("ctr-create", &["--cidfile", cid_s, IMAGE, "true"], 30)
        .fails_with(1, &msg);
    rig.run(&["--cidfile", cid_s, IMAGE, "true"])
        .fails_with(125, &msg);
    assert_eq!(rig.ids().len(), n);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    // A create that fails leaves no file.
    let cid2 = dir.path().join("cid2");
    rig.run(&[
        "--cidfile",
        cid2.to_str().unwrap(),
        "--cpuset-cpus",
        "99",
        IMAGE,
        "true",
    ])
    .fails_with(125, "Requested CPUs are not available");
    assert!(!cid2.exists());

    // --label-file: KEY=VALUE lines (bare keys and comments skipped); --label wins.
    let lf = dir.path().join("labels");
    std::fs::write(&lf, "# labels\n  tier=web\nbare\nowner=file\n").unwrap();
    rig.t(
        "ctr-create",
        &[
            "--name",
            "lab",
            "--label-file",
            lf.to_str().unwrap(),
            "-l",
            "owner=flag",
            IMAGE,
            "true",
        ],
        30,
    )
    .ok();
    assert_eq!(
        rig.inspect("lab")["Config"]["Labels"],
        serde_json::json!({"tier": "web", "owner": "flag"})
    );

    // -a: only the streams named.
    let both = "echo out; echo err >&2; exit 3";
    let out = rig.run(&["--rm", "-a", "stdout", IMAGE, "sh", "-c", both]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "")
    );
    let out = rig.run(&["--rm", "-a", "STDERR", IMAGE, "sh", "-c", both]);
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "", "err\n")
    );
    // Recorded in Config, as Docker's (-d attaches nothing).
    rig.t(
        "ctr-create",
        &[
            "--name", "att", "-a", "stdin", "-a", "stdout", IMAGE, "true",
        ],
        30,
    )
    .ok();
    rig.detach(&["--name", "det", "-i", IMAGE, "true"]);
    let c = &rig.inspect("det")["Config"];
    assert_eq!(
        (&c["OpenStdin"], &c["StdinOnce"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
    for (name, want) in [
        ("att", [true, true, false]),
        ("det", [false, false, false]),
        ("cid", [false, true, true]),
    ] {
        let c = &rig.inspect(name)["Config"];
        assert_eq!(
            [&c["AttachStdin"], &c["AttachStdout"], &c["AttachStderr"]],
            want.map(Value::Bool).each_ref(),
            "{name}"
        );
    }
}

/// What a container linked to `db` (host name dbhost, `-e PASS=s3`, `--expose 5432`) as
/// `dbalias` sees: its hosts entry and the link's variables.
const LINK_SCRIPT: &str = "grep -wE 'dbalias|dbhost|db' /etc/hosts; env | grep ^DBALIAS_ | sort";

fn link_seen(ip: &str) -> String {
    format!(
        "{ip}\tdbalias dbhost db\nDBALIAS_ENV_PASS=s3\nDBALIAS_NAME=/web/dbalias\n\
         DBALIAS_PORT=tcp://{ip}:5432\nDBALIAS_PORT_5432_TCP=tcp://{ip}:5432\n\
         DBALIAS_PORT_5432_TCP_ADDR={ip}\nDBALIAS_PORT_5432_TCP_PORT=5432\n\
         DBALIAS_PORT_5432_TCP_PROTO=tcp\n"
    )
}

/// On a user-defined network: the alias reaches the other container; no variables.
const LINK_NET_SCRIPT: &str =
    "ping -c 1 -W 2 backend >/dev/null && echo reached; env | grep -c ^BACKEND_ || true";

#[test]
fn links_on_the_default_bridge_and_on_a_user_defined_network() {
    require_root!();
    own_network_namespace();
    let rig = Rig::new();
    rig.detach(&[
        "--name", "db", "-h", "dbhost", "-e", "PASS=s3", "--expose", "5432", IMAGE, "sleep", "300",
    ]);
    let db_ip = rig.inspect("db")["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!db_ip.is_empty());
    let out = rig
        .run(&[
            "--name",
            "web",
            "--link",
            "db:dbalias",
            IMAGE,
            "sh",
            "-c",
            LINK_SCRIPT,
        ])
        .ok();
    // One hosts line (the alias, the host name, the name) and the variables, as Docker's.
    assert_eq!(out.stdout, link_seen(&db_ip), "{out:#?}");
    assert_eq!(
        rig.inspect("web")["HostConfig"]["Links"],
        serde_json::json!(["/db:/web/dbalias"])
    );
    // A -e of the container wins over a link's variable.
    let out = rig
        .run(&[
            "--rm",
            "--link",
            "db:dbalias",
            "-e",
            "DBALIAS_NAME=mine",
            IMAGE,
            "sh",
            "-c",
            "echo $DBALIAS_NAME",
        ])
        .ok();
    assert_eq!(out.stdout, "mine\n");
    // With --network none, a link gives nothing (as Docker).
    let out = rig.run(&[
        "--rm",
        "--network",
        "none",
        "--link",
        "db:dbalias",
        IMAGE,
        "sh",
        "-c",
        "grep -c dbalias /etc/hosts; env | grep -c ^DBALIAS_",
    ]);
    assert_eq!(out.stdout, "0\n0\n", "{out:#?}");
    // A rename follows the links, both ways (Docker's link index): the renamed container is
    // linked to under its new name, and its own links are named under its new name.
    rig.t("ctr-rename", &["db", "db2"], 30).ok();
    rig.t("ctr-rename", &["web", "web2"], 30).ok();
    assert_eq!(
        rig.inspect("web2")["HostConfig"]["Links"],
        serde_json::json!(["/db2:/web2/dbalias"])
    );
    let out = rig.t("ctr-start", &["-a", "web2"], 60).ok();
    assert!(
        out.stdout.contains("DBALIAS_NAME=/web2/dbalias\n"),
        "{out:#?}"
    );
    rig.t("ctr-rename", &["db2", "db"], 30).ok();
    // A stopped linked container: Docker's error at start; the container stays created.
    rig.t("ctr-stop", &["-t", "0", "db"], 30).ok();
    rig.run(&["--name", "late", "--link", "db", IMAGE, "true"])
        .fails_with(
            125,
            "Cannot link to a non running container: /db AS /late/db",
        );
    assert_eq!(rig.status("late"), "created");

    // A user-defined network: the alias names the other container, no variables.
    rig.t("net-create", &["--subnet", "10.77.0.0/24", "n1"], 30)
        .ok();
    rig.detach(&["--name", "svc", "--network", "n1", IMAGE, "sleep", "300"]);
    let svc_ip = rig.inspect("svc")["NetworkSettings"]["Networks"]["n1"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    let out = rig.run(&[
        "--name",
        "cli",
        "--network",
        "n1",
        "--link",
        "svc:backend",
        IMAGE,
        "sh",
        "-c",
        LINK_NET_SCRIPT,
    ]);
    assert_eq!(out.stdout, "reached\n0\n", "{out:#?}");
    let c = rig.inspect("cli");
    assert_eq!(c["HostConfig"]["Links"], Value::Null);
    assert_eq!(
        c["NetworkSettings"]["Networks"]["n1"]["Links"],
        serde_json::json!(["svc:backend"])
    );
    assert!(!svc_ip.is_empty());
    // Links cannot go with the host's network.
    rig.run(&["--network", "host", "--link", "svc", IMAGE, "true"])
        .fails_with(
            125,
            "conflicting options: host type networking can't be used with links",
        );
}

#[test]
fn platform_chooses_the_image_of_that_platform() {
    require_root!();
    let rig = Rig::new();
    let host = match std::env::consts::ARCH {
        "x86_64" => "linux/amd64",
        "aarch64" => "linux/arm64",
        _ => skip!("an architecture without a test here"),
    };
    let other = if host == "linux/amd64" {
        "linux/arm64"
    } else {
        "linux/amd64"
    };
    assert_eq!(rig.sh(&["--platform", host], "echo same"), "same\n");
    // The store's image is of another platform: as missing (pulled), and with --pull never
    // Docker's error.
    rig.run(&[
        "--rm",
        "--pull",
        "never",
        "--platform",
        other,
        IMAGE,
        "true",
    ])
    .fails_with(
        125,
        &format!(
            "image with reference bb:1 was found but does not match the specified platform: \
                 wanted {other}, actual: {host}"
        ),
    );
    // An OS alone is this machine's architecture.
    assert_eq!(rig.sh(&["--platform", "linux"], "echo os"), "os\n");
    assert!(rig.ids().is_empty());
}

fn docker(d: &Dockerd, args: &[&str]) -> Out {
    timed(d.command().args(args), 120)
}

#[test]
fn docker_gives_the_same_answers_for_run_flags() {
    require_root!();
    own_network_namespace();
    let d = require_dockerd!();
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_tarball(&tmp.path().join("bb.tar"), Compression::None);
    docker(&d, &["import", tar.to_str().unwrap(), IMAGE]).ok();

    if cgroup_v1() && two_cpus() {
        let mut a = vec!["run", "--name", "res"];
        a.extend_from_slice(RES_FLAGS);
        a.extend_from_slice(&["--blkio-weight", "300", IMAGE, "sh", "-c", RES_SCRIPT]);
        let out = docker(&d, &a).ok();
        assert!(out.stdout.starts_with(RES_SEEN), "{out:#?}");
        let hc: Value = docker(&d, &["inspect", "--format", "{{json .HostConfig}}", "res"])
            .ok()
            .json();
        let mut want = expected_record();
        if blkio_weight() {
            want["BlkioWeight"] = 300.into();
        } else {
            assert!(out.stderr.contains(BLKIO_WARNING), "{out:#?}");
        }
        assert_eq!(res_record(&hc), want);
        let plain: Value = {
            docker(&d, &["create", "--name", "plain", IMAGE, "true"]).ok();
            docker(
                &d,
                &["inspect", "--format", "{{json .HostConfig}}", "plain"],
            )
            .ok()
            .json()
        };
        assert_eq!(plain["OomKillDisable"], false);
        assert_eq!(plain["MemorySwappiness"], Value::Null);
        let out = docker(
            &d,
            &[
                "run",
                "--rm",
                "--oom-score-adj",
                "-1000",
                IMAGE,
                "cat",
                "/proc/1/oom_score_adj",
            ],
        );
        if has_sys_resource() {
            assert_eq!(out.stdout, "-1000\n", "{out:#?}");
        } else {
            assert_eq!(
                out.code, 125,
                "runc cannot lower the score either: {out:#?}"
            );
        }

        // docker update, then what the container sees.
        docker(
            &d,
            &[
                "run", "-d", "--name", "upd", "-m", "64m", IMAGE, "sleep", "300",
            ],
        )
        .ok();
        docker(
            &d,
            &[
                "update",
                "--cpuset-cpus",
                "0",
                "--memory-reservation",
                "20m",
                "--cpu-period",
                "40000",
                "--cpu-quota",
                "20000",
                "upd",
            ],
        )
        .ok();
        let seen = docker(&d, &["exec", "upd", "sh", "-c", UPDATE_SCRIPT]).ok();
        assert_eq!(seen.stdout, UPDATE_SEEN);
        docker(&d, &["update", "--memory-reservation", "100m", "upd"]).ok();
        let out = docker(&d, &["update", "--blkio-weight", "300", "upd"]).ok();
        let weight = docker(
            &d,
            &["inspect", "--format", "{{.HostConfig.BlkioWeight}}", "upd"],
        )
        .ok()
        .stdout;
        if blkio_weight() {
            assert_eq!(weight.trim(), "300");
        } else {
            assert!(out.stdout.contains(BLKIO_WARNING), "{out:#?}");
            assert_eq!(weight.trim(), "0");
        }
        let out = docker(&d, &["update", "--cpus", "1", "upd"]);
        assert!(
            out.stderr.contains(
                "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"
            ),
            "{out:#?}"
        );
        docker(&d, &["rm", "-f", "upd"]).ok();
    }

    for (flags, run_code, create_code, msg) in BAD {
        if flags[0] == "--cpuset-cpus" && !two_cpus() {
            continue;
        }
        for (verb, code) in [("run", run_code), ("create", create_code)] {
            let mut a = vec![verb];
            a.extend_from_slice(flags);
            a.extend_from_slice(&[IMAGE, "true"]);
            let out = docker(&d, &a);
            assert_eq!(out.code, *code, "docker {a:?}: {out:#?}");
            assert!(out.stderr.contains(msg), "docker {a:?}: {out:#?}");
        }
    }
    let host = match std::env::consts::ARCH {
        "x86_64" => Some(("linux/amd64", "linux/arm64")),
        "aarch64" => Some(("linux/arm64", "linux/amd64")),
        _ => None,
    };
    if let Some((host, other)) = host {
        let out = docker(
            &d,
            &[
                "run",
                "--rm",
                "--pull",
                "never",
                "--platform",
                other,
                IMAGE,
                "true",
            ],
        );
        assert_eq!(out.code, 125, "{out:#?}");
        assert!(
            out.stderr.contains(&format!(
                "image with reference bb:1 was found but does not match the specified platform: \
                 wanted {other}, actual: {host}"
            )),
            "{out:#?}"
        );
        let out = docker(
            &d,
            &["run", "--rm", "--platform", "linux", IMAGE, "echo", "os"],
        )
        .ok();
        assert_eq!(out.stdout, "os\n");
    }
    let out = docker(&d, &["run", "-d", "-a", "stdout", IMAGE, "true"]);
    assert!(
        out.stderr
            .contains("conflicting options: cannot specify both --attach and --detach"),
        "{out:#?}"
    );

    // --volumes-from.
    let host = tempfile::tempdir().unwrap();
    let (seen, records) = volumes_from_scenario(
        &|a: &[&str]| {
            let mut v = vec!["run"];
            v.extend_from_slice(a);
            docker(&d, &v)
        },
        &|n: &str| {
            let v: Value = docker(&d, &["inspect", n]).ok().json();
            v[0].clone()
        },
        host.path(),
    );
    assert_eq!(seen, VF_SEEN);
    assert_eq!(records[0]["VolumesFrom"], serde_json::json!(["vsrc"]));
    assert_eq!(records[1]["VolumesFrom"], serde_json::json!(["vsrc:ro"]));
    assert_eq!(
        records[1]["Mounts"],
        format!(
            "{:?}",
            vec![
                ("bind", "/bind", false, "", false),
                ("volume", "/anon", false, "", true),
                ("volume", "/data", false, "", true),
            ]
            .into_iter()
            .map(|(a, b, c, d, e)| (a.to_string(), b.to_string(), c, d.to_string(), e))
            .collect::<Vec<_>>()
        )
    );

    // --cidfile, -a, --label-file.
    let cid = tmp.path().join("cid");
    let cid_s = cid.to_str().unwrap();
    let id = docker(
        &d,
        &["create", "--name", "cid", "--cidfile", cid_s, IMAGE, "true"],
    )
    .ok()
    .stdout
    .trim()
    .to_string();
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    let out = docker(&d, &["create", "--cidfile", cid_s, IMAGE, "true"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains(&format!(
        "container ID file found, make sure the other container isn't running or delete {cid_s}"
    )));
    let both = "echo out; echo err >&2; exit 3";
    let out = docker(
        &d,
        &["run", "--rm", "-a", "stdout", IMAGE, "sh", "-c", both],
    );
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "")
    );
    let out = docker(
        &d,
        &["run", "--rm", "-a", "STDERR", IMAGE, "sh", "-c", both],
    );
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (3, "", "err\n")
    );
    let lf = tmp.path().join("labels");
    std::fs::write(&lf, "# labels\n  tier=web\nbare\nowner=file\n").unwrap();
    docker(
        &d,
        &[
            "create",
            "--name",
            "lab",
            "--label-file",
            lf.to_str().unwrap(),
            "-l",
            "owner=flag",
            IMAGE,
            "true",
        ],
    )
    .ok();
    let labels: Value = docker(
        &d,
        &["inspect", "--format", "{{json .Config.Labels}}", "lab"],
    )
    .ok()
    .json();
    assert_eq!(labels, serde_json::json!({"tier": "web", "owner": "flag"}));
    docker(
        &d,
        &[
            "create", "--name", "att", "-a", "stdin", "-a", "stdout", IMAGE, "true",
        ],
    )
    .ok();
    docker(&d, &["run", "-d", "-i", "--name", "dd", IMAGE, "true"]).ok();
    let out = docker(
        &d,
        &[
            "inspect",
            "--format",
            "{{.Config.OpenStdin}} {{.Config.StdinOnce}}",
            "dd",
        ],
    )
    .ok();
    assert_eq!(out.stdout.trim(), "true false");
    for (name, want) in [
        ("att", "true true false"),
        ("dd", "false false false"),
        ("cid", "false true true"),
    ] {
        let out = docker(
            &d,
            &[
                "inspect",
                "--format",
                "{{.Config.AttachStdin}} {{.Config.AttachStdout}} {{.Config.AttachStderr}}",
                name,
            ],
        )
        .ok();
        assert_eq!(out.stdout.trim(), want, "{name}");
    }
}

/// Docker's legacy links need its default bridge: a daemon with one, in this test's network
/// namespace.
#[test]
fn docker_links_the_same_way() {
    require_root!();
    own_network_namespace();
    let d = match Dockerd::start_with_default_bridge() {
        Ok(d) => d,
        Err(why) => skip!("no private dockerd: {why}"),
    };
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_tarball(&tmp.path().join("bb.tar"), Compression::None);
    docker(&d, &["import", tar.to_str().unwrap(), IMAGE]).ok();
    docker(
        &d,
        &[
            "run", "-d", "--name", "db", "-h", "dbhost", "-e", "PASS=s3", "--expose", "5432",
            IMAGE, "sleep", "300",
        ],
    )
    .ok();
    let db_ip = docker(
        &d,
        &[
            "inspect",
            "--format",
            "{{.NetworkSettings.Networks.bridge.IPAddress}}",
            "db",
        ],
    )
    .ok()
    .stdout
    .trim()
    .to_string();
    let out = docker(
        &d,
        &[
            "run",
            "--name",
            "web",
            "--link",
            "db:dbalias",
            IMAGE,
            "sh",
            "-c",
            LINK_SCRIPT,
        ],
    )
    .ok();
    assert_eq!(out.stdout, link_seen(&db_ip), "{out:#?}");
    let links = docker(
        &d,
        &["inspect", "--format", "{{json .HostConfig.Links}}", "web"],
    )
    .ok();
    assert_eq!(links.stdout.trim(), r#"["/db:/web/dbalias"]"#);
    let out = docker(
        &d,
        &[
            "run",
            "--rm",
            "--link",
            "db:dbalias",
            "-e",
            "DBALIAS_NAME=mine",
            IMAGE,
            "sh",
            "-c",
            "echo $DBALIAS_NAME",
        ],
    )
    .ok();
    assert_eq!(out.stdout, "mine\n");
    let out = docker(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "--link",
            "db:dbalias",
            IMAGE,
            "sh",
            "-c",
            "grep -c dbalias /etc/hosts; env | grep -c ^DBALIAS_",
        ],
    );
    assert_eq!(out.stdout, "0\n0\n", "{out:#?}");
    docker(&d, &["rename", "db", "db2"]).ok();
    docker(&d, &["rename", "web", "web2"]).ok();
    let links = docker(
        &d,
        &["inspect", "--format", "{{json .HostConfig.Links}}", "web2"],
    )
    .ok();
    assert_eq!(links.stdout.trim(), r#"["/db2:/web2/dbalias"]"#);
    let out = docker(&d, &["start", "-a", "web2"]).ok();
    assert!(
        out.stdout.contains("DBALIAS_NAME=/web2/dbalias\n"),
        "{out:#?}"
    );
    docker(&d, &["rename", "db2", "db"]).ok();
    docker(&d, &["stop", "-t", "0", "db"]).ok();
    let out = docker(
        &d,
        &["run", "--name", "late", "--link", "db", IMAGE, "true"],
    );
    assert_eq!(out.code, 125, "{out:#?}");
    assert!(
        out.stderr
            .contains("Cannot link to a non running container: /db AS /late/db"),
        "{out:#?}"
    );
    docker(&d, &["network", "create", "--subnet", "10.77.0.0/24", "n1"]).ok();
    docker(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "svc",
            "--network",
            "n1",
            IMAGE,
            "sleep",
            "300",
        ],
    )
    .ok();
    let out = docker(
        &d,
        &[
            "run",
            "--name",
            "cli",
            "--network",
            "n1",
            "--link",
            "svc:backend",
            IMAGE,
            "sh",
            "-c",
            LINK_NET_SCRIPT,
        ],
    )
    .ok();
    assert_eq!(out.stdout, "reached\n0\n");
    let out = docker(
        &d,
        &[
            "inspect",
            "--format",
            "{{json .HostConfig.Links}} {{json .NetworkSettings.Networks.n1.Links}}",
            "cli",
        ],
    )
    .ok();
    assert_eq!(out.stdout.trim(), r#"null ["svc:backend"]"#);
    let out = docker(
        &d,
        &["run", "--network", "host", "--link", "svc", IMAGE, "true"],
    );
    assert!(
        out.stderr
            .contains("conflicting options: host type networking can't be used with links"),
        "{out:#?}"
    );
}
