//! The Verilator transport: the generated RTL of the configuration, verilated and driven through
//! its AXI ports by the cosimulation harness of `spikeq-tb`.

use std::time::Duration;

use spikeq_hdl::Derived;

use super::{DriverError, Transport};

/// Generates, builds (or loads from the cache) and opens the RTL of `d`.
pub fn open(_d: &Derived, _timeout: Duration) -> Result<Box<dyn Transport>, DriverError> {
    Err(DriverError::Unavailable("the verilator backend is not wired yet".into()))
}
