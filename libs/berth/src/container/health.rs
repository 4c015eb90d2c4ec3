//! Docker's health checks without a daemon (moby `daemon/health.go`): the container's monitor
//! runs its `Config.Healthcheck` on Docker's schedule and `State.Health` records the results.
//!
//! The monitor stays one small thread that keeps little code resident: it only keeps the
//! schedule. Each check is a child process, the monitor's own binary as `berth-monitor
//! --health-probe ID` ([`probe`]), which enters the container as `ctr-exec` does, reads the
//! check's stdout and stderr from one pipe (the first 4096 bytes kept, as Docker), and records
//! the result in `State.Health` under the store's lock. The monitor learns that the probe ended
//! from its `reap()` ([`Checker::reaped`]) and schedules the next check one interval later. At
//! the timeout (counted from the check's start, not the probe's) the probe sends the check
//! SIGTERM (as Docker's daemon signals the exec'd process), SIGKILL 10 s later, and records
//! "Health check exceeded timeout"; the monitor kills a probe that hangs beyond that and
//! records the timeout itself.
//!
//! [`Checker`] holds one run's state: the monitor calls [`Checker::on_start`] each time the
//! container starts and [`Checker::on_exit`] when it exits; `State.Health` is kept in the
//! record as it was when the container stopped (as Docker's), and a start makes it `starting`
//! with no failures again, its log kept.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
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
/// What the monitor allows a probe to start the check in before its timeout counts (Docker's
/// limit on starting an exec).
const PROBE_START_ALLOWANCE: Duration = Duration::from_secs(30);
/// How long the monitor gives a probe after its SIGTERM before it kills the probe itself (the
/// probe kills the check at [`TERM_GRACE`] and records the result first).
const KILL_AFTER_TERM: Duration = Duration::from_secs(15);

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

/// A check that is running: its probe process.
struct Running {
    pid: i32,
    start: String,
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

    /// How long the poll may sleep before [`Checker::step`] has something to do.
    pub fn wait(&self) -> Option<Duration> {
        let now = Instant::now();
        let at = match &self.running {
            Some(r) if r.exit.is_some() => return Some(Duration::ZERO),
            Some(r) => match r.termed {
                Some(t) => t + KILL_AFTER_TERM,
                None => r.deadline,
            },
            None => self.next?,
        };
        Some(at.saturating_duration_since(now))
    }

    /// Whether the running check's probe has ended (the next [`Checker::step`] closes it).
    pub fn ended(&self) -> bool {
        self.running.as_ref().is_some_and(|r| r.exit.is_some())
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

    /// Does what is due: starts a check, or times one out. The probe records the result; the
    /// next check is scheduled one interval after it ended (as Docker's). An Outcome is
    /// returned for the monitor to record only where no probe could: it did not start, or it
    /// had to be killed.
    pub fn step(&mut self, root: &Root, id: &str) -> Option<Outcome> {
        let now = Instant::now();
        let started = self.started?;
        let in_start_period = |at: Instant| at.duration_since(started) < self.schedule.start_period;
        let Some(r) = self.running.as_mut() else {
            if self.next.is_some_and(|t| now >= t) {
                let start = berth_runtime::now_rfc3339();
                match spawn_probe(root, id) {
                    Ok(pid) => {
                        self.running = Some(Running {
                            pid,
                            start,
                            // The probe times the check out itself, from when it has
                            // started it (as Docker's, which does not count the exec's
                            // start-up): this is for a probe that hangs.
                            deadline: now + self.schedule.timeout + PROBE_START_ALLOWANCE,
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
                            in_start_period: in_start_period(now),
                            retries: self.schedule.retries,
                        });
                    }
                }
            }
            return None;
        };
        let Some(code) = r.exit else {
            match r.termed {
                None if now >= r.deadline => {
                    let _ = kill(Pid::from_raw(r.pid), Signal::SIGTERM);
                    r.termed = Some(now);
                }
                Some(t) if now >= t + KILL_AFTER_TERM => {
                    let _ = kill(Pid::from_raw(r.pid), Signal::SIGKILL);
                }
                _ => {}
            }
            return None;
        };
        let r = self.running.take()?;
        self.next = Some(now + self.schedule.interval);
        // Killed (it did not end after the SIGTERM): its result is the monitor's to record.
        (r.termed.is_some() && code == 128 + Signal::SIGKILL as i32).then(|| Outcome {
            start: r.start,
            end: berth_runtime::now_rfc3339(),
            exit_code: -1,
            output: timeout_message(self.schedule.timeout),
            in_start_period: false,
            retries: self.schedule.retries,
        })
    }
}

/// Docker 20.10's Output of a check that timed out.
fn timeout_message(timeout: Duration) -> String {
    format!(
        "Health check exceeded timeout ({})",
        crate::build::history::go_duration(timeout.as_nanos() as i64)
    )
}

/// Starts the probe of container `id`: this binary (the monitor's sealed copy, through
/// /proc/self/exe) as `berth-monitor --health-probe`, stdio /dev/null.
fn spawn_probe(root: &Root, id: &str) -> Result<i32> {
    let child = Command::new("/proc/self/exe")
        .arg0("berth-monitor")
        .arg("--root")
        .arg(root.dir())
        .arg("--health-probe")
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Runtime {
            message: format!("start the health check: {e}"),
            code: 125,
        })?;
    Ok(child.id() as i32)
}

