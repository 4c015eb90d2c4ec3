//! `ctr-create`: a container from an image in the store and `docker create`'s flags. The
//! container's directory is made whole or not at all: any failure removes it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, OFlags};

use super::spec::{self, CreateOptions, Flags, Input};
use super::store::valid_name;
use super::{Containers, GraphDriver, State, Status};
use crate::container::Container;
use crate::error::{Error, IoContext, Result};
use crate::image::{self, Image};
use crate::root::Root;
use crate::store::Layout;
use crate::unpack::Dest;

/// Docker's `Created`/`StartedAt` for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Docker's hosts file for a container without a network of its own.
pub use berth_net::hosts::DEFAULT_HOSTS;

/// Makes a container: see the module docs. `warn` hears what is accepted but ignored.
pub fn create(root: &Root, args: &CreateOptions, warn: impl Fn(&str)) -> Result<Container> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::InvalidInput(
            "containers need root: run ctr-create as root (berth has no rootless containers yet)"
                .into(),
        ));
    }
    let mut flags = Flags::parse(args, &warn)?;
    flags.fit_swap_to(&spec::resources::Host::probe(), &warn);
    if let Some(n) = &args.name {
        check_name(n)?;
    }
    let store = root.images()?;
    let (layout, catalog, idx) = image::open_named(&store, &args.image)?;
    let img = catalog.items[idx]
        .image
        .as_ref()
        .expect("open_named checks the image");
    make(
        root,
        args,
        &flags,
        &FromImage {
            layout: &layout,
            image: img,
            extra_mounts: Vec::new(),
            durable: true,
        },
    )
}

/// The image a container is made from, resolved by the caller (the builder: a step's parent,
/// whose config and manifest are in the store as blobs, named by no `index.json` entry).
pub struct FromImage<'a> {
    pub layout: &'a Layout,
    pub image: &'a Image,
    /// Runtime mounts added after those of the options (the builder's `RUN --mount`s), their
    /// sources made by the caller.
    pub extra_mounts: Vec<oci_spec::runtime::Mount>,
    /// Whether the container's files (config.json, hostname, hosts, resolv.conf) are fsynced.
    /// A build step's container, gone once the step ends, needs not survive a power loss; its
    /// record (state.json) is still written durably.
    pub durable: bool,
}

/// Writes `dir/name` whole or not at all, fsynced when `durable` (as [`crate::store::atomic_write`]).
fn write_file(dir: &Path, name: &str, data: &[u8], mode: u32, durable: bool) -> Result<()> {
    let how = berth_fsutil::Atomic {
        mode,
        temp_prefix: &format!(".{name}.{}-", crate::store::Owner::me().token()),
        durable,
    };
    Ok(berth_fsutil::write_atomic(dir, name, data, &how)?)
}

/// Makes a container from `from` (`args.image` is only Docker's `Config.Image`: how the user
/// named it); see [`create`].
pub fn create_from(
    root: &Root,
    args: &CreateOptions,
    from: &FromImage,
    warn: impl Fn(&str),
) -> Result<Container> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::InvalidInput(
            "containers need root: run as root (berth has no rootless containers yet)".into(),
        ));
    }
    let mut flags = Flags::parse(args, &warn)?;
    flags.fit_swap_to(&spec::resources::Host::probe(), &warn);
    if let Some(n) = &args.name {
        check_name(n)?;
    }
    make(root, args, &flags, from)
}

