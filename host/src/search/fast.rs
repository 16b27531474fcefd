//! The search's fast evaluation path: quantize–dequantize ("fake quantization") with the f32
//! GEMM, and the array's operation counts from the golden model's token view.
//!
//! **Why it equals the golden backend up to f32 rounding.** In raw mode the array returns the exact
//! integer `V[n,m] = Σ_k q[n,k]·Wq[m,k]` and the host computes `y = s_x[n]·s_w[m]·V[n,m]`
//! ([`crate::quant::QuantExec`]). Here the weights are stored as `Wq[m,k]·s_w[m]` and the codes
//! as `q[n,k]·s_x[n]`, and the f32 GEMM computes `Σ_k (q·s_x)(Wq·s_w)`, which is the same real
//! number; the two differ only by f32 rounding of the products and of the sum (relative
//! error of order K·2⁻²⁴ of `Σ|terms|`). The codes and scales come from the same quantizers
//! (`quantize_weights`, [`crate::quant::quantize_rows`]) with the same per-layer setting, so the
//! salient choices are identical. `tests/search.rs` checks the agreement on real layers.
//! Counts (spikes, accumulates, cycles) come from [`Golden::token_view`] of the array that carries
//! the assignment, as the golden backend's native path computes them.

use std::collections::HashMap;

use rayon::prelude::*;
use spikeq_hdl::quant::{quantize_weights, QuantWeights, SalientSelector};
use spikeq_hdl::{Counters, Derived, Flags, Golden, LayerRun, OutputMode, PeKind, WeightFormat};

use crate::driver::{LayerJob, Traffic};
use crate::energy::{count_layer, OpCounts};
use crate::model::linear::{check_linear_shapes, F32Linear, LinearExec, LinearId, Weight};
use crate::model::ModelError;
use crate::precision::Assignment;
use crate::quant::quantize_rows;

/// One layer quantized in one format: the codes (for counting) and the dequantized weights.
#[derive(Debug)]
struct Quantized {
    codes: QuantWeights,
    dequant: Weight,
}

/// Quantized weights kept across evaluations, per layer and format (each is quantized once per
/// search).
#[derive(Debug, Default)]
pub struct WeightCache {
    map: HashMap<(LinearId, WeightFormat), Quantized>,
}

impl WeightCache {
    fn get(&mut self, id: LinearId, w: &Weight, format: WeightFormat) -> &Quantized {
        self.map.entry((id, format)).or_insert_with(|| {
            let q = quantize_weights(w.data(), w.m(), w.k(), format);
            let mut data = vec![0f32; w.m() * w.k()];
            data.par_chunks_mut(w.k()).zip(q.codes.par_chunks(w.k())).zip(&q.scales).for_each(|((row, codes), &s)| {
                for (o, &c) in row.iter_mut().zip(codes) {
                    *o = c as f32 * s;
                }
            });
            let dequant = Weight::new(w.m(), w.k(), data).expect("shape of the source weight");
            Quantized { codes: q, dequant }
        })
    }
}

/// Runs every linear layer at its assigned setting, fake-quantized, counting what the array
/// that carries the assignment would do.
#[derive(Debug)]
pub struct FakeQuant<'a> {
    assignment: &'a Assignment,
    selector: SalientSelector,
    golden: Golden,
    weights: &'a mut WeightCache,
    /// Operation counts so far (energy model input).
    pub counts: OpCounts,
    /// Calls in which the array would have flagged salient overflow or code range (never expected).
    pub flagged: u64,
}

impl<'a> FakeQuant<'a> {
    /// An executor for `assignment` on the array `d` (which must carry it; see
    /// [`crate::precision::Precision::check_array`]).
    pub fn new(
        assignment: &'a Assignment,
        selector: SalientSelector,
        d: &Derived,
        weights: &'a mut WeightCache,
    ) -> Self {
        FakeQuant { assignment, selector, golden: Golden::new(d), weights, counts: OpCounts::default(), flagged: 0 }
    }
}

impl LinearExec for FakeQuant<'_> {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        check_linear_shapes(id, w, x, n, y)?;
        let spec = self.assignment.get(id);
        let (m, k) = (w.m(), w.k());
        let d = self.golden.derived().clone();
        let q = self.weights.get(id, w, spec.weights);
        let qx = quantize_rows(x, k, spec.bits(), self.selector, d.config.max_salient as usize, None);
        let mut xd = vec![0f32; n * k];
        let golden = &self.golden;
        let (spikes, flags) = xd
            .par_chunks_mut(k)
            .zip(qx.codes.par_chunks(k))
            .zip(&qx.scales)
            .map(|((row, codes), &s)| {
                for (o, &c) in row.iter_mut().zip(codes) {
                    *o = c as f32 * s;
                }
                let v = golden.token_view(codes);
                (v.spikes, v.flags)
            })
            .reduce(
                || (0, Flags::default()),
                |a, b| {
                    (
                        a.0 + b.0,
                        Flags {
                            salient_overflow: a.1.salient_overflow || b.1.salient_overflow,
                            code_range: a.1.code_range || b.1.code_range,
                        },
                    )
                },
            );
        let accumulates = match d.config.pe {
            PeKind::Spike => spikes * m as u64,
            PeKind::Mac => (n * k * m) as u64,
        };
        // The counters the array would report; outputs are not needed to count a raw call.
        let run = LayerRun {
            outputs: Vec::new(),
            counters: Counters { accumulates, ..Counters::default() },
            flags,
            lane_slots: 0,
        };
        let job = LayerJob { m, k, weights: &q.codes.codes, thresholds: None, mode: OutputMode::Raw, codes: &qx.codes };
        self.counts += count_layer(golden, &job, &run, Traffic::default());
        self.flagged += u64::from(flags.salient_overflow || flags.code_range);
        F32Linear.linear(id, &q.dequant, &xd, n, y)
    }
}
