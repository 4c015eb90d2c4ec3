//! img-tag and img-rm with Docker's rules.

use serde_json::json;

use crate::support::Env;

fn blob_count(env: &Env) -> usize {
    std::fs::read_dir(env.images().join("blobs/sha256"))
        .unwrap()
        .count()
}

#[test]
fn tag_adds_names_and_moving_a_tag_leaves_the_old_image_untagged() {
    let env = Env::new();
    let a = env.import_busybox("app:1");
    let out = env
        .run(
            "img-tag",
            &["app:1", "registry.example.com/team/app:stable"],
        )
        .ok()
        .json();
    assert_eq!(out["ref"], "registry.example.com/team/app:stable");
    assert_eq!(out["id"], a["id"]);
    let i = env.run("img-inspect", &["app:1"]).ok().json();
    assert_eq!(
        i[0]["RepoTags"],
        json!(["app:1", "registry.example.com/team/app:stable"])
    );

    // Import another image as app:1: the name moves, the first image stays untagged.
    let t = env.path("changed.tar");
    crate::support::busybox_tarball(&t, crate::support::Compression::None);
    let b = env
        .run(
            "img-import",
            &["-c", "USER nobody", t.to_str().unwrap(), "app:1"],
        )
        .ok()
        .json();
    assert_ne!(a["id"], b["id"]);
    let i = env
        .run("img-inspect", &[a["id"].as_str().unwrap()])
        .ok()
        .json();
    assert_eq!(
        i[0]["RepoTags"],
        json!(["registry.example.com/team/app:stable"])
    );
    env.run("img-rm", &["registry.example.com/team/app:stable"])
        .ok();
    let dangling = env
        .run("img-ls", &["--filter", "dangling=true"])
        .ok()
        .json_lines();
    assert!(
        dangling.is_empty(),
        "a removed image is gone, not dangling: {dangling:?}"
    );

    // `-` takes the previous tool's output.
    let piped = env
        .run_stdin(
            "img-tag",
            &["-", "piped:ok"],
            serde_json::to_string(&b).unwrap().as_bytes(),
        )
        .ok()
        .json();
    assert_eq!(piped["id"], b["id"]);

    env.run("img-tag", &["app:1", "Bad/Name"])
        .fails_with(1, "must be lowercase");
    env.run(
        "img-tag",
        &["app:1", &format!("x@{}", a["digest"].as_str().unwrap())],
    )
    .fails_with(1, "digest");
    env.run("img-tag", &["nosuch", "x:1"])
        .fails_with(1, "no such image: nosuch:latest");
}

#[test]
fn rm_untags_then_deletes_with_the_last_name() {
    let env = Env::new();
    let empty_blobs = {
        env.import_busybox("first:1");
        let n = blob_count(&env);
        env.run("img-rm", &["first:1"]).ok();
        assert_eq!(blob_count(&env), 0, "every blob of the only image is gone");
        n
    };
    assert_eq!(empty_blobs, 3, "layer, config and manifest");

    let a = env.import_busybox("a:1");
    env.run("img-tag", &["a:1", "a:2"]).ok();
    let id = a["id"].as_str().unwrap();
    // By ID with two names: needs -f.
    env.run("img-rm", &[&id[7..19]])
        .fails_with(1, "must be forced");
    let out = env.run("img-rm", &["a:1"]).ok().json();
    assert_eq!(out, json!({"untagged": ["a:1"], "deleted": []}));
    assert_eq!(blob_count(&env), 3);
    let out = env.run("img-rm", &["a:2"]).ok().json();
    assert_eq!(out, json!({"untagged": ["a:2"], "deleted": [id]}));
    assert_eq!(blob_count(&env), 0);

    let a = env.import_busybox("b:1");
    env.run("img-tag", &["b:1", "b:2"]).ok();
    let out = env
        .run("img-rm", &["-f", a["id"].as_str().unwrap()])
        .ok()
        .json();
    assert_eq!(out["untagged"], json!(["b:1", "b:2"]));
    assert_eq!(out["deleted"], json!([a["id"]]));
    assert!(env.run("img-ls", &[]).ok().stdout.is_empty());

    env.run("img-rm", &["nosuch"])
        .fails_with(1, "no such image");
}

#[test]
fn rm_of_an_image_a_stopped_container_uses_needs_force_then_deletes_it() {
    let env = Env::new();
    let a = env.import_busybox("used:1");
    let id = a["id"].as_str().unwrap();
    // A container that is not running (its record has no live process).
    let c = env.root.join("containers/0123abcd");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("state.json"), json!({"Image": id}).to_string()).unwrap();
    env.run("img-rm", &["used:1"]).fails_with(
        1,
        "(must force) - container 0123abcd is using its referenced image",
    );
    env.run("img-rm", &[&id[7..19]]).fails_with(
        1,
        &format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container 0123abcd",
            &id[7..19]
        ),
    );
    // As Docker 20.10: -f untags and deletes it, leaving no <none> behind.
    let out = env.run("img-rm", &["-f", "used:1"]).ok().json();
    assert_eq!(out, json!({"untagged": ["used:1"], "deleted": [id]}));
    env.run("img-inspect", &[id]).fails_with(1, "no such image");
    assert_eq!(env.run("img-ls", &["-q"]).ok().stdout, "");
}

#[test]
fn rm_removes_several_and_reports_each_failure() {
    let env = Env::new();
    env.import_busybox("x:1");
    env.run("img-tag", &["x:1", "y:1"]).ok();
    let out = env.run("img-rm", &["x:1", "missing:1", "y:1"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("missing:1"), "{out:?}");
    let j = out.json();
    assert_eq!(j["untagged"], json!(["x:1", "y:1"]));
    assert_eq!(j["deleted"].as_array().unwrap().len(), 1);
}
