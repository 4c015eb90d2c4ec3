//! The monitor: the small process `ctr-start` leaves behind for each running container
//! (DESIGN.md §6). It owns the container's init (a child subreaper), writes its output to the
//! log through its log driver ([`super::logdriver`]), serves attach over `attach.sock`, keeps
//! the pty of `-t`, records the exit code, finish time and OOM kill in state.json, and with
//! `--rm` removes the container. One thread, one poll loop.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_runtime::{Runtime, Stdio};

use super::engine::{self, Engine};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::attach::{self, FrameBuf, Hello};
use super::{orchestrate, restart, rootfs, Container, Containers, NetworkSettings, Status};
use crate::error::{Error, IoContext, Result};
use crate::root::Root;

/// How long a monitor waits for `ctr-start` to ask for the start before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The runtime that runs a container: the built-in one, or an OCI runtime binary.
pub fn builtin_runtime(root: &Root) -> Runtime {
    Runtime::new(root.dir().join("runtime"))
}

/// Runs the monitor of container `id`; `ready` receives one JSON line once the container is
/// created (`{"ok":true}` or `{"error":…,"code":…}`). Returns when the container is gone.
pub fn run(root: &Root, id: &str, mut ready: File) -> Result<()> {
    let _ = nix::unistd::setsid();
    berth_runtime::become_subreaper().map_err(Error::from)?;
    let store = Containers::open(root.containers_dir())?;
    let rec = store.load(id)?;
    let dir = store.path(id);
    let mut m = match Monitor::create(root, &store, rec, &dir) {
        Ok(m) => {
            let _ = ready.write_all(b"{\"ok\":true}\n");
            drop(ready);
            m
        }
        Err(e) => {
            let code = e.runtime_code().unwrap_or(125);
            record_failure(&store, id, code, &e.to_string());
            let msg = serde_json::json!({"error": e.to_string(), "code": code});
            let _ = ready.write_all(format!("{msg}\n").as_bytes());
            return Err(e);
        }
    };
    m.serve()
}

/// A start that failed, in the record as Docker keeps it (moby `containerStart`): still
/// created (or exited, if it ran before), `State.Error` why, and `State.ExitCode` 127 when the
/// command was not found, 126 when it cannot be executed, else 128.
/// Returns the exit code recorded.
fn record_failure(store: &Containers, id: &str, code: u8, why: &str) -> i32 {
    let exit_code = if matches!(code, 126 | 127) {
        code as i32
    } else {
        128
    };
    let Ok(_lock) = store.lock() else {
        return exit_code;
    };
    if let Ok(mut c) = store.load(id) {
        c.state.exit_code = exit_code;
        c.state.error = why.to_string();
        let _ = store.save(&c);
    }
    exit_code
}

/// Whether the record still asks for a restart: not stopped by hand, a policy other than `no`.
fn wants_restart(c: &Container) -> bool {
    !c.state.has_been_manually_stopped && !restart::is_none(&c.host_config.restart_policy)
}

/// One attached client.
struct Client {
    sock: UnixStream,
    hello: Option<Hello>,
    line: Vec<u8>,
    frames: FrameBuf,
}

enum Output {
    /// Separate stdout and stderr pipes.
    Pipes(Option<File>, Option<File>),
    /// The pty master (stdout and stderr together, as Docker logs them: "stdout").
    Pty(Option<File>),
}

struct Monitor {
    root: Root,
    store: Containers,
    id: String,
    dir: PathBuf,
    runtime: Engine,
    init: Option<i32>,
    exit: Option<i32>,
    stdin: Option<File>,
    output: Output,
    log: super::logdriver::LogWriter,
    partial: [Vec<u8>; 2],
    listener: UnixListener,
    clients: Vec<Client>,
    started: bool,
    auto_remove: bool,
    tty: bool,
    /// Host port reservations, held while the container runs.
    net: orchestrate::Attached,
    /// When the current run started (a run of 10 s or more starts the restart delays over).
    run_started: Instant,
    backoff: restart::Backoff,
    /// The container ended and its restart policy starts it again at this time.
    restart_at: Option<Instant>,
    /// The record's (inode, size, mtime) when the pending restart last read it.
    record_seen: Option<(u64, u64, std::time::SystemTime)>,
    /// The health check's runner, for a container with one.
    health: Option<super::health::Checker>,
}

