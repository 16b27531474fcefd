//! Where the repository's files are, by one rule: a path the user gives is used as given
//! (relative to the working directory); a default names a file of the repository (the assets
//! under `.cache/`, `configs/`) and is taken under the root of the checkout that holds the
//! working directory, so `spikeq` finds them from any folder of the checkout. Outside a checkout
//! the working directory stands in for the root.

use std::path::PathBuf;

use crate::llm::model::ModelError;

/// Default model, relative to the repository root.
pub const DEFAULT_MODEL: &str = ".cache/model/SmolLM2-135M-Instruct.Q4_1.gguf";
/// Default text (PTB test split), relative to the repository root.
pub const DEFAULT_TEXT: &str = ".cache/ptb/test.txt";
/// Default calibration text (PTB valid split), relative to the repository root.
pub const DEFAULT_VALID: &str = ".cache/ptb/valid.txt";
/// Default array configuration, relative to the repository root.
pub const DEFAULT_CONFIG: &str = "configs/default.toml";
/// Default cache of the search's points, relative to the repository root.
pub const DEFAULT_SEARCH_CACHE: &str = ".cache/search";
/// Default cache of synthesis reports (`spikeq compare`), relative to the repository root.
pub const DEFAULT_SYNTH_CACHE: &str = ".cache/synth";

/// The repository root of the working directory ([`spikeq_tb::builder::repo_root`]), else the
/// working directory.
pub fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    spikeq_tb::builder::repo_root(&cwd).unwrap_or(cwd)
}

/// `given`, or else `default` under the repository root.
pub fn or_default(given: Option<PathBuf>, default: &str) -> PathBuf {
    given.unwrap_or_else(|| repo_root().join(default))
}

/// `path` if it is a file, else the error that tells the user to run the setup script.
pub fn require_asset(what: &'static str, path: PathBuf) -> Result<PathBuf, ModelError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(ModelError::MissingAsset { what, path })
    }
}

/// `given`, or else `default` under the repository root; checked to exist.
pub fn asset(what: &'static str, given: Option<PathBuf>, default: &str) -> Result<PathBuf, ModelError> {
    require_asset(what, or_default(given, default))
}
