//! Root-only tests. Each re-runs its own test in a child process (env BERTH_ROOTFS_CHILD),
//! which makes a new pid namespace and forks a pid 1 with a new mount (and UTS) namespace
//! that does the work: nothing leaks into the test process or the host.

use super::fsops::{clean_components, display, unescape};
use super::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;
use std::process::Command;

const CHILD: &str = "BERTH_ROOTFS_CHILD";
const DIR: &str = "BERTH_ROOTFS_DIR";
const MARKER: &str = "berth-rootfs-marker";

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// runc's `validateSysctl`: a sysctl of a namespace the spec does not make is refused (it
/// would change the host's).
#[test]
fn sysctls_of_host_namespaces_are_refused() {
    let spec = |ns: &[&str], key: &str| -> oci_spec::runtime::Spec {
        let ns: Vec<_> = ns.iter().map(|t| serde_json::json!({"type": t})).collect();
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {"namespaces": ns, "sysctl": {key: "1"}},
        }))
        .unwrap()
    };
    for (key, ns, why) in [
        (
            "kernel.msgmax",
            "ipc",
            "is not allowed in the hosts ipc namespace",
        ),
        (
            "fs.mqueue.msg_max",
            "ipc",
            "is not allowed in the hosts ipc namespace",
        ),
        (
            "kernel.shm_rmid_forced",
            "ipc",
            "is not allowed in the hosts ipc namespace",
        ),
        (
            "net.ipv4.ip_forward",
            "network",
            "not allowed in host network namespace",
        ),
        (
            "kernel.domainname",
            "uts",
            "is not in a separate kernel namespace",
        ),
    ] {
        let e = masked::check_sysctl_namespace(&spec(&["mount"], key), key).unwrap_err();
        assert!(e.to_string().contains(why), "{key}: {e}");
        masked::check_sysctl_namespace(&spec(&["mount", ns], key), key).unwrap();
    }
    // Not a namespace's at all, or the spec's hostname field's.
    let all = ["mount", "ipc", "network", "uts", "pid"];
    for (key, why) in [
        ("vm.swappiness", "is not in a separate kernel namespace"),
        (
            "kernel.hostname",
            "conflicts with the OCI \"hostname\" field",
        ),
    ] {
        let e = masked::check_sysctl_namespace(&spec(&all, key), key).unwrap_err();
        assert!(e.to_string().contains(why), "{key}: {e}");
    }
}

#[test]
fn options_split_into_flags_propagation_and_data() {
    let o = parse_mount_options(&[
        "nosuid",
        "strictatime",
        "mode=755",
        "size=65536k",
        "rbind",
        "rslave",
        "ro",
        "rw",
        "noexec",
    ]);
    assert_eq!(
        o.flags,
        MsFlags::MS_NOSUID
            | MsFlags::MS_STRICTATIME
            | MsFlags::MS_BIND
            | MsFlags::MS_REC
            | MsFlags::MS_NOEXEC
    );
    assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    assert_eq!(o.data, "mode=755,size=65536k");
    let o = parse_mount_options(&["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
    assert_eq!(o.flags, MsFlags::empty());
    assert_eq!(o.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
}

#[test]
fn destinations_are_cleaned_lexically() {
    let c = clean_components(Path::new("/../dev//./pts/../shm"));
    assert_eq!(c, vec![OsString::from("dev"), OsString::from("shm")]);
    assert_eq!(display(&c), Path::new("/dev/shm"));
    assert_eq!(unescape("/a\\040b"), "/a b");
}

#[test]
fn default_devices_are_runc_s() {
    let d = default_devices();
    let names: Vec<_> = d.iter().map(|d| d.path().display().to_string()).collect();
    assert_eq!(
        names,
        [
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/random",
            "/dev/urandom",
            "/dev/tty"
        ]
    );
    assert_eq!((d[0].major(), d[0].minor()), (1, 3));
    assert_eq!(d[5].file_mode(), Some(0o666));
}

// ---- the harness ----------------------------------------------------------------------

/// Mount points (with their file system type) in the test process's mount table.
fn mount_lines() -> Vec<(PathBuf, String, String)> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            Some((
                PathBuf::from(unescape(f[4])),
                f.get(sep + 1)?.to_string(),
                f[5].to_string(),
            ))
        })
        .collect()
}

