//! `spikeq-codegen`: Verilog for a spikeq array, generated from a validated [`Derived`]
//! configuration, plus its manifest, machine-readable signature and (optionally) a self-checking
//! Icarus testbench with vectors from the golden model.
//!
//! Entry points: [`generate`] returns the design in memory (files in a stable order; the
//! Verilator builder uses this), [`Design::write_to`] puts it on disk, [`testbench::generate`]
//! adds the testbench. **Output is deterministic**: the same configuration gives the same bytes.
//! [`flow`] adds the 4-pin synthesis harness and the yosys scripts that `spikeq synth` runs.

use std::path::{Path, PathBuf};

use serde::Serialize;
use spikeq_hdl::digest::sha256_hex;
use spikeq_hdl::Derived;

mod constants;
pub mod flow;
mod helpers;
pub mod outdir;
pub mod ports;
mod rtl;
pub mod testbench;

pub use ports::{Dir, Port, PortId, TOP_PORTS};

/// Version of this generator, recorded in every header and the manifest.
pub const GENERATOR_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Name of the manifest file the generator writes (and looks for before overwriting).
pub const MANIFEST: &str = "manifest.json";
/// Name of the signature file.
pub const SIGNATURE: &str = "signature.json";

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum CodegenError {
    /// A template failed to render (a bug in the generator).
    #[error("template error: {0}")]
    Template(String),
    /// Writing an output file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The output directory holds files the generator did not write (it has no manifest.json).
    #[error(transparent)]
    NotOurs(#[from] outdir::NotOurs),
    /// The testbench program broke the register protocol on the golden device (a generator bug).
    #[error("recording the testbench program: {0}")]
    Protocol(#[from] spikeq_hdl::ProtocolError),
}

/// One generated file, path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenFile {
    /// Relative path (`/`-separated).
    pub path: String,
    /// Contents.
    pub contents: String,
}

/// A generated design: RTL, signature and manifest, in a stable order.
#[derive(Debug, Clone)]
pub struct Design {
    /// The configuration it was generated from.
    pub derived: Derived,
    /// Name of the top module (`spikeq_top_<hash8>`).
    pub top: String,
    /// Verilog files, one module each, top first; then extra files (testbench, vectors) if added;
    /// the signature and the manifest come last.
    pub files: Vec<GenFile>,
}

/// Machine-readable facts about the generated top (written as signature.json).
#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// Top module name.
    pub top: String,
    /// Clock port.
    pub clock: &'static str,
    /// Reset port and polarity.
    pub reset: &'static str,
    /// Reset style.
    pub reset_kind: &'static str,
    /// Ports in declaration order.
    pub ports: &'static [Port],
    /// `spikeq_hdl::regmap::fingerprint()` of the map the RTL implements.
    pub regmap_fingerprint: String,
    /// CFG_HASH register value.
    pub cfg_hash32: String,
    /// Full configuration hash.
    pub config_hash: String,
    /// Verilog files in compile order (top last is not required; any order compiles).
    pub verilog: Vec<String>,
}

#[derive(Serialize)]
struct ManifestFile<'a> {
    path: &'a str,
    sha256: String,
}

#[derive(Serialize)]
struct Manifest<'a> {
    generator: &'static str,
    generator_version: &'static str,
    config: &'a spikeq_hdl::ArrayConfig,
    config_hash: &'a str,
    short_hash: &'a str,
    top: &'a str,
    files: Vec<ManifestFile<'a>>,
}

/// Generates the RTL of a configuration (plus signature and manifest), in memory.
pub fn generate(d: &Derived) -> Result<Design, CodegenError> {
    let files = rtl::render(d)?
        .into_iter()
        .map(|(module, text)| GenFile { path: format!("{module}.v"), contents: text })
        .collect();
    let mut design = Design { derived: d.clone(), top: format!("spikeq_top_{}", d.short_hash()), files };
    design.finish();
    Ok(design)
}

impl Design {
    /// The Verilog files (paths and contents), top first.
    pub fn verilog(&self) -> impl Iterator<Item = &GenFile> {
        self.files.iter().filter(|f| f.path.ends_with(".v") && !f.path.starts_with("tb/"))
    }

