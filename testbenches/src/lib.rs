//! `spikeq-tb`: Verilator cosimulation of generated spikeq RTL against the golden model.
//!
//! - [`builder`]: RTL in memory → verilate → compile (model, shim, runtime) with `cc` → load;
//!   cached by content hash under a file lock;
//! - [`shim`]: the generated C++ `extern "C"` layer, all symbol names from one function;
//! - [`Sim`]: a safe handle on one model instance (set/get ports, eval, tick, reset, FST);
//! - [`axi`]: the AXI4-Lite / AXI4-Stream driver the host's Verilator transport wraps;
//! - [`cosim`]: the harness that runs tiles through the RTL and the golden model and reports the
//!   first difference (element, expected, actual, cycle), with an FST of the failing run;
//! - [`cases`]: random and directed layer cases shared by the suites and `spikeq cosim`;
//! - [`sweep`]: the configurations of the long cosimulation (`spikeq cosim --long N`);
//! - [`program`]: replays the generator's Icarus testbench program, for Verilator-vs-Icarus runs;
//! - [`board`]: the virtual XDMA board, a FUSE filesystem of the XDMA device files over a
//!   simulated array, that the host's XDMA transport is tested against.
//!
//! **The golden model defines the behaviour**: a difference is an RTL bug unless the golden
//! model is shown wrong.

pub mod axi;
pub mod board;
pub mod builder;
pub mod cases;
pub mod cosim;
mod error;
pub mod ports;
pub mod program;
pub mod shim;
mod sim;
pub mod sweep;

pub use axi::{Backpressure, Driver, OutWord, Timeouts};
pub use builder::{BuildOptions, Builder, Model, Rtl, RtlFile};
pub use cosim::{Cosim, Harness, Mismatch, Report};
pub use error::TbError;
pub use sim::Sim;
