//! Issue 16's proof for `img-build`, as a user checks it: side by side with Docker's legacy
//! builder (`DOCKER_BUILDKIT=0 docker build` on a private dockerd) the same config, history and
//! file tree, and the image runs under Docker after `img-save | docker load`; two cold builds on
//! fresh roots from two copies of the context give one digest; what the cache reuses and what it
//! rebuilds (the `cached` flags of the step lines); failures; secrets in no layer; stdin inputs.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::docker::Dockerd;
use crate::support::rig::{timed, timed_input, Rig};
use crate::support::{bin, Env, Out};

/// A generous bound for one build (a debug binary on a loaded 2-core machine).
const BUILD_SECS: u64 = 300;

/// Writes `files` (path, content) under `dir`, making parents.
fn write_ctx(dir: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `img-build ARGS` in `env`'s root.
fn build(env: &Env, args: &[&str]) -> Out {
    timed(env.cmd("img-build").args(args), BUILD_SECS)
}

/// The step lines of a build's stdout (those with a `step`).
fn steps(out: &Out) -> Vec<Value> {
    out.json_lines()
        .into_iter()
        .filter(|v| v.get("step").is_some())
        .collect()
}

/// The last line: `{"ref","digest","id"}`.
fn result(out: &Out) -> Value {
    let last = out.json_lines().pop().expect("a result line");
    for k in ["ref", "digest", "id"] {
        assert!(last.get(k).is_some(), "the result names its {k}: {last}");
    }
    last
}

/// (instruction, cached) of each COPY, RUN and ENV step (how FROM and ARG report is the
/// builder's choice; these are the steps with a cache key a user reasons about).
fn cached_flags(out: &Out) -> Vec<(String, bool)> {
    steps(out)
        .iter()
        .map(|s| {
            let ins = s["instruction"].as_str().unwrap_or_default().to_string();
            let cached = s["cached"].as_bool().unwrap_or_else(|| panic!("{s}"));
            (ins, cached)
        })
        .filter(|(i, _)| ["COPY", "RUN", "ENV"].iter().any(|k| i.starts_with(k)))
        .collect()
}

fn gunzip(data: Vec<u8>) -> Vec<u8> {
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&data[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else if data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(&data[..]).unwrap()
    } else {
        data
    }
}

/// Every file of a tar (docker save or img-save archive): name → bytes.
fn tar_files(data: &[u8]) -> std::collections::HashMap<String, Vec<u8>> {
    let mut files = std::collections::HashMap::new();
    let mut a = tar::Archive::new(data);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().display().to_string();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        files.insert(p, v);
    }
    files
}

/// The image config in a `docker save` archive.
fn docker_config(d: &Dockerd, env: &Env, name: &str) -> Value {
    let saved = env.path(&format!(
        "{}.docker-save.tar",
        name.replace([':', '/'], "_")
    ));
    d.docker(&["save", "-o", saved.to_str().unwrap(), name])
        .ok();
    let files = tar_files(&std::fs::read(&saved).unwrap());
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    serde_json::from_slice(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap()
}

/// The entries of an export tar: path, type, mode, uid, gid, size, link target (mtimes aside).
fn tree(data: &[u8]) -> BTreeSet<String> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let p = e.path().unwrap().display().to_string();
            let p = p.trim_start_matches("./").trim_end_matches('/').to_string();
            let link = e
                .link_name()
                .unwrap()
                .map(|l| l.display().to_string())
                .unwrap_or_default();
            let size = if h.entry_type().is_file() {
                h.size().unwrap()
            } else {
                0
            };
            format!(
                "{p} {:?} {:o} {}:{} {size} {link}",
                h.entry_type(),
                h.mode().unwrap() & 0o7777,
                h.uid().unwrap(),
                h.gid().unwrap(),
            )
        })
        .filter(|p| !p.starts_with(' '))
        .collect()
}