/// The host mounts a broken set-up could touch: the well-known ones, and any under `dir`.
fn watched(dir: &Path) -> BTreeMap<String, usize> {
    let well_known = [
        "/",
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
        "/etc",
    ];
    let mut out = BTreeMap::new();
    for (mp, fstype, opts) in mount_lines() {
        if well_known.iter().any(|w| mp == Path::new(w))
            || mp.starts_with(dir)
            || mp.starts_with("/proc/")
            || mp.starts_with("/sys/fs/cgroup/")
        {
            *out.entry(format!("{} {fstype} {opts}", mp.display()))
                .or_default() += 1;
        }
    }
    out
}

/// A tiny rootfs: busybox, a few directories, a marker file; `hostile` plants symlinks.
fn make_rootfs(hostile: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for d in ["bin", "etc", "tmp", "usr/bin", "run"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    std::fs::write(r.join(MARKER), "yes\n").unwrap();
    std::fs::write(r.join("etc/hosts"), "127.0.0.1 localhost\n").unwrap();
    for (name, target) in hostile {
        std::os::unix::fs::symlink(target, r.join(name)).unwrap();
    }
    dir
}

/// Re-runs test `name` in a child with the rootfs in the environment; the host's mount
/// table must be the same afterwards.
fn run_child(name: &str, rootfs: &Path) {
    let before = watched(rootfs);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(DIR, rootfs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("--- child stdout:\n{stdout}\n--- child stderr:\n{stderr}");
    assert!(out.status.success(), "the child failed: {:?}", out.status);
    assert!(stdout.contains("1 passed"), "the child ran no test");
    assert_eq!(before, watched(rootfs), "the host's mount table changed");
    assert!(
        !mount_lines()
            .iter()
            .any(|(mp, _, _)| mp.starts_with(rootfs)),
        "a mount is left under the rootfs on the host"
    );
}

/// In the child: a new pid namespace, and a forked pid 1 with new mount and UTS namespaces
/// that runs `f`; panics (fails the child's test) when `f` fails.
fn in_container(f: impl FnOnce() -> std::result::Result<(), String>) {
    use nix::sched::{unshare, CloneFlags};
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::ForkResult;

    unshare(CloneFlags::CLONE_NEWPID).expect("unshare(CLONE_NEWPID)");
    // The child only runs this test's code and leaves with _exit; the other threads of the
    // harness (if any) hold no lock the child needs (glibc's malloc is fork-safe).
    match crate::sys::fork().expect("fork") {
        ForkResult::Child => {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)
                    .map_err(|e| format!("unshare: {e}"))?;
                f()
            }));
            let code = match r {
                Ok(Ok(())) => 0,
                Ok(Err(e)) => {
                    eprintln!("container: FAILED: {e}");
                    1
                }
                Err(_) => 2,
            };
            // Leave the forked copy of the harness at once, without its atexit work.
            crate::sys::exit_now(code)
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, 0) => {}
            other => panic!("container process: {other:?}"),
        },
    }
}

fn docker_spec(extra_mounts: serde_json::Value) -> Spec {
    let mut mounts = serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
    ]);
    mounts
        .as_array_mut()
        .unwrap()
        .extend(extra_mounts.as_array().unwrap().iter().cloned());
    serde_json::from_value(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": false},
        "mounts": mounts,
        "linux": {
            // What the child makes (the sysctl is the new UTS namespace's).
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "uts"}],
            "sysctl": {"kernel.domainname": "berth-test"},
            "maskedPaths": [
                "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    }))
    .unwrap()
}

fn check(ok: bool, what: &str) -> std::result::Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what.to_string())
    }
}

// ---- Docker's default set-up ------------------------------------------------------------

#[test]
fn docker_default_mounts() {
    if !is_root() {
        eprintln!("skip: docker_default_mounts needs root");
        return;
    }
    if std::env::var_os(CHILD).is_some() {
        return in_container(docker_default_mounts_child);
    }
    let rootfs = make_rootfs(&[]);
    run_child("rootfs::tests::docker_default_mounts", rootfs.path());
}

