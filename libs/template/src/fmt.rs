//! Values printed as Go's fmt prints them: `%v` and `fmt.Sprintf`.

use std::fmt::Write as _;

use serde_json::{Number, Value};

use crate::exec::{Val, MAX_OUTPUT};

/// Formats a value as Go's `%v` formats what `encoding/json` decoded.
pub fn format_value(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

pub(crate) fn write_value(s: &mut String, v: &Value) {
    match v {
        Value::Null => s.push_str("<nil>"),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => s.push_str(&format_number(n)),
        Value::String(t) => s.push_str(t),
        Value::Array(a) => {
            s.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                write_value(s, e);
            }
            s.push(']');
        }
        Value::Object(m) => {
            s.push_str("map[");
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(k);
                s.push(':');
                write_value(s, &m[k]);
            }
            s.push(']');
        }
    }
}

pub(crate) fn format_number(n: &Number) -> String {
    if n.is_f64() {
        format_float(n.as_f64().unwrap_or(0.0))
    } else {
        n.to_string()
    }
}

/// Go's `%v` for a float64: the shortest representation, with an exponent below 1e-4 and from 1e6
/// (`fmt.Println(1000000.0)` prints `1e+06`).
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is a number");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// The largest width or precision Go's fmt takes.
pub(crate) const TOO_LARGE: i64 = 1_000_000;

/// Go's `fmt.Sprintf` for the verbs templates use: %v %s %q %d %x %X %o %b %c %f %e %g %t %%,
/// with flags `-+0 #`, width and precision.
pub(crate) fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space, mut sharp) =
            (false, false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            chars.next();
        }
        // Go's fmt refuses a width or precision over a million (`tooLarge`): a longer number
        // in the format ends it (`%!(NOVERB)`), and a `*` argument that is too large or not an
        // integer is `%!(BADWIDTH)` or `%!(BADPREC)`.
        enum Num {
            Given(Option<usize>),
            Bad,
            TooLong,
        }
        let mut number = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = args.get(next).and_then(|a| a.as_int("printf").ok());
                next += 1;
                return match v {
                    Some(v) if v.abs() <= TOO_LARGE => Num::Given(Some(v.max(0) as usize)),
                    _ => Num::Bad,
                };
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                if n.is_some_and(|n| n > TOO_LARGE as usize) {
                    return Num::TooLong;
                }
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            Num::Given(n)
        };
        let width = match number(&mut chars) {
            Num::Given(w) => w,
            Num::Bad => {
                out.push_str("%!(BADWIDTH)");
                None
            }
            Num::TooLong => {
                out.push_str("%!(NOVERB)");
                break;
            }
        };
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            match number(&mut chars) {
                Num::Given(p) => Some(p.unwrap_or(0)),
                Num::Bad => {
                    out.push_str("%!(BADPREC)");
                    None
                }
                Num::TooLong => {
                    out.push_str("%!(NOVERB)");
                    break;
                }
            }
        } else {
            None
        };
        if out.len() > MAX_OUTPUT {
            break; // The caller refuses the result.
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        let v = arg.value();
        let numeric = matches!(v, Value::Number(_));
        let body = match (verb, &v) {
            ('v', _) => {
                if sharp {
                    serde_json::to_string(&v).expect("JSON values serialise")
                } else {
                    let mut t = arg.print();
                    if plus && numeric && !t.starts_with('-') {
                        t.insert(0, '+');
                    }
                    t
                }
            }
            ('s', Value::String(t)) => match prec {
                Some(p) => t.chars().take(p).collect(),
                None => t.clone(),
            },
            ('s', _) => bad_s(&v),
            ('q', Value::String(t)) => serde_json::to_string(t).expect("strings serialise"),
            ('q', Value::Number(n))
                if n.as_u64().and_then(|u| char::from_u32(u as u32)).is_some() =>
            {
                let c = char::from_u32(n.as_u64().unwrap_or(0) as u32).unwrap_or('?');
                format!("'{c}'")
            }
            ('t', Value::Bool(b)) => b.to_string(),
            ('c', Value::Number(n)) if n.as_u64().is_some() => {
                char::from_u32(n.as_u64().unwrap_or(0) as u32)
                    .map_or("\u{FFFD}".into(), String::from)
            }
            ('d' | 'x' | 'X' | 'o' | 'b', Value::Number(n)) if n.as_i64().is_some() => {
                let i = n.as_i64().unwrap_or(0);
                let mag = i.unsigned_abs();
                let digits = match verb {
                    'd' => mag.to_string(),
                    'x' => format!("{}{mag:x}", if sharp { "0x" } else { "" }),
                    'X' => format!("{}{mag:X}", if sharp { "0X" } else { "" }),
                    'o' => format!("{}{mag:o}", if sharp { "0" } else { "" }),
                    _ => format!("{mag:b}"),
                };
                let sign = if i < 0 {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                };
                format!("{sign}{digits}")
            }
            ('x' | 'X', Value::String(t)) => {
                let mut h = String::new();
                for b in t.bytes() {
                    let _ = if verb == 'x' {
                        write!(h, "{b:02x}")
                    } else {
                        write!(h, "{b:02X}")
                    };
                }
                h
            }
            ('f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Number(n)) => {
                let f = n.as_f64().unwrap_or(0.0);
                let t = match verb {
                    'f' | 'F' => format!("{f:.*}", prec.unwrap_or(6)),
                    'e' | 'E' => {
                        let t = format!("{f:.*e}", prec.unwrap_or(6));
                        let (m, e) = t.split_once('e').expect("exponent");
                        let e: i32 = e.parse().unwrap_or(0);
                        let t = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
                        if verb == 'E' {
                            t.to_uppercase()
                        } else {
                            t
                        }
                    }
                    _ => format_float(f),
                };
                if plus && f >= 0.0 {
                    format!("+{t}")
                } else {
                    t
                }
            }
            (_, Value::Null) => format!("%!{verb}(<nil>)"),
            _ => format!("%!{verb}({}={})", arg.type_name(), arg.print()),
        };
        let len = body.chars().count();
        match width {
            Some(w) if w > len => {
                let fill = w - len;
                if minus {
                    out.push_str(&body);
                    out.push_str(&" ".repeat(fill));
                } else if zero && numeric {
                    let (sign, digits) = match body.strip_prefix(['-', '+']) {
                        Some(d) => (&body[..1], d),
                        None => ("", body.as_str()),
                    };
                    out.push_str(sign);
                    out.push_str(&"0".repeat(fill));
                    out.push_str(digits);
                } else {
                    out.push_str(&" ".repeat(fill));
                    out.push_str(&body);
                }
            }
            _ => out.push_str(&body),
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.print()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

/// Go's `%s` of a value that is not a string: `%!s(int=1)`, applied to each element of a list
/// and each value of a map, as fmt does.
fn bad_s(v: &Value) -> String {
    match v {
        Value::String(t) => t.clone(),
        Value::Null => "%!s(<nil>)".into(),
        Value::Bool(b) => format!("%!s(bool={b})"),
        Value::Number(n) if n.is_f64() => format!("%!s(float64={})", format_number(n)),
        Value::Number(n) => format!("%!s(int={n})"),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(bad_s).collect();
            format!("[{}]", items.join(" "))
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", bad_s(&m[*k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}