/// `berth-monitor --health-probe ID`: runs container `id`'s health check once and records the
/// result in its `State.Health` (nothing while the container is paused, as Docker's).
pub fn probe(root: &Root, id: &str) -> Result<()> {
    let store = Containers::open(root.containers_dir())?;
    let c = store.load(id)?;
    if c.state.paused || !c.state.running {
        return Ok(());
    }
    let schedule = Schedule::of(&c.config);
    let start = berth_runtime::now_rfc3339();
    // Docker's start period counts from State.StartedAt.
    let in_start_period = chrono::DateTime::parse_from_rfc3339(&c.state.started_at)
        .ok()
        .and_then(|t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                .to_std()
                .ok()
        })
        .is_some_and(|d| d < schedule.start_period);
    let (exit_code, output) = match run_check(root, &store, &c, schedule.timeout) {
        Ok(Ran::Exited(code, output)) => (i64::from(code), output),
        Ok(Ran::TimedOut) => (-1, timeout_message(schedule.timeout)),
        // As Docker's when the exec itself fails: -1 and why.
        Err(e) => (-1, e.to_string()),
    };
    let outcome = Outcome {
        start,
        end: berth_runtime::now_rfc3339(),
        exit_code,
        output,
        in_start_period,
        retries: schedule.retries,
    };
    let _lock = store.lock()?;
    let mut now = store.load(id)?;
    // Into the run it was started for only (a restart makes a new run).
    if now.state.running && now.state.started_at == c.state.started_at {
        record(&mut now.state, &outcome);
        store.save(&now)?;
    }
    Ok(())
}

/// How a check ended.
enum Ran {
    /// Its exit code (128+signal when killed) and output.
    Exited(i32, String),
    /// It exceeded its timeout (or the monitor's SIGTERM came): signalled, it has ended.
    TimedOut,
}

