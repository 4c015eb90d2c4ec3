//! img-save and img-load: round trips in both formats, plain and gzipped, through files and
//! pipes; skopeo and Docker read what img-save writes; img-load reads what `docker save` wrote
//! (a checked-in fixture and, where a daemon can run, a fresh one); hostile archives are refused
//! and change nothing.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::{run, Env, Out};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The image as img-inspect shows it, by name or ID.
fn inspect(env: &Env, name: &str) -> Value {
    env.run("img-inspect", &[name]).ok().json()[0].clone()
}

/// The manifest's config descriptor, read from the store.
fn manifest_config(env: &Env, manifest_digest: &str) -> Value {
    let hex = manifest_digest.strip_prefix("sha256:").unwrap();
    let m: Value = serde_json::from_slice(
        &std::fs::read(env.images().join("blobs/sha256").join(hex)).unwrap(),
    )
    .unwrap();
    m["config"].clone()
}

/// The regular files of a tar (gzip or plain) as (name, data), in order.
fn tar_files(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let plain = if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        data.to_vec()
    };
    let mut ar = tar::Archive::new(&plain[..]);
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut d = Vec::new();
        e.read_to_end(&mut d).unwrap();
        out.push((name, d));
    }
    out
}

fn make_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn docker_archive_round_trip_keeps_the_image() {
    let src = Env::new();
    let made = src.import_busybox("bb:1");
    src.run("img-tag", &["bb:1", "localhost:5000/team/bb:2"])
        .ok();
    let file = src.path("bb.tar");
    let out = src
        .run(
            "img-save",
            &["bb:1", "localhost:5000/team/bb:2", "-o", path_str(&file)],
        )
        .ok()
        .json();
    assert_eq!(out["format"], "docker-archive");
    assert_eq!(out["images"].as_array().unwrap().len(), 2);

    // What is inside: Docker 25's layout, with Docker's short names in manifest.json.
    let files = tar_files(&std::fs::read(&file).unwrap());
    let get = |n: &str| {
        let (_, d) = files
            .iter()
            .find(|(name, _)| name == n)
            .unwrap_or_else(|| panic!("{n}"));
        serde_json::from_slice::<Value>(d).unwrap()
    };
    let manifest = get("manifest.json");
    assert_eq!(
        manifest[0]["RepoTags"],
        json!(["bb:1", "localhost:5000/team/bb:2"])
    );
    let id_hex = made["id"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{id_hex}"));
    assert_eq!(get("oci-layout"), json!({"imageLayoutVersion": "1.0.0"}));
    assert_eq!(get("index.json")["manifests"].as_array().unwrap().len(), 2);
    assert!(get("repositories")["bb"]["1"].is_string());

    let dst = Env::new();
    let loaded = dst.run("img-load", &["-i", path_str(&file)]).ok();
    assert!(loaded.stderr.contains("Loaded image: bb:1"), "{loaded:?}");
    assert!(loaded
        .stderr
        .contains("Loaded image: localhost:5000/team/bb:2"));
    let lines = loaded.json_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["ref"], "docker.io/library/bb:1");
    assert_eq!(lines[1]["ref"], "localhost:5000/team/bb:2");
    for l in &lines {
        assert_eq!(l["id"], made["id"], "same image ID");
    }
    let (a, b) = (inspect(&src, "bb:1"), inspect(&dst, "bb:1"));
    assert_eq!(a["Id"], b["Id"]);
    assert_eq!(a["Config"], b["Config"]);
    assert_eq!(a["RootFS"], b["RootFS"]);
    assert_eq!(
        manifest_config(&src, made["digest"].as_str().unwrap()),
        manifest_config(&dst, lines[0]["digest"].as_str().unwrap()),
        "the manifests point at the same config"
    );

    // Through a pipe, `img-import … | img-save - | img-load`: - names the previous tool's image.
    let dst2 = Env::new();
    let out = pipe(&src, &["-"], Some(made.to_string()), &dst2, &["-q"]);
    assert_eq!(out.stderr, "", "-q says nothing");
    let lines = out.json_lines();
    assert_eq!(lines[0]["id"], made["id"]);
    assert_eq!(lines[0]["ref"], "docker.io/library/bb:1");
    // Saved by ID, the image has no name, as docker save does it.
    let dst3 = Env::new();
    let id = made["id"].as_str().unwrap();
    let out = pipe(&src, &[&id[7..19]], None, &dst3, &[]);
    assert_eq!(out.json_lines()[0]["ref"], Value::Null);
    assert_eq!(out.json_lines()[0]["id"], made["id"]);
    assert!(
        out.stderr.contains(&format!("Loaded image ID: {id}")),
        "{out:?}"
    );
}