/// One run of the container in the runtime: its init, stdin and output, its network.
struct Launched {
    init: i32,
    stdin: Option<File>,
    output: Output,
    net: orchestrate::Attached,
}

/// Creates the container in the runtime (its init alive and waiting for the start) with fresh
/// stdio and attaches its network: the first run and each restart. On an error nothing of the
/// run is left (the mount is the caller's).
fn launch(
    root: &Root,
    store: &Containers,
    rec: &Container,
    dir: &Path,
    runtime: &Engine,
) -> Result<Launched> {
    let tty = rec.config.tty.unwrap_or(false);
    let open_stdin = rec.config.open_stdin.unwrap_or(false);
    let (stdio, stdin, output) = if tty {
        // The runtime makes the pty inside the container and hands back the master.
        (Stdio::terminal(), None, Output::Pty(None))
    } else {
        let p = super::pipes::Pipes::new(open_stdin)?;
        let [in_r, out_w, err_w] = p.child;
        (
            Stdio::fds([Some(in_r), Some(out_w), Some(err_w)]),
            p.stdin,
            Output::Pipes(Some(p.stdout), Some(p.stderr)),
        )
    };
    // Stale state of an earlier run (a monitor that was killed): clear it.
    let _ = runtime.delete(&rec.id);
    orchestrate::before_runtime_create(root, rec, dir)?;
    let created = runtime.create(&rec.id, dir, stdio)?;
    let undo = |e: Error| {
        let _ = runtime.delete(&rec.id);
        let _ = orchestrate::detach_network(root, &rec.id);
        e
    };
    let (init, stdin, output) = match created.console {
        Some(master) => {
            let master = File::from(master);
            let input = master
                .try_clone()
                .with_path("duplicate", "the pty")
                .map_err(undo)?;
            (created.pid, Some(input), Output::Pty(Some(master)))
        }
        None => (created.pid, stdin, output),
    };
    // The network is set up while the init waits to start (as Docker's prestart hook).
    let (net, settings) = orchestrate::attach_network(root, rec, init).map_err(undo)?;
    {
        let _lock = store.lock().map_err(undo)?;
        let mut now = store.load(&rec.id).map_err(undo)?;
        now.network_settings = Some(settings);
        store.save(&now).map_err(undo)?;
    }
    Ok(Launched {
        init,
        stdin,
        output,
        net,
    })
}

impl Monitor {
    fn create(root: &Root, store: &Containers, rec: Container, dir: &Path) -> Result<Monitor> {
        let runtime = Engine::of(root, &rec);
        let driver = rootfs::mount(&rec)?;
        let mut rec = rec;
        if driver != rec.graph_driver.name {
            let _lock = store.lock()?;
            let mut now = store.load(&rec.id)?;
            now.driver = driver.to_string();
            now.graph_driver.name = driver.to_string();
            store.save(&now)?;
            rec = now;
        }
        let tty = rec.config.tty.unwrap_or(false);
        let log = super::logdriver::LogWriter::open(&rec, dir)?;
        let run = match launch(root, store, &rec, dir, &runtime) {
            Ok(run) => run,
            Err(e) => {
                let _ = rootfs::unmount(&rec);
                return Err(e);
            }
        };
        let listener = listen(dir).inspect_err(|_| {
            let _ = runtime.delete(&rec.id);
            let _ = orchestrate::detach_network(root, &rec.id);
            let _ = rootfs::unmount(&rec);
        })?;
        let m = Monitor {
            root: root.clone(),
            store: store.clone(),
            id: rec.id.clone(),
            dir: dir.to_path_buf(),
            runtime,
            init: Some(run.init),
            exit: None,
            stdin: run.stdin,
            output: run.output,
            log,
            partial: [Vec::new(), Vec::new()],
            listener,
            clients: Vec::new(),
            started: false,
            auto_remove: rec.host_config.auto_remove,
            tty,
            net: run.net,
            run_started: Instant::now(),
            backoff: restart::Backoff::default(),
            restart_at: None,
            record_seen: None,
            health: super::health::Checker::of(&rec.config),
        };
        Ok(m)
    }

