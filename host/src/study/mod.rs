//! What is measured about the hardware: energy per token, area and Fmax from the real synthesis
//! tools, the spike-vs-MAC sweep, and the sections of docs/ generated from those measurements.

pub mod compare;
pub mod docs;
pub mod energy;
pub mod synth;
