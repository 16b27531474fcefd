//! The one error type of the model layer: GGUF parsing, tokenizer, forward and evaluation.

use std::path::PathBuf;

/// Everything that can go wrong while importing or running the model. Variants carry what was
/// found so that a malformed file can be diagnosed from the message alone.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("missing {what} at {path}: run scripts/setup.sh to fetch the model and the text")]
    MissingAsset { what: &'static str, path: PathBuf },
    #[error("{what} {path} is {kind}: give the path of a file")]
    NotAFile { what: &'static str, path: PathBuf, kind: &'static str },
    #[error("not a GGUF file: magic is {got:#010x}, expected 0x46554747 (\"GGUF\")")]
    BadMagic { got: u32 },
    #[error("unsupported GGUF version {got} (this reader handles 2 and 3)")]
    UnsupportedVersion { got: u32 },
    #[error("GGUF truncated: reading {what} needs {need} bytes at offset {offset}, file has {len}")]
    Truncated { what: String, offset: u64, need: u64, len: u64 },
    #[error("GGUF {what} is {got}, above the limit {limit}")]
    TooLarge { what: String, got: u64, limit: u64 },
    #[error("GGUF metadata key {key:?}: unknown value type {got}")]
    UnknownValueType { key: String, got: u32 },
    #[error(
        "GGUF tensor {tensor:?} has {ty}, which spikeq cannot dequantize; it reads {readable} \
         (llama.cpp's llama-quantize can convert a file into one of them)"
    )]
    UnsupportedTensorType { tensor: String, ty: String, readable: String },
    #[error("GGUF tensor {tensor:?}: {reason}")]
    BadTensor { tensor: String, reason: String },
    #[error("GGUF string at offset {offset} is not UTF-8")]
    BadString { offset: u64 },
    #[error("GGUF metadata key {key:?} is missing")]
    MissingKey { key: String },
    #[error("GGUF metadata key {key:?}: expected {expected}, got {got}")]
    BadKey { key: String, expected: String, got: String },
    #[error("GGUF tensor {name:?} is missing")]
    MissingTensor { name: String },
    #[error("tensor {name:?} has shape {got:?}, expected {expected:?}")]
    BadShape { name: String, expected: Vec<u64>, got: Vec<u64> },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("token id {id} is outside the vocabulary of {vocab}")]
    BadToken { id: u32, vocab: usize },
    #[error("{what}: got {got}, expected {expected}")]
    Mismatch { what: String, expected: String, got: String },
    #[error("linear-layer backend: {0}")]
    Backend(String),
    #[error("no tokens to evaluate: a perplexity needs at least one window with text tokens")]
    NoTokens,
    #[error("sequence of {got} positions exceeds the context length {limit}")]
    ContextOverflow { got: usize, limit: usize },
}
