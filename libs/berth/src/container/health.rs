//! Docker's health checks without a daemon (moby `daemon/health.go`): the container's monitor
//! runs its `Config.Healthcheck` on Docker's schedule and records `State.Health`.
//!
//! The monitor stays one small thread: each check is a child process (the monitor's own binary
//! as `berth-monitor --health-probe ID`, which [`probe`] runs) that enters the container as
//! `ctr-exec` does and gives the check the write end of a pipe as stdout and stderr; the
//! monitor polls the read end with its other descriptors, keeps the first 4096 bytes as
//! Docker, learns the exit code from its `reap()` ([`Checker::reaped`]), and at the timeout
//! sends the probe SIGTERM, which it passes on to the check (as Docker's daemon signals the
//! exec'd process), SIGKILL 10 s later.
//!
//! [`Checker`] holds one run's state: the monitor calls [`Checker::on_start`] each time the
//! container starts and [`Checker::on_exit`] when it exits; `State.Health` is kept in the
//! record as it was when the container stopped (as Docker's), and a start makes it `starting`
//! with no failures again, its log kept.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde_json::{json, Value};

use super::engine::Engine;
use super::{Config, Containers, Health, State};
use crate::error::{Error, IoContext, Result};
use crate::root::Root;

/// Docker's `State.Health.Status` values.
pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// Docker's defaults and limits (moby `daemon/health.go`).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u64 = 3;
/// The longest output kept of a check (more is cut and marked `...`).
pub const MAX_OUTPUT: usize = 4096;
/// The results kept in `State.Health.Log`.
pub const MAX_LOG: usize = 5;
/// The shortest time between two releases of the monitor's code pages after checks.
const RELEASE_EVERY: Duration = Duration::from_secs(1);
/// How long a check has to end after SIGTERM before SIGKILL (Docker's exec kill grace).
const TERM_GRACE: Duration = Duration::from_secs(10);

/// The command a health check runs, from Docker's `Test`: `CMD a b` runs `a b`, `CMD-SHELL x`
/// runs the config's Shell (`/bin/sh -c` without one) with `x`; None for `NONE`, no test, or a
/// type Docker does not know (it warns and runs nothing).
pub fn command(config: &Config) -> Option<Vec<String>> {
    let test = config.healthcheck.as_ref()?.test.as_ref()?;
    let (kind, rest) = test.split_first()?;
    let argv: Vec<String> = match kind.as_str() {
        "CMD" => rest.to_vec(),
        "CMD-SHELL" => {
            let mut shell = config
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            shell.extend(rest.iter().cloned());
            shell
        }
        _ => return None,
    };
    (!argv.is_empty()).then_some(argv)
}

/// A check's timing, Docker's defaults where the config has none (or zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub retries: u64,
}

impl Schedule {
    pub fn of(config: &Config) -> Schedule {
        let h = config.healthcheck.clone().unwrap_or_default();
        let d = |v: Option<i64>, default: Duration| match v {
            Some(ns) if ns > 0 => Duration::from_nanos(ns as u64),
            _ => default,
        };
        Schedule {
            interval: d(h.interval, DEFAULT_INTERVAL),
            timeout: d(h.timeout, DEFAULT_TIMEOUT),
            start_period: d(h.start_period, Duration::ZERO),
            retries: match h.retries {
                Some(n) if n > 0 => n as u64,
                _ => DEFAULT_RETRIES,
            },
        }
    }
}

/// One finished check, as Docker's `HealthcheckResult`, and whether it fell in the start period.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
    /// Started within the start period: a failure then does not count while `starting`.
    pub in_start_period: bool,
    pub retries: u64,
}

/// `State.Health` as the container starts (moby `initHealthMonitor`): `starting`, no failures,
/// the log of earlier runs kept.
pub fn on_start(state: &mut State) {
    let h = state.health.get_or_insert_with(Health::default);
    h.status = STARTING.into();
    h.failing_streak = 0;
}

