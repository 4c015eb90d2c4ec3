//! nft's JSON interface (libnftables-json(5)), the part berth writes: commands on the table, its
//! chains and rules, and the expressions of its rules. Serialised in the order nft documents
//! its fields.

use serde::Serialize;

use super::{FAMILY, TABLE};

/// The document `nft -j -f -` reads: commands applied as one transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// The commands, in order.
    pub nftables: Vec<Command>,
}

/// A command on an object of berth's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// `add`: create (idempotent for tables and chains) or append.
    Add(Object),
    /// `delete`: a rule by handle.
    Delete(Object),
    /// `flush`: empty a chain.
    Flush(Object),
}

/// An object a command names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Object {
    /// The table.
    Table(Table),
    /// A chain.
    Chain(Chain),
    /// A rule.
    Rule(Rule),
}

/// berth's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Always [`FAMILY`].
    pub family: &'static str,
    /// Always [`TABLE`].
    pub name: &'static str,
}

impl Table {
    /// `inet berth`.
    pub fn berth() -> Table {
        Table {
            family: FAMILY,
            name: TABLE,
        }
    }
}

/// A chain of berth's table; a base chain has a type, a hook, a priority and a policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chain {
    /// Always [`FAMILY`].
    pub family: &'static str,
    /// Always [`TABLE`].
    pub table: &'static str,
    /// The chain's name.
    pub name: &'static str,
    /// `nat` or `filter`, for a base chain.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The netfilter hook of a base chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<&'static str>,
    /// The priority of a base chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prio: Option<i32>,
    /// The policy of a base chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'static str>,
}

impl Chain {
    /// A regular chain (a jump target).
    pub fn regular(name: &'static str) -> Chain {
        Chain {
            family: FAMILY,
            table: TABLE,
            name,
            kind: None,
            hook: None,
            prio: None,
            policy: None,
        }
    }

    /// A base chain of type `kind` on `hook` at priority `prio`, policy accept.
    pub fn base(name: &'static str, kind: &'static str, hook: &'static str, prio: i32) -> Chain {
        Chain {
            kind: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some("accept"),
            ..Chain::regular(name)
        }
    }
}

/// A rule of berth's table: to add (with expressions and a comment) or to delete (by handle).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Always [`FAMILY`].
    pub family: &'static str,
    /// Always [`TABLE`].
    pub table: &'static str,
    /// The chain it is in.
    pub chain: String,
    /// Its handle, to delete it by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// Its expressions, to add it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expr: Option<Vec<Expr>>,
    /// Its comment (`net:<bridge>`, `ctr:<owner>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A statement of a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expr {
    /// `left op right`.
    Match {
        /// `==`, `!=` or `in`.
        op: &'static str,
        /// What is looked at.
        left: Operand,
        /// What it is compared with.
        right: Operand,
    },
    /// `masquerade` (nft writes it `{"masquerade": null}`).
    Masquerade(()),
    /// `drop`.
    Drop(()),
    /// `accept`.
    Accept(()),
    /// `jump target`.
    Jump {
        /// The chain jumped to.
        target: &'static str,
    },
    /// `dnat ip to addr:port`.
    Dnat {
        /// `ip` or `ip6`.
        family: &'static str,
        /// The new destination address.
        addr: String,
        /// The new destination port.
        port: u16,
    },
}

/// A side of a match: a packet or connection property, or a value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Operand {
    /// `meta key` (`iifname`, `oifname`, `nfproto`).
    Meta {
        /// The key.
        key: &'static str,
    },
    /// A header field, `ip saddr`, `tcp dport`.
    Payload {
        /// The header.
        protocol: &'static str,
        /// The field.
        field: &'static str,
    },
    /// `fib daddr type`.
    Fib {
        /// What is looked up.
        result: &'static str,
        /// Its flags.
        flags: Vec<&'static str>,
    },
    /// Conntrack: `ct state`, `ct status`.
    Ct {
        /// The key.
        key: &'static str,
    },
    /// `addr/len`.
    Prefix {
        /// The network address.
        addr: String,
        /// The prefix length.
        len: u8,
    },
    /// A string: an interface name or pattern, an address, a keyword.
    #[serde(untagged)]
    Str(String),
    /// A number: a port.
    #[serde(untagged)]
    Num(u16),
    /// A set of keywords.
    #[serde(untagged)]
    Set(Vec<&'static str>),
}

impl From<&str> for Operand {
    fn from(s: &str) -> Operand {
        Operand::Str(s.to_string())
    }
}

impl From<String> for Operand {
    fn from(s: String) -> Operand {
        Operand::Str(s)
    }
}

impl From<u16> for Operand {
    fn from(n: u16) -> Operand {
        Operand::Num(n)
    }
}

/// `left op right`.
pub fn matches(op: &'static str, left: Operand, right: impl Into<Operand>) -> Expr {
    Expr::Match {
        op,
        left,
        right: right.into(),
    }
}

/// `meta key`.
pub fn meta(key: &'static str) -> Operand {
    Operand::Meta { key }
}

/// A header field.
pub fn payload(protocol: &'static str, field: &'static str) -> Operand {
    Operand::Payload { protocol, field }
}
