//! berth-runtime: runc's command line on berth's runtime library, so that containerd's runc shim
//! (and so Kubernetes) runs containers with berth instead of runc. The contract it follows is
//! `../shared/runtime-cli/README.md` (containerd 1.6 driving runc 1.1): runc's global flags and
//! subcommands, the pid file in decimal with no newline, the init left alive and blocked after
//! `create` with no berth process behind, fds 0–2 passed through, the pty master sent over the
//! console socket, errors appended to `--log` as JSON lines and printed on stderr with runc's
//! words ("does not exist", "container not running") where the shim matches them.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use berth_runtime::{Runtime, State, Stdio};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use nix::sys::signal::Signal;
use oci_spec::runtime::{LinuxResources, Process};
use serde_json::json;

mod spec;

const AFTER: &str = "\
Examples (containerd):
  ctr run --rm --runc-binary /usr/local/bin/berth-runtime --rootfs /srv/bb --env PATH=/bin ID sh
  # CRI: a runtime handler whose options set BinaryName = \"/usr/local/bin/berth-runtime\"

Examples (by hand, as runc):
  berth-runtime create --bundle /srv/b --pid-file /srv/b/init.pid c1
  berth-runtime start c1; berth-runtime state c1
  berth-runtime kill c1 KILL; berth-runtime delete c1

