//! Model import and the f32 reference: GGUF reader, tokenizer, Llama forward, and the
//! [`linear::LinearExec`] interface through which quantized executors run the linear layers.

mod error;
pub mod gemm;
pub mod generate;
pub mod ggml;
pub mod gguf;
pub mod hadamard;
pub mod linear;
pub mod llama;
pub mod math;
pub mod tokenizer;

pub use error::ModelError;

use std::path::Path;

/// Opens a GGUF and builds the f32 model and its tokenizer from it.
/// The model's configuration alone, from the GGUF metadata (no tensor is read): what commands
/// check their arrays against before paying for the load.
pub fn read_config(path: &Path) -> Result<llama::LlamaConfig, ModelError> {
    llama::LlamaConfig::from_gguf(&gguf::Gguf::open(path)?)
}

pub fn load(path: &Path) -> Result<(llama::Llama, tokenizer::Tokenizer), ModelError> {
    let g = gguf::Gguf::open(path)?;
    Ok((llama::Llama::from_gguf(&g)?, tokenizer::Tokenizer::from_gguf(&g)?))
}
