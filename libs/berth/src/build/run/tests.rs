use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::process::Command;
use std::sync::OnceLock;

use oci_spec::image::RootFs;

use super::*;
use crate::digest::Digest;
use crate::image::{self, ImageConfig, Platform};

// ---------------------------------------------------------------------------------------------
// --mount parsing, as BuildKit's parseMount and validateMount

#[test]
fn mount_defaults_are_buildkits() {
    let m = parse_mount("target=/src").unwrap();
    assert_eq!(m.kind, MountType::Bind);
    assert!(m.readonly, "a bind is read-only unless rw");
    let m = parse_mount("type=bind,target=/src,rw").unwrap();
    assert!(!m.readonly);
    let m = parse_mount("type=bind,dst=/src,readwrite=true,from=build,src=/out").unwrap();
    assert!(!m.readonly);
    assert_eq!((m.from.as_str(), m.source.as_str()), ("build", "/out"));
    let m = parse_mount("type=cache,target=/root/.cache").unwrap();
    assert!(!m.readonly, "a cache is read-write");
    assert_eq!(m.cache_id(), "/root/.cache");
    assert_eq!(m.sharing, None);
    let m = parse_mount("type=cache,id=go,target=/c,sharing=LOCKED,mode=0700,uid=1000,gid=50,ro")
        .unwrap();
    assert_eq!(m.cache_id(), "go");
    assert_eq!(m.sharing, Some(Sharing::Locked));
    assert_eq!((m.mode, m.uid, m.gid), (Some(0o700), Some(1000), Some(50)));
    assert!(m.readonly);
    let m = parse_mount("type=tmpfs,target=/t,size=64m").unwrap();
    assert_eq!(m.size, Some(64 << 20));
    assert!(!m.readonly);
    let m = parse_mount("TYPE=secret,ID=tok").unwrap();
    assert_eq!(m.secret_id(), "tok");
    assert_eq!(m.secret_target(), "/run/secrets/tok");
    assert!(m.readonly && !m.required);
    let m = parse_mount("type=secret,target=/etc/key.pem,required").unwrap();
    assert_eq!(m.secret_id(), "key.pem");
    assert_eq!(m.secret_target(), "/etc/key.pem");
    assert!(m.required);
    let m = parse_mount("type=secret,src=aws,required=false,mode=0440").unwrap();
    assert_eq!((m.secret_id().as_str(), m.mode), ("aws", Some(0o440)));
    // CSV: a quoted field may hold a comma.
    let m = parse_mount("type=bind,\"source=a,b\",target=/x").unwrap();
    assert_eq!(m.source, "a,b");
}

#[test]
fn bad_mounts_are_refused_naming_the_field() {
    for (flag, want) in [
        ("type=nfs,target=/x", "unsupported mount type \"nfs\""),
        ("type=ssh", "type=ssh is not supported"),
        (
            "type=bind,target=/x,mode=0755",
            "mode not allowed for \"bind\" type mounts",
        ),
        (
            "type=tmpfs,target=/x,uid=1",
            "uid not allowed for \"tmpfs\" type mounts",
        ),
        (
            "type=bind,target=/x,required",
            "unexpected key 'required' for mount type 'bind'",
        ),
        (
            "type=cache,target=/x,size=1m",
            "unexpected key 'size' for mount type 'cache'",
        ),
        (
            "type=cache,target=/x,sharing=maybe",
            "unsupported sharing value \"maybe\"",
        ),
        (
            "type=bind,target=/x,sharing=locked",
            "invalid cache sharing set for bind mount",
        ),
        (
            "type=secret,id=a,from=x",
            "secret mount should not have a from",
        ),
        (
            "type=secret,id=a,sharing=shared",
            "secret mount should not define sharing",
        ),
        ("type=secret", "one of source, target required"),
        ("type=secret,src=a,id=b", "both source and id can't be set"),
        (
            "type=bind,target=/x,ro=maybe",
            "invalid value for ro: maybe",
        ),
        ("type=cache,target=/x,mode=9", "invalid value 9 for mode"),
        (
            "type=bind,target=/x,bogus=1",
            "unexpected key 'bogus' in 'bogus=1'",
        ),
        (
            "type=bind,target=/x,bogus",
            "invalid field 'bogus' must be a key=value pair",
        ),
        (
            "type=bind,from=$STAGE,target=/x",
            "doesn't support variable expansion",
        ),
        ("type=cache", "a target is required"),
        ("type=bind,\"target=/x", "a quote is not closed"),
    ] {
        let e = parse_mount(flag).unwrap_err().to_string();
        assert!(e.contains(want), "{flag}: {e}");
        assert!(e.starts_with(&format!("--mount={flag}")), "{flag}: {e}");
    }
}

