//! Perplexity evaluation with the DESIGN.md protocol: the whole text is tokenized in one piece,
//! cut into non-overlapping windows of [`WINDOW_TEXT_TOKENS`] text tokens, each window is
//! preceded by token [`WINDOW_PREFIX`] (so a window is 512 positions), every text token is scored
//! (including those of a shorter last window), and PPL = exp(mean NLL).

use rayon::prelude::*;

use crate::llm::model::linear::LinearExec;
use crate::llm::model::llama::{KvCache, Llama};
use crate::llm::model::math::{exp, max, sum};
use crate::llm::model::ModelError;

/// Text tokens per window.
pub const WINDOW_TEXT_TOKENS: usize = 511;
/// The token id put before every window (`<|endoftext|>` in SmolLM2).
pub const WINDOW_PREFIX: u32 = 0;
/// Logit rows computed at once: bounds the logits buffer (rows × vocab f32, 25 MiB) while keeping
/// the output-head GEMM large enough to run at full speed (64 rows measured ~15 % slower).
const LOGIT_ROWS: usize = 128;

/// Running totals of an evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Perplexity {
    pub windows: usize,
    pub scored: usize,
    pub nll_sum: f64,
}

impl Perplexity {
    /// Mean negative log-likelihood per scored token (nats).
    pub fn nll_per_token(&self) -> f64 {
        self.nll_sum / self.scored as f64
    }

    pub fn ppl(&self) -> f64 {
        self.nll_per_token().exp()
    }
}

/// The windows of the protocol over a tokenized text, at most `limit` of them.
pub fn windows(tokens: &[u32], limit: Option<usize>) -> impl Iterator<Item = &[u32]> {
    tokens.chunks(WINDOW_TEXT_TOKENS).take(limit.unwrap_or(usize::MAX))
}

/// Evaluates one window (`text` holds its text tokens) and returns its totals. `cache` and
/// `logits` are working memory, reused from window to window.
pub fn eval_window(
    model: &Llama,
    exec: &mut dyn LinearExec,
    text: &[u32],
    cache: &mut KvCache,
    logits: &mut Vec<f32>,
) -> Result<Perplexity, ModelError> {
    let mut input = Vec::with_capacity(text.len() + 1);
    input.push(WINDOW_PREFIX);
    input.extend_from_slice(text);
    cache.clear();
    let hidden = model.forward(exec, &input, cache)?;
    let (d, vocab) = (model.config().d_model, model.config().vocab);
    logits.resize(LOGIT_ROWS * vocab, 0.0);
    let mut nll_sum = 0f64;
    // Position i predicts text[i]; the last position predicts nothing and is skipped.
    for (rows, targets) in hidden[..text.len() * d].chunks(LOGIT_ROWS * d).zip(text.chunks(LOGIT_ROWS)) {
        let n = targets.len();
        model.logits(rows, n, &mut logits[..n * vocab]);
        nll_sum += logits[..n * vocab]
            .par_chunks_exact(vocab)
            .zip(targets.par_iter())
            .map(|(row, &t)| nll(row, t as usize))
            .sum::<f64>();
    }
    Ok(Perplexity { windows: 1, scored: text.len(), nll_sum })
}

/// -log softmax(row)[target], with the log-sum-exp taken around the row maximum.
fn nll(row: &[f32], target: usize) -> f64 {
    let m = max(row);
    let mut shifted = [0f32; 1024];
    let mut total = 0f64;
    for chunk in row.chunks(shifted.len()) {
        let s = &mut shifted[..chunk.len()];
        for (o, &v) in s.iter_mut().zip(chunk) {
            *o = exp(v - m);
        }
        total += f64::from(sum(s));
    }
    f64::from(m) + total.ln() - f64::from(row[target])
}

/// Evaluates the first `limit` windows (all when `None`) of `tokens`, calling `progress` after each.
pub fn perplexity(
    model: &Llama,
    exec: &mut dyn LinearExec,
    tokens: &[u32],
    limit: Option<usize>,
    mut progress: impl FnMut(&Perplexity),
) -> Result<Perplexity, ModelError> {
    if tokens.is_empty() || limit == Some(0) {
        // An empty mean would print PPL NaN and exit 0.
        return Err(ModelError::NoTokens);
    }
    let mut cache = KvCache::new(model.config(), WINDOW_TEXT_TOKENS + 1);
    let mut logits = Vec::new();
    let mut total = Perplexity::default();
    for w in windows(tokens, limit) {
        let r = eval_window(model, exec, w, &mut cache, &mut logits)?;
        total.windows += r.windows;
        total.scored += r.scored;
        total.nll_sum += r.nll_sum;
        progress(&r);
    }
    Ok(total)
}
