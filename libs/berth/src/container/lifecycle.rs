//! Starting, stopping, signalling, waiting for and removing containers: what the ctr-* tools
//! call. The monitor (`berth-monitor`) does the work that must outlive a tool.

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::attach::{self, DetachKeys, Hello};
use super::signals::{self, Watch};
use super::{liveness, monitor, rootfs, Container, Containers, Status};
use crate::error::{Error, IoContext, Result};
use crate::root::Root;

/// The monitor's binary: `$BERTH_MONITOR`, or `berth-monitor` beside the running tool.
pub fn monitor_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_MONITOR") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("berth-monitor")))
        .unwrap_or_else(|| PathBuf::from("berth-monitor"))
}

/// The command that runs the monitor: [`monitor_binary`], or, where no `berth-monitor` link
/// sits beside the running multicall binary (`berth ctr-run …` from its build directory), that
/// binary itself started as `berth-monitor`.
fn monitor_command() -> Command {
    let bin = monitor_binary();
    if std::env::var_os("BERTH_MONITOR").is_none() && !bin.exists() {
        if let Ok(exe) = std::env::current_exe() {
            use std::os::unix::process::CommandExt;
            let mut cmd = Command::new(exe);
            cmd.arg0("berth-monitor");
            return cmd;
        }
    }
    Command::new(bin)
}

/// The record with its state corrected when the processes it names are gone (a monitor killed
/// with SIGKILL, a reboot): such a container is exited.
pub fn refresh(c: Container) -> Container {
    super::liveness::refresh(&c)
}

/// Which streams a client attaches to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Pass the signals the client gets on to the container's init (`--sig-proxy`; the tool
    /// decides when, as Docker's: ctr-run always, ctr-start and ctr-attach without a tty).
    pub sig_proxy: bool,
}

/// What starting produced.
#[derive(Debug)]
pub enum Started {
    /// Started, not attached (or already running).
    Detached,
    /// Attached until the container exited with this code.
    Exited(i32),
    /// Attached, then the user detached (the detach keys); the container runs on.
    UserDetached,
}

/// Starts a created or exited container: forks its monitor, which creates it in the runtime,
/// then asks for the start (attached to `attach` when given). A running container is left as it
/// is, as `docker start`.
pub fn start(
    root: &Root,
    name: &str,
    attach: Option<Streams>,
    detach_keys: &str,
) -> Result<Started> {
    let store = Containers::open(root.containers_dir())?;
    let c = refresh(store.find(name)?);
    if matches!(
        c.state.status,
        Status::Running | Status::Paused | Status::Restarting
    ) {
        return match attach {
            Some(s) => attach_to(&store, &c, s, detach_keys),
            None => Ok(Started::Detached),
        };
    }
    let mut monitor = None;
    let r = start_monitor(root, &store, &c, attach, detach_keys, &mut monitor);
    if r.is_err() && auto_remove(&c) {
        // As Docker: an --rm container that could not start is removed, with its anonymous
        // volumes, once its monitor has given up (or it has ended under us some other way).
        if let Some(child) = monitor.as_mut() {
            wait_child(child, Duration::from_secs(10));
        }
        let ended = store
            .load(&c.id)
            .map(|now| !liveness::is_live(&now))
            .unwrap_or(false);
        if ended {
            let _ = super::orchestrate::remove_with_volumes(root, &c.id);
        }
    }
    r
}

/// The containers that the boot-time start (`ctr-start --restart-policies`) starts, as Docker's
/// daemon does when it starts: those not running whose restart policy says so (`always`;
/// `unless-stopped` not stopped by hand; `on-failure` whose last run failed, with retries left),
/// and that have run before. After a reboot every record that said running is exited (its
/// processes are gone), so each of them counts. Oldest first, as they were created.
pub fn restart_policy_candidates(root: &Root) -> Result<Vec<Container>> {
    let store = Containers::open(root.containers_dir())?;
    let mut out: Vec<Container> = store
        .list()?
        .into_iter()
        .map(refresh)
        .filter(|c| {
            let s = &c.state;
            !matches!(
                s.status,
                Status::Running | Status::Paused | Status::Restarting
            ) && super::restart::starts_at_boot(
                &c.host_config.restart_policy,
                s.exit_code,
                s.has_been_manually_stopped,
                c.restart_count,
                !s.started_at.is_empty() && s.started_at != super::ZERO_TIME,
            )
        })
        .collect();
    out.sort_by(|a, b| a.created.cmp(&b.created));
    Ok(out)
}

