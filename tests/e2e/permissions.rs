//! The store is private to its owner (issue 13, item 1; the CVE-2021-41091 class): another local
//! user cannot enter berth's root, so cannot run a snapshot's setuid binary, open a device node a
//! layer made with its own mode, or read a container's environment from its config. Checked as
//! `nobody`, with the root's parent open to everyone so that only berth's own modes stand between.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::containers::timed;
use crate::support::{busybox_rootfs, run, Env, Out};

const NOBODY: u32 = 65534;

/// `argv` run as nobody (uid and gid 65534, no supplementary groups). setpriv keeps root's
/// capabilities until its own exec, so the exec of `argv` is left to a shell that has none.
fn as_nobody(argv: &[&str]) -> Out {
    run(Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
            "/bin/sh",
            "-c",
            r#"exec "$@""#,
            "sh",
        ])
        .args(argv))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o7777
}

/// An image whose layer holds a setuid-root copy of the host's `id` (busybox drops setuid) and a
/// device node anyone may open.
fn import_hostile(env: &Env) {
    let dir = env.path("rootfs");
    busybox_rootfs(&dir);
    std::fs::copy("/usr/bin/id", dir.join("bin/suid")).unwrap();
    std::fs::set_permissions(
        dir.join("bin/suid"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    let node = dir.join("dev/open-to-all");
    assert!(Command::new("mknod")
        .args([node.to_str().unwrap(), "c", "1", "3"])
        .status()
        .unwrap()
        .success());
    std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o666)).unwrap();
    let tarball = env.path("hostile.tar");
    assert!(Command::new("tar")
        .args([
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            tarball.to_str().unwrap(),
            "."
        ])
        .status()
        .unwrap()
        .success());
    env.run("img-import", &[tarball.to_str().unwrap(), "hostile:1"])
        .ok();
}

#[test]
fn the_store_is_closed_to_other_users() {
    require_root!();
    require_program!("setpriv");
    let env = Env::new();
    // Everyone may reach the root's parent: only the store's own modes keep nobody out.
    std::fs::set_permissions(env.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    import_hostile(&env);
    let out = timed(
        env.cmd("ctr-run").args([
            "-d",
            "--name",
            "db",
            "-e",
            "DB_PASSWORD=s3cret",
            "hostile:1",
            "sleep",
            "60",
        ]),
        60,
    )
    .ok();
    let id = out.json()["id"].as_str().unwrap().to_string();
    let cdir = env.root.join("containers").join(&id);

    // Docker's modes: directories 0710, configs and records 0600, the log 0640.
    for d in [
        &env.root,
        &env.root.join("containers"),
        &env.root.join("snapshots"),
    ] {
        assert_eq!(mode(d), 0o710, "{}", d.display());
    }
    assert_eq!(mode(&cdir.join("config.json")), 0o600);
    assert_eq!(mode(&cdir.join("state.json")), 0o600);
    assert_eq!(mode(&cdir.join(format!("{id}-json.log"))), 0o640);
    // What the container needs to read as any user stays readable to it.
    for f in ["hosts", "hostname", "resolv.conf"] {
        assert_eq!(mode(&cdir.join(f)), 0o644, "{f}");
    }

    // The snapshot that holds the layer (found as root), then each attack as nobody.
    let snaps: Vec<_> = std::fs::read_dir(env.root.join("snapshots"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("bin/suid").exists())
        .collect();
    assert_eq!(snaps.len(), 1, "one snapshot holds the layer");
    let snap = &snaps[0];
    let suid = snap.join("bin/suid");
    let merged = cdir.join("rootfs/bin/suid");
    assert_eq!(mode(&suid), 0o4755, "the layer's setuid bit is kept");
    assert!(merged.exists(), "the container runs");
    // The attack works where a directory is open (so the check below can fail): euid 0.
    let open = env.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::copy(&suid, open.join("suid")).unwrap();
    std::fs::set_permissions(open.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let out = as_nobody(&[open.join("suid").to_str().unwrap()]);
    assert!(out.stdout.contains("euid=0"), "{out:?}");
    for target in [&suid, &merged] {
        let out = as_nobody(&[target.to_str().unwrap()]);
        assert_eq!(out.code, 126, "nobody ran {}: {out:?}", target.display());
        assert!(out.stderr.contains("Permission denied"), "{out:?}");
    }
    let node = snap.join("dev/open-to-all");
    let open_node = |p: &Path| as_nobody(&["/bin/sh", "-c", &format!("exec 3<'{}'", p.display())]);
    assert!(open_node(&node).code != 0);
    assert_eq!(
        open_node(Path::new("/dev/null")).code,
        0,
        "the check can succeed"
    );
    let out = as_nobody(&["cat", cdir.join("config.json").to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(!out.stdout.contains("s3cret"));
    assert_ne!(as_nobody(&["ls", env.root.to_str().unwrap()]).code, 0);
    // The owner still can, and the container still runs as any user.
    let out = timed(
        env.cmd("ctr-exec").args(["-u", "65534", "db", "id", "-u"]),
        30,
    )
    .ok();
    assert_eq!(out.stdout.trim(), "65534");
    timed(env.cmd("ctr-rm").args(["-f", "db"]), 30).ok();
}

#[test]
fn an_open_root_is_closed_by_the_next_command() {
    let env = Env::new();
    // A root made by an older berth, or by hand, open to everyone.
    std::fs::create_dir_all(env.images()).unwrap();
    std::fs::set_permissions(&env.root, std::fs::Permissions::from_mode(0o755)).unwrap();
    env.run("img-ls", &["--format", "json"]).ok();
    assert_eq!(mode(&env.root), 0o710);
    // A new root is made private at once; a stricter mode chosen by its owner is kept.
    let other = env.path("fresh");
    env.cmd("img-ls")
        .args(["--root", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(mode(&other), 0o710);
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o700)).unwrap();
    env.cmd("img-ls")
        .args(["--root", other.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(mode(&other), 0o700);
}