fn make(root: &Root, args: &CreateOptions, flags: &Flags, from: &FromImage) -> Result<Container> {
    let (layout, img) = (from.layout, from.image);
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let layers = root.snapshots()?.ensure(layout, img, jobs)?;
    let passwd = read_from_layers(&layers, "etc/passwd");
    let group = read_from_layers(&layers, "etc/group");

    let containers = Containers::open(root.containers_dir())?;
    let _lock = containers.lock()?;
    let name = match &args.name {
        Some(n) => {
            if let Some(id) = containers.name_taken(n)? {
                return Err(name_conflict(n, &id));
            }
            n.clone()
        }
        None => random_name(&containers)?,
    };
    let (network_mode, mut network_settings) =
        super::orchestrate::network_at_create(root, &flags.net, &containers)?;
    let flags = &super::ns_share::at_create(flags, &containers)?;
    let links = super::links::at_create(&flags.links, &flags.net, &containers, &name)?;
    let others = volumes_from(&flags.volumes_from, &flags.mounts, &containers)?;
    let mut reqs = flags.mounts.clone();
    // An anonymous -v is one of Docker's Config.Volumes, which give way to mounts from
    // elsewhere.
    reqs.retain(|r| !(is_anonymous_v(r) && others.iter().any(|o| o.target == r.target)));
    reqs.extend(others);
    let id = containers.new_id()?;
    let dir = containers.path(&id);
    let image_config = img.run_config();
    let planned = super::orchestrate::plan_volumes(
        root,
        &reqs,
        image_config.volumes.as_ref().and_then(Option::as_ref),
    )?;
    let mut built = spec::build(
        args,
        flags,
        &Input {
            id: &id,
            dir: &dir,
            image_name: &args.image,
            image_config,
            passwd: &passwd,
            group: &group,
            mounts: &planned,
        },
    )?;
    if !from.extra_mounts.is_empty() {
        if let Some(list) = built.spec_json["mounts"].as_array_mut() {
            for m in &from.extra_mounts {
                list.push(serde_json::to_value(m).expect("a mount serialises"));
            }
        }
        let mut mounts = built.spec.mounts().clone().unwrap_or_default();
        mounts.extend(from.extra_mounts.iter().cloned());
        built.spec.set_mounts(Some(mounts));
    }

    let cidfile = match &args.cidfile {
        Some(p) => Some(CidFile::reserve(p)?),
        None => None,
    };
    if let Err(e) = fs::create_dir(&dir).with_path("create directory", &dir) {
        drop(cidfile);
        return Err(e);
    }
    let mut new_volumes = Vec::new();
    let made = (|| -> Result<Container> {
        new_volumes = super::orchestrate::prepare_volumes(root, &planned, &layers)?;
        for d in ["rootfs", "upper", "work"] {
            fs::create_dir(dir.join(d)).with_path("create directory", dir.join(d))?;
        }
        let write = |name: &str, data: &[u8]| write_file(&dir, name, data, 0o644, from.durable);
        write("hostname", format!("{}\n", built.hostname).as_bytes())?;
        let host = flags.network == "host";
        let hosts = if host {
            fs::read("/etc/hosts").unwrap_or_else(|_| DEFAULT_HOSTS.as_bytes().to_vec())
        } else {
            DEFAULT_HOSTS.as_bytes().to_vec()
        };
        let mut hosts = hosts;
        for h in &flags.net.extra_hosts {
            // `host-gateway` is known when the container starts on its network.
            if let Some((name, ip)) = h.split_once(':').filter(|(_, ip)| *ip != "host-gateway") {
                hosts.extend_from_slice(format!("{ip}\t{name}\n").as_bytes());
            }
        }
        write("hosts", &hosts)?;
        let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let resolv = if host && !host_resolv.is_empty() && flags.net.dns.is_empty() {
            host_resolv
        } else {
            berth_net::hosts::resolv_conf(
                &host_resolv,
                &flags.net.dns,
                &flags.net.dns_search,
                &flags.net.dns_options,
            )
        };
        write("resolv.conf", resolv.as_bytes())?;
        // json-file's log is made now, as Docker's `LogPath`; local's and none's have none.
        let log = if flags.log_config.kind == "json-file" {
            let log = dir.join(format!("{id}-json.log"));
            crate::container::logs::create_log(&log)?;
            log
        } else {
            PathBuf::new()
        };
        let config = serde_json::to_vec_pretty(&built.spec_json).expect("JSON serialises");
        // The spec holds the environment (`-e DB_PASSWORD=…`): the owner's only, as Docker's.
        write_file(&dir, "config.json", &config, 0o600, from.durable)?;

        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        let c = Container {
            id: id.clone(),
            name: name.clone(),
            created: image::now_rfc3339(),
            path: built.path.clone(),
            args: built.args.clone(),
            state: State {
                status: Status::Created,
                started_at: ZERO_TIME.into(),
                finished_at: ZERO_TIME.into(),
                ..Default::default()
            },
            image: img.id().to_string(),
            config: built.config.clone(),
            host_config: super::HostConfig {
                network_mode: network_mode.clone(),
                links: links.host_config.clone(),
                ..built.host_config.clone()
            },
            mounts: planned.iter().filter_map(|p| p.record()).collect(),
            log_path: s(log),
            hostname_path: s(dir.join("hostname")),
            hosts_path: s(dir.join("hosts")),
            resolv_conf_path: s(dir.join("resolv.conf")),
            restart_count: 0,
            driver: super::rootfs::default_driver()?,
            graph_driver: GraphDriver {
                name: super::rootfs::default_driver()?,
                lower: layers.iter().rev().map(|p| s(p.clone())).collect(),
                upper: s(dir.join("upper")),
                work: s(dir.join("work")),
                merged: s(dir.join("rootfs")),
            },
            runtime: flags.runtime.clone(),
            network_settings: Some({
                links.endpoint(&mut network_settings);
                network_settings.clone()
            }),
        };
        containers.save(&c)?;
        if let Some(f) = &cidfile {
            f.write(&id)?;
        }
        Ok(c)
    })();
    match (&made, cidfile) {
        (Err(_), Some(f)) => drop(f),
        (Ok(_), Some(f)) => f.keep(),
        _ => {}
    }
    if made.is_err() {
        let _ = fs::remove_dir_all(&dir);
        super::orchestrate::forget_volumes(root, &new_volumes);
    }
    made
}

