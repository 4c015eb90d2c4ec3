//! Interoperability with the anchors: skopeo and umoci read what berth writes, berth reads what
//! skopeo writes, also through a loopback registry.

use std::process::Command;

use serde_json::json;

use crate::support::{busybox_tarball, debian_tarball, run, Compression, Env, Registry};

#[test]
fn skopeo_and_umoci_read_what_img_import_wrote() {
    require_program!("skopeo");
    require_program!("umoci");
    let env = Env::new();
    let out = env.import_busybox("busybox:interop");
    let images = env.images();
    let name = format!("oci:{}:docker.io/library/busybox:interop", images.display());
    let inspect = run(Command::new("skopeo").args(["inspect", &name]))
        .ok()
        .json();
    assert_eq!(
        inspect["Digest"], out["digest"],
        "skopeo sees the same manifest digest"
    );
    assert_eq!(inspect["Os"], "linux");
    let config = run(Command::new("skopeo").args(["inspect", "--config", &name]))
        .ok()
        .json();
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 1);
    let dir = env.path("copied-dir");
    let copied =
        run(Command::new("skopeo").args(["copy", &name, &format!("dir:{}", dir.display())]));
    assert_eq!(copied.code, 0, "{copied:?}");
    assert_eq!(
        berth::digest::Digest::sha256_of(&std::fs::read(dir.join("manifest.json")).unwrap())
            .to_string(),
        out["digest"],
        "skopeo copies the manifest berth wrote, unchanged"
    );

    let bundle = env.path("bundle");
    let unpacked = run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!(
            "{}:docker.io/library/busybox:interop",
            images.display()
        ))
        .arg(&bundle));
    assert_eq!(unpacked.code, 0, "{unpacked:?}");
    let original = crate::support::busybox_rootfs(&env.path("busybox.rootfs"));
    assert_eq!(
        crate::support::file_tree(&bundle.join("rootfs")),
        crate::support::file_tree(&original),
        "umoci unpacks the tree we imported"
    );
}

#[test]
fn berth_reads_what_skopeo_copied_into_its_layout() {
    require_program!("skopeo");
    let env = Env::new();
    let src = env.path("src-layout");
    let tar = busybox_tarball(&env.path("bb.tar"), Compression::Gzip);
    let a = env
        .run(
            "img-import",
            &[
                "-c",
                "CMD [\"sh\"]",
                tar.to_str().unwrap(),
                &format!("oci:{}:src", src.display()),
            ],
        )
        .ok()
        .json();
    // skopeo writes into berth's store, under a full name and under a bare tag.
    env.run("img-ls", &[]).ok();
    for dest in ["docker.io/library/copied:1", "bare"] {
        let c = run(Command::new("skopeo").args([
            "copy",
            &format!("oci:{}:src", src.display()),
            &format!("oci:{}:{dest}", env.images().display()),
        ]));
        assert_eq!(c.code, 0, "{c:?}");
    }
    let rows = env
        .run("img-ls", &["--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
        .ok();
    let mut lines = rows.lines();
    lines.sort();
    let short = &a["id"].as_str().unwrap()[7..19];
    assert_eq!(
        lines,
        vec![format!("bare:latest {short}"), format!("copied:1 {short}")]
    );
    let i = env.run("img-inspect", &["copied:1"]).ok().json();
    assert_eq!(i[0]["Id"], a["id"]);
    assert_eq!(i[0]["Config"]["Cmd"], json!(["sh"]));
}

#[test]
fn round_trip_through_a_loopback_registry() {
    require_program!("skopeo");
    require_program!("docker-registry");
    let env = Env::new();
    let reg = Registry::start();
    let a = env.import_busybox("busybox:reg");
    let remote = format!("docker://{}/berth/busybox:reg", reg.addr());
    let push = run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!(
            "oci:{}:docker.io/library/busybox:reg",
            env.images().display()
        ),
        &remote,
    ]));
    assert_eq!(push.code, 0, "{push:?}");
    let inspect = run(Command::new("skopeo").args(["inspect", "--tls-verify=false", &remote]))
        .ok()
        .json();
    assert_eq!(
        inspect["Digest"], a["digest"],
        "the registry serves the manifest berth wrote"
    );
    let pull = run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &remote,
        &format!(
            "oci:{}:{}/berth/busybox:reg",
            env.images().display(),
            reg.addr()
        ),
    ]));
    assert_eq!(pull.code, 0, "{pull:?}");
    let i = env
        .run(
            "img-inspect",
            &[&format!("{}/berth/busybox:reg", reg.addr())],
        )
        .ok()
        .json();
    assert_eq!(i[0]["Id"], a["id"]);
}

#[test]
fn a_debian_root_filesystem_imports_and_unpacks() {
    require_root!();
    require_program!("umoci");
    let Some(tarball) = debian_tarball() else {
        skip!("could not debootstrap a Debian root filesystem here");
    };
    let env = Env::new();
    let out = env
        .run(
            "img-import",
            &[
                "-c",
                "CMD [\"/bin/bash\"]",
                tarball.to_str().unwrap(),
                "debian:bookworm",
            ],
        )
        .ok()
        .json();
    let i = env.run("img-inspect", &["debian:bookworm"]).ok().json();
    assert_eq!(i[0]["Id"], out["id"]);
    assert!(
        i[0]["Size"].as_u64().unwrap() > 20_000_000,
        "{}",
        i[0]["Size"]
    );
    let bundle = env.path("bundle");
    let unpacked = run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!(
            "{}:docker.io/library/debian:bookworm",
            env.images().display()
        ))
        .arg(&bundle));
    assert_eq!(unpacked.code, 0, "{unpacked:?}");
    let os_release = std::fs::read_to_string(bundle.join("rootfs/etc/os-release")).unwrap();
    assert!(os_release.contains("bookworm"), "{os_release}");
    assert!(bundle.join("rootfs/usr/bin/dpkg").exists());
}
