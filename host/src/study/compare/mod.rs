//! Spike vs MAC across array sizes: area and Fmax from the synthesis flows (`crate::study::synth`),
//! cycles per SmolLM2 token from the golden cycle model on real activations (a few PTB test
//! tokens through the golden backend, every linear layer and row tile summed), throughput per LUT
//! and energy per token (`crate::study::energy`). `spikeq compare` writes the table, JSON and plots.
//!
//! Both PE kinds get the same widths (int4 weights, 4-bit codes with 8-bit salient codes — the
//! MAC's lanes multiply the 8-bit codes), the same k_max and salient budget, raw output.

pub mod plot;

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use spikeq_hdl::{ArrayConfig, Derived, PeKind};

use crate::device::Backend;
use crate::llm::model::llama::KvCache;
use crate::llm::precision::DEFAULT_SELECTOR;
use crate::llm::quant::{QuantError, Quantization, Scheme};
use crate::session::{Session, SessionError};
use crate::study::energy::report::DesignReport;
use crate::study::energy::{table, Activity as Counts};
use crate::study::synth::{self, SynthError, SynthOptions, SynthReport, Target};

/// Area and speed of one configuration on one target.
#[derive(Debug, Clone, Serialize)]
pub struct Area {
    /// `ice40` or `xilinx`.
    pub target: String,
    /// Part (iCE40) or family (Xilinx estimate).
    pub device: String,
    /// Whether the design fits the part (iCE40), `None` for an estimate.
    pub fits: Option<bool>,
    /// LUTs: LUT4 on iCE40, LUT1..6 on Xilinx.
    pub luts: u64,
    /// Flip-flops.
    pub ffs: u64,
    /// DSP blocks.
    pub dsps: u64,
    /// Block RAMs (SB_RAM40_4K on iCE40, RAMB18 units on Xilinx).
    pub brams: u64,
    /// Post-route Fmax, MHz (iCE40 routed designs only).
    pub fmax_mhz: Option<f64>,
    /// Taken from the synthesis cache rather than a tool run (not in the JSON: it is not a
    /// property of the design).
    #[serde(skip)]
    pub cached: bool,
}

impl From<&SynthReport> for Area {
    fn from(r: &SynthReport) -> Self {
        Area {
            target: r.target.name().into(),
            device: r.device.clone(),
            fits: r.fits,
            luts: r.counts.luts,
            ffs: r.counts.ffs,
            dsps: r.counts.dsps,
            brams: r.counts.brams,
            fmax_mhz: if r.routed { r.fmax_mhz } else { None },
            cached: r.cached,
        }
    }
}

/// Synthesizes `d` for one target with the project's synthesis flow (the only place this module
/// touches synthesis). `work` holds the tool outputs; `cache` reuses earlier identical runs.
/// `no_dsp` maps multipliers to LUTs (Xilinx), for throughput per LUT with the DSPs counted.
pub fn synthesize(
    d: &Derived,
    target: Target,
    work: &Path,
    cache: &Path,
    no_dsp: bool,
) -> Result<(Area, synth::ToolVersions), SynthError> {
    let opts = SynthOptions { cache: Some(cache.to_path_buf()), force: true, no_dsp, ..SynthOptions::default() };
    let dir = if no_dsp { format!("{}-nodsp", d.config.name) } else { d.config.name.clone() };
    let report = synth::run_with(d, target, &work.join(dir), &opts)?;
    Ok((Area::from(&report), report.tools))
}

