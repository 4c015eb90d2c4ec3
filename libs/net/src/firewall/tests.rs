use super::rules::{jump_to_ports_expr, network_of};
use super::*;
use crate::Error;
use serde_json::{json, Value};

/// The commands as the JSON nft reads.
fn json_of(cmds: Vec<Command>) -> Vec<Value> {
    cmds.iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect()
}

fn v4(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rules_of(cmds: &[Value]) -> Vec<&Value> {
    cmds.iter().map(|c| &c["add"]["rule"]).collect()
}

#[test]
fn table_has_the_five_chains_and_the_jumps() {
    let cmds = json_of(table_commands(true));
    let chains: Vec<_> = cmds
        .iter()
        .filter_map(|c| c["add"]["chain"]["name"].as_str())
        .collect();
    assert_eq!(
        chains,
        ["ports", "prerouting", "output", "postrouting", "forward"]
    );
    let pre = &cmds[2]["add"]["chain"];
    assert_eq!(pre["type"], "nat");
    assert_eq!(pre["hook"], "prerouting");
    assert_eq!(pre["prio"], -100);
    let fwd = &cmds[5]["add"]["chain"];
    assert_eq!(fwd["type"], "filter");
    assert_eq!(fwd["policy"], "accept");
    let jumps: Vec<_> = cmds
        .iter()
        .filter(|c| c["add"]["rule"]["expr"][1]["jump"]["target"] == "ports")
        .map(|c| c["add"]["rule"]["chain"].as_str().unwrap())
        .collect();
    assert_eq!(jumps, ["prerouting", "output"]);
    assert_eq!(table_commands(false).len(), 6);
}

#[test]
fn network_rules_masquerade_isolate_and_comment() {
    let n = NetRules {
        bridge: "berth0".into(),
        subnets: vec![(v4("10.88.0.1"), 16), (v4("fd00:88::1"), 64)],
        internal: false,
    };
    let cmds = json_of(network_rules(&n).unwrap());
    let rules = rules_of(&cmds);
    assert!(rules.iter().all(|r| r["comment"] == "net:berth0"));
    let text = serde_json::to_string(&cmds).unwrap();
    // The subnet is the network address, not the gateway's.
    assert!(text.contains(r#"{"prefix":{"addr":"10.88.0.0","len":16}}"#));
    assert!(text.contains(r#"{"prefix":{"addr":"fd00:88::","len":64}}"#));
    assert!(text.contains(r#""protocol":"ip6","field":"saddr""#));
    let post: Vec<_> = rules
        .iter()
        .filter(|r| r["chain"] == "postrouting")
        .collect();
    // masquerade + hairpin per subnet, and the localhost rule once.
    assert_eq!(post.len(), 5);
    assert_eq!(
        post[0]["expr"][1],
        json!({"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "berth0"}})
    );
    assert!(post
        .iter()
        .any(|r| r["expr"][1]["match"]["right"]["prefix"]["addr"] == "127.0.0.0"));
    let fwd: Vec<_> = rules.iter().filter(|r| r["chain"] == "forward").collect();
    assert_eq!(fwd.len(), 4);
    assert_eq!(fwd[0]["expr"][1]["match"]["right"], "berth*");
    assert_eq!(fwd[0]["expr"][3], json!({"drop": null}));
    assert_eq!(fwd[3]["expr"][1], json!({"accept": null}));
}

#[test]
fn internal_networks_do_not_masquerade_and_stay_inside() {
    let n = NetRules {
        bridge: "berth1".into(),
        subnets: vec![(v4("10.89.0.0"), 24)],
        internal: true,
    };
    let cmds = json_of(network_rules(&n).unwrap());
    let rules = rules_of(&cmds);
    assert!(!rules
        .iter()
        .any(|r| r["chain"] == "postrouting" && r["expr"][1]["match"]["op"] == "!="));
    let drops = rules
        .iter()
        .filter(|r| {
            r["chain"] == "forward"
                && r["expr"].as_array().unwrap().last() == Some(&json!({"drop": null}))
        })
        .count();
    assert_eq!(drops, 4);
}

#[test]
fn bad_network_input_is_refused() {
    for bridge in ["", "a\"b", "berth-much-too-long-name", "a b"] {
        let n = NetRules {
            bridge: bridge.into(),
            subnets: vec![],
            internal: false,
        };
        assert!(
            matches!(network_rules(&n), Err(Error::InvalidInput(_))),
            "{bridge}"
        );
    }
    let n = NetRules {
        bridge: "berth0".into(),
        subnets: vec![(v4("10.0.0.0"), 33)],
        internal: false,
    };
    assert!(network_rules(&n).is_err());
}

#[test]
fn port_rules_dnat() {
    let rules = [
        PortRule {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 8080,
            ctr_ip: v4("10.88.0.2"),
            ctr_port: 80,
        },
        PortRule {
            proto: Proto::Udp,
            host_ip: Some(v4("::1")),
            host_port: 53,
            ctr_ip: v4("fd00::2"),
            ctr_port: 5353,
        },
        PortRule {
            proto: Proto::Tcp,
            host_ip: Some(v4("0.0.0.0")),
            host_port: 443,
            ctr_ip: v4("10.88.0.2"),
            ctr_port: 443,
        },
    ];
    let cmds = json_of(port_rules("abc", &rules).unwrap());
    let r = rules_of(&cmds);
    assert!(r
        .iter()
        .all(|r| r["chain"] == "ports" && r["comment"] == "ctr:abc"));
    assert_eq!(
        r[0]["expr"],
        json!([
            {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}},
            {"dnat": {"family": "ip", "addr": "10.88.0.2", "port": 80}}
        ])
    );
    assert_eq!(
        r[1]["expr"][0],
        json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "daddr"}}, "right": "::1"}})
    );
    assert_eq!(r[1]["expr"][2]["dnat"]["family"], "ip6");
    // 0.0.0.0 means every address.
    assert_eq!(r[2]["expr"][0]["match"]["left"]["meta"]["key"], "nfproto");

    let mixed = PortRule {
        proto: Proto::Tcp,
        host_ip: Some(v4("127.0.0.1")),
        host_port: 1,
        ctr_ip: v4("fd00::2"),
        ctr_port: 1,
    };
    assert!(port_rules("abc", &[mixed]).is_err());
    assert!(port_rules("", &[]).is_err());
    assert!(port_rules("a\"b", &[]).is_err());
}

#[test]
fn proto_serializes_lowercase() {
    assert_eq!(serde_json::to_string(&Proto::Udp).unwrap(), "\"udp\"");
    assert_eq!(
        serde_json::from_str::<Proto>("\"tcp\"").unwrap(),
        Proto::Tcp
    );
}

/// Trimmed output of nft 1.0.6 `-j list table inet berth`.
const LISTED: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
 {"table": {"family": "inet", "name": "berth", "handle": 1}},
 {"chain": {"family": "inet", "table": "berth", "name": "prerouting", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
 {"chain": {"family": "inet", "table": "berth", "name": "ports", "handle": 2}},
 {"chain": {"family": "inet", "table": "berth", "name": "output", "handle": 3, "type": "nat", "hook": "output", "prio": -100, "policy": "accept"}},
 {"chain": {"family": "inet", "table": "berth", "name": "postrouting", "handle": 4, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
 {"chain": {"family": "inet", "table": "berth", "name": "forward", "handle": 5, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}},
 {"rule": {"family": "inet", "table": "berth", "chain": "prerouting", "handle": 6, "expr": [{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}, {"jump": {"target": "ports"}}]}},
 {"rule": {"family": "inet", "table": "berth", "chain": "output", "handle": 7, "expr": [{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}, {"jump": {"target": "ports"}}]}},
 {"rule": {"family": "inet", "table": "berth", "chain": "ports", "handle": 8, "comment": "ctr:x", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.1"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8080}}, {"dnat": {"family": "ip", "addr": "10.0.0.2", "port": 80}}]}},
 {"rule": {"family": "inet", "table": "berth", "chain": "ports", "handle": 9, "comment": "ctr:y", "expr": []}},
 {"rule": {"family": "inet", "table": "berth", "chain": "postrouting", "handle": 10, "comment": "net:berth0", "expr": [{"masquerade": null}]}},
 {"rule": {"family": "inet", "table": "berth", "chain": "forward", "handle": 11, "expr": [{"drop": null}]}}]}"#;

#[test]
fn parses_a_listing() {
    let l = parse_listing(LISTED).unwrap();
    assert_eq!(l.chains.len(), 5);
    assert_eq!(l.rules.len(), 6);
    assert!(l.is_complete());
    let x: Vec<_> = l.commented("ctr:x").collect();
    assert_eq!(x.len(), 1);
    assert_eq!((x[0].chain.as_str(), x[0].handle), ("ports", 8));
    assert_eq!(
        l.comment_suffixes(CTR_PREFIX)
            .into_iter()
            .collect::<Vec<_>>(),
        ["x", "y"]
    );
    assert_eq!(
        l.comment_suffixes(NET_PREFIX)
            .into_iter()
            .collect::<Vec<_>>(),
        ["berth0"]
    );
    assert_eq!(
        serde_json::to_value(delete_rule("ports", 8)).unwrap(),
        json!({"delete": {"rule": {"family": "inet", "table": "berth", "chain": "ports", "handle": 8}}})
    );

    // A missing jump, or a second rule in output, makes it incomplete.
    let mut broken = l.clone();
    broken.rules.retain(|r| r.chain != "output");
    assert!(!broken.is_complete());
    let mut doubled = l.clone();
    doubled.rules.push(l.rules[1].clone());
    assert!(!doubled.is_complete());
    assert!(parse_listing("{}").is_err());
    assert!(parse_listing("not json").is_err());
}

#[test]
fn network_address() {
    assert_eq!(network_of(v4("10.88.3.7"), 16), v4("10.88.0.0"));
    assert_eq!(network_of(v4("10.88.3.7"), 0), v4("0.0.0.0"));
    assert_eq!(network_of(v4("10.88.3.7"), 32), v4("10.88.3.7"));
    assert_eq!(network_of(v4("fd00:1:2:3::9"), 48), v4("fd00:1:2::"));
}

/// The documents berth sends nft, byte for byte as they were when the rules were built with
/// `json!` (recorded before the rules were typed).
#[test]
fn documents_are_byte_identical() {
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    let doc = |cmds: Vec<Command>| serde_json::to_string(&document(cmds)).unwrap();
    let mut out = vec![doc(table_commands(true)), doc(table_commands(false))];
    for internal in [false, true] {
        let n = NetRules {
            bridge: "berth3".into(),
            subnets: vec![(ip("10.88.0.1"), 16), (ip("fd00:88::1"), 64)],
            internal,
        };
        out.push(doc(network_rules(&n).unwrap()));
        let n = NetRules {
            bridge: "berth4".into(),
            subnets: vec![(ip("fd00:1::1"), 64)],
            internal,
        };
        out.push(doc(network_rules(&n).unwrap()));
    }
    let port = |proto, host_ip: Option<&str>, host_port, ctr_ip: &str, ctr_port| PortRule {
        proto,
        host_ip: host_ip.map(ip),
        host_port,
        ctr_ip: ip(ctr_ip),
        ctr_port,
    };
    let rules = [
        port(Proto::Tcp, None, 8080, "10.88.0.2", 80),
        port(Proto::Udp, Some("127.0.0.1"), 53, "10.88.0.2", 53),
        port(Proto::Tcp, Some("::1"), 443, "fd00:88::2", 8443),
        port(Proto::Tcp, Some("0.0.0.0"), 1, "fd00:88::2", 2),
    ];
    out.push(doc(port_rules("abc123", &rules).unwrap()));
    out.push(doc(vec![
        delete_rule("ports", 42),
        add_rule("forward", None, jump_to_ports_expr()),
    ]));
    let want = include_str!("nft_documents.txt");
    for (got, want) in out.iter().zip(want.lines()) {
        assert_eq!(got, want);
    }
    assert_eq!(out.len(), want.lines().count());
}
