//! Golden records (issue 14's proof): a container made with many flags, on a user network with a
//! named volume, a bind and a tmpfs, is run and stopped, and what `ctr-inspect`, `net-inspect`,
//! `vol-inspect` print, and the `state.json` and `config.json` ctr-create writes, are compared
//! with the files in `tests/fixtures/golden/` after what varies from run to run (IDs, times,
//! pids, the test's temporary directory, the published host port) is replaced by placeholders.
//! The expected files were recorded from the code before the records were typed, so they prove
//! that typing them changed nothing. `BERTH_GOLDEN_RECORD=1` rewrites them.

use std::path::PathBuf;

use serde_json::Value;

use crate::containers::{Rig, IMAGE};
use crate::support::{free_port, own_network_namespace};

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("golden")
}

/// Replaces what varies between runs in `v`: the `subst` pairs first (longest first), then
/// any other 64-hex string, RFC 3339 times, pids, and the numbers after `/proc/`.
fn normalise(v: &Value, subst: &[(String, String)]) -> Value {
    match v {
        Value::String(s) => Value::String(normalise_str(s, subst)),
        Value::Array(a) => Value::Array(a.iter().map(|x| normalise(x, subst)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let k2 = normalise_str(k, subst);
                    let x2 = match (k.as_str(), x) {
                        ("Pid" | "MonitorPid" | "PidStart" | "MonitorStart", Value::Number(n))
                            if n.as_u64() != Some(0) =>
                        {
                            Value::String("<n>".into())
                        }
                        _ => normalise(x, subst),
                    };
                    (k2, x2)
                })
                .collect(),
        ),
        v => v.clone(),
    }
}

fn normalise_str(s: &str, subst: &[(String, String)]) -> String {
    let mut s = s.to_string();
    for (from, to) in subst {
        if !from.is_empty() {
            s = s.replace(from.as_str(), to);
        }
    }
    // Any other 64-hex run (snapshot chain IDs, layer digests).
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let run = b[i..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        if run == 64 && b[i..i + 64].iter().all(|c| !c.is_ascii_uppercase()) {
            out.push_str("<hex>");
            i += 64;
        } else if run > 0 {
            out.push_str(&s[i..i + run]);
            i += run;
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    let s = out;
    // /proc/<pid>/...
    let s = match s.find("/proc/") {
        Some(at) => {
            let rest = &s[at + 6..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                format!("{}/proc/<pid>{}", &s[..at], &rest[digits..])
            } else {
                s
            }
        }
        None => s,
    };
    if is_time(&s) {
        return "<time>".into();
    }
    s
}

/// `2026-01-02T03:04:05…Z`, but not Docker's zero time (which does not vary).
fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && !s.starts_with("0001-01-01T")
}

/// Takes the `Config` object out of a container record (`state.json`) or out of each of
/// ctr-inspect's, leaving `null` in its place so that the other keys keep their order.
fn take_configs(v: &mut Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.iter_mut().flat_map(take_configs).collect(),
        Value::Object(o) => o.get_mut("Config").map(Value::take).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Compares `got` with the golden file `name` (or records it): as text, so the order of keys
/// counts, but for `config.json`, whose keys a runtime reads in any order (oci-spec writes them
/// in its own), compared as JSON values, and for the containers' `Config` objects (in
/// ctr-inspect's output and `state.json`), compared as JSON values too: their keys follow Go's
/// `container.Config` (the golden files have `ExposedPorts` after `Labels`); the rest of those
/// files is compared as text.
fn check(name: &str, got: &Value, failures: &mut Vec<String>) {
    let path = golden_dir().join(name);
    let text = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var_os("BERTH_GOLDEN_RECORD").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (record with BERTH_GOLDEN_RECORD=1)",
            path.display()
        )
    });
    let same = if name.starts_with("config") {
        serde_json::from_str::<Value>(&want).ok().as_ref() == Some(got)
    } else if name.starts_with("ctr-inspect") || name.starts_with("state") {
        let mut want_v: Value = serde_json::from_str(&want).unwrap();
        // The golden file is as this function writes it, so the rest can be compared as text.
        let canonical = serde_json::to_string_pretty(&want_v).unwrap() + "\n" == want;
        let mut got_v = got.clone();
        let (want_configs, got_configs) = (take_configs(&mut want_v), take_configs(&mut got_v));
        canonical
            && !want_configs.is_empty()
            && want_configs == got_configs
            && serde_json::to_string_pretty(&want_v).unwrap()
                == serde_json::to_string_pretty(&got_v).unwrap()
    } else {
        want == text
    };
    if !same {
        let got_path = std::env::temp_dir().join(format!("golden-got-{name}"));
        std::fs::write(&got_path, &text).unwrap();
        failures.push(format!(
            "{name} differs: diff {} {}",
            path.display(),
            got_path.display()
        ));
    }
}

/// `$v` decoded as a `$t` and encoded again is `$v`, keys in the same order.
macro_rules! roundtrip {
    ($t:ty, $v:expr) => {{
        let v: &Value = $v;
        let t: $t = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"));
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            serde_json::to_string(v).unwrap()
        );
    }};
}

fn first(v: Value) -> Value {
    match v {
        Value::Array(mut a) if !a.is_empty() => a.remove(0),
        v => v,
    }
}

fn read_json(p: PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{p:?}: {e}"))).unwrap()
}

