//! Golden model of the whole accelerator as software sees it: the AXI4-Lite registers and the
//! AXI4-Stream packets, with the array's compute done by [`Golden`]. The host's golden transport
//! drives this exactly as it drives the RTL, so the driver is tested without hardware.

use crate::config::{Derived, OutputMode};
use crate::golden::{Counters, Golden, Tile};
use crate::protocol::{self, Bus, ProtocolError};
use crate::regmap::{self, addr, ctrl, err, op};
use crate::stream;

/// What the device is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// Waiting for the LOAD packet.
    Load,
    /// Waiting for `left` more token packets.
    Run {
        left: u32,
    },
}

/// Register- and stream-level golden model of one array.
#[derive(Debug, Clone)]
pub struct GoldenDevice {
    golden: Golden,
    state: State,
    done: bool,
    gie: u32,
    ier: u32,
    isr: u32,
    scratch: u32,
    op: u32,
    k: u32,
    m: u32,
    n: u32,
    mode: u32,
    error: u32,
    counters: Counters,
    /// Descriptor latched at start (the registers may change while an operation runs).
    active: (usize, usize, OutputMode),
    weights: Vec<i8>,
    thresholds: Vec<u64>,
    out: std::collections::VecDeque<u32>,
    /// The code buffer: the codes of the last RUN when it had at most `code_buffer_tokens`
    /// tokens (`buf_n` of `buf_k` codes each; `buf_n` 0: nothing to replay).
    buf_codes: Vec<i8>,
    buf_k: u32,
    buf_n: u32,
    /// VERSION as this device reports it (a test hook for an older bitstream).
    version: u32,
}

impl GoldenDevice {
    /// A device in its reset state.
    pub fn new(d: &Derived) -> Self {
        GoldenDevice {
            golden: Golden::new(d),
            state: State::Idle,
            done: false,
            gie: 0,
            ier: 0,
            isr: 0,
            scratch: 0,
            op: 0,
            k: 0,
            m: 0,
            n: 0,
            mode: 0,
            error: 0,
            counters: Counters::default(),
            active: (0, 0, OutputMode::Raw),
            weights: Vec::new(),
            thresholds: Vec::new(),
            out: Default::default(),
            buf_codes: Vec::new(),
            buf_k: 0,
            buf_n: 0,
            version: regmap::register("VERSION").expect("in the map").reset,
        }
    }

