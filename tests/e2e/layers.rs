//! Hostile layers as a user meets them, through img-unpack and img-load: a sparse file that
//! must stay sparse (a 10 GiB file in a few KiB of layer), a decompression bomb stopped at the
//! limit, a blob listed as a layer that is not one, and a docker archive whose layer declares a
//! 1 GiB name.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::support::fake_registry::sha256;
use crate::support::oci::{image, write_layout, Layer};
use crate::support::{run, Env};

fn oci(layout: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", layout.display())
}

/// A 10 GiB sparse file `big` in `dir` with a few bytes written, and where they are.
fn sparse_file(dir: &Path) -> Vec<(u64, &'static [u8])> {
    std::fs::create_dir_all(dir).unwrap();
    let spots: Vec<(u64, &'static [u8])> = vec![
        (0, b"first"),
        (4 << 30, b"four GiB in"),
        ((10 << 30) - 3, b"end"),
    ];
    let f = std::fs::File::create(dir.join("big")).unwrap();
    f.set_len(10 << 30).unwrap();
    for (off, data) in &spots {
        f.write_all_at(data, *off).unwrap();
    }
    spots
}

/// `tar --sparse` (GNU tar) of `big` in `dir`, with `format` args.
fn gnu_sparse_tar(dir: &Path, format: &[&str]) -> Vec<u8> {
    let out = Command::new("tar")
        .args(["--sparse", "-c", "-f", "-", "-C"])
        .arg(dir)
        .args(format)
        .arg("big")
        .output()
        .expect("GNU tar");
    assert!(out.status.success(), "tar {format:?}");
    out.stdout
}

/// `big` in `dir` is 10 GiB, takes almost no disk, and has the bytes of `spots`.
fn assert_sparse_copy(dir: &Path, spots: &[(u64, &[u8])]) {
    let p = dir.join("big");
    let md = std::fs::symlink_metadata(&p).unwrap();
    assert_eq!(md.len(), 10 << 30);
    assert!(
        md.blocks() * 512 < 1 << 20,
        "{}: {} blocks on disk",
        p.display(),
        md.blocks()
    );
    let f = std::fs::File::open(&p).unwrap();
    for (off, data) in spots {
        let mut got = vec![0u8; data.len()];
        f.read_exact_at(&mut got, *off).unwrap();
        assert_eq!(&got[..], *data, "at {off}");
    }
    let mut hole = [1u8; 4096];
    f.read_exact_at(&mut hole, 7 << 30).unwrap();
    assert!(hole.iter().all(|b| *b == 0));
}

#[test]
fn sparse_files_unpack_sparse() {
    require_program!("tar");
    let env = Env::new();
    let src = env.path("src");
    let spots = sparse_file(&src);
    let layout = env.path("layout");
    let mut images = Vec::new();
    for (tag, format) in [
        ("gnu", &["--format=gnu"][..]),
        ("pax0", &["--format=posix", "--sparse-version=0.1"]),
        ("pax1", &["--format=posix", "--sparse-version=1.0"]),
    ] {
        let tar = gnu_sparse_tar(&src, format);
        assert!(tar.len() < 64 << 10, "{tag}: {} bytes", tar.len());
        images.push((tag, image(tag, vec![Layer::gzip(tar)], |_| {})));
    }
    write_layout(&layout, &images.iter().map(|(_, i)| i).collect::<Vec<_>>());
    for (tag, _) in &images {
        let target = env.path(&format!("target-{tag}"));
        let out = env
            .run(
                "img-unpack",
                &[&oci(&layout, tag), target.to_str().unwrap()],
            )
            .ok();
        assert!(out.json()["bytes"].as_u64().unwrap() < 64 << 10, "{out:#?}");
        assert_sparse_copy(&target, &spots);
    }
}

/// A tar of one 64 MiB file of zeros: a gzip of it is a small decompression bomb.
fn zeros_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(64 << 20);
    h.set_mode(0o644);
    b.append_data(
        &mut h,
        "zeros",
        std::io::Read::take(std::io::repeat(0), 64 << 20),
    )
    .unwrap();
    b.into_inner().unwrap()
}

