//! Issue 15 item 14: what a Docker user reads — pull progress as `docker pull` words it, error
//! texts that name a reference as it is written, usage lines, man page sections.

use crate::support::{is_root, Env, Registry};

#[test]
fn pull_progress_reads_like_docker_pull() {
    require_program!("docker-registry");
    let reg = Registry::start();
    let env = Env::new();
    let pushed = env.import_busybox("busybox:1");
    let dest = format!("{}/msgs/busybox:1", reg.addr());
    env.run("img-push", &["busybox:1", &dest]).ok();
    let config = env.run("img-inspect", &["busybox:1"]).ok().json()[0]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let config_short = &config[7..19];

    let fresh = Env::new();
    let first = fresh.run("img-pull", &["--progress=plain", &dest]).ok();
    let err = &first.stderr;
    assert!(
        err.starts_with("1: Pulling from msgs/busybox\n"),
        "a header line as Docker's: {err}"
    );
    assert!(
        !err.contains(config_short),
        "no line for the config blob (Docker shows layers only): {err}"
    );
    assert!(err.contains(": Download complete\n"), "{err}");
    if is_root() {
        assert!(
            err.contains(": Extracting\n"),
            "unpacking into snapshots shows an Extracting phase: {err}"
        );
    }
    assert!(err.contains(": Pull complete\n"), "{err}");
    assert!(
        err.contains(&format!("Digest: {}\n", pushed["digest"].as_str().unwrap())),
        "{err}"
    );
    assert!(
        err.ends_with(&format!("Status: Downloaded newer image for {dest}\n")),
        "{err}"
    );

    let again = fresh.run("img-pull", &["--progress=plain", &dest]).ok();
    let err = &again.stderr;
    assert!(err.contains(": Already exists\n"), "{err}");
    assert!(!err.contains("Pull complete"), "{err}");
    assert!(
        err.ends_with(&format!("Status: Image is up to date for {dest}\n")),
        "a re-pull says the image is up to date: {err}"
    );
    assert_eq!(first.stdout, again.stdout, "stdout keeps the same JSON");

    // Quiet means nothing on stderr.
    let quiet = fresh.run("img-pull", &["-q", &dest]).ok();
    assert_eq!(quiet.stderr, "");

    // A digest reference is printed with '@' in errors.
    let missing = format!("{}/msgs/busybox@sha256:{}", reg.addr(), "0".repeat(64));
    let out = fresh.run("img-pull", &[&missing]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr
            .contains(&format!("msgs/busybox@sha256:{}", "0".repeat(64))),
        "the reference as written, with '@': {out:#?}"
    );
    assert!(!out.stderr.contains("busybox:sha256"), "{out:#?}");
}

#[test]
fn a_missing_container_is_named_once() {
    let env = Env::new();
    for tool in ["ctr-start", "ctr-stop", "ctr-rm", "ctr-inspect", "ctr-kill"] {
        let out = env
            .run(tool, &["nosuch"])
            .fails_with(1, "no such container: nosuch");
        assert_eq!(
            out.stderr.matches("nosuch").count(),
            1,
            "{tool} names the container once: {out:#?}"
        );
    }
}

#[test]
fn usage_lines_do_not_show_root_when_berth_root_is_set() {
    let env = Env::new();
    // Env::cmd sets BERTH_ROOT.
    let out = env.run("ctr-rm", &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("Usage: ctr-rm <CONTAINER>..."),
        "the usage line shows what the user must type, not the root from the environment: {out:#?}"
    );
    assert!(!out.stderr.contains("--root <DIR>"), "{out:#?}");
    // The environment still picks the root: a tool run with it lists what that root holds.
    env.import_busybox("busybox:1");
    let ls = env.run("img-ls", &["-q"]).ok();
    assert_eq!(ls.stdout.lines().count(), 1, "{ls:#?}");
    let help = env.run("img-ls", &["--help"]).ok();
    assert!(
        help.stdout.contains("BERTH_ROOT"),
        "--help still names the variable"
    );
}
