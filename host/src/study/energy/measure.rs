//! Measuring a second array on the layer inputs of the first: the MAC baseline is counted on
//! exactly the activations the spike array saw, not on a forward of its own (whose activations
//! its own rounding would move).

use crate::llm::model::linear::{LinearExec, LinearId, Weight};
use crate::llm::model::ModelError;

/// Runs `primary` (whose outputs the forward uses) and then `shadow` on the same inputs (its
/// outputs are discarded).
#[derive(Debug)]
pub struct Tee<'a, A, B> {
    /// Drives the forward.
    pub primary: &'a mut A,
    /// Sees the same layer inputs.
    pub shadow: &'a mut B,
    scratch: Vec<f32>,
}

impl<'a, A, B> Tee<'a, A, B> {
    /// Pairs two executors.
    pub fn new(primary: &'a mut A, shadow: &'a mut B) -> Self {
        Tee { primary, shadow, scratch: Vec::new() }
    }
}

impl<A: LinearExec, B: LinearExec> LinearExec for Tee<'_, A, B> {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        self.primary.linear(id, w, x, n, y)?;
        self.scratch.resize(y.len(), 0.0);
        self.shadow.linear(id, w, x, n, &mut self.scratch)
    }
}
