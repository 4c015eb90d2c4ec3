//! `ctr-exec`: a process in a running container, with the container's profile.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use berth_runtime::Stdio;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use super::pipes::Pipes;
use super::signals;
use super::{lifecycle, monitor, Containers, Status};
use crate::bundle::resolve_docker_user;
use crate::error::{Error, IoContext, Result};
use crate::root::Root;
use crate::unpack::Dest;

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    pub privileged: bool,
}

/// Runs the command; returns its exit code (0 when detached).
pub fn exec(root: &Root, name: &str, opts: &ExecOptions) -> Result<i32> {
    let store = Containers::open(root.containers_dir())?;
    let c = lifecycle::refresh(store.find(name)?);
    // As docker exec: a missing container first, then the terminal, then the state; the
    // daemon's refusals exit 1.
    if !opts.detach {
        signals::check_tty(opts.interactive, opts.tty)?;
    }
    if c.state.status == Status::Paused {
        return Err(Error::Runtime {
            message: format!(
                "container {} is paused, unpause the container before exec",
                c.id
            ),
            code: 1,
        });
    }
    if c.state.status == Status::Restarting {
        return Err(Error::Runtime {
            message: super::restart::restarting_error(&c.id),
            code: 1,
        });
    }
    if c.state.status != Status::Running {
        return Err(Error::Runtime {
            message: format!("container {} is not running", c.id),
            code: 1,
        });
    }
    if opts.cmd.is_empty() {
        return Err(Error::Usage("no command given".into()));
    }
    let dir = store.path(&c.id);
    let spec = berth_runtime::load_spec(&dir)?;
    let mut process: Process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(opts.cmd.clone()));
    let mut env = process.env().clone().unwrap_or_default();
    for e in &opts.env {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if opts.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    if let Some(w) = &opts.workdir {
        process.set_cwd(w.into());
    }
    if let Some(u) = &opts.user {
        let rootfs = Dest::open(Path::new(&c.graph_driver.merged))?;
        let group_add = c.host_config.group_add.clone().unwrap_or_default();
        let (user, groups) = resolve_docker_user(u, &rootfs, &group_add)?;
        let mut pu = process.user().clone();
        pu.set_uid(user.uid);
        pu.set_gid(user.gid);
        pu.set_additional_gids(Some(groups));
        process.set_user(pu);
        env.retain(|e| !e.starts_with("HOME="));
        env.push(format!("HOME={}", user.home));
    }
    process.set_env(Some(env));
    process.set_terminal(Some(opts.tty));
    if opts.privileged {
        let all: oci_spec::runtime::Capabilities = super::spec::all_capabilities();
        let mut caps = process.capabilities().clone().unwrap_or_default();
        caps.set_bounding(Some(all.clone()));
        caps.set_effective(Some(all.clone()));
        caps.set_permitted(Some(all));
        process.set_capabilities(Some(caps));
    }
    if let super::engine::Engine::Oci { .. } = super::engine::Engine::of(root, &c) {
        return oci_exec(root, &c, &process, opts);
    }
    let runtime = monitor::builtin_runtime(root);
    berth_runtime::become_subreaper().map_err(Error::from)?;
    let null = || -> Result<OwnedFd> {
        Ok(File::open("/dev/null")
            .with_path("open", "/dev/null")?
            .into())
    };
    if opts.detach {
        let out = File::options()
            .write(true)
            .open("/dev/null")
            .with_path("open", "/dev/null")?;
        let stdio = Stdio::fds([
            Some(null()?),
            Some(out.try_clone().with_path("dup", "/dev/null")?.into()),
            Some(out.into()),
        ]);
        runtime.exec(&c.id, &process, stdio).map_err(Error::from)?;
        return Ok(0);
    }
    if opts.tty {
        let stdio = Stdio::terminal();
        let created = runtime.exec(&c.id, &process, stdio).map_err(Error::from)?;
        let pid = created.pid;
        let Some(pty) = created.console else {
            return Err(Error::Runtime {
                message: "the runtime returned no terminal".into(),
                code: 125,
            });
        };
        // As docker exec's MonitorTtySize (when stdin is a terminal): the pty gets the size of
        // the terminal on our stdout now and at each SIGWINCH. SIGWINCH is blocked only now,
        // the process being forked: it would inherit the mask.
        let monitor_size = signals::stdin_is_tty();
        if monitor_size {
            if let Some(ws) = signals::stdout_size() {
                let _ = rustix::termios::tcsetwinsize(&pty, ws);
            }
        }
        let master = File::from(pty);
        if monitor_size && signals::stdout_is_tty() {
            if let Some(watch) = signals::Watch::block(false, true)? {
                let pty = master.try_clone().with_path("dup", "the pty")?;
                std::thread::spawn(move || {
                    while watch.next().is_some() {
                        if let Some(ws) = signals::stdout_size() {
                            let _ = rustix::termios::tcsetwinsize(&pty, ws);
                        }
                    }
                });
            }
        }
        let _raw = lifecycle::RawMode::enter_if_tty();
        if opts.interactive {
            let mut w = master.try_clone().with_path("dup", "the pty")?;
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut stdin = io::stdin().lock();
                while let Ok(n) = stdin.read(&mut buf) {
                    if n == 0 || w.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
        let mut r = master;
        let mut out = io::stdout();
        let mut buf = [0u8; 32 * 1024];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = out.write_all(&buf[..n]);
            let _ = out.flush();
        }
        return Ok(wait_for(pid));
    }
    let pipes = exec_pipes(opts.interactive)?;
    let [child_in, child_out, child_err] = pipes.child;
    let stdio = Stdio::fds([Some(child_in), Some(child_out), Some(child_err)]);
    // The runtime forks: it runs before the stdin thread starts (and drops the child's ends).
    let pid = runtime
        .exec(&c.id, &process, stdio)
        .map_err(Error::from)?
        .pid;
    let mut code = None;
    let relayed = relay(pipes.stdin, pipes.stdout, pipes.stderr, || {
        reap(pid, &mut code);
        code
    })?;
    Ok(relayed.code)
}

/// `runc exec` (or the container's other OCI runtime) with the process as a file, our stdio.
fn oci_exec(
    root: &Root,
    c: &super::Container,
    process: &Process,
    opts: &ExecOptions,
) -> Result<i32> {
    let super::engine::Engine::Oci { binary, state } = super::engine::Engine::of(root, c) else {
        unreachable!("checked by the caller")
    };
    if opts.tty {
        return Err(Error::Runtime {
            message: format!(
                "-t with --runtime {}: a terminal is only supported by the built-in runtime yet",
                binary.display()
            ),
            code: 125,
        });
    }
    let mut file = tempfile::NamedTempFile::new().with_path("create", "a temporary file")?;
    serde_json::to_writer(&mut file, process).map_err(|e| Error::corrupt("process", e))?;
    // runc passes its own stdio to the process (its "pass-through" mode): pipes that we relay,
    // never our descriptors; detached, /dev/null, and runc's own errors go to a log file.
    let log = tempfile::NamedTempFile::new().with_path("create", "a temporary file")?;
    let mut cmd = std::process::Command::new(&binary);
    cmd.arg("--root").arg(&state);
    if opts.detach {
        cmd.arg("--log")
            .arg(log.path())
            .arg("--log-format")
            .arg("text");
    }
    cmd.arg("exec").arg("--process").arg(file.path());
    if opts.detach {
        cmd.arg("-d");
    }
    cmd.arg(&c.id);
    if !opts.detach {
        let p = exec_pipes(opts.interactive)?;
        let [i, o, e] = p.child;
        cmd.stdin(File::from(i))
            .stdout(File::from(o))
            .stderr(File::from(e));
        let mut child = cmd.spawn().map_err(|e| Error::Runtime {
            message: format!("run {}: {e}", binary.display()),
            code: 125,
        })?;
        // The child's ends are in `cmd`: dropped here, or no EOF ever comes.
        drop(cmd);
        let relayed = relay(p.stdin, p.stdout, p.stderr, || {
            use std::os::unix::process::ExitStatusExt;
            match child.try_wait() {
                Ok(Some(s)) => Some(s.code().unwrap_or(128 + s.signal().unwrap_or(9))),
                Ok(None) => None,
                Err(_) => Some(125),
            }
        })?;
        let err = String::from_utf8_lossy(&relayed.err_tail);
        return Ok(runc_code(relayed.code, &err));
    }
    let status = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| Error::Runtime {
            message: format!("run {}: {e}", binary.display()),
            code: 125,
        })?;
    let code = status.code().unwrap_or(137);
    if code == 0 {
        return Ok(0);
    }
    let err = std::fs::read_to_string(log.path()).unwrap_or_default();
    eprint!("{err}");
    Ok(runc_code(code, &err))
}

