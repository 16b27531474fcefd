//! The golden transport: the register- and stream-level golden device of `spikeq-hdl`, plus a
//! native whole-layer path that the driver uses for speed. The native path computes exactly what
//! the register path computes (values, cycles, spikes, accumulates, flags); a test checks it.

use rayon::prelude::*;
use spikeq_hdl::device::GoldenDevice;
use spikeq_hdl::{Counters, Derived, Flags, Golden, LayerError, LayerRun, OutputMode, Tile};

use super::{DriverError, LayerJob, Transport};
use crate::model::gemm::{matmul, Threads, View};

/// The golden model as a device.
#[derive(Debug)]
pub struct GoldenTransport {
    device: GoldenDevice,
    golden: Golden,
}

impl GoldenTransport {
    /// A golden device for a configuration.
    pub fn new(d: &Derived) -> Self {
        GoldenTransport { device: GoldenDevice::new(d), golden: Golden::new(d) }
    }
}

impl Transport for GoldenTransport {
    fn describe(&self) -> String {
        format!("golden model of {}", self.golden.derived().config.name)
    }
    fn read_reg(&mut self, addr: u32) -> Result<u32, DriverError> {
        Ok(self.device.read_reg(addr))
    }
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), DriverError> {
        self.device.write_reg(addr, value);
        Ok(())
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), DriverError> {
        self.device.push_packet(words);
        Ok(())
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, DriverError> {
        // The golden device answers synchronously: fewer words than asked means the protocol
        // was broken (no RUN in progress), which a real device would show as a timeout.
        if self.device.pending_output() < n {
            return Err(DriverError::Timeout {
                what: format!("{n} words on the output stream ({} pending)", self.device.pending_output()),
                device: self.describe(),
                timeout: std::time::Duration::ZERO,
            });
        }
        Ok(self.device.pop_output(n))
    }
    fn native_model(&self) -> Option<&Golden> {
        Some(&self.golden)
    }
}

/// Whole-layer golden computation: one exact integer GEMM instead of per-tile streaming.
///
/// Exactness: codes and weights are integers below 2^8, so every product is exact in f32; the
/// K dimension is cut into chunks whose largest possible |partial sum| stays below 2^24, where
/// f32 addition of integers is exact in any order; chunk results are summed in i64.
pub fn run_layer_native(g: &Golden, job: &LayerJob<'_>) -> Result<LayerRun, LayerError> {
    let d = g.derived();
    let (m, k) = (job.m, job.k);
    let n = job.codes.len() / k;
    let rows = d.config.rows as usize;
    // Check every tile as the device would.
    for m0 in (0..m).step_by(rows) {
        let mt = rows.min(m - m0);
        g.check_tile(&Tile {
            k,
            m: mt,
            weights: &job.weights[m0 * k..(m0 + mt) * k],
            thresholds: job.thresholds.map(|t| &t[m0..m0 + mt]),
            mode: job.mode,
        })?;
    }
    let tiles = m.div_ceil(rows) as u64;
    let mut eff = vec![0f32; n * k];
    // Tokens are independent: their views (the cycle model included) are planned in parallel and
    // their counts summed, which gives the sequential sums exactly (integer addition).
    let (mut counters, flags) = job
        .codes
        .par_chunks_exact(k)
        .zip(eff.par_chunks_exact_mut(k))
        .map(|(tok, dst)| {
            let view = g.token_view(tok);
            for (o, &c) in dst.iter_mut().zip(&view.effective) {
                *o = c as f32;
            }
            (
                Counters {
                    cycles: view.cycles * tiles,
                    spikes: view.spikes * tiles,
                    accumulates: g.accumulates(view.spikes, m, k),
                },
                view.flags,
            )
        })
        .reduce(
            || (Counters::default(), Flags::default()),
            |(mut c, mut f), (c2, f2)| {
                c += c2;
                f.salient_overflow |= f2.salient_overflow;
                f.code_range |= f2.code_range;
                (c, f)
            },
        );
    let w: Vec<f32> = job.weights.par_iter().map(|&x| x as f32).collect();
    let v = exact_product(&eff, &w, n, m, k, d.qs.max(d.qa) as u64 * d.qw as u64);
    let mut outputs = vec![0i32; n * m];
    match job.mode {
        OutputMode::Raw => {
            for (o, &x) in outputs.iter_mut().zip(&v) {
                *o = x as i32;
            }
        }
        OutputMode::Fire => {
            let th = job.thresholds.expect("checked by check_tile");
            for (vrow, orow) in v.chunks_exact(m).zip(outputs.chunks_exact_mut(m)) {
                for m0 in (0..m).step_by(rows) {
                    let r = m0..m.min(m0 + rows);
                    counters.cycles += g.fire_tile(&vrow[r.clone()], &th[r.clone()], &mut orow[r]);
                }
            }
        }
    }
    let lane_slots = counters.cycles * rows as u64 * d.config.lanes as u64;
    Ok(LayerRun { outputs, counters, flags, lane_slots })
}

