//! img-build: an image from a Dockerfile, as `docker image build`, daemonless.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth::build::builder::{self, Events, Options, StepEvent};
use berth::build::context::Context;
use berth::build::dockerfile;
use berth::container::pull::PullPolicy;
use berth::image::Platform;
use berth::output::print_json;
use berth::reference::Reference;
use berth::{Error, Result};
use berth_cli::{Codec, RegistryArgs, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  img-build -t example/echo:latest .
  img-build -f Dockerfile-test --pull=true -t app:test .
  img-build --target build --build-arg VERSION=1.2 -q .
  SOURCE_DATE_EPOCH=0 img-build -t app:1 .     # reproducible: the same digest anywhere
  img-build - < Dockerfile                     # no context
  tar -C app -c . | img-build -t app -         # the context as a tar on stdin
  img-build --emit-make -o Makefile -t app . && make -j4   # the build as step tool calls

The context is read in place: nothing is copied or sent anywhere. .dockerignore (or
FILE.dockerignore beside the Dockerfile -f names) hides files from COPY and ADD, with Docker's
pattern rules. Every Dockerfile instruction and parser directive of Docker's reference works,
with BuildKit's additions (heredocs, COPY --chmod/--link/--parents/--exclude, ADD --checksum,
RUN --mount=type=cache|bind|tmpfs|secret, RUN --network). Only the stages the target needs are
built; stages that do not depend on each other run at the same time.

Each step is cached by a key: the parent image, the expanded instruction, the build args it
uses, the platform, and for COPY/ADD a digest of the files' paths, types, modes, owners, sizes,
link targets, xattrs and contents (never their mtimes): `touch` keeps the cache, chmod or an
edit does not. A stat cache makes a rebuild read only files whose inode, size or times changed.
--explain says, for each step that missed, what differed from the nearest cached step. The
cache lives in the store: `img-ls --build-cache` lists it, `img-prune --build-cache` prunes it.

With SOURCE_DATE_EPOCH (or --timestamp), every created time is that time and the mtimes in new
layers are clamped to it: two builds of the same inputs give the same manifest digest.

stdout: one JSON line per step {\"step\",\"stage\",\"instruction\",\"cached\",\"key\",\"layer\",
\"seconds\"}, then {\"ref\",\"digest\",\"id\"}; -q prints only the image ID. stderr: the steps and
what RUN prints, as Docker's builder shows them. A failed step exits 1 with Dockerfile:LINE and
the instruction in the error, tags nothing, and keeps the failed RUN's container (--force-rm:
not) with the command that opens it.";

/// Build an image from a Dockerfile
#[derive(Parser, Debug)]
#[command(name = "img-build", version, after_help = AFTER)]
pub struct Cli {
    /// The build context: a directory, or - to read a tar (or a lone Dockerfile) on stdin
    #[arg(value_name = "CONTEXT")]
    pub context: String,

    /// Name the image NAME[:TAG]; may be repeated
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,

    /// The Dockerfile (relative to the current directory), or - for stdin [default:
    /// CONTEXT/Dockerfile]
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<String>,

    /// Pull the images FROM names: always (--pull, --pull=true), missing (the default), never
    #[arg(long, value_name = "WHEN", num_args = 0..=1, require_equals = true,
        default_missing_value = "always")]
    pub pull: Option<String>,

    /// Build this stage (and what it needs) instead of the last
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,

    /// Set a build-time variable K=V (K alone: this process's value of K); may be repeated
    #[arg(long = "build-arg", value_name = "K[=V]")]
    pub build_args: Vec<String>,

    /// Do not use the cache: run every step
    #[arg(long)]
    pub no_cache: bool,

    /// Print only the image ID on stdout, and nothing on stderr but errors
    #[arg(short, long)]
    pub quiet: bool,

    /// Write the image ID to FILE
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,

    /// Set a label K=V on the image; may be repeated
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,

    /// The platform to build for (OS/ARCH[/VARIANT]): the base images' platform [default: this
    /// machine's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// The network RUN steps use: bridge (default), none or host
    #[arg(long, value_name = "MODE", default_value = "bridge")]
    pub network: String,

    /// A secret for RUN --mount=type=secret: id=ID,src=FILE (or env=VAR); may be repeated
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,

    /// How steps show on stderr: auto (plain lines; quiet with -q), plain, json (JSON lines)
    #[arg(long, value_name = "MODE", default_value = "auto",
        value_parser = ["auto", "plain", "json", "tty", "quiet"])]
    pub progress: String,

    /// For each step that is not cached, say which input differs from the nearest cached step
    #[arg(long)]
    pub explain: bool,

    /// The time (seconds since 1970) written as every created time, mtimes in new layers
    /// clamped to it [default: $SOURCE_DATE_EPOCH, else now]
    #[arg(long, value_name = "EPOCH")]
    pub timestamp: Option<i64>,

    /// Remove the container of a failed RUN too (by default it is kept to look into)
    #[arg(long)]
    pub force_rm: bool,

    /// Remove intermediate containers after a successful build (always done; accepted for
    /// Docker's command lines)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
        default_missing_value = "true", hide = true)]
    pub rm: Option<bool>,

    /// Compression of the new layers
    #[arg(long, value_enum, default_value_t = Codec::Gzip)]
    pub compression: Codec,

    /// Write the build as a Makefile of step tool calls (img-config, img-add, img-run) instead
    /// of building: one target per step, COPY sources as prerequisites (see "Building with make")
    #[arg(long, conflicts_with = "emit_sh")]
    pub emit_make: bool,

    /// Write the build as a shell script of step tool calls instead of building
    #[arg(long)]
    pub emit_sh: bool,

    /// With --emit-make/--emit-sh: write to FILE instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub registry: RegistryArgs,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// How the steps show on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Show {
    Quiet,
    Plain,
    Json,
}

