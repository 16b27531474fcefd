//! Synthesis flows: the generated RTL, wrapped in the codegen's 4-pin harness
//! (`spikeq_codegen::flow`), through yosys (`synth_ice40` then nextpnr-ice40, or `synth_xilinx`),
//! giving one [`SynthReport`] per target: LUTs, flip-flops, block RAM, carry cells, DSPs and, where a
//! router ran, Fmax.
//!
//! Layout of an output directory: `rtl/` (the generated Verilog + harness), and per target
//! `ice40/` or `xilinx/` with the yosys script and log, `stat.json`, the netlist, nextpnr's log,
//! report and routed `design.asc` (iCE40), and `report.json` (the [`SynthReport`]).
//!
//! Results may be cached (`SynthOptions::cache`) under the content hash of everything that decides
//! them: the RTL files, the script, the place-and-route options and the tool versions.

mod cells;
pub use cells::Counts;
mod ice40;
pub mod modules;
mod tools;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spikeq_codegen::flow;
use spikeq_hdl::{Derived, OutputMode, PeKind};

use crate::files::digest::CacheKey;
use spikeq_codegen::outdir::{check_ours, NotOurs};

pub use flow::Family as Target;
pub use ice40::Ice40Device;
pub use tools::INSTALL_HINT;

/// Errors of the synthesis flows.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// A tool is not on PATH.
    #[error("{tool} is not installed: run scripts/setup.sh, or `sudo apt-get install {package}` (all flows: `sudo apt-get install yosys nextpnr-ice40 fpga-icestorm`)")]
    ToolMissing {
        /// Executable.
        tool: &'static str,
        /// Debian package providing it.
        package: &'static str,
    },
    /// A tool ran and failed.
    #[error("{tool} failed; full log in {log}; its last lines:\n{tail}")]
    ToolFailed {
        /// Executable.
        tool: &'static str,
        /// Log file.
        log: PathBuf,
        /// Last lines of the log.
        tail: String,
    },
    /// The output directory holds files spikeq synth did not write (no `rtl/manifest.json`).
    #[error(transparent)]
    NotOurs(#[from] NotOurs),
    /// The options cannot work (unreadable PCF, a device the design cannot fit, ...).
    #[error("{0}")]
    Options(String),
    /// The generator failed.
    #[error(transparent)]
    Codegen(#[from] spikeq_codegen::CodegenError),
    /// Reading or writing a file failed.
    #[error("cannot access {path}: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A tool's output could not be understood.
    #[error("cannot read {path}: {reason}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// Options of a flow; `Default` is what `spikeq synth` uses without flags.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// iCE40 part; `None` tries the smallest that yosys's counts allow, then larger ones if
    /// nextpnr cannot place the design.
    pub device: Option<Ice40Device>,
    /// iCE40 package; `None` is the device's default (sg48 for UP5K, ct256 for HX8K).
    pub package: Option<String>,
    /// Pin constraints (nextpnr PCF) for the harness pins `clk`, `rst_n`, `din`, `dout`; `None`
    /// lets nextpnr place them.
    pub pcf: Option<PathBuf>,
    /// Clock the router aims for, MHz; `None` is the configuration's `clock_mhz`.
    pub freq_mhz: Option<f64>,
    /// Placer seed (fixed, so results repeat).
    pub seed: u64,
    /// Write into a non-empty directory that spikeq synth did not write.
    pub force: bool,
    /// Directory of cached reports, keyed by content hash; `None` always runs the tools.
    pub cache: Option<PathBuf>,
    /// Xilinx: map multipliers to LUTs instead of DSP48 blocks (`synth_xilinx -nodsp`), to count a
    /// DSP-based design in LUTs alone.
    pub no_dsp: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            device: None,
            package: None,
            pcf: None,
            freq_mhz: None,
            seed: 1,
            force: false,
            cache: None,
            no_dsp: false,
        }
    }
}

/// Tool versions a report was produced with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolVersions {
    /// `yosys -V`.
    pub yosys: String,
    /// `nextpnr-ice40 --version` (iCE40 only).
    pub nextpnr: Option<String>,
}

