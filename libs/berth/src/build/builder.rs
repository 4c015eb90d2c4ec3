//! `img-build`: a Dockerfile build, daemonless, against the store.
//!
//! The Dockerfile's stages form a graph (`FROM stage`, `COPY --from`, `RUN --mount=from=`); only
//! what the target needs is built, and stages that do not wait on each other run on threads of
//! their own. Each stage is a sequence of steps from a state (an image: config and layers, stored
//! as blobs). Every step has a cache key ([`KeyInputs`]): the parent state's config digest (which
//! covers its layers and history), the expanded instruction, the build args it uses, the platform,
//! and for COPY/ADD a Merkle digest of its sources; a hit takes the recorded state, a miss makes a
//! new one and records it. Metadata steps (ENV, LABEL, CMD, …) change the config only: no
//! container, no layer. COPY/ADD write their layer straight from the context. RUN runs in a berth
//! container whose changes become the layer.
//!
//! History entries are written as Docker's legacy builder writes them ([`super::history`]).
//! With a timestamp (`SOURCE_DATE_EPOCH`), every `created` is that time and the layers' mtimes are
//! clamped to it, so that the same inputs give the same manifest digest anywhere.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use oci_spec::image::{Descriptor, HistoryBuilder, ImageManifest, RootFs};

use super::cache::{BuildCache, KeyInputs, Record};
use super::context::Context;
use super::copy::{self, CopyOp};
use super::dockerfile::{self, Args, Dockerfile, Instruction, Kind};
use super::history;
use super::run::{self, Mount, MountType, RunOp};
use crate::config::{Config, HealthConfig};
use crate::container::rootfs::{mount_overlay_on, MountApi, Overlay};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::image::{self, Image, ImageConfig, Platform};
use crate::layer::{Codec, NewLayer};
use crate::reference::Reference;
use crate::root::Root;
use crate::store::Layout;
use crate::unpack::Dest;

/// Build args Docker passes to RUN without an ARG (and leaves out of history and cache keys
/// unless the Dockerfile declares them).
const BUILTIN_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Docker's default PATH for Linux (`system.DefaultPathEnv`), given to a stage whose base has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to build and how.
pub struct Options<'a> {
    pub dockerfile: &'a Dockerfile,
    /// How errors name the Dockerfile (`Dockerfile`, `Dockerfile.test`).
    pub dockerfile_name: String,
    /// The context; none when the Dockerfile came alone on stdin.
    pub context: Option<&'a Context>,
    pub tags: Vec<Reference>,
    /// Makes an image the build names (FROM, `COPY --from=image`) present in the store, pulling
    /// it as `--pull` says.
    pub pull: &'a (dyn Fn(&str) -> Result<()> + Sync),
    pub target: Option<String>,
    /// `--build-arg K=V` (a K alone was resolved by the CLI from its environment).
    pub build_args: BTreeMap<String, String>,
    pub no_cache: bool,
    /// `--label K=V`, added to the final image as LABEL steps (sorted by key), as Docker's.
    pub labels: Vec<(String, String)>,
    pub platform: Platform,
    /// `--network`: bridge (Docker's default), none or host.
    pub network: String,
    /// `--secret id=ID,src=FILE`.
    pub secrets: BTreeMap<String, PathBuf>,
    pub explain: bool,
    /// SOURCE_DATE_EPOCH / `--timestamp`.
    pub timestamp: Option<i64>,
    /// `--force-rm`: remove a failed RUN's container too.
    pub force_rm: bool,
    pub codec: Codec,
    /// Where a build resumes a stage (the step tools, `img-build --emit-make`): build args in
    /// scope at the target stage's start, as if declared by ARGs before it (no ARG step).
    pub stage_args: BTreeMap<String, Option<String>>,
    /// A CMD was given earlier in the target stage (an ENTRYPOINT then keeps the CMD).
    pub cmd_set: bool,
    /// Run the base's ONBUILD triggers (FROM's behaviour); a step tool resuming a stage does not.
    pub run_triggers: bool,
    /// An untagged result gets an index entry (`<none>`, img-build's); the step tools' outputs
    /// do not (the cache record keeps them).
    pub index_untagged: bool,
}

/// A finished step, as img-build prints it.
#[derive(Debug, Clone)]
pub struct StepEvent {
    /// 1-based, in the Dockerfile's order (FROM counts).
    pub step: usize,
    pub stage: String,
    pub instruction: String,
    pub cached: bool,
    pub key: Option<Digest>,
    pub layer: Option<Digest>,
    pub seconds: f64,
    /// `--explain`: why it missed.
    pub explain: Option<String>,
}

/// Where a build reports: steps starting and ending, RUN output.
pub trait Events: Sync {
    /// A step starts (`total`: the Dockerfile's instruction count).
    fn started(&self, _step: usize, _total: usize, _stage: &str, _instruction: &str) {}
    fn finished(&self, ev: &StepEvent);
    /// Output of a RUN of `stage`.
    fn output(&self, stage: &str, data: &[u8]);
    /// A line for the user (a warning).
    fn note(&self, msg: &str);
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest: Descriptor,
    pub id: Digest,
    pub tags: Vec<Reference>,
}

/// A build state: an image in the store (its blobs; no index entry).
#[derive(Debug, Clone)]
pub struct State {
    pub config: ImageConfig,
    pub layers: Vec<Descriptor>,
    pub manifest: Descriptor,
    pub id: Digest,
}

impl State {
    fn write(layout: &Layout, config: ImageConfig, layers: Vec<Descriptor>) -> Result<State> {
        let (manifest, id) = image::write_image(layout, &config, layers.clone())?;
        Ok(State {
            config,
            layers,
            manifest,
            id,
        })
    }

    /// The state a cache record names.
    fn load(layout: &Layout, manifest: &Descriptor) -> Result<State> {
        let digest = Digest::try_from(manifest.digest())?;
        let m: ImageManifest = layout.read_json(&digest)?;
        let id = Digest::try_from(m.config().digest())?;
        let config = ImageConfig::from_value(layout.read_json(&id)?)
            .map_err(|why| Error::corrupt(format!("image config {id}"), why))?;
        Ok(State {
            config,
            layers: m.layers().to_vec(),
            manifest: manifest.clone(),
            id,
        })
    }

    fn image(&self, layout: &Layout) -> Result<Image> {
        Image::load(layout, &self.manifest, None)
    }

    fn run_config(&self) -> Config {
        self.config.run_config().cloned().unwrap_or_default()
    }

