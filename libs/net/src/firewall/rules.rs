//! The rules, built as typed nft commands: pure functions, testable without root.

use std::net::IpAddr;

use super::nft::{
    matches, meta, payload, Chain, Command, Document, Expr, Object, Operand, Rule, Table,
};
use super::{NetRules, PortRule, CTR_PREFIX, FAMILY, MAX_COMMENT, NET_PREFIX, TABLE};
use crate::{Error, Result};

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

/// The network address of `addr/prefix` (host bits cleared), as nft wants it in a prefix.
pub(crate) fn network_of(addr: IpAddr, prefix: u8) -> IpAddr {
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

fn prefix(addr: IpAddr, len: u8) -> Operand {
    Operand::Prefix {
        addr: network_of(addr, len).to_string(),
        len,
    }
}

/// An `add rule` command for chain `chain` with expressions `expr` and comment `comment`.
pub fn add_rule(chain: &str, comment: Option<&str>, expr: Vec<Expr>) -> Command {
    Command::Add(Object::Rule(Rule {
        family: FAMILY,
        table: TABLE,
        chain: chain.to_string(),
        handle: None,
        expr: Some(expr),
        comment: comment.map(str::to_string),
    }))
}

/// A `delete rule` command for the rule with handle `handle` in chain `chain`.
pub fn delete_rule(chain: &str, handle: u64) -> Command {
    Command::Delete(Object::Rule(Rule {
        family: FAMILY,
        table: TABLE,
        chain: chain.to_string(),
        handle: Some(handle),
        expr: None,
        comment: None,
    }))
}

/// Wraps commands into the document nft reads.
pub fn document(commands: Vec<Command>) -> Document {
    Document { nftables: commands }
}

/// The rule in `prerouting` and `output`: `fib daddr type local jump ports`.
pub(crate) fn jump_to_ports_expr() -> Vec<Expr> {
    vec![
        matches(
            "==",
            Operand::Fib {
                result: "type",
                flags: vec!["daddr"],
            },
            "local",
        ),
        Expr::Jump { target: "ports" },
    ]
}

/// The commands that create the table and its chains (each idempotent in nft), and, when
/// `jumps`, flush `prerouting` and `output` and put their one jump rule back.
pub fn table_commands(jumps: bool) -> Vec<Command> {
    let chain = |c| Command::Add(Object::Chain(c));
    let mut cmds = vec![
        Command::Add(Object::Table(Table::berth())),
        chain(Chain::regular("ports")),
        chain(Chain::base("prerouting", "nat", "prerouting", -100)),
        chain(Chain::base("output", "nat", "output", -100)),
        chain(Chain::base("postrouting", "nat", "postrouting", 100)),
        chain(Chain::base("forward", "filter", "forward", 0)),
    ];
    if jumps {
        for name in ["prerouting", "output"] {
            cmds.push(Command::Flush(Object::Chain(Chain::regular(name))));
            cmds.push(add_rule(name, None, jump_to_ports_expr()));
        }
    }
    cmds
}

pub(crate) fn check_ifname(name: &str) -> Result<()> {
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

pub(crate) fn check_owner(owner: &str) -> Result<()> {
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
pub fn network_rules(n: &NetRules) -> Result<Vec<Command>> {
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
    let br = n.bridge.as_str();
    let mut cmds = Vec::new();

    // postrouting
    for &(addr, len) in &n.subnets {
        let saddr = matches("==", payload(ip_proto(addr), "saddr"), prefix(addr, len));
        if !n.internal {
            cmds.push(add_rule(
                "postrouting",
                c,
                vec![
                    saddr.clone(),
                    matches("!=", meta("oifname"), br),
                    Expr::Masquerade(()),
                ],
            ));
        }
        cmds.push(add_rule(
            "postrouting",
            c,
            vec![
                matches("==", meta("oifname"), br),
                saddr,
                matches("in", Operand::Ct { key: "status" }, "dnat"),
                Expr::Masquerade(()),
            ],
        ));
    }
    if n.subnets.iter().any(|(a, _)| a.is_ipv4()) {
        cmds.push(add_rule(
            "postrouting",
            c,
            vec![
                matches("==", meta("oifname"), br),
                matches(
                    "==",
                    payload("ip", "saddr"),
                    Operand::Prefix {
                        addr: "127.0.0.0".into(),
                        len: 8,
                    },
                ),
                Expr::Masquerade(()),
            ],
        ));
    }

    // forward: isolation first, then what is let through.
    let fwd = |rule: Vec<Expr>| add_rule("forward", c, rule);
    cmds.push(fwd(vec![
        matches("==", meta("iifname"), br),
        matches("==", meta("oifname"), "berth*"),
        matches("!=", meta("oifname"), br),
        Expr::Drop(()),
    ]));
    cmds.push(fwd(vec![
        matches("==", meta("oifname"), br),
        matches("==", meta("iifname"), "berth*"),
        matches("!=", meta("iifname"), br),
        Expr::Drop(()),
    ]));
    if n.internal {
        cmds.push(fwd(vec![
            matches("==", meta("iifname"), br),
            matches("!=", meta("oifname"), br),
            Expr::Drop(()),
        ]));
        cmds.push(fwd(vec![
            matches("==", meta("oifname"), br),
            matches("!=", meta("iifname"), br),
            Expr::Drop(()),
        ]));
    }
    cmds.push(fwd(vec![
        matches("==", meta("oifname"), br),
        matches(
            "in",
            Operand::Ct { key: "state" },
            Operand::Set(vec!["established", "related"]),
        ),
        Expr::Accept(()),
    ]));
    cmds.push(fwd(vec![
        matches("==", meta("iifname"), br),
        Expr::Accept(()),
    ]));
    Ok(cmds)
}

/// The `add rule` commands (chain `ports`) of `owner`'s published ports, commented
/// `ctr:<owner>`.
pub fn port_rules(owner: &str, rules: &[PortRule]) -> Result<Vec<Command>> {
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
            Some(h) => expr.push(matches("==", payload(ip_proto(h), "daddr"), h.to_string())),
            None => expr.push(matches("==", meta("nfproto"), nfproto(r.ctr_ip))),
        }
        expr.push(matches(
            "==",
            payload(r.proto.as_str(), "dport"),
            r.host_port,
        ));
        expr.push(Expr::Dnat {
            family: ip_proto(r.ctr_ip),
            addr: r.ctr_ip.to_string(),
            port: r.ctr_port,
        });
        cmds.push(add_rule("ports", Some(&comment), expr));
    }
    Ok(cmds)
}
