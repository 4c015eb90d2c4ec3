//! `img-build --emit-make` / `--emit-sh`: a Dockerfile build written as calls of the step tools
//! (`img-config`, `img-add`, `img-run`), one call per step, as a Makefile or a shell script.
//!
//! Each call reads the previous step's JSON (`-` on stdin) from a stamp file and writes its own;
//! a stage starts with `img-config BASE --onbuild` (FROM: the base, its ONBUILD triggers run).
//! The stage's build-arg scope (`--arg K=V`) and whether a CMD was given (`--cmd-set`) are worked
//! out here, as the builder does, from the Dockerfile, the build args and the bases' ENV (the
//! `base_env` callback); every call names its instruction byte for byte (`-c`/`--instruction`),
//! so each step gets img-build's cache key and state. Only the stages the target needs are
//! written; stages that do not depend on each other are independent make targets (`make -j`).
//!
//! In the Makefile, a COPY/ADD from the context depends on a sources-digest file
//! (`STEP.src`) whose prerequisites are the context files it reads (and their directories): its
//! recipe hashes their names, types, modes, owners, sizes, link targets and contents, and rewrites
//! the file only when that digest changes, so `touch` of a source reruns no step, and an edit
//! reruns that COPY and the steps after it in its stage (and the stages that use it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use super::dockerfile::{self, Args, Dockerfile, Instruction, Kind};
use crate::dockerignore::Matcher;
use crate::error::{Error, Result};

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Make,
    Sh,
}

/// The base image's ENV and ONBUILD triggers, as read from the store.
#[derive(Debug, Clone, Default)]
pub struct BaseInfo {
    pub env: Vec<String>,
    pub on_build: Vec<String>,
}

/// Reads a base image's ENV and ONBUILD triggers (name, FROM's `--platform`); None: unknown.
pub type BaseLookup<'l> = dyn Fn(&str, Option<&str>) -> Result<Option<BaseInfo>> + 'l;

/// What to emit, from img-build's command line.
pub struct EmitOptions<'a> {
    pub dockerfile: &'a Dockerfile,
    pub dockerfile_name: String,
    /// The context directory as the emitted file names it (`.`, `app`), and where it is now.
    pub context: Option<(&'a str, &'a Path)>,
    /// The context's .dockerignore.
    pub ignore: Option<&'a Matcher>,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// `--platform`, `--network`, `--secret` as given to img-build (passed on).
    pub platform: Option<String>,
    pub network: Option<String>,
    pub secrets: Vec<String>,
    pub timestamp: Option<i64>,
    /// BUILDKit's automatic platform args (TARGETPLATFORM, …), in the global scope.
    pub platform_args: BTreeMap<String, Option<String>>,
    /// The ENV and ONBUILD triggers of a base image named by FROM (None: not known).
    pub base_info: &'a BaseLookup<'a>,
}

/// Which step tool a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Config,
    Add,
    Run,
}

impl Tool {
    fn var(self) -> &'static str {
        match self {
            Tool::Config => "IMG_CONFIG",
            Tool::Add => "IMG_ADD",
            Tool::Run => "IMG_RUN",
        }
    }
}

/// Where a call's IMAGE comes from.
#[derive(Debug, Clone)]
enum Input {
    Image(String),
    /// The stamp of another step (stdin).
    Stamp(String),
}

/// One step tool call.
#[derive(Debug, Clone)]
struct Call {
    /// The stamp's name (`build-3`: stage `build`, Dockerfile line 3).
    id: String,
    tool: Tool,
    input: Input,
    /// Arguments before IMAGE (flags, sources).
    pre: Vec<String>,
    /// Arguments after IMAGE.
    post: Vec<String>,
    /// `--stage NAME=DIGEST`: stages the instruction names (COPY --from, RUN --mount=from),
    /// each the digest in that stage's final stamp.
    from_stamp: Vec<(String, String)>,
    /// Context paths (relative to the context) this COPY/ADD reads; None: not a context COPY.
    sources: Option<Vec<String>>,
    /// A readable comment (the instruction).
    comment: String,
}

#[derive(Debug)]
struct Stage {
    index: usize,
    display: String,
    calls: Vec<Call>,
    /// Final env (for stages built on this one).
    env: Vec<String>,
    /// ONBUILD triggers the stage's image carries.
    on_build: Vec<String>,
}

/// Writes the build as a Makefile or a shell script.
pub fn emit(opts: &EmitOptions, format: Format) -> Result<String> {
    let stages = plan(opts)?;
    Ok(match format {
        Format::Make => make(opts, &stages),
        Format::Sh => sh(opts, &stages),
    })
}

fn bad(name: &str, ins: &Instruction, why: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!(
        "{name}:{}: {}: cannot be emitted: {why}",
        ins.line, ins.original
    ))
}

/// The text a step tool is given: the instruction as written (continuations joined), with its
/// heredocs' bodies.
fn instruction_text(ins: &Instruction) -> String {
    let mut t = ins.original.clone();
    for h in &ins.heredocs {
        t.push('\n');
        t.push_str(&h.content);
        if !h.content.ends_with('\n') && !h.content.is_empty() {
            t.push('\n');
        }
        t.push_str(&h.name);
    }
    t
}

