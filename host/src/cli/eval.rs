//! `spikeq eval`: perplexity on the PTB test split with the DESIGN.md windows protocol.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikeq_host::eval::{self, DEFAULT_MODEL, DEFAULT_TEXT, WINDOW_TEXT_TOKENS};
use spikeq_host::model::{self, linear::F32Linear};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Windows of 511 text tokens to evaluate (default: the whole text).
    #[arg(long)]
    windows: Option<usize>,
    /// GGUF model (default: .cache/model/SmolLM2-135M-Instruct.Q4_1.gguf under the repository root).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Text file evaluated in one piece (default: .cache/ptb/test.txt under the repository root).
    #[arg(long)]
    text: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let model_path = eval::asset_path("model", args.model, DEFAULT_MODEL)?;
    let text_path = eval::asset_path("text", args.text, DEFAULT_TEXT)?;
    let (model, tokenizer) = model::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let text = std::fs::read_to_string(&text_path).with_context(|| format!("reading {}", text_path.display()))?;
    let tokens = tokenizer.encode(&text)?;
    let scored: usize = eval::windows(&tokens, args.windows).map(<[u32]>::len).sum();
    let n_windows = tokens.len().div_ceil(WINDOW_TEXT_TOKENS).min(args.windows.unwrap_or(usize::MAX));
    eprintln!(
        "{}: {} tokens; evaluating {n_windows} windows ({scored} tokens) with f32 weights",
        text_path.display(),
        tokens.len()
    );

    let bar = ProgressBar::new(scored as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} tokens {per_sec:.1} ETA {eta} {msg}")?
            .progress_chars("=> "),
    );
    let start = Instant::now();
    let mut running = eval::Perplexity::default();
    let total = eval::perplexity(&model, &mut F32Linear, &tokens, args.windows, |w| {
        running.windows += w.windows;
        running.scored += w.scored;
        running.nll_sum += w.nll_sum;
        bar.set_message(format!("PPL {:.3}", running.ppl()));
        bar.inc(w.scored as u64);
    })?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "windows {} scored tokens {} NLL/token {:.6} PPL {:.4} ({:.1} tokens/s, {secs:.1} s)",
        total.windows,
        total.scored,
        total.nll_per_token(),
        total.ppl(),
        total.scored as f64 / secs
    );
    Ok(())
}
