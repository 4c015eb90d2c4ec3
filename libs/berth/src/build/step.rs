//! One build step as a tool (issue 17: `img-config`, `img-add`, `img-run`).
//!
//! A step tool never reimplements a step: it builds the Dockerfile `FROM <base>` followed by its
//! instruction(s) through [`builder::build`], with the stage's build args and CMD state given
//! and the base's ONBUILD triggers left alone. A step's cache key is the parent config digest,
//! the expanded instruction, the args it uses, the platform and its sources, so the step gives
//! exactly img-build's state for the same step, and shares its cache.
//!
//! An instruction that names another stage (`COPY --from=build`, `RUN --mount=from=build`) is
//! given that stage as an image ([`Step::stages`]): the Dockerfile then starts with
//! `FROM <image> AS build`, so that the instruction's text (hence its key) is the one img-build
//! keys. A stage named by number (`--from=0`) is put at that index.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use oci_spec::image::ImageManifest;

use super::builder::{self, Built, Events, Options, StepEvent};
use super::cache::BuildCache;
use super::context::Context;
use super::dockerfile::{self, Instruction, Kind};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::image::Platform;
use crate::layer::Codec;
use crate::reference::Reference;
use crate::root::Root;

/// The metadata instructions (`img-config`'s): no container, no layer of their own.
pub const METADATA: &[&str] = &[
    "ENV",
    "LABEL",
    "CMD",
    "ENTRYPOINT",
    "USER",
    "WORKDIR",
    "EXPOSE",
    "VOLUME",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "ONBUILD",
    "ARG",
    "MAINTAINER",
];

/// The step tool that runs an instruction (for errors that name the right one).
pub fn tool_for(keyword: &str) -> &'static str {
    match keyword.to_ascii_uppercase().as_str() {
        "COPY" | "ADD" => "img-add",
        "RUN" => "img-run",
        "FROM" => "img-build (a step tool's IMAGE is its FROM)",
        _ => "img-config",
    }
}

/// One step (or, for img-config, a few metadata steps) on a base.
#[derive(Clone)]
pub struct Step<'a> {
    /// How errors name the synthetic Dockerfile (the tool's name).
    pub name: String,
    /// The FROM: an image name, ID, manifest digest of the store, or `scratch`.
    pub base: String,
    /// Other stages the instructions name (`--from=NAME`): (NAME, image).
    pub stages: Vec<(String, String)>,
    /// The raw instructions, one step each, as a Dockerfile writes them.
    pub instructions: Vec<String>,
    pub context: Option<&'a Context>,
    pub tags: Vec<Reference>,
    pub pull: &'a (dyn Fn(&str) -> Result<()> + Sync),
    /// Offered values (`--build-arg`).
    pub build_args: BTreeMap<String, String>,
    /// Args in scope (declared by earlier ARGs of the stage).
    pub stage_args: BTreeMap<String, Option<String>>,
    pub cmd_set: bool,
    /// Run the base's ONBUILD triggers (a stage's first step).
    pub run_triggers: bool,
    pub platform: Platform,
    pub network: String,
    pub secrets: BTreeMap<String, PathBuf>,
    pub timestamp: Option<i64>,
    pub codec: Codec,
    pub no_cache: bool,
}

/// What a step made.
#[derive(Debug, Clone)]
pub struct Stepped {
    pub built: Built,
    /// The last step's cache key (the base's ID when there was no step: `--onbuild` alone on
    /// a base without triggers).
    pub key: Option<Digest>,
    /// Every step was a cache hit.
    pub cached: bool,
}

/// Parses one instruction: exactly one, not FROM. Errors name the text.
pub fn parse_instruction(text: &str) -> Result<Instruction> {
    let df = dockerfile::parse(text)
        .map_err(|e| Error::InvalidInput(format!("instruction {text:?}: {e}")))?;
    let mut list = df.instructions;
    match list.len() {
        0 => Err(Error::InvalidInput(format!(
            "instruction {text:?}: no instruction"
        ))),
        1 => {
            let ins = list.remove(0);
            if matches!(ins.kind, Kind::From { .. }) {
                return Err(Error::InvalidInput(format!(
                    "instruction {text:?}: FROM is not a step: give the image as the tool's IMAGE"
                )));
            }
            Ok(ins)
        }
        n => Err(Error::InvalidInput(format!(
            "instruction {text:?}: {n} instructions where one was expected (give each its own)"
        ))),
    }
}