    /// The signature of the top module.
    pub fn signature(&self) -> Signature {
        Signature {
            top: self.top.clone(),
            clock: "ap_clk",
            reset: "ap_rst_n",
            reset_kind: "synchronous, active low",
            ports: TOP_PORTS,
            regmap_fingerprint: format!("{:08x}", spikeq_hdl::regmap::fingerprint()),
            cfg_hash32: format!("{:08x}", self.derived.hash32),
            config_hash: self.derived.hash.clone(),
            verilog: self.verilog().map(|f| f.path.clone()).collect(),
        }
    }

    /// Adds extra files (e.g. the testbench) and refreshes signature and manifest.
    pub fn add_files(&mut self, extra: Vec<GenFile>) {
        self.files.retain(|f| f.path != MANIFEST && f.path != SIGNATURE);
        self.files.extend(extra);
        self.finish();
    }

    /// (Re)computes signature.json and manifest.json from the other files.
    fn finish(&mut self) {
        self.files.retain(|f| f.path != MANIFEST && f.path != SIGNATURE);
        let sig = serde_json::to_string_pretty(&self.signature()).expect("signature serializes") + "\n";
        self.files.push(GenFile { path: SIGNATURE.into(), contents: sig });
        let manifest = Manifest {
            generator: "spikeq-codegen",
            generator_version: GENERATOR_VERSION,
            config: &self.derived.config,
            config_hash: &self.derived.hash,
            short_hash: self.derived.short_hash(),
            top: &self.top,
            files: self
                .files
                .iter()
                .map(|f| ManifestFile { path: &f.path, sha256: sha256_hex(f.contents.as_bytes()) })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&manifest).expect("manifest serializes") + "\n";
        self.files.push(GenFile { path: MANIFEST.into(), contents: text });
    }

    /// Writes every file under `dir`. Refuses a non-empty directory without a spikeq manifest
    /// unless `force`; files of an earlier generation that are no longer produced are removed.
    ///
    /// All-or-nothing: the files are first written to a staging folder beside `dir`; only when
    /// every one is on disk are they moved in (renames, which need no space), the manifest last.
    /// A run that fails (a full disk, a quota) leaves `dir` as it was, so a retry is accepted.
    pub fn write_to(&self, dir: &Path, force: bool) -> Result<(), CodegenError> {
        outdir::check_ours(dir, force, "spikeq gen", is_generated_dir)?;
        let staging = staging_dir(dir);
        if staging.exists() {
            // Left by a run that was killed; the name is ours alone.
            std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
        }
        if let Err(e) = self.write_all(&staging) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        let previous = if is_generated_dir(dir) { previous_files(dir) } else { Vec::new() };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        for f in &self.files {
            let (from, to) = (staging.join(&f.path), dir.join(&f.path));
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::rename(&from, &to).map_err(io(&to))?;
        }
        for old in previous {
            if !self.files.iter().any(|f| f.path == old) {
                let _ = std::fs::remove_file(dir.join(&old));
            }
        }
        std::fs::remove_dir_all(&staging).map_err(io(&staging))
    }

    /// Writes every file under `root` (a fresh folder).
    fn write_all(&self, root: &Path) -> Result<(), CodegenError> {
        for f in &self.files {
            let path = root.join(&f.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&path, &f.contents).map_err(io(&path))?;
        }
        Ok(())
    }
}

/// The error of an IO step on `path`.
fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CodegenError {
    let path = path.to_path_buf();
    move |source| CodegenError::Io { path, source }
}

/// Where [`Design::write_to`] stages a generation: a hidden sibling of `dir` (same file system,
/// so files move in by rename).
fn staging_dir(dir: &Path) -> std::path::PathBuf {
    match dir.file_name() {
        Some(name) => dir.with_file_name(format!(".{}.spikeq-partial", name.to_string_lossy())),
        None => dir.join(".spikeq-partial"),
    }
}

/// Whether `dir` holds a manifest written by this generator.
pub fn is_generated_dir(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join(MANIFEST))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("generator").and_then(|g| g.as_str()) == Some("spikeq-codegen"))
}

fn previous_files(dir: &Path) -> Vec<String> {
    let Some(v) = std::fs::read_to_string(dir.join(MANIFEST))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return Vec::new();
    };
    v.get("files")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|f| f.get("path").and_then(|p| p.as_str()))
                .filter(|p| !p.contains("..") && !p.starts_with('/'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
