//! Docker parity of image metadata (issue 15, items 6, 7 and 10's `img-ls -q`): uncompressed
//! sizes in img-ls, img-inspect and img-history; img-inspect's Container, ContainerConfig,
//! VirtualSize and GraphDriver; no RepoDigest for a name that never met a registry; img-prune
//! of dangling and unused images; img-rm of images containers use. Where a private dockerd can
//! run, the same steps are checked against Docker 20.10's answers.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::fake_registry::{tar_of, Behaviour, FakeImage, FakeRegistry};
use crate::support::{busybox_tarball, rig, Compression, Env};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A layer Docker measures as 100003 bytes: a 100000-byte file (zeros, so that it compresses to
/// almost nothing), a hard link and a symlink to it (0 each), a 3-byte file, directories.
fn sized_tar(path: &Path) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    dir.set_mode(0o755);
    b.append_data(&mut dir.clone(), "bin/", &[][..]).unwrap();
    b.append_data(&mut dir, "etc/", &[][..]).unwrap();
    let mut f = tar::Header::new_gnu();
    f.set_size(100_000);
    f.set_mode(0o755);
    b.append_data(&mut f, "bin/a", &vec![0u8; 100_000][..])
        .unwrap();
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Link);
    l.set_size(0);
    b.append_link(&mut l, "bin/b", "bin/a").unwrap();
    let mut y = tar::Header::new_gnu();
    y.set_entry_type(tar::EntryType::Symlink);
    y.set_size(0);
    b.append_link(&mut y, "bin/c", "/bin/a").unwrap();
    let mut g = tar::Header::new_gnu();
    g.set_size(3);
    g.set_mode(0o644);
    b.append_data(&mut g, "etc/x", &b"hi\n"[..]).unwrap();
    std::fs::write(path, b.into_inner().unwrap()).unwrap();
    path.to_path_buf()
}

fn inspect(env: &Env, name: &str) -> Value {
    env.run("img-inspect", &[name]).ok().json()[0].clone()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn sizes_are_uncompressed_as_docker_counts_them() {
    let env = Env::new();
    let tarball = sized_tar(&env.path("sized.tar"));
    let made = env
        .run("img-import", &[s(&tarball), "meta/sized:1"])
        .ok()
        .json();
    let id = made["id"].as_str().unwrap();
    let i = inspect(&env, "meta/sized:1");
    assert_eq!(i["Size"], json!(100_003), "{i}");
    assert_eq!(i["VirtualSize"], json!(100_003));
    let ls = env.run("img-ls", &["--format", "json"]).ok().json_lines();
    assert_eq!(ls[0]["Size"], "100kB");
    let hist = env
        .run("img-history", &["--format", "{{.Size}}", "meta/sized:1"])
        .ok();
    assert_eq!(hist.stdout, "100kB\n");
    let raw = env
        .run(
            "img-history",
            &["-H=false", "--format", "{{.Size}}", "meta/sized:1"],
        )
        .ok();
    assert_eq!(raw.stdout, "100003\n");
    // The stored layer is far smaller: the sizes are not the blob's.
    let layer = env
        .run(
            "img-inspect",
            &["--format", "{{index .RootFS.Layers 0}}", id],
        )
        .ok();
    assert!(!layer.stdout.trim().is_empty());
    let blobs: u64 = std::fs::read_dir(env.images().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(blobs < 50_000, "all blobs take {blobs} bytes");
    // Measured once and recorded; without the record it is measured again, the same.
    let records = env.images().join(".berth-sizes");
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), 1);
    std::fs::remove_dir_all(&records).unwrap();
    assert_eq!(inspect(&env, id)["Size"], json!(100_003));
}