/// One array of the sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    /// Rows = lanes.
    pub size: u32,
    /// `spike` or `mac`.
    pub pe: String,
    /// Configuration name and short hash.
    pub array: String,
    /// Xilinx 7-series estimate (comparable across every size).
    pub xilinx: Option<Area>,
    /// iCE40 place and route (Fmax where it fits).
    pub ice40: Option<Area>,
    /// Array cycles per token, summed over every linear layer and row tile.
    pub cycles_per_token: f64,
    /// Tokens per second at the iCE40 Fmax (when routed).
    pub tokens_per_s: Option<f64>,
    /// Tokens per million cycles per thousand Xilinx LUTs, DSPs not counted (clock-free
    /// throughput per area).
    pub tokens_per_mcycle_per_klut: Option<f64>,
    /// Xilinx LUTs with the DSPs counted: the LUTs of the same design synthesised with its
    /// multipliers in LUTs (`synth_xilinx -nodsp`); the spike array has no multipliers, so its LUTs.
    pub xilinx_luts_with_dsps: Option<u64>,
    /// Tokens per million cycles per thousand Xilinx LUTs with the DSPs counted.
    pub tokens_per_mcycle_per_klut_dsp: Option<f64>,
    /// Tokens per million cycles per thousand iCE40 LUT4 (yosys counts; every size, fitting or not).
    pub tokens_per_mcycle_per_klut4: Option<f64>,
    /// On-chip energy per token (arithmetic + weight and code memory reads), µJ.
    pub energy_on_chip_uj: f64,
    /// Energy per token with the streams priced as DRAM, µJ. With a few tokens per call the
    /// weight loads dominate it (they are amortized over the call's tokens), so the table shows
    /// the on-chip energy and `spikeq energy` the full picture on evaluation windows.
    pub energy_total_uj: f64,
    /// Perplexity of the measured tokens (identical for every array: they compute the same V).
    pub ppl: f64,
}

/// The quantization every sweep point runs: SpikeQuant with the session's salient selector.
fn spikequant(selector: spikeq_hdl::quant::SalientSelector) -> Quantization {
    Scheme::SpikeQuant.quantization(selector).expect("spikequant runs on an array")
}

/// The configuration of one sweep point: `base`'s k_max, salient budget and clock, `size` rows and
/// lanes, a code buffer of `code_buffer` tokens, the SpikeQuant widths, raw output.
pub fn sweep_array(base: &ArrayConfig, size: u32, pe: PeKind, code_buffer: u32) -> Result<Derived, QuantError> {
    let c = ArrayConfig {
        name: format!("cmp{size}x{size}_{}", synth::pe_name(pe)),
        rows: size,
        lanes: size,
        pe,
        code_buffer_tokens: code_buffer,
        ..base.clone()
    };
    spikequant(DEFAULT_SELECTOR).array(&c)
}

/// What the golden backend measured for one array on the first tokens of the text.
#[derive(Debug, Clone)]
pub struct Activity {
    /// Array cycles per token position.
    pub cycles_per_token: f64,
    /// Priced counts.
    pub design: DesignReport,
    /// Perplexity of the scored tokens.
    pub ppl: f64,
}

/// Runs `tokens` (after token 0, as in an evaluation window) through `d` on the golden backend.
pub fn measure(session: &Session, d: &Derived, tokens: &[u32]) -> Result<Activity, SessionError> {
    let q = spikequant(session.inputs.selector);
    let mut exec = session.executor_on(&q, d, &Backend::Golden)?.with_tap(Counts::default());
    let model = &session.model;
    let mut cache = KvCache::new(model.config(), tokens.len() + 1);
    let mut logits = Vec::new();
    let ppl = crate::llm::eval::eval_window(model, &mut exec, tokens, &mut cache, &mut logits)?;
    let positions = (tokens.len() + 1) as u64;
    Ok(Activity {
        cycles_per_token: exec.stats.counters.cycles as f64 / positions as f64,
        design: DesignReport::new(&d.config.name, "spikequant", d, &exec.tap, positions, None, table::dram_64()),
        ppl: ppl.ppl(),
    })
}

/// A sweep point from its measurements.
/// `xilinx_no_dsp` is the Xilinx area of the design synthesised with `-nodsp` (None: it has no
/// DSPs, so its LUTs already count everything).
pub fn point(
    size: u32,
    d: &Derived,
    a: &Activity,
    xilinx: Option<Area>,
    xilinx_no_dsp: Option<Area>,
    ice40: Option<Area>,
) -> SweepPoint {
    let cycles = a.cycles_per_token;
    let tokens_per_s = ice40.as_ref().and_then(|x| x.fmax_mhz).map(|f| f * 1e6 / cycles);
    let per_k = |luts: u64| 1e6 / cycles / (luts.max(1) as f64 / 1e3);
    let per_klut = xilinx.as_ref().map(|x| per_k(x.luts));
    let luts_with_dsps = xilinx_no_dsp.as_ref().or(xilinx.as_ref()).map(|x| x.luts);
    let per_klut4 = ice40.as_ref().map(|x| per_k(x.luts));
    SweepPoint {
        size,
        pe: format!("{:?}", d.config.pe).to_lowercase(),
        array: format!("{} ({})", d.config.name, d.short_hash()),
        xilinx,
        ice40,
        cycles_per_token: cycles,
        tokens_per_s,
        tokens_per_mcycle_per_klut: per_klut,
        xilinx_luts_with_dsps: luts_with_dsps,
        tokens_per_mcycle_per_klut_dsp: luts_with_dsps.map(per_k),
        tokens_per_mcycle_per_klut4: per_klut4,
        energy_on_chip_uj: a.design.per_token.on_chip() / 1e6,
        energy_total_uj: a.design.per_token.total() / 1e6,
        ppl: a.ppl,
    }
}