/// The keys of `.Config` compared with Docker's.
const CONFIG_KEYS: [&str; 12] = [
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "Healthcheck",
    "OnBuild",
    "Shell",
    "StopSignal",
];

/// A JSON value with empty arrays and objects as null (Docker writes `null` where berth may
/// leave a key out or write `[]`; what a user sees is the same).
fn norm(v: &Value) -> Value {
    match v {
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        _ => v.clone(),
    }
}

/// `created_by` with the content digest of a COPY/ADD source (`file:HEX`, `dir:HEX`,
/// `multi:HEX`) cut to its kind: Docker's is a tarsum of its own, berth's its own source
/// digest; both change with the content, the rest of the line must be Docker's.
fn mask_digests(line: &str) -> String {
    let mut out = line.to_string();
    for kind in ["file:", "dir:", "multi:"] {
        let mut from = 0;
        while let Some(i) = out[from..].find(kind).map(|i| i + from + kind.len()) {
            let n = out[i..].chars().take_while(char::is_ascii_hexdigit).count();
            if n == 64 {
                out.replace_range(i..i + n, "<digest>");
            }
            from = i;
        }
    }
    out
}

/// The history entries as (created_by with source digests masked, empty_layer).
fn history(config: &Value) -> Vec<(String, bool)> {
    config["history"]
        .as_array()
        .unwrap_or_else(|| panic!("a history: {config}"))
        .iter()
        .map(|h| {
            (
                mask_digests(h["created_by"].as_str().unwrap_or_default()),
                h["empty_layer"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// One Dockerfile built by both builders from the same context.
struct Case {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    /// (path, mode) set after writing.
    modes: &'static [(&'static str, u32)],
    build_args: &'static [&'static str],
    /// Whether both images' default command must print the same under `docker run`.
    run: bool,
}

const META: Case = Case {
    name: "meta",
    files: &[(
        "Dockerfile",
        r#"# a comment
ARG BASE=bb:1
FROM $BASE
ARG V=1.0
ENV APP=/app NAME="my app" \
    VER=$V
LABEL org.example.v=$V "other label"="x y"
WORKDIR $APP/sub
RUN echo "$VER $NAME" > ver.txt && mkdir -p /data/x && chmod 0750 /data/x && ln -s ver.txt link
WORKDIR rel
USER 1234:1234
EXPOSE 8080 53/udp
VOLUME ["/data", "/cache"]
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD wget -q -O- localhost:8080 || exit 1
SHELL ["/bin/sh", "-ec"]
STOPSIGNAL SIGUSR1
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/sub/ver.txt"]
"#,
    )],
    modes: &[],
    build_args: &["V=2.5"],
    run: true,
};

const STAGES: Case = Case {
    name: "stages",
    files: &[
        (
            "Dockerfile",
            r#"FROM bb:1 AS build
WORKDIR /src
COPY . .
RUN find . | sort > /list.txt && cat a.txt > /out.txt
FROM bb:1 AS unused
RUN exit 0
FROM bb:1
COPY --from=build /list.txt /out.txt /res/
COPY --chown=1234:5678 files/ /files/
COPY --chown=7:7 a.txt run.sh /owned/
COPY --from=0 /src/files/x.txt /x-from-index.txt
CMD ["cat", "/res/list.txt"]
"#,
        ),
        (
            ".dockerignore",
            "# ignore logs anywhere, secrets but one\n**/*.log\nfiles/secret*\n!files/secret-keep.txt\ntmp\n",
        ),
        ("a.txt", "alpha\n"),
        ("b.log", "log\n"),
        ("run.sh", "#!/bin/sh\necho run\n"),
        ("files/x.txt", "x\n"),
        ("files/deep/y.log", "y\n"),
        ("files/deep/z.txt", "z\n"),
        ("files/secret1", "s1\n"),
        ("files/secret-keep.txt", "keep\n"),
        ("tmp/t.txt", "t\n"),
    ],
    modes: &[("run.sh", 0o755), ("files/x.txt", 0o600), ("files/deep", 0o750)],
    build_args: &[],
    run: true,
};

const ONBUILD_PARENT: Case = Case {
    name: "onbuild-parent",
    files: &[
        (
            "Dockerfile",
            "FROM bb:1\nONBUILD COPY trigger.txt /trigger.txt\nONBUILD RUN echo triggered >> /trigger.txt\nLABEL role=parent\n",
        ),
    ],
    modes: &[],
    build_args: &[],
    run: false,
};

const ONBUILD_CHILD: Case = Case {
    name: "onbuild-child",
    files: &[
        (
            "Dockerfile",
            "FROM onbuild-parent:1\nCMD [\"cat\", \"/trigger.txt\"]\n",
        ),
        ("trigger.txt", "from the child's context\n"),
    ],
    modes: &[],
    build_args: &[],
    run: true,
};

fn make_ctx(env: &Env, case: &Case) -> PathBuf {
    let dir = env.path(&format!("ctx-{}", case.name));
    write_ctx(&dir, case.files);
    for (p, m) in case.modes {
        chmod(&dir.join(p), *m);
    }
    dir
}

/// What one builder made of a case.
struct Made {
    config: Value,
    tree: BTreeSet<String>,
}

fn berth_side(rig: &Rig, case: &Case, ctx: &Path) -> Made {
    let tag = format!("{}:1", case.name);
    let mut args = vec!["--network", "none", "-t", &tag];
    for a in case.build_args {
        args.extend(["--build-arg", a]);
    }
    let ctx_s = ctx.to_str().unwrap();
    args.push(ctx_s);
    let out = build(&rig.env, &args).ok();
    let res = result(&out);
    assert!(
        res["ref"].as_str().unwrap().ends_with(&tag),
        "{}: {res}",
        case.name
    );
    let config = rig.env.config_of(&tag);
    let id = rig
        .t("ctr-create", &["--network", "none", &tag, "true"], 60)
        .ok()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let exp = timed(
        rig.env
            .cmd("ctr-export")
            .args([&id, "-o"])
            .arg(rig.env.path("export.tar")),
        120,
    );
    let data = if exp.code == 0 {
        std::fs::read(rig.env.path("export.tar")).unwrap()
    } else {
        let out = rig.env.cmd("ctr-export").arg(&id).output().unwrap();
        assert!(out.status.success(), "ctr-export: {out:?}");
        out.stdout
    };
    rig.t("ctr-rm", &["-f", &id], 30).ok();
    Made {
        config,
        tree: tree(&data),
    }
}

fn docker_side(d: &Dockerd, env: &Env, case: &Case, ctx: &Path) -> Made {
    let tag = format!("{}:1", case.name);
    let mut c = d.command();
    c.env("DOCKER_BUILDKIT", "0")
        .args(["build", "--network", "none", "-t", &tag]);
    for a in case.build_args {
        c.args(["--build-arg", a]);
    }
    c.arg(ctx);
    let out = timed(&mut c, BUILD_SECS);
    assert_eq!(out.code, 0, "docker build {}: {out:#?}", case.name);
    let config = docker_config(d, env, &tag);
    let id = d
        .docker(&["create", "--network", "none", &tag, "true"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let out = d.command().args(["export", &id]).output().unwrap();
    assert!(out.status.success(), "docker export: {out:?}");
    d.docker(&["rm", "-f", &id]).ok();
    Made {
        config,
        tree: tree(&out.stdout),
    }
}

fn compare(case: &Case, ours: &Made, theirs: &Made) {
    let (oc, tc) = (&ours.config["config"], &theirs.config["config"]);
    for k in CONFIG_KEYS {
        assert_eq!(
            norm(&oc[k]),
            norm(&tc[k]),
            "{}: Config.{k}: berth {oc} docker {tc}",
            case.name
        );
    }
    assert_eq!(
        history(&ours.config),
        history(&theirs.config),
        "{}: history created_by and empty_layer",
        case.name
    );
    let only_ours: Vec<_> = ours.tree.difference(&theirs.tree).collect();
    let only_theirs: Vec<_> = theirs.tree.difference(&ours.tree).collect();
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{}: file trees differ: only berth {only_ours:#?} only docker {only_theirs:#?}",
        case.name
    );
}

/// `img-save TAG | docker load`, then `docker run` prints what Docker's own image prints.
fn runs_under_docker(d: &Dockerd, rig: &Rig, case: &Case) {
    if !case.run {
        return;
    }
    let tag = format!("{}:1", case.name);
    let berth_tag = format!("berth-{}:1", case.name);
    rig.env.run("img-tag", &[&tag, &berth_tag]).ok();
    let saved = rig.env.path(&format!("{}.img-save.tar", case.name));
    rig.env
        .run("img-save", &[&berth_tag, "-o", saved.to_str().unwrap()])
        .ok();
    d.docker(&["load", "-i", saved.to_str().unwrap()]).ok();
    let ours = d
        .docker(&["run", "--rm", "--network", "none", &berth_tag])
        .ok();
    let theirs = d.docker(&["run", "--rm", "--network", "none", &tag]).ok();
    assert_eq!(ours.stdout, theirs.stdout, "{}: docker run", case.name);
    assert!(!ours.stdout.is_empty(), "{}: prints something", case.name);
}

#[test]
fn builds_match_docker_legacy_config_history_and_files() {
    require_root!();
    let rig = Rig::new();
    let d = require_dockerd!();
    // The same busybox image on both sides.
    let saved = rig.env.path("bb.tar");
    rig.env
        .run("img-save", &[&rig.image, "-o", saved.to_str().unwrap()])
        .ok();
    d.docker(&["load", "-i", saved.to_str().unwrap()]).ok();
    let cases = [&META, &STAGES, &ONBUILD_PARENT, &ONBUILD_CHILD];
    // Docker's builds first (one context per case, read by both builders).
    let theirs: Vec<(PathBuf, Made)> = cases
        .iter()
        .map(|case| {
            let ctx = make_ctx(&rig.env, case);
            let made = docker_side(&d, &rig.env, case, &ctx);
            eprintln!("docker {}: {}", case.name, made.config["config"]);
            (ctx, made)
        })
        .collect();
    for (case, (ctx, theirs)) in cases.iter().zip(&theirs) {
        let ours = berth_side(&rig, case, ctx);
        compare(case, &ours, theirs);
        runs_under_docker(&d, &rig, case);
    }
    // What the cases check, on berth's side (so a case that checks nothing fails).
    let meta = rig.env.config_of("meta:1");
    assert_eq!(meta["config"]["User"], "1234:1234");
    assert_eq!(meta["config"]["WorkingDir"], "/app/sub/rel");
    assert_eq!(meta["config"]["StopSignal"], "SIGUSR1");
    assert_eq!(meta["config"]["Labels"]["org.example.v"], "2.5");
    let child = rig.env.config_of("onbuild-child:1");
    assert_eq!(norm(&child["config"]["OnBuild"]), Value::Null);
    let parent = rig.env.config_of("onbuild-parent:1");
    assert_eq!(parent["config"]["OnBuild"].as_array().unwrap().len(), 2);
}

/// Builds `ctx` in a fresh root holding the base image saved in `base` (one base for both
/// builds: an import records its own time), with another umask, SOURCE_DATE_EPOCH set.
fn cold_build(ctx: &Path, base: &Path, umask: &str) -> (Env, Value) {
    let env = Env::new();
    env.run("img-load", &["-i", base.to_str().unwrap()]).ok();
    let mut c = Command::new("sh");
    c.args(["-c", &format!("umask {umask}; exec \"$0\" \"$@\"")])
        .arg(bin("img-build"))
        .args(["--network", "none", "-t", "repro:1"])
        .arg(ctx)
        .env("BERTH_ROOT", &env.root)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env_remove("XDG_DATA_HOME");
    let out = timed(&mut c, BUILD_SECS).ok();
    let res = result(&out);
    (env, res)
}

#[test]
fn two_cold_builds_from_two_checkouts_give_one_digest() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let files: &[(&str, &str)] = &[
        (
            "Dockerfile",
            "FROM bb:1\nENV A=1\nCOPY . /src/\nRUN mkdir /made && echo $A > /made/a && cp -r /src /made/src\nWORKDIR /made\nCMD [\"ls\"]\n",
        ),
        ("one.txt", "one\n"),
        ("sub/two.txt", "two\n"),
    ];
    let a = tmp.path().join("a/ctx");
    let b = tmp.path().join("elsewhere/other-name");
    write_ctx(&a, files);
    write_ctx(&b, files);
    for d in [&a, &b] {
        chmod(&d.join("one.txt"), 0o644);
        chmod(&d.join("sub/two.txt"), 0o644);
        chmod(&d.join("sub"), 0o755);
    }
    // The second copy is written later: other mtimes.
    Command::new("touch")
        .args(["-d", "2001-01-01"])
        .arg(b.join("one.txt"))
        .status()
        .unwrap();
    let base = tmp.path().join("bb.tar");
    let e0 = Env::new();
    e0.import_busybox("bb:1");
    e0.run("img-save", &["bb:1", "-o", base.to_str().unwrap()])
        .ok();
    let (_e1, r1) = cold_build(&a, &base, "022");
    let (_e2, r2) = cold_build(&b, &base, "077");
    assert_eq!(r1["digest"], r2["digest"], "{r1} {r2}");
    assert_eq!(r1["id"], r2["id"]);
    let config = _e1.config_of("repro:1");
    assert_eq!(config["created"], "2023-11-14T22:13:20Z", "{config}");
}

const CACHE_DOCKERFILE: &str = "FROM bb:1
ARG USED=1
COPY a.txt /a.txt
COPY dir/ /dir/
RUN cat /a.txt /dir/f > /both && echo $USED >> /both
ENV X=1
";

/// Asserts which steps were cached: `want` is (instruction prefix, cached), in order.
fn assert_cached(what: &str, out: &Out, want: &[(&str, bool)]) {
    let got = cached_flags(out);
    assert_eq!(got.len(), want.len(), "{what}: steps {got:?}");
    for ((ins, c), (prefix, w)) in got.iter().zip(want) {
        assert!(
            ins.starts_with(prefix),
            "{what}: step {ins:?} where {prefix:?} was expected: {got:?}"
        );
        assert_eq!(c, w, "{what}: {ins:?} cached: {got:?}");
    }
}

/// The cached flags of COPY a, COPY dir, RUN and ENV, in that order.
fn flags(what: &str, out: &Out, want: [bool; 4]) {
    let names = ["COPY a.txt", "COPY dir/", "RUN ", "ENV "];
    assert_cached(
        what,
        out,
        &names.iter().copied().zip(want).collect::<Vec<_>>(),
    );
}

#[test]
fn the_cache_reuses_what_did_not_change_and_rebuilds_from_what_did() {
    require_root!();
    let rig = Rig::new();
    let ctx = rig.env.path("ctx");
    write_ctx(
        &ctx,
        &[
            ("Dockerfile", CACHE_DOCKERFILE),
            ("a.txt", "a\n"),
            ("dir/f", "f\n"),
            ("dir/g", "g\n"),
        ],
    );
    let b = |args: &[&str], dir: &Path| {
        let mut all = vec!["--network", "none", "-t", "cache:1"];
        all.extend_from_slice(args);
        all.push(dir.to_str().unwrap());
        build(&rig.env, &all).ok()
    };
    let out = b(&[], &ctx);
    flags("first build", &out, [false; 4]);
    let first = result(&out);
    // touch of every context file: every step cached, the same image.
    for f in ["Dockerfile", "a.txt", "dir/f", "dir/g", "dir", "."] {
        Command::new("touch").arg(ctx.join(f)).status().unwrap();
    }
    let out = b(&[], &ctx);
    flags("after touch", &out, [true; 4]);
    assert_eq!(result(&out)["id"], first["id"]);
    // A build arg the Dockerfile does not use: cached.
    let out = b(&["--build-arg", "NOT_IN_THE_DOCKERFILE=2"], &ctx);
    flags("unused --build-arg", &out, [true; 4]);
    // A renamed context directory: cached.
    let moved = rig.env.path("renamed-ctx");
    std::fs::rename(&ctx, &moved).unwrap();
    let out = b(&[], &moved);
    flags("renamed context", &out, [true; 4]);
    assert_eq!(result(&out)["id"], first["id"]);
    // chmod of a.txt: that COPY and what follows rebuilt.
    chmod(&moved.join("a.txt"), 0o600);
    let out = b(&[], &moved);
    flags("chmod a.txt", &out, [false; 4]);
    // chown of dir/g: from COPY dir/ on.
    let st = Command::new("chown")
        .arg("4321:4321")
        .arg(moved.join("dir/g"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = b(&[], &moved);
    flags("chown dir/g", &out, [true, false, false, false]);
    // A content change of dir/f: from COPY dir/ on, and the RUN sees it.
    std::fs::write(moved.join("dir/f"), "F2\n").unwrap();
    let out = b(&[], &moved);
    flags("content of dir/f", &out, [true, false, false, false]);
    let both = rig
        .t(
            "ctr-run",
            &["--rm", "--network", "none", "cache:1", "cat", "/both"],
            60,
        )
        .ok();
    assert_eq!(both.stdout, "a\nF2\n1\n");
    // The build arg the RUN uses: the COPYs stay cached, the RUN and what follows do not.
    let out = b(&["--build-arg", "USED=2"], &moved);
    flags("--build-arg USED=2", &out, [true, true, false, false]);
    // --no-cache: nothing cached.
    let out = b(&["--no-cache"], &moved);
    flags("--no-cache", &out, [false; 4]);
}

/// Whether a tag resolves in `env`.
fn tagged(env: &Env, name: &str) -> bool {
    env.run("img-inspect", &[name]).code == 0
}

#[test]
fn failures_name_the_line_and_tag_nothing() {
    require_root!();
    let rig = Rig::new();
    let ctx = rig.env.path("ctx");
    write_ctx(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM bb:1\nRUN true\nRUN echo out && exit 3\nCMD [\"x\"]\n",
            ),
            (
                "syntax.Dockerfile",
                "FROM bb:1\nRUN true\nNOTANINSTRUCTION x\n",
            ),
            ("missing.Dockerfile", "FROM bb:1\nCOPY no-such-file /x\n"),
            ("outside.Dockerfile", "FROM bb:1\nCOPY ../outside.txt /x\n"),
            ("link.Dockerfile", "FROM bb:1\nCOPY . /ctx/\n"),
        ],
    );
    std::fs::write(rig.env.path("outside.txt"), "outside the context\n").unwrap();
    let c = ctx.to_str().unwrap();
    let before = rig.env.store_state();

    let out = build(&rig.env, &["--network", "none", "-t", "fail:1", c]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("Dockerfile:3"), "{out:#?}");
    assert!(out.stderr.contains("exit 3"), "the instruction: {out:#?}");
    assert!(!tagged(&rig.env, "fail:1"), "a failed build tags nothing");
    assert_eq!(rig.env.store_state().0, before.0, "index.json unchanged");

    let f = ctx.join("syntax.Dockerfile");
    let out = build(&rig.env, &["-t", "fail:2", "-f", f.to_str().unwrap(), c]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains('3') && out.stderr.contains("NOTANINSTRUCTION"),
        "{out:#?}"
    );
    assert!(!tagged(&rig.env, "fail:2"));

    for (file, what) in [
        ("missing.Dockerfile", "no-such-file"),
        ("outside.Dockerfile", "outside.txt"),
    ] {
        let f = ctx.join(file);
        let out = build(&rig.env, &["-t", "fail:3", "-f", f.to_str().unwrap(), c]);
        assert_ne!(out.code, 0, "{file}: {out:#?}");
        assert!(out.stderr.contains(what), "{file}: {out:#?}");
        assert!(out.stderr.contains("Dockerfile:2"), "{file}: {out:#?}");
        assert!(!tagged(&rig.env, "fail:3"));
    }

    // A symlink to /etc/passwd in the context is copied as a link, not followed.
    std::os::unix::fs::symlink("/etc/passwd", ctx.join("passwd")).unwrap();
    let f = ctx.join("link.Dockerfile");
    build(
        &rig.env,
        &[
            "--network",
            "none",
            "-t",
            "link:1",
            "-f",
            f.to_str().unwrap(),
            c,
        ],
    )
    .ok();
    let out = rig
        .t(
            "ctr-run",
            &[
                "--rm",
                "--network",
                "none",
                "link:1",
                "readlink",
                "/ctx/passwd",
            ],
            60,
        )
        .ok();
    assert_eq!(out.stdout.trim(), "/etc/passwd");
    let host = std::fs::read_to_string("/etc/passwd").unwrap();
    let inside = rig
        .t(
            "ctr-run",
            &["--rm", "--network", "none", "link:1", "cat", "/ctx/passwd"],
            60,
        )
        .ok();
    assert_ne!(
        inside.stdout, host,
        "the image's /etc/passwd, not the host's"
    );
}

#[test]
fn a_secret_is_in_no_layer() {
    require_root!();
    let rig = Rig::new();
    let ctx = rig.env.path("ctx");
    let secret = format!(
        "TOPSECRET-{}-{}",
        std::process::id(),
        rig.env.tmp.path().display()
    );
    write_ctx(
        &ctx,
        &[(
            "Dockerfile",
            "FROM bb:1\nRUN --mount=type=secret,id=s cat /run/secrets/s > /dev/null && sha256sum /run/secrets/s | cut -d' ' -f1 > /sum && ls /run/secrets > /listed\n",
        )],
    );
    let sfile = rig.env.path("secret.txt");
    std::fs::write(&sfile, &secret).unwrap();
    let spec = format!("id=s,src={}", sfile.display());
    build(
        &rig.env,
        &[
            "--network",
            "none",
            "--secret",
            &spec,
            "-t",
            "sec:1",
            ctx.to_str().unwrap(),
        ],
    )
    .ok();
    // The RUN read it.
    let sum = rig
        .t(
            "ctr-run",
            &["--rm", "--network", "none", "sec:1", "cat", "/sum"],
            60,
        )
        .ok();
    assert_eq!(
        sum.stdout.trim(),
        berth::digest::Digest::sha256_of(secret.as_bytes())
            .to_string()
            .trim_start_matches("sha256:")
    );
    // Every blob of the saved image, decompressed: the secret is in none.
    let saved = rig.env.path("sec.tar");
    rig.env
        .run("img-save", &["sec:1", "-o", saved.to_str().unwrap()])
        .ok();
    let files = tar_files(&std::fs::read(&saved).unwrap());
    assert!(files.len() > 2, "{:?}", files.keys());
    let needle = secret.as_bytes();
    for (name, data) in files {
        let plain = gunzip(data);
        assert!(
            !plain.windows(needle.len()).any(|w| w == needle),
            "the secret is in {name}"
        );
        // Layer tars: no /run/secrets/s entry either.
        if plain.get(257..262) == Some(&b"ustar"[..]) {
            let mut a = tar::Archive::new(&plain[..]);
            for e in a.entries().unwrap() {
                let e = e.unwrap();
                let p = e.path().unwrap().display().to_string();
                assert!(!p.ends_with("run/secrets/s"), "{name} holds {p}");
            }
        }
    }
}

#[test]
fn stdin_takes_a_lone_dockerfile_or_a_context_tar() {
    require_root!();
    let rig = Rig::new();
    let df = b"FROM bb:1\nRUN echo from-stdin > /hi\nCMD [\"cat\", \"/hi\"]\n";
    let out = timed_input(
        rig.env
            .cmd("img-build")
            .args(["--network", "none", "-t", "stdin:1", "-"]),
        Some(df),
        BUILD_SECS,
    )
    .ok();
    result(&out);
    let hi = rig
        .t("ctr-run", &["--rm", "--network", "none", "stdin:1"], 60)
        .ok();
    assert_eq!(hi.stdout, "from-stdin\n");
    // A lone Dockerfile has no context: COPY fails, naming it.
    let df = b"FROM bb:1\nCOPY x /x\n";
    let out = timed_input(
        rig.env.cmd("img-build").args(["-t", "stdin:2", "-"]),
        Some(df),
        BUILD_SECS,
    );
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("context"), "{out:#?}");

    // A gzipped tar of a context.
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, mode) in [
        (
            "Dockerfile",
            &b"FROM bb:1\nCOPY f.txt /f.txt\nCMD [\"cat\", \"/f.txt\"]\n"[..],
            0o644,
        ),
        ("f.txt", &b"from the tar\n"[..], 0o640),
    ] {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1);
        b.append_data(&mut h, name, data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    for (tag, input) in [("stdin:3", &tar), ("stdin:4", &gz)] {
        let out = timed_input(
            rig.env
                .cmd("img-build")
                .args(["--network", "none", "-t", tag, "-"]),
            Some(input),
            BUILD_SECS,
        )
        .ok();
        result(&out);
        let f = rig
            .t("ctr-run", &["--rm", "--network", "none", tag], 60)
            .ok();
        assert_eq!(f.stdout, "from the tar\n", "{tag}");
        let ls = rig
            .t(
                "ctr-run",
                &[
                    "--rm",
                    "--network",
                    "none",
                    tag,
                    "stat",
                    "-c",
                    "%a",
                    "/f.txt",
                ],
                60,
            )
            .ok();
        assert_eq!(ls.stdout.trim(), "640", "{tag}");
    }
}

/// BuildKit's pattern modifiers (Dockerfile 1.7; Docker 20.10's legacy builder lacks them) in
/// ENV, LABEL and WORKDIR, and `${V:?}` stopping the build at its line.
#[test]
fn pattern_modifiers_reach_the_config() {
    require_root!();
    let rig = Rig::new();
    let df = b"FROM bb:1
ARG F=dir/a.tar.gz
ENV BASE=${F##*/} STEM=${F%%.*} EXT=${F#*.} DIR=${F%/*} DASHED=${F//[.\\/]/-} ONE=${F/a/A}
LABEL stem=${STEM#dir/}
WORKDIR /w/${BASE%.gz}
";
    let out = timed_input(
        rig.env.cmd("img-build").args(["-t", "mods:1", "-"]),
        Some(df),
        BUILD_SECS,
    )
    .ok();
    result(&out);
    let c = &rig.env.config_of("mods:1")["config"];
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in [
        "BASE=a.tar.gz",
        "STEM=dir/a",
        "EXT=tar.gz",
        "DIR=dir",
        "DASHED=dir/a.tar.gz",
        "ONE=dir/A.tar.gz",
    ] {
        assert!(env.contains(&want), "{want} in {env:?}");
    }
    assert_eq!(c["Labels"]["stem"], "a");
    assert_eq!(c["WorkingDir"], "/w/a.tar");
    let df = b"FROM bb:1\nARG NEED\nENV X=\"${NEED:?set NEED}\"\n";
    let out = timed_input(
        rig.env.cmd("img-build").args(["-t", "mods:2", "-"]),
        Some(df),
        BUILD_SECS,
    );
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("NEED: set NEED"), "{out:#?}");
    assert!(out.stderr.contains(":3"), "the line: {out:#?}");
    assert!(!tagged(&rig.env, "mods:2"));
}