#[test]
fn inspect_has_dockers_fields_and_no_invented_repo_digest() {
    let env = Env::new();
    env.import_busybox("meta/local:1");
    env.run("img-tag", &["meta/local:1", "meta/other:2"]).ok();
    let i = inspect(&env, "meta/local:1");
    assert_eq!(i["RepoDigests"], json!([]), "never pulled nor pushed: {i}");
    let digests = env.run("img-ls", &["--format", "{{.Digest}}"]).ok();
    assert_eq!(
        digests.stdout, "<none>\n<none>\n",
        "as docker images --digests"
    );
    assert_eq!(i["RepoTags"], json!(["meta/local:1", "meta/other:2"]));
    assert_eq!(i["Container"], "");
    assert_eq!(i["VirtualSize"], i["Size"]);
    assert!(i["Size"].as_u64().unwrap() > 0);
    // The image's layers are not unpacked yet: no directories to show.
    assert_eq!(i["GraphDriver"], json!({"Data": null, "Name": "overlay2"}));
    // Docker 20.10's zero ContainerConfig, and its Config fields (Hostname, Image… included).
    let zero = json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false,
        "AttachStdout": false, "AttachStderr": false, "Tty": false, "OpenStdin": false,
        "StdinOnce": false, "Env": null, "Cmd": null, "Image": "", "Volumes": null,
        "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null
    });
    assert_eq!(i["ContainerConfig"], zero);
    assert_eq!(keys(&i["Config"]), keys(&zero), "{}", i["Config"]);
    assert_eq!(i["Config"]["Image"], "");
    assert_eq!(
        env.run(
            "img-inspect",
            &[
                "--format",
                "{{.Config.Image}}|{{.Container}}",
                "meta/local:1"
            ]
        )
        .ok()
        .stdout,
        "|\n"
    );
}