/// Whether the container is removed when it exits (`--rm`).
pub fn auto_remove(c: &Container) -> bool {
    c.host_config.auto_remove
}

/// Waits up to `timeout` for a child to end (reaping it).
fn wait_child(child: &mut std::process::Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Forks the container's monitor (kept in `monitor`), waits for its answer (the container is
/// created in the runtime) and connects to its attach socket.
fn spawn_monitor(
    root: &Root,
    store: &Containers,
    c: &Container,
    monitor: &mut Option<std::process::Child>,
) -> Result<UnixStream> {
    let dir = store.path(&c.id);
    let child = monitor_command()
        .arg("--root")
        .arg(root.dir())
        .arg(&c.id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Runtime {
            message: format!("run the monitor {}: {e}", monitor_binary().display()),
            code: 125,
        })?;
    let child = monitor.insert(child);
    let mut line = String::new();
    let out = child.stdout.take().expect("piped");
    BufReader::new(out)
        .read_line(&mut line)
        .map_err(|e| Error::stream("the monitor's answer", e))?;
    let answer: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(
        |_| serde_json::json!({"error": "the monitor exited without an answer", "code": 125}),
    );
    if let Some(err) = answer["error"].as_str() {
        let _ = child.wait();
        return Err(Error::Runtime {
            message: err.to_string(),
            code: answer["code"].as_u64().unwrap_or(125) as u8,
        });
    }
    // The monitor lives on; whoever is its parent later reaps it (init once we exit, or we
    // when we stay attached until the end).
    monitor::connect(&dir)
}

/// Forks the container's monitor (kept in `monitor`) and asks it for the start.
fn start_monitor(
    root: &Root,
    store: &Containers,
    c: &Container,
    attach: Option<Streams>,
    detach_keys: &str,
    monitor: &mut Option<std::process::Child>,
) -> Result<Started> {
    let mut sock = spawn_monitor(root, store, c, monitor)?;
    let child = monitor.as_mut().expect("spawn_monitor keeps the child");
    let streams = attach.unwrap_or_default();
    // Blocked before the start, so that a signal that comes meanwhile waits for the container
    // instead of ending us (the monitor, our only child, already runs with its own mask).
    let watch = match attach {
        Some(s) => Watch::block(s.sig_proxy, tty_of(c) && signals::stdout_is_tty())?,
        None => None,
    };
    send_hello(&mut sock, true, streams)?;
    match attach {
        None => {
            // Wait for the answer to the start, then leave.
            let mut r = sock.try_clone().with_path("use", "the attach socket")?;
            loop {
                match attach::read_frame(&mut r).map_err(|e| Error::stream("attach socket", e))? {
                    Some((attach::STARTED, p)) => {
                        return started_reply(&p).map(|_| Started::Detached)
                    }
                    Some(_) => continue,
                    None => {
                        return Err(Error::Runtime {
                            message: "the monitor closed the connection before the start".into(),
                            code: 125,
                        })
                    }
                }
            }
        }
        Some(s) => {
            let session = Session {
                store: store.clone(),
                c: c.clone(),
                watch,
                starting: true,
            };
            let r = relay(sock, s, session, detach_keys);
            if let Ok(Started::Exited(_)) = r {
                // It has sent the exit and ends now: wait, so that nothing of the container
                // (the monitor included) outlives `ctr-run`. Unless its restart policy starts
                // it again (the record says so before the exit is sent): then the monitor
                // lives on, as Docker's container does after `docker run` returns.
                let restarting = store.load(&c.id).is_ok_and(|now| now.state.restarting);
                if !restarting {
                    let _ = child.wait();
                }
            }
            r
        }
    }
}

/// Starts container `name` (created, or exited) and waits for its end: `stdin`, when given, is
/// its standard input, closed after (the container must have been created with `-i`); what it
/// writes to stdout and stderr goes to `out` as it comes. Returns its exit code, once its
/// monitor has recorded it and is gone. A start that fails (a command not found: code 127) is
/// an error. The builder's RUN runs this way.
pub fn run_to_writer(
    root: &Root,
    name: &str,
    stdin: Option<&[u8]>,
    out: &mut (dyn Write + Send),
) -> Result<i32> {
    let store = Containers::open(root.containers_dir())?;
    let c = refresh(store.find(name)?);
    let mut monitor = None;
    let r = (|| -> Result<i32> {
        let mut sock = spawn_monitor(root, &store, &c, &mut monitor)?;
        let streams = Streams {
            stdin: stdin.is_some(),
            stdout: true,
            stderr: true,
            sig_proxy: false,
        };
        send_hello(&mut sock, true, streams)?;
        let mut w = sock.try_clone().with_path("use", "the attach socket")?;
        std::thread::scope(|scope| {
            if let Some(data) = stdin {
                // Its own thread: the container may write more than a socket holds before
                // it reads its input.
                scope.spawn(move || {
                    for chunk in data.chunks(32 << 10) {
                        if attach::write_frame(&mut w, attach::STDIN, chunk).is_err() {
                            return;
                        }
                    }
                    let _ = attach::write_frame(&mut w, attach::STDIN_EOF, &[]);
                });
            }
            loop {
                match attach::read_frame(&mut sock) {
                    Ok(Some((attach::STDOUT | attach::STDERR, p))) => out
                        .write_all(&p)
                        .map_err(|e| Error::stream("write the container's output", e))?,
                    Ok(Some((attach::STARTED, p))) => {
                        if let Err(e) = started_reply(&p) {
                            let _ = sock.shutdown(std::net::Shutdown::Both);
                            return Err(e);
                        }
                    }
                    Ok(Some((attach::EXIT, p))) => {
                        let e: attach::Exit = serde_json::from_slice(&p).unwrap_or_default();
                        let _ = sock.shutdown(std::net::Shutdown::Both);
                        return Ok(e.exit_code);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => {
                        let _ = sock.shutdown(std::net::Shutdown::Both);
                        return Err(Error::Runtime {
                            message: "lost the connection to the container's monitor".into(),
                            code: 125,
                        });
                    }
                }
            }
        })
    })();
    if let Some(child) = monitor.as_mut() {
        // It has recorded the exit (or the failed start) and ends now.
        wait_child(child, Duration::from_secs(30));
    }
    let _ = out.flush();
    r
}

fn tty_of(c: &Container) -> bool {
    c.config.tty.unwrap_or(false)
}

fn started_reply(payload: &[u8]) -> Result<i32> {
    let s: attach::Started = serde_json::from_slice(payload).unwrap_or_default();
    match s.error {
        Some(e) => Err(Error::Runtime {
            message: e,
            code: if s.code == 0 { 125 } else { s.code },
        }),
        None => Ok(s.pid),
    }
}

fn send_hello(sock: &mut UnixStream, start: bool, s: Streams) -> Result<()> {
    let hello = Hello {
        start,
        stdin: s.stdin,
        stdout: s.stdout,
        stderr: s.stderr,
    };
    let mut line = serde_json::to_vec(&hello).expect("serialises");
    line.push(b'\n');
    sock.write_all(&line)
        .map_err(|e| Error::stream("attach socket", e))
}

/// Whether `docker attach` would attach to the container: Docker's refusals (exit 1) for one
/// that is not running, paused or restarting.
pub fn check_attachable(c: &Container) -> Result<()> {
    let why = match c.state.status {
        Status::Running => return Ok(()),
        Status::Paused => "you cannot attach to a paused container, unpause it first",
        Status::Restarting => {
            "you cannot attach to a restarting container, wait until it is running"
        }
        _ => "you cannot attach to a stopped container, start it first",
    };
    Err(Error::Runtime {
        message: format!("{} ({})", why, c.name),
        code: 1,
    })
}

/// Attaches to a running container.
pub fn attach_to(
    store: &Containers,
    c: &Container,
    s: Streams,
    detach_keys: &str,
) -> Result<Started> {
    if c.state.status != Status::Running && c.state.status != Status::Paused {
        return Err(Error::Conflict(format!(
            "you cannot attach to a stopped container, start it first ({})",
            c.name
        )));
    }
    let watch = Watch::block(s.sig_proxy, tty_of(c) && signals::stdout_is_tty())?;
    let mut sock = monitor::connect(&store.path(&c.id))?;
    send_hello(&mut sock, false, s)?;
    let session = Session {
        store: store.clone(),
        c: c.clone(),
        watch,
        starting: false,
    };
    relay(sock, s, session, detach_keys)
}

/// What [`relay`] needs besides the socket: the container, and the signals it takes.
struct Session {
    store: Containers,
    c: Container,
    watch: Option<Watch>,
    /// Whether the container is being started: signals wait for its start.
    starting: bool,
}

/// Acts on the signals `watch` takes, until it fails: SIGWINCH resizes the container's pty to
/// our terminal's size, the others go to the container's init (errors ignored, as Docker's).
fn serve_signals(watch: Watch, store: Containers, id: String, w: Arc<Mutex<UnixStream>>) {
    while let Some(sig) = watch.next() {
        if sig == Signal::SIGWINCH {
            if let Some(ws) = signals::stdout_size() {
                send_resize(&w, ws.ws_row, ws.ws_col);
            }
            continue;
        }
        if let Ok(c) = store.load(&id) {
            let c = refresh(c);
            if matches!(c.state.status, Status::Running | Status::Paused) {
                let _ = signal_init(&c, sig);
            }
        }
    }
}

/// Asks the monitor to resize the container's pty.
fn send_resize(w: &Mutex<UnixStream>, rows: u16, cols: u16) {
    let mut p = rows.to_be_bytes().to_vec();
    p.extend_from_slice(&cols.to_be_bytes());
    if let Ok(mut w) = w.lock() {
        let _ = attach::write_frame(&mut *w, attach::RESIZE, &p);
    }
}

/// Passes our stdin to the container and its output to ours until it exits or the user types
/// the detach keys; meanwhile passes on the signals `session.watch` takes.
fn relay(sock: UnixStream, s: Streams, session: Session, detach_keys: &str) -> Result<Started> {
    let mut keys = DetachKeys::parse(detach_keys).map_err(Error::Usage)?;
    let tty = tty_of(&session.c);
    let stdin_is_tty = signals::stdin_is_tty();
    let _raw = if tty && s.stdin && stdin_is_tty {
        RawMode::enter()
    } else {
        None
    };
    let w = Arc::new(Mutex::new(
        sock.try_clone().with_path("use", "the attach socket")?,
    ));
    if tty && signals::stdout_is_tty() {
        // As Docker's MonitorTtySize: the size now, then at each SIGWINCH. Attaching to a
        // running container, first one row and column more, so that what runs there redraws
        // (Docker's resizeTTY does the same).
        if let Some(ws) = signals::stdout_size() {
            if !session.starting {
                send_resize(&w, ws.ws_row.saturating_add(1), ws.ws_col.saturating_add(1));
            }
            send_resize(&w, ws.ws_row, ws.ws_col);
        }
    }
    let Session {
        store,
        c,
        mut watch,
        starting,
    } = session;
    let w_signals = w.clone();
    let serve = move |watch: Watch| {
        let (store, id, w) = (store.clone(), c.id.clone(), w_signals.clone());
        std::thread::spawn(move || serve_signals(watch, store, id, w));
    };
    if !starting {
        if let Some(watch) = watch.take() {
            serve(watch);
        }
    }
    let (detached_tx, detached_rx) = std::sync::mpsc::channel::<()>();
    if s.stdin {
        // Through the lock that the resizes take too, so that frames never interleave.
        let w = w.clone();
        let send = move |kind: u8, data: &[u8]| match w.lock() {
            Ok(mut w) => attach::write_frame(&mut *w, kind, data),
            Err(_) => Err(io::ErrorKind::BrokenPipe.into()),
        };
        let watch_keys = stdin_is_tty;
        let r_shutdown = sock.try_clone().with_path("use", "the attach socket")?;
        std::thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut buf = [0u8; 8192];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = send(attach::STDIN_EOF, &[]);
                        return;
                    }
                    Ok(n) => n,
                };
                let (data, detach) = if watch_keys {
                    keys.feed(&buf[..n])
                } else {
                    (buf[..n].to_vec(), false)
                };
                if !data.is_empty() && send(attach::STDIN, &data).is_err() {
                    return;
                }
                if detach {
                    let _ = detached_tx.send(());
                    let _ = r_shutdown.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        });
    }
    let mut r = sock;
    let mut out = io::stdout();
    let mut err = io::stderr();
    loop {
        let frame = attach::read_frame(&mut r);
        if detached_rx.try_recv().is_ok() {
            return Ok(Started::UserDetached);
        }
        match frame {
            Ok(Some((attach::STDOUT, p))) => {
                let _ = out.write_all(&p);
                let _ = out.flush();
            }
            Ok(Some((attach::STDERR, p))) => {
                let _ = err.write_all(&p);
            }
            Ok(Some((attach::STARTED, p))) => {
                started_reply(&p)?;
                // Started: the signals that came meanwhile (and all later ones) go to it now.
                if let Some(watch) = watch.take() {
                    serve(watch);
                }
            }
            Ok(Some((attach::EXIT, p))) => {
                let e: attach::Exit = serde_json::from_slice(&p).unwrap_or_default();
                return Ok(Started::Exited(e.exit_code));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                if detached_rx.try_recv().is_ok() {
                    return Ok(Started::UserDetached);
                }
                return Err(Error::Runtime {
                    message: "lost the connection to the container's monitor".into(),
                    code: 125,
                });
            }
        }
    }
}

