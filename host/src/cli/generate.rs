//! `spikeq generate`: greedy continuation of a prompt with the f32 model.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;
use spikeq_host::llm::eval::WINDOW_PREFIX;
use spikeq_host::llm::model::{self, generate::generate_greedy, linear::F32Linear};

use super::args::{parse_count, ModelArgs};

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Text to continue (used as is: no chat template, no BOS).
    #[arg(long)]
    prompt: String,
    /// Maximum number of new tokens (at most the model's context length less the prompt).
    #[arg(long, default_value_t = 32, value_parser = parse_count)]
    tokens: usize,
    #[command(flatten)]
    model: ModelArgs,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    let model_path = args.model.path()?;
    // Checked on the metadata, before the weights load: a count the context cannot hold is a
    // mistake, not a request to generate until the context is full.
    let context = model::read_config(&model_path)?.context_len;
    if args.tokens >= context {
        anyhow::bail!(
            "--tokens {}: the model's context holds {context} tokens, prompt included; ask for fewer (e.g. 256)",
            args.tokens
        );
    }
    let (model, tokenizer) = model::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let prompt = tokenizer.encode(&args.prompt)?;
    let mut out = std::io::stdout().lock();
    write!(out, "{}", args.prompt)?;
    out.flush()?;
    // Tokens may end inside a UTF-8 character: print only complete characters as they arrive.
    let mut pending: Vec<u8> = Vec::new();
    generate_greedy(&model, &mut F32Linear, &prompt, args.tokens, &[tokenizer.eos(), WINDOW_PREFIX], |t| {
        pending.extend_from_slice(tokenizer.token_bytes(t)?);
        let valid = match std::str::from_utf8(&pending) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        let (done, _) = pending.split_at(valid);
        // Console write errors end generation quietly at the next flush below.
        let _ = out.write_all(done).and_then(|()| out.flush());
        pending.drain(..valid);
        Ok(())
    })?;
    writeln!(out, "{}", String::from_utf8_lossy(&pending))?;
    Ok(())
}