fn plan(opts: &EmitOptions) -> Result<Vec<Stage>> {
    let df = opts.dockerfile;
    let name = &opts.dockerfile_name;
    if df.escape != '\\' {
        return Err(Error::InvalidInput(format!(
            "{name}: cannot be emitted: the step tools read instructions with the escape \
             character \\ (this Dockerfile sets # escape={})",
            df.escape
        )));
    }
    let (meta, stage_list) = df.stages();
    if stage_list.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{name}: no build stage: the Dockerfile has no FROM instruction"
        )));
    }
    let mut global = opts.platform_args.clone();
    for ins in meta {
        let Kind::Arg(list) = &ins.kind else {
            return Err(bad(name, ins, "only ARG may come before the first FROM"));
        };
        for (k, d) in list {
            let v = match opts.build_args.get(k) {
                Some(v) => Some(v.clone()),
                None => match d {
                    Some(d) => Some(
                        dockerfile::expand(d, |n| global.get(n).cloned().flatten())
                            .map_err(|e| bad(name, ins, e))?,
                    ),
                    None => None,
                },
            };
            global.insert(k.clone(), v);
        }
    }
    let glookup = |n: &str| global.get(n).cloned().flatten();

    // Stage names, bases and dependencies.
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut bases: Vec<(Option<usize>, String, Option<String>)> = Vec::new();
    let mut deps: Vec<BTreeSet<usize>> = Vec::new();
    let stage_ref = |r: &str, names: &HashMap<String, usize>, cur: usize| -> Option<usize> {
        let k = names
            .get(&r.to_ascii_lowercase())
            .copied()
            .or_else(|| r.parse::<usize>().ok())?;
        (k < cur).then_some(k)
    };
    for (i, instrs) in stage_list.iter().enumerate() {
        let from = &instrs[0];
        let Kind::From {
            image,
            name: as_name,
        } = &from.kind
        else {
            unreachable!("stages start with FROM")
        };
        let image = dockerfile::expand(image, glookup).map_err(|e| bad(name, from, e))?;
        let platform = match from.flag_values("platform").last().flatten() {
            Some(p) => Some(dockerfile::expand(p, glookup).map_err(|e| bad(name, from, e))?),
            None => None,
        };
        let mut d = BTreeSet::new();
        let base = names.get(&image.to_ascii_lowercase()).copied();
        if let Some(k) = base {
            d.insert(k);
        }
        for ins in &instrs[1..] {
            if let Kind::Copy(_) | Kind::Add(_) = ins.kind {
                for r in ins.flag_values("from").flatten() {
                    let r = dockerfile::expand(r, glookup).map_err(|e| bad(name, ins, e))?;
                    if let Some(k) = stage_ref(&r, &names, i) {
                        d.insert(k);
                    }
                }
            }
            if let Kind::Run(_) = ins.kind {
                for m in ins.flag_values("mount").flatten() {
                    for r in m.split(',').filter_map(|p| p.strip_prefix("from=")) {
                        let r = dockerfile::expand(r, glookup).map_err(|e| bad(name, ins, e))?;
                        if let Some(k) = stage_ref(&r, &names, i) {
                            d.insert(k);
                        }
                    }
                }
            }
        }
        if let Some(n) = as_name {
            names.insert(n.to_ascii_lowercase(), i);
        }
        bases.push((base, image, platform));
        deps.push(d);
    }
    let (target, needed) = super::builder::target_and_needed(
        opts.target.as_deref(),
        &names,
        name,
        |k| deps[k].iter().copied().collect(),
        stage_list.len(),
    )?;

    let mut out: Vec<Stage> = Vec::new();
    let mut by_index: HashMap<usize, usize> = HashMap::new();
    for &k in &needed {
        let instrs = stage_list[k];
        let from = &instrs[0];
        let Kind::From { name: as_name, .. } = &from.kind else {
            unreachable!()
        };
        let display = as_name
            .as_ref()
            .map(|n| n.to_ascii_lowercase())
            .unwrap_or_else(|| format!("stage{k}"));
        let (base_stage, image, platform) = &bases[k];
        let mut calls = Vec::new();
        let from_id = format!("{display}-{}", from.line);
        let (input, mut env, triggers) = match base_stage {
            Some(b) => {
                let s = &out[by_index[b]];
                let last = s.calls.last().expect("a stage has a call").id.clone();
                (Input::Stamp(last), s.env.clone(), s.on_build.clone())
            }
            None if image.eq_ignore_ascii_case("scratch") => {
                (Input::Image("scratch".into()), Vec::new(), Vec::new())
            }
            None => {
                let info = (opts.base_info)(image, platform.as_deref())
                    .map_err(|e| bad(name, from, e))?
                    .ok_or_else(|| {
                        bad(
                            name,
                            from,
                            format!("{image} is not in the store (pull it first: its ENV sets the build args' scope)"),
                        )
                    })?;
                (Input::Image(image.clone()), info.env, info.on_build)
            }
        };
        let mut pre = vec!["--onbuild".to_string()];
        if let Some(p) = platform {
            pre.push("--platform".into());
            pre.push(p.clone());
        }
        calls.push(Call {
            id: from_id,
            tool: Tool::Config,
            input,
            pre,
            post: Vec::new(),
            from_stamp: Vec::new(),
            sources: None,
            comment: from.original.clone(),
        });
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
        }
        let mut sc = Scope {
            env,
            args: BTreeMap::new(),
            cmd_set: false,
            on_build: Vec::new(),
        };
        // The base's ONBUILD triggers run in the FROM call: their ARG/ENV change the scope.
        for t in &triggers {
            if let Ok(p) = dockerfile::parse(t) {
                for ins in &p.instructions {
                    sc.apply(opts, &global, ins)
                        .map_err(|e| bad(name, from, e))?;
                }
            }
        }
        for ins in &instrs[1..] {
            let mut call = step_call(
                opts, &global, &display, ins, &sc, &names, k, &out, &by_index,
            )
            .map_err(|e| match e {
                Error::InvalidInput(m) if m.contains("cannot be emitted") => Error::InvalidInput(m),
                e => bad(name, ins, e),
            })?;
            call.input = Input::Stamp(calls.last().map(|c: &Call| c.id.clone()).expect("FROM"));
            calls.push(call);
            sc.apply(opts, &global, ins)
                .map_err(|e| bad(name, ins, e))?;
        }
        if k == target {
            let mut labels = opts.labels.clone();
            labels.sort();
            for (i, (lk, lv)) in labels.iter().enumerate() {
                let q = |s: &str| {
                    s.replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('$', "\\$")
                };
                calls.push(Call {
                    id: format!("{display}-label{}", i + 1),
                    tool: Tool::Config,
                    input: Input::Stamp(calls.last().expect("FROM").id.clone()),
                    pre: sc.flags(),
                    post: vec!["-c".into(), format!("LABEL \"{}\"=\"{}\"", q(lk), q(lv))],
                    from_stamp: Vec::new(),
                    sources: None,
                    comment: format!("--label {lk}={lv}"),
                });
            }
        }
        by_index.insert(k, out.len());
        out.push(Stage {
            index: k,
            display,
            calls,
            env: sc.env,
            on_build: sc.on_build,
        });
    }
    // The target last (the file's default goal and the script's last lines).
    let t = by_index[&target];
    let ts = out.remove(t);
    out.push(ts);
    Ok(out)
}