/// The terminal in raw mode until dropped.
pub struct RawMode(rustix::termios::Termios);

impl RawMode {
    /// Raw mode when stdin is a terminal.
    pub fn enter_if_tty() -> Option<RawMode> {
        if rustix::termios::isatty(rustix::stdio::stdin()) {
            RawMode::enter()
        } else {
            None
        }
    }

    fn enter() -> Option<RawMode> {
        let fd = rustix::stdio::stdin();
        let old = rustix::termios::tcgetattr(fd).ok()?;
        let mut raw = old.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw).ok()?;
        Some(RawMode(old))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            rustix::stdio::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.0,
        );
    }
}

/// What ctr-stop's and ctr-restart's `-t` and `-s` ask for (their clap side is ctr-stop's).
#[derive(Debug, Clone, Default)]
pub struct StopOptions {
    /// Seconds to wait for the stop before SIGKILL (-1: wait forever; None: the container's).
    pub time: Option<i64>,
    /// The signal to send first, instead of the container's stop signal.
    pub signal: Option<String>,
}

impl StopOptions {
    /// Stops `name` as these flags say.
    pub fn stop(&self, root: &Root, name: &str) -> Result<Container> {
        let sig = self.signal.as_deref().map(parse_signal).transpose()?;
        stop(root, name, self.time, sig)
    }
}