/// Runs `img-save SAVE_ARGS | img-load LOAD_ARGS` through a real pipe, `stdin` going to img-save.
fn pipe(
    src: &Env,
    save_args: &[&str],
    stdin: Option<String>,
    dst: &Env,
    load_args: &[&str],
) -> Out {
    let mut save = src
        .cmd("img-save")
        .args(save_args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        let mut w = save.stdin.take().unwrap();
        w.write_all(text.as_bytes()).unwrap();
    }
    let archive = save.stdout.take().unwrap();
    let out = run(dst.cmd("img-load").args(load_args).stdin(archive));
    let saved = save.wait_with_output().unwrap();
    assert!(
        saved.status.success(),
        "img-save: {}",
        String::from_utf8_lossy(&saved.stderr)
    );
    out
}

#[test]
fn gzip_and_oci_archive_round_trips() {
    let src = Env::new();
    let made = src.import_busybox("bb:1");
    for (args, format) in [
        (vec!["-z"], "docker-archive"),
        (vec!["--format", "oci-archive"], "oci-archive"),
        (vec!["--format", "oci-archive", "-z"], "oci-archive"),
    ] {
        let file = src.path("a.tar");
        let mut all = args.clone();
        all.extend(["bb:1", "-o", path_str(&file)]);
        let out = src.run("img-save", &all).ok().json();
        assert_eq!(out["format"], format);
        let data = std::fs::read(&file).unwrap();
        assert_eq!(
            data.starts_with(&[0x1f, 0x8b]),
            args.contains(&"-z"),
            "{args:?}: gzip exactly when -z"
        );
        let dst = Env::new();
        let lines = dst
            .run("img-load", &["-i", path_str(&file)])
            .ok()
            .json_lines();
        assert_eq!(lines.len(), 1, "{args:?}");
        assert_eq!(lines[0]["ref"], "docker.io/library/bb:1");
        assert_eq!(lines[0]["id"], made["id"], "{args:?}");
        if format == "oci-archive" {
            // The blobs travel as stored: the same manifest, so the same digest.
            assert_eq!(lines[0]["digest"], made["digest"], "{args:?}");
        }
        assert_eq!(
            inspect(&dst, "bb:1")["Config"],
            inspect(&src, "bb:1")["Config"]
        );
    }
}

#[test]
fn skopeo_reads_both_formats_and_img_load_reads_skopeos() {
    require_program!("skopeo");
    let env = Env::new();
    let made = env.import_busybox("bb:1");
    let oci = env.path("oci.tar");
    env.run(
        "img-save",
        &["--format", "oci-archive", "bb:1", "-o", path_str(&oci)],
    )
    .ok();
    let name = format!("oci-archive:{}:docker.io/library/bb:1", oci.display());
    let got = run(Command::new("skopeo").args(["inspect", &name]))
        .ok()
        .json();
    assert_eq!(got["Digest"], made["digest"]);
    // The docker archive is an OCI layout too, and a docker archive to skopeo's docker-archive:.
    let docker = env.path("docker.tar");
    env.run("img-save", &["bb:1", "-o", path_str(&docker)]).ok();
    for name in [
        format!("oci-archive:{}:docker.io/library/bb:1", oci.display()),
        format!("docker-archive:{}", docker.display()),
        format!("oci-archive:{}", docker.display()),
    ] {
        let raw = run(Command::new("skopeo").args(["inspect", "--raw", "--config", &name])).ok();
        assert_eq!(
            berth::digest::Digest::sha256_of(raw.stdout.as_bytes()).to_string(),
            made["id"].as_str().unwrap(),
            "{name}: the config is byte for byte the stored one"
        );
    }

    // And the other way: what skopeo writes in either format loads with img-load. A bare OCI
    // ref name (`latest`) names no repository, so that image loads untagged.
    let images = env.images();
    let from = format!("oci:{}:docker.io/library/bb:1", images.display());
    for (to, want_ref) in [
        ("oci-archive:{}:bb:1", json!("docker.io/library/bb:1")),
        ("oci-archive:{}:latest", Value::Null),
        ("docker-archive:{}:bb:1", json!("docker.io/library/bb:1")),
    ] {
        let file = env.path("skopeo.tar");
        let _ = std::fs::remove_file(&file);
        let dest = to.replace("{}", path_str(&file));
        run(Command::new("skopeo").args(["copy", "-q", &from, &dest])).ok();
        let dst = Env::new();
        let lines = dst
            .run("img-load", &["-i", path_str(&file)])
            .ok()
            .json_lines();
        assert_eq!(lines.len(), 1, "{dest}");
        assert_eq!(lines[0]["ref"], want_ref, "{dest}");
        assert_eq!(lines[0]["id"], made["id"], "{dest}");
    }
}