/// runc's own failures (exit 255) as docker exec's 127 ("not found") and 126 ("permission
/// denied"); any other code is the process's.
fn runc_code(code: i32, err: &str) -> i32 {
    match code {
        255 if err.contains("executable file not found") || err.contains("no such file") => 127,
        255 if err.contains("permission denied") => 126,
        code => code,
    }
}

/// The exec'd process's pipes (see [`Pipes`]), its stdout's bigger than the 64 KiB default:
/// fewer, larger reads for a stream of output (best effort: pipe-max-size may refuse it).
fn exec_pipes(interactive: bool) -> Result<Pipes> {
    let p = Pipes::new(interactive)?;
    let _ = nix::fcntl::fcntl(p.stdout.as_raw_fd(), nix::fcntl::F_SETPIPE_SZ(PIPE_SIZE));
    Ok(p)
}

/// The size asked for the pipe of a process's stdout, and of reads from it.
const PIPE_SIZE: i32 = 1 << 20;

/// How long a process's output is still passed on after it has exited, while something it left
/// running holds its pipes open (the monitor gives a container's output as long).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// The last bytes of stderr kept for [`relay`]'s caller (the OCI runtime's error message).
const ERR_TAIL: usize = 4096;

/// What [`relay`] ends with: the exit code, and the end of what the process wrote on stderr.
struct Relayed {
    code: i32,
    err_tail: Vec<u8>,
}