Each command runs, does its work and exits: no process of berth's stays behind. create leaves the
container's init alive, in its namespaces and cgroup, blocked until start; its parent is then
whoever reaps orphans for the caller (containerd's shim is a child subreaper). Errors go to
stderr and, with --log, are appended to that file (--log-format json: one
{\"level\",\"msg\",\"time\"} line each, the last one naming the cause).";

/// Run OCI containers as runc does, for containerd's runc shim
#[derive(Parser, Debug)]
#[command(
    name = "berth-runtime",
    version,
    after_help = AFTER,
    disable_version_flag = true
)]
pub struct Cli {
    /// Where the containers' state is kept
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/run/berth-runtime",
        global = true
    )]
    pub root: PathBuf,

    /// Append errors (and, with --debug, what is done) to this file
    #[arg(long, value_name = "FILE", global = true)]
    pub log: Option<PathBuf>,

    /// The format of --log: text or json
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Take cgroupsPath as systemd's slice:prefix:name: the container's cgroup is the scope
    /// prefix-name.scope in that slice (berth makes it through cgroupfs, without systemd)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,

    /// Log what is done as well as errors
    #[arg(long, global = true)]
    pub debug: bool,

    /// The criu binary (accepted: berth has no checkpoint/restore)
    #[arg(long, value_name = "PATH", global = true)]
    pub criu: Option<String>,

    /// Rootless mode: true, false or auto (accepted; berth runs as root). Before the
    /// subcommand only, as runc: `spec --rootless` is spec's own flag
    #[arg(long, value_name = "BOOL")]
    pub rootless: Option<String>,

    /// Print the version (runc's shape: NAME version X, then the spec version)
    #[arg(short = 'v', long)]
    pub version: bool,

    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a container: its init alive and blocked until start
    Create(CreateArgs),
    /// Let a created container's init run its process
    Start { id: String },
    /// Create and start a container, and wait for it (or with --detach, leave it)
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Leave the container running and exit
        #[arg(short, long)]
        detach: bool,
    },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (a number or a name, TERM by default) to the init, or to every process
    Kill {
        /// Every process of the container (exits 0 even when it has stopped)
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "TERM", allow_hyphen_values = true)]
        signal: String,
    },
    /// Delete a stopped container (or any, with --force)
    Delete {
        /// Kill the container first if it runs; no error when it does not exist
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List the processes of a container
    Ps {
        /// json (a list of host pids) or table
        #[arg(short, long, default_value = "table")]
        format: String,
        id: String,
    },
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// Apply new resource limits (the spec's linux.resources as JSON)
    Update {
        /// A file of LinuxResources JSON, or - for stdin
        #[arg(short = 'r', long, value_name = "FILE")]
        resources: String,
        id: String,
    },
    /// List the containers
    List {
        /// table or json
        #[arg(short, long, default_value = "table")]
        format: String,
        /// Print only the IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a process in a running container
    Exec(ExecArgs),
    /// Print what this runtime supports, as runc features
    Features,
    /// Not supported: berth has no checkpoint/restore (runc's needs criu)
    #[command(disable_help_flag = true)]
    Checkpoint {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Not supported: berth has no checkpoint/restore (runc's needs criu)
    #[command(disable_help_flag = true)]
    Restore {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Write a starter config.json (runc's) into the bundle
    Spec {
        /// The bundle directory to write config.json into
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        bundle: PathBuf,
        /// A spec for a container run by an unprivileged user (a user namespace, no network
        /// namespace, no device rules)
        #[arg(long)]
        rootless: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The bundle directory (config.json and the root file system) [default: .]
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    pub bundle: PathBuf,
    /// Write the init's host pid here (decimal, no newline)
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket to send the pty master to (process.terminal)
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc's callers (berth always pivots)
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc's callers (berth makes no session keyring)
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many fds beyond stdio (3…2+N) to the init
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The process as the spec's process JSON
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Leave the process running and exit
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's host pid here (decimal, no newline)
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket to send the pty master to (with a terminal)
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Allocate a terminal (the inline form)
    #[arg(short, long)]
    pub tty: bool,
    /// The working directory (the inline form)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// An environment variable (the inline form)
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// UID[:GID] (the inline form)
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// An additional group of the process (the inline form; repeat for more)
    #[arg(short = 'g', long = "additional-gids", value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// A capability to add to the process's sets (the inline form; repeat for more)
    #[arg(short = 'c', long = "cap", value_name = "CAP")]
    pub caps: Vec<String>,
    /// Set no_new_privs for the process (the inline form)
    #[arg(long)]
    pub no_new_privs: bool,
    /// The AppArmor profile of the process (the inline form)
    #[arg(short = 'a', long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// The SELinux label of the process (the inline form)
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,
    /// Run the process even when the container is paused (it stays frozen until resumed)
    #[arg(long)]
    pub ignore_paused: bool,
    /// Pass this many fds beyond stdio to the process
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    pub id: String,
    /// The command and its arguments (the inline form)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// An error as the shim reads it: the message and the exit code.
#[derive(Debug)]
pub struct Failed {
    pub msg: String,
    pub code: u8,
}

impl From<berth_runtime::Error> for Failed {
    fn from(e: berth_runtime::Error) -> Failed {
        let msg = match &e {
            // runc's words, which containerd matches.
            berth_runtime::Error::NotFound(_) => "container does not exist".to_string(),
            berth_runtime::Error::State { why, .. } if why == "container not running" => {
                "container not running".to_string()
            }
            _ => e.to_string(),
        };
        Failed { msg, code: 1 }
    }
}

fn fail(msg: impl Into<String>) -> Failed {
    Failed {
        msg: msg.into(),
        code: 1,
    }
}

type Res<T> = std::result::Result<T, Failed>;

/// The entry point: parses as runc's CLI does (global flags before or after the subcommand),
/// runs, and reports an error on stderr and in --log.
pub fn main(_name: &str, args: Vec<OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("berth-runtime: {}", e.render());
            return ExitCode::from(2);
        }
    };
    let log = cli.log.clone();
    let format = cli.log_format;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if let Some(path) = &log {
                write_log(path, format, "error", &f.msg);
            }
            eprintln!("berth-runtime: error: {}", f.msg);
            ExitCode::from(f.code)
        }
    }
}

/// Appends one line to the --log file, as runc's logrus does.
fn write_log(path: &Path, format: LogFormat, level: &str, msg: &str) {
    let time = berth_runtime::now_rfc3339();
    let line = match format {
        LogFormat::Json => json!({"level": level, "msg": msg, "time": time}).to_string(),
        LogFormat::Text => format!("time={time:?} level={level} msg={msg:?}"),
    };
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}

pub fn run(cli: Cli) -> Res<u8> {
    if cli.version {
        println!(
            "berth-runtime version {}\nspec: 1.0.2-dev",
            env!("CARGO_PKG_VERSION")
        );
        return Ok(0);
    }
    let Some(cmd) = cli.cmd else {
        let _ = Cli::command().print_help();
        return Ok(2);
    };
    if matches!(cmd, Cmd::Create(_) | Cmd::Run { .. } | Cmd::Exec(_)) {
        // The process that enters the container runs from a sealed copy of this binary, so
        // that nothing inside can write the binary through /proc/PID/exe (CVE-2019-5736).
        berth::container::protect_binary().map_err(|e| fail(e.to_string()))?;
    }
    let mut rt = Runtime::new(&cli.root);
    rt.systemd_cgroup = cli.systemd_cgroup;
    match cmd {
        Cmd::Create(a) => create(&rt, &a).map(|_| 0),
        Cmd::Start { id } => rt.start(&id).map(|_| 0).map_err(Failed::from),
        Cmd::Run { create: a, detach } => {
            if !detach {
                berth_runtime::become_subreaper().map_err(Failed::from)?;
            }
            let pid = create(&rt, &a)?;
            rt.start(&a.id).map_err(Failed::from)?;
            if detach {
                return Ok(0);
            }
            let code = wait_for(pid);
            rt.delete(&a.id, true).map_err(Failed::from)?;
            Ok(code)
        }
        Cmd::State { id } => {
            let st = rt.state(&id).map_err(Failed::from)?;
            println!("{}", pretty(&state_json(&st)));
            Ok(0)
        }
        Cmd::Kill { all, id, signal } => {
            let sig = parse_signal(&signal)?;
            rt.kill_signo(&id, sig, all)
                .map(|_| 0)
                .map_err(Failed::from)
        }
        Cmd::Delete { force, id } => {
            if !force {
                let st = rt.state(&id).map_err(Failed::from)?;
                if st.status != "stopped" && st.status != "created" {
                    return Err(fail(format!(
                        "cannot delete container {id} that is not stopped: {}",
                        st.status
                    )));
                }
                if st.status == "created" {
                    // runc deletes a created container (its init killed) without --force.
                    return rt.delete(&id, true).map(|_| 0).map_err(Failed::from);
                }
            }
            rt.delete(&id, force).map(|_| 0).map_err(Failed::from)
        }
        Cmd::Ps { format, id } => ps(&rt, &id, &format),
        Cmd::Pause { id } => rt.pause(&id).map(|_| 0).map_err(Failed::from),
        Cmd::Resume { id } => rt.resume(&id).map(|_| 0).map_err(Failed::from),
        Cmd::Update { resources, id } => {
            // As runc: the container first ("does not exist"), then the resources.
            rt.state(&id).map_err(Failed::from)?;
            let mut text = String::new();
            if resources == "-" {
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| fail(format!("read the resources from stdin: {e}")))?;
            } else {
                text = fs::read_to_string(&resources)
                    .map_err(|e| fail(format!("read {resources}: {e}")))?;
            }
            let r: LinuxResources = serde_json::from_str(&text)
                .map_err(|e| fail(format!("the resources are not LinuxResources JSON: {e}")))?;
            rt.update(&id, &r).map(|_| 0).map_err(Failed::from)
        }
        Cmd::List { format, quiet } => list(&rt, &format, quiet),
        // As runc: any failure of exec is said as "exec failed: …" and exits 255, not 1 (an
        // exit code the process a non-detached exec waits for often has).
        Cmd::Exec(a) => exec(&rt, &a).map_err(|f| Failed {
            msg: format!("exec failed: {}", f.msg),
            code: 255,
        }),
        Cmd::Features => {
            println!("{}", pretty(&features()));
            Ok(0)
        }
        Cmd::Checkpoint { .. } | Cmd::Restore { .. } => Err(fail(
            "checkpoint and restore are not supported by berth-runtime: the container is left as it was",
        )),
        Cmd::Spec { bundle, rootless } => spec::write(&bundle, rootless).map(|_| 0).map_err(fail),
    }
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON values serialise")
}

/// `runc state`'s JSON.
fn state_json(st: &State) -> serde_json::Value {
    let rootfs = berth_runtime::load_spec(&st.bundle)
        .ok()
        .and_then(|s| s.root().as_ref().map(|r| r.path().clone()))
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                st.bundle.join(p)
            }
        })
        .unwrap_or_default();
    let mut v = json!({
        "ociVersion": "1.0.2-dev",
        "id": st.id,
        "pid": if st.status == "stopped" { 0 } else { st.pid },
        "status": st.status,
        "bundle": st.bundle,
        "rootfs": rootfs,
        "created": st.created,
        "owner": "",
    });
    if !st.annotations.is_empty() {
        v["annotations"] = json!(st.annotations);
    }
    v
}

