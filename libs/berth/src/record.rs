//! The parts of a container's record shaped as Docker's (`docker container inspect`):
//! [`HostConfig`], [`NetworkSettings`] with one [`EndpointSettings`] per network,
//! [`MountPoint`], and the container's [`Status`].
//!
//! Field order is the order berth has always written them in (so `state.json` and
//! `ctr-inspect` print the same JSON), and every struct keeps the keys it does not know in
//! `extra`, so a record written by another version survives a load and a save.

use std::fmt;
use std::str::FromStr;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use berth_net::ports::{Binding, PortBindings};

/// Docker's container states, written as Docker writes them (`created`, `running`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Restarting,
        Status::Removing,
        Status::Exited,
        Status::Dead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown container status {s:?}"))
    }
}

impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Status {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

/// A JSON object whose keys keep the order they were inserted (or read) in, as Docker's maps
/// of ports, networks and tmpfs mounts print.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<V> OrderedMap<V> {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, k: &str) -> Option<&V> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v)
    }
    pub fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        self.0.iter_mut().find(|(n, _)| n == k).map(|(_, v)| v)
    }
    pub fn contains_key(&self, k: &str) -> bool {
        self.get(k).is_some()
    }
    /// Replaces the value of `k` in its place, or appends it.
    pub fn insert(&mut self, k: String, v: V) {
        match self.get_mut(&k) {
            Some(old) => *old = v,
            None => self.0.push((k, v)),
        }
    }
    /// Removes `k`, keeping the order of the others.
    pub fn shift_remove(&mut self, k: &str) -> Option<V> {
        let i = self.0.iter().position(|(n, _)| n == k)?;
        Some(self.0.remove(i).1)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }
}

impl<V> FromIterator<(String, V)> for OrderedMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(it: I) -> Self {
        let mut m = OrderedMap::new();
        for (k, v) in it {
            m.insert(k, v);
        }
        m
    }
}

impl<V: Serialize> Serialize for OrderedMap<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V2<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut m = OrderedMap::new();
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    m.insert(k, v);
                }
                Ok(m)
            }
            // A record made before the field was filled may hold null.
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OrderedMap::new())
            }
        }
        d.deserialize_any(V2(std::marker::PhantomData))
    }
}

/// Docker's `LogConfig`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: Map<String, Value>,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            kind: "json-file".into(),
            config: Map::new(),
        }
    }
}

/// Docker's `RestartPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub name: String,
    pub maximum_retry_count: i64,
}

impl Default for RestartPolicy {
    fn default() -> RestartPolicy {
        RestartPolicy {
            name: "no".into(),
            maximum_retry_count: 0,
        }
    }
}

/// One `--ulimit` as Docker records it (-1 for unlimited).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostUlimit {
    pub name: String,
    pub hard: i64,
    pub soft: i64,
}