/// The Dockerfile a step builds.
pub fn dockerfile_text(step: &Step) -> Result<String> {
    for i in &step.instructions {
        parse_instruction(i)?;
    }
    if step.base.trim().is_empty() || step.base.contains(char::is_whitespace) {
        return Err(Error::InvalidInput(format!(
            "invalid image {:?}: no blanks in an image name",
            step.base
        )));
    }
    // Stages by index first (`--from=0`), the gaps filled with unused scratch stages; then the
    // named ones.
    let mut numbered: BTreeMap<usize, &str> = BTreeMap::new();
    let mut named: Vec<(String, &str)> = Vec::new();
    for (n, image) in &step.stages {
        if image.trim().is_empty() || image.contains(char::is_whitespace) {
            return Err(Error::InvalidInput(format!(
                "stage {n}: invalid image {image:?}"
            )));
        }
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            let k: usize = n
                .parse()
                .map_err(|_| Error::InvalidInput(format!("stage {n}: not a stage index")))?;
            if k > 64 {
                return Err(Error::InvalidInput(format!(
                    "stage {n}: stage index too large"
                )));
            }
            if numbered.insert(k, image).is_some() {
                return Err(Error::InvalidInput(format!("stage {n} given twice")));
            }
        } else {
            let lower = n.to_ascii_lowercase();
            let mut c = lower.chars();
            let valid = c.next().is_some_and(|f| f.is_ascii_lowercase())
                && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || "-_.".contains(x));
            if !valid {
                return Err(Error::InvalidInput(format!(
                    "invalid stage name {n:?}: a stage name starts with a letter and holds letters, digits, -, _ and ."
                )));
            }
            if named.iter().any(|(m, _)| *m == lower) {
                return Err(Error::InvalidInput(format!("stage {n} given twice")));
            }
            named.push((lower, image));
        }
    }
    let mut text = String::new();
    if let Some((&last, _)) = numbered.iter().next_back() {
        for k in 0..=last {
            match numbered.get(&k) {
                Some(image) => text.push_str(&format!("FROM {image}\n")),
                None => text.push_str("FROM scratch\n"),
            }
        }
    }
    for (n, image) in &named {
        text.push_str(&format!("FROM {image} AS {n}\n"));
    }
    text.push_str(&format!("FROM {}\n", step.base));
    for i in &step.instructions {
        text.push_str(i.trim_end_matches('\n'));
        text.push('\n');
    }
    Ok(text)
}

/// Keeps the steps' events (for the key) and passes them on.
struct Capture<'e> {
    inner: &'e dyn Events,
    seen: Mutex<Vec<StepEvent>>,
}

impl Events for Capture<'_> {
    fn started(&self, step: usize, total: usize, stage: &str, instruction: &str) {
        self.inner.started(step, total, stage, instruction);
    }
    fn finished(&self, ev: &StepEvent) {
        self.seen
            .lock()
            .expect("no panics while locked")
            .push(ev.clone());
        self.inner.finished(ev);
    }
    fn output(&self, stage: &str, data: &[u8]) {
        self.inner.output(stage, data);
    }
    fn note(&self, msg: &str) {
        self.inner.note(msg);
    }
}

/// An image named by the ID (config digest) of a step's untagged output: no index entry names
/// it, a build cache record does. Its manifest digest, which FROM resolves straight; the name
/// as it is otherwise.
pub fn resolve_untagged_id(root: &Root, name: &str) -> Result<String> {
    let Ok(id) = Digest::parse(name) else {
        return Ok(name.to_string());
    };
    let layout = root.images()?;
    if !layout.has_blob(&id) || layout.read_json::<ImageManifest>(&id).is_ok() {
        return Ok(name.to_string());
    }
    let cache = BuildCache::open(&layout)?;
    for rec in cache.list()? {
        let Ok(m) = Digest::try_from(rec.manifest.digest()) else {
            continue;
        };
        if let Ok(manifest) = layout.read_json::<ImageManifest>(&m) {
            if manifest.config().digest().to_string() == id.to_string() {
                return Ok(m.to_string());
            }
        }
    }
    Ok(name.to_string())
}

