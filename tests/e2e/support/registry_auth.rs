//! Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, as the tests need it: plain HTTP,
//! HTTPS with a certificate made for the test, htpasswd Basic auth, or token auth against a
//! token issuer that lives in the test process and signs real JWTs the registry verifies.
//!
//! Everything cryptographic is done by the `openssl` command: a test CA and a server
//! certificate for `127.0.0.1` and `localhost` (SAN entries); for tokens, a root CA (the
//! registry's `rootcertbundle`), an intermediate, and a signing certificate, whose chain goes in
//! each JWT's `x5c` header. `htpasswd -B` (apache2-utils) makes the bcrypt password file,
//! since distribution only accepts bcrypt entries.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::free_port;
use super::http::{self, b64, b64url, form_pairs, Reply, Request, Server};

/// How [`Registry::start_with`] sets the registry up. The default is plain HTTP, no auth.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Serve HTTPS with a certificate from a CA made for this registry
    /// (see [`Registry::ca_cert_path`], [`Registry::cert_dir`]).
    pub tls: bool,
    /// Basic auth with this one account (`auth: htpasswd`, bcrypt).
    pub htpasswd: Option<(String, String)>,
    /// Bearer token auth (`auth: token`) against a [`TokenIssuer`] started for this registry.
    /// Not together with `htpasswd`: distribution takes one auth method.
    pub token: Option<TokenAuth>,
}

impl RegistryOptions {
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    pub fn htpasswd(mut self, user: &str, password: &str) -> Self {
        self.htpasswd = Some((user.to_string(), password.to_string()));
        self
    }

    pub fn token(mut self, token: TokenAuth) -> Self {
        self.token = Some(token);
        self
    }
}

/// The JWS algorithm the token issuer signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JwtAlg {
    /// ECDSA P-256 with SHA-256; the signature is raw r‖s (64 bytes), not DER.
    #[default]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit key.
    Rs256,
}

/// The token issuer's policy.
#[derive(Debug, Clone)]
pub struct TokenAuth {
    /// The one account: with these Basic credentials every requested action is granted.
    pub user: String,
    pub password: String,
    /// Without credentials, grant `pull` (and only that). Otherwise an anonymous request gets
    /// a token with no access at all, as Docker Hub does, and the registry then answers 401.
    pub anonymous_pull: bool,
    pub alg: JwtAlg,
    /// Lifetime of a token in seconds (`expires_in`, and `exp` - `iat`). Note the registry
    /// allows 60 s of leeway on `exp` and `nbf`.
    pub expires_in: u64,
    /// The registry's `service` (the JWT's `aud`).
    pub service: String,
    /// The JWT's `iss`, which the registry trusts.
    pub issuer: String,
}

impl TokenAuth {
    pub fn new(user: &str, password: &str) -> TokenAuth {
        TokenAuth {
            user: user.to_string(),
            password: password.to_string(),
            anonymous_pull: false,
            alg: JwtAlg::Es256,
            expires_in: 300,
            service: "berth-test-registry".to_string(),
            issuer: "berth-test-issuer".to_string(),
        }
    }

    pub fn anonymous_pull(mut self, yes: bool) -> Self {
        self.anonymous_pull = yes;
        self
    }

    pub fn alg(mut self, alg: JwtAlg) -> Self {
        self.alg = alg;
        self
    }

    pub fn expires_in(mut self, secs: u64) -> Self {
        self.expires_in = secs;
        self
    }
}

