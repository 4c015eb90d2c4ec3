//! The functions: Go's built-ins and Docker's.

use std::fmt::Write as _;

use serde_json::Value;

use crate::exec::{s, too_long, want, Val, MAX_OUTPUT};
use crate::fmt::{format_value, sprintf};
use crate::{err, TemplateError};

pub(crate) fn builtin(name: &str, vals: &[Val]) -> Result<Val, TemplateError> {
    Ok(match name {
        "not" => {
            want(name, vals, 1)?;
            Val::V(Value::Bool(!vals[0].truth()))
        }
        "len" => {
            want(name, vals, 1)?;
            let n = match &vals[0] {
                Val::V(Value::String(t)) => t.len(),
                Val::V(Value::Array(a)) => a.len(),
                Val::V(Value::Object(m)) => m.len(),
                other => return err(format!("len of {} {}", other.type_name(), other.print())),
            };
            Val::V(Value::from(n))
        }
        "index" => {
            if vals.is_empty() {
                return err("wrong number of args for index: want at least 1 got 0");
            }
            let mut v = vals[0].clone();
            for k in &vals[1..] {
                v = match (&v, k) {
                    (Val::V(Value::Array(a)), k) => {
                        let i = k.as_int("index")?;
                        match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                            Some(e) => Val::V(e.clone()),
                            None => {
                                return err(format!("error calling index: index out of range: {i}"))
                            }
                        }
                    }
                    (Val::V(Value::Object(m)), k) => {
                        let key = k.as_str("index")?;
                        match m.get(&key) {
                            Some(e) => Val::V(e.clone()),
                            // Go's index gives a missing key the zero of the map's values: a
                            // map of strings (Docker's Labels, Options) gives "".
                            None if !m.is_empty() && m.values().all(Value::is_string) => s(""),
                            None => Val::Missing,
                        }
                    }
                    (Val::V(Value::String(t)), k) => {
                        let i = k.as_int("index")?;
                        match usize::try_from(i).ok().and_then(|i| t.as_bytes().get(i)) {
                            Some(b) => Val::V(Value::from(*b)),
                            None => {
                                return err(format!("error calling index: index out of range: {i}"))
                            }
                        }
                    }
                    (Val::Missing | Val::V(Value::Null), _) => {
                        return err("error calling index: index of untyped nil")
                    }
                    (other, _) => {
                        return err(format!(
                            "error calling index: can't index item of type {}",
                            other.type_name()
                        ))
                    }
                };
            }
            v
        }
        "slice" => {
            if vals.is_empty() || vals.len() > 3 {
                return err(format!(
                    "wrong number of args for slice: want 1 to 3 got {}",
                    vals.len()
                ));
            }
            let idx: Vec<i64> = vals[1..]
                .iter()
                .map(|v| v.as_int("slice"))
                .collect::<Result<_, _>>()?;
            let bounds = |len: usize| -> Result<(usize, usize), TemplateError> {
                let lo = idx.first().copied().unwrap_or(0);
                let hi = idx.get(1).copied().unwrap_or(len as i64);
                if lo < 0 || hi < lo || hi as usize > len {
                    return err(format!(
                        "error calling slice: index out of range: [{lo}:{hi}] with length {len}"
                    ));
                }
                Ok((lo as usize, hi as usize))
            };
            match &vals[0] {
                Val::V(Value::String(t)) => {
                    let (lo, hi) = bounds(t.len())?;
                    match t.get(lo..hi) {
                        Some(sub) => s(sub),
                        None => return err("error calling slice: slice splits a UTF-8 character"),
                    }
                }
                Val::V(Value::Array(a)) => {
                    let (lo, hi) = bounds(a.len())?;
                    Val::V(Value::Array(a[lo..hi].to_vec()))
                }
                other => {
                    return err(format!(
                        "error calling slice: can't slice item of type {}",
                        other.type_name()
                    ))
                }
            }
        }
        "print" => s(sprint(vals)),
        "println" => {
            let parts: Vec<String> = vals.iter().map(Val::print).collect();
            s(parts.join(" ") + "\n")
        }
        "printf" => {
            if vals.is_empty() {
                return err("wrong number of args for printf: want at least 1 got 0");
            }
            s(sprintf(&vals[0].as_str("printf")?, &vals[1..]))
        }
        "eq" => {
            if vals.len() < 2 {
                return err(format!(
                    "wrong number of args for eq: want at least 2 got {}",
                    vals.len()
                ));
            }
            let mut any = false;
            for other in &vals[1..] {
                if compare(&vals[0], other, name)? == Some(std::cmp::Ordering::Equal) {
                    any = true;
                    break;
                }
            }
            Val::V(Value::Bool(any))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, vals, 2)?;
            let ord = compare(&vals[0], &vals[1], name)?;
            use std::cmp::Ordering::*;
            let r = match name {
                "ne" => ord != Some(Equal),
                _ => {
                    let Some(o) = ord else {
                        return err(format!("error calling {name}: invalid type for comparison"));
                    };
                    match name {
                        "lt" => o == Less,
                        "le" => o != Greater,
                        "gt" => o == Greater,
                        _ => o != Less,
                    }
                }
            };
            Val::V(Value::Bool(r))
        }
        "html" => s(html_escape(&sprint(vals))),
        "urlquery" => s(query_escape(&sprint(vals))),
        "json" => {
            want(name, vals, 1)?;
            s(crate::json::to_string(&vals[0].value()))
        }
        "join" => {
            want(name, vals, 2)?;
            let sep = vals[1].as_str("join")?;
            match &vals[0] {
                // Docker's join takes a []string.
                Val::V(Value::Array(a)) if !a.iter().all(Value::is_string) => {
                    return err(format!(
                        "join: expected a list of strings, got {}",
                        format_value(&vals[0].value())
                    ))
                }
                Val::V(Value::Array(a)) => {
                    let seps = sep.len().saturating_mul(a.len().saturating_sub(1));
                    let items: Vec<String> = a.iter().map(format_value).collect();
                    let len = items.iter().map(String::len).sum::<usize>();
                    if len.saturating_add(seps) > MAX_OUTPUT {
                        return Err(too_long());
                    }
                    s(items.join(&sep))
                }
                Val::Missing | Val::V(Value::Null) => s(""),
                other => {
                    return err(format!(
                        "join: expected a list, got {} {}",
                        other.type_name(),
                        other.print()
                    ))
                }
            }
        }
        "split" => {
            want(name, vals, 2)?;
            let t = vals[0].as_str("split")?;
            let sep = vals[1].as_str("split")?;
            let parts: Vec<Value> = if sep.is_empty() {
                t.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                t.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Val::V(Value::Array(parts))
        }
        "lower" => {
            want(name, vals, 1)?;
            s(vals[0].as_str(name)?.to_lowercase())
        }
        "upper" => {
            want(name, vals, 1)?;
            s(vals[0].as_str(name)?.to_uppercase())
        }
        "title" => {
            want(name, vals, 1)?;
            s(title(&vals[0].as_str(name)?))
        }
        "pad" => {
            want(name, vals, 3)?;
            let t = vals[0].as_str(name)?;
            let pre = vals[1].as_int(name)?.max(0) as u64;
            let post = vals[2].as_int(name)?.max(0) as u64;
            // Docker's padWithSpace leaves an empty string empty.
            if t.is_empty() {
                return Ok(s(t));
            }
            if pre.saturating_add(post).saturating_add(t.len() as u64) > MAX_OUTPUT as u64 {
                return Err(too_long());
            }
            let (pre, post) = (pre as usize, post as usize);
            s(format!("{}{t}{}", " ".repeat(pre), " ".repeat(post)))
        }
        "truncate" => {
            want(name, vals, 2)?;
            let t = vals[0].as_str(name)?;
            let n = vals[1].as_int(name)?.max(0) as usize;
            s(t.chars().take(n).collect::<String>())
        }
        _ => return err(format!("function {name:?} not defined")),
    })
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
pub(crate) fn sprint(vals: &[Val]) -> String {
    let mut out = String::new();
    for (i, v) in vals.iter().enumerate() {
        let is_str = |v: &Val| matches!(v, Val::V(Value::String(_)));
        if i > 0 && !is_str(v) && !is_str(&vals[i - 1]) {
            out.push(' ');
        }
        out.push_str(&v.print());
    }
    out
}

