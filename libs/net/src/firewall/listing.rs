//! berth's table as `nft -j list` lists it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::rules::jump_to_ports_expr;
use super::{FAMILY, NET_PREFIX, TABLE};
use crate::{Error, Result};

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
        let jump = serde_json::to_value(jump_to_ports_expr()).expect("nft expressions serialise");
        ["prerouting", "output"].iter().all(|chain| {
            let rules: Vec<_> = self.rules.iter().filter(|r| r.chain == *chain).collect();
            rules.len() == 1 && rules[0].expr == jump
        })
    }
}

/// Parses the output of `nft -j list table inet berth`, keeping only that table's objects.
pub fn parse_listing(text: &str) -> Result<Listing> {
    let doc: Value = serde_json::from_str(text).map_err(Error::NftListing)?;
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
