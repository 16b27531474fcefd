//! `spikeq bench golden`: speed of the golden model and lane utilisation of the array on
//! heavy-tailed activations quantized by the numeric contract. Prints ratios and counts measured
//! in this one run; docs/benchmarks.md records them with this command.

use std::time::Instant;

use anyhow::Result;
use clap::{Args, Subcommand};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use spikeq_hdl::quant::{quantize_acts, quantize_weights, ActBits};
use spikeq_hdl::{Golden, Layer, OutputMode};

use super::args::ArrayArgs;

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Functional speed, cycle-model speed and lane utilisation of the golden model.
    Golden(GoldenArgs),
    /// Simulated cycles per second under Verilator and Icarus on the generator's testbench vectors.
    Cosim(super::cosim::BenchArgs),
    /// PTB evaluation speed: quantized golden path vs f32 in one run, and the Verilator backend.
    Eval(super::bench_eval::EvalBenchArgs),
}

#[derive(Debug, Args)]
pub struct GoldenArgs {
    #[command(flatten)]
    array: ArrayArgs,
    /// Output length M of the benchmark layer.
    #[arg(long, default_value_t = 1536)]
    m: usize,
    /// Input length K of the benchmark layer.
    #[arg(long, default_value_t = 576)]
    k: usize,
    /// Tokens per call.
    #[arg(long, default_value_t = 64)]
    tokens: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(cmd: BenchCmd) -> Result<()> {
    match cmd {
        BenchCmd::Golden(a) => golden(a),
        BenchCmd::Cosim(a) => super::cosim::bench(a),
        BenchCmd::Eval(a) => super::bench_eval::run(a),
    }
}

/// Heavy-tailed activations like a transformer's: Gaussian channels, a few outlier channels with
/// a large gain (the pattern that motivates salient handling).
fn activations(rng: &mut StdRng, n: usize, k: usize) -> Vec<f32> {
    let gains: Vec<f32> = (0..k).map(|_| if rng.gen::<f32>() < 0.01 { 12.0 } else { 1.0 }).collect();
    (0..n * k)
        .map(|i| {
            let (u1, u2): (f32, f32) = (rng.gen::<f32>().max(1e-9), rng.gen());
            (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos() * gains[i % k]
        })
        .collect()
}

fn golden(a: GoldenArgs) -> Result<()> {
    let d = a.array.config.read()?;
    let selector = a.array.selector();
    anyhow::ensure!(
        a.k <= d.config.k_max as usize,
        "--k {} exceeds k_max {} of {}",
        a.k,
        d.config.k_max,
        d.config.name
    );
    let mut rng = StdRng::seed_from_u64(a.seed);
    let w: Vec<f32> = (0..a.m * a.k).map(|_| rng.gen::<f32>() - 0.5).collect();
    let qw = quantize_weights(&w, a.m, a.k, d.config.weight_format);
    let x = activations(&mut rng, a.tokens, a.k);
    let bits = ActBits { normal: d.config.act_bits, salient: d.config.salient_bits };
    let qx = quantize_acts(&x, a.k, bits, selector, d.config.max_salient as usize, None);
    let golden = Golden::new(&d);

    println!(
        "config {} ({}), layer {}x{} (MxK), {} tokens, seed {}",
        d.config.name,
        d.short_hash(),
        a.m,
        a.k,
        a.tokens,
        a.seed
    );
    // Functional model.
    let layer = Layer { m: a.m, k: a.k, weights: &qw.codes, thresholds: None, mode: OutputMode::Raw, codes: &qx.codes };
    let mut run = None;
    let (reps, secs) = for_a_second(|| {
        run = Some(golden.run_layer(&layer)?);
        Ok(1)
    })?;
    let run = run.expect("ran at least once");
    let macs = (a.m * a.k * a.tokens) as f64 * reps as f64;
    println!(
        "functional: {:.3} G accumulates/s ({:.3} G code-weight products/s), {} calls in {:.2} s",
        run.counters.accumulates as f64 * reps as f64 / secs / 1e9,
        macs / secs / 1e9,
        reps,
        secs
    );
    // Activation quantizer alone (salient selection, scale, rounding of every token row).
    let (calls, secs) = for_a_second(|| {
        std::hint::black_box(quantize_acts(&x, a.k, bits, selector, d.config.max_salient as usize, None));
        Ok(1)
    })?;
    println!(
        "quantizer: {:.2} ns per activation ({} calls of {} x {}, {selector:?})",
        secs / (calls as f64 * x.len() as f64) * 1e9,
        calls,
        a.tokens,
        a.k
    );
    // Cycle model alone (raw mode cycles do not depend on the weights).
    let mut sink = 0u64;
    let (calls, secs) = for_a_second(|| {
        for tok in qx.codes.chunks_exact(a.k) {
            sink = sink.wrapping_add(golden.token_cycles(tok));
        }
        Ok(a.tokens as u64)
    })?;
    println!("cycle model: {:.3} M token calls/s (K = {}; checksum {sink})", calls as f64 / secs / 1e6, a.k);
    let tiles = a.m.div_ceil(d.config.rows as usize) as u64;
    println!(
        "array: salient rate {:.2} %, {:.1} cycles per token per tile, {} cycles per token for the layer, \
         {:.1} spikes per token, lane utilisation {:.1} %",
        100.0 * qx.salient_count as f64 / (a.tokens * a.k) as f64,
        run.counters.cycles as f64 / (a.tokens as u64 * tiles) as f64,
        run.counters.cycles / a.tokens as u64,
        run.counters.spikes as f64 / (a.tokens as u64 * tiles) as f64,
        100.0 * run.utilisation()
    );
    Ok(())
}

/// Repeats `step` until at least a second has passed (at least once): the units the steps report,
/// summed, and the seconds they took.
fn for_a_second(mut step: impl FnMut() -> Result<u64>) -> Result<(u64, f64)> {
    let start = Instant::now();
    let mut units = step()?;
    while start.elapsed().as_secs_f64() < 1.0 {
        units += step()?;
    }
    Ok((units, start.elapsed().as_secs_f64()))
}