    /// The same device reporting another VERSION (an older or newer bitstream), for tests of the
    /// driver's refusal.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    fn d(&self) -> &Derived {
        self.golden.derived()
    }

    /// Reads a register (reading CTRL clears ap_done, as in the HLS block).
    pub fn read_reg(&mut self, a: u32) -> u32 {
        let idle = self.state == State::Idle;
        match a {
            addr::CTRL => {
                let v =
                    if self.done { ctrl::AP_DONE } else { 0 } | if idle { ctrl::AP_IDLE | ctrl::AP_READY } else { 0 };
                self.done = false;
                v
            }
            addr::GIE => self.gie,
            addr::IER => self.ier,
            addr::ISR => self.isr,
            addr::SCRATCH => self.scratch,
            addr::OP => self.op,
            addr::LAYER_K => self.k,
            addr::LAYER_M => self.m,
            addr::LAYER_N => self.n,
            addr::MODE => self.mode,
            addr::STATUS => u32::from(!idle),
            addr::ERROR => self.error,
            addr::CYCLES_LO => self.counters.cycles as u32,
            addr::CYCLES_HI => (self.counters.cycles >> 32) as u32,
            addr::SPIKES_LO => self.counters.spikes as u32,
            addr::SPIKES_HI => (self.counters.spikes >> 32) as u32,
            addr::ACCUM_LO => self.counters.accumulates as u32,
            addr::ACCUM_HI => (self.counters.accumulates >> 32) as u32,
            addr::VERSION => self.version,
            _ => regmap::register_at(a).map_or(0, |r| regmap::reset_value(r, self.d())),
        }
    }

    /// Writes a register; a 1 in CTRL.ap_start starts the operation in OP.
    pub fn write_reg(&mut self, a: u32, v: u32) {
        match a {
            addr::CTRL if v & ctrl::AP_START != 0 && self.state == State::Idle => self.start(),
            addr::GIE => self.gie = v & 1,
            addr::IER => self.ier = v & 3,
            addr::ISR => self.isr &= !v,
            addr::SCRATCH => self.scratch = v,
            addr::OP => self.op = v,
            addr::LAYER_K => self.k = v,
            addr::LAYER_M => self.m = v,
            addr::LAYER_N => self.n = v,
            addr::MODE => self.mode = v,
            addr::ERROR => self.error &= !v,
            _ => {}
        }
    }

    /// Ends the operation: ap_done, and ISR.ap_done if its interrupt is enabled (as the RTL).
    fn finish(&mut self) {
        self.state = State::Idle;
        self.done = true;
        self.isr |= self.ier & 1;
    }

    /// Accepts a start: ISR.ap_ready if its interrupt is enabled (as the RTL), then the
    /// descriptor is checked and the operation begins, or ends at once with ERROR.descriptor.
    fn start(&mut self) {
        self.isr |= self.ier & 2;
        self.counters = Counters::default();
        let c = &self.d().config;
        let mode = protocol::mode_of(self.mode);
        let replay_ok = self.op != op::REPLAY || (self.buf_n >= 1 && self.n == self.buf_n && self.k == self.buf_k);
        let ok = (1..=c.k_max).contains(&self.k)
            && (1..=c.rows).contains(&self.m)
            && (self.op == op::LOAD || self.n >= 1)
            && [op::LOAD, op::RUN, op::REPLAY].contains(&self.op)
            && replay_ok
            && mode.is_some_and(|md| self.d().supports(md));
        if !ok {
            self.error |= err::DESCRIPTOR;
            self.finish();
            return;
        }
        self.active = (self.k as usize, self.m as usize, mode.expect("checked"));
        match self.op {
            op::LOAD => self.state = State::Load,
            op::RUN => {
                // A RUN that fits the buffer keeps its codes (slot t holds token t); a longer one
                // overwrites slots and leaves nothing to replay.
                self.buf_n = if self.n <= self.d().config.code_buffer_tokens { self.n } else { 0 };
                self.buf_k = self.k;
                self.buf_codes.clear();
                self.state = State::Run { left: self.n };
            }
            _ => {
                // REPLAY: the buffered tokens through the loaded tile, outputs as a RUN's.
                let codes = std::mem::take(&mut self.buf_codes);
                self.compute(&codes);
                self.buf_codes = codes;
                self.finish();
            }
        }
    }

    /// Runs `codes` (whole tokens) through the loaded tile: counters, flags and output words.
    fn compute(&mut self, codes: &[i8]) {
        let (k, m, mode) = self.active;
        let tile = Tile {
            k,
            m,
            weights: &self.weights,
            thresholds: (mode == OutputMode::Fire).then_some(&self.thresholds[..]),
            mode,
        };
        match self.golden.run_tile(&tile, codes) {
            Ok(run) => {
                self.counters += run.counters;
                self.error |= run.flags.error_bits();
                for token in run.outputs.chunks_exact(m) {
                    self.out.extend(stream::pack_outputs(token, mode));
                }
            }
            Err(_) => {
                // A tile the array cannot run (weights never loaded for this shape, invalid
                // thresholds): flag it and send zeros so the stream stays framed.
                self.error |= err::DESCRIPTOR;
                let words = stream::output_words(m, mode);
                self.out.extend(std::iter::repeat_n(0, words * (codes.len() / k.max(1))));
            }
        }
    }

    /// Delivers one input packet (TLAST on its last word).
    pub fn push_packet(&mut self, words: &[u32]) {
        let (k, m, mode) = self.active;
        match self.state {
            State::Idle => {}
            State::Load => {
                let wwords = m * stream::weight_words_per_row(self.d(), k);
                let expected = wwords + if mode == OutputMode::Fire { m } else { 0 };
                let words = self.fit(words, expected);
                self.weights = stream::unpack_weights(self.d(), &words[..wwords], m, k);
                if mode == OutputMode::Fire {
                    self.thresholds = words[wwords..].iter().map(|&t| t as u64).collect();
                }
                self.finish();
            }
            State::Run { left } => {
                let words = self.fit(words, stream::code_words(k));
                let codes = stream::unpack_codes(&words, k);
                if self.buf_n > 0 {
                    self.buf_codes.extend_from_slice(&codes);
                }
                self.compute(&codes);
                if left <= 1 {
                    self.finish();
                } else {
                    self.state = State::Run { left: left - 1 };
                }
            }
        }
    }

    /// Delivers words of which none carries TLAST: the core takes the words it expects and flags
    /// ERROR.stream for the missing TLAST.
    pub fn push_unterminated(&mut self, words: &[u32]) {
        if self.state != State::Idle {
            self.error |= err::STREAM;
        }
        self.push_packet(words);
    }

    /// Applies the stream framing rule: an early or late TLAST flags ERROR.stream; missing words
    /// count as zero, extra words are dropped.
    fn fit(&mut self, words: &[u32], expected: usize) -> Vec<u32> {
        if words.len() != expected {
            self.error |= err::STREAM;
        }
        let mut v = words.to_vec();
        v.resize(expected, 0);
        v
    }

    /// Output words ready to be read.
    pub fn pending_output(&self) -> usize {
        self.out.len()
    }

    /// Takes up to `n` output words.
    pub fn pop_output(&mut self, n: usize) -> Vec<u32> {
        let n = n.min(self.out.len());
        self.out.drain(..n).collect()
    }
}

