//! `spikeq eval`: perplexity on the PTB test split with the DESIGN.md windows protocol, the linear
//! layers quantized by a scheme and computed by an accelerator backend.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikeq_hdl::quant::SalientSelector;
use spikeq_hdl::ArrayConfig;
use spikeq_host::driver::{Accelerator, Backend, Transport};
use spikeq_host::eval::{self, DEFAULT_MODEL, DEFAULT_TEXT, WINDOW_TEXT_TOKENS};
use spikeq_host::model::linear::{F32Linear, LinearExec};
use spikeq_host::model::{self, llama::Llama};
use spikeq_host::precision::Precision;
use spikeq_host::quant::{Calibrator, QuantExec, Scheme};
use spikeq_host::smooth::smooth_on_valid;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Windows of 511 text tokens to evaluate (default: the whole text).
    #[arg(long)]
    windows: Option<usize>,
    /// Quantization scheme: f32, w8a8, w4a4, spikequant, spikequant-fire, ternary, binary.
    #[arg(long, default_value = "spikequant")]
    scheme: Scheme,
    /// Where the array runs: golden, verilator or xdma[:DIR] (DIR holds xdma0_user, xdma0_h2c_0, xdma0_c2h_0).
    #[arg(long, default_value = "golden")]
    backend: Backend,
    /// Per-layer precision file (written by `spikeq search run`, format in docs/search.md); replaces
    /// --scheme. The array covers the widest setting the file names.
    #[arg(long, conflicts_with = "scheme")]
    precision: Option<PathBuf>,
    /// Array configuration; the scheme sets its weight and activation widths.
    #[arg(long, default_value = "configs/default.toml")]
    config: PathBuf,
    /// Salient selector: none, mad:TAU, topk:FRAC.
    #[arg(long, default_value = "mad:6")]
    salient: String,
    /// PTB *valid* windows used to calibrate static scales (spikequant-fire) and smoothing.
    #[arg(long, default_value_t = 2)]
    calib_windows: usize,
    /// SmoothQuant migration strength ALPHA in 0..=1, or `off`: an exact reparametrization of the
    /// f32 model, calibrated on PTB valid, that moves activation outliers into the weights before
    /// quantization (docs/host.md). `off` gives the plain round-to-nearest baselines.
    #[arg(long, default_value = "0.5", value_parser = parse_alpha)]
    smooth: Smooth,
    /// Seconds the driver waits for the device before giving up.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// GGUF model (default: .cache/model/SmolLM2-135M-Instruct.Q4_1.gguf under the repository root).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Text file evaluated in one piece (default: .cache/ptb/test.txt under the repository root).
    #[arg(long)]
    text: Option<PathBuf>,
}

/// `--smooth`: a migration strength, or none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Smooth(pub(crate) Option<f32>);

pub(crate) fn parse_alpha(s: &str) -> Result<Smooth, String> {
    match s.parse::<f32>() {
        _ if s == "off" => Ok(Smooth(None)),
        Ok(a) if (0.0..=1.0).contains(&a) => Ok(Smooth(Some(a))),
        _ => Err(format!("{s:?} is not a migration strength: give a number from 0 to 1 (e.g. 0.5) or `off`")),
    }
}

fn bar(len: u64) -> Result<ProgressBar> {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} tokens {per_sec:.1} ETA {eta} {msg}")?
            .progress_chars("=> "),
    );
    Ok(bar)
}

