//! Log drivers (`--log-driver json-file|local|none`, `--log-opt`), as Docker 20.10's: the
//! options checked with its daemon's messages, and the writer the monitor logs through. The
//! writer rotates the file at `max-size`, keeps `max-file` files and gzips the rotated ones as
//! moby's `daemon/logger/loggerutils/logfile.go` does (`NAME.1` … `NAME.N-1`, `.gz` with
//! `compress`). json-file writes Docker's JSON lines to `<id>-json.log`; local writes
//! `local-logs/container.log` in Docker's framing (moby `daemon/logger/local`): each entry a
//! `LogEntry` protobuf, its length a big-endian u32 before and after it. The few protobuf fields
//! are encoded here by hand rather than with a protobuf crate.
//!
//! The writer streams: one entry is encoded at a time into a small buffer that is flushed after
//! each read of the container's output, and rotation renames files and gzips the rotated one in
//! 8 KiB pieces, so the monitor stays small however much the container prints.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Container;
use crate::error::{Error, IoContext, Result};
use crate::record::LogConfig;

/// The drivers berth has.
pub const DRIVERS: [&str; 3] = ["json-file", "local", "none"];

/// Docker's other built-in drivers: berth has none of them (they send the output elsewhere, to
/// a daemon berth does not run).
const DOCKER_ONLY: [&str; 9] = [
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
];

/// The options each driver takes (moby's `ValidateLogOpt` of jsonfilelog and local, 20.10).
const JSON_FILE_OPTS: [&str; 8] = [
    "max-file",
    "max-size",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];
const LOCAL_OPTS: [&str; 3] = ["max-file", "max-size", "compress"];

/// The local driver's defaults.
const LOCAL_MAX_SIZE: u64 = 20 * 1024 * 1024;
const LOCAL_MAX_FILE: u32 = 5;

/// Where the local driver keeps its log, in the container's directory.
pub const LOCAL_LOG: &str = "local-logs/container.log";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    JsonFile,
    Local,
    None,
}

/// A container's `LogConfig`, its values parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub driver: Driver,
    /// Rotate once the file holds this many bytes; never when None.
    pub max_size: Option<u64>,
    /// The files kept, the one being written included (1: it is truncated at max-size).
    pub max_file: u32,
    pub compress: bool,
}

/// `--log-driver` and `--log-opt` checked as Docker's CLI and daemon check them (the values as
/// the daemon does when the container starts: berth refuses them before anything is made), as
/// `HostConfig.LogConfig` records them.
pub fn parse_config(driver: Option<&str>, opts: &[String]) -> Result<LogConfig> {
    let driver = match driver {
        None | Some("") => "json-file",
        Some(d) => d,
    };
    if driver == "none" && !opts.is_empty() {
        return Err(Error::Usage("invalid logging opts for driver none".into()));
    }
    // Docker's `ConvertKVStringsToMap`: KEY=VALUE, KEY alone is KEY="", a later one wins; its
    // daemon writes the map with sorted keys.
    let mut map = BTreeMap::new();
    for o in opts {
        let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
        map.insert(k.to_string(), v.to_string());
    }
    let known: &[&str] = match driver {
        "json-file" => &JSON_FILE_OPTS,
        "local" => &LOCAL_OPTS,
        "none" => &[],
        d if DOCKER_ONLY.contains(&d) => {
            return Err(Error::InvalidInput(format!(
                "logging driver {d} is not supported by berth: use json-file, local or none"
            )))
        }
        d => {
            return Err(Error::InvalidInput(format!(
                "error looking up logging plugin {d}: plugin \"{d}\" not found \
                 (berth has the json-file, local and none drivers)"
            )))
        }
    };
    for k in map.keys() {
        if !known.contains(&k.as_str()) {
            return Err(Error::InvalidInput(if driver == "local" {
                format!("unknown log opt '{k}' for log driver local")
            } else {
                format!("unknown log opt '{k}' for {driver} log driver")
            }));
        }
    }
    let cfg = LogConfig {
        kind: driver.to_string(),
        config: map
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    };
    settings(&cfg)?;
    check_attr_opts(&cfg)?;
    Ok(cfg)
}

/// The options of `cfg` parsed, with the messages of Docker's daemon (which says them when the
/// container starts, "failed to initialize logging driver: …").
pub fn settings(cfg: &LogConfig) -> Result<Settings> {
    let opt = |k: &str| cfg.config.get(k).and_then(Value::as_str);
    let bad = |m: String| Error::InvalidInput(format!("failed to initialize logging driver: {m}"));
    match cfg.kind.as_str() {
        "" | "json-file" => {
            let max_size = match opt("max-size") {
                Some(s) => {
                    let n = from_human_size(s).map_err(bad)?;
                    if n == 0 {
                        return Err(bad("max-size must be a positive number".into()));
                    }
                    Some(n)
                }
                None => None,
            };
            let max_file = match opt("max-file") {
                Some(s) => {
                    let n = atoi(s).map_err(bad)?;
                    if n < 1 {
                        return Err(bad("max-file cannot be less than 1".into()));
                    }
                    u32::try_from(n).unwrap_or(u32::MAX)
                }
                None => 1,
            };
            let compress = match opt("compress") {
                Some(s) => parse_bool(s).map_err(bad)?,
                None => false,
            };
            if compress && (max_file == 1 || max_size.is_none()) {
                return Err(bad(
                    "compress cannot be true when max-file is less than 2 or \
                                max-size is not set"
                        .into(),
                ));
            }
            Ok(Settings {
                driver: Driver::JsonFile,
                max_size,
                max_file,
                compress,
            })
        }
        "local" => {
            let max_size = match opt("max-size") {
                Some(s) => from_human_size(s)
                    .map_err(|e| bad(format!("invalid value for max-size: {s}: {e}")))?,
                None => LOCAL_MAX_SIZE,
            };
            let max_file = match opt("max-file") {
                Some(s) => {
                    atoi(s).map_err(|e| bad(format!("invalid value for max-file: {s}: {e}")))?
                }
                None => LOCAL_MAX_FILE as i64,
            };
            let compress = match opt("compress") {
                Some(s) => parse_bool(s)
                    .map_err(|e| bad(format!("error reading compress log option: {e}")))?,
                None => true,
            };
            if max_file < 0 {
                return Err(bad("max file count cannot be less than 0".into()));
            }
            if compress && max_file <= 1 {
                return Err(bad(
                    "compression cannot be enabled when max file count is 1".into(),
                ));
            }
            Ok(Settings {
                driver: Driver::Local,
                max_size: Some(max_size),
                max_file: u32::try_from(max_file.max(1)).unwrap_or(u32::MAX),
                compress,
            })
        }
        "none" => Ok(Settings {
            driver: Driver::None,
            max_size: None,
            max_file: 1,
            compress: false,
        }),
        other => Err(Error::InvalidInput(format!(
            "logging driver {other} is not supported by berth"
        ))),
    }
}

