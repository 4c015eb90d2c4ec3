//! The flags every step tool (`img-config`, `img-add`, `img-run`) shares, and their run: the
//! step built through `berth::build::step`, one JSON object `{"ref","digest","id","key","cached"}`
//! on stdout.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;

use berth::build::builder::{Events, StepEvent};
use berth::build::context::Context;
use berth::build::step::{self, Step};
use berth::container::pull::PullPolicy;
use berth::error::{Error, Result};
use berth::image::Platform;
use berth::output::print_json;
use berth::reference::Reference;
use serde_json::{json, Value};

use crate::{Codec, RootArgs};

/// The flags of a step tool.
#[derive(clap::Args, Debug, Clone)]
pub struct StepArgs {
    /// A build arg in scope, as declared by an earlier ARG of the stage: K=V, or K alone
    /// (declared without a value); may be repeated
    #[arg(long = "arg", value_name = "K[=V]")]
    pub args: Vec<String>,

    /// Offer a build arg's value K=V (K alone: this process's value of K), as img-build's;
    /// may be repeated
    #[arg(long = "build-arg", value_name = "K[=V]")]
    pub build_args: Vec<String>,

    /// A CMD was given earlier in this stage (an ENTRYPOINT then keeps it)
    #[arg(long, hide = true)]
    pub cmd_set: bool,

    /// The time (seconds since 1970) written as created times, mtimes in new layers clamped to
    /// it [default: $SOURCE_DATE_EPOCH, else now]
    #[arg(long, value_name = "EPOCH")]
    pub timestamp: Option<i64>,

    /// The network RUN steps use: bridge (default), none or host
    #[arg(long, value_name = "MODE", default_value = "bridge")]
    pub network: String,

    /// A secret for RUN --mount=type=secret: id=ID,src=FILE; may be repeated
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,

    /// The platform to build for (OS/ARCH[/VARIANT]) [default: this machine's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Name the result NAME[:TAG] (untagged results are kept by the build cache, not listed);
    /// may be repeated
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,

    /// Print only the image ID (and nothing on stderr but errors)
    #[arg(short, long)]
    pub quiet: bool,

    /// The Dockerfile instruction, as written (emitted scripts give it so that the step's text,
    /// hence its cache key, is img-build's byte for byte)
    #[arg(long, value_name = "TEXT")]
    pub instruction: Option<String>,

    /// Another stage an instruction names (COPY --from=NAME, RUN --mount=from=NAME), as an
    /// image: NAME=IMAGE; may be repeated
    #[arg(long = "stage", value_name = "NAME=IMAGE")]
    pub stages: Vec<String>,

    /// Do not use the cache: run the step
    #[arg(long)]
    pub no_cache: bool,

    /// Compression of a new layer
    #[arg(long, value_enum, default_value_t = Codec::Gzip)]
    pub compression: Codec,

    #[command(flatten)]
    pub root: RootArgs,
}

/// A step tool's step, before the flags are applied.
pub struct StepCall {
    /// The tool's name (errors name it).
    pub tool: &'static str,
    /// The IMAGE argument (`-`: the previous tool's JSON on stdin).
    pub image: String,
    pub instructions: Vec<String>,
    /// Stages the tool's own flags name (img-add's `--from NAME=IMAGE`).
    pub stages: Vec<(String, String)>,
    /// A trailing REPO[:TAG].
    pub tag: Option<String>,
    pub context: Option<PathBuf>,
    pub run_triggers: bool,
}

/// The image a previous tool printed: its `digest`, else `id`, else `ref` (the last JSON
/// object of the input that has one; img-build's step lines have none).
pub fn image_from_json(text: &str) -> Result<String> {
    let mut found = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        for k in ["digest", "id", "ref"] {
            if let Some(s) = v.get(k).and_then(Value::as_str) {
                found = Some(s.to_string());
                break;
            }
        }
    }
    if found.is_none() {
        // One pretty-printed object.
        if let Ok(v) = serde_json::from_str::<Value>(text) {
            for k in ["digest", "id", "ref"] {
                if let Some(s) = v.get(k).and_then(Value::as_str) {
                    found = Some(s.to_string());
                    break;
                }
            }
        }
    }
    found.ok_or_else(|| {
        Error::InvalidInput(
            "IMAGE -: stdin holds no JSON object with a digest, id or ref (pipe a step tool's or img-build's output)".into(),
        )
    })
}

fn split_kv(list: &[String], what: &str) -> Result<Vec<(String, String)>> {
    list.iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(Error::Usage(format!(
                "invalid {what} {s:?}: expected NAME=VALUE"
            ))),
        })
        .collect()
}

struct Show {
    quiet: bool,
}

impl Events for Show {
    fn finished(&self, ev: &StepEvent) {
        if !self.quiet && !ev.instruction.to_ascii_uppercase().starts_with("FROM ") {
            eprintln!(
                "{} {}{}",
                ev.key
                    .as_ref()
                    .map(|k| k.short().to_string())
                    .unwrap_or_default(),
                if ev.cached { "(cached) " } else { "" },
                ev.instruction
            );
        }
    }
    fn output(&self, _stage: &str, data: &[u8]) {
        if !self.quiet {
            let _ = std::io::stderr().write_all(data);
        }
    }
    fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}

