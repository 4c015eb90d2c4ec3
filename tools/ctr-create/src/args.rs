//! ctr-create's flags (shared with ctr-run, which depends on this crate): the clap side of
//! [`CreateOptions`], the library's plain options.

use std::path::PathBuf;

use berth::container::pull::PullPolicy;
use berth::container::spec::CreateOptions;
use berth::progress::Mode;
use berth::root::Root;
use berth::Result;

/// `docker create`'s flags that berth knows, then IMAGE and the command.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Assign a name to the container
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Set an environment variable (KEY alone takes this process's value of KEY)
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,

    /// Read environment variables from a file (KEY=VALUE lines, # comments)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Working directory inside the container
    #[arg(short = 'w', long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Username or UID, and optionally group or GID
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// Container host name [default: the first 12 digits of the ID]
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,

    /// Overwrite the image's ENTRYPOINT (an empty string clears it; the image's CMD is dropped)
    #[arg(long, value_name = "COMMAND")]
    pub entrypoint: Option<String>,

    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,

    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,

    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,

    /// Set metadata on the container
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]")]
    pub labels: Vec<String>,

    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,

    /// Add Linux capabilities (CHOWN or CAP_CHOWN, or ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,

    /// Drop Linux capabilities (CHOWN or CAP_CHOWN, or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,

    /// Add the container's process to another group: a name of the image's /etc/group or a
    /// GID (besides the user's own groups, as Docker)
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,

    /// Give extended privileges: all capabilities, all devices, no seccomp, no masked paths
    #[arg(long)]
    pub privileged: bool,

    /// Security options: seccomp=FILE|unconfined, no-new-privileges[:true|false]
    /// (label= and apparmor= are accepted and ignored)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,

    /// Ulimit options: NAME=SOFT[:HARD] (nofile, nproc, core, memlock, stack, …)
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,

    /// Signal to stop the container [default: SIGTERM]
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,

    /// Seconds to wait before killing the container when stopping it [default: 10]
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub stop_timeout: Option<i64>,

    /// Memory limit (units b, k, m, g)
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,

    /// Memory plus swap limit; -1 for unlimited swap [default: twice --memory]
    #[arg(long, value_name = "BYTES", allow_negative_numbers = true)]
    pub memory_swap: Option<String>,

    /// Number of CPUs (decimal): from 0.01 to the number of CPUs there are
    #[arg(long, value_name = "DECIMAL", allow_negative_numbers = true)]
    pub cpus: Option<String>,

    /// CPU shares (relative weight)
    #[arg(short = 'c', long, value_name = "SHARES")]
    pub cpu_shares: Option<u64>,

    /// Tune the container's pids limit (-1 or 0 for unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,

    /// The OCI runtime: builtin, runc, crun, or the path of a runc-compatible binary
    #[arg(long, value_name = "RUNTIME", default_value = "builtin")]
    pub runtime: String,

    /// Connect the container to a network: bridge (the default: berth0, NAT), a user-defined
    /// network's name or ID, none (only lo), host (the host's), or container:NAME|ID (another
    /// container's, which must be running when this one starts)
    #[arg(long, alias = "net", value_name = "NETWORK", default_value = "bridge")]
    pub network: String,

    /// Another name for the container on a user-defined network (resolves like its name)
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,

    /// Publish a container's port on the host: [IP:][HOST_PORT[-END]:]CTR_PORT[-END][/tcp|udp];
    /// no host port: a free one is chosen
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    pub publish: Vec<String>,

    /// Publish every exposed port (the image's EXPOSE and --expose) on a free host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,

    /// Expose a port or a range of ports: PORT[-END][/tcp|udp]
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,

    /// The container's IPv4 address on a user-defined network
    #[arg(long, value_name = "IPV4")]
    pub ip: Option<String>,

    /// The container's MAC address (e.g. 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "MAC")]
    pub mac_address: Option<String>,

    /// A custom DNS server (replaces the host's name servers in /etc/resolv.conf)
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,

    /// A DNS search domain ("." for none)
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,

    /// A DNS option (e.g. ndots:2)
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "OPT")]
    pub dns_option: Vec<String>,

    /// Add a line to /etc/hosts: NAME:IP (IP may be host-gateway: the network's gateway)
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,

    /// Bind mount a host directory or mount a volume: HOST:CTR[:ro], NAME:CTR[:ro], or CTR for
    /// an anonymous volume (a missing HOST directory is created)
    #[arg(short = 'v', long = "volume", value_name = "[SRC:]DST[:MODE]")]
    pub volume: Vec<String>,

    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=…,target=…[,readonly]
    #[arg(long = "mount", value_name = "MOUNT")]
    pub mount: Vec<String>,

    /// Mount a tmpfs directory: PATH[:OPTIONS] (size=64m,mode=1777,…)
    #[arg(long = "tmpfs", value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,

    /// Pull the image before creating the container: missing (when the store does not have
    /// it), always, or never (an image not in the store is an error)
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = PullArg::Missing)]
    pub pull: PullArg,

    /// Print no pull progress
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// The image: a reference, an image ID (or unique prefix), or - for the JSON a previous
    /// tool printed
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// The command and its arguments (replacing the image's CMD)
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,

    /// Command to run to check health (run in the container with /bin/sh -c; exit 0 healthy,
    /// any other code a failure)
    #[arg(long = "health-cmd", value_name = "CMD", allow_hyphen_values = true)]
    pub health_cmd: Option<String>,

    /// Time between running the check (ms|s|m|h) [default: the image's HEALTHCHECK's, else 30s]
    #[arg(
        long = "health-interval",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_interval: Option<String>,

    /// Maximum time to allow one check to run (ms|s|m|h); a check that takes longer is killed
    /// and fails [default: the image's HEALTHCHECK's, else 30s]
    #[arg(
        long = "health-timeout",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_timeout: Option<String>,

    /// Start period for the container to initialize before failing checks count towards the
    /// retries (ms|s|m|h) [default: 0s]
    #[arg(
        long = "health-start-period",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub health_start_period: Option<String>,

    /// Consecutive failures needed to report unhealthy [default: 3]
    #[arg(long = "health-retries", value_name = "N", allow_hyphen_values = true)]
    pub health_retries: Option<String>,

    /// Disable any container-specified HEALTHCHECK (the image's)
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
}