/// The regular expressions and the tag template of json-file's options, checked.
fn check_attr_opts(cfg: &LogConfig) -> Result<()> {
    for k in ["labels-regex", "env-regex"] {
        if let Some(re) = cfg.config.get(k).and_then(Value::as_str) {
            regex::Regex::new(re).map_err(|e| {
                Error::InvalidInput(format!("failed to initialize logging driver: {k}: {e}"))
            })?;
        }
    }
    if let Some(t) = cfg.config.get("tag").and_then(Value::as_str) {
        berth_template::Template::parse(t).map_err(|e| {
            Error::InvalidInput(format!("failed to initialize logging driver: {e}"))
        })?;
    }
    Ok(())
}

/// Docker's `units.FromHumanSize` (go-units): a decimal size, `1.5k` is 1500, `10m`, `1MB`,
/// `1MiB` (the unit's `i` does not make it binary here).
fn from_human_size(s: &str) -> std::result::Result<u64, String> {
    let invalid = || format!("invalid size: '{s}'");
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, rest) = s.split_at(digits_end);
    // `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`
    let parts_ok = !num.is_empty()
        && num
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !parts_ok {
        return Err(invalid());
    }
    let mut unit = rest.strip_prefix(' ').unwrap_or(rest).chars().peekable();
    let mult: f64 = match unit.peek().map(|c| c.to_ascii_lowercase()) {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            unit.next();
            1000f64.powi("kmgtp".find(c).expect("a unit") as i32 + 1)
        }
        _ => 1.0,
    };
    if unit.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'i')) {
        unit.next();
    }
    if unit.peek().is_some_and(|c| c.eq_ignore_ascii_case(&'b')) {
        unit.next();
    }
    if unit.next().is_some() {
        return Err(invalid());
    }
    let n: f64 = num
        .parse()
        .map_err(|_| format!("strconv.ParseFloat: parsing \"{num}\": invalid syntax"))?;
    Ok((n * mult) as u64)
}

/// Go's `strconv.Atoi`, with its messages.
fn atoi(s: &str) -> std::result::Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.Atoi: parsing \"{s}\": invalid syntax"));
    }
    s.parse()
        .map_err(|_| format!("strconv.Atoi: parsing \"{s}\": value out of range"))
}

/// Go's `strconv.ParseBool`, with its message.
fn parse_bool(s: &str) -> std::result::Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing \"{s}\": invalid syntax"
        )),
    }
}

/// The log file of a container with `settings` in directory `dir` (None for `none`): for
/// json-file its `LogPath`, for local `local-logs/container.log`.
pub fn log_file(c: &Container, dir: &Path) -> Option<PathBuf> {
    match settings(&c.host_config.log_config).ok()?.driver {
        Driver::JsonFile if !c.log_path.is_empty() => Some(PathBuf::from(&c.log_path)),
        Driver::JsonFile => Some(dir.join(format!("{}-json.log", c.id))),
        Driver::Local => Some(dir.join(LOCAL_LOG)),
        Driver::None => None,
    }
}

/// The name of the `i`th rotated file of `base` (`NAME.i`, `NAME.i.gz`).
pub fn rotated(base: &Path, i: u32, gz: bool) -> PathBuf {
    let mut s = base.as_os_str().to_os_string();
    s.push(format!(".{i}{}", if gz { ".gz" } else { "" }));
    PathBuf::from(s)
}

