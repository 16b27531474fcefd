//! Argument groups the subcommands share (`#[command(flatten)]`), and their checks, which run
//! before the model is loaded so that a wrong flag costs nothing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use spikeq_hdl::quant::SalientSelector;
use spikeq_hdl::Derived;
use spikeq_host::device::Backend;
use spikeq_host::files::config_file;
use spikeq_host::files::paths::{self, DEFAULT_CONFIG, DEFAULT_MODEL, DEFAULT_TEXT, DEFAULT_VALID};
use spikeq_host::llm::precision::{selector_text, LayerSpec, DEFAULT_SELECTOR};
use spikeq_host::llm::quant::{Quantization, ScaleKind};
use spikeq_host::session::{Inputs, DEFAULT_CALIB_WINDOWS, DEFAULT_GPTQ_WINDOWS};

/// The model.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// GGUF model (default: .cache/model/SmolLM2-135M-Instruct.Q4_1.gguf under the repository root).
    #[arg(long)]
    model: Option<PathBuf>,
}

impl ModelArgs {
    /// The model file, checked to exist.
    pub fn path(&self) -> Result<PathBuf> {
        Ok(paths::asset("model", self.model.clone(), DEFAULT_MODEL)?)
    }
}

/// The text a command scores and the text it calibrates on.
#[derive(Debug, Args)]
pub struct TextArgs {
    /// Text scored, tokenized in one piece (default: .cache/ptb/test.txt under the repository
    /// root).
    #[arg(long)]
    text: Option<PathBuf>,
    /// Calibration text of smoothing and static scales (default: PTB valid,
    /// .cache/ptb/valid.txt under the repository root). The PTB test split is refused.
    #[arg(long)]
    calibration_text: Option<PathBuf>,
}

impl TextArgs {
    /// The text file, checked to exist.
    pub fn path(&self) -> Result<PathBuf> {
        Ok(paths::asset("text", self.text.clone(), DEFAULT_TEXT)?)
    }

    /// The calibration text, checked to exist.
    pub fn calibration(&self) -> Result<PathBuf> {
        Ok(paths::asset("calibration text", self.calibration_text.clone(), DEFAULT_VALID)?)
    }
}

/// An array configuration file.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Array configuration (default: configs/default.toml under the repository root). Commands
    /// that quantize keep its rows, lanes, k_max, salient budget and clock, and take the widths
    /// from the scheme or precision file.
    #[arg(long)]
    config: Option<PathBuf>,
}

impl ConfigArg {
    /// The configuration, read and validated.
    pub fn read(&self) -> Result<Derived> {
        Ok(config_file::read(&paths::or_default(self.config.clone(), DEFAULT_CONFIG))?)
    }
}

/// The base array and the salient selector of its schemes.
#[derive(Debug, Args)]
pub struct ArrayArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Salient selector of the settings with salient codes: none, mad:TAU, topk:FRAC. Default
    /// mad:6 (DESIGN.md), mad:3 where `eval`, `energy`, `compare` and `search` rotate the model
    /// (docs/host.md).
    #[arg(long, value_parser = SalientSelector::parse)]
    salient: Option<SalientSelector>,
}

/// The salient selector of a rotated model: rotation flattens the activations, so MAD-salient
/// values at tau 6 become rare (0.2 %); tau 3 keeps 3.7 % (docs/results.md).
const ROTATED_SELECTOR: SalientSelector = SalientSelector::Mad { tau: 3.0 };

impl ArrayArgs {
    /// The selector given, else DESIGN.md's default.
    pub fn selector(&self) -> SalientSelector {
        self.salient.unwrap_or(DEFAULT_SELECTOR)
    }

    /// Session inputs of the model on this array: no texts, no smoothing, the golden backend.
    pub fn inputs(&self, model: &ModelArgs) -> Result<Inputs> {
        Ok(Inputs::new(model.path()?, self.config.read()?.config, self.selector()))
    }
}

