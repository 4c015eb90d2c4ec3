//! img-config: a new image whose config differs, by metadata instructions (ENV, LABEL, CMD, …),
//! each its own step as img-build runs it: no container, no layer, Docker's history line.

use berth::build::step::{parse_instruction, tool_for, METADATA};
use berth::{Error, Result};
use berth_cli::step::{StepArgs, StepCall};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  img-config bb:1 -c 'ENV APP=/app' -c 'WORKDIR $APP' -c 'CMD [\"./run\"]' app:1
  img-config --onbuild base:1 -c 'LABEL stage=build'   # a stage's first step: the base's ONBUILD triggers run
  img-add --context . app.sh bb:1 /app/ | img-config - -c 'ENTRYPOINT [\"/app/app.sh\"]'
  SOURCE_DATE_EPOCH=0 img-config bb:1 -c 'USER 1000'   # reproducible: img-build's digest for the step

IMAGE is a name, an image ID, a manifest digest (an untagged step's output), scratch, or - (the
previous tool's JSON on stdin: its digest, else id, else ref). Each -c is one step, built as
img-build builds `FROM IMAGE` followed by it, through img-build's cache: the same inputs give
img-build's key and image digest. Variables expand from the image's ENV and the args given with
--arg (as earlier ARG instructions of the stage declared them). Accepted: ENV, LABEL, CMD,
ENTRYPOINT, USER, WORKDIR, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, ARG,
MAINTAINER; COPY/ADD are img-add's, RUN img-run's.

stdout: {\"ref\",\"digest\",\"id\",\"key\",\"cached\"} (ref null when untagged: an untagged result
is kept by the build cache and not listed by img-ls); -q prints only the image ID. Nothing is
pulled: the image must be in the store.";

/// Change an image's config by Dockerfile metadata instructions, as img-build's steps
#[derive(Parser, Debug)]
#[command(name = "img-config", version, after_help = AFTER)]
pub struct Cli {
    /// The image to start from: NAME, ID, manifest digest, scratch, or - (JSON on stdin)
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Name the result REPO[:TAG]
    #[arg(value_name = "REPO[:TAG]")]
    pub repo: Option<String>,

    /// A metadata instruction, as a Dockerfile writes it (ENV K=V, CMD [\"x\"], …); each is one
    /// step; may be repeated
    #[arg(short = 'c', long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,

    /// Run the image's ONBUILD triggers first (what FROM does: a stage's first step)
    #[arg(long)]
    pub onbuild: bool,

    #[command(flatten)]
    pub step: StepArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<()> {
    let mut changes = cli.changes.clone();
    if let Some(i) = &cli.step.instruction {
        changes = vec![i.clone()];
    }
    if changes.is_empty() && !cli.onbuild {
        return Err(Error::Usage(
            "no instruction: give one or more -c INSTRUCTION (or --onbuild)".into(),
        ));
    }
    // Only metadata instructions; checked before anything is read or written.
    for c in &changes {
        let ins = parse_instruction(c)?;
        if !METADATA.contains(&ins.keyword.as_str()) {
            return Err(Error::InvalidInput(format!(
                "{}: img-config takes metadata instructions only ({}); {} is {}'s",
                c.lines().next().unwrap_or(""),
                METADATA.join(", "),
                ins.keyword,
                tool_for(&ins.keyword)
            )));
        }
    }
    let mut step = cli.step.clone();
    step.instruction = None;
    step.run(StepCall {
        tool: "img-config",
        image: cli.image,
        instructions: changes,
        stages: Vec::new(),
        tag: cli.repo,
        context: None,
        run_triggers: cli.onbuild,
    })
}
