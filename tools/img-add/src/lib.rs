//! img-add: COPY (or ADD) as a tool: one new layer written straight from the sources with
//! Docker's COPY path rules, no container; img-build's step, through img-build's cache.

use std::path::PathBuf;

use berth::build::step::parse_instruction;
use berth::{Error, Result};
use berth_cli::step::{StepArgs, StepCall};
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  img-add --context . src/ bb:1 /app/                       # COPY src/ /app/
  img-add --chown 1000:1000 --chmod 0644 conf.ini app:1 /etc/ app:2
  img-add --from build=sha256:… /out/bin - /usr/local/bin/  # COPY --from=build (a stage, by image)
  img-add --from bb:1 /bin/busybox scratch /bin/sh          # COPY --from=bb:1 (an image)
  img-add --add --context . app.tar.gz bb:1 /opt/           # ADD: a local tar is unpacked
  img-add --instruction 'COPY --link a b /dst/' a b IMAGE /dst/   # emitted scripts: the exact text

SRC… are paths in the context (--context, default .), read in place with its .dockerignore;
sources leading out of the context (../x, a link out) are refused, as Docker's. DEST is in the
image (relative: to its WORKDIR). With a trailing REPO[:TAG], DEST must start with / or . (or
use -t). IMAGE is a name, an ID, a manifest digest, scratch, or - (the previous tool's JSON on
stdin: its digest, else id, else ref). --from NAME=IMAGE copies from IMAGE as the stage NAME
(the instruction says --from=NAME, as the Dockerfile's); --from IMAGE copies from that image.
With --instruction, the instruction's own sources and DEST are used.

The step is built as img-build builds `FROM IMAGE` and the COPY: the same inputs give img-build's
key and image digest (SOURCE_DATE_EPOCH or --timestamp for the created times). stdout:
{\"ref\",\"digest\",\"id\",\"key\",\"cached\"}; -q prints only the image ID.";

/// Add files from the context (or another image) to an image as a new layer: COPY/ADD as a tool
#[derive(Parser, Debug)]
#[command(name = "img-add", version, after_help = AFTER,
    override_usage = "img-add [OPTIONS] SRC… IMAGE DEST [REPO[:TAG]]")]
pub struct Cli {
    /// SRC… IMAGE DEST [REPO[:TAG]]: the sources (in the context, or in --from's image), the
    /// image to add to, the destination in it, and a name for the result
    #[arg(value_name = "WORD", num_args = 3.., required = true)]
    pub words: Vec<String>,

    /// Owner of the new files: USER[:GROUP] (names are looked up in the image)
    #[arg(long, value_name = "USER[:GROUP]")]
    pub chown: Option<String>,

    /// Mode of the new files (octal)
    #[arg(long, value_name = "MODE")]
    pub chmod: Option<String>,

    /// Copy from IMAGE, or from IMAGE as the stage NAME (NAME=IMAGE)
    #[arg(long, value_name = "[NAME=]IMAGE")]
    pub from: Option<String>,

    /// Independent of the layers below (COPY --link)
    #[arg(long)]
    pub link: bool,

    /// Keep the sources' parent directories (COPY --parents)
    #[arg(long)]
    pub parents: bool,

    /// Leave out sources matching PATTERN (COPY --exclude); may be repeated
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,

    /// ADD instead of COPY (local tars are unpacked, URLs fetched)
    #[arg(long)]
    pub add: bool,

    /// The build context
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub context: PathBuf,

