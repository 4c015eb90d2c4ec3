//! `docker run`'s flags that are neither resources nor network: `-a`, `--volumes-from`,
//! `--link`, `--label-file`, `--platform`, parsed with Docker's CLI rules and messages (a value
//! that does not parse is a usage error).

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Which of the container's streams are attached (`-a`), as Docker's `Config.Attach*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attach {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Docker CLI's rules: `-a` names streams (any case); none named means stdout and stderr; `-i`
/// attaches stdin too; a detached container (`run -d`) attaches nothing, and `-a` with `-d` is
/// a conflict.
pub fn parse_attach(attach: &[String], interactive: bool, detach: bool) -> Result<Attach> {
    let mut a = Attach {
        stdin: false,
        stdout: false,
        stderr: false,
    };
    for s in attach {
        match s.to_ascii_lowercase().as_str() {
            "stdin" => a.stdin = true,
            "stdout" => a.stdout = true,
            "stderr" => a.stderr = true,
            _ => {
                return Err(Error::Usage(format!(
                    "invalid argument {s:?} for \"-a, --attach\" flag: valid streams are STDIN, \
                     STDOUT and STDERR"
                )))
            }
        }
    }
    if detach {
        if !attach.is_empty() {
            return Err(Error::Usage(
                "conflicting options: cannot specify both --attach and --detach".into(),
            ));
        }
        return Ok(Attach {
            stdin: false,
            stdout: false,
            stderr: false,
        });
    }
    if interactive {
        a.stdin = true;
    }
    if attach.is_empty() {
        a.stdout = true;
        a.stderr = true;
    }
    Ok(a)
}

/// Docker's `opts.ParseLink`: `NAME` (the alias is the name) or `NAME:ALIAS`; the
/// `/name:/me/alias` form of a record is read too.
pub fn parse_link(val: &str) -> Result<(String, String)> {
    if val.is_empty() {
        return Err(Error::Usage("empty string specified for links".into()));
    }
    let parts: Vec<&str> = val.split(':').collect();
    match parts.as_slice() {
        [name] => Ok((name.to_string(), name.to_string())),
        [name, alias] if name.starts_with('/') => Ok((
            name[1..].to_string(),
            alias.rsplit('/').next().unwrap_or(alias).to_string(),
        )),
        [name, alias] if !name.is_empty() && !alias.is_empty() => {
            Ok((name.to_string(), alias.to_string()))
        }
        _ => Err(Error::Usage(format!(
            "invalid argument {val:?} for \"--link\" flag: bad format for links: {val}"
        ))),
    }
}

/// Docker's `parseVolumesFrom`: `NAME[:MODE]`, MODE `ro` or `rw` (and SELinux's `z`/`Z`,
/// which berth ignores), comma-separated; propagation and copy modes are refused. Returns the
/// name and whether the mounts stay writable (`rw`, the default: as they were).
pub fn parse_volumes_from(spec: &str) -> Result<(String, bool)> {
    if spec.is_empty() {
        return Err(Error::InvalidInput(
            "volumes-from specification cannot be an empty string".into(),
        ));
    }
    let (name, mode) = spec.split_once(':').unwrap_or((spec, ""));
    let mut rw = None;
    if !mode.is_empty() {
        for m in mode.split(',') {
            let want = match m {
                "ro" => Some(false),
                "rw" => Some(true),
                "z" | "Z" => None,
                _ => return Err(Error::InvalidInput(format!("invalid mode: {mode}"))),
            };
            if let Some(w) = want {
                if rw.is_some() {
                    return Err(Error::InvalidInput(format!("invalid mode: {mode}")));
                }
                rw = Some(w);
            }
        }
    }
    Ok((name.to_string(), rw.unwrap_or(true)))
}

/// Docker's `--label-file`: lines trimmed on the left, blank lines and `#` comments skipped,
/// `KEY=VALUE` (a KEY with white space is refused); a bare KEY is skipped.
pub fn read_label_files(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::Usage(format!("open {}: {}", f.display(), io_text(&e))))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line.split_once('=').map(|(k, _)| k).unwrap_or(line);
            if key.contains(char::is_whitespace) {
                return Err(Error::Usage(format!(
                    "poorly formatted environment: variable '{key}' contains whitespaces"
                )));
            }
            // A bare KEY takes no value from anywhere (unlike --env-file's): dropped, as
            // Docker's CLI drops it.
            if line.contains('=') {
                out.push(line.to_string());
            }
        }
    }
    Ok(out)
}

/// An I/O error as Go words it (`no such file or directory`).
fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_ascii_lowercase(),
        None => e.to_string(),
    }
}

