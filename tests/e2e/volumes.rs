//! Volumes: `-v`, `--mount`, `--tmpfs` and the image's `VOLUME` on containers, and the vol-*
//! tools. Root only (containers need it); each run is bounded in time.

use std::path::Path;

use serde_json::Value;

use crate::support::rig::{self, mount_points, timed};
use crate::support::Out;

const IMAGE: &str = "localhost/vol-test:1";

/// The shared rig with busybox as `IMAGE`; every container is removed when it drops.
struct Rig(rig::Rig);

impl std::ops::Deref for Rig {
    type Target = rig::Rig;
    fn deref(&self) -> &rig::Rig {
        &self.0
    }
}

impl Rig {
    fn new() -> Rig {
        Rig(rig::Rig::with_image(IMAGE))
    }

    fn t(&self, tool: &str, args: &[&str]) -> Out {
        timed(self.env.cmd(tool).args(args), 60)
    }

    /// `ctr-run [--rm] FLAGS IMAGE sh -c SCRIPT`.
    fn sh(&self, flags: &[&str], image: &str, script: &str) -> Out {
        let mut a: Vec<&str> = flags.to_vec();
        a.extend_from_slice(&[image, "sh", "-c", script]);
        self.t("ctr-run", &a)
    }

    fn inspect(&self, id: &str) -> Value {
        self.t("ctr-inspect", &[id]).ok().json()[0].clone()
    }
}