fn docker_default_mounts_child() -> std::result::Result<(), String> {
    let rootfs = PathBuf::from(std::env::var_os(DIR).unwrap());
    let hosts = rootfs.join("host-hosts");
    std::fs::write(&hosts, "10.0.0.1 berth\n").unwrap();
    let spec = docker_spec(serde_json::json!([
        {"destination": "/etc/hosts", "type": "bind", "source": hosts,
         "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/data/deep/dir", "type": "bind", "source": "/bin",
         "options": ["bind", "nosuid"]}
    ]));
    prepare(&spec, &rootfs, || Ok(())).map_err(|e| format!("prepare: {e}"))?;
    finish(&spec).map_err(|e| format!("finish: {e}"))?;

    check(Path::new("/").join(MARKER).exists(), "/ is not the rootfs")?;
    check(
        std::env::current_dir().unwrap() == Path::new("/"),
        "cwd is not /",
    )?;
    check(std::process::id() == 1, "not pid 1")?;
    check(
        Path::new("/proc/1").exists(),
        "/proc is not this pid namespace's",
    )?;

    let mounts = mount_lines();
    for line in &mounts {
        println!(
            "container mount: {} {} {}",
            line.0.display(),
            line.1,
            line.2
        );
    }
    let find = |mp: &str| {
        mounts
            .iter()
            .rev()
            .find(|(p, _, _)| p == Path::new(mp))
            .cloned()
    };
    for (mp, fstype) in [
        ("/", ""),
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
        ("/etc/hosts", ""),
        ("/data/deep/dir", ""),
        ("/proc/keys", ""),
        ("/proc/sys", "proc"),
    ] {
        let m = find(mp).ok_or(format!("no mount at {mp}"))?;
        check(
            fstype.is_empty() || m.1 == fstype,
            &format!("{mp} is {} not {fstype}", m.1),
        )?;
    }
    // cgroup v2: the hierarchy, read-only. v1: a tmpfs left writable (as runc 1.1 leaves it)
    // holding read-only hierarchies.
    let cg = find("/sys/fs/cgroup").ok_or("no mount at /sys/fs/cgroup")?;
    let v1 = cg.1 == "tmpfs";
    check(
        cg.2.split(',').any(|o| o == "ro") != v1,
        &format!("/sys/fs/cgroup is {} {}", cg.1, cg.2),
    )?;
    if v1 {
        let memory = find("/sys/fs/cgroup/memory").ok_or("no /sys/fs/cgroup/memory")?;
        check(
            memory.2.split(',').any(|o| o == "ro"),
            "/sys/fs/cgroup/memory is not read-only",
        )?;
    }
    check(
        find("/sys").unwrap().2.split(',').any(|o| o == "ro"),
        "/sys is not ro",
    )?;
    check(
        find("/etc/hosts").unwrap().2.split(',').any(|o| o == "ro"),
        "/etc/hosts is not ro",
    )?;
    check(
        find("/data/deep/dir")
            .unwrap()
            .2
            .split(',')
            .any(|o| o == "nosuid"),
        "/data/deep/dir is not nosuid",
    )?;
    check(
        std::fs::read_to_string("/etc/hosts").unwrap() == "10.0.0.1 berth\n",
        "/etc/hosts is not the bind-mounted file",
    )?;
    check(
        Path::new("/data/deep/dir/busybox").exists(),
        "the /bin bind is empty",
    )?;
    let e = std::fs::write("/etc/hosts", "x").unwrap_err();
    check(
        e.raw_os_error() == Some(libc::EROFS),
        "/etc/hosts is writable",
    )?;

    let null = std::fs::metadata("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    check(
        null.file_type().is_char_device(),
        "/dev/null is not a char device",
    )?;
    check(
        (libc::major(null.rdev()), libc::minor(null.rdev())) == (1, 3),
        "/dev/null is not 1:3",
    )?;
    check(null.mode() & 0o777 == 0o666, "/dev/null is not 0666")?;
    for d in ["zero", "full", "random", "urandom", "tty"] {
        check(Path::new("/dev").join(d).exists(), &format!("no /dev/{d}"))?;
    }
    let link = |p: &str| std::fs::read_link(p).unwrap_or_default();
    check(link("/dev/ptmx") == Path::new("pts/ptmx"), "/dev/ptmx link")?;
    check(
        link("/dev/fd") == Path::new("/proc/self/fd"),
        "/dev/fd link",
    )?;
    check(
        link("/dev/stderr") == Path::new("/proc/self/fd/2"),
        "/dev/stderr link",
    )?;
    check(Path::new("/dev/pts/ptmx").exists(), "no /dev/pts/ptmx")?;

    let e = std::fs::write("/proc/sys/kernel/hostname", "evil").unwrap_err();
    check(
        e.raw_os_error() == Some(libc::EROFS),
        &format!("writing /proc/sys/kernel/hostname: {e}, not EROFS"),
    )?;
    check(
        std::fs::read_to_string("/proc/sys/kernel/domainname")
            .unwrap()
            .trim()
            == "berth-test",
        "the sysctl was not set",
    )?;
    // Masked files read empty (this kernel may have no /proc/kcore: then it stays absent).
    for masked in ["/proc/kcore", "/proc/keys", "/proc/timer_list"] {
        if Path::new(masked).exists() {
            check(
                std::fs::read(masked).map(|b| b.is_empty()).unwrap_or(false),
                &format!("{masked} is not empty"),
            )?;
        }
    }
    check(
        Path::new("/proc/kcore").exists() == std::fs::read_link("/dev/core").is_ok(),
        "/dev/core and /proc/kcore disagree",
    )?;
    check(
        std::fs::read_dir("/sys/firmware")
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "/sys/firmware is not masked",
    )?;
    let hierarchy = if Path::new("/sys/fs/cgroup/memory").is_dir() {
        "/sys/fs/cgroup/memory/x"
    } else {
        "/sys/fs/cgroup/x"
    };
    let e = std::fs::create_dir(hierarchy).unwrap_err();
    check(
        e.raw_os_error() == Some(libc::EROFS),
        &format!("{hierarchy} could be made"),
    )?;
    let e = std::fs::write("/sys/kernel/uevent_helper", "x").unwrap_err();
    check(e.raw_os_error() == Some(libc::EROFS), "/sys is writable")?;
    std::fs::write("/tmp/ok", "rw").map_err(|e| format!("the root is not writable: {e}"))?;

    let out = Command::new("/bin/busybox")
        .args(["ls", "/dev", "/sys/fs/cgroup"])
        .output()
        .map_err(|e| format!("run busybox: {e}"))?;
    println!("{}", String::from_utf8_lossy(&out.stdout));
    check(out.status.success(), "busybox ls failed")
}

