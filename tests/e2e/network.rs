//! Networking, end to end (issue 8's proof). Every test runs in a network namespace of its own
//! (the test thread unshares one before its first container tool: see
//! `support::own_network_namespace`), so the bridge, berth's nftables table and all traffic stay
//! inside it; requests go only to loopback or to the test's own containers, each bounded in time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::containers::{wait_until, Rig, IMAGE};
use crate::support::own_network_namespace;

/// An HTTP GET of `/` (or `path`) to `addr`, bounded to a few seconds: the body, or the error.
fn http_get(addr: &str, path: &str) -> Result<String, String> {
    let sa: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s = TcpStream::connect_timeout(&sa, Duration::from_secs(3))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| format!("read {addr}: {e}"))?;
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
            Ok(body.to_string())
        }
        _ => Err(format!("not a 200 answer from {addr}: {out:?}")),
    }
}

/// Polls `http_get` until it answers (a server in a container takes a moment to listen).
fn wait_http(addr: &str) -> String {
    let mut last = Err(String::new());
    wait_until(10, || {
        last = http_get(addr, "/");
        last.is_ok()
    });
    last.unwrap_or_else(|e| panic!("no answer from {addr}: {e}"))
}

/// Answers `pong` to every datagram on UDP `port` inside the network namespace of process `pid`,
/// for at most `limit`: returns where the last datagram came from.
fn udp_echo_in(
    pid: i64,
    port: u16,
    limit: Duration,
) -> std::thread::JoinHandle<Option<SocketAddr>> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("container's netns");
    std::thread::spawn(move || {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let s = UdpSocket::bind(("0.0.0.0", port)).expect("bind in the container's netns");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let end = std::time::Instant::now() + limit;
        let (mut buf, mut from) = ([0u8; 64], None);
        while std::time::Instant::now() < end {
            if let Ok((_, peer)) = s.recv_from(&mut buf) {
                let _ = s.send_to(b"pong\n", peer);
                from = Some(peer);
                break;
            }
        }
        from
    })
}

fn nft_table() -> String {
    let out = Command::new("nft")
        .args(["list", "table", "inet", "berth"])
        .output()
        .expect("nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn links() -> String {
    let out = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn leases(rig: &Rig) -> String {
    std::fs::read_to_string(rig.root.join("networks/leases.json")).unwrap_or_default()
}

/// Asserts that nothing of container `id` is left in the kernel or the leases.
fn nothing_left_of(rig: &Rig, id: &str) {
    let table = nft_table();
    assert!(!table.contains(&format!("ctr:{id}")), "rules left: {table}");
    let l = links();
    assert!(!l.contains(&format!("vb{}", &id[..11])), "veth left: {l}");
    assert!(!leases(rig).contains(id), "lease left: {}", leases(rig));
}

/// A directory with an index.html, for httpd to serve.
fn www(rig: &Rig, text: &str) -> String {
    let d = rig.path("www");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("index.html"), text).unwrap();
    d.to_string_lossy().into_owned()
}

fn ip_of(rig: &Rig, id: &str) -> String {
    let v = rig.inspect(id);
    let settings: berth::container::NetworkSettings =
        serde_json::from_value(v["NetworkSettings"].clone()).expect("NetworkSettings");
    Some(settings.ip_address.clone())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            settings
                .networks
                .values()
                .next()
                .map(|e| e.ip_address.clone())
        })
        .unwrap_or_else(|| panic!("no address: {v:#}"))
}

