//! ctr-create's flags (shared with ctr-run, which depends on this crate): the clap side of
//! [`CreateOptions`], the library's plain options.

use std::path::PathBuf;

use berth::container::pull::PullPolicy;
use berth::container::spec::{CreateOptions, ResourceArgs};
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

    /// Restart policy when the container exits: no, on-failure[:MAX_RETRIES], always or
    /// unless-stopped (its monitor restarts it; ctr-stop ends the policy)
    #[arg(long, value_name = "POLICY", default_value = "no")]
    pub restart: String,

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

    /// Security options: seccomp=FILE|unconfined, no-new-privileges[:true|false],
    /// systempaths=unconfined (no masked or read-only /proc and /sys paths); label=… and
    /// apparmor=… are accepted and ignored (berth has no SELinux or AppArmor support)
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

    // Namespaces, devices, sysctls, init (issue 18).
    /// Run an init inside the container (tini, bind-mounted read-only at /sbin/docker-init, as
    /// Docker's docker-init) that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,

    /// Add a host device to the container: HOST[:CONTAINER[:PERMISSIONS]], a device node or a
    /// directory of them; PERMISSIONS of r (read), w (write), m (mknod) [default: rwm]
    #[arg(long = "device", value_name = "HOST[:CTR[:PERMS]]")]
    pub device: Vec<String>,

    /// Add a rule to the container's devices cgroup: TYPE MAJOR:MINOR ACCESS, TYPE a, b or c,
    /// `*` for any number (e.g. 'c 1:3 mr')
    #[arg(long = "device-cgroup-rule", value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,

    /// PID namespace to use: host, or container:NAME|ID (a running container's) [default: the
    /// container's own]
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,

    /// IPC namespace to use: private, shareable (others may join it), none (no /dev/shm),
    /// host, or container:NAME|ID (a running shareable container's) [default: private]
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,

    /// UTS namespace to use: host (the host's host name) [default: the container's own]
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,

    /// Cgroup namespace to use: host or private [default: private]
    #[arg(long, value_name = "MODE")]
    pub cgroupns: Option<String>,

    /// Size of /dev/shm (units b, k, m, g) [default: 64m]
    #[arg(long = "shm-size", value_name = "BYTES")]
    pub shm_size: Option<String>,

    /// Set a namespaced kernel parameter: KEY=VALUE, KEY one of kernel.msgmax, msgmnb, msgmni,
    /// sem, shmall, shmmax, shmmni, shm_rmid_forced, fs.mqueue.*, or net.* (with the
    /// container's own network)
    #[arg(long = "sysctl", value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,

    /// Container NIS domain name
    #[arg(long, value_name = "NAME")]
    pub domainname: Option<String>,

    /// User namespace to use: host (the only one: berth has no user namespace remapping)
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,

    /// Parent cgroup for the container: the container's cgroup is PARENT/ID
    /// [default: /berth]
    #[arg(long = "cgroup-parent", value_name = "PARENT")]
    pub cgroup_parent: Option<String>,
    /// The logging driver: json-file (the default: $ROOT/containers/ID/ID-json.log), local
    /// (a compact binary log, rotated at 20m, 5 files kept, gzipped) or none (no log; ctr-logs
    /// cannot show it)
    #[arg(long = "log-driver", value_name = "DRIVER")]
    pub log_driver: Option<String>,

    /// A logging driver option, KEY=VALUE: max-size (rotate at this size: 10m, 1g; decimal
    /// units), max-file (how many files to keep), compress (gzip the rotated ones); json-file
    /// also labels, labels-regex, env, env-regex (the labels and variables each line records)
    /// and tag (a template: {{.Name}}, {{.ID}}, {{.ImageName}})
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// --cpuset-cpus/-mems, --cpu-period/-quota, --memory-reservation, --blkio-weight
    #[command(flatten)]
    pub update_res: berth_cli::ResourceFlags,

    /// Tune the container's memory swappiness (0 to 100; -1: the kernel's)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub memory_swappiness: Option<i64>,

    /// Disable the OOM killer for the container (with --memory: its processes wait for memory
    /// rather than being killed)
    #[arg(long)]
    pub oom_kill_disable: bool,

    /// Tune the container's OOM preferences (-1000 to 1000): its init's /proc/PID/oom_score_adj
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub oom_score_adj: Option<i64>,

    /// Mount all the volumes and bind mounts of another container: NAME[:ro|rw] (ro makes them
    /// all read-only; rw, the default, keeps each one's mode)
    #[arg(long = "volumes-from", value_name = "CONTAINER[:MODE]")]
    pub volumes_from: Vec<String>,

    /// Write the container's ID to FILE (which must not exist; removed if the create fails)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,

    /// Attach to STDIN, STDOUT or STDERR (repeat for several; none given: stdout and stderr)
    #[arg(short = 'a', long = "attach", value_name = "STREAM")]
    pub attach: Vec<String>,

    /// Set the platform of the image (os[/arch[/variant]], e.g. linux/arm64): an image of another
    /// platform in the store is pulled for this one
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,

    /// Add a legacy link to another container: NAME[:ALIAS] (on the default bridge: its
    /// address in /etc/hosts and its ports and environment as ALIAS_* variables; on a
    /// user-defined network: ALIAS resolves to it)
    #[arg(long = "link", value_name = "CONTAINER[:ALIAS]")]
    pub link: Vec<String>,

    /// Read labels from a file (KEY=VALUE lines, # comments; --label overrides)
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
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
        let platform = match &self.platform {
            Some(p) => Some(platform(p)?),
            None => None,
        };
        berth::container::pull::ensure_image_for(
            root,
            &self.image,
            self.pull.into(),
            platform.as_ref(),
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

/// `--platform` as Docker's CLI checks it (a usage error), for the pull.
fn platform(p: &str) -> Result<berth::image::Platform> {
    let norm = berth::container::spec::run_flags::parse_platform(p)?;
    if norm.contains('/') {
        norm.parse()
    } else {
        // An OS alone: this machine's architecture.
        Ok(berth::image::Platform {
            os: norm,
            ..berth::image::Platform::host()
        })
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
            restart: a.restart,
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
            init: a.init,
            device: a.device,
            device_cgroup_rule: a.device_cgroup_rule,
            pid: a.pid,
            ipc: a.ipc,
            uts: a.uts,
            cgroupns: a.cgroupns,
            shm_size: a.shm_size,
            sysctl: a.sysctl,
            domainname: a.domainname,
            userns: a.userns,
            cgroup_parent: a.cgroup_parent,
            log_driver: a.log_driver,
            log_opt: a.log_opt,
            resources: ResourceArgs {
                memory_swappiness: a.memory_swappiness,
                oom_kill_disable: a.oom_kill_disable,
                oom_score_adj: a.oom_score_adj,
                ..a.update_res.into()
            },
            volumes_from: a.volumes_from,
            cidfile: a.cidfile,
            attach: a.attach,
            detach: false,
            platform: a.platform,
            link: a.link,
            label_file: a.label_file,
            health_cmd: a.health_cmd,
            health_interval: a.health_interval,
            health_timeout: a.health_timeout,
            health_start_period: a.health_start_period,
            health_retries: a.health_retries,
            no_healthcheck: a.no_healthcheck,
        }
    }
}