/// Debian's `docker-registry` serving on 127.0.0.1 with a generated config; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    tls: bool,
    htpasswd: Option<(String, String)>,
    issuer: Option<TokenIssuer>,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry without TLS or auth. Callers check `have("docker-registry")` first.
    pub fn start() -> Registry {
        Registry::start_with(RegistryOptions::default())
    }

    /// Starts a registry set up as `opts` says. Panics when it cannot.
    pub fn start_with(opts: RegistryOptions) -> Registry {
        assert!(
            !(opts.htpasswd.is_some() && opts.token.is_some()),
            "distribution takes one auth method: htpasswd or token, not both"
        );
        let dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let mut extra = String::new();
        if opts.tls {
            let pki = d.join("pki");
            std::fs::create_dir_all(&pki).unwrap();
            make_ca(&pki, "ca", "berth test CA", KeyKind::Ec);
            issue_cert(
                &pki,
                "server",
                "127.0.0.1",
                "ca",
                KeyKind::Ec,
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
            );
            extra.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_str(&pki.join("server.crt")),
                yaml_str(&pki.join("server.key")),
            ));
        }
        let mut auth = String::new();
        if let Some((user, password)) = &opts.htpasswd {
            let out = super::run(Command::new("htpasswd").args(["-Bbn", user, password]));
            assert_eq!(out.code, 0, "htpasswd (apache2-utils) failed: {out:?}");
            let file = d.join("htpasswd");
            std::fs::write(&file, out.stdout.trim_end().to_string() + "\n").unwrap();
            auth = format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                yaml_str(&file)
            );
        }
        let issuer = opts
            .token
            .clone()
            .map(|t| TokenIssuer::start(t, &d.join("token-pki")));
        if let Some(iss) = &issuer {
            auth = format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                yaml_str(Path::new(&iss.realm())),
                yaml_str(Path::new(&iss.auth.service)),
                yaml_str(Path::new(&iss.auth.issuer)),
                yaml_str(&iss.root_cert),
            );
        }
        let log = d.join("registry.log");
        for _ in 0..5 {
            let port = free_port();
            let config = d.join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n{extra}{auth}",
                    yaml_str(&d.join("data"))
                ),
            )
            .unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("start docker-registry");
            if wait_ready(&mut child, port, Duration::from_secs(15)) {
                let reg = Registry {
                    child,
                    port,
                    tls: opts.tls,
                    htpasswd: opts.htpasswd.clone(),
                    issuer,
                    dir,
                };
                if reg.tls {
                    for host in ["127.0.0.1", "localhost"] {
                        let hd = reg.certs_d().join(format!("{host}:{port}"));
                        std::fs::create_dir_all(&hd).unwrap();
                        std::fs::copy(reg.ca_cert_path(), hd.join("ca.crt")).unwrap();
                    }
                }
                return reg;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `127.0.0.1:PORT`, the registry's host in image references.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr())
    }

    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Where the registry keeps its blobs and repositories.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The registry's log (level info: auth failures say why there).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// The test CA's certificate (PEM) that signed the server certificate. Panics without TLS.
    pub fn ca_cert_path(&self) -> PathBuf {
        assert!(self.tls, "this registry has no TLS");
        self.dir.path().join("pki/ca.crt")
    }

    /// A directory laid out as Docker's `/etc/docker/certs.d`: `127.0.0.1:PORT/ca.crt` and
    /// `localhost:PORT/ca.crt`. Panics without TLS.
    pub fn certs_d(&self) -> PathBuf {
        assert!(self.tls, "this registry has no TLS");
        self.dir.path().join("certs.d")
    }

    /// This registry's own directory in [`Registry::certs_d`], `certs.d/127.0.0.1:PORT`, holding
    /// `ca.crt`: what skopeo's `--cert-dir` takes.
    pub fn cert_dir(&self) -> PathBuf {
        self.certs_d().join(self.addr())
    }

    /// The htpasswd or token account, if the registry has auth.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.htpasswd.clone().or_else(|| {
            self.issuer
                .as_ref()
                .map(|i| (i.auth.user.clone(), i.auth.password.clone()))
        })
    }

    /// The token issuer, for a registry with token auth.
    pub fn token_issuer(&self) -> Option<&TokenIssuer> {
        self.issuer.as_ref()
    }
}