/// Runs the check in the container (its namespaces, cgroup and profile: user, environment,
/// working directory, capabilities, seccomp, as `ctr-exec`), stdin /dev/null, stdout and stderr
/// one pipe read here. At `timeout` (or our SIGTERM, the monitor's) it gets SIGTERM, SIGKILL 10 s
/// later.
fn run_check(
    root: &Root,
    store: &Containers,
    c: &super::Container,
    timeout: Duration,
) -> Result<Ran> {
    let argv = command(&c.config)
        .ok_or_else(|| Error::InvalidInput(format!("container {} has no health check", c.id)))?;
    let spec = berth_runtime::load_spec(&store.path(&c.id))?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(argv));
    process.set_terminal(Some(false));
    // SIGTERM and SIGCHLD come through a signalfd, blocked before anything is forked (the
    // check's process starts with no signal blocked: the runtime resets the mask).
    let sigfd = super::signals::nonblocking_signalfd(&[Signal::SIGCHLD, Signal::SIGTERM])?;
    berth_runtime::become_subreaper().map_err(Error::from)?;
    let (r, w) = super::pipes::pipe()?;
    nix::fcntl::fcntl(
        r.as_raw_fd(),
        nix::fcntl::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|e| Error::io("set up", "a pipe", e.into()))?;
    let w2 = w.try_clone().with_path("duplicate", "a pipe")?;
    let null: OwnedFd = File::open("/dev/null")
        .with_path("open", "/dev/null")?
        .into();
    // The process file `runc exec` reads, kept until the check has ended.
    let mut _process_file = None;
    let pid = match Engine::of(root, c) {
        Engine::Builtin(runtime) => {
            let io = berth_runtime::Stdio::fds([Some(null), Some(w), Some(w2)]);
            // A check that cannot start reads as Docker's (runc's error in containerd's words).
            let started = runtime
                .exec(&c.id, &process, io)
                .map_err(|e| Error::Runtime {
                    message: format!(
                        "OCI runtime exec failed: exec failed: unable to start container process: \
                     {e}: unknown"
                    ),
                    code: 126,
                });
            started?.pid
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
                .arg(&c.id)
                .stdin(File::from(null))
                .stdout(File::from(w))
                .stderr(File::from(w2))
                .spawn()
                .map_err(|e| Error::Runtime {
                    message: format!("run {}: {e}", binary.display()),
                    code: 125,
                })?;
            _process_file = Some(file);
            child.id() as i32
        }
    };
    // Our copies of the write end went with the runtime's Stdio (or the Command): EOF comes
    // when the check and what it started are gone.
    let deadline = Instant::now() + timeout;
    let mut out = Some(File::from(r));
    let mut output = Output::default();
    let mut termed = false;
    let mut kill_at: Option<Instant> = None;
    let code = loop {
        let until = kill_at.unwrap_or(deadline);
        let ms = until.saturating_duration_since(Instant::now()).as_millis();
        // Rounded up: a poll that ends early only loops.
        let poll_timeout =
            PollTimeout::try_from(ms.min(10_000) as i32 + 1).unwrap_or(PollTimeout::NONE);
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        if let Some(f) = &out {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
        }
        match nix::poll::poll(&mut fds, poll_timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(Error::Runtime {
                    message: format!("poll: {e}"),
                    code: 125,
                })
            }
        }
        let readable = fds
            .get(1)
            .is_some_and(|p| p.revents().is_some_and(|r| !r.is_empty()));
        drop(fds);
        if readable {
            read_into(&mut out, &mut output);
        }
        let mut term = Instant::now() >= deadline;
        while let Ok(Some(s)) = sigfd.read_signal() {
            term |= s.ssi_signo == Signal::SIGTERM as u32;
        }
        if term && !termed {
            termed = true;
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            kill_at = Some(Instant::now() + TERM_GRACE);
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if let Some(code) = reap(pid) {
            break code;
        }
    };
    // What it wrote before it exited is in the pipe (a process it left behind may keep the
    // pipe open: not waited for).
    read_into(&mut out, &mut output);
    Ok(if termed {
        Ran::TimedOut
    } else {
        Ran::Exited(code, output.text())
    })
}

/// Reads what the pipe has (non-blocking) into `output`; `out` becomes None at its end.
fn read_into(out: &mut Option<File>, output: &mut Output) {
    let Some(f) = out.as_mut() else { return };
    let mut buf = [0u8; 4096];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => output.push(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => break,
        }
    }
    *out = None;
}

/// Reaps exited children; the exit code of `pid` (128+signal) once it is among them.
fn reap(pid: i32) -> Option<i32> {
    loop {
        match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                return Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => {}
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
