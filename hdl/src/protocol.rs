//! The register protocol of the array, written once: how software identifies a device, loads a
//! row tile, runs tokens through it and reads what the call cost.
//!
//! Every way of talking to an array implements [`Bus`] and calls these steps: the host's
//! transports (the golden device, the Verilator model, the XDMA device files), the cosimulation
//! harness, and the recorder that writes the Icarus testbench program. A change to the protocol is
//! therefore one change here, and every bus follows it.
//!
//! A call is `load` (the tile's weights and thresholds), `run` (N tokens in, N output packets
//! out) or `replay` (the N tokens the last RUN left in the code buffer, no input stream, N output
//! packets out), then `finish` (counters and the ERROR register, which it clears). [`plan`] says
//! which calls a whole layer takes (protocol v3: codes once per chunk of buffered tokens).

use thiserror::Error;

use std::ops::Range;

use crate::config::{Derived, OutputMode};
use crate::golden::{Counters, Layer, Tile};
use crate::regmap::{self, addr, ctrl, err, op};
use crate::stream;

/// Register accesses and stream packets to and from one array.
pub trait Bus {
    /// What can go wrong on this bus (a timeout, a device that is gone, a protocol violation).
    type Error: From<ProtocolError>;
    /// Reads a 32-bit register.
    fn read_reg(&mut self, addr: u32) -> Result<u32, Self::Error>;
    /// Writes a 32-bit register.
    fn write_reg(&mut self, addr: u32, value: u32) -> Result<(), Self::Error>;
    /// Sends one input packet (TLAST on its last word).
    fn write_packet(&mut self, words: &[u32]) -> Result<(), Self::Error>;
    /// Receives exactly `n` output words.
    fn read_words(&mut self, n: usize) -> Result<Vec<u32>, Self::Error>;
    /// Waits until CTRL reports ap_done (reading CTRL clears it), within the bus's own deadline:
    /// wall-clock time on a device, clock cycles in a simulator.
    fn wait_done(&mut self, during: &str) -> Result<(), Self::Error>;
}

/// A device that does not follow the protocol.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An identification register does not describe the expected array.
    #[error("{register} reads {got:#010x}, expected {expected:#010x}")]
    Identity {
        /// Register compared.
        register: &'static str,
        /// Value expected (masked).
        expected: u32,
        /// Value read (masked).
        got: u32,
    },
    /// A synchronous device was waited for while nothing was running.
    #[error("the device is not done after {during}: no operation was started or it was refused")]
    NotDone {
        /// The step that waited.
        during: String,
    },
    /// Output words were asked for that a synchronous device never produced.
    #[error("{asked} output words asked for, {pending} pending: no RUN is in progress")]
    Starved {
        /// Words asked for.
        asked: usize,
        /// Words the device had.
        pending: usize,
    },
}

/// The registers that identify an array, with the bits compared: a device matches a
/// configuration when each masked value equals the masked reset value the map gives for it.
/// VERSION is compared by its major number (a minor version keeps the protocol).
pub const IDENTITY: [(&str, u32); 7] = [
    ("ID", u32::MAX),
    ("VERSION", 0x00FF_0000),
    ("CFG_HASH", u32::MAX),
    ("ROWS", u32::MAX),
    ("LANES", u32::MAX),
    ("K_MAX", u32::MAX),
    ("FORMAT", u32::MAX),
];

/// Checks that the device on `bus` is the array `d` describes, before anything else is sent.
pub fn identify<B: Bus>(bus: &mut B, d: &Derived) -> Result<(), B::Error> {
    for (name, mask) in IDENTITY {
        let reg = regmap::register(name).expect("identity registers are in the map");
        let expected = regmap::reset_value(reg, d) & mask;
        let got = bus.read_reg(reg.offset)? & mask;
        if got != expected {
            return Err(ProtocolError::Identity { register: reg.name, expected, got }.into());
        }
    }
    Ok(())
}

/// Starts the operation whose descriptor is in the registers.
fn start<B: Bus>(bus: &mut B) -> Result<(), B::Error> {
    bus.write_reg(addr::CTRL, ctrl::AP_START)
}