/// A stage's scope as its steps run: ENV, build args, CMD given.
struct Scope {
    env: Vec<String>,
    args: BTreeMap<String, Option<String>>,
    cmd_set: bool,
    on_build: Vec<String>,
}

impl Scope {
    fn lookup(&self, n: &str) -> Option<String> {
        let prefix = format!("{n}=");
        if let Some(e) = self.env.iter().rev().find(|e| e.starts_with(&prefix)) {
            return Some(e[prefix.len()..].to_string());
        }
        self.args.get(n).cloned().flatten()
    }

    fn expand(&self, w: &str) -> Result<String> {
        dockerfile::expand(w, |n| self.lookup(n))
            .map_err(|e| Error::InvalidInput(format!("{w}: {e}")))
    }

    /// The common flags a step tool call carries for this scope.
    fn flags(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (k, val) in &self.args {
            v.push("--arg".into());
            v.push(match val {
                Some(x) => format!("{k}={x}"),
                None => k.clone(),
            });
        }
        if self.cmd_set {
            v.push("--cmd-set".into());
        }
        v
    }

    /// What an instruction does to the scope (after its call).
    fn apply(
        &mut self,
        opts: &EmitOptions,
        global: &BTreeMap<String, Option<String>>,
        ins: &Instruction,
    ) -> Result<()> {
        match &ins.kind {
            Kind::Arg(list) => {
                for (k, d) in list {
                    let d = match d {
                        Some(d) => Some(self.expand(d)?),
                        None => None,
                    };
                    let v = match opts.build_args.get(k) {
                        Some(v) => Some(v.clone()),
                        None => d.or_else(|| global.get(k).cloned().flatten()),
                    };
                    self.args.insert(k.clone(), v);
                }
            }
            Kind::Env(pairs) => {
                let mut kv = Vec::new();
                for (k, v) in pairs {
                    kv.push((self.expand(k)?, self.expand(v)?));
                }
                for (k, v) in kv {
                    let prefix = format!("{k}=");
                    match self
                        .env
                        .iter_mut()
                        .find(|e| e.starts_with(&prefix) || **e == k)
                    {
                        Some(e) => *e = format!("{k}={v}"),
                        None => self.env.push(format!("{k}={v}")),
                    }
                }
            }
            Kind::Cmd(_) => self.cmd_set = true,
            Kind::Onbuild(_) => {
                let t = ins.original.trim_start();
                let t = t.get(7..).unwrap_or("").trim_start();
                self.on_build.push(t.to_string());
            }
            _ => {}
        }
        Ok(())
    }
}

