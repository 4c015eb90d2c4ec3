//! img-prune: unreferenced blobs, dangling images no container uses, snapshots no image
//! uses, and what interrupted writers left.

use serde_json::json;

use crate::support::fake_registry::{tar_of, Behaviour, FakeImage, FakeRegistry};
use crate::support::Env;

fn blob_names(env: &Env) -> Vec<String> {
    env.store_state().1
}

#[test]
fn prune_removes_dangling_images_and_never_what_a_container_uses() {
    let env = Env::new();
    let first = env.import_busybox("app:1");
    // The same name on other content: the first image is now dangling.
    let root = env.path("other");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/motd"), "other\n").unwrap();
    let tarball = env.path("other.tar");
    let ok = std::process::Command::new("tar")
        .args([
            "-C",
            root.to_str().unwrap(),
            "-cf",
            tarball.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(ok.success());
    let second = env
        .run("img-import", &[tarball.to_str().unwrap(), "app:1"])
        .ok()
        .json();
    let id1 = first["id"].as_str().unwrap();
    let layer1 = env
        .run(
            "img-inspect",
            &["--format", "{{index .RootFS.Layers 0}}", id1],
        )
        .ok();
    assert!(!layer1.stdout.trim().is_empty());

    // Leftovers of writers that died.
    std::fs::write(env.images().join(".berth-partial-sha256-0000"), b"half").unwrap();
    std::fs::write(env.images().join(".berth-blob-XYZ"), b"temp").unwrap();

    // A container uses the dangling image: it stays, the leftovers go.
    let c = env.root.join("containers/c1");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("state.json"), json!({"Image": id1}).to_string()).unwrap();
    let before = blob_names(&env);
    let out = env.run("img-prune", &[]).ok().json();
    assert_eq!(out["images"], json!([]), "in use: kept");
    assert_eq!(out["blobs"], json!([]));
    assert_eq!(out["leftovers"].as_array().unwrap().len(), 2, "{out}");
    assert_eq!(blob_names(&env), before);
    assert!(!env.images().join(".berth-partial-sha256-0000").exists());
    env.run("img-inspect", &[id1]).ok();

    // Once no container uses it, a prune removes it (dangling: -a is not needed, as Docker)
    // and every blob only it had; the tagged image stays.
    std::fs::remove_dir_all(&c).unwrap();
    let out = env.run("img-prune", &["-f"]).ok().json();
    assert_eq!(out["images"], json!([id1]));
    assert!(out["reclaimed"].as_u64().unwrap() > 0);
    let removed: Vec<&str> = out["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(removed.contains(&id1), "the config blob goes: {removed:?}");
    env.run("img-inspect", &[id1])
        .fails_with(1, "no such image");
    // The tagged image is whole.
    let id2 = second["id"].as_str().unwrap();
    let shown = env
        .run("img-inspect", &["--format", "{{.Id}}", "app:1"])
        .ok();
    assert_eq!(shown.stdout.trim(), id2);
    for b in blob_names(&env) {
        assert!(!removed.contains(&format!("sha256:{b}").as_str()));
    }
    // Nothing left to do (without -a the tagged image is no candidate).
    let out = env.run("img-prune", &[]).ok().json();
    assert_eq!(out["blobs"], json!([]));
    assert_eq!(out["reclaimed"], json!(0));
}

#[test]
fn prune_removes_snapshots_of_removed_images_and_stale_temporaries() {
    require_root!();
    let keep = FakeImage::new("prune/keep", "1", vec![tar_of(&[("k", b"keep")])]);
    let gone = FakeImage::new("prune/gone", "1", vec![tar_of(&[("g", b"gone")])]);
    let env = Env::new();
    let mut snaps = Vec::new();
    for img in [&keep, &gone] {
        let fake = FakeRegistry::start(img.clone(), Behaviour::normal());
        let out = env
            .run("img-pull", &["-q", &fake.reference(img)])
            .ok()
            .json();
        snaps.push(out["snapshots"][0].as_str().unwrap().to_string());
        env.run("img-rm", &[&fake.reference(img)]).ok();
        // Pull it again to keep `keep`; `gone` stays removed.
        if std::ptr::eq(img, &keep) {
            env.run("img-pull", &["-q", &fake.reference(img)]).ok();
        }
    }
    let stale = env.root.join("snapshots/.tmp-abc-999999999");
    std::fs::create_dir_all(stale.join("x")).unwrap();
    let out = env.run("img-prune", &[]).ok().json();
    let gone_hex = std::path::Path::new(&snaps[1])
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(out["snapshots"], json!([gone_hex]), "{out}");
    assert!(
        std::path::Path::new(&snaps[0]).join("k").exists(),
        "the used snapshot stays"
    );
    assert!(!std::path::Path::new(&snaps[1]).exists());
    assert!(
        !stale.exists(),
        "a temporary of a process that is gone is removed"
    );
}
