//! berth's own nftables table, `inet berth`, driven through nft's JSON interface.
//!
//! Every change is one `nft -j -f -` run with a JSON document on its standard input: nft applies
//! a document as one transaction, all or nothing. Reading is `nft -j list table inet berth`.
//! No other table is ever touched.
//!
//! The layout (netavark's, simplified):
//!
//! - `prerouting` (nat, hook prerouting, priority -100) and `output` (nat, hook output, priority
//!   -100): `fib daddr type local jump ports`.
//! - `ports`: the DNAT rules of published ports, each commented `ctr:<owner>`.
//! - `postrouting` (nat, hook postrouting, priority 100): masquerade, commented `net:<bridge>`.
//! - `forward` (filter, hook forward, priority 0, policy accept): isolation between berth
//!   networks, commented `net:<bridge>`.
//!
//! The rule builders are pure functions returning JSON, so they are testable without root.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{Error, Result};

/// The table's family.
pub const FAMILY: &str = "inet";
/// The table's name.
pub const TABLE: &str = "berth";
/// The comment prefix of a network's rules (`net:<bridge>`).
pub const NET_PREFIX: &str = "net:";
/// The comment prefix of a container's published-port rules (`ctr:<owner>`).
pub const CTR_PREFIX: &str = "ctr:";

/// nft refuses comments longer than this many bytes.
const MAX_COMMENT: usize = 128;

/// A transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The name nft uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// What the firewall needs to know of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetRules {
    /// The bridge's name; berth's bridges are named `berth*`.
    pub bridge: String,
    /// The network's subnets (address, prefix length), IPv4 and IPv6.
    pub subnets: Vec<(IpAddr, u8)>,
    /// An internal network: no traffic in or out of the bridge, no masquerade.
    pub internal: bool,
}

/// One published port: `host_ip:host_port` DNATed to `ctr_ip:ctr_port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    /// TCP or UDP.
    pub proto: Proto,
    /// The local address to match; `None` (or an unspecified address) matches every local
    /// address of the container address's family.
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: u16,
    /// The container's address.
    pub ctr_ip: IpAddr,
    /// The container's port.
    pub ctr_port: u16,
}

// ---------------------------------------------------------------------------------------------
// Pure JSON builders

fn ip_proto(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "ip",
        IpAddr::V6(_) => "ip6",
    }
}

fn nfproto(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "ipv4",
        IpAddr::V6(_) => "ipv6",
    }
}

fn match_expr(op: &str, left: Value, right: Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

fn meta(key: &str) -> Value {
    json!({"meta": {"key": key}})
}

fn payload(protocol: &str, field: &str) -> Value {
    json!({"payload": {"protocol": protocol, "field": field}})
}

/// The network address of `addr/prefix` (host bits cleared), as nft wants it in a prefix.
fn network_of(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6((bits & mask).into())
        }
    }
}

fn prefix(addr: IpAddr, len: u8) -> Value {
    json!({"prefix": {"addr": network_of(addr, len).to_string(), "len": len}})
}

fn chain_obj(name: &str) -> Value {
    json!({"family": FAMILY, "table": TABLE, "name": name})
}

fn base_chain(name: &str, kind: &str, hook: &str, prio: i32) -> Value {
    json!({"family": FAMILY, "table": TABLE, "name": name, "type": kind, "hook": hook,
           "prio": prio, "policy": "accept"})
}

/// An `add rule` command for chain `chain` with expressions `expr` and comment `comment`.
pub fn add_rule(chain: &str, comment: Option<&str>, expr: Vec<Value>) -> Value {
    let mut rule = json!({"family": FAMILY, "table": TABLE, "chain": chain, "expr": expr});
    if let Some(c) = comment {
        rule["comment"] = json!(c);
    }
    json!({"add": {"rule": rule}})
}

/// A `delete rule` command for the rule with handle `handle` in chain `chain`.
pub fn delete_rule(chain: &str, handle: u64) -> Value {
    json!({"delete": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "handle": handle}}})
}