/// The images of tests/fixtures/docker-save-busybox.tar.gz, as docker reported them when it was
/// made (make-docker-save.sh).
const FIXTURE_BASE: &str =
    "sha256:a06bf1b35d5e62439043ab4429404c0a0eccb61088e203694c77865384448a38";
const FIXTURE_DERIVED: &str =
    "sha256:b0ed7240dade1e450d84d4e988aab70d55620f2db58b6e8f32653bff7b953c1d";

#[test]
fn loads_what_docker_save_wrote() {
    let env = Env::new();
    let gz = fixture("docker-save-busybox.tar.gz");
    // From a file and, gzipped, from stdin: the same three names each time.
    let from_file = env.run("img-load", &["-i", path_str(&gz)]).ok();
    let data = std::fs::read(&gz).unwrap();
    let from_stdin =
        crate::support::run_with_stdin(env.cmd("img-load").args(["-i", "-"]), &data).ok();
    for out in [&from_file, &from_stdin] {
        let lines = out.json_lines();
        let got: Vec<(&str, &str)> = lines
            .iter()
            .map(|l| (l["ref"].as_str().unwrap(), l["id"].as_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("docker.io/library/berth-fixture:base", FIXTURE_BASE),
                ("docker.io/library/berth-fixture:derived", FIXTURE_DERIVED),
                ("docker.io/library/berth-fixture:latest", FIXTURE_DERIVED),
            ]
        );
        assert!(out.stderr.contains("Loaded image: berth-fixture:derived"));
    }
    let derived = inspect(&env, "berth-fixture:derived");
    assert_eq!(derived["Id"], FIXTURE_DERIVED);
    assert_eq!(derived["Config"]["Cmd"], json!(["/bin/sh"]));
    assert_eq!(derived["Config"]["Env"], json!(["PATH=/bin"]));
    assert_eq!(
        derived["Config"]["Labels"],
        json!({"org.example.fixture": "derived"})
    );
    let base = inspect(&env, "berth-fixture:base");
    assert_eq!(base["Comment"], "berth test fixture");
    // The derived image's first layer was a symlink to the base's layer.tar in the archive.
    let layers = derived["RootFS"]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0], base["RootFS"]["Layers"][0]);
    // The layers are stored gzipped, once.
    let tags: Vec<String> = env
        .run("img-ls", &["--format", "{{.Repository}}:{{.Tag}}"])
        .ok()
        .lines()
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(tags.len(), 3, "{tags:?}");

    // Saving it again gives the same images; loading that into a fresh root, too.
    let again = env.path("again.tar");
    env.run("img-save", &["berth-fixture", "-o", path_str(&again)])
        .ok();
    let env2 = Env::new();
    let lines = env2
        .run("img-load", &["-i", path_str(&again)])
        .ok()
        .json_lines();
    assert_eq!(lines.len(), 3, "a repository name saves all its tags");
    assert_eq!(
        inspect(&env2, "berth-fixture:latest")["Id"],
        FIXTURE_DERIVED
    );
}

