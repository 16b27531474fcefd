//! Quantization of SmolLM2's linear layers, described once ([`Quantization`]: per-layer precision,
//! output mode, scale kind; [`Scheme`]s are presets of it), and the executor that runs it on an
//! accelerator: weights quantized once per layer, activations per call, the layer computed by the
//! array (golden, Verilator or XDMA), results dequantized (raw) or read as fired codes (fire).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use spikeq_hdl::fire::threshold;
use spikeq_hdl::quant::{
    dynamic_scale, quantize_acts, quantize_weights, select_salient, ActBits, QuantActs, QuantWeights, SalientSelector,
};
use spikeq_hdl::{ArrayConfig, ConfigError, Counters, Derived, LayerRun, OutputMode, PeKind, WeightFormat};
use thiserror::Error;

use crate::device::{Accelerator, Traffic, Transport};
use crate::llm::model::linear::{check_linear_shapes, F32Linear, LinearExec, LinearId, Weight};
use crate::llm::model::ModelError;
use crate::llm::precision::{LayerSpec, Precision};
use spikeq_hdl::Layer;

/// How a layer's activation scale s_x is found (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScaleKind {
    /// Per token, from its own values.
    Dynamic,
    /// One per layer, calibrated on PTB *valid* text ([`Calibrator`]); fire output needs it,
    /// since the threshold holds s_x.
    Static,
}

/// What the array computes: the precision of every layer, the output mode and how activation
/// scales are found. It is the one description of a quantization: a [`Scheme`] is a preset of
/// it (one setting for every layer), a precision file gives it per layer (raw output, dynamic
/// scales). It also derives the array that carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantization {
    /// Names the array (`<base>_<name>`): the scheme, or `mixed` for a precision file.
    pub name: String,
    /// Weight format and activation bits of each layer, and the salient selector.
    pub precision: Precision,
    /// Output of the array.
    pub mode: OutputMode,
    /// How activation scales are found.
    pub scales: ScaleKind,
}

/// The array a quantization asks for is not a valid configuration.
#[derive(Debug, Error)]
#[error("array for {quantization} on {base}: {source}")]
pub struct QuantError {
    /// The quantization's name.
    pub quantization: String,
    /// The base configuration's name.
    pub base: String,
    /// What the configuration check says.
    pub source: ConfigError,
}

impl Quantization {
    /// A precision file: each layer at its own setting, raw output, dynamic scales.
    pub fn mixed(precision: Precision) -> Self {
        Quantization { name: "mixed".into(), precision, mode: OutputMode::Raw, scales: ScaleKind::Dynamic }
    }

    /// The array configuration that carries it: `base` (rows, lanes, k_max, salient budget, fixed
    /// point, clock) with the widths of the widest setting and this output mode (a MAC array
    /// has raw output only), named `<base>_<name>` so the configuration hash names the array.
    pub fn array_config(&self, base: &ArrayConfig) -> ArrayConfig {
        let widest = self.precision.widest();
        let mut c = base.clone();
        c.weight_format = widest.weights;
        c.act_bits = widest.acts;
        c.salient_bits = widest.salient;
        c.output_modes = vec![if c.pe == PeKind::Mac { OutputMode::Raw } else { self.mode }];
        c.name = format!("{}_{}", base.name, self.name.replace('-', "_"));
        c
    }

    /// [`Quantization::array_config`], validated.
    pub fn array(&self, base: &ArrayConfig) -> Result<Derived, QuantError> {
        self.array_config(base).validate().map_err(|source| QuantError {
            quantization: self.name.clone(),
            base: base.name.clone(),
            source,
        })
    }
}

/// A quantization preset: one setting for every linear layer, an output mode and a scale kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// No quantization (the reference; no array).
    F32,
    /// Round-to-nearest int8 weights, 8-bit per-token activations, no salient handling.
    W8A8,
    /// Round-to-nearest int4 weights, 4-bit per-token activations, no salient handling.
    W4A4,
    /// SpikeQuant: int4 weights, 4-bit codes with 8-bit salient codes, raw output, dynamic scales.
    SpikeQuant,
    /// SpikeQuant with static calibrated scales and the threshold-embedded (fire) output.
    SpikeQuantFire,
    /// Ternary (1.58-bit) weights with SpikeQuant activations.
    Ternary,
    /// Binary (1-bit) weights with SpikeQuant activations.
    Binary,
}