/// `--cidfile`: made (empty) before the container, as Docker's CLI does, so that a file in the
/// way stops the create before anything is made; the ID written once the container is saved;
/// removed when the create fails (on drop, unless kept).
struct CidFile {
    path: PathBuf,
    kept: std::cell::Cell<bool>,
}

impl CidFile {
    fn reserve(path: &Path) -> Result<CidFile> {
        let found = || {
            Error::InvalidInput(format!(
                "container ID file found, make sure the other container isn't running or \
                 delete {}",
                path.display()
            ))
        };
        if path.symlink_metadata().is_ok() {
            return Err(found());
        }
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(_) => Ok(CidFile {
                path: path.to_path_buf(),
                kept: std::cell::Cell::new(false),
            }),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(found()),
            Err(e) => Err(Error::InvalidInput(format!(
                "failed to create the container ID file: {e}"
            ))),
        }
    }

    fn write(&self, id: &str) -> Result<()> {
        fs::write(&self.path, id).with_path("write the container ID file", &self.path)
    }

    fn keep(self) {
        self.kept.set(true);
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if !self.kept.get() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// `-v /path`: an anonymous volume asked for with -v (not --mount).
fn is_anonymous_v(r: &crate::volume::Request) -> bool {
    matches!(r.origin, crate::volume::Origin::Volume(_)) && r.source.is_empty()
}

/// `--volumes-from`: the mounts of each container named (binds and volumes, at the same
/// targets), read-only where it has them so or `:ro` asks (moby `registerMountPoints`: `rw`
/// cannot make a read-only mount writable). The user's binds and --mounts win at the same
/// target, and a volume is not filled from this image.
fn volumes_from(
    from: &[(String, bool)],
    own: &[crate::volume::Request],
    containers: &Containers,
) -> Result<Vec<crate::volume::Request>> {
    use crate::volume::{Kind, Origin, Request};
    let mut out: Vec<Request> = Vec::new();
    for (name, rw) in from {
        let c = containers.find(name).map_err(|e| match e {
            Error::ContainerNotFound(_) => {
                Error::InvalidInput(format!("No such container: {name}"))
            }
            e => e,
        })?;
        for m in &c.mounts {
            let kind = match m.kind.as_str() {
                "bind" => Kind::Bind,
                "volume" => Kind::Volume,
                _ => continue,
            };
            // moby `registerMountPoints`: binds (-v SRC:DST) and --mount win at their target.
            if own
                .iter()
                .any(|r| r.target == m.destination && !is_anonymous_v(r))
            {
                continue;
            }
            out.retain(|r| r.target != m.destination);
            out.push(Request {
                kind,
                source: match kind {
                    Kind::Volume => m.name.clone(),
                    _ => m.source.clone(),
                },
                target: m.destination.clone(),
                readonly: !(m.rw && *rw),
                // As Docker records them: the mode is not carried over.
                mode: String::new(),
                nocopy: true,
                tmpfs_opts: Vec::new(),
                origin: Origin::Image,
            });
        }
    }
    Ok(out)
}

/// Docker's rule and message for container names.
pub fn check_name(name: &str) -> Result<()> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    if valid_name(bare) {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// Docker's message for a name in use.
pub fn name_conflict(name: &str, id: &str) -> Error {
    Error::NameInUse {
        name: name.strip_prefix('/').unwrap_or(name).to_string(),
        id: id.to_string(),
    }
}

enum Lookup {
    Found(String),
    Hidden,
    Absent,
}

/// A file of the image's root filesystem (`etc/passwd`), read from the topmost snapshot that has
/// it, inside that snapshot (`openat2(RESOLVE_IN_ROOT)`). A whiteout (a 0/0 character device) or
/// an opaque directory above hides the lower layers' file. Empty when the image has none.
pub fn read_from_layers(layers: &[PathBuf], rel: &str) -> String {
    for dir in layers.iter().rev() {
        match lookup(dir, rel) {
            Lookup::Found(t) => return t,
            Lookup::Hidden => return String::new(),
            Lookup::Absent => {}
        }
    }
    String::new()
}

fn lookup(dir: &Path, rel: &str) -> Lookup {
    let Ok(dest) = Dest::open(dir) else {
        return Lookup::Absent;
    };
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    for i in 1..=parts.len() {
        let prefix = parts[..i].join("/");
        let fd = match dest.open_in(Path::new(&prefix), OFlags::PATH | OFlags::NOFOLLOW) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Missing here: an opaque parent hides the lower layers' entry.
                if i > 1 && is_opaque(&dir.join(parts[..i - 1].join("/"))) {
                    return Lookup::Hidden;
                }
                return Lookup::Absent;
            }
            Err(_) => return Lookup::Absent,
        };
        let Ok(st) = rustix::fs::fstat(&fd) else {
            return Lookup::Absent;
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0 {
            return Lookup::Hidden;
        }
    }
    // The entry is here: what it leads to (a symlink may dangle) is all the container sees.
    match dest.read_file(Path::new(rel), 4 << 20) {
        Ok(b) => Lookup::Found(String::from_utf8_lossy(&b).into_owned()),
        Err(_) => Lookup::Hidden,
    }
}

fn is_opaque(dir: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(
        rustix::fs::lgetxattr(dir, "trusted.overlay.opaque", &mut buf),
        Ok(n) if n >= 1 && buf[0] == b'y'
    )
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "beautiful",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "condescending",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "albattani",
    "allen",
    "archimedes",
    "ardinghelli",
    "babbage",
    "banach",
    "bardeen",
    "bartik",
    "bassi",
    "bell",
    "benz",
    "bhabha",
    "blackwell",
    "bohr",
    "booth",
    "borg",
    "bose",
    "brahmagupta",
    "brattain",
    "brown",
    "carson",
    "cerf",
    "chandrasekhar",
    "chaplygin",
    "clarke",
    "colden",
    "cori",
    "cray",
    "curie",
    "darwin",
    "davinci",
    "dijkstra",
    "dubinsky",
    "easley",
    "einstein",
    "elion",
    "engelbart",
    "euclid",
    "euler",
    "fermat",
    "fermi",
    "feynman",
    "franklin",
    "galileo",
    "gates",
    "goldberg",
    "goldstine",
    "goldwasser",
    "goodall",
    "hamilton",
    "hawking",
    "heisenberg",
    "hellman",
    "hermann",
    "hodgkin",
    "hopper",
    "hugle",
    "hypatia",
    "jackson",
    "jennings",
    "jepsen",
    "johnson",
    "joliot",
    "kalam",
    "kapitsa",
    "keller",
    "kepler",
    "khorana",
    "kilby",
    "knuth",
    "kowalevski",
    "lalande",
    "lamarr",
    "lamport",
    "leakey",
    "leavitt",
    "lehmann",
    "lewin",
    "lichterman",
    "liskov",
    "lovelace",
    "lumiere",
    "mahavira",
    "mayer",
    "mccarthy",
    "mcclintock",
    "mclean",
    "meitner",
    "mendel",
    "mendeleev",
    "minsky",
    "mirzakhani",
    "moore",
    "morse",
    "napier",
    "nash",
    "neumann",
    "newton",
    "nobel",
    "noether",
    "noyce",
    "pare",
    "pascal",
    "payne",
    "perlman",
    "pike",
    "poincare",
    "ptolemy",
    "raman",
    "ramanujan",
    "ride",
    "ritchie",
    "rosalind",
    "sammet",
    "shannon",
    "shaw",
    "shirley",
    "shockley",
    "sinoussi",
    "snyder",
    "spence",
    "stonebraker",
    "swanson",
    "swartz",
    "tesla",
    "thompson",
    "torvalds",
    "turing",
    "varahamihira",
    "visvesvaraya",
    "volhard",
    "wescoff",
    "wiles",
    "williams",
    "wilson",
    "wing",
    "wozniak",
    "wright",
    "yalow",
    "yonath",
];

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        return t ^ std::process::id();
    }
    u32::from_le_bytes(b)
}