/// LOAD: sends one tile's weights (and thresholds in fire mode) and waits until they are held.
pub fn load<B: Bus>(bus: &mut B, d: &Derived, tile: &Tile<'_>) -> Result<(), B::Error> {
    for (a, v) in [
        (addr::LAYER_K, tile.k as u32),
        (addr::LAYER_M, tile.m as u32),
        (addr::MODE, tile.mode.code()),
        (addr::OP, op::LOAD),
    ] {
        bus.write_reg(a, v)?;
    }
    start(bus)?;
    bus.write_packet(&stream::pack_load(d, tile.weights, tile.m, tile.k, tile.thresholds))?;
    bus.wait_done("LOAD")
}

/// RUN: streams the tokens of `codes` (`n * tile.k`) through the loaded tile, one packet in and
/// one packet out per token, and hands each token's `tile.m` outputs to `each(token, outputs)`.
pub fn run<B: Bus>(
    bus: &mut B,
    tile: &Tile<'_>,
    codes: &[i8],
    mut each: impl FnMut(usize, &[i32]),
) -> Result<(), B::Error> {
    let n = codes.len() / tile.k.max(1);
    bus.write_reg(addr::LAYER_N, n as u32)?;
    bus.write_reg(addr::OP, op::RUN)?;
    start(bus)?;
    let per = stream::output_words(tile.m, tile.mode);
    for (t, token) in codes.chunks_exact(tile.k).enumerate() {
        bus.write_packet(&stream::pack_codes(token))?;
        let words = bus.read_words(per)?;
        each(t, &stream::unpack_outputs(&words, tile.m, tile.mode));
    }
    bus.wait_done("RUN")
}

/// REPLAY: runs the `n` tokens the last RUN buffered (it had the same K and N, at most the code
/// buffer's tokens) through the loaded tile, and hands each token's `tile.m` outputs to
/// `each(token, outputs)`. Nothing is streamed in.
pub fn replay<B: Bus>(
    bus: &mut B,
    tile: &Tile<'_>,
    n: usize,
    mut each: impl FnMut(usize, &[i32]),
) -> Result<(), B::Error> {
    bus.write_reg(addr::LAYER_N, n as u32)?;
    bus.write_reg(addr::OP, op::REPLAY)?;
    start(bus)?;
    let per = stream::output_words(tile.m, tile.mode);
    for t in 0..n {
        let words = bus.read_words(per)?;
        each(t, &stream::unpack_outputs(&words, tile.m, tile.mode));
    }
    bus.wait_done("REPLAY")
}

/// One LOAD and one RUN or REPLAY of a layer's [`plan`].
#[derive(Debug, Clone)]
pub struct Call<'a> {
    /// Tokens of the call (a chunk of the layer's N).
    pub tokens: Range<usize>,
    /// Output rows of the tile.
    pub rows: Range<usize>,
    /// The tile loaded.
    pub tile: Tile<'a>,
    /// REPLAY of the chunk's buffered codes (the chunk's first tile RUNs and buffers them).
    pub replay: bool,
}

impl Call<'_> {
    /// Stream bytes of the call: host to device (LOAD packet, codes unless replayed) and device
    /// to host (outputs).
    pub fn bytes(&self, d: &Derived) -> (u64, u64) {
        let n = self.tokens.len();
        let codes = if self.replay { 0 } else { 4 * (n * stream::code_words(self.tile.k)) as u64 };
        (Self::load_bytes(d, &self.tile) + codes, 4 * (n * stream::output_words(self.tile.m, self.tile.mode)) as u64)
    }

    /// Bytes of the LOAD packet of a tile.
    fn load_bytes(d: &Derived, t: &Tile<'_>) -> u64 {
        let thresholds = if t.mode == OutputMode::Fire { t.m } else { 0 };
        4 * (t.m * stream::weight_words_per_row(d, t.k) + thresholds) as u64
    }
}

/// Tokens per chunk of a layer's calls: with one row tile, or when re-sending the weights per
/// chunk would move more bytes than re-sending the codes per tile, all N tokens in one RUN per
/// tile (the v2 dataflow); otherwise the code buffer's size (REPLAY after the first tile).
pub fn chunk_tokens(d: &Derived, layer: &Layer<'_>) -> usize {
    let (n, b) = (layer.n(), d.config.code_buffer_tokens as usize);
    let tiles = layer.m.div_ceil(d.config.rows as usize);
    if tiles <= 1 || n <= 1 {
        return n.max(1);
    }
    // Bytes that differ between the two dataflows: codes per tile and token, or weights per chunk.
    let code_bytes = 4 * stream::code_words(layer.k) as u64;
    let weight_bytes: u64 = layer.tiles(d.config.rows as usize).map(|(_, t)| Call::load_bytes(d, &t)).sum();
    let resend_codes = (tiles as u64 - 1) * n as u64 * code_bytes;
    let resend_weights = (n.div_ceil(b) as u64 - 1) * weight_bytes;
    if resend_weights < resend_codes {
        b
    } else {
        n
    }
}

