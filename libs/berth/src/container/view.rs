//! How containers are shown: `docker inspect`'s object and `docker ps`'s rows and status texts.

use std::collections::HashSet;
use std::path::Path;

use serde_json::{json, Value};

use serde::Serialize;

use super::prune::dir_size;
use super::{Config, Container, EndpointSettings, HostConfig, MountPoint, NetworkSettings, Status};
use crate::output;

/// `docker container inspect`'s object for a record (pass it through [`super::refresh`] first).
pub fn inspect(c: &Container) -> Value {
    let s = &c.state;
    let network_settings = match &c.network_settings {
        Some(n) if s.running || s.paused => n.clone(),
        Some(n) => n.stopped(),
        None => {
            // A record made before berth had networks.
            let network = if c.host_config.network_mode.is_empty() {
                "none".to_string()
            } else {
                c.host_config.network_mode.clone()
            };
            let mut n = NetworkSettings::default();
            n.networks.insert(network, EndpointSettings::default());
            n.stopped()
        }
    };
    let inspected = Inspect {
        id: &c.id,
        created: &c.created,
        path: &c.path,
        args: &c.args,
        state: InspectState {
            status: s.status,
            running: s.running,
            paused: s.paused,
            restarting: s.restarting,
            oom_killed: s.oom_killed,
            dead: s.dead,
            pid: s.pid,
            exit_code: s.exit_code,
            error: &s.error,
            started_at: &s.started_at,
            finished_at: &s.finished_at,
            health: s.health.as_ref(),
        },
        image: &c.image,
        resolv_conf_path: &c.resolv_conf_path,
        hostname_path: &c.hostname_path,
        hosts_path: &c.hosts_path,
        log_path: &c.log_path,
        name: format!("/{}", c.name),
        restart_count: c.restart_count,
        driver: &c.driver,
        platform: "linux",
        mount_label: "",
        process_label: "",
        app_armor_profile: "",
        exec_ids: None,
        host_config: &c.host_config,
        graph_driver: InspectGraphDriver {
            data: GraphDriverData {
                lower_dir: super::rootfs::inspect_lower_dirs(c).join(":"),
                merged_dir: &c.graph_driver.merged,
                upper_dir: &c.graph_driver.upper,
                work_dir: &c.graph_driver.work,
            },
            name: &c.graph_driver.name,
        },
        mounts: &c.mounts,
        config: &c.config,
        network_settings,
    };
    serde_json::to_value(inspected).expect("the inspect object serialises")
}

/// `docker container inspect`'s object, in Docker's order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Inspect<'a> {
    id: &'a str,
    created: &'a str,
    path: &'a str,
    args: &'a [String],
    state: InspectState<'a>,
    image: &'a str,
    resolv_conf_path: &'a str,
    hostname_path: &'a str,
    hosts_path: &'a str,
    log_path: &'a str,
    name: String,
    restart_count: u64,
    driver: &'a str,
    platform: &'a str,
    mount_label: &'a str,
    process_label: &'a str,
    app_armor_profile: &'a str,
    #[serde(rename = "ExecIDs")]
    exec_ids: Option<Vec<String>>,
    host_config: &'a HostConfig,
    graph_driver: InspectGraphDriver<'a>,
    mounts: &'a [MountPoint],
    config: &'a Config,
    network_settings: NetworkSettings,
}

/// `State` as `docker inspect` prints it (without berth's own fields).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectState<'a> {
    status: Status,
    running: bool,
    paused: bool,
    restarting: bool,
    #[serde(rename = "OOMKilled")]
    oom_killed: bool,
    dead: bool,
    pid: i32,
    exit_code: i32,
    error: &'a str,
    started_at: &'a str,
    finished_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<&'a super::Health>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InspectGraphDriver<'a> {
    data: GraphDriverData<'a>,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GraphDriverData<'a> {
    lower_dir: String,
    merged_dir: &'a str,
    upper_dir: &'a str,
    work_dir: &'a str,
}

fn seconds_since(rfc3339: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(rfc3339).ok()?;
    if t.timestamp() <= 0 {
        return None;
    }
    Some(chrono::Utc::now().signed_duration_since(t).num_seconds())
}

/// `docker ps`'s STATUS: `Created`, `Up 5 seconds`, `Up 5 seconds (Paused)`,
/// `Exited (0) 3 seconds ago`, as Docker's `State.String()`.
pub fn status_text(c: &Container) -> String {
    let s = &c.state;
    let up = || {
        seconds_since(&s.started_at)
            .map(output::human_duration)
            .unwrap_or_else(|| "Less than a second".into())
    };
    if s.running || s.status == Status::Running || s.status == Status::Paused {
        if s.paused || s.status == Status::Paused {
            return format!("Up {} (Paused)", up());
        }
        if s.restarting {
            // Docker's: the time since the run that ended.
            let since = seconds_since(&s.finished_at)
                .map(output::human_duration)
                .unwrap_or_else(|| "Less than a second".into());
            return format!("Restarting ({}) {} ago", s.exit_code, since);
        }
        // Docker's `Health.String()`: `health: starting`, `healthy`, `unhealthy`.
        if let Some(h) = &s.health {
            let shown = if h.status == super::health::STARTING {
                "health: starting"
            } else {
                h.status.as_str()
            };
            return format!("Up {} ({shown})", up());
        }
        return format!("Up {}", up());
    }
    match s.status {
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        _ => match seconds_since(&s.finished_at) {
            Some(d) => format!("Exited ({}) {} ago", s.exit_code, output::human_duration(d)),
            None => format!("Exited ({})", s.exit_code),
        },
    }
}

/// Docker's `stringutils.Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= max {
        return s.to_string();
    }
    let mut out: String = chars[..max.saturating_sub(1)].iter().collect();
    out.push('…');
    out
}

