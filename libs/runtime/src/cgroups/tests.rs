use super::device_filter::PROGRAMS;
use super::files::{pids_value, usage_without_cache, WRITES};
use super::v1::V1_UNLIMITED;
use super::*;
use crate::devfilter;
use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceType, LinuxMemory, LinuxMemoryBuilder,
    LinuxPids, LinuxPidsBuilder, LinuxResourcesBuilder,
};
use std::fs;
use std::os::unix::fs::symlink;
use LinuxDeviceType::{B, C};

const MIB: u64 = 1024 * 1024;
const V1_MAX: &str = "9223372036854771712\n";

const M: i64 = MIB as i64;

fn res() -> LinuxResourcesBuilder {
    LinuxResourcesBuilder::default()
}

/// Memory limits: the limit, memory+swap, the reservation.
fn mem(limit: i64, swap: Option<i64>, reservation: Option<i64>) -> LinuxMemory {
    let mut m = LinuxMemoryBuilder::default().limit(limit).build().unwrap();
    m.set_swap(swap);
    m.set_reservation(reservation);
    m
}

/// Resources with only memory limits.
fn memory(limit: i64, swap: Option<i64>) -> LinuxResources {
    res().memory(mem(limit, swap, None)).build().unwrap()
}

/// Resources with only a pids limit.
fn pids(limit: i64) -> LinuxResources {
    res().pids(pids_limit(limit)).build().unwrap()
}

fn pids_limit(limit: i64) -> LinuxPids {
    LinuxPidsBuilder::default().limit(limit).build().unwrap()
}

/// A device rule: allow or deny; type (`None`: unset, which is "a"); major and minor
/// (`None`: any); access.
fn dev(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut r = LinuxDeviceCgroup::default();
    r.set_allow(allow);
    r.set_typ(typ);
    r.set_major(major);
    r.set_minor(minor);
    r.set_access(Some(access.to_string()));
    r
}

/// Docker's first device rule: deny everything.
fn deny_all() -> LinuxDeviceCgroup {
    dev(false, None, None, None, "rwm")
}

