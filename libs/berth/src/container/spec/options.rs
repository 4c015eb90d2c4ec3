//! The options of a new container, as plain data: what ctr-create's and ctr-run's command
//! lines parse into (their clap structs live in the tools).

use std::path::PathBuf;

/// What `docker create`'s flags ask for (those berth knows), then IMAGE and the command: the
/// tools' command lines (ctr-create, ctr-run) convert to this. Each field is the flag of the same
/// name, as given (checked by [`super::Flags::parse`]).
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Assign a name to the container
    pub name: Option<String>,

    /// Set an environment variable (KEY alone takes this process's value of KEY)
    pub env: Vec<String>,

    /// Read environment variables from a file (KEY=VALUE lines, # comments)
    pub env_file: Vec<PathBuf>,

    /// Working directory inside the container
    pub workdir: Option<String>,

    /// Username or UID, and optionally group or GID
    pub user: Option<String>,

    /// Container host name [default: the first 12 digits of the ID]
    pub hostname: Option<String>,

    /// Overwrite the image's ENTRYPOINT (an empty string clears it; the image's CMD is dropped)
    pub entrypoint: Option<String>,

    /// Allocate a pseudo-TTY
    pub tty: bool,

    /// Keep STDIN open even if not attached
    pub interactive: bool,

    /// Automatically remove the container when it exits
    pub rm: bool,

    /// Restart policy: no, on-failure[:N], always, unless-stopped
    pub restart: String,

    /// Set metadata on the container
    pub labels: Vec<String>,

    /// Mount the container's root filesystem as read only
    pub read_only: bool,

    /// Add Linux capabilities (CHOWN or CAP_CHOWN, or ALL)
    pub cap_add: Vec<String>,

    /// Drop Linux capabilities (CHOWN or CAP_CHOWN, or ALL)
    pub cap_drop: Vec<String>,

    /// Additional groups to join (names of the image's /etc/group, or GIDs)
    pub group_add: Vec<String>,

    /// Give extended privileges: all capabilities, all devices, no seccomp, no masked paths
    pub privileged: bool,

    /// Security options: seccomp=FILE|unconfined, no-new-privileges[:true|false]
    /// (label= and apparmor= are accepted and ignored)
    pub security_opt: Vec<String>,

    /// Ulimit options: NAME=SOFT[:HARD] (nofile, nproc, core, memlock, stack, …)
    pub ulimit: Vec<String>,

    /// Signal to stop the container [default: SIGTERM]
    pub stop_signal: Option<String>,

    /// Seconds to wait before killing the container when stopping it [default: 10]
    pub stop_timeout: Option<i64>,

    /// Memory limit (units b, k, m, g)
    pub memory: Option<String>,

    /// Memory plus swap limit; -1 for unlimited swap [default: twice --memory]
    pub memory_swap: Option<String>,

    /// Number of CPUs (decimal)
    pub cpus: Option<String>,

    /// CPU shares (relative weight)
    pub cpu_shares: Option<u64>,

    /// Tune the container's pids limit (-1 or 0 for unlimited)
    pub pids_limit: Option<i64>,

    /// The OCI runtime: builtin, runc, crun, or the path of a runc-compatible binary
    pub runtime: String,

    /// Connect the container to a network: bridge (the default: berth0, NAT), a user-defined
    /// network's name or ID, none (only lo), host (the host's), or container:NAME|ID (another
    /// container's, which must be running when this one starts)
    pub network: String,

    /// Another name for the container on a user-defined network (resolves like its name)
    pub network_alias: Vec<String>,

    /// Publish a container's port on the host: [IP:][HOST_PORT[-END]:]CTR_PORT[-END][/tcp|udp];
    /// no host port: a free one is chosen
    pub publish: Vec<String>,

    /// Publish every exposed port (the image's EXPOSE and --expose) on a free host port
    pub publish_all: bool,

    /// Expose a port or a range of ports: PORT[-END][/tcp|udp]
    pub expose: Vec<String>,

    /// The container's IPv4 address on a user-defined network
    pub ip: Option<String>,

    /// The container's MAC address (e.g. 92:d0:c6:0a:29:33)
    pub mac_address: Option<String>,

    /// A custom DNS server (replaces the host's name servers in /etc/resolv.conf)
    pub dns: Vec<String>,

    /// A DNS search domain ("." for none)
    pub dns_search: Vec<String>,

    /// A DNS option (e.g. ndots:2)
    pub dns_option: Vec<String>,

    /// Add a line to /etc/hosts: NAME:IP (IP may be host-gateway: the network's gateway)
    pub add_host: Vec<String>,

    /// Bind mount a host directory or mount a volume: HOST:CTR[:ro], NAME:CTR[:ro], or CTR for
    /// an anonymous volume (a missing HOST directory is created)
    pub volume: Vec<String>,

    /// Attach a filesystem mount: type=bind|volume|tmpfs,source=…,target=…[,readonly]
    pub mount: Vec<String>,

    /// Mount a tmpfs directory: PATH[:OPTIONS] (size=64m,mode=1777,…)
    pub tmpfs: Vec<String>,

    /// The image: a reference, an image ID (or unique prefix), or - for the JSON a previous
    /// tool printed
    pub image: String,

    /// The command and its arguments (replacing the image's CMD)
    pub command: Vec<String>,

    // Namespaces, devices, sysctls, init (issue 18; checked in [`super::ns`]).
    /// Run an init (tini, as Docker's docker-init) as the container's process 1
    pub init: bool,

    /// Add a host device: HOST[:CONTAINER[:PERMISSIONS]] (a device node or a directory of them)
    pub device: Vec<String>,

    /// Add a rule to the devices cgroup: TYPE MAJOR:MINOR ACCESS (`c 1:3 mr`, `*` for any)
    pub device_cgroup_rule: Vec<String>,

    /// PID namespace: host or container:NAME|ID [default: the container's own]
    pub pid: Option<String>,

    /// IPC namespace: private, shareable, none, host or container:NAME|ID [default: private]
    pub ipc: Option<String>,

    /// UTS namespace: host [default: the container's own]
    pub uts: Option<String>,

    /// Cgroup namespace: host or private
    pub cgroupns: Option<String>,

    /// Size of /dev/shm [default: 64m]
    pub shm_size: Option<String>,

    /// Namespaced kernel parameters: KEY=VALUE
    pub sysctl: Vec<String>,

    /// Container NIS domain name
    pub domainname: Option<String>,

    /// User namespace: host (berth has no user namespace remapping)
    pub userns: Option<String>,

    /// Parent cgroup of the container's cgroup
    pub cgroup_parent: Option<String>,
    /// The logging driver: json-file (the default), local or none
    pub log_driver: Option<String>,

    /// A logging driver option: KEY=VALUE (max-size, max-file, compress; json-file also
    /// labels, labels-regex, env, env-regex, tag)
    pub log_opt: Vec<String>,
    /// `--cpuset-cpus`, `--cpuset-mems`, `--cpu-period`, `--cpu-quota`, `--memory-reservation`,
    /// `--memory-swappiness`, `--blkio-weight`, `--oom-kill-disable`, `--oom-score-adj`
    pub resources: super::ResourceArgs,

    /// Mount the volumes of other containers: NAME[:ro|rw]
    pub volumes_from: Vec<String>,

    /// Write the container's ID to this file (which must not exist)
    pub cidfile: Option<PathBuf>,

    /// The streams attached: stdin, stdout, stderr (none given: stdout and stderr)
    pub attach: Vec<String>,

    /// Whether the container is made to run detached (`ctr-run -d`): Docker's Config then
    /// attaches no stream
    pub detach: bool,

    /// The image's platform (os[/arch[/variant]])
    pub platform: Option<String>,

    /// Legacy links to other containers: NAME[:ALIAS]
    pub link: Vec<String>,

    /// Read labels from files (KEY=VALUE lines, # comments)
    pub label_file: Vec<PathBuf>,
    /// `--health-cmd`: the health check, run with /bin/sh -c in the container
    pub health_cmd: Option<String>,

    /// `--health-interval`, `--health-timeout`, `--health-start-period`: Go durations, as given
    pub health_interval: Option<String>,
    pub health_timeout: Option<String>,
    pub health_start_period: Option<String>,

    /// `--health-retries`: failures in a row that make the container unhealthy, as given
    pub health_retries: Option<String>,

    /// `--no-healthcheck`: disable the image's HEALTHCHECK
    pub no_healthcheck: bool,
}