#[test]
fn a_pulled_image_has_its_repo_digest_graph_driver_and_recorded_sizes() {
    require_root!();
    let img = FakeImage::new(
        "meta/pulled",
        "1",
        vec![
            tar_of(&[("a", &[1u8; 3000][..])]),
            tar_of(&[("b", &[2u8; 500][..])]),
        ],
    );
    let fake = FakeRegistry::start(img.clone(), Behaviour::normal());
    let env = Env::new();
    let reference = fake.reference(&img);
    let pulled = env.run("img-pull", &["-q", &reference]).ok().json();
    // Recorded as the layers were unpacked: nothing is measured again.
    let records = env.images().join(".berth-sizes");
    assert_eq!(std::fs::read_dir(&records).unwrap().count(), 2);
    let i = inspect(&env, &reference);
    let name = format!("127.0.0.1:{}/meta/pulled", fake.port());
    assert_eq!(
        i["RepoDigests"],
        json!([format!("{name}@{}", img.digest())])
    );
    assert_eq!(i["Size"], json!(3500));
    assert_eq!(i["VirtualSize"], json!(3500));
    let snaps: Vec<&str> = pulled["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(snaps.len(), 2);
    assert_eq!(
        i["GraphDriver"],
        json!({"Data": {"LowerDir": snaps[0], "UpperDir": snaps[1]}, "Name": "overlay2"})
    );
    assert!(Path::new(snaps[1]).join("b").is_file());
    let hist = env
        .run(
            "img-history",
            &["-H=false", "--format", "{{.Size}}", &reference],
        )
        .ok();
    assert_eq!(hist.lines(), ["500", "3000"]);

    // A local name of it: the repository's digest still shows, the local one gets none.
    env.run("img-tag", &[&reference, "meta/mine:1"]).ok();
    let i = inspect(&env, "meta/mine:1");
    assert_eq!(
        i["RepoDigests"],
        json!([format!("{name}@{}", img.digest())])
    );
    let ls = env
        .run("img-ls", &["--format", "{{.Repository}} {{.Digest}}"])
        .ok();
    let mut rows = ls.lines();
    rows.sort();
    assert_eq!(
        rows,
        [
            format!("{name} {}", img.digest()),
            "meta/mine <none>".to_string()
        ]
    );
    // Untagged from the registry's repository: its digest goes with its last tag, as Docker.
    env.run("img-rm", &[&reference]).ok();
    assert_eq!(inspect(&env, "meta/mine:1")["RepoDigests"], json!([]));
}

#[test]
fn img_ls_q_prints_one_line_per_tag() {
    let env = Env::new();
    let a = env.import_busybox("meta/q:1");
    env.run("img-tag", &["meta/q:1", "meta/q:2"]).ok();
    let id = &a["id"].as_str().unwrap()[7..19];
    let out = env.run("img-ls", &["-q"]).ok();
    assert_eq!(out.stdout, format!("{id}\n{id}\n"));
    let full = env.run("img-ls", &["-q", "--no-trunc"]).ok();
    assert_eq!(full.lines(), [a["id"].as_str().unwrap(); 2]);
}

/// Imports a tarball whose single file has `content`: a distinct image each time.
fn import_with(env: &Env, name: &str, content: &str, reference: &str, labels: &[&str]) -> String {
    let tarball = env.path(name);
    std::fs::write(&tarball, tar_of(&[("etc/content", content.as_bytes())])).unwrap();
    let mut args = vec![s(&tarball).to_string(), reference.to_string()];
    for l in labels {
        args.push("--change".into());
        args.push(format!("LABEL {l}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run("img-import", &args).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn img_prune_removes_dangling_then_with_all_every_unused_image() {
    let env = Env::new();
    let dangling = import_with(&env, "d.tar", "first", "meta/p:1", &[]);
    let tagged = import_with(&env, "t.tar", "second", "meta/p:1", &["keep=yes"]);
    let used = import_with(&env, "u.tar", "third", "meta/used:1", &[]);
    let c = env.root.join("containers/0123abcd");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("state.json"), json!({"Image": used}).to_string()).unwrap();

    // Bad input: a clear error, nothing removed.
    let before = env.store_state();
    env.run("img-prune", &["--filter", "name=x"])
        .fails_with(2, "invalid filter");
    env.run("img-prune", &["--filter", "until=soon"])
        .fails_with(2, "until");
    assert_eq!(env.store_state(), before);

    // What a writer killed while recording a size left (its pid is not alive).
    let stale = env
        .images()
        .join(".berth-sizes/.sha256-00.999999999_5-abcdef");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::write(&stale, "12").unwrap();

    // Dangling only.
    let out = env.run("img-prune", &[]).ok().json();
    assert!(!stale.exists());
    assert_eq!(out["leftovers"], json!([s(&stale)]));
    assert_eq!(out["images"], json!([dangling]), "{out}");
    assert_eq!(out["untagged"], json!([]));
    assert!(out["reclaimed"].as_u64().unwrap() > 0);
    assert!(out["total_reclaimed_space"]
        .as_str()
        .unwrap()
        .ends_with('B'));
    env.run("img-inspect", &[&dangling])
        .fails_with(1, "no such image");

    // -a with filters no image matches: nothing.
    for f in ["until=2000-01-01", "label=nosuch", "label!=keep"] {
        let out = env.run("img-prune", &["-a", "--filter", f]).ok().json();
        assert_eq!(out["images"], json!([]), "{f}: {out}");
    }
    // -a: every image no container uses, tagged or not.
    let out = env
        .run("img-prune", &["-a", "--filter", "label=keep=yes"])
        .ok()
        .json();
    assert_eq!(out["images"], json!([tagged]), "{out}");
    assert_eq!(out["untagged"], json!(["meta/p:1"]));
    let ls = env
        .run("img-ls", &["--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert_eq!(ls.stdout, "meta/used:1\n", "a container's image stays");
    std::fs::remove_dir_all(&c).unwrap();
    let out = env
        .run("img-prune", &["--filter", "dangling=false"])
        .ok()
        .json();
    assert_eq!(out["images"], json!([used]));
    assert_eq!(env.run("img-ls", &["-q"]).ok().stdout, "");
}

/// Docker's conflict text with the IDs made generic, to compare berth's and Docker's.
fn generic(text: &str, ids: &[&str]) -> String {
    let mut t = text
        .lines()
        .find(|l| l.contains("conflict"))
        .unwrap_or(text)
        .to_string();
    for (n, id) in ids.iter().enumerate() {
        t = t.replace(id, &format!("<ID{n}>"));
    }
    t.trim()
        .trim_start_matches("Error response from daemon: ")
        .trim_start_matches("img-rm: error: ")
        .to_string()
}

#[test]
fn img_rm_of_images_containers_use_as_docker() {
    require_root!();
    let t = rig::Rig::with_image("meta/bb:1");
    let image = inspect(&t.env, "meta/bb:1")["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let short = image[7..19].to_string();
    t.env.run("img-tag", &["meta/bb:1", "meta/bb:2"]).ok();
    let ctr = t.detach(&[
        "--name",
        "runner",
        "--network",
        "none",
        "meta/bb:1",
        "sleep",
        "1000",
    ]);
    let cshort = ctr[..12].to_string();
    let before = t.env.store_state();

    // Running: by ID never, forced or not (Docker checks running containers first).
    let forced = t.env.run("img-rm", &["-f", &short]).fails_with(
        1,
        &format!("conflict: unable to delete {short} (cannot be forced) - image is being used by running container {cshort}"),
    );
    t.env
        .run("img-rm", &[&short])
        .fails_with(1, "(cannot be forced)");
    assert_eq!(t.env.store_state(), before, "nothing changed");
    // By name: another name goes; the last one needs -f, and then the image stays, untagged.
    t.env.run("img-rm", &["meta/bb:2"]).ok();
    let must_force = t.env.run("img-rm", &["meta/bb:1"]).fails_with(
        1,
        &format!("conflict: unable to remove repository reference \"meta/bb:1\" (must force) - container {cshort} is using its referenced image {short}"),
    );
    let out = t.env.run("img-rm", &["-f", "meta/bb:1"]).ok().json();
    assert_eq!(out, json!({"untagged": ["meta/bb:1"], "deleted": []}));
    let ls = t
        .env
        .run("img-ls", &["--format", "{{.Repository}} {{.Tag}} {{.ID}}"])
        .ok();
    assert_eq!(ls.stdout, format!("<none> <none> {short}\n"));

    // Stopped: by ID it must be forced; forced, it is deleted (no <none> left), and the
    // container still starts from the snapshots it keeps, even after a prune.
    t.t("ctr-stop", &["-t", "0", "runner"], 30).ok();
    let stopped = t.env.run("img-rm", &[&short]).fails_with(
        1,
        &format!("conflict: unable to delete {short} (must be forced) - image is being used by stopped container {cshort}"),
    );
    let out = t.env.run("img-rm", &["-f", &short]).ok().json();
    assert_eq!(out, json!({"untagged": [], "deleted": [image]}));
    assert_eq!(t.env.run("img-ls", &["-q"]).ok().stdout, "");
    t.env.run("img-prune", &["-a"]).ok();
    t.t("ctr-start", &["runner"], 30).ok();
    let state = t
        .env
        .run("ctr-inspect", &["--format", "{{.State.Status}}", "runner"])
        .ok();
    assert_eq!(state.stdout.trim(), "running");

    // Docker 20.10's answers to the same steps.
    let docker = require_dockerd!();
    let tarball = busybox_tarball(&t.env.path("bb-docker.tar"), Compression::None);
    let did = docker
        .docker(&["import", s(&tarball), "meta/bb:1"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let dshort = did[7..19].to_string();
    docker.docker(&["tag", "meta/bb:1", "meta/bb:2"]).ok();
    let dctr = docker
        .docker(&[
            "run",
            "-d",
            "--network",
            "none",
            "meta/bb:1",
            "sleep",
            "1000",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let dcshort = dctr[..12].to_string();
    let d_forced = docker.docker(&["rmi", "-f", &dshort]);
    assert_eq!(d_forced.code, 1);
    assert_eq!(
        generic(&forced.stderr, &[&short, &cshort]),
        generic(&d_forced.stderr, &[&dshort, &dcshort])
    );
    docker.docker(&["rmi", "meta/bb:2"]).ok();
    let d_must = docker.docker(&["rmi", "meta/bb:1"]);
    assert_eq!(d_must.code, 1);
    assert_eq!(
        generic(&must_force.stderr, &[&short, &cshort]),
        generic(&d_must.stderr, &[&dshort, &dcshort])
    );
    docker.docker(&["rmi", "-f", "meta/bb:1"]).ok();
    let d_ls = docker
        .docker(&["images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}"])
        .ok();
    assert_eq!(d_ls.stdout, format!("<none> <none> {dshort}\n"));
    docker.docker(&["stop", "-t", "0", &dctr]).ok();
    let d_stopped = docker.docker(&["rmi", &dshort]);
    assert_eq!(
        generic(&stopped.stderr, &[&short, &cshort]),
        generic(&d_stopped.stderr, &[&dshort, &dcshort])
    );
    docker.docker(&["rmi", "-f", &dshort]).ok();
    assert_eq!(docker.docker(&["images", "-q"]).ok().stdout, "");
    docker.docker(&["rm", "-f", &dctr]).ok();
}

#[test]
fn docker_agrees_on_sizes_inspect_fields_ls_q_and_prune() {
    require_root!();
    let docker = require_dockerd!();
    let env = Env::new();
    let tarball = sized_tar(&env.path("sized.tar"));
    env.run("img-import", &[s(&tarball), "meta/sized:1"]).ok();
    docker.docker(&["import", s(&tarball), "meta/sized:1"]).ok();
    let ours = inspect(&env, "meta/sized:1");
    let theirs = docker
        .docker(&["image", "inspect", "meta/sized:1"])
        .ok()
        .json()[0]
        .clone();
    for k in [
        "Size",
        "VirtualSize",
        "RepoDigests",
        "Container",
        "ContainerConfig",
    ] {
        assert_eq!(ours[k], theirs[k], "{k}");
    }
    assert_eq!(keys(&ours["Config"]), keys(&theirs["Config"]));
    assert_eq!(theirs["Size"], json!(100_003));
    let digests = ["--format", "{{.Digest}}"];
    assert_eq!(
        env.run("img-ls", &digests).ok().stdout,
        docker
            .docker(&["images", digests[0], digests[1]])
            .ok()
            .stdout,
        "<none> for a local-only image"
    );
    let fmt = ["--format", "{{.Size}}"];
    assert_eq!(
        env.run("img-ls", &fmt).ok().stdout,
        docker.docker(&["images", fmt[0], fmt[1]]).ok().stdout
    );
    assert_eq!(
        env.run("img-history", &[fmt[0], fmt[1], "meta/sized:1"])
            .ok()
            .stdout,
        docker
            .docker(&["history", fmt[0], fmt[1], "meta/sized:1"])
            .ok()
            .stdout
    );

    // -q: one line per tag.
    env.run("img-tag", &["meta/sized:1", "meta/sized:2"]).ok();
    docker.docker(&["tag", "meta/sized:1", "meta/sized:2"]).ok();
    assert_eq!(
        env.run("img-ls", &["-q"]).ok().lines().len(),
        docker.docker(&["images", "-q"]).ok().lines().len()
    );
    assert_eq!(env.run("img-ls", &["-q"]).ok().lines().len(), 2);

    // Prune: the image a re-import left dangling goes, without -a; -a takes the rest.
    let other = env.path("other.tar");
    std::fs::write(&other, tar_of(&[("etc/other", b"other\n")])).unwrap();
    env.run("img-import", &[s(&other), "meta/sized:1"]).ok();
    docker.docker(&["import", s(&other), "meta/sized:1"]).ok();
    let ours = env.run("img-prune", &[]).ok().json();
    let theirs = docker.docker(&["image", "prune", "-f"]).ok();
    assert_eq!(
        ours["images"].as_array().unwrap().len(),
        0,
        "still tagged meta/sized:2"
    );
    assert!(!theirs.stdout.contains("deleted:"), "{theirs:?}");
    env.run("img-rm", &["meta/sized:2"]).ok();
    docker.docker(&["rmi", "meta/sized:2"]).ok();
    let ours = env.run("img-prune", &["-a"]).ok().json();
    let theirs = docker.docker(&["image", "prune", "-a", "-f"]).ok();
    assert_eq!(ours["untagged"], json!(["meta/sized:1"]));
    assert!(
        theirs.stdout.contains("untagged: meta/sized:1"),
        "{theirs:?}"
    );
    assert_eq!(ours["images"].as_array().unwrap().len(), 1);
    assert!(theirs.stdout.contains("deleted: sha256:"), "{theirs:?}");
    assert_eq!(env.run("img-ls", &["-q"]).ok().stdout, "");
    assert_eq!(docker.docker(&["images", "-q"]).ok().stdout, "");

    // Pulled from the same registry: the same size and the same RepoDigests.
    let img = FakeImage::new(
        "meta/pulled",
        "1",
        vec![
            tar_of(&[("bin/a", &[1u8; 3000][..]), ("etc/b", &b"bee\n"[..])]),
            tar_of(&[("etc/c", &[2u8; 700][..])]),
        ],
    );
    let fake = FakeRegistry::start(img.clone(), Behaviour::normal());
    let reference = fake.reference(&img);
    env.run("img-pull", &["-q", &reference]).ok();
    docker.docker(&["pull", "-q", &reference]).ok();
    let ours = inspect(&env, &reference);
    let theirs = docker.docker(&["image", "inspect", &reference]).ok().json()[0].clone();
    for k in ["Id", "Size", "VirtualSize", "RepoDigests", "RepoTags"] {
        assert_eq!(ours[k], theirs[k], "{k}");
    }
    assert_eq!(
        env.run("img-history", &["-H=false", fmt[0], fmt[1], &reference])
            .ok()
            .stdout,
        docker
            .docker(&["history", "-H=false", fmt[0], fmt[1], &reference])
            .ok()
            .stdout
    );
}