/// `docker ps`'s COMMAND: Path and Args (an argument with a space in single quotes, as Docker's
/// daemon joins them), truncated to 20 characters unless `no_trunc`, quoted.
pub fn command_text(c: &Container, no_trunc: bool) -> String {
    let mut cmd = c.path.clone();
    for a in &c.args {
        cmd.push(' ');
        if a.contains(' ') {
            cmd.push_str(&format!("'{a}'"));
        } else {
            cmd.push_str(a);
        }
    }
    if !no_trunc {
        cmd = ellipsis(&cmd, 20);
    }
    serde_json::to_string(&cmd).expect("strings serialise")
}

/// One row of `docker ps --format json` (keys as Docker's). With `size` (the writable layer's
/// bytes and the virtual size, as [`sizes`] gives them) Size shows them, as `docker ps -s`, and
/// SizeRw and SizeRootFs (the API's) are there too.
pub fn ps_row(c: &Container, no_trunc: bool, size: Option<(u64, u64)>) -> Value {
    let id = if no_trunc {
        c.id.clone()
    } else {
        c.id.chars().take(12).collect()
    };
    let image = match c.config.image.as_deref() {
        Some(i) if !i.is_empty() => i.to_string(),
        _ => c
            .image
            .strip_prefix("sha256:")
            .unwrap_or(&c.image)
            .chars()
            .take(12)
            .collect(),
    };
    let mut labels: Vec<String> = c
        .config
        .labels
        .iter()
        .flatten()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    labels.sort();
    let state = c.state.status;
    let mut row = json!({
        "Command": command_text(c, no_trunc),
        "CreatedAt": output::go_time(Some(&c.created)),
        "ID": id,
        "Image": image,
        "Labels": labels.join(","),
        "LocalVolumes": c.mounts.iter().filter(|m| m.driver == "local").count().to_string(),
        "Mounts": mounts_text(c, no_trunc),
        "Names": c.name,
        "Networks": networks_text(c),
        "Ports": ports_text(&ports(c)),
        "RunningFor": output::since(Some(&c.created)),
        "Size": size_text(size.unwrap_or_default()),
        "State": state,
        "Status": status_text(c),
    });
    if let Some((rw, root_fs)) = size {
        row["SizeRw"] = json!(rw);
        row["SizeRootFs"] = json!(root_fs);
    }
    row
}

/// `docker ps`'s MOUNTS: each mount's volume name, or its source, cut to 15 characters unless
/// `no_trunc`, comma-separated.
pub fn mounts_text(c: &Container, no_trunc: bool) -> String {
    c.mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if no_trunc {
                name.clone()
            } else {
                ellipsis(name, 15)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `docker ps`'s SIZE: `2B (virtual 4.26MB)`, the writable layer alone when the virtual size is 0.
pub fn size_text((rw, root_fs): (u64, u64)) -> String {
    if root_fs > 0 {
        format!(
            "{} (virtual {})",
            output::human_size(rw),
            output::human_size(root_fs)
        )
    } else {
        output::human_size(rw)
    }
}

/// A container's sizes as Docker's API gives them (SizeRw, SizeRootFs): the bytes of the files of
/// its writable layer (symbolic links included, as Docker's DiffSize), and those plus its
/// image's layers' (each layer's regular files, each inode once: what Docker counts of a layer's
/// tar when it registers it, and shows as the image's Size).
pub fn sizes(c: &Container) -> (u64, u64) {
    let lower: Vec<&Path> = c.graph_driver.lower.iter().map(Path::new).collect();
    let image: u64 = lower.iter().map(|l| layer_size(l)).sum();
    let rw = if c.graph_driver.name == super::rootfs::COPY {
        copied_changes_size(Path::new(&c.graph_driver.merged), &lower)
    } else {
        dir_size(Path::new(&c.graph_driver.upper))
    };
    (rw, image + rw)
}

/// The bytes of a layer's regular files, each inode once.
fn layer_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fn walk(dir: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut total = 0;
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                total += walk(&e.path(), seen);
            } else if md.is_file() && seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
        total
    }
    walk(dir, &mut HashSet::new())
}

