//! The tokenizer of the real model (SmolLM2's vocabulary and merges, read from the GGUF):
//! text → `encode` → `decode`. Every id must be in the vocabulary and the text must come back,
//! except for characters the vocabulary cannot spell (bytes without a token encode as the
//! unknown token): when the round trip differs, some character of the text must fail its own
//! round trip.
//!
//! Inputs are capped at 4 KiB to keep executions short (the documented run was made while
//! encoding was still quadratic in the length of a word); the tokenizer's own tests cover a
//! 10^6-character word.

use std::path::Path;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::Rng;
use spikeq_host::llm::model::gguf::Gguf;
use spikeq_host::llm::model::tokenizer::Tokenizer;

use crate::Target;

/// See the module documentation.
#[derive(Debug)]
pub struct TokenizerTarget {
    tok: Tokenizer,
}

impl TokenizerTarget {
    /// The tokenizer of the GGUF at `model`.
    pub fn load(model: &Path) -> Result<Self> {
        let g = Gguf::open(model).with_context(|| format!("opening {}", model.display()))?;
        Ok(Self { tok: Tokenizer::from_gguf(&g).with_context(|| format!("tokenizer of {}", model.display()))? })
    }

    fn round_trips(&self, text: &str) -> bool {
        let ids = self.tok.encode(text).expect("any text encodes");
        self.tok.decode(&ids).expect("ids from encode decode") == text
    }
}

/// Fragments the structure-aware mutation inserts: contractions, whitespace runs, digits of
/// several scripts, letters, marks, emoji, control text and characters outside the vocabulary.
const FRAGMENTS: [&str; 24] = [
    "'s",
    "'ll",
    "'RE",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\t",
    " \u{a0}",
    "0",
    "123",
    "½",
    "\u{663}",
    "\u{96f}",
    "the",
    " Ġ",
    "é",
    "\u{301}",
    "日本",
    "🦀",
    "\u{200d}",
    "<|endoftext|>",
    "\u{0}",
    "\u{10ffff}",
];

impl Target for TokenizerTarget {
    fn name(&self) -> &'static str {
        "tokenizer"
    }

    fn max_len(&self) -> usize {
        4096
    }

    /// Every text is accepted; counted as accepted are those that round-trip exactly.
    fn run(&self, input: &[u8]) -> bool {
        let text = String::from_utf8_lossy(input);
        let ids = self.tok.encode(&text).expect("any text encodes");
        assert!(ids.iter().all(|&id| (id as usize) < self.tok.vocab_size()), "id outside the vocabulary");
        let back = self.tok.decode(&ids).expect("ids from encode decode");
        if back != text {
            assert!(
                text.chars().any(|c| !self.round_trips(c.encode_utf8(&mut [0; 4]))),
                "round trip changed {text:?} into {back:?} though every character round-trips alone"
            );
        }
        back == text
    }

    fn structured(&self, input: &[u8], rng: &mut StdRng) -> Option<Vec<u8>> {
        let text = String::from_utf8_lossy(input);
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let at = boundaries[rng.gen_range(0..boundaries.len())];
        let frag = FRAGMENTS[rng.gen_range(0..FRAGMENTS.len())];
        let times = if rng.gen_bool(0.1) { rng.gen_range(2..=200) } else { 1 };
        let mut out = String::with_capacity(text.len() + frag.len() * times);
        out.push_str(&text[..at]);
        for _ in 0..times {
            out.push_str(frag);
        }
        out.push_str(&text[at..]);
        Some(out.into_bytes())
    }
}
