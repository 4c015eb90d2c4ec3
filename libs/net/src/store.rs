//! Networks and address leases on disk (`$ROOT/networks/`): `nets/<id>.json` (one network,
//! shaped as `docker network inspect`), `leases.json` (which container holds which address of
//! which network), and `lock`, the lock every network change is made under.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_fsutil::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, IoContext, Result};
use crate::subnet::{self, Subnet};

/// The default network's name, its bridge, and the predefined networks.
pub const BRIDGE: &str = "bridge";
pub const DEFAULT_BRIDGE_IF: &str = "berth0";
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];
/// The option naming a network's Linux bridge (Docker's name for it).
pub const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    pub subnet: String,
    pub gateway: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub config: Vec<IpamConfig>,
}

/// One network, shaped as `docker network inspect` (less `Containers`, which is computed).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

impl Network {
    /// The Linux bridge of a bridge network.
    pub fn bridge(&self) -> Option<&str> {
        self.options.get(BRIDGE_NAME_OPTION).map(|s| s.as_str())
    }

    /// The subnet and gateway of a bridge network.
    pub fn subnet(&self) -> Option<(Subnet, Ipv4Addr)> {
        let c = self.ipam.config.first()?;
        let s: Subnet = c.subnet.parse().ok()?;
        let gw = c.gateway.parse().ok()?;
        Some((s, gw))
    }

    pub fn is_predefined(&self) -> bool {
        PREDEFINED.contains(&self.name.as_str())
    }

    /// Whether containers on it resolve each other by name: user-defined bridge networks, as
    /// Docker's embedded DNS does it (the default bridge has no name resolution).
    pub fn resolves_names(&self) -> bool {
        self.driver == "bridge" && self.name != BRIDGE
    }
}

/// A container's address on a network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Lease {
    pub container: String,
    /// The container's name and `--network-alias`es: what others resolve it by.
    pub names: Vec<String>,
    pub mac: String,
    /// The container's hosts file on the host, kept current with the network's members.
    pub hosts_path: String,
    /// The host end of its veth pair.
    pub host_veth: String,
    /// The container's init and its start time (clock ticks after boot): the lease lives while
    /// that process does, so leases of containers that died with their monitor can be found.
    pub pid: i32,
    pub pid_start: u64,
    /// Whether the network resolves its members' names (user-defined networks).
    pub resolves: bool,
}

/// Network ID → address → lease.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Leases(pub BTreeMap<String, BTreeMap<Ipv4Addr, Lease>>);

impl Leases {
    /// Gives `lease.container` an address of `net`: `want` if free (and a host address of the
    /// subnet, not the gateway), or the lowest free one.
    pub fn allocate(
        &mut self,
        net: &Network,
        want: Option<Ipv4Addr>,
        lease: Lease,
    ) -> Result<Ipv4Addr> {
        let (subnet, gateway) = net.subnet().ok_or_else(|| {
            Error::InvalidInput(format!("network {} has no IPv4 subnet", net.name))
        })?;
        let taken = self.0.entry(net.id.clone()).or_default();
        let ip = match want {
            Some(ip) => {
                if !subnet.is_host(ip) || ip == gateway {
                    return Err(Error::InvalidInput(format!(
                        "address {ip} is not a free host address of network {} ({subnet}, gateway \
                         {gateway})",
                        net.name
                    )));
                }
                if let Some(other) = taken.get(&ip) {
                    return Err(Error::Conflict(format!(
                        "address {ip} is already in use on network {} (by container {})",
                        net.name,
                        &other.container[..12.min(other.container.len())]
                    )));
                }
                ip
            }
            None => (1..subnet.size() - 1)
                .filter_map(|n| subnet.nth(n))
                .find(|ip| *ip != gateway && !taken.contains_key(ip))
                .ok_or_else(|| {
                    Error::Exhausted(format!(
                        "no free address left on network {} ({subnet})",
                        net.name
                    ))
                })?,
        };
        taken.insert(ip, lease);
        Ok(ip)
    }

    /// Frees every address of `container`; returns what it held.
    pub fn release(&mut self, container: &str) -> Vec<(String, Ipv4Addr, Lease)> {
        let mut out = Vec::new();
        for (net, m) in self.0.iter_mut() {
            m.retain(|ip, l| {
                if l.container == container {
                    out.push((net.clone(), *ip, l.clone()));
                    false
                } else {
                    true
                }
            });
        }
        self.0.retain(|_, m| !m.is_empty());
        out
    }

    /// The leases on network `id`.
    pub fn on(&self, id: &str) -> impl Iterator<Item = (&Ipv4Addr, &Lease)> {
        self.0.get(id).into_iter().flat_map(|m| m.iter())
    }

    /// Every container that holds an address.
    pub fn holders(&self) -> std::collections::BTreeSet<String> {
        self.0
            .values()
            .flat_map(|m| m.values().map(|l| l.container.clone()))
            .collect()
    }
}