#[test]
fn a_decompression_bomb_is_refused_at_the_limit() {
    let env = Env::new();
    let tar = zeros_tar();
    let img = image("bomb", vec![Layer::gzip(tar)], |_| {});
    let layer = img.manifests[0].layers[0].clone();
    assert!(
        layer.data.len() < 1 << 20,
        "{} bytes gzipped",
        layer.data.len()
    );
    let layout = env.path("layout");
    write_layout(&layout, &[&img]);

    let target = env.path("target");
    let out = run(env
        .cmd("img-unpack")
        .env("BERTH_LAYER_MAX_BYTES", "16M")
        .env("BERTH_LAYER_MAX_RATIO", "10")
        .args([&oci(&layout, "bomb"), target.to_str().unwrap()]))
    .fails_with(1, "refusing a decompression bomb");
    for needed in [
        layer.digest.as_str(),
        "more than 16777216 bytes",
        "BERTH_LAYER_MAX_BYTES",
        "BERTH_LAYER_MAX_RATIO",
    ] {
        assert!(out.stderr.contains(needed), "{needed}: {out:#?}");
    }
    assert!(!target.exists(), "nothing is left behind");

    let out = run(env
        .cmd("img-unpack")
        .env("BERTH_LAYER_MAX_RATIO", "ten")
        .args([&oci(&layout, "bomb"), target.to_str().unwrap()]))
    .fails_with(1, "BERTH_LAYER_MAX_RATIO=\"ten\": not a whole number");
    drop(out);

    // Under the default limit (1 GiB, or 100 times the compressed size) it unpacks.
    env.run(
        "img-unpack",
        &[&oci(&layout, "bomb"), target.to_str().unwrap()],
    )
    .ok();
    assert_eq!(
        std::fs::metadata(target.join("zeros")).unwrap().len(),
        64 << 20
    );
}

#[test]
fn a_blob_that_is_not_a_layer_is_not_unpacked() {
    let env = Env::new();
    let layout = env.path("layout");
    let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#.to_vec();
    for (tag, mt) in [
        ("intoto", "application/vnd.in-toto+json"),
        ("text", "text/plain"),
        (
            "helm",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        ),
    ] {
        let img = image(
            tag,
            vec![
                Layer::gzip(crate::support::fake_registry::tar_of(&[("a", b"a")])),
                Layer::new(statement.clone(), crate::support::Compression::None).lying(mt),
            ],
            |_| {},
        );
        write_layout(&layout, &[&img]);
        let digest = img.manifests[0].layers[1].digest.clone();
        let target = env.path(tag);
        let out = env
            .run(
                "img-unpack",
                &[&oci(&layout, tag), target.to_str().unwrap()],
            )
            .fails_with(1, "is not an image layer");
        assert!(
            out.stderr.contains(mt) && out.stderr.contains(&digest),
            "{out:#?}"
        );
        assert!(!target.exists(), "{tag}: nothing is left behind");
    }
}