#[test]
fn targets_are_absolute_under_the_workdir() {
    assert_eq!(absolute_target("/a/../b/", "").unwrap(), Path::new("/b"));
    assert_eq!(
        absolute_target("cache", "/src").unwrap(),
        Path::new("/src/cache")
    );
    assert_eq!(absolute_target("../../x", "/src").unwrap(), Path::new("/x"));
    assert!(absolute_target("/", "").is_err());
    assert!(absolute_target(".", "").is_err());
}

// ---------------------------------------------------------------------------------------------
// Mount stubs and mtime clamps, on directories

#[test]
fn mount_stubs_the_image_lacks_are_left_out() {
    let t = tempfile::tempdir().unwrap();
    let (up, low) = (t.path().join("u"), t.path().join("l"));
    for d in ["root", "etc", "srv"] {
        fs::create_dir_all(low.join(d)).unwrap();
    }
    // A cache under /root (in the image): /root/.cache and the target were made for it.
    fs::create_dir_all(up.join("root/.cache/go-build")).unwrap();
    // A secret: /run/secrets/tok, an empty file, /run was not in the image.
    fs::create_dir_all(up.join("run/secrets")).unwrap();
    fs::write(up.join("run/secrets/tok"), "").unwrap();
    // A bind target the command wrote beside: the target goes, its parent stays.
    fs::create_dir_all(up.join("srv/ctx")).unwrap();
    fs::write(up.join("srv/note"), "n").unwrap();
    // A target with content written under it after the mount is not a stub.
    fs::create_dir_all(up.join("data/cache")).unwrap();
    fs::write(up.join("data/cache/f"), "x").unwrap();
    fs::create_dir_all(up.join("etc")).unwrap();
    fs::write(up.join("etc/hosts"), "").unwrap();
    let extra = [
        PathBuf::from("/root/.cache/go-build"),
        PathBuf::from("/run/secrets/tok"),
        PathBuf::from("/srv/ctx"),
        PathBuf::from("/data/cache"),
    ];
    let skip = runtime_made_with(&up, std::slice::from_ref(&low), &extra);
    let mut got: Vec<String> = skip.iter().map(|p| p.display().to_string()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "etc",
            "etc/hosts",
            "root",
            "root/.cache",
            "root/.cache/go-build",
            "run",
            "run/secrets",
            "run/secrets/tok",
            "srv/ctx"
        ]
    );
    let mut tar = Vec::new();
    diff::write_tar_skipping(&up, &mut tar, &skip).unwrap();
    let names = tar_names(&tar);
    assert_eq!(
        names,
        ["data/", "data/cache/", "data/cache/f", "srv/", "srv/note"]
    );
}

#[test]
fn bind_sources_must_be_resolved_paths() {
    let t = tempfile::tempdir().unwrap();
    let real = t.path().canonicalize().unwrap();
    fs::create_dir(real.join("ctx")).unwrap();
    symlink("/etc", real.join("ctx/out")).unwrap();
    assert!(check_resolved(&real.join("ctx")).is_ok());
    let e = check_resolved(&real.join("ctx/out"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a resolved path (it leads to /etc)"), "{e}");
    assert!(check_resolved(Path::new("relative")).is_err());
}

#[test]
fn mtimes_are_clamped_when_asked() {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("new"), "n").unwrap();
    fs::write(t.path().join("old"), "o").unwrap();
    let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(500);
    File::options()
        .write(true)
        .open(t.path().join("old"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let mut tar = Vec::new();
    diff::write_tar_clamped(t.path(), &mut tar, &HashSet::new(), Some(1000)).unwrap();
    let mut a = tar::Archive::new(&tar[..]);
    let times: Vec<(String, u64)> = a
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.header().mtime().unwrap(),
            )
        })
        .collect();
    assert_eq!(times, [("new".to_string(), 1000), ("old".to_string(), 500)]);
    let mut plain = Vec::new();
    diff::write_tar_clamped(t.path(), &mut plain, &HashSet::new(), None).unwrap();
    assert_ne!(plain, tar);
}