/// Docker's `mount.VolumeOptions`, the part berth takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    pub no_copy: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `--mount` as Docker records it in `HostConfig.Mounts` (`mount.Mount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(rename = "Type")]
    pub kind: String,
    pub target: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's `HostConfig`, in the order berth writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfig,
    pub network_mode: String,
    pub port_bindings: PortBindings,
    pub restart_policy: RestartPolicy,
    pub auto_remove: bool,
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    pub console_size: [u64; 2],
    pub cap_add: Option<Vec<String>>,
    pub cap_drop: Option<Vec<String>>,
    pub cgroupns_mode: String,
    pub dns: Vec<String>,
    pub dns_options: Vec<String>,
    pub dns_search: Vec<String>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    pub ipc_mode: String,
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    pub oom_score_adj: i64,
    pub pid_mode: String,
    pub privileged: bool,
    pub publish_all_ports: bool,
    pub readonly_rootfs: bool,
    pub security_opt: Option<Vec<String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub shm_size: u64,
    pub runtime: String,
    pub isolation: String,
    pub mounts: Option<Vec<Mount>>,
    /// `--tmpfs`: target → options, in the order given.
    pub tmpfs: Option<OrderedMap<String>>,
    // Docker's `Resources`.
    pub cpu_shares: i64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub cgroup_parent: String,
    pub blkio_weight: u16,
    pub blkio_weight_device: Vec<Value>,
    pub blkio_device_read_bps: Vec<Value>,
    pub blkio_device_write_bps: Vec<Value>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Vec<Value>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Vec<Value>,
    pub cpu_period: i64,
    pub cpu_quota: i64,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Vec<Value>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<Value>>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    pub pids_limit: Option<i64>,
    pub ulimits: Vec<HostUlimit>,
    pub cpu_count: i64,
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            binds: None,
            container_id_file: String::new(),
            log_config: LogConfig::default(),
            network_mode: String::new(),
            port_bindings: PortBindings::new(),
            restart_policy: RestartPolicy::default(),
            auto_remove: false,
            volume_driver: String::new(),
            volumes_from: None,
            console_size: [0, 0],
            cap_add: None,
            cap_drop: None,
            cgroupns_mode: "private".into(),
            dns: Vec::new(),
            dns_options: Vec::new(),
            dns_search: Vec::new(),
            extra_hosts: None,
            group_add: None,
            ipc_mode: "private".into(),
            cgroup: String::new(),
            links: None,
            oom_score_adj: 0,
            pid_mode: String::new(),
            privileged: false,
            publish_all_ports: false,
            readonly_rootfs: false,
            security_opt: None,
            uts_mode: String::new(),
            userns_mode: String::new(),
            shm_size: 0,
            runtime: String::new(),
            isolation: String::new(),
            mounts: None,
            tmpfs: None,
            cpu_shares: 0,
            memory: 0,
            nano_cpus: 0,
            cgroup_parent: String::new(),
            blkio_weight: 0,
            blkio_weight_device: Vec::new(),
            blkio_device_read_bps: Vec::new(),
            blkio_device_write_bps: Vec::new(),
            blkio_device_read_iops: Vec::new(),
            blkio_device_write_iops: Vec::new(),
            cpu_period: 0,
            cpu_quota: 0,
            cpu_realtime_period: 0,
            cpu_realtime_runtime: 0,
            cpuset_cpus: String::new(),
            cpuset_mems: String::new(),
            devices: Vec::new(),
            device_cgroup_rules: None,
            device_requests: None,
            memory_reservation: 0,
            memory_swap: 0,
            memory_swappiness: None,
            oom_kill_disable: None,
            pids_limit: None,
            ulimits: Vec::new(),
            cpu_count: 0,
            cpu_percent: 0,
            io_maximum_iops: 0,
            io_maximum_bandwidth: 0,
            masked_paths: None,
            readonly_paths: None,
            extra: Map::new(),
        }
    }
}

/// Docker's `EndpointIPAMConfig`: the address asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's `EndpointSettings`: a container on one network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    pub links: Option<Vec<String>>,
    pub aliases: Option<Vec<String>>,
    pub mac_address: String,
    pub driver_opts: Option<Map<String, Value>>,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EndpointSettings {
    /// What a stopped container keeps of an endpoint: what was asked for, not what it got.
    pub fn stopped(&mut self) {
        self.endpoint_id.clear();
        self.gateway.clear();
        self.ip_address.clear();
        self.ip_prefix_len = 0;
        self.dns_names = None;
    }
}

/// Docker's `Ports`: every exposed port, with its host bindings while published (else null).
pub type PortMap = OrderedMap<Option<Vec<Binding>>>;

/// Docker's `NetworkSettings`, in the order berth writes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub hairpin_mode: bool,
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: u8,
    pub ports: PortMap,
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<Value>>,
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<Value>>,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    pub mac_address: String,
    /// One endpoint per network, by the network's name, in the order joined.
    pub networks: OrderedMap<EndpointSettings>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl NetworkSettings {
    /// The settings of a container that does not run: no addresses, no sandbox, no ports.
    pub fn stopped(&self) -> NetworkSettings {
        let mut s = self.clone();
        s.clear_default_bridge();
        s.sandbox_key.clear();
        s.sandbox_id.clear();
        s.ports = PortMap::default();
        for e in s.networks.values_mut() {
            e.stopped();
        }
        s
    }

    /// Empties the top-level fields Docker fills for the default bridge only.
    pub fn clear_default_bridge(&mut self) {
        self.endpoint_id.clear();
        self.gateway.clear();
        self.ip_address.clear();
        self.ip_prefix_len = 0;
        self.mac_address.clear();
    }
}

/// Docker's `MountPoint` (`Mounts` of `docker inspect`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_survive_and_status_reads_as_before() {
        let j = r#"{"Type":"volume","Name":"v","Source":"/s","Destination":"/d","Driver":"local","Mode":"z","RW":true,"Propagation":"","Future":1}"#;
        let m: MountPoint = serde_json::from_str(j).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), j);
        let b = r#"{"Type":"bind","Source":"/s","Destination":"/d","Mode":"","RW":false,"Propagation":"rprivate"}"#;
        let m: MountPoint = serde_json::from_str(b).unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), b);
        assert_eq!(
            serde_json::to_string(&Status::Running).unwrap(),
            "\"running\""
        );
        assert_eq!("exited".parse::<Status>().unwrap(), Status::Exited);
        let h: HostConfig = serde_json::from_str(r#"{"AutoRemove":true,"X":[1]}"#).unwrap();
        assert!(h.auto_remove);
        assert_eq!(h.extra["X"], serde_json::json!([1]));
    }
}
