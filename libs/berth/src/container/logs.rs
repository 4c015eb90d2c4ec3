//! Reading a container's log, as `docker logs`: Docker's json-file format (one JSON object per
//! line with `log`, `stream` and `time`) or the local driver's frames, across the rotated
//! files (see [`logdriver`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{lifecycle, logdriver, Container, Containers, Status};
use crate::error::{Error, IoContext, Result};

/// What to show.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only entries at or after this time (RFC 3339, compared as text after normalising).
    pub since: Option<String>,
    pub until: Option<String>,
    pub timestamps: bool,
    /// Docker's `--details`: each entry's attributes (`--log-opt labels=…`, `env=…`, `tag=…`)
    /// before it.
    pub details: bool,
}

/// Creates a container's empty log, 0640 as Docker's json-file logs (its output may hold secrets).
pub fn create_log(path: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(path)
        .with_path("create", path)?;
    Ok(())
}

/// Parses Docker's `--since`/`--until`: RFC 3339 (date or date-time), Unix seconds, or a
/// duration before now (`10m`, `1h30m`, `45s`). Returns RFC 3339 in UTC with nanoseconds.
pub fn parse_time(s: &str) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(berth_runtime::rfc3339(
            secs.trunc() as i64,
            (secs.fract() * 1e9) as u32,
        ));
    }
    if let Some(d) = parse_duration(s) {
        return Ok(berth_runtime::rfc3339(now - d, 0));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        let t = t.with_timezone(&chrono::Utc);
        return Ok(berth_runtime::rfc3339(
            t.timestamp(),
            t.timestamp_subsec_nanos(),
        ));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let t = d.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        return Ok(berth_runtime::rfc3339(t.timestamp(), 0));
    }
    Err(Error::InvalidInput(format!(
        "invalid time {s:?}: give RFC 3339 (2026-01-02T15:04:05Z), Unix seconds or a duration (10m)"
    )))
}

fn parse_duration(s: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut num = String::new();
    let mut any = false;
    for ch in s.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        total += n * match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return None,
        };
        any = true;
    }
    (any && num.is_empty()).then_some(total)
}

/// Normalises a log timestamp for comparison (Docker writes nanoseconds, trailing zeros cut).
fn normalise(t: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(t) {
        Ok(t) => {
            let t = t.with_timezone(&chrono::Utc);
            berth_runtime::rfc3339(t.timestamp(), t.timestamp_subsec_nanos())
        }
        Err(_) => t.to_string(),
    }
}

/// One entry of a log, of either format.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    stderr: bool,
    /// RFC 3339 with nanoseconds, UTC.
    time: String,
    text: Vec<u8>,
    attrs: Vec<(String, String)>,
}

/// What a log file holds: json-file lines or local-driver frames.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Json,
    Local,
}

/// Reads the whole records of one log file (plain, or gzipped when rotated): a record still
/// being written is held until the rest of it comes.
struct Records {
    r: BufReader<Box<dyn Read>>,
    format: Format,
    pending: Vec<u8>,
    /// Bytes consumed (of the plain file: a smaller file was truncated, max-file=1).
    consumed: u64,
    /// The file's inode (0 for a gzipped one): another at the log's path means it was rotated.
    ino: u64,
    /// The file's first record: where it went when rotated is found by it.
    first: Option<Vec<u8>>,
}

impl Records {
    fn open(path: &Path, format: Format) -> io::Result<Records> {
        use std::os::unix::fs::MetadataExt;
        let f = File::open(path)?;
        let gz = path.extension().is_some_and(|e| e == "gz");
        let ino = if gz { 0 } else { f.metadata()?.ino() };
        let r: Box<dyn Read> = if gz {
            Box::new(flate2::read::MultiGzDecoder::new(f))
        } else {
            Box::new(f)
        };
        Ok(Records {
            r: BufReader::with_capacity(16 * 1024, r),
            format,
            pending: Vec::new(),
            consumed: 0,
            ino,
            first: None,
        })
    }