struct Reporter {
    show: Show,
    stdout_steps: bool,
    explain: bool,
    /// Several stages may print at once: their lines carry the stage's name.
    lock: Mutex<()>,
}

impl Events for Reporter {
    fn started(&self, step: usize, total: usize, stage: &str, instruction: &str) {
        let _g = self.lock.lock().expect("no panics while locked");
        match self.show {
            Show::Plain => eprintln!("Step {step}/{total} [{stage}] : {instruction}"),
            Show::Json => eprintln!(
                "{}",
                json!({"event": "start", "step": step, "total": total, "stage": stage,
                       "instruction": instruction})
            ),
            Show::Quiet => {}
        }
    }

    fn finished(&self, ev: &StepEvent) {
        let _g = self.lock.lock().expect("no panics while locked");
        let mut v = json!({
            "step": ev.step,
            "stage": ev.stage,
            "instruction": ev.instruction,
            "cached": ev.cached,
            "key": ev.key.as_ref().map(|k| k.to_string()),
            "layer": ev.layer.as_ref().map(|l| l.to_string()),
            "seconds": (ev.seconds * 1000.0).round() / 1000.0,
        });
        if self.explain {
            v["explain"] = json!(ev.explain);
        }
        match self.show {
            Show::Plain => {
                let from = ev
                    .instruction
                    .get(..5)
                    .is_some_and(|w| w.eq_ignore_ascii_case("FROM "));
                if ev.cached && !from {
                    eprintln!(" ---> Using cache");
                }
                if let Some(why) = &ev.explain {
                    eprintln!(" ---> Not cached: {why}");
                }
                eprintln!(
                    " ---> {} [{}, step {}, {:.3}s]",
                    ev.key
                        .as_ref()
                        .map(|k| k.short().to_string())
                        .unwrap_or_default(),
                    ev.stage,
                    ev.step,
                    ev.seconds
                );
            }
            Show::Json => {
                let mut e = v.clone();
                e["event"] = json!("finish");
                eprintln!("{e}");
            }
            Show::Quiet => {}
        }
        if self.stdout_steps {
            let _ = print_json(&v);
        }
    }

    fn output(&self, stage: &str, data: &[u8]) {
        let _g = self.lock.lock().expect("no panics while locked");
        match self.show {
            Show::Plain => {
                let _ = std::io::stderr().write_all(data);
            }
            Show::Json => eprintln!(
                "{}",
                json!({"event": "output", "stage": stage,
                       "output": String::from_utf8_lossy(data)})
            ),
            Show::Quiet => {}
        }
    }

    fn note(&self, msg: &str) {
        if self.show != Show::Quiet {
            let _g = self.lock.lock().expect("no panics while locked");
            eprintln!("{msg}");
        }
    }
}

fn pull_policy(v: Option<&str>) -> Result<PullPolicy> {
    match v {
        None => Ok(PullPolicy::Missing),
        Some("true") | Some("always") => Ok(PullPolicy::Always),
        Some("false") | Some("missing") => Ok(PullPolicy::Missing),
        Some("never") => Ok(PullPolicy::Never),
        Some(other) => Err(Error::Usage(format!(
            "invalid --pull {other:?}: must be always, missing, never (or true, false)"
        ))),
    }
}