#[test]
fn inspect_output_matches_the_golden_files() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();
    let image_id = rig.t("img-inspect", &[IMAGE], 20).ok().json();
    let image_id = first(image_id)["Id"].as_str().unwrap().to_string();

    let net = rig
        .t(
            "net-create",
            &["--subnet", "10.90.0.0/24", "--label", "env=golden", "front"],
            20,
        )
        .ok()
        .json();
    let net_id = net["id"].as_str().unwrap().to_string();
    rig.t("vol-create", &["--label", "v=1", "data"], 20).ok();
    let bind = rig.path("bind");
    std::fs::create_dir_all(&bind).unwrap();
    std::fs::write(bind.join("f"), "x").unwrap();
    let port = free_port().to_string();
    let publish = format!("127.0.0.1:{port}:80");
    let bind_arg = format!("{}:/b:ro", bind.display());

    // One with many flags, detached; one as the defaults make it, only created.
    let id = rig.detach(&[
        "--name",
        "golden",
        "-e",
        "A=1",
        "-e",
        "B=two words",
        "-l",
        "tier=web",
        "-l",
        "empty=",
        "-w",
        "/tmp",
        "-p",
        &publish,
        "--expose",
        "9000",
        "-v",
        "data:/data",
        "-v",
        &bind_arg,
        "--mount",
        "type=volume,src=data2,dst=/d2",
        "--tmpfs",
        "/scratch:size=1m",
        "--network",
        "front",
        "--network-alias",
        "al",
        "--ip",
        "10.90.0.5",
        "--mac-address",
        "02:42:0a:5a:00:05",
        "--add-host",
        "h1:10.1.1.1",
        "--memory",
        "64m",
        "--pids-limit",
        "100",
        "--cpus",
        "0.5",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "MKNOD",
        "--security-opt",
        "no-new-privileges",
        "--ulimit",
        "nofile=1024:2048",
        "--stop-timeout",
        "1",
        IMAGE,
        "sleep",
        "300",
    ]);
    let plain = rig.t("ctr-create", &[IMAGE, "true"], 30).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let plain_name = first(rig.t("ctr-inspect", &[&plain], 20).ok().json())["Name"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();

    let tmp = rig.tmp.path().to_string_lossy().into_owned();
    let mut subst = vec![
        (id.clone(), "<ctr-id>".to_string()),
        (plain.clone(), "<plain-id>".to_string()),
        (net_id.clone(), "<net-id>".to_string()),
        (image_id.clone(), "<img-id>".to_string()),
        (tmp, "<tmp>".to_string()),
        (publish.clone(), "127.0.0.1:<port>:80".to_string()),
        (format!("\"{port}\""), "\"<port>\"".to_string()),
        (id[..12].to_string(), "<ctr-short>".to_string()),
        (plain[..12].to_string(), "<plain-short>".to_string()),
        (net_id[..12].to_string(), "<net-short>".to_string()),
        // The bridge's name: `berth-` and 8 digits of the network's ID.
        (
            format!("berth-{}", &net_id[..8]),
            "berth-<net8>".to_string(),
        ),
    ];
    if !plain_name.is_empty() {
        subst.push((plain_name, "<plain-name>".to_string()));
    }
    subst.sort_by_key(|(a, _)| std::cmp::Reverse(a.len()));
    // HostPort values are the port alone.
    let fix_port = |v: Value| -> Value {
        let s = serde_json::to_string(&v).unwrap();
        let s = s.replace(
            &format!("\"HostPort\":\"{port}\""),
            "\"HostPort\":\"<port>\"",
        );
        serde_json::from_str(&s).unwrap()
    };
    let n = |v: Value| fix_port(normalise(&v, &subst));

    let dir = rig.root.join("containers").join(&id);
    let mut failures = Vec::new();
    // The library's types read what ctr-inspect prints and write it back byte for byte.
    for c in rig
        .t("ctr-inspect", &[&id, &plain], 20)
        .ok()
        .json()
        .as_array()
        .unwrap()
    {
        roundtrip!(berth::container::HostConfig, &c["HostConfig"]);
        roundtrip!(berth::container::NetworkSettings, &c["NetworkSettings"]);
        roundtrip!(Vec<berth::container::MountPoint>, &c["Mounts"]);
        roundtrip!(berth::container::Status, &c["State"]["Status"]);
        // Config's keys are in Go's order, not those of the golden files: the same as values.
        let config: berth::config::Config = serde_json::from_value(c["Config"].clone()).unwrap();
        assert_eq!(serde_json::to_value(&config).unwrap(), c["Config"]);
    }
    check(
        "ctr-inspect-running.json",
        &n(rig.t("ctr-inspect", &[&id], 20).ok().json()),
        &mut failures,
    );
    check(
        "net-inspect-running.json",
        &n(rig.t("net-inspect", &["front"], 20).ok().json()),
        &mut failures,
    );
    check(
        "config.json",
        &n(read_json(dir.join("config.json"))),
        &mut failures,
    );
    check(
        "state-running.json",
        &n(read_json(dir.join("state.json"))),
        &mut failures,
    );

    rig.t("ctr-stop", &["golden"], 30).ok();
    check(
        "ctr-inspect-stopped.json",
        &n(rig.t("ctr-inspect", &[&id, &plain], 20).ok().json()),
        &mut failures,
    );
    check(
        "net-inspect-stopped.json",
        &n(rig
            .t("net-inspect", &["front", "bridge", "host", "none"], 20)
            .ok()
            .json()),
        &mut failures,
    );
    check(
        "vol-inspect.json",
        &n(rig.t("vol-inspect", &["data", "data2"], 20).ok().json()),
        &mut failures,
    );
    check(
        "state-stopped.json",
        &n(read_json(dir.join("state.json"))),
        &mut failures,
    );
    check(
        "config-plain.json",
        &n(read_json(
            rig.root.join("containers").join(&plain).join("config.json"),
        )),
        &mut failures,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
