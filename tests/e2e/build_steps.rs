//! The step tools (issue 17): `img-config`, `img-add`, `img-run` chained by hand give the
//! manifest digest img-build gives for the same Dockerfile (fresh roots, SOURCE_DATE_EPOCH set),
//! share img-build's cache (after img-build, every step is `cached: true`), and refuse bad input
//! (a missing image, a source outside the context, RUN given to img-config) writing nothing.

use std::path::Path;

use serde_json::Value;

use crate::support::rig::timed;
use crate::support::{Env, Out};

const SECS: u64 = 300;
const EPOCH: &str = "1700000000";

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
}

/// A root holding the busybox image saved in `base` (one import for all roots: an import
/// records its own time).
fn fresh(base: &Path) -> Env {
    let env = Env::new();
    env.run("img-load", &["-i", base.to_str().unwrap()]).ok();
    env
}

fn base_tar(dir: &Path) -> std::path::PathBuf {
    let base = dir.join("bb.tar");
    let e0 = Env::new();
    e0.import_busybox("bb:1");
    e0.run("img-save", &["bb:1", "-o", base.to_str().unwrap()])
        .ok();
    base
}

fn tool(env: &Env, name: &str, args: &[&str]) -> Out {
    timed(
        env.cmd(name).args(args).env("SOURCE_DATE_EPOCH", EPOCH),
        SECS,
    )
}

/// A step tool's JSON, checked for its shape.
fn step(env: &Env, name: &str, args: &[&str]) -> Value {
    let out = tool(env, name, args).ok();
    let v = out.json();
    for k in ["digest", "id", "key", "cached"] {
        assert!(v.get(k).is_some(), "{name}: no {k} in {v}");
    }
    v
}

fn digest(v: &Value) -> String {
    v["digest"].as_str().unwrap().to_string()
}

fn img_build(env: &Env, ctx: &Path, tag: &str) -> Value {
    let out = tool(
        env,
        "img-build",
        &["--network", "none", "-t", tag, ctx.to_str().unwrap()],
    )
    .ok();
    out.json_lines()
        .into_iter()
        .rfind(|v| v.get("digest").is_some())
        .unwrap()
}

/// The index's names: an untagged step output adds none.
fn index_entries(env: &Env) -> usize {
    let v: Value =
        serde_json::from_slice(&std::fs::read(env.images().join("index.json")).unwrap()).unwrap();
    v["manifests"].as_array().map(|a| a.len()).unwrap_or(0)
}