/// Builds the step in `root`'s store: img-build's state for it, through img-build's cache.
pub fn build(root: &Root, step: &Step, events: &dyn Events) -> Result<Stepped> {
    let resolved;
    let step = if Digest::parse(&step.base).is_ok()
        || step.stages.iter().any(|(_, i)| Digest::parse(i).is_ok())
    {
        resolved = Step {
            base: resolve_untagged_id(root, &step.base)?,
            stages: step
                .stages
                .iter()
                .map(|(n, i)| Ok((n.clone(), resolve_untagged_id(root, i)?)))
                .collect::<Result<_>>()?,
            ..step.clone()
        };
        &resolved
    } else {
        step
    };
    let text = dockerfile_text(step)?;
    let df = dockerfile::parse(&text).map_err(|e| {
        Error::InvalidInput(
            e.to_string()
                .replacen("Dockerfile:", &format!("{}:", step.name), 1),
        )
    })?;
    let capture = Capture {
        inner: events,
        seen: Mutex::new(Vec::new()),
    };
    let opts = Options {
        dockerfile: &df,
        dockerfile_name: step.name.clone(),
        context: step.context,
        tags: step.tags.clone(),
        pull: step.pull,
        target: None,
        build_args: step.build_args.clone(),
        no_cache: step.no_cache,
        labels: Vec::new(),
        platform: step.platform.clone(),
        network: step.network.clone(),
        secrets: step.secrets.clone(),
        explain: false,
        timestamp: step.timestamp,
        force_rm: true,
        codec: step.codec,
        stage_args: step.stage_args.clone(),
        cmd_set: step.cmd_set,
        run_triggers: step.run_triggers,
        index_untagged: false,
    };
    let built = builder::build(root, &opts, &capture)?;
    let seen = capture.seen.into_inner().expect("no panics while locked");
    // The target stage is the last: its steps have the highest numbers (its FROM's triggers
    // share the FROM's number, in the order they ran).
    let last = seen
        .iter()
        .enumerate()
        .max_by_key(|(i, e)| (e.step, *i))
        .map(|(_, e)| e);
    Ok(Stepped {
        key: last.and_then(|e| e.key.clone()),
        cached: seen.iter().all(|e| e.cached),
        built,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(base: &str, stages: &[(&str, &str)], ins: &[&str]) -> Step<'static> {
        static PULL: fn(&str) -> Result<()> = |_| Ok(());
        Step {
            name: "img-test".into(),
            base: base.into(),
            stages: stages
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            instructions: ins.iter().map(|s| s.to_string()).collect(),
            context: None,
            tags: Vec::new(),
            pull: &PULL,
            build_args: BTreeMap::new(),
            stage_args: BTreeMap::new(),
            cmd_set: false,
            run_triggers: false,
            platform: Platform::host(),
            network: "none".into(),
            secrets: BTreeMap::new(),
            timestamp: None,
            codec: Codec::Gzip,
            no_cache: false,
        }
    }

    #[test]
    fn dockerfile_of_a_step() {
        let t = dockerfile_text(&step("bb:1", &[], &["ENV A=1", "LABEL b=2"])).unwrap();
        assert_eq!(t, "FROM bb:1\nENV A=1\nLABEL b=2\n");
    }

    #[test]
    fn stages_named_and_numbered_come_first() {
        let t = dockerfile_text(&step(
            "sha256:aa",
            &[("Build", "bb:1"), ("1", "sha256:bb")],
            &["COPY --from=build /a /b"],
        ))
        .unwrap();
        assert_eq!(
            t,
            "FROM scratch\nFROM sha256:bb\nFROM bb:1 AS build\nFROM sha256:aa\nCOPY --from=build /a /b\n"
        );
    }

    #[test]
    fn heredoc_instruction_is_one_step() {
        let ins = parse_instruction("RUN <<EOF\necho hi\nEOF\n").unwrap();
        assert_eq!(ins.keyword, "RUN");
    }

    #[test]
    fn bad_instructions_are_named() {
        let e = parse_instruction("FROM bb:1").unwrap_err().to_string();
        assert!(e.contains("FROM is not a step"), "{e}");
        let e = parse_instruction("ENV A=1\nENV B=2")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 instructions"), "{e}");
        let e = parse_instruction("").unwrap_err().to_string();
        assert!(e.contains("no instruction"), "{e}");
        let e = dockerfile_text(&step("bb:1", &[("9x", "bb:1")], &["ENV A=1"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid stage name"), "{e}");
        let e = dockerfile_text(&step("a b", &[], &["ENV A=1"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid image"), "{e}");
    }

    #[test]
    fn tools_by_keyword() {
        assert_eq!(tool_for("run"), "img-run");
        assert_eq!(tool_for("ADD"), "img-add");
        assert_eq!(tool_for("ENV"), "img-config");
    }
}
