//! What every tool's `main` shares: the `--root`/`--layout` options, turning the outcome into a
//! message and an exit code (DESIGN.md §3), and reading `-` (the previous tool's JSON) from stdin.
//! The command-line side of berth, as youki's liboci-cli: the core library does not know clap;
//! its plain types that tools take as arguments get their clap form here.

pub mod step;

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use berth::error::{Error, Result};
use berth::root::Root;
use berth::store::Layout;

/// `--root`, which every tool takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RootArgs {
    /// berth's state directory [env: BERTH_ROOT] [default: /var/lib/berth as root,
    /// $XDG_DATA_HOME/berth otherwise]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
}

impl RootArgs {
    pub fn root(&self) -> Root {
        Root::open(or_env(&self.root, "BERTH_ROOT"))
    }
}

/// A path flag's value, or the environment variable's when the flag is not given. (Not clap's
/// `env`: clap counts a value from the environment as typed, and its usage lines then show the
/// flag as if it were required.)
pub fn or_env(flag: &Option<PathBuf>, var: &str) -> Option<PathBuf> {
    flag.clone().or_else(|| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// `--root` and `--layout`, which image tools take.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ImageArgs {
    #[command(flatten)]
    pub root: RootArgs,

    /// Use the OCI image layout in DIR instead of berth's image store
    #[arg(long, value_name = "DIR")]
    pub layout: Option<PathBuf>,
}

impl ImageArgs {
    /// The layout to read: `--layout DIR` must already be one; the store is created if new.
    pub fn layout(&self) -> Result<Layout> {
        match &self.layout {
            Some(dir) => Layout::open(dir),
            None => self.root.root().images(),
        }
    }

    /// The layout to write to, created if it does not exist yet.
    pub fn layout_for_write(&self) -> Result<Layout> {
        match &self.layout {
            Some(dir) => Layout::open_or_create(dir),
            None => self.root.root().images(),
        }
    }
}

/// How to reach registries: the flags every registry tool takes.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RegistryArgs {
    /// Verify TLS certificates; false also allows plain HTTP (loopback registries always may)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,

    /// Trust the CAs (*.crt) and use the client certificate (*.cert, *.key) in DIR
    /// [default: /etc/docker/certs.d/HOST when it exists]
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Credentials as USER[:PASSWORD] instead of those in the Docker config file
    #[arg(long, value_name = "USER[:PASSWORD]")]
    pub creds: Option<String>,

    /// Docker's config.json to read credentials from [env: REGISTRY_AUTH_FILE] [default:
    /// $DOCKER_CONFIG/config.json or ~/.docker/config.json]
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

impl RegistryArgs {
    /// `--authfile`, or `$REGISTRY_AUTH_FILE`.
    pub fn authfile(&self) -> Option<PathBuf> {
        or_env(&self.authfile, "REGISTRY_AUTH_FILE")
    }

    pub fn options(&self) -> Result<berth::registry::Options> {
        let credentials = match &self.creds {
            None => None,
            Some(c) => {
                let (u, p) = c
                    .split_once(':')
                    .ok_or_else(|| Error::Usage("--creds takes USER:PASSWORD".into()))?;
                Some(berth::registry::Credentials {
                    username: u.into(),
                    password: p.into(),
                })
            }
        };
        Ok(berth::registry::Options {
            tls_verify: Some(self.tls_verify),
            cert_dir: self.cert_dir.clone(),
            credentials,
            auth_file: self.authfile(),
            timeout: None,
        })
    }
}

/// `--progress`: berth::progress::Mode as an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, nothing otherwise
    Auto,
    /// One line per layer event
    Plain,
    /// Nothing
    Quiet,
}

impl From<ProgressMode> for berth::progress::Mode {
    fn from(m: ProgressMode) -> Self {
        match m {
            ProgressMode::Auto => Self::Auto,
            ProgressMode::Plain => Self::Plain,
            ProgressMode::Quiet => Self::Quiet,
        }
    }
}

/// `-q/--quiet` and `--progress`, shared by the tools that move blobs.
#[derive(Debug, Clone, clap::Args)]
pub struct ProgressArgs {
    /// Print no progress
    #[arg(short, long)]
    pub quiet: bool,

    /// Progress output on stderr
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

impl ProgressArgs {
    /// The reporter these flags ask for; `verb` is what is done to blobs ("Pull", "Push").
    pub fn reporter(&self, verb: &'static str) -> Box<dyn berth::registry::pull::Progress> {
        berth::progress::reporter(
            if self.quiet {
                berth::progress::Mode::Quiet
            } else {
                self.progress.into()
            },
            verb,
        )
    }
}

/// How a layer made here is compressed: berth::layer::Codec as an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Codec {
    /// gzip on every core (pigz-style independent members), as Docker and every registry read
    #[default]
    Gzip,
    /// zstd (smaller and faster to unpack; needs Docker 23+ or containerd 1.5+ to read)
    Zstd,
}

