//! Assets shared by the integration tests. They come from scripts/setup.sh; when missing the tests
//! fail (never skip) and say how to get them.

#[allow(dead_code)] // only the board tests use it
pub mod board;

use std::path::PathBuf;
use std::sync::OnceLock;

use spikeq_host::files::paths::{require_asset, DEFAULT_MODEL, DEFAULT_TEXT};
use spikeq_host::llm::model::{llama::Llama, tokenizer::Tokenizer};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn asset(what: &'static str, rel: &str) -> PathBuf {
    require_asset(what, root().join(rel)).unwrap_or_else(|e| panic!("{e}"))
}

#[allow(dead_code)] // each test binary uses a different subset
pub fn model_path() -> PathBuf {
    asset("model", DEFAULT_MODEL)
}

#[allow(dead_code)]
pub fn ptb_test() -> String {
    std::fs::read_to_string(asset("text", DEFAULT_TEXT)).expect("PTB test text is readable")
}

/// The f32 model and tokenizer, loaded once per test binary.
#[allow(dead_code)]
pub fn model() -> &'static (Llama, Tokenizer) {
    static MODEL: OnceLock<(Llama, Tokenizer)> = OnceLock::new();
    MODEL.get_or_init(|| spikeq_host::llm::model::load(&model_path()).expect("the model loads"))
}
