//! `ctr-exec`: a process in a running container, with the container's profile.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use berth_runtime::Stdio;
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use super::{lifecycle, monitor, status, Containers};
use crate::bundle::resolve_user;
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
    if c.state.status == status::PAUSED {
        return Err(Error::Conflict(format!(
            "container {} is paused, unpause the container before exec",
            c.id
        )));
    }
    if c.state.status != status::RUNNING {
        return Err(Error::Conflict(format!(
            "container {} is not running",
            c.id
        )));
    }
    if opts.cmd.is_empty() {
        return Err(Error::Usage("no command given".into()));
    }
    let dir = store.path(&c.id);
    let spec = berth_runtime::load_spec(&dir).map_err(|e| Error::Runtime {
        message: e.to_string(),
        code: 125,
    })?;
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
        let user = resolve_user(u, &rootfs)?;
        let mut pu = process.user().clone();
        pu.set_uid(user.uid);
        pu.set_gid(user.gid);
        pu.set_additional_gids(Some(user.additional_gids));
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
        let stdio = Stdio {
            fds: [
                Some(null()?),
                Some(out.try_clone().with_path("dup", "/dev/null")?.into()),
                Some(out.into()),
            ],
            terminal: false,
        };
        runtime.exec(&c.id, &process, stdio).map_err(Error::from)?;
        return Ok(0);
    }
    if opts.tty {
        let stdio = Stdio {
            fds: [None, None, None],
            terminal: true,
        };
        let created = runtime.exec(&c.id, &process, stdio).map_err(Error::from)?;
        let pid = created.pid;
        let Some(pty) = created.console else {
            return Err(Error::Runtime {
                message: "the runtime returned no terminal".into(),
                code: 125,
            });
        };
        if rustix::termios::isatty(rustix::stdio::stdin()) {
            if let Ok(ws) = rustix::termios::tcgetwinsize(rustix::stdio::stdin()) {
                let _ = rustix::termios::tcsetwinsize(&pty, ws);
            }
        }
        let master = File::from(pty);
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
    let stdin = if opts.interactive {
        None
    } else {
        Some(null()?)
    };
    let stdio = Stdio {
        fds: [stdin, None, None],
        terminal: false,
    };
    let pid = runtime
        .exec(&c.id, &process, stdio)
        .map_err(Error::from)?
        .pid;
    Ok(wait_for(pid))
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
    let mut cmd = std::process::Command::new(&binary);
    cmd.arg("--root")
        .arg(&state)
        .arg("exec")
        .arg("--process")
        .arg(file.path());
    if opts.detach {
        cmd.arg("-d");
    }
    cmd.arg(&c.id);
    if !opts.interactive || opts.detach {
        cmd.stdin(std::process::Stdio::null());
    }
    if opts.detach {
        cmd.stdout(std::process::Stdio::null());
    }
    // runc's own failures (exit 255) are on its stderr: pass it on, and turn "not found" and
    // "permission denied" into docker exec's 127 and 126.
    let out = cmd
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|child| child.wait_with_output())
        .map_err(|e| Error::Runtime {
            message: format!("run {}: {e}", binary.display()),
            code: 125,
        })?;
    let err = String::from_utf8_lossy(&out.stderr);
    eprint!("{err}");
    Ok(match out.status.code() {
        Some(255) if err.contains("executable file not found") || err.contains("no such file") => {
            127
        }
        Some(255) if err.contains("permission denied") => 126,
        Some(code) => code,
        None => 137,
    })
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