/// The result of one flow on one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SynthReport {
    /// Configuration name.
    pub config: String,
    /// Configuration hash.
    pub config_hash: String,
    /// PE kind (`spike` or `mac`).
    pub pe: String,
    /// Array shape.
    pub rows: u32,
    /// Array shape.
    pub lanes: u32,
    /// Weight format (e.g. `int4`).
    pub weight_format: String,
    /// Normal and salient activation bits.
    pub act_bits: u32,
    /// Salient activation bits (the MAC's code width).
    pub salient_bits: u32,
    /// Family.
    pub target: Target,
    /// Synthesis top (the harness).
    pub top: String,
    /// Device the numbers refer to: the routed iCE40 part, the one the design does not fit, or
    /// the Xilinx family of the estimate.
    pub device: String,
    /// Whether place and route ran and succeeded (iCE40 only).
    pub routed: bool,
    /// Whether the design fits the device (`None`: not checked, Xilinx estimate).
    pub fits: Option<bool>,
    /// Resource counts (flattened: the JSON keeps `luts`, `ffs`, ... at the top level).
    #[serde(flatten)]
    pub counts: Counts,
    /// Logic cells after packing (nextpnr's ICESTORM_LC), when routed.
    pub logic_cells: Option<u64>,
    /// Post-route Fmax in MHz (iCE40, when routed); Xilinx has none (no router here).
    pub fmax_mhz: Option<f64>,
    /// The clock the router aimed for, MHz.
    pub target_mhz: f64,
    /// Flip-flops of the harness itself (subtract for the array alone).
    pub harness_ffs: u64,
    /// Every cell type yosys produced, with its count.
    pub cells: BTreeMap<String, u64>,
    /// Tool versions.
    pub tools: ToolVersions,
    /// What to keep in mind reading the numbers (does not fit, inverters, ...).
    pub note: Option<String>,
    /// Content hash of RTL + script + options + tool versions (the cache key).
    pub key: String,
    /// Whether this report came from the cache instead of a tool run.
    pub cached: bool,
}

/// The same array with another PE kind, for spike-vs-MAC comparisons from one configuration file.
/// A MAC array is raw-only (hdl validation), so `mac` keeps only the `raw` output mode.
pub fn with_pe(d: &Derived, pe: PeKind) -> Result<Derived, SynthError> {
    let mut c = d.config.clone();
    c.pe = pe;
    if pe == PeKind::Mac {
        c.output_modes = vec![OutputMode::Raw];
    }
    c.validate().map_err(|e| SynthError::Options(format!("{} with pe = {}: {e}", d.config.name, pe_name(pe))))
}

/// `spike` or `mac`, as in the configuration files.
pub fn pe_name(pe: PeKind) -> &'static str {
    match pe {
        PeKind::Spike => "spike",
        PeKind::Mac => "mac",
    }
}

/// Synthesises `d` for `target` into `out` with default options (see [`run_with`]).
pub fn run(d: &Derived, target: Target, out: &Path) -> Result<SynthReport, SynthError> {
    run_with(d, target, out, &SynthOptions::default())
}

/// Generates the RTL + harness into `out/rtl`, runs the target's flow in `out/<target>` and
/// writes `out/<target>/report.json`. `out` must be empty, new, or written by an earlier run
/// (`rtl/manifest.json`), unless `opts.force`.
pub fn run_with(d: &Derived, target: Target, out: &Path, opts: &SynthOptions) -> Result<SynthReport, SynthError> {
    let versions = ToolVersions {
        yosys: tools::YOSYS.version()?,
        nextpnr: if target == Target::Ice40 { Some(tools::NEXTPNR_ICE40.version()?) } else { None },
    };
    let pcf = match &opts.pcf {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| SynthError::Options(format!("cannot read the PCF {}: {e}", p.display())))?,
        ),
        None => None,
    };
    check_ours(out, opts.force, "spikeq synth", |d| spikeq_codegen::is_generated_dir(&d.join("rtl")))?;
    let design = flow::generate_for_synthesis(d)?;
    let rtl = out.join("rtl");
    design.write_to(&rtl, true)?;
    let dir = out.join(target.name());
    reset_dir(&dir)?;

    let top = flow::harness_name(d);
    let files: Vec<String> = design.verilog().map(|f| format!("../rtl/{}", f.path)).collect();
    let script = flow::yosys_script(target, &files, &top, STAT, NETLIST, opts.no_dsp);
    let freq = opts.freq_mhz.unwrap_or(d.config.clock_mhz);

    let key = cache_key(&design, target, opts, pcf.as_deref(), freq, &versions, &script);
    let cached_path = opts.cache.as_ref().map(|c| c.join(format!("{key}.json")));
    if let Some(report) = cached_path.as_deref().and_then(read_report) {
        let report = SynthReport { cached: true, ..report };
        write_json(&dir.join(REPORT), &report)?;
        return Ok(report);
    }

    write(&dir.join(SCRIPT), &script)?;
    tools::YOSYS.run(&dir, &["-q", "-l", YOSYS_LOG, "-s", SCRIPT], YOSYS_LOG)?;
    let cells = cells::read_stat(&dir.join(STAT))?;
    let mut report = SynthReport::new(d, target, top, freq, cells, versions, key);
    match target {
        Target::Ice40 => place_and_route(&mut report, &dir, opts)?,
        Target::Xilinx => {
            report.device = "Xilinx 7-series (xc7, yosys estimate)".into();
            let inv = report.cells.get("INV").copied().unwrap_or(0);
            report.note = Some(format!("no Fmax (no Xilinx place and route here); LUTs exclude {inv} INV cells"));
        }
    }
    write_json(&dir.join(REPORT), &report)?;
    if let Some(path) = cached_path {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| SynthError::Io { path: parent.to_path_buf(), source })?;
        }
        write_json(&path, &report)?;
    }
    Ok(report)
}

