//! JSON as Docker's `json` function writes it: Go's `encoding/json` encoder with HTML
//! escaping off. It differs from serde_json in floats (`1` not `1.0`, `1e-7`, `1e+21`, no
//! exponent between them) and in escaping U+2028 and U+2029. Object keys keep their order
//! (berth's records hold Docker's struct order).

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// Encodes `v` as `json.NewEncoder` with `SetEscapeHTML(false)` does, without the newline.
pub(crate) fn to_string(v: &Value) -> String {
    let mut out = String::new();
    write(&mut out, v);
    out
}

fn write(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => number(out, n),
        Value::String(s) => string(out, s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, e);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, k);
                out.push(':');
                write(out, e);
            }
            out.push('}');
        }
    }
}

/// Go's float encoding: the shortest decimal, in exponent form below 1e-6 and from 1e21.
fn number(out: &mut String, n: &Number) {
    let Some(f) = n.as_f64().filter(|_| n.is_f64()) else {
        let _ = write!(out, "{n}");
        return;
    };
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let sci = format!("{f:e}");
        let (mant, exp) = sci.split_once('e').expect("{:e} has an exponent");
        let exp: i32 = exp.parse().expect("exponent is a number");
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{mant}e{sign}{:02}", exp.abs());
        // Go cleans `e-07` up to `e-7`, not `e+07`, which cannot occur from 1e21.
        if exp < 0 && exp > -10 {
            let cut = out.len() - 2;
            out.remove(cut);
        }
    } else {
        let _ = write!(out, "{f}");
    }
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Go 1.22 and later, which Docker is built with, write these two short.
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
