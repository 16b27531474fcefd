//! Writing the files a command produces.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `text` to `path`, creating its folder first.
pub fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