impl From<Codec> for berth::layer::Codec {
    fn from(c: Codec) -> Self {
        match c {
            Codec::Gzip => Self::Gzip,
            Codec::Zstd => Self::Zstd,
        }
    }
}

/// What a tool's usage errors (a command line clap rejects, or [`Error::Usage`]) exit with: 2,
/// or 125 for the tools that exit as `docker run` and `docker create` do, whose usage errors
/// are the Docker CLI's flag errors (125, which no container's own exit code is taken to be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageCode {
    /// 2, as most Unix tools.
    Two,
    /// 125, as `docker run` and `docker create`.
    Docker,
}

impl UsageCode {
    fn code(self) -> u8 {
        match self {
            UsageCode::Two => 2,
            UsageCode::Docker => 125,
        }
    }
}

/// Parses `args` as `C`, or prints the help or version (exit 0) or the usage error (exit
/// `usage`) and returns the exit code.
fn parse<C: Parser>(tool: &str, args: Vec<OsString>, usage: UsageCode) -> Result<C, ExitCode> {
    C::try_parse_from(args).map_err(|e| {
        use clap::error::ErrorKind::*;
        match e.kind() {
            DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                ExitCode::SUCCESS
            }
            _ => {
                eprint!("{tool}: {}", e.render());
                ExitCode::from(usage.code())
            }
        }
    })
}

/// Parses the command line, runs the tool and turns the outcome into an exit code: 0, 1 with
/// `TOOL: error: …` on stderr, or 2 for usage errors. A closed stdout is success, as `tool | head`
/// is not a failure. `args` are the command line, the tool's name first (its file name is what
/// usage messages show).
pub fn main<C: Parser>(
    tool: &str,
    args: Vec<OsString>,
    run: impl FnOnce(C) -> Result<()>,
) -> ExitCode {
    main_with(tool, args, UsageCode::Two, run)
}

/// As [`main`], for `ctr-create`: usage errors exit 125, as `docker create`'s (its other
/// failures exit 1, as Docker's).
pub fn main_docker<C: Parser>(
    tool: &str,
    args: Vec<OsString>,
    run: impl FnOnce(C) -> Result<()>,
) -> ExitCode {
    main_with(tool, args, UsageCode::Docker, run)
}

/// [`main`] with usage errors exiting `usage`.
pub fn main_with<C: Parser>(
    tool: &str,
    args: Vec<OsString>,
    usage: UsageCode,
    run: impl FnOnce(C) -> Result<()>,
) -> ExitCode {
    let cli = match parse(tool, args, usage) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{tool}: error: {e}");
            ExitCode::from(match e {
                Error::Usage(_) => usage.code(),
                e => e.exit_code(),
            })
        }
    }
}

/// As `main`, for tools that exit as `docker run` does: `run` returns the exit code (the
/// container's); a failure exits with its runtime code (125 the tool or runtime failed, 126 the
/// command cannot be executed, 127 it was not found), usage errors with 2.
pub fn main_code<C: Parser>(
    tool: &str,
    args: Vec<OsString>,
    run: impl FnOnce(C) -> Result<u8>,
) -> ExitCode {
    main_code_with(tool, args, UsageCode::Two, run)
}

/// As [`main_code`], for `ctr-run`: usage errors exit 125 too, as `docker run`'s, so that
/// every exit code but 125, 126 and 127 is the container's.
pub fn main_code_docker<C: Parser>(
    tool: &str,
    args: Vec<OsString>,
    run: impl FnOnce(C) -> Result<u8>,
) -> ExitCode {
    main_code_with(tool, args, UsageCode::Docker, run)
}

/// [`main_code`] with usage errors exiting `usage`.
pub fn main_code_with<C: Parser>(
    tool: &str,
    args: Vec<OsString>,
    usage: UsageCode,
    run: impl FnOnce(C) -> Result<u8>,
) -> ExitCode {
    let cli = match parse(tool, args, usage) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("{tool}: error: {e}");
            ExitCode::from(match e {
                Error::Usage(_) => usage.code(),
                e => e.run_exit_code(),
            })
        }
    }
}

/// Runs `f` on each name, going on after failures as Docker's multi-container commands do: every
/// failure but the last is printed here, the last is returned (and printed by `main`).
pub fn for_each(
    tool: &str,
    names: Vec<String>,
    mut f: impl FnMut(&str) -> Result<()>,
) -> Result<()> {
    let mut last: Option<Error> = None;
    for name in names {
        if let Err(e) = f(&name) {
            if let Some(prev) = last.replace(e) {
                eprintln!("{tool}: error: {prev}");
            }
        }
    }
    last.map_or(Ok(()), Err)
}