#[test]
fn cache_directories_are_shared_locked_or_private() {
    let t = tempfile::tempdir().unwrap();
    let root = Root::new(Some(t.path().to_path_buf()));
    let (a, la) = cache_dir(&root, "go", Sharing::Shared, (0o750, 0, 0)).unwrap();
    let (b, lb) = cache_dir(&root, "go", Sharing::Shared, (0o700, 0, 0)).unwrap();
    assert_eq!(a, b, "shared users get the same directory");
    assert_eq!(
        fs::metadata(&a).unwrap().permissions().mode() & 0o7777,
        0o750,
        "the mode applies when it is made"
    );
    assert!(a.starts_with(t.path().join("build/cache-mounts")));
    let (p, lp) = cache_dir(&root, "go", Sharing::Private, (0o755, 0, 0)).unwrap();
    assert_ne!(p, a, "a private user of a directory in use gets another");
    drop((la, lb));
    let (p2, _lp2) = cache_dir(&root, "go", Sharing::Private, (0o755, 0, 0)).unwrap();
    assert_eq!(p2, a, "and the first one once it is free");
    drop(lp);
    // A locked user waits for a shared one.
    let (_, shared) = cache_dir(&root, "x", Sharing::Shared, (0o755, 0, 0)).unwrap();
    let r = root.clone();
    let waiter = std::thread::spawn(move || {
        let t0 = Instant::now();
        let _l = cache_dir(&r, "x", Sharing::Locked, (0o755, 0, 0)).unwrap();
        t0.elapsed()
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(shared);
    assert!(waiter.join().unwrap() >= std::time::Duration::from_millis(150));
}

fn tar_names(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Real steps: root, and the multicall binary (`cargo build -p berth-multicall`) as the monitor.

/// The built multicall binary, set as the monitor; None (skip) when not root or not built.
fn monitor() -> Option<()> {
    static FOUND: OnceLock<bool> = OnceLock::new();
    let ok = *FOUND.get_or_init(|| {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: RUN steps need root");
            return false;
        }
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/berth");
        if !bin.exists() {
            eprintln!("skipped: build the monitor first: cargo build -p berth-multicall");
            return false;
        }
        if Path::new("/bin/busybox").exists() || Path::new("/usr/bin/busybox").exists() {
            // The multicall binary runs as the monitor under that name.
            let dir = std::env::temp_dir().join(format!("berth-run-tests-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            let link = dir.join("berth-monitor");
            let _ = fs::remove_file(&link);
            symlink(bin.canonicalize().unwrap(), &link).unwrap();
            std::env::set_var("BERTH_MONITOR", link);
            true
        } else {
            eprintln!("skipped: apt-get install busybox-static");
            false
        }
    });
    ok.then_some(())
}

/// A root with a busybox image (one layer: /bin/busybox, its applets, /etc/passwd, /root, /tmp).
fn busybox_root() -> (tempfile::TempDir, Root, Layout, Image) {
    busybox_root_with(|_| {})
}

/// [`busybox_root`], its config changed by `f`.
fn busybox_root_with(
    f: impl FnOnce(&mut crate::config::Config),
) -> (tempfile::TempDir, Root, Layout, Image) {
    let t = tempfile::tempdir().unwrap();
    let root = Root::new(Some(t.path().join("root")));
    let layout = root.images().unwrap();
    let fs_dir = t.path().join("rootfs");
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        fs::create_dir_all(fs_dir.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap();
    fs::copy(bb, fs_dir.join("bin/busybox")).unwrap();
    fs::set_permissions(fs_dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    let list = Command::new(bb).arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if !a.is_empty() && a != "busybox" {
            let _ = symlink("busybox", fs_dir.join("bin").join(a));
        }
    }
    fs::write(
        fs_dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(fs_dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    let layer = diff::store_upper(&layout, &fs_dir, &HashSet::new(), Codec::Gzip, None).unwrap();
    let p = Platform::host();
    let mut config = ImageConfig {
        architecture: p.architecture,
        os: p.os,
        rootfs: Some(RootFs::default()),
        ..ImageConfig::default()
    };
    config.push_diff_id(&layer.diff_id);
    config.run_config_mut().env = Some(Some(vec![crate::bundle::DEFAULT_PATH.to_string()]));
    f(config.run_config_mut());
    let (desc, _) = image::write_image(&layout, &config, vec![layer.descriptor.clone()]).unwrap();
    let img = Image::load(&layout, &desc, None).unwrap();
    (t, root, layout, img)
}

fn op<'a>(
    root: &'a Root,
    layout: &'a Layout,
    image: &'a Image,
    script: &str,
    output: &'a mut (dyn Write + Send),
) -> RunOp<'a> {
    RunOp {
        root,
        layout,
        image,
        argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
        env: vec![
            crate::bundle::DEFAULT_PATH.to_string(),
            "ARG1=from-arg".into(),
        ],
        user: String::new(),
        workdir: String::new(),
        network: "none".into(),
        mounts: Vec::new(),
        stdin: None,
        output,
        mtime_clamp: None,
        codec: Codec::Gzip,
        keep_failed: true,
        description: "Dockerfile:1 RUN test".into(),
    }
}

/// The entries of a stored layer: (path, content of regular files).
fn layer_entries(layout: &Layout, layer: &NewLayer) -> Vec<(String, Vec<u8>)> {
    let d = Digest::try_from(layer.descriptor.digest()).unwrap();
    let f = File::open(layout.blob_path(&d)).unwrap();
    let plain = crate::layer::decompress(f, "layer").unwrap();
    let mut a = tar::Archive::new(plain);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let p = e.path().unwrap().display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (p, data)
        })
        .collect()
}

fn containers(root: &Root) -> Vec<crate::container::Container> {
    Containers::open(root.containers_dir())
        .unwrap()
        .list()
        .unwrap()
}

#[test]
fn a_step_that_changes_nothing_has_no_layer_and_leaves_nothing() {
    let Some(()) = monitor() else { return };
    let (_t, root, layout, img) = busybox_root();
    let mut out = Vec::new();
    // The first run makes the snapshot; the next ones are what a step costs.
    let mut times = Vec::new();
    for _ in 0..4 {
        let r = run(op(&root, &layout, &img, "true", &mut out)).unwrap();
        assert!(r.layer.is_none());
        times.push(r.seconds);
    }
    eprintln!("RUN true, busybox, --network none: {times:.3?} s");
    assert!(
        containers(&root).is_empty(),
        "the step's container is removed"
    );
    let left: Vec<_> = fs::read_dir(root.dir().join("build"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "no scratch directory is left: {left:?}");
}

#[test]
fn a_step_streams_its_output_and_its_changes_become_the_layer() {
    let Some(()) = monitor() else { return };
    let (t, root, layout, img) = busybox_root();
    let secret = t.path().join("token");
    fs::write(&secret, "s3cr3t-value-4711").unwrap();
    let ctx = t.path().join("ctx");
    fs::create_dir_all(ctx.join("sub")).unwrap();
    fs::write(ctx.join("sub/in.txt"), "context file").unwrap();
    let mut out = Vec::new();
    let script = "echo to-stdout; echo to-stderr >&2; \
        cat /run/secrets/tok > /dev/null || exit 9; \
        mkdir -p /out; cat /run/secrets/tok | wc -c > /out/len; \
        cp /ctx/sub/in.txt /out/ && echo scribble > /ctx/sub/in.txt || exit 8; \
        echo kept > /root/.cache/tool/c; echo gone > /scratch/t; \
        cat > /out/stdin; echo $ARG1 > /out/arg; id -u > /out/uid; pwd > /out/pwd";
    let mut o = op(&root, &layout, &img, script, &mut out);
    o.workdir = "/work/dir".into();
    o.stdin = Some(b"fed on stdin\n".to_vec());
    o.mounts = vec![
        Mount::Secret {
            target: "/run/secrets/tok".into(),
            src: secret.clone(),
            mode: 0o400,
            uid: 0,
            gid: 0,
        },
        Mount::Cache {
            target: "/root/.cache/tool".into(),
            id: "tool".into(),
            sharing: Sharing::Locked,
            readonly: false,
            mode: 0o755,
            uid: 0,
            gid: 0,
        },
        Mount::Bind {
            target: "/ctx".into(),
            source: ctx.clone(),
            readwrite: true,
        },
        Mount::Tmpfs {
            target: "/scratch".into(),
            size: Some(1 << 20),
        },
    ];
    let r = run(o).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        text.contains("to-stdout") && text.contains("to-stderr"),
        "{text}"
    );
    let layer = r.layer.expect("a layer");
    let entries = layer_entries(&layout, &layer);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "out/",
            "out/arg",
            "out/in.txt",
            "out/len",
            "out/pwd",
            "out/stdin",
            "out/uid",
            "work/",
            "work/dir/"
        ],
        "only the command's changes: no mount point, no secret"
    );
    let file =
        |n: &str| String::from_utf8(entries.iter().find(|e| e.0 == n).unwrap().1.clone()).unwrap();
    assert_eq!(file("out/len").trim(), "17");
    assert_eq!(file("out/in.txt"), "context file");
    assert_eq!(file("out/stdin"), "fed on stdin\n");
    assert_eq!(file("out/arg"), "from-arg\n");
    assert_eq!(file("out/uid"), "0\n");
    assert_eq!(file("out/pwd"), "/work/dir\n");
    for (name, data) in &entries {
        assert!(
            !data.windows(17).any(|w| w == b"s3cr3t-value-4711"),
            "{name} holds the secret"
        );
    }
    // The context is untouched; the cache keeps what the step wrote.
    assert_eq!(
        fs::read_to_string(ctx.join("sub/in.txt")).unwrap(),
        "context file"
    );
    let (cache, _) = cache_paths(&root, "tool", 0);
    assert_eq!(fs::read_to_string(cache.join("c")).unwrap(), "kept\n");
    assert!(containers(&root).is_empty());
    // The secret's copy (in memory, /dev/shm) is gone.
    if let Ok(d) = fs::read_dir("/dev/shm") {
        let left: Vec<_> = d
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("berth-secrets-")
            })
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn a_failed_step_keeps_its_container_running_a_shell() {
    let Some(()) = monitor() else { return };
    let (_t, root, layout, img) = busybox_root();
    let mut out = Vec::new();
    let e = run(op(
        &root,
        &layout,
        &img,
        "echo half > /half; exit 3",
        &mut out,
    ))
    .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::RunFailed { code: 3, .. }), "{msg}");
    assert!(msg.contains("exit code 3"), "{msg}");
    let list = containers(&root);
    assert_eq!(list.len(), 1);
    let c = lifecycle::refresh(list[0].clone());
    let short = &c.id[..12];
    assert!(msg.contains(&format!("ctr-exec -it {short} sh")), "{msg}");
    assert_eq!(c.state.status, Status::Running, "{msg}");
    assert_eq!(c.path, "/bin/sh");
    let upper = PathBuf::from(rootfs::upper(&c).unwrap());
    assert_eq!(fs::read_to_string(upper.join("half")).unwrap(), "half\n");
    // What `ctr-exec ID sh` gets: the failed step's file system.
    let opts = crate::container::exec::ExecOptions {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "test \"$(cat /half)\" = half".into(),
        ],
        ..Default::default()
    };
    assert_eq!(
        crate::container::exec::exec(&root, short, &opts).unwrap(),
        0
    );
    lifecycle::rm(&root, &c.id, true).unwrap();
    assert!(containers(&root).is_empty());

    // Without a shell it stays, stopped.
    let mut o = op(&root, &layout, &img, "", &mut out);
    o.argv = vec![
        "/bin/busybox".into(),
        "sh".into(),
        "-c".into(),
        "rm /bin/sh; exit 1".into(),
    ];
    let msg = run(o).unwrap_err().to_string();
    assert!(msg.contains("no /bin/sh"), "{msg}");
    let list = containers(&root);
    assert_eq!(list.len(), 1);
    let c = lifecycle::refresh(list[0].clone());
    assert_eq!(c.state.status, Status::Exited);
    lifecycle::rm(&root, &c.id, false).unwrap();

    // --force-rm: nothing kept; a command not found is exit code 127.
    let mut o = op(&root, &layout, &img, "", &mut out);
    o.argv = vec!["/no/such/command".into()];
    o.keep_failed = false;
    let e = run(o).unwrap_err();
    assert!(matches!(e, Error::RunFailed { code: 127, .. }), "{e}");
    assert!(containers(&root).is_empty());
}