/// Adds a check's result to `State.Health` (moby `handleProbeResult`): the log keeps the last
/// five; exit 0 is healthy and clears the failures; any other code is a failure, which does not
/// count while `starting` in the start period, and `retries` failures in a row make it
/// unhealthy.
pub fn record(state: &mut State, o: &Outcome) {
    let h = state.health.get_or_insert_with(|| Health {
        status: STARTING.into(),
        ..Health::default()
    });
    h.log.push(json!({
        "Start": o.start,
        "End": o.end,
        "ExitCode": o.exit_code,
        "Output": o.output,
    }));
    if h.log.len() > MAX_LOG {
        let extra = h.log.len() - MAX_LOG;
        h.log.drain(..extra);
    }
    if o.exit_code == 0 {
        h.failing_streak = 0;
        h.status = HEALTHY.into();
    } else if !(h.status == STARTING && o.in_start_period) {
        h.failing_streak += 1;
        if h.failing_streak >= o.retries {
            h.status = UNHEALTHY.into();
        }
    }
}

/// Docker's `limitedBuffer`: the first [`MAX_OUTPUT`] bytes, `...` after them when more came.
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    truncated: bool,
}

impl Output {
    pub fn push(&mut self, data: &[u8]) {
        let keep = MAX_OUTPUT.saturating_sub(self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        if keep < data.len() {
            self.truncated = true;
        }
    }

    /// The text (invalid UTF-8 replaced, as Go's JSON does).
    pub fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

/// A check that is running: the probe process and our end of its output pipe.
struct Running {
    pid: i32,
    out: Option<File>,
    output: Output,
    start: String,
    in_start_period: bool,
    deadline: Instant,
    /// When SIGTERM was sent for the timeout; SIGKILL follows after [`TERM_GRACE`] and more.
    termed: Option<Instant>,
    exit: Option<i32>,
}

/// The health checker of one container's monitor.
pub struct Checker {
    schedule: Schedule,
    /// When the current run started (None: the container is not running).
    started: Option<Instant>,
    next: Option<Instant>,
    running: Option<Running>,
    /// When the monitor last released its code pages after a check (see `release_due`).
    released: Option<Instant>,
}

impl Checker {
    /// The checker for a container with a health check, None without one.
    pub fn of(config: &Config) -> Option<Checker> {
        command(config)?;
        Some(Checker {
            schedule: Schedule::of(config),
            started: None,
            next: None,
            running: None,
            released: None,
        })
    }

    /// The container started: the first check comes one interval later.
    pub fn on_start(&mut self) {
        self.stop_probe();
        let now = Instant::now();
        self.started = Some(now);
        self.next = Some(now + self.schedule.interval);
    }

    /// The container exited: a check under way is killed, none is scheduled.
    pub fn on_exit(&mut self) {
        self.stop_probe();
        self.started = None;
        self.next = None;
    }

    fn stop_probe(&mut self) {
        if let Some(r) = self.running.take() {
            if r.exit.is_none() {
                let _ = kill(Pid::from_raw(r.pid), Signal::SIGKILL);
            }
        }
    }

    /// Whether the monitor should release its code pages after the check that just ended: at
    /// most once a second (each release costs a read of /proc/self/smaps, and the next check
    /// faults the pages back in from the page cache).
    pub fn release_due(&mut self) -> bool {
        let now = Instant::now();
        if self
            .released
            .is_some_and(|t| now.duration_since(t) < RELEASE_EVERY)
        {
            return false;
        }
        self.released = Some(now);
        true
    }

    /// The descriptor to poll for the running check's output.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.running.as_ref()?.out.as_ref().map(|f| f.as_fd())
    }

    /// How long the poll may sleep before [`Checker::step`] has something to do.
    pub fn wait(&self) -> Option<Duration> {
        let now = Instant::now();
        let at = match &self.running {
            Some(r) if r.exit.is_some() => return Some(Duration::ZERO),
            Some(r) => match r.termed {
                Some(t) => t + TERM_GRACE,
                None => r.deadline,
            },
            None => self.next?,
        };
        Some(at.saturating_duration_since(now))
    }

    /// The monitor reaped `pid` with `code`: true if it was the running check's probe.
    pub fn reaped(&mut self, pid: i32, code: i32) -> bool {
        match &mut self.running {
            Some(r) if r.pid == pid => {
                r.exit = Some(code);
                true
            }
            _ => false,
        }
    }

    /// Reads the check's output that has come.
    pub fn read_output(&mut self) {
        let Some(r) = self.running.as_mut() else {
            return;
        };
        let Some(f) = r.out.as_mut() else { return };
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) => {
                    r.out = None;
                    return;
                }
                Ok(n) => r.output.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    r.out = None;
                    return;
                }
            }
        }
    }

    /// Does what is due: starts a check (unless `paused` says the container is paused),
    /// times one out, or returns the result of one that ended (the next is then scheduled one
    /// interval after its end, as Docker's).
    pub fn step(
        &mut self,
        root: &Root,
        id: &str,
        paused: impl FnOnce() -> bool,
    ) -> Option<Outcome> {
        let now = Instant::now();
        let started = self.started?;
        let Some(r) = self.running.as_mut() else {
            if self.next.is_some_and(|t| now >= t) {
                if paused() {
                    // As Docker's: no checks while paused.
                    self.next = Some(now + self.schedule.interval);
                    return None;
                }
                let start = berth_runtime::now_rfc3339();
                let in_start_period = now.duration_since(started) < self.schedule.start_period;
                match spawn_probe(root, id) {
                    Ok((pid, out)) => {
                        self.running = Some(Running {
                            pid,
                            out: Some(out),
                            output: Output::default(),
                            start,
                            in_start_period,
                            deadline: now + self.schedule.timeout,
                            termed: None,
                            exit: None,
                        });
                    }
                    Err(e) => {
                        self.next = Some(now + self.schedule.interval);
                        return Some(Outcome {
                            start,
                            end: berth_runtime::now_rfc3339(),
                            exit_code: -1,
                            output: e.to_string(),
                            in_start_period,
                            retries: self.schedule.retries,
                        });
                    }
                }
            }
            return None;
        };
        if r.exit.is_none() {
            match r.termed {
                None if now >= r.deadline => {
                    let _ = kill(Pid::from_raw(r.pid), Signal::SIGTERM);
                    r.termed = Some(now);
                }
                Some(t) if now >= t + TERM_GRACE => {
                    let _ = kill(Pid::from_raw(r.pid), Signal::SIGKILL);
                }
                _ => {}
            }
            return None;
        }
        // Ended: what it wrote before it exited is in the pipe (a process it left behind may
        // keep the pipe open: not waited for).
        self.read_output();
        let r = self.running.take()?;
        self.next = Some(Instant::now() + self.schedule.interval);
        let (exit_code, output) = match r.termed {
            Some(_) => (
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    crate::build::history::go_duration(self.schedule.timeout.as_nanos() as i64)
                ),
            ),
            None => (i64::from(r.exit.unwrap_or(-1)), r.output.text()),
        };
        Some(Outcome {
            start: r.start,
            end: berth_runtime::now_rfc3339(),
            exit_code,
            output,
            in_start_period: r.in_start_period,
            retries: self.schedule.retries,
        })
    }
}