    /// The poll loop: until the init has exited and its output is drained.
    fn serve(&mut self) -> Result<()> {
        let sigfd = super::signals::nonblocking_signalfd(&[Signal::SIGCHLD])?;
        let born = Instant::now();
        let mut exited_at: Option<Instant> = None;
        loop {
            if !self.started && born.elapsed() > START_TIMEOUT {
                break;
            }
            if let Some(t) = exited_at {
                if self.output_closed() || t.elapsed() > Duration::from_secs(2) {
                    // This run is over: the restart policy says whether another comes.
                    exited_at = None;
                    match self.end_run() {
                        Some(delay) => self.restart_at = Some(Instant::now() + delay),
                        None => break,
                    }
                }
            }
            if let Some(at) = self.restart_at {
                // A `ctr-stop` (or `ctr-kill`, `ctr-update --restart no`) meanwhile ends it.
                if !self.still_restarting() {
                    break;
                }
                if Instant::now() >= at {
                    self.restart_at = None;
                    if !self.restart() {
                        break;
                    }
                }
            }
            let (out_fd, err_fd) = self.output_fds();
            let mut fds: Vec<PollFd> = Vec::new();
            fds.push(PollFd::new(sigfd.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            let out_at = out_fd.map(|fd| {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                fds.len() - 1
            });
            let err_at = err_fd.map(|fd| {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                fds.len() - 1
            });
            let first_client = fds.len();
            for c in &self.clients {
                fds.push(PollFd::new(c.sock.as_fd(), PollFlags::POLLIN));
            }
            let mut wait = match self.restart_at {
                Some(at) => at
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(200)),
                None => Duration::from_millis(200),
            };
            if let Some(h) = self.health.as_ref().and_then(|h| h.wait()) {
                wait = wait.min(h);
            }
            let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::from(200u16));
            match nix::poll::poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    return Err(Error::Runtime {
                        message: format!("poll: {e}"),
                        code: 125,
                    })
                }
            }
            let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
            let sig = ready(0);
            let accept = ready(1);
            let out_ready = out_at.is_some_and(ready);
            let err_ready = err_at.is_some_and(ready);
            let clients_ready: Vec<usize> = (0..self.clients.len())
                .filter(|i| ready(first_client + i))
                .collect();
            drop(fds);
            if sig {
                while let Ok(Some(_)) = sigfd.read_signal() {}
                self.reap();
                if self.exit.is_some() && exited_at.is_none() && self.restart_at.is_none() {
                    exited_at = Some(Instant::now());
                }
            }
            if out_ready {
                self.pump(0);
            }
            if err_ready {
                self.pump(1);
            }
            if accept {
                if let Ok((sock, _)) = self.listener.accept() {
                    let _ = sock.set_write_timeout(Some(Duration::from_secs(5)));
                    self.clients.push(Client {
                        sock,
                        hello: None,
                        line: Vec::new(),
                        frames: FrameBuf::default(),
                    });
                }
            }
            for i in clients_ready.into_iter().rev() {
                if !self.client_input(i) {
                    self.clients.remove(i);
                }
            }
            if self.started && self.exit.is_none() {
                // A SIGCHLD may have been merged with another; look again now and then.
                self.reap();
                if self.exit.is_some() {
                    exited_at = Some(Instant::now());
                }
            }
            if self.started && self.exit.is_none() {
                self.check_health();
            }
        }
        self.finish()
    }

    fn output_fds(&self) -> (Option<BorrowedFd<'_>>, Option<BorrowedFd<'_>>) {
        match &self.output {
            Output::Pipes(o, e) => (o.as_ref().map(|f| f.as_fd()), e.as_ref().map(|f| f.as_fd())),
            Output::Pty(m) => (m.as_ref().map(|f| f.as_fd()), None),
        }
    }

    fn output_closed(&self) -> bool {
        match &self.output {
            Output::Pipes(o, e) => o.is_none() && e.is_none(),
            Output::Pty(m) => m.is_none(),
        }
    }

    /// Reads what stream `k` (0 stdout, 1 stderr) has, logs it and passes it to the clients.
    fn pump(&mut self, k: usize) {
        let mut buf = [0u8; 32 * 1024];
        let file = match (&mut self.output, k) {
            (Output::Pipes(o, _), 0) => o,
            (Output::Pipes(_, e), _) => e,
            (Output::Pty(m), _) => m,
        };
        let Some(f) = file.as_mut() else { return };
        match f.read(&mut buf) {
            Ok(0) | Err(_) => {
                // EOF, or EIO from a pty whose last slave closed.
                *file = None;
                self.flush_partial(k);
                self.log.flush();
            }
            Ok(n) => {
                let data = buf[..n].to_vec();
                self.log_output(k, &data);
                self.log.flush();
                let kind = if k == 0 {
                    attach::STDOUT
                } else {
                    attach::STDERR
                };
                self.clients.retain_mut(|c| {
                    let wants =
                        c.hello
                            .as_ref()
                            .is_some_and(|h| if k == 0 { h.stdout } else { h.stderr });
                    !wants || attach::write_frame(&mut c.sock, kind, &data).is_ok()
                });
            }
        }
    }

    /// Appends complete lines to the log as Docker's json-file driver does; a partial line is
    /// held until its end comes (or 16 KiB of it, as Docker splits long lines).
    /// (The lines are cut in place and the rest moved once: a chunk of short lines costs one
    /// pass, not one move of the chunk per line.)
    fn log_output(&mut self, k: usize, data: &[u8]) {
        let mut held = std::mem::take(&mut self.partial[k]);
        held.extend_from_slice(data);
        let mut start = 0;
        loop {
            let p = &held[start..];
            // A newline is looked for in the first 16 KiB only: past it the line is cut anyway.
            let cut = match p[..p.len().min(16 * 1024)].iter().position(|&b| b == b'\n') {
                Some(i) => i + 1,
                None if p.len() >= 16 * 1024 => 16 * 1024,
                None => break,
            };
            self.write_log(k, &held[start..start + cut]);
            start += cut;
        }
        held.drain(..start);
        self.partial[k] = held;
    }

    fn flush_partial(&mut self, k: usize) {
        if !self.partial[k].is_empty() {
            let line = std::mem::take(&mut self.partial[k]);
            self.write_log(k, &line);
        }
    }

    fn write_log(&mut self, k: usize, line: &[u8]) {
        // A pty's output is all "stdout", as Docker logs it.
        self.log.write(k == 1 && !self.tty, line);
    }

    /// Handles what client `i` sent; false when it is gone.
    fn client_input(&mut self, i: usize) -> bool {
        let mut buf = [0u8; 32 * 1024];
        let n = match self.clients[i].sock.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let mut data = &buf[..n];
        if self.clients[i].hello.is_none() {
            let c = &mut self.clients[i];
            match data.iter().position(|&b| b == b'\n') {
                None => {
                    c.line.extend_from_slice(data);
                    return c.line.len() < 4096;
                }
                Some(p) => {
                    c.line.extend_from_slice(&data[..p]);
                    data = &data[p + 1..];
                    let Ok(hello) = serde_json::from_slice::<Hello>(&c.line) else {
                        return false;
                    };
                    let start = hello.start;
                    c.hello = Some(hello);
                    if start && !self.do_start(i) {
                        return false;
                    }
                    if self.exit.is_some() && self.output_closed() {
                        return false;
                    }
                }
            }
        }
        self.clients[i].frames.push(data);
        while let Some((kind, payload)) = self.clients[i].frames.next_frame() {
            match kind {
                attach::STDIN => {
                    if let Some(s) = self.stdin.as_mut() {
                        if s.write_all(&payload).is_err() && !self.tty {
                            self.stdin = None;
                        }
                    }
                }
                attach::STDIN_EOF if !self.tty => self.stdin = None,
                attach::RESIZE if payload.len() == 4 => {
                    if let (Some(s), true) = (self.stdin.as_ref(), self.tty) {
                        let rows = u16::from_be_bytes([payload[0], payload[1]]);
                        let cols = u16::from_be_bytes([payload[2], payload[3]]);
                        let ws = rustix::termios::Winsize {
                            ws_row: rows,
                            ws_col: cols,
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        let _ = rustix::termios::tcsetwinsize(s, ws);
                    }
                }
                _ => {}
            }
        }
        true
    }

    /// Starts the container for client `i`; false if that failed (the monitor then ends).
    fn do_start(&mut self, i: usize) -> bool {
        if self.started {
            return true;
        }
        let r = self.runtime.start(&self.id);
        let reply = match &r {
            Ok(()) => {
                self.started = true;
                self.run_started = Instant::now();
                let pid = self.init.unwrap_or(0);
                self.record_running(true);
                // Start-up is over: its code need not stay resident for the container's life.
                berth_runtime::clone::release_code_pages();
                attach::Started {
                    pid,
                    error: None,
                    code: 0,
                }
            }
            Err(e) => attach::Started {
                pid: 0,
                error: Some(e.to_string()),
                code: e.runtime_code().unwrap_or(125),
            },
        };
        let payload = serde_json::to_vec(&reply).expect("serialises");
        let _ = attach::write_frame(&mut self.clients[i].sock, attach::STARTED, &payload);
        if let Some(why) = &reply.error {
            self.exit = Some(reply.code as i32);
            record_failure(&self.store, &self.id, reply.code, why);
        }
        r.is_ok()
    }

    /// Reaps every child that has exited; notes the init's exit code (128+signal when killed).
    fn reap(&mut self) {
        loop {
            match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    if Some(pid.as_raw()) == self.init {
                        self.exit = Some(code);
                    }
                    self.health_reaped(pid.as_raw(), code);
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    if Some(pid.as_raw()) == self.init {
                        self.exit = Some(128 + sig as i32);
                    }
                    self.health_reaped(pid.as_raw(), 128 + sig as i32);
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// Records the container running with its init (the start, and each restart). A start by
    /// hand (`first`) also starts the restart policy over, as Docker's: no restarts counted, not
    /// stopped by hand.
    fn record_running(&mut self, first: bool) {
        let pid = self.init.unwrap_or(0);
        let now = berth_runtime::now_rfc3339();
        let me = std::process::id() as i32;
        let health = self.health.as_mut().map(|h| h.on_start()).is_some();
        let _ = self.update(|c| {
            if health {
                super::health::on_start(&mut c.state);
            }
            c.state.status = Status::Running;
            c.state.running = true;
            c.state.paused = false;
            c.state.restarting = false;
            c.state.oom_killed = false;
            c.state.dead = false;
            c.state.pid = pid;
            c.state.pid_start = berth_runtime::state::start_time(pid).unwrap_or(0);
            c.state.monitor_pid = me;
            c.state.monitor_start = berth_runtime::state::start_time(me).unwrap_or(0);
            c.state.exit_code = 0;
            c.state.error.clear();
            c.state.started_at = now;
            c.state.finished_at = super::ZERO_TIME.into();
            if first {
                c.restart_count = 0;
                c.state.has_been_manually_stopped = false;
            }
        });
    }

    /// The init has exited and its output is drained: when the restart policy starts it again,
    /// records it restarting (Docker's `SetRestarting`: still running, its exit code, when it
    /// finished, one more restart), takes the run down (runtime state, network) and tells the
    /// clients of the exit; returns the delay before the restart. None: the container is done.
    fn end_run(&mut self) -> Option<Duration> {
        if !self.started {
            return None;
        }
        self.flush_partial(0);
        self.flush_partial(1);
        let code = self.exit.unwrap_or(137);
        let oom = self.oom_killed();
        let mut again = false;
        let _ = self.update(|c| {
            again = restart::should_restart(
                &c.host_config.restart_policy,
                code,
                c.state.has_been_manually_stopped,
                c.restart_count,
            );
            if again {
                c.restart_count += 1;
                c.state.status = Status::Restarting;
                c.state.running = true;
                c.state.restarting = true;
                c.state.paused = false;
                c.state.pid = 0;
                c.state.pid_start = 0;
                c.state.exit_code = code;
                c.state.oom_killed = oom;
                c.state.finished_at = berth_runtime::now_rfc3339();
                c.network_settings = c.network_settings.as_ref().map(NetworkSettings::stopped);
            }
        });
        if !again {
            return None;
        }
        self.record_seen = None;
        if let Some(h) = self.health.as_mut() {
            h.on_exit();
        }
        let _ = self.runtime.delete(&self.id);
        let _ = orchestrate::detach_network(&self.root, &self.id);
        self.net = Default::default();
        self.init = None;
        self.stdin = None;
        self.output = Output::Pipes(None, None);
        self.tell_exit(code, oom);
        // The wait can last a minute: the code that took the run down need not stay resident.
        berth_runtime::clone::release_code_pages();
        Some(self.backoff.next(self.run_started.elapsed()))
    }

    /// Whether a pending restart is still wanted: not stopped by hand, the policy not changed
    /// to `no`, the container not removed.
    fn still_restarting(&mut self) -> bool {
        // Read only when another command has written it (ctr-stop, ctr-kill, ctr-update,
        // ctr-rm): the wait can last a minute, and parsing the record each tick would keep
        // its code resident.
        // (Saved by rename: a new inode each time.)
        let changed = fs::metadata(self.dir.join(super::store::STATE_FILE))
            .ok()
            .and_then(|m| {
                use std::os::unix::fs::MetadataExt;
                Some((m.ino(), m.len(), m.modified().ok()?))
            });
        if changed.is_some() && changed == self.record_seen {
            return true;
        }
        self.record_seen = changed;
        let go = self.store.load(&self.id).is_ok_and(|c| wants_restart(&c));
        berth_runtime::clone::release_code_pages();
        go
    }

    /// Creates and starts the container again for its restart policy; false if that failed
    /// (recorded as a failed start, as Docker's; the monitor then ends).
    fn restart(&mut self) -> bool {
        let rec = match self.store.load(&self.id) {
            Ok(rec) => rec,
            Err(_) => return false,
        };
        if !wants_restart(&rec) {
            return false;
        }
        let r = launch(&self.root, &self.store, &rec, &self.dir, &self.runtime).and_then(|run| {
            self.init = Some(run.init);
            self.stdin = run.stdin;
            self.output = run.output;
            self.net = run.net;
            self.exit = None;
            self.runtime.start(&self.id)
        });
        match r {
            Ok(()) => {
                self.run_started = Instant::now();
                self.record_running(false);
                berth_runtime::clone::release_code_pages();
                true
            }
            Err(e) => {
                let code = e.runtime_code().unwrap_or(125);
                let _ = self.runtime.delete(&self.id);
                let _ = orchestrate::detach_network(&self.root, &self.id);
                self.net = Default::default();
                self.exit = Some(record_failure(&self.store, &self.id, code, &e.to_string()));
                false
            }
        }
    }

    /// Whether the OOM killer killed a process of the container's cgroup.
    fn oom_killed(&self) -> bool {
        engine::cgroup_of(&self.dir, &self.id)
            .ok()
            .and_then(|c| c.oom_kills().ok())
            .is_some_and(|n| n > 0)
    }

    /// Sends the exit to every attached client and lets them go.
    fn tell_exit(&mut self, code: i32, oom: bool) {
        let exit = attach::Exit {
            exit_code: code,
            oom_killed: oom,
        };
        let payload = serde_json::to_vec(&exit).expect("serialises");
        for c in &mut self.clients {
            let _ = attach::write_frame(&mut c.sock, attach::EXIT, &payload);
        }
        self.clients.clear();
    }

    /// A health check's probe ended (see [`super::health::Checker::reaped`]).
    fn health_reaped(&mut self, pid: i32, code: i32) {
        if let Some(h) = self.health.as_mut() {
            h.reaped(pid, code);
        }
    }

    /// Runs the health check when due and records its result in `State.Health`.
    fn check_health(&mut self) {
        let Some(h) = self.health.as_mut() else {
            return;
        };
        let ended = h.ended();
        if let Some(outcome) = h.step(&self.root, &self.id) {
            let _ = self.update(|c| super::health::record(&mut c.state, &outcome));
        }
        // The code a check runs here (starting the probe, reaping it) need not stay resident
        // until the next one, as the start-up's does not (see `do_start`).
        if ended && self.health.as_mut().is_some_and(|h| h.release_due()) {
            berth_runtime::clone::release_code_pages();
        }
    }

    /// Records the exit, removes the runtime's container and the mount, tells the clients.
    fn finish(&mut self) -> Result<()> {
        if let Some(h) = self.health.as_mut() {
            h.on_exit();
        }
        self.flush_partial(0);
        self.flush_partial(1);
        self.log.sync();
        let oom = self.oom_killed();
        let _ = self.runtime.delete(&self.id);
        let _ = orchestrate::detach_network(&self.root, &self.id);
        self.net = Default::default();
        let code = self.exit.unwrap_or(if self.started { 137 } else { 0 });
        let started = self.started;
        // An --rm container keeps naming its monitor until the monitor has removed it: a command
        // that finds it exited with its monitor gone removes it instead (liveness::reconcile).
        let removing = self.auto_remove && started;
        // The mount and the socket go before the exit is recorded: a `ctr-start` that sees it
        // exited may make new ones at once.
        if let Ok(rec) = self.store.load(&self.id) {
            let _ = rootfs::unmount(&rec);
        }
        let _ = fs::remove_file(self.dir.join(super::ATTACH_SOCKET));
        let _ = self.update(|c| {
            c.state.running = false;
            c.state.paused = false;
            c.state.pid = 0;
            c.state.pid_start = 0;
            if !removing {
                c.state.monitor_pid = 0;
                c.state.monitor_start = 0;
            }
            c.network_settings = c.network_settings.as_ref().map(NetworkSettings::stopped);
            if started {
                c.state.status = Status::Exited;
                c.state.exit_code = code;
                c.state.oom_killed = oom;
                c.state.finished_at = berth_runtime::now_rfc3339();
            }
        });
        // --rm: gone before the clients hear of the exit, so that `ctr-run --rm` returns to a
        // store without it.
        if removing {
            let _ = orchestrate::remove_with_volumes(&self.root, &self.id);
        }
        self.tell_exit(code, oom);
        Ok(())
    }

    /// Changes the record under the containers' lock.
    fn update(&self, f: impl FnOnce(&mut Container)) -> Result<Container> {
        let _lock = self.store.lock()?;
        let mut c = self.store.load(&self.id)?;
        f(&mut c);
        self.store.save(&c)?;
        Ok(c)
    }
}

/// Binds the attach socket in `dir`, through /proc/self/fd so that a long `--root` does not hit
/// the 108-byte limit of socket paths.
fn listen(dir: &Path) -> Result<UnixListener> {
    let d = File::open(dir).with_path("open", dir)?;
    let _ = fs::remove_file(dir.join(super::ATTACH_SOCKET));
    let short = format!("/proc/self/fd/{}/{}", d.as_raw_fd(), super::ATTACH_SOCKET);
    UnixListener::bind(&short).with_path("listen on", dir.join(super::ATTACH_SOCKET))
}

/// Connects to the attach socket of the container in `dir`.
pub fn connect(dir: &Path) -> Result<UnixStream> {
    let d = File::open(dir).with_path("open", dir)?;
    let short = format!("/proc/self/fd/{}/{}", d.as_raw_fd(), super::ATTACH_SOCKET);
    UnixStream::connect(&short).with_path("connect to", dir.join(super::ATTACH_SOCKET))
}

/// The monitor process's whole life: run from a sealed copy of the binary (CVE-2019-5736), hold
/// nothing of its caller (every descriptor but stdio closed, its working directory left for /),
/// take stdout as the pipe to `ctr-start` (then point stdio at /dev/null), run the container.
pub fn main(root: &Root, id: &str) -> Result<()> {
    berth_runtime::clone::ensure_cloned_binary().map_err(Error::from)?;
    // A caller's descriptor kept open here would keep its reader waiting for an EOF as long as
    // the container runs (`x=$(ctr-run -d … 3>&1)`), its directory could not be unmounted.
    close_inherited_fds();
    // (`root` is absolute: Root::new makes it so.)
    nix::unistd::chdir("/").map_err(|e| Error::io("enter", "/", e.into()))?;
    let ready = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .with_path("duplicate", "stdout")?;
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .with_path("open", "/dev/null")?;
    for fd in 0..=2 {
        nix::unistd::dup2(null.as_raw_fd(), fd)
            .map_err(|e| Error::io("redirect", "stdio", e.into()))?;
    }
    drop(null);
    run(root, id, File::from(ready))
}

/// Closes every descriptor above stdio: called first thing, when this process owns none yet.
fn close_inherited_fds() {
    let Ok(dir) = fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    // The directory's own descriptor is among them, closed already (EBADF).
    for fd in fds {
        let _ = nix::unistd::close(fd);
    }
}