#[test]
fn published_port_serves_a_volume_page_and_leaves_nothing() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();
    let dir = www(&rig, "hello from berth\n");
    let id = rig.detach(&[
        "-p",
        "8080:80",
        "-v",
        &format!("{dir}:/www:ro"),
        IMAGE,
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/www",
    ]);
    // localhost, the host's address on the bridge, the container's own address.
    assert_eq!(wait_http("127.0.0.1:8080"), "hello from berth\n");
    let v = rig.inspect(&id);
    let ns = &v["NetworkSettings"];
    assert_eq!(ns["Gateway"], "172.17.0.1", "{ns:#}");
    assert_eq!(ns["IPAddress"], "172.17.0.2", "{ns:#}");
    assert_eq!(ns["IPPrefixLen"], 16);
    assert_eq!(ns["MacAddress"], "02:42:ac:11:00:02");
    assert_eq!(ns["Ports"]["80/tcp"][0]["HostPort"], "8080", "{ns:#}");
    assert_eq!(ns["Ports"]["80/tcp"][0]["HostIp"], "0.0.0.0");
    assert_eq!(ns["Networks"]["bridge"]["IPAddress"], "172.17.0.2");
    assert_eq!(
        v["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        "8080"
    );
    assert_eq!(v["HostConfig"]["NetworkMode"], "bridge");
    assert_eq!(
        http_get("172.17.0.1:8080", "/").unwrap(),
        "hello from berth\n"
    );
    assert_eq!(
        http_get("172.17.0.2:80", "/").unwrap(),
        "hello from berth\n"
    );
    // Another container reaches it through the published port and directly.
    let got = rig.sh(
        &[],
        "wget -qO- http://172.17.0.1:8080/ && wget -qO- http://172.17.0.2/",
    );
    assert_eq!(got, "hello from berth\nhello from berth\n");
    // The container's own view: eth0 with its address, a default route, /etc/hosts.
    let out = rig
        .t(
            "ctr-exec",
            &[
                &id,
                "sh",
                "-c",
                "ip -o -4 addr show eth0; ip route; cat /etc/hosts",
            ],
            20,
        )
        .ok()
        .stdout;
    assert!(out.contains("inet 172.17.0.2/16"), "{out}");
    assert!(out.contains("default via 172.17.0.1"), "{out}");
    assert!(out.contains(&format!("172.17.0.2\t{}", &id[..12])), "{out}");
    assert!(out.contains("127.0.0.1\tlocalhost"), "{out}");
    // The port is taken while it runs.
    assert!(std::net::TcpListener::bind("0.0.0.0:8080").is_err());
    assert!(nft_table().contains(&format!("ctr:{id}")));

    rig.t("ctr-rm", &["-f", &id], 30).ok();
    nothing_left_of(&rig, &id);
    assert!(
        std::net::TcpListener::bind("0.0.0.0:8080").is_ok(),
        "port 8080 is free again"
    );
    assert!(http_get("127.0.0.1:8080", "/").is_err());
}

#[test]
fn random_ports_publish_all_and_udp() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();
    let dir = www(&rig, "any port\n");
    // -p CTR picks a free host port; --expose + -P publishes the exposed ports too.
    let id = rig.detach(&[
        "-p",
        "80",
        "--expose",
        "81",
        "-P",
        "-v",
        &format!("{dir}:/www"),
        IMAGE,
        "sh",
        "-c",
        "httpd -p 81 -h /www; exec httpd -f -p 80 -h /www",
    ]);
    let ports = rig.inspect(&id)["NetworkSettings"]["Ports"].clone();
    let p80 = ports["80/tcp"][0]["HostPort"].as_str().unwrap().to_string();
    let p81 = ports["81/tcp"][0]["HostPort"].as_str().unwrap().to_string();
    assert_ne!(p80, p81, "{ports:#}");
    assert_eq!(wait_http(&format!("127.0.0.1:{p80}")), "any port\n");
    assert_eq!(wait_http(&format!("127.0.0.1:{p81}")), "any port\n");
    rig.t("ctr-rm", &["-f", &id], 30).ok();
    nothing_left_of(&rig, &id);

    // UDP: busybox has no UDP server, so the test answers from inside the container's network
    // namespace itself (a thread that joins it), and the datagram goes through the DNAT rule.
    let id = rig.detach(&["-p", "5353:53/udp", IMAGE, "sleep", "60"]);
    let pid = rig.inspect(&id)["State"]["Pid"].as_i64().unwrap();
    let server = udp_echo_in(pid, 53, Duration::from_secs(12));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    let answered = wait_until(10, || {
        let _ = s.send_to(b"ping\n", "127.0.0.1:5353");
        matches!(s.recv_from(&mut buf), Ok((n, _)) if &buf[..n] == b"pong\n")
    });
    let from = server.join().unwrap();
    assert!(answered, "no UDP answer through 5353/udp");
    // The datagram arrived from the bridge's gateway (masqueraded), not from 127.0.0.1.
    assert!(from.is_some_and(|a| !a.ip().is_loopback()), "{from:?}");
    rig.t("ctr-rm", &["-f", &id], 30).ok();
    nothing_left_of(&rig, &id);
}

