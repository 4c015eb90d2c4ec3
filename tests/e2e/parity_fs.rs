//! Issue 15, items 12 and 15: what a container's file system shows, side by side with Docker
//! where a private dockerd runs. ctr-diff, img-commit and ctr-export leave out what the runtime
//! mounted and ctr-export holds what `docker export` holds (Docker's init layer); a commit with
//! no change adds no layer. Images of 50, 126 and 500 layers run (overlay's lower directories
//! beyond one page of mount options).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::support::docker::Dockerd;
use crate::support::fake_registry::tar_of;
use crate::support::oci::{image, write_layout, Layer};
use crate::support::rig::Rig;
use crate::support::{Compression, Env};

/// The entries of a tar: `path` (no leading `./`, directories with a trailing `/`) and, for a
/// link, ` -> target`.
fn tar_list(data: &[u8]) -> BTreeSet<String> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let mut p = e.path().unwrap().display().to_string();
            p = p.trim_start_matches("./").to_string();
            let dir = e.header().entry_type() == tar::EntryType::Directory;
            if dir && !p.ends_with('/') {
                p.push('/');
            }
            if e.header().entry_type() == tar::EntryType::Symlink {
                let t = e.link_name().unwrap().unwrap().display().to_string();
                p = format!("{p} -> {t}");
            }
            p
        })
        .filter(|p| !p.is_empty())
        .collect()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return data.to_vec();
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn lines(out: &str) -> BTreeSet<String> {
    out.lines().map(str::to_string).collect()
}

/// What Docker said, for the same steps on the same image.
struct DockerSaw {
    fresh_diff: BTreeSet<String>,
    fresh_export: BTreeSet<String>,
    fresh_commit_layers: usize,
    fresh_commit_empty_layer: Value,
    changed_diff: BTreeSet<String>,
    changed_export: BTreeSet<String>,
    changed_layer: BTreeSet<String>,
}

const CHANGE: &str = "echo x > /data/f && touch /newfile && mkdir /proc2 && echo y > /dev/shm/z";

fn docker_side(rig: &Rig, d: &Dockerd) -> DockerSaw {
    let saved = rig.env.path("bb-for-docker.tar");
    rig.env
        .run("img-save", &[&rig.image, "-o", saved.to_str().unwrap()])
        .ok();
    d.docker(&["load", "-i", saved.to_str().unwrap()]).ok();
    let base_layers = d.docker(&["image", "inspect", &rig.image]).ok().json()[0]["RootFS"]
        ["Layers"]
        .as_array()
        .unwrap()
        .len();
    d.docker(&[
        "run",
        "--name",
        "fresh",
        "--network",
        "none",
        &rig.image,
        "true",
    ])
    .ok();
    let fresh_diff = lines(&d.docker(&["diff", "fresh"]).ok().stdout);
    let fresh_export = tar_list(&export_with(d, "fresh"));
    d.docker(&["commit", "fresh", "fresh-img:1"]).ok();
    let img = &d.docker(&["image", "inspect", "fresh-img:1"]).ok().json()[0];
    let fresh_commit_layers = img["RootFS"]["Layers"].as_array().unwrap().len() - base_layers;
    let saved = rig.env.path("fresh-img.tar");
    d.docker(&["save", "-o", saved.to_str().unwrap(), "fresh-img:1"])
        .ok();
    let (config, _) = docker_archive(&saved);
    let fresh_commit_empty_layer =
        config["history"].as_array().unwrap().last().unwrap()["empty_layer"].clone();

    d.docker(&[
        "run",
        "--name",
        "changed",
        "--network",
        "none",
        "-v",
        "/data",
        &rig.image,
        "sh",
        "-c",
        CHANGE,
    ])
    .ok();
    let changed_diff = lines(&d.docker(&["diff", "changed"]).ok().stdout);
    let changed_export = tar_list(&export_with(d, "changed"));
    d.docker(&["commit", "changed", "changed-img:1"]).ok();
    let saved = rig.env.path("changed-img.tar");
    d.docker(&["save", "-o", saved.to_str().unwrap(), "changed-img:1"])
        .ok();
    let (_, top) = docker_archive(&saved);
    DockerSaw {
        fresh_diff,
        fresh_export,
        fresh_commit_layers,
        fresh_commit_empty_layer,
        changed_diff,
        changed_export,
        changed_layer: tar_list(&top),
    }
}