/// Polls `GET /v2/` until the registry answers with any HTTP status (401 with auth; a TLS port
/// answers a plain request with 400).
fn wait_ready(child: &mut Child, port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = format!("GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
            if s.write_all(req.as_bytes()).is_ok() {
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf) {
                    if buf[..n].starts_with(b"HTTP/1.") {
                        return true;
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn yaml_str(p: &Path) -> String {
    let s = p.to_str().expect("UTF-8 path");
    assert!(!s.contains(['"', '\\', '\n']), "unquotable: {s:?}");
    format!("\"{s}\"")
}

#[derive(Clone, Copy)]
enum KeyKind {
    Ec,
    Rsa,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = super::run(Command::new("openssl").current_dir(dir).args(args));
    assert_eq!(out.code, 0, "openssl {args:?} failed: {}", out.stderr);
}

fn newkey_args(kind: KeyKind) -> [&'static str; 4] {
    match kind {
        KeyKind::Ec => ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        KeyKind::Rsa => ["-newkey", "rsa", "-pkeyopt", "rsa_keygen_bits:2048"],
    }
}

/// A self-signed CA: `{name}.key`, `{name}.crt` in `dir`.
fn make_ca(dir: &Path, name: &str, cn: &str, kind: KeyKind) {
    let (key, crt, subj) = (
        format!("{name}.key"),
        format!("{name}.crt"),
        format!("/CN={cn}"),
    );
    let mut args = vec!["req", "-x509"];
    args.extend(newkey_args(kind));
    args.extend([
        "-nodes",
        "-keyout",
        &key,
        "-out",
        &crt,
        "-days",
        "2",
        "-subj",
        &subj,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &args);
}

/// A certificate `{name}.crt` (key `{name}.key`) signed by the CA `{ca}` with the extensions
/// in `ext` (an openssl extension file's lines).
fn issue_cert(dir: &Path, name: &str, cn: &str, ca: &str, kind: KeyKind, ext: &str) {
    let (key, csr, crt, extf, subj) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
        format!("/CN={cn}"),
    );
    std::fs::write(dir.join(&extf), ext).unwrap();
    let mut args = vec!["req", "-new"];
    args.extend(newkey_args(kind));
    args.extend(["-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj]);
    openssl(dir, &args);
    let (ca_crt, ca_key) = (format!("{ca}.crt"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_crt,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &extf,
            "-out",
            &crt,
        ],
    );
}

/// A certificate as DER bytes.
fn cert_der(pem: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl x509 -outform DER failed");
    out.stdout
}

/// What the token issuer was asked and what it answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub method: String,
    pub path: String,
    /// The raw query string.
    pub query: String,
    pub service: Option<String>,
    /// Every scope asked for (repeated `scope` parameters, and space-separated ones).
    pub scopes: Vec<String>,
    /// Whether an Authorization header came.
    pub authorization: bool,
    /// The user name sent (Basic header, or a POST form's `username`).
    pub user: Option<String>,
    /// POST only: the form's `grant_type`.
    pub grant_type: Option<String>,
    /// The status answered: 200, or 401 for wrong credentials.
    pub status: u16,
    /// The `access` claim of the token issued.
    pub granted: Value,
}

/// An HTTP token server (Docker's token auth flow) for one registry: `GET /token?service=…&
/// scope=…` with optional Basic credentials, and the OAuth2 `POST /token` form
/// (`grant_type=password` or `refresh_token`). Its JWTs are signed with a key whose certificate
/// chain (signing cert, intermediate) is in the `x5c` header, under the root in the registry's
/// `rootcertbundle`.
pub struct TokenIssuer {
    server: Server,
    state: Arc<IssuerState>,
    pub auth: TokenAuth,
    root_cert: PathBuf,
}

struct IssuerState {
    auth: TokenAuth,
    key: PathBuf,
    x5c: Vec<String>,
    log: Mutex<Vec<TokenRequest>>,
    serial: AtomicU64,
}

impl TokenIssuer {
    /// Makes the token PKI in `pki` and starts serving.
    pub fn start(auth: TokenAuth, pki: &Path) -> TokenIssuer {
        std::fs::create_dir_all(pki).unwrap();
        make_ca(pki, "root", "berth test token root", KeyKind::Ec);
        issue_cert(
            pki,
            "intermediate",
            "berth test token intermediate",
            "root",
            KeyKind::Ec,
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
        );
        let kind = match auth.alg {
            JwtAlg::Es256 => KeyKind::Ec,
            JwtAlg::Rs256 => KeyKind::Rsa,
        };
        issue_cert(
            pki,
            "signer",
            "berth test token signer",
            "intermediate",
            kind,
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n",
        );
        let x5c = vec![
            b64(&cert_der(&pki.join("signer.crt"))),
            b64(&cert_der(&pki.join("intermediate.crt"))),
        ];
        let state = Arc::new(IssuerState {
            auth: auth.clone(),
            key: pki.join("signer.key"),
            x5c,
            log: Mutex::new(Vec::new()),
            serial: AtomicU64::new(0),
        });
        let st = state.clone();
        let server = Server::start(move |req| st.handle(req));
        TokenIssuer {
            server,
            state,
            auth,
            root_cert: pki.join("root.crt"),
        }
    }

    /// The realm: `http://127.0.0.1:PORT/token`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr())
    }

    pub fn addr(&self) -> String {
        self.server.addr().to_string()
    }

    /// The root certificate the registry trusts (its `rootcertbundle`).
    pub fn root_cert_path(&self) -> &Path {
        &self.root_cert
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// The claims the issuer would put in a token for `sub` with `access` (a JSON array of
    /// `{type, name, actions}`), living `ttl` seconds from now (negative: already expired).
    pub fn claims(&self, sub: &str, access: Value, ttl: i64) -> Value {
        self.state.claims(sub, access, ttl)
    }

    /// Signs `claims` as the issuer does, for tests that need a token the issuer would not give
    /// (expired, another audience…).
    pub fn sign(&self, claims: &Value) -> String {
        self.state.sign(claims)
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `secs` since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// An ECDSA signature as openssl writes it (DER `SEQUENCE { INTEGER r, INTEGER s }`) turned
/// into JWS's fixed-width r‖s for P-256.
pub fn ecdsa_der_to_raw(der: &[u8]) -> Vec<u8> {
    assert_eq!(der.first(), Some(&0x30), "not a DER SEQUENCE");
    let mut i = if der[1] & 0x80 != 0 {
        2 + usize::from(der[1] & 0x7f)
    } else {
        2
    };
    let mut out = Vec::with_capacity(64);
    for _ in 0..2 {
        assert_eq!(der[i], 0x02, "not a DER INTEGER");
        let len = usize::from(der[i + 1]);
        let mut int = &der[i + 2..i + 2 + len];
        while int.len() > 32 && int[0] == 0 {
            int = &int[1..];
        }
        assert!(int.len() <= 32, "integer too long for P-256");
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        i += 2 + len;
    }
    out
}

/// `type:name:actions` scopes → the access an issuer grants: everything asked, or only `pull`
/// on repositories (`pull_only`).
fn access_for(scopes: &[String], pull_only: bool) -> Value {
    let mut access = Vec::new();
    for scope in scopes {
        let Some((typ, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let actions: Vec<&str> = actions
            .split(',')
            .filter(|a| !a.is_empty())
            .filter(|a| !pull_only || (typ == "repository" && *a == "pull"))
            .collect();
        if actions.is_empty() {
            continue;
        }
        access.push(json!({"type": typ, "name": name, "actions": actions}));
    }
    Value::Array(access)
}

impl IssuerState {
    fn claims(&self, sub: &str, access: Value, ttl: i64) -> Value {
        let now = now_secs();
        let n = self.serial.fetch_add(1, Ordering::SeqCst);
        json!({
            "iss": self.auth.issuer,
            "sub": sub,
            "aud": self.auth.service,
            "exp": now + ttl,
            "nbf": now,
            "iat": now,
            "jti": format!("berth-{}-{now}-{n}", std::process::id()),
            "access": access,
        })
    }

    fn sign(&self, claims: &Value) -> String {
        let alg = match self.auth.alg {
            JwtAlg::Es256 => "ES256",
            JwtAlg::Rs256 => "RS256",
        };
        let header = json!({"typ": "JWT", "alg": alg, "x5c": self.x5c});
        let input = format!(
            "{}.{}",
            b64url(&serde_json::to_vec(&header).unwrap()),
            b64url(&serde_json::to_vec(claims).unwrap())
        );
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "openssl dgst -sign: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sig = match self.auth.alg {
            JwtAlg::Es256 => ecdsa_der_to_raw(&out.stdout),
            JwtAlg::Rs256 => out.stdout,
        };
        format!("{input}.{}", b64url(&sig))
    }

    fn handle(&self, req: &Request) -> Reply {
        let mut rec = TokenRequest {
            method: req.method.clone(),
            path: req.path.clone(),
            query: req.query.clone(),
            service: None,
            scopes: Vec::new(),
            authorization: req.header("authorization").is_some(),
            user: None,
            grant_type: None,
            status: 200,
            granted: json!([]),
        };
        let reply = self.answer(req, &mut rec);
        rec.status = reply.status;
        self.log.lock().unwrap().push(rec);
        reply
    }

    fn answer(&self, req: &Request, rec: &mut TokenRequest) -> Reply {
        if req.path != "/token" {
            return Reply::new(404).json(&json!({"details": "not found"}));
        }
        // GET: parameters in the query, credentials in a Basic header. POST: an OAuth2 form.
        let (params, creds, refresh) = match req.method.as_str() {
            "GET" => (req.query_pairs(), req.basic_credentials(), None),
            "POST" => {
                let form = form_pairs(&String::from_utf8_lossy(&req.body));
                let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
                rec.grant_type = get("grant_type");
                let (creds, refresh) = match rec.grant_type.as_deref() {
                    Some("password") => (
                        Some((
                            get("username").unwrap_or_default(),
                            get("password").unwrap_or_default(),
                        )),
                        None,
                    ),
                    Some("refresh_token") => (None, Some(get("refresh_token").unwrap_or_default())),
                    _ => return Reply::new(400).json(&json!({"error": "unsupported_grant_type"})),
                };
                (form, creds, refresh)
            }
            _ => return Reply::new(405),
        };
        rec.service = params
            .iter()
            .find(|(k, _)| k == "service")
            .map(|(_, v)| v.clone());
        rec.scopes = params
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
            .filter(|s| !s.is_empty())
            .collect();
        let refresh_of = |user: &str| format!("berth-refresh-{}", b64url(user.as_bytes()));
        let user = if let Some((u, p)) = creds {
            rec.user = Some(u.clone());
            if u != self.auth.user || p != self.auth.password {
                return Reply::new(401).json(&json!({
                    "details": "incorrect username or password",
                    "errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}],
                }));
            }
            Some(u)
        } else if let Some(r) = refresh {
            if r != refresh_of(&self.auth.user) {
                return Reply::new(401).json(&json!({"error": "invalid_grant"}));
            }
            rec.user = Some(self.auth.user.clone());
            Some(self.auth.user.clone())
        } else {
            None
        };
        let access = match &user {
            Some(_) => access_for(&rec.scopes, false),
            None if self.auth.anonymous_pull => access_for(&rec.scopes, true),
            None => json!([]),
        };
        rec.granted = access.clone();
        let ttl = self.auth.expires_in as i64;
        let claims = self.claims(user.as_deref().unwrap_or(""), access, ttl);
        let token = self.sign(&claims);
        let mut body = json!({
            "token": token,
            "access_token": token,
            "expires_in": self.auth.expires_in,
            "issued_at": rfc3339(claims["iat"].as_i64().unwrap()),
        });
        if req.method == "POST" {
            body["scope"] = json!(rec.scopes.join(" "));
            if let Some(u) = &user {
                body["refresh_token"] = json!(refresh_of(u));
            }
        }
        Reply::new(200).json(&body)
    }
}

/// A token's header and claims, decoded (the signature is not checked).
pub fn decode_jwt(token: &str) -> (Value, Value) {
    use base64::Engine;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS has three parts: {token}");
    let dec = |s: &str| -> Value {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("base64url");
        serde_json::from_slice(&raw).expect("JSON")
    };
    (dec(parts[0]), dec(parts[1]))
}

/// Asks `issuer` for a token (GET) with `scopes` and optional Basic credentials.
pub fn fetch_token(
    issuer: &TokenIssuer,
    scopes: &[&str],
    creds: Option<(&str, &str)>,
) -> http::Response {
    let mut q = format!(
        "/token?service={}",
        http::percent_encode(&issuer.auth.service)
    );
    for s in scopes {
        q.push_str(&format!("&scope={}", http::percent_encode(s)));
    }
    let auth = creds.map(|(u, p)| http::basic_auth(u, p));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    http::get(&issuer.addr(), &q, &headers)
}