#[test]
fn readonly_root_and_console() {
    if !is_root() {
        eprintln!("skip: readonly_root_and_console needs root");
        return;
    }
    if std::env::var_os(CHILD).is_some() {
        return in_container(readonly_root_and_console_child);
    }
    let rootfs = make_rootfs(&[]);
    run_child("rootfs::tests::readonly_root_and_console", rootfs.path());
}

fn readonly_root_and_console_child() -> std::result::Result<(), String> {
    let rootfs = PathBuf::from(std::env::var_os(DIR).unwrap());
    let mut spec = docker_spec(serde_json::json!([]));
    spec.root_mut().as_mut().unwrap().set_readonly(Some(true));
    // rshared: the rootfs's parent mount turns shared too, which pivot_root refuses unless
    // it is made private first (runc's rootfsParentMountPrivate).
    spec.linux_mut()
        .as_mut()
        .unwrap()
        .set_rootfs_propagation(Some("rshared".to_string()));
    prepare(&spec, &rootfs, || Ok(())).map_err(|e| format!("prepare: {e}"))?;
    // As runc: the console is a pty of the container's own devpts instance.
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    let master = posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)
        .map_err(|e| format!("open /dev/ptmx: {e}"))?;
    grantpt(&master)
        .and_then(|_| unlockpt(&master))
        .map_err(|e| format!("pty: {e}"))?;
    let slave = PathBuf::from(ptsname_r(&master).map_err(|e| format!("ptsname: {e}"))?);
    check(slave.starts_with("/dev/pts"), "the pty is not in /dev/pts")?;
    bind_console(&slave).map_err(|e| format!("bind_console: {e}"))?;
    finish(&spec).map_err(|e| format!("finish: {e}"))?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    check(
        info.lines()
            .any(|l| l.split(' ').nth(4) == Some("/") && l.contains(" shared:")),
        "the container's / is not shared",
    )?;
    let e = std::fs::write("/tmp/x", "x").unwrap_err();
    check(
        e.raw_os_error() == Some(libc::EROFS),
        "the root is writable",
    )?;
    std::fs::write("/dev/shm/x", "x").map_err(|e| format!("/dev/shm is not writable: {e}"))?;
    let console = std::fs::metadata("/dev/console").map_err(|e| format!("/dev/console: {e}"))?;
    let pts = std::fs::metadata(&slave).map_err(|e| format!("{}: {e}", slave.display()))?;
    println!("console bound from {}", slave.display());
    check(
        console.file_type().is_char_device() && console.rdev() == pts.rdev(),
        "/dev/console is not the pty slave",
    )
}

