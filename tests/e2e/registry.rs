//! img-pull, img-push and img-search against Debian's docker-registry on 127.0.0.1, and
//! interop with skopeo both ways.

use std::process::Command;

use serde_json::json;

use crate::support::{run, Env, Registry};

fn blob_digests_are_right(env: &Env) {
    let dir = env.images().join("blobs/sha256");
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let data = std::fs::read(e.path()).unwrap();
        let d = berth::digest::Digest::sha256_of(&data);
        assert_eq!(
            d.hex(),
            e.file_name().to_string_lossy(),
            "blob content matches its name"
        );
    }
}

#[test]
fn push_then_pull_round_trip() {
    require_program!("docker-registry");
    require_program!("skopeo");
    let reg = Registry::start();
    let env = Env::new();
    let a = env.import_busybox("busybox:1");
    let dest = format!("{}/tools/busybox:1", reg.addr());
    let pushed = env.run("img-push", &["busybox:1", &dest]).ok().json();
    assert_eq!(pushed["ref"], dest);
    assert_eq!(
        pushed["digest"], a["digest"],
        "the registry has the manifest berth wrote, byte for byte"
    );
    assert_eq!(pushed["uploaded"], 2);
    let inspect = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{dest}"),
    ]))
    .ok()
    .json();
    assert_eq!(inspect["Digest"], a["digest"]);

    // Pushing again uploads nothing.
    let again = env.run("img-push", &["busybox:1", &dest]).ok().json();
    assert_eq!(again["uploaded"], 0);
    assert_eq!(again["skipped"], 2);
    // Another repository of the same registry: blobs are mounted, not uploaded.
    env.run("img-tag", &["busybox:1", &dest]).ok();
    let other = format!("{}/other/busybox:2", reg.addr());
    let mounted = env.run("img-push", &["busybox:1", &other]).ok().json();
    assert_eq!(mounted["mounted"], 2, "{mounted}");
    assert_eq!(mounted["uploaded"], 0);

    let fresh = Env::new();
    let pulled = fresh.run("img-pull", &[&dest]).ok().json();
    assert_eq!(pulled["ref"], dest);
    assert_eq!(pulled["digest"], a["digest"]);
    assert_eq!(pulled["id"], a["id"]);
    assert_eq!(pulled["platform"], "linux/amd64");
    assert_eq!(pulled["layers"].as_array().unwrap().len(), 1);
    let i = fresh.run("img-inspect", &[&dest]).ok().json();
    assert_eq!(
        i[0]["RepoDigests"],
        json!([format!(
            "{}/tools/busybox@{}",
            reg.addr(),
            a["digest"].as_str().unwrap()
        )])
    );
    blob_digests_are_right(&fresh);
    // A second pull finds everything in the store.
    let before = fresh.store_state().1;
    fresh.run("img-pull", &["-q", &dest]).ok();
    assert_eq!(fresh.store_state().1, before);
    // By digest: named repo@digest, no tag.
    let by_digest = format!(
        "{}/tools/busybox@{}",
        reg.addr(),
        a["digest"].as_str().unwrap()
    );
    let p = fresh.run("img-pull", &[&by_digest]).ok().json();
    assert_eq!(p["ref"], by_digest);
    fresh.run("img-inspect", &[&by_digest]).ok();
}

#[test]
fn pulls_what_skopeo_pushed_and_skopeo_reads_what_berth_pushed() {
    require_program!("docker-registry");
    require_program!("skopeo");
    let reg = Registry::start();
    let env = Env::new();
    env.import_busybox("src:1");
    let remote = format!("{}/interop/src:1", reg.addr());
    let c = run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &format!("oci:{}:docker.io/library/src:1", env.images().display()),
        &format!("docker://{remote}"),
    ]));
    assert_eq!(c.code, 0, "{c:?}");
    let theirs = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{remote}"),
    ]))
    .ok()
    .json();
    let fresh = Env::new();
    let pulled = fresh.run("img-pull", &[&remote]).ok().json();
    assert_eq!(
        pulled["digest"], theirs["Digest"],
        "same manifest digest as skopeo sees (a Docker v2 manifest)"
    );
    blob_digests_are_right(&fresh);

    // And skopeo copies back what img-push put.
    let back = format!("{}/interop/back:1", reg.addr());
    let pushed = fresh.run("img-push", &[&remote, &back]).ok().json();
    let copied = env.path("copied");
    let c = run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{back}"),
        &format!("oci:{}:x", copied.display()),
    ]));
    assert_eq!(c.code, 0, "{c:?}");
    let theirs = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{back}"),
    ]))
    .ok()
    .json();
    assert_eq!(theirs["Digest"], pushed["digest"]);
}

/// Writes a two-platform image (linux/amd64 and linux/arm64) into a layout and returns the
/// index digest and the config digests per platform.