/// The calls of a whole layer, in order: for each chunk of [`chunk_tokens`] tokens, for each row
/// tile, a LOAD then a RUN (the chunk's first tile: the codes are streamed and, when the chunk
/// fits the code buffer, kept) or a REPLAY (later tiles). Every token meets every tile once, so
/// the counters of the calls sum to [`crate::Golden::run_layer`]'s.
pub fn plan<'a>(d: &Derived, layer: &Layer<'a>) -> Vec<Call<'a>> {
    let n = layer.n();
    let chunk = chunk_tokens(d, layer);
    let buffered = chunk <= d.config.code_buffer_tokens as usize;
    let mut calls = Vec::new();
    for t0 in (0..n).step_by(chunk) {
        let tokens = t0..n.min(t0 + chunk);
        for (i, (rows, tile)) in layer.tiles(d.config.rows as usize).enumerate() {
            calls.push(Call { tokens: tokens.clone(), rows, tile, replay: buffered && i > 0 });
        }
    }
    calls
}

/// Runs one call of `layer`'s [`plan`]: LOAD, then RUN of the call's tokens or REPLAY, then
/// [`finish`]. Each token's outputs go into its row of `outputs` (the layer's N × M, row-major),
/// at the call's rows.
pub fn run_call<B: Bus>(
    bus: &mut B,
    d: &Derived,
    layer: &Layer<'_>,
    call: &Call<'_>,
    outputs: &mut [i32],
) -> Result<CallStatus, B::Error> {
    let (m, k, t0, rows) = (layer.m, layer.k, call.tokens.start, call.rows.clone());
    let put = |t: usize, out: &[i32]| {
        let at = (t0 + t) * m;
        outputs[at + rows.start..at + rows.end].copy_from_slice(out)
    };
    load(bus, d, &call.tile)?;
    if call.replay {
        replay(bus, &call.tile, call.tokens.len(), put)?;
    } else {
        run(bus, &call.tile, &layer.codes[t0 * k..call.tokens.end * k], put)?;
    }
    finish(bus)
}

/// What a call left in the status registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallStatus {
    /// CYCLES, SPIKES and ACCUM of the call.
    pub counters: Counters,
    /// The ERROR register as the call left it (cleared by [`finish`] afterwards).
    pub error: u32,
}

impl CallStatus {
    /// Whether the call was refused or its stream broken (its outputs are not to be used), as
    /// opposed to the data flags the golden model also raises.
    pub fn failed(&self) -> bool {
        self.error & (err::DESCRIPTOR | err::STREAM) != 0
    }
}

/// Reads a 64-bit counter split into LO/HI registers.
pub fn read_counter<B: Bus>(bus: &mut B, lo: u32) -> Result<u64, B::Error> {
    Ok(bus.read_reg(lo)? as u64 | (bus.read_reg(lo + 4)? as u64) << 32)
}

/// Ends a call: reads its counters and the ERROR register, and clears ERROR (write 1 to clear)
/// so the next call starts clean.
pub fn finish<B: Bus>(bus: &mut B) -> Result<CallStatus, B::Error> {
    let counters = Counters {
        cycles: read_counter(bus, addr::CYCLES_LO)?,
        spikes: read_counter(bus, addr::SPIKES_LO)?,
        accumulates: read_counter(bus, addr::ACCUM_LO)?,
    };
    let error = bus.read_reg(addr::ERROR)?;
    if error != 0 {
        bus.write_reg(addr::ERROR, error)?;
    }
    Ok(CallStatus { counters, error })
}

