//! Loads an OCI `linux.seccomp` filter into the calling thread (as runc does, with libseccomp).
//!
//! OWNER: seccomp helper. Interface: `apply(&LinuxSeccomp) -> Result<()>`.

use oci_spec::runtime::LinuxSeccomp;

use crate::error::{Error, Result};

/// Compiles and loads `profile`; every syscall not matched gets the default action.
pub fn apply(profile: &LinuxSeccomp) -> Result<()> {
    let _ = profile;
    Err(Error::Seccomp("not written yet".into()))
}