fn put(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn get(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn take_writes() -> Vec<(PathBuf, String)> {
    WRITES.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

fn take_programs() -> Vec<(PathBuf, Vec<devfilter::Insn>)> {
    PROGRAMS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// A hybrid v1 host: a directory per controller, `cpu,cpuacct` combined with `cpu` and
/// `cpuacct` symlinks, a named systemd hierarchy and an empty v2 mount.
fn fake_v1() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for d in [
        "cpu,cpuacct",
        "memory",
        "pids",
        "freezer",
        "devices",
        "blkio",
        "cpuset",
        "systemd",
        "unified",
        "net_cls,net_prio",
    ] {
        fs::create_dir(r.join(d)).unwrap();
    }
    symlink("cpu,cpuacct", r.join("cpu")).unwrap();
    symlink("cpu,cpuacct", r.join("cpuacct")).unwrap();
    // Cgroup roots berth sets no limits in: joined all the same. A directory without
    // cgroup.procs is not a hierarchy.
    for d in ["systemd", "unified", "net_cls,net_prio"] {
        put(&r.join(d).join("cgroup.procs"), "");
    }
    put(&r.join("unified/cgroup.controllers"), "");
    fs::create_dir(r.join("not-a-cgroup")).unwrap();
    put(&r.join("cpuset/cpuset.cpus"), "0-3\n");
    put(&r.join("cpuset/cpuset.mems"), "0\n");
    t
}

/// Makes the files the kernel would make in a new v1 memory cgroup.
fn fake_v1_memory_files(cg: &Cgroup) {
    let dir = cg.controller_dir("memory").unwrap();
    put(&dir.join("memory.limit_in_bytes"), V1_MAX);
    put(&dir.join("memory.memsw.limit_in_bytes"), V1_MAX);
}

fn fake_v2() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    put(
        &t.path().join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    );
    put(&t.path().join("cgroup.subtree_control"), "");
    t
}

#[test]
fn version_detection() {
    let v1 = fake_v1();
    assert_eq!(host_version(v1.path()), Version::V1);
    let v2 = fake_v2();
    assert_eq!(host_version(v2.path()), Version::V2);
}

#[test]
fn open_parses_the_path_and_finds_v1_hierarchies() {
    let t = fake_v1();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    assert_eq!(cg.version, Version::V1);
    assert_eq!(cg.rel, PathBuf::from("berth/abc"));
    assert_eq!(cg.controllers["cpu"], t.path().join("cpu"));
    assert_eq!(cg.controllers["cpuacct"], t.path().join("cpuacct"));
    assert_eq!(cg.controllers["memory"], t.path().join("memory"));
    assert_eq!(cg.controllers.len(), 8);
    // cpu,cpuacct once; systemd, unified and net_cls too (runc joins them all).
    assert_eq!(cg.hierarchies.len(), 10, "{:?}", cg.hierarchies);
    assert_eq!(cg.join_paths().len(), 10);
    for h in ["systemd", "unified", "net_cls,net_prio"] {
        assert!(cg
            .join_paths()
            .contains(&t.path().join(h).join("berth/abc/cgroup.procs")));
    }
    assert_eq!(cg.unified, Some(t.path().join("unified")));
    assert!(cg
        .join_paths()
        .contains(&t.path().join("memory/berth/abc/cgroup.procs")));

    let rel = Cgroup::open(t.path(), "berth/abc").unwrap();
    assert_eq!(rel.rel, PathBuf::from("berth/abc"));
    for bad in ["", "/", "/berth/../../etc", "system.slice:berth:abc"] {
        let e = Cgroup::open(t.path(), bad).unwrap_err();
        assert!(matches!(e, Error::Cgroup { .. }), "{bad:?}: {e}");
    }
    let empty = tempfile::tempdir().unwrap();
    assert!(Cgroup::open(empty.path(), "/berth/x").is_err());
}

#[test]
fn v1_create_makes_every_hierarchy_and_copies_cpuset() {
    let t = fake_v1();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    for d in [
        "cpu,cpuacct",
        "memory",
        "pids",
        "freezer",
        "devices",
        "blkio",
        "cpuset",
    ] {
        assert!(t.path().join(d).join("berth/abc").is_dir(), "{d}");
    }
    for d in ["systemd", "unified", "net_cls,net_prio"] {
        assert!(t.path().join(d).join("berth/abc").is_dir(), "{d}");
    }
    assert!(!t.path().join("not-a-cgroup/berth").exists());
    for dir in ["cpuset/berth", "cpuset/berth/abc"] {
        assert_eq!(get(&t.path().join(dir).join("cpuset.cpus")), "0-3");
        assert_eq!(get(&t.path().join(dir).join("cpuset.mems")), "0");
    }
    // Again: idempotent, and a cpuset already set is kept.
    put(&t.path().join("cpuset/berth/abc/cpuset.cpus"), "1");
    cg.create().unwrap();
    assert_eq!(get(&t.path().join("cpuset/berth/abc/cpuset.cpus")), "1");
}

#[test]
fn v1_apply_writes_the_limits_in_runc_order() {
    let t = fake_v1();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    fake_v1_memory_files(&cg);
    take_writes();
    let r = res()
        .devices(vec![
            deny_all(),
            dev(true, Some(C), Some(1), Some(3), "rwm"),
            dev(true, Some(C), Some(136), None, "rw"),
            dev(false, Some(B), Some(8), Some(0), "m"),
        ])
        .memory(mem(64 * M, Some(128 * M), Some(32 * M)))
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(150000i64)
                .period(100000u64)
                .cpus("0-1")
                .build()
                .unwrap(),
        )
        .pids(pids_limit(100))
        .build()
        .unwrap();
    cg.apply(&r).unwrap();
    let m = t.path().join("memory/berth/abc");
    assert_eq!(get(&m.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(get(&m.join("memory.memsw.limit_in_bytes")), "134217728");
    assert_eq!(get(&m.join("memory.soft_limit_in_bytes")), "33554432");
    let c = t.path().join("cpu,cpuacct/berth/abc");
    assert_eq!(get(&c.join("cpu.shares")), "512");
    assert_eq!(get(&c.join("cpu.cfs_quota_us")), "150000");
    assert_eq!(get(&c.join("cpu.cfs_period_us")), "100000");
    assert_eq!(get(&t.path().join("cpuset/berth/abc/cpuset.cpus")), "0-1");
    assert_eq!(get(&t.path().join("pids/berth/abc/pids.max")), "100");

    let writes: Vec<(String, String)> = take_writes()
        .into_iter()
        .map(|(p, v)| (p.file_name().unwrap().to_str().unwrap().to_string(), v))
        .collect();
    let w = |f: &str, v: &str| (f.to_string(), v.to_string());
    let devices: Vec<_> = writes
        .iter()
        .filter(|(f, _)| f.starts_with("devices."))
        .cloned()
        .collect();
    assert_eq!(
        devices,
        vec![
            w("devices.deny", "a"),
            w("devices.deny", "a *:* rwm"),
            w("devices.allow", "c 1:3 rwm"),
            w("devices.allow", "c 136:* rw"),
            w("devices.deny", "b 8:0 m"),
        ]
    );
    // A hybrid host: the same rules as a program on the v2 hierarchy too.
    let programs = take_programs();
    assert_eq!(programs.len(), 1);
    assert_eq!(programs[0].0, t.path().join("unified/berth/abc"));
    assert_eq!(
        programs[0].1,
        crate::devfilter::program(r.devices().as_ref().unwrap()).unwrap()
    );
    // Without a v2 mount, no program.
    let t2 = fake_v1();
    fs::remove_dir_all(t2.path().join("unified")).unwrap();
    let cg2 = Cgroup::open(t2.path(), "/berth/abc").unwrap();
    assert_eq!(cg2.unified, None);
    cg2.create().unwrap();
    cg2.apply(&res().devices(vec![deny_all()]).build().unwrap())
        .unwrap();
    assert!(take_programs().is_empty());
    let memory: Vec<_> = writes
        .iter()
        .filter(|(f, _)| f.starts_with("memory."))
        .cloned()
        .collect();
    // The current limit is unlimited, above the new memsw: memory first.
    assert_eq!(
        memory,
        vec![
            w("memory.limit_in_bytes", "67108864"),
            w("memory.memsw.limit_in_bytes", "134217728"),
            w("memory.soft_limit_in_bytes", "33554432"),
        ]
    );
    let cpu: Vec<_> = writes
        .iter()
        .filter(|(f, _)| f.starts_with("cpu."))
        .cloned()
        .collect();
    assert_eq!(
        cpu,
        vec![
            w("cpu.shares", "512"),
            w("cpu.cfs_period_us", "100000"),
            w("cpu.cfs_quota_us", "150000"),
        ]
    );
}

#[test]
fn v1_memory_and_swap_order() {
    let t = fake_v1();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    fake_v1_memory_files(&cg);
    let files = |writes: Vec<(PathBuf, String)>| -> Vec<String> {
        writes
            .into_iter()
            .map(|(p, v)| format!("{}={v}", p.file_name().unwrap().to_str().unwrap()))
            .collect()
    };
    let mem = |limit: u64, swap: u64| memory(limit as i64, Some(swap as i64));
    cg.apply(&mem(64 * MIB, 64 * MIB)).unwrap();
    take_writes();
    // Raising past the current limit: memory+swap first.
    cg.apply(&mem(256 * MIB, 512 * MIB)).unwrap();
    assert_eq!(
        files(take_writes()),
        [
            "memory.memsw.limit_in_bytes=536870912",
            "memory.limit_in_bytes=268435456"
        ]
    );
    // Lowering: memory first.
    cg.apply(&mem(32 * MIB, 64 * MIB)).unwrap();
    assert_eq!(
        files(take_writes()),
        [
            "memory.limit_in_bytes=33554432",
            "memory.memsw.limit_in_bytes=67108864"
        ]
    );
    // Unlimited memory without a swap value: both unlimited, swap first.
    cg.apply(&memory(-1, None)).unwrap();
    assert_eq!(
        files(take_writes()),
        ["memory.memsw.limit_in_bytes=-1", "memory.limit_in_bytes=-1"]
    );
    // From unlimited ("-1" as written, in the fake fs) to limits: memory first.
    cg.apply(&mem(64 * MIB, 128 * MIB)).unwrap();
    assert_eq!(
        files(take_writes()),
        [
            "memory.limit_in_bytes=67108864",
            "memory.memsw.limit_in_bytes=134217728"
        ]
    );
    // No swap accounting on the host: the swap value is dropped.
    fs::remove_file(
        cg.controller_dir("memory")
            .unwrap()
            .join("memory.memsw.limit_in_bytes"),
    )
    .unwrap();
    cg.apply(&mem(64 * MIB, 128 * MIB)).unwrap();
    assert_eq!(files(take_writes()), ["memory.limit_in_bytes=67108864"]);
}

#[test]
fn pids_limit_values() {
    assert_eq!(pids_value(100), "100");
    assert_eq!(pids_value(0), "max");
    assert_eq!(pids_value(-1), "max");
    let t = fake_v1();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    cg.apply(&pids(-1)).unwrap();
    assert_eq!(get(&t.path().join("pids/berth/abc/pids.max")), "max");
}

#[test]
fn a_write_that_fails_names_the_file_and_value() {
    let t = fake_v1();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    // A directory where the file should be: the write fails.
    fs::create_dir(t.path().join("pids/berth/abc/pids.max")).unwrap();
    let e = cg.apply(&pids(7)).unwrap_err().to_string();
    assert!(e.contains("pids/berth/abc/pids.max"), "{e}");
    assert!(e.contains("\"7\""), "{e}");
}

#[test]
fn v1_procs_freeze_stats_destroy() {
    let t = fake_v1();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    cg.add_pid(4242).unwrap();
    for p in cg.join_paths() {
        assert_eq!(get(&p), "4242", "{}", p.display());
    }
    put(
        &t.path().join("memory/berth/abc/cgroup.procs"),
        "4242\n4243\n",
    );
    assert_eq!(cg.pids().unwrap(), vec![4242, 4243]);

    assert!(!cg.is_frozen().unwrap());
    cg.freeze().unwrap();
    assert_eq!(
        get(&t.path().join("freezer/berth/abc/freezer.state")),
        "FROZEN"
    );
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert_eq!(
        get(&t.path().join("freezer/berth/abc/freezer.state")),
        "THAWED"
    );
    assert!(!cg.is_frozen().unwrap());

    let m = t.path().join("memory/berth/abc");
    put(&m.join("memory.usage_in_bytes"), "10485760\n");
    put(
        &m.join("memory.stat"),
        "cache 4194304\nrss 6291456\ninactive_file 1\ntotal_cache 4194304\n\
         total_inactive_file 3145728\ntotal_active_file 1048576\n",
    );
    put(&m.join("memory.limit_in_bytes"), V1_MAX);
    put(
        &m.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
    );
    put(
        &t.path().join("cpuacct/berth/abc/cpuacct.usage"),
        "123456789\n",
    );
    put(&t.path().join("pids/berth/abc/pids.current"), "2\n");
    put(&t.path().join("pids/berth/abc/pids.max"), "max\n");
    assert_eq!(
        cg.stats().unwrap(),
        Stats {
            cpu_usage_ns: 123456789,
            memory_usage: 10485760 - 3145728,
            memory_limit: None,
            pids_current: 2,
            pids_limit: None,
            oom_kills: 3,
        }
    );
    put(&m.join("memory.limit_in_bytes"), "33554432\n");
    put(&t.path().join("pids/berth/abc/pids.max"), "50\n");
    let s = cg.stats().unwrap();
    assert_eq!(s.memory_limit, Some(32 * MIB));
    assert_eq!(s.pids_limit, Some(50));

    // destroy: every hierarchy, idempotent, parents left. (No processes in the fake procs.)
    put(&t.path().join("memory/berth/abc/cgroup.procs"), "");
    for p in cg.join_paths() {
        put(&p, "");
    }
    cg.destroy().unwrap();
    for d in [
        "cpu,cpuacct",
        "memory",
        "pids",
        "freezer",
        "devices",
        "blkio",
        "cpuset",
        "systemd",
        "unified",
        "net_cls,net_prio",
    ] {
        assert!(!t.path().join(d).join("berth/abc").exists(), "{d}");
        assert!(t.path().join(d).join("berth").is_dir(), "{d}");
    }
    cg.destroy().unwrap();
    assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
}

#[test]
fn oom_kills_parsing() {
    let t = fake_v1();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    // No file, or an old kernel's file without oom_kill: 0 (under_oom and failcnt are not
    // kills).
    assert_eq!(cg.oom_kills().unwrap(), 0);
    let m = t.path().join("memory/berth/abc");
    put(
        &m.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 1\n",
    );
    put(&m.join("memory.failcnt"), "17\n");
    assert_eq!(cg.oom_kills().unwrap(), 0);
    put(
        &m.join("memory.oom_control"),
        "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n",
    );
    assert_eq!(cg.oom_kills().unwrap(), 5);

    let t2 = fake_v2();
    let cg2 = Cgroup::open(t2.path(), "/berth/abc").unwrap();
    cg2.create().unwrap();
    assert_eq!(cg2.oom_kills().unwrap(), 0);
    put(
        &t2.path().join("berth/abc/memory.events"),
        "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n",
    );
    assert_eq!(cg2.oom_kills().unwrap(), 2);
}

#[test]
fn unlimited_detection() {
    let p = Path::new("x");
    assert_eq!(parse_limit(p, "max\n").unwrap(), None);
    assert_eq!(parse_limit(p, "100\n").unwrap(), Some(100));
    let v1 = |s: &str| parse_limit(p, s).unwrap().filter(|&l| l < V1_UNLIMITED);
    assert_eq!(v1(V1_MAX), None);
    assert_eq!(v1("9223372036854775807"), None);
    assert_eq!(v1("67108864"), Some(64 * MIB));
    assert!(parse_limit(p, "lots").is_err());
    assert_eq!(usage_without_cache(100, Some(30)), 70);
    assert_eq!(usage_without_cache(100, Some(300)), 100);
    assert_eq!(usage_without_cache(100, None), 100);
}

#[test]
fn shares_to_weight_as_runc() {
    assert_eq!(shares_to_weight(512), 20);
    assert_eq!(shares_to_weight(1024), 39);
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1), 1);
    assert_eq!(shares_to_weight(262_144), 10_000);
}

#[test]
fn v2_create_enables_controllers_in_ancestors() {
    let t = fake_v2();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    assert_eq!(cg.version, Version::V2);
    assert_eq!(
        cg.join_paths(),
        vec![t.path().join("berth/abc/cgroup.procs")]
    );
    cg.create().unwrap();
    assert!(t.path().join("berth/abc").is_dir());
    let all = "+cpu +memory +pids +io +cpuset";
    assert_eq!(get(&t.path().join("cgroup.subtree_control")), all);
    assert_eq!(get(&t.path().join("berth/cgroup.subtree_control")), all);
    assert!(!t.path().join("berth/abc/cgroup.subtree_control").exists());

    // Only what the host has.
    let t = fake_v2();
    put(&t.path().join("cgroup.controllers"), "memory pids\n");
    Cgroup::open(t.path(), "/a/b/c").unwrap().create().unwrap();
    for d in ["", "a", "a/b"] {
        assert_eq!(
            get(&t.path().join(d).join("cgroup.subtree_control")),
            "+memory +pids"
        );
    }
}

/// `--cgroup-parent /mypar` (a cgroupsPath of `/mypar/ID`): the container's cgroup is made
/// under that parent, with the controllers enabled on the way, as under berth's own.
#[test]
fn v2_cgroup_under_a_parent() {
    let t = fake_v2();
    let cg = Cgroup::open(t.path(), "/mypar/abc").unwrap();
    assert_eq!(
        cg.join_paths(),
        vec![t.path().join("mypar/abc/cgroup.procs")]
    );
    cg.create().unwrap();
    assert!(t.path().join("mypar/abc").is_dir());
    assert!(!t.path().join("berth").exists());
    let all = "+cpu +memory +pids +io +cpuset";
    assert_eq!(get(&t.path().join("mypar/cgroup.subtree_control")), all);
}

#[test]
fn v2_apply_writes_the_limits() {
    let t = fake_v2();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    let dir = t.path().join("berth/abc");
    take_writes();
    let r = res()
        .devices(vec![deny_all()])
        .memory(mem(64 * M, Some(128 * M), Some(32 * M)))
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .quota(150000i64)
                .period(100000u64)
                .build()
                .unwrap(),
        )
        .pids(pids_limit(100))
        .build()
        .unwrap();
    cg.apply(&r).unwrap();
    assert_eq!(get(&dir.join("memory.max")), "67108864");
    assert_eq!(get(&dir.join("memory.swap.max")), "67108864");
    assert_eq!(get(&dir.join("memory.low")), "33554432");
    assert_eq!(get(&dir.join("cpu.max")), "150000 100000");
    assert_eq!(get(&dir.join("cpu.weight")), "20");
    assert_eq!(get(&dir.join("pids.max")), "100");
    // Device rules become an eBPF program attached to the cgroup (recorded on a fake tree).
    assert!(!dir.join("devices.deny").exists());
    let programs = take_programs();
    assert_eq!(programs.len(), 1);
    assert_eq!(programs[0].0, dir);
    assert_eq!(
        programs[0].1,
        crate::devfilter::program(r.devices().as_ref().unwrap()).unwrap()
    );
    let order: Vec<String> = take_writes()
        .into_iter()
        .map(|(p, _)| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        [
            "memory.swap.max",
            "memory.max",
            "memory.low",
            "cpu.weight",
            "cpu.max",
            "pids.max"
        ]
    );

    // No quota: "max PERIOD"; unlimited memory and swap; memory == memory+swap: no swap.
    cg.apply(
        &res()
            .cpu(
                LinuxCpuBuilder::default()
                    .quota(-1i64)
                    .period(50000u64)
                    .build()
                    .unwrap(),
            )
            .memory(mem(-1, None, None))
            .pids(pids_limit(0))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(get(&dir.join("cpu.max")), "max 50000");
    assert_eq!(get(&dir.join("memory.max")), "max");
    assert_eq!(get(&dir.join("memory.swap.max")), "max");
    assert_eq!(get(&dir.join("pids.max")), "max");
    cg.apply(&memory(64 * M, Some(64 * M))).unwrap();
    assert_eq!(get(&dir.join("memory.swap.max")), "0");
    // swap below memory: refused.
    assert!(cg.apply(&memory(64 * M, Some(32 * M))).is_err());
}

#[test]
fn v2_memory_limit_below_usage_is_refused() {
    let t = fake_v2();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    let dir = t.path().join("berth/abc");
    put(&dir.join("memory.current"), "104857600\n");
    put(&dir.join("memory.max"), "max\n");
    let e = cg.apply(&memory(64 * M, None)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Cgroup { ref path, .. } if path == &dir.join("memory.max")));
    assert!(
        msg.contains("67108864") && msg.contains("104857600"),
        "{msg}"
    );
    assert_eq!(get(&dir.join("memory.max")), "max\n");
}