#[test]
fn docker_loads_what_img_save_writes_and_the_other_way() {
    let docker = require_dockerd!();
    let env = Env::new();
    let made = env.import_busybox("berth-e2e/bb:1");
    let id = made["id"].as_str().unwrap();
    for (name, args) in [("bb.tar", vec![]), ("bb.tar.gz", vec!["-z"])] {
        let file = env.path(name);
        let mut all = args.clone();
        all.extend(["berth-e2e/bb:1", "-o", path_str(&file)]);
        env.run("img-save", &all).ok();
        let loaded = docker.docker(&["load", "-i", path_str(&file)]).ok();
        assert!(
            loaded.stdout.contains("Loaded image: berth-e2e/bb:1"),
            "{loaded:?}"
        );
        let got = docker
            .docker(&["image", "inspect", "berth-e2e/bb:1"])
            .ok()
            .json();
        assert_eq!(got[0]["Id"], id, "{name}: Docker sees the same image ID");
        assert_eq!(
            got[0]["RootFS"]["Layers"],
            inspect(&env, "berth-e2e/bb:1")["RootFS"]["Layers"]
        );
        docker.docker(&["rmi", "berth-e2e/bb:1"]).ok();
    }
    // Piped, as `img-save … | docker load`.
    let mut save = env
        .cmd("img-save")
        .arg("berth-e2e/bb:1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = run(docker
        .command()
        .arg("load")
        .stdin(save.stdout.take().unwrap()));
    assert!(save.wait().unwrap().success());
    assert_eq!(out.code, 0, "{out:?}");

    // What this daemon's docker save writes loads with img-load as the same image.
    let back = env.path("back.tar");
    docker
        .docker(&["save", "-o", path_str(&back), "berth-e2e/bb:1"])
        .ok();
    let env2 = Env::new();
    let lines = env2
        .run("img-load", &["-i", path_str(&back)])
        .ok()
        .json_lines();
    assert_eq!(lines[0]["ref"], "docker.io/berth-e2e/bb:1");
    assert_eq!(lines[0]["id"], id);
}

#[test]
fn save_failures_leave_no_file() {
    let env = Env::new();
    env.import_busybox("bb:1");
    let file = env.path("out.tar");
    env.run("img-save", &["bb:1", "nope:1", "-o", path_str(&file)])
        .fails_with(1, "no such image: nope:1");
    env.run("img-save", &["bb:1", "-o", "/nonexistent-dir/x.tar"])
        .fails_with(1, "/nonexistent-dir");
    // A layer blob damaged in the store: the archive is not written.
    let digest = manifest_of(&env, "bb:1")["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = env
        .images()
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap());
    let mut data = std::fs::read(&blob).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&blob, data).unwrap();
    for format in ["docker-archive", "oci-archive"] {
        env.run(
            "img-save",
            &["--format", format, "bb:1", "-o", path_str(&file)],
        )
        .fails_with(1, "corrupt");
        assert!(!file.exists(), "{format}: no half-written archive");
    }
    let leftovers: Vec<_> = std::fs::read_dir(env.tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".out.tar"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files are removed");
}

fn manifest_of(env: &Env, name: &str) -> Value {
    let digest = inspect(env, name)["Descriptor"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let hex = digest.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(env.images().join("blobs/sha256").join(hex)).unwrap())
        .unwrap()
}

