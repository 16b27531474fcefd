//! `Sim`: a safe handle on one instance of a loaded model.

use std::ffi::{c_void, CString};
use std::path::Path;
use std::sync::Arc;

use crate::builder::Model;
use crate::error::TbError;
use crate::ports::{Dir, PortId};

/// One running instance of a Verilated model: drive inputs, settle, clock, read outputs.
///
/// Inputs take effect at the next [`Sim::eval`] or clock edge; a transfer on a ready/valid pair
/// happens at the rising edge of [`Sim::tick`] if both are high after [`Sim::eval`].
#[derive(Debug)]
pub struct Sim {
    model: Arc<Model>,
    handle: *mut c_void,
    cycle: u64,
}

// SAFETY: a Verilated model and its context may move between threads; it is never used by two
// threads at once because every method takes `&mut self` or `&self` on a `!Sync` type.
unsafe impl Send for Sim {}

impl Sim {
    /// A fresh instance of `model` (inputs at 0, not yet reset).
    pub fn new(model: Arc<Model>) -> Self {
        // SAFETY: `new` takes no arguments and returns an owned handle freed in `Drop`.
        let handle = unsafe { (model.fns.new)() };
        Sim { model, handle, cycle: 0 }
    }

    /// The model this instance runs.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Clock cycles since the instance was created.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Drives an input port. Refuses outputs and values wider than the port.
    pub fn set(&mut self, port: PortId, value: u32) -> Result<(), TbError> {
        let p = port.port();
        if p.dir != Dir::In {
            return Err(TbError::Invalid { what: "port", why: format!("{} is an output", p.name) });
        }
        if p.width < 32 && value >> p.width != 0 {
            return Err(TbError::Invalid {
                what: "port value",
                why: format!("{value:#x} does not fit {} ({} bits)", p.name, p.width),
            });
        }
        // SAFETY: `handle` is live; the shim checks the index.
        let rc = unsafe { (self.model.fns.set)(self.handle, port as u32, value) };
        debug_assert_eq!(rc, 0);
        Ok(())
    }

    /// Drives a 1-bit input (never fails: the id names an input by construction of the caller).
    pub(crate) fn set_bit(&mut self, port: PortId, value: bool) {
        debug_assert_eq!(port.port().dir, Dir::In);
        // SAFETY: as in `set`.
        unsafe { (self.model.fns.set)(self.handle, port as u32, u32::from(value)) };
    }

    /// Drives an input of any width with a value known to fit (the driver's internal fast path).
    pub(crate) fn set_raw(&mut self, port: PortId, value: u32) {
        debug_assert!(port.port().dir == Dir::In && (port.port().width == 32 || value >> port.port().width == 0));
        // SAFETY: as in `set`.
        unsafe { (self.model.fns.set)(self.handle, port as u32, value) };
    }

    /// Reads any port.
    pub fn get(&self, port: PortId) -> u32 {
        // SAFETY: `handle` is live; the shim returns 0 for an unknown index.
        unsafe { (self.model.fns.get)(self.handle, port as u32) }
    }

    /// Reads a 1-bit port.
    pub fn get_bit(&self, port: PortId) -> bool {
        self.get(port) & 1 != 0
    }

    /// Settles combinational logic after inputs changed (outputs then show this cycle's values).
    pub fn eval(&mut self) {
        // SAFETY: `handle` is live.
        unsafe { (self.model.fns.eval)(self.handle) }
    }

    /// `n` clock cycles (rising edge, then falling edge).
    pub fn tick(&mut self, n: u64) {
        // SAFETY: `handle` is live.
        unsafe { (self.model.fns.tick)(self.handle, n) };
        self.cycle += n;
    }

    /// Every input to 0 and `ap_rst_n` low for `cycles` clocks, then released.
    pub fn reset(&mut self, cycles: u32) {
        // SAFETY: `handle` is live.
        unsafe { (self.model.fns.reset)(self.handle, cycles) };
        self.cycle += u64::from(cycles);
    }

    /// Starts writing an FST waveform (the model must be built with `trace: true`).
    pub fn trace_open(&mut self, path: &Path) -> Result<(), TbError> {
        if !self.model.traced() {
            return Err(TbError::Invalid {
                what: "trace",
                why: "the model was built without trace support (BuildOptions::trace)".into(),
            });
        }
        let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| TbError::Invalid {
            what: "trace path",
            why: format!("{} contains a NUL byte", path.display()),
        })?;
        // SAFETY: `handle` is live and `c` outlives the call (the shim copies the name).
        let rc = unsafe { (self.model.fns.trace_open)(self.handle, c.as_ptr()) };
        if rc != 0 {
            return Err(TbError::Io {
                what: "open trace",
                path: path.to_path_buf(),
                source: std::io::Error::other("FST writer refused the file"),
            });
        }
        Ok(())
    }

    /// Flushes and closes the waveform, if one is open.
    pub fn trace_close(&mut self) {
        // SAFETY: `handle` is live.
        unsafe { (self.model.fns.trace_close)(self.handle) }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `new` and is freed exactly once.
        unsafe { (self.model.fns.free)(self.handle) }
    }
}