#[test]
fn v2_freeze_stats_destroy() {
    let t = fake_v2();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    let dir = t.path().join("berth/abc");
    // Without cgroup.events there is nothing to wait for.
    cg.freeze().unwrap();
    assert_eq!(get(&dir.join("cgroup.freeze")), "1");
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    // With it, the state comes from "frozen N".
    put(&dir.join("cgroup.events"), "populated 1\nfrozen 1\n");
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    put(&dir.join("cgroup.events"), "populated 1\nfrozen 0\n");
    cg.thaw().unwrap();
    assert_eq!(get(&dir.join("cgroup.freeze")), "0");
    assert!(!cg.is_frozen().unwrap());

    cg.add_pid(77).unwrap();
    assert_eq!(get(&dir.join("cgroup.procs")), "77");
    put(&dir.join("cgroup.procs"), "77\n78\n");
    assert_eq!(cg.pids().unwrap(), vec![77, 78]);

    put(
        &dir.join("cpu.stat"),
        "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 0\n",
    );
    put(&dir.join("memory.current"), "8388608\n");
    put(
        &dir.join("memory.stat"),
        "anon 4194304\nfile 4194304\ninactive_file 2097152\n",
    );
    put(&dir.join("memory.max"), "max\n");
    put(
        &dir.join("memory.events"),
        "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n",
    );
    put(&dir.join("pids.current"), "2\n");
    put(&dir.join("pids.max"), "100\n");
    assert_eq!(
        cg.stats().unwrap(),
        Stats {
            cpu_usage_ns: 1_234_000,
            memory_usage: 8388608 - 2097152,
            memory_limit: None,
            pids_current: 2,
            pids_limit: Some(100),
            oom_kills: 1,
        }
    );
    put(&dir.join("memory.max"), "67108864\n");
    assert_eq!(cg.stats().unwrap().memory_limit, Some(64 * MIB));

    put(&dir.join("cgroup.procs"), "");
    fs::create_dir(dir.join("child")).unwrap();
    put(&dir.join("child/cgroup.procs"), "");
    cg.destroy().unwrap();
    assert!(!dir.exists());
    assert!(t.path().join("berth").is_dir());
    cg.destroy().unwrap();
}