pub(crate) fn compare(
    a: &Val,
    b: &Val,
    f: &str,
) -> Result<Option<std::cmp::Ordering>, TemplateError> {
    use Value::*;
    let (x, y) = (a.value(), b.value());
    Ok(match (&x, &y) {
        (Null, Null) => Some(std::cmp::Ordering::Equal),
        (Null, _) | (_, Null) if f == "eq" || f == "ne" => None,
        (Bool(p), Bool(q)) if f == "eq" || f == "ne" => Some(p.cmp(q)),
        // Go compares an int with an int and a float with a float, not one with the other.
        (Number(p), Number(q)) if p.is_f64() != q.is_f64() => {
            return err(format!(
                "error calling {f}: incompatible types for comparison"
            ))
        }
        (Number(p), Number(q)) => match (p.as_i64(), q.as_i64()) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => p.as_f64().partial_cmp(&q.as_f64()),
        },
        (String(p), String(q)) => Some(p.cmp(q)),
        (Array(_) | Object(_), _) | (_, Array(_) | Object(_)) => {
            return err(format!("error calling {f}: non-comparable type"))
        }
        _ => {
            return err(format!(
                "error calling {f}: incompatible types for comparison: {} and {}",
                a.type_name(),
                b.type_name()
            ))
        }
    })
}

/// Go's `strings.Title`: the first letter of each word in upper case.
pub(crate) fn title(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut prev_sep = true;
    for c in t.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

pub(crate) fn html_escape(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn query_escape(t: &str) -> String {
    let mut out = String::new();
    for b in t.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}