/// A Docker-like `adjective_surname` that no container has (a digit is added after some
/// collisions, as Docker does). Called under the lock.
pub fn random_name(containers: &Containers) -> Result<String> {
    for attempt in 0..1000u32 {
        let a = ADJECTIVES[random_u32() as usize % ADJECTIVES.len()];
        let s = SURNAMES[random_u32() as usize % SURNAMES.len()];
        // As Docker: Steve Wozniak is not boring.
        if a == "boring" && s == "wozniak" {
            continue;
        }
        let mut name = format!("{a}_{s}");
        if attempt >= 10 {
            name.push_str(&(random_u32() % 10).to_string());
        }
        if containers.name_taken(&name)?.is_none() {
            return Ok(name);
        }
    }
    Err(Error::Conflict(
        "could not find a free container name; give one with --name".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_come_from_the_top_layer_that_has_them() {
        let t = tempfile::tempdir().unwrap();
        let l0 = t.path().join("l0");
        let l1 = t.path().join("l1");
        let l2 = t.path().join("l2");
        for l in [&l0, &l1, &l2] {
            fs::create_dir_all(l.join("etc")).unwrap();
        }
        fs::write(l0.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(l0.join("etc/group"), "root:x:0:\n").unwrap();
        fs::write(l1.join("etc/passwd"), "www:x:33:33::/w:/bin/sh\n").unwrap();
        let layers = vec![l0.clone(), l1.clone(), l2.clone()];
        assert!(read_from_layers(&layers, "etc/passwd").starts_with("www"));
        assert!(read_from_layers(&layers, "etc/group").starts_with("root"));
        assert_eq!(read_from_layers(&layers, "etc/shadow"), "");
        // A symlink is followed inside its layer, never out of it.
        std::os::unix::fs::symlink("/../../../../etc/hostname", l2.join("etc/group")).unwrap();
        assert_eq!(read_from_layers(&layers, "etc/group"), "");
        if nix::unistd::geteuid().is_root() {
            // A whiteout in the top layer hides the file below.
            fs::remove_file(l2.join("etc/group")).unwrap();
            nix::sys::stat::mknod(
                &l2.join("etc/passwd"),
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
                0,
            )
            .unwrap();
            assert_eq!(read_from_layers(&layers, "etc/passwd"), "");
        }
    }

    #[test]
    fn names_are_checked_as_docker() {
        assert!(check_name("web-1").is_ok());
        assert!(check_name("/web").is_ok());
        let e = check_name("-x").unwrap_err().to_string();
        assert!(e.contains("Invalid container name (-x)"), "{e}");
        let t = tempfile::tempdir().unwrap();
        let c = Containers::open(t.path()).unwrap();
        let n = random_name(&c).unwrap();
        assert!(n.contains('_') && valid_name(&n));
    }
}