/// Wraps commands into the document nft reads.
pub fn document(commands: Vec<Value>) -> Value {
    json!({ "nftables": commands })
}

/// The rule in `prerouting` and `output`: `fib daddr type local jump ports`.
fn jump_to_ports_expr() -> Vec<Value> {
    vec![
        match_expr(
            "==",
            json!({"fib": {"result": "type", "flags": ["daddr"]}}),
            json!("local"),
        ),
        json!({"jump": {"target": "ports"}}),
    ]
}

/// The commands that create the table and its chains (each idempotent in nft), and, when
/// `jumps`, flush `prerouting` and `output` and put their one jump rule back.
pub fn table_commands(jumps: bool) -> Vec<Value> {
    let mut cmds = vec![
        json!({"add": {"table": {"family": FAMILY, "name": TABLE}}}),
        json!({"add": {"chain": chain_obj("ports")}}),
        json!({"add": {"chain": base_chain("prerouting", "nat", "prerouting", -100)}}),
        json!({"add": {"chain": base_chain("output", "nat", "output", -100)}}),
        json!({"add": {"chain": base_chain("postrouting", "nat", "postrouting", 100)}}),
        json!({"add": {"chain": base_chain("forward", "filter", "forward", 0)}}),
    ];
    if jumps {
        for chain in ["prerouting", "output"] {
            cmds.push(json!({"flush": {"chain": chain_obj(chain)}}));
            cmds.push(add_rule(chain, None, jump_to_ports_expr()));
        }
    }
    cmds
}

fn check_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'"' | b'\\' | b'*' | b':'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{name:?} is not a usable interface name"
        )))
    }
}

fn check_owner(owner: &str) -> Result<()> {
    let ok = !owner.is_empty()
        && CTR_PREFIX.len() + owner.len() <= MAX_COMMENT
        && owner
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\\'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{owner:?} is not a usable rule owner"
        )))
    }
}

/// The `add rule` commands of network `n`, each commented `net:<bridge>`.
pub fn network_rules(n: &NetRules) -> Result<Vec<Value>> {
    check_ifname(&n.bridge)?;
    for &(addr, len) in &n.subnets {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(Error::InvalidInput(format!(
                "{addr}/{len}: prefix longer than {max}"
            )));
        }
    }
    let comment = format!("{NET_PREFIX}{}", n.bridge);
    let c = Some(comment.as_str());
    let br = json!(n.bridge);
    let mut cmds = Vec::new();

    // postrouting
    for &(addr, len) in &n.subnets {
        let saddr = match_expr("==", payload(ip_proto(addr), "saddr"), prefix(addr, len));
        if !n.internal {
            cmds.push(add_rule(
                "postrouting",
                c,
                vec![
                    saddr.clone(),
                    match_expr("!=", meta("oifname"), br.clone()),
                    json!({"masquerade": null}),
                ],
            ));
        }
        cmds.push(add_rule(
            "postrouting",
            c,
            vec![
                match_expr("==", meta("oifname"), br.clone()),
                saddr,
                match_expr("in", json!({"ct": {"key": "status"}}), json!("dnat")),
                json!({"masquerade": null}),
            ],
        ));
    }
    if n.subnets.iter().any(|(a, _)| a.is_ipv4()) {
        cmds.push(add_rule(
            "postrouting",
            c,
            vec![
                match_expr("==", meta("oifname"), br.clone()),
                match_expr(
                    "==",
                    payload("ip", "saddr"),
                    json!({"prefix": {"addr": "127.0.0.0", "len": 8}}),
                ),
                json!({"masquerade": null}),
            ],
        ));
    }

    // forward: isolation first, then what is let through.
    let drop = json!({"drop": null});
    cmds.push(add_rule(
        "forward",
        c,
        vec![
            match_expr("==", meta("iifname"), br.clone()),
            match_expr("==", meta("oifname"), json!("berth*")),
            match_expr("!=", meta("oifname"), br.clone()),
            drop.clone(),
        ],
    ));
    cmds.push(add_rule(
        "forward",
        c,
        vec![
            match_expr("==", meta("oifname"), br.clone()),
            match_expr("==", meta("iifname"), json!("berth*")),
            match_expr("!=", meta("iifname"), br.clone()),
            drop.clone(),
        ],
    ));
    if n.internal {
        cmds.push(add_rule(
            "forward",
            c,
            vec![
                match_expr("==", meta("iifname"), br.clone()),
                match_expr("!=", meta("oifname"), br.clone()),
                drop.clone(),
            ],
        ));
        cmds.push(add_rule(
            "forward",
            c,
            vec![
                match_expr("==", meta("oifname"), br.clone()),
                match_expr("!=", meta("iifname"), br.clone()),
                drop,
            ],
        ));
    }
    cmds.push(add_rule(
        "forward",
        c,
        vec![
            match_expr("==", meta("oifname"), br.clone()),
            match_expr(
                "in",
                json!({"ct": {"key": "state"}}),
                json!(["established", "related"]),
            ),
            json!({"accept": null}),
        ],
    ));
    cmds.push(add_rule(
        "forward",
        c,
        vec![
            match_expr("==", meta("iifname"), br),
            json!({"accept": null}),
        ],
    ));
    Ok(cmds)
}

