//! The network tools, end to end (issue 8): `net-create`, `net-ls`, `net-inspect`,
//! `net-connect`, `net-disconnect`, `net-rm`, `net-prune`, `ctr-port` and `ctr-ls`'s PORTS, run
//! as a user would. Each test runs in a network namespace of its own (see
//! `support::own_network_namespace`); traffic goes only between the test's own containers.

use serde_json::Value;

use crate::containers::{wait_until, Rig, IMAGE};
use crate::support::own_network_namespace;

/// `ctr-exec ID sh -c SCRIPT`: its output and exit code.
fn exec(rig: &Rig, id: &str, script: &str) -> crate::support::Out {
    rig.t("ctr-exec", &[id, "sh", "-c", script], 30)
}

/// Whether `from` reaches `to` (a name or an address) with one ping.
fn pings(rig: &Rig, from: &str, to: &str) -> bool {
    exec(rig, from, &format!("ping -c1 -W2 {to}")).code == 0
}

fn net_inspect(rig: &Rig, net: &str) -> Value {
    let v = rig.t("net-inspect", &[net], 20).ok().json();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v:#}");
    v[0].clone()
}

/// The names of the containers `net-inspect` lists on `net`.
fn members(rig: &Rig, net: &str) -> Vec<String> {
    let mut names: Vec<String> = net_inspect(rig, net)["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["Name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn ip_on(rig: &Rig, id: &str, net: &str) -> String {
    let v = rig.inspect(id);
    let settings: berth::container::NetworkSettings =
        serde_json::from_value(v["NetworkSettings"].clone()).expect("NetworkSettings");
    settings
        .networks
        .get(net)
        .map(|e| e.ip_address.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("no address on {net}: {v:#}"))
}

fn net_names(rig: &Rig, args: &[&str]) -> Vec<String> {
    let mut a = vec!["--format", "{{.Name}}"];
    a.extend_from_slice(args);
    rig.t("net-ls", &a, 20)
        .ok()
        .lines()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn user_networks_names_isolation_connect_disconnect_rm_prune() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();

    // Create, with clear errors for what cannot be.
    let made = rig
        .t(
            "net-create",
            &["--subnet", "10.77.0.0/24", "--label", "env=test", "front"],
            20,
        )
        .ok()
        .json();
    assert_eq!(made["name"], "front");
    let front_id = made["id"].as_str().unwrap().to_string();
    assert_eq!(front_id.len(), 64, "{made}");
    rig.t("net-create", &["front"], 20)
        .fails_with(1, "already exists");
    rig.t("net-create", &["--subnet", "10.77.0.128/25", "other"], 20)
        .fails_with(1, "overlaps network front");
    rig.t("net-create", &["--subnet", "10.77.0.0/33", "other"], 20)
        .fails_with(1, "invalid subnet");
    rig.t("net-create", &["--subnet", "10.77.1.1/24", "other"], 20)
        .fails_with(1, "host bits");
    assert!(!net_names(&rig, &[]).contains(&"other".to_string()));

    // net-ls: the predefined networks and ours, by name; filters; the table; -q.
    assert_eq!(net_names(&rig, &[]), ["bridge", "front", "host", "none"]);
    assert_eq!(net_names(&rig, &["--filter", "type=custom"]), ["front"]);
    assert_eq!(
        net_names(&rig, &["--filter", "type=builtin"]),
        ["bridge", "host", "none"]
    );
    assert_eq!(net_names(&rig, &["-f", "label=env=test"]), ["front"]);
    assert_eq!(net_names(&rig, &["-f", "driver=null"]), ["none"]);
    let rows = rig.t("net-ls", &["--format", "json"], 20).ok().json_lines();
    let row = rows.iter().find(|r| r["Name"] == "front").unwrap();
    assert_eq!(row["ID"], &front_id[..12]);
    assert_eq!(row["Driver"], "bridge");
    assert_eq!(row["Scope"], "local");
    assert_eq!(row["Labels"], "env=test");
    let q = rig
        .t("net-ls", &["-q", "--no-trunc", "-f", "name=front"], 20)
        .ok();
    assert_eq!(q.stdout, format!("{front_id}\n"));
    let table = rig.t("net-ls", &["--format", "table"], 20).ok().stdout;
    let head = table.lines().next().unwrap();
    for h in ["NETWORK ID", "NAME", "DRIVER", "SCOPE"] {
        assert!(head.contains(h), "{table}");
    }
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&front_id[..12]) && l.contains("front")),
        "{table}"
    );
    rig.t("net-ls", &["-f", "type=other"], 20)
        .fails_with(2, "custom or builtin");

    // net-inspect: Docker's shape; by ID prefix too.
    let v = net_inspect(&rig, "front");
    assert_eq!(v["Name"], "front");
    assert_eq!(v["Id"], front_id.as_str());
    assert_eq!(v["Driver"], "bridge");
    assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24");
    assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "10.77.0.1");
    assert_eq!(v["Labels"]["env"], "test");
    assert_eq!(v["Containers"], serde_json::json!({}));
    assert_eq!(net_inspect(&rig, &front_id[..10])["Name"], "front");
    rig.t("net-inspect", &["nope"], 20).fails_with(1, "nope");

    // Two containers on it reach each other by name and by alias.
    let a = rig.detach(&["--network", "front", "--name", "a", IMAGE, "sleep", "300"]);
    let b = rig.detach(&[
        "--network",
        "front",
        "--name",
        "b",
        "--network-alias",
        "bee",
        IMAGE,
        "sleep",
        "300",
    ]);
    assert_eq!(members(&rig, "front"), ["a", "b"]);
    let v = net_inspect(&rig, "front");
    let ep = &v["Containers"][&a];
    assert!(
        ep["IPv4Address"].as_str().unwrap().starts_with("10.77.0."),
        "{v:#}"
    );
    assert!(
        ep["IPv4Address"].as_str().unwrap().ends_with("/24"),
        "{v:#}"
    );
    assert_eq!(ep["MacAddress"].as_str().unwrap().len(), 17, "{v:#}");
    assert!(pings(&rig, "a", "b"), "a cannot reach b by name");
    assert!(pings(&rig, "a", "bee"), "a cannot reach b by its alias");
    assert!(pings(&rig, "b", "a"), "b cannot reach a by name");

    // A container on a second network reaches neither.
    rig.t("net-create", &["--subnet", "10.78.0.0/24", "back"], 20)
        .ok();
    let c = rig.detach(&["--network", "back", "--name", "c", IMAGE, "sleep", "300"]);
    let ip_a = ip_on(&rig, &a, "front");
    let ip_c = ip_on(&rig, &c, "back");
    assert!(ip_c.starts_with("10.78.0."), "{ip_c}");
    assert!(!pings(&rig, "c", &ip_a), "c reached a across networks");
    assert!(!pings(&rig, "c", "a"), "c resolved a across networks");
    assert!(!pings(&rig, "a", &ip_c), "a reached c across networks");

    // net-connect: a running container gets eth1 on the second network at once.
    let out = rig
        .t("net-connect", &["--alias", "ay", "back", "a"], 30)
        .ok();
    assert_eq!(out.json()["id"], a.as_str());
    assert_eq!(out.json()["network"], "back");
    let eth1 = exec(&rig, "a", "ip -o -4 addr show eth1").ok().stdout;
    let ip_a_back = ip_on(&rig, &a, "back");
    assert!(eth1.contains(&format!("inet {ip_a_back}/24")), "{eth1}");
    let hosts = exec(&rig, "a", "cat /etc/hosts").ok().stdout;
    assert!(hosts.contains(&format!("{ip_a_back}\t")), "{hosts}");
    assert!(pings(&rig, "a", "c"), "a cannot reach c after net-connect");
    assert!(pings(&rig, "c", "a"), "c cannot reach a after net-connect");
    assert!(
        pings(&rig, "c", "ay"),
        "c cannot reach a by its alias on back"
    );
    assert!(pings(&rig, "a", "b"), "a lost front");
    assert_eq!(members(&rig, "back"), ["a", "c"]);
    let nets = rig
        .t(
            "ctr-ls",
            &["--filter", "name=^a$", "--format", "{{.Networks}}"],
            20,
        )
        .ok()
        .stdout;
    assert_eq!(nets, "front,back\n");
    rig.t("net-connect", &["back", "a"], 20)
        .fails_with(1, "already connected");
    rig.t("net-connect", &["nope", "a"], 20)
        .fails_with(1, "nope");

    // net-disconnect: the interface goes, and with it the way to c.
    let out = rig.t("net-disconnect", &["back", "a"], 30).ok();
    assert_eq!(out.json()["network"], "back");
    let gone = exec(&rig, "a", "ip link show eth1");
    assert_ne!(gone.code, 0, "eth1 is still there: {gone:?}");
    assert!(!pings(&rig, "a", &ip_c), "a still reaches c");
    let hosts = exec(&rig, "a", "cat /etc/hosts").ok().stdout;
    assert!(
        !hosts.contains(&format!("{ip_a_back}\t")),
        "a's own entry on back stayed: {hosts}"
    );
    assert_eq!(members(&rig, "back"), ["c"]);
    assert!(rig.inspect(&a)["NetworkSettings"]["Networks"]
        .get("back")
        .is_none());
    rig.t("net-disconnect", &["back", "a"], 20)
        .fails_with(1, "not connected");
    rig.t("net-disconnect", &["-f", "back", "a"], 20).ok();

    // net-rm: refused while in use and for the predefined ones, then done.
    rig.t("net-rm", &["front"], 20)
        .fails_with(1, "network front has active endpoints");
    rig.t("net-rm", &["bridge"], 20)
        .fails_with(1, "pre-defined");
    rig.t("ctr-rm", &["-f", &a, &b], 30).ok();
    let out = rig.t("net-rm", &["front"], 20).ok();
    assert_eq!(out.json()["name"], "front");
    assert_eq!(net_names(&rig, &[]), ["back", "bridge", "host", "none"]);
    rig.t("net-rm", &["front"], 20).fails_with(1, "front");
    rig.t("net-rm", &["-f", "front"], 20).ok();

    // net-prune: what no container is on, and that its filters match.
    rig.t("net-create", &["spare"], 20).ok();
    rig.t("net-create", &["--label", "keep=1", "kept"], 20).ok();
    let out = rig.t("net-prune", &["-f", "--filter", "until=1h"], 20).ok();
    assert_eq!(out.json()["NetworksDeleted"], serde_json::json!([]));
    let out = rig
        .t("net-prune", &["-f", "--filter", "label!=keep"], 20)
        .ok();
    assert_eq!(out.json()["NetworksDeleted"], serde_json::json!(["spare"]));
    rig.t("net-prune", &["-f", "--filter", "bogus=1"], 20)
        .fails_with(1, "invalid filter");
    let out = rig
        .t("net-prune", &["-f", "--filter", "label=keep=1"], 20)
        .ok();
    assert_eq!(out.json()["NetworksDeleted"], serde_json::json!(["kept"]));
    rig.t("ctr-rm", &["-f", &c], 30).ok();
    let out = rig.t("net-prune", &["-f"], 20).ok();
    assert_eq!(out.json()["NetworksDeleted"], serde_json::json!(["back"]));
    assert_eq!(net_names(&rig, &[]), ["bridge", "host", "none"]);
}

