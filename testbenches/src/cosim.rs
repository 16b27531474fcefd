//! The cosimulation harness: runs tile calls through the RTL over its AXI ports (the register
//! protocol and stream packing of the host driver) and through the golden model, and compares
//! every output element, every counter and the error flags.
//!
//! On a difference, [`Cosim`] rebuilds the design with tracing (cached too), reruns the failing
//! case from reset into an FST and reports the first differing element with its cycle in that
//! waveform.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use spikeq_hdl::{protocol, stream, Bus, Case, Counters, Derived, Golden, LayerRun};

use crate::axi::{Driver, OutWord};
use crate::builder::{BuildOptions, Builder, Model, Rtl, RtlFile};
use crate::error::TbError;
use crate::sim::Sim;

/// What the RTL returned for one tile call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRun {
    /// Outputs, `n * m` token-major, unpacked like the golden model's.
    pub outputs: Vec<i32>,
    /// Cycle at which the stream word holding each output arrived.
    pub output_cycles: Vec<u64>,
    /// TLAST of each received word, per token (checked: only on each token's last word).
    pub tlast: Vec<Vec<bool>>,
    /// CYCLES, SPIKES, ACCUM after the call.
    pub counters: Counters,
    /// ERROR register after the call.
    pub error: u32,
    /// Output words that arrived after the last expected one (must be 0).
    pub extra_words: usize,
    /// Simulation cycle when the call was complete.
    pub end_cycle: u64,
}

/// Where RTL and golden model first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// An output element.
    Output {
        /// Token index n.
        token: usize,
        /// Row index m within the tile.
        row: usize,
    },
    /// TLAST of output word `word` of token `token`.
    Tlast {
        /// Token index.
        token: usize,
        /// Word index within the token's packet.
        word: usize,
    },
    /// A performance counter (`CYCLES`, `SPIKES`, `ACCUM`).
    Counter(&'static str),
    /// The ERROR register.
    Error,
    /// Output words nobody expected (duplicates or a longer packet).
    ExtraWords,
}

/// The first difference of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What differs.
    pub site: Site,
    /// Golden value.
    pub expected: i64,
    /// RTL value.
    pub actual: i64,
    /// Simulation cycle at which the RTL produced it.
    pub cycle: u64,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.site {
            Site::Output { token, row } => write!(f, "output token {token} row {row}")?,
            Site::Tlast { token, word } => write!(f, "m_axis_tlast of token {token} word {word}")?,
            Site::Counter(c) => write!(f, "counter {c}")?,
            Site::Error => write!(f, "ERROR register")?,
            Site::ExtraWords => write!(f, "extra output words")?,
        }
        let hex = matches!(self.site, Site::Error);
        if hex {
            write!(f, ": expected {:#x}, got {:#x}", self.expected, self.actual)?;
        } else {
            write!(f, ": expected {}, got {}", self.expected, self.actual)?;
        }
        write!(f, " at cycle {}", self.cycle)
    }
}

/// Result of checking one case.
#[derive(Debug, Clone)]
pub struct Report {
    /// What the golden model (or the injected expectation) said.
    pub expected: LayerRun,
    /// What the RTL did.
    pub actual: DeviceRun,
    /// The first difference, if any.
    pub mismatch: Option<Mismatch>,
    /// FST of the failing case rerun from reset (cycles in `mismatch` refer to it when set).
    pub trace: Option<PathBuf>,
}

impl Report {
    /// Whether RTL and golden model agree.
    pub fn passed(&self) -> bool {
        self.mismatch.is_none()
    }
}

/// The first difference between a golden run and an RTL run (None when they agree).
pub fn compare(case: &Case, expected: &LayerRun, actual: &DeviceRun) -> Option<Mismatch> {
    let m = case.m;
    for (token, lasts) in actual.tlast.iter().enumerate() {
        for (word, &last) in lasts.iter().enumerate() {
            let want = word + 1 == lasts.len();
            if last != want {
                let cycle = actual.output_cycles.get(token * m).copied().unwrap_or(actual.end_cycle);
                return Some(Mismatch {
                    site: Site::Tlast { token, word },
                    expected: want.into(),
                    actual: last.into(),
                    cycle,
                });
            }
        }
    }
    for (i, (&e, &a)) in expected.outputs.iter().zip(&actual.outputs).enumerate() {
        if e != a {
            return Some(Mismatch {
                site: Site::Output { token: i / m, row: i % m },
                expected: e.into(),
                actual: a.into(),
                cycle: actual.output_cycles[i],
            });
        }
    }
    let counters = [
        ("CYCLES", expected.counters.cycles, actual.counters.cycles),
        ("SPIKES", expected.counters.spikes, actual.counters.spikes),
        ("ACCUM", expected.counters.accumulates, actual.counters.accumulates),
    ];
    for (name, e, a) in counters {
        if e != a {
            return Some(Mismatch {
                site: Site::Counter(name),
                expected: e as i64,
                actual: a as i64,
                cycle: actual.end_cycle,
            });
        }
    }
    let e = expected.flags.error_bits();
    if e != actual.error {
        return Some(Mismatch {
            site: Site::Error,
            expected: e.into(),
            actual: actual.error.into(),
            cycle: actual.end_cycle,
        });
    }
    if actual.extra_words != 0 {
        return Some(Mismatch {
            site: Site::ExtraWords,
            expected: 0,
            actual: actual.extra_words as i64,
            cycle: actual.end_cycle,
        });
    }
    None
}