/// The cache key: SHA-256 over everything that decides a report (report-logic version, target,
/// options, PCF text, tool versions, yosys script, every Verilog file's name and contents).
fn cache_key(
    design: &spikeq_codegen::Design,
    target: Target,
    opts: &SynthOptions,
    pcf: Option<&str>,
    freq: f64,
    versions: &ToolVersions,
    script: &str,
) -> String {
    let (device, package, seed) = (&opts.device, &opts.package, opts.seed);
    let key = CacheKey::new(&format!("spikeq-synth {CACHE_FORMAT}"))
        .part("version", env!("CARGO_PKG_VERSION"))
        .part("target", target.to_string())
        .part("device", format!("{device:?}"))
        .part("package", format!("{package:?}"))
        .part("pcf", format!("{pcf:?}"))
        .part("freq", freq.to_string())
        .part("seed", seed.to_string())
        .part("tools", format!("{versions:?}"))
        .part("script", script);
    design.verilog().fold(key, |key, f| key.part("path", &f.path).part("contents", &f.contents)).hex()
}

impl SynthReport {
    /// A report from yosys's cell histogram; device, routing and Fmax are filled in by the flow.
    fn new(
        d: &Derived,
        target: Target,
        top: String,
        freq: f64,
        cells: BTreeMap<String, u64>,
        tools: ToolVersions,
        key: String,
    ) -> Self {
        let c = &d.config;
        SynthReport {
            config: c.name.clone(),
            config_hash: d.hash.clone(),
            pe: pe_name(c.pe).to_string(),
            rows: c.rows,
            lanes: c.lanes,
            weight_format: c.weight_format.to_string(),
            act_bits: c.act_bits,
            salient_bits: c.salient_bits,
            target,
            top,
            device: String::new(),
            routed: false,
            fits: None,
            counts: cells::classify(target, &cells),
            logic_cells: None,
            fmax_mhz: None,
            target_mhz: freq,
            harness_ffs: flow::harness_ffs(),
            cells,
            tools,
            note: None,
            key,
            cached: false,
        }
    }
}

/// Version of the report logic in the cache key: bump it when a change here would change a report
/// for the same RTL, options and tools (so stale cached reports are never reused).
const CACHE_FORMAT: u32 = 3;

/// File names inside a target directory.
const SCRIPT: &str = "synth.ys";
const YOSYS_LOG: &str = "yosys.log";
const STAT: &str = "stat.json";
const NETLIST: &str = "netlist.json";
/// The [`SynthReport`] of a target directory.
pub const REPORT: &str = "report.json";
/// The routed iCE40 design (icepack's input), in `out/ice40/`.
pub const ICE40_ASC: &str = ice40::ASC;

