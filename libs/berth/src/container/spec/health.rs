//! The health check flags (`--health-cmd`, `--health-interval`, `--health-timeout`,
//! `--health-start-period`, `--health-retries`, `--no-healthcheck`) as Docker's CLI and daemon
//! check them, and the merge with the image's HEALTHCHECK (moby `daemon/commit.go` `merge`).

use super::CreateOptions;
use crate::config::HealthConfig;
use crate::error::{Error, Result};

/// Docker's `container.MinimumDuration`: the shortest interval, timeout and start period.
const MINIMUM_NS: i64 = 1_000_000;

/// The container's own `Healthcheck` from the flags, before the image's is merged in: `None`
/// when no flag asks for one (as Docker's CLI: a zero value is no setting), `["NONE"]` for
/// `--no-healthcheck`. A value that does not parse or is negative is a usage error with
/// Docker's CLI's message; one below Docker's minimum is refused with its daemon's.
pub fn parse(args: &CreateOptions) -> Result<Option<HealthConfig>> {
    let duration = |flag: &str, v: &Option<String>| -> Result<i64> {
        v.as_deref().map_or(Ok(0), |s| {
            parse_go_duration(s).map_err(|why| invalid_argument(s, flag, &why))
        })
    };
    let interval = duration("--health-interval", &args.health_interval)?;
    let timeout = duration("--health-timeout", &args.health_timeout)?;
    let start_period = duration("--health-start-period", &args.health_start_period)?;
    let retries = match args.health_retries.as_deref() {
        None => 0,
        Some(s) => s.parse::<i64>().map_err(|_| {
            invalid_argument(
                s,
                "--health-retries",
                &format!("strconv.ParseInt: parsing {}: invalid syntax", go_quote(s)),
            )
        })?,
    };
    let cmd = args.health_cmd.as_deref().unwrap_or("");
    let have_settings =
        !cmd.is_empty() || interval != 0 || timeout != 0 || start_period != 0 || retries != 0;
    if args.no_healthcheck {
        if have_settings {
            return Err(Error::Usage(
                "--no-healthcheck conflicts with --health-* options".into(),
            ));
        }
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..HealthConfig::default()
        }));
    }
    if !have_settings {
        return Ok(None);
    }
    for (flag, v) in [
        ("--health-interval", interval),
        ("--health-timeout", timeout),
        ("--health-retries", retries),
        ("--health-start-period", start_period),
    ] {
        if v < 0 {
            return Err(Error::Usage(format!("{flag} cannot be negative")));
        }
    }
    // The daemon's checks (moby `verifyContainerSettings`).
    for (field, v) in [
        ("Interval", interval),
        ("Timeout", timeout),
        ("StartPeriod", start_period),
    ] {
        if v != 0 && v < MINIMUM_NS {
            return Err(Error::InvalidInput(format!(
                "{field} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    let set = |v: i64| (v != 0).then_some(v);
    Ok(Some(HealthConfig {
        test: (!cmd.is_empty()).then(|| vec!["CMD-SHELL".into(), cmd.into()]),
        interval: set(interval),
        timeout: set(timeout),
        start_period: set(start_period),
        retries: set(retries),
        ..HealthConfig::default()
    }))
}

/// The container's `Healthcheck` as Docker's daemon merges it: the user's, each field it leaves
/// unset (an empty Test, a zero duration or count) taken from the image's; the image's whole
/// when the user gave none.
pub fn merge(user: Option<HealthConfig>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    let Some(img) = image else { return user };
    let Some(mut h) = user else {
        return Some(img.clone());
    };
    if h.test.as_ref().is_none_or(Vec::is_empty) {
        h.test.clone_from(&img.test);
    }
    for (mine, theirs) in [
        (&mut h.interval, img.interval),
        (&mut h.timeout, img.timeout),
        (&mut h.start_period, img.start_period),
        (&mut h.retries, img.retries),
    ] {
        if mine.unwrap_or(0) == 0 {
            *mine = theirs;
        }
    }
    Some(h)
}

/// pflag's message for a value its type does not parse.
fn invalid_argument(value: &str, flag: &str, why: &str) -> Error {
    Error::Usage(format!(
        "invalid argument {} for {} flag: {why}",
        go_quote(value),
        go_quote(flag)
    ))
}

/// Go's `%q` / `strconv.Quote` for the plain text of flags.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// Go's `time.ParseDuration`: nanoseconds, or Go's error text (`time: unknown unit "x" in
/// duration "1x"`, `time: missing unit in duration "10"`, `time: invalid duration "x"`).
pub fn parse_go_duration(s: &str) -> std::result::Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = |t: &str| t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let int_len = digits(rest);
        let int = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = digits(after);
            frac = &after[..n];
            rest = &after[n..];
        }
        if int.is_empty() && frac.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: u128 = match unit {
            "" => return Err(format!("time: missing unit in duration {}", go_quote(s))),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            u => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(u),
                    go_quote(s)
                ))
            }
        };
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| invalid())?
        };
        let mut v = whole.checked_mul(scale).ok_or_else(invalid)?;
        // The fraction's digits, as many as the unit can hold (Go truncates the rest).
        let mut place = scale;
        for d in frac.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            v += u128::from(d - b'0') * place;
        }
        total = total.checked_add(v).ok_or_else(invalid)?;
        if total > i64::MAX as u128 {
            return Err(invalid());
        }
    }
    let v = total as i64;
    Ok(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(f: impl FnOnce(&mut CreateOptions)) -> CreateOptions {
        let mut o = CreateOptions::default();
        f(&mut o);
        o
    }

    /// The options with one health flag given.
    fn with(flag: &str, value: &str) -> CreateOptions {
        opts(|o| {
            let v = Some(value.to_string());
            match flag {
                "--health-interval" => o.health_interval = v,
                "--health-timeout" => o.health_timeout = v,
                "--health-start-period" => o.health_start_period = v,
                "--health-retries" => o.health_retries = v,
                _ => o.health_cmd = v,
            }
        })
    }

    fn err(o: &CreateOptions) -> String {
        parse(o).unwrap_err().to_string()
    }

    #[test]
    fn go_durations_parse_as_go_and_fail_with_gos_words() {
        for (s, ns) in [
            ("0", 0),
            ("1s", 1_000_000_000),
            ("1.5s", 1_500_000_000),
            ("4.5s", 4_500_000_000),
            ("100ms", 100_000_000),
            ("1m30s", 90_000_000_000),
            ("1h", 3_600_000_000_000),
            ("500us", 500_000),
            ("-2s", -2_000_000_000),
            ("+3ns", 3),
            (".5s", 500_000_000),
            ("0s", 0),
        ] {
            assert_eq!(parse_go_duration(s), Ok(ns), "{s}");
        }
        assert_eq!(
            parse_go_duration("1x").unwrap_err(),
            r#"time: unknown unit "x" in duration "1x""#
        );
        assert_eq!(
            parse_go_duration("10").unwrap_err(),
            r#"time: missing unit in duration "10""#
        );
        assert_eq!(
            parse_go_duration("x").unwrap_err(),
            r#"time: invalid duration "x""#
        );
        assert_eq!(
            parse_go_duration("").unwrap_err(),
            r#"time: invalid duration """#
        );
        assert!(parse_go_duration("9999999999h").is_err());
    }

    #[test]
    fn flags_make_dockers_healthcheck() {
        assert_eq!(parse(&CreateOptions::default()).unwrap(), None);
        let h = parse(&opts(|o| {
            o.health_cmd = Some("/check.sh -q".into());
            o.health_interval = Some("4.5s".into());
            o.health_timeout = Some("2s".into());
            o.health_start_period = Some("1m".into());
            o.health_retries = Some("3".into());
        }))
        .unwrap()
        .unwrap();
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            serde_json::json!({"Test": ["CMD-SHELL", "/check.sh -q"], "Interval": 4_500_000_000i64,
                "Timeout": 2_000_000_000i64, "StartPeriod": 60_000_000_000i64, "Retries": 3})
        );
        // Zero values are no setting, as Docker's CLI: no Healthcheck at all.
        let zero = opts(|o| {
            o.health_interval = Some("0s".into());
            o.health_retries = Some("0".into());
            o.health_cmd = Some(String::new());
        });
        assert_eq!(parse(&zero).unwrap(), None);
        let none = parse(&opts(|o| o.no_healthcheck = true)).unwrap().unwrap();
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            r#"{"Test":["NONE"]}"#
        );
        // --no-healthcheck with a zero --health-interval is no conflict (Docker's neither).
        assert!(parse(&opts(|o| {
            o.no_healthcheck = true;
            o.health_interval = Some("0s".into());
        }))
        .is_ok());
    }

    #[test]
    fn bad_values_get_dockers_errors() {
        let conflict = opts(|o| {
            o.no_healthcheck = true;
            o.health_retries = Some("1".into());
        });
        assert!(matches!(parse(&conflict), Err(Error::Usage(_))));
        assert_eq!(
            err(&conflict),
            "--no-healthcheck conflicts with --health-* options"
        );
        for (flag, value) in [
            ("--health-interval", "-1s"),
            ("--health-timeout", "-1s"),
            ("--health-start-period", "-2s"),
            ("--health-retries", "-1"),
        ] {
            let o = with(flag, value);
            assert!(matches!(parse(&o), Err(Error::Usage(_))), "{flag}");
            assert_eq!(err(&o), format!("{flag} cannot be negative"));
        }
        for (field, flag, value) in [
            ("Interval", "--health-interval", "500us"),
            ("Timeout", "--health-timeout", "0.5ms"),
            ("StartPeriod", "--health-start-period", "100us"),
        ] {
            let o = with(flag, value);
            assert!(matches!(parse(&o), Err(Error::InvalidInput(_))), "{field}");
            assert_eq!(
                err(&o),
                format!("{field} in Healthcheck cannot be less than 1ms")
            );
        }
        assert!(parse(&opts(|o| o.health_interval = Some("1ms".into()))).is_ok());
        assert_eq!(
            err(&opts(|o| o.health_interval = Some("1x".into()))),
            r#"invalid argument "1x" for "--health-interval" flag: time: unknown unit "x" in duration "1x""#
        );
        assert_eq!(
            err(&opts(|o| o.health_retries = Some("x".into()))),
            r#"invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": invalid syntax"#
        );
    }

    #[test]
    fn the_images_healthcheck_fills_what_the_flags_leave_unset() {
        let img = HealthConfig {
            test: Some(vec!["CMD".into(), "/ok".into()]),
            interval: Some(5_000_000_000),
            timeout: Some(1_000_000_000),
            retries: Some(7),
            ..HealthConfig::default()
        };
        assert_eq!(merge(None, Some(&img)), Some(img.clone()));
        assert_eq!(merge(None, None), None);
        let user = HealthConfig {
            interval: Some(2_000_000_000),
            ..HealthConfig::default()
        };
        assert_eq!(merge(Some(user.clone()), None), Some(user.clone()));
        let m = merge(Some(user), Some(&img)).unwrap();
        assert_eq!(m.test, img.test);
        assert_eq!(m.interval, Some(2_000_000_000));
        assert_eq!(m.timeout, Some(1_000_000_000));
        assert_eq!(m.retries, Some(7));
        assert_eq!(m.start_period, None);
        // --no-healthcheck keeps its NONE, and takes the image's other fields (as Docker).
        let none = HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..HealthConfig::default()
        };
        let m = merge(Some(none), Some(&img)).unwrap();
        assert_eq!(m.test, Some(vec!["NONE".to_string()]));
        assert_eq!(m.interval, Some(5_000_000_000));
    }
}
