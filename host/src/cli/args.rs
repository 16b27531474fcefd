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
use spikeq_host::files::paths::{self, DEFAULT_CONFIG, DEFAULT_MODEL, DEFAULT_TEXT};
use spikeq_host::session::{Inputs, DEFAULT_CALIB_WINDOWS};

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

/// The text a command scores.
#[derive(Debug, Args)]
pub struct TextArgs {
    /// Text scored, tokenized in one piece (default: .cache/ptb/test.txt under the repository
    /// root). Calibration (smoothing, static scales) reads PTB valid from valid.txt beside it.
    #[arg(long)]
    text: Option<PathBuf>,
}

impl TextArgs {
    /// The text file, checked to exist.
    pub fn path(&self) -> Result<PathBuf> {
        Ok(paths::asset("text", self.text.clone(), DEFAULT_TEXT)?)
    }

    /// The calibration text beside it (PTB valid), checked to exist.
    pub fn calibration(&self) -> Result<PathBuf> {
        Ok(paths::require_asset("calibration text (PTB valid)", self.path()?.with_file_name("valid.txt"))?)
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
    /// Salient selector of the settings with salient codes: none, mad:TAU, topk:FRAC.
    #[arg(long, default_value = "mad:6", value_parser = SalientSelector::parse)]
    pub salient: SalientSelector,
}

impl ArrayArgs {
    /// Session inputs of the model on this array: no texts, no smoothing, the golden backend.
    pub fn inputs(&self, model: &ModelArgs) -> Result<Inputs> {
        Ok(Inputs::new(model.path()?, self.config.read()?.config, self.salient))
    }
}

/// SmoothQuant before quantizing.
#[derive(Debug, Args)]
pub struct SmoothArgs {
    /// SmoothQuant migration strength ALPHA in 0..=1, or `off`: an exact reparametrization of the
    /// f32 model, calibrated on PTB valid, that moves activation outliers into the weights before
    /// quantization (docs/host.md). `off` gives the plain round-to-nearest baselines.
    #[arg(long, default_value = "0.5", value_parser = parse_alpha)]
    smooth: Smooth,
    /// Windows of the calibration text (PTB valid) that calibrate the smoothing and the static
    /// scales of fire schemes.
    #[arg(long, default_value_t = DEFAULT_CALIB_WINDOWS, value_parser = parse_count)]
    pub calib_windows: usize,
}

impl SmoothArgs {
    /// The migration strength, or `None` for `off`.
    pub fn alpha(&self) -> Option<f32> {
        self.smooth.0
    }

    /// `--smooth` as the user writes it (for the commands that reports print).
    pub fn text(&self) -> String {
        self.smooth.0.map_or("off".to_string(), |a| a.to_string())
    }
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
}

impl PipelineArgs {
    /// The session inputs, checked. `quantized`: whether the run quantizes (an f32 run is never
    /// smoothed); `static_scales`: whether it calibrates static scales (which reads PTB valid too).
    pub fn inputs(&self, quantized: bool, static_scales: bool) -> Result<Inputs> {
        let smooth = self.smooth.alpha().filter(|_| quantized);
        let calibrate = smooth.is_some() || static_scales;
        Ok(Inputs {
            text: Some(self.text.path()?),
            calibration: if calibrate { Some(self.text.calibration()?) } else { None },
            smooth,
            calib_windows: self.smooth.calib_windows,
            ..self.array.inputs(&self.model)?
        })
    }
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