impl Default for CreateOptions {
    fn default() -> CreateOptions {
        CreateOptions {
            name: None,
            env: Vec::new(),
            env_file: Vec::new(),
            workdir: None,
            user: None,
            hostname: None,
            entrypoint: None,
            tty: false,
            interactive: false,
            rm: false,
            restart: "no".into(),
            labels: Vec::new(),
            read_only: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            group_add: Vec::new(),
            privileged: false,
            security_opt: Vec::new(),
            ulimit: Vec::new(),
            stop_signal: None,
            stop_timeout: None,
            memory: None,
            memory_swap: None,
            cpus: None,
            cpu_shares: None,
            pids_limit: None,
            runtime: "builtin".into(),
            network: "bridge".into(),
            network_alias: Vec::new(),
            publish: Vec::new(),
            publish_all: false,
            expose: Vec::new(),
            ip: None,
            mac_address: None,
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_option: Vec::new(),
            add_host: Vec::new(),
            volume: Vec::new(),
            mount: Vec::new(),
            tmpfs: Vec::new(),
            image: String::new(),
            command: Vec::new(),
            init: false,
            device: Vec::new(),
            device_cgroup_rule: Vec::new(),
            pid: None,
            ipc: None,
            uts: None,
            cgroupns: None,
            shm_size: None,
            sysctl: Vec::new(),
            domainname: None,
            userns: None,
            cgroup_parent: None,
            log_driver: None,
            log_opt: Vec::new(),
            resources: super::ResourceArgs::default(),
            volumes_from: Vec::new(),
            cidfile: None,
            attach: Vec::new(),
            detach: false,
            platform: None,
            link: Vec::new(),
            label_file: Vec::new(),
            health_cmd: None,
            health_interval: None,
            health_timeout: None,
            health_start_period: None,
            health_retries: None,
            no_healthcheck: false,
        }
    }
}
