//! Minimal HTTP/1.1 on std::net for the test servers (the token issuer, the fake registry) and a
//! raw client for tests that must see exactly what goes over the wire. No framework: a server is
//! a listener thread, one thread per connection, keep-alive, and a handler that turns a
//! [`Request`] into a [`Reply`], which may tell the server to misbehave while sending it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;

/// A request head larger than this is refused.
const MAX_HEAD: usize = 64 << 10;
/// How often a blocked connection thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

pub fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// base64url without padding, as JWS wants.
pub fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The value of an `Authorization: Basic` header for `user:password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", b64(format!("{user}:{password}").as_bytes()))
}

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target as sent: path and query.
    pub target: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query, without `?` ("" when none).
    pub query: String,
    /// Headers in the order they came, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether it came over TLS (on a server started with a [`TlsIdentity`]).
    pub secure: bool,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The query's `key=value` pairs, percent-decoded, in order (keys may repeat).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_pairs(&self.query)
    }

    /// Every value of query parameter `key`, in order.
    pub fn query_all(&self, key: &str) -> Vec<String> {
        self.query_pairs()
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v)
            .collect()
    }

    /// The credentials of an `Authorization: Basic` header, if that is what came.
    pub fn basic_credentials(&self) -> Option<(String, String)> {
        let (scheme, b64) = self.header("authorization")?.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let s = String::from_utf8(raw).ok()?;
        let (u, p) = s.split_once(':')?;
        Some((u.to_string(), p.to_string()))
    }

    /// The token of an `Authorization: Bearer` header, if that is what came.
    pub fn bearer_token(&self) -> Option<&str> {
        let (scheme, tok) = self.header("authorization")?.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(tok.trim())
    }
}

/// `name`'s first value in `headers` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `application/x-www-form-urlencoded` pairs (a query string or a form body), decoded.
pub fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%')
            .then(|| s.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but unreserved characters (for query values).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for c in s.bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// How the server sends a [`Reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Headers and body (no body for HEAD), then keep the connection for the next request.
    #[default]
    Normal,
    /// Headers with the full Content-Length, then half the body, then close the connection.
    CutShort,
    /// Headers and half the body, then nothing more until the client goes away or the server
    /// stops.
    StallBody,
    /// Nothing at all (the request was read) until the client goes away or the server stops.
    NoAnswer,
    /// No Content-Length: the body ends when the server closes the connection.
    UntilClose,
    /// Headers, then the body `chunk` bytes at a time with `every` between them (a trickle, or
    /// a slow but steady link), until it is all sent or the client goes away.
    Paced { chunk: usize, every: Duration },
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Headers to send; Content-Length is added from the body unless present.
    pub headers: Vec<(String, String)>,
    /// The body; for a HEAD request it only sets Content-Length and is not sent.
    pub body: Vec<u8>,
    pub delivery: Delivery,
}

impl Reply {
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delivery: Delivery::Normal,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn json(self, value: &serde_json::Value) -> Reply {
        self.header("Content-Type", "application/json")
            .body(serde_json::to_vec(value).unwrap())
    }

    pub fn delivery(mut self, delivery: Delivery) -> Reply {
        self.delivery = delivery;
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;
type TlsConfig = Arc<rustls::ServerConfig>;

/// A server's certificate and private key, DER.
pub struct TlsIdentity {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

impl TlsIdentity {
    /// A self-signed certificate for 127.0.0.1 and localhost, made by the openssl command.
    pub fn self_signed() -> TlsIdentity {
        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .current_dir(dir.path())
                .args(args)
                .output()
                .expect("run openssl");
            assert!(out.status.success(), "openssl {args:?}: {out:?}");
            out.stdout
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ]);
        TlsIdentity {
            cert: openssl(&["x509", "-in", "cert.pem", "-outform", "DER"]),
            key: openssl(&[
                "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-outform", "DER",
            ]),
        }
    }

    fn server_config(&self) -> TlsConfig {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone())),
            )
            .expect("a usable certificate and key");
        Arc::new(cfg)
    }
}

