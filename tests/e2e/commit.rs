//! img-commit: a directory of changes (an overlayfs upper dir) becomes a new layer on a base
//! image; the same change gives the same layer; the image travels through a registry and
//! unpacks with the change in it.

use std::path::Path;

use serde_json::json;

use crate::support::{Env, Registry};

/// An upper directory: a new file, a changed file, a removed file (overlay whiteout), and an
/// opaque directory that replaces one of the base's.
fn make_upper(dir: &Path, order_reversed: bool) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("app")).unwrap();
    let files: Vec<(&str, &[u8])> = vec![
        ("app/main.sh", b"#!/bin/sh\necho committed\n"),
        ("app/data.txt", b"data\n"),
        ("etc/motd", b"hello from the commit\n"),
    ];
    let mut files = files;
    if order_reversed {
        files.reverse();
    }
    for (p, c) in files {
        std::fs::write(dir.join(p), c).unwrap();
    }
    for (p, t) in [
        ("app", 1_700_000_000),
        ("etc", 1_700_000_000),
        ("app/main.sh", 1_700_000_100),
        ("app/data.txt", 1_700_000_100),
        ("etc/motd", 1_700_000_100),
    ] {
        let f = std::fs::File::open(dir.join(p)).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t))
            .unwrap();
    }
}

fn layers_of(env: &Env, image: &str) -> Vec<String> {
    let out = env
        .run(
            "img-inspect",
            &["--format", "{{json .RootFS.Layers}}", image],
        )
        .ok();
    serde_json::from_str(out.stdout.trim()).unwrap()
}

#[test]
fn the_same_change_gives_the_same_layer_and_the_config_says_what_was_asked() {
    let env = Env::new();
    env.import_busybox("base:1");
    let a = env.path("upper-a");
    let b = env.path("upper-b");
    make_upper(&a, false);
    make_upper(&b, true);
    let one = env
        .run(
            "img-commit",
            &[
                "--upper",
                a.to_str().unwrap(),
                "--base",
                "base:1",
                "-a",
                "Jane <jane@example.com>",
                "-m",
                "add the app",
                "-c",
                "CMD [\"/app/main.sh\"]",
                "-c",
                "ENV MODE=prod",
                "app:1",
            ],
        )
        .ok()
        .json();
    // Reading the files again (atimes) and another directory with the same content: same layer.
    let _ = std::fs::read(a.join("etc/motd")).unwrap();
    let two = env
        .run(
            "img-commit",
            &["--upper", b.to_str().unwrap(), "--base", "base:1", "app:2"],
        )
        .ok()
        .json();
    assert_eq!(one["layer"], two["layer"], "same change, same layer digest");
    assert_eq!(one["diff_id"], two["diff_id"]);
    assert_ne!(
        one["id"], two["id"],
        "the configs differ (time, author, changes)"
    );
    assert_eq!(one["ref"], json!("docker.io/library/app:1"));

    let base_layers = layers_of(&env, "base:1");
    let layers = layers_of(&env, "app:1");
    assert_eq!(layers.len(), base_layers.len() + 1);
    assert_eq!(&layers[..base_layers.len()], &base_layers[..]);
    assert_eq!(json!(layers.last().unwrap()), one["diff_id"]);

    let inspect = env.run("img-inspect", &["app:1"]).ok().json();
    let i = &inspect[0];
    assert_eq!(i["Author"], json!("Jane <jane@example.com>"));
    assert_eq!(i["Config"]["Cmd"], json!(["/app/main.sh"]));
    assert!(i["Config"]["Env"]
        .as_array()
        .unwrap()
        .contains(&json!("MODE=prod")));
    let history = env
        .run("img-history", &["--format", "{{.Comment}}", "app:1"])
        .ok();
    assert_eq!(
        history.lines()[0],
        "add the app",
        "newest first, with the message"
    );

    // zstd on request.
    let z = env
        .run(
            "img-commit",
            &[
                "--upper",
                a.to_str().unwrap(),
                "--base",
                "base:1",
                "--compression",
                "zstd",
                "app:z",
            ],
        )
        .ok()
        .json();
    assert_eq!(
        z["diff_id"], one["diff_id"],
        "the same tar, compressed otherwise"
    );
    assert_ne!(z["layer"], one["layer"]);

    // Bad input changes nothing.
    let before = env.store_state();
    env.run(
        "img-commit",
        &[
            "--upper",
            env.path("missing").to_str().unwrap(),
            "--base",
            "base:1",
            "x:1",
        ],
    )
    .fails_with(1, "missing");
    env.run(
        "img-commit",
        &["--upper", a.to_str().unwrap(), "--base", "nosuch:1", "x:1"],
    )
    .fails_with(1, "no such image");
    env.run(
        "img-commit",
        &["--upper", a.to_str().unwrap(), "-c", "BOGUS x", "x:1"],
    )
    .fails_with(1, "BOGUS");
    assert_eq!(env.store_state(), before);
}

#[test]
fn whiteouts_and_opaque_dirs_travel_through_a_registry() {
    require_root!();
    require_program!("docker-registry");
    let env = Env::new();
    env.import_busybox("base:1");
    let base = env.path("base-rootfs");
    env.run("img-unpack", &["base:1", base.to_str().unwrap()])
        .ok();
    assert!(base.join("bin/echo").exists() && base.join("etc/passwd").exists());
    let upper = env.path("upper");
    make_upper(&upper, false);
    // Overlayfs's own marks: bin/echo removed, and a new opaque /app... over a base /etc file.
    let ok = std::process::Command::new("mknod")
        .args([upper.join("bin-echo-wh").to_str().unwrap(), "c", "0", "0"])
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::create_dir_all(upper.join("bin")).unwrap();
    std::fs::rename(upper.join("bin-echo-wh"), upper.join("bin/echo")).unwrap();
    let ok = std::process::Command::new("setfattr")
        .args([
            "-n",
            "trusted.overlay.opaque",
            "-v",
            "y",
            upper.join("etc").to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    env.run(
        "img-commit",
        &[
            "--upper",
            upper.to_str().unwrap(),
            "--base",
            "base:1",
            "app:1",
        ],
    )
    .ok();

    let reg = Registry::start();
    let dest = format!("{}/team/app:1", reg.addr());
    env.run("img-push", &["app:1", &dest]).ok();
    let elsewhere = Env::new();
    elsewhere
        .run("img-pull", &["-q", "--no-unpack", &dest])
        .ok();
    let dir = elsewhere.path("rootfs");
    elsewhere
        .run("img-unpack", &[&dest, dir.to_str().unwrap()])
        .ok();
    assert_eq!(
        std::fs::read_to_string(dir.join("app/main.sh")).unwrap(),
        "#!/bin/sh\necho committed\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("etc/motd")).unwrap(),
        "hello from the commit\n"
    );
    assert!(!dir.join("bin/echo").exists(), "the whiteout removed it");
    assert!(dir.join("bin/sh").exists(), "the rest of the base is there");
    let etc: Vec<String> = std::fs::read_dir(dir.join("etc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(etc, ["motd"], "the opaque /etc hides the base's");
}
