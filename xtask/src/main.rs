//! `cargo run -p xtask -- man [--check] [DIR]` and `cargo run -p xtask -- completions DIR`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["man"] | ["man", _] if args.get(1).map(String::as_str) != Some("--check") => {
            let dir = args.get(1).map(PathBuf::from).unwrap_or(root.join("man"));
            match xtask::write_man_pages(&dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("xtask: error: writing man pages to {}: {e}", dir.display());
                    ExitCode::FAILURE
                }
            }
        }
        ["man", "--check"] => {
            let stale = xtask::stale_man_pages(&root.join("man"));
            if stale.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "xtask: error: man pages out of date: {} (run: cargo run -p xtask -- man)",
                    stale.join(", ")
                );
                ExitCode::FAILURE
            }
        }
        ["completions", dir] => match xtask::write_completions(&PathBuf::from(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xtask: error: writing completions to {dir}: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: xtask man [--check | DIR] | xtask completions DIR");
            ExitCode::from(2)
        }
    }
}