/// SmoothQuant before quantizing.
#[derive(Debug, Args)]
pub struct SmoothArgs {
    /// SmoothQuant migration strength ALPHA in 0..=1, or `off`: an exact reparametrization of the
    /// f32 model, calibrated on PTB valid, that moves activation outliers into the weights before
    /// quantization (docs/host.md). `off` gives the plain round-to-nearest baselines. Default 0.5,
    /// off where `eval`, `energy`, `compare` and `search` rotate the model (rotation folds it
    /// away).
    #[arg(long, value_parser = parse_alpha)]
    smooth: Option<Smooth>,
    /// Windows of the calibration text (PTB valid) that calibrate the smoothing and the static
    /// scales of fire schemes.
    #[arg(long, default_value_t = DEFAULT_CALIB_WINDOWS, value_parser = parse_count)]
    pub calib_windows: usize,
}

/// SmoothQuant strength when `--smooth` is not given and the model is not rotated.
const DEFAULT_ALPHA: f32 = 0.5;
/// Activation clip ratio of the 4-bit recipe (../shared/W4A4.md: 0.9 and 0.7 were worse).
const LOW_BIT_ACT_CLIP: f32 = 0.8;

/// The rest of the host's recipe before an array runs: rotation, GPTQ, activation clipping. Each
/// step is switchable so its effect can be measured; the defaults are the best measured recipe
/// (docs/results.md): all on for quantizations with 4-bit (or narrower) weights or activations,
/// all off for wider ones (w8a8 is at f32 perplexity with smoothing alone).
#[derive(Debug, Args)]
pub struct RecipeArgs {
    /// Hadamard rotation of the f32 model, `on` or `off` (docs/host.md). Default: on for 4-bit.
    #[arg(long, value_parser = parse_switch)]
    rotate: Option<bool>,
    /// GPTQ rounding of the weights with Hessians from N PTB valid windows, or `off` (docs/host.md).
    /// Default: 4 windows for 4-bit. Results are cached under .cache/gptq.
    #[arg(long, value_parser = parse_gptq)]
    gptq: Option<Gptq>,
    /// Activation clip ratio in (0, 1] of the layers with 4-bit (or narrower) activation codes: a
    /// token's scale is RATIO · max|normal| / Qa (wider codes keep the contract's scale). Default:
    /// 0.8 for 4-bit, 1 (the contract's scale) otherwise.
    #[arg(long, value_parser = parse_clip)]
    act_clip: Option<f32>,
}

/// `--gptq`: windows, or off.
#[derive(Debug, Clone, Copy)]
struct Gptq(Option<usize>);

fn parse_gptq(s: &str) -> Result<Gptq, String> {
    if s == "off" {
        return Ok(Gptq(None));
    }
    parse_count(s)
        .map(|n| Gptq(Some(n)))
        .map_err(|_| format!("{s:?}: give a number of PTB valid windows (e.g. 4) or `off`"))
}

/// `on` or `off`.
pub fn parse_switch(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{s:?}: use `on` or `off`")),
    }
}

fn parse_clip(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(r) if r > 0.0 && r <= 1.0 => Ok(r),
        _ => Err(format!("{s:?} is not a clip ratio: give a number in (0, 1], e.g. 0.8")),
    }
}

/// Whether a quantization has 4-bit (or narrower) weights or activations in some layer: the
/// ones the rotation / GPTQ / clipping recipe is for.
pub fn low_bit(q: &Quantization) -> bool {
    q.precision.settings().iter().any(low_bit_setting)
}

/// Whether a layer setting has 4-bit (or narrower) weights or activations.
pub fn low_bit_setting(s: &LayerSpec) -> bool {
    s.acts <= 4 || s.weights.qmax() <= 7
}

/// `--smooth`: a migration strength, or none.
#[derive(Debug, Clone, Copy)]
struct Smooth(Option<f32>);

fn parse_alpha(s: &str) -> Result<Smooth, String> {
    match s.parse::<f32>() {
        _ if s == "off" => Ok(Smooth(None)),
        Ok(a) if (0.0..=1.0).contains(&a) => Ok(Smooth(Some(a))),
        _ => Err(format!("{s:?} is not a migration strength: give a number from 0 to 1 (e.g. 0.5) or `off`")),
    }
}

/// A count of at least one.
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a count: use 1 or more")),
    }
}

/// What eval, energy and compare share: the model, the text it scores, the array and smoothing.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub text: TextArgs,
    #[command(flatten)]
    pub array: ArrayArgs,
    #[command(flatten)]
    pub smooth: SmoothArgs,
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

