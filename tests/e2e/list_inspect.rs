//! img-ls, img-inspect and img-history as a Docker user reads them.

use serde_json::json;

use crate::support::Env;

#[test]
fn ls_lists_formats_and_filters() {
    let env = Env::new();
    let a = env.import_busybox("busybox:latest");
    env.run("img-tag", &["busybox", "localhost:5000/tools/bb:1.36"])
        .ok();
    let t = env.path("other.tar");
    crate::support::busybox_tarball(&t, crate::support::Compression::Gzip);
    let b = env
        .run(
            "img-import",
            &["-c", "LABEL tier=web", t.to_str().unwrap(), "web:2"],
        )
        .ok()
        .json();

    let rows = env.run("img-ls", &[]).ok().json_lines();
    assert_eq!(rows.len(), 3, "JSON Lines when stdout is not a terminal");
    for r in &rows {
        for k in [
            "Repository",
            "Tag",
            "ID",
            "CreatedAt",
            "CreatedSince",
            "Size",
            "Digest",
        ] {
            assert!(r.get(k).is_some(), "row lacks {k}: {r}");
        }
    }
    // Newest first.
    assert_eq!(rows[0]["Repository"], "web");

    let table = env.run("img-ls", &["--format", "table"]).ok();
    let header = table.lines()[0];
    for col in ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(!header.contains("DIGEST"));
    let with_digests = env.run("img-ls", &["--format", "table", "--digests"]).ok();
    assert!(with_digests.lines()[0].contains("DIGEST"));

    let a_id = a["id"].as_str().unwrap();
    let quiet = env.run("img-ls", &["-q"]).ok();
    let mut ids = quiet.lines();
    ids.sort();
    let mut want = vec![
        &a_id[7..19],
        &a_id[7..19],
        &b["id"].as_str().unwrap()[7..19],
    ];
    want.sort();
    assert_eq!(ids, want, "-q prints one line per row, as docker images -q");
    let full = env.run("img-ls", &["-q", "--no-trunc", "busybox"]).ok();
    assert_eq!(full.lines(), vec![a_id]);

    let names = |args: &[&str]| {
        let mut v: Vec<String> = env
            .run("img-ls", args)
            .ok()
            .lines()
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.sort();
        v
    };
    let fmt = ["--format", "{{.Repository}}:{{.Tag}}"];
    assert_eq!(
        names(&[&fmt[..], &["--filter", "reference=busy*"]].concat()),
        vec!["busybox:latest"]
    );
    assert_eq!(
        names(&[&fmt[..], &["--filter", "reference=*/tools/*"]].concat()),
        vec!["localhost:5000/tools/bb:1.36"]
    );
    assert_eq!(
        names(&[&fmt[..], &["--filter", "label=tier=web"]].concat()),
        vec!["web:2"]
    );
    assert_eq!(
        names(&[&fmt[..], &["localhost:5000/tools/bb"]].concat()),
        vec!["localhost:5000/tools/bb:1.36"]
    );
    assert_eq!(
        names(&[&fmt[..], &["--filter", "dangling=true"]].concat()),
        Vec::<String>::new()
    );
    assert_eq!(
        names(&[&fmt[..], &["--filter", "since=busybox"]].concat()),
        vec!["web:2"]
    );
    env.run("img-ls", &["--filter", "colour=blue"])
        .fails_with(2, "invalid filter");
}

#[test]
fn inspect_is_docker_shaped() {
    let env = Env::new();
    let out = env.import_busybox("busybox");
    let i = env.run("img-inspect", &["busybox"]).ok().json();
    let i = &i[0];
    assert_eq!(i["Id"], out["id"]);
    assert_eq!(i["RepoTags"], json!(["busybox:latest"]));
    // Imported, never pulled or pushed: no repository has it (Docker shows []).
    assert_eq!(i["RepoDigests"], json!([]));
    for k in [
        "Created",
        "Author",
        "Architecture",
        "Os",
        "Config",
        "Size",
        "Metadata",
    ] {
        assert!(i.get(k).is_some(), "{k} missing: {i}");
    }
    assert_eq!(i["RootFS"]["Type"], "layers");
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert!(i["Size"].as_u64().unwrap() > 500_000);
    assert!(i["Metadata"]["LastTagTime"]
        .as_str()
        .unwrap()
        .starts_with("20"));

    // Go templates, as docker inspect --format.
    let t = env
        .run(
            "img-inspect",
            &["--format", "{{.RepoTags}} {{.Os}}", "busybox"],
        )
        .ok();
    assert_eq!(t.stdout, "[busybox:latest] linux\n");
    let t = env
        .run("img-inspect", &["--format", "{{json .RootFS}}", "busybox"])
        .ok();
    let rootfs: serde_json::Value = serde_json::from_str(t.stdout.trim()).unwrap();
    assert_eq!(rootfs, i["RootFS"]);

    // Several images, one missing: the found one is printed, the miss is an error.
    let out2 = env.run("img-inspect", &["busybox", "nosuch:image"]);
    assert_eq!(out2.code, 1);
    assert_eq!(out2.json().as_array().unwrap().len(), 1);
    assert!(
        out2.stderr.contains("no such image: nosuch:image"),
        "{out2:?}"
    );

    // `-` reads the JSON the previous tool printed.
    let piped = env
        .run_stdin(
            "img-inspect",
            &["-"],
            serde_json::to_string(&out).unwrap().as_bytes(),
        )
        .ok()
        .json();
    assert_eq!(piped[0]["Id"], out["id"]);
}

#[test]
fn history_pairs_entries_with_layers() {
    let env = Env::new();
    let out = env.import_busybox("busybox");
    let rows = env.run("img-history", &["busybox"]).ok().json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ID"], &out["id"].as_str().unwrap()[7..19]);
    assert!(rows[0]["Comment"]
        .as_str()
        .unwrap()
        .starts_with("Imported from "));
    assert!(rows[0]["Size"].as_str().unwrap().ends_with("MB"));
    let q = env
        .run("img-history", &["-q", "--no-trunc", "busybox"])
        .ok();
    assert_eq!(q.stdout.trim(), out["id"].as_str().unwrap());
    let table = env
        .run("img-history", &["--format", "table", "busybox"])
        .ok();
    assert!(table.lines()[0].starts_with("IMAGE"), "{table:?}");
    for col in ["CREATED", "CREATED BY", "SIZE", "COMMENT"] {
        assert!(table.lines()[0].contains(col));
    }
    env.run("img-history", &["nosuch"])
        .fails_with(1, "no such image: nosuch:latest");
}