#[test]
fn multi_platform_images_pull_the_right_platform() {
    require_program!("docker-registry");
    require_program!("skopeo");
    let reg = Registry::start();
    let env = Env::new();
    let src = env.path("multi-layout");
    let (index_digest, amd64_id, arm64_id) = crate::support::two_platform_layout(&env, &src);
    let remote = format!("{}/multi/app:1", reg.addr());
    let c = run(Command::new("skopeo").args([
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", src.display()),
        &format!("docker://{remote}"),
    ]));
    assert_eq!(c.code, 0, "{c:?}");

    let host = Env::new();
    let p = host.run("img-pull", &[&remote]).ok().json();
    assert_eq!(
        p["digest"], index_digest,
        "the digest the tag resolves to is the index"
    );
    assert_eq!(p["id"], amd64_id);
    assert_eq!(p["platform"], "linux/amd64");

    let arm = Env::new();
    let p = arm
        .run("img-pull", &["--platform", "linux/arm64", &remote])
        .ok()
        .json();
    assert_eq!(p["id"], arm64_id);
    let i = arm.run("img-inspect", &[&remote]).ok().json();
    assert_eq!(i[0]["Architecture"], "arm64");
    assert_eq!(i[0]["Config"]["Labels"]["arch"], "arm64");

    // By digest of the index, too.
    let by_digest = format!("{}/multi/app@{index_digest}", reg.addr());
    let p = Env::new()
        .run("img-pull", &["--platform", "linux/arm64", &by_digest])
        .ok()
        .json();
    assert_eq!(p["id"], arm64_id);

    // A platform the index lacks is a clear error.
    Env::new()
        .run("img-pull", &["--platform", "linux/s390x", &remote])
        .fails_with(1, "no manifest for linux/s390x");

    // --all-platforms keeps the index, and it can be pushed on as a whole.
    let all = Env::new();
    all.run("img-pull", &["--all-platforms", &remote]).ok();
    let copy = format!("{}/multi/copy:1", reg.addr());
    let pushed = all.run("img-push", &[&remote, &copy]).ok().json();
    assert_eq!(pushed["digest"], index_digest);
}

#[test]
fn pull_errors_are_clear_and_change_nothing() {
    require_program!("docker-registry");
    let reg = Registry::start();
    let env = Env::new();
    env.import_busybox("keep");
    let before = env.store_state();
    env.run("img-pull", &[&format!("{}/no/such:1", reg.addr())])
        .fails_with(1, "no such manifest");
    env.run("img-pull", &["127.0.0.1:1/x:1"])
        .fails_with(1, "127.0.0.1:1");
    env.run("img-pull", &["Bad:Ref"])
        .fails_with(1, "must be lowercase");
    env.run(
        "img-push",
        &[
            "keep",
            &format!("{}/x@sha256:{}", reg.addr(), "a".repeat(64)),
        ],
    )
    .fails_with(1, "digest");
    env.run("img-push", &["nosuch:1", &format!("{}/x:1", reg.addr())])
        .fails_with(1, "no such image");
    assert_eq!(env.store_state(), before);
}

#[test]
fn search_lists_the_catalog() {
    require_program!("docker-registry");
    let reg = Registry::start();
    let env = Env::new();
    env.import_busybox("s");
    for name in ["tools/busybox:1", "tools/other:1", "apps/web:1"] {
        env.run("img-push", &["s", &format!("{}/{name}", reg.addr())])
            .ok();
    }
    let rows = env
        .run("img-search", &[&format!("{}/tools", reg.addr())])
        .ok()
        .json_lines();
    let mut names: Vec<&str> = rows.iter().map(|r| r["Name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, vec!["tools/busybox", "tools/other"]);
    let rows = env
        .run(
            "img-search",
            &["--limit", "1", &format!("{}/o", reg.addr())],
        )
        .ok()
        .json_lines();
    assert_eq!(rows.len(), 1);
}

#[test]
fn kill_9_in_the_middle_of_a_layer_then_pull_again() {
    require_program!("docker-registry");
    let reg = Registry::start();
    let env = Env::new();
    // A layer gzip cannot shrink: 24 MiB of pseudo-random bytes.
    let rootfs = env.path("big");
    std::fs::create_dir_all(&rootfs).unwrap();
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let data: Vec<u8> = (0..24 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(rootfs.join("random.bin"), &data).unwrap();
    let tar = env.path("big.tar");
    let out = run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    assert_eq!(out.code, 0, "{out:?}");
    env.run("img-import", &[tar.to_str().unwrap(), "big:1"])
        .ok();
    env.run(
        "img-push",
        &["big:1", &format!("{}/big/layer:1", reg.addr())],
    )
    .ok();

    // Through a proxy at 4 MiB/s, the layer takes about six seconds: kill -9 half way.
    let proxy = crate::support::proxy::SlowProxy::start(reg.port, 4 << 20);
    let name = format!("127.0.0.1:{}/big/layer:1", proxy.port);
    let fresh = Env::new();
    let mut child = fresh
        .cmd("img-pull")
        .arg(&name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let images = fresh.images();
    let partial = || -> Option<(std::path::PathBuf, u64)> {
        std::fs::read_dir(&images)
            .ok()?
            .filter_map(|e| e.ok())
            .find_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                n.starts_with(".berth-partial-")
                    .then(|| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            })
    };
    let start = std::time::Instant::now();
    loop {
        if partial().is_some_and(|(_, n)| n > 6 << 20) {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the download never got going"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "img-pull ended before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (_, kept) = partial().expect("the partial download is kept");
    assert!(kept > 0 && kept < data.len() as u64);

    // Pull again: it resumes from what was kept, and the image is complete and right.
    let again = fresh.run("img-pull", &["--progress", "plain", &name]).ok();
    assert!(again.stderr.contains("resuming at"), "{again:?}");
    assert!(partial().is_none(), "no partial file is left");
    blob_digests_are_right(&fresh);
    let i = fresh.run("img-inspect", &[&name]).ok().json();
    assert_eq!(i[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);
}
