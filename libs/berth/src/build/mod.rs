//! Image builds (issue 16). So far only the Dockerfile parser and word expansion.

pub mod dockerfile;
pub mod source;