/// iCE40: pick the device (given, or the smallest that can fit), place and route, record the
/// outcome. A design larger than every iCE40 keeps its yosys counts and says so.
fn place_and_route(report: &mut SynthReport, dir: &Path, opts: &SynthOptions) -> Result<(), SynthError> {
    let candidates: Vec<Ice40Device> = match opts.device {
        Some(dev) => vec![dev],
        None => Ice40Device::ALL
            .into_iter()
            .filter(|dev| !dev.cannot_fit(report.counts.luts, report.counts.brams))
            .collect(),
    };
    let largest = *Ice40Device::ALL.last().expect("devices");
    let needs = format!("{} SB_LUT4, {} SB_RAM40_4K", report.counts.luts, report.counts.brams);
    if candidates.is_empty()
        || (opts.device.is_some() && candidates[0].cannot_fit(report.counts.luts, report.counts.brams))
    {
        let dev = opts.device.unwrap_or(largest);
        report.device = format!("iCE40 {} (does not fit)", dev.name().to_uppercase());
        report.fits = Some(false);
        let (name, lcs, rams) = (dev.name().to_uppercase(), dev.logic_cells(), dev.brams());
        let part = match opts.device {
            Some(_) => format!("the iCE40 {name} ({lcs} logic cells, {rams} RAM40)"),
            None => format!("any iCE40 (the largest, {name}, has {lcs} logic cells, {rams} RAM40)"),
        };
        report.note = Some(format!("does not fit {part}: needs {needs}; yosys counts only, no place and route"));
        return Ok(());
    }
    let mut last_err = None;
    for dev in candidates {
        let package = opts.package.clone().unwrap_or_else(|| dev.default_package().to_string());
        report.device = format!("iCE40 {} ({package})", dev.name().to_uppercase());
        match ice40::place_and_route(dir, NETLIST, dev, &package, opts.pcf.as_deref(), report.target_mhz, opts.seed) {
            Ok(r) => {
                report.routed = true;
                report.fits = Some(true);
                report.logic_cells = Some(r.logic_cells);
                report.fmax_mhz = Some(r.fmax_mhz);
                if r.fmax_mhz < report.target_mhz {
                    report.note =
                        Some(format!("timing not met at {} MHz (Fmax {:.2} MHz)", report.target_mhz, r.fmax_mhz));
                }
                return Ok(());
            }
            Err(e) => last_err = Some(e),
        }
    }
    // nextpnr refused every candidate: a placement failure means it does not fit; anything
    // else is a tool failure the user has to see.
    match last_err.expect("at least one candidate ran") {
        SynthError::ToolFailed { tail, .. } if tail.contains("Unable to place") || tail.contains("Failed to") => {
            report.fits = Some(false);
            report.note =
                Some(format!("nextpnr could not place the design on {}: {}", report.device, tools::tail(&tail, 1)));
            report.device = format!("{} (does not fit)", report.device);
            Ok(())
        }
        e => Err(e),
    }
}

/// Empties a target directory (an earlier run's netlist or bitstream must not survive a failed run).
fn reset_dir(dir: &Path) -> Result<(), SynthError> {
    let io = |source| SynthError::Io { path: dir.to_path_buf(), source };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io)?;
    }
    std::fs::create_dir_all(dir).map_err(io)
}

fn write(path: &Path, text: &str) -> Result<(), SynthError> {
    std::fs::write(path, text).map_err(|source| SynthError::Io { path: path.to_path_buf(), source })
}

fn write_json(path: &Path, report: &SynthReport) -> Result<(), SynthError> {
    write(path, &(serde_json::to_string_pretty(report).expect("report serializes") + "\n"))
}

fn read_report(path: &Path) -> Option<SynthReport> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Markdown table of reports, with the tool versions and notes below it.
pub fn markdown(reports: &[SynthReport]) -> String {
    let mut s = String::from(
        "| config | PE | rows x lanes | target | device | LUTs | FFs | BRAM | carry | DSP | LUTRAM | Fmax (MHz) |\n\
         | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in reports {
        let fmax = r.fmax_mhz.map_or("–".to_string(), |f| format!("{f:.2}"));
        s.push_str(&format!(
            "| {} | {} | {}x{} | {} | {} | {} | {} | {} | {} | {} | {} | {fmax} |\n",
            r.config,
            r.pe,
            r.rows,
            r.lanes,
            r.target,
            r.device,
            r.counts.luts,
            r.counts.ffs,
            r.counts.brams,
            r.counts.carries,
            r.counts.dsps,
            r.counts.lutrams
        ));
    }
    s.push_str(
        "\nBRAM: SB_RAM40_4K (4 Kbit) on iCE40, RAMB18 units on Xilinx. FFs include the synthesis harness's own ",
    );
    s.push_str(&format!(
        "{} flip-flops (4-pin wrapper: input shift register, output register).\n",
        flow::harness_ffs()
    ));
    if reports.iter().any(|r| r.target == Target::Xilinx) {
        s.push_str(
            "Xilinx: yosys `synth_xilinx` estimates, not placed or routed (Vivado is not available), so no Fmax; \
             INV cells that yosys leaves before flip-flop and carry inputs are not counted as LUTs (Vivado absorbs them).\n",
        );
    }
    let mut tools: Vec<&str> = Vec::new();
    for r in reports {
        for v in std::iter::once(&r.tools.yosys).chain(r.tools.nextpnr.as_ref()) {
            if !tools.contains(&v.as_str()) {
                tools.push(v);
            }
        }
    }
    s.push_str(&format!("\nTools: {}.\n", tools.join("; ")));
    for r in reports.iter().filter(|r| r.note.is_some()) {
        s.push_str(&format!("\n- {} ({}, {}): {}", r.config, r.pe, r.target, r.note.as_deref().unwrap_or_default()));
    }
    if reports.iter().any(|r| r.note.is_some()) {
        s.push('\n');
    }
    s
}