    #[command(flatten)]
    pub step: StepArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// SRC… IMAGE DEST [REPO[:TAG]]: a trailing REPO[:TAG] is there when the last word is not a
/// path (`/…`, `.…`) and the one before it is.
fn split_words(words: &[String]) -> Result<(Vec<String>, String, String, Option<String>)> {
    let looks_path = |w: &str| w.starts_with('/') || w.starts_with('.');
    let n = words.len();
    let has_repo = n >= 4 && !looks_path(&words[n - 1]) && looks_path(&words[n - 2]);
    let end = if has_repo { n - 1 } else { n };
    if end < 3 {
        return Err(Error::Usage(
            "expected SRC… IMAGE DEST [REPO[:TAG]]: at least one SRC, IMAGE and DEST".into(),
        ));
    }
    Ok((
        words[..end - 2].to_vec(),
        words[end - 2].clone(),
        words[end - 1].clone(),
        has_repo.then(|| words[n - 1].clone()),
    ))
}

/// A word as the Dockerfile writes it: JSON form when a word has blanks or quotes.
fn instruction(keyword: &str, flags: &[String], words: &[String]) -> String {
    let plain = words.iter().all(|w| {
        !w.is_empty()
            && !w.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            && !w.starts_with('[')
    });
    let mut parts = vec![keyword.to_string()];
    parts.extend(flags.iter().cloned());
    if plain {
        parts.extend(words.iter().cloned());
    } else {
        parts.push(berth::build::history::json_list(words));
    }
    parts.join(" ")
}

pub fn run(cli: Cli) -> Result<()> {
    let (srcs, image, dest, repo) = split_words(&cli.words)?;
    let keyword = if cli.add { "ADD" } else { "COPY" };
    let mut stages = Vec::new();
    let mut flags = Vec::new();
    if let Some(f) = &cli.from {
        if cli.add {
            return Err(Error::Usage("--from is COPY's: not with --add".into()));
        }
        match f.split_once('=') {
            Some((name, img)) => {
                stages.push((name.to_string(), img.to_string()));
                flags.push(format!("--from={name}"));
            }
            None => flags.push(format!("--from={f}")),
        }
    }
    if let Some(c) = &cli.chown {
        flags.push(format!("--chown={c}"));
    }
    if let Some(m) = &cli.chmod {
        flags.push(format!("--chmod={m}"));
    }
    if cli.link {
        flags.push("--link".into());
    }
    if cli.parents {
        flags.push("--parents".into());
    }
    for e in &cli.exclude {
        flags.push(format!("--exclude={e}"));
    }
    let mut words = srcs;
    words.push(dest);
    let text = match &cli.step.instruction {
        Some(t) => t.clone(),
        None => instruction(keyword, &flags, &words),
    };
    let ins = parse_instruction(&text)?;
    if ins.keyword != "COPY" && ins.keyword != "ADD" {
        return Err(Error::InvalidInput(format!(
            "{}: img-add runs COPY and ADD; {} is {}'s",
            text.lines().next().unwrap_or(""),
            ins.keyword,
            berth::build::step::tool_for(&ins.keyword)
        )));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::InvalidInput(
            "img-add needs root (it reads the image's files through a snapshot mount)".into(),
        ));
    }
    // Ctrl-C: the read-only views of the base and the --from image are unmounted on the way out.
    berth::build::run::exit_on_interrupt("img-add", &cli.step.root.root())?;
    let mut step = cli.step.clone();
    step.instruction = None;
    step.run(StepCall {
        tool: "img-add",
        image,
        instructions: vec![text],
        stages,
        tag: repo,
        context: Some(cli.context.clone()),
        run_triggers: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_split() {
        let (s, i, d, r) = split_words(&w(&["a", "b", "img", "/dst"])).unwrap();
        assert_eq!(
            (s, i.as_str(), d.as_str(), r),
            (w(&["a", "b"]), "img", "/dst", None)
        );
        let (s, i, d, r) = split_words(&w(&["a", "img", "/dst", "app:1"])).unwrap();
        assert_eq!(
            (s, i.as_str(), d.as_str(), r.as_deref()),
            (w(&["a"]), "img", "/dst", Some("app:1"))
        );
        let (s, i, d, r) = split_words(&w(&["a", "img", "rel"])).unwrap();
        assert_eq!(
            (s, i.as_str(), d.as_str(), r),
            (w(&["a"]), "img", "rel", None)
        );
        assert!(split_words(&w(&["img", "/dst", "app:1"])).is_ok());
    }

    #[test]
    fn instruction_text() {
        assert_eq!(
            instruction("COPY", &w(&["--chown=1:2"]), &w(&["a", "/b/"])),
            "COPY --chown=1:2 a /b/"
        );
        assert_eq!(
            instruction("COPY", &[], &w(&["a b", "/c"])),
            "COPY [\"a b\", \"/c\"]"
        );
    }
}
