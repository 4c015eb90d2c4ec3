//! The build cache as the tools see it: records written through the library on images
//! img-commit made (img-build writes them the same way), listed by `img-ls --build-cache`, kept
//! by `img-prune` and `img-rm`, removed by `img-prune --build-cache` as `docker builder prune`.

use std::collections::BTreeMap;

use berth::build::cache::{BuildCache, KeyInputs, Record};
use berth::image::Catalog;
use berth::store::Layout;
use serde_json::{json, Value};

use crate::support::Env;

/// Commits a one-file layer `name` on `base` as `tag` and records it as the step
/// `COPY NAME /NAME` on `parent` at Dockerfile line `line`.
fn cached_step(env: &Env, base: &str, parent: &str, name: &str, tag: &str, line: usize) -> Record {
    let upper = env.path(&format!("upper-{name}"));
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::write(upper.join(name), vec![b'x'; 20_000]).unwrap();
    env.run(
        "img-commit",
        &["--upper", upper.to_str().unwrap(), "--base", base, tag],
    )
    .ok();
    let layout = Layout::open(env.images()).unwrap();
    let item = Catalog::load(&layout).unwrap();
    let item = item.find(tag).unwrap();
    let img = item.image.as_ref().unwrap();
    let inputs = KeyInputs {
        parent: parent.to_string(),
        instruction: format!("COPY {name} /{name}"),
        args: BTreeMap::new(),
        platform: "linux/amd64".into(),
        sources: Some(format!("sha256:{:064x}", line)),
        extra: BTreeMap::new(),
    };
    let manifest = berth::oci_spec::image::Descriptor::new(
        berth::oci_spec::image::MediaType::ImageManifest,
        std::fs::metadata(layout.blob_path(&img.manifest_digest))
            .unwrap()
            .len(),
        &img.manifest_digest,
    );
    let now = berth::image::now_rfc3339();
    let rec = Record {
        key: inputs.key(),
        inputs,
        manifest,
        layer: img.manifest.layers().last().cloned(),
        stage: "0".into(),
        line,
        created: now.clone(),
        last_used: now,
    };
    BuildCache::open(&layout).unwrap().put(&rec).unwrap();
    rec
}

fn blob(env: &Env, digest: &str) -> std::path::PathBuf {
    env.images()
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn listed(env: &Env) -> Vec<Value> {
    env.run("img-ls", &["--build-cache"]).ok().json_lines()
}

#[test]
fn cache_records_are_listed_kept_and_pruned_as_docker_builder_prune() {
    let env = Env::new();
    env.import_busybox("base:1");
    let base_id = env
        .run("img-inspect", &["--format", "{{.Id}}", "base:1"])
        .ok()
        .stdout
        .trim()
        .to_string();
    // Step 2 as it was (app:1, still tagged) and as an edit made it (app:2, then untagged).
    let kept = cached_step(&env, "base:1", &base_id, "a", "app:1", 2);
    let edited = cached_step(&env, "base:1", &base_id, "b", "app:2", 2);
    let edited_layer = edited.layer.as_ref().unwrap().digest().to_string();
    env.run("img-rm", &["app:2"]).ok();
    assert!(
        blob(&env, &edited_layer).is_file(),
        "img-rm keeps what a cache record reaches"
    );

    // Listed, most recently used first, with what says which step each is.
    let rows = listed(&env);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = |key: &str| {
        rows.iter()
            .find(|r| r["key"] == json!(key))
            .unwrap()
            .clone()
    };
    let r = row(&edited.key.to_string());
    assert_eq!(r["stage"], json!("0"));
    assert_eq!(r["line"], json!(2));
    assert_eq!(r["instruction"], json!("COPY b /b"));
    assert_eq!(r["layer"], json!(edited_layer));
    assert_eq!(r["size"], json!(edited.layer.as_ref().unwrap().size()));
    assert_eq!(r["reclaimable"], json!(true), "no tagged image uses it");
    assert!(r["created"].as_str().unwrap().ends_with('Z'));
    assert!(r["last_used"].as_str().unwrap() >= r["created"].as_str().unwrap());
    assert_eq!(row(&kept.key.to_string())["reclaimable"], json!(false));
    let table = env
        .run("img-ls", &["--build-cache", "--format", "table"])
        .ok()
        .stdout;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("   ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "CACHE ID",
            "STAGE",
            "LINE",
            "INSTRUCTION",
            "SIZE",
            "CREATED",
            "LAST USED",
            "RECLAIMABLE"
        ]
    );
    assert!(table.contains(edited.key.short()), "{table}");

    // img-prune (images) keeps the records' blobs and the records.
    let out = env.run("img-prune", &[]).ok().json();
    assert!(!out["blobs"]
        .as_array()
        .unwrap()
        .contains(&json!(edited_layer)));
    assert!(blob(&env, &edited_layer).is_file());
    assert_eq!(listed(&env).len(), 2);

    // Bad flags: usage errors, nothing removed.
    env.run("img-prune", &["--build-cache", "--keep-storage", "lots"])
        .fails_with(2, "invalid --keep-storage \"lots\"");
    env.run("img-prune", &["--build-cache", "--filter", "dangling=true"])
        .fails_with(2, "the build cache prune takes until=");
    env.run("img-prune", &["--keep-storage", "1GB"])
        .fails_with(2, "--build-cache");
    // until=1h: both were used just now, nothing goes.
    let out = env
        .run(
            "img-prune",
            &["--build-cache", "-a", "--filter", "until=1h"],
        )
        .ok()
        .json();
    assert_eq!(out["cache_records_deleted"], json!(0));
    assert_eq!(listed(&env).len(), 2);

    // The default: the dangling record, and the blobs only it reached.
    let out = env.run("img-prune", &["--build-cache", "-f"]).ok().json();
    assert_eq!(out["cache_records_deleted"], json!(1), "{out}");
    assert_eq!(out["deleted"], json!([edited.key.to_string()]));
    // Its layer, manifest and config, as they took space on disk (whole blocks).
    assert_eq!(out["blobs"].as_array().unwrap().len(), 3, "{out}");
    assert!(out["blobs"]
        .as_array()
        .unwrap()
        .contains(&json!(edited_layer)));
    assert!(
        out["space_reclaimed"].as_u64().unwrap() >= edited.layer.as_ref().unwrap().size(),
        "{out}"
    );
    assert!(!blob(&env, &edited_layer).exists());
    assert_eq!(listed(&env).len(), 1);

    // -a: every record; the tagged image keeps its blobs.
    let out = env.run("img-prune", &["--build-cache", "-a"]).ok().json();
    assert_eq!(out["cache_records_deleted"], json!(1), "{out}");
    assert_eq!(out["space_reclaimed"], json!(0), "app:1 still holds them");
    assert!(blob(&env, kept.layer.as_ref().unwrap().digest().as_ref()).is_file());
    assert!(listed(&env).is_empty());
    env.run("img-inspect", &["app:1"]).ok();
}