impl Scheme {
    /// Every scheme, in report order.
    pub const ALL: [Scheme; 7] = [
        Scheme::F32,
        Scheme::W8A8,
        Scheme::W4A4,
        Scheme::SpikeQuant,
        Scheme::SpikeQuantFire,
        Scheme::Ternary,
        Scheme::Binary,
    ];

    /// The setting of every layer, the output mode and the scale kind; `None` for f32.
    fn preset(self) -> Option<(LayerSpec, OutputMode, ScaleKind)> {
        let (raw, dynamic) = (OutputMode::Raw, ScaleKind::Dynamic);
        let spec = |weights, acts, salient| LayerSpec { weights, acts, salient };
        let spikequant = |weights| spec(weights, 4, 8);
        Some(match self {
            Scheme::F32 => return None,
            Scheme::W8A8 => (spec(WeightFormat::Int(8), 8, 8), raw, dynamic),
            Scheme::W4A4 => (spec(WeightFormat::Int(4), 4, 4), raw, dynamic),
            Scheme::SpikeQuant => (spikequant(WeightFormat::Int(4)), raw, dynamic),
            Scheme::SpikeQuantFire => (spikequant(WeightFormat::Int(4)), OutputMode::Fire, ScaleKind::Static),
            Scheme::Ternary => (spikequant(WeightFormat::Ternary), raw, dynamic),
            Scheme::Binary => (spikequant(WeightFormat::Binary), raw, dynamic),
        })
    }

    /// The quantization this scheme stands for, with `selector` choosing salient values; `None`
    /// for f32 (no array).
    pub fn quantization(self, selector: SalientSelector) -> Option<Quantization> {
        let (spec, mode, scales) = self.preset()?;
        Some(Quantization { name: self.to_string(), precision: Precision::uniform(spec, selector), mode, scales })
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::F32 => "f32",
            Scheme::W8A8 => "w8a8",
            Scheme::W4A4 => "w4a4",
            Scheme::SpikeQuant => "spikequant",
            Scheme::SpikeQuantFire => "spikequant-fire",
            Scheme::Ternary => "ternary",
            Scheme::Binary => "binary",
        })
    }
}

impl FromStr for Scheme {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Scheme::ALL.into_iter().find(|x| x.to_string() == s).ok_or_else(|| {
            format!("unknown scheme {s:?}: use one of f32, w8a8, w4a4, spikequant, spikequant-fire, ternary, binary")
        })
    }
}

/// Static scales of one layer, calibrated on PTB *valid* text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaticScales {
    /// Activation scale s_x.
    pub s_x: f32,
    /// Output scale s_y.
    pub s_y: f32,
}

/// Per-layer static scales.
pub type Calibration = HashMap<LinearId, StaticScales>;

/// Accelerator statistics accumulated over calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccelStats {
    /// Counters summed over every layer call.
    pub counters: Counters,
    /// rows × lanes × cycles, summed.
    pub lane_slots: u64,
    /// Activation codes sent.
    pub codes: u64,
    /// Of which salient.
    pub salient: u64,
    /// Layer calls.
    pub calls: u64,
    /// Calls whose device flagged salient overflow or code range (never expected).
    pub flagged: u64,
}

