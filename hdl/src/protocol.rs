//! The register protocol of the array, written once: how software identifies a device, loads a
//! row tile, runs tokens through it and reads what the call cost.
//!
//! Every way of talking to an array implements [`Bus`] and calls these steps: the host's
//! transports (the golden device, the Verilator model, the XDMA device files), the cosimulation
//! harness, and the recorder that writes the Icarus testbench program. A change to the protocol is
//! therefore one change here, and every bus follows it.
//!
//! A call is `load` (the tile's weights and thresholds), `run` (N tokens in, N output packets
//! out), then `finish` (counters and the ERROR register, which it clears).

use thiserror::Error;

use crate::config::{Derived, OutputMode};
use crate::golden::{Counters, Tile};
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
