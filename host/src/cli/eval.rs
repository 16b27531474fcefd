//! `spikeq eval`: perplexity on the PTB test split with the DESIGN.md windows protocol, the linear
//! layers quantized by a scheme or a precision file and computed by an accelerator backend.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use spikeq_host::device::Transport;
use spikeq_host::llm::eval::{self, WINDOW_TEXT_TOKENS};
use spikeq_host::llm::model;
use spikeq_host::llm::model::linear::{F32Linear, LinearExec};
use spikeq_host::llm::model::llama::Llama;
use spikeq_host::llm::precision::Precision;
use spikeq_host::llm::quant::{QuantExec, Quantization, ScaleKind, Scheme};
use spikeq_host::session::{check_array_fits, Inputs, Session};

use super::args::{parse_count, parse_switch, recipe_text, BackendArgs, PipelineArgs};
use super::progress;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Windows of 511 text tokens to evaluate (default: the whole text).
    #[arg(long, value_parser = parse_count)]
    windows: Option<usize>,
    /// Quantization scheme: f32, w8a8, w4a4, spikequant, spikequant-fire, ternary, binary.
    #[arg(long, default_value = "spikequant")]
    scheme: Scheme,
    /// Per-layer precision file (written by `spikeq search run`, format in docs/search.md); replaces
    /// --scheme. The array covers the widest setting the file names.
    #[arg(long, conflicts_with = "scheme")]
    precision: Option<PathBuf>,
    /// Also score the f32 model on the same windows first and print the ratio, `on` or `off`
    /// (off saves the f32 pass on long runs whose f32 figure is known).
    #[arg(long, default_value = "on", value_parser = parse_switch, action = clap::ArgAction::Set)]
    f32_reference: bool,
    #[command(flatten)]
    backend: BackendArgs,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