    fn shell(&self) -> Vec<String> {
        self.config
            .run_config()
            .and_then(|c| c.shell.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
}

/// Where a stage starts.
#[derive(Debug, Clone)]
enum Base {
    Scratch,
    Stage(usize),
    /// An image, by the name the Dockerfile gives (expanded).
    Image(String),
}

struct StagePlan<'d> {
    index: usize,
    name: Option<String>,
    base: Base,
    /// FROM's `--platform` (expanded), if any.
    instructions: &'d [Instruction],
    deps: BTreeSet<usize>,
}

/// Builds `opts.dockerfile` in `root`'s store.
pub fn build(root: &Root, opts: &Options, events: &dyn Events) -> Result<Built> {
    let layout = root.images()?;
    // No prune deletes a blob this build made (or reuses) before it is named.
    let _guard = layout.writer_guard()?;
    let cache = BuildCache::open(&layout)?;
    let df = opts.dockerfile;
    let name = &opts.dockerfile_name;
    let (meta, stages) = df.stages();
    if stages.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{name}: no build stage: the Dockerfile has no FROM instruction"
        )));
    }
    // ARGs before the first FROM: the global scope, seen by FROM lines (and by stages that
    // declare the same ARG without a value).
    let mut global = platform_args(&opts.platform);
    let mut used_args: BTreeSet<String> = BTreeSet::new();
    for ins in meta {
        let Kind::Arg(list) = &ins.kind else {
            return Err(at(
                name,
                ins,
                Error::InvalidInput("only ARG may come before the first FROM".into()),
            ));
        };
        for (k, default) in list {
            let v = match opts.build_args.get(k) {
                Some(v) => {
                    used_args.insert(k.clone());
                    Some(v.clone())
                }
                None => match default {
                    Some(d) => Some(
                        expand(df, d, &|n| global.get(n).cloned().flatten())
                            .map_err(|e| at(name, ins, e))?,
                    ),
                    None => None,
                },
            };
            global.insert(k.clone(), v);
        }
    }
    let global_lookup = |n: &str| global.get(n).cloned().flatten();

    // The stages, their names and what each needs.
    let mut plans: Vec<StagePlan> = Vec::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    for (i, instrs) in stages.iter().enumerate() {
        let from = &instrs[0];
        let Kind::From {
            image,
            name: as_name,
        } = &from.kind
        else {
            unreachable!("stages start with FROM")
        };
        let image = expand(df, image, &global_lookup).map_err(|e| at(name, from, e))?;
        if image.is_empty() {
            return Err(at(
                name,
                from,
                Error::InvalidInput("base name should not be blank".into()),
            ));
        }
        let base = if let Some(&k) = names.get(&image.to_ascii_lowercase()) {
            Base::Stage(k)
        } else if image.eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else {
            Base::Image(image)
        };
        let mut deps = BTreeSet::new();
        if let Base::Stage(k) = base {
            deps.insert(k);
        }
        let stage_name = as_name.as_ref().map(|n| n.to_ascii_lowercase());
        if let Some(n) = &stage_name {
            if !valid_stage_name(n) {
                return Err(at(
                    name,
                    from,
                    Error::InvalidInput(format!(
                        "invalid name for build stage: {n:?}, name can't start with a number or contain symbols"
                    )),
                ));
            }
            if names.contains_key(n) {
                return Err(at(
                    name,
                    from,
                    Error::InvalidInput(format!("duplicate name {n:?} for build stages")),
                ));
            }
        }
        for ins in &instrs[1..] {
            for r in from_refs(ins) {
                let r = expand(df, &r, &global_lookup).map_err(|e| at(name, ins, e))?;
                if let Some(k) = stage_ref(&r, &names, i) {
                    deps.insert(k);
                }
            }
        }
        if let Some(n) = &stage_name {
            names.insert(n.clone(), i);
        }
        plans.push(StagePlan {
            index: i,
            name: stage_name,
            base,
            instructions: instrs,
            deps,
        });
    }
    let (target, needed) = target_and_needed(
        opts.target.as_deref(),
        &names,
        name,
        |k| plans[k].deps.iter().copied().collect(),
        plans.len(),
    )?;

    let b = Builder {
        root,
        layout: &layout,
        cache: &cache,
        opts,
        events,
        global: &global,
        names: &names,
        results: Mutex::new(HashMap::new()),
        done: Condvar::new(),
        used_args: Mutex::new(used_args),
        total: df.instructions.len(),
        target: Some(target),
        platform: opts.platform.to_string(),
        jobs: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for &k in &needed {
            let plan = &plans[k];
            let b = &b;
            let first_error = &first_error;
            s.spawn(move || {
                let r = b.run_stage(plan);
                let r = match r {
                    Ok(st) => Ok(Arc::new(st)),
                    Err(e) => {
                        let mut first = first_error.lock().expect("no panics while locked");
                        if first.is_none()
                            && !matches!(e, Error::Build { ref at, .. } if at.is_empty())
                        {
                            *first = Some(e);
                        }
                        Err(())
                    }
                };
                b.results
                    .lock()
                    .expect("no panics while locked")
                    .insert(k, r);
                b.done.notify_all();
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("no panics while locked") {
        return Err(e);
    }
    let target_state = b
        .results
        .lock()
        .expect("no panics while locked")
        .get(&target)
        .cloned();
    let mut state = match target_state {
        Some(Ok(s)) => (*s).clone(),
        _ => return Err(Error::InvalidInput("the build failed".into())),
    };
    // --label: one LABEL step each, sorted by key, on the target stage (Docker's legacy builder).
    let mut labels = opts.labels.clone();
    labels.sort();
    for (k, v) in &labels {
        let mut sx = StageRun::new(stage_display(&plans[target]), state.clone());
        b.metadata(
            &mut sx,
            None,
            format!("LABEL {k}={v}"),
            BTreeMap::new(),
            &mut |c| {
                c.labels
                    .get_or_insert(None)
                    .get_or_insert_with(Default::default)
                    .insert(k.clone(), v.clone());
                Ok(())
            },
        )?;
        state = sx.state;
    }
    let unused: Vec<&String> = {
        let used = b.used_args.lock().expect("no panics while locked");
        opts.build_args
            .keys()
            .filter(|k| !used.contains(*k) && !BUILTIN_ARGS.contains(&k.as_str()))
            .collect()
    };
    if !unused.is_empty() {
        let list: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        events.note(&format!(
            "[Warning] One or more build-args [{}] were not consumed",
            list.join(" ")
        ));
    }
    if let Some(ctx) = opts.context {
        if let Err(e) = ctx.save() {
            events.note(&format!("warning: could not save the stat cache: {e}"));
        }
    }
    if opts.tags.is_empty() && opts.index_untagged {
        image::add_untagged(&layout, &state.manifest)?;
    }
    // A tag that already names this image is left as it is (a cached rebuild writes nothing).
    let index = layout.read_index()?;
    let names_it = |t: &Reference| {
        let name = t.to_string();
        index.manifests().iter().any(|d| {
            d.digest() == state.manifest.digest()
                && crate::store::annotation(d, crate::store::REF_NAME) == Some(name.as_str())
        })
    };
    for t in &opts.tags {
        if !names_it(t) {
            image::tag(&layout, t, &state.manifest)?;
        }
    }
    Ok(Built {
        manifest: state.manifest,
        id: state.id,
        tags: opts.tags.clone(),
    })
}

/// The stage `target` names (the last one when none), and every stage it needs, itself included:
/// `deps(k)` are the stages stage `k` uses directly.
pub(crate) fn target_and_needed(
    target: Option<&str>,
    names: &HashMap<String, usize>,
    dockerfile_name: &str,
    deps: impl Fn(usize) -> Vec<usize>,
    count: usize,
) -> Result<(usize, BTreeSet<usize>)> {
    let target = match target {
        None => count - 1,
        Some(t) => *names.get(&t.to_ascii_lowercase()).ok_or_else(|| {
            Error::InvalidInput(format!(
                "target stage {t:?} could not be found in {dockerfile_name}"
            ))
        })?,
    };
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(k) = todo.pop() {
        if needed.insert(k) {
            todo.extend(deps(k));
        }
    }
    Ok((target, needed))
}

fn stage_display(p: &StagePlan) -> String {
    p.name.clone().unwrap_or_else(|| p.index.to_string())
}

/// BuildKit's automatic platform args, in the global scope.
pub fn platform_args(p: &Platform) -> BTreeMap<String, Option<String>> {
    let host = Platform::host();
    let mut m = BTreeMap::new();
    for (prefix, p) in [("TARGET", p), ("BUILD", &host)] {
        m.insert(format!("{prefix}PLATFORM"), Some(p.to_string()));
        m.insert(format!("{prefix}OS"), Some(p.os.clone()));
        m.insert(format!("{prefix}ARCH"), Some(p.architecture.clone()));
        m.insert(
            format!("{prefix}VARIANT"),
            Some(p.variant.clone().unwrap_or_default()),
        );
    }
    m
}

fn valid_stage_name(n: &str) -> bool {
    let mut c = n.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|x| x.is_ascii_lowercase() || x.is_ascii_digit() || "-_.".contains(x))
}

/// The `--from` values of an instruction (COPY/ADD `--from`, RUN `--mount=…,from=`), unexpanded.
fn from_refs(ins: &Instruction) -> Vec<String> {
    let mut out = Vec::new();
    match &ins.kind {
        Kind::Copy(_) | Kind::Add(_) => {
            out.extend(ins.flag_values("from").flatten().map(str::to_string));
        }
        Kind::Run(_) => {
            for m in ins.flag_values("mount").flatten() {
                for part in m.split(',') {
                    if let Some(v) = part.strip_prefix("from=") {
                        out.push(v.to_string());
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// The stage `r` names (by name, or by index below `current`), if any.
fn stage_ref(r: &str, names: &HashMap<String, usize>, current: usize) -> Option<usize> {
    stage_ref_checked(r, names, current).ok().flatten()
}

/// The stage `r` names: by name or index, and only one defined before stage `current` (None:
/// `r` is an image). A stage's own name or index, or a later one's, is an error, not an image.
fn stage_ref_checked(
    r: &str,
    names: &HashMap<String, usize>,
    current: usize,
) -> Result<Option<usize>> {
    let k = match names.get(&r.to_ascii_lowercase()) {
        Some(&k) => k,
        None if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => {
            r.parse::<usize>().unwrap_or(usize::MAX)
        }
        None => return Ok(None),
    };
    if k < current {
        return Ok(Some(k));
    }
    Err(Error::InvalidInput(if k == current {
        format!("circular dependency: --from={r} names the stage it is in")
    } else {
        format!("--from={r}: stage {r} is not defined before this one (a stage uses only earlier stages)")
    }))
}

fn expand(df: &Dockerfile, word: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    dockerfile::expand_with(word, df.escape, lookup)
        .map_err(|e| Error::InvalidInput(format!("{word}: {e}")))
}

/// `Dockerfile:LINE: INSTRUCTION: error`.
fn at(name: &str, ins: &Instruction, e: Error) -> Error {
    Error::Build {
        at: format!("{name}:{}: {}", ins.line, ins.original),
        source: Box::new(e),
    }
}

/// Formats an epoch as the RFC 3339 time Docker writes.
fn rfc3339(epoch: i64) -> String {
    chrono::DateTime::from_timestamp(epoch, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

struct Builder<'a> {
    root: &'a Root,
    layout: &'a Layout,
    cache: &'a BuildCache,
    opts: &'a Options<'a>,
    events: &'a dyn Events,
    global: &'a BTreeMap<String, Option<String>>,
    names: &'a HashMap<String, usize>,
    results: Mutex<HashMap<usize, std::result::Result<Arc<State>, ()>>>,
    done: Condvar,
    used_args: Mutex<BTreeSet<String>>,
    total: usize,
    platform: String,
    jobs: usize,
    /// The stage the build is for.
    target: Option<usize>,
}

/// What a step does on a miss: given the parent state and its config to change, the new layer
/// (if any) and the history line.
type MakeStep<'m> = dyn FnMut(&State, &mut ImageConfig) -> Result<(Option<NewLayer>, String)> + 'm;

/// A stage as it runs.
struct StageRun {
    name: String,
    state: State,
    /// Build args in scope (declared by ARG in this stage), with their values.
    args: BTreeMap<String, Option<String>>,
    /// A CMD was given in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
    /// The step number of the instruction being run.
    step: usize,
}

impl StageRun {
    fn new(name: String, state: State) -> StageRun {
        StageRun {
            name,
            state,
            args: BTreeMap::new(),
            cmd_set: false,
            step: 0,
        }
    }
}

/// A read-only view of a state's file system: an overlay of its snapshots (unmounted on drop).
struct View {
    merged: PathBuf,
    mounted: bool,
    _tmp: tempfile::TempDir,
}

impl View {
    fn path(&self) -> &Path {
        &self.merged
    }
}

impl Drop for View {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(&self.merged, nix::mount::MntFlags::MNT_DETACH);
            run::leftover(&self.merged, true, false);
        }
        run::leftover(self._tmp.path(), false, false);
    }
}

/// Writes into the build's events as a stage's RUN output.
struct StageOutput<'a> {
    events: &'a dyn Events,
    stage: String,
}

impl Write for StageOutput<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.events.output(&self.stage, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> Builder<'a> {
    fn name(&self) -> &str {
        &self.opts.dockerfile_name
    }

    fn df(&self) -> &Dockerfile {
        self.opts.dockerfile
    }

    fn created(&self) -> String {
        match self.opts.timestamp {
            Some(t) => rfc3339(t),
            None => image::now_rfc3339(),
        }
    }

    /// Waits for stage `k` and returns its final state (Err: it failed).
    fn wait_stage(&self, k: usize) -> Result<Arc<State>> {
        let mut r = self.results.lock().expect("no panics while locked");
        loop {
            if let Some(v) = r.get(&k) {
                return v.clone().map_err(|()| Error::Build {
                    at: String::new(),
                    source: Box::new(Error::InvalidInput(format!("stage {k} failed"))),
                });
            }
            r = self.done.wait(r).expect("no panics while locked");
        }
    }

    /// The state of an image named in the Dockerfile (FROM, `--from`), pulled if need be.
    fn image_state(&self, name: &str, platform: Option<&Platform>) -> Result<State> {
        // A manifest digest of the store (a step tool's output, which no tag names): its state.
        if let Ok(d) = Digest::parse(name) {
            if self.layout.has_blob(&d) {
                let desc = Descriptor::new(
                    oci_spec::image::MediaType::ImageManifest,
                    self.layout
                        .blob_path(&d)
                        .metadata()
                        .map(|m| m.len())
                        .unwrap_or(0),
                    &d,
                );
                if let Ok(state) = State::load(self.layout, &desc) {
                    return Ok(state);
                }
            }
        }
        (self.opts.pull)(name)?;
        let (layout, catalog, idx) = image::open_named(self.layout, name)?;
        if layout.dir() != self.layout.dir() {
            return Err(Error::InvalidInput(format!(
                "{name}: a build's images come from the store (not an oci: layout)"
            )));
        }
        let entry = &catalog.items[idx].entry.descriptor;
        let img = Image::load(
            self.layout,
            entry,
            Some(platform.unwrap_or(&self.opts.platform)),
        )?;
        // The store's form: OCI media types, the config kept byte for byte (the same ID).
        let layers = image::oci_layers(&img.manifest);
        let mut config_desc = img.manifest.config().clone();
        config_desc.set_media_type(oci_spec::image::MediaType::ImageConfig);
        let manifest = image::write_manifest(self.layout, config_desc, layers.clone())?;
        Ok(State {
            config: img.config,
            layers,
            manifest,
            id: img.config_digest,
        })
    }

    fn scratch(&self) -> Result<State> {
        let p = &self.opts.platform;
        let config = ImageConfig {
            architecture: p.architecture.clone(),
            os: p.os.clone(),
            variant: p.variant.clone(),
            rootfs: Some(RootFs::default()),
            ..ImageConfig::default()
        };
        State::write(self.layout, config, Vec::new())
    }

    fn run_stage(&self, plan: &StagePlan) -> Result<State> {
        let from = &plan.instructions[0];
        let t0 = Instant::now();
        let step = plan_step(self.df(), from);
        let stage = stage_display(plan);
        self.events
            .started(step, self.total, &stage, &from.original);
        let state = match &plan.base {
            Base::Scratch => self.scratch().map_err(|e| at(self.name(), from, e))?,
            Base::Stage(k) => (*self.wait_stage(*k)?).clone(),
            Base::Image(n) => {
                let platform = match from.flag_values("platform").last().flatten() {
                    None => None,
                    Some(p) => {
                        let p = expand(self.df(), p, &|n| self.global.get(n).cloned().flatten())
                            .and_then(|p| p.parse::<Platform>())
                            .map_err(|e| at(self.name(), from, e))?;
                        Some(p)
                    }
                };
                self.image_state(n, platform.as_ref())
                    .map_err(|e| at(self.name(), from, e))?
            }
        };
        self.events.finished(&StepEvent {
            step,
            stage: stage.clone(),
            instruction: from.original.clone(),
            cached: true,
            key: Some(state.id.clone()),
            layer: None,
            seconds: t0.elapsed().as_secs_f64(),
            explain: None,
        });
        let mut state = state;
        // As Docker's builder begins a stage: the default PATH when the image has none. Only in
        // the config the next step writes (a stage of FROM alone is its base as it is).
        {
            let rc = state.config.run_config_mut();
            let env = rc.env.get_or_insert(None).get_or_insert_with(Vec::new);
            if !env.iter().any(|e| e.starts_with("PATH=")) {
                env.push(format!("PATH={DEFAULT_PATH}"));
            }
        }
        let mut sx = StageRun::new(stage, state);
        if self.target == Some(plan.index) {
            sx.args = self.opts.stage_args.clone();
            sx.cmd_set = self.opts.cmd_set;
        }
        // ONBUILD triggers of the base run first, and go (as Docker's: the child has none).
        let triggers: Vec<String> = sx
            .state
            .run_config()
            .on_build
            .clone()
            .flatten()
            .unwrap_or_default();
        if !triggers.is_empty() && self.opts.run_triggers {
            let mut cfg = sx.state.config.clone();
            cfg.run_config_mut().on_build = Some(None);
            // Not a step of its own: the triggers' steps follow from the cleared config.
            sx.state = State::write(self.layout, cfg, sx.state.layers.clone())?;
            for t in &triggers {
                let parsed = dockerfile::parse(t).map_err(|e| {
                    at(
                        self.name(),
                        from,
                        Error::InvalidInput(format!("ONBUILD trigger {t:?}: {e}")),
                    )
                })?;
                for ins in &parsed.instructions {
                    let mut ins = ins.clone();
                    ins.line = from.line;
                    ins.end_line = from.line;
                    if matches!(
                        ins.kind,
                        Kind::From { .. } | Kind::Onbuild(_) | Kind::Maintainer(_)
                    ) {
                        return Err(at(
                            self.name(),
                            from,
                            Error::InvalidInput(format!(
                                "{} isn't allowed as an ONBUILD trigger",
                                ins.keyword
                            )),
                        ));
                    }
                    sx.step = step;
                    self.step(&mut sx, &ins)
                        .map_err(|e| at(self.name(), &ins, e))?;
                }
            }
        }
        for ins in &plan.instructions[1..] {
            sx.step = plan_step(self.df(), ins);
            self.events
                .started(sx.step, self.total, &sx.name, &ins.original);
            self.step(&mut sx, ins)
                .map_err(|e| at(self.name(), ins, e))?;
        }
        Ok(sx.state)
    }

    /// Looks a variable up for expansion: the config's ENV first, then the stage's build args
    /// (recording which args were used).
    fn lookup<'s>(
        &'s self,
        sx: &'s StageRun,
        used: &'s Mutex<BTreeMap<String, String>>,
    ) -> impl Fn(&str) -> Option<String> + 's {
        let env = sx.state.run_config().env.flatten().unwrap_or_default();
        move |name: &str| {
            let prefix = format!("{name}=");
            if let Some(e) = env.iter().rev().find(|e| e.starts_with(&prefix)) {
                return Some(e[prefix.len()..].to_string());
            }
            let v = sx.args.get(name).cloned().flatten()?;
            used.lock()
                .expect("no panics while locked")
                .insert(name.to_string(), v.clone());
            Some(v)
        }
    }

    fn expand_in(
        &self,
        sx: &StageRun,
        word: &str,
        used: &Mutex<BTreeMap<String, String>>,
    ) -> Result<String> {
        expand(self.df(), word, &self.lookup(sx, used))
    }

    fn step(&self, sx: &mut StageRun, ins: &Instruction) -> Result<()> {
        let used = Mutex::new(BTreeMap::new());
        match &ins.kind {
            Kind::From { .. } => unreachable!("FROM starts a stage"),
            Kind::Arg(list) => {
                let mut parts = Vec::new();
                let mut new_args = Vec::new();
                for (k, default) in list {
                    let d = match default {
                        Some(d) => Some(self.expand_in(sx, d, &used)?),
                        None => None,
                    };
                    let v = match self.opts.build_args.get(k) {
                        Some(v) => Some(v.clone()),
                        None => d.clone().or_else(|| self.global.get(k).cloned().flatten()),
                    };
                    self.used_args
                        .lock()
                        .expect("no panics while locked")
                        .insert(k.clone());
                    parts.push(match &d {
                        Some(d) => format!("{k}={d}"),
                        None => k.clone(),
                    });
                    new_args.push((k.clone(), v));
                }
                let text = format!("ARG {}", parts.join(" "));
                let args = used.into_inner().expect("no panics while locked");
                self.metadata(sx, Some(ins), text, args, &mut |_| Ok(()))?;
                for (k, v) in new_args {
                    sx.args.insert(k, v);
                }
                Ok(())
            }
            Kind::Env(pairs) | Kind::Label(pairs) => {
                let is_env = matches!(ins.kind, Kind::Env(_));
                let mut kv = Vec::new();
                for (k, v) in pairs {
                    let k = self.expand_in(sx, k, &used)?;
                    if k.is_empty() {
                        return Err(Error::InvalidInput(format!(
                            "{} names can not be blank",
                            ins.keyword
                        )));
                    }
                    kv.push((k, self.expand_in(sx, v, &used)?));
                }
                let text = format!(
                    "{} {}",
                    ins.keyword,
                    kv.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
                let args = used.into_inner().expect("no panics while locked");
                self.metadata(sx, Some(ins), text, args, &mut |c| {
                    for (k, v) in &kv {
                        if is_env {
                            let list = c.env.get_or_insert(None).get_or_insert_with(Vec::new);
                            let prefix = format!("{k}=");
                            match list.iter_mut().find(|e| e.starts_with(&prefix) || *e == k) {
                                Some(e) => *e = format!("{k}={v}"),
                                None => list.push(format!("{k}={v}")),
                            }
                        } else {
                            c.labels
                                .get_or_insert(None)
                                .get_or_insert_with(Default::default)
                                .insert(k.clone(), v.clone());
                        }
                    }
                    Ok(())
                })
            }
            Kind::Cmd(a) | Kind::Entrypoint(a) => {
                let is_cmd = matches!(ins.kind, Kind::Cmd(_));
                let argv = match a {
                    Args::Exec(v) => v.clone(),
                    Args::Shell(s) => {
                        let mut v = sx.state.shell();
                        v.push(s.clone());
                        v
                    }
                };
                let text = format!("{} {}", ins.keyword, history::go_quote_list(&argv));
                let cmd_set = sx.cmd_set;
                self.metadata(sx, Some(ins), text, BTreeMap::new(), &mut |c| {
                    if is_cmd {
                        c.cmd = Some(Some(argv.clone()));
                    } else {
                        c.entrypoint = Some(Some(argv.clone()));
                        if !cmd_set {
                            c.cmd = Some(None);
                        }
                    }
                    c.args_escaped = None;
                    Ok(())
                })?;
                if is_cmd {
                    sx.cmd_set = true;
                }
                Ok(())
            }
            Kind::Shell(v) => {
                let text = format!("SHELL {}", history::go_list(v));
                let v = v.clone();
                self.metadata(sx, Some(ins), text, BTreeMap::new(), &mut |c| {
                    c.shell = Some(v.clone());
                    Ok(())
                })
            }
            Kind::User(u) => {
                let u = self.expand_in(sx, u, &used)?;
                let args = used.into_inner().expect("no panics while locked");
                self.metadata(sx, Some(ins), format!("USER {u}"), args, &mut |c| {
                    c.user = Some(u.clone());
                    Ok(())
                })
            }
            Kind::StopSignal(s) => {
                let s = self.expand_in(sx, s, &used)?;
                crate::container::lifecycle::parse_signal(&s)?;
                let args = used.into_inner().expect("no panics while locked");
                self.metadata(sx, Some(ins), format!("STOPSIGNAL {s}"), args, &mut |c| {
                    c.stop_signal = Some(s.clone());
                    Ok(())
                })
            }
            Kind::Maintainer(m) => {
                let m = m.clone();
                let text = format!("MAINTAINER {m}");
                self.metadata_full(sx, Some(ins), text, BTreeMap::new(), &mut |ic| {
                    ic.author = Some(m.clone());
                    Ok(())
                })
            }
            Kind::Expose(ports) => {
                // Words expanded to words (`EXPOSE $PORTS`), sorted, as Docker's history shows them.
                let mut expanded = Vec::new();
                {
                    let lookup = self.lookup(sx, &used);
                    for p in ports {
                        expanded.extend(
                            dockerfile::expand_words(p, self.df().escape, &lookup)
                                .map_err(|e| Error::InvalidInput(format!("{p}: {e}")))?,
                        );
                    }
                }
                expanded.sort();
                let mut specs = Vec::new();
                for p in &expanded {
                    specs.extend(crate::change::expose_ports(&format!("EXPOSE {p}"), p)?);
                }
                let args = used.into_inner().expect("no panics while locked");
                let text = format!("EXPOSE {}", expanded.join(" "));
                self.metadata(sx, Some(ins), text, args, &mut |c| {
                    let set = c.exposed_ports.get_or_insert_with(Default::default);
                    for p in &specs {
                        set.insert(p.clone(), Default::default());
                    }
                    Ok(())
                })
            }
            Kind::Volume(a) => {
                let mut vols = Vec::new();
                for w in a.words(self.df().escape) {
                    let v = self.expand_in(sx, &w, &used)?;
                    if v.trim().is_empty() {
                        return Err(Error::InvalidInput(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    vols.push(v);
                }
                let args = used.into_inner().expect("no panics while locked");
                let text = format!("VOLUME {}", history::go_list(&vols));
                self.metadata(sx, Some(ins), text, args, &mut |c| {
                    let set = c
                        .volumes
                        .get_or_insert(None)
                        .get_or_insert_with(Default::default);
                    for v in &vols {
                        set.insert(v.clone(), Default::default());
                    }
                    Ok(())
                })
            }
            Kind::Onbuild(inner) => {
                let trigger = onbuild_text(&ins.original);
                if trigger.is_empty() {
                    return Err(Error::InvalidInput("ONBUILD needs an instruction".into()));
                }
                let _ = inner;
                let text = format!("ONBUILD {trigger}");
                self.metadata(sx, Some(ins), text, BTreeMap::new(), &mut |c| {
                    c.on_build
                        .get_or_insert(None)
                        .get_or_insert_with(Vec::new)
                        .push(trigger.clone());
                    Ok(())
                })
            }
            Kind::Healthcheck { test, cmd } => {
                let h = self.healthcheck(sx, ins, test, cmd.as_ref())?;
                let text = history::healthcheck(&h);
                self.metadata(sx, Some(ins), text, BTreeMap::new(), &mut |c| {
                    c.healthcheck = Some(h.clone());
                    Ok(())
                })
            }
            Kind::Workdir(w) => self.workdir(sx, ins, w),
            Kind::Copy(a) | Kind::Add(a) => self.copy(sx, ins, a),
            Kind::Run(a) => self.run(sx, ins, a),
        }
    }

    fn healthcheck(
        &self,
        sx: &StageRun,
        ins: &Instruction,
        test: &str,
        cmd: Option<&Args>,
    ) -> Result<HealthConfig> {
        let flag =
            |n: &str| -> Option<String> { ins.flag_values(n).last().flatten().map(str::to_string) };
        for (n, _) in &ins.flags {
            if ![
                "interval",
                "timeout",
                "start-period",
                "start-interval",
                "retries",
            ]
            .contains(&n.as_str())
            {
                return Err(Error::InvalidInput(format!("unknown flag: --{n}")));
            }
        }
        match test {
            "NONE" => {
                if cmd.is_some_and(|c| !matches!(c, Args::Shell(s) if s.is_empty())) {
                    return Err(Error::InvalidInput(
                        "HEALTHCHECK NONE takes no arguments".into(),
                    ));
                }
                Ok(HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                })
            }
            "CMD" => {
                let test = match cmd {
                    Some(Args::Exec(v)) if !v.is_empty() => {
                        let mut t = vec!["CMD".to_string()];
                        t.extend(v.iter().cloned());
                        t
                    }
                    Some(Args::Shell(s)) if !s.is_empty() => {
                        vec!["CMD-SHELL".to_string(), s.clone()]
                    }
                    _ => {
                        return Err(Error::InvalidInput(
                            "Missing command after HEALTHCHECK CMD".into(),
                        ))
                    }
                };
                let dur = |n: &str| -> Result<Option<i64>> {
                    match flag(n) {
                        None => Ok(None),
                        Some(v) if v.is_empty() => Ok(None),
                        Some(v) => {
                            let d = history::parse_go_duration(&v).ok_or_else(|| {
                                Error::InvalidInput(format!("time: invalid duration {v:?}"))
                            })?;
                            if d != 0 && d < 1_000_000 {
                                return Err(Error::InvalidInput(format!(
                                    "Interval {n:?} cannot be less than 1ms"
                                )));
                            }
                            Ok(Some(d))
                        }
                    }
                };
                let retries = match flag("retries") {
                    None => None,
                    Some(v) => {
                        let r: i64 = v.parse().map_err(|_| {
                            Error::InvalidInput(format!(
                                "strconv.ParseInt: parsing {v:?}: invalid syntax"
                            ))
                        })?;
                        if r < 1 {
                            return Err(Error::InvalidInput(format!(
                                "--retries must be at least 1 (not {r})"
                            )));
                        }
                        Some(r)
                    }
                };
                let _ = sx;
                Ok(HealthConfig {
                    test: Some(test),
                    interval: dur("interval")?,
                    timeout: dur("timeout")?,
                    start_period: dur("start-period")?,
                    start_interval: dur("start-interval")?,
                    retries,
                    ..Default::default()
                })
            }
            other => Err(Error::InvalidInput(format!(
                "Unknown type {other:?} in HEALTHCHECK (try CMD)"
            ))),
        }
    }

    /// A metadata step on the run config.
    fn metadata(
        &self,
        sx: &mut StageRun,
        ins: Option<&Instruction>,
        text: String,
        args: BTreeMap<String, String>,
        apply: &mut dyn FnMut(&mut Config) -> Result<()>,
    ) -> Result<()> {
        self.metadata_full(sx, ins, text, args, &mut |ic| apply(ic.run_config_mut()))
    }

    /// A metadata step: no layer, a history entry `#(nop)  TEXT`.
    fn metadata_full(
        &self,
        sx: &mut StageRun,
        ins: Option<&Instruction>,
        text: String,
        args: BTreeMap<String, String>,
        apply: &mut dyn FnMut(&mut ImageConfig) -> Result<()>,
    ) -> Result<()> {
        let inputs = self.inputs(sx, text.clone(), args, None, BTreeMap::new());
        let shown = ins
            .map(|i| i.original.clone())
            .unwrap_or_else(|| text.clone());
        self.commit_step(sx, ins, &shown, inputs, &mut |_, cfg| {
            apply(cfg)?;
            // The shell of the config as changed (Docker's line for SHELL names the new one).
            let shell = cfg
                .run_config()
                .and_then(|c| c.shell.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            Ok((None, history::nop(&shell, &text)))
        })
    }

    fn inputs(
        &self,
        sx: &StageRun,
        instruction: String,
        args: BTreeMap<String, String>,
        sources: Option<String>,
        extra: BTreeMap<String, String>,
    ) -> KeyInputs {
        KeyInputs {
            parent: sx.state.id.to_string(),
            instruction,
            args,
            platform: self.platform.clone(),
            sources,
            extra,
        }
    }

    /// Runs a step through the cache: a hit takes the recorded state; a miss calls `make` with
    /// the parent state and a copy of its config to change, which returns the new layer (if
    /// any) and the history line, and records the new state.
    fn commit_step(
        &self,
        sx: &mut StageRun,
        ins: Option<&Instruction>,
        shown: &str,
        inputs: KeyInputs,
        make: &mut MakeStep,
    ) -> Result<()> {
        let t0 = Instant::now();
        let key = inputs.key();
        if !self.opts.no_cache {
            if let Some(rec) = self.cache.get(self.layout, &key)? {
                if let Ok(state) = State::load(self.layout, &rec.manifest) {
                    sx.state = state;
                    self.events.finished(&StepEvent {
                        step: sx.step,
                        stage: sx.name.clone(),
                        instruction: shown.to_string(),
                        cached: true,
                        key: Some(key),
                        layer: rec
                            .layer
                            .as_ref()
                            .and_then(|l| Digest::try_from(l.digest()).ok()),
                        seconds: t0.elapsed().as_secs_f64(),
                        explain: None,
                    });
                    return Ok(());
                }
            }
        }
        let explain = if self.opts.explain {
            Some(if self.opts.no_cache {
                "--no-cache".to_string()
            } else {
                let at = ins.map(|i| (sx.name.as_str(), i.line));
                let mut why = self.cache.explain_at(&inputs, at)?;
                if let Some(files) = self.explain_sources(&inputs) {
                    why.push_str(": ");
                    why.push_str(&files);
                }
                why
            })
        } else {
            None
        };
        let parent = sx.state.clone();
        let mut config = parent.config.clone();
        let (layer, created_by) = make(&parent, &mut config)?;
        let created = self.created();
        config.created = Some(created.clone());
        // As Docker's legacy builder: the config names the image it was built on.
        config.run_config_mut().image = Some(parent.id.to_string());
        let mut entry = HistoryBuilder::default()
            .created(created.clone())
            .created_by(created_by);
        if layer.is_none() {
            entry = entry.empty_layer(true);
        }
        let entry = entry
            .build()
            .map_err(|e| Error::InvalidInput(format!("history: {e}")))?;
        config.history.get_or_insert_with(Vec::new).push(entry);
        let mut layers = parent.layers.clone();
        if let Some(l) = &layer {
            config.push_diff_id(&l.diff_id);
            layers.push(l.descriptor.clone());
        }
        let state = State::write(self.layout, config, layers)?;
        self.cache.put(&Record {
            key: key.clone(),
            inputs,
            manifest: state.manifest.clone(),
            layer: layer.as_ref().map(|l| l.descriptor.clone()),
            stage: sx.name.clone(),
            line: ins.map(|i| i.line).unwrap_or(0),
            created: created.clone(),
            last_used: created,
        })?;
        sx.state = state;
        self.events.finished(&StepEvent {
            step: sx.step,
            stage: sx.name.clone(),
            instruction: shown.to_string(),
            cached: false,
            key: Some(key),
            layer: layer
                .as_ref()
                .and_then(|l| Digest::try_from(l.descriptor.digest()).ok()),
            seconds: t0.elapsed().as_secs_f64(),
            explain,
        });
        Ok(())
    }

    /// The snapshots of a state, bottom first (unpacked from the store if missing).
    fn snapshots(&self, state: &State) -> Result<Vec<PathBuf>> {
        if state.layers.is_empty() {
            return Ok(Vec::new());
        }
        let img = state.image(self.layout)?;
        self.root.snapshots()?.ensure(self.layout, &img, self.jobs)
    }

    /// A read-only view of a state's file system; None for a state without layers.
    fn view(&self, state: &State) -> Result<Option<View>> {
        let dirs = self.snapshots(state)?;
        if dirs.is_empty() {
            return Ok(None);
        }
        let parent = self.root.dir().join("build").join("tmp");
        std::fs::create_dir_all(&parent).with_path("create directory", &parent)?;
        let tmp = tempfile::Builder::new()
            .prefix("view-")
            .tempdir_in(&parent)
            .with_path("create a directory in", &parent)?;
        let (upper, work, merged) = (
            tmp.path().join("u"),
            tmp.path().join("w"),
            tmp.path().join("m"),
        );
        run::leftover(tmp.path(), false, true);
        for d in [&upper, &work, &merged] {
            std::fs::create_dir(d).with_path("create directory", d)?;
        }
        let lower: Vec<String> = dirs
            .iter()
            .rev()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        mount_overlay_on(
            &Overlay {
                lower: &lower,
                upper: &upper,
                work: &work,
            },
            &merged,
            MountApi::PerLayer,
        )?;
        run::leftover(&merged, true, true);
        // Read-only from here on: nothing the build reads through it can change it.
        let _ = nix::mount::mount(
            None::<&str>,
            &merged,
            None::<&str>,
            nix::mount::MsFlags::MS_REMOUNT
                | nix::mount::MsFlags::MS_BIND
                | nix::mount::MsFlags::MS_RDONLY,
            None::<&str>,
        );
        Ok(Some(View {
            merged,
            mounted: true,
            _tmp: tmp,
        }))
    }

    /// The state a `--from` names: a stage (by name or index) or an image.
    fn state_named(&self, sx: &StageRun, r: &str, current: usize) -> Result<State> {
        let _ = sx;
        match stage_ref_checked(r, self.names, current)? {
            Some(k) => Ok((*self.wait_stage(k)?).clone()),
            None => self.image_state(r, None),
        }
    }

    fn workdir(&self, sx: &mut StageRun, ins: &Instruction, w: &str) -> Result<()> {
        let used = Mutex::new(BTreeMap::new());
        let w = self.expand_in(sx, w, &used)?;
        let args = used.into_inner().expect("no panics while locked");
        let base = sx
            .state
            .run_config()
            .working_dir
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".into());
        let dir = if w.starts_with('/') {
            crate::change::clean_path(&w)
        } else {
            crate::change::clean_path(&format!("{base}/{w}"))
        };
        let text = format!("WORKDIR {dir}");
        let inputs = self.inputs(sx, text.clone(), args, None, BTreeMap::new());
        let created_by = history::nop_string(&sx.state.shell(), &text);
        let clamp = self.opts.timestamp;
        let codec = self.opts.codec;
        self.commit_step(sx, Some(ins), &ins.original, inputs, &mut |parent, cfg| {
            cfg.run_config_mut().working_dir = Some(dir.clone());
            // As Docker's: the directory is made now (root's, 0755) when the image lacks it.
            let missing = self.missing_dirs(parent, &dir)?;
            if missing.is_empty() {
                return Ok((None, created_by.clone()));
            }
            let layer = dirs_layer(self.layout, &missing, clamp, codec)?;
            Ok((Some(layer), created_by.clone()))
        })
    }

    /// The components of `dir` (absolute) the state's file system lacks, top-down.
    fn missing_dirs(&self, state: &State, dir: &str) -> Result<Vec<String>> {
        let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        let view = self.view(state)?;
        let mut out = Vec::new();
        let dest = match &view {
            Some(v) => Some(Dest::open(v.path())?),
            None => None,
        };
        for i in 1..=parts.len() {
            let p = parts[..i].join("/");
            let exists = match &dest {
                Some(d) => d
                    .open_in(
                        Path::new(&p),
                        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY,
                    )
                    .is_ok(),
                None => false,
            };
            if !exists {
                out.push(p);
            }
        }
        Ok(out)
    }

    fn copy(&self, sx: &mut StageRun, ins: &Instruction, a: &Args) -> Result<()> {
        let add = matches!(ins.kind, Kind::Add(_));
        let used = Mutex::new(BTreeMap::new());
        let known: &[&str] = if add {
            &[
                "chown",
                "chmod",
                "link",
                "checksum",
                "exclude",
                "keep-git-dir",
                "unpack",
            ]
        } else {
            &["from", "chown", "chmod", "link", "parents", "exclude"]
        };
        for (n, _) in &ins.flags {
            if !known.contains(&n.as_str()) {
                return Err(Error::InvalidInput(format!("unknown flag: --{n}")));
            }
        }
        let flag = |n: &str| -> Result<Option<String>> {
            match ins.flag_values(n).last() {
                None => Ok(None),
                Some(None) => Ok(Some(String::new())),
                Some(Some(v)) => Ok(Some(self.expand_in(sx, v, &used)?)),
            }
        };
        let words: Vec<String> = {
            let lookup = self.lookup(sx, &used);
            match a {
                Args::Exec(v) => v
                    .iter()
                    .map(|w| expand(self.df(), w, &lookup))
                    .collect::<Result<_>>()?,
                Args::Shell(s) => dockerfile::expand_words(s, self.df().escape, &lookup)
                    .map_err(|e| Error::InvalidInput(format!("{s}: {e}")))?,
            }
        };
        if words.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "{} requires at least two arguments",
                ins.keyword
            )));
        }
        let (srcs, dest) = words.split_at(words.len() - 1);
        let mut sources = Vec::new();
        let mut heredocs = Vec::new();
        for s in srcs {
            match heredoc_of(ins, s) {
                Some(h) => {
                    let text = h.text();
                    let content = if h.expand {
                        self.expand_heredoc(sx, &text, &used)?
                    } else {
                        text
                    };
                    heredocs.push((h.name.clone(), content));
                }
                None => sources.push(s.clone()),
            }
        }
        let workdir = sx
            .state
            .run_config()
            .working_dir
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".into());
        let dest = absolute_dest(&workdir, &dest[0]);
        let link = ins.flag_values("link").next().is_some();
        let parents = ins.flag_values("parents").next().is_some();
        let exclude: Vec<String> = ins
            .flag_values("exclude")
            .flatten()
            .map(|v| self.expand_in(sx, v, &used))
            .collect::<Result<_>>()?;
        let chmod = match flag("chmod")? {
            None => None,
            Some(m) => Some(u32::from_str_radix(&m, 8).map_err(|_| {
                Error::InvalidInput(format!("invalid chmod parameter {m:?}: not an octal mode"))
            })?),
        };
        let chown_spec = flag("chown")?.filter(|c| !c.is_empty());
        let checksum = flag("checksum")?;
        let from = flag("from")?;
        let chown = match &chown_spec {
            None => None,
            Some(c) => Some(self.resolve_chown(&sx.state, c)?),
        };
        let op = CopyOp {
            add,
            sources,
            heredocs,
            dest: dest.clone(),
            chown,
            chmod,
            parents,
            exclude,
            link,
            checksum,
            mtime_clamp: self.opts.timestamp,
        };
        let current = self.names_index(sx);
        let source_state = match &from {
            Some(f) => Some(self.state_named(sx, f, current)?),
            None => None,
        };
        let instruction = expanded_instruction(ins, &words);
        let mut extra = BTreeMap::new();
        if let Some((u, g)) = chown {
            extra.insert("chown".into(), format!("{u}:{g}"));
        }
        for (n, c) in &op.heredocs {
            extra.insert(
                format!("heredoc:{n}"),
                Digest::sha256_of(c.as_bytes()).to_string(),
            );
        }
        let (sources_key, plan0) = match &source_state {
            Some(s) => (Some(s.id.to_string()), None),
            None => {
                if op.sources.is_empty() {
                    (None, None)
                } else {
                    let ctx = self.opts.context.ok_or_else(|| {
                        Error::InvalidInput(
                            "no build context: the Dockerfile came alone on stdin, so there is nothing to copy from".into(),
                        )
                    })?;
                    let p = copy::plan(&op, copy::From::Context(ctx), None)?;
                    (p.digest().map(|d| d.to_string()), Some(p))
                }
            }
        };
        if let (Some(p), Some(d)) = (&plan0, &sources_key) {
            self.save_listing(d, &p.listing());
        }
        let args = used.into_inner().expect("no panics while locked");
        let inputs = self.inputs(sx, instruction.clone(), args, sources_key, extra);
        let shell = sx.state.shell();
        let keyword = ins.keyword.clone();
        self.commit_step(sx, Some(ins), &ins.original, inputs, &mut |parent, _cfg| {
            let base = if op.link { None } else { self.view(parent)? };
            let source_view = match &source_state {
                Some(s) => Some(self.view(s)?),
                None => None,
            };
            let empty = tempfile::tempdir().map_err(|e| Error::stream("create a directory", e))?;
            let plan = match (&source_view, &plan0) {
                (Some(v), _) => {
                    let dir = v.as_ref().map(|v| v.path()).unwrap_or(empty.path());
                    copy::plan(&op, copy::From::Dir(dir), base.as_ref().map(|v| v.path()))?
                }
                (None, _) if op.sources.is_empty() => copy::plan(
                    &op,
                    copy::From::Dir(empty.path()),
                    base.as_ref().map(|v| v.path()),
                )?,
                (None, _) => {
                    let ctx = self.opts.context.expect("checked above");
                    copy::plan(
                        &op,
                        copy::From::Context(ctx),
                        base.as_ref().map(|v| v.path()),
                    )?
                }
            };
            let layer = plan.write_layer(self.layout, self.opts.codec)?;
            // Docker 20.10's line, its missing blank after --chown included.
            let line = match &chown_spec {
                Some(c) => format!(
                    "{keyword} --chown={c}{} in {} ",
                    plan.history_source(),
                    op.dest
                ),
                None => format!("{keyword} {} in {} ", plan.history_source(), op.dest),
            };
            let created_by = history::nop_string(&shell, &line);
            Ok((Some(layer), created_by))
        })
    }

    fn listing_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.dir().join("build").join("sources").join(hex)
    }

    /// Keeps the files a COPY's sources digest stands for (`path\trecord` lines), once per
    /// digest, so that `--explain` can say later which file differed. Best effort: a listing
    /// that cannot be written only makes the explanation shorter.
    fn save_listing(&self, digest: &str, listing: &[(String, String)]) {
        let path = self.listing_path(digest);
        if path.exists() {
            return;
        }
        let dir = path.parent().expect("in a directory").to_path_buf();
        let mut text = String::new();
        for (p, r) in listing {
            text.push_str(&p.replace(['\t', '\n'], " "));
            text.push('\t');
            text.push_str(r);
            text.push('\n');
        }
        if std::fs::create_dir_all(&dir).is_ok() {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x")
                .to_string();
            let _ = crate::store::atomic_write_private(&dir, &name, text.as_bytes());
        }
    }

    fn load_listing(&self, digest: &str) -> Option<BTreeMap<String, serde_json::Value>> {
        let text = std::fs::read_to_string(self.listing_path(digest)).ok()?;
        Some(
            text.lines()
                .filter_map(|l| l.split_once('\t'))
                .filter_map(|(p, r)| Some((p.to_string(), serde_json::from_str(r).ok()?)))
                .collect(),
        )
    }

    /// For a COPY/ADD whose sources changed: which files, against the last cached step with the
    /// same parent and instruction (`a.txt: mode 644 → 600`, `added b.txt`, `removed c`).
    fn explain_sources(&self, inputs: &KeyInputs) -> Option<String> {
        let new = inputs.sources.as_ref()?;
        let old = self
            .cache
            .list()
            .ok()?
            .into_iter()
            .filter(|r| {
                r.inputs.parent == inputs.parent
                    && r.inputs.instruction == inputs.instruction
                    && r.inputs.sources.as_ref().is_some_and(|s| s != new)
            })
            .max_by(|a, b| a.last_used.cmp(&b.last_used))?;
        let was = self.load_listing(old.inputs.sources.as_ref()?)?;
        let now = self.load_listing(new)?;
        let mut out = Vec::new();
        for (p, r) in &now {
            match was.get(p) {
                None => out.push(format!("added {p}")),
                Some(o) if o != r => {
                    let fields: Vec<String> = [
                        "type", "mode", "uid", "gid", "size", "link", "xattrs", "digest",
                    ]
                    .iter()
                    .filter(|f| o.get(**f) != r.get(**f))
                    .map(|f| match *f {
                        "mode" => format!(
                            "mode {:o} → {:o}",
                            o[*f].as_u64().unwrap_or(0),
                            r[*f].as_u64().unwrap_or(0)
                        ),
                        "digest" if r["type"] == "dir" => "contents".to_string(),
                        "digest" => "content".to_string(),
                        "xattrs" => "xattrs".to_string(),
                        f => format!("{f} {} → {}", o[f], r[f]),
                    })
                    .collect();
                    if !fields.is_empty() && r["type"] != "dir" {
                        out.push(format!("{p}: {}", fields.join(", ")));
                    }
                }
                Some(_) => {}
            }
        }
        for p in was.keys() {
            if !now.contains_key(p) {
                out.push(format!("removed {p}"));
            }
        }
        if out.is_empty() {
            return None;
        }
        let more = out.len().saturating_sub(5);
        out.truncate(5);
        let mut s = out.join("; ");
        if more > 0 {
            s.push_str(&format!("; and {more} more"));
        }
        Some(s)
    }

    /// The index of the stage `sx` is (for `--from=N`, which must name an earlier stage).
    fn names_index(&self, sx: &StageRun) -> usize {
        match self.names.get(&sx.name) {
            Some(&k) => k,
            None => sx.name.parse().unwrap_or(usize::MAX),
        }
    }

    fn expand_heredoc(
        &self,
        sx: &StageRun,
        text: &str,
        used: &Mutex<BTreeMap<String, String>>,
    ) -> Result<String> {
        // As BuildKit: the content is expanded as a whole, quotes kept.
        let lookup = self.lookup(sx, used);
        let mut out = String::new();
        for line in text.split_inclusive('\n') {
            let (body, nl) = match line.strip_suffix('\n') {
                Some(b) => (b, "\n"),
                None => (line, ""),
            };
            let escaped = body.replace('"', "\\\"").replace('\'', "\\'");
            let e = dockerfile::expand_with(&format!("\"{escaped}\""), self.df().escape, &lookup)
                .map_err(|e| Error::InvalidInput(format!("heredoc: {e}")))?;
            out.push_str(&e);
            out.push_str(nl);
        }
        Ok(out)
    }

    /// `--chown=USER[:GROUP]` as numbers, names looked up in the state's /etc/passwd and
    /// /etc/group (Docker's legacy builder: a lone user is also the group).
    fn resolve_chown(&self, state: &State, spec: &str) -> Result<(u32, u32)> {
        let (u, g) = match spec.split_once(':') {
            Some((u, g)) => (u, g),
            None => (spec, spec),
        };
        let numeric = |s: &str| s.parse::<u32>().ok();
        if let (Some(u), Some(g)) = (numeric(u), numeric(g)) {
            return Ok((u, g));
        }
        let dirs = self.snapshots(state)?;
        let passwd = crate::container::create::read_from_layers(&dirs, "etc/passwd");
        let group = crate::container::create::read_from_layers(&dirs, "etc/group");
        let find = |file: &str, name: &str| -> Option<u32> {
            file.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[0] == name)
                    .then(|| f[2].parse().ok())
                    .flatten()
            })
        };
        let uid = match numeric(u) {
            Some(n) => n,
            None => find(&passwd, u).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find uid for user {u}: no such user: {u}"
                ))
            })?,
        };
        let gid = match numeric(g) {
            Some(n) => n,
            None => find(&group, g).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unable to convert uid/gid chown string to host mapping: can't find gid for group {g}: no such group: {g}"
                ))
            })?,
        };
        Ok((uid, gid))
    }

    fn run(&self, sx: &mut StageRun, ins: &Instruction, a: &Args) -> Result<()> {
        for (n, _) in &ins.flags {
            if !["mount", "network", "security"].contains(&n.as_str()) {
                return Err(Error::InvalidInput(format!("unknown flag: --{n}")));
            }
        }
        let shell = sx.state.shell();
        let mut stdin = None;
        let argv: Vec<String> = match a {
            Args::Exec(v) => v.clone(),
            Args::Shell(s) if !ins.heredocs.is_empty() => {
                let h = &ins.heredocs[0];
                let only_heredoc = ins.heredocs.len() == 1 && is_heredoc_word(s.trim(), &h.name);
                if only_heredoc {
                    let content = h.text();
                    match content.strip_prefix("#!") {
                        // A script with its interpreter: run it, the script on stdin.
                        Some(rest) => {
                            let first = rest.lines().next().unwrap_or("");
                            let mut v: Vec<String> =
                                first.split_whitespace().map(str::to_string).collect();
                            v.push("/dev/stdin".into());
                            stdin = Some(content.clone().into_bytes());
                            v
                        }
                        None => {
                            let mut v = shell.clone();
                            v.push(content);
                            v
                        }
                    }
                } else {
                    // The shell reads the heredocs itself: the command with its bodies.
                    let mut text = s.clone();
                    for h in &ins.heredocs {
                        text.push('\n');
                        text.push_str(&h.content);
                        text.push_str(&h.name);
                    }
                    let mut v = shell.clone();
                    v.push(text);
                    v
                }
            }
            Args::Shell(s) => {
                let mut v = shell.clone();
                v.push(s.clone());
                v
            }
        };
        let config = sx.state.run_config();
        let env: Vec<String> = config.env.clone().flatten().unwrap_or_default();
        // The build args in the RUN's environment: those in scope with a value that no ENV
        // overrides (Docker's buildArgsWithoutConfigEnv), builtins too but only named in the
        // history when declared.
        let mut run_args: Vec<(String, String)> = Vec::new();
        let mut env_args: Vec<String> = Vec::new();
        let has_env = |k: &str| {
            env.iter()
                .any(|e| e.split_once('=').map(|(n, _)| n) == Some(k))
        };
        for (k, v) in &sx.args {
            if let Some(v) = v {
                if !has_env(k) {
                    run_args.push((k.clone(), v.clone()));
                    env_args.push(format!("{k}={v}"));
                }
            }
        }
        for b in BUILTIN_ARGS {
            if !sx.args.contains_key(*b) {
                if let Some(v) = self.opts.build_args.get(*b) {
                    env_args.push(format!("{b}={v}"));
                }
            }
        }
        run_args.sort();
        let network = match ins.flag_values("network").last().flatten() {
            None | Some("default") => self.opts.network.clone(),
            Some(n @ ("none" | "host")) => n.to_string(),
            Some(other) => {
                return Err(Error::InvalidInput(format!(
                    "invalid RUN --network {other:?}: must be default, none or host"
                )))
            }
        };
        let current = self.names_index(sx);
        // Mounts: parsed now (errors before anything runs), resolved now.
        let mut extra = BTreeMap::new();
        extra.insert("network".to_string(), network.clone());
        for (i, h) in ins.heredocs.iter().enumerate() {
            extra.insert(
                format!("heredoc:{i}"),
                Digest::sha256_of(h.content.as_bytes()).to_string(),
            );
        }
        let used = Mutex::new(BTreeMap::new());
        let mut specs = Vec::new();
        for m in ins.flag_values("mount") {
            let m = m.ok_or_else(|| Error::InvalidInput("--mount needs a value".into()))?;
            let m = self.expand_in(sx, m, &used)?;
            specs.push(run::parse_mount(&m)?);
        }
        let mut views: Vec<Option<View>> = Vec::new();
        let mut empties: Vec<tempfile::TempDir> = Vec::new();
        let mut mounts = Vec::new();
        let workdir0 = config
            .working_dir
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".into());
        let absolute = |t: &str| -> String {
            if t.starts_with('/') {
                crate::change::clean_path(t)
            } else {
                crate::change::clean_path(&format!("{workdir0}/{t}"))
            }
        };
        for (i, spec) in specs.iter().enumerate() {
            match spec.kind {
                MountType::Bind => {
                    let target = absolute(&spec.target);
                    let src = spec.source.clone();
                    let (root_dir, key) = if !spec.from.is_empty() {
                        let s = self.state_named(sx, &spec.from, current)?;
                        let id = s.id.to_string();
                        let v = self.view(&s)?;
                        let dir = match &v {
                            Some(v) => v.path().to_path_buf(),
                            None => {
                                let d = tempfile::tempdir()
                                    .map_err(|e| Error::stream("create a directory", e))?;
                                let p = d.path().to_path_buf();
                                empties.push(d);
                                p
                            }
                        };
                        views.push(v);
                        (dir, id)
                    } else {
                        let ctx = self.opts.context.ok_or_else(|| {
                            Error::InvalidInput("no build context to bind-mount".into())
                        })?;
                        // What the RUN sees of the context is in its key.
                        let op = CopyOp {
                            add: false,
                            sources: vec![if src.is_empty() {
                                ".".into()
                            } else {
                                src.clone()
                            }],
                            heredocs: Vec::new(),
                            dest: "/".into(),
                            chown: None,
                            chmod: None,
                            parents: false,
                            exclude: Vec::new(),
                            link: true,
                            checksum: None,
                            mtime_clamp: None,
                        };
                        let p = copy::plan(&op, copy::From::Context(ctx), None)?;
                        (
                            ctx.dir().to_path_buf(),
                            p.digest().map(|d| d.to_string()).unwrap_or_default(),
                        )
                    };
                    extra.insert(
                        format!("mount:{i}"),
                        format!("bind {target} {key} rw={}", !spec.readonly),
                    );
                    let source = resolve_in(&root_dir, &src)?;
                    mounts.push(Mount::Bind {
                        target,
                        source,
                        readwrite: !spec.readonly,
                    });
                }
                MountType::Cache => {
                    let target = absolute(&spec.target);
                    extra.insert(format!("mount:{i}"), format!("cache {target}"));
                    mounts.push(Mount::Cache {
                        id: spec.cache_id(),
                        target,
                        sharing: spec.sharing.unwrap_or(run::Sharing::Shared),
                        readonly: spec.readonly,
                        mode: spec.mode.unwrap_or(0o755),
                        uid: spec.uid.unwrap_or(0),
                        gid: spec.gid.unwrap_or(0),
                    });
                }
                MountType::Tmpfs => {
                    let target = absolute(&spec.target);
                    extra.insert(format!("mount:{i}"), format!("tmpfs {target}"));
                    mounts.push(Mount::Tmpfs {
                        target,
                        size: spec.size,
                    });
                }
                MountType::Secret => {
                    let id = spec.secret_id();
                    let target = absolute(&spec.secret_target());
                    // Never the content: a secret does not change the layer.
                    extra.insert(format!("mount:{i}"), format!("secret {id} {target}"));
                    match self.opts.secrets.get(&id) {
                        Some(src) => mounts.push(Mount::Secret {
                            target,
                            src: src.clone(),
                            mode: spec.mode.unwrap_or(0o400),
                            uid: spec.uid.unwrap_or(0),
                            gid: spec.gid.unwrap_or(0),
                        }),
                        None if spec.required => {
                            return Err(Error::InvalidInput(format!(
                                "secret {id}: not provided: pass it with --secret id={id},src=FILE"
                            )))
                        }
                        None => {}
                    }
                }
            }
        }
        let mut args: BTreeMap<String, String> = run_args.iter().cloned().collect();
        args.extend(used.into_inner().expect("no panics while locked"));
        let instruction = ins.original.clone();
        let inputs = self.inputs(sx, instruction.clone(), args, None, extra);
        let created_by = history::run(&run_args, &argv);
        let user = config.user.clone().unwrap_or_default();
        let workdir = config
            .working_dir
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".into());
        let mut full_env = env.clone();
        full_env.extend(env_args);
        let stage = sx.name.clone();
        let description = format!("{}:{} {}", self.name(), ins.line, ins.original);
        let mut mounts = Some(mounts);
        self.commit_step(sx, Some(ins), &ins.original, inputs, &mut |parent, _cfg| {
            let img = parent.image(self.layout)?;
            let mut out = StageOutput {
                events: self.events,
                stage: stage.clone(),
            };
            let r = run::run(RunOp {
                root: self.root,
                layout: self.layout,
                image: &img,
                argv: argv.clone(),
                env: full_env.clone(),
                user: user.clone(),
                workdir: workdir.clone(),
                network: network.clone(),
                mounts: mounts.take().unwrap_or_default(),
                stdin: stdin.clone(),
                output: &mut out,
                mtime_clamp: self.opts.timestamp,
                codec: self.opts.codec,
                keep_failed: !self.opts.force_rm,
                description: description.clone(),
            })?;
            Ok((r.layer, created_by.clone()))
        })?;
        drop(views);
        drop(empties);
        Ok(())
    }
}

