//! spikeq host library, grouped by concern. The `spikeq` binary is a thin CLI over it.
//!
//! - [`llm`]: the language model and its quantization — GGUF import, tokenizer, f32 Llama
//!   forward ([`llm::model`]), SmoothQuant ([`llm::smooth`]), schemes and the quantized executor
//!   ([`llm::quant`]), per-layer precision ([`llm::precision`]), perplexity ([`llm::eval`]) and the
//!   tiered mixed-precision search ([`llm::search`]);
//! - [`device`]: the accelerator driver over its transports (golden model, Verilator, XDMA);
//! - [`study`]: what is measured about the hardware — energy, synthesis (yosys, nextpnr), the
//!   spike-vs-MAC comparison, and the generated sections of docs/;
//! - [`session`]: the pipeline every command sets up (model, texts, smoothing, array, backend);
//! - [`files`]: the user's files — configuration reading, asset paths, output-directory
//!   ownership, content digests and cache keys.

pub mod device;
pub mod files;
pub mod llm;
pub mod session;
pub mod study;
