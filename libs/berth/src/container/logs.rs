//! Reading a container's log (Docker's json-file format: one JSON object per line with `log`,
//! `stream` and `time`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::time::Duration;

use super::{lifecycle, Container, Containers, Status};
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
}

/// Parses Docker's `--since`/`--until`: RFC 3339 (date or date-time), Unix seconds, or a
/// duration before now (`10m`, `1h30m`, `45s`). Returns RFC 3339 in UTC with nanoseconds.
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

/// Writes the container's log to `out`/`err`, following it while the container runs.
pub fn show(
    store: &Containers,
    c: &Container,
    opts: &LogOptions,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<()> {
    let path = &c.log_path;
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("open the log", path, e)),
    };
    let mut reader = BufReader::new(file);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).with_path("read", path)? == 0 {
            break;
        }
        if line.ends_with('\n') {
            lines.push(std::mem::take(&mut line));
        } else {
            // A line being written: leave it for the follower.
            let back = line.len() as i64;
            reader
                .seek(SeekFrom::Current(-back))
                .with_path("seek", path)?;
            break;
        }
    }
    let skip = match opts.tail {
        Some(n) => lines.len().saturating_sub(n),
        None => 0,
    };
    for l in &lines[skip..] {
        emit(l, opts, out, err)?;
    }
    if !opts.follow {
        return Ok(());
    }
    loop {
        line.clear();
        let n = reader.read_line(&mut line).with_path("read", path)?;
        if n > 0 && line.ends_with('\n') {
            emit(&line, opts, out, err)?;
            continue;
        }
        if n > 0 {
            reader
                .seek(SeekFrom::Current(-(n as i64)))
                .with_path("seek", path)?;
        }
        let now = match store.load(&c.id) {
            Ok(c) => lifecycle::refresh(c),
            Err(_) => return Ok(()),
        };
        if !matches!(
            now.state.status,
            Status::Running | Status::Paused | Status::Created
        ) {
            // Drain what the monitor wrote before it recorded the exit.
            loop {
                line.clear();
                if reader.read_line(&mut line).with_path("read", path)? == 0 {
                    return Ok(());
                }
                emit(&line, opts, out, err)?;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn emit(line: &str, opts: &LogOptions, out: &mut impl Write, err: &mut impl Write) -> Result<()> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
        return Ok(());
    };
    let time = v["time"].as_str().unwrap_or("");
    let t = normalise(time);
    if opts.since.as_ref().is_some_and(|s| t < *s) || opts.until.as_ref().is_some_and(|u| t > *u) {
        return Ok(());
    }
    let text = v["log"].as_str().unwrap_or("");
    let w: &mut dyn Write = if v["stream"] == "stderr" { err } else { out };
    let r = if opts.timestamps {
        write!(w, "{time} {text}")
    } else {
        w.write_all(text.as_bytes())
    };
    r.map_err(|e| Error::stream("stdout", e))?;
    w.flush().map_err(|e| Error::stream("stdout", e))
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
}