/// Names the bits of an ERROR value (`descriptor, stream`).
pub fn decode_error(e: u32) -> String {
    let names = [
        (err::DESCRIPTOR, "descriptor"),
        (err::SALIENT_OVERFLOW, "salient_overflow"),
        (err::CODE_RANGE, "code_range"),
        (err::STREAM, "stream"),
    ];
    names.iter().filter(|(b, _)| e & b != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}

/// Output mode of a MODE register value.
pub fn mode_of(code: u32) -> Option<OutputMode> {
    match code {
        0 => Some(OutputMode::Raw),
        1 => Some(OutputMode::Fire),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tiny;
    use crate::device::GoldenDevice;
    use crate::golden::{Golden, Layer};

    #[test]
    fn protocol_steps_on_the_device_equal_the_golden_layer() {
        let d = tiny();
        let (m, k, n) = (3usize, 10usize, 4usize);
        let w: Vec<i8> = (0..m * k).map(|i| (i as i8 % 15) - 7).collect();
        let th = [40u64, 1, d.th_max];
        let codes: Vec<i8> = (0..n * k).map(|i| [3, -7, 100, 0, 1, 12, -30][i % 7]).collect();
        for (mode, th) in [(OutputMode::Raw, None), (OutputMode::Fire, Some(&th[..]))] {
            let layer = Layer { m, k, weights: &w, thresholds: th, mode, codes: &codes };
            let want = Golden::new(&d).run_layer(&layer).unwrap();
            let mut dev = GoldenDevice::new(&d);
            identify(&mut dev, &d).unwrap();
            let (_, tile) = layer.tiles(d.config.rows as usize).next().unwrap();
            load(&mut dev, &d, &tile).unwrap();
            let mut got = vec![0; n * m];
            run(&mut dev, &tile, &codes, |t, out| got[t * m..(t + 1) * m].copy_from_slice(out)).unwrap();
            let status = finish(&mut dev).unwrap();
            assert_eq!(got, want.outputs, "{mode:?}");
            assert_eq!(status.counters, want.counters, "{mode:?}");
            assert_eq!(crate::Flags::from_error_bits(status.error), want.flags);
            assert!(!status.failed());
            assert_eq!(dev.read_reg(addr::ERROR), 0, "finish clears ERROR");
        }
    }

    /// Runs a layer's [`plan`] on a golden device, as the host driver does.
    fn run_plan(d: &Derived, dev: &mut GoldenDevice, layer: &Layer<'_>) -> (Vec<i32>, Counters, u32, Vec<bool>) {
        let mut out = vec![0; layer.n() * layer.m];
        let (mut counters, mut error, mut kinds) = (Counters::default(), 0, Vec::new());
        for call in plan(d, layer) {
            let status = run_call(dev, d, layer, &call, &mut out).unwrap();
            assert!(!status.failed(), "{:#x}", status.error);
            counters += status.counters;
            error |= status.error;
            kinds.push(call.replay);
        }
        (out, counters, error, kinds)
    }

    /// tiny with a code buffer of 4 tokens (tiny itself has 2, to fit the UP5K), so the calls
    /// below have buffered and unbuffered lengths on both sides of 3.
    fn tiny_buffer4() -> Derived {
        let mut c = tiny().config;
        c.code_buffer_tokens = 4;
        c.validate().expect("tiny with a 4-token code buffer")
    }

    #[test]
    fn a_layer_plan_with_replay_equals_the_golden_layer() {
        let d = tiny_buffer4();
        let b = d.config.code_buffer_tokens as usize;
        let (m, k) = (11usize, 10usize);
        let w: Vec<i8> = (0..m * k).map(|i| (i as i8 % 15) - 7).collect();
        let th: Vec<u64> = (0..m as u64).map(|i| 1 + i * 37 % d.th_max).collect();
        for n in [1, 3, b, b + 1, 2 * b + 3] {
            // A salient overflow and an out-of-range code now and then: REPLAY raises the flags again.
            let codes: Vec<i8> = (0..n * k).map(|i| [3, -7, 100, 0, 1, 12, -30, -128, 0, 0, 0][i % 11]).collect();
            for (mode, th) in [(OutputMode::Raw, None), (OutputMode::Fire, Some(&th[..]))] {
                let layer = Layer { m, k, weights: &w, thresholds: th, mode, codes: &codes };
                let want = Golden::new(&d).run_layer(&layer).unwrap();
                let mut dev = GoldenDevice::new(&d);
                let (got, counters, error, kinds) = run_plan(&d, &mut dev, &layer);
                assert_eq!(got, want.outputs, "{mode:?} n {n}");
                assert_eq!(counters, want.counters, "{mode:?} n {n}");
                assert_eq!(crate::Flags::from_error_bits(error), want.flags);
                // The plan buffers unless re-sending the weights per chunk moves more bytes.
                let (tiles, chunk) = (m.div_ceil(d.config.rows as usize), chunk_tokens(&d, &layer));
                let runs = if chunk <= b { n.div_ceil(chunk) } else { tiles };
                assert_eq!(kinds.len(), tiles * n.div_ceil(chunk), "{mode:?} n {n}: a LOAD per tile and chunk");
                assert_eq!(kinds.iter().filter(|r| !**r).count(), runs, "{mode:?} n {n}: one RUN per chunk");
                if mode == OutputMode::Raw && n > 1 {
                    assert!(chunk <= b && kinds.iter().any(|r| *r), "n {n}: raw calls of this shape replay");
                }
            }
        }
    }

    #[test]
    fn replay_without_a_matching_buffer_is_refused() {
        let d = tiny_buffer4();
        let b = d.config.code_buffer_tokens;
        let (m, k) = (2usize, 5usize);
        let w = vec![1i8; m * k];
        let tile = Tile { k, m, weights: &w, thresholds: None, mode: OutputMode::Raw };
        let mut dev = GoldenDevice::new(&d);
        load(&mut dev, &d, &tile).unwrap();
        // Nothing buffered yet.
        dev.write_reg(addr::LAYER_N, 1);
        dev.write_reg(addr::OP, op::REPLAY);
        dev.write_reg(addr::CTRL, ctrl::AP_START);
        assert_eq!(finish(&mut dev).unwrap().error, err::DESCRIPTOR);
        // A RUN longer than the buffer leaves nothing to replay; one that fits does, for its K and N only.
        for (n, replay_n, replay_k, ok) in
            [(b + 1, b + 1, k, false), (3, 3, k, true), (3, 2, k, false), (3, 3, k + 1, false)]
        {
            let codes = vec![1i8; n as usize * k];
            load(&mut dev, &d, &tile).unwrap();
            run(&mut dev, &tile, &codes, |_, _| {}).unwrap();
            assert_eq!(finish(&mut dev).unwrap().error, 0);
            dev.write_reg(addr::LAYER_K, replay_k as u32);
            dev.write_reg(addr::LAYER_N, replay_n);
            dev.write_reg(addr::OP, op::REPLAY);
            dev.write_reg(addr::CTRL, ctrl::AP_START);
            let got = dev.pop_output(usize::MAX);
            let status = finish(&mut dev).unwrap();
            if ok {
                assert_eq!((status.error, got), (0, vec![k as u32; 3 * m]), "n {n}");
            } else {
                assert_eq!((status.error, got.len()), (err::DESCRIPTOR, 0), "n {n} replay {replay_n} K {replay_k}");
            }
        }
    }

    #[test]
    fn a_bitstream_of_an_older_protocol_is_refused_naming_version() {
        let d = tiny();
        let mut dev = GoldenDevice::new(&d).with_version(0x0002_0000);
        let e = identify(&mut dev, &d).unwrap_err();
        assert!(
            matches!(e, ProtocolError::Identity { register: "VERSION", expected: 0x0003_0000, got: 0x0002_0000 }),
            "{e}"
        );
        assert!(e.to_string().contains("VERSION reads 0x00020000, expected 0x00030000"), "{e}");
        // A minor version keeps the protocol.
        identify(&mut GoldenDevice::new(&d).with_version(0x0003_0001), &d).unwrap();
    }

    #[test]
    fn a_device_of_another_configuration_is_refused_naming_the_register() {
        let d = tiny();
        let mut other = d.config.clone();
        other.rows += 1;
        let other = other.validate().unwrap();
        let mut dev = GoldenDevice::new(&other);
        let e = identify(&mut dev, &d).unwrap_err();
        assert!(matches!(e, ProtocolError::Identity { register: "CFG_HASH", .. }), "{e}");
    }

    #[test]
    fn error_bits_are_named() {
        assert_eq!(decode_error(err::DESCRIPTOR | err::STREAM), "descriptor, stream");
    }
}
