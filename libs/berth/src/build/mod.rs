//! Image builds (issue 16). So far only the Dockerfile parser and word expansion.

pub mod cache;
pub mod dockerfile;
