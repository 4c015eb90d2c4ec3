//! The HTTP side of the distribution spec: one `Client` per registry host, which picks the scheme,
//! authenticates (anonymous, Basic, Bearer tokens from the `WWW-Authenticate` challenge),
//! follows redirects itself so that credentials never reach another origin (scheme, host and
//! port), retries with backoff on 5xx answers and cut connections, and gives every request a
//! deadline ([`Deadlines`]): a registry that stalls or trickles fails the request in about a
//! minute instead of keeping a tool waiting for hours.

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{self, Method, Response, StatusCode};
use ureq::tls::{Certificate, ClientCert, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use super::auth::{parse_challenges, Credentials, DockerConfig};
use super::deadline::{seconds, Deadline, Deadlines, Watchdog, Watched};
use crate::error::{Error, Result};

/// Options that say how to reach registries (flags shared by the registry tools).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `Some(false)`: accept any certificate and allow plain HTTP (`--tls-verify=false`).
    pub tls_verify: Option<bool>,
    /// A directory with `ca.crt`/`*.crt` to trust and `client.cert` + `client.key`, as Docker's
    /// `/etc/docker/certs.d/HOST/`. Default: `/etc/docker/certs.d/HOST` when it exists.
    pub cert_dir: Option<PathBuf>,
    /// Credentials given on the command line, used instead of the config file's.
    pub credentials: Option<Credentials>,
    /// Docker's config.json to read credentials from (default: `DockerConfig::default_path`).
    pub auth_file: Option<PathBuf>,
    /// How long a request may take (default 60 s, or `BERTH_REGISTRY_TIMEOUT` seconds): see
    /// [`Deadlines`].
    pub timeout: Option<Duration>,
}

/// Where a registry domain's API is: Docker Hub's is not at `docker.io`.
pub fn api_host(domain: &str) -> &str {
    if domain == "docker.io" {
        "registry-1.docker.io"
    } else {
        domain
    }
}