/// `V[n, m] = Σ_k x[n, k] · w[m, k]` exactly, for integer-valued f32 inputs with
/// |x · w| <= `max_product`.
fn exact_product(x: &[f32], w: &[f32], n: usize, m: usize, k: usize, max_product: u64) -> Vec<i64> {
    let chunk = ((1u64 << 24) / max_product.max(1)).clamp(1, k as u64) as usize;
    let mut v = vec![0i64; n * m];
    let mut part = vec![0f32; n * m];
    for k0 in (0..k).step_by(chunk) {
        let kc = chunk.min(k - k0);
        let a = View { data: &x[k0..], rows: n, cols: kc, rs: k, cs: 1 };
        let b = View { data: &w[k0..], rows: kc, cols: m, rs: 1, cs: k };
        matmul(&mut part, m, a, b, false, Threads::Pool);
        for (acc, &p) in v.iter_mut().zip(&part) {
            *acc += p as i64;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Accelerator;
    use spikeq_hdl::ArrayConfig;
    use std::time::Duration;

    #[test]
    fn native_path_equals_register_path() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny.toml")).unwrap();
        let d = ArrayConfig::from_toml(&text).unwrap().validate().unwrap();
        let (m, k, n) = (11usize, 37usize, 5usize);
        let w: Vec<i8> = (0..m * k).map(|i| ((i * 7 + 3) % 15) as i8 - 7).collect();
        let codes: Vec<i8> = (0..n * k).map(|i| [0i8, 3, -7, 1, 90, -2, 0, 5, -120][i % 9]).collect();
        let th: Vec<u64> = (0..m).map(|r| 1 + (r as u64 * 97) % 3000).collect();
        for (mode, th) in [(OutputMode::Raw, None), (OutputMode::Fire, Some(&th[..]))] {
            let job = LayerJob { m, k, weights: &w, thresholds: th, mode, codes: &codes };
            let mut native = Accelerator::open(GoldenTransport::new(&d), &d, Duration::from_secs(1)).unwrap();
            let mut regs = Accelerator::open(GoldenTransport::new(&d), &d, Duration::from_secs(1)).unwrap();
            regs.force_register_path();
            let a = native.run_layer(&job).unwrap();
            let b = regs.run_layer(&job).unwrap();
            assert_eq!(a, b, "{mode:?}");
            assert!(a.flags.salient_overflow, "9 tokens' worth of salient codes exceed max_salient = 4");
        }
    }

    #[test]
    fn exact_product_handles_worst_case_sums() {
        // 3000 products of 127 * 127 exceed 2^24 by far; the chunked sum must still be exact.
        let k = 3000;
        let x = vec![127f32; k];
        let w = vec![-127f32; k];
        assert_eq!(exact_product(&x, &w, 1, 1, k, 127 * 127), vec![-(127 * 127 * k as i64)]);
    }
}