/// The stages an instruction names (`COPY --from`, `RUN --mount=from=`), as written (expanded
/// with the global args, as the builder does), each with its final stamp.
fn stage_stamps(
    ins: &Instruction,
    global: &BTreeMap<String, Option<String>>,
    names: &HashMap<String, usize>,
    current: usize,
    out: &[Stage],
    by_index: &HashMap<usize, usize>,
) -> Result<Vec<(String, String)>> {
    let mut refs = Vec::new();
    if let Kind::Copy(_) | Kind::Add(_) = ins.kind {
        refs.extend(ins.flag_values("from").flatten().map(str::to_string));
    }
    if let Kind::Run(_) = ins.kind {
        for m in ins.flag_values("mount").flatten() {
            refs.extend(
                m.split(',')
                    .filter_map(|p| p.strip_prefix("from="))
                    .map(str::to_string),
            );
        }
    }
    let mut v: Vec<(String, String)> = Vec::new();
    for r in refs {
        let r = dockerfile::expand(&r, |n| global.get(n).cloned().flatten())
            .map_err(|e| Error::InvalidInput(format!("{r}: {e}")))?;
        let k = names
            .get(&r.to_ascii_lowercase())
            .copied()
            .or_else(|| {
                r.parse::<usize>()
                    .ok()
                    .filter(|_| r.bytes().all(|b| b.is_ascii_digit()))
            })
            .filter(|&k| k < current);
        if let Some(k) = k {
            let stamp = out[by_index[&k]].calls.last().expect("a call").id.clone();
            if !v.iter().any(|(n, _)| *n == r) {
                v.push((r, stamp));
            }
        }
    }
    Ok(v)
}

#[allow(clippy::too_many_arguments)]
fn step_call(
    opts: &EmitOptions,
    global: &BTreeMap<String, Option<String>>,
    stage: &str,
    ins: &Instruction,
    sc: &Scope,
    names: &HashMap<String, usize>,
    current: usize,
    out: &[Stage],
    by_index: &HashMap<usize, usize>,
) -> Result<Call> {
    let id = format!("{stage}-{}", ins.line);
    let mut pre = sc.flags();
    let text = instruction_text(ins);
    let placeholder = Input::Image(String::new());
    match &ins.kind {
        Kind::From { .. } => unreachable!("FROM starts a stage"),
        Kind::Copy(a) | Kind::Add(a) => {
            let is_add = matches!(ins.kind, Kind::Add(_));
            if is_add {
                pre.push("--add".into());
            }
            // The flags are in the instruction text (--instruction); a stage it names is given
            // as `--stage NAME=DIGEST`, an image as it is named.
            let from_stamp = stage_stamps(ins, global, names, current, out, by_index)?;
            let from_image = ins.flag_values("from").next().is_some() && from_stamp.is_empty();
            let words: Vec<String> = match a {
                Args::Exec(v) => v.clone(),
                Args::Shell(_) => {
                    dockerfile::expand_words(&a.words('\\').join(" "), '\\', &|n: &str| {
                        sc.lookup(n)
                    })
                    .map_err(|e| Error::InvalidInput(e.to_string()))?
                }
            };
            if words.len() < 2 {
                return Err(Error::InvalidInput(format!(
                    "{} requires at least two arguments",
                    ins.keyword
                )));
            }
            let (srcs, dest) = words.split_at(words.len() - 1);
            let sources = if from_stamp.is_empty() && !from_image {
                let mut list = Vec::new();
                for s in srcs {
                    if s.starts_with("http://")
                        || s.starts_with("https://")
                        || s.starts_with("git@")
                    {
                        continue;
                    }
                    if s.starts_with("<<") {
                        continue;
                    }
                    list.push(s.clone());
                }
                if opts.context.is_none() && !list.is_empty() {
                    return Err(Error::InvalidInput(
                        "COPY from the context, and the Dockerfile came without one".into(),
                    ));
                }
                Some(list)
            } else {
                None
            };
            if opts.context.is_some() {
                pre.push("--context".into());
                pre.push("$CONTEXT".into());
            }
            pre.push("--instruction".into());
            pre.push(text);
            pre.extend(srcs.iter().cloned());
            Ok(Call {
                id,
                tool: Tool::Add,
                input: placeholder,
                pre,
                post: vec![dest[0].clone()],
                from_stamp,
                sources,
                comment: ins.original.clone(),
            })
        }
        Kind::Run(a) => {
            // Its --mount and --network flags are in the instruction text; a bind mount of the
            // context needs the context.
            let from_stamp = stage_stamps(ins, global, names, current, out, by_index)?;
            let binds_context = ins.flag_values("mount").flatten().any(|m| {
                let parts: Vec<&str> = m.split(',').collect();
                let ty = parts
                    .iter()
                    .find_map(|p| p.strip_prefix("type="))
                    .unwrap_or("bind");
                ty == "bind" && !parts.iter().any(|p| p.starts_with("from="))
            });
            if binds_context && opts.context.is_some() {
                pre.push("--context".into());
                pre.push("$CONTEXT".into());
            }
            pre.push("--instruction".into());
            pre.push(text);
            let post = match a {
                Args::Exec(v) => {
                    let mut p = vec!["--".to_string()];
                    p.extend(v.iter().cloned());
                    p
                }
                Args::Shell(s) => vec!["--shell".into(), s.clone()],
            };
            Ok(Call {
                id,
                tool: Tool::Run,
                input: placeholder,
                pre,
                post,
                from_stamp,
                sources: None,
                comment: ins.original.clone(),
            })
        }
        _ => {
            if !ins.heredocs.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "{} with a heredoc",
                    ins.keyword
                )));
            }
            Ok(Call {
                id,
                tool: Tool::Config,
                input: placeholder,
                pre,
                post: vec!["-c".into(), text],
                from_stamp: Vec::new(),
                sources: None,
                comment: ins.original.clone(),
            })
        }
    }
}

