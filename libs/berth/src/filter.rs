//! `--filter KEY=VALUE`, as Docker's `filters.Args`: each value split at its first `=` into a key
//! and a value, a key given any number of times. Each tool says which keys it takes and checks
//! each filter, in the order given, with its own messages; the matching helpers are shared:
//! labels (`label=KEY`, `label=KEY=VALUE`, `label!=…`), dangling booleans, Go's `path.Match`
//! for references, and `until` times for the prune tools.

use crate::error::{Error, Result};

/// The `--filter` values of a command, in the order given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    args: Vec<(String, String)>,
}

impl Filters {
    /// Splits each of `list` at its first `=` (`label!=a` is key `label!`); one without is
    /// `bad_format(filter)`. `check(key, value)` then vets each, in order.
    pub fn parse(
        list: &[String],
        bad_format: impl Fn(&str) -> Error,
        mut check: impl FnMut(&str, &str) -> Result<()>,
    ) -> Result<Filters> {
        let mut args = Vec::with_capacity(list.len());
        for f in list {
            let (k, v) = f.split_once('=').ok_or_else(|| bad_format(f))?;
            check(k, v)?;
            args.push((k.to_string(), v.to_string()));
        }
        Ok(Filters { args })
    }

    /// The ls tools' parse: a filter without `=` is a usage error, "expected KEY=VALUE".
    pub fn parse_usage(
        list: &[String],
        check: impl FnMut(&str, &str) -> Result<()>,
    ) -> Result<Filters> {
        Filters::parse(
            list,
            |f| Error::Usage(format!("invalid filter {f:?}: expected KEY=VALUE")),
            check,
        )
    }

    /// Whether no filter was given.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Every (key, value), in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.args.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The values given for `key`, in order.
    pub fn get<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.iter().filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether `key` was given.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).next().is_some()
    }

    /// Docker's rule between values of one key: none given, or one of them matches.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        let mut given = self.get(key).peekable();
        given.peek().is_none() || given.any(pred)
    }
}

/// A label filter's value: `KEY` (the label is there) or `KEY=VALUE` (it has this value).
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub key: String,
    pub value: Option<String>,
}

impl Label {
    pub fn parse(s: &str) -> Label {
        match s.split_once('=') {
            Some((k, v)) => Label {
                key: k.to_string(),
                value: Some(v.to_string()),
            },
            None => Label {
                key: s.to_string(),
                value: None,
            },
        }
    }

    /// Whether a thing whose label [`Label::key`] is `have` matches.
    pub fn matches(&self, have: Option<&str>) -> bool {
        match (have, &self.value) {
            (Some(_), None) => true,
            (Some(a), Some(b)) => a == b,
            (None, _) => false,
        }
    }
}

/// A dangling filter's value: `true`/`1` or `false`/`0`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Go's `path.Match` for the patterns Docker's reference filter takes: `*` and `?` do not
/// cross `/`.
pub fn path_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    fn m(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != '/')
                .any(|i| m(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && t[0] != '/' && m(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && m(&p[1..], &t[1..]),
        }
    }
    m(&p, &t)
}

/// One `--filter` of a prune tool: `until=TIMESTAMP|DURATION`, `label=KEY[=VALUE]`,
/// `label!=KEY[=VALUE]`.
#[derive(Debug, Clone, PartialEq)]
pub enum PruneFilter {
    /// Created before this many seconds since the epoch.
    Until(i64),
    Label(String, Option<String>),
    NotLabel(String, Option<String>),
}

impl PruneFilter {
    pub fn parse(s: &str) -> Result<PruneFilter> {
        Ok(PruneFilter::parse_all(&[s.to_string()])?.remove(0))
    }

