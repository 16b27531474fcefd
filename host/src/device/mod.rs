//! The accelerator driver: the register protocol, stream packing and row tiling of one array,
//! over a [`Transport`] that moves register accesses and stream packets (golden model, Verilator,
//! XDMA character devices). Every wait has a deadline; a device that does not answer is an error
//! that names the register or stream it was waiting for.

pub mod golden;
pub mod io_process;
pub mod verilator;
pub mod xdma;

use std::time::{Duration, Instant};

use spikeq_hdl::igemm::PackedWeights;
use spikeq_hdl::protocol::{self, decode_error};
use spikeq_hdl::regmap::{addr, ctrl};
use spikeq_hdl::{stream, Bus, Counters, Derived, Flags, Golden, Layer, LayerRun, ProtocolError};
use thiserror::Error;

/// Errors of the driver and its transports.
#[derive(Debug, Error)]
pub enum DriverError {
    /// The device did not answer in time.
    #[error("timeout after {timeout:?} waiting for {what} on {device}")]
    Timeout {
        /// Register or stream that did not answer.
        what: String,
        /// Transport description.
        device: String,
        /// Deadline used.
        timeout: Duration,
    },
    /// The device went away during a call (a board reset or unplugged; a virtual board killed).
    #[error("no answer from {device} to {what}: the device is gone ({source}); is the board (or `spikeq board`) still running?")]
    Gone {
        /// Register or stream that did not answer.
        what: String,
        /// Transport description.
        device: String,
        /// The error the device file returned.
        source: std::io::Error,
    },
    /// The device is not the array this configuration describes.
    #[error("device {device} is not the configured array: {register} reads {got:#010x}, expected {expected:#010x}; regenerate/flash the bitstream for this configuration or pass the matching --config")]
    Identity {
        /// Transport description.
        device: String,
        /// Register compared.
        register: &'static str,
        /// Value expected.
        expected: u32,
        /// Value read.
        got: u32,
    },
    /// The device flagged an error.
    #[error("device flagged ERROR = {flags:#x} ({what}) after {during}")]
    Device {
        /// ERROR register value.
        flags: u32,
        /// Decoded meaning.
        what: String,
        /// Operation.
        during: String,
    },
    /// The layer does not fit the array.
    #[error(transparent)]
    Layer(#[from] spikeq_hdl::LayerError),
    /// I/O on a device file.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A transport that cannot be used here (not built, not found).
    #[error("{0}")]
    Unavailable(String),
    /// The device broke the register protocol.
    #[error("register protocol: {0}")]
    Protocol(ProtocolError),
}

impl From<ProtocolError> for DriverError {
    fn from(e: ProtocolError) -> Self {
        DriverError::Protocol(e)
    }
}

/// A way to reach one array: a [`Bus`] (register accesses, stream packets, the wait for done,
/// each with a deadline) with a name for messages.
pub trait Transport: Bus<Error = DriverError> {
    /// Human-readable name (backend and path) for messages.
    fn describe(&self) -> String;
    /// The array's model, for transports that *are* the software model: the driver then runs
    /// whole layers through [`Golden::run_layer`], which computes exactly what the register path
    /// computes (values, counters, flags; tests check it).
    fn native_model(&self) -> Option<&Golden> {
        None
    }
    /// Clock cycles a simulated device has run (every cycle it clocked: LOAD, the code receiver,
    /// compute, output and register transactions), for simulation speed reports.
    fn sim_cycles(&self) -> Option<u64> {
        None
    }
}

/// Stream traffic of calls, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Host to device (weights, thresholds, codes).
    pub h2c: u64,
    /// Device to host (outputs).
    pub c2h: u64,
}

/// A driver bound to one array through one transport.
#[derive(Debug)]
pub struct Accelerator<T> {
    transport: T,
    /// Model of the opened configuration: its widths, and the tile checks made before sending.
    golden: Golden,
    native: bool,
    /// Bytes moved so far (the calls of [`protocol::plan`]: codes once per chunk of buffered
    /// tokens, weights once per chunk).
    pub traffic: Traffic,
    /// The unavoidable bytes of the same layer calls: every weight (and threshold) once per call,
    /// every token's codes once, every output once.
    pub minimum: Traffic,
    /// What the same calls moved under protocol v2 (weights once per call, each token's codes
    /// again for every row tile): the comparison the code buffer is judged by.
    pub v2: Traffic,
}