/// Docker's `attrs` of json-file entries (moby `logger.Info.ExtraAttributes` and the tag): the
/// container's labels named in `labels` or matching `labels-regex`, its environment variables
/// named in `env` or matching `env-regex`, and `tag` as its template makes it.
pub fn extra_attrs(c: &Container) -> BTreeMap<String, String> {
    let cfg = &c.host_config.log_config.config;
    let opt = |k: &str| cfg.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
    let mut out = BTreeMap::new();
    let labels = c.config.labels.clone().flatten().unwrap_or_default();
    if let Some(names) = opt("labels") {
        for l in names.split(',') {
            if let Some(v) = labels.get(l) {
                out.insert(l.to_string(), v.clone());
            }
        }
    }
    if let Some(re) = opt("labels-regex").and_then(|r| regex::Regex::new(r).ok()) {
        for (k, v) in &labels {
            if re.is_match(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let env: BTreeMap<&str, &str> = c
        .config
        .env
        .as_ref()
        .and_then(|e| e.as_ref())
        .map(|e| e.iter().filter_map(|kv| kv.split_once('=')).collect())
        .unwrap_or_default();
    if let Some(names) = opt("env") {
        for k in names.split(',') {
            if let Some(v) = env.get(k) {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    if let Some(re) = opt("env-regex").and_then(|r| regex::Regex::new(r).ok()) {
        for (k, v) in &env {
            if re.is_match(k) {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    if let Some(t) = opt("tag") {
        if let Ok(tag) = tag(c, t) {
            if !tag.is_empty() {
                out.insert("tag".into(), tag);
            }
        }
    }
    out
}

/// The `tag` option's template over Docker's `logger.Info` (`{{.ID}}`, `{{.FullID}}`,
/// `{{.Name}}`, `{{.ImageID}}`, `{{.ImageFullID}}`, `{{.ImageName}}`, `{{.DaemonName}}`).
fn tag(c: &Container, template: &str) -> Result<String> {
    let image_full = c.image.trim_start_matches("sha256:");
    let data = serde_json::json!({
        "ID": &c.id[..c.id.len().min(12)],
        "FullID": c.id,
        "Name": c.name.trim_start_matches('/'),
        "ImageID": &image_full[..image_full.len().min(12)],
        "ImageFullID": c.image,
        "ImageName": c.config.image.clone().unwrap_or_default(),
        "DaemonName": "docker",
    });
    Ok(berth_template::Template::parse(template)?.render(&data)?)
}

/// Where a partial line (one longer than the monitor's 16 KiB, or output that ended without a
/// newline) stands: its group's ID and the ordinal of its last piece (Docker's
/// `PartialLogMetaData`).
#[derive(Default)]
struct PartialGroup {
    id: String,
    ordinal: i32,
}

/// The monitor's log writer for one container: `write` each line (with its newline, or
/// without when it is partial), `flush` after each read of the output.
pub struct LogWriter {
    settings: Settings,
    path: PathBuf,
    out: Option<BufWriter<File>>,
    /// Bytes in the file being written, those still buffered included.
    size: u64,
    /// json-file: `"attrs":{…},` (or nothing), put in every line.
    attrs: Vec<u8>,
    /// local: each stream's partial line.
    partial: [Option<PartialGroup>; 2],
    /// The last entry's time (for the gzip header of a rotated file, as Docker's `lastTime`).
    last: (i64, u32),
    entry: Vec<u8>,
    /// When the code pages were last released after a compression.
    released: std::time::Instant,
}

impl LogWriter {
    /// Opens container `c`'s log in `dir` for appending (a restarted container's output follows
    /// its earlier runs').
    pub fn open(c: &Container, dir: &Path) -> Result<LogWriter> {
        let settings = settings(&c.host_config.log_config)?;
        let path = log_file(c, dir).unwrap_or_default();
        let attrs = match settings.driver {
            Driver::JsonFile => {
                // Escaped as Go's encoding/json escapes them (as the log itself).
                let mut out = Vec::new();
                for (i, (k, v)) in extra_attrs(c).iter().enumerate() {
                    out.extend_from_slice(if i == 0 { b"\"attrs\":{" } else { b"," });
                    json_string(&mut out, k.as_bytes());
                    out.push(b':');
                    json_string(&mut out, v.as_bytes());
                }
                if !out.is_empty() {
                    out.extend_from_slice(b"},");
                }
                out
            }
            _ => Vec::new(),
        };
        let mut w = LogWriter {
            settings,
            path,
            out: None,
            size: 0,
            attrs,
            partial: [None, None],
            last: (0, 0),
            entry: Vec::with_capacity(512),
            released: std::time::Instant::now(),
        };
        if w.settings.driver != Driver::None {
            if let Some(parent) = w.path.parent() {
                if w.settings.driver == Driver::Local {
                    // 0700, as Docker's local-logs.
                    use std::os::unix::fs::DirBuilderExt;
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(parent)
                        .with_path("create directory", parent)?;
                }
            }
            let f = open_log(&w.path, false).with_path("open the log", &w.path)?;
            w.size = f.metadata().map(|m| m.len()).unwrap_or(0);
            w.out = Some(BufWriter::with_capacity(32 * 1024, f));
        }
        Ok(w)
    }

    /// Logs one line of stdout (or stderr when `stderr`): a complete one ends with its newline.
    pub fn write(&mut self, stderr: bool, line: &[u8]) {
        if self.out.is_none() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (secs, nanos) = (now.as_secs() as i64, now.subsec_nanos());
        let source = if stderr { "stderr" } else { "stdout" };
        self.entry.clear();
        match self.settings.driver {
            Driver::JsonFile => {
                encode_json(&mut self.entry, line, source, &self.attrs, secs, nanos);
            }
            Driver::Local => {
                let k = stderr as usize;
                let (text, partial) = match line.strip_suffix(b"\n") {
                    Some(text) => {
                        let done = self.partial[k].take().map(|g| (g.id, g.ordinal + 1, true));
                        (text, done)
                    }
                    None => {
                        let g = self.partial[k].get_or_insert_with(|| PartialGroup {
                            id: random_id(),
                            ordinal: 0,
                        });
                        g.ordinal += 1;
                        (line, Some((g.id.clone(), g.ordinal, false)))
                    }
                };
                let nano = secs.saturating_mul(1_000_000_000) + nanos as i64;
                let p = partial.as_ref().map(|(id, o, last)| Partial {
                    id,
                    ordinal: *o,
                    last: *last,
                });
                encode_local(&mut self.entry, source, nano, text, p);
            }
            Driver::None => return,
        }
        // As moby's `WriteLogEntry`: a full file is rotated before the next entry goes in.
        if self.settings.max_size.is_some_and(|max| self.size >= max) {
            self.rotate();
        }
        if let Some(out) = self.out.as_mut() {
            if out.write_all(&self.entry).is_ok() {
                self.size += self.entry.len() as u64;
            }
        }
        self.last = (secs, nanos);
    }

    /// Writes out what is buffered (a reader sees every line the container has printed).
    pub fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            let _ = out.flush();
        }
    }

    /// Flushes and syncs the file (the container has exited).
    pub fn sync(&mut self) {
        if let Some(out) = self.out.as_mut() {
            let _ = out.flush();
            let _ = out.get_ref().sync_data();
        }
    }

    /// moby's `rotate`: NAME.N-2 → NAME.N-1 … NAME → NAME.1 (the oldest dropped), a new NAME,
    /// then NAME.1 gzipped with `compress`; with one file kept, NAME is truncated.
    fn rotate(&mut self) {
        self.flush();
        self.out = None;
        let n = self.settings.max_file;
        let gz = self.settings.compress;
        let mut moved = false;
        if n >= 2 {
            let _ = fs::remove_file(rotated(&self.path, n - 1, gz));
            for i in (2..n).rev() {
                let _ = fs::rename(rotated(&self.path, i - 1, gz), rotated(&self.path, i, gz));
            }
            moved = fs::rename(&self.path, rotated(&self.path, 1, false)).is_ok();
        }
        // Truncated when nothing was moved away (one file kept): it starts again.
        match open_log(&self.path, true) {
            Ok(f) => {
                self.out = Some(BufWriter::with_capacity(32 * 1024, f));
                self.size = 0;
            }
            Err(_) => return,
        }
        if moved && gz {
            let last = rfc3339_nano(self.last.0, self.last.1);
            let _ = compress(&rotated(&self.path, 1, false), &last);
            // The compressor's code need not stay resident until the next rotation (as the
            // start-up's, see monitor's `do_start`); at most once a second.
            if self.released.elapsed() >= std::time::Duration::from_secs(1) {
                berth_runtime::clone::release_code_pages();
                self.released = std::time::Instant::now();
            }
        }
    }
}

/// Opens (creates, 0640 as Docker's) a log file for appending, or truncated.
fn open_log(path: &Path, truncate: bool) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(!truncate)
        .write(true)
        .truncate(truncate)
        .mode(0o640)
        .open(path)
}

/// Gzips rotated file `src` to `src.gz` as moby's `compressFile`: the gzip header's extra field
/// holds `{"lastTime":…}`, the time of its last entry; written aside and renamed, so that a
/// reader finds the plain file or the whole gzipped one.
fn compress(src: &Path, last_time: &str) -> io::Result<()> {
    let mut dst = src.as_os_str().to_os_string();
    dst.push(".gz");
    let dst = PathBuf::from(dst);
    let mut tmp = dst.as_os_str().to_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut input = File::open(src)?;
    let extra = serde_json::json!({ "lastTime": last_time }).to_string();
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o640)
        .open(&tmp)?;
    let mut gz = flate2::GzBuilder::new()
        .extra(extra.into_bytes())
        .write(file, flate2::Compression::default());
    let mut buf = [0u8; 8192];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        gz.write_all(&buf[..n])?;
    }
    gz.finish()?;
    fs::rename(&tmp, &dst)?;
    fs::remove_file(src)
}

/// A random ID for a group of partial entries (as Docker's, 64 hex digits).
fn random_id() -> String {
    use sha2::Digest;
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = format!("{now}.{}.{n}", std::process::id());
    sha2::Sha256::digest(seed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One json-file line: `{"log":…,"stream":…,["attrs":{…},]"time":…}` and a newline, Docker's
/// field order, escaping and time format (RFC 3339 with its nanoseconds' trailing zeros cut).
fn encode_json(buf: &mut Vec<u8>, line: &[u8], source: &str, attrs: &[u8], secs: i64, nanos: u32) {
    buf.extend_from_slice(b"{\"log\":");
    json_string(buf, line);
    buf.extend_from_slice(b",\"stream\":\"");
    buf.extend_from_slice(source.as_bytes());
    buf.extend_from_slice(b"\",");
    buf.extend_from_slice(attrs);
    buf.extend_from_slice(b"\"time\":\"");
    buf.extend_from_slice(rfc3339_nano(secs, nanos).as_bytes());
    buf.extend_from_slice(b"\"}\n");
}

/// A time as Go's `time.RFC3339Nano` writes it (Docker's json-file lines and the rotated
/// files' `lastTime`): the fraction without its trailing zeros, none when it is 0.
fn rfc3339_nano(secs: i64, nanos: u32) -> String {
    let time = berth_runtime::rfc3339(secs, nanos);
    let (whole, frac) = time.split_at(19);
    let digits = frac
        .trim_start_matches('.')
        .trim_end_matches('Z')
        .trim_end_matches('0');
    if digits.is_empty() {
        format!("{whole}Z")
    } else {
        format!("{whole}.{digits}Z")
    }
}

/// `bytes` as a JSON string as Docker's json-file writes it (moby `jsonlog`): `"` and `\\` and
/// the newline and carriage return escaped by a backslash, other control characters and
/// `<`, `>`, `&` as `\\u00XX`, U+2028 and U+2029 as `\\u2028`, `\\u2029`, each byte that is not
/// UTF-8 as `\\ufffd`.
fn json_string(buf: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(b'"');
    for chunk in bytes.utf8_chunks() {
        // Runs of bytes that need no escape are copied whole.
        let v = chunk.valid().as_bytes();
        let (mut start, mut i) = (0, 0);
        while i < v.len() {
            let b = v[i];
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
            let separator = b == 0xe2
                && v.get(i + 1) == Some(&0x80)
                && matches!(v.get(i + 2), Some(0xa8 | 0xa9));
            if !(b < 0x20 || matches!(b, b'"' | b'\\' | b'<' | b'>' | b'&') || separator) {
                i += 1;
                continue;
            }
            buf.extend_from_slice(&v[start..i]);
            match b {
                b'"' | b'\\' => buf.extend_from_slice(&[b'\\', b]),
                b'\n' => buf.extend_from_slice(b"\\n"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                0xe2 => {
                    buf.extend_from_slice(if v[i + 2] == 0xa8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 2;
                }
                _ => {
                    buf.extend_from_slice(b"\\u00");
                    buf.extend_from_slice(&[HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
                }
            }
            i += 1;
            start = i;
        }
        buf.extend_from_slice(&v[start..]);
        for _ in chunk.invalid() {
            buf.extend_from_slice(b"\\ufffd");
        }
    }
    buf.push(b'"');
}

/// A partial entry's metadata (Docker's `PartialLogEntryMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial<'a> {
    pub id: &'a str,
    pub ordinal: i32,
    pub last: bool,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_bytes(buf: &mut Vec<u8>, field: u64, data: &[u8]) {
    put_varint(buf, field << 3 | 2);
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// One local-driver entry: the `LogEntry` protobuf (source 1, time_nano 2, line 3, partial 4,
/// partial_log_metadata 5 {last 1, id 2, ordinal 3}; zero values left out, as protobuf does)
/// between two big-endian u32 of its length.
pub fn encode_local(
    buf: &mut Vec<u8>,
    source: &str,
    time_nano: i64,
    line: &[u8],
    partial: Option<Partial>,
) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    if !source.is_empty() {
        put_bytes(buf, 1, source.as_bytes());
    }
    if time_nano != 0 {
        put_varint(buf, 2 << 3);
        put_varint(buf, time_nano as u64);
    }
    if !line.is_empty() {
        put_bytes(buf, 3, line);
    }
    if let Some(p) = partial {
        put_varint(buf, 4 << 3);
        put_varint(buf, 1);
        let mut md = Vec::with_capacity(80);
        if p.last {
            put_varint(&mut md, 1 << 3);
            put_varint(&mut md, 1);
        }
        if !p.id.is_empty() {
            put_bytes(&mut md, 2, p.id.as_bytes());
        }
        if p.ordinal != 0 {
            put_varint(&mut md, 3 << 3);
            // int32 as protobuf encodes it: sign-extended to 64 bits.
            put_varint(&mut md, p.ordinal as i64 as u64);
        }
        put_bytes(buf, 5, &md);
    }
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&len.to_be_bytes());
}

/// A local-driver entry, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalEntry {
    pub source: String,
    pub time_nano: i64,
    pub line: Vec<u8>,
    pub partial: bool,
    pub last: bool,
    pub id: String,
    pub ordinal: i32,
    /// Newer Docker's `attrs` (field 6: key 1, value 2).
    pub attrs: Vec<(String, String)>,
}

fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The fields of a protobuf message: (number, varint value, bytes), unknown wire types skipped.
fn fields(b: &[u8]) -> Option<Vec<(u64, u64, &[u8])>> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < b.len() {
        let key = get_varint(b, &mut at)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => out.push((field, get_varint(b, &mut at)?, &b[0..0])),
            1 => at += 8,
            2 => {
                let n = get_varint(b, &mut at)? as usize;
                let data = b.get(at..at.checked_add(n)?)?;
                at += n;
                out.push((field, 0, data));
            }
            5 => at += 4,
            _ => return None,
        }
    }
    (at == b.len()).then_some(out)
}

/// Decodes one `LogEntry` protobuf (the bytes between the two lengths).
pub fn decode_local(b: &[u8]) -> Option<LocalEntry> {
    let mut e = LocalEntry::default();
    let text = |d: &[u8]| String::from_utf8_lossy(d).into_owned();
    for (field, v, data) in fields(b)? {
        match field {
            1 => e.source = text(data),
            2 => e.time_nano = v as i64,
            3 => e.line = data.to_vec(),
            4 => e.partial = v != 0,
            5 => {
                for (f, v, d) in fields(data)? {
                    match f {
                        1 => e.last = v != 0,
                        2 => e.id = text(d),
                        3 => e.ordinal = v as i32,
                        _ => {}
                    }
                }
            }
            6 => {
                let (mut k, mut val) = (String::new(), String::new());
                for (f, _, d) in fields(data)? {
                    match f {
                        1 => k = text(d),
                        2 => val = text(d),
                        _ => {}
                    }
                }
                e.attrs.push((k, val));
            }
            _ => {}
        }
    }
    Some(e)
}

/// The largest entry a reader takes (a corrupt length is not a reason to allocate gigabytes):
/// the monitor's entries are at most 16 KiB of output.
pub const MAX_ENTRY: usize = 1 << 20;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn msg(driver: Option<&str>, o: &[&str]) -> String {
        parse_config(driver, &opts(o)).unwrap_err().to_string()
    }

    #[test]
    fn options_are_checked_with_dockers_messages() {
        // Messages of Docker 20.10's CLI and daemon, as `docker run` printed them.
        assert!(msg(None, &["foo=1"]).contains("unknown log opt 'foo' for json-file log driver"));
        assert!(msg(None, &["foo"]).contains("unknown log opt 'foo' for json-file log driver"));
        assert!(
            msg(Some("local"), &["tag=x"]).contains("unknown log opt 'tag' for log driver local")
        );
        let e = parse_config(Some("none"), &opts(&["max-size=1m"])).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e:?}");
        assert!(e
            .to_string()
            .contains("invalid logging opts for driver none"));
        assert!(msg(Some("syslog"), &[]).contains("logging driver syslog is not supported"));
        assert!(msg(Some("syslog2"), &[])
            .contains("error looking up logging plugin syslog2: plugin \"syslog2\" not found"));
        let init = "failed to initialize logging driver: ";
        for (driver, o, m) in [
            (None, &["max-size=x"][..], "invalid size: 'x'"),
            (None, &["max-size=-1"], "invalid size: '-1'"),
            (None, &["max-size=0"], "max-size must be a positive number"),
            (None, &["max-file=0"], "max-file cannot be less than 1"),
            (
                None,
                &["max-file=x"],
                "strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                None,
                &["compress=maybe"],
                "strconv.ParseBool: parsing \"maybe\": invalid syntax",
            ),
            (
                None,
                &["compress=true"],
                "compress cannot be true when max-file is less than 2 or max-size is not set",
            ),
            (
                None,
                &["max-size=1m", "max-file=1", "compress=true"],
                "compress cannot be true when max-file is less than 2 or max-size is not set",
            ),
            (
                Some("local"),
                &["max-size=x"],
                "invalid value for max-size: x: invalid size: 'x'",
            ),
            (
                Some("local"),
                &["max-file=-1"],
                "max file count cannot be less than 0",
            ),
            (
                Some("local"),
                &["max-file=1"],
                "compression cannot be enabled when max file count is 1",
            ),
            (
                Some("local"),
                &["compress=maybe"],
                "error reading compress log option: strconv.ParseBool: parsing \"maybe\": \
                 invalid syntax",
            ),
        ] {
            assert_eq!(msg(driver, o), format!("{init}{m}"), "{driver:?} {o:?}");
        }
        assert!(msg(None, &["env-regex=("]).contains("env-regex"));
    }

    #[test]
    fn accepted_options_are_recorded_as_docker_records_them() {
        let c = parse_config(None, &opts(&["max-size=1m", "compress=true", "max-file=3"])).unwrap();
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"Type":"json-file","Config":{"compress":"true","max-file":"3","max-size":"1m"}}"#
        );
        assert_eq!(
            settings(&c).unwrap(),
            Settings {
                driver: Driver::JsonFile,
                max_size: Some(1_000_000),
                max_file: 3,
                compress: true
            }
        );
        let d = parse_config(None, &[]).unwrap();
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"Type":"json-file","Config":{}}"#
        );
        assert_eq!(settings(&d).unwrap().max_size, None);
        // Without max-size nothing rotates, max-file or not (Docker takes it).
        assert!(parse_config(None, &opts(&["max-file=3"])).is_ok());
        let l = parse_config(Some("local"), &[]).unwrap();
        assert_eq!(
            settings(&l).unwrap(),
            Settings {
                driver: Driver::Local,
                max_size: Some(20 * 1024 * 1024),
                max_file: 5,
                compress: true
            }
        );
        let l = parse_config(Some("local"), &opts(&["max-file=0", "compress=false"])).unwrap();
        assert_eq!(settings(&l).unwrap().max_file, 1);
        assert!(parse_config(Some("local"), &opts(&["max-size=0"])).is_ok());
        assert_eq!(parse_config(Some("none"), &[]).unwrap().kind, "none");
        assert!(parse_config(
            None,
            &opts(&[
                "labels=a",
                "labels-regex=^b",
                "env=X",
                "env-regex=^Y",
                "tag={{.Name}}"
            ])
        )
        .is_ok());
    }

    #[test]
    fn sizes_are_decimal_as_go_units_from_human_size() {
        assert_eq!(from_human_size("1.5k"), Ok(1500));
        assert_eq!(from_human_size("1KB"), Ok(1000));
        assert_eq!(from_human_size("1kib"), Ok(1000));
        assert_eq!(from_human_size("10m"), Ok(10_000_000));
        assert_eq!(from_human_size("1 g"), Ok(1_000_000_000));
        assert_eq!(from_human_size("42"), Ok(42));
        assert_eq!(from_human_size("x"), Err("invalid size: 'x'".into()));
        assert_eq!(from_human_size("1mm"), Err("invalid size: '1mm'".into()));
        assert_eq!(from_human_size(""), Err("invalid size: ''".into()));
        assert!(from_human_size("1.2.3").unwrap_err().contains("ParseFloat"));
    }

    #[test]
    fn local_entries_are_framed_byte_for_byte_as_dockers() {
        // Entries of Docker 20.10's local driver (xxd of its container.log).
        let line = b"\x00\x00\x00\x15\x0a\x06stdout\x10\xd2\xb8\xce\xf9\xb7\xc0\xb3\xf7\x18\x1a\x015\x00\x00\x00\x15";
        let e = decode_local(&line[4..line.len() - 4]).unwrap();
        assert_eq!(
            (e.source.as_str(), &e.line[..], e.partial),
            ("stdout", &b"5"[..], false)
        );
        let mut buf = Vec::new();
        encode_local(&mut buf, "stdout", e.time_nano, b"5", None);
        assert_eq!(buf, line);

        let id = "94be23ce08cacaa6d6483b86a93db21218ca268f371522252efb7456aa73e77c";
        let mut partial = b"\x00\x00\x00\x63\x0a\x06stdout\x10\xbc\xee\x96\xe7\xe2\xc0\xb3\xf7\x18\x1a\x07partial\x20\x01\x2a\x44\x12\x40".to_vec();
        partial.extend_from_slice(id.as_bytes());
        partial.extend_from_slice(b"\x18\x01\x00\x00\x00\x63");
        let e = decode_local(&partial[4..partial.len() - 4]).unwrap();
        assert!(e.partial && !e.last);
        assert_eq!((e.id.as_str(), e.ordinal), (id, 1));
        let mut buf = Vec::new();
        let p = Partial {
            id,
            ordinal: 1,
            last: false,
        };
        encode_local(&mut buf, "stdout", e.time_nano, b"partial", Some(p));
        assert_eq!(buf, partial);
    }

    #[test]
    fn local_entries_round_trip() {
        for (src, t, line, p) in [
            ("stderr", 1i64, &b"x"[..], None),
            ("stdout", i64::MAX, &b""[..], None),
            (
                "stdout",
                1_700_000_000_123_456_789,
                &[0u8, 255, 10][..],
                None,
            ),
            (
                "stdout",
                5,
                &b"piece"[..],
                Some(Partial {
                    id: "ab",
                    ordinal: -3,
                    last: true,
                }),
            ),
        ] {
            let mut buf = Vec::new();
            encode_local(&mut buf, src, t, line, p.clone());
            let n = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            assert_eq!(buf.len(), n + 8);
            assert_eq!(buf[buf.len() - 4..], buf[..4]);
            let e = decode_local(&buf[4..n + 4]).unwrap();
            assert_eq!(
                (e.source.as_str(), e.time_nano, &e.line[..]),
                (src, t, line)
            );
            assert_eq!(e.partial, p.is_some());
            if let Some(p) = p {
                assert_eq!(
                    (e.id.as_str(), e.ordinal, e.last),
                    (p.id, p.ordinal, p.last)
                );
            }
        }
        assert!(
            decode_local(b"\x0a\x10ab").is_none(),
            "a length past the end"
        );
    }

    /// A container whose log is in `dir`, with the options `o` of `driver`.
    pub(crate) fn container(dir: &Path, driver: &str, o: &[&str]) -> Container {
        let mut c = Container {
            id: "a".repeat(64),
            ..Default::default()
        };
        c.host_config.log_config = parse_config(Some(driver), &opts(o)).unwrap();
        if driver == "json-file" {
            c.log_path = dir.join(format!("{}-json.log", c.id)).display().to_string();
        }
        c
    }

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = walk(dir)
            .into_iter()
            .map(|p| {
                let n = p.strip_prefix(dir).unwrap().display().to_string();
                (n, fs::metadata(&p).unwrap().len())
            })
            .collect();
        v.sort();
        v
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path());
            }
        }
        out
    }

    #[test]
    fn json_file_rotates_at_max_size_and_keeps_max_file_files() {
        let t = tempfile::tempdir().unwrap();
        let c = container(t.path(), "json-file", &["max-size=1k", "max-file=3"]);
        let mut w = LogWriter::open(&c, t.path()).unwrap();
        for i in 0..1000 {
            w.write(i % 2 == 1, format!("line {i}\n").as_bytes());
        }
        w.sync();
        let f = files(t.path());
        let base = format!("{}-json.log", c.id);
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [base.clone(), format!("{base}.1"), format!("{base}.2")]
        );
        // A file is rotated once it reaches max-size: at most max-size and one entry.
        for (n, len) in &f {
            assert!(*len < 1000 + 80, "{n}: {len}");
        }
        // The newest line is the last of the current file, the oldest kept is in .2.
        let cur = fs::read_to_string(t.path().join(&base)).unwrap();
        assert!(cur
            .lines()
            .last()
            .unwrap()
            .contains("\"log\":\"line 999\\n\",\"stream\":\"stderr\""));
        let old = fs::read_to_string(t.path().join(format!("{base}.2"))).unwrap();
        let number = |text: &str| -> u32 {
            let v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            v["log"].as_str().unwrap()[5..].trim().parse().unwrap()
        };
        assert!(number(&old) < number(&cur));
    }

    #[test]
    fn one_file_is_truncated_at_max_size() {
        let t = tempfile::tempdir().unwrap();
        let c = container(t.path(), "json-file", &["max-size=500"]);
        let mut w = LogWriter::open(&c, t.path()).unwrap();
        for i in 0..100 {
            w.write(false, format!("{i}\n").as_bytes());
        }
        w.sync();
        let f = files(t.path());
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].1 < 500 + 80);
    }

    #[test]
    fn times_are_gos_rfc3339_nano() {
        let t = 1_765_000_000;
        assert_eq!(
            rfc3339_nano(t, 578_742_170),
            "2025-12-06T05:46:40.57874217Z"
        );
        assert_eq!(rfc3339_nano(t, 500_000_000), "2025-12-06T05:46:40.5Z");
        assert_eq!(rfc3339_nano(t, 0), "2025-12-06T05:46:40Z");
    }

    #[test]
    fn rotated_files_are_gzipped_with_dockers_header() {
        let t = tempfile::tempdir().unwrap();
        let c = container(
            t.path(),
            "json-file",
            &["max-size=1k", "max-file=3", "compress=true"],
        );
        let mut w = LogWriter::open(&c, t.path()).unwrap();
        for i in 0..200 {
            w.write(false, format!("line {i}\n").as_bytes());
        }
        w.sync();
        let base = format!("{}-json.log", c.id);
        let names: Vec<String> = files(t.path()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [base.clone(), format!("{base}.1.gz"), format!("{base}.2.gz")]
        );
        let gz = fs::read(t.path().join(format!("{base}.1.gz"))).unwrap();
        let mut d = flate2::read::GzDecoder::new(&gz[..]);
        let mut text = String::new();
        d.read_to_string(&mut text).unwrap();
        let header = d.header().unwrap();
        let extra: Value = serde_json::from_slice(header.extra().unwrap()).unwrap();
        // lastTime: the time of the file's last entry.
        let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(extra["lastTime"], last["time"]);
    }

    #[test]
    fn local_rotates_with_its_defaults_overridden() {
        let t = tempfile::tempdir().unwrap();
        let c = container(t.path(), "local", &["max-size=2k", "max-file=2"]);
        let mut w = LogWriter::open(&c, t.path()).unwrap();
        for i in 0..1000 {
            w.write(false, format!("line {i}\n").as_bytes());
        }
        w.sync();
        let names: Vec<String> = files(t.path()).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            ["local-logs/container.log", "local-logs/container.log.1.gz"]
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&t.path().join("local-logs")), 0o700);
        assert_eq!(mode(&t.path().join(LOCAL_LOG)), 0o640);
        let cur = fs::read(t.path().join(LOCAL_LOG)).unwrap();
        assert!(cur.len() < 2000 + 40);
        let n = u32::from_be_bytes(cur[..4].try_into().unwrap()) as usize;
        let e = decode_local(&cur[4..4 + n]).unwrap();
        assert_eq!(e.source, "stdout");
        assert!(e.line.starts_with(b"line ") && !e.line.ends_with(b"\n"));
    }

    #[test]
    fn local_marks_partial_lines_as_docker() {
        let t = tempfile::tempdir().unwrap();
        let c = container(t.path(), "local", &[]);
        let mut w = LogWriter::open(&c, t.path()).unwrap();
        w.write(false, b"abc");
        w.write(false, b"def\n");
        w.write(false, b"whole\n");
        w.write(true, b"end");
        w.sync();
        let data = fs::read(t.path().join(LOCAL_LOG)).unwrap();
        let mut at = 0;
        let mut got = Vec::new();
        while at < data.len() {
            let n = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            got.push(decode_local(&data[at + 4..at + 4 + n]).unwrap());
            at += n + 8;
        }
        assert_eq!(got.len(), 4);
        assert!(got[0].partial && !got[0].last && got[0].ordinal == 1);
        assert!(got[1].partial && got[1].last && got[1].ordinal == 2);
        assert_eq!(got[0].id, got[1].id);
        assert_eq!(got[0].id.len(), 64);
        assert!(!got[2].partial && got[2].line == b"whole");
        assert!(got[3].partial && !got[3].last && got[3].source == "stderr");
    }

    #[test]
    fn json_lines_are_escaped_and_timed_as_dockers() {
        let mut buf = Vec::new();
        encode_json(
            &mut buf,
            b"a\"\\<>&\t\x01\r\n",
            "stdout",
            b"",
            1_700_000_000,
            120_000_000,
        );
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"log\":\"a\\\"\\\\\\u003c\\u003e\\u0026\\u0009\\u0001\\r\\n\",\"stream\":\"stdout\",\
             \"time\":\"2023-11-14T22:13:20.12Z\"}\n"
        );
        let mut buf = Vec::new();
        encode_json(
            &mut buf,
            "é\u{2028}\u{fffd}".as_bytes(),
            "stderr",
            b"",
            0,
            0,
        );
        assert!(String::from_utf8(buf.clone())
            .unwrap()
            .starts_with("{\"log\":\"é\\u2028\u{fffd}\",\"stream\":\"stderr\",\"time\":\"1970-01-01T00:00:00Z\"}"));
        let mut buf = Vec::new();
        json_string(&mut buf, b"x\xe2\x82y\xff");
        assert_eq!(buf, b"\"x\\ufffd\\ufffdy\\ufffd\"");
        // serde_json reads it back as it was (invalid bytes replaced).
        let v: String = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v, "x\u{fffd}\u{fffd}y\u{fffd}");
    }

    #[test]
    fn none_writes_nothing() {
        let t = tempfile::tempdir().unwrap();
        let c = container(t.path(), "none", &[]);
        let mut w = LogWriter::open(&c, t.path()).unwrap();
        w.write(false, b"x\n");
        w.sync();
        assert!(files(t.path()).is_empty());
    }

    #[test]
    fn attrs_are_the_labels_env_and_tag_asked_for() {
        let t = tempfile::tempdir().unwrap();
        let mut c = container(
            t.path(),
            "json-file",
            &[
                "labels=a,missing",
                "env=FOO",
                "env-regex=^X",
                "tag={{.Name}}/{{.ID}}",
            ],
        );
        c.name = "web".into();
        let mut labels = indexmap::IndexMap::new();
        labels.insert("a".to_string(), "x y&".to_string());
        labels.insert("b".to_string(), "2".to_string());
        c.config.labels = Some(Some(labels));
        c.config.env = Some(Some(vec!["FOO=bar".into(), "X1=1".into(), "Z=0".into()]));
        let mut w = LogWriter::open(&c, t.path()).unwrap();
        w.write(false, b"hi\n");
        w.sync();
        let line = fs::read_to_string(&c.log_path).unwrap();
        assert!(
            line.starts_with(
                r#"{"log":"hi\n","stream":"stdout","attrs":{"FOO":"bar","X1":"1","a":"x y\u0026","tag":"web/aaaaaaaaaaaa"},"time":""#
            ),
            "{line}"
        );
    }
}
