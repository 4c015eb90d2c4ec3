//! ctr-exec: run a command in a running container, as `docker container exec`.

use berth::container::exec::{self, ExecOptions};
use berth::{Error, Result};
use berth_cli::RootArgs;
use clap::{CommandFactory, Parser};

const AFTER: &str = "\
Examples:
  ctr-exec web cat /etc/hostname
  ctr-exec -it web sh
  ctr-exec -u nobody -w /tmp -e DEBUG=1 web id

The command joins the container's namespaces and cgroup and runs with its profile: the same
capabilities, seccomp filter, rlimits and no_new_privs, as its user unless -u, in its working
directory unless -w, with its environment plus -e. ctr-exec exits with the command's exit code;
126 when it cannot be executed, 127 when it is not found, 1 when the container is missing, not
running or paused (as docker exec), 125 when ctr-exec failed otherwise. -it needs a terminal on
stdin; each resize of the terminal resizes the command's.";

/// Execute a command in a running container
#[derive(Parser, Debug)]
#[command(name = "ctr-exec", version, after_help = AFTER)]
pub struct Cli {
    /// The container: a name, ID or unique ID prefix
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub cmd: Vec<String>,

    /// Run in the background
    #[arg(short, long)]
    pub detach: bool,

    /// Keep stdin open
    #[arg(short, long)]
    pub interactive: bool,

    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,

    /// Set environment variables (KEY=VALUE, or KEY to take this shell's value)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Read environment variables from a file (KEY=VALUE lines)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<std::path::PathBuf>,

    /// Username or UID, optionally with :group or :GID
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,

    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Give the command every capability
    #[arg(long)]
    pub privileged: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<u8> {
    let mut env = Vec::new();
    for f in &cli.env_file {
        env.extend(berth::container::spec::read_env_file(f)?);
    }
    env.extend(
        cli.env
            .iter()
            .filter_map(|e| berth::container::spec::expand_env(e)),
    );
    let opts = ExecOptions {
        cmd: cli.cmd,
        env,
        user: cli.user,
        workdir: cli.workdir,
        tty: cli.tty,
        interactive: cli.interactive,
        detach: cli.detach,
        privileged: cli.privileged,
    };
    let code = exec::exec(&cli.root.root(), &cli.container, &opts).map_err(|e| match e {
        // As docker exec: a container that is not there is the daemon's refusal, exit 1.
        Error::ContainerNotFound(_) | Error::AmbiguousContainerId { .. } => Error::Runtime {
            message: e.to_string(),
            code: 1,
        },
        e => e,
    })?;
    Ok(code.clamp(0, 255) as u8)
}
