//! Quantization schemes for SmolLM2's linear layers and the executor that runs them on an
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
use spikeq_hdl::{ArrayConfig, Counters, Derived, LayerRun, OutputMode, PeKind, WeightFormat};

use crate::driver::{Accelerator, Traffic, Transport};
use crate::model::linear::{check_linear_shapes, F32Linear, LinearExec, LinearId, Weight};
use crate::model::ModelError;
use crate::precision::Precision;
use spikeq_hdl::Layer;

/// A quantization scheme for all linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// No quantization (the reference).
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

    /// Weight format, activation bits (normal, salient), salient use and output mode.
    fn spec(self) -> Option<(WeightFormat, u32, u32, OutputMode)> {
        Some(match self {
            Scheme::F32 => return None,
            Scheme::W8A8 => (WeightFormat::Int(8), 8, 8, OutputMode::Raw),
            Scheme::W4A4 => (WeightFormat::Int(4), 4, 4, OutputMode::Raw),
            Scheme::SpikeQuant => (WeightFormat::Int(4), 4, 8, OutputMode::Raw),
            Scheme::SpikeQuantFire => (WeightFormat::Int(4), 4, 8, OutputMode::Fire),
            Scheme::Ternary => (WeightFormat::Ternary, 4, 8, OutputMode::Raw),
            Scheme::Binary => (WeightFormat::Binary, 4, 8, OutputMode::Raw),
        })
    }

    /// Output mode of the array for this scheme.
    pub fn mode(self) -> OutputMode {
        self.spec().map_or(OutputMode::Raw, |s| s.3)
    }

    /// The array configuration this scheme needs, derived from a base configuration (rows,
    /// lanes, k_max, salient budget, fixed point stay; widths follow the scheme). `None` for f32.
    pub fn array_config(self, base: &ArrayConfig) -> Option<ArrayConfig> {
        let (wf, ba, bs, mode) = self.spec()?;
        let mut c = base.clone();
        c.weight_format = wf;
        c.act_bits = ba;
        c.salient_bits = bs;
        c.output_modes = vec![mode];
        if c.pe == PeKind::Mac {
            c.output_modes = vec![OutputMode::Raw];
        }
        c.name = format!("{}_{}", base.name, self.to_string().replace('-', "_"));
        Some(c)
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
/// traffic of the call. Lets reports (energy: `crate::energy::Activity`) count what the array did
/// from the real calls without a second copy of the executor.
pub trait LayerTap: fmt::Debug {
    /// Called after each layer call.
    fn layer(&mut self, id: LinearId, d: &Derived, job: &Layer<'_>, run: &LayerRun, traffic: Traffic);
}

/// No tap.
impl LayerTap for () {
    fn layer(&mut self, _: LinearId, _: &Derived, _: &Layer<'_>, _: &LayerRun, _: Traffic) {}
}

/// Runs every linear layer through an accelerator with a quantization scheme.
#[derive(Debug)]
pub struct QuantExec<T, P = ()> {
    scheme: Scheme,
    acc: Accelerator<T>,
    selector: SalientSelector,
    weights: HashMap<LinearId, QuantWeights>,
    calibration: Option<Calibration>,
    /// Per-layer settings (weight format, activation bits) when not one scheme for all.
    precision: Option<Precision>,
    /// Statistics so far.
    pub stats: AccelStats,
    /// Observer of every layer call.
    pub tap: P,
}

impl<T: Transport> QuantExec<T> {
    /// An executor over an opened accelerator whose configuration is `scheme.array_config(..)`.
    /// Fire needs a calibration.
    pub fn new(
        scheme: Scheme,
        acc: Accelerator<T>,
        selector: SalientSelector,
        calibration: Option<Calibration>,
    ) -> Result<Self, ModelError> {
        if scheme.mode() == OutputMode::Fire && calibration.is_none() {
            return Err(ModelError::Backend(format!("scheme {scheme} needs static scales: calibrate first")));
        }
        Ok(QuantExec {
            scheme,
            acc,
            selector,
            weights: HashMap::new(),
            calibration,
            precision: None,
            stats: AccelStats::default(),
            tap: (),
        })
    }

    /// An executor that quantizes each layer at its own setting (raw output, dynamic scales) on an
    /// array that carries them all (`precision.array_config(..)`; checked here).
    pub fn with_precision(precision: Precision, acc: Accelerator<T>) -> Result<Self, ModelError> {
        precision.check_array(acc.derived()).map_err(|e| ModelError::Backend(e.to_string()))?;
        // W8A8 stands for "raw output, dynamic scales"; formats and widths come from `precision`.
        let mut exec = QuantExec::new(Scheme::W8A8, acc, precision.selector, None)?;
        exec.precision = Some(precision);
        Ok(exec)
    }

    /// The same executor with an observer of every layer call.
    pub fn with_tap<P: LayerTap>(self, tap: P) -> QuantExec<T, P> {
        let QuantExec { scheme, acc, selector, weights, calibration, precision, stats, tap: () } = self;
        QuantExec { scheme, acc, selector, weights, calibration, precision, stats, tap }
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
        let (format, bits) = match &self.precision {
            Some(p) => (p.spec(id).weights, p.spec(id).bits()),
            None => (d.config.weight_format, ActBits { normal: d.config.act_bits, salient: d.config.salient_bits }),
        };
        let (max_salient, frac_bits, th_max) = (d.config.max_salient as usize, d.config.frac_bits, d.th_max);
        let qw = self.weights.entry(id).or_insert_with(|| quantize_weights(w.data(), m, k, format));
        let mode = self.scheme.mode();
        let scales = self.calibration.as_ref().map(|c| c.get(&id).copied()).unwrap_or(None);
        // quantize_acts ignores the selector when salient codes are no wider than normal ones.
        let qx = quantize_rows(x, k, bits, self.selector, max_salient, scales.map(|s| s.s_x));
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
        self.stats.flagged += u64::from(run.flags.salient_overflow || run.flags.code_range);
        Ok(())
    }
}

/// Records what static scales a layer needs while the f32 model runs calibration text.
#[derive(Debug)]
pub struct Calibrator {
    bits: ActBits,
    qy: i32,
    selector: SalientSelector,
    max_salient: usize,
    /// Per layer: sum of token scales, largest |y|, tokens.
    sums: HashMap<LinearId, (f64, f64, u64)>,
}

impl Calibrator {
    /// A calibrator for an array configuration.
    pub fn new(c: &ArrayConfig, selector: SalientSelector) -> Self {
        Calibrator {
            bits: ActBits { normal: c.act_bits, salient: c.salient_bits },
            qy: (1 << (c.out_bits - 1)) - 1,
            selector,
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
        let (bits, sel, ms) = (self.bits, self.selector, self.max_salient);
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