/// The step number of `ins`: its place among the Dockerfile's instructions, 1-based.
fn plan_step(df: &Dockerfile, ins: &Instruction) -> usize {
    df.instructions
        .iter()
        .position(|i| i.line == ins.line && i.original == ins.original)
        .map(|p| p + 1)
        .unwrap_or(0)
}

/// The trigger of an `ONBUILD …` line, as Docker records it (the text after the keyword).
fn onbuild_text(original: &str) -> String {
    let t = original.trim_start();
    let rest = if t.len() >= 7 && t[..7].eq_ignore_ascii_case("ONBUILD") {
        &t[7..]
    } else {
        t
    };
    rest.trim().to_string()
}

/// The heredoc a COPY word (`<<EOF`, `<<-EOF`, `<<"EOF"`) stands for.
fn heredoc_of<'i>(ins: &'i Instruction, word: &str) -> Option<&'i dockerfile::Heredoc> {
    let w = word.strip_prefix("<<")?;
    let w = w.strip_prefix('-').unwrap_or(w);
    let w = w.trim_matches(|c| c == '"' || c == '\'');
    ins.heredocs.iter().find(|h| h.name == w)
}

fn is_heredoc_word(s: &str, name: &str) -> bool {
    let Some(w) = s.strip_prefix("<<") else {
        return false;
    };
    let w = w.strip_prefix('-').unwrap_or(w);
    w.trim_matches(|c| c == '"' || c == '\'') == name
}