impl PipelineArgs {
    /// The session inputs, checked, for running `quants` (none: an f32 run, which is never
    /// smoothed, rotated or calibrated). The recipe's defaults follow [`low_bit`]; output scales
    /// (fire) and GPTQ read PTB valid too.
    pub fn inputs(&self, quants: &[&Quantization]) -> Result<Inputs> {
        let low = quants.iter().any(|q| low_bit(q));
        let relative = quants.iter().any(|q| q.scales == ScaleKind::Relative);
        let base = Inputs { text: Some(self.text.path()?), ..self.array.inputs(&self.model)? };
        let quantized = !quants.is_empty();
        self.recipe
            .apply(&self.smooth, &self.array, base, Uses { quantized, low, relative }, || self.text.calibration())
    }
}

/// What a command's quantizations need of the recipe.
#[derive(Debug, Clone, Copy)]
pub struct Uses {
    /// Something is quantized (else nothing is smoothed, rotated or calibrated).
    pub quantized: bool,
    /// Some layer has 4-bit (or narrower) weights or activations ([`low_bit`]).
    pub low: bool,
    /// Some quantization has per-token-relative output scales (fire), calibrated on PTB valid.
    pub relative: bool,
}

impl RecipeArgs {
    /// `base` with the recipe's steps set: each flag given, else the default for `uses`; the
    /// calibration text (from `calibration`) when a step reads it.
    pub fn apply(
        &self,
        smooth: &SmoothArgs,
        array: &ArrayArgs,
        base: Inputs,
        uses: Uses,
        calibration: impl FnOnce() -> Result<PathBuf>,
    ) -> Result<Inputs> {
        let Uses { quantized, low, relative } = uses;
        let rotate = quantized && self.rotate.unwrap_or(low);
        let alpha = match smooth.smooth {
            Some(s) => s.0,
            None if rotate => None,
            None => Some(DEFAULT_ALPHA),
        }
        .filter(|_| quantized);
        let gptq = self.gptq.map_or(if low { Some(DEFAULT_GPTQ_WINDOWS) } else { None }, |g| g.0).filter(|_| quantized);
        let calibrate = alpha.is_some() || gptq.is_some() || relative;
        Ok(Inputs {
            calibration: if calibrate { Some(calibration()?) } else { None },
            smooth: alpha,
            rotate,
            gptq,
            act_clip: self.act_clip.unwrap_or(if low { LOW_BIT_ACT_CLIP } else { 1.0 }),
            selector: array.salient.unwrap_or(if rotate { ROTATED_SELECTOR } else { DEFAULT_SELECTOR }),
            calib_windows: smooth.calib_windows,
            ..base
        })
    }
}

/// The recipe flags that reproduce `inputs` (for the commands that reports print).
pub fn recipe_text(inputs: &Inputs) -> String {
    format!(
        "--smooth {} --rotate {} --gptq {} --act-clip {} --salient {}",
        inputs.smooth.map_or("off".into(), |a| a.to_string()),
        if inputs.rotate { "on" } else { "off" },
        inputs.gptq.map_or("off".into(), |n| n.to_string()),
        inputs.act_clip,
        selector_text(inputs.selector)
    )
}

/// Where the array runs.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// Where the array runs: golden, verilator or xdma[:DIR] (DIR holds xdma0_user, xdma0_h2c_0, xdma0_c2h_0).
    #[arg(long, default_value = "golden")]
    pub backend: Backend,
    /// Seconds the driver waits for the device before giving up.
    #[arg(long, default_value = "60", value_parser = parse_seconds)]
    pub timeout: Duration,
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} is not a timeout: give a positive number of seconds, e.g. 60"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_that_duration_cannot_hold_are_refused_at_parse() {
        for bad in ["nan", "inf", "-inf", "1e300", "-1", "0", "", "60s"] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_seconds("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_seconds("60").unwrap(), Duration::from_secs(60));
    }

    #[test]
    fn counts_start_at_one() {
        for bad in ["0", "-1", "x", "18446744073709551616"] {
            assert!(parse_count(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_count("11").unwrap(), 11);
    }
}