/// Sees every layer call an executor makes: the job as sent, the device's result and the stream
/// traffic of the call. Lets reports (energy: `crate::study::energy::Activity`) count what the array did
/// from the real calls without a second copy of the executor.
pub trait LayerTap: fmt::Debug {
    /// Called after each layer call.
    fn layer(&mut self, id: LinearId, d: &Derived, job: &Layer<'_>, run: &LayerRun, traffic: Traffic);
}

/// No tap.
impl LayerTap for () {
    fn layer(&mut self, _: LinearId, _: &Derived, _: &Layer<'_>, _: &LayerRun, _: Traffic) {}
}

/// Runs every linear layer through an accelerator with a quantization.
#[derive(Debug)]
pub struct QuantExec<T, P = ()> {
    quant: Quantization,
    acc: Accelerator<T>,
    weights: HashMap<LinearId, QuantWeights>,
    /// Static scales, when the quantization asks for them.
    calibration: Option<Calibration>,
    /// Statistics so far.
    pub stats: AccelStats,
    /// Observer of every layer call.
    pub tap: P,
}

impl<T: Transport> QuantExec<T> {
    /// An executor over an opened accelerator that carries `quant` (checked here; see
    /// [`Quantization::array`]). Static scales need a calibration, dynamic ones take none.
    pub fn new(quant: Quantization, acc: Accelerator<T>, calibration: Option<Calibration>) -> Result<Self, ModelError> {
        quant.precision.check_array(acc.derived()).map_err(|e| ModelError::Backend(e.to_string()))?;
        let name = &quant.name;
        match (quant.mode, quant.scales, &calibration) {
            (OutputMode::Fire, ScaleKind::Dynamic, _) => {
                return Err(ModelError::Backend(format!("{name}: fire output needs static scales")))
            }
            (_, ScaleKind::Static, None) => {
                return Err(ModelError::Backend(format!("{name} needs static scales: calibrate first")))
            }
            (_, ScaleKind::Dynamic, Some(_)) => {
                return Err(ModelError::Backend(format!("{name} has dynamic scales: it takes no calibration")))
            }
            _ => {}
        }
        Ok(QuantExec { quant, acc, weights: HashMap::new(), calibration, stats: AccelStats::default(), tap: () })
    }