/// The `add rule` commands (chain `ports`) of `owner`'s published ports, commented
/// `ctr:<owner>`.
pub fn port_rules(owner: &str, rules: &[PortRule]) -> Result<Vec<Value>> {
    check_owner(owner)?;
    let comment = format!("{CTR_PREFIX}{owner}");
    let mut cmds = Vec::new();
    for r in rules {
        let host_ip = r.host_ip.filter(|ip| !ip.is_unspecified());
        if let Some(h) = host_ip {
            if h.is_ipv4() != r.ctr_ip.is_ipv4() {
                return Err(Error::InvalidInput(format!(
                    "cannot publish {h}:{} to {}:{}: the addresses are of different families",
                    r.host_port, r.ctr_ip, r.ctr_port
                )));
            }
        }
        if r.host_port == 0 || r.ctr_port == 0 {
            return Err(Error::InvalidInput(format!(
                "port 0 cannot be published ({}:{} -> {}:{})",
                r.proto.as_str(),
                r.host_port,
                r.ctr_ip,
                r.ctr_port
            )));
        }
        let mut expr = Vec::new();
        match host_ip {
            Some(h) => expr.push(match_expr(
                "==",
                payload(ip_proto(h), "daddr"),
                json!(h.to_string()),
            )),
            None => expr.push(match_expr("==", meta("nfproto"), json!(nfproto(r.ctr_ip)))),
        }
        expr.push(match_expr(
            "==",
            payload(r.proto.as_str(), "dport"),
            json!(r.host_port),
        ));
        expr.push(json!({"dnat": {"family": ip_proto(r.ctr_ip),
                                  "addr": r.ctr_ip.to_string(),
                                  "port": r.ctr_port}}));
        cmds.push(add_rule("ports", Some(&comment), expr));
    }
    Ok(cmds)
}

// ---------------------------------------------------------------------------------------------
// Listing

/// A rule of berth's table, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedRule {
    /// The chain it is in.
    pub chain: String,
    /// Its handle, to delete it by.
    pub handle: u64,
    /// Its comment (`net:<bridge>`, `ctr:<owner>`), if any.
    pub comment: Option<String>,
    /// Its expressions, as nft lists them.
    pub expr: Value,
}

/// berth's table, as listed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    /// The names of its chains.
    pub chains: BTreeSet<String>,
    /// Its rules, in order.
    pub rules: Vec<ListedRule>,
}

