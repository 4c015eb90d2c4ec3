//! Issue 15, items 4 and 5: every image in the store (pulled as a Docker schema 2 manifest, an
//! OCI manifest or a multi-platform index; loaded from Docker's and OCI archives; committed) is
//! readable by skopeo and umoci as `oci:ROOT/images:REF`, and it keeps the digests it came with:
//! `docker save | img-load` of an image the store has never moves its name to a new manifest.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth::digest::Digest;
use serde_json::{json, Value};

use crate::support::{busybox_rootfs, run, Env, Out, Registry};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn skopeo(args: &[&str]) -> Out {
    run(Command::new("skopeo").args(args))
}

/// What skopeo and umoci read of `oci:ROOT/images:NAME`.
struct Read {
    /// The manifest digest skopeo reports (the index.json entry's).
    digest: String,
    /// The layer digests of that manifest.
    layers: Vec<String>,
    rootfs: PathBuf,
}

/// Reads `name` from the store with skopeo (inspect, inspect --config, copy to dir:) and umoci
/// (unpack), asserting each succeeds and that the config is the image `id`.
fn read_with_skopeo_and_umoci(env: &Env, name: &str, id: &str, tag: &str) -> Read {
    let oci = format!("oci:{}:{name}", env.images().display());
    let inspect = skopeo(&["inspect", &oci]);
    assert_eq!(inspect.code, 0, "skopeo inspect {name}: {inspect:?}");
    let inspect = inspect.json();
    let raw = skopeo(&["inspect", "--raw", &oci]).ok();
    let manifest: Value = serde_json::from_str(&raw.stdout).unwrap();
    assert_eq!(manifest["mediaType"], OCI_MANIFEST, "{name}: {manifest}");
    assert_eq!(
        manifest["config"]["digest"], id,
        "{name}: the config is the image ID"
    );
    let config = skopeo(&["inspect", "--config", "--raw", &oci]).ok();
    assert_eq!(
        Digest::sha256_of(config.stdout.as_bytes()).to_string(),
        id,
        "{name}: skopeo reads the config berth has"
    );

    let dir = env.path(&format!("dir-{tag}"));
    let c = skopeo(&["copy", &oci, &format!("dir:{}", dir.display())]);
    assert_eq!(c.code, 0, "skopeo copy {name} dir: {c:?}");
    let copied = std::fs::read(dir.join("manifest.json")).unwrap();
    assert_eq!(
        Digest::sha256_of(&copied).to_string(),
        inspect["Digest"],
        "skopeo copies the manifest unchanged"
    );
    let layers: Vec<String> = inspect["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    for l in &layers {
        assert!(
            dir.join(l.strip_prefix("sha256:").unwrap()).is_file(),
            "{l}"
        );
    }

    let bundle = env.path(&format!("bundle-{tag}"));
    let unpacked = run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:{name}", env.images().display()))
        .arg(&bundle));
    assert_eq!(unpacked.code, 0, "umoci unpack {name}: {unpacked:?}");
    Read {
        digest: inspect["Digest"].as_str().unwrap().to_string(),
        layers,
        rootfs: bundle.join("rootfs"),
    }
}

fn inspect(env: &Env, name: &str) -> Value {
    env.run("img-inspect", &[name]).ok().json()[0].clone()
}

/// `skopeo copy` of a registry image into a layout of its own: the raw OCI manifest skopeo
/// makes of it.
fn skopeo_oci_manifest(env: &Env, remote: &str, tag: &str) -> Value {
    let dir = env.path(&format!("skopeo-{tag}"));
    let c = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{remote}"),
        &format!("oci:{}:x", dir.display()),
    ]);
    assert_eq!(c.code, 0, "{c:?}");
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{}:x", dir.display())]).ok();
    serde_json::from_str(&raw.stdout).unwrap()
}

