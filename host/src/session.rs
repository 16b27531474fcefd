//! One pipeline setup for every command that runs SmolLM2 through an array (eval, energy,
//! compare, search, bench): the model, the text it scores, the calibration text, smoothing, the
//! base array and the backend. [`Inputs`] are checked by the caller before anything heavy happens
//! (paths exist, the configuration validates, numbers are in range); [`Session::open`] then reads
//! the texts (refusing the PTB test split as calibration text), loads the model and smooths it, so
//! every command runs the same pipeline that `spikeq eval` scores.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use spikeq_hdl::quant::{QuantWeights, SalientSelector};
use spikeq_hdl::{ArrayConfig, Derived};
use thiserror::Error;

use crate::device::{Accelerator, Backend, DriverError, Transport};
use crate::files::digest::sha256_hex;
use crate::llm::eval;
use crate::llm::gptq;
use crate::llm::model::linear::{LinearId, LinearKind};
use crate::llm::model::llama::{Llama, LlamaConfig};
use crate::llm::model::tokenizer::Tokenizer;
use crate::llm::model::{self, ModelError};
use crate::llm::precision::Precision;
use crate::llm::quant::{Calibration, Calibrator, QuantError, QuantExec, Quantization, ScaleKind};
use crate::llm::rotate::rotate;
use crate::llm::smooth::smooth_on_valid;

/// SHA-256 of the PTB test split (`.cache/ptb/test.txt`, md5 8b80168b89c18661a38ef683c0dc3721 as
/// scripts/setup.sh checks): calibration refuses it, whatever its file name.
pub const PTB_TEST_SHA256: &str = "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0";

/// Calibration windows (PTB valid) of smoothing and output scales unless a command says otherwise.
pub const DEFAULT_CALIB_WINDOWS: usize = 2;

/// Windows of PTB valid whose layer inputs make GPTQ's Hessians unless a command says otherwise
/// (2,044 tokens, as ../shared/W4A4.md measured).
pub const DEFAULT_GPTQ_WINDOWS: usize = 4;