    /// The same executor with an observer of every layer call.
    pub fn with_tap<P: LayerTap>(self, tap: P) -> QuantExec<T, P> {
        let QuantExec { quant, acc, weights, calibration, stats, tap: () } = self;
        QuantExec { quant, acc, weights, calibration, stats, tap }
    }
}

impl<T: Transport, P> QuantExec<T, P> {
    /// The accelerator (for traffic statistics).
    pub fn accelerator(&self) -> &Accelerator<T> {
        &self.acc
    }
}

/// Quantizes N token rows in parallel (rows are independent; the result equals one sequential
/// [`quantize_acts`] call).
pub fn quantize_rows(
    x: &[f32],
    k: usize,
    bits: ActBits,
    sel: SalientSelector,
    max_salient: usize,
    s: Option<f32>,
) -> QuantActs {
    let parts: Vec<QuantActs> = x.par_chunks(k * 32).map(|c| quantize_acts(c, k, bits, sel, max_salient, s)).collect();
    let mut out = QuantActs { n: 0, k, codes: Vec::with_capacity(x.len()), scales: Vec::new(), salient_count: 0 };
    for p in parts {
        out.n += p.n;
        out.codes.extend(p.codes);
        out.scales.extend(p.scales);
        out.salient_count += p.salient_count;
    }
    out
}

impl<T: Transport, P: LayerTap> LinearExec for QuantExec<T, P> {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        check_linear_shapes(id, w, x, n, y)?;
        let d = self.acc.derived();
        let (m, k) = (w.m(), w.k());
        let spec = self.quant.precision.spec(id);
        let (format, bits) = (spec.weights, spec.bits());
        let (max_salient, frac_bits, th_max) = (d.config.max_salient as usize, d.config.frac_bits, d.th_max);
        let qw = self.weights.entry(id).or_insert_with(|| quantize_weights(w.data(), m, k, format));
        let mode = self.quant.mode;
        let scales = self.calibration.as_ref().map(|c| c.get(&id).copied()).unwrap_or(None);
        // quantize_acts ignores the selector when salient codes are no wider than normal ones.
        let qx = quantize_rows(x, k, bits, self.quant.precision.selector, max_salient, scales.map(|s| s.s_x));
        let thresholds: Option<Vec<u64>> = match (mode, scales) {
            (OutputMode::Fire, Some(s)) => {
                Some(qw.scales.iter().map(|&sw| threshold(s.s_y, s.s_x, sw, frac_bits, th_max)).collect())
            }
            (OutputMode::Fire, None) => return Err(ModelError::Backend(format!("no static scales for layer {id:?}"))),
            _ => None,
        };
        let job = Layer { m, k, weights: &qw.codes, thresholds: thresholds.as_deref(), mode, codes: &qx.codes };
        let before = self.acc.traffic;
        let run = self.acc.run_layer(&job).map_err(|e| ModelError::Backend(format!("layer {id:?}: {e}")))?;
        let after = self.acc.traffic;
        self.tap.layer(
            id,
            self.acc.derived(),
            &job,
            &run,
            Traffic { h2c: after.h2c - before.h2c, c2h: after.c2h - before.c2h },
        );
        match (mode, scales) {
            (OutputMode::Fire, Some(s)) => {
                for (o, &c) in y.iter_mut().zip(&run.outputs) {
                    *o = c as f32 * s.s_y;
                }
            }
            _ => {
                for ((yrow, vrow), &sx) in y.chunks_exact_mut(m).zip(run.outputs.chunks_exact(m)).zip(&qx.scales) {
                    for ((o, &v), &sw) in yrow.iter_mut().zip(vrow).zip(&qw.scales) {
                        *o = sx * sw * v as f32;
                    }
                }
            }
        }
        self.stats.counters += run.counters;
        self.stats.lane_slots += run.lane_slots;
        self.stats.codes += (n * k) as u64;
        self.stats.salient += qx.salient_count as u64;
        self.stats.calls += 1;
        self.stats.flagged += u64::from(run.flags.any());
        Ok(())
    }
}

/// Records what static scales a layer needs while the f32 model runs calibration text.
#[derive(Debug)]
pub struct Calibrator {
    precision: Precision,
    qy: i32,
    max_salient: usize,
    /// Per layer: sum of token scales, largest |y|, tokens.
    sums: HashMap<LinearId, (f64, f64, u64)>,
}

impl Calibrator {
    /// A calibrator of `quant`'s layers on the array `c` (output width, salient budget).
    pub fn new(quant: &Quantization, c: &ArrayConfig) -> Self {
        Calibrator {
            precision: quant.precision.clone(),
            qy: (1 << (c.out_bits - 1)) - 1,
            max_salient: c.max_salient as usize,
            sums: HashMap::new(),
        }
    }

    /// The static scales: s_x the mean over calibration tokens of each token's dynamic activation
    /// scale; s_y the largest |y| of the calibration text divided by Qy, so no calibration output
    /// clamps. (A mean of per-token maxima clamped the tokens with the largest outputs: with
    /// smoothing, 11-window PPL 194,826 against 3,357 with the max; docs/host.md.)
    pub fn finish(self) -> Calibration {
        self.sums
            .into_iter()
            .map(|(id, (sx, sy, n))| {
                let nz = |v: f64| if v > 0.0 && v.is_finite() { v as f32 } else { 1.0 };
                (id, StaticScales { s_x: nz(sx / n as f64), s_y: nz(sy / self.qy as f64) })
            })
            .collect()
    }
}

impl LinearExec for Calibrator {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        F32Linear.linear(id, w, x, n, y)?;
        let k = w.k();
        let (bits, sel, ms) = (self.precision.spec(id).bits(), self.precision.selector, self.max_salient);
        let sel = if bits.salient > bits.normal { sel } else { SalientSelector::None };
        let sx: f64 =
            x.par_chunks(k).map(|row| dynamic_scale(row, &select_salient(row, sel, ms), bits.qa()) as f64).sum();
        let sy = y.iter().fold(0f32, |a, v| a.max(v.abs())) as f64;
        let e = self.sums.entry(id).or_insert((0.0, 0.0, 0));
        e.0 += sx;
        e.1 = e.1.max(sy);
        e.2 += n as u64;
        Ok(())
    }
}