fn registry_digest(remote: &str) -> String {
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{remote}"),
    ])
    .ok()
    .json()["Digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The busybox image (imported by berth) pushed to the registry as `repo` in `format` (v2s2 or
/// oci). Returns its ID.
fn push_busybox(env: &Env, reg: &Registry, repo: &str, format: &str) -> String {
    let made = env.import_busybox(&format!("src-{format}:1"));
    let c = skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--format",
        format,
        &format!(
            "oci:{}:docker.io/library/src-{format}:1",
            env.images().display()
        ),
        &format!("docker://{}/{repo}", reg.addr()),
    ]);
    assert_eq!(c.code, 0, "{c:?}");
    made["id"].as_str().unwrap().to_string()
}

#[test]
fn pulled_images_are_readable_by_skopeo_and_umoci_and_keep_their_digest() {
    require_program!("docker-registry");
    require_program!("skopeo");
    require_program!("umoci");
    let reg = Registry::start();
    let src = Env::new();
    let busybox = busybox_rootfs(&src.path("busybox.rootfs"));
    for (format, media) in [
        (
            "v2s2",
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
        ("oci", OCI_MANIFEST),
    ] {
        let id = push_busybox(&src, &reg, &format!("p/{format}:1"), format);
        let remote = format!("{}/p/{format}:1", reg.addr());
        let theirs = registry_digest(&remote);
        let env = Env::new();
        let pulled = env.run("img-pull", &[&remote]).ok().json();
        assert_eq!(pulled["digest"], theirs);
        let name = remote.clone();
        let read = read_with_skopeo_and_umoci(&env, &name, &id, format);
        assert_eq!(
            crate::support::file_tree(&read.rootfs),
            crate::support::file_tree(&busybox),
            "{format}"
        );
        // skopeo copy docker://… oci:… maps the layers' media types the same way (it also
        // rewrites a Docker config, and so changes the image ID, which berth does not).
        let ours: Value = serde_json::from_str(
            &skopeo(&[
                "inspect",
                "--raw",
                &format!("oci:{}:{name}", env.images().display()),
            ])
            .ok()
            .stdout,
        )
        .unwrap();
        assert_eq!(
            ours["layers"],
            skopeo_oci_manifest(&env, &remote, format)["layers"],
            "{format}"
        );
        if format == "oci" {
            assert_eq!(read.digest, theirs, "an OCI manifest is entered as pulled");
        }
        // The image keeps the registry's digest: RepoDigests, the Descriptor, lookups, push.
        let i = inspect(&env, &remote);
        assert_eq!(i["Id"], id);
        assert_eq!(
            i["RepoDigests"],
            json!([format!("{}/p/{format}@{theirs}", reg.addr())])
        );
        assert_eq!(i["Descriptor"]["digest"], theirs);
        assert_eq!(i["Descriptor"]["mediaType"], media);
        let by_digest = format!("{}/p/{format}@{theirs}", reg.addr());
        assert_eq!(inspect(&env, &by_digest)["Id"], id);
        let copy = format!("{}/p/{format}-copy:1", reg.addr());
        let pushed = env.run("img-push", &[&remote, &copy]).ok().json();
        assert_eq!(
            pushed["digest"], theirs,
            "{format}: img-push sends the manifest as the registry had it"
        );
        assert_eq!(registry_digest(&copy), theirs);
        // Nothing dangling, and a prune keeps both manifests.
        let ls = env
            .run("img-ls", &["-a", "--format", "{{.Repository}}:{{.Tag}}"])
            .ok();
        assert_eq!(ls.lines(), vec![format!("{}/p/{format}:1", reg.addr())]);
        env.run("img-prune", &["-f"]).ok();
        read_with_skopeo_and_umoci(&env, &name, &id, &format!("{format}-pruned"));
        assert_eq!(inspect(&env, &by_digest)["Id"], id);
    }
}

/// A two-platform image (linux/amd64 and linux/arm64 configs over one busybox layer) as an OCI
/// index in a layout, tagged `multi`. Returns the config digests per platform.

#[test]
fn multi_platform_pulls_are_readable_by_skopeo_and_umoci() {
    require_program!("docker-registry");
    require_program!("skopeo");
    require_program!("umoci");
    if berth::image::Platform::host().architecture != "amd64" {
        skip!("the fixture's platforms are amd64 and arm64");
    }
    let reg = Registry::start();
    let src = Env::new();
    let layout = src.path("multi-layout");
    let (_, amd64, arm64) = crate::support::two_platform_layout(&src, &layout);
    let busybox = busybox_rootfs(&src.path("busybox.rootfs"));
    // As an OCI index, and as a Docker manifest list of schema 2 manifests.
    for (format, list) in [
        ("oci", "application/vnd.oci.image.index.v1+json"),
        (
            "v2s2",
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ),
    ] {
        let remote = format!("{}/multi/{format}:1", reg.addr());
        let c = skopeo(&[
            "copy",
            "--all",
            "--dest-tls-verify=false",
            "--format",
            format,
            &format!("oci:{}:multi", layout.display()),
            &format!("docker://{remote}"),
        ]);
        assert_eq!(c.code, 0, "{c:?}");
        let raw = skopeo(&[
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{remote}"),
        ])
        .ok();
        let top: Value = serde_json::from_str(&raw.stdout).unwrap();
        assert_eq!(top["mediaType"], list, "{format}");
        let index_digest = registry_digest(&remote);

        for (how, args) in [
            ("one", vec![]),
            ("all", vec!["--all-platforms"]),
            ("arm", vec!["--platform", "linux/arm64"]),
        ] {
            let env = Env::new();
            let mut a = args.clone();
            a.push(&remote);
            let pulled = env.run("img-pull", &a).ok().json();
            assert_eq!(pulled["digest"], index_digest);
            let id = if how == "arm" { &arm64 } else { &amd64 };
            let read = read_with_skopeo_and_umoci(&env, &remote, id, &format!("{format}-{how}"));
            assert_eq!(
                crate::support::file_tree(&read.rootfs),
                crate::support::file_tree(&busybox)
            );
            assert_eq!(inspect(&env, &remote)["Id"], *id);
            if how == "all" {
                // The index is kept: it is the image's digest and it is pushed whole.
                let i = inspect(&env, &remote);
                assert_eq!(i["Descriptor"]["digest"], index_digest);
                let copy = format!("{}/multi/{format}-copy:1", reg.addr());
                let pushed = env.run("img-push", &[&remote, &copy]).ok().json();
                assert_eq!(pushed["digest"], index_digest);
                // A prune keeps the index and the other platform with it.
                env.run("img-prune", &["-f"]).ok();
                let blobs = env.images().join("blobs/sha256");
                for d in [&index_digest, &arm64] {
                    assert!(blobs.join(&d[7..]).is_file(), "{d} kept");
                }
                read_with_skopeo_and_umoci(&env, &remote, id, &format!("{format}-pruned"));
            }
        }
    }
}

/// The index.json entry named `name` in the store.
fn entry(env: &Env, name: &str) -> Value {
    let index: Value =
        serde_json::from_slice(&std::fs::read(env.images().join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("no entry {name} in {index}"))
        .clone()
}

fn dangling(env: &Env) -> Vec<String> {
    env.run(
        "img-ls",
        &["-a", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    )
    .ok()
    .lines()
    .into_iter()
    .filter(|l| l.starts_with("<none>"))
    .map(String::from)
    .collect()
}

#[test]
fn docker_save_then_img_load_keeps_the_digests_the_store_has() {
    require_program!("docker-registry");
    require_program!("skopeo");
    require_program!("umoci");
    let docker = require_dockerd!();
    let reg = Registry::start();
    let src = Env::new();
    let id = push_busybox(&src, &reg, "d/bb:1", "v2s2");
    let remote = format!("{}/d/bb:1", reg.addr());
    let theirs = registry_digest(&remote);
    let busybox = busybox_rootfs(&src.path("busybox.rootfs"));

    // Docker pulls it from the same registry and saves it, also under a second name.
    docker.docker(&["pull", &remote]).ok();
    let di = docker.docker(&["image", "inspect", &remote]).ok().json();
    assert_eq!(di[0]["Id"], id, "Docker has the same image");
    assert_eq!(
        di[0]["RepoDigests"],
        json!([format!("{}/d/bb@{theirs}", reg.addr())])
    );
    docker.docker(&["tag", &remote, "other/bb:2"]).ok();
    let archive = src.path("docker.tar");
    docker
        .docker(&["save", "-o", path_str(&archive), &remote, "other/bb:2"])
        .ok();

    // berth pulled it before; loading Docker's archive leaves its name where it was.
    let env = Env::new();
    env.run("img-pull", &[&remote]).ok();
    let before = entry(&env, &remote);
    let loaded = env
        .run("img-load", &["-i", path_str(&archive)])
        .ok()
        .json_lines();
    assert_eq!(loaded.len(), 2, "{loaded:?}");
    for l in &loaded {
        assert_eq!(l["id"], id);
        assert_eq!(l["digest"], theirs, "the image keeps the registry's digest");
    }
    let after = entry(&env, &remote);
    assert_eq!(after["digest"], before["digest"], "the tag did not move");
    assert_eq!(
        entry(&env, "docker.io/other/bb:2")["digest"],
        before["digest"],
        "a new name for the same image names the same manifest"
    );
    assert_eq!(dangling(&env), Vec::<String>::new(), "no <none> left");
    // As Docker's: the repository it was pulled from, not the name the archive added.
    let i = inspect(&env, &remote);
    let docker_says =
        docker.docker(&["image", "inspect", &remote]).ok().json()[0]["RepoDigests"].clone();
    assert_eq!(
        docker_says,
        json!([format!("{}/d/bb@{theirs}", reg.addr())])
    );
    assert_eq!(i["RepoDigests"], docker_says, "{i}");
    // Piped, as `docker save IMG | img-load`, again: nothing changes.
    let index_before = std::fs::read(env.images().join("index.json")).unwrap();
    let blobs_before = env.store_state().1;
    let mut save = docker
        .command()
        .args(["save", &remote])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = run(env.cmd("img-load").stdin(save.stdout.take().unwrap()));
    assert!(save.wait().unwrap().success());
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(entry(&env, &remote)["digest"], before["digest"]);
    assert_eq!(env.store_state().1, blobs_before, "no blob added");
    let index_after: Value =
        serde_json::from_slice(&std::fs::read(env.images().join("index.json")).unwrap()).unwrap();
    let index_before: Value = serde_json::from_slice(&index_before).unwrap();
    assert_eq!(
        index_after["manifests"].as_array().unwrap().len(),
        index_before["manifests"].as_array().unwrap().len()
    );
    read_with_skopeo_and_umoci(&env, &remote, &id, "kept");
    read_with_skopeo_and_umoci(&env, "docker.io/other/bb:2", &id, "kept2");

    // Into stores that do not have it: a new manifest, the same one each time.
    let mut digests = Vec::new();
    for n in 0..2 {
        let fresh = Env::new();
        let l = fresh
            .run("img-load", &["-i", path_str(&archive)])
            .ok()
            .json_lines();
        assert_eq!(l[0]["id"], id);
        let read =
            read_with_skopeo_and_umoci(&fresh, "docker.io/other/bb:2", &id, &format!("new{n}"));
        assert_eq!(
            crate::support::file_tree(&read.rootfs),
            crate::support::file_tree(&busybox)
        );
        assert_eq!(l[0]["digest"], read.digest, "a manifest of OCI media types");
        assert_eq!(dangling(&fresh), Vec::<String>::new());
        digests.push(read.digest);
    }
    assert_eq!(digests[0], digests[1], "loading is deterministic");
}

#[test]
fn oci_archives_load_byte_for_byte_and_stay_readable() {
    require_program!("docker-registry");
    require_program!("skopeo");
    require_program!("umoci");
    let reg = Registry::start();
    let src = Env::new();
    let id = push_busybox(&src, &reg, "o/bb:1", "v2s2");
    let remote = format!("{}/o/bb:1", reg.addr());
    let theirs = registry_digest(&remote);

    // img-save --format oci-archive of a pulled image, loaded into a fresh store: the same
    // entry, and the registry's manifest with it.
    let env = Env::new();
    env.run("img-pull", &[&remote]).ok();
    let pulled = entry(&env, &remote);
    let archive = env.path("bb.oci.tar");
    env.run(
        "img-save",
        &["--format", "oci-archive", &remote, "-o", path_str(&archive)],
    )
    .ok();
    // skopeo reads berth's archive too.
    let c = skopeo(&[
        "inspect",
        &format!("oci-archive:{}:{remote}", archive.display()),
    ]);
    assert_eq!(c.code, 0, "{c:?}");
    assert_eq!(c.json()["Digest"], pulled["digest"]);
    let fresh = Env::new();
    let l = fresh
        .run("img-load", &["-i", path_str(&archive)])
        .ok()
        .json_lines();
    assert_eq!(l[0]["digest"], theirs);
    assert_eq!(entry(&fresh, &remote)["digest"], pulled["digest"]);
    assert_eq!(inspect(&fresh, &remote)["Descriptor"]["digest"], theirs);
    read_with_skopeo_and_umoci(&fresh, &remote, &id, "berth-oci");
    // And it pushes as the registry had it.
    let copy = format!("{}/o/copy:1", reg.addr());
    let pushed = fresh.run("img-push", &[&remote, &copy]).ok().json();
    assert_eq!(pushed["digest"], theirs);

    // skopeo's oci-archive of the registry's image (converted to OCI by skopeo): stored as given.
    let sk = src.path("skopeo.oci.tar");
    let c = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{remote}"),
        &format!("oci-archive:{}:docker.io/library/sk:1", sk.display()),
    ]);
    assert_eq!(c.code, 0, "{c:?}");
    let given = skopeo(&[
        "inspect",
        &format!("oci-archive:{}:docker.io/library/sk:1", sk.display()),
    ])
    .ok()
    .json();
    // (skopeo rewrote the Docker config as an OCI one: another image ID.)
    let config = skopeo(&[
        "inspect",
        "--config",
        "--raw",
        &format!("oci-archive:{}:docker.io/library/sk:1", sk.display()),
    ])
    .ok();
    let sk_id = Digest::sha256_of(config.stdout.as_bytes()).to_string();
    let env2 = Env::new();
    let l = env2
        .run("img-load", &["-i", path_str(&sk)])
        .ok()
        .json_lines();
    assert_eq!(l[0]["digest"], given["Digest"], "the manifest as given");
    assert_eq!(l[0]["id"], sk_id);
    let read = read_with_skopeo_and_umoci(&env2, "docker.io/library/sk:1", &sk_id, "skopeo-oci");
    assert_eq!(read.digest, given["Digest"]);
    let layers: Vec<String> = given["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert_eq!(read.layers, layers, "the layer blobs as given");
    // Into the store that pulled it: the pulled entry stays as it was, the new name is added.
    env.run("img-load", &["-i", path_str(&sk)]).ok();
    assert_eq!(entry(&env, &remote)["digest"], pulled["digest"]);
    assert_eq!(dangling(&env), Vec::<String>::new());

    // An OCI archive with another manifest of the same image (zstd layers) under the name the
    // store has: the name stays on the manifest it names, and nothing of the archive is kept.
    let oci_id = push_busybox(&src, &reg, "o/oci:1", "oci");
    let oci_remote = format!("{}/o/oci:1", reg.addr());
    let oci_digest = registry_digest(&oci_remote);
    env.run("img-pull", &[&oci_remote]).ok();
    let zst = src.path("zstd.oci.tar");
    let c = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-compress-format",
        "zstd",
        &format!("docker://{oci_remote}"),
        &format!("oci-archive:{}:{oci_remote}", zst.display()),
    ]);
    assert_eq!(c.code, 0, "{c:?}");
    let other = skopeo(&[
        "inspect",
        &format!("oci-archive:{}:{oci_remote}", zst.display()),
    ])
    .ok()
    .json();
    assert_ne!(other["Digest"], oci_digest, "another manifest");
    let state = env.store_state();
    let l = env
        .run("img-load", &["-i", path_str(&zst)])
        .ok()
        .json_lines();
    assert_eq!(l[0]["id"], oci_id);
    assert_eq!(l[0]["digest"], oci_digest, "the name keeps its manifest");
    assert_eq!(env.store_state(), state, "nothing changed");

    // Docker archives of it, made by img-save and by skopeo: the pulled entry stays too, and a
    // store without it gets the same new manifest each time.
    let ours = env.path("bb.docker.tar");
    env.run("img-save", &[&remote, "-o", path_str(&ours)]).ok();
    let theirs_tar = env.path("bb.skopeo.tar");
    let c = skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{remote}"),
        &format!(
            "docker-archive:{}:docker.io/skopeo/bb:1",
            theirs_tar.display()
        ),
    ]);
    assert_eq!(c.code, 0, "{c:?}");
    for (what, tar, name) in [
        ("img-save", &ours, remote.clone()),
        ("skopeo", &theirs_tar, "docker.io/skopeo/bb:1".to_string()),
    ] {
        let l = env
            .run("img-load", &["-i", path_str(tar)])
            .ok()
            .json_lines();
        assert_eq!(l[0]["digest"], theirs, "{what}");
        assert_eq!(l[0]["id"], id, "{what}");
        assert_eq!(entry(&env, &remote)["digest"], pulled["digest"], "{what}");
        assert_eq!(entry(&env, &name)["digest"], pulled["digest"], "{what}");
        assert_eq!(dangling(&env), Vec::<String>::new(), "{what}");
        let mut digests = Vec::new();
        for n in 0..2 {
            let fresh = Env::new();
            let l = fresh
                .run("img-load", &["-i", path_str(tar)])
                .ok()
                .json_lines();
            assert_eq!(l[0]["id"], id);
            digests.push(l[0]["digest"].as_str().unwrap().to_string());
            if n == 0 {
                let read = read_with_skopeo_and_umoci(&fresh, &name, &id, &format!("{what}-new"));
                assert_eq!(read.digest, digests[0]);
            }
        }
        assert_eq!(digests[0], digests[1], "{what}: loading is deterministic");
    }
}