/// Whether a registry host is on this machine (127.0.0.0/8, ::1, localhost), where Docker
/// allows plain HTTP.
pub fn is_loopback(host: &str) -> bool {
    let h = host_without_port(host);
    h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// A request body that can be sent again on a retry.
pub enum ReqBody<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

pub struct Client {
    pub domain: String,
    host: String,
    scheme: Mutex<Option<&'static str>>,
    verify: bool,
    allow_http: bool,
    agent: Agent,
    agent_insecure: Agent,
    credentials: Option<Credentials>,
    /// `Authorization` values per scope set, from earlier challenges.
    tokens: Mutex<HashMap<String, String>>,
    pub retries: u32,
    pub deadlines: Deadlines,
}

const MAX_REDIRECTS: usize = 5;

impl Client {
    pub fn new(domain: &str, opts: &Options) -> Result<Client> {
        let host = api_host(domain).to_string();
        let verify = opts.tls_verify.unwrap_or(true);
        let deadlines = Deadlines::new(opts.timeout);
        let cert_dir = opts.cert_dir.clone().or_else(|| {
            let d = PathBuf::from("/etc/docker/certs.d").join(&host);
            d.is_dir().then_some(d)
        });
        let tls = tls_config(cert_dir.as_deref(), false)?;
        let make = |tls: TlsConfig| {
            Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                // Every request: connected, and its answer begun, within the request
                // deadline; no read or write waits longer than a window. Small requests add
                // a total deadline per request (`Deadline::Whole`).
                .timeout_connect(Some(deadlines.request))
                .timeout_recv_response(Some(deadlines.request))
                .timeout_per_read(Some(deadlines.window))
                .timeout_per_write(Some(deadlines.window))
                .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
                .tls_config(tls)
                .build()
                .new_agent()
        };
        let credentials = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => {
                let path = opts
                    .auth_file
                    .clone()
                    .unwrap_or_else(DockerConfig::default_path);
                DockerConfig::load(&path)?.credentials(domain)?
            }
        };
        Ok(Client {
            domain: domain.to_string(),
            allow_http: !verify || is_loopback(&host),
            host,
            scheme: Mutex::new(None),
            verify,
            agent: make(tls),
            agent_insecure: make(tls_config(cert_dir.as_deref(), true)?),
            credentials,
            tokens: Mutex::new(HashMap::new()),
            retries: 4,
            deadlines,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    fn agent(&self) -> &Agent {
        if self.verify {
            &self.agent
        } else {
            &self.agent_insecure
        }
    }

    /// The base URL, choosing HTTPS, and plain HTTP where allowed when HTTPS cannot connect
    /// (as Docker does for insecure and loopback registries).
    fn base(&self) -> Result<String> {
        if let Some(s) = *self.scheme.lock().expect("lock") {
            return Ok(format!("{s}://{}", self.host));
        }
        let https = format!("https://{}/v2/", self.host);
        // The probe's answer is not read: the agent's connect and answer timeouts bound it. It
        // runs with the agent's own config (no per-request one) so that ureq builds and caches
        // the agent's TLS config once; requests with a config of their own reuse it.
        let probe = |url: &str| self.agent().get(url).call();
        let scheme = match probe(&https) {
            Ok(_) => "https",
            // A server that answered the TLS handshake with a certificate we refuse speaks
            // HTTPS: plain HTTP to it would only hide the real problem behind a 400.
            Err(e) if self.allow_http && !is_certificate_error(&e) => {
                let http = format!("http://{}/v2/", self.host);
                match probe(&http) {
                    Ok(_) => "http",
                    Err(e2) => {
                        return Err(self.err(
                            "GET /v2/",
                            format!("cannot reach the registry over HTTPS ({e}) or HTTP ({e2})"),
                        ))
                    }
                }
            }
            Err(e) => return Err(self.err("GET /v2/", describe(&e))),
        };
        *self.scheme.lock().expect("lock") = Some(scheme);
        Ok(format!("{scheme}://{}", self.host))
    }

    pub fn err(&self, what: &str, why: impl std::fmt::Display) -> Error {
        Error::Registry(format!("{}: {what}: {why}", self.domain))
    }

    /// The URL of an API path (`/v2/...`), or an absolute URL the registry gave (a Location).
    pub fn url(&self, path: &str) -> Result<String> {
        if path.starts_with("http://") || path.starts_with("https://") {
            return Ok(path.to_string());
        }
        Ok(format!("{}{path}", self.base()?))
    }

    /// Sends a request with authentication, redirects and retries. `scopes` are the token
    /// scopes it needs (`repository:NAME:pull`). Answers of any status are returned; the
    /// caller decides what a status means.
    ///
    /// An upload (a file body) has the [`Deadline::Stream`] rule, anything else must be over
    /// within [`Deadlines::request`]; a request that times out is not retried.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &ReqBody<'_>,
        scopes: &[String],
    ) -> Result<Response<Body>> {
        let deadline = match body {
            ReqBody::File { .. } => Deadline::Stream,
            _ => Deadline::Whole,
        };
        self.send_with(method, path, headers, body, scopes, deadline)
    }

    /// [`Client::send`] for a blob download, whose body the caller reads under a [`Watchdog`].
    pub fn send_stream(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        scopes: &[String],
    ) -> Result<Response<Body>> {
        self.send_with(
            method,
            path,
            headers,
            &ReqBody::Empty,
            scopes,
            Deadline::Stream,
        )
    }

    fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &ReqBody<'_>,
        scopes: &[String],
        deadline: Deadline,
    ) -> Result<Response<Body>> {
        let what = format!("{method} {}", strip_query(path));
        let mut attempt = 0;
        let mut authed_again = false;
        loop {
            let res = self.send_once(&method, path, headers, body, scopes, deadline);
            let retryable = match &res {
                Ok(r) => {
                    let s = r.status();
                    if s == StatusCode::UNAUTHORIZED && !authed_again {
                        let challenge = r
                            .headers()
                            .get(http::header::WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        if let Some(c) = challenge {
                            self.authenticate(&c, scopes)?;
                            authed_again = true;
                            continue;
                        }
                    }
                    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS
                }
                Err(Error::Registry(_)) => false,
                Err(_) => true,
            };
            // Requests that change state without being idempotent are not repeated.
            let idempotent = method != Method::PATCH && method != Method::POST;
            if retryable && idempotent && attempt < self.retries {
                attempt += 1;
                std::thread::sleep(backoff(attempt));
                continue;
            }
            return match res {
                Ok(r) => Ok(r),
                Err(Error::Stream { source, .. }) => Err(self.err(&what, source)),
                Err(e) => Err(e),
            };
        }
    }

    fn send_once(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &ReqBody<'_>,
        scopes: &[String],
        deadline: Deadline,
    ) -> Result<Response<Body>> {
        let mut url = self.url(path)?;
        let first_origin = origin(&url);
        let mut auth = self
            .tokens
            .lock()
            .expect("lock")
            .get(&scopes.join(" "))
            .cloned();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = http::Request::builder().method(method.clone()).uri(&url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(a) = &auth {
                req = req.header(http::header::AUTHORIZATION, a.as_str());
            }
            let result = match body {
                ReqBody::Empty => {
                    let r = req.body(()).map_err(|e| self.err(&url, e))?;
                    self.run(r, deadline)
                }
                ReqBody::Bytes(b) => {
                    let r = req.body(*b).map_err(|e| self.err(&url, e))?;
                    self.run(r, deadline)
                }
                ReqBody::File {
                    path: p,
                    offset,
                    len,
                } => {
                    let mut f = std::fs::File::open(p).map_err(|e| Error::io("open", p, e))?;
                    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(*offset))
                        .map_err(|e| Error::io("seek", p, e))?;
                    let upload = Watched {
                        inner: f.take(*len),
                        dog: Watchdog::new(&self.deadlines),
                    };
                    let r = req
                        .header(http::header::CONTENT_LENGTH, len.to_string())
                        .body(ureq::SendBody::from_owned_reader(upload))
                        .map_err(|e| self.err(&url, e))?;
                    self.run(r, deadline)
                }
            };
            let resp = match result {
                Ok(r) => r,
                // The deadline is the deadline: a request that timed out is not tried again.
                Err(ureq::Error::Timeout(t)) => {
                    return Err(self.err(
                        &format!("{method} {}", strip_query(&url)),
                        self.timed_out(t),
                    ))
                }
                // An upload that stalled (see `Watched`).
                Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(self.err(&format!("{method} {}", strip_query(&url)), e))
                }
                Err(e) => {
                    return Err(Error::Stream {
                        what: url.clone(),
                        source: std::io::Error::other(describe(&e)),
                    })
                }
            };
            if resp.status().is_redirection() {
                if let Some(loc) = resp
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                {
                    let next = resolve_location(&url, loc);
                    // Credentials stay with the registry: a redirect elsewhere (a CDN, object
                    // storage) gets no Authorization header, nor does one to another scheme
                    // or port of the same host (https to http would send them in clear).
                    if origin(&next) != first_origin {
                        auth = None;
                    }
                    url = next;
                    continue;
                }
            }
            return Ok(resp);
        }
        Err(self.err(&url, format!("more than {MAX_REDIRECTS} redirects")))
    }

    /// Runs one request with its deadline.
    fn run<S: ureq::AsSendBody>(
        &self,
        req: http::Request<S>,
        deadline: Deadline,
    ) -> std::result::Result<Response<Body>, ureq::Error> {
        let total = match deadline {
            Deadline::Whole => Some(self.deadlines.request),
            Deadline::Stream => None,
        };
        let req = self
            .agent()
            .configure_request(req)
            .timeout_global(total)
            .build();
        self.agent().run(req)
    }

    /// What a timeout means, with the limit that was reached.
    pub fn timed_out(&self, t: ureq::Timeout) -> String {
        let (req, win) = (
            seconds(self.deadlines.request),
            seconds(self.deadlines.window),
        );
        let why = match t {
            ureq::Timeout::Global | ureq::Timeout::PerCall => {
                format!("the request was not over within {req}")
            }
            ureq::Timeout::Resolve | ureq::Timeout::Connect => {
                format!("could not connect within {req}")
            }
            ureq::Timeout::RecvResponse | ureq::Timeout::SendRequest => {
                format!("no answer within {req}")
            }
            ureq::Timeout::PerRead | ureq::Timeout::RecvBody => {
                format!("nothing arrived for {win}")
            }
            ureq::Timeout::PerWrite | ureq::Timeout::SendBody => {
                format!("the registry took nothing for {win}")
            }
            other => format!("{other:?}"),
        };
        format!("timed out: {why} (BERTH_REGISTRY_TIMEOUT)")
    }

    /// Answers a `WWW-Authenticate` challenge: Basic with the credentials, or a Bearer token
    /// from the realm (with the credentials, when there are any).
    fn authenticate(&self, header: &str, scopes: &[String]) -> Result<()> {
        let challenges = parse_challenges(header);
        let key = scopes.join(" ");
        if let Some(b) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = b
                .params
                .get("realm")
                .ok_or_else(|| self.err("authenticate", "the Bearer challenge has no realm"))?;
            let mut url = realm.clone();
            let mut query = Vec::new();
            if let Some(s) = b.params.get("service") {
                query.push(format!("service={}", urlencode(s)));
            }
            let mut wanted: Vec<String> = scopes.to_vec();
            if let Some(s) = b.params.get("scope") {
                for one in s.split(' ') {
                    if !wanted.iter().any(|w| w == one) {
                        wanted.push(one.to_string());
                    }
                }
            }
            for s in &wanted {
                query.push(format!("scope={}", urlencode(s)));
            }
            if !query.is_empty() {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&query.join("&"));
            }
            let mut req = http::Request::builder().method(Method::GET).uri(&url);
            if let Some(c) = &self.credentials {
                req = req.header(http::header::AUTHORIZATION, c.basic_header());
            }
            let req = req.body(()).map_err(|e| self.err("token request", e))?;
            let agent = if realm.starts_with("http://") || self.verify {
                &self.agent
            } else {
                &self.agent_insecure
            };
            let req = agent
                .configure_request(req)
                .timeout_global(Some(self.deadlines.request))
                .build();
            let mut resp = agent.run(req).map_err(|e| {
                let why = match e {
                    ureq::Error::Timeout(t) => self.timed_out(t),
                    e => describe(&e),
                };
                self.err(&format!("token from {realm}"), why)
            })?;
            if !resp.status().is_success() {
                let status = resp.status();
                let text = error_body(&mut resp);
                let why = if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    if self.credentials.is_some() {
                        "the credentials were refused".to_string()
                    } else {
                        "authentication required (img-login first)".to_string()
                    }
                } else {
                    format!("{status}")
                };
                return Err(Error::Auth(format!(
                    "{}: token from {realm}: {why}{}",
                    self.domain,
                    registry_error_text(&text)
                )));
            }
            let v: serde_json::Value = resp
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_json()
                .map_err(|e| self.err(&format!("token from {realm}"), e))?;
            let token = v
                .get("token")
                .or_else(|| v.get("access_token"))
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    self.err(&format!("token from {realm}"), "the answer has no token")
                })?;
            self.tokens
                .lock()
                .expect("lock")
                .insert(key, format!("Bearer {token}"));
            return Ok(());
        }
        if challenges.iter().any(|c| c.scheme == "basic") {
            let c = self.credentials.as_ref().ok_or_else(|| {
                Error::Auth(format!(
                    "{}: authentication required (img-login first)",
                    self.domain
                ))
            })?;
            self.tokens
                .lock()
                .expect("lock")
                .insert(key, c.basic_header());
            return Ok(());
        }
        Err(self.err("authenticate", format!("unsupported challenge {header:?}")))
    }

    /// Checks that the registry answers and accepts these credentials (for `img-login`).
    pub fn ping(&self) -> Result<()> {
        let resp = self.send(Method::GET, "/v2/", &[], &ReqBody::Empty, &[])?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(Error::Auth(format!(
                "{}: {}",
                self.domain,
                if self.credentials.is_some() {
                    "the credentials were refused"
                } else {
                    "authentication required"
                }
            ))),
            s => Err(self.err("GET /v2/", s)),
        }
    }

    /// Turns an unexpected answer into an error that names the request and the registry's
    /// own error code and message.
    pub fn unexpected(&self, what: &str, mut resp: Response<Body>) -> Error {
        let status = resp.status();
        let text = error_body(&mut resp);
        let detail = registry_error_text(&text);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Error::Auth(format!(
                "{}: {what}: {status}{detail}{}",
                self.domain,
                if self.credentials.is_none() {
                    " (img-login first?)"
                } else {
                    ""
                }
            ));
        }
        self.err(what, format!("{status}{detail}"))
    }
}

