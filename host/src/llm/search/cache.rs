//! The search's point cache: one append-only JSON-lines file per calibration setup, one line per
//! evaluated assignment, written and flushed as each evaluation finishes. An interrupted search
//! loses at most the evaluation that was running; a rerun reads the file and evaluates only what
//! is missing. A torn last line (killed mid-write) is skipped on reading.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SearchError;

/// What was measured for one assignment on the calibration segments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// [`crate::llm::precision::Assignment::key`], or `f32`.
    pub key: String,
    /// Summed negative log-likelihood over the scored tokens (nats).
    pub nll_sum: f64,
    /// Scored tokens.
    pub scored: usize,
    /// On-chip energy per token position, pJ (energy model of `crate::study::energy`).
    pub energy_pj: f64,
}

impl Measured {
    /// Perplexity on the calibration segments.
    pub fn ppl(&self) -> f64 {
        (self.nll_sum / self.scored as f64).exp()
    }
}

/// The cache file of one setup, locked while open.
#[derive(Debug)]
pub struct PointCache {
    path: PathBuf,
    file: File,
    points: HashMap<String, Measured>,
}

impl PointCache {
    /// Opens (or creates) `<dir>/<id>.jsonl`; its first line is `header`, which an existing
    /// file must repeat. Takes an exclusive lock: two searches never append to the same file.
    pub fn open(dir: &Path, id: &str, header: &serde_json::Value) -> Result<Self, SearchError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SearchError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(format!("{id}.jsonl"));
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io(&path))?;
        file.try_lock().map_err(|_| SearchError::Busy { path: path.clone() })?;
        let mut points = HashMap::new();
        let mut lines = BufReader::new(&file).lines();
        match lines.next() {
            None => writeln!(file, "{header}").map_err(io(&path))?,
            Some(first) => {
                let first = first.map_err(io(&path))?;
                if serde_json::from_str::<serde_json::Value>(&first).ok().as_ref() != Some(header) {
                    return Err(SearchError::CacheHeader { path });
                }
                for line in lines.map_while(Result::ok) {
                    if let Ok(m) = serde_json::from_str::<Measured>(&line) {
                        points.insert(m.key.clone(), m);
                    }
                }
            }
        }
        // A torn last line has no newline: end it so the next record starts on its own line.
        let len = file.seek(SeekFrom::End(0)).map_err(io(&path))?;
        if len > 0 {
            let mut last = [0u8; 1];
            let mut r = File::open(&path).map_err(io(&path))?;
            r.seek(SeekFrom::Start(len - 1)).map_err(io(&path))?;
            std::io::Read::read_exact(&mut r, &mut last).map_err(io(&path))?;
            if last[0] != b'\n' {
                writeln!(file).map_err(io(&path))?;
            }
        }
        Ok(PointCache { path, file, points })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Points already measured.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether nothing was measured yet.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// A measured point.
    pub fn get(&self, key: &str) -> Option<&Measured> {
        self.points.get(key)
    }

    /// Records a point: appended and flushed before this returns.
    pub fn insert(&mut self, m: Measured) -> Result<(), SearchError> {
        let line = serde_json::to_string(&m).expect("Measured serializes");
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|source| SearchError::Io { path: self.path.clone(), source })?;
        self.points.insert(m.key.clone(), m);
        Ok(())
    }
}
