//! Hadamard rotation (QuaRot, Ashkboos et al. 2024; the recipe measured on SmolLM2 in
//! ../shared/W4A4.md): an exact reparametrization of the f32 model that spreads every outlier
//! channel over all channels, so per-row int4 weights and per-token 4-bit codes lose far less.
//!
//! With column vectors and an orthogonal `T` (`T Tᵀ = I`):
//! 1. every RMSNorm gain is folded into the linears that read its output (q, k, v; gate, up; the
//!    output head), leaving unit gains — an RMSNorm with unit gains commutes with `T`, since
//!    `‖T x‖ = ‖x‖`;
//! 2. the residual stream becomes `T x`: the embedding rows become `T e`, every layer that reads
//!    the residual `W Tᵀ` (each row transformed by `T`), every layer that writes it (o, down)
//!    `T W` (each column transformed), the head rows `T h`. Embedding and head were tied; the
//!    folded output gain makes them differ, so the head becomes its own f32 copy;
//! 3. `down`'s input gets its own transform `T₂` online in the forward (a fast transform, not a
//!    matrix product) and `down` becomes `W T₂ᵀ`. The measured point of the recipe: the residual
//!    rotation alone makes W4A4 worse, because `down`'s input carries SmolLM2's massive
//!    activations, which only the online transform spreads.
//!
//! The transforms are [`Hadamard`]s (576 = 12·12·4, 1536 = 12·128) with fixed random signs, so a
//! rotated model is always the same model.

use rayon::prelude::*;

use crate::llm::model::hadamard::Hadamard;
use crate::llm::model::linear::Weight;
use crate::llm::model::llama::Llama;
use crate::llm::model::ModelError;

/// Seed of the residual stream's signs.
pub const RESIDUAL_SEED: u64 = 0x5eed_0001;
/// Seed of the signs of `down`'s online transform.
pub const DOWN_SEED: u64 = 0x5eed_0002;

/// Multiplies column j of `w` by `g[j]`.
fn scale_columns(w: &mut Weight, g: &[f32]) {
    let k = w.k();
    w.data_mut().par_chunks_exact_mut(k).for_each(|row| row.iter_mut().zip(g).for_each(|(v, f)| *v *= f));
}

/// `W ← W Tᵀ`: each row transformed by `T`.
fn rotate_rows(w: &mut Weight, t: &Hadamard) {
    t.apply_rows(w.data_mut());
}

/// `W ← T W`: each column transformed by `T` (through the transpose).
fn rotate_columns(w: &mut Weight, t: &Hadamard) {
    let (m, k) = (w.m(), w.k());
    let mut cols = vec![0f32; m * k];
    for (i, row) in w.data().chunks_exact(k).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            cols[j * m + i] = v;
        }
    }
    t.apply_rows(&mut cols);
    for (i, row) in w.data_mut().chunks_exact_mut(k).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = cols[j * m + i];
        }
    }
}

/// Folds the norms and rotates `model` as the module documentation describes. Fails on widths
/// no [`Hadamard`] covers, or on a model rotated already.
pub fn rotate(model: &mut Llama) -> Result<(), ModelError> {
    if model.down_input().is_some() {
        return Err(ModelError::Backend("the model is rotated already".into()));
    }
    let c = model.config().clone();
    let t = Hadamard::new(c.d_model, RESIDUAL_SEED)?;
    let t2 = Hadamard::new(c.d_ffn, DOWN_SEED)?;
    for b in model.blocks_mut() {
        for w in [&mut b.q, &mut b.k, &mut b.v] {
            scale_columns(w, &b.attn_norm);
        }
        for w in [&mut b.gate, &mut b.up] {
            scale_columns(w, &b.ffn_norm);
        }
        b.attn_norm.fill(1.0);
        b.ffn_norm.fill(1.0);
        for w in [&mut b.q, &mut b.k, &mut b.v, &mut b.gate, &mut b.up] {
            rotate_rows(w, &t);
        }
        rotate_columns(&mut b.o, &t);
        rotate_columns(&mut b.down, &t);
        rotate_rows(&mut b.down, &t2);
    }
    let gain = model.output_norm_mut().to_vec();
    let head = model.untied_output_mut();
    scale_columns(head, &gain);
    rotate_rows(head, &t);
    model.output_norm_mut().fill(1.0);
    rotate_rows(model.embed_mut(), &t);
    model.set_down_input(Some(t2));
    Ok(())
}
