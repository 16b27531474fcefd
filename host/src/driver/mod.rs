//! The accelerator driver: the register protocol, stream packing and row tiling of one array,
//! over a [`Transport`] that moves register accesses and stream packets (golden model, Verilator,
//! XDMA character devices). Every wait has a deadline; a device that does not answer is an error
//! that names the register or stream it was waiting for.

pub mod golden;
pub mod verilator;
pub mod xdma;

use std::time::{Duration, Instant};

use spikeq_hdl::regmap::{addr, ctrl, err, op, ID_MAGIC};
use spikeq_hdl::{stream, Counters, Derived, Flags, Golden, LayerRun, OutputMode, CONTRACT_VERSION};
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
}

/// Moves register accesses and stream packets to and from one array.
pub trait Transport {
    /// Human-readable name (backend and path) for messages.
    fn describe(&self) -> String;
    /// Reads a 32-bit register.
    fn read_reg(&mut self, addr: u32) -> Result<u32, DriverError>;
    /// Writes a 32-bit register.
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), DriverError>;
    /// Sends one input packet (TLAST on its last word).
    fn write_packet(&mut self, words: &[u32]) -> Result<(), DriverError>;
    /// Receives exactly `n` output words.
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, DriverError>;
    /// The array's model, for transports that *are* the software model: the driver then computes
    /// whole layers natively (bit- and count-identical to the register path, which tests check).
    fn native_model(&self) -> Option<&Golden> {
        None
    }
}

/// One layer call: `y = W x` for N tokens, W quantized, x as codes.
#[derive(Debug, Clone, Copy)]
pub struct LayerJob<'a> {
    /// Output length M.
    pub m: usize,
    /// Input length K.
    pub k: usize,
    /// Weight codes, `m * k`.
    pub weights: &'a [i8],
    /// Thresholds (fire mode), one per output.
    pub thresholds: Option<&'a [u64]>,
    /// Output mode.
    pub mode: OutputMode,
    /// Codes, `n * k`.
    pub codes: &'a [i8],
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
    timeout: Duration,
    native: bool,
    /// Bytes moved so far.
    pub traffic: Traffic,
}