/// Errors setting up or using a session.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The model file does not load.
    #[error("loading {}: {source}", path.display())]
    Load { path: PathBuf, source: ModelError },
    /// A text file cannot be read.
    #[error("reading {what} {}: {source}; scripts/setup.sh fetches the PTB texts", path.display())]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    /// The calibration text is the test split.
    #[error("{} is the PTB test split; calibration (smoothing, static scales, the search) reads PTB valid only: pass .cache/ptb/valid.txt", path.display())]
    TestSplit { path: PathBuf },
    /// A text holds no token: there is nothing to score or calibrate on.
    #[error("{what} {} holds no token: nothing to score or calibrate on; pass a text file with words in it", path.display())]
    EmptyText { what: &'static str, path: PathBuf },
    /// The array cannot run the model's layers.
    #[error("array {array} takes layers of K <= {k_max}, but the model's {layer} layers have K = {k}: use a configuration with k_max >= {k} (configs/default.toml has 2048)")]
    ArrayTooSmall { array: String, k_max: u32, layer: &'static str, k: usize },
    /// The session was set up without a text this use needs (a caller's mistake).
    #[error("this run was set up without {0}")]
    Missing(&'static str),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The quantization does not fit the array.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// The device cannot be opened.
    #[error(transparent)]
    Driver(#[from] DriverError),
}

/// Checks that the array `d` can run every linear layer of a model with configuration `cfg` (row
/// tiles cover any M; K must fit the array), so that a too-small array is refused before the
/// model loads rather than at its first layer call.
pub fn check_array_fits(cfg: &LlamaConfig, d: &Derived) -> Result<(), SessionError> {
    let k_max = d.config.k_max;
    let widest = [(cfg.d_model, "q/k/v/o/gate/up"), (cfg.d_ffn, "down")].into_iter().max_by_key(|&(k, _)| k);
    match widest {
        Some((k, layer)) if k > k_max as usize => {
            Err(SessionError::ArrayTooSmall { array: d.config.name.clone(), k_max, layer, k })
        }
        _ => Ok(()),
    }
}

/// What a session is set up from, checked by the caller before [`Session::open`].
#[derive(Debug, Clone)]
pub struct Inputs {
    /// GGUF model.
    pub model: PathBuf,
    /// Text the command scores (tokenized in one piece), if it scores one.
    pub text: Option<PathBuf>,
    /// Calibration text (PTB valid), if the command smooths, calibrates static scales or searches.
    pub calibration: Option<PathBuf>,
    /// SmoothQuant strength applied to the model at open (needs `calibration`).
    pub smooth: Option<f32>,
    /// Hadamard rotation of the model at open, after smoothing (`crate::llm::rotate`).
    pub rotate: bool,
    /// GPTQ rounding of the weights with Hessians from this many calibration windows (needs
    /// `calibration`); `None`: the contract's round-to-nearest.
    pub gptq: Option<usize>,
    /// Where GPTQ results are cached.
    pub gptq_cache: PathBuf,
    /// Activation clip ratio of every quantization run (1: the contract's scale).
    pub act_clip: f32,
    /// Windows of the calibration text that smoothing and static scales use.
    pub calib_windows: usize,
    /// Base array: rows, lanes, k_max, salient budget, fixed point and clock; a quantization sets
    /// the widths.
    pub array: ArrayConfig,
    /// Salient selector of the schemes with salient codes.
    pub selector: SalientSelector,
    /// Where arrays run.
    pub backend: Backend,
    /// How long the driver waits for the device.
    pub timeout: Duration,
}

impl Inputs {
    /// A model on a base array: no texts, no smoothing, the golden backend with a 60 s deadline;
    /// commands set what they need on top.
    pub fn new(model: PathBuf, array: ArrayConfig, selector: SalientSelector) -> Self {
        Inputs {
            model,
            text: None,
            calibration: None,
            smooth: None,
            rotate: false,
            gptq: None,
            gptq_cache: crate::files::paths::or_default(None, crate::files::paths::DEFAULT_GPTQ_CACHE),
            act_clip: 1.0,
            calib_windows: DEFAULT_CALIB_WINDOWS,
            array,
            selector,
            backend: Backend::Golden,
            timeout: Duration::from_secs(60),
        }
    }
}

/// A text file the pipeline read, as outputs record it.
#[derive(Debug, Clone, Serialize)]
pub struct TextRead {
    /// Path as given.
    pub path: PathBuf,
    /// SHA-256 of its bytes.
    pub sha256: String,
}

/// A text file and its tokens.
#[derive(Debug, Clone)]
pub struct Text {
    /// Which file it is.
    pub read: TextRead,
    /// The whole file tokenized in one piece.
    pub tokens: Vec<u32>,
}

fn read_text(what: &'static str, path: &Path) -> Result<(String, TextRead), SessionError> {
    let err = |source| SessionError::Read { what, path: path.to_path_buf(), source };
    let bytes = std::fs::read(path).map_err(err)?;
    let sha256 = sha256_hex(&bytes);
    let text = String::from_utf8(bytes).map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    Ok((text, TextRead { path: path.to_path_buf(), sha256 }))
}

/// Reads a calibration text, refusing the PTB test split (by content, whatever its name).
pub fn read_calibration_text(path: &Path) -> Result<(String, TextRead), SessionError> {
    let (text, read) = read_text("calibration text", path)?;
    if read.sha256 == PTB_TEST_SHA256 {
        return Err(SessionError::TestSplit { path: path.to_path_buf() });
    }
    Ok((text, read))
}

/// Called as GPTQ finishes layers, with (layers done, layers in all); from worker threads.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(u64, u64) + Send + Sync>);

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress")
    }
}

/// The model, its texts and the array setup of one command.
#[derive(Debug)]
pub struct Session {
    /// The f32 model, smoothed when `inputs.smooth` is set.
    pub model: Llama,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    text: Option<Text>,
    calibration: Option<Text>,
    /// What the session was opened from: the base array, selector, smoothing, backend.
    pub inputs: Inputs,
    /// Told about GPTQ's progress, if set.
    pub progress: Option<Progress>,
}

impl Session {
    /// Reads the texts, loads the model, tokenizes the texts and smooths the model on the
    /// calibration text.
    pub fn open(inputs: Inputs) -> Result<Self, SessionError> {
        // Texts are read (and the calibration text checked) before the model loads.
        let text = inputs.text.as_deref().map(|p| read_text("text", p)).transpose()?;
        let calibration = inputs.calibration.as_deref().map(read_calibration_text).transpose()?;
        let (mut model, tokenizer) =
            model::load(&inputs.model).map_err(|source| SessionError::Load { path: inputs.model.clone(), source })?;
        let tokenize = |what, (text, read): (String, TextRead)| -> Result<Text, SessionError> {
            let tokens = tokenizer.encode(&text)?;
            if tokens.is_empty() {
                return Err(SessionError::EmptyText { what, path: read.path });
            }
            Ok(Text { tokens, read })
        };
        let text = text.map(|t| tokenize("text", t)).transpose()?;
        let calibration = calibration.map(|t| tokenize("calibration text", t)).transpose()?;
        if let Some(alpha) = inputs.smooth {
            let valid = calibration.as_ref().ok_or(SessionError::Missing("a calibration text to smooth on"))?;
            smooth_on_valid(&mut model, &valid.tokens, inputs.calib_windows, alpha)?;
        }
        if inputs.rotate {
            rotate(&mut model)?;
        }
        if inputs.gptq.is_some() && calibration.is_none() {
            return Err(SessionError::Missing("a calibration text for GPTQ's Hessians"));
        }
        Ok(Session { model, tokenizer, text, calibration, inputs, progress: None })
    }

    /// The text the command scores.
    pub fn text(&self) -> Result<&Text, SessionError> {
        self.text.as_ref().ok_or(SessionError::Missing("a text to score"))
    }

    /// The calibration text.
    pub fn calibration(&self) -> Result<&Text, SessionError> {
        self.calibration.as_ref().ok_or(SessionError::Missing("a calibration text"))
    }

    /// Output scale ratios κ of `q` on the array `config`, from the first calibration windows.
    pub fn calibrate(&self, q: &Quantization, config: &ArrayConfig) -> Result<Calibration, SessionError> {
        let mut cal = Calibrator::new(q, config);
        eval::perplexity(&self.model, &mut cal, &self.calibration()?.tokens, Some(self.inputs.calib_windows), |_| {})?;
        Ok(cal.finish())
    }

    /// GPTQ weights of the model at `precision`'s weight formats when the session rounds with
    /// GPTQ (cached under `inputs.gptq_cache`; progress reported to [`Session::progress`]),
    /// `None` when it rounds to nearest.
    pub fn gptq_weights(&self, precision: &Precision) -> Result<Option<HashMap<LinearId, QuantWeights>>, SessionError> {
        let Some(windows) = self.inputs.gptq else { return Ok(None) };
        let total = (self.model.blocks().len() * LinearKind::ALL.len()) as u64;
        let count = AtomicU64::new(0);
        let done = || {
            let n = count.fetch_add(1, Ordering::Relaxed) + 1;
            if let Some(p) = &self.progress {
                (p.0)(n, total);
            }
        };
        let valid = &self.calibration()?.tokens;
        Ok(Some(gptq::cached(&self.model, precision, valid, windows, &self.inputs.gptq_cache, &done)?))
    }

    /// An executor for `q` on the array it derives from the base array, through the backend.
    pub fn executor(&self, q: &Quantization) -> Result<QuantExec<Box<dyn Transport>>, SessionError> {
        self.executor_on(q, &q.array(&self.inputs.array)?, &self.inputs.backend)
    }

    /// An executor for `q` (with the session's activation clip) on the array `d` through
    /// `backend`: output scales calibrated first when `q` asks for them, weights rounded by GPTQ
    /// when the session says so.
    pub fn executor_on(
        &self,
        q: &Quantization,
        d: &Derived,
        backend: &Backend,
    ) -> Result<QuantExec<Box<dyn Transport>>, SessionError> {
        check_array_fits(self.model.config(), d)?;
        let q = Quantization { act_clip: self.inputs.act_clip, ..q.clone() };
        let calibration = match q.scales {
            ScaleKind::Relative => Some(self.calibrate(&q, &d.config)?),
            ScaleKind::Dynamic => None,
        };
        let weights = self.gptq_weights(&q.precision)?;
        let acc = Accelerator::connect(backend, d, self.inputs.timeout)?;
        let exec = QuantExec::new(q, acc, calibration)?;
        let mut exec = match weights {
            Some(w) => exec.with_weights(w),
            None => exec,
        };
        exec.prepare(&self.model)?;
        Ok(exec)
    }
}