    /// The next whole record; None at the end (for now).
    fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        let done = match self.format {
            Format::Json => {
                let n = self.r.read_until(b'\n', &mut self.pending)?;
                self.consumed += n as u64;
                self.pending.ends_with(b"\n")
            }
            Format::Local => loop {
                let need = if self.pending.len() < 4 {
                    4
                } else {
                    let len = u32::from_be_bytes(self.pending[..4].try_into().expect("4 bytes"));
                    if len as usize > logdriver::MAX_ENTRY {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("a log entry of {len} bytes"),
                        ));
                    }
                    8 + len as usize
                };
                if self.pending.len() == need && need > 4 {
                    break true;
                }
                let want = (need - self.pending.len()) as u64;
                let n = (&mut self.r).take(want).read_to_end(&mut self.pending)?;
                self.consumed += n as u64;
                if n == 0 {
                    break false;
                }
            },
        };
        if !done {
            return Ok(None);
        }
        let rec = std::mem::take(&mut self.pending);
        if self.first.is_none() {
            self.first = Some(rec.clone());
        }
        Ok(Some(rec))
    }

    /// The file's first record, read from the start of `path` (None if it has none).
    fn first_of(path: &Path, format: Format) -> Option<Vec<u8>> {
        Records::open(path, format).ok()?.next().ok()?
    }
}

fn decode(format: Format, rec: &[u8]) -> Option<Entry> {
    match format {
        Format::Json => {
            #[derive(serde::Deserialize)]
            struct Line {
                #[serde(default)]
                log: String,
                #[serde(default)]
                stream: String,
                #[serde(default)]
                time: String,
                #[serde(default)]
                attrs: indexmap::IndexMap<String, String>,
            }
            let l: Line = serde_json::from_slice(rec).ok()?;
            Some(Entry {
                stderr: l.stream == "stderr",
                time: normalise(&l.time),
                text: l.log.into_bytes(),
                attrs: l.attrs.into_iter().collect(),
            })
        }
        Format::Local => {
            let e = logdriver::decode_local(&rec[4..rec.len() - 4])?;
            let mut text = e.line;
            // Docker's daemon ends each line but the pieces of a partial one.
            if !e.partial || e.last {
                text.push(b'\n');
            }
            Some(Entry {
                stderr: e.source == "stderr",
                time: berth_runtime::rfc3339(
                    e.time_nano.div_euclid(1_000_000_000),
                    e.time_nano.rem_euclid(1_000_000_000) as u32,
                ),
                text,
                attrs: e.attrs,
            })
        }
    }
}

/// Where a container's log is: its file and the format (an error for the `none` driver).
fn log_of(store: &Containers, c: &Container) -> Result<(PathBuf, Format)> {
    let s = logdriver::settings(&c.host_config.log_config)?;
    let format = match s.driver {
        logdriver::Driver::JsonFile => Format::Json,
        logdriver::Driver::Local => Format::Local,
        logdriver::Driver::None => {
            return Err(Error::InvalidInput(
                "configured logging driver does not support reading".into(),
            ))
        }
    };
    let path = logdriver::log_file(c, &store.path(&c.id)).unwrap_or_default();
    Ok((path, format))
}

/// The rotated files of `base` that are there, oldest first (`NAME.N-1` … `NAME.1`, plain or
/// gzipped: a plain one is there while its gzipped copy is being made).
fn rotated_files(base: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for i in 1.. {
        let plain = logdriver::rotated(base, i, false);
        let gz = logdriver::rotated(base, i, true);
        if plain.exists() {
            files.push(plain);
        } else if gz.exists() {
            files.push(gz);
        } else {
            break;
        }
    }
    files.reverse();
    files
}