/// The writable layer of a container whose layers were copied (no upper directory): the bytes
/// of the files that differ from the layers' (added, or changed in kind, mode, owner, size or
/// modification time), as Docker's naive diff sizes a vfs container.
fn copied_changes_size(merged: &Path, lower: &[&Path]) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fn walk(dir: &Path, rel: &Path, lower: &[&Path], seen: &mut HashSet<(u64, u64)>) -> u64 {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut total = 0;
        for e in rd.flatten() {
            let path = e.path();
            let rel = rel.join(e.file_name());
            let Ok(md) = path.symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                total += walk(&path, &rel, lower, seen);
                continue;
            }
            if rel == Path::new(super::rootfs::COPIED_MARK) {
                continue;
            }
            // The topmost layer that has it (whiteouts are not followed: a file a layer
            // deleted and the container made again counts as new only if it differs).
            let before = lower
                .iter()
                .find_map(|l| l.join(&rel).symlink_metadata().ok());
            let same = before.is_some_and(|b| {
                b.file_type() == md.file_type()
                    && b.mode() == md.mode()
                    && b.uid() == md.uid()
                    && b.gid() == md.gid()
                    && b.len() == md.len()
                    && b.mtime() == md.mtime()
                    && b.mtime_nsec() == md.mtime_nsec()
            });
            if !same && seen.insert((md.dev(), md.ino())) {
                total += md.len();
            }
        }
        total
    }
    walk(merged, Path::new(""), lower, &mut HashSet::new())
}

/// One port of a container as Docker's API lists it (`types.Port`): the container port and
/// protocol, and when published the host address and port (`ip` empty and `public_port` 0 for
/// an exposed port that is not published).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEntry {
    pub private_port: u16,
    pub proto: String,
    pub ip: String,
    pub public_port: u16,
}

impl PortEntry {
    pub fn published(&self) -> bool {
        !self.ip.is_empty() && self.public_port != 0
    }

    /// `0.0.0.0:8080`, `[::1]:8080`: Go's `net.JoinHostPort` of the host side.
    pub fn host_addr(&self) -> String {
        if self.ip.contains(':') {
            format!("[{}]:{}", self.ip, self.public_port)
        } else {
            format!("{}:{}", self.ip, self.public_port)
        }
    }

    /// Docker's API object: `{"IP","PrivatePort","PublicPort","Type"}`, the host side only
    /// when published.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"PrivatePort": self.private_port, "Type": self.proto});
        if self.published() {
            v["IP"] = json!(self.ip);
            v["PublicPort"] = json!(self.public_port);
        }
        v
    }
}

/// The ports of a container (pass it through [`super::refresh`] first): from its live
/// `NetworkSettings.Ports`, so only while it runs (or is paused), as Docker shows them; in the
/// record's order, each binding in turn.
pub fn ports(c: &Container) -> Vec<PortEntry> {
    if !(c.state.running || c.state.paused) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (key, bindings) in c.network_settings.iter().flat_map(|n| n.ports.iter()) {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let Ok(private_port) = port.parse::<u16>() else {
            continue;
        };
        let list = bindings.as_deref().unwrap_or_default();
        if list.is_empty() {
            out.push(PortEntry {
                private_port,
                proto: proto.to_string(),
                ip: String::new(),
                public_port: 0,
            });
        }
        for b in list {
            out.push(PortEntry {
                private_port,
                proto: proto.to_string(),
                ip: b.host_ip.clone(),
                public_port: b.host_port.parse().unwrap_or(0),
            });
        }
    }
    out
}