impl StepArgs {
    /// Builds the step and prints its JSON (or its ID with -q).
    pub fn run(&self, call: StepCall) -> Result<()> {
        let root = self.root.root();
        let image = if call.image == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Error::stream("read the previous step's JSON from stdin", e))?;
            image_from_json(&text)?
        } else {
            call.image.clone()
        };
        let mut tags = Vec::new();
        for t in self.tags.iter().chain(call.tag.iter()) {
            tags.push(
                Reference::parse_with_default_tag(t)
                    .map_err(|e| Error::Usage(format!("invalid tag {t:?}: {e}")))?,
            );
        }
        let platform = match &self.platform {
            Some(p) => p.parse::<Platform>()?,
            None => Platform::host(),
        };
        let network = match self.network.as_str() {
            "bridge" | "default" => "bridge".to_string(),
            "none" | "host" => self.network.clone(),
            other => {
                return Err(Error::Usage(format!(
                    "invalid --network {other:?}: must be bridge, none or host"
                )))
            }
        };
        let timestamp = match self.timestamp {
            Some(t) => Some(t),
            None => match std::env::var("SOURCE_DATE_EPOCH") {
                Ok(v) if !v.is_empty() => Some(v.trim().parse::<i64>().map_err(|_| {
                    Error::Usage(format!(
                        "SOURCE_DATE_EPOCH {v:?} is not a number of seconds"
                    ))
                })?),
                _ => None,
            },
        };
        let mut build_args = BTreeMap::new();
        for a in &self.build_args {
            match a.split_once('=') {
                Some((k, v)) => {
                    build_args.insert(k.to_string(), v.to_string());
                }
                None => {
                    if let Ok(v) = std::env::var(a) {
                        build_args.insert(a.clone(), v);
                    }
                }
            }
        }
        let mut stage_args = BTreeMap::new();
        for a in &self.args {
            match a.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    stage_args.insert(k.to_string(), Some(v.to_string()));
                }
                None if !a.is_empty() => {
                    stage_args.insert(a.clone(), None);
                }
                _ => return Err(Error::Usage(format!("invalid --arg {a:?}: expected K[=V]"))),
            }
        }
        let mut secrets = BTreeMap::new();
        for s in &self.secrets {
            let mut id = None;
            let mut src = None;
            for part in s.split(',') {
                match part.split_once('=') {
                    Some(("id", v)) => id = Some(v.to_string()),
                    Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                    Some(("type", "file")) => {}
                    _ => {
                        return Err(Error::Usage(format!(
                            "invalid --secret {s:?}: expected id=ID,src=FILE"
                        )))
                    }
                }
            }
            let (Some(id), Some(src)) = (id, src) else {
                return Err(Error::Usage(format!(
                    "invalid --secret {s:?}: expected id=ID,src=FILE"
                )));
            };
            if !src.is_file() {
                return Err(Error::InvalidInput(format!(
                    "secret {id}: {} is not a readable file",
                    src.display()
                )));
            }
            let p = std::fs::canonicalize(&src).map_err(|e| Error::io("resolve", &src, e))?;
            secrets.insert(id, p);
        }
        let mut stages = split_kv(&self.stages, "--stage")?;
        stages.extend(call.stages.iter().cloned());
        let instructions = match &self.instruction {
            Some(text) => vec![text.clone()],
            None => call.instructions.clone(),
        };
        let context = match &call.context {
            None => None,
            Some(dir) => {
                let meta = std::fs::metadata(dir)
                    .map_err(|e| Error::InvalidInput(format!("context {}: {e}", dir.display())))?;
                if !meta.is_dir() {
                    return Err(Error::InvalidInput(format!(
                        "context {}: not a directory",
                        dir.display()
                    )));
                }
                let dir = std::fs::canonicalize(dir).map_err(|e| Error::io("resolve", dir, e))?;
                let ignore = berth::dockerignore::load(&dir, None)?;
                Some(Context::open(
                    &dir,
                    ignore,
                    root.dir().join("build").join("stat-cache"),
                )?)
            }
        };
        let registry = berth::registry::Options::default();
        let pull = |name: &str| -> Result<()> {
            berth::container::pull::ensure_image(
                &root,
                name,
                PullPolicy::Never,
                &registry,
                &berth::registry::pull::Quiet,
                &|_| {},
            )
            .map_err(|e| match e {
                Error::ImageNotFound(n) => Error::InvalidInput(format!(
                    "no such image: {n} (a step tool does not pull: img-pull it first)"
                )),
                e => e,
            })
        };
        let step = Step {
            name: call.tool.to_string(),
            base: image,
            stages,
            instructions,
            context: context.as_ref(),
            tags,
            pull: &pull,
            build_args,
            stage_args,
            cmd_set: self.cmd_set,
            run_triggers: call.run_triggers,
            platform,
            network,
            secrets,
            timestamp,
            codec: self.compression.into(),
            no_cache: self.no_cache,
        };
        let show = Show { quiet: self.quiet };
        let out = step::build(&root, &step, &show)?;
        if let Some(ctx) = &context {
            let _ = ctx.save();
        }
        if self.quiet {
            println!("{}", out.built.id);
            return Ok(());
        }
        print_json(&json!({
            "ref": out.built.tags.first().map(|t| t.to_string()),
            "digest": out.built.manifest.digest().to_string(),
            "id": out.built.id.to_string(),
            "key": out.key.map(|k| k.to_string()),
            "cached": out.cached,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_from_previous_json() {
        let a = "{\"ref\":null,\"digest\":\"sha256:aa\",\"id\":\"sha256:bb\"}\n";
        assert_eq!(image_from_json(a).unwrap(), "sha256:aa");
        let b = "{\"step\":1,\"key\":\"x\"}\n{\"ref\":\"r:1\",\"id\":\"sha256:bb\"}\n";
        assert_eq!(image_from_json(b).unwrap(), "sha256:bb");
        assert_eq!(image_from_json("{\"ref\":\"r:1\"}").unwrap(), "r:1");
        assert!(image_from_json("nothing").is_err());
    }
}