/// The end of a tool that went on past failures, as Docker's: every error but the last on
/// stderr, the last one returned (it sets the exit code).
pub fn all_errors(tool: &str, mut errors: Vec<Error>) -> Result<()> {
    let Some(last) = errors.pop() else {
        return Ok(());
    };
    for e in errors {
        eprintln!("{tool}: error: {e}");
    }
    Err(last)
}

/// Prints a warning on stderr in the tools' common form.
pub fn warn(tool: &str, msg: impl std::fmt::Display) {
    eprintln!("{tool}: warning: {msg}");
}

/// The image or container names in the JSON a previous tool printed: one object per line (or a
/// JSON array), taking from each the first of `ref`, `id`, `Id`, `ID`, `digest` that is a string.
pub fn names_from_json(text: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut values = Vec::new();
    for v in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        let v =
            v.map_err(|e| Error::InvalidInput(format!("reading '-' from stdin: not JSON: {e}")))?;
        match v {
            serde_json::Value::Array(a) => values.extend(a),
            v => values.push(v),
        }
    }
    for v in values {
        let name = ["ref", "id", "Id", "ID", "digest"]
            .iter()
            .find_map(|k| v.get(k).and_then(|s| s.as_str()).filter(|s| !s.is_empty()));
        match name {
            Some(n) => out.push(n.to_string()),
            None => {
                return Err(Error::InvalidInput(format!(
                    "reading '-' from stdin: {v} has no \"ref\", \"id\" or \"digest\""
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(Error::InvalidInput(
            "reading '-' from stdin: no JSON object was given".into(),
        ));
    }
    Ok(out)
}

/// Replaces each `-` among `args` with the names read from stdin (read once).
pub fn expand_stdin(args: Vec<String>) -> Result<Vec<String>> {
    if !args.iter().any(|a| a == "-") {
        return Ok(args);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Error::stream("read stdin", e))?;
    let names = names_from_json(&text)?;
    let mut out = Vec::new();
    for a in args {
        if a == "-" {
            out.extend(names.iter().cloned());
        } else {
            out.push(a);
        }
    }
    Ok(out)
}

/// One name from `arg`, reading stdin for `-`; several names there are an error.
pub fn one_name(arg: String) -> Result<String> {
    let mut names = expand_stdin(vec![arg])?;
    if names.len() != 1 {
        return Err(Error::Usage(format!(
            "expected one image or container on stdin, got {}",
            names.len()
        )));
    }
    Ok(names.remove(0))
}

/// The resource flags `ctr-create`/`ctr-run` and `ctr-update` share (as `docker run` and
/// `docker update` do), checked by [`berth::container::spec::ResourceArgs`].
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ResourceFlags {
    /// CPUs in which to allow execution: a list (0,1) or ranges (0-3) of the host's
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,

    /// Memory nodes (NUMA) in which to allow execution: a list (0,1) or ranges (0-3)
    #[arg(long, value_name = "MEMS")]
    pub cpuset_mems: Option<String>,

    /// Limit the CPU CFS (Completely Fair Scheduler) period, microseconds (1000 to 1000000)
    #[arg(long, value_name = "MICROSECONDS")]
    pub cpu_period: Option<i64>,

    /// Limit the CPU CFS quota: CPU time per period, microseconds (at least 1000; -1: none)
    #[arg(long, value_name = "MICROSECONDS", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,

    /// Memory soft limit: what the kernel reclaims down to under memory pressure (units b, k,
    /// m, g; at least 6m, at most --memory)
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,

    /// Block IO (relative weight), between 10 and 1000, or 0 to disable [default: 0]; dropped
    /// with a warning where the kernel has no block I/O weights
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
}

impl From<ResourceFlags> for berth::container::spec::ResourceArgs {
    fn from(f: ResourceFlags) -> Self {
        berth::container::spec::ResourceArgs {
            cpuset_cpus: f.cpuset_cpus,
            cpuset_mems: f.cpuset_mems,
            cpu_period: f.cpu_period,
            cpu_quota: f.cpu_quota,
            memory_reservation: f.memory_reservation,
            blkio_weight: f.blkio_weight,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_previous_tools() {
        let t = "{\"ref\":\"docker.io/library/a:1\",\"digest\":\"d\",\"id\":\"i\"}\n{\"ref\":null,\"id\":\"sha256:x\"}\n";
        assert_eq!(
            names_from_json(t).unwrap(),
            vec!["docker.io/library/a:1", "sha256:x"]
        );
        assert_eq!(
            names_from_json(r#"[{"Id":"a"},{"ID":"b"}]"#).unwrap(),
            vec!["a", "b"]
        );
        assert!(names_from_json("").is_err());
        assert!(names_from_json("nope").is_err());
        assert!(names_from_json(r#"{"x":1}"#).is_err());
    }
}