impl<T: Transport> Accelerator<T> {
    /// Opens the device: checks ID, contract version and configuration hash before anything else.
    pub fn open(mut transport: T, derived: &Derived, timeout: Duration) -> Result<Self, DriverError> {
        let device = transport.describe();
        let major = CONTRACT_VERSION.0 as u32;
        for (register, a, expected, mask) in [
            ("ID", addr::ID, ID_MAGIC, u32::MAX),
            ("VERSION", addr::VERSION, major << 16, 0x00FF_0000),
            ("CFG_HASH", addr::CFG_HASH, derived.hash32, u32::MAX),
        ] {
            let got = transport.read_reg(a)?;
            if got & mask != expected {
                return Err(DriverError::Identity { device, register, expected, got });
            }
        }
        let native = transport.native_model().is_some();
        Ok(Accelerator { transport, golden: Golden::new(derived), timeout, native, traffic: Traffic::default() })
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

    /// The transport.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Runs one layer: tiles M onto the rows, loads each tile and streams the N tokens through it.
    pub fn run_layer(&mut self, job: &LayerJob<'_>) -> Result<LayerRun, DriverError> {
        let (m, k) = (job.m, job.k);
        if job.weights.len() != m * k || k == 0 || !job.codes.len().is_multiple_of(k) {
            return Err(
                spikeq_hdl::LayerError::Shape { what: "layer job", expected: m * k, got: job.weights.len() }.into()
            );
        }
        self.account(job);
        if self.native {
            let model = self.transport.native_model().expect("native transport");
            return Ok(golden::run_layer_native(model, job)?);
        }
        let n = job.codes.len() / k;
        let rows = self.derived().config.rows as usize;
        let mut outputs = vec![0i32; n * m];
        let mut counters = Counters::default();
        let mut flags = Flags::default();
        for m0 in (0..m).step_by(rows) {
            let mt = rows.min(m - m0);
            let w = &job.weights[m0 * k..(m0 + mt) * k];
            let th = job.thresholds.map(|t| &t[m0..m0 + mt]);
            // Validate before the device sees it: the same checks the golden model applies.
            let tile = spikeq_hdl::Tile { k, m: mt, weights: w, thresholds: th, mode: job.mode };
            self.golden.check_tile(&tile)?;
            for (a, v) in [
                (addr::LAYER_K, k as u32),
                (addr::LAYER_M, mt as u32),
                (addr::LAYER_N, n as u32),
                (addr::MODE, job.mode.code()),
                (addr::OP, op::LOAD),
            ] {
                self.transport.write_reg(a, v)?;
            }
            self.start()?;
            self.transport.write_packet(&stream::pack_load(self.golden.derived(), w, mt, k, th))?;
            self.wait_done("LOAD")?;
            self.transport.write_reg(addr::OP, op::RUN)?;
            self.start()?;
            let per = stream::output_words(mt, job.mode);
            for (tok, out) in job.codes.chunks_exact(k).zip(outputs.chunks_exact_mut(m)) {
                self.transport.write_packet(&stream::pack_codes(tok))?;
                let words = self.transport.read_words(per)?;
                out[m0..m0 + mt].copy_from_slice(&stream::unpack_outputs(&words, mt, job.mode));
            }
            self.wait_done("RUN")?;
            counters += self.read_counters()?;
            let e = self.transport.read_reg(addr::ERROR)?;
            if e & (err::DESCRIPTOR | err::STREAM) != 0 {
                return Err(DriverError::Device {
                    flags: e,
                    what: decode_error(e),
                    during: format!("RUN of rows {m0}..{}", m0 + mt),
                });
            }
            flags.salient_overflow |= e & err::SALIENT_OVERFLOW != 0;
            flags.code_range |= e & err::CODE_RANGE != 0;
            if e != 0 {
                self.transport.write_reg(addr::ERROR, e)?;
            }
        }
        let lane_slots = counters.cycles * rows as u64 * self.derived().config.lanes as u64;
        Ok(LayerRun { outputs, counters, flags, lane_slots })
    }

    fn account(&mut self, job: &LayerJob<'_>) {
        let n = job.codes.len() / job.k;
        let rows = self.derived().config.rows as usize;
        for m0 in (0..job.m).step_by(rows) {
            let mt = rows.min(job.m - m0);
            let load = mt * stream::weight_words_per_row(self.golden.derived(), job.k)
                + if job.mode == OutputMode::Fire { mt } else { 0 };
            self.traffic.h2c += 4 * (load + n * stream::code_words(job.k)) as u64;
            self.traffic.c2h += 4 * (n * stream::output_words(mt, job.mode)) as u64;
        }
    }

    fn start(&mut self) -> Result<(), DriverError> {
        self.transport.write_reg(addr::CTRL, ctrl::AP_START)
    }

    /// Polls CTRL until ap_done, with the driver's deadline.
    fn wait_done(&mut self, during: &str) -> Result<(), DriverError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if self.transport.read_reg(addr::CTRL)? & ctrl::AP_DONE != 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(DriverError::Timeout {
                    what: format!("CTRL.ap_done after {during}"),
                    device: self.transport.describe(),
                    timeout: self.timeout,
                });
            }
        }
    }

    fn read_counters(&mut self) -> Result<Counters, DriverError> {
        let mut read64 = |lo: u32, hi: u32| -> Result<u64, DriverError> {
            Ok(self.transport.read_reg(lo)? as u64 | (self.transport.read_reg(hi)? as u64) << 32)
        };
        Ok(Counters {
            cycles: read64(addr::CYCLES_LO, addr::CYCLES_HI)?,
            spikes: read64(addr::SPIKES_LO, addr::SPIKES_HI)?,
            accumulates: read64(addr::ACCUM_LO, addr::ACCUM_HI)?,
        })
    }
}

/// Names the bits of an ERROR value.
pub fn decode_error(e: u32) -> String {
    let names = [
        (err::DESCRIPTOR, "descriptor"),
        (err::SALIENT_OVERFLOW, "salient_overflow"),
        (err::CODE_RANGE, "code_range"),
        (err::STREAM, "stream"),
    ];
    names.iter().filter(|(b, _)| e & b != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}

impl Transport for Box<dyn Transport> {
    fn describe(&self) -> String {
        (**self).describe()
    }
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
    fn native_model(&self) -> Option<&Golden> {
        (**self).native_model()
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
            Backend::Verilator => verilator::open(d, timeout),
        }
    }
}
