//! Registry credentials and authentication challenges.
//!
//! Credentials come from Docker's `config.json` (`$DOCKER_CONFIG/config.json`, default
//! `~/.docker/config.json`): `credHelpers` for the host, then `credsStore`, then `auths` — the
//! order Docker uses. `img-login` writes them back in the same file, mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::error::{Error, IoContext, Result};

/// The key Docker uses in `auths` for Docker Hub.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A user name and a password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, even in debug output.
        write!(f, "Credentials({:?}, <redacted>)", self.username)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The `auths` key for a registry domain: Docker Hub's legacy URL for docker.io, else the host.
pub fn auth_key(domain: &str) -> String {
    if domain == "docker.io" || domain == "index.docker.io" || domain == "registry-1.docker.io" {
        DOCKER_HUB_AUTH_KEY.to_string()
    } else {
        domain.to_string()
    }
}

/// The registry domain a user typed to `img-login`/`img-logout`: `https://host:5000/v2/` →
/// `host:5000`, and Docker Hub's names → `docker.io`.
pub fn registry_domain(s: &str) -> String {
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".into(),
        h => h.to_string(),
    }
}

/// Strips a scheme and path from an `auths` key (`https://host:5000/v2/` → `host:5000`).
fn normalise_key(key: &str) -> String {
    if key == DOCKER_HUB_AUTH_KEY {
        return key.to_string();
    }
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k).to_string()
}

/// Docker's client configuration file.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    value: Value,
}