/// Quotes a word for sh (single quotes).
fn sq(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The common flags from img-build's command line.
fn global_flags(opts: &EmitOptions) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(t) = opts.timestamp {
        v.push("--timestamp".into());
        v.push(t.to_string());
    }
    if let Some(p) = &opts.platform {
        v.push("--platform".into());
        v.push(p.clone());
    }
    if let Some(n) = &opts.network {
        v.push("--network".into());
        v.push(n.clone());
    }
    for s in &opts.secrets {
        v.push("--secret".into());
        v.push(s.clone());
    }
    v
}

/// A call's shell command (variables `$IMG_*`, `$S` (stamps), `$CONTEXT`, `$BERTH_FLAGS`);
/// `dq` wraps a shell variable reference for the output format.
fn command(
    opts: &EmitOptions,
    call: &Call,
    last: bool,
    var: &dyn Fn(&str) -> String,
    make: bool,
) -> String {
    // A recipe is one line: an argument with newlines (a heredoc) is made by printf.
    let sq = |a: &str| {
        if make && a.contains('\n') {
            let fmt = a
                .replace('\\', "\\\\")
                .replace('%', "%%")
                .replace('\n', "\\n");
            format!("\"$(printf {})\"", sq(&fmt))
        } else {
            sq(a)
        }
    };
    let mut w: Vec<String> = vec![var(call.tool.var()), var("BERTH_FLAGS")];
    w.extend(global_flags(opts).iter().map(|x| sq(x)));
    // RUN sees the build args offered (the proxy ones without an ARG, as img-build's).
    if call.tool == Tool::Run {
        for (k, v) in &opts.build_args {
            w.push("--build-arg".into());
            w.push(sq(&format!("{k}={v}")));
        }
    }
    for (n, f) in &call.from_stamp {
        w.push("--stage".into());
        w.push(format!(
            "\"{}=$(sed -n 's/.*\"digest\":\"\\([^\"]*\\)\".*/\\1/p' \"{}/{f}.json\")\"",
            n.replace(['"', '$', '`', '\\'], ""),
            var("S")
        ));
    }
    for (i, a) in call.pre.iter().enumerate() {
        if a == "$CONTEXT" && i > 0 && call.pre[i - 1] == "--context" {
            w.push(format!("\"{}\"", var("CONTEXT")));
        } else {
            w.push(sq(a));
        }
    }
    match &call.input {
        Input::Image(i) => w.push(sq(i)),
        Input::Stamp(_) => w.push("-".into()),
    }
    w.extend(call.post.iter().map(|x| sq(x)));
    if last {
        for t in &opts.tags {
            w.push("-t".into());
            w.push(sq(t));
        }
    }
    let mut line = w.join(" ");
    if let Input::Stamp(s) = &call.input {
        line.push_str(&format!(" < \"{}/{s}.json\"", var("S")));
    }
    line
}

fn make_escape(s: &str) -> String {
    s.replace('$', "$$")
}

/// Whether a path can be a make prerequisite as it is.
fn make_safe(p: &str) -> bool {
    !p.is_empty()
        && p.bytes()
            .all(|b| b.is_ascii_graphic() && !b":#%$\\;=*?[]~\"'`|&<>(){}".contains(&b))
}

/// The context paths a COPY reads (files and directories, relative to the context, ignored
/// ones left out), for its prerequisites; None when a source can not be listed (a glob, a path
/// make can not name): the digest then runs on every make.
fn source_paths(ctx: &Path, ignore: Option<&Matcher>, srcs: &[String]) -> Option<Vec<String>> {
    let mut out = BTreeSet::new();
    for s in srcs {
        if s.contains(['*', '?', '[']) {
            return None;
        }
        let rel = crate::dockerignore::clean(s.trim_start_matches('/'));
        let rel = if rel.is_empty() { ".".to_string() } else { rel };
        // Paths inside the context only (a `..` is refused by img-add; here it is not listed).
        if rel == ".." || rel.starts_with("../") {
            return None;
        }
        walk(ctx, &rel, ignore, &mut out, 0)?;
    }
    Some(out.into_iter().collect())
}

