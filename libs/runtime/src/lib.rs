//! berth's container runtime: runc's lifecycle as a library (DESIGN.md §6).
//!
//! `create` makes the namespaces, mounts and cgroup and leaves the container's init alive and
//! blocked until `start`; `start` lets it exec the process; `state`, `kill`, `delete`, `exec`,
//! `ps`, `pause`/`resume` and `update` work as runc's. Logs, attach and exit records are the
//! monitor's (libs/berth), which uses this library as runc would be used.
#![allow(unsafe_code)] // fork, exec and the raw system calls a runtime is made of

pub mod cgroups;
pub mod error;
pub mod rootfs;
pub mod seccomp;

pub use error::{Error, Result};