/// Starts the probe of container `id`: this binary (the monitor's sealed copy, through
/// /proc/self/exe) as `berth-monitor --health-probe`, its stdout and stderr one pipe.
fn spawn_probe(root: &Root, id: &str) -> Result<(i32, File)> {
    let (r, w) = super::pipes::pipe()?;
    nix::fcntl::fcntl(
        r.as_raw_fd(),
        nix::fcntl::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|e| Error::io("set up", "a pipe", e.into()))?;
    let w2 = w.try_clone().with_path("duplicate", "a pipe")?;
    let child = Command::new("/proc/self/exe")
        .arg0("berth-monitor")
        .arg("--root")
        .arg(root.dir())
        .arg("--health-probe")
        .arg(id)
        .stdin(Stdio::null())
        .stdout(File::from(w))
        .stderr(File::from(w2))
        .spawn()
        .map_err(|e| Error::Runtime {
            message: format!("start the health check: {e}"),
            code: 125,
        })?;
    // The Command's copies of the write end are gone with it: EOF comes when the check ends.
    Ok((child.id() as i32, File::from(r)))
}

/// `berth-monitor --health-probe ID`: runs container `id`'s health check in it (its namespaces,
/// cgroup and profile: user, environment, working directory, capabilities, seccomp, as
/// `ctr-exec`), stdin /dev/null and our stdout and stderr its own. SIGTERM is passed on to it,
/// SIGKILL follows 10 s later. Returns its exit code (128+signal when killed).
pub fn probe(root: &Root, id: &str) -> Result<i32> {
    let store = Containers::open(root.containers_dir())?;
    let c = store.load(id)?;
    let argv = command(&c.config)
        .ok_or_else(|| Error::InvalidInput(format!("container {id} has no health check")))?;
    let dir = store.path(id);
    let spec = berth_runtime::load_spec(&dir)?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(argv));
    process.set_terminal(Some(false));
    // SIGTERM and SIGCHLD come through a signalfd, blocked before anything is forked.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.add(Signal::SIGTERM);
    mask.thread_block().map_err(|e| Error::Runtime {
        message: format!("block signals: {e}"),
        code: 125,
    })?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Error::Runtime {
            message: format!("signalfd: {e}"),
            code: 125,
        })?;
    berth_runtime::become_subreaper().map_err(Error::from)?;
    let out = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .with_path("duplicate", "stdout")?;
    let err = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .with_path("duplicate", "stderr")?;
    // The process file `runc exec` reads, kept until the check has ended.
    let mut _process_file = None;
    let null: OwnedFd = File::open("/dev/null")
        .with_path("open", "/dev/null")?
        .into();
    let pid = match Engine::of(root, &c) {
        Engine::Builtin(runtime) => {
            let io = berth_runtime::Stdio {
                fds: [Some(null), Some(out), Some(err)],
                terminal: false,
            };
            runtime.exec(id, &process, io).map_err(Error::from)?.pid
        }
        Engine::Oci { binary, state } => {
            let mut file =
                tempfile::NamedTempFile::new().with_path("create", "a temporary file")?;
            serde_json::to_writer(&mut file, &process).map_err(|e| Error::corrupt("process", e))?;
            // `runc exec` passes the signals it gets on to the process.
            let child = Command::new(&binary)
                .arg("--root")
                .arg(&state)
                .arg("exec")
                .arg("--process")
                .arg(file.path())
                .arg(id)
                .stdin(File::from(null))
                .stdout(File::from(out))
                .stderr(File::from(err))
                .spawn()
                .map_err(|e| Error::Runtime {
                    message: format!("run {}: {e}", binary.display()),
                    code: 125,
                })?;
            _process_file = Some(file);
            child.id() as i32
        }
    };
    let mut kill_at: Option<Instant> = None;
    loop {
        let timeout = match kill_at {
            Some(t) => {
                let ms = t.saturating_duration_since(Instant::now()).as_millis();
                PollTimeout::try_from(ms.min(10_000) as i32).unwrap_or(PollTimeout::NONE)
            }
            None => PollTimeout::NONE,
        };
        let mut fds = [PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(Error::Runtime {
                    message: format!("poll: {e}"),
                    code: 125,
                })
            }
        }
        let mut term = false;
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            while let Ok(Some(s)) = sigfd.read_signal() {
                term |= s.ssi_signo == Signal::SIGTERM as u32;
            }
        }
        if term && kill_at.is_none() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            kill_at = Some(Instant::now() + TERM_GRACE);
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        loop {
            match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return Ok(code),
                Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                    return Ok(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }
}

