//! `img-build --emit-sh` / `--emit-make` (issue 17): the emitted script and the emitted Makefile
//! (calls of img-config, img-add, img-run) give img-build's manifest digest on fresh roots; with
//! make, `touch` of a source reruns no step, and an edit reruns that step and the ones after it,
//! and nothing in another stage.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::rig::timed;
use crate::support::{bin_dir, Env};

const SECS: u64 = 300;
const EPOCH: &str = "1700000000";

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
}

/// A root holding busybox as `bb:1` (one saved tar for all roots: an import records its time).
fn fresh(base: &Path) -> Env {
    let env = Env::new();
    env.run("img-load", &["-i", base.to_str().unwrap()]).ok();
    env
}

fn base_tar(dir: &Path) -> PathBuf {
    let base = dir.join("bb.tar");
    let e0 = Env::new();
    e0.import_busybox("bb:1");
    e0.run("img-save", &["bb:1", "-o", base.to_str().unwrap()])
        .ok();
    base
}

fn img_build(env: &Env, ctx: &Path, extra: &[&str]) -> crate::support::Out {
    let mut c = env.cmd("img-build");
    c.args(["--network", "none"])
        .args(extra)
        .arg(ctx)
        .env("SOURCE_DATE_EPOCH", EPOCH);
    timed(&mut c, SECS)
}

fn built_digest(env: &Env, ctx: &Path) -> String {
    let out = img_build(env, ctx, &["-t", "app:built"]).ok();
    out.json_lines()
        .into_iter()
        .rfind(|v| v.get("digest").is_some())
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs an emitted file (`sh FILE` or `make -f FILE`) in `dir` with the step tools on PATH and
/// the root of `env`.
fn run_in(env: &Env, dir: &Path, prog: &str, args: &[&str]) -> crate::support::Out {
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new(prog);
    c.args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("BERTH_ROOT", env.images().parent().unwrap())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove("XDG_DATA_HOME")
        .env_remove("MAKEFLAGS");
    timed(&mut c, SECS)
}

fn stamp_digest(file: &Path) -> String {
    let v: Value = serde_json::from_str(std::fs::read_to_string(file).unwrap().trim()).unwrap();
    v["digest"].as_str().unwrap().to_string()
}

/// The last stamp the script prints (its last line is the final step's JSON).
fn last_json(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().rfind(|l| l.starts_with('{')).unwrap()).unwrap()
}

const MULTI: &str = "ARG BASE=bb:1
FROM $BASE AS lib
ARG NAME=lib
ENV OUT=/out/$NAME
COPY --chown=1000:1000 lib/ $OUT/
RUN echo built > $OUT/mark

FROM bb:1 AS other
COPY other.txt /other.txt
RUN wc -c /other.txt > /other.len

FROM bb:1 AS parent
ONBUILD ENV FROM_PARENT=yes
ONBUILD RUN echo $FROM_PARENT > /onbuild