#[test]
fn a_taken_host_port_is_a_clear_error_that_leaves_nothing() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();
    let a = rig.detach(&["-p", "9000:80", IMAGE, "sleep", "60"]);
    let before = leases(&rig);
    let out = rig.t(
        "ctr-run",
        &[
            "-d", "--name", "second", "-p", "9000:80", IMAGE, "sleep", "60",
        ],
        30,
    );
    assert_eq!(out.code, 125, "{out:?}");
    assert!(
        out.stderr.contains("9000"),
        "the error names the port: {out:?}"
    );
    assert!(out.stderr.contains("already in use"), "{out:?}");
    let second = rig.inspect("second");
    assert_ne!(second["State"]["Status"], "running");
    let id2 = second["Id"].as_str().unwrap().to_string();
    nothing_left_of(&rig, &id2);
    assert_eq!(leases(&rig), before, "the failed start changed the leases");
    // A process listening on a port blocks it too.
    let l = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let out = rig.t(
        "ctr-run",
        &["--rm", "-p", &format!("{port}:80"), IMAGE, "true"],
        30,
    );
    assert_eq!(out.code, 125, "{out:?}");
    assert!(out.stderr.contains(&port), "{out:?}");
    rig.t("ctr-rm", &["-f", &a], 30).ok();
    nothing_left_of(&rig, &a);
}

#[test]
fn none_host_and_container_modes() {
    require_root!();
    own_network_namespace();
    let rig = Rig::new();
    let out = rig.sh(
        &["--network", "none"],
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1",
    );
    let ifs: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(ifs, ["lo"], "{out}");
    let out = rig.sh(
        &["--network", "host"],
        "cat /proc/net/dev | tail -n +3 | cut -d: -f1",
    );
    assert!(out.split_whitespace().any(|i| i == "lo"), "{out}");
    // container:A sees A's interfaces and addresses.
    let a = rig.detach(&["--name", "a", IMAGE, "sleep", "60"]);
    let ip = ip_of(&rig, &a);
    let out = rig.sh(&["--network", "container:a"], "ip -o -4 addr show eth0");
    assert!(out.contains(&format!("inet {ip}/")), "{out}");
    let out = rig.t(
        "ctr-run",
        &[
            "--rm",
            "--network",
            "container:a",
            "-p",
            "80:80",
            IMAGE,
            "true",
        ],
        20,
    );
    assert_eq!(out.code, 125, "{out:?}");
    assert!(out.stderr.contains("conflicting options"), "{out:?}");
    rig.t("ctr-rm", &["-f", &a], 30).ok();
    nothing_left_of(&rig, &a);
}

