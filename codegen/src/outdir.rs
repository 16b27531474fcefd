//! The check that protects user files from being overwritten, for every command that writes
//! (`spikeq gen` here, synth, search and compare in the host): a command writes into a folder (or
//! file) the user named only if it is missing or empty, holds what an earlier run of the same
//! command wrote, or the user passed `--force`. Checked before any long work, so a refusal costs
//! nothing.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// The place holds files another program or the user wrote.
#[derive(Debug, Error)]
#[error("{} holds files that {owner} did not write: choose another output, move them away, or pass --force to overwrite", path.display())]
pub struct NotOurs {
    /// The folder or file.
    pub path: PathBuf,
    /// The command whose files may be overwritten (`spikeq synth`, ...).
    pub owner: &'static str,
}

/// Refuses `path` if it is a non-empty folder or an existing file that `ours` does not
/// recognize as written by `owner`, unless `force`.
pub fn check_ours(
    path: &Path,
    force: bool,
    owner: &'static str,
    ours: impl FnOnce(&Path) -> bool,
) -> Result<(), NotOurs> {
    let occupied = match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_some(),
        Err(_) => path.exists(),
    };
    if occupied && !force && !ours(path) {
        return Err(NotOurs { path: path.to_path_buf(), owner });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_foreign_non_empty_places() {
        let dir = std::env::temp_dir().join(format!("spikeq_outdir_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let never = |_: &Path| false;
        check_ours(&dir, false, "spikeq test", never).expect("a missing folder");
        std::fs::create_dir_all(&dir).unwrap();
        check_ours(&dir, false, "spikeq test", never).expect("an empty folder");
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        let e = check_ours(&dir, false, "spikeq test", never).unwrap_err().to_string();
        assert!(e.contains("spikeq test") && e.contains("--force"), "{e}");
        check_ours(&dir, true, "spikeq test", never).expect("--force");
        check_ours(&dir, false, "spikeq test", |d| d.join("notes.txt").exists()).expect("ours");
        assert!(check_ours(&dir.join("notes.txt"), false, "spikeq test", never).is_err(), "an existing file");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