/// Drives one simulated array through the register protocol ([`spikeq_hdl::protocol`]), keeping
/// the cycle and TLAST of every output word it receives.
#[derive(Debug)]
pub struct Harness {
    driver: Driver,
    d: Derived,
    /// Output words of the current RUN call, as they arrived.
    received: Vec<OutWord>,
}

impl Harness {
    /// Resets a fresh instance of `model` and checks that it identifies as `d`, as the host does
    /// when it opens a device ([`protocol::identify`]).
    pub fn new(model: Arc<Model>, d: &Derived) -> Result<Self, TbError> {
        Self::on(Driver::new(Sim::new(model)), d)
    }

    /// Like [`Harness::new`], with an FST of everything from reset on.
    pub fn traced(model: Arc<Model>, d: &Derived, fst: &Path) -> Result<Self, TbError> {
        let mut sim = Sim::new(model);
        sim.trace_open(fst)?;
        Self::on(Driver::new(sim), d)
    }

    fn on(driver: Driver, d: &Derived) -> Result<Self, TbError> {
        let mut h = Harness { driver, d: d.clone(), received: Vec::new() };
        protocol::identify(&mut h, d)?;
        Ok(h)
    }

    /// The AXI driver (for back-pressure, timeouts or raw register access).
    pub fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    /// LOAD then RUN of one case on the RTL; returns what came back.
    pub fn run(&mut self, case: &Case) -> Result<DeviceRun, TbError> {
        self.call(case, false)
    }

    /// LOAD of the case's tile, then REPLAY of its tokens, which the last RUN must have buffered
    /// (protocol v3); returns what came back.
    pub fn replay(&mut self, case: &Case) -> Result<DeviceRun, TbError> {
        self.call(case, true)
    }

    fn call(&mut self, case: &Case, replay: bool) -> Result<DeviceRun, TbError> {
        let d = self.d.clone();
        let tile = case.tile();
        protocol::load(self, &d, &tile)?;
        self.received.clear();
        let mut outputs = Vec::with_capacity(case.n() * case.m);
        if replay {
            protocol::replay(self, &tile, case.n(), |_, out| outputs.extend_from_slice(out))?;
        } else {
            protocol::run(self, &tile, &case.codes, |_, out| outputs.extend_from_slice(out))?;
        }
        let per_word = stream::outputs_per_word(case.mode);
        let mut output_cycles = Vec::with_capacity(outputs.len());
        let mut tlast = Vec::with_capacity(case.n());
        for words in self.received.chunks(stream::output_words(case.m, case.mode)) {
            output_cycles.extend((0..case.m).map(|r| words[r / per_word].cycle));
            tlast.push(words.iter().map(|w| w.last).collect());
        }
        let status = protocol::finish(self)?;
        let extra_words = self.driver.queued();
        if extra_words > 0 {
            self.driver.read_stream(extra_words)?;
        }
        let end_cycle = self.driver.cycles();
        Ok(DeviceRun {
            outputs,
            output_cycles,
            tlast,
            counters: status.counters,
            error: status.error,
            extra_words,
            end_cycle,
        })
    }
}

/// The harness is the bus of the protocol steps; it records the output words it reads.
impl Bus for Harness {
    type Error = TbError;
    fn read_reg(&mut self, addr: u32) -> Result<u32, TbError> {
        self.driver.read_reg(addr)
    }
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), TbError> {
        self.driver.write_reg(addr, value)
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), TbError> {
        self.driver.write_stream(words, true)
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, TbError> {
        let words = self.driver.read_stream_words(n)?;
        self.received.extend_from_slice(&words);
        Ok(words.iter().map(|w| w.data).collect())
    }
    fn wait_done(&mut self, _during: &str) -> Result<(), TbError> {
        self.driver.wait_done()
    }
}

/// Options of a [`Cosim`].
#[derive(Debug, Clone, Default)]
pub struct CosimOptions {
    /// Build options of the (untraced) model.
    pub build: BuildOptions,
    /// Record the whole session into this FST (builds the traced model).
    pub trace: Option<PathBuf>,
    /// Folder for the FSTs of failing cases (default: `$SPIKEQ_TRACE_DIR` or `<tmp>/spikeq-cosim`).
    pub fail_dir: Option<PathBuf>,
}

/// Generated RTL of a configuration, in the builder's form.
pub fn rtl_of(d: &Derived) -> Result<Rtl, TbError> {
    let design = spikeq_codegen::generate(d).map_err(|e| TbError::Codegen(e.to_string()))?;
    let files = design.verilog().map(|f| RtlFile { name: f.path.clone(), text: f.contents.clone() }).collect();
    Ok(Rtl { files, top: design.top.clone() })
}

