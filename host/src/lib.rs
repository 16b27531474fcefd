//! spikeq host library: model import (GGUF, tokenizer, f32 Llama forward), quantization, the
//! driver, evaluation and reports. The `spikeq` binary is a thin CLI over it: [`session`] sets up
//! the pipeline every command runs.

pub mod board;
pub mod compare;
pub mod config_file;
pub mod digest;
pub mod docs;
pub mod driver;
pub mod energy;
pub mod eval;
pub mod model;
pub mod outdir;
pub mod paths;
pub mod precision;
pub mod quant;
pub mod search;
pub mod session;
pub mod smooth;
pub mod synth;
