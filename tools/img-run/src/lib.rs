//! img-run: a RUN step as a tool: the command runs in a throwaway container on the image and
//! its changes are committed as img-build commits them (img-build's step, through its cache).

use std::path::PathBuf;

use berth::build::step::parse_instruction;
use berth::{Error, Result};
use berth_cli::step::{StepArgs, StepCall};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  img-run bb:1 -- mkdir -p /app/data                      # RUN [\"mkdir\", \"-p\", \"/app/data\"]
  img-run bb:1 --shell 'echo $HOME > /home.txt' app:1      # RUN echo $HOME > /home.txt
  img-run --mount type=cache,target=/root/.cache - --shell 'make'
  img-run --instruction 'RUN --network=none make' IMAGE    # emitted scripts: the exact text

IMAGE is a name, an ID, a manifest digest, or - (the previous tool's JSON on stdin: its digest,
else id, else ref). The command runs as img-build's RUN: the image's SHELL for --shell, its ENV,
WORKDIR and USER, the args given with --arg in its environment, --network (bridge, none, host).
--mount takes RUN --mount's specs (cache, bind, tmpfs, secret); a bind mount reads --context
(none by default), a mount from=NAME a stage given with --stage NAME=IMAGE.

The step is built as img-build builds `FROM IMAGE` and the RUN, through img-build's cache: the
same inputs give img-build's key and image digest (SOURCE_DATE_EPOCH or --timestamp for the
created times). stdout: {\"ref\",\"digest\",\"id\",\"key\",\"cached\"}; -q prints only the image
ID; the command's output goes to stderr. A failing command: img-run exits with its code (as
img-build), names it, and keeps no container.";

/// Run a command on an image and commit its changes: a Dockerfile RUN as a tool
#[derive(Parser, Debug)]
#[command(name = "img-run", version, after_help = AFTER)]
pub struct Cli {
    /// The image to run on: NAME, ID, manifest digest, or - (JSON on stdin)
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Name the result REPO[:TAG]
    #[arg(value_name = "REPO[:TAG]")]
    pub repo: Option<String>,

    /// The command, exec form (RUN [\"CMD\", …])
    #[arg(value_name = "CMD", last = true)]
    pub command: Vec<String>,

    /// The command as a shell line (RUN CMD: the image's SHELL runs it)
    #[arg(long, value_name = "CMD", conflicts_with = "command")]
    pub shell: Option<String>,

    /// A RUN --mount spec (type=cache|bind|tmpfs|secret,…); may be repeated
    #[arg(long, value_name = "SPEC")]
    pub mount: Vec<String>,

    /// The build context bind mounts read
    #[arg(long, value_name = "DIR")]
    pub context: Option<PathBuf>,

    #[command(flatten)]
    pub step: StepArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// The RUN instruction of the command line.
fn instruction(mounts: &[String], exec: &[String], shell: Option<&str>) -> Result<String> {
    let mut parts = vec!["RUN".to_string()];
    for m in mounts {
        parts.push(format!("--mount={m}"));
    }
    match (shell, exec.is_empty()) {
        (Some(s), true) => {
            if s.trim().is_empty() {
                return Err(Error::Usage("--shell: an empty command".into()));
            }
            parts.push(s.to_string());
        }
        (None, false) => parts.push(berth::build::history::json_list(exec)),
        (Some(_), false) => {
            return Err(Error::Usage(
                "give the command after -- or with --shell, not both".into(),
            ))
        }
        (None, true) => {
            return Err(Error::Usage(
                "no command: give it after -- (exec form) or with --shell (shell form)".into(),
            ))
        }
    }
    Ok(parts.join(" "))
}

pub fn run(cli: Cli) -> Result<()> {
    let text = match &cli.step.instruction {
        Some(t) => t.clone(),
        None => instruction(&cli.mount, &cli.command, cli.shell.as_deref())?,
    };
    let ins = parse_instruction(&text)?;
    if ins.keyword != "RUN" {
        return Err(Error::InvalidInput(format!(
            "{}: img-run runs RUN; {} is {}'s",
            text.lines().next().unwrap_or(""),
            ins.keyword,
            berth::build::step::tool_for(&ins.keyword)
        )));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::InvalidInput(
            "img-run needs root (the command runs in a container)".into(),
        ));
    }
    berth::build::run::exit_on_interrupt("img-run", &cli.step.root.root())?;
    let mut step = cli.step.clone();
    step.instruction = None;
    let r = step.run(StepCall {
        tool: "img-run",
        image: cli.image,
        instructions: vec![text],
        stages: Vec::new(),
        tag: cli.repo,
        context: cli.context.clone(),
        run_triggers: false,
    });
    match r {
        // Interrupted: the signal's thread cleans up and exits with the signal's code.
        Err(e) if berth::build::run::aborting() => {
            for _ in 0..60 {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            Err(e)
        }
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_text() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            instruction(&[], &v(&["echo", "a b"]), None).unwrap(),
            "RUN [\"echo\", \"a b\"]"
        );
        assert_eq!(
            instruction(&v(&["type=cache,target=/c"]), &[], Some("make")).unwrap(),
            "RUN --mount=type=cache,target=/c make"
        );
        assert!(instruction(&[], &[], None).is_err());
    }
}
