//! The search's fast evaluation path: quantize–dequantize ("fake quantization") with the f32
//! GEMM, and the array's operation counts from the golden model's token view.
//!
//! **Why it equals the golden backend up to f32 rounding.** In raw mode the array returns the exact
//! integer `V[n,m] = Σ_k q[n,k]·Wq[m,k]` and the host computes `y = s_x[n]·s_w[m]·V[n,m]`
//! ([`crate::llm::quant::QuantExec`]). Here the weights are stored as `Wq[m,k]·s_w[m]` and the codes
//! as `q[n,k]·s_x[n]`, and the f32 GEMM computes `Σ_k (q·s_x)(Wq·s_w)`, which is the same real
//! number; the two differ only by f32 rounding of the products and of the sum (relative
//! error of order K·2⁻²⁴ of `Σ|terms|`). The codes and scales come from the same quantizers
//! (`quantize_weights`, [`crate::llm::quant::quantize_rows`]) with the same per-layer setting, so the
//! salient choices are identical. `tests/search.rs` checks the agreement on real layers.
//! Counts (spikes, accumulates, cycles) come from [`Golden::layer_stats`] of the array that carries
//! the assignment: the same code loader and cycle formula as [`Golden::run_layer`].

use std::collections::HashMap;

use rayon::prelude::*;
use spikeq_hdl::quant::{quantize_weights, QuantWeights, SalientSelector};
use spikeq_hdl::{Derived, Golden, Layer, LayerRun, OutputMode, WeightFormat};

use crate::device::Traffic;
use crate::llm::model::linear::{check_linear_shapes, F32Linear, LinearExec, LinearId, Weight};
use crate::llm::model::ModelError;
use crate::llm::precision::Assignment;
use crate::llm::quant::{clip_for, quantize_rows};
use crate::study::energy::{count_layer, OpCounts};

/// One layer quantized in one format: the codes (for counting) and the dequantized weights.
#[derive(Debug)]
struct Quantized {
    codes: QuantWeights,
    dequant: Weight,
}

/// Quantized weights kept across evaluations, per layer and format (each is quantized and
/// dequantized once per search, on first use): GPTQ's codes where the search was given them,
/// the contract's round-to-nearest otherwise.
#[derive(Debug, Default)]
pub struct WeightCache {
    map: HashMap<(LinearId, WeightFormat), Quantized>,
    /// Codes given for layers and formats not used yet.
    given: HashMap<(LinearId, WeightFormat), QuantWeights>,
}

impl WeightCache {
    /// A cache holding `codes` (e.g. GPTQ's) for their layers and formats.
    pub fn with_codes(codes: impl IntoIterator<Item = (LinearId, QuantWeights)>) -> Self {
        let given = codes.into_iter().map(|(id, q)| ((id, q.format), q)).collect();
        WeightCache { map: HashMap::new(), given }
    }

    fn get(&mut self, id: LinearId, w: &Weight, format: WeightFormat) -> &Quantized {
        let given = &mut self.given;
        self.map.entry((id, format)).or_insert_with(|| {
            Quantized::new(
                given.remove(&(id, format)).unwrap_or_else(|| quantize_weights(w.data(), w.m(), w.k(), format)),
            )
        })
    }
}

impl Quantized {
    /// The codes and their dequantized weights.
    fn new(q: QuantWeights) -> Self {
        let (m, k) = (q.m, q.k);
        let mut data = vec![0f32; m * k];
        data.par_chunks_mut(k).zip(q.codes.par_chunks(k)).zip(&q.scales).for_each(|((row, codes), &s)| {
            for (o, &c) in row.iter_mut().zip(codes) {
                *o = c as f32 * s;
            }
        });
        let dequant = Weight::new(m, k, data).expect("codes of an m x k layer");
        Quantized { codes: q, dequant }
    }
}

/// Runs every linear layer at its assigned setting, fake-quantized, counting what the array
/// that carries the assignment would do.
#[derive(Debug)]
pub struct FakeQuant<'a> {
    assignment: &'a Assignment,
    selector: SalientSelector,
    act_clip: f32,
    golden: Golden,
    weights: &'a mut WeightCache,
    /// Operation counts so far (energy model input).
    pub counts: OpCounts,
    /// Calls in which the array would have flagged salient overflow or code range (never expected).
    pub flagged: u64,
}

impl<'a> FakeQuant<'a> {
    /// An executor for `assignment` on the array `d` (which must carry it; see
    /// [`crate::llm::precision::Precision::check_array`]), activation scales clipped by `act_clip`
    /// as [`crate::llm::quant::Quantization::act_clip`] clips them.
    pub fn new(
        assignment: &'a Assignment,
        selector: SalientSelector,
        act_clip: f32,
        d: &Derived,
        weights: &'a mut WeightCache,
    ) -> Self {
        let golden = Golden::new(d);
        FakeQuant { assignment, selector, act_clip, golden, weights, counts: OpCounts::default(), flagged: 0 }
    }
}

impl LinearExec for FakeQuant<'_> {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        check_linear_shapes(id, w, x, n, y)?;
        let spec = self.assignment.get(id);
        let (m, k) = (w.m(), w.k());
        let max_salient = self.golden.derived().config.max_salient as usize;
        let q = self.weights.get(id, w, spec.weights);
        let qx = quantize_rows(x, k, spec.bits(), self.selector, max_salient, clip_for(self.act_clip, spec.bits()));
        let mut xd = vec![0f32; n * k];
        xd.par_chunks_mut(k).zip(qx.codes.par_chunks(k)).zip(&qx.scales).for_each(|((row, codes), &s)| {
            for (o, &c) in row.iter_mut().zip(codes) {
                *o = c as f32 * s;
            }
        });
        // The counters the array would report; outputs are not needed to count a raw call.
        let layer = Layer { m, k, weights: &q.codes.codes, thresholds: None, mode: OutputMode::Raw, codes: &qx.codes };
        let (counters, flags) =
            self.golden.layer_stats(&layer).map_err(|e| ModelError::Backend(format!("layer {id}: {e}")))?;
        let run = LayerRun::new(self.golden.derived(), Vec::new(), counters, flags);
        self.counts += count_layer(&self.golden, &layer, &run, Traffic::default());
        self.flagged += u64::from(flags.any());
        F32Linear.linear(id, &q.dequant, &xd, n, y)
    }
}