/// The `Log` entries' exit codes (for tests and tools).
pub fn exit_codes(h: &Health) -> Vec<i64> {
    h.log
        .iter()
        .filter_map(|e| e.get("ExitCode").and_then(Value::as_i64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HealthConfig;

    fn config(test: &[&str]) -> Config {
        Config {
            healthcheck: Some(HealthConfig {
                test: Some(test.iter().map(|s| s.to_string()).collect()),
                ..HealthConfig::default()
            }),
            ..Config::default()
        }
    }

    fn outcome(code: i64, in_start_period: bool) -> Outcome {
        Outcome {
            start: "s".into(),
            end: "e".into(),
            exit_code: code,
            output: format!("out {code}"),
            in_start_period,
            retries: 2,
        }
    }

    #[test]
    fn tests_run_as_dockers() {
        assert_eq!(
            command(&config(&["CMD-SHELL", "curl -f x || exit 1"])).unwrap(),
            ["/bin/sh", "-c", "curl -f x || exit 1"]
        );
        assert_eq!(
            command(&config(&["CMD", "/ok", "-q"])).unwrap(),
            ["/ok", "-q"]
        );
        let mut c = config(&["CMD-SHELL", "x"]);
        c.shell = Some(vec!["/bin/bash".into(), "-ec".into()]);
        assert_eq!(command(&c).unwrap(), ["/bin/bash", "-ec", "x"]);
        for none in [&["NONE"][..], &[], &["CMD"], &["WHAT", "x"]] {
            assert_eq!(command(&config(none)), None, "{none:?}");
        }
        assert_eq!(command(&Config::default()), None);
        assert!(Checker::of(&config(&["NONE"])).is_none());
        assert!(Checker::of(&config(&["CMD", "true"])).is_some());
    }

    #[test]
    fn the_schedule_has_dockers_defaults() {
        let s = Schedule::of(&config(&["CMD", "true"]));
        assert_eq!(
            s,
            Schedule {
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(30),
                start_period: Duration::ZERO,
                retries: 3,
            }
        );
        let mut c = config(&["CMD", "true"]);
        let h = c.healthcheck.as_mut().unwrap();
        h.interval = Some(1_000_000_000);
        h.timeout = Some(500_000_000);
        h.start_period = Some(2_000_000_000);
        h.retries = Some(5);
        let s = Schedule::of(&c);
        assert_eq!(s.interval, Duration::from_secs(1));
        assert_eq!(s.timeout, Duration::from_millis(500));
        assert_eq!(s.start_period, Duration::from_secs(2));
        assert_eq!(s.retries, 5);
    }

    #[test]
    fn failures_in_a_row_make_it_unhealthy_and_a_success_healthy() {
        let mut st = State::default();
        on_start(&mut st);
        assert_eq!(st.health_status(), STARTING);
        record(&mut st, &outcome(1, false));
        let h = st.health.as_ref().unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 1));
        record(&mut st, &outcome(1, false));
        let h = st.health.as_ref().unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        // Any non-zero code is a failure (Docker: "including invalid exit code").
        record(&mut st, &outcome(2, false));
        assert_eq!(st.health.as_ref().unwrap().failing_streak, 3);
        record(&mut st, &outcome(0, false));
        let h = st.health.as_ref().unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        record(&mut st, &outcome(-1, false));
        let h = st.health.as_ref().unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 1));
        assert_eq!(exit_codes(h), [1, 1, 2, 0, -1]);
        assert_eq!(
            h.log[0],
            json!({"Start": "s", "End": "e", "ExitCode": 1, "Output": "out 1"})
        );
    }

    #[test]
    fn the_start_period_forgives_failures_until_a_success() {
        let mut st = State::default();
        on_start(&mut st);
        for _ in 0..4 {
            record(&mut st, &outcome(1, true));
        }
        let h = st.health.as_ref().unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        record(&mut st, &outcome(0, true));
        // Healthy now: failures count, start period or not.
        record(&mut st, &outcome(1, true));
        record(&mut st, &outcome(1, true));
        let h = st.health.as_ref().unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
    }

    #[test]
    fn the_log_keeps_five_and_a_start_keeps_it() {
        let mut st = State::default();
        on_start(&mut st);
        for code in 0..8 {
            record(&mut st, &outcome(code, false));
        }
        let h = st.health.as_ref().unwrap();
        assert_eq!(exit_codes(h), [3, 4, 5, 6, 7]);
        assert_eq!(h.status, UNHEALTHY);
        on_start(&mut st);
        let h = st.health.as_ref().unwrap();
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        assert_eq!(exit_codes(h), [3, 4, 5, 6, 7]);
    }

    #[test]
    fn output_is_cut_at_4096_bytes() {
        let mut o = Output::default();
        o.push(b"hello ");
        o.push(b"world");
        assert_eq!(o.text(), "hello world");
        let mut o = Output::default();
        o.push(&[b'a'; 3000]);
        o.push(&[b'b'; 3000]);
        let t = o.text();
        assert_eq!(t.len(), 4096 + 3);
        assert!(t.ends_with("b..."));
        assert_eq!(t.matches('b').count(), 1096);
        let mut o = Output::default();
        o.push(&[b'x'; 4096]);
        assert_eq!(o.text().len(), 4096, "exactly 4096: nothing was cut");
        o.push(b"");
        assert!(!o.text().ends_with("..."));
    }

    #[test]
    fn a_checker_waits_one_interval_then_is_due() {
        let mut c = Checker::of(&config(&["CMD", "true"])).unwrap();
        assert_eq!(c.wait(), None, "not started");
        c.on_start();
        let w = c.wait().unwrap();
        assert!(w > Duration::from_secs(29) && w <= Duration::from_secs(30));
        assert!(!c.reaped(12345, 0), "not its probe");
        c.on_exit();
        assert_eq!(c.wait(), None);
    }
}