/// Writes the container's log to `out`/`err`: the rotated files, oldest first, then the
/// current one, and with `follow` what comes while the container runs (into the new file when
/// the log is rotated, as Docker follows it).
pub fn show(
    store: &Containers,
    c: &Container,
    opts: &LogOptions,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<()> {
    let (base, format) = log_of(store, c)?;
    let read_err = |e: io::Error| Error::io("read the log", &base, e);
    let mut cur = show_files(&base, format, opts, out, err)?;
    if !opts.follow {
        return Ok(());
    }
    let mut stopped = false;
    loop {
        // A rotation or a truncation is looked for before reading on (in a truncated file the
        // old offset is in the middle of other entries).
        let moved = follow_rotation(&base, format, &mut cur, opts, out, err)?;
        if let Some(r) = cur.as_mut() {
            while let Some(rec) = r.next().map_err(read_err)? {
                if let Some(e) = decode(format, &rec) {
                    emit(&e, opts, out, err)?;
                }
            }
        }
        if moved {
            continue;
        }
        if stopped {
            return Ok(());
        }
        let now = match store.load(&c.id) {
            Ok(c) => lifecycle::refresh(c),
            Err(_) => return Ok(()),
        };
        if !matches!(
            now.state.status,
            Status::Running | Status::Paused | Status::Created | Status::Restarting
        ) {
            // One more pass: what the monitor wrote before it recorded the exit.
            stopped = true;
            continue;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes what the log files of `base` hold (as `opts` asks, but for `follow`); returns the
/// current file, read to its end, for a follower.
fn show_files(
    base: &Path,
    format: Format,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Option<Records>> {
    let read_err = |e: io::Error| Error::io("read the log", base, e);
    // --tail keeps only the last N entries while it reads (bounded memory, whatever the size).
    let mut kept: std::collections::VecDeque<Entry> = Default::default();
    let mut put = |e: Entry, out: &mut dyn Write, err: &mut dyn Write| -> Result<()> {
        match opts.tail {
            None => emit(&e, opts, out, err),
            Some(0) => Ok(()),
            Some(n) => {
                if kept.len() == n {
                    kept.pop_front();
                }
                kept.push_back(e);
                Ok(())
            }
        }
    };
    for f in rotated_files(base) {
        let mut r = match Records::open(&f, format) {
            Ok(r) => r,
            // Rotated away meanwhile: a newer file has its entries.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open the log", &f, e)),
        };
        while let Some(rec) = r.next().map_err(read_err)? {
            if let Some(e) = decode(format, &rec) {
                put(e, out, err)?;
            }
        }
    }
    let mut cur = match Records::open(base, format) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("open the log", base, e)),
    };
    if let Some(r) = cur.as_mut() {
        while let Some(rec) = r.next().map_err(read_err)? {
            if let Some(e) = decode(format, &rec) {
                put(e, out, err)?;
            }
        }
    }
    for e in kept {
        emit(&e, opts, out, err)?;
    }
    Ok(cur)
}

/// At the end of the file being followed: if the log was rotated (another file at its path),
/// reads what is left of it and of the files rotated after it, and moves to the new file; if
/// it was truncated (max-file=1), starts it again. True when it moved.
fn follow_rotation(
    base: &Path,
    format: Format,
    cur: &mut Option<Records>,
    opts: &LogOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let read_err = |e: io::Error| Error::io("read the log", base, e);
    let meta = match std::fs::metadata(base) {
        Ok(m) => m,
        // Between the rename and the new file.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io("read the log", base, e)),
    };
    // The file at the log's path; None between a rename and the new file (looked at again on
    // the next pass).
    let open_base = || match Records::open(base, format) {
        Ok(r) => Ok(Some(r)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_err(e)),
    };
    let Some(r) = cur.as_mut() else {
        *cur = open_base()?;
        return Ok(cur.is_some());
    };
    if meta.ino() == r.ino {
        // Truncated (one file kept): shorter than what was read, or grown again past it but
        // no longer starting with the record it started with.
        let restarted = meta.len() < r.consumed
            || r.first.as_ref().is_some_and(|first| {
                use std::os::unix::fs::FileExt;
                let mut head = vec![0; first.len()];
                File::open(base)
                    .and_then(|f| f.read_exact_at(&mut head, 0))
                    .is_ok_and(|()| head != *first)
            });
        if restarted {
            if let Some(new) = open_base()? {
                *cur = Some(new);
                return Ok(true);
            }
        }
        return Ok(false);
    }
    // Rotated: the old file (still open here) is whole, as the monitor flushes before it
    // renames. Then the files rotated after it, found by its first record.
    while let Some(rec) = r.next().map_err(read_err)? {
        if let Some(e) = decode(format, &rec) {
            emit(&e, opts, out, err)?;
        }
    }
    // The new file is opened first: the files rotated before it are those between.
    let Some(new) = open_base()? else {
        return Ok(false);
    };
    let first = r.first.clone();
    let newer: Vec<PathBuf> = rotated_files(base).into_iter().rev().collect();
    let at = first.and_then(|f| {
        newer
            .iter()
            .position(|p| Records::first_of(p, format).as_ref() == Some(&f))
    });
    if let Some(at) = at {
        for p in newer[..at].iter().rev() {
            let Ok(mut r) = Records::open(p, format) else {
                continue;
            };
            if r.ino == new.ino {
                // Rotated meanwhile: it is read as the new file.
                break;
            }
            while let Some(rec) = r.next().map_err(read_err)? {
                if let Some(e) = decode(format, &rec) {
                    emit(&e, opts, out, err)?;
                }
            }
        }
    }
    *cur = Some(new);
    Ok(true)
}

fn emit(e: &Entry, opts: &LogOptions, out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
    if opts.since.as_ref().is_some_and(|s| e.time < *s)
        || opts.until.as_ref().is_some_and(|u| e.time > *u)
    {
        return Ok(());
    }
    let w: &mut dyn Write = if e.stderr { err } else { out };
    let mut r = Ok(());
    if opts.timestamps {
        r = write!(w, "{} ", e.time);
    }
    if opts.details && r.is_ok() {
        // Docker's: the attributes as `k=v,…` (URL query-escaped), then a space.
        let attrs: Vec<String> = e
            .attrs
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        r = write!(w, "{} ", attrs.join(","));
    }
    let r = r.and_then(|_| w.write_all(&e.text)).and_then(|_| w.flush());
    r.map_err(|e| Error::stream("stdout", e))
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_docker_takes_them() {
        assert_eq!(parse_time("0").unwrap(), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            parse_time("2026-01-02T03:04:05.5+01:00").unwrap(),
            "2026-01-02T02:04:05.500000000Z"
        );
        assert_eq!(
            parse_time("2026-01-02").unwrap(),
            "2026-01-02T00:00:00.000000000Z"
        );
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert!(parse_time("yesterday").is_err());
        assert_eq!(
            normalise("2026-01-02T03:04:05.1Z"),
            "2026-01-02T03:04:05.100000000Z"
        );
    }

    use crate::container::logdriver::{tests::container, LogWriter};

    /// What `show_files` and then, after `more`, a follower's pass print for a log written
    /// through the monitor's writer.
    fn written(
        driver: &str,
        o: &[&str],
        n: usize,
        opts: &LogOptions,
    ) -> (Vec<String>, Vec<String>) {
        let t = tempfile::tempdir().unwrap();
        let c = container(t.path(), driver, o);
        let mut w = LogWriter::open(&c, t.path()).unwrap();
        for i in 0..n {
            w.write(i % 3 == 2, format!("line {i}\n").as_bytes());
        }
        w.flush();
        let base = logdriver::log_file(&c, t.path()).unwrap();
        let format = if driver == "local" {
            Format::Local
        } else {
            Format::Json
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        show_files(&base, format, opts, &mut out, &mut err).unwrap();
        let lines = |b: Vec<u8>| {
            String::from_utf8(b)
                .unwrap()
                .lines()
                .map(String::from)
                .collect()
        };
        (lines(out), lines(err))
    }

    fn expect(range: std::ops::Range<usize>, err: bool) -> Vec<String> {
        range
            .filter(|i| (i % 3 == 2) == err)
            .map(|i| format!("line {i}"))
            .collect()
    }

    #[test]
    fn rotated_files_are_read_back_oldest_first() {
        let all = LogOptions::default();
        for (driver, o) in [
            ("json-file", &["max-size=2k", "max-file=4"][..]),
            ("json-file", &["max-size=2k", "max-file=4", "compress=true"]),
            ("local", &["max-size=2k", "max-file=4"]),
            ("local", &["max-size=2k", "max-file=4", "compress=false"]),
        ] {
            let (out, err) = written(driver, o, 60, &all);
            assert_eq!(out, expect(0..60, false), "{driver} {o:?}");
            assert_eq!(err, expect(0..60, true), "{driver} {o:?}");
            // Many more than the files keep: the newest, in order, none missing.
            let (out, _) = written(driver, o, 2000, &all);
            let first: usize = out[0][5..].parse().unwrap();
            assert!(first > 0, "{driver} {o:?}: the oldest were dropped");
            assert_eq!(out, expect(first..2000, false), "{driver} {o:?}");
        }
    }

    #[test]
    fn tail_takes_the_last_entries_across_files() {
        let opts = LogOptions {
            tail: Some(7),
            ..Default::default()
        };
        for driver in ["json-file", "local"] {
            let (out, err) = written(driver, &["max-size=1k", "max-file=3"], 500, &opts);
            assert_eq!(out, expect(493..500, false), "{driver}");
            assert_eq!(err, expect(493..500, true), "{driver}");
        }
        let none = LogOptions {
            tail: Some(0),
            ..Default::default()
        };
        assert_eq!(written("local", &[], 10, &none), (vec![], vec![]));
    }

    #[test]
    fn a_follower_starts_again_when_the_one_file_is_truncated() {
        for driver in ["json-file", "local"] {
            let o: &[&str] = if driver == "local" {
                &["max-size=1k", "max-file=1", "compress=false"]
            } else {
                &["max-size=1k"]
            };
            let t = tempfile::tempdir().unwrap();
            let c = container(t.path(), driver, o);
            let base = logdriver::log_file(&c, t.path()).unwrap();
            let format = if driver == "local" {
                Format::Local
            } else {
                Format::Json
            };
            let mut w = LogWriter::open(&c, t.path()).unwrap();
            let opts = LogOptions::default();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut n = 0;
            let mut write = |w: &mut LogWriter, k: usize| {
                for _ in 0..k {
                    w.write(false, format!("line {n}\n").as_bytes());
                    n += 1;
                }
                w.flush();
            };
            write(&mut w, 5);
            let mut cur = show_files(&base, format, &opts, &mut out, &mut err).unwrap();
            // Truncated at 1 kB and grown again past where the follower was.
            let per_file = if driver == "local" { 30 } else { 14 };
            write(&mut w, per_file + 10);
            loop {
                let moved =
                    follow_rotation(&base, format, &mut cur, &opts, &mut out, &mut err).unwrap();
                if let Some(r) = cur.as_mut() {
                    while let Some(rec) = r.next().unwrap() {
                        let e = decode(format, &rec).expect("a whole entry, not a piece");
                        emit(&e, &opts, &mut out, &mut err).unwrap();
                    }
                }
                if !moved {
                    break;
                }
            }
            let got: Vec<u32> = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
                .collect();
            assert!(got.windows(2).all(|p| p[0] < p[1]), "{driver}: {got:?}");
            assert_eq!(got.last(), Some(&(n as u32 - 1)), "{driver}: {got:?}");
        }
    }

    #[test]
    fn a_follower_moves_into_the_new_file_and_misses_nothing() {
        for (driver, o) in [
            ("json-file", &["max-size=1k", "max-file=5"][..]),
            ("json-file", &["max-size=1k", "max-file=5", "compress=true"]),
            ("local", &["max-size=1k", "max-file=5"]),
            ("json-file", &["max-size=1k"]),
        ] {
            let t = tempfile::tempdir().unwrap();
            let c = container(t.path(), driver, o);
            let base = logdriver::log_file(&c, t.path()).unwrap();
            let format = if driver == "local" {
                Format::Local
            } else {
                Format::Json
            };
            let mut w = LogWriter::open(&c, t.path()).unwrap();
            let opts = LogOptions::default();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let mut cur = show_files(&base, format, &opts, &mut out, &mut err).unwrap();
            let truncating = o.len() == 1;
            // Rounds of a few rotations each (at most max-file - 1 of them: the follower's
            // file must still be there), and the follower's pass after each.
            let mut n = 0;
            for round in 0..6 {
                let lines = if truncating { 10 } else { 10 + round * 8 };
                for _ in 0..lines {
                    w.write(false, format!("line {n}\n").as_bytes());
                    n += 1;
                }
                w.flush();
                loop {
                    let moved = follow_rotation(&base, format, &mut cur, &opts, &mut out, &mut err)
                        .unwrap();
                    if let Some(r) = cur.as_mut() {
                        while let Some(rec) = r.next().unwrap() {
                            emit(&decode(format, &rec).unwrap(), &opts, &mut out, &mut err)
                                .unwrap();
                        }
                    }
                    if !moved {
                        break;
                    }
                }
            }
            let got: Vec<String> = String::from_utf8(out)
                .unwrap()
                .lines()
                .map(String::from)
                .collect();
            if truncating {
                // max-file=1: the file starts again; what was read stays read.
                assert_eq!(got.last().unwrap(), &format!("line {}", n - 1));
            } else {
                let want: Vec<String> = (0..n).map(|i| format!("line {i}")).collect();
                assert_eq!(got, want, "{driver} {o:?}");
            }
        }
    }
}
