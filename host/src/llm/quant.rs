//! Quantization of SmolLM2's linear layers, described once ([`Quantization`]: per-layer precision,
//! output mode, scale kind; [`Scheme`]s are presets of it), and the executor that runs it on an
//! accelerator: weights quantized once per layer, activations per call, the layer computed by the
//! array (golden, Verilator or XDMA), results dequantized (raw) or read as fired codes (fire).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use spikeq_hdl::fire::threshold;
use spikeq_hdl::igemm::PackedWeights;
use spikeq_hdl::quant::{
    dynamic_scale, quantize_acts, quantize_acts_by, quantize_weights, select_salient, ActBits, QuantActs, QuantWeights,
    SalientSelector,
};
use spikeq_hdl::{ArrayConfig, ConfigError, Counters, Derived, Golden, LayerRun, OutputMode, PeKind, WeightFormat};
use thiserror::Error;

use crate::device::{Accelerator, Traffic, Transport};
use crate::llm::model::linear::{check_linear_shapes, F32Linear, LinearExec, LinearId, LinearKind, Weight};
use crate::llm::model::llama::Llama;
use crate::llm::model::ModelError;
use crate::llm::precision::{LayerSpec, Precision};
use spikeq_hdl::Layer;

/// How a layer's activation scale s_x is found (DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScaleKind {
    /// Per token, from its own values.
    Dynamic,
    /// Per token, from its own values, with the output scale tied to it: `s_y,t = κ · s_x,t`, κ
    /// one per layer calibrated on PTB *valid* text ([`Calibrator`]). Fire output needs it: the
    /// threshold `s_y,t / (s_x,t · s_w[m]) = κ / s_w[m]` is then the same for every token, so the
    /// IF neuron holds the whole scale while every token keeps its own activation scale.
    Relative,
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
    /// Activation clip ratio r of the layers with 4-bit (or narrower) normal codes: a token's
    /// scale is `r · max|normal| / Qa`, normal codes clamp at ±Qa (1: the contract's scale; the
    /// 4-bit recipe calibrates 0.8, docs/host.md). Wider codes keep the contract's scale
    /// ([`clip_for`]).
    pub act_clip: f32,
}

/// The clip ratio a layer with codes `bits` uses under a quantization's `act_clip`: the ratio for
/// 4-bit (or narrower) normal codes, 1 (the contract's scale) for wider ones, which have codes
/// to spare for the largest values and lose by clipping them (uniform w8a8 with rotation and
/// GPTQ: calibration PPL +8 % over f32 at 0.8, docs/search.md).
pub fn clip_for(act_clip: f32, bits: ActBits) -> f32 {
    if bits.normal <= 4 {
        act_clip
    } else {
        1.0
    }
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
        Quantization {
            name: "mixed".into(),
            precision,
            mode: OutputMode::Raw,
            scales: ScaleKind::Dynamic,
            act_clip: 1.0,
        }
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
    /// SpikeQuant with the threshold-embedded (fire) output, output scales relative to the
    /// token's activation scale ([`ScaleKind::Relative`]).
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
            Scheme::SpikeQuantFire => (spikequant(WeightFormat::Int(4)), OutputMode::Fire, ScaleKind::Relative),
            Scheme::Ternary => (spikequant(WeightFormat::Ternary), raw, dynamic),
            Scheme::Binary => (spikequant(WeightFormat::Binary), raw, dynamic),
        })
    }

    /// The quantization this scheme stands for, with `selector` choosing salient values; `None`
    /// for f32 (no array).
    pub fn quantization(self, selector: SalientSelector) -> Option<Quantization> {
        let (spec, mode, scales) = self.preset()?;
        let precision = Precision::uniform(spec, selector);
        Some(Quantization { name: self.to_string(), precision, mode, scales, act_clip: 1.0 })
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

/// Per-layer κ of [`ScaleKind::Relative`] (`s_y,t = κ · s_x,t`), calibrated on PTB *valid* text.
pub type Calibration = HashMap<LinearId, f32>;

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
    /// Each layer's weight codes packed for the native model, once.
    packed: HashMap<LinearId, PackedWeights>,
    /// Output scale ratios κ, when the quantization asks for them.
    calibration: Option<Calibration>,
    /// The last call's input and its codes: Q, K and V (and gate and up) read the same
    /// activations, so their codes are computed once.
    last: Option<LastActs>,
    /// Statistics so far.
    pub stats: AccelStats,
    /// Observer of every layer call.
    pub tap: P,
}