pub fn run(a: EvalArgs) -> Result<()> {
    // Everything the flags name is checked before the model loads: the precision file, the
    // configuration and the array the quantization derives from it.
    let (quant, what) = match &a.precision {
        Some(path) => (Some(Quantization::mixed(Precision::load(path)?)), format!("precision {}", path.display())),
        None => (a.scheme.quantization(a.pipeline.array.selector()), format!("scheme {}", a.scheme)),
    };
    let inputs = Inputs {
        backend: a.backend.backend.clone(),
        timeout: a.backend.timeout,
        ..a.pipeline.inputs(&quant.iter().collect::<Vec<_>>())?
    };
    // A scheme takes the recipe's selector; a precision file keeps its own.
    let quant = quant.map(|mut q| {
        if a.precision.is_none() {
            q.precision.selector = inputs.selector;
        }
        q
    });
    let array = quant.as_ref().map(|q| q.array(&inputs.array)).transpose()?;
    if let Some(d) = &array {
        check_array_fits(&model::read_config(&inputs.model)?, d)?;
    }
    let mut session = Session::open(inputs)?;
    let bar = progress::gptq_layers(&mut session);
    if quant.is_some() {
        eprintln!("host recipe: {}", recipe_text(&session.inputs));
    }
    if let Some(alpha) = session.inputs.smooth {
        eprintln!("smoothed (alpha {alpha}) with channel maxima of {} PTB valid windows", session.inputs.calib_windows);
    }
    let text = session.text()?;
    let scored: usize = eval::windows(&text.tokens, a.windows).map(<[u32]>::len).sum();
    let n_windows = text.tokens.len().div_ceil(WINDOW_TEXT_TOKENS).min(a.windows.unwrap_or(usize::MAX));
    eprintln!(
        "{}: {} tokens; evaluating {n_windows} windows ({scored} tokens), {what}, backend {:?}",
        text.read.path.display(),
        text.tokens.len(),
        session.inputs.backend
    );
    // f32 is the one run without an array.
    let (Some(q), Some(d)) = (quant, array) else {
        let (total, secs) = score(&session.model, &mut F32Linear, &text.tokens, a.windows, &what)?;
        report(&total, secs);
        return Ok(());
    };
    q.precision.check_blocks(session.model.blocks().len())?;
    // The f32 model on the same windows first, so the cost of quantization shows at a glance
    // (and the quantized figure is the last one printed). Rotation and smoothing are exact: this
    // is the f32 perplexity of the unmodified model up to f32 rounding.
    let reference = if a.f32_reference {
        let (f32_total, f32_secs) = score(&session.model, &mut F32Linear, &text.tokens, a.windows, "f32")?;
        print!("f32 on the same windows: ");
        report(&f32_total, f32_secs);
        Some(f32_total)
    } else {
        None
    };
    if let Some(windows) = session.inputs.gptq {
        bar.set_message(format!("GPTQ, Hessians from {windows} PTB valid windows (cached under .cache/gptq)"));
    }
    let started = Instant::now();
    let mut exec = session.executor_on(&q, &d, &session.inputs.backend)?;
    bar.finish_and_clear();
    if let Some(windows) = session.inputs.gptq {
        eprintln!(
            "GPTQ weights (Hessians from {windows} PTB valid windows) ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    if q.scales == ScaleKind::Relative {
        eprintln!("calibrated output scale ratios on {} PTB valid windows", session.inputs.calib_windows);
    }
    let (total, secs) = score(&session.model, &mut exec, &text.tokens, a.windows, &what)?;
    report(&total, secs);
    if let Some(f) = reference {
        println!("{what}: x{:.3} the f32 perplexity of the same windows", total.ppl() / f.ppl());
    }
    array_report(&exec, &total);
    Ok(())
}

fn score(
    model: &Llama,
    exec: &mut dyn LinearExec,
    tokens: &[u32],
    windows: Option<usize>,
    label: &str,
) -> Result<(eval::Perplexity, f64)> {
    let scored: usize = eval::windows(tokens, windows).map(<[u32]>::len).sum();
    let bar = progress::bar(scored as u64, "tokens");
    let start = Instant::now();
    let mut running = eval::Perplexity::default();
    let total = eval::perplexity(model, exec, tokens, windows, |w| {
        running.windows += w.windows;
        running.scored += w.scored;
        running.nll_sum += w.nll_sum;
        bar.set_message(format!("{label} PPL {:.3}", running.ppl()));
        bar.inc(w.scored as u64);
    })?;
    bar.finish_and_clear();
    Ok((total, start.elapsed().as_secs_f64()))
}

/// Array statistics of an evaluation: salient rate, counters per token, utilisation, traffic.
fn array_report<T: Transport, P>(exec: &QuantExec<T, P>, total: &eval::Perplexity) {
    let derived = exec.accelerator().derived();
    let s = exec.stats;
    let positions = (total.scored + total.windows) as f64;
    let acc = exec.accelerator();
    let traffic = acc.traffic;
    let per_token = |t: spikeq_host::device::Traffic| (t.h2c + t.c2h) as f64 / positions / 1e3;
    println!(
        "array {} ({}): salient rate {:.2} %, per token: {:.0} spikes, {:.0} accumulates, {:.0} cycles; lane utilisation {:.1} %; \
         streams {:.2} MB in, {:.2} MB out ({:.1} kB per token; protocol v2 {:.1} kB, minimum {:.1} kB){}",
        derived.config.name,
        derived.short_hash(),
        100.0 * s.salient as f64 / s.codes.max(1) as f64,
        s.counters.spikes as f64 / positions,
        s.counters.accumulates as f64 / positions,
        s.counters.cycles as f64 / positions,
        100.0 * s.counters.accumulates as f64 / s.lane_slots.max(1) as f64,
        traffic.h2c as f64 / 1e6,
        traffic.c2h as f64 / 1e6,
        per_token(traffic),
        per_token(acc.v2),
        per_token(acc.minimum),
        if s.flagged > 0 { format!("; {} calls flagged by the device", s.flagged) } else { String::new() }
    );
}

fn report(total: &eval::Perplexity, secs: f64) {
    println!(
        "windows {} scored tokens {} NLL/token {:.6} PPL {:.4} ({:.1} tokens/s, {secs:.1} s)",
        total.windows,
        total.scored,
        total.nll_per_token(),
        total.ppl(),
        total.scored as f64 / secs
    );
}