/// `--pull`: berth::container::pull::PullPolicy as an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PullArg {
    /// Pull when the store does not have the image
    #[default]
    Missing,
    /// Always pull (a newer image in the registry replaces the tag)
    Always,
    /// Never pull: an image not in the store is an error
    Never,
}

impl From<PullArg> for PullPolicy {
    fn from(p: PullArg) -> PullPolicy {
        match p {
            PullArg::Missing => PullPolicy::Missing,
            PullArg::Always => PullPolicy::Always,
            PullArg::Never => PullPolicy::Never,
        }
    }
}

impl CreateArgs {
    /// Pulls the image as `--pull` asks, as `docker create` and `docker run` do: Docker's
    /// status lines and the layers' progress on stderr (bars on a terminal, lines otherwise),
    /// nothing with `-q`.
    pub fn pull_image(&self, root: &Root) -> Result<()> {
        use std::io::IsTerminal;
        let mode = if self.quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Auto
        } else {
            Mode::Plain
        };
        let reporter = berth::progress::reporter(mode, "Pull");
        let quiet = self.quiet;
        berth::container::pull::ensure_image(
            root,
            &self.image,
            self.pull.into(),
            &berth::registry::Options::default(),
            reporter.as_ref(),
            &|line: &str| {
                if !quiet {
                    eprintln!("{line}");
                }
            },
        )
    }
}

impl From<CreateArgs> for CreateOptions {
    fn from(a: CreateArgs) -> CreateOptions {
        CreateOptions {
            name: a.name,
            env: a.env,
            env_file: a.env_file,
            workdir: a.workdir,
            user: a.user,
            hostname: a.hostname,
            entrypoint: a.entrypoint,
            tty: a.tty,
            interactive: a.interactive,
            rm: a.rm,
            labels: a.labels,
            read_only: a.read_only,
            cap_add: a.cap_add,
            cap_drop: a.cap_drop,
            group_add: a.group_add,
            privileged: a.privileged,
            security_opt: a.security_opt,
            ulimit: a.ulimit,
            stop_signal: a.stop_signal,
            stop_timeout: a.stop_timeout,
            memory: a.memory,
            memory_swap: a.memory_swap,
            cpus: a.cpus,
            cpu_shares: a.cpu_shares,
            pids_limit: a.pids_limit,
            runtime: a.runtime,
            network: a.network,
            network_alias: a.network_alias,
            publish: a.publish,
            publish_all: a.publish_all,
            expose: a.expose,
            ip: a.ip,
            mac_address: a.mac_address,
            dns: a.dns,
            dns_search: a.dns_search,
            dns_option: a.dns_option,
            add_host: a.add_host,
            volume: a.volume,
            mount: a.mount,
            tmpfs: a.tmpfs,
            image: a.image,
            command: a.command,
            health_cmd: a.health_cmd,
            health_interval: a.health_interval,
            health_timeout: a.health_timeout,
            health_start_period: a.health_start_period,
            health_retries: a.health_retries,
            no_healthcheck: a.no_healthcheck,
        }
    }
}