/// A docker archive (`docker save` of Docker 24 and earlier) with one image `name` whose one
/// layer is `layer` (a tar, plain or compressed; its diffID is the sha256 of `plain`).
fn docker_archive(name: &str, layer: &[u8], plain: &[u8]) -> Vec<u8> {
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(plain)]},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!([{
        "Config": "config.json",
        "RepoTags": [name],
        "Layers": ["l/layer.tar"],
    }]))
    .unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for (n, data) in [
        ("config.json", &config[..]),
        ("manifest.json", &manifest[..]),
        ("l/layer.tar", layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, n, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn img_load_refuses_a_header_bomb_and_keeps_sparse_files_sparse() {
    let env = Env::new();
    // A layer whose first header declares a GNU long name of 1 GiB (and is cut short after
    // 64 KiB: it is refused before a byte of the name is read).
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(tar::EntryType::new(b'L'));
    h.set_size(1 << 30);
    h.set_cksum();
    let mut bomb = h.as_bytes().to_vec();
    bomb.resize(64 << 10, b'n');
    let archive = env.path("bomb.tar");
    std::fs::write(&archive, docker_archive("bomb:1", &bomb, &bomb)).unwrap();
    let before = env.store_state();
    let out = env
        .run("img-load", &["-i", archive.to_str().unwrap()])
        .fails_with(1, "GNU long name header of 1073741824 bytes");
    assert!(out.stderr.len() < 1000, "{out:#?}");
    let (index, blobs) = env.store_state();
    assert_eq!(blobs, before.1, "no blob is left");
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap_or(json!({}));
    assert!(
        index["manifests"].as_array().is_none_or(Vec::is_empty),
        "nothing is tagged: {index}"
    );

    // A sparse file in a docker archive's layer: loaded, then unpacked sparse.
    if !crate::support::have("tar") {
        return;
    }
    let src = env.path("src");
    let spots = sparse_file(&src);
    let layer = gnu_sparse_tar(&src, &["--format=gnu"]);
    let archive = env.path("sparse.tar");
    std::fs::write(&archive, docker_archive("sparse:1", &layer, &layer)).unwrap();
    env.run("img-load", &["-i", archive.to_str().unwrap()]).ok();
    let target = env.path("target");
    env.run("img-unpack", &["sparse:1", target.to_str().unwrap()])
        .ok();
    assert_sparse_copy(&target, &spots);
}

#[test]
fn img_load_stops_a_compressed_archive_at_the_expansion_limit() {
    let env = Env::new();
    let layer = zeros_tar();
    let archive = crate::support::fake_registry::gzip(&docker_archive("zeros:1", &layer, &layer));
    assert!(archive.len() < 1 << 20);
    let path = env.path("zeros.tar.gz");
    std::fs::write(&path, &archive).unwrap();
    let out = run(env
        .cmd("img-load")
        .env("BERTH_LAYER_MAX_BYTES", "16M")
        .args(["-i", path.to_str().unwrap()]))
    .fails_with(1, "refusing a decompression bomb");
    assert!(out.stderr.contains("zeros.tar.gz"), "{out:#?}");
    let left: Vec<_> = std::fs::read_dir(env.images())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".berth-load-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Under the default limit it loads.
    env.run("img-load", &["-i", path.to_str().unwrap()]).ok();
}

#[test]
fn img_pull_keeps_sparse_files_sparse_in_snapshots_and_stops_a_bomb() {
    require_root!();
    require_program!("tar");
    use crate::support::fake_registry::{Behaviour, FakeImage, FakeRegistry};
    let env = Env::new();
    let src = env.path("src");
    let spots = sparse_file(&src);
    let layer = gnu_sparse_tar(&src, &["--format=posix"]);
    let image = FakeImage::new("sparse/app", "1", vec![layer.clone()]);
    let fake = FakeRegistry::start(image.clone(), Behaviour::normal());
    env.run("img-pull", &["-q", &fake.reference(&image)]).ok();
    let snapshot = env.root.join("snapshots").join(&sha256(&layer)[7..]);
    assert_sparse_copy(&snapshot, &spots);
    let target = env.path("target");
    env.run(
        "img-unpack",
        &[&fake.reference(&image), target.to_str().unwrap()],
    )
    .ok();
    assert_sparse_copy(&target, &spots);

    // A bomb: refused while it downloads, and no snapshot is left.
    let bomb = FakeImage::new("bomb/app", "1", vec![zeros_tar()]);
    let fake = FakeRegistry::start(bomb.clone(), Behaviour::normal());
    let out = run(env
        .cmd("img-pull")
        .env("BERTH_LAYER_MAX_BYTES", "16M")
        .args(["-q", &fake.reference(&bomb)]))
    .fails_with(1, "refusing a decompression bomb");
    assert!(
        out.stderr.contains(&bomb.manifests[0].layers[0].digest),
        "{out:#?}"
    );
    let snapshots: Vec<String> = std::fs::read_dir(env.root.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        snapshots,
        vec![snapshot.file_name().unwrap().to_string_lossy()]
    );
}