fn walk(
    ctx: &Path,
    rel: &str,
    ignore: Option<&Matcher>,
    out: &mut BTreeSet<String>,
    depth: usize,
) -> Option<()> {
    if depth > 256 || out.len() > 200_000 {
        return None;
    }
    // The stamps' directory (`.berth`, when the Makefile sits in the context) is no source.
    if rel == ".berth" || (rel != "." && ignore.is_some_and(|m| m.matches(rel))) {
        return Some(());
    }
    if !make_safe(rel) {
        return None;
    }
    let p = ctx.join(rel);
    let meta = std::fs::symlink_metadata(&p).ok()?;
    out.insert(rel.to_string());
    if meta.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&p)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let child = if rel == "." { n } else { format!("{rel}/{n}") };
            walk(ctx, &child, ignore, out, depth + 1)?;
        }
    }
    Some(())
}

/// The recipe line of a sources-digest file: hashes its prerequisites' names, types, modes,
/// owners, sizes, link targets, directory entries and contents; rewrites the file only on change.
const SRC_RECIPE: &str = "@t=$(abspath $@); cd \"$(CONTEXT)\" && { stat -c '%n %F %a %u %g %s %N' $(SRCS_$(@F)); \
for f in $(SRCS_$(@F)); do if [ -d \"$$f\" ]; then echo \"$$f:\"; ls -A \"$$f\" | grep -vxF \"$(notdir $(S))\"; fi; done; \
find $(SRCS_$(@F)) -maxdepth 0 -type f -exec sha256sum {} +; } | sha256sum > \"$$t.tmp\" && \
if cmp -s \"$$t.tmp\" \"$$t\"; then rm -f \"$$t.tmp\"; else mv \"$$t.tmp\" \"$$t\"; fi";

/// The same for sources that could not be listed (globs, odd names): the whole context, walked
/// on every make (the file is still rewritten only when the digest changes).
const SRC_RECIPE_WALK: &str = "@t=$(abspath $@); cd \"$(CONTEXT)\" && { find . -path './$(notdir $(S))' -prune -o -print | LC_ALL=C sort | \
while IFS= read -r f; do stat -c '%n %F %a %u %g %s %N' \"$$f\"; if [ -f \"$$f\" ] && [ ! -L \"$$f\" ]; then sha256sum < \"$$f\"; fi; done; } | sha256sum > \"$$t.tmp\" && \
if cmp -s \"$$t.tmp\" \"$$t\"; then rm -f \"$$t.tmp\"; else mv \"$$t.tmp\" \"$$t\"; fi";

fn make(opts: &EmitOptions, stages: &[Stage]) -> String {
    let mut m = String::new();
    m.push_str(&format!(
        "# Written by img-build --emit-make from {}: one target per build step, each a call of\n\
         # a berth step tool that writes the step's JSON (image digest, cache key) to a stamp in\n\
         # $(S). `make -j` builds independent stages at once; `make` after an edit reruns the\n\
         # steps whose inputs changed (a touch changes nothing).\n\n",
        opts.dockerfile_name
    ));
    m.push_str("IMG_CONFIG ?= img-config\nIMG_ADD ?= img-add\nIMG_RUN ?= img-run\nBERTH_FLAGS ?=\nS ?= .berth\n");
    if let Some((c, _)) = opts.context {
        m.push_str(&format!("CONTEXT ?= {}\n", make_escape(c)));
    }
    let last = stages
        .last()
        .and_then(|s| s.calls.last())
        .map(|c| c.id.clone());
    m.push_str(&format!(
        "\n# No implicit rules: make only stats the sources (no search for ways to remake them).\n\
         MAKEFLAGS += --no-builtin-rules\n.SUFFIXES:\n.PHONY: all {}\n.DELETE_ON_ERROR:\n\
         .DEFAULT_GOAL := $(S)/{last}.json\n\nall: $(S)/{last}.json\n\n",
        stages
            .iter()
            .map(|s| format!("stage-{}", s.display))
            .collect::<Vec<_>>()
            .join(" "),
        last = last.clone().unwrap_or_default()
    ));
    m.push_str("$(S):\n\tmkdir -p $@\n\n");
    let var = |v: &str| format!("$({v})");
    for st in stages {
        m.push_str(&format!("# stage {} ({})\n", st.display, st.index));
        m.push_str(&format!(
            "stage-{}: $(S)/{}.json\n\n",
            st.display,
            st.calls.last().expect("a call").id
        ));
        for c in &st.calls {
            let mut prereqs = Vec::new();
            if let Input::Stamp(s) = &c.input {
                prereqs.push(format!("$(S)/{s}.json"));
            }
            for (_, f) in &c.from_stamp {
                prereqs.push(format!("$(S)/{f}.json"));
            }
            let mut src_rule = String::new();
            if let (Some(srcs), Some((_, dir))) = (&c.sources, opts.context) {
                if !srcs.is_empty() {
                    let src = format!("$(S)/{}.src", c.id);
                    prereqs.push(src.clone());
                    match source_paths(dir, opts.ignore, srcs) {
                        Some(paths) => {
                            // A source that goes away: an empty rule, so make reruns the
                            // digest instead of stopping.
                            src_rule.push_str(&format!(
                                "SRCS_{id}.src := {}\n$(addprefix $(CONTEXT)/,$(SRCS_{id}.src)):\n{src}: $(addprefix $(CONTEXT)/,$(SRCS_{id}.src)) | $(S)\n\t{SRC_RECIPE}\n\n",
                                paths.join(" "),
                                id = c.id,
                            ));
                        }
                        None => {
                            // Not listable: the digest is taken on every make (still rewritten
                            // only on change).
                            src_rule
                                .push_str(&format!("{src}: FORCE | $(S)\n\t{SRC_RECIPE_WALK}\n\n"));
                        }
                    }
                }
            }
            m.push_str(&src_rule);
            m.push_str(&format!("# {}\n", c.comment.replace('\n', " ")));
            m.push_str(&format!(
                "$(S)/{}.json: {} | $(S)\n",
                c.id,
                prereqs.join(" ")
            ));
            let is_last = Some(&c.id) == last.as_ref();
            let cmd = command(opts, c, is_last, &var, true);
            let cmd = make_escape(&cmd)
                .replace("$$(IMG_", "$(IMG_")
                .replace("$$(BERTH_FLAGS)", "$(BERTH_FLAGS)")
                .replace("$$(S)", "$(S)")
                .replace("$$(CONTEXT)", "$(CONTEXT)");
            m.push_str(&format!("\t{cmd} > $@.tmp && mv $@.tmp $@\n\n"));
        }
    }
    m.push_str("FORCE:\n");
    m
}

