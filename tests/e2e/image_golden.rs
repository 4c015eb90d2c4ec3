//! Golden files: what img-inspect and img-history print, and the config img-import and img-commit
//! store, for images made each way berth makes or receives them (imported, committed from a
//! directory and from a container, loaded from a `docker save` archive, pulled), compared with
//! files recorded from the code before the image records were typed (issue 14).
//!
//! What varies from run to run is replaced before comparing: timestamps by `<TIME>`, the test's
//! temporary directory by `<TMP>`, the registry's address by `<REGISTRY>`, the digests of what
//! was made now (they hash a timestamp) by `<NAME:what>`. `BERTH_GOLDEN_RECORD=1` rewrites the
//! files instead of comparing.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::fake_registry::{tar_of, Behaviour, FakeImage, FakeRegistry};
use crate::support::{is_root, Env};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

/// Replaces every RFC 3339 timestamp (`2024-01-01T00:00:00Z`, with or without a fraction or an
/// offset) by `<TIME>`.
fn strip_times(s: &str) -> String {
    let b = s.as_bytes();
    let digits =
        |i: usize, n: usize| i + n <= b.len() && b[i..i + n].iter().all(u8::is_ascii_digit);
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if digits(i, 4)
            && at(i + 4, b'-')
            && digits(i + 5, 2)
            && at(i + 7, b'-')
            && digits(i + 8, 2)
            && at(i + 10, b'T')
            && digits(i + 11, 2)
            && at(i + 13, b':')
            && digits(i + 14, 2)
            && at(i + 16, b':')
            && digits(i + 17, 2)
        {
            let mut j = i + 19;
            if at(j, b'.') {
                j += 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if at(j, b'Z') {
                j += 1;
            } else if (at(j, b'+') || at(j, b'-')) && digits(j + 1, 2) && at(j + 3, b':') {
                j += 6;
            }
            out.push_str("<TIME>");
            i = j;
            continue;
        }
        let c = s[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

struct Golden {
    env: Env,
    /// (what varies, what stands for it), applied in order.
    subst: Vec<(String, String)>,
}

impl Golden {
    fn normalise(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (from, to) in &self.subst {
            s = s.replace(from, to);
        }
        strip_times(&s)
    }

    /// The digests of an image made now (image ID and manifest), named after it.
    fn made_now(&mut self, name: &str, out: &Value) {
        for key in ["id", "digest", "layer", "diff_id"] {
            if let Some(d) = out[key].as_str() {
                self.subst.push((d.to_string(), format!("<{name}:{key}>")));
                let short = &d[7..19];
                self.subst
                    .push((short.to_string(), format!("<{name}:{key}:short>")));
            }
        }
    }

    /// The stored config of `image`, as text.
    fn stored_config(&self, image: &str) -> String {
        let inspect = self.env.run("img-inspect", &[image]).ok().json();
        let manifest = inspect[0]["Descriptor"]["digest"].as_str().unwrap();
        let blob =
            |d: &str| std::fs::read(self.env.images().join("blobs/sha256").join(&d[7..])).unwrap();
        let m: Value = serde_json::from_slice(&blob(manifest)).unwrap();
        String::from_utf8(blob(m["config"]["digest"].as_str().unwrap())).unwrap()
    }

    /// Compares (or records) what the tools say of `image`.
    fn check(&self, file: &str, image: &str, with_config: bool) {
        let inspect = self.env.run("img-inspect", &[image]).ok().stdout;
        let history = self
            .env
            .run(
                "img-history",
                &["-H", "false", "--no-trunc", "--format", "json", image],
            )
            .ok()
            .stdout;
        // The image config type keeps every key and value of the stored config.
        let stored: Value = serde_json::from_str(&self.stored_config(image)).unwrap();
        let typed = berth::image::ImageConfig::from_value(stored.clone()).unwrap();
        assert_eq!(typed.to_value(), stored, "{image}: ImageConfig round trip");
        // The library's type reads what img-inspect printed and writes it back the same.
        let typed: Vec<berth::image::InspectImage> = serde_json::from_str(&inspect)
            .unwrap_or_else(|e| panic!("{image}: img-inspect's JSON as InspectImage: {e}"));
        assert_eq!(
            serde_json::to_string_pretty(&typed).unwrap(),
            inspect.trim_end(),
            "{image}: InspectImage round trip"
        );
        for line in history.lines() {
            let typed: berth::image::HistoryLine = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{image}: img-history's JSON as HistoryLine: {e}"));
            assert_eq!(serde_json::to_string(&typed).unwrap(), line);
        }
        let mut got = format!(
            "== img-inspect\n{}\n== img-history\n{}\n",
            self.normalise(inspect.trim_end()),
            self.normalise(history.trim_end())
        );
        if with_config {
            got += &format!(
                "== stored config\n{}\n",
                self.normalise(&self.stored_config(image))
            );
        }
        let path = golden_dir().join(file);
        if std::env::var_os("BERTH_GOLDEN_RECORD").is_some() {
            std::fs::create_dir_all(golden_dir()).unwrap();
            std::fs::write(&path, &got).unwrap();
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (BERTH_GOLDEN_RECORD=1 records it)", path.display())
        });
        if want != got {
            let line = want
                .lines()
                .zip(got.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(want.lines().count().min(got.lines().count()));
            panic!(
                "{file}: differs from the golden file at line {}:\n want: {:?}\n  got: {:?}\n--- got in full:\n{got}",
                line + 1,
                want.lines().nth(line),
                got.lines().nth(line)
            );
        }
    }
}

fn tree() -> Vec<u8> {
    tar_of(&[
        ("bin/tool", b"#!/bin/sh\necho tool\n"),
        ("etc/motd", b"golden\n"),
        ("srv/data/a.txt", b"a\n"),
    ])
}

#[test]
fn image_records_match_the_golden_files() {
    let mut g = Golden {
        env: Env::new(),
        subst: Vec::new(),
    };
    let tmp = g.env.tmp.path().to_str().unwrap().to_string();
    g.subst.push((tmp, "<TMP>".into()));
    let tarball = g.env.path("tree.tar");
    std::fs::write(&tarball, tree()).unwrap();
    let tarball = tarball.to_str().unwrap().to_string();

    // Imported, with no change and with changes.
    let out = g
        .env
        .run("img-import", &[&tarball, "golden/plain:1"])
        .ok()
        .json();
    g.made_now("plain", &out);
    let out = g
        .env
        .run(
            "img-import",
            &[
                "-c",
                "ENV A=1 B=\"two words\"",
                "-c",
                "CMD [\"/bin/tool\"]",
                "-c",
                "LABEL org.example=golden",
                "-c",
                "EXPOSE 8080 53/udp",
                "-c",
                "WORKDIR /srv",
                "-m",
                "imported for the golden test",
                "--platform",
                "linux/arm64/v8",
                &tarball,
                "golden/import:1",
            ],
        )
        .ok()
        .json();
    g.made_now("import", &out);
    let out = g
        .env
        .run(
            "img-import",
            &["-c", "USER 1000", &tarball, "golden/host:1"],
        )
        .ok()
        .json();
    g.made_now("host", &out);

    // Committed from a directory: on an imported base, with every kind of change, and FROM
    // scratch.
    let upper = g.env.path("upper");
    std::fs::create_dir_all(upper.join("app")).unwrap();
    std::fs::write(upper.join("app/main.sh"), b"#!/bin/sh\necho app\n").unwrap();
    for p in ["app/main.sh", "app", "."] {
        let f = std::fs::File::open(upper.join(p)).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
            .unwrap();
    }
    let upper = upper.to_str().unwrap().to_string();
    let out = g
        .env
        .run(
            "img-commit",
            &[
                "--upper",
                &upper,
                "--base",
                "golden/host:1",
                "-a",
                "Jane <jane@example.com>",
                "-m",
                "add the app",
                "-c",
                "ENTRYPOINT [\"/app/main.sh\"]",
                "-c",
                "ENV MODE=prod",
                "-c",
                "VOLUME /data",
                "-c",
                "STOPSIGNAL SIGINT",
                "-c",
                "ONBUILD RUN true",
                "-c",
                "WORKDIR app",
                "golden/commit:1",
            ],
        )
        .ok()
        .json();
    g.made_now("commit", &out);
    let out = g
        .env
        .run(
            "img-commit",
            &["--upper", &upper, "-c", "CMD run", "golden/scratch:1"],
        )
        .ok()
        .json();
    g.made_now("scratch", &out);

    // Loaded from the archive docker save wrote.
    let fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/docker-save-busybox.tar.gz");
    g.env
        .run("img-load", &["-q", "-i", fixture.to_str().unwrap()])
        .ok();

    // Pulled from a registry.
    let image = FakeImage::new(
        "golden/pulled",
        "1",
        vec![tree(), tar_of(&[("etc/x", b"x\n")])],
    );
    let fake = FakeRegistry::start(image.clone(), Behaviour::normal());
    g.subst.push((fake.addr(), "<REGISTRY>".into()));
    g.env.run("img-pull", &["-q", &fake.reference(&image)]).ok();

    g.check("import-plain.txt", "golden/plain:1", true);
    g.check("import-changes.txt", "golden/import:1", true);
    g.check("import-user.txt", "golden/host:1", true);
    g.check("commit-upper.txt", "golden/commit:1", true);
    g.check("commit-scratch.txt", "golden/scratch:1", true);
    g.check("load-base.txt", "berth-fixture:base", false);
    g.check("load-derived.txt", "berth-fixture:derived", false);
    g.check("pull.txt", &fake.reference(&image), false);

    // Committed from a container (its config's keys carried into the image's).
    if !is_root() {
        return;
    }
    let created = g.env.run(
        "ctr-create",
        &[
            "--name",
            "golden-ctr",
            "--network",
            "none",
            "-e",
            "FROM_CTR=1",
            "-w",
            "/srv",
            "-l",
            "ctr.label=x",
            "--expose",
            "9000",
            "golden/host:1",
            "/bin/tool",
            "arg",
        ],
    );
    if created.code != 0 {
        eprintln!("skipping the commit of a container: {created:#?}");
        return;
    }
    let out = g
        .env
        .run(
            "img-commit",
            &["-c", "USER nobody", "golden-ctr", "golden/ctr:1"],
        )
        .ok()
        .json();
    g.made_now("ctr", &out);
    // The container's ID (Container) and short ID (its Hostname) vary from run to run.
    let cid = g
        .env
        .run("ctr-inspect", &["--format", "{{.Id}}", "golden-ctr"])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert_eq!(cid.len(), 64, "{cid}");
    g.subst.push((cid.clone(), "<container:id>".into()));
    g.subst
        .push((cid[..12].to_string(), "<container:short>".into()));
    g.check("commit-container.txt", "golden/ctr:1", true);
    g.env.run("ctr-rm", &["-f", "golden-ctr"]).ok();
}
