//! The crate's one error type: every variant carries what went wrong and where.

use std::path::PathBuf;

/// Errors of building, loading and driving a Verilated model.
#[derive(Debug, thiserror::Error)]
pub enum TbError {
    /// No Verilator found where `VERILATOR` / `VERILATOR_ROOT` / `PATH` point.
    #[error(
        "verilator not found ({tried}); run scripts/setup.sh, which installs it, or set VERILATOR / VERILATOR_ROOT"
    )]
    VerilatorMissing {
        /// What was tried.
        tried: String,
    },
    /// A tool (verilator, the C++ compiler, the linker) ran and failed.
    #[error("{tool} failed ({status}); log: {log}")]
    Tool {
        /// Which tool.
        tool: String,
        /// Its exit status.
        status: String,
        /// Its combined output, trimmed to the end.
        log: String,
    },
    /// The `cc` crate refused to compile.
    #[error("C++ compile failed: {0}")]
    Compile(String),
    /// File-system trouble in the cache or the build folder.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Verilator's `_classes.mk` did not list what a build needs.
    #[error("cannot read the file list from {path}: {why}")]
    ClassesMk {
        /// The file.
        path: PathBuf,
        /// What was missing.
        why: String,
    },
    /// The compiled model could not be loaded, or lacks a shim symbol.
    #[error("cannot load {path}: {why}")]
    Load {
        /// The shared library.
        path: PathBuf,
        /// The loader's message.
        why: String,
    },
    /// A bad argument from the caller (empty RTL, unknown port value, …).
    #[error("invalid {what}: {why}")]
    Invalid {
        /// Which input.
        what: &'static str,
        /// Why it is refused.
        why: String,
    },
    /// An AXI transaction or stream transfer did not complete in time.
    #[error("timeout after {cycles} cycles {during} (at cycle {at})")]
    Timeout {
        /// What was waited for, naming the register or stream.
        during: String,
        /// Cycles waited.
        cycles: u64,
        /// Simulation cycle at which the wait gave up.
        at: u64,
    },
    /// An AXI4-Lite response other than OKAY.
    #[error("{op} of register 0x{addr:02X} answered {resp:#x} (not OKAY)")]
    Response {
        /// `write` or `read`.
        op: &'static str,
        /// Register offset.
        addr: u32,
        /// The BRESP/RRESP value.
        resp: u32,
    },
    /// The device does not identify as the configuration it was built from.
    #[error("device identity: register {register} reads {got:#010x}, expected {expected:#010x}")]
    Identity {
        /// Register name.
        register: &'static str,
        /// Expected value.
        expected: u32,
        /// What the RTL returned.
        got: u32,
    },
    /// The golden model refused the layer (bad shape or range): a test-case bug, not an RTL one.
    #[error("golden model: {0}")]
    Golden(#[from] spikeq_hdl::LayerError),
    /// The generator failed.
    #[error("generator: {0}")]
    Codegen(String),
}

impl TbError {
    /// An I/O error at a path.
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TbError {
        let path = path.into();
        move |source| TbError::Io { what, path, source }
    }
}

impl From<spikeq_hdl::ProtocolError> for TbError {
    fn from(e: spikeq_hdl::ProtocolError) -> Self {
        match e {
            spikeq_hdl::ProtocolError::Identity { register, expected, got } => {
                TbError::Identity { register, expected, got }
            }
            other => TbError::Invalid { what: "register protocol", why: other.to_string() },
        }
    }
}