/// `: CODE message` from a distribution error body, or nothing.
fn registry_error_text(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return String::new();
    };
    let Some(errs) = v.get("errors").and_then(|e| e.as_array()) else {
        return String::new();
    };
    let parts: Vec<String> = errs
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e.get("code").and_then(|c| c.as_str()).unwrap_or(""),
                e.get("message").and_then(|c| c.as_str()).unwrap_or("")
            )
            .trim()
            .to_string()
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(5))
}

/// Whether a request failed because the server's certificate was refused (not trusted, expired,
/// for another name).
fn is_certificate_error(e: &ureq::Error) -> bool {
    let tls = match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(tls, Some(rustls::Error::InvalidCertificate(_)))
}

/// What went wrong in a request, for an error message.
pub fn describe(e: &ureq::Error) -> String {
    if is_certificate_error(e) {
        return format!(
            "{e}: the registry's certificate is not trusted (give its CA with --cert-dir DIR, \
             or skip verification with --tls-verify=false)"
        );
    }
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t:?})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::ConnectionFailed => "connection refused or failed".into(),
        other => other.to_string(),
    }
}

fn strip_query(p: &str) -> &str {
    p.split('?').next().unwrap_or(p)
}

/// The `host[:port]` of an absolute URL.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// The origin of an absolute URL: scheme, host (lower case, IPv6 without brackets) and port,
/// the scheme's default port when none is given. Credentials go only where all three match.
pub fn origin(url: &str) -> (String, String, u16) {
    let (scheme, _) = url.split_once("://").unwrap_or(("https", url));
    let scheme = scheme.to_ascii_lowercase();
    let authority = url_host(url);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (h, after) = rest.split_once(']').unwrap_or((rest, ""));
            (h, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let default = if scheme == "http" { 80 } else { 443 };
    // An empty or unparsable port is no port; u16::MAX+ never matches a real one.
    let port = port
        .filter(|p| !p.is_empty())
        .map_or(Some(default), |p| p.parse::<u16>().ok())
        .unwrap_or(0);
    (scheme, host.to_ascii_lowercase(), port)
}

/// Resolves a `Location` header against the URL it answered.
pub fn resolve_location(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return loc.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let host = rest.split(['/', '?']).next().unwrap_or(rest);
    if loc.starts_with("//") {
        return format!("{scheme}:{loc}");
    }
    if loc.starts_with('/') {
        return format!("{scheme}://{host}{loc}");
    }
    let path = &rest[host.len()..];
    let dir = match path.split('?').next().unwrap_or("").rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{scheme}://{host}{dir}{loc}")
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// TLS settings: the system's roots plus a cert dir's CAs, and its client certificate.
fn tls_config(cert_dir: Option<&Path>, insecure: bool) -> Result<TlsConfig> {
    let mut roots: Vec<Certificate<'static>> = Vec::new();
    for bundle in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ] {
        if let Ok(data) = std::fs::read(bundle) {
            roots.extend(pem_certs(&data));
            break;
        }
    }
    let mut client_cert = None;
    if let Some(dir) = cert_dir {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the cert dir", dir, e))?;
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        names.sort();
        for p in &names {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".crt") {
                let data = std::fs::read(p).map_err(|e| Error::io("read", p, e))?;
                roots.extend(pem_certs(&data));
            }
        }
        for p in &names {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(stem) = name.strip_suffix(".cert") {
                let key_path = dir.join(format!("{stem}.key"));
                let cert = std::fs::read(p).map_err(|e| Error::io("read", p, e))?;
                let key = std::fs::read(&key_path).map_err(|e| Error::io("read", &key_path, e))?;
                let chain = pem_certs(&cert);
                let key = ureq::tls::parse_pem(&key)
                    .filter_map(|i| match i {
                        Ok(PemItem::PrivateKey(k)) => Some(k),
                        _ => None,
                    })
                    .next()
                    .ok_or_else(|| {
                        Error::InvalidInput(format!("{}: no private key", key_path.display()))
                    })?;
                client_cert = Some(ClientCert::new_with_certs(&chain, key));
            }
        }
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .client_cert(client_cert)
        .disable_verification(insecure)
        .build())
}