FROM parent
ARG V=1.2
ENV APP=/app VERSION=$V
WORKDIR $APP
COPY --from=lib /out/lib ./lib
COPY --from=other /other.len ./
COPY --chown=1:2 a.txt sub/ ./
RUN echo $VERSION > v && cat /onbuild >> v
CMD [\"cat\", \"/app/v\"]
ENTRYPOINT [\"/bin/sh\", \"-c\"]
";

fn context(dir: &Path) -> PathBuf {
    let ctx = dir.join("ctx");
    write(
        &ctx,
        &[
            ("Dockerfile", MULTI),
            ("lib/x.txt", "x\n"),
            ("lib/deep/y.txt", "y\n"),
            ("other.txt", "other\n"),
            ("a.txt", "a\n"),
            ("sub/b.txt", "b\n"),
            ("sub/skip.o", "o\n"),
            (".dockerignore", "**/*.o\n"),
        ],
    );
    ctx
}

fn emit(env: &Env, ctx: &Path, flag: &str, out: &Path) {
    img_build(
        env,
        ctx,
        &[flag, "-o", out.to_str().unwrap(), "-t", "app:emitted"],
    )
    .ok();
}

#[test]
fn script_and_makefile_give_img_builds_digest() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let base = base_tar(tmp.path());
    let ctx = context(tmp.path());
    let want = built_digest(&fresh(&base), &ctx);

    // The script, on a fresh root.
    let e = fresh(&base);
    let script = ctx.join("build.sh");
    emit(&e, &ctx, "--emit-sh", &script);
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("--onbuild"), "{text}");
    assert!(text.contains("--cmd-set"), "{text}");
    let out = run_in(&e, &ctx, "sh", &["build.sh"]).ok();
    assert_eq!(last_json(&out.stdout)["digest"], want, "script: {out:#?}");
    std::fs::remove_file(&script).unwrap();
    std::fs::remove_dir_all(ctx.join(".berth")).unwrap();

    // The Makefile, on a fresh root, stages in parallel.
    let e = fresh(&base);
    let mk = ctx.join("Makefile");
    emit(&e, &ctx, "--emit-make", &mk);
    let out = run_in(&e, &ctx, "make", &["-j2"]).ok();
    let text = std::fs::read_to_string(&mk).unwrap();
    let last = text
        .lines()
        .find_map(|l| l.strip_prefix("all: $(S)/"))
        .unwrap()
        .to_string();
    assert_eq!(
        stamp_digest(&ctx.join(".berth").join(&last)),
        want,
        "make: {out:#?}"
    );
    // The tag the build was asked for names it.
    e.run("img-inspect", &["app:emitted"]).ok();
}

/// Stamp files' mtimes (nanoseconds), by name.
fn stamps(dir: &Path) -> std::collections::BTreeMap<String, std::time::SystemTime> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect()
}

#[test]
fn make_reruns_only_what_changed() {
    require_root!();
    let tmp = tempfile::tempdir().unwrap();
    let base = base_tar(tmp.path());
    let ctx = context(tmp.path());
    let e = fresh(&base);
    let mk = ctx.join("Makefile");
    emit(&e, &ctx, "--emit-make", &mk);
    run_in(&e, &ctx, "make", &["-j2"]).ok();
    let s = ctx.join(".berth");
    let t0 = stamps(&s);
    assert!(t0.len() >= 15, "{t0:?}");
    let q = run_in(&e, &ctx, "make", &["-q"]);
    assert_eq!(q.code, 0, "make -q after make: {q:#?}");

    // touch: make runs no step (only the sources' digests are taken again).
    std::thread::sleep(std::time::Duration::from_millis(20));
    for f in ["lib/x.txt", "other.txt", "a.txt", "sub/b.txt"] {
        let p = ctx.join(f);
        let d = std::fs::read(&p).unwrap();
        std::fs::write(&p, d).unwrap();
    }
    let out = run_in(&e, &ctx, "make", &[]).ok();
    assert!(
        !out.stdout.contains("img-"),
        "a step ran after touch: {out:#?}"
    );
    assert_eq!(stamps(&s), t0);
    // An edit of other.txt reruns `other`'s COPY
    // and what follows it, the final stage's steps after the FROM (they use `other`), and
    // nothing of `lib` or `parent`.
    std::fs::write(ctx.join("other.txt"), "changed\n").unwrap();
    let out = run_in(&e, &ctx, "make", &[]).ok();
    let t1 = stamps(&s);
    let changed: Vec<&String> = t1.keys().filter(|k| t1[*k] != t0[*k]).collect();
    assert!(
        changed
            .iter()
            .all(|k| !k.starts_with("lib-") && !k.starts_with("parent-")),
        "{changed:?} {out:#?}"
    );
    assert!(
        changed.iter().any(|k| k.starts_with("other-")),
        "{changed:?}"
    );
    assert!(
        !changed.contains(&&"other-8.json".to_string()),
        "other's FROM reran: {changed:?}"
    );
    assert!(
        changed.contains(&&"other-9.json".to_string()),
        "{changed:?}"
    );
    assert!(
        changed.contains(&&"other-10.json".to_string()),
        "{changed:?}"
    );
    // The image is the one img-build gives for the edited context.
    let last = std::fs::read_to_string(&mk)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("all: $(S)/"))
        .unwrap()
        .to_string();
    assert_eq!(stamp_digest(&s.join(last)), {
        let e2 = fresh(&base);
        std::fs::remove_file(&mk).unwrap();
        built_digest(&e2, &ctx)
    });
}