impl<T: Transport> Accelerator<T> {
    /// Opens the device: checks its identity (ID, contract version, configuration hash, array
    /// shape and widths) before anything else.
    pub fn open(mut transport: T, derived: &Derived) -> Result<Self, DriverError> {
        protocol::identify(&mut transport, derived).map_err(|e| match e {
            DriverError::Protocol(ProtocolError::Identity { register, expected, got }) => {
                DriverError::Identity { device: transport.describe(), register, expected, got }
            }
            other => other,
        })?;
        let native = transport.native_model().is_some();
        Ok(Accelerator {
            transport,
            golden: Golden::new(derived),
            native,
            traffic: Traffic::default(),
            minimum: Traffic::default(),
            v2: Traffic::default(),
        })
    }

    /// Uses the register/stream path even when the transport offers a native model (for tests
    /// that check the two agree).
    pub fn force_register_path(&mut self) {
        self.native = false;
    }

    /// The configuration the device was opened with.
    pub fn derived(&self) -> &Derived {
        self.golden.derived()
    }

    /// The transport, to read.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Runs one layer: tiles M onto the rows, loads each tile and streams the N tokens through it
    /// ([`spikeq_hdl::protocol`]); a transport that is the golden model computes it natively.
    pub fn run_layer(&mut self, layer: &Layer<'_>) -> Result<LayerRun, DriverError> {
        self.run_layer_with(layer, None)
    }

    /// Whether layers run on the transport's native model (the golden backend) rather than
    /// through registers and streams: only then do packed weights ([`Accelerator::pack`]) matter.
    pub fn is_native(&self) -> bool {
        self.native
    }

    /// The layer's weights checked and packed for this array's native model, once per layer
    /// ([`Golden::pack`]); pass them to [`Accelerator::run_layer_packed`].
    pub fn pack(&self, weights: &[i8], m: usize, k: usize) -> Result<PackedWeights, DriverError> {
        Ok(self.golden.pack(weights, m, k)?)
    }

    /// [`Accelerator::run_layer`] of a layer whose weights `packed` holds (from
    /// [`Accelerator::pack`]): a native model uses them instead of packing per call; a device
    /// is sent `layer.weights` as always.
    pub fn run_layer_packed(&mut self, layer: &Layer<'_>, packed: &PackedWeights) -> Result<LayerRun, DriverError> {
        self.run_layer_with(layer, Some(packed))
    }

    fn run_layer_with(&mut self, layer: &Layer<'_>, packed: Option<&PackedWeights>) -> Result<LayerRun, DriverError> {
        layer.check_shape()?;
        self.account(layer);
        if self.native {
            let model = self.transport.native_model().expect("native transport");
            return Ok(match packed {
                Some(p) => model.run_layer_packed(layer, p)?,
                None => model.run_layer(layer)?,
            });
        }
        let (m, n) = (layer.m, layer.n());
        let d = self.golden.derived();
        for (_, tile) in layer.tiles(d.config.rows as usize) {
            // Validate before the device sees it: the same checks the golden model applies.
            self.golden.check_tile(&tile)?;
        }
        let mut outputs = vec![0i32; n * m];
        let mut counters = Counters::default();
        let mut flags = Flags::default();
        for call in protocol::plan(d, layer) {
            let status = protocol::run_call(&mut self.transport, d, layer, &call, &mut outputs)?;
            if status.failed() {
                let op = if call.replay { "REPLAY" } else { "RUN" };
                let (rows, tokens) = (&call.rows, &call.tokens);
                let during =
                    format!("{op} of rows {}..{}, tokens {}..{}", rows.start, rows.end, tokens.start, tokens.end);
                return Err(DriverError::Device { flags: status.error, what: decode_error(status.error), during });
            }
            counters += status.counters;
            flags |= Flags::from_error_bits(status.error);
        }
        Ok(LayerRun::new(d, outputs, counters, flags))
    }

