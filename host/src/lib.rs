//! spikeq host library: model import (GGUF, tokenizer, f32 Llama forward) and evaluation. The
//! `spikeq` binary is a thin CLI over it.

pub mod board;
pub mod compare;
pub mod docs;
pub mod driver;
pub mod energy;
pub mod eval;
pub mod model;
pub mod precision;
pub mod quant;
pub mod search;
pub mod smooth;
pub mod synth;