/// Parses a signal as Docker takes it: `SIGTERM`, `TERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || Error::InvalidInput(format!("invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// The signal that stops the container: its StopSignal, or SIGTERM.
pub fn stop_signal(c: &Container) -> Result<Signal> {
    match c.config.stop_signal.as_deref() {
        Some(s) if !s.is_empty() => parse_signal(s),
        _ => Ok(Signal::SIGTERM),
    }
}

/// Sends `sig` to the container's init. A container that is not running is an error (as
/// `docker kill`).
pub fn kill(root: &Root, name: &str, sig: Signal) -> Result<Container> {
    let store = Containers::open(root.containers_dir())?;
    let c = refresh(store.find(name)?);
    if c.state.status == Status::Restarting {
        // As Docker's: between two runs there is no process to signal; marking it stopped by
        // hand is enough for its monitor not to start it again.
        mark_stopped(&store, &c.id)?;
        return wait_record(&store, &c);
    }
    if c.state.status != Status::Running && c.state.status != Status::Paused {
        return Err(Error::Conflict(format!(
            "container {} is not running",
            c.id
        )));
    }
    mark_stopped(&store, &c.id)?;
    signal_init(&c, sig)?;
    if sig == Signal::SIGKILL {
        // As Docker: a KILL returns once the container is gone and its exit is recorded, so
        // that `ctr-kill x && ctr-rm x` works.
        wait_gone(&c, Duration::from_secs(30));
        return wait_record(&store, &c);
    }
    Ok(c)
}

