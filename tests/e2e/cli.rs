//! What every tool shares: --help, usage errors, man pages kept current.

use std::path::PathBuf;

use crate::support::{bin_dir, Env};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tool_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace().join("tools"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_tool_is_documented_and_its_man_page_is_current() {
    let mut commands: Vec<String> = xtask::commands()
        .iter()
        .map(|c| c.get_name().to_string())
        .collect();
    commands.sort();
    assert_eq!(
        commands,
        tool_names(),
        "xtask::commands() must list every crate under tools/"
    );
    let stale = xtask::stale_man_pages(&workspace().join("man"));
    assert!(
        stale.is_empty(),
        "man pages out of date for {stale:?}: run `cargo run -p xtask -- man` and commit man/"
    );
}

#[test]
fn help_and_usage_errors() {
    let env = Env::new();
    for tool in tool_names() {
        assert!(bin_dir().join(&tool).exists(), "{tool} is not built");
        let help = env.run(&tool, &["--help"]).ok();
        assert!(help.stdout.contains("Usage:"), "{tool} --help: {help:?}");
        assert!(
            help.stdout.contains("--root"),
            "{tool} takes --root: {help:?}"
        );
        let bad = env.run(&tool, &["--no-such-flag"]);
        // ctr-run and ctr-create exit 125, as docker run and docker create (issue 15.8).
        let want = if matches!(tool.as_str(), "ctr-run" | "ctr-create") {
            125
        } else {
            2
        };
        assert_eq!(
            bad.code, want,
            "{tool}: a usage error exits {want}: {bad:?}"
        );
        assert!(
            bad.stderr.starts_with(&format!("{tool}: error:")),
            "{bad:?}"
        );
    }
}

#[test]
fn closed_stdout_is_not_an_error() {
    let env = Env::new();
    for i in 0..3 {
        env.import_busybox(&format!("pipe:{i}"));
    }
    // `img-ls | head -c0`: stdout closed before the tool writes.
    let mut child = env
        .cmd("img-ls")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
