//! The history lines (`created_by`) Docker's legacy builder (20.10) writes for each step, so that
//! `img-history` of a berth build reads as `docker history` of Docker's: metadata steps as
//! `/bin/sh -c #(nop)  ENV A=1` (the SHELL of the moment, two blanks), WORKDIR and COPY with one
//! blank, RUN as the command it ran, prefixed by the build args it saw (`|1 V=1 /bin/sh -c …`).

use crate::config::HealthConfig;

/// `SHELL #(nop)  COMMENT`: ENV, LABEL, ARG, CMD, ENTRYPOINT, EXPOSE, USER, VOLUME,
/// STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER (Docker's `withCmdComment`).
pub fn nop(shell: &[String], comment: &str) -> String {
    format!("{} #(nop)  {comment}", shell.join(" "))
}

/// `SHELL #(nop) COMMENT`: WORKDIR, COPY, ADD (Docker's `withCmdCommentString`).
pub fn nop_string(shell: &[String], comment: &str) -> String {
    format!("{} #(nop) {comment}", shell.join(" "))
}

/// A RUN's line: `|N K=V … argv…` when build args were in its environment, else the argv.
pub fn run(args: &[(String, String)], argv: &[String]) -> String {
    let mut words = Vec::new();
    if !args.is_empty() {
        words.push(format!("|{}", args.len()));
        words.extend(args.iter().map(|(k, v)| format!("{k}={v}")));
    }
    words.extend(argv.iter().cloned());
    words.join(" ")
}

/// Go's `%q` of a string (strconv.Quote): `"a \"b\""`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a `[]string`: `["/bin/sh" "-c" "echo hi"]`.
pub fn go_quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// The exec (JSON array) form of an instruction's words, as a Dockerfile writes it:
/// `["sh", "-c", "echo \"hi\""]`.
pub fn json_list(words: &[String]) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| {
            let mut s = String::from("\"");
            for c in w.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    '\n' => s.push_str("\\n"),
                    '\t' => s.push_str("\\t"),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        })
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// Go's `%v` of a `[]string`: `[/data /logs]`.
pub fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// Go's `time.Duration.String()` of nanoseconds: `0s`, `1.5s`, `100ms`, `5m0s`, `1h0m0s`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000_000_000 {
        // Below a second: the largest unit that keeps an integer part.
        let (unit, div) = if u < 1_000 {
            ("ns", 1u64)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", frac(u, div));
    }
    let h = u / 3_600_000_000_000;
    let rem = u % 3_600_000_000_000;
    let m = rem / 60_000_000_000;
    let s_ns = rem % 60_000_000_000;
    let secs = frac(s_ns, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{sign}{m}m{secs}s")
    } else {
        format!("{sign}{secs}s")
    }
}

/// `v / div` with its fraction, trailing zeros dropped (`1500, 1000` → `1.5`).
fn frac(v: u64, div: u64) -> String {
    let int = v / div;
    let rest = v % div;
    if rest == 0 {
        return int.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{rest:0width$}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

/// Go's `%q` of an int: the quoted character (`'\x03'`), as Docker's HEALTHCHECK line shows Retries.
fn go_quote_int(n: i64) -> String {
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some(c) if (c as u32) < 0x20 || c as u32 == 0x7f => format!("'\\x{:02x}'", c as u32),
        Some('\'') => "'\\''".into(),
        Some('\\') => "'\\\\'".into(),
        Some(c) => format!("'{c}'"),
        None => format!("'\\x{n:x}'"),
    }
}

/// Docker 20.10's `HEALTHCHECK %q` of its HealthConfig: `&{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x00'}`.
pub fn healthcheck(h: &HealthConfig) -> String {
    let test = h.test.clone().unwrap_or_default();
    format!(
        "HEALTHCHECK &{{{} {} {} {} {}}}",
        go_quote_list(&test),
        go_quote(&go_duration(h.interval.unwrap_or(0))),
        go_quote(&go_duration(h.timeout.unwrap_or(0))),
        go_quote(&go_duration(h.start_period.unwrap_or(0))),
        go_quote_int(h.retries.unwrap_or(0)),
    )
}

/// Parses a Go duration (`30s`, `1m30s`, `1.5h`, `100ms`, `0`) into nanoseconds.
pub fn parse_go_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * mult;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let v = total.round() as i64;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_dockers() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(nop(&sh, "ENV A=1"), "/bin/sh -c #(nop)  ENV A=1");
        assert_eq!(
            nop_string(&sh, "COPY file:abc in /x "),
            "/bin/sh -c #(nop) COPY file:abc in /x "
        );
        let argv = vec!["/bin/sh".into(), "-c".into(), "echo $V".into()];
        assert_eq!(
            run(&[("V".into(), "1".into())], &argv),
            "|1 V=1 /bin/sh -c echo $V"
        );
        assert_eq!(run(&[], &argv), "/bin/sh -c echo $V");
        assert_eq!(
            go_quote_list(&["a \"b\"".into(), "c".into()]),
            r#"["a \"b\"" "c"]"#
        );
        assert_eq!(go_list(&["/data".into(), "/x".into()]), "[/data /x]");
    }

    #[test]
    fn durations_print_as_go() {
        for (ns, s) in [
            (0, "0s"),
            (1_500_000_000, "1.5s"),
            (100_000_000, "100ms"),
            (300_000_000_000, "5m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (90_000_000_000, "1m30s"),
            (30_000_000_000, "30s"),
        ] {
            assert_eq!(go_duration(ns), s);
            assert_eq!(parse_go_duration(s), Some(ns), "{s}");
        }
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration("x"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn healthcheck_line_is_docker_20_10s() {
        let h = HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "true".into()]),
            interval: Some(5_000_000_000),
            retries: Some(3),
            ..Default::default()
        };
        assert_eq!(
            healthcheck(&h),
            r#"HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x03'}"#
        );
    }
}