/// A signal as runc takes it: `9`, `KILL` or `SIGKILL` (any case), TERM when empty; any
/// number goes to the kernel as it is (0, realtime signals; EINVAL for no signal).
fn parse_signal(s: &str) -> Res<i32> {
    if s.is_empty() {
        return Ok(Signal::SIGTERM as i32);
    }
    if let Ok(n) = s.parse::<i32>() {
        return Ok(n);
    }
    berth::container::lifecycle::parse_signal(s)
        .map(|sig| sig as i32)
        .map_err(|_| fail(format!("unknown signal {s:?}")))
}

/// Writes the pid file as runc does: decimal, no newline, renamed into place.
fn write_pid_file(path: &Path, pid: i32) -> Res<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    fs::write(&tmp, pid.to_string())
        .and_then(|_| fs::rename(&tmp, path))
        .map_err(|e| fail(format!("write the pid file {}: {e}", path.display())))
}

/// Sends the pty master over the console socket as runc does: one message, the name of the
/// master as payload and the fd as SCM_RIGHTS; no reply is read.
fn send_console(path: &Path, master: &OwnedFd) -> Res<()> {
    use nix::sys::socket::{connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags};
    use nix::sys::socket::{SockFlag, SockType, UnixAddr};
    let bad = |what: &str, e: nix::errno::Errno| {
        fail(format!("{what} the console socket {}: {e}", path.display()))
    };
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| bad("make", e))?;
    // Long paths (the shim's are under /tmp, but a caller's may not be): through /proc/self/fd.
    let dir = path.parent().unwrap_or(Path::new("/"));
    let d = fs::File::open(dir).map_err(|e| fail(format!("open {}: {e}", dir.display())))?;
    let short = format!(
        "/proc/self/fd/{}/{}",
        d.as_raw_fd(),
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    );
    let addr = UnixAddr::new(short.as_str()).map_err(|e| bad("name", e))?;
    connect(sock.as_raw_fd(), &addr).map_err(|e| bad("connect to", e))?;
    let fds = [master.as_raw_fd()];
    sendmsg::<UnixAddr>(
        sock.as_raw_fd(),
        &[std::io::IoSlice::new(b"/dev/ptmx")],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(|e| bad("send the pty master over", e))?;
    Ok(())
}