    /// Every `--filter` of a prune tool, parsed.
    pub fn parse_all(filters: &[String]) -> Result<Vec<PruneFilter>> {
        let now = now_secs();
        let mut out = Vec::with_capacity(filters.len());
        Filters::parse(
            filters,
            |s| Error::InvalidInput(format!("invalid filter {s:?}")),
            |key, value| {
                let label = || Label::parse(value);
                out.push(match key {
                    "label!" => PruneFilter::NotLabel(label().key, label().value),
                    "until" => PruneFilter::Until(parse_until(value, now)?),
                    "label" => PruneFilter::Label(label().key, label().value),
                    _ => {
                        return Err(Error::InvalidInput(format!(
                            "invalid filter {key:?}: prune takes until=…, label=… and label!=…"
                        )))
                    }
                });
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Whether a thing created at `created` (RFC 3339) with labels `label` matches: the same
    /// filters serve containers, networks and volumes.
    pub fn matches_parts(&self, created: &str, label: impl Fn(&str) -> Option<String>) -> bool {
        let has = |k: &str, v: &Option<String>| {
            Label {
                key: k.to_string(),
                value: v.clone(),
            }
            .matches(label(k).as_deref())
        };
        match self {
            PruneFilter::Until(t) => created_secs(created).is_some_and(|cr| cr < *t),
            PruneFilter::Label(k, v) => has(k, v),
            PruneFilter::NotLabel(k, v) => !has(k, v),
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Docker's `until`: a Go duration (`10m`, `1h30m`, `24h`) before now, a Unix timestamp, or an
/// RFC 3339 date/time (`2026-01-02`, `2026-01-02T15:04:05Z`).
pub fn parse_until(v: &str, now: i64) -> Result<i64> {
    let bad = || {
        Error::InvalidInput(format!("invalid until filter {v:?}: use a duration (10m, 24h), a Unix timestamp or an RFC 3339 time"))
    };
    if let Ok(n) = v.parse::<f64>() {
        return Ok(n as i64);
    }
    if let Some(d) = parse_duration(v) {
        return Ok(now - d);
    }
    let t = if v.len() == 10 {
        format!("{v}T00:00:00Z")
    } else {
        v.to_string()
    };
    created_secs(&t).ok_or_else(bad)
}

fn parse_duration(v: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    let mut any = false;
    while let Some(ch) = chars.next() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let mut unit = ch.to_string();
        if ch == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total as i64)
}

/// Seconds since the epoch of an RFC 3339 time (UTC `Z` or an offset), None if unreadable.
pub fn created_secs(t: &str) -> Option<i64> {
    let dt = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some(dt.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keys_repeat_and_split_at_the_first_equals() {
        let f = Filters::parse_usage(
            &strings(&["label=a=b", "name=x", "label!=c", "name=y"]),
            |_, _| Ok(()),
        )
        .unwrap();
        assert_eq!(f.get("label").collect::<Vec<_>>(), ["a=b"]);
        assert_eq!(f.get("name").collect::<Vec<_>>(), ["x", "y"]);
        assert_eq!(f.get("label!").collect::<Vec<_>>(), ["c"]);
        assert!(f.any("name", |v| v == "y") && f.any("id", |_| false));
        assert!(!f.any("name", |v| v == "z"));
        let e = Filters::parse_usage(&strings(&["nope"]), |_, _| Ok(())).unwrap_err();
        assert_eq!(e.to_string(), "invalid filter \"nope\": expected KEY=VALUE");
    }

    #[test]
    fn checks_run_in_order() {
        let e = Filters::parse_usage(&strings(&["a=1", "b=2", "nope"]), |k, _| {
            if k == "b" {
                Err(Error::Usage("b".into()))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "b");
    }

    #[test]
    fn labels() {
        assert!(Label::parse("a").matches(Some("1")));
        assert!(Label::parse("a=1").matches(Some("1")));
        assert!(!Label::parse("a=2").matches(Some("1")));
        assert!(!Label::parse("a").matches(None));
        assert_eq!(
            Label::parse("a=b=c").value.as_deref(),
            Some("b=c"),
            "the value keeps its ="
        );
    }

    #[test]
    fn path_match_as_go() {
        assert!(path_match("busy*", "busybox:latest"));
        assert!(!path_match("*", "library/busybox"));
        assert!(path_match("*/busybox", "library/busybox"));
        assert!(path_match("b?sybox", "busybox"));
        assert!(!path_match("b?sybox", "b/sybox"));
    }

    #[test]
    fn prune_filters() {
        assert_eq!(
            PruneFilter::parse("label!=a=1").unwrap(),
            PruneFilter::NotLabel("a".into(), Some("1".into()))
        );
        assert_eq!(
            PruneFilter::parse("until=1700000000").unwrap(),
            PruneFilter::Until(1_700_000_000)
        );
        assert_eq!(
            PruneFilter::parse("bogus=1").unwrap_err().to_string(),
            "invalid filter \"bogus\": prune takes until=…, label=… and label!=…"
        );
        assert_eq!(
            PruneFilter::parse("label").unwrap_err().to_string(),
            "invalid filter \"label\""
        );
        assert!(PruneFilter::parse("until=soon").is_err());
    }
}