#[test]
fn a_created_container_connected_later_gets_both_networks_when_it_starts() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();
    rig.t("net-create", &["--subnet", "10.81.0.0/24", "one"], 20)
        .ok();
    rig.t("net-create", &["--subnet", "10.82.0.0/24", "two"], 20)
        .ok();
    let peer = rig.detach(&["--network", "two", "--name", "peer", IMAGE, "sleep", "300"]);
    let out = rig
        .t(
            "ctr-create",
            &["--network", "one", "--name", "late", IMAGE, "sleep", "300"],
            30,
        )
        .ok();
    let late = out.json()["id"].as_str().unwrap().to_string();
    rig.t("net-connect", &["--ip", "10.82.0.77", "two", "late"], 20)
        .ok();
    let v = rig.inspect(&late);
    let nets = &v["NetworkSettings"]["Networks"];
    assert!(
        nets.get("one").is_some() && nets.get("two").is_some(),
        "{v:#}"
    );
    assert_eq!(
        members(&rig, "two"),
        ["peer"],
        "not running: no endpoint yet"
    );
    rig.t("ctr-start", &["late"], 30).ok();
    let addrs = exec(&rig, "late", "ip -o -4 addr").ok().stdout;
    assert!(
        addrs.contains("eth0") && addrs.contains("inet 10.81.0."),
        "{addrs}"
    );
    assert!(
        addrs.contains("eth1") && addrs.contains("inet 10.82.0.77/24"),
        "{addrs}"
    );
    assert!(pings(&rig, "late", "peer"));
    assert!(pings(&rig, "peer", "late"));
    assert_eq!(members(&rig, "two"), ["late", "peer"]);
    // Stopped: its endpoint goes, its record keeps the network for the next start.
    rig.t("ctr-stop", &["-t", "1", "late"], 30).ok();
    assert!(wait_until(10, || members(&rig, "two") == ["peer"]));
    assert!(rig.inspect(&late)["NetworkSettings"]["Networks"]
        .get("two")
        .is_some());
    rig.t("net-disconnect", &["two", "late"], 20).ok();
    assert!(rig.inspect(&late)["NetworkSettings"]["Networks"]
        .get("two")
        .is_none());
    rig.t("ctr-rm", &["-f", &late, &peer], 30).ok();
}

