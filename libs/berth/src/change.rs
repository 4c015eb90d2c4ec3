//! Dockerfile instructions given with `--change` (`docker import --change`, `docker commit
//! --change`), applied to an image's run config (the `config` object of the image config, a [`Config`]).

use crate::config::Config;
use crate::error::{Error, Result};

/// The instructions `--change` accepts, as Docker's import and commit do.
pub const SUPPORTED: &str =
    "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR";

fn bad(change: &str, why: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("invalid --change {change:?}: {why}"))
}

/// Applies `changes` in order to `config`.
pub fn apply(config: &mut Config, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        let trimmed = change.trim();
        let (word, rest) = match trimmed.find(char::is_whitespace) {
            Some(i) => (&trimmed[..i], trimmed[i..].trim()),
            None => (trimmed, ""),
        };
        let instruction = word.to_ascii_uppercase();
        if instruction.is_empty() {
            return Err(bad(change, "empty instruction"));
        }
        if rest.is_empty() {
            return Err(bad(change, format!("{instruction} needs an argument")));
        }
        match instruction.as_str() {
            "CMD" => {
                config.cmd = Some(Some(command_form(change, rest)?));
                cmd_set = true;
            }
            "ENTRYPOINT" => {
                config.entrypoint = Some(Some(command_form(change, rest)?));
                // As in a Dockerfile, a new ENTRYPOINT drops the CMD it inherited.
                if !cmd_set {
                    config.cmd = Some(None);
                }
            }
            "ENV" => {
                let pairs = key_values(change, rest)?;
                let list = config.env.get_or_insert(None).get_or_insert_with(Vec::new);
                for (k, v) in pairs {
                    let prefix = format!("{k}=");
                    list.retain(|e| !e.starts_with(&prefix));
                    list.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                let pairs = key_values(change, rest)?;
                let labels = config
                    .labels
                    .get_or_insert(None)
                    .get_or_insert_with(Default::default);
                for (k, v) in pairs {
                    labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                let mut ports = Vec::new();
                for w in words(change, rest)? {
                    ports.extend(expose_ports(change, &w)?);
                }
                let set = config.exposed_ports.get_or_insert_with(Default::default);
                for p in ports {
                    set.insert(p, Default::default());
                }
            }
            "VOLUME" => {
                let vols = if rest.starts_with('[') {
                    json_array(change, rest)?
                } else {
                    words(change, rest)?
                };
                let set = config
                    .volumes
                    .get_or_insert(None)
                    .get_or_insert_with(Default::default);
                for v in vols {
                    if v.is_empty() {
                        return Err(bad(change, "VOLUME needs a non-empty path"));
                    }
                    set.insert(v, Default::default());
                }
            }
            "USER" => {
                config.user = Some(single(change, rest)?);
            }
            "WORKDIR" => {
                let dir = single(change, rest)?;
                let base = config
                    .working_dir
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("/");
                let joined = if dir.starts_with('/') {
                    dir
                } else {
                    format!("{base}/{dir}")
                };
                config.working_dir = Some(clean_path(&joined));
            }
            "STOPSIGNAL" => {
                config.stop_signal = Some(single(change, rest)?);
            }
            "ONBUILD" => {
                config
                    .on_build
                    .get_or_insert(None)
                    .get_or_insert_with(Vec::new)
                    .push(rest.to_string());
            }
            other => {
                return Err(bad(
                    change,
                    format!("{other} cannot be used with --change (supported: {SUPPORTED})"),
                ))
            }
        }
    }
    Ok(())
}

/// CMD and ENTRYPOINT: the exec form (a JSON array) or the shell form (`/bin/sh -c`).
fn command_form(change: &str, rest: &str) -> Result<Vec<String>> {
    if rest.starts_with('[') {
        if let Ok(v) = json_array(change, rest) {
            return Ok(v);
        }
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

fn json_array(change: &str, rest: &str) -> Result<Vec<String>> {
    serde_json::from_str::<Vec<String>>(rest)
        .map_err(|e| bad(change, format!("not a JSON array of strings: {e}")))
}

fn single(change: &str, rest: &str) -> Result<String> {
    let w = words(change, rest)?;
    match w.len() {
        1 => Ok(w.into_iter().next().expect("one")),
        n => Err(bad(change, format!("takes one argument, got {n}"))),
    }
}

/// Splits words as the Dockerfile parser does: whitespace separates, double quotes group (with
/// backslash escapes), single quotes group literally, a backslash escapes the next character.
fn words(change: &str, s: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(bad(change, "unterminated double quote")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e) => cur.push(e),
                            None => return Err(bad(change, "unterminated double quote")),
                        },
                        Some(x) => cur.push(x),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(bad(change, "unterminated single quote")),
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(e) = chars.next() {
                    cur.push(e);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// `k=v k2="v 2"`, or the legacy `k some value` form (one pair, the rest is the value).
fn key_values(change: &str, rest: &str) -> Result<Vec<(String, String)>> {
    let w = words(change, rest)?;
    let first_has_eq = w.first().is_some_and(|f| f.contains('='));
    if !first_has_eq {
        let (k, v) = match rest.find(char::is_whitespace) {
            Some(i) => (&rest[..i], rest[i..].trim()),
            None => return Err(bad(change, "expected KEY=VALUE")),
        };
        let v = words(change, v)?.join(" ");
        return Ok(vec![(k.to_string(), v)]);
    }
    w.into_iter()
        .map(|p| match p.split_once('=') {
            Some(("", _)) => Err(bad(change, format!("{p:?} has an empty key"))),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(bad(change, format!("{p:?} is not KEY=VALUE"))),
        })
        .collect()
}

/// `80`, `80/tcp`, `53/udp`, `8000-8002/tcp` → `["80/tcp"]`, … as Docker's nat.ParsePortSpecs.
pub(crate) fn expose_ports(change: &str, spec: &str) -> Result<Vec<String>> {
    let (range, proto) = match spec.split_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(
            change,
            format!("invalid protocol {proto:?} in {spec:?}"),
        ));
    }
    let port = |s: &str| -> Result<u16> {
        s.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad(change, format!("invalid port {s:?} in {spec:?}")))
    };
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(range)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad(change, format!("invalid port range {range:?}")));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Lexically cleans an absolute path: `//a/./b/../c/` → `/a/c`.
pub(crate) fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn run(changes: &[&str]) -> Result<Value> {
        let mut c: Config =
            serde_json::from_value(json!({"Cmd": ["sh"], "Env": ["PATH=/bin", "A=1"]})).unwrap();
        apply(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(serde_json::to_value(c).unwrap())
    }

    #[test]
    fn cmd_and_entrypoint() {
        let c = run(&[r#"CMD ["/bin/sh", "-c", "echo hi"]"#]).unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        let c = run(&["cmd echo hi"]).unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "echo hi"]));
        let c = run(&[r#"ENTRYPOINT ["/init"]"#]).unwrap();
        assert_eq!(c["Entrypoint"], json!(["/init"]));
        assert_eq!(c["Cmd"], Value::Null);
        let c = run(&[r#"CMD ["x"]"#, r#"ENTRYPOINT ["/init"]"#]).unwrap();
        assert_eq!(c["Cmd"], json!(["x"]));
    }

    #[test]
    fn env_label_expose_volume() {
        let c = run(&[
            r#"ENV A=2 B="two words""#,
            "ENV LEGACY some value",
            r#"LABEL org.x="y z" k=v"#,
            "EXPOSE 80 53/udp 8000-8001",
            r#"VOLUME ["/data", "/logs"]"#,
            "VOLUME /more",
        ])
        .unwrap();
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "A=2", "B=two words", "LEGACY=some value"])
        );
        assert_eq!(c["Labels"], json!({"org.x": "y z", "k": "v"}));
        assert_eq!(
            c["ExposedPorts"],
            json!({"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}})
        );
        assert_eq!(c["Volumes"], json!({"/data": {}, "/logs": {}, "/more": {}}));
    }

    #[test]
    fn user_workdir_stopsignal() {
        let c = run(&[
            "USER nobody:nogroup",
            "WORKDIR /srv",
            "WORKDIR app/../www",
            "STOPSIGNAL SIGTERM",
        ])
        .unwrap();
        assert_eq!(c["User"], "nobody:nogroup");
        assert_eq!(c["WorkingDir"], "/srv/www");
        assert_eq!(c["StopSignal"], "SIGTERM");
    }

    #[test]
    fn refusals_say_why() {
        for (change, why) in [
            ("RUN echo", "cannot be used with --change"),
            ("CMD", "needs an argument"),
            ("", "empty instruction"),
            ("EXPOSE 70000", "invalid port"),
            ("EXPOSE 80/icmp", "invalid protocol"),
            ("EXPOSE 90-80", "invalid port range"),
            ("ENV =x", "empty key"),
            ("ENV A=1 B", "not KEY=VALUE"),
            (r#"LABEL a="x"#, "unterminated"),
            ("USER a b", "takes one argument"),
            (r#"VOLUME ["/a", 1]"#, "not a JSON array"),
        ] {
            let err = run(&[change]).unwrap_err().to_string();
            assert!(err.contains(why), "{change:?}: {err}");
        }
    }

    #[test]
    fn an_empty_config_gets_only_what_was_asked() {
        let mut c = Config::default();
        apply(&mut c, &["USER 1000".to_string()]).unwrap();
        assert_eq!(serde_json::to_value(c).unwrap(), json!({"User": "1000"}));
    }
}