/// `--build-arg K=V`, or K alone from the environment (left out when unset, as Docker's).
fn build_args(list: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
        }
    }
    out
}

/// `--secret id=ID,src=FILE` (also `source=`, `type=file`, `env=VAR`).
fn secrets(list: &[String], tmp: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for s in list {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for part in s.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => {
                    return Err(Error::Usage(format!(
                        "invalid --secret {s:?}: expected id=ID,src=FILE or id=ID,env=VAR"
                    )))
                }
            }
        }
        let id = id
            .or_else(|| env.clone())
            .ok_or_else(|| Error::Usage(format!("invalid --secret {s:?}: no id=")))?;
        let path = match (src, env) {
            (Some(p), _) => {
                if !p.is_file() {
                    return Err(Error::InvalidInput(format!(
                        "secret {id}: {} is not a readable file",
                        p.display()
                    )));
                }
                std::fs::canonicalize(&p).map_err(|e| Error::io("resolve", &p, e))?
            }
            (None, env) => {
                // env=VAR, or (as BuildKit) the variable named as the id: copied to a private
                // file that only this build's secret mount reads.
                let var = env.unwrap_or_else(|| id.clone());
                let v = std::env::var(&var).map_err(|_| {
                    Error::InvalidInput(format!(
                        "secret {id}: give src=FILE, or env=VAR with VAR set (${var} is not)"
                    ))
                })?;
                let name = format!("secret-{}", out.len());
                berth::store::atomic_write_private(tmp, &name, v.as_bytes())?;
                tmp.join(name)
            }
        };
        out.insert(id, path);
    }
    Ok(out)
}