/// Passes the process's stdout and stderr on to ours as they come (apart, byte for byte) and,
/// with `stdin`, our stdin to it (closing its end when ours ends), until `exited` gives its exit
/// code and its output has ended. Output we cannot write (our stdout closed) is no longer read:
/// the process then gets EPIPE, as it would writing to our stdout itself.
fn relay(
    stdin: Option<File>,
    stdout: File,
    stderr: File,
    mut exited: impl FnMut() -> Option<i32>,
) -> Result<Relayed> {
    // The process's end wakes the loop through a signalfd: SIGCHLD is blocked before the stdin
    // thread exists (it inherits the mask), so that no thread takes the signal instead.
    let sigfd = signals::nonblocking_signalfd(&[Signal::SIGCHLD])?;
    if let Some(w) = stdin {
        std::thread::spawn(move || copy_stdin(w));
    }
    let mut streams = [Some(stdout), Some(stderr)];
    let targets = [rustix::stdio::stdout(), rustix::stdio::stderr()];
    let mut err_tail = Vec::new();
    let mut buf = vec![0u8; PIPE_SIZE as usize];
    let mut splice_out = true;
    let mut code = None;
    let mut drain_until = None;
    loop {
        if code.is_none() {
            code = exited();
            if code.is_some() {
                drain_until = Some(Instant::now() + DRAIN_AFTER_EXIT);
            }
        }
        if let Some(code) = code {
            let drained = streams.iter().all(Option::is_none);
            if drained || drain_until.is_some_and(|t| Instant::now() >= t) {
                return Ok(Relayed { code, err_tail });
            }
        }
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        let mut which = Vec::new();
        for (k, s) in streams.iter().enumerate() {
            if let Some(f) = s {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                which.push(k);
            }
        }
        match nix::poll::poll(&mut fds, PollTimeout::from(250u16)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                return Err(Error::Runtime {
                    message: format!("poll: {e}"),
                    code: 125,
                })
            }
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(_)) = sigfd.read_signal() {}
        }
        for (i, &k) in which.iter().enumerate() {
            if !ready[i + 1] {
                continue;
            }
            let Some(f) = streams[k].as_mut() else {
                continue;
            };
            if k == 0 && splice_out {
                // Pipe to our stdout without a copy through this process, where the kernel can
                // (a pipe, file or socket; not a terminal: then read and write from now on).
                match nix::fcntl::splice(
                    f.as_fd(),
                    None,
                    targets[0],
                    None,
                    PIPE_SIZE as usize,
                    nix::fcntl::SpliceFFlags::SPLICE_F_MOVE,
                ) {
                    Ok(0) => streams[0] = None,
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(nix::errno::Errno::EAGAIN) => wait_for_fd(targets[0], PollFlags::POLLOUT),
                    Err(nix::errno::Errno::EINVAL) => splice_out = false,
                    Err(_) => streams[0] = None,
                }
                continue;
            }
            let n = match f.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if n == 0 || write_all(targets[k], &buf[..n]).is_err() {
                streams[k] = None;
                continue;
            }
            if k == 1 {
                err_tail.extend_from_slice(&buf[..n]);
                if err_tail.len() > ERR_TAIL {
                    err_tail.drain(..err_tail.len() - ERR_TAIL);
                }
            }
        }
    }
}

/// Copies our stdin into the process's until either ends; dropping `w` is its EOF.
fn copy_stdin(mut w: File) {
    let stdin = rustix::stdio::stdin();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rustix::io::read(stdin, &mut buf[..]) {
            Ok(0) => return,
            Ok(n) => {
                if w.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => wait_for_fd(stdin, PollFlags::POLLIN),
            Err(_) => return,
        }
    }
}

/// Writes all of `data` to `fd` (ours, maybe non-blocking).
fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => wait_for_fd(fd, PollFlags::POLLOUT),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn wait_for_fd(fd: BorrowedFd<'_>, what: PollFlags) {
    let _ = nix::poll::poll(&mut [PollFd::new(fd, what)], PollTimeout::NONE);
}

/// Reaps every exited child (and orphan that came our way); sets `code` when `pid` is among them
/// (its exit code, or 128+signal).
fn reap(pid: i32, code: &mut Option<i32>) {
    loop {
        match nix::sys::wait::waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, c)) if p.as_raw() == pid => *code = Some(c),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => {
                *code = Some(128 + sig as i32)
            }
            Ok(WaitStatus::StillAlive) => return,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => {
                // No child left and `pid` never reaped: it was lost (as docker exec's 126).
                if code.is_none() {
                    *code = Some(126);
                }
                return;
            }
        }
    }
}

/// Waits for `pid` (reaping any other orphan that comes our way); its exit code, or 128+signal.
fn wait_for(pid: i32) -> i32 {
    loop {
        match nix::sys::wait::waitpid(Pid::from_raw(-1), None) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return code,
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => return 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 126,
        }
    }
}