/// A tar entry named `name` exactly as given (the tar crate refuses to write `..`).
fn raw_entry(name: &str, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

#[test]
fn hostile_archives_are_refused_and_change_nothing() {
    let src = Env::new();
    src.import_busybox("bb:1");
    let good = src.path("good.tar");
    src.run("img-save", &["bb:1", "-o", path_str(&good)]).ok();
    let good = std::fs::read(&good).unwrap();
    let files = tar_files(&good);
    let oci = src.path("oci.tar");
    src.run(
        "img-save",
        &["--format", "oci-archive", "bb:1", "-o", path_str(&oci)],
    )
    .ok();
    let oci_files = tar_files(&std::fs::read(&oci).unwrap());

    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();

    // A name that climbs out of the archive, before a perfectly good archive.
    let mut traversal = raw_entry("../evil", b"x");
    traversal.extend_from_slice(&good);
    cases.push(("traversal", traversal, "refusing the entry \"../evil\""));

    // manifest.json naming its layer through ../
    let mut m: Vec<(String, Vec<u8>)> = files.clone();
    for (name, data) in m.iter_mut() {
        if name == "manifest.json" {
            let mut v: Value = serde_json::from_slice(data).unwrap();
            v[0]["Layers"][0] = json!(format!("../{}", v[0]["Layers"][0].as_str().unwrap()));
            *data = serde_json::to_vec(&v).unwrap();
        }
    }
    cases.push((
        "traversal in manifest.json",
        make_tar(&m),
        "may not be absolute or contain '..'",
    ));

    // A symlink out of the archive.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "blobs/evil", "../../etc/passwd")
        .unwrap();
    let mut symlink = b.into_inner().unwrap();
    symlink.truncate(symlink.len() - 1024);
    symlink.extend_from_slice(&good);
    cases.push(("symlink out", symlink, "points outside the archive"));

    // A layer whose content is not what the config's diffID says: another valid tar.
    let other = make_tar(&[("etc/other".to_string(), b"not busybox".to_vec())]);
    let m: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, d)| {
            if d.len() > 100_000 {
                (n.clone(), other.clone())
            } else {
                (n.clone(), d.clone())
            }
        })
        .collect();
    cases.push(("wrong diffID", make_tar(&m), "diffID"));

    // manifest.json naming a layer that is not there.
    let m: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|(_, d)| d.len() < 100_000)
        .cloned()
        .collect();
    cases.push(("missing layer", make_tar(&m), "is not in the archive"));

    // Cut in the middle of the layer; and a gzipped archive cut short.
    let mut cut = good.clone();
    cut.truncate(good.len() / 2);
    cases.push(("truncated", cut, "truncated"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&good).unwrap();
    let mut gz = gz.finish().unwrap();
    gz.truncate(gz.len() / 2);
    cases.push(("truncated gzip", gz, "cannot decompress"));

    // An OCI archive whose layer blob does not match its digest (same size, one byte changed):
    // found only while it is stored, after the manifest and config were checked.
    let m: Vec<(String, Vec<u8>)> = oci_files
        .iter()
        .map(|(n, d)| {
            let mut d = d.clone();
            if d.len() > 100_000 {
                let mid = d.len() / 2;
                d[mid] ^= 0xff;
            }
            (n.clone(), d)
        })
        .collect();
    cases.push(("tampered OCI blob", make_tar(&m), "content hashes to"));

    cases.push((
        "not a tar",
        b"hello, this is a text file\n".repeat(50),
        "not a valid tar archive",
    ));
    cases.push(("empty", Vec::new(), "is empty"));
    cases.push((
        "xz",
        b"\xfd7zXZ\x00\x00\x04".to_vec(),
        "xz compression is not supported",
    ));
    cases.push((
        "neither format",
        make_tar(&[("hello.txt".to_string(), b"hi".to_vec())]),
        "neither a docker archive nor an OCI archive",
    ));

    // The store already holds an image, one that shares no blob with the archives (a blob the
    // store has is not read from the archive).
    let dst = Env::new();
    let keep = dst.path("keep.tar");
    std::fs::write(
        &keep,
        make_tar(&[("etc/keep".to_string(), b"keep".to_vec())]),
    )
    .unwrap();
    dst.run("img-import", &[path_str(&keep), "keep:1"]).ok();
    let before = dst.store_state();
    for (what, data, fragment) in cases {
        let file = dst.path("hostile.tar");
        std::fs::write(&file, &data).unwrap();
        let out = dst.run("img-load", &["-i", path_str(&file)]);
        assert_eq!(out.code, 1, "{what}: {out:?}");
        assert!(
            out.stderr.contains(fragment),
            "{what}: wanted {fragment:?}: {out:?}"
        );
        assert!(
            out.stderr.starts_with("img-load: error: "),
            "{what}: {out:?}"
        );
        assert_eq!(out.stdout, "", "{what}");
        assert_eq!(dst.store_state(), before, "{what}: the store is unchanged");
        // The same through stdin.
        let out = crate::support::run_with_stdin(&mut dst.cmd("img-load"), &data);
        assert_eq!(out.code, 1, "{what} (stdin): {out:?}");
        assert_eq!(
            dst.store_state(),
            before,
            "{what} (stdin): the store is unchanged"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dst.images())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        // The writers' lock file stays, as index.json.lock does; temporary blobs must not.
        .filter(|n| n.starts_with(".berth") && n != ".berth-gc.lock")
        .collect();
    assert!(leftovers.is_empty(), "no temporary files: {leftovers:?}");
}
