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
//! The rule builders (`rules`) are pure functions returning typed nft commands (`nft`), so they
//! are testable without root; `listing` reads the table back, `run` runs nft.

mod listing;
pub mod nft;
mod rules;
mod run;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use listing::{parse_listing, ListedRule, Listing};
pub use nft::Command;
pub use rules::{add_rule, delete_rule, document, network_rules, port_rules, table_commands};
pub use run::{apply, list};

use crate::Result;
use rules::{check_ifname, check_owner};

/// The table's family.
pub const FAMILY: &str = "inet";
/// The table's name.
pub const TABLE: &str = "berth";
/// The comment prefix of a network's rules (`net:<bridge>`).
pub const NET_PREFIX: &str = "net:";
/// The comment prefix of a container's published-port rules (`ctr:<owner>`).
pub const CTR_PREFIX: &str = "ctr:";

/// nft refuses comments longer than this many bytes.
pub(crate) const MAX_COMMENT: usize = 128;

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
fn list_and_apply(build: impl Fn(&Listing) -> Result<Vec<Command>>) -> Result<()> {
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
        let mut cmds: Vec<Command> = listing
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