#[test]
fn clamped_layers_are_the_same_twice() {
    let Some(()) = monitor() else { return };
    let (_t, root, layout, img) = busybox_root();
    let mut out = Vec::new();
    let mut digests = Vec::new();
    for _ in 0..2 {
        let mut o = op(&root, &layout, &img, "echo same > /f; mkdir /d", &mut out);
        o.mtime_clamp = Some(1_000_000);
        let r = run(o).unwrap();
        digests.push(r.layer.unwrap().diff_id);
    }
    assert_eq!(digests[0], digests[1]);
}

/// Measures steps on berth's bridge (ignored: it sets up the host's bridge and NAT rules).
#[test]
#[ignore]
fn bridge_network_steps_cost() {
    let Some(()) = monitor() else { return };
    let (_t, root, layout, img) = busybox_root();
    let mut out = Vec::new();
    let mut times = Vec::new();
    for _ in 0..3 {
        let mut o = op(
            &root,
            &layout,
            &img,
            "ip -o addr show eth0 | grep -q inet",
            &mut out,
        );
        o.network = "bridge".into();
        match run(o) {
            Ok(r) => times.push(r.seconds),
            Err(e) => {
                eprintln!(
                    "skipped: no bridge here: {e}: {}",
                    String::from_utf8_lossy(&out)
                );
                return;
            }
        }
    }
    eprintln!("RUN on the bridge, busybox: {times:.3?} s");
}