/// Docker's `--platform` check: `os[/arch[/variant]]`, os and arch known; normalised
/// (`linux/x86_64` → `linux/amd64`).
pub fn parse_platform(p: &str) -> Result<String> {
    // A daemon-side error for Docker's create (exit 1), a usage one for run (125).
    let bad = || {
        Error::InvalidInput(format!(
            "error parsing specified platform: {p:?}: unknown operating system or architecture: \
             invalid argument"
        ))
    };
    let parts: Vec<String> = p.split('/').map(|s| s.to_ascii_lowercase()).collect();
    let arch = |a: &str| -> Option<&'static str> {
        Some(match a {
            "amd64" | "x86_64" | "x86-64" => "amd64",
            "arm64" | "aarch64" => "arm64",
            "arm" | "armhf" | "armel" => "arm",
            "386" | "i386" | "i686" => "386",
            "ppc64le" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "mips64le" => "mips64le",
            _ => return None,
        })
    };
    let os = |o: &str| matches!(o, "linux" | "windows" | "darwin" | "freebsd");
    match parts.as_slice() {
        [o] if os(o) => Ok(o.clone()),
        [o, a] if os(o) => Ok(format!("{o}/{}", arch(a).ok_or_else(bad)?)),
        [o, a, v] if os(o) && !v.is_empty() => Ok(format!("{o}/{}/{v}", arch(a).ok_or_else(bad)?)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn attach_as_dockers_cli() {
        let a = parse_attach(&[], false, false).unwrap();
        assert_eq!((a.stdin, a.stdout, a.stderr), (false, true, true));
        let a = parse_attach(&v(&["STDOUT"]), false, false).unwrap();
        assert_eq!((a.stdin, a.stdout, a.stderr), (false, true, false));
        let a = parse_attach(&v(&["stderr"]), true, false).unwrap();
        assert_eq!((a.stdin, a.stdout, a.stderr), (true, false, true));
        let a = parse_attach(&[], true, true).unwrap();
        assert_eq!((a.stdin, a.stdout, a.stderr), (false, false, false));
        let e = parse_attach(&v(&["foo"]), false, false).unwrap_err();
        assert!(
            matches!(&e, Error::Usage(m) if m.ends_with("valid streams are STDIN, STDOUT and STDERR")),
            "{e}"
        );
        let e = parse_attach(&v(&["stdin"]), false, true).unwrap_err();
        assert!(
            matches!(&e, Error::Usage(m) if m == "conflicting options: cannot specify both --attach and --detach"),
            "{e}"
        );
    }

    #[test]
    fn links_and_volumes_from_as_docker() {
        assert_eq!(parse_link("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(parse_link("db:d").unwrap(), ("db".into(), "d".into()));
        assert_eq!(parse_link("/db:/me/d").unwrap(), ("db".into(), "d".into()));
        let e = parse_link("a:b:c").unwrap_err().to_string();
        assert!(e.contains("bad format for links: a:b:c"), "{e}");
        assert_eq!(parse_volumes_from("x").unwrap(), ("x".into(), true));
        assert_eq!(parse_volumes_from("x:ro").unwrap(), ("x".into(), false));
        assert_eq!(parse_volumes_from("x:rw,z").unwrap(), ("x".into(), true));
        for bad in ["x:rshared", "x:nocopy", "x:ro,rw", "x:"] {
            if bad == "x:" {
                assert_eq!(parse_volumes_from(bad).unwrap(), ("x".into(), true));
                continue;
            }
            let e = parse_volumes_from(bad).unwrap_err().to_string();
            assert!(e.contains("invalid mode: "), "{bad}: {e}");
        }
    }

    #[test]
    fn label_files_and_platforms() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("labels");
        std::fs::write(&f, "# c\n\n  a=1\nb\nc=x=y\n").unwrap();
        assert_eq!(
            read_label_files(std::slice::from_ref(&f)).unwrap(),
            v(&["a=1", "c=x=y"])
        );
        std::fs::write(&f, "a b=1\n").unwrap();
        let e = read_label_files(&[f]).unwrap_err().to_string();
        assert!(e.contains("variable 'a b' contains whitespaces"), "{e}");
        let e = read_label_files(&[PathBuf::from("/nonexist")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("open /nonexist: no such file or directory"),
            "{e}"
        );
        assert_eq!(parse_platform("linux/x86_64").unwrap(), "linux/amd64");
        assert_eq!(parse_platform("linux/arm/v7").unwrap(), "linux/arm/v7");
        let e = parse_platform("foo").unwrap_err().to_string();
        assert!(
            e.contains("error parsing specified platform: \"foo\""),
            "{e}"
        );
    }
}
