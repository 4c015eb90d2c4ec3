//! `berth`: run as `img-ls` (a link named after a tool) it is that tool; run as `berth`, the
//! first argument names the tool (`berth img-ls …`), `berth --list` lists them.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use berth_multicall::{find, TOOLS};

const USAGE: &str = "\
Usage: berth TOOL [ARG]...
       TOOL [ARG]...      (through a link to berth named after the tool)

Options:
  -l, --list      List the tools, one a line
      --completions DIR
                  Write bash, zsh and fish completions of every tool into DIR
  -h, --help      Print this help
  -V, --version   Print the version

Each tool's own help: berth TOOL --help, or man TOOL.
";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    // The name this binary was run as: a tool's when run through its link.
    let name = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("berth");
    if let Some(tool) = find(name) {
        return (tool.main)(args);
    }
    let Some(first) = args.get(1).map(|a| a.to_string_lossy().into_owned()) else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    match first.as_str() {
        "-l" | "--list" => {
            for t in TOOLS {
                println!("{}", t.name);
            }
            ExitCode::SUCCESS
        }
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        "--completions" => {
            let Some(dir) = args.get(2) else {
                eprintln!("berth: error: --completions takes a directory");
                return ExitCode::from(2);
            };
            match berth_multicall::write_completions(Path::new(dir)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!(
                        "berth: error: writing completions to {}: {e}",
                        Path::new(dir).display()
                    );
                    ExitCode::FAILURE
                }
            }
        }
        "-V" | "--version" => {
            println!("berth {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        tool => match find(tool) {
            Some(t) => {
                // The tool sees itself first, as when run through its link.
                args.remove(0);
                (t.main)(args)
            }
            None => {
                eprintln!("berth: error: no tool named '{tool}' (berth --list lists them)");
                ExitCode::from(2)
            }
        },
    }
}