fn export_with(d: &Dockerd, name: &str) -> Vec<u8> {
    let out = d.command().args(["export", name]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    out.stdout
}

/// The config and the top layer's tar of a `docker save` archive.
fn docker_archive(path: &Path) -> (Value, Vec<u8>) {
    let data = std::fs::read(path).unwrap();
    let mut files = std::collections::HashMap::new();
    let mut a = tar::Archive::new(&data[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        files.insert(p, v);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config: Value =
        serde_json::from_slice(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap();
    let top = manifest[0]["Layers"].as_array().unwrap().last().unwrap();
    (config, gunzip(&files[top.as_str().unwrap()]))
}

#[test]
fn diff_commit_and_export_leave_out_what_the_runtime_mounted_as_docker() {
    require_root!();
    let rig = Rig::new();
    let docker = match Dockerd::start() {
        Ok(d) => Some(d),
        Err(why) => {
            eprintln!("no Docker daemon ({why}): berth's side only");
            None
        }
    };
    let base_export = tar_list(&std::fs::read(rig.env.path("busybox.tar")).unwrap());

    // A container that changed nothing.
    rig.run(&["--name", "fresh", "--network", "none", &rig.image, "true"])
        .ok();
    let fresh_diff = lines(
        &rig.t("ctr-diff", &["--format", "text", "fresh"], 30)
            .ok()
            .stdout,
    );
    assert!(fresh_diff.is_empty(), "{fresh_diff:?}");
    let out = rig.env.cmd("ctr-export").arg("fresh").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let fresh_export = tar_list(&out.stdout);
    // The image's files and Docker's init layer: nothing more.
    let extra: BTreeSet<String> = fresh_export.difference(&base_export).cloned().collect();
    let want: BTreeSet<String> = [
        ".dockerenv",
        "dev/console",
        "dev/pts/",
        "dev/shm/",
        "etc/hostname",
        "etc/hosts",
        "etc/mtab -> /proc/mounts",
        "etc/resolv.conf",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(extra, want);
    assert!(base_export.is_subset(&fresh_export));

    // Its commit adds no layer: a history entry marked empty_layer.
    let out = rig
        .t("img-commit", &["fresh", "fresh-img:1"], 60)
        .ok()
        .json();
    assert_eq!(out["layer"], Value::Null, "{out}");
    let base = rig.env.config_of(&rig.image);
    let made = rig.env.config_of("fresh-img:1");
    assert_eq!(made["rootfs"], base["rootfs"]);
    let last = made["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["empty_layer"], true, "{last}");
    assert_eq!(last["created_by"], "true");
    // The image runs.
    let ran = rig.run(&[
        "--rm",
        "--network",
        "none",
        "fresh-img:1",
        "cat",
        "/etc/passwd",
    ]);
    assert!(ran.ok().stdout.starts_with("root:"));

    // A container that changed files, a volume's and /dev/shm's among them.
    rig.run(&[
        "--name",
        "changed",
        "--network",
        "none",
        "-v",
        "/data",
        &rig.image,
        "sh",
        "-c",
        CHANGE,
    ])
    .ok();
    let changed_diff = lines(
        &rig.t("ctr-diff", &["--format", "text", "changed"], 30)
            .ok()
            .stdout,
    );
    let want: BTreeSet<String> = ["A /data", "A /newfile", "A /proc2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(changed_diff, want);
    let out = rig.env.cmd("ctr-export").arg("changed").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let changed_export = tar_list(&out.stdout);
    let added: BTreeSet<String> = changed_export.difference(&fresh_export).cloned().collect();
    let want: BTreeSet<String> = ["data/", "newfile", "proc2/"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(added, want, "the volume's file is not exported");
    let out = rig
        .t("img-commit", &["changed", "changed-img:1"], 60)
        .ok()
        .json();
    let changed_layer = tar_list(&gunzip(&rig.env.blob(out["layer"].as_str().unwrap())));
    assert_eq!(changed_layer, want, "only the changes are in the layer");

    let Some(d) = docker else {
        return;
    };
    let saw = docker_side(&rig, &d);
    assert_eq!(
        fresh_diff, saw.fresh_diff,
        "docker diff of a fresh container"
    );
    assert_eq!(
        fresh_export, saw.fresh_export,
        "docker export of a fresh container"
    );
    assert_eq!(saw.fresh_commit_layers, 0, "Docker adds no layer either");
    assert_eq!(saw.fresh_commit_empty_layer, true);
    assert_eq!(changed_diff, saw.changed_diff, "docker diff");
    assert_eq!(changed_export, saw.changed_export, "docker export");
    assert_eq!(changed_layer, saw.changed_layer, "docker commit's layer");
}

/// An image of `n` layers in the store as `tag`: busybox at the bottom, `/layers/N` in each
/// layer above, `/bottom` in the second, deleted by a whiteout in the middle one, `/top` in the
/// last.
fn many_layers(env: &Env, n: usize, tag: &str) {
    let busybox = crate::support::busybox_tarball(&env.path("bb.tar"), Compression::None);
    let mut layers = vec![Layer::new(
        std::fs::read(busybox).unwrap(),
        Compression::None,
    )];
    for i in 1..n {
        let name = format!("layers/{i}");
        let mut files: Vec<(&str, &[u8])> = vec![(&name, b"x")];
        if i == 1 {
            files.push(("gone", b"gone"));
            files.push(("bottom", b"bottom\n"));
        }
        if i == n / 2 {
            files.push((".wh.gone", b""));
        }
        if i == n - 1 {
            files.push(("top", b"top\n"));
        }
        layers.push(Layer::new(tar_of(&files), Compression::None));
    }
    let img = image(tag, layers, |_| {});
    let layout = env.path(&format!("layout-{n}"));
    write_layout(&layout, &[&img]);
    let archive = env.path(&format!("layout-{n}.tar"));
    let mut b = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    b.append_dir_all(".", &layout).unwrap();
    b.finish().unwrap();
    env.run("img-load", &["-q", "-i", archive.to_str().unwrap()])
        .ok();
    let got = env.run("img-inspect", &[tag]).ok().json();
    assert_eq!(got[0]["RootFS"]["Layers"].as_array().unwrap().len(), n);
}

const CHECK: &str = "cat /bottom /top; test -e /gone || echo gone; ls /layers | wc -l";

fn runs_with_every_layer(rig: &Rig, n: usize, tag: &str, mount_api: &str) {
    let out = crate::support::rig::timed(
        rig.env
            .cmd("ctr-run")
            .env("BERTH_OVERLAY_MOUNT", mount_api)
            .args(["--rm", "--network", "none", tag, "sh", "-c", CHECK]),
        120,
    )
    .ok();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["bottom", "top", "gone", &(n - 1).to_string()],
        "{n} layers, {mount_api}: {out:?}"
    );
}

#[test]
fn images_of_50_126_and_500_layers_run() {
    require_root!();
    let rig = Rig::new();
    for n in [50, 126, 500] {
        let tag = format!("layers{n}:1");
        many_layers(&rig.env, n, &tag);
        // The new mount API (one lowerdir+ per layer) where the kernel has it, and mount(2)
        // with short names, as on kernels before 6.8.
        runs_with_every_layer(&rig, n, &tag, "");
        runs_with_every_layer(&rig, n, &tag, "data");
    }
    // As a container: ctr-diff and img-commit see its changes over 126 layers.
    rig.run(&[
        "--name",
        "deep",
        "--network",
        "none",
        "layers126:1",
        "sh",
        "-c",
        "rm /top; touch /new",
    ])
    .ok();
    let diff = lines(
        &rig.t("ctr-diff", &["--format", "text", "deep"], 30)
            .ok()
            .stdout,
    );
    let want: BTreeSet<String> = ["A /new", "D /top"].iter().map(|s| s.to_string()).collect();
    assert_eq!(diff, want);

    // 500 layers leave no room for the init layer: the runtime makes its mount points among
    // the container's changes, and still neither ctr-diff nor img-commit counts them.
    rig.run(&[
        "--name",
        "deep500",
        "--network",
        "none",
        "layers500:1",
        "true",
    ])
    .ok();
    let upper = rig.inspect("deep500")["GraphDriver"]["Data"]["UpperDir"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(Path::new(&upper).join("etc/hosts").exists());
    let diff = rig.t("ctr-diff", &["--format", "text", "deep500"], 30).ok();
    assert_eq!(diff.stdout, "");
    let out = rig
        .t("img-commit", &["deep500", "deep500:1"], 60)
        .ok()
        .json();
    assert_eq!(out["layer"], Value::Null, "{out}");

    // Beyond what overlayfs stacks: a clear error.
    many_layers(&rig.env, 501, "layers501:1");
    let out = rig.run(&["--rm", "--network", "none", "layers501:1", "true"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr
            .contains("the image has 501 layers, more than the 500 overlayfs can stack"),
        "{out:?}"
    );
}

/// Not a test of speed (no timed assertion): prints how long `ctr-run --rm` takes on an image
/// of 125 layers and on one of 1, for the report. `cargo test … -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_run_time_by_layer_count() {
    require_root!();
    let rig = Rig::new();
    many_layers(&rig.env, 125, "layers125:1");
    for (tag, api) in [
        (rig.image.as_str(), ""),
        ("layers125:1", ""),
        ("layers125:1", "data"),
    ] {
        let mut times = Vec::new();
        for _ in 0..9 {
            let t = Instant::now();
            crate::support::rig::timed(
                rig.env
                    .cmd("ctr-run")
                    .env("BERTH_OVERLAY_MOUNT", api)
                    .args(["--rm", "--network", "none", tag, "true"]),
                60,
            )
            .ok();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        eprintln!(
            "MEASURE {tag} api={api:?}: median {:.1} ms {times:?}",
            times[times.len() / 2]
        );
    }
}
