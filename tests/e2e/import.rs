//! img-import: tarballs in every compression, --change, --message, --platform, bad input.

use serde_json::json;

use crate::support::{busybox_tarball, Compression, Env};

#[test]
fn imports_plain_gzip_and_zstd_to_the_same_layer() {
    let env = Env::new();
    let mut diff_ids = Vec::new();
    for (i, c) in [Compression::None, Compression::Gzip, Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let tarball = busybox_tarball(&env.path(&format!("bb{i}.tar")), c);
        let out = env
            .run(
                "img-import",
                &[tarball.to_str().unwrap(), &format!("bb:{i}")],
            )
            .ok()
            .json();
        assert_eq!(out["ref"], format!("docker.io/library/bb:{i}"));
        assert!(out["digest"].as_str().unwrap().starts_with("sha256:"));
        let id = out["id"].as_str().unwrap();
        let inspect = env.run("img-inspect", &[id]).ok().json();
        assert_eq!(inspect[0]["Id"], id);
        diff_ids.push(inspect[0]["RootFS"]["Layers"].clone());
    }
    assert_eq!(diff_ids[0], diff_ids[1]);
    assert_eq!(diff_ids[1], diff_ids[2]);
}

#[test]
fn changes_message_and_platform_reach_the_config() {
    let env = Env::new();
    let tarball = busybox_tarball(&env.path("bb.tar.gz"), Compression::Gzip);
    let out = env
        .run(
            "img-import",
            &[
                "--change",
                r#"CMD ["/bin/sh", "-c", "httpd -f"]"#,
                "--change",
                "ENV LANG=C.UTF-8 MODE=\"two words\"",
                "-c",
                "EXPOSE 80 53/udp",
                "-c",
                "LABEL org.example.team=infra",
                "-c",
                "USER nobody",
                "-c",
                "WORKDIR /var/www",
                "-c",
                "VOLUME /data",
                "-c",
                "ENTRYPOINT [\"/bin/busybox\"]",
                "--message",
                "my import",
                "--platform",
                "linux/arm64",
                tarball.to_str().unwrap(),
                "localhost:5000/team/app:1.0",
            ],
        )
        .ok()
        .json();
    assert_eq!(out["ref"], "localhost:5000/team/app:1.0");
    let i = &env
        .run("img-inspect", &["localhost:5000/team/app:1.0"])
        .ok()
        .json()[0];
    let c = &i["Config"];
    assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "httpd -f"]));
    assert_eq!(c["Entrypoint"], json!(["/bin/busybox"]));
    assert_eq!(c["Env"], json!(["LANG=C.UTF-8", "MODE=two words"]));
    assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
    assert_eq!(c["Labels"], json!({"org.example.team": "infra"}));
    assert_eq!(c["User"], "nobody");
    assert_eq!(c["WorkingDir"], "/var/www");
    assert_eq!(c["Volumes"], json!({"/data": {}}));
    assert_eq!(i["Comment"], "my import");
    assert_eq!(i["Architecture"], "arm64");
    assert_eq!(i["Os"], "linux");
    assert_eq!(i["RepoTags"], json!(["localhost:5000/team/app:1.0"]));
}

#[test]
fn imports_from_stdin_untagged() {
    let env = Env::new();
    let tarball = busybox_tarball(&env.path("bb.tar"), Compression::Zstd);
    let data = std::fs::read(&tarball).unwrap();
    let out = env.run_stdin("img-import", &["-"], &data).ok().json();
    assert_eq!(out["ref"], serde_json::Value::Null);
    let rows = env.run("img-ls", &["--format", "json"]).ok().json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Repository"], "<none>");
    assert_eq!(rows[0]["Tag"], "<none>");
    let id = out["id"].as_str().unwrap();
    assert_eq!(
        rows[0]["ID"],
        &id[7..19],
        "IMAGE ID is the first 12 hex of the config digest"
    );
    let i = env.run("img-inspect", &[id]).ok().json();
    assert_eq!(i[0]["Comment"], "Imported from -");
    assert_eq!(i[0]["RepoTags"], json!([]));
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.import_busybox("keep:1");
    let before = env.store_state();
    let text = env.path("notes.txt");
    std::fs::write(&text, "this is not a tarball\n").unwrap();
    let empty = env.path("empty.tar");
    std::fs::write(&empty, "").unwrap();
    let random = env.path("random.bin");
    std::fs::write(
        &random,
        (0..8192u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let mut cut = std::fs::read(busybox_tarball(&env.path("cut.tar"), Compression::None)).unwrap();
    cut.truncate(cut.len() / 2);
    let cut_path = env.path("cut-half.tar");
    std::fs::write(&cut_path, cut).unwrap();
    let dir = env.path("a-directory");
    std::fs::create_dir(&dir).unwrap();

    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![text.display().to_string(), "x:1".into()],
            "not a tar archive",
        ),
        (vec![empty.display().to_string(), "x:1".into()], "empty"),
        (
            vec![random.display().to_string(), "x:1".into()],
            "not a tar archive",
        ),
        (
            vec![cut_path.display().to_string(), "x:1".into()],
            "not a tar archive",
        ),
        (
            vec![dir.display().to_string(), "x:1".into()],
            "is a directory",
        ),
        (
            vec![env.path("missing.tar").display().to_string(), "x:1".into()],
            "missing.tar",
        ),
        (
            vec![text.display().to_string(), "Bad:Ref".into()],
            "must be lowercase",
        ),
        (
            vec![
                text.display().to_string(),
                "x:1".into(),
                "-c".into(),
                "RUN rm -rf /".into(),
            ],
            "RUN cannot be used",
        ),
        (
            vec![
                text.display().to_string(),
                "--platform".into(),
                "linux".into(),
            ],
            "invalid platform",
        ),
    ];
    for (args, why) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.run("img-import", &args).fails_with(1, why);
        assert_eq!(
            env.store_state(),
            before,
            "img-import {args:?} changed the store"
        );
    }
}