/// The whole sweep, as written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// Marks files written by this command (overwritten on rerun, never others).
    pub generator: String,
    /// PTB test tokens measured (after token 0).
    pub tokens: usize,
    /// SmoothQuant strength applied before quantization (None: no smoothing).
    pub smooth: Option<f32>,
    /// Tool versions of the synthesis runs.
    pub tools: Option<synth::ToolVersions>,
    /// Per-op energy source.
    pub energy_source: String,
    /// Points, by size then PE kind.
    pub points: Vec<SweepPoint>,
}

/// Marker of files `spikeq compare` wrote.
pub const GENERATOR: &str = "spikeq compare";

impl Sweep {
    /// The Markdown table for docs/results.md.
    pub fn markdown(&self, command: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Produced by `{command}` (JSON: `compare.json`, plots: `img/compare.svg`).");
        let _ = writeln!(
            s,
            "Cycles and energy from the first {} PTB test tokens through the golden backend (scheme spikequant, {}; all 210 linear layers, every row tile); area from yosys{} (Xilinx: `synth_xilinx` estimate, no place and route; iCE40: `synth_ice40 -abc9` + nextpnr, Fmax where the design fits a part); energy: {}.\n",
            self.tokens,
            self.smooth.map_or("no smoothing".into(), |a| format!("SmoothQuant alpha {a}")),
            self.tools.as_ref().map_or(String::new(), |t| format!(" {}{}", t.yosys, t.nextpnr.as_ref().map_or(String::new(), |n| format!(", nextpnr {n}")))),
            self.energy_source
        );
        let _ = writeln!(s, "| rows×lanes | PE | Xilinx LUT | FF | DSP | BRAM18 | Xilinx LUT, DSPs as LUTs | iCE40 LUT4 (part) | iCE40 Fmax MHz | cycles / token | tokens/s @ Fmax | tokens / Mcycle / kLUT4 (iCE40) | tokens / Mcycle / kLUT (Xilinx, DSPs counted) | on-chip µJ / token |");
        let _ = writeln!(
            s,
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
        let dash = || "—".to_string();
        for p in &self.points {
            let x = p.xilinx.as_ref();
            let i = p.ice40.as_ref();
            let _ = writeln!(
                s,
                "| {0}×{0} | {1} | {2} | {3} | {4} | {5} | {6} | {7} | {8} | {9:.3e} | {10} | {11} | {12} | {13:.1} |",
                p.size,
                p.pe,
                x.map_or_else(dash, |a| a.luts.to_string()),
                x.map_or_else(dash, |a| a.ffs.to_string()),
                x.map_or_else(dash, |a| a.dsps.to_string()),
                x.map_or_else(dash, |a| a.brams.to_string()),
                p.xilinx_luts_with_dsps.map_or_else(dash, |l| l.to_string()),
                i.map_or_else(dash, |a| format!("{} ({})", a.luts, a.device)),
                i.and_then(|a| a.fmax_mhz).map_or_else(dash, |f| format!("{f:.1}")),
                p.cycles_per_token,
                p.tokens_per_s.map_or_else(dash, |t| format!("{t:.1}")),
                p.tokens_per_mcycle_per_klut4.map_or_else(dash, |t| format!("{t:.3}")),
                p.tokens_per_mcycle_per_klut_dsp.map_or_else(dash, |t| format!("{t:.3}")),
                p.energy_on_chip_uj
            );
        }
        s
    }
}
