//! SmoothQuant (Xiao et al., "SmoothQuant: Accurate and Efficient Post-Training Quantization for
//! Large Language Models", ICML 2023): an exact reparametrization of the f32 model that moves
//! activation outliers into the weights before quantization. For a linear layer `y = W x`, a
//! per-input-channel factor `s_j = max|x_j|^α / max|W[:, j]|^(1-α)` gives `x'_j = x_j / s_j` and
//! `W'[:, j] = W[:, j] * s_j`, so `W' x' = W x` while the per-token activation range shrinks.
//!
//! The division of x is folded into the operation that produces x, so nothing is added at run
//! time and the accelerator's numeric contract is untouched:
//! - q, k, v input (RMSNorm output): into `attn_norm`; gate, up input: into `ffn_norm`;
//! - down input (`silu(gate) * up`): into the rows of `up`;
//! - o input (attention output, `softmax · v`): into the rows of `v`. With grouped-query
//!   attention one v head feeds several query heads, so a factor is shared by the channels of
//!   those heads (the max is taken over them).
//!
//! Channel maxima are measured on calibration text (PTB *valid*) by [`ChannelStats`].

use std::collections::HashMap;

use crate::llm::eval;
use crate::llm::model::linear::{check_linear_shapes, F32Linear, LinearExec, LinearId, LinearKind, Weight};
use crate::llm::model::llama::Llama;
use crate::llm::model::ModelError;

/// Per-input-channel max |x| of every linear layer, measured while the f32 model runs.
#[derive(Debug, Default)]
pub struct ChannelStats {
    max: HashMap<LinearId, Vec<f32>>,
}

impl LinearExec for ChannelStats {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        check_linear_shapes(id, w, x, n, y)?;
        let m = self.max.entry(id).or_insert_with(|| vec![0.0; w.k()]);
        for row in x.chunks_exact(w.k()) {
            for (a, v) in m.iter_mut().zip(row) {
                *a = a.max(v.abs());
            }
        }
        F32Linear.linear(id, w, x, n, y)
    }
}

/// Max |W[:, j]| over the rows of several matrices with the same input.
fn column_max(ws: &[&Weight], k: usize) -> Vec<f32> {
    let mut m = vec![0f32; k];
    for w in ws {
        for row in w.data().chunks_exact(k) {
            for (a, v) in m.iter_mut().zip(row) {
                *a = a.max(v.abs());
            }
        }
    }
    m
}

/// The smoothing factor of one channel; 1 where either side is zero (nothing to balance).
fn factor(xmax: f32, wmax: f32, alpha: f32) -> f32 {
    if xmax > 0.0 && wmax > 0.0 {
        let s = xmax.powf(alpha) / wmax.powf(1.0 - alpha);
        if s.is_finite() && s > 0.0 {
            return s;
        }
    }
    1.0
}

fn scale_columns(w: &mut Weight, s: &[f32]) {
    let k = w.k();
    for row in w.data_mut().chunks_exact_mut(k) {
        for (v, f) in row.iter_mut().zip(s) {
            *v *= f;
        }
    }
}

fn divide_rows(w: &mut Weight, s: &[f32]) {
    let k = w.k();
    for (row, f) in w.data_mut().chunks_exact_mut(k).zip(s) {
        for v in row {
            *v /= f;
        }
    }
}

impl ChannelStats {
    fn get(&self, block: usize, kind: LinearKind) -> Result<&[f32], ModelError> {
        self.max
            .get(&LinearId { block, kind })
            .map(Vec::as_slice)
            .ok_or_else(|| ModelError::Backend(format!("no calibration statistics for block {block} {kind:?}")))
    }
}

/// Smooths every block of `model` with migration strength `alpha` (0: none, 1: all onto the
/// weights; the paper uses 0.5 for most models).
pub fn smooth(model: &mut Llama, stats: &ChannelStats, alpha: f32) -> Result<(), ModelError> {
    let c = model.config().clone();
    let (hd, group) = (c.head_dim, c.n_heads / c.n_kv_heads);
    for (bi, b) in model.blocks_mut().iter_mut().enumerate() {
        // q, k, v: one input, the attention RMSNorm output.
        let x = stats.get(bi, LinearKind::Q)?;
        let wmax = column_max(&[&b.q, &b.k, &b.v], c.d_model);
        let s: Vec<f32> = x.iter().zip(&wmax).map(|(&a, &w)| factor(a, w, alpha)).collect();
        b.attn_norm.iter_mut().zip(&s).for_each(|(g, f)| *g /= f);
        for w in [&mut b.q, &mut b.k, &mut b.v] {
            scale_columns(w, &s);
        }
        // gate, up: the FFN RMSNorm output.
        let x = stats.get(bi, LinearKind::Gate)?;
        let wmax = column_max(&[&b.gate, &b.up], c.d_model);
        let s: Vec<f32> = x.iter().zip(&wmax).map(|(&a, &w)| factor(a, w, alpha)).collect();
        b.ffn_norm.iter_mut().zip(&s).for_each(|(g, f)| *g /= f);
        scale_columns(&mut b.gate, &s);
        scale_columns(&mut b.up, &s);
        // down: silu(gate) * up is linear in up, so its channel j is divided through up's row j.
        let x = stats.get(bi, LinearKind::Down)?;
        let wmax = column_max(&[&b.down], c.d_ffn);
        let s: Vec<f32> = x.iter().zip(&wmax).map(|(&a, &w)| factor(a, w, alpha)).collect();
        divide_rows(&mut b.up, &s);
        scale_columns(&mut b.down, &s);
        // o: channel h*hd+d comes from v row g*hd+d of kv head g = h / group; one factor per
        // (g, d), from the max over the query heads of the group.
        let x = stats.get(bi, LinearKind::O)?;
        let wmax = column_max(&[&b.o], c.d_model);
        let mut sv = vec![1f32; c.n_kv_heads * hd];
        for (gi, sg) in sv.chunks_exact_mut(hd).enumerate() {
            for (d, f) in sg.iter_mut().enumerate() {
                let cols = (gi * group..(gi + 1) * group).map(|h| h * hd + d);
                let (xm, wm) = cols.fold((0f32, 0f32), |(a, b), j| (a.max(x[j]), b.max(wmax[j])));
                *f = factor(xm, wm, alpha);
            }
        }
        let so: Vec<f32> = (0..c.d_model).map(|j| sv[(j / hd) / group * hd + j % hd]).collect();
        divide_rows(&mut b.v, &sv);
        scale_columns(&mut b.o, &so);
    }
    Ok(())
}

/// Measures channel maxima on the first `windows` windows of `valid_tokens` (PTB *valid*, never
/// test) and smooths `model` with strength `alpha`: what `spikeq eval`, `energy` and `compare`
/// apply before a quantized run, so the evaluated and the counted pipelines are the same.
pub fn smooth_on_valid(model: &mut Llama, valid_tokens: &[u32], windows: usize, alpha: f32) -> Result<(), ModelError> {
    let mut stats = ChannelStats::default();
    eval::perplexity(model, &mut stats, valid_tokens, Some(windows), |_| {})?;
    smooth(model, &stats, alpha)
}