#[test]
fn committed_images_on_a_pulled_base_are_readable_by_skopeo_and_umoci() {
    require_program!("docker-registry");
    require_program!("skopeo");
    require_program!("umoci");
    let reg = Registry::start();
    let src = Env::new();
    push_busybox(&src, &reg, "c/base:1", "v2s2");
    let remote = format!("{}/c/base:1", reg.addr());
    let env = Env::new();
    env.run("img-pull", &[&remote]).ok();
    let upper = env.path("upper");
    std::fs::create_dir_all(upper.join("app")).unwrap();
    std::fs::write(upper.join("app/hello.txt"), b"hello\n").unwrap();
    let made = env
        .run(
            "img-commit",
            &["--upper", path_str(&upper), "--base", &remote, "app:1"],
        )
        .ok()
        .json();
    let id = made["id"].as_str().unwrap();
    let read = read_with_skopeo_and_umoci(&env, "docker.io/library/app:1", id, "commit");
    assert_eq!(
        std::fs::read(read.rootfs.join("app/hello.txt")).unwrap(),
        b"hello\n"
    );
    assert!(read.rootfs.join("bin/busybox").exists());
    assert_eq!(inspect(&env, "app:1")["Id"], id);
    // One manifest, of OCI media types: the digest img-commit printed is the one skopeo reads
    // and img-inspect shows, though the base came with Docker's.
    assert_eq!(made["digest"], read.digest.as_str(), "{made}");
    assert_eq!(
        inspect(&env, "app:1")["Descriptor"]["digest"],
        read.digest.as_str()
    );
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci:{}:docker.io/library/app:1", env.images().display()),
    ])
    .ok();
    let manifest: Value = serde_json::from_str(&raw.stdout).unwrap();
    for l in manifest["layers"].as_array().unwrap() {
        assert_eq!(
            l["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
            "{manifest}"
        );
    }
}
