//! ctr-start: start containers, as `docker container start`.

use berth::container::lifecycle::{self, Started, Streams};
use berth::output::print_json;
use berth::{Error, Result};
use berth_cli::{expand_stdin, RootArgs};
use clap::{CommandFactory, Parser};
use serde_json::json;

const AFTER: &str = "\
Examples:
  ctr-start web
  ctr-start -a 3f57d9401f8d            # attached: the container's output, then its exit code
  ctr-create busybox echo hi | ctr-start -a -

Each container gets a monitor process that outlives ctr-start: it keeps the container's output in
its log (ctr-logs), serves ctr-attach and records how it exited. Detached, prints
{\"id\",\"name\"} per container. Attached (-a, one container), stdout and stderr are the
container's and the exit code is its own; Ctrl-P Ctrl-Q (--detach-keys) detaches and leaves it
running. Exit codes: 125 when the container could not be started, 126 when its command cannot
be executed, 127 when it is not found.

At boot, `ctr-start --restart-policies` starts the containers whose restart policy asks for it
(always; unless-stopped, unless ctr-stop stopped it; on-failure after a failed run), as Docker's
daemon does when it starts; `make install` installs the systemd unit berth-restart.service that
runs it (enable it with `systemctl enable berth-restart`).";

/// Start one or more created or stopped containers
#[derive(Parser, Debug)]
#[command(name = "ctr-start", version, after_help = AFTER)]
pub struct Cli {
    /// Containers: names, IDs or unique ID prefixes; - reads the JSON a previous tool printed
    #[arg(
        value_name = "CONTAINER",
        required_unless_present = "restart_policies",
        conflicts_with = "restart_policies"
    )]
    pub containers: Vec<String>,

    /// Start every container whose restart policy asks for it after a reboot, as Docker's
    /// daemon does when it starts: `always`, `unless-stopped` unless stopped by hand,
    /// `on-failure` whose last run failed (the berth-restart systemd unit runs this at boot)
    #[arg(long)]
    pub restart_policies: bool,

    /// Attach stdout and stderr, and exit with the container's exit code
    #[arg(short, long)]
    pub attach: bool,

    /// Attach stdin too
    #[arg(short, long)]
    pub interactive: bool,

    /// The keys that detach from an attached container
    #[arg(long, value_name = "KEYS", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,

    /// Attached, proxy received signals to the container's process (without -t)
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        long_help = "Attached to a container made without -t, pass the signals ctr-start \
receives (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and the others a process can \
catch, but SIGCHLD, SIGPIPE, SIGURG and SIGWINCH) on to the container's main process, as \
docker start -a does (which has no flag for it); ctr-start exits with the container's exit code \
once it has ended. --sig-proxy=false: ctr-start dies of them and the container runs on."
    )]
    pub sig_proxy: bool,

    #[command(flatten)]
    pub root: RootArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

pub fn run(cli: Cli) -> Result<u8> {
    let root = cli.root.root();
    berth::container::liveness::reconcile(&root);
    if cli.restart_policies {
        let ids = lifecycle::restart_policy_candidates(&root)?
            .into_iter()
            .map(|c| c.id)
            .collect();
        return start_detached(&root, ids, &cli.detach_keys);
    }
    let names = expand_stdin(cli.containers)?;
    let attach = cli.attach || cli.interactive;
    if attach && names.len() > 1 {
        return Err(Error::Usage(
            "you cannot start and attach multiple containers at once".into(),
        ));
    }
    if attach {
        let store = berth::container::Containers::open(root.containers_dir())?;
        let tty = store.find(&names[0])?.config.tty.unwrap_or(false);
        let streams = Streams {
            stdin: cli.interactive,
            stdout: true,
            stderr: true,
            // As docker start -a: signals go to a container without a tty.
            sig_proxy: cli.sig_proxy && !tty,
        };
        return match lifecycle::start(&root, &names[0], Some(streams), &cli.detach_keys)? {
            Started::Exited(code) => Ok(code.clamp(0, 255) as u8),
            Started::Detached | Started::UserDetached => Ok(0),
        };
    }
    start_detached(&root, names, &cli.detach_keys)
}

/// Starts each container, printing {"id","name"} for each started; 1 if any failed.
fn start_detached(root: &berth::root::Root, names: Vec<String>, detach_keys: &str) -> Result<u8> {
    let store = berth::container::Containers::open(root.containers_dir())?;
    let mut failed = None;
    for name in &names {
        match lifecycle::start(root, name, None, detach_keys) {
            Ok(_) => {
                let c = store.find(name)?;
                print_json(&json!({"id": c.id, "name": c.name}))?;
            }
            Err(e) => {
                // Name the container once: most errors already do.
                let msg = e.to_string();
                if msg.contains(name.as_str()) {
                    eprintln!("ctr-start: error: {msg}");
                } else {
                    eprintln!("ctr-start: error: {name}: {msg}");
                }
                failed = Some(1);
            }
        }
    }
    Ok(failed.unwrap_or(0))
}