// ---- hostile images ---------------------------------------------------------------------

/// In the child: mount everything (no pivot_root) and check that every new mount is under
/// the rootfs; the set-up may fail, with a clear error, but never mount elsewhere.
fn hostile_child(expect_ok: bool) -> std::result::Result<(), String> {
    let rootfs = std::fs::canonicalize(std::env::var_os(DIR).unwrap()).unwrap();
    let spec = docker_spec(serde_json::json!([]));
    let before = mount_lines();
    let r = mount_rootfs(&spec, &rootfs);
    let after = mount_lines();
    match &r {
        Ok(()) => println!("hostile image: set up"),
        Err(e) => println!("hostile image: refused: {e}"),
    }
    let mut left = before.clone();
    for m in &after {
        if let Some(i) = left.iter().position(|b| b == m) {
            left.remove(i);
            continue;
        }
        println!("new mount: {} {} {}", m.0.display(), m.1, m.2);
        check(
            m.0.starts_with(&rootfs),
            &format!("{} was mounted outside the rootfs", m.0.display()),
        )?;
    }
    // The host's own /proc, /dev and /sys in this namespace are as they were.
    for p in ["/proc", "/dev", "/sys"] {
        let count =
            |v: &[(PathBuf, String, String)]| v.iter().filter(|m| m.0 == Path::new(p)).count();
        check(count(&before) == count(&after), &format!("{p} got a mount"))?;
    }
    if r.is_err() {
        return check(!expect_ok, "the set-up failed");
    }
    check(expect_ok, "the hostile image was set up")?;
    // Set up: the mounts landed inside, and pivot_root still works.
    check(
        after
            .iter()
            .any(|m| m.0.starts_with(&rootfs) && m.1 == "proc"),
        "no proc under the rootfs",
    )?;
    pivot(&rootfs).map_err(|e| format!("pivot: {e}"))?;
    check(Path::new("/").join(MARKER).exists(), "/ is not the rootfs")
}

fn hostile(name: &str, links: &[(&str, &str)], expect_ok: bool) {
    if !is_root() {
        eprintln!("skip: {name} needs root");
        return;
    }
    if std::env::var_os(CHILD).is_some() {
        return in_container(|| hostile_child(expect_ok));
    }
    let rootfs = make_rootfs(links);
    run_child(&format!("rootfs::tests::{name}"), rootfs.path());
    // Nothing was created outside the rootfs through the links either.
    assert!(!Path::new("/pts").exists() && !Path::new("/mqueue").exists());
}

#[test]
fn hostile_proc_link_to_host_proc() {
    hostile(
        "hostile_proc_link_to_host_proc",
        &[("proc", "/proc")],
        false,
    );
}

#[test]
fn hostile_dev_link_to_parent() {
    hostile("hostile_dev_link_to_parent", &[("dev", "..")], false);
}

#[test]
fn hostile_dev_link_to_host_dev() {
    hostile("hostile_dev_link_to_host_dev", &[("dev", "/dev")], false);
}

#[test]
fn hostile_sys_link_to_host_sys() {
    hostile("hostile_sys_link_to_host_sys", &[("sys", "/sys")], false);
}

#[test]
fn hostile_links_to_other_host_paths() {
    // proc -> /etc and sys -> ../../../run: resolved in the root, these are the image's own
    // /etc and /run, so the set-up succeeds with the mounts there.
    hostile(
        "hostile_links_to_other_host_paths",
        &[("proc", "/etc"), ("sys", "../../../run"), ("tmp/x", "/dev")],
        true,
    );
}

#[test]
fn hostile_dangling_link_to_host_path() {
    // dev -> /berth-no-such-dir would be created on the host by a path-joining runtime.
    hostile(
        "hostile_dangling_link_to_host_path",
        &[("dev", "/berth-no-such-dir")],
        false,
    );
    assert!(!Path::new("/berth-no-such-dir").exists());
}