#[test]
fn forty_containers_four_at_a_time_get_distinct_addresses() {
    require_root!();
    own_network_namespace();
    let rig = Rig::new();
    let ids: Vec<String> = std::thread::scope(|s| {
        let rig = &rig;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(move || {
                    (0..10)
                        .map(|_| rig.detach(&[IMAGE, "sleep", "120"]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a starter thread"))
            .collect()
    });
    assert_eq!(ids.len(), 40);
    let ips: std::collections::BTreeSet<String> = ids.iter().map(|id| ip_of(&rig, id)).collect();
    assert_eq!(ips.len(), 40, "{ips:?}");
    let leased: Value = serde_json::from_str(&leases(&rig)).unwrap();
    let n: usize = leased
        .as_object()
        .unwrap()
        .values()
        .map(|m| m.as_object().unwrap().len())
        .sum();
    assert_eq!(n, 40);
    for id in &ids {
        rig.t("ctr-rm", &["-f", id], 30).ok();
    }
    let leased: Value = serde_json::from_str(&leases(&rig)).unwrap_or(Value::Null);
    assert!(
        leased.as_object().is_none_or(|m| m.is_empty()),
        "leases left: {leased}"
    );
    assert!(!links().contains(" vb"), "{}", links());
}

#[test]
fn a_killed_monitor_then_rm_leaves_nothing() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();
    let id = rig.detach(&["-p", "9100:80", IMAGE, "sleep", "60"]);
    let monitor = rig.inspect(&id)["State"]["MonitorPid"]
        .as_i64()
        .or_else(|| {
            let p = rig.root.join("containers").join(&id).join("state.json");
            let v: Value = serde_json::from_slice(&std::fs::read(p).ok()?).ok()?;
            v["State"]["MonitorPid"].as_i64()
        })
        .expect("the monitor's pid");
    assert!(monitor > 0);
    Command::new("kill")
        .args(["-9", &monitor.to_string()])
        .status()
        .unwrap();
    rig.t("ctr-rm", &["-f", &id], 30).ok();
    nothing_left_of(&rig, &id);
    assert!(std::net::TcpListener::bind("0.0.0.0:9100").is_ok());

    // Everything killed (monitor and container) and the record gone: the next network
    // operation finds the stale lease and rules and removes them.
    let id = rig.detach(&["-p", "9101:80", IMAGE, "sleep", "60"]);
    let v = rig.inspect(&id);
    let pid = v["State"]["Pid"].as_i64().unwrap();
    let p = rig.root.join("containers").join(&id).join("state.json");
    let rec: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let monitor = rec["State"]["MonitorPid"].as_i64().unwrap();
    for p in [monitor, pid] {
        Command::new("kill")
            .args(["-9", &p.to_string()])
            .status()
            .unwrap();
    }
    assert!(wait_until(10, || !std::path::Path::new(&format!(
        "/proc/{pid}"
    ))
    .exists()));
    assert!(leases(&rig).contains(&id));
    let other = rig.detach(&[IMAGE, "sleep", "60"]);
    nothing_left_of(&rig, &id);
    rig.t("ctr-rm", &["-f", &id, &other], 30).ok();
}

/// Kills container `id`'s monitor and init (SIGKILL, as a crash would) and waits for the init
/// to be gone: its lease stays behind.
fn kill_with_monitor(rig: &Rig, id: &str) {
    let p = rig.root.join("containers").join(id).join("state.json");
    let rec: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let pid = rec["State"]["Pid"].as_i64().unwrap();
    let monitor = rec["State"]["MonitorPid"].as_i64().unwrap();
    assert!(pid > 0 && monitor > 0, "{rec}");
    for p in [monitor, pid] {
        Command::new("kill")
            .args(["-9", &p.to_string()])
            .status()
            .unwrap();
    }
    assert!(wait_until(10, || !std::path::Path::new(&format!(
        "/proc/{pid}"
    ))
    .exists()));
}

#[test]
fn a_dead_containers_lease_is_reclaimed_when_its_address_is_needed() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();
    // Five addresses: .2 to .6 (.1 is the gateway).
    rig.t("net-create", &["--subnet", "10.79.0.0/29", "tiny"], 20)
        .ok();
    let run = |extra: &[&str]| {
        let mut a = vec!["--network", "tiny"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[IMAGE, "sleep", "300"]);
        rig.detach(&a)
    };

    // A container holding .6 dies with its monitor: a join that needs another address leaves
    // its lease alone (a join checks no other container's lease)...
    let a = run(&["--ip", "10.79.0.6"]);
    kill_with_monitor(&rig, &a);
    let b = run(&[]);
    assert_eq!(ip_of(&rig, &b), "10.79.0.2");
    assert!(leases(&rig).contains(&a), "{}", leases(&rig));
    // ... one that asks for its address gets it, and nothing of the dead one is left.
    let c = run(&["--ip", "10.79.0.6"]);
    assert_eq!(ip_of(&rig, &c), "10.79.0.6");
    nothing_left_of(&rig, &a);

    // The pool full but for a dead container's address: the next join gets it.
    let d = run(&[]);
    assert_eq!(ip_of(&rig, &d), "10.79.0.3");
    kill_with_monitor(&rig, &d);
    let e = run(&[]);
    let f = run(&[]);
    assert_eq!(
        [ip_of(&rig, &e), ip_of(&rig, &f)],
        ["10.79.0.4", "10.79.0.5"]
    );
    let g = run(&[]);
    assert_eq!(ip_of(&rig, &g), "10.79.0.3");
    nothing_left_of(&rig, &d);

    // Full of live containers: no address is taken from any of them.
    rig.t(
        "ctr-run",
        &["-d", "--network", "tiny", IMAGE, "sleep", "300"],
        30,
    )
    .fails_with(125, "no free address");
    rig.t(
        "ctr-run",
        &[
            "-d",
            "--network",
            "tiny",
            "--ip",
            "10.79.0.5",
            IMAGE,
            "sleep",
            "300",
        ],
        30,
    )
    .fails_with(125, "already in use");
    let mut all = vec![a.as_str(), &b, &c, &d, &e, &f, &g];
    all.insert(0, "-f");
    rig.t("ctr-rm", &all, 60).ok();
    assert!(!leases(&rig).contains("10.79.0."), "{}", leases(&rig));
}

#[test]
fn on_the_default_bridge_no_container_is_written_into_anothers_hosts_file() {
    require_root!();
    own_network_namespace();
    let rig = Rig::new();
    let x = rig.detach(&["--name", "x", IMAGE, "sleep", "300"]);
    let path = rig.root.join("containers").join(&x).join("hosts");
    let before = std::fs::read_to_string(&path).unwrap();
    let y = rig.detach(&["--name", "y", IMAGE, "sleep", "300"]);
    let ip_y = ip_of(&rig, &y);
    let now = std::fs::read_to_string(&path).unwrap();
    assert_eq!(now, before);
    assert!(!now.contains(&format!("{ip_y}\t")), "{now}");
    rig.t("ctr-rm", &["-f", &y], 30).ok();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    rig.t("ctr-rm", &["-f", &x], 30).ok();
}
