//! Running SmolLM2 on PTB text through golden-backend arrays to count what they do: one scheme's
//! executor drives the forward, an optional shadow array sees exactly the same layer inputs (the
//! MAC baseline is measured on the activations the spike array saw).

use std::time::Duration;

use spikeq_hdl::quant::SalientSelector;
use spikeq_hdl::{ArrayConfig, Derived};

use super::Activity;
use crate::driver::{Accelerator, Backend, Transport};
use crate::eval;
use crate::model::linear::{LinearExec, LinearId, Weight};
use crate::model::llama::Llama;
use crate::model::ModelError;
use crate::quant::{Calibration, Calibrator, QuantExec, Scheme};

/// An executor on the golden backend that counts every layer call.
pub type CountingExec = QuantExec<Box<dyn Transport>, Activity>;

/// Static scales for a scheme's array, calibrated on `valid_tokens` (PTB *valid*; the test split
/// is never used for calibration).
pub fn calibrate(
    model: &Llama,
    valid_tokens: &[u32],
    config: &ArrayConfig,
    selector: SalientSelector,
    windows: usize,
) -> Result<Calibration, ModelError> {
    let mut cal = Calibrator::new(config, selector);
    eval::perplexity(model, &mut cal, valid_tokens, Some(windows), |_| {})?;
    Ok(cal.finish())
}

/// A counting executor for `scheme` on a golden array of configuration `d`.
pub fn counting_exec(
    scheme: Scheme,
    d: &Derived,
    selector: SalientSelector,
    calibration: Option<Calibration>,
) -> Result<CountingExec, ModelError> {
    let backend = |e: crate::driver::DriverError| ModelError::Backend(e.to_string());
    let timeout = Duration::from_secs(60);
    let transport = Backend::Golden.open(d, timeout).map_err(backend)?;
    let acc = Accelerator::open(transport, d).map_err(backend)?;
    Ok(QuantExec::new(scheme, acc, selector, calibration)?.with_tap(Activity::default()))
}

/// The configuration of `scheme` on `base`, validated; errors say which scheme and base.
pub fn scheme_array(scheme: Scheme, base: &ArrayConfig) -> Result<Derived, ModelError> {
    let c = scheme
        .array_config(base)
        .ok_or_else(|| ModelError::Backend(format!("scheme {scheme} uses no array: pick a quantized scheme")))?;
    c.validate().map_err(|e| ModelError::Backend(format!("scheme {scheme} on array {}: {e}", base.name)))
}

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
