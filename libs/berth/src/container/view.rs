//! How containers are shown: `docker inspect`'s object and `docker ps`'s rows and status texts.

use serde_json::{json, Value};

use super::{status, Container};
use crate::output;

/// `docker container inspect`'s object for a record (pass it through [`super::refresh`] first).
pub fn inspect(c: &Container) -> Value {
    let s = &c.state;
    let network_settings = if c.network_settings.is_object() {
        if s.running || s.paused {
            c.network_settings.clone()
        } else {
            crate::network::stopped_settings(&c.network_settings)
        }
    } else {
        // A record made before berth had networks.
        let network = c.host_config["NetworkMode"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        let endpoint = json!({
            "IPAMConfig": null, "Links": null, "Aliases": null, "MacAddress": "",
            "DriverOpts": null, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": null,
        });
        crate::network::stopped_settings(&json!({
            "Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {}, "HairpinMode": false,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": null,
            "SecondaryIPv6Addresses": null, "EndpointID": "", "Gateway": "",
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "MacAddress": "", "Networks": { network: endpoint },
        }))
    };
    let state = json!({
        "Status": s.status,
        "Running": s.running,
        "Paused": s.paused,
        "Restarting": s.restarting,
        "OOMKilled": s.oom_killed,
        "Dead": s.dead,
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": s.started_at,
        "FinishedAt": s.finished_at,
    });
    json!({
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": state,
        "Image": c.image,
        "ResolvConfPath": c.resolv_conf_path,
        "HostnamePath": c.hostname_path,
        "HostsPath": c.hosts_path,
        "LogPath": c.log_path,
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": c.driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": null,
        "HostConfig": c.host_config,
        "GraphDriver": {
            "Data": {
                "LowerDir": c.graph_driver.lower.join(":"),
                "MergedDir": c.graph_driver.merged,
                "UpperDir": c.graph_driver.upper,
                "WorkDir": c.graph_driver.work,
            },
            "Name": c.graph_driver.name,
        },
        "Mounts": c.mounts,
        "Config": c.config,
        "NetworkSettings": network_settings,
    })
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
    if s.running || s.status == status::RUNNING || s.status == status::PAUSED {
        if s.paused || s.status == status::PAUSED {
            return format!("Up {} (Paused)", up());
        }
        if s.restarting {
            return format!("Restarting ({}) {} ago", s.exit_code, up());
        }
        return format!("Up {}", up());
    }
    match s.status.as_str() {
        status::CREATED | "" => "Created".into(),
        status::REMOVING => "Removal In Progress".into(),
        status::DEAD => "Dead".into(),
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

/// `docker ps`'s COMMAND: Path and Args, truncated to 20 characters unless `no_trunc`, quoted.
pub fn command_text(c: &Container, no_trunc: bool) -> String {
    let mut cmd = c.path.clone();
    for a in &c.args {
        cmd.push(' ');
        cmd.push_str(a);
    }
    if !no_trunc {
        cmd = ellipsis(&cmd, 20);
    }
    serde_json::to_string(&cmd).expect("strings serialise")
}

/// One row of `docker ps --format json` (keys as Docker's).
pub fn ps_row(c: &Container, no_trunc: bool) -> Value {
    let id = if no_trunc {
        c.id.clone()
    } else {
        c.id.chars().take(12).collect()
    };
    let image = match c.config["Image"].as_str() {
        Some(i) if !i.is_empty() => i.to_string(),
        _ => c
            .image
            .strip_prefix("sha256:")
            .unwrap_or(&c.image)
            .chars()
            .take(12)
            .collect(),
    };
    let mut labels: Vec<String> = c.config["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    let state = if c.state.status.is_empty() {
        status::CREATED.to_string()
    } else {
        c.state.status.clone()
    };
    json!({
        "Command": command_text(c, no_trunc),
        "CreatedAt": output::go_time(Some(&c.created)),
        "ID": id,
        "Image": image,
        "Labels": labels.join(","),
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": c.name,
        "Networks": c.host_config["NetworkMode"].as_str().unwrap_or(""),
        "Ports": "",
        "RunningFor": output::since(Some(&c.created)),
        "Size": "0B",
        "State": state,
        "Status": status_text(c),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::State;

    #[test]
    fn statuses_as_docker() {
        let mut c = Container::default();
        c.state.status = status::CREATED.into();
        assert_eq!(status_text(&c), "Created");
        let ago = |s: i64| {
            (chrono::Utc::now() - chrono::Duration::seconds(s))
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
        };
        c.state = State {
            status: status::RUNNING.into(),
            running: true,
            started_at: ago(5),
            ..Default::default()
        };
        assert_eq!(status_text(&c), "Up 5 seconds");
        c.state.paused = true;
        c.state.status = status::PAUSED.into();
        assert_eq!(status_text(&c), "Up 5 seconds (Paused)");
        c.state = State {
            status: status::EXITED.into(),
            exit_code: 3,
            finished_at: ago(120),
            ..Default::default()
        };
        assert_eq!(status_text(&c), "Exited (3) 2 minutes ago");
    }

    #[test]
    fn commands_quoted_and_cut() {
        let c = Container {
            path: "sh".into(),
            args: vec!["-c".into(), "while true; do sleep 1; done".into()],
            ..Default::default()
        };
        assert_eq!(command_text(&c, false), "\"sh -c while true; d…\"");
        assert_eq!(
            command_text(&c, true),
            "\"sh -c while true; do sleep 1; done\""
        );
        assert_eq!(ellipsis("short", 20), "short");
    }
}