fn pem_certs(data: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(data)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// The first 64 KiB of an error answer's body, as text (empty when it can't be read).
fn error_body(resp: &mut Response<Body>) -> String {
    resp.body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["registry-1.docker.io", "10.0.0.1:5000", "example.com:5000"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn locations_resolve() {
        let base = "http://127.0.0.1:5000/v2/a/blobs/uploads/";
        assert_eq!(
            resolve_location(base, "/v2/a/blobs/uploads/u1?_state=x"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u1?_state=x"
        );
        assert_eq!(
            resolve_location(base, "https://cdn.example.com/b"),
            "https://cdn.example.com/b"
        );
        assert_eq!(
            resolve_location(base, "u2"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u2"
        );
        assert_eq!(url_host("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
        assert_eq!(url_host("https://cdn.example.com?x"), "cdn.example.com");
    }

    #[test]
    fn certificate_errors_are_told_apart() {
        use std::io::{Error as IoError, ErrorKind};
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = ureq::Error::Io(IoError::new(ErrorKind::InvalidData, refused.clone()));
        assert!(is_certificate_error(&e));
        assert!(describe(&e).contains("--cert-dir"), "{}", describe(&e));
        assert!(is_certificate_error(&ureq::Error::Rustls(refused)));
        // A plain-HTTP server on the port: not a certificate problem, HTTP may be tried.
        let garbage = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let e = ureq::Error::Io(IoError::new(ErrorKind::InvalidData, garbage));
        assert!(!is_certificate_error(&e));
        assert!(!is_certificate_error(&ureq::Error::ConnectionFailed));
    }

    #[test]
    fn credentials_follow_only_the_same_origin() {
        let o = |u: &str| origin(u);
        let base = o("https://reg.example:5000/v2/a/blobs/sha256:1");
        assert_eq!(base, ("https".into(), "reg.example".into(), 5000));
        // Same scheme, host and port: the same origin, whatever the path or case.
        assert_eq!(o("https://REG.example:5000/other?x=1"), base);
        // https to http on the same host and port is another origin.
        assert_ne!(o("http://reg.example:5000/v2/a/blobs/sha256:1"), base);
        assert_ne!(o("https://reg.example:5001/x"), base);
        assert_ne!(o("https://cdn.example:5000/x"), base);
        // Default ports: https://h is https://h:443, http://h is http://h:80; across schemes
        // they differ with or without the port written.
        assert_eq!(o("https://h/x"), o("https://h:443/y"));
        assert_eq!(o("http://h/x"), o("http://h:80/y"));
        assert_ne!(o("https://h/x"), o("http://h/x"));
        assert_ne!(o("https://h:443/x"), o("http://h:443/x"));
        assert_ne!(o("https://h/x"), o("http://h:443/x"));
        // Userinfo is no part of the host; IPv6 literals keep their port.
        assert_eq!(o("https://u:p@h/x"), o("https://h/x"));
        assert_eq!(
            o("http://[::1]:5000/v2/"),
            ("http".into(), "::1".into(), 5000)
        );
        assert_ne!(o("http://[::1]:5000/v2/"), o("https://[::1]:5000/v2/"));
        assert_eq!(o("http://[::1]/v2/").2, 80);
        // A port that is no port never equals a real one.
        assert_ne!(o("https://h:99999/x"), o("https://h/x"));
    }

    #[test]
    fn docker_hub_api_host() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("quay.io"), "quay.io");
        assert_eq!(
            urlencode("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
