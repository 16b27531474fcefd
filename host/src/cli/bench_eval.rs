//! `spikeq bench eval`: PTB evaluation speed of the quantized golden path next to the f32 path in
//! one run, and the simulated speed of the Verilator backend on a short forward. Prints ratios
//! measured in this run and the machine-independent cycle counts.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use spikeq_host::device::Backend;
use spikeq_host::llm::eval;
use spikeq_host::llm::model::linear::F32Linear;
use spikeq_host::llm::model::llama::KvCache;
use spikeq_host::llm::quant::{ScaleKind, Scheme};
use spikeq_host::session::{Inputs, Session};

use super::args::{parse_count, ArrayArgs, ModelArgs, TextArgs};

#[derive(Debug, Args)]
pub struct EvalBenchArgs {
    /// PTB test windows evaluated by f32 and by the quantized scheme.
    #[arg(long, default_value_t = 2, value_parser = parse_count)]
    windows: usize,
    /// Quantized scheme compared with f32.
    #[arg(long, default_value = "spikequant")]
    scheme: Scheme,
    /// Tokens of the forward run on the Verilator backend (0: skip it).
    #[arg(long, default_value_t = 16)]
    verilator_tokens: usize,
    #[command(flatten)]
    array: ArrayArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    text: TextArgs,
}

/// The model is not smoothed: the bench measures the work, which smoothing does not change.
pub fn run(a: EvalBenchArgs) -> Result<()> {
    let quant = a
        .scheme
        .quantization(a.array.selector())
        .context("compare a quantized scheme with f32, not f32 with itself")?;
    let static_scales = quant.scales == ScaleKind::Relative;
    let inputs = Inputs {
        text: Some(a.text.path()?),
        calibration: if static_scales { Some(a.text.calibration()?) } else { None },
        timeout: Duration::from_secs(600),
        ..a.array.inputs(&a.model)?
    };
    let d = quant.array(&inputs.array)?;
    let session = Session::open(inputs)?;
    let (model, tokens) = (&session.model, &session.text()?.tokens);
    let exec_on = |backend: &Backend| session.executor_on(&quant, &d, backend);

    let t = Instant::now();
    let f = eval::perplexity(model, &mut F32Linear, tokens, Some(a.windows), |_| {})?;
    let f32_rate = f.scored as f64 / t.elapsed().as_secs_f64();
    let mut exec = exec_on(&Backend::Golden)?;
    let t = Instant::now();
    let q = eval::perplexity(model, &mut exec, tokens, Some(a.windows), |_| {})?;
    let q_rate = q.scored as f64 / t.elapsed().as_secs_f64();
    println!("PTB test, {} windows ({} scored tokens), one run:", a.windows, f.scored);
    println!("| path | PPL | tokens/s | vs f32 |\n| --- | ---: | ---: | ---: |");
    println!("| f32 | {:.3} | {f32_rate:.1} | 1.00 |", f.ppl());
    println!("| {} (golden backend) | {:.3} | {q_rate:.1} | {:.2} |", a.scheme, q.ppl(), q_rate / f32_rate);
    let positions = (q.scored + q.windows) as f64;
    println!("array cycles per token (exact, all 210 layers): {:.0}", exec.stats.counters.cycles as f64 / positions);

    if a.verilator_tokens > 0 {
        let window: Vec<u32> = std::iter::once(0).chain(tokens.iter().copied().take(a.verilator_tokens - 1)).collect();
        let mut golden = exec_on(&Backend::Golden)?;
        let t = Instant::now();
        let g = model.forward(&mut golden, &window, &mut KvCache::new(model.config(), window.len()))?;
        let g_secs = t.elapsed().as_secs_f64();
        eprintln!("Verilator forward of {} tokens (all 30 blocks; minutes)...", window.len());
        let mut rtl = exec_on(&Backend::Verilator)?;
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let r = model.forward(&mut rtl, &window, &mut KvCache::new(model.config(), window.len()))?;
        let r_secs = t.elapsed().as_secs_f64();
        let r_cpu = cpu_seconds() - cpu;
        anyhow::ensure!(
            g.iter().zip(&r).all(|(x, y)| x.to_bits() == y.to_bits()),
            "Verilator logits differ from golden logits"
        );
        let cycles = rtl.stats.counters.cycles;
        println!("forward of {} tokens, logits bit-identical:", window.len());
        println!("| backend | seconds | tokens/s | array cycles | cycles/s |\n| --- | ---: | ---: | ---: | ---: |");
        println!(
            "| golden | {g_secs:.2} | {:.1} | {cycles} | {:.3e} |",
            window.len() as f64 / g_secs,
            cycles as f64 / g_secs
        );
        println!(
            "| verilator | {r_secs:.1} | {:.3} | {cycles} | {:.3e} |",
            window.len() as f64 / r_secs,
            cycles as f64 / r_secs
        );
        // The machines are shared: the process's CPU time says what the simulation costs when
        // wall-clock time includes waiting for a core.
        println!("verilator forward: {r_secs:.1} s wall clock, {r_cpu:.1} s CPU (user + system) of this process");
        if let Some(sim) = rtl.accelerator().transport().sim_cycles() {
            println!(
                "simulated clock cycles (LOAD, code receiver, compute, output, AXI): {sim} ({:.3e} per second); stream traffic {:.2} MB in, {:.2} MB out",
                sim as f64 / r_secs,
                rtl.accelerator().traffic.h2c as f64 / 1e6,
                rtl.accelerator().traffic.c2h as f64 / 1e6
            );
        }
        println!("(golden includes quantizing every layer's weights once; array cycles count RUN phases only, the simulation also clocks LOAD (a chunk of weights per cycle), the code receiver (a chunk of codes per cycle) and the AXI transactions)");
    }
    Ok(())
}

/// CPU time (user + system) of this process so far, in seconds (`getrusage`; 0 where it fails).
fn cpu_seconds() -> f64 {
    // SAFETY: rusage is plain integers (all-zero is a valid value); getrusage only writes it.
    let (u, ok) = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        let ok = libc::getrusage(libc::RUSAGE_SELF, &mut u) == 0;
        (u, ok)
    };
    if !ok {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}
