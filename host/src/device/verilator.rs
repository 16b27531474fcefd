//! The Verilator transport: the generated RTL of the configuration, verilated and built by
//! `spikeq-tb` (or taken from its content-hash cache), driven through its AXI ports by the same
//! AXI driver the cosimulation suites use. Its waits are counted in clock cycles.

use std::time::Duration;

use spikeq_hdl::{Bus, Derived};
use spikeq_tb::cosim::rtl_of;
use spikeq_tb::{BuildOptions, Builder, Driver, Sim, TbError};

use super::{DriverError, Transport};

/// The simulated array.
#[derive(Debug)]
pub struct VerilatorTransport {
    driver: Driver,
    name: String,
}

fn tb(e: TbError, what: &str) -> DriverError {
    match e {
        TbError::Timeout { .. } => {
            DriverError::Timeout { what: format!("{what}: {e}"), device: "verilator".into(), timeout: Duration::ZERO }
        }
        other => DriverError::Unavailable(format!("verilator backend, {what}: {other}")),
    }
}

/// Generates, builds (or loads from the cache) the RTL of `d` and returns an AXI driver over a
/// fresh simulation of it, with a name saying whether the model came from the cache.
pub fn simulate(d: &Derived) -> Result<(Driver, String), DriverError> {
    let rtl = rtl_of(d).map_err(|e| tb(e, "generating the RTL"))?;
    let builder = Builder::new().map_err(|e| tb(e, "finding Verilator (scripts/setup.sh installs it)"))?;
    // -O3: a forward clocks tens of millions of cycles, so the slower build (once, then cached) pays.
    let opts = BuildOptions { opt_level: 3, ..BuildOptions::default() };
    let model = builder.build(&rtl, opts).map_err(|e| tb(e, "building the model"))?;
    let name = format!("verilator:{} ({})", rtl.top, if model.cache_hit() { "cached" } else { "built" });
    Ok((Driver::new(Sim::new(model)), name))
}

/// Generates, builds (or loads from the cache) and opens the RTL of `d` (its waits are counted
/// in clock cycles, not wall-clock time).
pub fn open(d: &Derived) -> Result<Box<dyn Transport>, DriverError> {
    let (driver, name) = simulate(d)?;
    Ok(Box::new(VerilatorTransport { driver, name }))
}

impl Bus for VerilatorTransport {
    type Error = DriverError;
    fn read_reg(&mut self, addr: u32) -> Result<u32, DriverError> {
        self.driver.read_reg(addr).map_err(|e| tb(e, "register read"))
    }
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), DriverError> {
        self.driver.write_reg(addr, value).map_err(|e| tb(e, "register write"))
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), DriverError> {
        self.driver.write_stream(words, true).map_err(|e| tb(e, "input stream"))
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, DriverError> {
        self.driver.read_stream(n).map_err(|e| tb(e, "output stream"))
    }
    fn wait_done(&mut self, during: &str) -> Result<(), DriverError> {
        self.driver.wait_done().map_err(|e| tb(e, &format!("waiting for ap_done after {during}")))
    }
}

impl Transport for VerilatorTransport {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn sim_cycles(&self) -> Option<u64> {
        Some(self.driver.cycles())
    }
}