const SINGLE: &str = "FROM bb:1
ARG V=1.2
ENV APP=/app VERSION=$V
WORKDIR $APP
COPY --chown=1000:1000 a.txt sub/ ./
RUN echo $VERSION > /app/v && stat -c '%u %g %n' /app/* > /app/ls
CMD [\"cat\", \"/app/v\"]
";

/// SINGLE's steps as tool calls; returns each step's JSON.
fn single_chain(env: &Env, ctx: &Path) -> Vec<Value> {
    let c = ctx.to_str().unwrap();
    let mut out = Vec::new();
    let s = step(env, "img-config", &["--onbuild", "bb:1", "-c", "ARG V=1.2"]);
    out.push(s);
    let prev = |o: &Vec<Value>| digest(o.last().unwrap());
    let s = step(
        env,
        "img-config",
        &[
            &prev(&out),
            "--arg",
            "V=1.2",
            "-c",
            "ENV APP=/app VERSION=$V",
        ],
    );
    out.push(s);
    let s = step(
        env,
        "img-config",
        &[&prev(&out), "--arg", "V=1.2", "-c", "WORKDIR $APP"],
    );
    out.push(s);
    let s = step(
        env,
        "img-add",
        &[
            "--arg",
            "V=1.2",
            "--chown",
            "1000:1000",
            "--context",
            c,
            "a.txt",
            "sub/",
            &prev(&out),
            "./",
        ],
    );
    out.push(s);
    let s = step(
        env,
        "img-run",
        &[
            "--network",
            "none",
            "--arg",
            "V=1.2",
            &prev(&out),
            "--shell",
            "echo $VERSION > /app/v && stat -c '%u %g %n' /app/* > /app/ls",
        ],
    );
    out.push(s);
    let s = step(
        env,
        "img-config",
        &[
            &prev(&out),
            "-c",
            "CMD [\"cat\", \"/app/v\"]",
            "single:steps",
        ],
    );
    out.push(s);
    out
}

#[test]
fn steps_give_img_builds_digest_and_share_its_cache() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let base = base_tar(tmp.path());
    let ctx = tmp.path().join("ctx");
    write(
        &ctx,
        &[
            ("Dockerfile", SINGLE),
            ("a.txt", "a\n"),
            ("sub/b.txt", "b\n"),
            ("sub/deep/c.txt", "c\n"),
            (".dockerignore", "sub/deep\n"),
        ],
    );
    // Fresh root: the chain alone.
    let e1 = fresh(&base);
    let before = index_entries(&e1);
    let chain = single_chain(&e1, &ctx);
    // Untagged outputs are not listed; the tagged last one is.
    assert_eq!(index_entries(&e1), before + 1);
    let r = chain.last().unwrap()["ref"].as_str().unwrap().to_string();
    assert!(r.ends_with("single:steps"), "{r}");
    assert!(chain[..5].iter().all(|s| s["ref"].is_null()), "{chain:?}");
    // The state is the image built: the files, the owner, the expanded ENV.
    let out = timed(
        e1.cmd("ctr-run")
            .args(["--rm", "--network", "none", "single:steps"]),
        60,
    )
    .ok();
    assert_eq!(out.stdout, "1.2\n");
    let ls = timed(
        e1.cmd("ctr-run").args([
            "--rm",
            "--network",
            "none",
            "single:steps",
            "cat",
            "/app/ls",
        ]),
        60,
    )
    .ok()
    .stdout;
    assert!(
        ls.contains("1000     1000") || ls.contains("1000 1000"),
        "{ls}"
    );
    assert!(ls.contains("b.txt") && !ls.contains("deep"), "{ls}");

    // Another fresh root: img-build gives the same digest; then every step is a cache hit.
    let e2 = fresh(&base);
    let built = img_build(&e2, &ctx, "single:build");
    assert_eq!(built["digest"], chain.last().unwrap()["digest"], "{built}");
    let again = single_chain(&e2, &ctx);
    for (a, b) in again.iter().zip(&chain) {
        assert_eq!(a["cached"], true, "after img-build: {a}");
        assert_eq!(a["key"], b["key"], "the same key in both roots");
        assert_eq!(a["digest"], b["digest"]);
    }
    // `-`: the previous tool's JSON on stdin.
    let prev = serde_json::to_string(&again[4]).unwrap();
    let out = crate::support::run_with_stdin(
        e2.cmd("img-config")
            .args(["-", "-c", "CMD [\"cat\", \"/app/v\"]"])
            .env("SOURCE_DATE_EPOCH", EPOCH),
        prev.as_bytes(),
    )
    .ok();
    assert_eq!(out.json()["digest"], chain[5]["digest"], "{out:#?}");
    assert_eq!(out.json()["ref"], Value::Null);
    // The ID of an untagged output (which no index entry names) works as IMAGE too.
    let by_id = step(
        &e2,
        "img-config",
        &[
            again[4]["id"].as_str().unwrap(),
            "-c",
            "CMD [\"cat\", \"/app/v\"]",
        ],
    );
    assert_eq!(by_id["digest"], chain[5]["digest"], "{by_id}");
}

const MULTI: &str = "FROM bb:1 AS base
ONBUILD RUN echo triggered > /t
LABEL role=base
FROM base AS build
RUN echo built > /out
FROM bb:1
COPY --from=build /out /t /res/
ENTRYPOINT [\"cat\"]
";

#[test]
fn multi_stage_and_onbuild_by_steps() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let base = base_tar(tmp.path());
    let ctx = tmp.path().join("ctx");
    write(&ctx, &[("Dockerfile", MULTI)]);
    let c = ctx.to_str().unwrap();
    let e1 = fresh(&base);
    // Stage base.
    let b = step(
        &e1,
        "img-config",
        &[
            "--onbuild",
            "bb:1",
            "-c",
            "ONBUILD RUN echo triggered > /t",
            "-c",
            "LABEL role=base",
        ],
    );
    // Stage build: FROM base runs its trigger, then the RUN.
    let t = step(&e1, "img-config", &["--onbuild", &digest(&b)]);
    assert_eq!(t["cached"], false, "the trigger ran: {t}");
    let r = step(
        &e1,
        "img-run",
        &[
            "--network",
            "none",
            &digest(&t),
            "--shell",
            "echo built > /out",
        ],
    );
    // The last stage: COPY --from=build, the stage given as an image.
    let from = format!("build={}", digest(&r));
    let a = step(
        &e1,
        "img-add",
        &[
            "--from",
            &from,
            "--context",
            c,
            "/out",
            "/t",
            "bb:1",
            "/res/",
        ],
    );
    let last = step(
        &e1,
        "img-config",
        &[&digest(&a), "-c", "ENTRYPOINT [\"cat\"]", "multi:steps"],
    );
    let out = timed(
        e1.cmd("ctr-run").args([
            "--rm",
            "--network",
            "none",
            "multi:steps",
            "/res/out",
            "/res/t",
        ]),
        60,
    )
    .ok();
    assert_eq!(out.stdout, "built\ntriggered\n");

    let e2 = fresh(&base);
    let built = img_build(&e2, &ctx, "multi:build");
    assert_eq!(built["digest"], last["digest"], "{built} {last}");
    // A step after img-build: its cache.
    let again = step(
        &e2,
        "img-add",
        &[
            "--from",
            &from,
            "--context",
            c,
            "/out",
            "/t",
            "bb:1",
            "/res/",
        ],
    );
    assert_eq!(again["cached"], true, "{again}");
    assert_eq!(again["key"], a["key"]);
    // Emitted scripts give the instruction's text and the stage by --stage: the same step.
    let stage = format!("build={}", digest(&r));
    let by_text = step(
        &e2,
        "img-add",
        &[
            "--instruction",
            "COPY --from=build /out /t /res/",
            "--stage",
            &stage,
            "--context",
            c,
            "/out",
            "bb:1",
            "/res/",
        ],
    );
    assert_eq!(by_text["key"], a["key"], "{by_text}");
    assert_eq!(by_text["cached"], true);
    let run_text = step(
        &e2,
        "img-run",
        &[
            "--network",
            "none",
            "--instruction",
            "RUN echo built > /out",
            &digest(&t),
        ],
    );
    assert_eq!(run_text["digest"], r["digest"], "{run_text}");
    assert_eq!(run_text["cached"], true);
}

#[test]
fn bad_input_is_named_and_writes_nothing() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let base = base_tar(tmp.path());
    let env = fresh(&base);
    let ctx = tmp.path().join("ctx");
    write(&ctx, &[("in.txt", "in\n")]);
    std::fs::write(tmp.path().join("secret.txt"), "outside\n").unwrap();
    let c = ctx.to_str().unwrap();
    let state = env.store_state();

    tool(&env, "img-config", &["nope:1", "-c", "ENV A=1"]).fails_with(1, "nope:1");
    assert_eq!(env.store_state(), state, "a missing image wrote something");

    tool(&env, "img-config", &["bb:1", "-c", "RUN echo hi"]).fails_with(1, "img-run");
    tool(&env, "img-config", &["bb:1", "-c", "COPY a /b"]).fails_with(1, "img-add");
    assert_eq!(
        env.store_state(),
        state,
        "a refused instruction wrote something"
    );

    let out = tool(
        &env,
        "img-add",
        &["--context", c, "../secret.txt", "bb:1", "/x"],
    );
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("secret.txt"), "{out:#?}");
    assert_eq!(env.store_state(), state, "a source outside wrote something");

    tool(&env, "img-run", &["nope:1", "--", "true"]).fails_with(1, "nope:1");
    assert_eq!(env.store_state(), state);
}