/// An HTTP/1.1 server on 127.0.0.1; stops accepting (and ends its connections) when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start_with(handler, None, 0).expect("bind 127.0.0.1:0")
    }

    /// A server on 127.0.0.1:`port` (0: any free port); with `tls`, it speaks HTTPS with that
    /// identity and plain HTTP on the same port (the first byte a client sends tells which).
    /// None when the port cannot be bound.
    pub fn start_on(
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
        tls: Option<&TlsIdentity>,
        port: u16,
    ) -> Option<Server> {
        Server::start_with(handler, tls.map(TlsIdentity::server_config), port)
    }

    fn start_with(
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
        tls: Option<TlsConfig>,
        port: u16,
    ) -> Option<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port)).ok()?;
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let s = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (h, s, t) = (handler.clone(), s.clone(), tls.clone());
                std::thread::spawn(move || accept(conn, &*h, &s, t.as_ref()));
            }
        });
        Some(Server { addr, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// Reads from `conn` into `buf`, waiting out read timeouts until data, EOF, an error or `stop`.
/// Returns false when the connection is over.
fn fill(conn: &mut impl Read, buf: &mut Vec<u8>, stop: &AtomicBool) -> bool {
    let mut chunk = [0u8; 16 << 10];
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        match conn.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return false,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request from `conn` (`buf` holds bytes already read past the previous one).
/// Err(true) when the bytes are not HTTP (e.g. a TLS ClientHello), Err(false) when the
/// connection ended.
fn read_request(
    conn: &mut (impl Read + Write),
    buf: &mut Vec<u8>,
    stop: &AtomicBool,
) -> Result<Request, bool> {
    let head_end = loop {
        if let Some(&c) = buf.first() {
            if !c.is_ascii_uppercase() {
                return Err(true);
            }
        }
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_HEAD {
            return Err(true);
        }
        if !fill(conn, buf, stop) {
            return Err(false);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(target)) = (first.next(), first.next()) else {
        return Err(true);
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = Vec::new();
    // curl and Go send this for large bodies and wait (a while) for the go-ahead.
    if header(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        let _ = conn.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    if header(&headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                if !fill(conn, buf, stop) {
                    return Err(false);
                }
            };
            let size_str = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16)
                .map_err(|_| true)?;
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                if !fill(conn, buf, stop) {
                    return Err(false);
                }
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
            if size == 0 {
                break;
            }
        }
    } else if let Some(len) = header(&headers, "content-length") {
        let len: usize = len.parse().map_err(|_| true)?;
        while buf.len() < len {
            if !fill(conn, buf, stop) {
                return Err(false);
            }
        }
        body = buf.drain(..len).collect();
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body,
        secure: false,
    })
}

/// Waits until the peer closes the connection or the server stops, sending nothing.
fn hold(conn: &mut impl Read, stop: &AtomicBool) {
    let mut sink = Vec::new();
    while fill(conn, &mut sink, stop) {
        sink.clear();
    }
}

/// A connection the server answers on: plain TCP, or TLS over it.
trait Conn: Read + Write {
    fn close(&mut self, how: Shutdown);
}

impl Conn for TcpStream {
    fn close(&mut self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close(&mut self, how: Shutdown) {
        self.conn.send_close_notify();
        let _ = self.conn.complete_io(&mut self.sock);
        let _ = self.sock.shutdown(how);
    }
}

/// Serves `conn` in plain HTTP, or in HTTPS when `tls` is given and the client's first byte
/// opens a TLS handshake: one port that speaks both, as a test of scheme changes needs.
fn accept(conn: TcpStream, handler: &Handler, stop: &AtomicBool, tls: Option<&TlsConfig>) {
    let _ = conn.set_read_timeout(Some(POLL));
    let _ = conn.set_nodelay(true);
    let mut first = [0u8; 1];
    loop {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match conn.peek(&mut first) {
            Ok(0) => return,
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
    match tls {
        // 0x16: a TLS handshake record.
        Some(cfg) if first[0] == 0x16 => {
            let Ok(session) = rustls::ServerConnection::new(cfg.clone()) else {
                return;
            };
            serve_connection(rustls::StreamOwned::new(session, conn), true, handler, stop)
        }
        _ => serve_connection(conn, false, handler, stop),
    }
}

fn serve_connection(mut conn: impl Conn, secure: bool, handler: &Handler, stop: &AtomicBool) {
    let mut buf = Vec::new();
    loop {
        let req = match read_request(&mut conn, &mut buf, stop) {
            Ok(r) => Request { secure, ..r },
            Err(true) => {
                let _ = conn.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                conn.close(Shutdown::Both);
                return;
            }
            Err(false) => return,
        };
        let reply = handler(&req);
        if reply.delivery == Delivery::NoAnswer {
            hold(&mut conn, stop);
            return;
        }
        let close_asked = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if header(&reply.headers, "content-length").is_none()
            && reply.delivery != Delivery::UntilClose
        {
            head.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
        }
        if close_asked || matches!(reply.delivery, Delivery::CutShort | Delivery::UntilClose) {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let body: &[u8] = match (req.method.as_str(), reply.delivery) {
            ("HEAD", _) => &[],
            (_, Delivery::CutShort | Delivery::StallBody) => &reply.body[..reply.body.len() / 2],
            _ => &reply.body,
        };
        let mut out = head.into_bytes();
        if let Delivery::Paced { chunk, every } = reply.delivery {
            if conn.write_all(&out).and_then(|_| conn.flush()).is_err() {
                return;
            }
            for part in body.chunks(chunk.max(1)) {
                std::thread::sleep(every);
                if stop.load(Ordering::SeqCst)
                    || conn.write_all(part).and_then(|_| conn.flush()).is_err()
                {
                    return;
                }
            }
            if close_asked {
                conn.close(Shutdown::Write);
                return;
            }
            continue;
        }
        out.extend_from_slice(body);
        if conn.write_all(&out).and_then(|_| conn.flush()).is_err() {
            return;
        }
        match reply.delivery {
            Delivery::CutShort => {
                conn.close(Shutdown::Both);
                return;
            }
            Delivery::UntilClose => {
                conn.close(Shutdown::Write);
                return;
            }
            Delivery::StallBody => {
                hold(&mut conn, stop);
                return;
            }
            _ if close_asked => {
                conn.close(Shutdown::Write);
                return;
            }
            _ => {}
        }
    }
}

/// A response as the raw client read it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as received (chunked encoding undone).
    pub body: Vec<u8>,
    /// Whether the body had all the bytes Content-Length (or the chunking) promised.
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses what a server sent on a connection that then closed (or stalled). None if the
    /// head itself did not arrive.
    pub fn parse(raw: &[u8], method: &str) -> Option<Response> {
        let end = find(raw, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..end]);
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let rest = &raw[end + 4..];
        let (body, complete) = if method == "HEAD" || status == 204 || status == 304 {
            (Vec::new(), true)
        } else if header(&headers, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            dechunk(rest)
        } else if let Some(len) = header(&headers, "content-length").and_then(|v| v.parse().ok()) {
            let len: usize = len;
            (rest[..rest.len().min(len)].to_vec(), rest.len() >= len)
        } else {
            (rest.to_vec(), true)
        };
        Some(Response {
            status,
            headers,
            body,
            complete,
        })
    }
}

fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Some(i) = find(rest, b"\r\n") else {
            return (body, false);
        };
        let size = String::from_utf8_lossy(&rest[..i]);
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16) else {
            return (body, false);
        };
        rest = &rest[i + 2..];
        if size == 0 {
            return (body, true);
        }
        if rest.len() < size {
            body.extend_from_slice(rest);
            return (body, false);
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[(size + 2).min(rest.len())..];
    }
}

/// What a raw exchange produced: every byte the server sent until it closed the connection,
/// or until the read timed out (then `timed_out`), and how long that took.
#[derive(Debug)]
pub struct Exchange {
    pub raw: Vec<u8>,
    pub timed_out: bool,
    pub elapsed: Duration,
    method: String,
}

impl Exchange {
    /// The response, if at least its head arrived.
    pub fn response(&self) -> Option<Response> {
        Response::parse(&self.raw, &self.method)
    }
}

/// Sends one request (with `Connection: close`) to `addr` and reads until the server closes
/// the connection or nothing arrives for `timeout`.
pub fn exchange(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Exchange {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(timeout)).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    s.write_all(&out).unwrap();
    let mut raw = Vec::new();
    let mut chunk = [0u8; 64 << 10];
    let mut timed_out = false;
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                timed_out = true;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A reset after the server closed: what came is what we have.
            Err(_) => break,
        }
    }
    Exchange {
        raw,
        timed_out,
        elapsed: start.elapsed(),
        method: method.to_string(),
    }
}

/// One request, expecting a complete response within 20 s.
pub fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let ex = exchange(addr, method, target, headers, body, Duration::from_secs(20));
    assert!(!ex.timed_out, "{method} {target} on {addr} timed out");
    ex.response().unwrap_or_else(|| {
        panic!(
            "{method} {target} on {addr}: no HTTP response in {:?}",
            String::from_utf8_lossy(&ex.raw)
        )
    })
}

/// GET `target` on `addr`.
pub fn get(addr: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", target, headers, &[])
}