impl DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, or `~/.docker/config.json`.
    pub fn default_path() -> PathBuf {
        if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
            return PathBuf::from(d).join("config.json");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root"));
        home.join(".docker").join("config.json")
    }

    /// Loads the file; a missing one is an empty configuration.
    pub fn load(path: &Path) -> Result<DockerConfig> {
        let value = match std::fs::read(path) {
            Ok(data) if data.iter().all(u8::is_ascii_whitespace) => json!({}),
            Ok(data) => serde_json::from_slice(&data)
                .map_err(|e| Error::corrupt(format!("{}", path.display()), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        if !value.is_object() {
            return Err(Error::corrupt(
                format!("{}", path.display()),
                "not a JSON object",
            ));
        }
        Ok(DockerConfig {
            path: path.to_path_buf(),
            value,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn helper_for(&self, key: &str) -> Option<String> {
        let host = normalise_key(key);
        if let Some(h) = self.value.get("credHelpers").and_then(Value::as_object) {
            for (k, v) in h {
                if normalise_key(k) == host {
                    return v.as_str().map(str::to_string);
                }
            }
        }
        self.value
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The credentials for a registry domain, if any are configured.
    pub fn credentials(&self, domain: &str) -> Result<Option<Credentials>> {
        let key = auth_key(domain);
        if let Some(helper) = self.helper_for(&key) {
            return helper_get(&helper, &key);
        }
        let Some(auths) = self.value.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let want = normalise_key(&key);
        for (k, entry) in auths {
            if normalise_key(k) != want {
                continue;
            }
            if let Some(auth) = entry
                .get("auth")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(auth.trim())
                    .map_err(|e| {
                        Error::corrupt(format!("{} auths[{k}]", self.path.display()), e)
                    })?;
                let raw = String::from_utf8(raw).map_err(|e| {
                    Error::corrupt(format!("{} auths[{k}]", self.path.display()), e)
                })?;
                let (u, p) = raw.split_once(':').ok_or_else(|| {
                    Error::corrupt(
                        format!("{} auths[{k}]", self.path.display()),
                        "auth is not user:password",
                    )
                })?;
                return Ok(Some(Credentials {
                    username: u.into(),
                    password: p.into(),
                }));
            }
            if let (Some(u), Some(p)) = (
                entry.get("username").and_then(Value::as_str),
                entry.get("password").and_then(Value::as_str),
            ) {
                return Ok(Some(Credentials {
                    username: u.into(),
                    password: p.into(),
                }));
            }
        }
        Ok(None)
    }

    /// Stores credentials for a domain: in its credential helper when one is configured,
    /// else in `auths`. The file is written by rename, mode 0600.
    pub fn store(&mut self, domain: &str, creds: &Credentials) -> Result<()> {
        let key = auth_key(domain);
        if let Some(helper) = self.helper_for(&key) {
            return helper_store(&helper, &key, creds);
        }
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", creds.username, creds.password));
        let obj = self.value.as_object_mut().expect("checked on load");
        let auths = obj.entry("auths").or_insert_with(|| json!({}));
        if !auths.is_object() {
            *auths = json!({});
        }
        let auths = auths.as_object_mut().expect("object");
        auths.retain(|k, _| normalise_key(k) != normalise_key(&key));
        auths.insert(key, json!({ "auth": auth }));
        self.save()
    }

    /// Removes a domain's credentials; returns whether there were any.
    pub fn erase(&mut self, domain: &str) -> Result<bool> {
        let key = auth_key(domain);
        if let Some(helper) = self.helper_for(&key) {
            return helper_erase(&helper, &key);
        }
        let Some(auths) = self.value.get_mut("auths").and_then(Value::as_object_mut) else {
            return Ok(false);
        };
        let before = auths.len();
        auths.retain(|k, _| normalise_key(k) != normalise_key(&key));
        let removed = auths.len() != before;
        if removed {
            self.save()?;
        }
        Ok(removed)
    }

    fn save(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_path("create", dir)?;
        let data = serde_json::to_vec_pretty(&self.value).expect("JSON serialises");
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config.json");
        // 0600: the file holds secrets.
        let how = berth_fsutil::Atomic {
            mode: 0o600,
            temp_prefix: ".config.json.",
            durable: true,
        };
        Ok(berth_fsutil::write_atomic(dir, name, &data, &how)?)
    }
}

fn helper_command(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<(bool, String)> {
    let prog = helper_command(helper);
    let mut child = Command::new(&prog)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::InvalidInput(format!("credential helper {prog}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::InvalidInput(format!("credential helper {prog}: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok((out.status.success(), text))
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credentials>> {
    let (ok, out) = run_helper(helper, "get", key)?;
    if !ok {
        // "credentials not found in native keychain" is not an error: there are none.
        if out.to_lowercase().contains("not found") || out.trim().is_empty() {
            return Ok(None);
        }
        return Err(Error::InvalidInput(format!(
            "credential helper {} get {key}: {}",
            helper_command(helper),
            out.trim()
        )));
    }
    let v: Value = serde_json::from_str(&out).map_err(|e| {
        Error::InvalidInput(format!(
            "credential helper {}: bad output: {e}",
            helper_command(helper)
        ))
    })?;
    let u = v.get("Username").and_then(Value::as_str).unwrap_or("");
    let s = v.get("Secret").and_then(Value::as_str).unwrap_or("");
    if s.is_empty() {
        return Ok(None);
    }
    Ok(Some(Credentials {
        username: u.into(),
        password: s.into(),
    }))
}

fn helper_store(helper: &str, key: &str, creds: &Credentials) -> Result<()> {
    let input =
        json!({"ServerURL": key, "Username": creds.username, "Secret": creds.password}).to_string();
    let (ok, out) = run_helper(helper, "store", &input)?;
    if !ok {
        return Err(Error::InvalidInput(format!(
            "credential helper {} store: {}",
            helper_command(helper),
            out.trim()
        )));
    }
    Ok(())
}

fn helper_erase(helper: &str, key: &str) -> Result<bool> {
    let (ok, _) = run_helper(helper, "erase", key)?;
    Ok(ok)
}

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer`, lower case.
    pub scheme: String,
    pub params: BTreeMap<String, String>,
}

/// Parses `WWW-Authenticate: Bearer realm="https://auth",service="reg",scope="repository:a:pull"`
/// (several challenges may be comma-separated, parameter values may be quoted with escapes).
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let s = header.trim();
    let bytes: Vec<char> = s.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i].is_whitespace() || bytes[*i] == ',') {
            *i += 1;
        }
    };
    while i < bytes.len() {
        skip_ws(&mut i);
        let start = i;
        while i < bytes.len() && !bytes[i].is_whitespace() && bytes[i] != '=' && bytes[i] != ',' {
            i += 1;
        }
        let token: String = bytes[start..i].iter().collect();
        if token.is_empty() {
            break;
        }
        if i < bytes.len() && bytes[i] == '=' {
            // A parameter of the current challenge.
            i += 1;
            let value = if i < bytes.len() && bytes[i] == '"' {
                i += 1;
                let mut v = String::new();
                while i < bytes.len() && bytes[i] != '"' {
                    if bytes[i] == '\\' && i + 1 < bytes.len() {
                        i += 1;
                    }
                    v.push(bytes[i]);
                    i += 1;
                }
                i += 1;
                v
            } else {
                let vs = i;
                while i < bytes.len() && bytes[i] != ',' {
                    i += 1;
                }
                bytes[vs..i].iter().collect::<String>().trim().to_string()
            };
            if let Some(c) = out.last_mut() {
                c.params.insert(token.to_ascii_lowercase(), value);
            }
        } else {
            out.push(Challenge {
                scheme: token.to_ascii_lowercase(),
                params: BTreeMap::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].params["realm"], "https://auth.docker.io/token");
        assert_eq!(c[0].params["service"], "registry.docker.io");
        assert_eq!(c[0].params["scope"], "repository:library/busybox:pull");
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].params["realm"], "Registry Realm");
        let c = parse_challenges(r#"Basic realm="a, \"b\"", Bearer realm=x"#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].params["realm"], "a, \"b\"");
        assert_eq!(c[1].params["realm"], "x");
    }

    #[test]
    fn config_round_trip_and_mode() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("docker/config.json");
        let mut c = DockerConfig::load(&path).unwrap();
        assert_eq!(c.credentials("127.0.0.1:5000").unwrap(), None);
        let creds = Credentials {
            username: "u".into(),
            password: "p:w".into(),
        };
        c.store("127.0.0.1:5000", &creds).unwrap();
        c.store("docker.io", &creds).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let c = DockerConfig::load(&path).unwrap();
        assert_eq!(
            c.credentials("127.0.0.1:5000").unwrap(),
            Some(creds.clone())
        );
        assert_eq!(c.credentials("docker.io").unwrap(), Some(creds.clone()));
        let raw: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(raw["auths"][DOCKER_HUB_AUTH_KEY]["auth"].is_string());
        let mut c = c;
        assert!(c.erase("127.0.0.1:5000").unwrap());
        assert!(!c.erase("127.0.0.1:5000").unwrap());
        assert_eq!(
            DockerConfig::load(&path)
                .unwrap()
                .credentials("127.0.0.1:5000")
                .unwrap(),
            None
        );
    }

    #[test]
    fn reads_keys_with_scheme_and_plain_fields() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://reg.example.com/v2/":{"auth":"YTpi"},"other:5000":{"username":"x","password":"y"}}}"#,
        )
        .unwrap();
        let c = DockerConfig::load(&path).unwrap();
        assert_eq!(
            c.credentials("reg.example.com").unwrap(),
            Some(Credentials {
                username: "a".into(),
                password: "b".into()
            })
        );
        assert_eq!(c.credentials("other:5000").unwrap().unwrap().username, "x");
        assert!(format!("{:?}", c.credentials("other:5000").unwrap()).contains("redacted"));
    }

    #[test]
    fn credential_helpers_are_asked() {
        let t = tempfile::tempdir().unwrap();
        let bin = t.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let helper = bin.join("docker-credential-berthtest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread host\nif [ \"$1\" = get ] && [ \"$host\" = helped:5000 ]; then echo '{\"ServerURL\":\"helped:5000\",\"Username\":\"hu\",\"Secret\":\"hs\"}'; else echo 'credentials not found in native keychain'; exit 1; fi\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let path = t.path().join("config.json");
        std::fs::write(&path, r#"{"credHelpers":{"helped:5000":"berthtest"}}"#).unwrap();
        let old = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin.clone()];
        paths.extend(std::env::split_paths(&old));
        // Only this test changes PATH, and only to add a directory.
        std::env::set_var("PATH", std::env::join_paths(paths).unwrap());
        let c = DockerConfig::load(&path).unwrap();
        assert_eq!(
            c.credentials("helped:5000").unwrap(),
            Some(Credentials {
                username: "hu".into(),
                password: "hs".into()
            })
        );
        assert_eq!(c.credentials("unhelped:5000").unwrap(), None);
    }
}