#[test]
fn named_volume_is_filled_from_the_image_and_outlives_containers() {
    require_root!();
    let rig = Rig::new();
    let out = rig
        .sh(
            &["--name", "w1", "-v", "www:/var/www"],
            IMAGE,
            "cat /var/www/index.html; echo kept > /var/www/new",
        )
        .ok();
    assert_eq!(out.stdout, "hello from berth\n");
    let c = rig.inspect("w1");
    let m = &c["Mounts"][0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Name"], "www");
    assert_eq!(m["Destination"], "/var/www");
    assert_eq!(m["Driver"], "local");
    assert_eq!(m["Mode"], "z");
    assert_eq!(m["RW"], true);
    assert_eq!(c["HostConfig"]["Binds"][0], "www:/var/www");

    // In use: refused, with -f too (as Docker).
    rig.t("vol-rm", &["www"])
        .fails_with(1, "volume is in use - [");
    rig.t("vol-rm", &["-f", "www"])
        .fails_with(1, "volume is in use - [");
    let ls = rig.t("vol-ls", &["--format", "json"]).ok().json_lines();
    assert_eq!(ls.len(), 1);
    assert_eq!(
        (&ls[0]["Driver"], &ls[0]["Name"]),
        (&"local".into(), &"www".into())
    );
    let v = rig.t("vol-inspect", &["www"]).ok().json()[0].clone();
    assert_eq!(v["Name"], "www");
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Scope"], "local");
    let mp = v["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(Path::new(&mp), rig.env.root.join("volumes/www/_data"));
    assert!(v["CreatedAt"].as_str().is_some_and(|s| !s.is_empty()));

    rig.t("ctr-rm", &["-v", "w1"]).ok();
    assert_eq!(
        std::fs::read_to_string(Path::new(&mp).join("new")).unwrap(),
        "kept\n"
    );
    assert_eq!(
        rig.t("vol-ls", &["-q", "--filter", "dangling=true"])
            .ok()
            .stdout,
        "www\n"
    );
    let out = rig.sh(
        &["--rm", "-v", "www:/srv:ro"],
        IMAGE,
        "cat /srv/new; touch /srv/x",
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "kept\n", "{out:?}");
    assert!(out.stderr.contains("Read-only file system"), "{out:?}");
    rig.t("vol-rm", &["www"]).ok();
    assert!(!rig.env.root.join("volumes/www").exists());
    rig.t("vol-rm", &["www"]).fails_with(1, "no such volume");
    rig.t("vol-rm", &["-f", "www"]).ok();
}

#[test]
fn binds_tmpfs_and_mount_flags() {
    require_root!();
    let rig = Rig::new();
    let host = rig.env.path("host-dir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "from host\n").unwrap();
    let missing = rig.env.path("made/by/v");
    let ro = format!("{}:/h:ro", host.display());
    let mk = format!("{}:/m", missing.display());
    let out = rig.sh(
        &["--name", "b1", "-v", &ro, "-v", &mk, "--tmpfs", "/scratch:size=1m",
          "--mount", "type=tmpfs,target=/t2"],
        IMAGE,
        "cat /h/f; echo x > /m/y; grep -E ' /(scratch|t2) ' /proc/mounts; touch /h/no 2>&1; echo end",
    );
    let out = out.ok();
    assert!(out.stdout.starts_with("from host\n"), "{out:?}");
    assert!(out.stdout.contains("tmpfs /scratch tmpfs"), "{out:?}");
    assert!(out.stdout.contains("tmpfs /t2 tmpfs"), "{out:?}");
    assert!(out.stdout.contains("Read-only file system"), "{out:?}");
    assert!(!host.join("no").exists());
    assert_eq!(std::fs::read_to_string(missing.join("y")).unwrap(), "x\n");
    let c = rig.inspect("b1");
    let binds: Vec<&Value> = c["Mounts"].as_array().unwrap().iter().collect();
    let h = binds.iter().find(|m| m["Destination"] == "/h").unwrap();
    assert_eq!(
        (&h["Type"], &h["RW"], &h["Mode"]),
        (&"bind".into(), &false.into(), &"ro".into())
    );
    assert_eq!(h["Propagation"], "rprivate");
    assert_eq!(c["HostConfig"]["Tmpfs"]["/scratch"], "size=1m");
    assert_eq!(c["HostConfig"]["Mounts"][0]["Type"], "tmpfs");
    let e = rig
        .t("ctr-create", &["-v", "bad/name:/x", IMAGE])
        .fails_with(1, "invalid characters");
    assert!(e.stdout.is_empty());
}

#[test]
fn image_volume_is_anonymous_and_removed_with_ctr_rm_v() {
    require_root!();
    let rig = Rig::new();
    let tar =
        crate::support::busybox_tarball(&rig.env.path("bb.tar"), crate::support::Compression::None);
    rig.t(
        "img-import",
        &[
            "-c",
            "VOLUME /var/www",
            tar.to_str().unwrap(),
            "localhost/withvol:1",
        ],
    )
    .ok();
    rig.sh(&["--name", "a1"], "localhost/withvol:1", "ls /var/www")
        .ok();
    let c = rig.inspect("a1");
    let m = &c["Mounts"][0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Destination"], "/var/www");
    let name = m["Name"].as_str().unwrap().to_string();
    assert_eq!(name.len(), 64);
    let data = rig.env.root.join("volumes").join(&name).join("_data");
    assert!(data.join("index.html").exists());
    // Another one kept by ctr-rm without -v; vol-prune removes it.
    rig.sh(&["--name", "a2", "-v", "/anon"], IMAGE, "true").ok();
    let anon2 = rig.inspect("a2")["Mounts"][0]["Name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        rig.inspect("a2")["Config"]["Volumes"]["/anon"],
        serde_json::json!({})
    );
    rig.t("ctr-rm", &["-v", "a1"]).ok();
    assert!(!rig.env.root.join("volumes").join(&name).exists());
    rig.t("ctr-rm", &["a2"]).ok();
    assert!(rig.env.root.join("volumes").join(&anon2).exists());
    let p = rig.t("vol-prune", &["-f"]).ok().json();
    assert_eq!(p["VolumesDeleted"][0], anon2.as_str());
    // --rm takes its anonymous volumes along, named ones stay (as docker run --rm).
    rig.sh(
        &["--rm", "-v", "/scratch", "-v", "kept:/kept"],
        IMAGE,
        "echo x > /scratch/f; echo y > /kept/f",
    )
    .ok();
    let left = rig.t("vol-ls", &["-q"]).ok();
    assert_eq!(left.stdout.trim(), "kept", "{left:?}");
}

#[test]
fn symlinked_destinations_stay_in_the_container() {
    require_root!();
    let rig = Rig::new();
    // An image whose /data is a symlink to /etc and /up to ../../.. (the host's root if resolved
    // on the host).
    let upper = rig.env.path("upper");
    std::fs::create_dir(&upper).unwrap();
    std::os::unix::fs::symlink("/etc", upper.join("data")).unwrap();
    std::os::unix::fs::symlink("../../..", upper.join("up")).unwrap();
    rig.t(
        "img-commit",
        &[
            "--upper",
            upper.to_str().unwrap(),
            "--base",
            IMAGE,
            "localhost/sym:1",
        ],
    )
    .ok();
    let host_etc: Vec<_> = std::fs::read_dir("/etc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let before = mount_points();
    let src = rig.env.path("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("planted"), "p\n").unwrap();
    let b1 = format!("{}:/data/sub", src.display());
    let out = rig
        .sh(
            &["--rm", "-v", &b1, "-v", "symvol:/up/tmp/v"],
            "localhost/sym:1",
            "cat /etc/sub/planted; echo w > /tmp/v/w; ls /tmp/v",
        )
        .ok();
    assert!(out.stdout.starts_with("p\n"), "{out:?}");
    assert!(
        !Path::new("/etc/sub").exists(),
        "the host's /etc was written"
    );
    assert!(!Path::new("/tmp/v").exists());
    let after: Vec<_> = std::fs::read_dir("/etc")
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(host_etc.len(), after.len());
    // Other tests mount in parallel: nothing new may appear outside this test's directory.
    let prefix = rig.env.tmp.path().to_string_lossy().into_owned();
    let outside = |m: &Vec<String>| -> Vec<String> {
        m.iter()
            .filter(|p| p.starts_with("/etc") || p.starts_with("/tmp/v") || *p == "/")
            .filter(|p| !p.starts_with(&prefix))
            .cloned()
            .collect()
    };
    assert_eq!(
        outside(&before),
        outside(&mount_points()),
        "the host's mount table changed"
    );
    assert!(rig.env.root.join("volumes/symvol/_data/w").exists());
}

/// An overlayfs upper directory for img-commit: `files` written, `whiteouts` as 0/0 character
/// devices, `opaque` directories marked.
fn upper(dir: &Path, files: &[(&str, &str)], whiteouts: &[&str], opaque: &[&str]) {
    use rustix::fs::{self as rfs, FileType, Mode};
    for (f, data) in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    for w in whiteouts {
        let p = dir.join(w);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        rfs::mknodat(
            rfs::CWD,
            &p,
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o600),
            rfs::makedev(0, 0),
        )
        .unwrap();
    }
    for o in opaque {
        rfs::setxattr(
            dir.join(o),
            "trusted.overlay.opaque",
            b"y",
            rfs::XattrFlags::empty(),
        )
        .unwrap();
    }
}

#[test]
fn a_new_volume_gets_the_image_layers_merged() {
    require_root!();
    let rig = Rig::new();
    let u1 = rig.env.path("upper-1");
    upper(
        &u1,
        &[
            ("var/www/a", "a\n"),
            ("var/www/d/x", "x\n"),
            ("var/www/d/k", "k\n"),
        ],
        &[],
        &[],
    );
    let commit = |u: &Path, base: &str, tag: &str| {
        rig.t(
            "img-commit",
            &["--upper", u.to_str().unwrap(), "--base", base, tag],
        )
        .ok();
    };
    commit(&u1, IMAGE, "localhost/vol-test:2");
    let u2 = rig.env.path("upper-2");
    upper(
        &u2,
        &[("var/www/b", "b\n"), ("var/www/d/y", "y\n")],
        &["var/www/index.html"],
        &["var/www/d"],
    );
    commit(&u2, "localhost/vol-test:2", "localhost/vol-test:3");
    let out = rig
        .sh(
            &["--rm", "--network", "none", "-v", "merged:/var/www"],
            "localhost/vol-test:3",
            "cd /var/www && ls -A . d && cat a b d/y",
        )
        .ok();
    // a from the layer below, b from the top; index.html (bottom) whited out; d opaque.
    assert_eq!(out.stdout, ".:\na\nb\nd\n\nd:\ny\na\nb\ny\n", "{out:?}");
    let data = rig.env.root.join("volumes/merged/_data");
    assert!(!data.join("index.html").exists());
    assert!(!data.join("d/x").exists());
}