#[test]
fn a_step_runs_as_its_user_on_its_network() {
    let Some(()) = monitor() else { return };
    let (_t, root, layout, img) = busybox_root();
    let mut out = Vec::new();
    let mut o = op(
        &root,
        &layout,
        &img,
        "id -u > /tmp/uid; pwd > /tmp/pwd",
        &mut out,
    );
    o.user = "nobody".into();
    o.workdir = "/tmp".into();
    let layer = run(o).unwrap().layer.unwrap();
    let entries = layer_entries(&layout, &layer);
    let file = |n: &str| entries.iter().find(|e| e.0 == n).map(|e| e.1.clone());
    assert_eq!(file("tmp/uid").unwrap(), b"65534\n");
    assert_eq!(file("tmp/pwd").unwrap(), b"/tmp\n");
    // none: only lo; host: the host's interfaces.
    let host_ifaces = fs::read_to_string("/proc/net/dev").unwrap().lines().count();
    for (net, script) in [
        ("none", "test $(wc -l < /proc/net/dev) = 3".to_string()),
        (
            "host",
            format!("test $(wc -l < /proc/net/dev) = {host_ifaces}"),
        ),
    ] {
        let mut o = op(&root, &layout, &img, &script, &mut out);
        o.network = net.into();
        let r = run(o);
        assert!(r.is_ok(), "--network {net}: {:?}", r.err());
    }
    let mut o = op(&root, &layout, &img, "true", &mut out);
    o.network = "overlay".into();
    let e = run(o).unwrap_err().to_string();
    assert!(
        e.contains("RUN --network=overlay: use default, none or host"),
        "{e}"
    );
    assert!(containers(&root).is_empty());
}