#[test]
fn ctr_port_and_the_ports_column() {
    require_root!();
    require_program!("nft");
    own_network_namespace();
    let rig = Rig::new();
    let id = rig.detach(&[
        "--name",
        "web",
        "-p",
        "8080:80",
        "-p",
        "5353:53/udp",
        "--expose",
        "443",
        IMAGE,
        "sleep",
        "300",
    ]);
    let out = rig.t("ctr-port", &["web"], 20).ok();
    assert_eq!(
        out.stdout,
        "53/udp -> 0.0.0.0:5353\n80/tcp -> 0.0.0.0:8080\n"
    );
    assert_eq!(
        rig.t("ctr-port", &["web", "80"], 20).ok().stdout,
        "0.0.0.0:8080\n"
    );
    assert_eq!(
        rig.t("ctr-port", &["web", "80/tcp"], 20).ok().stdout,
        "0.0.0.0:8080\n"
    );
    assert_eq!(
        rig.t("ctr-port", &[&id[..12], "53/udp"], 20).ok().stdout,
        "0.0.0.0:5353\n"
    );
    rig.t("ctr-port", &["web", "81"], 20)
        .fails_with(1, "No public port '81/tcp' published for web");
    rig.t("ctr-port", &["web", "53"], 20)
        .fails_with(1, "No public port '53/tcp' published for web");
    rig.t("ctr-port", &["web", "443"], 20)
        .fails_with(1, "No public port '443/tcp' published for web");
    rig.t("ctr-port", &["nope"], 20).fails_with(1, "nope");
    let json = rig.t("ctr-port", &["--format", "json", "web"], 20).ok();
    assert_eq!(
        json.json_lines(),
        [
            serde_json::json!({"PrivatePort": 53, "Type": "udp", "IP": "0.0.0.0", "PublicPort": 5353}),
            serde_json::json!({"PrivatePort": 80, "Type": "tcp", "IP": "0.0.0.0", "PublicPort": 8080}),
        ]
    );
    let t = rig
        .t(
            "ctr-port",
            &["--format", "{{.PublicPort}}", "web", "80"],
            20,
        )
        .ok();
    assert_eq!(t.stdout, "8080\n");

    // ctr-ls: PORTS as docker ps shows it, and the JSON fields.
    let ports = "443/tcp, 0.0.0.0:5353->53/udp, 0.0.0.0:8080->80/tcp";
    let rows = rig
        .t("ctr-ls", &["--format", "json", "--filter", "name=web"], 20)
        .ok()
        .json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Ports"], ports);
    assert_eq!(rows[0]["Networks"], "bridge");
    let table = rig.t("ctr-ls", &["--format", "table"], 20).ok().stdout;
    assert!(table.lines().next().unwrap().contains("PORTS"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(ports) && l.ends_with("web")),
        "{table}"
    );

    // Stopped: nothing is published.
    rig.t("ctr-stop", &["-t", "1", "web"], 30).ok();
    assert_eq!(rig.t("ctr-port", &["web"], 20).ok().stdout, "");
    rig.t("ctr-port", &["web", "80"], 20)
        .fails_with(1, "No public port '80/tcp' published for web");
    let rows = rig
        .t(
            "ctr-ls",
            &["-a", "--format", "json", "--filter", "name=web"],
            20,
        )
        .ok()
        .json_lines();
    assert_eq!(rows[0]["Ports"], "");
    rig.t("ctr-rm", &["-f", &id], 30).ok();
}