/// Marks the container stopped by hand (Docker's `HasBeenManuallyStopped`), before it is
/// signalled: its monitor then does not start it again whatever its restart policy, until the
/// next `ctr-start`.
fn mark_stopped(store: &Containers, id: &str) -> Result<()> {
    let _lock = store.lock()?;
    let mut c = store.load(id)?;
    if !c.state.has_been_manually_stopped {
        c.state.has_been_manually_stopped = true;
        store.save(&c)?;
    }
    Ok(())
}

fn signal_init(c: &Container, sig: Signal) -> Result<()> {
    if !berth_runtime::state::alive(c.state.pid, c.state.pid_start) {
        return Ok(());
    }
    nix::sys::signal::kill(Pid::from_raw(c.state.pid), sig).map_err(|e| Error::Runtime {
        message: format!("kill container {} with {sig}: {e}", c.id),
        code: 1,
    })
}

/// Stops a running container: its stop signal, then SIGKILL after `timeout` seconds (the
/// container's StopTimeout, or 10). Returns the record once the monitor has written the exit.
pub fn stop(
    root: &Root,
    name: &str,
    timeout: Option<i64>,
    signal: Option<Signal>,
) -> Result<Container> {
    let store = Containers::open(root.containers_dir())?;
    let c = refresh(store.find(name)?);
    if c.state.status == Status::Restarting {
        mark_stopped(&store, &c.id)?;
        return wait_record(&store, &c);
    }
    if c.state.status != Status::Running && c.state.status != Status::Paused {
        return Ok(c);
    }
    mark_stopped(&store, &c.id)?;
    let sig = match signal {
        Some(s) => s,
        None => stop_signal(&c)?,
    };
    let timeout = timeout.or(c.config.stop_timeout).unwrap_or(10);
    if c.state.status == Status::Paused {
        // A frozen process cannot take the signal: thaw it first (Docker does the same).
        let _ = monitor::builtin_runtime(root).resume(&c.id);
    }
    signal_init(&c, sig)?;
    if timeout < 0 || !wait_gone(&c, Duration::from_secs(timeout as u64)) {
        signal_init(&c, Signal::SIGKILL)?;
        wait_gone(&c, Duration::from_secs(30));
    }
    wait_record(&store, &c)
}