fn sh(opts: &EmitOptions, stages: &[Stage]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "#!/bin/sh\n# Written by img-build --emit-sh from {}: the build as calls of berth's step\n\
         # tools, one per step; each writes the step's JSON (image digest, cache key) to $S.\nset -eu\n",
        opts.dockerfile_name
    ));
    s.push_str(": \"${IMG_CONFIG:=img-config}\" \"${IMG_ADD:=img-add}\" \"${IMG_RUN:=img-run}\"\n");
    s.push_str(": \"${BERTH_FLAGS:=}\" \"${S:=.berth}\"\n");
    if let Some((c, _)) = opts.context {
        s.push_str(&format!(
            ": \"${{CONTEXT:={}}}\"\n",
            c.replace(['"', '$', '`', '\\'], "_")
        ));
    }
    s.push_str("mkdir -p \"$S\"\n");
    let last = stages
        .last()
        .and_then(|s| s.calls.last())
        .map(|c| c.id.clone());
    let var = |v: &str| {
        if v == "BERTH_FLAGS" {
            // Word-split on purpose: several flags.
            format!("${v}")
        } else if v.starts_with("IMG_") {
            format!("\"${v}\"")
        } else {
            format!("${v}")
        }
    };
    for st in stages {
        s.push_str(&format!("\n# stage {}\n", st.display));
        for c in &st.calls {
            s.push_str(&format!("# {}\n", c.comment.replace('\n', " ")));
            let is_last = Some(&c.id) == last.as_ref();
            s.push_str(&format!(
                "{} > \"$S/{}.json.tmp\"\nmv \"$S/{}.json.tmp\" \"$S/{}.json\"\n",
                command(opts, c, is_last, &var, false),
                c.id,
                c.id,
                c.id
            ));
        }
    }
    if let Some(l) = last {
        s.push_str(&format!("cat \"$S/{l}.json\"\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts<'a>(df: &'a Dockerfile, info: &'a BaseLookup<'a>) -> EmitOptions<'a> {
        EmitOptions {
            dockerfile: df,
            dockerfile_name: "Dockerfile".into(),
            context: None,
            ignore: None,
            target: None,
            build_args: BTreeMap::new(),
            tags: vec!["app:1".into()],
            labels: Vec::new(),
            platform: None,
            network: None,
            secrets: Vec::new(),
            timestamp: None,
            platform_args: BTreeMap::new(),
            base_info: info,
        }
    }

    fn base(_: &str, _: Option<&str>) -> Result<Option<BaseInfo>> {
        Ok(Some(BaseInfo {
            env: vec!["PATH=/bin".into(), "HOME=/root".into()],
            on_build: Vec::new(),
        }))
    }

    #[test]
    fn args_scope_and_cmd_set_follow_the_stage() {
        let df = dockerfile::parse(
            "ARG V=1\nFROM alpine\nARG V\nARG W=$HOME/x\nCMD [\"a\"]\nENV E=$W\nENTRYPOINT [\"e\"]\n",
        )
        .unwrap();
        let o = opts(&df, &base);
        let st = plan(&o).unwrap();
        let calls = &st[0].calls;
        assert_eq!(calls[0].pre, vec!["--onbuild"]);
        assert!(matches!(&calls[0].input, Input::Image(i) if i == "alpine"));
        // ARG V takes the global value; W's default expands HOME from the base's ENV.
        assert_eq!(calls[3].pre, vec!["--arg", "V=1", "--arg", "W=/root/x"]);
        assert_eq!(calls[4].post, vec!["-c", "ENV E=$W"]);
        assert_eq!(
            calls[5].pre,
            vec!["--arg", "V=1", "--arg", "W=/root/x", "--cmd-set"]
        );
    }

    #[test]
    fn only_needed_stages_with_from_stamps() {
        let df = dockerfile::parse(
            "FROM alpine AS a\nRUN echo a\nFROM alpine AS unused\nRUN false\nFROM alpine\nCOPY --from=a /x /y\n",
        )
        .unwrap();
        let o = opts(&df, &base);
        let st = plan(&o).unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].display, "a");
        let copy = &st[1].calls[1];
        assert_eq!(copy.from_stamp, vec![("a".to_string(), "a-2".to_string())]);
        assert!(copy.sources.is_none());
        let mk = make(&o, &st);
        assert!(mk.contains("$(S)/stage2-6.json: $(S)/stage2-5.json $(S)/a-2.json | $(S)"));
        assert!(!mk.contains("unused"));
        assert!(mk.contains("-t app:1"));
        let s = sh(&o, &st);
        assert!(s.contains("'RUN echo a' - --shell 'echo a'"), "{s}");
        assert!(
            s.contains("$IMG_ADD\" $BERTH_FLAGS --stage \"a=$(sed"),
            "{s}"
        );
    }

    #[test]
    fn copy_lists_its_sources_and_hashes_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("src")).unwrap();
        std::fs::write(dir.path().join("src/a.c"), "x").unwrap();
        std::fs::write(dir.path().join("src/skip.o"), "x").unwrap();
        let m = Matcher::new(&["**/*.o"]).unwrap();
        let paths = source_paths(dir.path(), Some(&m), &["src".into()]).unwrap();
        assert_eq!(paths, vec!["src", "src/a.c"]);
        assert!(source_paths(dir.path(), None, &["*.c".into()]).is_none());
        let df = dockerfile::parse("FROM alpine\nCOPY --chown=1:2 src /app/\n").unwrap();
        let mut o = opts(&df, &base);
        o.context = Some((".", dir.path()));
        o.ignore = Some(&m);
        let st = plan(&o).unwrap();
        let mk = make(&o, &st);
        assert!(mk.contains("SRCS_stage0-2.src := src src/a.c"), "{mk}");
        assert!(mk.contains("$(S)/stage0-2.json: $(S)/stage0-1.json $(S)/stage0-2.src"));
        assert!(
            mk.contains(
                "--context \"$(CONTEXT)\" --instruction 'COPY --chown=1:2 src /app/' src - /app/"
            ),
            "{mk}"
        );
    }

    #[test]
    fn refuses_what_the_tools_cannot_do() {
        let df = dockerfile::parse("# escape=`\nFROM alpine\n").unwrap();
        assert!(plan(&opts(&df, &base)).is_err());
        let df =
            dockerfile::parse("FROM alpine AS a\nFROM alpine\nRUN --mount=from=a,target=/a ls\n")
                .unwrap();
        let st = plan(&opts(&df, &base)).unwrap();
        assert_eq!(
            st[1].calls[1].from_stamp,
            vec![("a".to_string(), "a-1".to_string())]
        );
        let none = |_: &str, _: Option<&str>| Ok(None);
        let df = dockerfile::parse("FROM nothere\n").unwrap();
        let e = plan(&opts(&df, &none)).unwrap_err().to_string();
        assert!(e.contains("nothere is not in the store"), "{e}");
    }

    #[test]
    fn heredoc_text_reaches_the_tool_byte_for_byte() {
        let df = dockerfile::parse("FROM alpine\nRUN <<EOF\necho \"100% $HOME \\\\ it's\"\nEOF\n")
            .unwrap();
        let o = opts(&df, &base);
        let st = plan(&o).unwrap();
        let call = &st[0].calls[1];
        let want = "RUN <<EOF\necho \"100% $HOME \\\\ it's\"\nEOF";
        let i = call.pre.iter().position(|a| a == "--instruction").unwrap();
        assert_eq!(call.pre[i + 1], want);
        // The recipe's word, as make hands it to sh (`$$` is `$`), prints the text.
        let mk = make(&o, &st);
        let line = mk.lines().find(|l| l.contains("printf")).unwrap();
        let word = line
            .split(" --instruction ")
            .nth(1)
            .unwrap()
            .split(" - --shell")
            .next()
            .unwrap()
            .replace("$$", "$");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {word}"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    }

    #[test]
    fn quoting() {
        assert_eq!(sq("a b"), "'a b'");
        assert_eq!(sq("it's"), "'it'\\''s'");
        assert_eq!(sq("KEY=v"), "KEY=v");
        assert_eq!(make_escape("$HOME"), "$$HOME");
    }
}