/// What `net-create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewNetwork {
    pub name: String,
    pub subnet: Option<Subnet>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub bridge: Option<String>,
    /// Driver options (`-o KEY=VALUE`), recorded in the network's `Options`; the bridge's name
    /// is [`NewNetwork::bridge`].
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct NetStore {
    dir: PathBuf,
}

impl NetStore {
    /// `$ROOT/networks`, made if missing.
    pub fn open(dir: impl Into<PathBuf>) -> Result<NetStore> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("nets")).with_path("create", &dir)?;
        Ok(NetStore { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lock every change to networks and leases is made under.
    pub fn lock(&self) -> Result<Flock<File>> {
        berth_fsutil::lock(&self.dir.join("lock"), FlockArg::LockExclusive).map_err(fs_error)
    }

    /// Every network, the predefined ones first (made on first use), then by name.
    pub fn networks(&self) -> Result<Vec<Network>> {
        self.ensure_predefined()?;
        let mut out = self.read_all()?;
        out.sort_by_key(|n| (!n.is_predefined(), n.name.clone()));
        Ok(out)
    }

    fn read_all(&self) -> Result<Vec<Network>> {
        let nets = self.dir.join("nets");
        let mut out = Vec::new();
        for e in fs::read_dir(&nets).with_path("read", &nets)? {
            let p = e.with_path("read", &nets)?.path();
            if p.extension().is_some_and(|x| x == "json") {
                let data = fs::read(&p).with_path("read", &p)?;
                let n: Network = serde_json::from_slice(&data).map_err(|e| {
                    Error::InvalidInput(format!("{}: not a network record: {e}", p.display()))
                })?;
                out.push(n);
            }
        }
        Ok(out)
    }

    /// A network by name, full ID or unique ID prefix (as Docker looks them up).
    pub fn find(&self, key: &str) -> Result<Network> {
        let all = self.networks()?;
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(n.clone());
        }
        let by_prefix: Vec<&Network> = all.iter().filter(|n| n.id.starts_with(key)).collect();
        match by_prefix.as_slice() {
            [n] if !key.is_empty() => Ok((*n).clone()),
            [] | [_] => Err(Error::NetworkNotFound(key.to_string())),
            _ => Err(Error::InvalidInput(format!(
                "network {key} is ambiguous: {} networks have IDs starting with it",
                by_prefix.len()
            ))),
        }
    }

    fn save(&self, n: &Network) -> Result<()> {
        let path = self.dir.join("nets").join(format!("{}.json", n.id));
        write_atomic(&path, &serde_json::to_vec_pretty(n).expect("serialises"))
    }

    /// Removes network `id`'s record.
    pub fn remove(&self, id: &str) -> Result<()> {
        let path = self.dir.join("nets").join(format!("{id}.json"));
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).with_path("remove", &path),
            _ => Ok(()),
        }
    }

    /// The default `bridge` network (berth0, 172.17.0.0/16 unless `BERTH_BRIDGE_SUBNET` says
    /// otherwise when it is first made), `host` and `none`, made if missing.
    fn ensure_predefined(&self) -> Result<()> {
        let have = self.read_all()?;
        for name in PREDEFINED {
            if have.iter().any(|n| n.name == name) {
                continue;
            }
            let _lock = self.lock()?;
            if self.read_all()?.iter().any(|n| n.name == name) {
                continue;
            }
            let mut n = blank(name);
            match name {
                BRIDGE => {
                    let s: Subnet = std::env::var("BERTH_BRIDGE_SUBNET")
                        .unwrap_or_else(|_| subnet::DEFAULT_BRIDGE.into())
                        .parse()?;
                    n.driver = "bridge".into();
                    n.ipam.config = vec![IpamConfig {
                        subnet: s.to_string(),
                        gateway: s.first_host().to_string(),
                    }];
                    n.options
                        .insert(BRIDGE_NAME_OPTION.into(), DEFAULT_BRIDGE_IF.into());
                    n.options.insert(
                        "com.docker.network.bridge.default_bridge".into(),
                        "true".into(),
                    );
                }
                "host" => n.driver = "host".into(),
                _ => n.driver = "null".into(),
            }
            self.save(&n)?;
        }
        Ok(())
    }

    /// Makes a user-defined bridge network (the caller holds [`NetStore::lock`]): the name must
    /// be new, the subnet must not overlap another network's; without `--subnet`, the first free
    /// one of Docker's pools.
    pub fn create(&self, req: &NewNetwork) -> Result<Network> {
        check_name(&req.name)?;
        let all = self.networks()?;
        if all.iter().any(|n| n.name == req.name) {
            return Err(Error::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let used: Vec<Subnet> = all.iter().filter_map(|n| n.subnet().map(|s| s.0)).collect();
        let subnet = match req.subnet {
            Some(s) => {
                if let Some(other) = all
                    .iter()
                    .find(|n| n.subnet().is_some_and(|(o, _)| o.overlaps(&s)))
                {
                    return Err(Error::Conflict(format!(
                        "subnet {s} overlaps network {} ({})",
                        other.name, other.ipam.config[0].subnet
                    )));
                }
                s
            }
            None => subnet::default_pool()
                .find(|s| !used.iter().any(|u| u.overlaps(s)))
                .ok_or_else(|| {
                    Error::Exhausted(
                        "no free subnet left in the default pools: give one with --subnet".into(),
                    )
                })?,
        };
        let gateway = match req.gateway {
            Some(g) if subnet.is_host(g) => g,
            Some(g) => {
                return Err(Error::InvalidInput(format!(
                    "gateway {g} is not a host address of subnet {subnet}"
                )))
            }
            None => subnet.first_host(),
        };
        let mut n = blank(&req.name);
        let bridge = match &req.bridge {
            Some(b) => {
                if !b.starts_with("berth") || b.len() > 15 {
                    return Err(Error::InvalidInput(format!(
                        "bridge name {b:?}: berth's bridges are named berth… (at most 15 \
                         characters), so that its rules can tell them from other links"
                    )));
                }
                b.clone()
            }
            None => format!("berth-{}", &n.id[..8]),
        };
        if all.iter().any(|o| o.bridge() == Some(&bridge)) {
            return Err(Error::Conflict(format!(
                "bridge {bridge} is another network's"
            )));
        }
        n.driver = "bridge".into();
        n.internal = req.internal;
        n.labels = req.labels.clone();
        for (k, v) in &req.options {
            if k != BRIDGE_NAME_OPTION {
                n.options.insert(k.clone(), v.clone());
            }
        }
        n.ipam.config = vec![IpamConfig {
            subnet: subnet.to_string(),
            gateway: gateway.to_string(),
        }];
        n.options.insert(BRIDGE_NAME_OPTION.into(), bridge);
        self.save(&n)?;
        Ok(n)
    }

    pub fn leases(&self) -> Result<Leases> {
        let path = self.dir.join("leases.json");
        match fs::read(&path) {
            Ok(d) => serde_json::from_slice(&d).map_err(|e| {
                Error::InvalidInput(format!("{}: not a leases file: {e}", path.display()))
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Leases::default()),
            Err(e) => Err(e).with_path("read", &path),
        }
    }

    pub fn save_leases(&self, l: &Leases) -> Result<()> {
        write_atomic(
            &self.dir.join("leases.json"),
            &serde_json::to_vec_pretty(l).expect("serialises"),
        )
    }
}

fn blank(name: &str) -> Network {
    Network {
        name: name.into(),
        id: new_id(),
        created: now(),
        scope: "local".into(),
        ipam: Ipam {
            driver: "default".into(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Docker's rule for network names.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok {
        return Err(Error::InvalidInput(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    if name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::InvalidInput(format!(
            "invalid network name {name:?}: it looks like a network ID"
        )));
    }
    Ok(())
}

fn new_id() -> String {
    let mut buf = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| io::Read::read_exact(&mut f, &mut buf))
        .expect("/dev/urandom is readable");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
    )
}

/// Writes `path` whole or not at all (a temporary file renamed over it).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let (dir, name) = match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(d), Some(n)) => (d, n),
        _ => {
            return Err(fs_error(berth_fsutil::Error {
                action: "write",
                path: path.to_path_buf(),
                source: io::Error::from(io::ErrorKind::InvalidInput),
            }))
        }
    };
    let how = berth_fsutil::Atomic {
        mode: 0o644,
        temp_prefix: &format!(".{name}.tmp-"),
        // As before: whole or not at all if the process dies; a power loss is not guarded.
        durable: false,
    };
    berth_fsutil::write_atomic(dir, name, data, &how).map_err(fs_error)
}

/// The crate's error for a failed file operation, with the same words.
fn fs_error(e: berth_fsutil::Error) -> Error {
    Error::Io {
        what: e.action,
        path: e.path.display().to_string(),
        source: e.source,
    }
}

/// Docker-inspect JSON of `n`, with `Containers` from the leases.
pub fn inspect(n: &Network, leases: &Leases, name_of: impl Fn(&str) -> String) -> Value {
    let mut v = serde_json::to_value(n).expect("serialises");
    let prefix = n.subnet().map(|s| s.0.prefix).unwrap_or(0);
    let mut containers = serde_json::Map::new();
    for (ip, l) in leases.on(&n.id) {
        containers.insert(
            l.container.clone(),
            serde_json::json!({
                "Name": name_of(&l.container),
                "EndpointID": endpoint_id(&n.id, &l.container),
                "MacAddress": l.mac,
                "IPv4Address": format!("{ip}/{prefix}"),
                "IPv6Address": "",
            }),
        );
    }
    let obj = v.as_object_mut().expect("an object");
    obj.insert("ConfigFrom".into(), serde_json::json!({"Network": ""}));
    obj.insert("ConfigOnly".into(), false.into());
    obj.insert("Containers".into(), Value::Object(containers));
    v
}

/// A stable endpoint ID for a container on a network (Docker's is random; ours is derived so
/// that it needs no record of its own).
pub fn endpoint_id(net: &str, container: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::new();
    for salt in 0..4u8 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (salt, net, container).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(c: &str) -> Lease {
        Lease {
            container: c.into(),
            ..Default::default()
        }
    }

    #[test]
    fn predefined_networks_and_lookup() {
        let d = tempfile::tempdir().unwrap();
        let s = NetStore::open(d.path().join("networks")).unwrap();
        let all = s.networks().unwrap();
        let names: Vec<&str> = all.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["bridge", "host", "none"]);
        let b = s.find("bridge").unwrap();
        assert_eq!(b.bridge(), Some("berth0"));
        assert_eq!(b.ipam.config[0].subnet, "172.17.0.0/16");
        assert_eq!(b.ipam.config[0].gateway, "172.17.0.1");
        assert_eq!(s.find(&b.id[..10]).unwrap().name, "bridge");
        assert!(s
            .find("nope")
            .unwrap_err()
            .to_string()
            .contains("network nope not found"));
        // Made once: a second listing has the same IDs.
        assert_eq!(s.networks().unwrap()[0].id, b.id);
    }

    #[test]
    fn user_networks_get_free_subnets_and_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let s = NetStore::open(d.path()).unwrap();
        let a = s
            .create(&NewNetwork {
                name: "a".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(a.ipam.config[0].subnet, "172.18.0.0/16");
        assert!(a.bridge().unwrap().starts_with("berth-"));
        let b = s
            .create(&NewNetwork {
                name: "b".into(),
                subnet: Some("172.19.0.0/16".parse().unwrap()),
                gateway: Some("172.19.0.254".parse().unwrap()),
                internal: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(b.ipam.config[0].gateway, "172.19.0.254");
        let c = s
            .create(&NewNetwork {
                name: "c".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(c.ipam.config[0].subnet, "172.20.0.0/16");
        let e = s
            .create(&NewNetwork {
                name: "a".into(),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        let e = s
            .create(&NewNetwork {
                name: "d".into(),
                subnet: Some("172.17.5.0/24".parse().unwrap()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("overlaps network bridge"), "{e}");
        let e = s
            .create(&NewNetwork {
                name: "d".into(),
                subnet: Some("10.9.0.0/24".parse().unwrap()),
                gateway: Some("10.8.0.1".parse().unwrap()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("gateway"), "{e}");
        assert!(s
            .create(&NewNetwork {
                name: "-x".into(),
                ..Default::default()
            })
            .is_err());
        s.remove(&c.id).unwrap();
        // (not find("c"): another network's random ID may start with "c")
        assert!(s.find(&c.id).is_err());
        assert!(s.networks().unwrap().iter().all(|n| n.name != "c"));
    }

    #[test]
    fn leases_never_hand_an_address_out_twice() {
        let d = tempfile::tempdir().unwrap();
        let s = NetStore::open(d.path()).unwrap();
        let net = s
            .create(&NewNetwork {
                name: "small".into(),
                subnet: Some("10.1.0.0/29".parse().unwrap()),
                ..Default::default()
            })
            .unwrap();
        let mut l = s.leases().unwrap();
        let mut got = Vec::new();
        for i in 0..5 {
            got.push(l.allocate(&net, None, lease(&format!("c{i}"))).unwrap());
        }
        assert_eq!(got[0], Ipv4Addr::new(10, 1, 0, 2));
        assert_eq!(got[4], Ipv4Addr::new(10, 1, 0, 6));
        let e = l.allocate(&net, None, lease("c5")).unwrap_err().to_string();
        assert!(e.contains("no free address"), "{e}");
        let freed = l.release("c2");
        assert_eq!(freed.len(), 1);
        assert_eq!(l.allocate(&net, None, lease("c5")).unwrap(), got[2]);
        let e = l
            .allocate(&net, Some(got[0]), lease("c6"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("already in use"), "{e}");
        assert!(l
            .allocate(&net, Some(Ipv4Addr::new(10, 1, 0, 1)), lease("c6"))
            .is_err());
        assert!(l
            .allocate(&net, Some(Ipv4Addr::new(10, 2, 0, 3)), lease("c6"))
            .is_err());
        s.save_leases(&l).unwrap();
        assert_eq!(s.leases().unwrap(), l);
        assert_eq!(l.holders().len(), 5);
    }
}