impl Listing {
    /// The rules commented exactly `comment`.
    pub fn commented<'a>(&'a self, comment: &'a str) -> impl Iterator<Item = &'a ListedRule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.comment.as_deref() == Some(comment))
    }

    /// The distinct suffixes of comments starting with `prefix`.
    pub fn comment_suffixes(&self, prefix: &str) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter_map(|r| r.comment.as_deref()?.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    }

    /// The bridges of the networks that have rules in this listing.
    pub fn network_bridges(&self) -> BTreeSet<String> {
        self.comment_suffixes(NET_PREFIX)
    }

    /// Whether the table is complete: every chain there, and `prerouting` and `output` holding
    /// exactly their jump to `ports`.
    pub fn is_complete(&self) -> bool {
        let chains = ["prerouting", "output", "ports", "postrouting", "forward"];
        if !chains.iter().all(|c| self.chains.contains(*c)) {
            return false;
        }
        let jump = Value::Array(jump_to_ports_expr());
        ["prerouting", "output"].iter().all(|chain| {
            let rules: Vec<_> = self.rules.iter().filter(|r| r.chain == *chain).collect();
            rules.len() == 1 && rules[0].expr == jump
        })
    }
}

/// Parses the output of `nft -j list table inet berth`, keeping only that table's objects.
pub fn parse_listing(text: &str) -> Result<Listing> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| Error::Nft(format!("unreadable `nft -j list` output: {e}")))?;
    let items = doc
        .get("nftables")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Nft("`nft -j list` output without an nftables array".into()))?;
    let ours = |o: &Value| {
        o.get("family").and_then(Value::as_str) == Some(FAMILY)
            && o.get("table").and_then(Value::as_str) == Some(TABLE)
    };
    let mut listing = Listing::default();
    for item in items {
        if let Some(chain) = item.get("chain") {
            if ours(chain) {
                if let Some(name) = chain.get("name").and_then(Value::as_str) {
                    listing.chains.insert(name.to_string());
                }
            }
        } else if let Some(rule) = item.get("rule") {
            if !ours(rule) {
                continue;
            }
            let (Some(chain), Some(handle)) = (
                rule.get("chain").and_then(Value::as_str),
                rule.get("handle").and_then(Value::as_u64),
            ) else {
                return Err(Error::Nft(format!(
                    "a listed rule without chain or handle: {rule}"
                )));
            };
            listing.rules.push(ListedRule {
                chain: chain.to_string(),
                handle,
                comment: rule
                    .get("comment")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                expr: rule.get("expr").cloned().unwrap_or(Value::Null),
            });
        }
    }
    Ok(listing)
}

// ---------------------------------------------------------------------------------------------
// Running nft

fn nft_binary() -> &'static Path {
    static NFT: OnceLock<PathBuf> = OnceLock::new();
    NFT.get_or_init(|| {
        for p in ["/usr/sbin/nft", "/sbin/nft"] {
            if Path::new(p).is_file() {
                return PathBuf::from(p);
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                let p = dir.join("nft");
                if p.is_file() {
                    return p;
                }
            }
        }
        PathBuf::from("nft")
    })
}