/// `docker ps`'s PORTS (the CLI's `DisplayablePorts`): sorted by container port; exposed ports
/// and ports published on the same host port are collapsed into ranges (`8000-8002/tcp`,
/// `0.0.0.0:80-81->80-81/tcp`); ports published on another host port are listed one by one
/// after them (`0.0.0.0:8080->80/tcp`).
pub fn ports_text(ports: &[PortEntry]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| {
        (a.private_port, &a.ip, a.public_port, &a.proto).cmp(&(
            b.private_port,
            &b.ip,
            b.public_port,
            &b.proto,
        ))
    });
    // Groups by (host address, protocol), in the order they first appear.
    let mut groups: Vec<((String, String), u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &ports {
        let current = p.private_port;
        if !p.ip.is_empty() && p.public_port != current {
            mappings.push(format!("{}->{}/{}", p.host_addr(), current, p.proto));
            continue;
        }
        let key = (p.ip.clone(), p.proto.clone());
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, current, current)),
            Some(g) if g.2.checked_add(1) == Some(current) => g.2 = current,
            Some(g) => {
                result.push(form_group(&g.0, g.1, g.2));
                g.1 = current;
                g.2 = current;
            }
        }
    }
    for (k, first, last) in &groups {
        result.push(form_group(k, *first, *last));
    }
    result.extend(mappings);
    result.join(", ")
}

fn form_group((ip, proto): &(String, String), first: u16, last: u16) -> String {
    let mut group = first.to_string();
    if first != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{proto}")
}

/// `docker port`'s lines: with no `filter`, every published binding as `80/tcp -> 0.0.0.0:8080`
/// in natural order; with one, the host addresses it is published on (`0.0.0.0:8080`), in the
/// order of its bindings. None when `filter` is not published.
pub fn port_lines(ports: &[PortEntry], filter: Option<(u16, &str)>) -> Option<Vec<String>> {
    let published = ports.iter().filter(|p| p.published());
    match filter {
        Some((port, proto)) => {
            let lines: Vec<String> = published
                .filter(|p| p.private_port == port && p.proto == proto)
                .map(PortEntry::host_addr)
                .collect();
            (!lines.is_empty()).then_some(lines)
        }
        None => {
            let mut lines: Vec<String> = published
                .map(|p| format!("{}/{} -> {}", p.private_port, p.proto, p.host_addr()))
                .collect();
            lines.sort_by(|a, b| natural_cmp(a, b));
            Some(lines)
        }
    }
}

/// Natural order (`sortorder.NaturalLess`): runs of digits compare as numbers.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let na = std::str::from_utf8(&a[si..i])
                .unwrap_or("")
                .trim_start_matches('0');
            let nb = std::str::from_utf8(&b[sj..j])
                .unwrap_or("")
                .trim_start_matches('0');
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

