//! The language model and its quantization: everything that knows SmolLM2, PTB and the numeric
//! formats of the host side. **Every projection goes through
//! [`model::linear::LinearExec`]**, the one seam where a quantized executor replaces the f32
//! product.

pub mod eval;
pub mod gptq;
pub mod model;
pub mod precision;
pub mod quant;
pub mod rotate;
pub mod search;
pub mod smooth;
