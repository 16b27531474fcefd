//! The top-level ports of every spikeq array, as the generator defines them
//! (`spikeq_codegen::ports`, DESIGN.md "Hardware interface contract").
//!
//! The shim is generated from [`PORTS`] and [`Sim`] addresses a port by its [`PortId`], the port's
//! index there; this crate keeps no list of its own, so it cannot drift from the RTL.
//!
//! [`Sim`]: crate::Sim

pub use spikeq_codegen::ports::{Dir, Port, PortId, TOP_PORTS as PORTS};