/// `docker ps`'s NETWORKS: the names of the container's networks, comma-separated.
pub fn networks_text(c: &Container) -> String {
    match &c.network_settings {
        Some(n) => n.networks.keys().cloned().collect::<Vec<_>>().join(","),
        None => c.host_config.network_mode.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::State;

    #[test]
    fn statuses_as_docker() {
        let mut c = Container::default();
        c.state.status = Status::Created;
        assert_eq!(status_text(&c), "Created");
        let ago = |s: i64| {
            (chrono::Utc::now() - chrono::Duration::seconds(s))
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        };
        c.state = State {
            status: Status::Running,
            running: true,
            started_at: ago(5),
            ..Default::default()
        };
        assert_eq!(status_text(&c), "Up 5 seconds");
        for (status, shown) in [
            ("starting", "Up 5 seconds (health: starting)"),
            ("healthy", "Up 5 seconds (healthy)"),
            ("unhealthy", "Up 5 seconds (unhealthy)"),
        ] {
            c.state.health = Some(crate::container::Health {
                status: status.into(),
                ..Default::default()
            });
            assert_eq!(status_text(&c), shown);
        }
        c.state.health = None;
        c.state.paused = true;
        c.state.status = Status::Paused;
        assert_eq!(status_text(&c), "Up 5 seconds (Paused)");
        c.state = State {
            status: Status::Exited,
            exit_code: 3,
            finished_at: ago(120),
            ..Default::default()
        };
        assert_eq!(status_text(&c), "Exited (3) 2 minutes ago");
        // Between two runs of a restart policy: the exit code, the time since that run ended.
        c.state = State {
            status: Status::Restarting,
            running: true,
            restarting: true,
            exit_code: 1,
            started_at: ago(600),
            finished_at: ago(3),
            ..Default::default()
        };
        assert_eq!(status_text(&c), "Restarting (1) 3 seconds ago");
    }

    #[test]
    fn commands_quoted_and_cut() {
        let c = Container {
            path: "sh".into(),
            args: vec!["-c".into(), "while true; do sleep 1; done".into()],
            ..Default::default()
        };
        // Docker's: `"sh -c 'while true…"`.
        assert_eq!(command_text(&c, false), "\"sh -c 'while true; …\"");
        assert_eq!(
            command_text(&c, true),
            "\"sh -c 'while true; do sleep 1; done'\""
        );
        assert_eq!(ellipsis("short", 20), "short");
    }

    fn p(private_port: u16, proto: &str, ip: &str, public_port: u16) -> PortEntry {
        PortEntry {
            private_port,
            proto: proto.into(),
            ip: ip.into(),
            public_port,
        }
    }

    #[test]
    fn ports_column_as_docker_ps() {
        assert_eq!(ports_text(&[]), "");
        assert_eq!(
            ports_text(&[p(80, "tcp", "0.0.0.0", 8080), p(443, "tcp", "", 0)]),
            "443/tcp, 0.0.0.0:8080->80/tcp"
        );
        // Docker's example: "0.0.0.0:80->9090/tcp, 9988/tcp".
        assert_eq!(
            ports_text(&[p(9988, "tcp", "", 0), p(9090, "tcp", "0.0.0.0", 80)]),
            "9988/tcp, 0.0.0.0:80->9090/tcp"
        );
        // Exposed ranges and same-port publications collapse; other mappings do not.
        assert_eq!(
            ports_text(&[
                p(8002, "tcp", "", 0),
                p(8000, "tcp", "", 0),
                p(8001, "tcp", "", 0),
                p(9000, "tcp", "", 0),
                p(53, "udp", "", 0),
            ]),
            // Docker's order: a group closed by a gap first, then the open groups.
            "8000-8002/tcp, 53/udp, 9000/tcp"
        );
        assert_eq!(
            ports_text(&[
                p(81, "tcp", "0.0.0.0", 81),
                p(80, "tcp", "0.0.0.0", 80),
                p(82, "tcp", "0.0.0.0", 82),
            ]),
            "0.0.0.0:80-82->80-82/tcp"
        );
        assert_eq!(
            ports_text(&[
                p(80, "tcp", "0.0.0.0", 8000),
                p(81, "tcp", "0.0.0.0", 8001),
                p(53, "udp", "127.0.0.1", 5353),
            ]),
            "127.0.0.1:5353->53/udp, 0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp"
        );
        assert_eq!(
            ports_text(&[p(80, "tcp", "::1", 8080)]),
            "[::1]:8080->80/tcp"
        );
    }

    #[test]
    fn port_lines_as_docker_port() {
        let ports = [
            p(80, "tcp", "0.0.0.0", 8080),
            p(443, "tcp", "", 0),
            p(53, "udp", "0.0.0.0", 5353),
            p(80, "tcp", "127.0.0.1", 9090),
        ];
        assert_eq!(
            port_lines(&ports, None).unwrap(),
            [
                "53/udp -> 0.0.0.0:5353",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> 127.0.0.1:9090"
            ]
        );
        assert_eq!(
            port_lines(&ports, Some((80, "tcp"))).unwrap(),
            ["0.0.0.0:8080", "127.0.0.1:9090"]
        );
        assert_eq!(
            port_lines(&ports, Some((53, "udp"))).unwrap(),
            ["0.0.0.0:5353"]
        );
        assert_eq!(port_lines(&ports, Some((53, "tcp"))), None);
        assert_eq!(port_lines(&ports, Some((443, "tcp"))), None, "exposed only");
        assert_eq!(port_lines(&[], None).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn ports_come_from_a_running_containers_settings() {
        let mut c = Container {
            network_settings: serde_json::from_value(json!({"Ports": {
                "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                "443/tcp": null,
            }}))
            .unwrap(),
            ..Default::default()
        };
        assert!(ports(&c).is_empty(), "not running: no ports");
        c.state.running = true;
        assert_eq!(
            ports(&c),
            [p(80, "tcp", "0.0.0.0", 8080), p(443, "tcp", "", 0)]
        );
        assert_eq!(
            ports(&c)[0].to_json(),
            json!({"PrivatePort": 80, "Type": "tcp", "IP": "0.0.0.0", "PublicPort": 8080})
        );
        assert_eq!(
            ports(&c)[1].to_json(),
            json!({"PrivatePort": 443, "Type": "tcp"})
        );
    }

    #[test]
    fn natural_order() {
        use std::cmp::Ordering::*;
        assert_eq!(natural_cmp("9/tcp", "10/tcp"), Less);
        assert_eq!(natural_cmp("80/tcp -> a", "80/udp -> a"), Less);
        assert_eq!(natural_cmp("a2", "a2"), Equal);
        assert_eq!(natural_cmp("a", "a1"), Less);
    }
}