/// A configuration's RTL, built and running, checked call by call against the golden model.
#[derive(Debug)]
pub struct Cosim {
    builder: Builder,
    rtl: Rtl,
    d: Derived,
    golden: Golden,
    model: Arc<Model>,
    harness: Harness,
    opts: CosimOptions,
    failures: usize,
}

impl Cosim {
    /// Generates, builds (or loads from the cache) and resets the array of `d`.
    pub fn new(builder: &Builder, d: &Derived, opts: CosimOptions) -> Result<Self, TbError> {
        Self::from_rtl(builder, d, rtl_of(d)?, opts)
    }

    /// Like [`Cosim::new`] with given RTL (e.g. a hand-modified design).
    pub fn from_rtl(builder: &Builder, d: &Derived, rtl: Rtl, opts: CosimOptions) -> Result<Self, TbError> {
        let build = BuildOptions { trace: opts.trace.is_some(), ..opts.build };
        let model = builder.build(&rtl, build)?;
        let harness = match &opts.trace {
            Some(p) => Harness::traced(model.clone(), d, p)?,
            None => Harness::new(model.clone(), d)?,
        };
        Ok(Cosim {
            builder: builder.clone(),
            rtl,
            d: d.clone(),
            golden: Golden::new(d),
            model,
            harness,
            opts,
            failures: 0,
        })
    }

    /// The loaded model (its [`Model::cache_hit`] tells whether this build compiled anything).
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The harness (driver access, back-pressure).
    pub fn harness(&mut self) -> &mut Harness {
        &mut self.harness
    }

    /// The configuration.
    pub fn derived(&self) -> &Derived {
        &self.d
    }

    /// Runs a case on RTL and golden model and compares them. When the case fits the code
    /// buffer, the RTL then loads the tile with its rows reversed and REPLAYs the buffered tokens
    /// through it, and that call is compared too (the report of the first call that differs).
    pub fn check(&mut self, case: &Case) -> Result<Report, TbError> {
        let expected = self.golden.run_tile(&case.tile(), &case.codes)?;
        let report = self.check_against(case, expected)?;
        if !report.passed() || case.n() > self.d.config.code_buffer_tokens as usize {
            return Ok(report);
        }
        let flipped = case.rows_reversed();
        let expected = self.golden.run_tile(&flipped.tile(), &flipped.codes)?;
        let actual = self.harness.replay(&flipped)?;
        let mismatch = compare(&flipped, &expected, &actual);
        let mut report = Report { expected, actual, mismatch, trace: None };
        if report.mismatch.is_some() && self.opts.trace.is_none() {
            self.failures += 1;
            self.record(case, Some(&flipped), &mut report)?;
        }
        Ok(report)
    }

    /// Runs a case on the RTL and compares it with a given expectation (fault injection uses
    /// this with a deliberately wrong result).
    pub fn check_against(&mut self, case: &Case, expected: LayerRun) -> Result<Report, TbError> {
        let actual = self.harness.run(case)?;
        let mismatch = compare(case, &expected, &actual);
        let mut report = Report { expected, actual, mismatch, trace: None };
        if report.mismatch.is_some() && self.opts.trace.is_none() {
            self.failures += 1;
            self.record(case, None, &mut report)?;
        }
        Ok(report)
    }

    /// Reruns a failing case from reset on the traced model into an FST (then the REPLAY of
    /// `replayed` when that call failed); the report's mismatch then carries the cycle in that
    /// waveform.
    fn record(&mut self, case: &Case, replayed: Option<&Case>, report: &mut Report) -> Result<(), TbError> {
        let dir = self.opts.fail_dir.clone().unwrap_or_else(default_fail_dir);
        std::fs::create_dir_all(&dir).map_err(TbError::io("create", &dir))?;
        let path = dir.join(format!("{}-fail{}.fst", self.rtl.top, self.failures));
        let traced = self.builder.build(&self.rtl, BuildOptions { trace: true, ..self.opts.build })?;
        let mut h = Harness::traced(traced, &self.d, &path)?;
        let rerun = match replayed {
            None => h.run(case),
            Some(flipped) => h.run(case).and_then(|_| h.replay(flipped)),
        };
        h.driver().sim_mut().trace_close();
        if let Ok(actual) = rerun {
            if let Some(m) = compare(replayed.unwrap_or(case), &report.expected, &actual) {
                report.mismatch = Some(m);
                report.actual = actual;
            }
        }
        report.trace = Some(path);
        Ok(())
    }

    /// Closes the session trace, if one is open (also done when the harness is dropped).
    pub fn finish(&mut self) {
        self.harness.driver().sim_mut().trace_close();
    }
}

/// `$SPIKEQ_TRACE_DIR`, else `<tmp>/spikeq-cosim`.
fn default_fail_dir() -> PathBuf {
    std::env::var_os("SPIKEQ_TRACE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("spikeq-cosim"))
}
