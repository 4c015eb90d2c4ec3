//! img-build's Dockerfile features as a user meets them: `--target` builds only what it needs
//! (an unused stage that fails does not fail the build), independent stages run at the same
//! time, heredocs, cache mounts kept between builds, `.dockerignore` with `**` and `!`, ADD of a
//! local tar, `-q`, `--iidfile` and `--label`, `--explain`, and an interrupted build that leaves
//! no container behind.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::rig::{timed, Rig};
use crate::support::{Env, Out};

const BUILD_SECS: u64 = 300;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, data) in files {
        let path = dir.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, data).unwrap();
    }
}

fn build(env: &Env, args: &[&str]) -> Out {
    timed(env.cmd("img-build").args(args), BUILD_SECS)
}

fn run_cat(env: &Env, image: &str, path: &str) -> String {
    timed(
        env.cmd("ctr-run")
            .args(["--rm", "--network", "none", image, "cat", path]),
        60,
    )
    .ok()
    .stdout
}

fn steps(out: &Out) -> Vec<Value> {
    out.json_lines()
        .into_iter()
        .filter(|v| v.get("step").is_some())
        .collect()
}

#[test]
fn target_builds_only_what_it_needs_and_stages_run_together() {
    require_root!();
    let rig = Rig::new();
    let ctx = rig.env.path("ctx");
    write(
        &ctx,
        &[(
            "Dockerfile",
            // Stages one and two meet through a shared cache mount: each waits (at most 30 s)
            // for the other's mark, so the build passes only when they run at the same time.
            "FROM bb:1 AS broken\nRUN exit 7\n\
             FROM bb:1 AS one\nRUN --mount=type=cache,id=meet,target=/m,sharing=shared \
             touch /m/one && i=0 && while [ ! -e /m/two ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done \
             && [ -e /m/two ] && echo one > /one\n\
             FROM bb:1 AS two\nRUN --mount=type=cache,id=meet,target=/m,sharing=shared \
             touch /m/two && i=0 && while [ ! -e /m/one ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done \
             && [ -e /m/one ] && echo two > /two\n\
             FROM bb:1 AS final\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n\
             FROM final AS last\nRUN exit 9\n",
        )],
    );
    let c = ctx.to_str().unwrap();
    let out = build(
        &rig.env,
        &["--network", "none", "--target", "final", "-t", "tg:1", c],
    )
    .ok();
    // Neither `broken` nor `last` ran: their RUNs would have failed the build.
    let stages: Vec<String> = steps(&out)
        .iter()
        .map(|s| s["stage"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !stages.iter().any(|s| s == "broken" || s == "last"),
        "{stages:?}"
    );
    assert_eq!(run_cat(&rig.env, "tg:1", "/one"), "one\n");
    assert_eq!(run_cat(&rig.env, "tg:1", "/two"), "two\n");
    // An unknown target is an error that names it; the last stage is the default and fails.
    let out = build(&rig.env, &["--target", "nosuch", "-t", "tg:2", c]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("nosuch"), "{out:#?}");
    let out = build(&rig.env, &["--network", "none", "-t", "tg:3", c]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Dockerfile:11"), "{out:#?}");
}

#[test]
fn heredocs_cache_mounts_ignore_rules_and_add_tar() {
    require_root!();
    let rig = Rig::new();
    let ctx = rig.env.path("ctx");
    write(
        &ctx,
        &[
            (
                "Dockerfile",
                "FROM bb:1\n\
                 ARG WHO=world\n\
                 COPY <<EOF /greeting\nhello $WHO\nEOF\n\
                 RUN <<EOT\necho from-heredoc > /made\necho second >> /made\nEOT\n\
                 RUN --mount=type=cache,target=/cache echo x >> /cache/n && wc -l < /cache/n > /count\n\
                 COPY . /ctx/\n\
                 ADD pack.tar /unpacked/\n",
            ),
            (".dockerignore", "**/*.log\nsecret/\n!keep.log\nDockerfile\n"),
            ("app/a.txt", "a\n"),
            ("app/deep/x.log", "log\n"),
            ("keep.log", "kept\n"),
            ("secret/key", "k\n"),
        ],
    );
    // A tar to ADD: extracted where it lands.
    let tar_src = rig.env.path("tarsrc");
    write(&tar_src, &[("in/tar.txt", "from the tar\n")]);
    let st = std::process::Command::new("tar")
        .args(["-C", tar_src.to_str().unwrap(), "-cf"])
        .arg(ctx.join("pack.tar"))
        .arg("in")
        .status()
        .unwrap();
    assert!(st.success());
    let c = ctx.to_str().unwrap();
    build(&rig.env, &["--network", "none", "-t", "hd:1", c]).ok();
    assert_eq!(run_cat(&rig.env, "hd:1", "/greeting"), "hello world\n");
    assert_eq!(run_cat(&rig.env, "hd:1", "/made"), "from-heredoc\nsecond\n");
    assert_eq!(run_cat(&rig.env, "hd:1", "/count"), "1\n");
    assert_eq!(
        run_cat(&rig.env, "hd:1", "/unpacked/in/tar.txt"),
        "from the tar\n"
    );
    let listing = timed(
        rig.env.cmd("ctr-run").args([
            "--rm",
            "--network",
            "none",
            "hd:1",
            "find",
            "/ctx",
            "-type",
            "f",
        ]),
        60,
    )
    .ok()
    .stdout;
    let mut files: Vec<&str> = listing.lines().collect();
    files.sort();
    assert_eq!(
        files,
        [
            "/ctx/.dockerignore",
            "/ctx/app/a.txt",
            "/ctx/keep.log",
            "/ctx/pack.tar"
        ],
        "ignored: **/*.log (but !keep.log), secret/, the Dockerfile"
    );
    // The cache mount outlives the build: a rebuild of the RUN (--no-cache) sees the first's file.
    build(
        &rig.env,
        &["--network", "none", "--no-cache", "-t", "hd:2", c],
    )
    .ok();
    assert_eq!(run_cat(&rig.env, "hd:2", "/count"), "2\n");
    // An ignored file's change does not touch the cache; a kept one's does, and --explain says which.
    std::fs::write(ctx.join("app/deep/x.log"), "changed\n").unwrap();
    let out = build(&rig.env, &["--network", "none", "-t", "hd:3", c]).ok();
    assert!(
        steps(&out).iter().all(|s| s["cached"] == true),
        "{}",
        out.stdout
    );
    std::fs::write(ctx.join("keep.log"), "changed\n").unwrap();
    let out = build(
        &rig.env,
        &["--network", "none", "--explain", "-t", "hd:4", c],
    )
    .ok();
    let copy = steps(&out)
        .into_iter()
        .find(|s| s["instruction"] == "COPY . /ctx/")
        .unwrap();
    assert_eq!(copy["cached"], false);
    let why = copy["explain"].as_str().unwrap();
    assert!(why.contains("keep.log") && why.contains("content"), "{why}");
}

#[test]
fn quiet_iidfile_and_labels() {
    require_root!();
    let rig = Rig::new();
    let ctx = rig.env.path("ctx");
    write(&ctx, &[("Dockerfile", "FROM bb:1\nLABEL a=1\n")]);
    let iid = rig.env.path("iid");
    let out = build(
        &rig.env,
        &[
            "-q",
            "--iidfile",
            iid.to_str().unwrap(),
            "--label",
            "z=last",
            "--label",
            "b=2",
            "-t",
            "q:1",
            ctx.to_str().unwrap(),
        ],
    )
    .ok();
    let id = out.stdout.trim();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "only the ID: {:?}",
        out.stdout
    );
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    let inspect = rig.env.run("img-inspect", &["q:1"]).ok().json();
    let c = &inspect[0];
    assert_eq!(c["Id"], id);
    assert_eq!(c["Config"]["Labels"]["a"], "1");
    assert_eq!(c["Config"]["Labels"]["b"], "2");
    assert_eq!(c["Config"]["Labels"]["z"], "last");
}

#[test]
fn an_interrupted_build_leaves_no_container() {
    require_root!();
    let rig = Rig::new();
    let ctx = rig.env.path("ctx");
    write(
        &ctx,
        &[("Dockerfile", "FROM bb:1\nRUN echo started && sleep 60\n")],
    );
    let mut child = rig
        .env
        .cmd("img-build")
        .args(["--network", "none", "-t", "int:1", ctx.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the RUN's container exists.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ls = rig.env.run("ctr-ls", &["-a", "-q"]);
        if !ls.stdout.trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the RUN never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "exits as a shell reports SIGINT");
    assert_eq!(rig.env.run("ctr-ls", &["-a", "-q"]).stdout.trim(), "");
    assert_ne!(rig.env.run("img-inspect", &["int:1"]).code, 0);
}