/// Applies `commands` as one nft transaction.
pub fn apply(commands: Vec<Value>) -> Result<()> {
    if commands.is_empty() {
        return Ok(());
    }
    let doc = document(commands).to_string();
    let nft = nft_binary();
    let mut child = Command::new(nft)
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("running {}: {e}", nft.display())))?;
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(doc.as_bytes());
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Nft(format!("waiting for {}: {e}", nft.display())))?;
    if !out.status.success() {
        return Err(Error::Nft(format!(
            "`nft -j -f -` failed ({}): {}\nthe document: {doc}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    written.map_err(|e| Error::Nft(format!("writing to nft: {e}")))
}

/// Lists berth's table; `None` when there is no such table.
pub fn list() -> Result<Option<Listing>> {
    let nft = nft_binary();
    let out = Command::new(nft)
        .args(["-j", "list", "table", FAMILY, TABLE])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Nft(format!("running {}: {e}", nft.display())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("No such file or directory") {
            return Ok(None);
        }
        return Err(Error::Nft(format!(
            "`nft -j list table {FAMILY} {TABLE}` failed ({}): {}",
            out.status,
            err.trim()
        )));
    }
    parse_listing(&String::from_utf8_lossy(&out.stdout)).map(Some)
}

// ---------------------------------------------------------------------------------------------
// The operations

/// Creates the table and its chains if anything is missing; cheap (one listing) when complete.
pub fn ensure_table() -> Result<()> {
    ensure_table_listed().map(drop)
}

/// [`ensure_table`], returning the table's listing (one `nft` run when the table is complete,
/// as it is on every container start but the first): callers reuse it instead of listing again.
pub fn ensure_table_listed() -> Result<Listing> {
    match list()? {
        Some(l) if l.is_complete() => Ok(l),
        _ => {
            apply(table_commands(true))?;
            Ok(list()?.unwrap_or_default())
        }
    }
}

/// Runs `build` against a fresh listing and applies what it returns; once more if the
/// transaction fails (a concurrent change may have deleted a rule by handle under us).
fn list_and_apply(build: impl Fn(&Listing) -> Result<Vec<Value>>) -> Result<()> {
    let mut last = None;
    for _ in 0..2 {
        let listing = list()?.unwrap_or_default();
        match apply(build(&listing)?) {
            Ok(()) => return Ok(()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("tried at least once"))
}

/// Installs network `n`'s rules, replacing any it had (in the same transaction), and sets
/// `route_localnet` on its bridge (which must exist) when it has an IPv4 subnet.
pub fn add_network(n: &NetRules) -> Result<()> {
    let new_rules = network_rules(n)?;
    ensure_table()?;
    let comment = format!("{NET_PREFIX}{}", n.bridge);
    list_and_apply(|listing| {
        let mut cmds: Vec<Value> = listing
            .commented(&comment)
            .map(|r| delete_rule(&r.chain, r.handle))
            .collect();
        cmds.extend(new_rules.iter().cloned());
        Ok(cmds)
    })?;
    if n.subnets.iter().any(|(a, _)| a.is_ipv4()) {
        crate::sysctl::route_localnet(&n.bridge)?;
    }
    Ok(())
}

fn remove_commented(comment: &str) -> Result<()> {
    list_and_apply(|listing| {
        Ok(listing
            .commented(comment)
            .map(|r| delete_rule(&r.chain, r.handle))
            .collect())
    })
}

/// Removes network `bridge`'s rules; fine if it has none or the table is missing.
pub fn remove_network(bridge: &str) -> Result<()> {
    check_ifname(bridge)?;
    remove_commented(&format!("{NET_PREFIX}{bridge}"))
}

/// Adds `owner`'s published ports to chain `ports`, in one transaction.
pub fn add_ports(owner: &str, rules: &[PortRule]) -> Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    ensure_table()?;
    add_ports_to_table(owner, rules)
}

/// [`add_ports`] when the caller has just made sure the table is there (one `nft` run).
pub fn add_ports_to_table(owner: &str, rules: &[PortRule]) -> Result<()> {
    apply(port_rules(owner, rules)?)
}

/// Removes every rule commented `ctr:<owner>`; fine if there is none or no table.
pub fn remove_owner(owner: &str) -> Result<()> {
    check_owner(owner)?;
    remove_commented(&format!("{CTR_PREFIX}{owner}"))
}

/// The owners that have rules (to reconcile after a crash).
pub fn owners() -> Result<BTreeSet<String>> {
    Ok(list()?
        .map(|l| l.comment_suffixes(CTR_PREFIX))
        .unwrap_or_default())
}

/// The bridges of the networks that have rules.
pub fn network_bridges() -> Result<BTreeSet<String>> {
    Ok(list()?.map(|l| l.network_bridges()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rules_of(cmds: &[Value]) -> Vec<&Value> {
        cmds.iter().map(|c| &c["add"]["rule"]).collect()
    }

    #[test]
    fn table_has_the_five_chains_and_the_jumps() {
        let cmds = table_commands(true);
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
        let cmds = network_rules(&n).unwrap();
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
        let cmds = network_rules(&n).unwrap();
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
        let cmds = port_rules("abc", &rules).unwrap();
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
            delete_rule("ports", 8),
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
}
