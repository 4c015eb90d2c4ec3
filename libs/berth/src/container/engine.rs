//! The runtime that runs a container: the built-in one (berth-runtime, in-process), or an OCI
//! runtime binary (`--runtime runc|crun|PATH`) driven through its command line as containerd's
//! shim drives it. Both run the same config.json.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_runtime::{Cgroup, Created, Runtime, Stdio};

use super::Container;
use crate::error::{Error, Result};
use crate::root::Root;

pub enum Engine {
    Builtin(Runtime),
    Oci { binary: PathBuf, state: PathBuf },
}

impl Engine {
    /// The engine `c` was created for.
    pub fn of(root: &Root, c: &Container) -> Engine {
        match c.runtime.as_str() {
            "" | "builtin" => Engine::Builtin(Runtime::new(root.dir().join("runtime"))),
            name => Engine::Oci {
                binary: PathBuf::from(name),
                state: root.dir().join("oci").join(
                    Path::new(name)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "runtime".into()),
                ),
            },
        }
    }

    fn oci(&self, args: &[&str]) -> Result<()> {
        let Engine::Oci { binary, state } = self else {
            unreachable!("only for OCI runtimes")
        };
        let out = Command::new(binary)
            .arg("--root")
            .arg(state)
            .args(args)
            .output()
            .map_err(|e| Error::Runtime {
                message: format!("run {}: {e}", binary.display()),
                code: 125,
            })?;
        if !out.status.success() {
            return Err(Error::Runtime {
                message: format!(
                    "{} {}: {}",
                    binary.display(),
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
                code: 125,
            });
        }
        Ok(())
    }

    /// Creates the container (init blocked until `start`): its pid and, with a terminal, the
    /// pty master.
    pub fn create(&self, id: &str, bundle: &Path, stdio: Stdio) -> Result<Created> {
        match self {
            Engine::Builtin(r) => r.create(id, bundle, stdio).map_err(Error::from),
            Engine::Oci { binary, state } => {
                if stdio.terminal {
                    return Err(Error::Runtime {
                        message: format!(
                            "-t with --runtime {}: a terminal is only supported by the built-in runtime yet",
                            binary.display()
                        ),
                        code: 125,
                    });
                }
                let pid_file = bundle.join("oci.pid");
                let log = bundle.join("oci.log");
                let _ = fs::remove_file(&pid_file);
                let [i, o, e] = stdio.fds;
                let std = |fd: Option<OwnedFd>| match fd {
                    Some(fd) => std::process::Stdio::from(fd),
                    None => std::process::Stdio::inherit(),
                };
                let status = Command::new(binary)
                    .arg("--root")
                    .arg(state)
                    .arg("--log")
                    .arg(&log)
                    .args(["create", "--bundle"])
                    .arg(bundle)
                    .arg("--pid-file")
                    .arg(&pid_file)
                    .arg(id)
                    .stdin(std(i))
                    .stdout(std(o))
                    .stderr(std(e))
                    .status()
                    .map_err(|e| Error::Runtime {
                        message: format!("run {}: {e}", binary.display()),
                        code: 125,
                    })?;
                if !status.success() {
                    let why = fs::read_to_string(&log).unwrap_or_default();
                    let last = why.lines().last().unwrap_or("").to_string();
                    let code = if last.contains("not found") || last.contains("no such file") {
                        127
                    } else if last.contains("permission denied") {
                        126
                    } else {
                        125
                    };
                    return Err(Error::Runtime {
                        message: format!("{} create: {last}", binary.display()),
                        code,
                    });
                }
                let pid = fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| Error::Runtime {
                        message: format!("{} create wrote no pid file", binary.display()),
                        code: 125,
                    })?;
                Ok(Created { pid, console: None })
            }
        }
    }

    pub fn start(&self, id: &str) -> Result<()> {
        match self {
            Engine::Builtin(r) => r.start(id).map_err(Error::from),
            Engine::Oci { .. } => self.oci(&["start", id]),
        }
    }

    /// Removes the container from the runtime, killing what is left (idempotent).
    pub fn delete(&self, id: &str) -> Result<()> {
        match self {
            Engine::Builtin(r) => r.delete(id, true).map_err(Error::from),
            Engine::Oci { .. } => self.oci(&["delete", "--force", id]).or(Ok(())),
        }
    }

    pub fn pause(&self, id: &str) -> Result<()> {
        match self {
            Engine::Builtin(r) => r.pause(id).map_err(Error::from),
            Engine::Oci { .. } => self.oci(&["pause", id]),
        }
    }

    pub fn resume(&self, id: &str) -> Result<()> {
        match self {
            Engine::Builtin(r) => r.resume(id).map_err(Error::from),
            Engine::Oci { .. } => self.oci(&["resume", id]),
        }
    }

    /// The built-in runtime, for what only it does (exec).
    pub fn builtin(&self) -> Option<&Runtime> {
        match self {
            Engine::Builtin(r) => Some(r),
            Engine::Oci { .. } => None,
        }
    }
}

/// The container's cgroup, from its config.json (the same for every runtime).
pub fn cgroup_of(dir: &Path, id: &str) -> Result<Cgroup> {
    let spec = berth_runtime::load_spec(dir).map_err(Error::from)?;
    let path = berth_runtime::cgroup_path(&spec, id);
    Cgroup::open(Path::new(berth_runtime::CGROUP_ROOT), &path).map_err(Error::from)
}