pub fn run(cli: Cli) -> Result<()> {
    let root = cli.root.root();
    let emitting = cli.emit_make || cli.emit_sh;
    if cli.output.is_some() && !emitting {
        return Err(Error::Usage(
            "-o/--output FILE goes with --emit-make or --emit-sh".into(),
        ));
    }
    if emitting && cli.context == "-" {
        return Err(Error::Usage(
            "--emit-make/--emit-sh need a context directory (the emitted calls read it in place), not -"
                .into(),
        ));
    }
    if !emitting && !nix::unistd::geteuid().is_root() {
        return Err(Error::InvalidInput(
            "img-build needs root (its RUN steps are containers, its layers snapshots)".into(),
        ));
    }
    let policy = pull_policy(cli.pull.as_deref())?;
    let tags: Vec<Reference> = cli
        .tags
        .iter()
        .map(|t| {
            Reference::parse_with_default_tag(t)
                .map_err(|e| Error::Usage(format!("invalid tag {t:?}: {e}")))
        })
        .collect::<Result<_>>()?;
    let platform = match &cli.platform {
        Some(p) => p.parse::<Platform>()?,
        None => Platform::host(),
    };
    if !["bridge", "none", "host", "default"].contains(&cli.network.as_str()) {
        return Err(Error::Usage(format!(
            "invalid --network {:?}: must be bridge, none or host",
            cli.network
        )));
    }
    let network = if cli.network == "default" {
        "bridge".to_string()
    } else {
        cli.network.clone()
    };
    let timestamp = match cli.timestamp {
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
    let build_tmp = root.dir().join("build").join("tmp");
    std::fs::create_dir_all(&build_tmp)
        .map_err(|e| Error::io("create directory", &build_tmp, e))?;
    let secrets_dir = tempfile::Builder::new()
        .prefix("secrets-")
        .tempdir_in(&build_tmp)
        .map_err(|e| Error::io("create a directory in", &build_tmp, e))?;
    berth::build::run::leftover(secrets_dir.path(), false, true);
    let secrets = secrets(&cli.secrets, secrets_dir.path())?;

    // The context and the Dockerfile.
    let stdin_used = cli.context == "-";
    let mut _stdin_input = None;
    let (context_dir, dockerfile_text, dockerfile_path): (
        Option<PathBuf>,
        String,
        Option<PathBuf>,
    ) = if stdin_used {
        if cli.file.as_deref() == Some("-") {
            return Err(Error::Usage(
                "CONTEXT - and -f - both read stdin: give one of them".into(),
            ));
        }
        let input = berth::build::source::from_stdin(std::io::stdin().lock(), &build_tmp)?;
        let r = match &input {
            berth::build::source::Input::Dockerfile(text) => (None, text.clone(), None),
            berth::build::source::Input::Context { dir, .. } => {
                // Read inside the context: a Dockerfile that is a symlink in the tar does not
                // lead out of it.
                let name = cli.file.clone().unwrap_or_else(|| "Dockerfile".into());
                let text = input.dockerfile(cli.file.as_deref())?;
                (Some(dir.clone()), text, Some(dir.join(&name)))
            }
        };
        _stdin_input = Some(input);
        r
    } else {
        let dir = PathBuf::from(&cli.context);
        let meta = std::fs::metadata(&dir).map_err(|e| {
            Error::InvalidInput(format!(
                "unable to prepare context: path {:?} not found: {e}",
                cli.context
            ))
        })?;
        if !meta.is_dir() {
            return Err(Error::InvalidInput(format!(
                "unable to prepare context: context must be a directory: {}",
                cli.context
            )));
        }
        let dir = std::fs::canonicalize(&dir).map_err(|e| Error::io("resolve", &dir, e))?;
        match cli.file.as_deref() {
            Some("-") => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| Error::stream("read the Dockerfile from stdin", e))?;
                (Some(dir), text, None)
            }
            Some(f) => {
                let p = std::path::absolute(f).map_err(|e| Error::io("resolve", f, e))?;
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    Error::InvalidInput(format!(
                        "unable to read the Dockerfile {}: {e}",
                        p.display()
                    ))
                })?;
                (Some(dir), text, Some(p))
            }
            None => {
                let p = dir.join("Dockerfile");
                let text = std::fs::read_to_string(&p).map_err(|e| {
                    Error::InvalidInput(format!(
                        "unable to read the Dockerfile {}: {e} (name another with -f)",
                        p.display()
                    ))
                })?;
                (Some(dir), text, Some(p))
            }
        }
    };
    let dockerfile_name = dockerfile_path
        .as_ref()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "Dockerfile".into());
    let df = dockerfile::parse(&dockerfile_text).map_err(|e| {
        Error::InvalidInput(
            // The parser says `Dockerfile:LINE`; name the file as the user knows it.
            e.to_string()
                .replacen("Dockerfile:", &format!("{dockerfile_name}:"), 1),
        )
    })?;
    let context = match &context_dir {
        None => None,
        Some(dir) => {
            let ignore = berth::dockerignore::load(dir, dockerfile_path.as_deref())?;
            Some(Context::open(
                dir,
                ignore,
                root.dir().join("build").join("stat-cache"),
            )?)
        }
    };

    let show = match (cli.quiet, cli.progress.as_str()) {
        (_, "json") => Show::Json,
        (true, _) | (_, "quiet") => Show::Quiet,
        _ => Show::Plain,
    };
    let reporter = Reporter {
        show,
        stdout_steps: !cli.quiet,
        explain: cli.explain,
        lock: Mutex::new(()),
    };
    let registry = cli.registry.options()?;
    let quiet = cli.quiet;
    let pull = |name: &str| -> Result<()> {
        let mode = if quiet {
            berth::progress::Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            berth::progress::Mode::Auto
        } else {
            berth::progress::Mode::Plain
        };
        let progress = berth::progress::reporter(mode, "Pull");
        berth::container::pull::ensure_image(
            &root,
            name,
            policy,
            &registry,
            progress.as_ref(),
            &|line: &str| {
                if !quiet {
                    eprintln!("{line}");
                }
            },
        )
    };
    let labels: Vec<(String, String)> = cli
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    if emitting {
        return emit(
            &cli,
            &df,
            dockerfile_name,
            context_dir.as_deref(),
            dockerfile_path.as_deref(),
            &pull,
            &platform,
            timestamp,
        );
    }
    let opts = Options {
        dockerfile: &df,
        dockerfile_name,
        context: context.as_ref(),
        tags,
        pull: &pull,
        target: cli.target.clone(),
        build_args: build_args(&cli.build_args),
        no_cache: cli.no_cache,
        labels,
        platform,
        network,
        secrets,
        explain: cli.explain,
        timestamp,
        force_rm: cli.force_rm,
        codec: cli.compression.into(),
        stage_args: BTreeMap::new(),
        cmd_set: false,
        run_triggers: true,
        index_untagged: true,
    };
    // Ctrl-C, SIGTERM, SIGHUP: the steps' containers go with the build.
    berth::build::run::exit_on_interrupt("img-build", &root)?;
    let built = match builder::build(&root, &opts, &reporter) {
        Ok(b) => b,
        // Interrupted: the signal's thread cleans up and exits with the signal's code.
        Err(_) if berth::build::run::aborting() => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        Err(e) => return Err(e),
    };
    if let Some(f) = &cli.iidfile {
        std::fs::write(f, built.id.to_string()).map_err(|e| Error::io("write", f, e))?;
    }
    if cli.quiet {
        println!("{}", built.id);
        return Ok(());
    }
    if show == Show::Plain {
        eprintln!("Successfully built {}", built.id.short());
        for t in &built.tags {
            eprintln!("Successfully tagged {}", t.familiar_string());
        }
    }
    print_json(&json!({
        "ref": built.tags.first().map(|t| t.to_string()),
        "tags": built.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
        "digest": built.manifest.digest().to_string(),
        "id": built.id.to_string(),
    }))
}

