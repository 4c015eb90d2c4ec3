//! Image builds (issue 16): the Dockerfile parser and word expansion, the build input from stdin.

pub mod dockerfile;
pub mod source;