/// COPY's dest made absolute against WORKDIR; a trailing `/` (or `.`) kept as "a directory".
fn absolute_dest(workdir: &str, dest: &str) -> String {
    let dir_like = dest.ends_with('/') || dest == "." || dest.ends_with("/.") || dest == "..";
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{workdir}/{dest}")
    };
    let mut clean = crate::change::clean_path(&joined);
    if dir_like && !clean.ends_with('/') {
        clean.push('/');
    }
    clean
}

/// The instruction with its words expanded, as the cache key and the step line show it.
fn expanded_instruction(ins: &Instruction, words: &[String]) -> String {
    let mut parts = vec![ins.keyword.clone()];
    for (n, v) in &ins.flags {
        parts.push(match v {
            Some(v) => format!("--{n}={v}"),
            None => format!("--{n}"),
        });
    }
    parts.extend(words.iter().cloned());
    parts.join(" ")
}

/// A path inside `root` (a bind mount's source), resolved without leaving it.
fn resolve_in(root: &Path, rel: &str) -> Result<PathBuf> {
    let dest = Dest::open(root)?;
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() || rel == "." {
        return Ok(root.to_path_buf());
    }
    let fd = dest
        .open_in(Path::new(rel), rustix::fs::OFlags::PATH)
        .map_err(|e| Error::io("open", root.join(rel), e))?;
    // The resolved path, as the kernel sees it (inside the root by RESOLVE_IN_ROOT).
    let p = std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .with_path("resolve", root.join(rel))?;
    Ok(p)
}