/// `--emit-make` / `--emit-sh`: the build as step tool calls, on stdout or in `-o FILE`.
#[allow(clippy::too_many_arguments)]
fn emit(
    cli: &Cli,
    df: &dockerfile::Dockerfile,
    dockerfile_name: String,
    context_dir: Option<&Path>,
    dockerfile_path: Option<&Path>,
    pull: &dyn Fn(&str) -> Result<()>,
    platform: &Platform,
    timestamp: Option<i64>,
) -> Result<()> {
    use berth::build::emit::{self, BaseInfo, EmitOptions, Format};
    let root = cli.root.root();
    let ignore = match context_dir {
        Some(dir) => Some(berth::dockerignore::load(dir, dockerfile_path)?),
        None => None,
    };
    // The base images' ENV and ONBUILD triggers: the build args' scope depends on them.
    let base_info = |name: &str, plat: Option<&str>| -> Result<Option<BaseInfo>> {
        pull(name)?;
        let layout = root.images()?;
        let (layout, catalog, idx) = berth::image::open_named(&layout, name)?;
        let p = match plat {
            Some(p) => p.parse::<Platform>()?,
            None => platform.clone(),
        };
        let img =
            berth::image::Image::load(&layout, &catalog.items[idx].entry.descriptor, Some(&p))?;
        let rc = img.config.run_config().cloned().unwrap_or_default();
        Ok(Some(BaseInfo {
            env: rc.env.flatten().unwrap_or_default(),
            on_build: rc.on_build.flatten().unwrap_or_default(),
        }))
    };
    // How the emitted file names the context: relative to where the file goes when it is at or
    // under that directory, else its absolute path.
    let out_dir = match &cli.output {
        Some(o) => std::path::absolute(o)
            .map_err(|e| Error::io("resolve", o, e))?
            .parent()
            .map(Path::to_path_buf),
        None => std::env::current_dir().ok(),
    };
    let out_dir = out_dir.and_then(|d| std::fs::canonicalize(d).ok());
    let context_name = context_dir.map(|dir| match &out_dir {
        Some(o) if dir == o => ".".to_string(),
        Some(o) => match dir.strip_prefix(o) {
            Ok(rel) => rel.to_string_lossy().into_owned(),
            Err(_) => dir.to_string_lossy().into_owned(),
        },
        None => dir.to_string_lossy().into_owned(),
    });
    let labels: Vec<(String, String)> = cli
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect();
    let platform_args = builder::platform_args(platform);
    let opts = EmitOptions {
        dockerfile: df,
        dockerfile_name,
        context: match (&context_name, context_dir) {
            (Some(n), Some(d)) => Some((n.as_str(), d)),
            _ => None,
        },
        ignore: ignore.as_ref(),
        target: cli.target.clone(),
        build_args: build_args(&cli.build_args),
        tags: cli.tags.clone(),
        labels,
        platform: cli.platform.clone(),
        network: (cli.network != "bridge" && cli.network != "default").then(|| cli.network.clone()),
        secrets: cli.secrets.clone(),
        // SOURCE_DATE_EPOCH is read by the step tools when the file runs; --timestamp is kept.
        timestamp: cli
            .timestamp
            .or(if std::env::var_os("SOURCE_DATE_EPOCH").is_some() {
                None
            } else {
                timestamp
            }),
        platform_args,
        base_info: &base_info,
    };
    let format = if cli.emit_make {
        Format::Make
    } else {
        Format::Sh
    };
    let text = emit::emit(&opts, format)?;
    match &cli.output {
        None => std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Error::stream("write stdout", e)),
        Some(o) => {
            std::fs::write(o, &text).map_err(|e| Error::io("write", o, e))?;
            if format == Format::Sh {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(o, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| Error::io("chmod", o, e))?;
            }
            Ok(())
        }
    }
}