/// `--preserve-fds N` passes the caller's fds 3…2+N: each must be open (a closed one would
/// otherwise be taken by one of the runtime's own descriptors and leak into the container).
fn check_preserved_fds(n: u32) -> Res<()> {
    let last = 2u64 + u64::from(n);
    if last > i32::MAX as u64 {
        return Err(fail(format!("--preserve-fds {n}: too many descriptors")));
    }
    for fd in 3..=last as i32 {
        if nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err() {
            return Err(fail(format!(
                "--preserve-fds {n}: file descriptor {fd} is not open"
            )));
        }
    }
    Ok(())
}

/// `create`: the init alive and blocked, the pid file written, the pty master sent.
fn create(rt: &Runtime, a: &CreateArgs) -> Res<i32> {
    check_preserved_fds(a.preserve_fds)?;
    let spec = berth_runtime::load_spec(&a.bundle).map_err(Failed::from)?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && a.console_socket.is_none() {
        return Err(fail(
            "cannot allocate tty if runc will detach without setting console socket",
        ));
    }
    if !terminal && a.console_socket.is_some() {
        return Err(fail(
            "cannot use console socket if runc will not detach or allocate tty",
        ));
    }
    let created = rt
        .create(
            &a.id,
            &a.bundle,
            Stdio {
                fds: [None, None, None],
                terminal,
                preserve_fds: a.preserve_fds,
            },
        )
        .map_err(Failed::from)?;
    let undo = |f: Failed| {
        let _ = rt.delete(&a.id, true);
        f
    };
    if let (Some(sock), Some(master)) = (&a.console_socket, &created.console) {
        send_console(sock, master).map_err(undo)?;
    }
    if let Some(p) = &a.pid_file {
        write_pid_file(p, created.pid).map_err(undo)?;
    }
    Ok(created.pid)
}