impl<T: Transport> QuantExec<T> {
    /// An executor over an opened accelerator that carries `quant` (checked here; see
    /// [`Quantization::array`]). Relative output scales need a calibration, dynamic ones take none.
    pub fn new(quant: Quantization, acc: Accelerator<T>, calibration: Option<Calibration>) -> Result<Self, ModelError> {
        quant.precision.check_array(acc.derived()).map_err(|e| ModelError::Backend(e.to_string()))?;
        let name = &quant.name;
        match (quant.mode, quant.scales, &calibration) {
            (OutputMode::Fire, ScaleKind::Dynamic, _) => {
                return Err(ModelError::Backend(format!("{name}: fire output needs relative output scales")))
            }
            (_, ScaleKind::Relative, None) => {
                return Err(ModelError::Backend(format!("{name} needs output scales: calibrate first")))
            }
            (_, ScaleKind::Dynamic, Some(_)) => {
                return Err(ModelError::Backend(format!("{name} has dynamic scales: it takes no calibration")))
            }
            _ => {}
        }
        let (weights, packed) = (HashMap::new(), HashMap::new());
        let (stats, last) = (AccelStats::default(), None);
        Ok(QuantExec { quant, acc, weights, packed, calibration, last, stats, tap: () })
    }

    /// The same executor with weights quantized beforehand on the host (error-compensating
    /// rounding, `crate::llm::gptq`): codes on the contract's grid with the host's row scales.
    /// Layers not in `weights` get the contract's round-to-nearest.
    pub fn with_weights(mut self, weights: HashMap<LinearId, QuantWeights>) -> Self {
        self.weights = weights;
        self
    }

    /// The same executor with an observer of every layer call.
    pub fn with_tap<P: LayerTap>(self, tap: P) -> QuantExec<T, P> {
        let QuantExec { quant, acc, weights, packed, calibration, last, stats, tap: () } = self;
        QuantExec { quant, acc, weights, packed, calibration, last, stats, tap }
    }
}

impl<T: Transport, P> QuantExec<T, P> {
    /// The accelerator (for traffic statistics).
    pub fn accelerator(&self) -> &Accelerator<T> {
        &self.acc
    }

    /// Quantizes (round-to-nearest, unless [`QuantExec::with_weights`] gave the layer's codes)
    /// and, for a native backend, packs every linear layer of `model` now, layers in parallel,
    /// instead of on each layer's first call: the one-time work then happens while the model is
    /// prepared, like the f32 weights' own preparation at load, not inside the first window.
    pub fn prepare(&mut self, model: &Llama) -> Result<(), ModelError> {
        let ids: Vec<LinearId> =
            (0..model.blocks().len()).flat_map(|block| LinearKind::ALL.map(|kind| LinearId { block, kind })).collect();
        let (have, precision) = (&self.weights, &self.quant.precision);
        let missing: Vec<(LinearId, QuantWeights)> = ids
            .par_iter()
            .filter(|id| !have.contains_key(id))
            .map(|&id| {
                let w = model.blocks()[id.block].weight(id.kind);
                (id, quantize_weights(w.data(), w.m(), w.k(), precision.spec(id).weights))
            })
            .collect();
        self.weights.extend(missing);
        if !self.acc.is_native() {
            return Ok(());
        }
        // The native model's packing (the same checks and layout as `Accelerator::pack`).
        let golden = Golden::new(self.acc.derived());
        let (weights, have) = (&self.weights, &self.packed);
        let packed: Vec<(LinearId, PackedWeights)> = ids
            .par_iter()
            .filter(|id| !have.contains_key(id))
            .map(|&id| {
                let qw = &weights[&id];
                let p =
                    golden.pack(&qw.codes, qw.m, qw.k).map_err(|e| ModelError::Backend(format!("layer {id}: {e}")))?;
                Ok((id, p))
            })
            .collect::<Result<_, ModelError>>()?;
        self.packed.extend(packed);
        Ok(())
    }
}