    fn account(&mut self, layer: &Layer<'_>) {
        let (n, d) = (layer.n(), self.golden.derived());
        for call in protocol::plan(d, layer) {
            let (h2c, c2h) = call.bytes(d);
            self.traffic.h2c += h2c;
            self.traffic.c2h += c2h;
        }
        let codes = 4 * (n * stream::code_words(layer.k)) as u64;
        for (i, (_, tile)) in layer.tiles(d.config.rows as usize).enumerate() {
            // The v2 calls: one LOAD and one RUN of all N tokens per tile.
            let v2 = protocol::Call { tokens: 0..n, rows: 0..tile.m, tile, replay: false };
            let (h2c, c2h) = v2.bytes(d);
            self.v2.h2c += h2c;
            self.v2.c2h += c2h;
            self.minimum.h2c += h2c - codes + if i == 0 { codes } else { 0 };
            self.minimum.c2h += c2h;
        }
    }
}

impl Accelerator<Box<dyn Transport>> {
    /// Opens the transport of `backend` for the configuration `d` (each wait on it bounded by
    /// `timeout`) and the accelerator over it: the one way the CLI and tests reach an array.
    pub fn connect(backend: &Backend, d: &Derived, timeout: Duration) -> Result<Self, DriverError> {
        Accelerator::open(backend.open(d, timeout)?, d)
    }
}

/// Polls CTRL until ap_done within `timeout` of wall-clock time: the wait of transports that
/// reach a real (or virtual) device.
pub fn poll_done<T: Transport + ?Sized>(t: &mut T, timeout: Duration, during: &str) -> Result<(), DriverError> {
    let deadline = Instant::now() + timeout;
    loop {
        if t.read_reg(addr::CTRL)? & ctrl::AP_DONE != 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DriverError::Timeout {
                what: format!("CTRL.ap_done after {during}"),
                device: t.describe(),
                timeout,
            });
        }
    }
}

impl Bus for Box<dyn Transport> {
    type Error = DriverError;
    fn read_reg(&mut self, addr: u32) -> Result<u32, DriverError> {
        (**self).read_reg(addr)
    }
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), DriverError> {
        (**self).write_reg(addr, value)
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), DriverError> {
        (**self).write_packet(words)
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, DriverError> {
        (**self).read_words(n)
    }
    fn wait_done(&mut self, during: &str) -> Result<(), DriverError> {
        (**self).wait_done(during)
    }
}

impl Transport for Box<dyn Transport> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn native_model(&self) -> Option<&Golden> {
        (**self).native_model()
    }
    fn sim_cycles(&self) -> Option<u64> {
        (**self).sim_cycles()
    }
}

/// Where the array runs, chosen at run time (`--backend`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The Rust golden model.
    Golden,
    /// The generated RTL in Verilator.
    Verilator,
    /// XDMA character devices in a directory (default `/dev`).
    Xdma(std::path::PathBuf),
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "golden" => Ok(Backend::Golden),
            "verilator" => Ok(Backend::Verilator),
            "xdma" => Ok(Backend::Xdma("/dev".into())),
            _ => match s.strip_prefix("xdma:") {
                Some(p) if !p.is_empty() => Ok(Backend::Xdma(p.into())),
                _ => Err(format!("unknown backend {s:?}: use golden, verilator or xdma[:DIR]")),
            },
        }
    }
}

impl Backend {
    /// Opens a transport for a configuration (the Verilator backend generates and builds the RTL,
    /// or takes it from the cache).
    pub fn open(&self, d: &Derived, timeout: Duration) -> Result<Box<dyn Transport>, DriverError> {
        match self {
            Backend::Golden => Ok(Box::new(golden::GoldenTransport::new(d))),
            Backend::Xdma(dir) => Ok(Box::new(xdma::XdmaTransport::open(dir, timeout)?)),
            Backend::Verilator => verilator::open(d),
        }
    }
}