/// `exec`: the process from --process (or the inline form on the container's own process),
/// run in the container; detached, the pid file written and gone; else waited for.
fn exec(rt: &Runtime, a: &ExecArgs) -> Res<u8> {
    check_preserved_fds(a.preserve_fds)?;
    // As runc: the container first ("does not exist"), then the process.
    let st = rt.state(&a.id).map_err(Failed::from)?;
    let spec = berth_runtime::load_spec(&st.bundle).map_err(Failed::from)?;
    let process: Process = match &a.process {
        Some(p) => {
            let text = fs::read_to_string(p)
                .map_err(|e| fail(format!("read the process {}: {e}", p.display())))?;
            let bad = |e: serde_json::Error| {
                fail(format!(
                    "the process {} is not a process JSON: {e}",
                    p.display()
                ))
            };
            let mut v: serde_json::Value = serde_json::from_str(&text).map_err(bad)?;
            if let Some(m) = v.as_object_mut() {
                // As runc: no user is root.
                m.entry("user")
                    .or_insert_with(|| json!({"uid": 0, "gid": 0}));
            }
            let mut process: Process = serde_json::from_value(v).map_err(bad)?;
            // As runc: what the process does not say of capabilities and no_new_privs is
            // the container's.
            if let Some(own) = spec.process() {
                if process.capabilities().is_none() {
                    process.set_capabilities(own.capabilities().clone());
                }
                if process.no_new_privileges().is_none() {
                    process.set_no_new_privileges(own.no_new_privileges());
                }
            }
            process
        }
        None => inline_process(&spec, a)?,
    };
    let terminal = process.terminal().unwrap_or(false);
    if terminal && a.console_socket.is_none() && a.detach {
        return Err(fail(
            "cannot allocate tty if runc will detach without setting console socket",
        ));
    }
    if !a.ignore_paused && st.status == "paused" {
        return Err(fail(
            "cannot exec in a paused container (use --ignore-paused to override)",
        ));
    }
    if !a.detach {
        berth_runtime::become_subreaper().map_err(Failed::from)?;
    }
    let created = rt
        .exec(
            &a.id,
            &process,
            Stdio {
                fds: [None, None, None],
                terminal,
                preserve_fds: a.preserve_fds,
            },
        )
        .map_err(Failed::from)?;
    if let (Some(sock), Some(master)) = (&a.console_socket, &created.console) {
        send_console(sock, master)?;
    }
    if let Some(p) = &a.pid_file {
        write_pid_file(p, created.pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    Ok(wait_for(created.pid))
}

/// runc's inline `exec ID CMD…`: the container's process (from its `spec`) with these args and
/// flags.
fn inline_process(spec: &oci_spec::runtime::Spec, a: &ExecArgs) -> Res<Process> {
    if a.command.is_empty() {
        return Err(fail("exec needs a command or --process"));
    }
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(PathBuf::from(cwd));
    }
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(a.env.iter().cloned());
        p.set_env(Some(env));
    }
    let mut user = p.user().clone();
    if let Some(u) = &a.user {
        // As runc: UID[:GID], the spec's gid when none is given.
        let bad = || fail(format!("invalid --user {u:?}: expected UID[:GID]"));
        let (uid, gid) = match u.split_once(':') {
            Some((uid, gid)) => (uid, Some(gid)),
            None => (u.as_str(), None),
        };
        user.set_uid(uid.parse().map_err(|_| bad())?);
        if let Some(gid) = gid {
            user.set_gid(gid.parse().map_err(|_| bad())?);
        }
    }
    if !a.additional_gids.is_empty() {
        user.set_additional_gids(Some(a.additional_gids.clone()));
    }
    p.set_user(user);
    if !a.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &a.caps {
            let cap: oci_spec::runtime::Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| fail(format!("unknown capability {name:?}")))?;
            let add = |set: &Option<oci_spec::runtime::Capabilities>| {
                let mut set = set.clone().unwrap_or_default();
                set.insert(cap);
                Some(set)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
            caps.set_ambient(add(caps.ambient()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if a.apparmor.is_some() {
        p.set_apparmor_profile(a.apparmor.clone());
    }
    if a.process_label.is_some() {
        p.set_selinux_label(a.process_label.clone());
    }
    Ok(p)
}

/// Waits for a process (a grandchild: we are its subreaper) and returns its exit code, 128+N
/// when a signal killed it.
fn wait_for(pid: i32) -> u8 {
    use nix::sys::wait::{waitpid, WaitStatus};
    loop {
        match waitpid(nix::unistd::Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return code as u8,
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                return 128u8.wrapping_add(sig as u8)
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return 255,
        }
    }
}

/// `ps`: json, a list of host pids (`null` when none, as runc); table, `ps -ef`'s lines of them.
fn ps(rt: &Runtime, id: &str, format: &str) -> Res<u8> {
    let pids = rt.ps(id).map_err(Failed::from)?;
    match format {
        "json" => {
            if pids.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::to_string(&pids).expect("serialises"));
            }
            Ok(0)
        }
        "table" => {
            let out = std::process::Command::new("ps")
                .arg("-ef")
                .output()
                .map_err(|e| fail(format!("run ps: {e}")))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            if let Some(h) = lines.next() {
                println!("{h}");
            }
            for l in lines {
                let pid = l.split_whitespace().nth(1).and_then(|p| p.parse().ok());
                if pid.is_some_and(|p: i32| pids.contains(&p)) {
                    println!("{l}");
                }
            }
            Ok(0)
        }
        f => Err(fail(format!("invalid format option {f:?}"))),
    }
}

/// `list`: the containers under --root.
fn list(rt: &Runtime, format: &str, quiet: bool) -> Res<u8> {
    let mut states = Vec::new();
    if let Ok(dir) = fs::read_dir(&rt.root) {
        for e in dir.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if let Ok(st) = rt.state(&id) {
                states.push(st);
            }
        }
    }
    states.sort_by(|a, b| a.id.cmp(&b.id));
    if quiet {
        for st in &states {
            println!("{}", st.id);
        }
        return Ok(0);
    }
    match format {
        "json" => {
            let v: Vec<_> = states.iter().map(state_json).collect();
            println!("{}", serde_json::to_string(&v).expect("serialises"));
        }
        "table" => {
            println!("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER");
            for st in &states {
                let pid = if st.status == "stopped" { 0 } else { st.pid };
                println!(
                    "{}\t{}\t{}\t{}\t{}\troot",
                    st.id,
                    pid,
                    st.status,
                    st.bundle.display(),
                    st.created
                );
            }
        }
        f => return Err(fail(format!("invalid format option {f:?}"))),
    }
    Ok(0)
}

/// `features` (containerd 2.x reads it): what the spec can ask of this runtime.
fn features() -> serde_json::Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
            "poststop"],
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
            "sync", "async", "remount", "bind", "rbind", "private", "rprivate", "shared",
            "rshared", "slave", "rslave", "relatime", "norelatime", "strictatime", "noatime"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": berth::container::spec::known_caps(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {"io.github.berth.runtime": "berth-runtime"},
    })
}