/// Quantizes N token rows in parallel (rows are independent; with `clip` 1 the result equals one
/// sequential [`quantize_acts`] call). `clip` < 1 scales each token's dynamic scale down, so the
/// bulk of its values gets more codes and the largest normal values clamp at ±Qa.
pub fn quantize_rows(
    x: &[f32],
    k: usize,
    bits: ActBits,
    sel: SalientSelector,
    max_salient: usize,
    clip: f32,
) -> QuantActs {
    if clip == 1.0 {
        return quantize_acts(x, k, bits, sel, max_salient, None);
    }
    quantize_acts_by(x, k, bits, sel, max_salient, |row, salient| clipped_scale(row, salient, bits, clip))
}

/// A token's dynamic scale times `clip` (a zero row keeps scale 1: its codes are all zero).
#[inline(always)]
fn clipped_scale(row: &[f32], salient: &[usize], bits: ActBits, clip: f32) -> f32 {
    let s = dynamic_scale(row, salient, bits.qa());
    let c = s * clip;
    if c > 0.0 && c.is_finite() {
        c
    } else {
        s
    }
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
        let kappa = self.calibration.as_ref().and_then(|c| c.get(&id).copied());
        // quantize_acts ignores the selector when salient codes are no wider than normal ones.
        // The selector, budget and clip are the executor's, the same for every layer.
        let qx = match self.last.take() {
            // An input the last call quantized was checked then.
            Some(last) if last.holds(x, k, bits) => last,
            _ => LastActs {
                x: {
                    check_finite(id, x, k)?;
                    LastActs::keep(x)
                },
                k,
                bits,
                qx: quantize_rows(
                    x,
                    k,
                    bits,
                    self.quant.precision.selector,
                    max_salient,
                    clip_for(self.quant.act_clip, bits),
                ),
            },
        };
        let qx = &self.last.insert(qx).qx;
        // s_y,t / (s_x,t · s_w[m]) = κ / s_w[m]: one threshold per row for every token.
        let thresholds: Option<Vec<u64>> = match (mode, kappa) {
            (OutputMode::Fire, Some(kappa)) => {
                Some(qw.scales.iter().map(|&sw| threshold(kappa, 1.0, sw, frac_bits, th_max)).collect())
            }
            (OutputMode::Fire, None) => return Err(ModelError::Backend(format!("no output scale for layer {id}"))),
            _ => None,
        };
        let job = Layer { m, k, weights: &qw.codes, thresholds: thresholds.as_deref(), mode, codes: &qx.codes };
        let backend = |e| ModelError::Backend(format!("layer {id}: {e}"));
        let packed = match self.packed.entry(id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(self.acc.pack(&qw.codes, m, k).map_err(backend)?),
        };
        let before = self.acc.traffic;
        let run = self.acc.run_layer_packed(&job, packed).map_err(backend)?;
        let after = self.acc.traffic;
        self.tap.layer(
            id,
            self.acc.derived(),
            &job,
            &run,
            Traffic { h2c: after.h2c - before.h2c, c2h: after.c2h - before.c2h },
        );
        // Token rows are independent: dequantized in parallel.
        let rows = y.par_chunks_exact_mut(m).zip(run.outputs.par_chunks_exact(m)).zip(qx.scales.par_iter());
        match (mode, kappa) {
            (OutputMode::Fire, Some(kappa)) => rows.for_each(|((yrow, crow), &sx)| {
                let sy = kappa * sx;
                for (o, &c) in yrow.iter_mut().zip(crow) {
                    *o = c as f32 * sy;
                }
            }),
            _ => rows.for_each(|((yrow, vrow), &sx)| {
                for ((o, &v), &sw) in yrow.iter_mut().zip(vrow).zip(&qw.scales) {
                    *o = sx * sw * v as f32;
                }
            }),
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

/// An error naming the first non-finite input (a code cannot hold it; quantizing would turn it
/// into 0 or a clamp, silently). Rows are scanned in parallel.
fn check_finite(id: LinearId, x: &[f32], k: usize) -> Result<(), ModelError> {
    let bad = x.par_chunks(k).position_first(|row| !row.iter().all(|v| v.is_finite()));
    match bad.and_then(|t| x[t * k..].iter().take(k).position(|v| !v.is_finite()).map(|i| (t, i))) {
        Some((t, i)) => Err(ModelError::Backend(format!(
            "layer {id}: input {i} of token {t} is {}; the activations left f32's range",
            x[t * k + i]
        ))),
        None => Ok(()),
    }
}

/// An input row block and its quantization, kept for the next call.
#[derive(Debug)]
struct LastActs {
    x: Vec<f32>,
    k: usize,
    bits: ActBits,
    qx: QuantActs,
}

impl LastActs {
    /// Whether `x` in rows of `k` at `bits` is what was quantized (then the codes are the same).
    fn holds(&self, x: &[f32], k: usize, bits: ActBits) -> bool {
        self.bits == bits
            && self.k == k
            && self.x.len() == x.len()
            && self
                .x
                .par_chunks(k)
                .zip(x.par_chunks(k))
                .all(|(a, b)| a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()))
    }

    /// The input kept for the comparison (copied in parallel, written once: it is a whole
    /// activation block).
    fn keep(x: &[f32]) -> Vec<f32> {
        x.par_iter().copied().collect()
    }
}

/// Records each layer's output scale ratio κ while the f32 model runs calibration text.
#[derive(Debug)]
pub struct Calibrator {
    precision: Precision,
    act_clip: f32,
    qy: i32,
    max_salient: usize,
    /// Per layer: the largest |y| / s_x,t over calibration tokens.
    ratios: HashMap<LinearId, f64>,
}

impl Calibrator {
    /// A calibrator of `quant`'s layers on the array `c` (output width, salient budget).
    pub fn new(quant: &Quantization, c: &ArrayConfig) -> Self {
        Calibrator {
            precision: quant.precision.clone(),
            act_clip: quant.act_clip,
            qy: (1 << (c.out_bits - 1)) - 1,
            max_salient: c.max_salient as usize,
            ratios: HashMap::new(),
        }
    }

    /// κ of each layer: the largest `|y| / s_x,t` of the calibration text divided by Qy, so no
    /// calibration output clamps. (The static scales this replaced — one s_x and one s_y per layer —
    /// cost ×46 in perplexity on 11 windows; a static s_y with per-token s_x +17 % on 3 windows
    /// where κ costs +6 %, ../shared/W4A4.md.)
    pub fn finish(self) -> Calibration {
        self.ratios
            .into_iter()
            .map(|(id, r)| {
                let kappa = r / self.qy as f64;
                (id, if kappa > 0.0 && kappa.is_finite() { kappa as f32 } else { 1.0 })
            })
            .collect()
    }
}

impl LinearExec for Calibrator {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        F32Linear.linear(id, w, x, n, y)?;
        let (k, m) = (w.k(), w.m());
        let (bits, sel, ms, clip) =
            (self.precision.spec(id).bits(), self.precision.selector, self.max_salient, self.act_clip);
        let clip = clip_for(clip, bits);
        let sel = if bits.salient > bits.normal { sel } else { SalientSelector::None };
        let ratio = x
            .par_chunks(k)
            .zip(y.par_chunks(m))
            .map(|(row, out)| {
                let sx = clipped_scale(row, &select_salient(row, sel, ms), bits, clip);
                out.iter().fold(0f32, |a, v| a.max(v.abs())) as f64 / sx as f64
            })
            .reduce(|| 0.0, f64::max);
        let e = self.ratios.entry(id).or_insert(0.0);
        *e = e.max(ratio);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::model::linear::LinearKind;

    #[test]
    fn non_finite_inputs_are_named_by_token_and_index() {
        let id = LinearId { block: 3, kind: LinearKind::Up };
        let mut x = vec![0.5f32; 4 * 6];
        assert!(check_finite(id, &x, 6).is_ok());
        x[2 * 6 + 5] = f32::NAN;
        x[3 * 6 + 1] = f32::INFINITY;
        let e = check_finite(id, &x, 6).unwrap_err().to_string();
        assert!(e.contains("input 5 of token 2 is NaN"), "{e}");
    }
}
