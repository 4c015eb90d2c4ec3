//! Snapshots: img-pull unpacks each layer once, while it downloads, into
//! `$ROOT/snapshots/<chainid>` with overlayfs whiteouts, and the snapshots stacked by overlayfs
//! show the same tree as img-unpack's flattened one.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::fake_registry::{
    noise, sha256, Behaviour, FakeImage, FakeRegistry, Fault, Match,
};
use crate::support::{run, Env};

fn entry(
    b: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &str,
    data: &[u8],
    link: Option<&str>,
) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_size(data.len() as u64);
    match link {
        Some(t) => b.append_link(&mut h, name, t).unwrap(),
        None => b.append_data(&mut h, name, data).unwrap(),
    }
}

/// Two layers: a base, and a layer that deletes a file, makes a directory opaque, adds a file
/// to it, and hard-links a file of the base.
fn layers(big: &[u8]) -> Vec<Vec<u8>> {
    use tar::EntryType::*;
    let mut b0 = tar::Builder::new(Vec::new());
    for d in ["etc/", "data/", "opq/", "lib/"] {
        entry(&mut b0, Directory, d, b"", None);
    }
    entry(
        &mut b0,
        Regular,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\n",
        None,
    );
    entry(&mut b0, Regular, "data/keep", b"keep", None);
    entry(&mut b0, Regular, "data/gone", b"gone", None);
    entry(&mut b0, Regular, "opq/old", b"old", None);
    entry(&mut b0, Regular, "lib/big", big, None);
    let mut b1 = tar::Builder::new(Vec::new());
    entry(&mut b1, Regular, "data/.wh.gone", b"", None);
    entry(&mut b1, Directory, "opq/", b"", None);
    entry(&mut b1, Regular, "opq/.wh..wh..opq", b"", None);
    entry(&mut b1, Regular, "opq/new", b"new", None);
    entry(&mut b1, Link, "lib/big-link", b"", Some("lib/big"));
    entry(&mut b1, Regular, "etc/hostname", b"berth\n", None);
    vec![b0.into_inner().unwrap(), b1.into_inner().unwrap()]
}

fn chain_ids(image: &FakeImage) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in &image.manifests[0].diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(p) => sha256(format!("{p} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

fn snapshot_dir(env: &Env, chain: &str) -> PathBuf {
    env.root
        .join("snapshots")
        .join(chain.trim_start_matches("sha256:"))
}

/// Paths under `dir` with their type, mode, owner, size, content and link target.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let ft = md.file_type();
            let what = if ft.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if ft.is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                format!("file {}", sha256(&std::fs::read(&p).unwrap()))
            } else if ft.is_char_device() {
                format!("char {}", md.rdev())
            } else {
                "other".to_string()
            };
            out.insert(
                rel,
                format!(
                    "{what} {:o} {}:{} {}",
                    md.mode() & 0o7777,
                    md.uid(),
                    md.gid(),
                    if ft.is_file() { md.size() } else { 0 }
                ),
            );
        }
    }
    out
}

