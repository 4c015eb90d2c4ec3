//! ctr-top: the running processes of a container, as `docker container top`.

use berth::container::top;
use berth::output::{align, write_stdout};
use berth::{Error, Result};
use berth_cli::{one_name, RootArgs};
use clap::{CommandFactory, Parser};
use std::io::IsTerminal;

const AFTER: &str = "\
Examples:
  ctr-top web
  ctr-top web aux
  ctr-top web -o pid,user,args
  ctr-top --format json web | jq '.Processes[][1]'

Runs ps on the host with the given options (default -ef: UID PID PPID C STIME TTY TIME CMD) and
keeps the rows of the container's processes (those of its cgroup); PIDs are the host's. The
options must include a PID column. Prints a table on a terminal and {\"Titles\":[…],
\"Processes\":[[…],…]} otherwise (or with --format json).";

/// Display the running processes of a container
#[derive(Parser, Debug)]
#[command(name = "ctr-top", version, after_help = AFTER)]
pub struct Cli {
    /// The container: a name, an ID or a unique ID prefix; - reads JSON from a previous tool
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Options for ps [default: -ef]
    #[arg(
        value_name = "PS OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_options: Vec<String>,

    /// Output: table or json [default: table on a terminal, json otherwise]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let json = match cli.format.as_deref() {
        None => !std::io::stdout().is_terminal(),
        Some("json") => true,
        Some("table") => false,
        Some(f) => {
            return Err(Error::Usage(format!(
                "--format {f}: ctr-top prints table or json"
            )))
        }
    };
    let name = one_name(cli.container)?;
    let t = top::top(&cli.root.root(), &name, &cli.ps_options)?;
    if json {
        let mut s = serde_json::to_string(&t).expect("serialises");
        s.push('\n');
        return write_stdout(s.as_bytes());
    }
    let mut lines = vec![t.titles.join("\t")];
    lines.extend(t.processes.iter().map(|p| p.join("\t")));
    write_stdout(align(&lines.join("\n")).as_bytes())
}
