//! How long registry requests may take ([`Deadlines`]), and the throughput rule that bounds a
//! blob transfer of any size ([`Watchdog`]).

use std::io::Read;
use std::time::{Duration, Instant};

/// How long registry requests may take, so that a registry that stalls or trickles cannot keep
/// a tool waiting for hours.
///
/// - A small request (the `/v2/` probe, a token, a manifest, a config, a HEAD, an upload's
///   start or end, a manifest PUT) has `request` in all, from connecting to its last byte.
/// - A blob, which can be any size, has no total deadline but must keep moving: it fails when
///   fewer than [`MIN_BYTES_PER_WINDOW`] bytes arrive (or leave, for an upload) in a `window`,
///   and when its answer has not begun within `request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub request: Duration,
    pub window: Duration,
}

/// The least a blob transfer must move in a [`Deadlines::window`] (1 KiB: a trickle is a stall).
pub const MIN_BYTES_PER_WINDOW: u64 = 1024;

impl Deadlines {
    /// One value for both: `BERTH_REGISTRY_TIMEOUT` seconds (or the older
    /// `BERTH_HTTP_TIMEOUT`), 60 s when unset. A trickle of a byte every 20 s then fails after
    /// 60 s ("stalled: 3 bytes in 60 s"), and so does a blob that stops (instead of 5 minutes of
    /// read timeouts and retries).
    pub fn new(timeout: Option<Duration>) -> Deadlines {
        let t = timeout
            .or_else(|| {
                ["BERTH_REGISTRY_TIMEOUT", "BERTH_HTTP_TIMEOUT"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok())
                    .find_map(|s| s.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map(Duration::from_secs_f64)
            })
            .unwrap_or(Duration::from_secs(60));
        Deadlines {
            request: t,
            window: t,
        }
    }
}

/// Which deadline a request has (see [`Deadlines`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// All of the request within [`Deadlines::request`].
    Whole,
    /// A blob: the caller reads the body and applies the throughput rule ([`Watchdog`]).
    Stream,
}

/// The throughput rule of a blob transfer: counts bytes per window and fails when a window
/// ends with fewer than [`MIN_BYTES_PER_WINDOW`] in it.
#[derive(Debug)]
pub struct Watchdog {
    window: Duration,
    start: Instant,
    bytes: u64,
}

impl Watchdog {
    pub fn new(deadlines: &Deadlines) -> Watchdog {
        Watchdog {
            window: deadlines.window,
            start: Instant::now(),
            bytes: 0,
        }
    }

    /// Records `n` bytes moved; Err("stalled: N bytes in S s") when the window that just
    /// ended moved too little.
    pub fn moved(&mut self, n: u64) -> std::result::Result<(), String> {
        self.bytes += n;
        let elapsed = self.start.elapsed();
        if elapsed < self.window {
            return Ok(());
        }
        if self.bytes < MIN_BYTES_PER_WINDOW {
            return Err(format!(
                "stalled: {} bytes in {} (less than {MIN_BYTES_PER_WINDOW} bytes in {})",
                self.bytes,
                seconds(elapsed),
                seconds(self.window)
            ));
        }
        self.start = Instant::now();
        self.bytes = 0;
        Ok(())
    }

    /// What a transfer says when a read got nothing for a whole window.
    pub fn silent(&self) -> String {
        format!(
            "stalled: nothing arrived for {} ({} bytes in the last {})",
            seconds(self.window),
            self.bytes,
            seconds(self.start.elapsed())
        )
    }
}

/// An upload's body under the throughput rule: ureq reads the next piece once the last one
/// is written, so a registry that takes a byte now and then fails the upload once a window
/// moved less than [`MIN_BYTES_PER_WINDOW`] (a `TimedOut` error, not retried).
pub(crate) struct Watched<R> {
    pub(crate) inner: R,
    pub(crate) dog: Watchdog,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.dog
                .moved(n as u64)
                .map_err(|why| std::io::Error::new(std::io::ErrorKind::TimedOut, why))?;
        }
        Ok(n)
    }
}

/// `60 s`, `2.5 s`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if (s - s.round()).abs() < 0.05 {
        format!("{} s", s.round() as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// Whether an I/O error from reading a body is a timeout.
pub fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    ) || ureq_timeout(e).is_some()
}

/// The ureq timeout an I/O error from reading a body carries, if any.
pub fn ureq_timeout(e: &std::io::Error) -> Option<ureq::Timeout> {
    match e.get_ref()?.downcast_ref::<ureq::Error>()? {
        ureq::Error::Timeout(t) => Some(*t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_come_from_the_environment_or_default_to_a_minute() {
        let d = Deadlines::new(Some(Duration::from_millis(2500)));
        assert_eq!(d.request, Duration::from_millis(2500));
        assert_eq!(d.window, Duration::from_millis(2500));
        assert_eq!(seconds(Duration::from_secs(60)), "60 s");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5 s");
    }

    #[test]
    fn the_watchdog_fails_a_trickle_and_passes_a_steady_flow() {
        let deadlines = Deadlines {
            request: Duration::from_millis(50),
            window: Duration::from_millis(50),
        };
        // A trickle: a byte now and then; once a window is over it fails, naming the bytes.
        let mut w = Watchdog::new(&deadlines);
        let mut failed = None;
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(20));
            if let Err(e) = w.moved(1) {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("a trickle fails");
        assert!(e.starts_with("stalled: "), "{e}");
        assert!(e.contains(" bytes in "), "{e}");
        // A steady flow: more than the minimum in every window goes on.
        let mut w = Watchdog::new(&deadlines);
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(20));
            w.moved(MIN_BYTES_PER_WINDOW).expect("a steady flow passes");
        }
        assert!(w.silent().starts_with("stalled: nothing arrived for "));
    }

    #[test]
    fn an_upload_that_stops_moving_fails() {
        let deadlines = Deadlines {
            request: Duration::from_millis(30),
            window: Duration::from_millis(30),
        };
        // The body is read a byte at a time, slower than the rule allows.
        let mut w = Watched {
            inner: std::io::repeat(7).take(1 << 20),
            dog: Watchdog::new(&deadlines),
        };
        let mut byte = [0u8; 1];
        let err = loop {
            std::thread::sleep(Duration::from_millis(10));
            if let Err(e) = w.read(&mut byte) {
                break e;
            }
        };
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(err.to_string().starts_with("stalled: "), "{err}");
        // A small body read at once, then its end after the window: not a stall.
        let mut w = Watched {
            inner: std::io::repeat(7).take(10),
            dog: Watchdog::new(&deadlines),
        };
        let mut buf = [0u8; 64];
        assert_eq!(w.read(&mut buf).unwrap(), 10);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(w.read(&mut buf).unwrap(), 0);
    }
}