#[test]
fn pull_unpacks_snapshots_that_overlayfs_stacks_into_the_image() {
    require_root!();
    let big = noise(3 << 20, 11);
    let image = FakeImage::new("snap/app", "1", layers(&big));
    let fake = FakeRegistry::start(image.clone(), Behaviour::normal());
    let env = Env::new();
    let out = env.run("img-pull", &["-q", &fake.reference(&image)]).ok();
    let j = out.json();
    let chains = chain_ids(&image);
    let dirs: Vec<PathBuf> = chains.iter().map(|c| snapshot_dir(&env, c)).collect();
    assert_eq!(
        j["snapshots"],
        serde_json::json!(dirs.iter().map(|d| d.to_string_lossy()).collect::<Vec<_>>()),
        "one snapshot per layer, named by chain ID"
    );
    // The upper snapshot holds the layer's changes, as overlayfs writes them.
    let upper = &dirs[1];
    let gone = std::fs::symlink_metadata(upper.join("data/gone")).unwrap();
    assert!(
        gone.file_type().is_char_device() && gone.rdev() == 0,
        "a whiteout is a 0/0 char device"
    );
    require_program!("getfattr");
    let opaque = Command::new("getfattr")
        .args(["--only-values", "-n", "trusted.overlay.opaque"])
        .arg(upper.join("opq"))
        .output()
        .unwrap();
    assert_eq!(opaque.stdout, b"y", "an opaque directory: {opaque:?}");
    assert!(!upper.join("opq/old").exists());
    assert_eq!(
        std::fs::read(upper.join("lib/big-link")).unwrap(),
        big,
        "a hard link to a lower layer is copied up"
    );
    assert!(
        !upper.join("etc/passwd").exists(),
        "the upper snapshot has only its own layer"
    );
    // No temporary directories are left.
    let names: Vec<String> = std::fs::read_dir(env.root.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Mounted as overlayfs, the snapshots are the image img-unpack flattens.
    let merged = env.path("merged");
    std::fs::create_dir(&merged).unwrap();
    let lower = format!("lowerdir={}:{}", dirs[1].display(), dirs[0].display());
    let mounted = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &lower])
        .arg(&merged)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount overlay");
    let flat = env.path("flat");
    env.run(
        "img-unpack",
        &[&fake.reference(&image), flat.to_str().unwrap()],
    )
    .ok();
    let (a, b) = (tree(&merged), tree(&flat));
    let _ = Command::new("umount").arg(&merged).status();
    assert_eq!(a, b, "overlay of the snapshots == img-unpack");
    assert!(
        b.contains_key("opq/new") && !b.contains_key("opq/old") && !b.contains_key("data/gone")
    );
}

#[test]
fn snapshots_are_made_once_and_pulls_that_restart_still_unpack_right() {
    require_root!();
    let big = noise(2 << 20, 5);
    let image = FakeImage::new("snap/cut", "1", layers(&big));
    let layer = image.layers()[0].digest.clone();
    // The big layer is cut once mid-body: the pull resumes it, and the snapshot is still whole.
    let fake = FakeRegistry::start(
        image.clone(),
        Behaviour::normal().first(1, Match::Blob(layer), Fault::CutShort),
    );
    let env = Env::new();
    env.run("img-pull", &["-q", &fake.reference(&image)]).ok();
    let chains = chain_ids(&image);
    let base = snapshot_dir(&env, &chains[0]);
    assert_eq!(std::fs::read(base.join("lib/big")).unwrap(), big);
    let ino = std::fs::metadata(&base).unwrap().ino();
    // A second pull of the same image finds the snapshots and leaves them be.
    let again = env.run("img-pull", &["-q", &fake.reference(&image)]).ok();
    assert_eq!(again.json()["snapshots"].as_array().unwrap().len(), 2);
    assert_eq!(
        std::fs::metadata(&base).unwrap().ino(),
        ino,
        "the same snapshot, not a new one"
    );

    // --no-unpack only downloads.
    let other = Env::new();
    let out = other
        .run("img-pull", &["-q", "--no-unpack", &fake.reference(&image)])
        .ok();
    assert_eq!(out.json()["snapshots"], serde_json::json!([]));
    assert!(!snapshot_dir(&other, &chains[0]).exists());
}

#[test]
fn a_layer_that_lies_about_its_diff_id_leaves_no_snapshot() {
    require_root!();
    let mut image = FakeImage::new("snap/lie", "1", layers(b"small"));
    // The config claims other diffIDs than the layers have.
    image = crate::support::fake_registry::with_diff_ids(image, &[sha256(b"x"), sha256(b"y")]);
    let fake = FakeRegistry::start(image.clone(), Behaviour::normal());
    let env = Env::new();
    let out = run(env.cmd("img-pull").args(["-q", &fake.reference(&image)]));
    let out = out.fails_with(1, "diffID");
    assert!(out.stderr.contains("layer sha256:"), "{out:?}");
    let snaps = env.root.join("snapshots");
    let left: Vec<_> = std::fs::read_dir(&snaps)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "no snapshot and no temporary directory: {left:?}"
    );
}
