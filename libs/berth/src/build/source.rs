//! SHIM
use crate::error::Result;
use std::io::Read;
use std::path::{Path, PathBuf};
pub enum Input {
    Dockerfile(String),
    Context {
        dir: PathBuf,
        tmp: tempfile::TempDir,
    },
}
pub fn from_stdin(_r: impl Read, _tmp_parent: &Path) -> Result<Input> {
    todo!()
}
