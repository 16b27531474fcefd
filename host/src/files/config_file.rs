//! Reading an array configuration file: one function and one error wording (which file, what is
//! wrong, what to do) for every command that takes `--config`.

use std::path::{Path, PathBuf};

use spikeq_hdl::{Derived, HdlError};
use thiserror::Error;

/// An array configuration file that cannot be used.
#[derive(Debug, Error)]
#[error("array configuration {}: {why}; {todo}", path.display())]
pub struct ConfigFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub why: String,
    /// What to do about it.
    pub todo: &'static str,
}

/// Reads and validates an array configuration (TOML); every later step reads its [`Derived`].
pub fn read(path: &Path) -> Result<Derived, ConfigFileError> {
    let err = |why: String, todo| ConfigFileError { path: path.to_path_buf(), why, todo };
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(format!("cannot read it ({e})"), "pass --config with a TOML file such as configs/default.toml")
    })?;
    Derived::from_toml(&text).map_err(|e| match e {
        HdlError::Config(c) => err(c.to_string(), "edit that field"),
        other => err(other.to_string(), "fix the TOML; configs/default.toml shows every field"),
    })
}
