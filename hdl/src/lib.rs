//! `spikeq-hdl`: the single source of truth of a spikeq accelerator.
//!
//! - [`config`]: the array configuration, its validation and every derived width;
//! - [`format`], [`quant`], [`fire`]: the numeric contract (DESIGN.md v1);
//! - [`golden`]: the bit- and cycle-exact model of the array;
//! - [`regmap`]: the register map, exported to Verilog, C, Rust, Markdown and JSON;
//! - [`protocol`]: the register protocol every bus (device files, simulator, Icarus program) speaks.
//!
//! **This crate does no I/O**: it reads strings and slices and returns values.

pub mod config;
pub mod device;
pub mod digest;
pub mod error;
pub mod fire;
pub mod format;
pub mod golden;
pub mod igemm;
pub mod protocol;
pub mod quant;
pub mod regmap;
mod rowscan;
mod select;
pub mod stream;

pub use config::{ArrayConfig, Derived, OutputMode, PeKind};
pub use error::{ConfigError, HdlError, LayerError};
pub use format::WeightFormat;
pub use golden::{Case, Counters, Flags, Golden, Layer, LayerRun, Tile, TokenCost, TokenView};
pub use protocol::{Bus, ProtocolError};

/// Version of the numeric contract and register protocol this crate implements.
pub const CONTRACT_VERSION: (u8, u8, u8) = (1, 0, 0);
