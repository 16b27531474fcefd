//! Greedy text generation with the KV cache: the prompt is run in one batched forward, then one
//! token at a time.

use super::linear::LinearExec;
use super::llama::{KvCache, Llama};
use super::ModelError;

/// Index of the largest value (the first one on ties); `None` for an empty slice.
pub fn argmax(x: &[f32]) -> Option<usize> {
    x.iter()
        .enumerate()
        .fold(None, |best, (i, &v)| match best {
            Some((_, bv)) if bv >= v => best,
            _ => Some((i, v)),
        })
        .map(|(i, _)| i)
}

/// Greedily continues `prompt` by up to `max_new` tokens, stopping after any id in `stop`.
/// `on_token` sees each new token as it is chosen (for streaming output); the new ids are returned.
pub fn generate_greedy(
    model: &Llama,
    exec: &mut dyn LinearExec,
    prompt: &[u32],
    max_new: usize,
    stop: &[u32],
    mut on_token: impl FnMut(u32) -> Result<(), ModelError>,
) -> Result<Vec<u32>, ModelError> {
    if prompt.is_empty() {
        return Err(ModelError::Mismatch {
            what: "prompt length".into(),
            expected: "at least 1 token".into(),
            got: "0".into(),
        });
    }
    let context = model.config().context_len;
    if prompt.len() >= context {
        return Err(ModelError::Mismatch {
            what: "prompt length".into(),
            expected: format!("fewer than the model's context length, {context} tokens"),
            got: prompt.len().to_string(),
        });
    }
    // No more tokens than the context holds, whatever was asked (before anything is allocated).
    let max_new = max_new.min(context - prompt.len());
    let vocab = model.config().vocab;
    let mut cache = KvCache::new(model.config(), prompt.len() + max_new);
    let mut logits = vec![0f32; vocab];
    let mut out = Vec::with_capacity(max_new);
    let mut input = prompt.to_vec();
    for _ in 0..max_new {
        let hidden = model.forward(exec, &input, &mut cache)?;
        let last = &hidden[hidden.len() - model.config().d_model..];
        model.logits(last, 1, &mut logits);
        let next = argmax(&logits).unwrap_or(0) as u32;
        out.push(next);
        on_token(next)?;
        if stop.contains(&next) {
            break;
        }
        input = vec![next];
    }
    Ok(out)
}
