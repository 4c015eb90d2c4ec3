//! The store under the tools: resolving names and IDs, `--layout` and `oci:DIR:REF`, corrupt
//! content, and concurrent writers.

use std::process::Stdio;

use berth::image::{write_image, ImageConfig};
use berth::oci_spec::image::{Descriptor, MediaType};
use berth::store::Layout;
use serde_json::json;

use crate::support::Env;

#[test]
fn images_resolve_by_name_id_prefix_and_digest() {
    let env = Env::new();
    let out = env.import_busybox("busybox:1");
    let id = out["id"].as_str().unwrap();
    let digest = out["digest"].as_str().unwrap();
    let hex = &id[7..];
    for q in [
        "busybox:1",
        "docker.io/library/busybox:1",
        "library/busybox:1",
        id,
        hex,
        &hex[..12],
        &hex[..6],
        digest,
        &format!("busybox@{digest}"),
    ] {
        let i = env.run("img-inspect", &[q]).ok().json();
        assert_eq!(i[0]["Id"], id, "{q} resolves to the image");
    }
    env.run("img-inspect", &["busybox"])
        .fails_with(1, "no such image: busybox:latest");
    env.run("img-inspect", &["0123456789ab"])
        .fails_with(1, "no such image");
    env.run("img-inspect", &["Busybox"])
        .fails_with(1, "must be lowercase");
    env.run("img-inspect", &["busybox@sha256:123"])
        .fails_with(1, "invalid");
    env.run("img-inspect", &[":"])
        .fails_with(1, "invalid reference");
}

#[test]
fn other_layouts_by_flag_and_by_oci_name() {
    let env = Env::new();
    let layout = env.path("layout");
    let tar =
        crate::support::busybox_tarball(&env.path("bb.tar"), crate::support::Compression::None);
    let l = layout.to_str().unwrap();
    let out = env
        .run(
            "img-import",
            &["--layout", l, tar.to_str().unwrap(), "app:1"],
        )
        .ok()
        .json();
    assert!(layout.join("oci-layout").exists());
    assert!(
        !env.images().join("index.json").exists() || env.run("img-ls", &[]).ok().stdout.is_empty()
    );
    let rows = env.run("img-ls", &["--layout", l]).ok().json_lines();
    assert_eq!(rows[0]["Repository"], "app");

    // oci:DIR:REF names an image in any layout; a name skopeo would write is kept verbatim.
    let raw = env
        .run(
            "img-import",
            &[tar.to_str().unwrap(), &format!("oci:{l}:v2")],
        )
        .ok()
        .json();
    assert_eq!(raw["ref"], "v2");
    let i = env
        .run("img-inspect", &[&format!("oci:{l}:v2")])
        .ok()
        .json();
    assert_eq!(i[0]["Id"], raw["id"]);
    let i = env
        .run(
            "img-inspect",
            &[&format!("oci:{l}:docker.io/library/app:1")],
        )
        .ok()
        .json();
    assert_eq!(i[0]["Id"], out["id"]);
    env.run("img-ls", &["--layout", "/nonexistent/berth-layout"])
        .fails_with(1, "is not an OCI image layout");
    env.run("img-inspect", &[&format!("oci:{l}")])
        .fails_with(1, "name one as oci:DIR:REF");
}

#[test]
fn corrupt_store_gives_clear_errors() {
    let env = Env::new();
    let out = env.import_busybox("busybox");
    let index = env.images().join("index.json");
    let good = std::fs::read(&index).unwrap();

    std::fs::write(&index, "{ this is not json").unwrap();
    env.run("img-ls", &[]).fails_with(1, "index.json");
    let tar = env.path("busybox.tar");
    env.run("img-import", &[tar.to_str().unwrap(), "other"])
        .fails_with(1, "index.json");
    assert_eq!(
        std::fs::read(&index).unwrap(),
        b"{ this is not json",
        "left as it was"
    );
    std::fs::remove_file(&index).unwrap();
    env.run("img-ls", &[]).fails_with(1, "index.json");
    std::fs::write(&index, &good).unwrap();

    // A config whose bytes no longer match its digest.
    let id = out["id"].as_str().unwrap();
    let config = env.images().join("blobs/sha256").join(&id[7..]);
    let original = std::fs::read(&config).unwrap();
    let mut tampered = original.clone();
    let pos = tampered.iter().position(|&b| b == b'{').unwrap();
    tampered.insert(pos + 1, b' ');
    std::fs::write(&config, &tampered).unwrap();
    env.run("img-inspect", &["busybox"])
        .fails_with(1, "digest mismatch");
    std::fs::remove_file(&config).unwrap();
    env.run("img-inspect", &["busybox"])
        .fails_with(1, "missing");
    std::fs::write(&config, &original).unwrap();
    env.run("img-inspect", &["busybox"]).ok();
}

#[test]
fn eight_processes_tagging_at_once_lose_no_tag() {
    let env = Env::new();
    env.import_busybox("base");
    let children: Vec<_> = (0..8)
        .map(|i| {
            env.cmd("img-tag")
                .args(["base", &format!("concurrent:{i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rows = env
        .run("img-ls", &["--format", "{{.Tag}}", "concurrent"])
        .ok();
    let mut tags = rows.lines();
    tags.sort();
    assert_eq!(tags, (0..8).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[test]
fn history_of_a_multi_step_image() {
    let env = Env::new();
    env.import_busybox("seed");
    let layout = Layout::open(env.images()).unwrap();
    let l1 = layout.put_blob_bytes(&[1u8; 3000]).unwrap();
    let l2 = layout.put_blob_bytes(&[2u8; 1500]).unwrap();
    let config = json!({
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [
            "sha256:0000000000000000000000000000000000000000000000000000000000000001",
            "sha256:0000000000000000000000000000000000000000000000000000000000000002"]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
            {"created": "2024-01-02T00:00:00Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true},
            {"created": "2024-01-02T03:04:05Z", "created_by": "/bin/sh -c apt-get update && apt-get install -y a-very-long-list-of-packages", "comment": "step three"}
        ]
    });
    let layers = vec![
        Descriptor::new(MediaType::ImageLayerGzip, 3000, &l1),
        Descriptor::new(MediaType::ImageLayerGzip, 1500, &l2),
    ];
    let (desc, id) =
        write_image(&layout, &ImageConfig::from_value(config).unwrap(), layers).unwrap();
    berth::image::tag(
        &layout,
        &berth::reference::Reference::parse_with_default_tag("steps").unwrap(),
        &desc,
    )
    .unwrap();

    let rows = env.run("img-history", &["steps"]).ok().json_lines();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["ID"], &id.hex()[..12]);
    assert_eq!(rows[1]["ID"], "<missing>");
    assert_eq!(rows[0]["Size"], "1.5kB");
    assert_eq!(rows[1]["Size"], "0B");
    assert_eq!(rows[2]["Size"], "3kB");
    assert_eq!(rows[0]["Comment"], "step three");
    assert_eq!(rows[0]["CreatedBy"].as_str().unwrap().chars().count(), 45);
    assert!(rows[0]["CreatedBy"].as_str().unwrap().ends_with('…'));
    let full = env
        .run(
            "img-history",
            &["--no-trunc", "--format", "{{.CreatedBy}}", "steps"],
        )
        .ok();
    assert!(full.lines()[0].ends_with("a-very-long-list-of-packages"));
    let raw = env
        .run("img-history", &["-H=false", "steps"])
        .ok()
        .json_lines();
    assert_eq!(raw[2]["Size"], "3000");
    assert_eq!(raw[0]["CreatedAt"], "2024-01-02T03:04:05Z");
}