/// A layer holding directories `dirs` (relative, parents first), root's and 0755.
fn dirs_layer(
    layout: &Layout,
    dirs: &[String],
    clamp: Option<i64>,
    codec: Codec,
) -> Result<NewLayer> {
    let mtime = clamp.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let mut b = tar::Builder::new(Vec::new());
    for d in dirs {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(mtime.max(0) as u64);
        b.append_data(&mut h, format!("{d}/"), io::empty())
            .map_err(|e| Error::stream("write layer tar", e))?;
    }
    let data = b
        .into_inner()
        .map_err(|e| Error::stream("write layer tar", e))?;
    crate::layer::store_tar(layout, &data[..], "the WORKDIR layer", codec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_is_made_absolute_and_keeps_its_slash() {
        assert_eq!(absolute_dest("/", "."), "/");
        assert_eq!(absolute_dest("/app", "."), "/app/");
        assert_eq!(absolute_dest("/app", "x"), "/app/x");
        assert_eq!(absolute_dest("/app", "x/"), "/app/x/");
        assert_eq!(absolute_dest("/app", "/y"), "/y");
        assert_eq!(absolute_dest("/app", "../z"), "/z");
    }

    #[test]
    fn stage_names_follow_dockers_rule() {
        assert!(valid_stage_name("build-1"));
        assert!(valid_stage_name("a.b_c"));
        assert!(!valid_stage_name("1st"));
        assert!(!valid_stage_name("a/b"));
    }

    #[test]
    fn onbuild_trigger_text() {
        assert_eq!(onbuild_text("ONBUILD RUN echo hi"), "RUN echo hi");
        assert_eq!(onbuild_text("onbuild   COPY . /app"), "COPY . /app");
    }

    #[test]
    fn stage_refs() {
        let mut names = HashMap::new();
        names.insert("build".to_string(), 0);
        assert_eq!(stage_ref("build", &names, 2), Some(0));
        assert_eq!(stage_ref("BUILD", &names, 2), Some(0));
        assert_eq!(stage_ref("1", &names, 2), Some(1));
        assert_eq!(stage_ref("2", &names, 2), None);
        assert_eq!(stage_ref("busybox", &names, 2), None);
        names.insert("later".to_string(), 3);
        assert!(stage_ref_checked("later", &names, 2).is_err());
        assert!(stage_ref_checked("2", &names, 2).is_err());
        assert!(stage_ref_checked("7", &names, 2).is_err());
    }
}