#[test]
fn writes_to_an_image_volume_are_thrown_away_as_docker_legacy_does() {
    let Some(()) = monitor() else { return };
    let (_t, root, layout, img) = busybox_root_with(|c| {
        let mut v = crate::config::Set::new();
        v.insert("/data".into(), crate::config::Empty {});
        c.volumes = Some(Some(v));
    });
    let mut out = Vec::new();
    let r = run(op(
        &root,
        &layout,
        &img,
        "echo x > /data/f; echo y > /keep",
        &mut out,
    ))
    .unwrap();
    let entries = layer_entries(&layout, &r.layer.unwrap());
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    // The mount point is made in the container's layer, as Docker's daemon makes it.
    assert_eq!(names, ["data/", "keep"]);
    let vols = crate::volume::Volumes::open(&root).unwrap().list().unwrap();
    assert!(vols.is_empty(), "the step's anonymous volume goes with it");
}

#[test]
fn a_step_writing_fifty_files_costs() {
    let Some(()) = monitor() else { return };
    let (_t, root, layout, img) = busybox_root();
    let mut out = Vec::new();
    let mut times = Vec::new();
    for _ in 0..4 {
        let script = "mkdir /gen; for i in $(seq 50); do echo file $i > /gen/f$i; done";
        let r = run(op(&root, &layout, &img, script, &mut out)).unwrap();
        let entries = layer_entries(&layout, r.layer.as_ref().unwrap());
        assert_eq!(entries.len(), 51);
        times.push(r.seconds);
    }
    eprintln!("RUN writing 50 files, busybox, --network none: {times:.3?} s");
}