fn score(
    model: &Llama,
    exec: &mut dyn LinearExec,
    tokens: &[u32],
    windows: Option<usize>,
    label: &str,
) -> Result<(eval::Perplexity, f64)> {
    let scored: usize = eval::windows(tokens, windows).map(<[u32]>::len).sum();
    let bar = bar(scored as u64)?;
    bar.set_prefix(label.to_string());
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

pub fn run(args: EvalArgs) -> Result<()> {
    let model_path = eval::asset_path("model", args.model, DEFAULT_MODEL)?;
    let text_path = eval::asset_path("text", args.text, DEFAULT_TEXT)?;
    let (mut model, tokenizer) =
        model::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let text = std::fs::read_to_string(&text_path).with_context(|| format!("reading {}", text_path.display()))?;
    let tokens = tokenizer.encode(&text)?;
    let valid_tokens = || -> Result<Vec<u32>> {
        let valid_path = text_path.with_file_name("valid.txt");
        let valid = std::fs::read_to_string(&valid_path)
            .with_context(|| format!("reading calibration text {} (run scripts/setup.sh)", valid_path.display()))?;
        Ok(tokenizer.encode(&valid)?)
    };
    let quantized = args.precision.is_some() || args.scheme != Scheme::F32;
    if let (Smooth(Some(alpha)), true) = (args.smooth, quantized) {
        smooth_on_valid(&mut model, &valid_tokens()?, args.calib_windows, alpha)?;
        eprintln!("smoothed (alpha {alpha}) with channel maxima of {} PTB valid windows", args.calib_windows);
    }
    let scored: usize = eval::windows(&tokens, args.windows).map(<[u32]>::len).sum();
    let n_windows = tokens.len().div_ceil(WINDOW_TEXT_TOKENS).min(args.windows.unwrap_or(usize::MAX));
    eprintln!(
        "{}: {} tokens; evaluating {n_windows} windows ({scored} tokens), {}, backend {:?}",
        text_path.display(),
        tokens.len(),
        args.precision.as_ref().map_or(format!("scheme {}", args.scheme), |p| format!("precision {}", p.display())),
        args.backend
    );

    let base = {
        let base_text =
            std::fs::read_to_string(&args.config).with_context(|| format!("cannot read {}", args.config.display()))?;
        ArrayConfig::from_toml(&base_text).with_context(|| format!("{}", args.config.display()))?
    };
    let timeout = Duration::from_secs_f64(args.timeout);
    if let Some(path) = &args.precision {
        let p = Precision::load(path)?;
        p.check_blocks(model.blocks().len())?;
        let derived = p
            .array_config(&base)
            .validate()
            .with_context(|| format!("array for {} on {}", path.display(), args.config.display()))?;
        let acc = Accelerator::connect(&args.backend, &derived, timeout)?;
        let mut exec = QuantExec::with_precision(p, acc)?;
        let (total, secs) = score(&model, &mut exec, &tokens, args.windows, &path.display().to_string())?;
        report(&total, secs);
        array_report(&exec, &total);
        return Ok(());
    }
    let Some(config) = args.scheme.array_config(&base) else {
        let (total, secs) = score(&model, &mut F32Linear, &tokens, args.windows, "f32")?;
        report(&total, secs);
        return Ok(());
    };
    let derived = config.validate().with_context(|| format!("scheme {} on {}", args.scheme, args.config.display()))?;
    let selector = SalientSelector::parse(&args.salient).map_err(anyhow::Error::msg)?;
    let calibration = if args.scheme.mode() == spikeq_hdl::OutputMode::Fire {
        let mut cal = Calibrator::new(&config, selector);
        eval::perplexity(&model, &mut cal, &valid_tokens()?, Some(args.calib_windows), |_| {})?;
        eprintln!("calibrated static scales on {} PTB valid windows", args.calib_windows);
        Some(cal.finish())
    } else {
        None
    };
    let transport = args.backend.open(&derived, timeout)?;
    let acc = Accelerator::open(transport, &derived)?;
    let mut exec = QuantExec::new(args.scheme, acc, selector, calibration)?;
    let (total, secs) = score(&model, &mut exec, &tokens, args.windows, &args.scheme.to_string())?;
    report(&total, secs);
    array_report(&exec, &total);
    Ok(())
}

/// Array statistics of an evaluation: salient rate, counters per token, utilisation, traffic.
fn array_report<T: Transport, P>(exec: &QuantExec<T, P>, total: &eval::Perplexity) {
    let derived = exec.accelerator().derived();
    let s = exec.stats;
    let positions = (total.scored + total.windows) as f64;
    let traffic = exec.accelerator().traffic;
    println!(
        "array {} ({}): salient rate {:.2} %, per token: {:.0} spikes, {:.0} accumulates, {:.0} cycles; lane utilisation {:.1} %; \
         streams {:.2} MB in, {:.2} MB out{}",
        derived.config.name,
        derived.short_hash(),
        100.0 * s.salient as f64 / s.codes.max(1) as f64,
        s.counters.spikes as f64 / positions,
        s.counters.accumulates as f64 / positions,
        s.counters.cycles as f64 / positions,
        100.0 * s.counters.accumulates as f64 / s.lane_slots.max(1) as f64,
        traffic.h2c as f64 / 1e6,
        traffic.c2h as f64 / 1e6,
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