#[test]
fn kill_all_signals_the_processes() {
    let t = fake_v2();
    let cg = Cgroup::open(t.path(), "/berth/abc").unwrap();
    cg.create().unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    // Ourselves, 0 and -1 are never signalled.
    let procs = format!("{}\n{}\n0\n-1\n", child.id(), std::process::id());
    put(&t.path().join("berth/abc/cgroup.procs"), &procs);
    cg.kill_all(Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // v2's cgroup.kill, when there is one.
    put(&t.path().join("berth/abc/cgroup.kill"), "");
    put(&t.path().join("berth/abc/cgroup.procs"), "");
    cg.kill_all(Signal::SIGKILL).unwrap();
    assert_eq!(get(&t.path().join("berth/abc/cgroup.kill")), "1");
}

/// Removes the test cgroup (and kills the child) even when an assertion fails.
struct RealGuard {
    cg: Cgroup,
    child: Option<std::process::Child>,
}

impl Drop for RealGuard {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.thaw();
        let _ = self.cg.destroy();
    }
}

#[test]
fn real_v1_hierarchy() {
    let root = Path::new("/sys/fs/cgroup");
    if !nix::unistd::geteuid().is_root()
        || !root.join("memory").is_dir()
        || host_version(root) != Version::V1
    {
        println!("skipped: needs root and a cgroup v1 memory hierarchy at /sys/fs/cgroup/memory");
        return;
    }
    let name = format!("/berth-test-{}", std::process::id());
    let cg = Cgroup::open(root, &name).unwrap();
    let mut guard = RealGuard {
        cg: cg.clone(),
        child: None,
    };
    cg.create().unwrap();
    for d in cg.dirs() {
        assert!(d.is_dir(), "{}", d.display());
    }
    cg.apply(
        &res()
            .memory(mem(32 * M, None, None))
            .pids(pids_limit(50))
            .build()
            .unwrap(),
    )
    .unwrap();

    let child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    guard.child = Some(child);
    cg.add_pid(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    for p in cg.join_paths() {
        assert!(
            get(&p).lines().any(|l| l == pid.to_string()),
            "{}",
            p.display()
        );
    }
    let s = cg.stats().unwrap();
    assert_eq!(s.memory_limit, Some(32 * MIB));
    assert_eq!(s.pids_limit, Some(50));
    assert_eq!(s.pids_current, 1);
    assert_eq!(s.oom_kills, 0);
    println!("real v1 stats: {s:?}");

    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());

    // destroy kills what is still inside.
    cg.destroy().unwrap();
    let status = guard.child.take().unwrap().wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    for d in cg.dirs() {
        assert!(!d.exists(), "{} is left", d.display());
    }
    cg.destroy().unwrap();
}
