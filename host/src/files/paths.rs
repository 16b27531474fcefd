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
/// Default cache of GPTQ-rounded weights (`spikeq eval --gptq`), relative to the repository root.
pub const DEFAULT_GPTQ_CACHE: &str = ".cache/gptq";

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

/// `path` if it is a regular file, else an error that says what is wrong with it: a default
/// asset that is missing points at the setup script; a path the user gave that is missing, a
/// directory or a FIFO is named as such.
fn checked(what: &'static str, path: PathBuf, given: bool) -> Result<PathBuf, ModelError> {
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(m) => {
            let kind = if m.is_dir() { "a directory" } else { "not a regular file (a FIFO, socket or device)" };
            Err(ModelError::NotAFile { what, path, kind })
        }
        Err(_) if !given => Err(ModelError::MissingAsset { what, path }),
        Err(source) => Err(ModelError::Io { path, source }),
    }
}

/// A default asset at `path`, checked to be a regular file (missing: run the setup script).
pub fn require_asset(what: &'static str, path: PathBuf) -> Result<PathBuf, ModelError> {
    checked(what, path, false)
}

/// `given`, or else `default` under the repository root; checked to be a regular file.
pub fn asset(what: &'static str, given: Option<PathBuf>, default: &str) -> Result<PathBuf, ModelError> {
    let is_given = given.is_some();
    checked(what, or_default(given, default), is_given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_or_fifo_is_named_as_such_not_as_missing() {
        let dir = std::env::temp_dir().join(format!("spikeq-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = asset("model", Some(dir.clone()), DEFAULT_MODEL).unwrap_err().to_string();
        assert!(e.contains("is a directory") && !e.contains("setup.sh"), "{e}");
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let e = asset("text", Some(fifo.clone()), DEFAULT_TEXT).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        let e = asset("text", Some(dir.join("missing.txt")), DEFAULT_TEXT).unwrap_err().to_string();
        assert!(e.contains("missing.txt") && !e.contains("setup.sh"), "a path the user gave is not an asset: {e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