/// The golden device is a bus: the protocol steps run against it exactly as against the RTL.
/// It answers synchronously, so an operation that is not done when waited for, or output words
/// that are not there, mean the protocol was broken (a real device would time out).
impl Bus for GoldenDevice {
    type Error = ProtocolError;
    fn read_reg(&mut self, a: u32) -> Result<u32, ProtocolError> {
        Ok(GoldenDevice::read_reg(self, a))
    }
    fn write_reg(&mut self, a: u32, v: u32) -> Result<(), ProtocolError> {
        GoldenDevice::write_reg(self, a, v);
        Ok(())
    }
    fn write_packet(&mut self, words: &[u32]) -> Result<(), ProtocolError> {
        self.push_packet(words);
        Ok(())
    }
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, ProtocolError> {
        if self.out.len() < n {
            return Err(ProtocolError::Starved { asked: n, pending: self.out.len() });
        }
        Ok(self.pop_output(n))
    }
    fn wait_done(&mut self, during: &str) -> Result<(), ProtocolError> {
        if GoldenDevice::read_reg(self, addr::CTRL) & ctrl::AP_DONE == 0 {
            return Err(ProtocolError::NotDone { during: during.to_string() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tiny;

    #[test]
    fn bad_descriptor_and_framing_are_flagged() {
        let d = tiny();
        let mut dev = GoldenDevice::new(&d);
        dev.write_reg(addr::LAYER_K, d.config.k_max + 1);
        dev.write_reg(addr::LAYER_M, 1);
        dev.write_reg(addr::CTRL, ctrl::AP_START);
        assert_eq!(dev.read_reg(addr::ERROR), err::DESCRIPTOR);
        dev.write_reg(addr::ERROR, err::DESCRIPTOR);
        assert_eq!(dev.read_reg(addr::ERROR), 0, "W1C");
        dev.write_reg(addr::LAYER_K, 8);
        dev.write_reg(addr::CTRL, ctrl::AP_START);
        dev.push_packet(&[0; 3]);
        assert_eq!(dev.read_reg(addr::ERROR), err::STREAM, "8 int4 weights need 1 word, not 3");
    }
}