/// Waits until the container's processes are gone; false on timeout.
fn wait_gone(c: &Container, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while berth_runtime::state::alive(c.state.pid, c.state.pid_start) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Waits until the monitor `c` names has finished (written the exit, unmounted, removed what
/// `--rm` asks) and is gone, and returns the record.
fn wait_record(store: &Containers, c: &Container) -> Result<Container> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let (pid, start) = (c.state.monitor_pid, c.state.monitor_start);
    while pid > 0 && berth_runtime::state::alive(pid, start) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    match store.load(&c.id) {
        Ok(c) => Ok(refresh(c)),
        // Removed by its monitor (--rm): the last record we had, exited.
        Err(Error::ContainerNotFound(_)) => Ok(refresh(c.clone())),
        Err(e) => Err(e),
    }
}

/// Blocks until the container is not running, and returns its exit code (as `docker wait`).
pub fn wait(root: &Root, name: &str) -> Result<i32> {
    let store = Containers::open(root.containers_dir())?;
    let id = store.resolve(name)?;
    // A run that ends with a restart to come ends the wait too (Docker's `SetRestarting` fires
    // the waiters), but not the run that had ended when we came: only a later one.
    let mut ended_before: Option<String> = None;
    let mut first = true;
    loop {
        let c = match store.load(&id) {
            Ok(c) if liveness::says_live(&c.state) && !liveness::is_live(&c) => {
                // Its monitor may have recorded the exit and ended between our read and the
                // check: read again, now that it is gone, before calling the exit lost.
                match store.load(&id) {
                    Ok(again) => refresh(again),
                    Err(Error::ContainerNotFound(_)) => return Ok(0),
                    Err(e) => return Err(e),
                }
            }
            Ok(c) => refresh(c),
            // Removed meanwhile (--rm): Docker reports the code it had; we lost it.
            Err(Error::ContainerNotFound(_)) => return Ok(0),
            Err(e) => return Err(e),
        };
        if !matches!(
            c.state.status,
            Status::Running | Status::Paused | Status::Restarting
        ) {
            return Ok(c.state.exit_code);
        }
        if c.state.status == Status::Restarting {
            if first {
                ended_before = Some(c.state.finished_at.clone());
            } else if ended_before.as_deref() != Some(c.state.finished_at.as_str()) {
                return Ok(c.state.exit_code);
            }
        }
        first = false;
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes a container that is not running; with `force`, kills it first (as `docker rm -f`).
pub fn rm(root: &Root, name: &str, force: bool) -> Result<String> {
    let store = Containers::open(root.containers_dir())?;
    let c = refresh(store.find(name)?);
    if matches!(
        c.state.status,
        Status::Running | Status::Paused | Status::Restarting
    ) {
        if !force {
            return Err(Error::Conflict(format!(
                "cannot remove container \"/{}\": container is {}: stop the container before removing or force remove",
                c.name, c.state.status
            )));
        }
        if c.state.status == Status::Paused {
            let _ = monitor::builtin_runtime(root).resume(&c.id);
        }
        // Its restart policy must not start it again under us.
        mark_stopped(&store, &c.id)?;
        signal_init(&c, Signal::SIGKILL)?;
        wait_gone(&c, Duration::from_secs(30));
        wait_record(&store, &c)?;
    }
    remove(root, &c.id)?;
    Ok(c.id)
}

/// Removes everything of container `id`: the runtime's state and cgroup, the mount, the
/// directory. Used by `ctr-rm` and by the monitor for `--rm`.
pub fn remove(root: &Root, id: &str) -> Result<()> {
    let store = Containers::open(root.containers_dir())?;
    let _lock = store.lock()?;
    let c = match store.load(id) {
        Ok(c) => c,
        Err(Error::ContainerNotFound(_)) => {
            return store.remove_dir(id);
        }
        Err(e) => return Err(e),
    };
    let _ = monitor::builtin_runtime(root).delete(id, true);
    // Its network, if a killed monitor could not take it down.
    let _ = super::orchestrate::detach_network(root, id);
    rootfs::unmount(&c)?;
    store.remove_dir(id)
}

/// Removes the runtime state a dead monitor left (used before a restart).
pub fn clear_runtime_state(root: &Root, id: &str) {
    let _ = monitor::builtin_runtime(root).delete(id, true);
    let _ = fs::remove_file(
        Containers::open(root.containers_dir())
            .map(|s| s.path(id).join(super::ATTACH_SOCKET))
            .unwrap_or_default(),
    );
}

/// Waits (boundedly) until the monitor of an `--rm` container has removed it.
pub fn wait_removed(root: &Root, id: &str) {
    let dir = root.containers_dir().join(id);
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}
