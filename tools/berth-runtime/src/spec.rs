//! `spec`: runc's starter config.json (runc 1.1's `specconv.Example`, and `--rootless` its
//! `ToRootless`), written into the bundle as runc writes it (tab-indented, mode 0666 less the
//! umask), never over an existing one.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

/// runc's example spec: `sh` on a terminal, three capabilities, its own pid, network, ipc, uts
/// and mount namespaces, the usual /proc, /dev, /sys mounts, masked and read-only paths.
pub fn example() -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// runc's `ToRootless`: a user namespace mapping the caller's uid and gid to root, no network
/// namespace and no device rules (an unprivileged user can set neither), devpts without
/// `gid=`, and /sys bound from the host (sysfs cannot be mounted without the network namespace).
pub fn to_rootless(spec: &mut Value, uid: u32, gid: u32) {
    let linux = &mut spec["linux"];
    let namespaces: Vec<Value> = linux["namespaces"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter(|n| n["type"] != "network" && n["type"] != "user")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut namespaces = namespaces;
    namespaces.push(json!({"type": "user"}));
    let obj = linux.as_object_mut().expect("linux is an object");
    obj.remove("resources");
    let masked = obj.remove("maskedPaths");
    let readonly = obj.remove("readonlyPaths");
    obj.remove("namespaces");
    obj.insert(
        "uidMappings".into(),
        json!([{"containerID": 0, "hostID": uid, "size": 1}]),
    );
    obj.insert(
        "gidMappings".into(),
        json!([{"containerID": 0, "hostID": gid, "size": 1}]),
    );
    obj.insert("namespaces".into(), Value::Array(namespaces));
    if let Some(m) = masked {
        obj.insert("maskedPaths".into(), m);
    }
    if let Some(r) = readonly {
        obj.insert("readonlyPaths".into(), r);
    }
    for m in spec["mounts"].as_array_mut().into_iter().flatten() {
        if m["type"] == "devpts" {
            if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| !o.as_str().is_some_and(|o| o.starts_with("gid=")));
            }
        }
        if m["type"] == "sysfs" {
            let mut opts = vec![json!("rbind")];
            opts.extend(m["options"].as_array().cloned().unwrap_or_default());
            *m = json!({"destination": m["destination"], "type": "none", "source": "/sys",
                        "options": opts});
        }
    }
}

/// Writes the spec as `BUNDLE/config.json`; an existing one is an error (runc's words).
pub fn write(bundle: &Path, rootless: bool) -> Result<(), String> {
    if !bundle.is_dir() {
        return Err(format!("Directory {} not found", bundle.display()));
    }
    let mut spec = example();
    if rootless {
        to_rootless(
            &mut spec,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
    }
    let path = bundle.join("config.json");
    let mut text = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut text, fmt);
    serde::Serialize::serialize(&spec, &mut ser).map_err(|e| e.to_string())?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => "File config.json exists. Remove it first".into(),
            _ => format!("write {}: {e}", path.display()),
        })?;
    f.write_all(&text)
        .map_err(|e| format!("write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_maps_the_caller_and_drops_what_it_cannot_do() {
        let mut s = example();
        to_rootless(&mut s, 1000, 100);
        let types: Vec<&str> = s["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["pid", "ipc", "uts", "mount", "user"]);
        assert_eq!(s["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(s["linux"]["gidMappings"][0]["hostID"], 100);
        assert!(s["linux"].get("resources").is_none());
        let devpts = &s["mounts"][2]["options"];
        assert!(!devpts.to_string().contains("gid="), "{devpts}");
        assert_eq!(s["mounts"][5]["type"], "none");
        assert_eq!(s["mounts"][5]["options"][0], "rbind");
    }

    #[test]
    fn an_existing_config_is_kept() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), "mine").unwrap();
        let e = write(d.path(), false).unwrap_err();
        assert_eq!(e, "File config.json exists. Remove it first");
        assert_eq!(
            std::fs::read_to_string(d.path().join("config.json")).unwrap(),
            "mine"
        );
        assert!(write(&d.path().join("nope"), false).is_err());
    }
}
