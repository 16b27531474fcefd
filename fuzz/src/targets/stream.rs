//! Decoders of device words: the stream unpackers (`hdl::stream`) and the golden device
//! (`hdl::device`), which decodes register writes and LOAD/RUN packets as the RTL does.
//!
//! The input picks one of the long cosimulation's configurations (every weight format, both PE
//! kinds) and is then read as a program of operations: register writes and reads, packets with
//! and without TLAST, output pops, and direct unpacking of words. Properties: unpacked weights
//! are what their bit patterns say (re-packing gives the same values back), codes and outputs
//! round-trip word for word, and the device never holds more output words than the RUN packets
//! it was given can produce.

use spikeq_hdl::device::GoldenDevice;
use spikeq_hdl::{stream, Derived, OutputMode};

use crate::Target;

/// See the module documentation.
#[derive(Debug)]
pub struct StreamTarget {
    configs: Vec<(Derived, GoldenDevice)>,
}

impl Default for StreamTarget {
    fn default() -> Self {
        let configs = spikeq_tb::sweep::configs().into_iter().map(|d| (d.clone(), GoldenDevice::new(&d))).collect();
        StreamTarget { configs }
    }
}

/// A little-endian cursor over the input that yields zeros past its end.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn words(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.u32()).collect()
    }
}

impl Target for StreamTarget {
    fn name(&self) -> &'static str {
        "stream"
    }

    fn max_len(&self) -> usize {
        4096
    }

    /// Counted as accepted: programs that made the device compute (it sent output words).
    fn run(&self, input: &[u8]) -> bool {
        let mut c = Cursor(input);
        let (d, fresh) = &self.configs[c.u8() as usize % self.configs.len()];
        let mut dev = fresh.clone();
        let (mut max_outputs, mut computed) = (0usize, false);
        while !c.0.is_empty() {
            match c.u8() % 8 {
                // Register writes are weighted up: they set the descriptor the packets follow.
                0 | 1 => {
                    let (a, v) = (u32::from(c.u8() % 64) * 4, c.u32());
                    dev.write_reg(a, v);
                }
                2 => {
                    let _ = dev.read_reg(u32::from(c.u8()) * 4);
                }
                3 | 4 => {
                    let n = c.u8() as usize;
                    let words = c.words(n);
                    max_outputs += stream::output_words(d.config.rows as usize, OutputMode::Raw);
                    if c.u8() & 1 == 0 {
                        dev.push_packet(&words);
                    } else {
                        dev.push_unterminated(&words);
                    }
                }
                5 => {
                    let n = c.u8() as usize;
                    let before = dev.pending_output();
                    assert_eq!(dev.pop_output(n).len(), n.min(before));
                }
                6 => {
                    let (m, k) = (c.u8() as usize % 16 + 1, c.u16() as usize % 512 + 1);
                    let words = c.words(m * stream::weight_words_per_row(d, k));
                    let w = stream::unpack_weights(d, &words, m, k);
                    assert_eq!(w.len(), m * k);
                    let bits = d.weight_bits;
                    let lo = if bits == 1 { -1 } else { -(1i32 << (bits - 1)) };
                    let hi = if bits == 1 { 1 } else { (1i32 << (bits - 1)) - 1 };
                    assert!(w.iter().all(|&x| (lo..=hi).contains(&i32::from(x))), "weight outside {bits}-bit codes");
                    let again = stream::pack_load(d, &w, m, k, None);
                    assert_eq!(stream::unpack_weights(d, &again, m, k), w, "re-packed weights differ");
                }
                _ => {
                    let n = c.u8() as usize % 64;
                    let words = c.words(n);
                    assert_eq!(stream::pack_codes(&stream::unpack_codes(&words, 4 * n)), words);
                    for mode in [OutputMode::Raw, OutputMode::Fire] {
                        let per = stream::outputs_per_word(mode);
                        let out = stream::unpack_outputs(&words, n * per, mode);
                        assert_eq!(stream::pack_outputs(&out, mode), words, "{mode:?}");
                    }
                }
            }
            assert!(dev.pending_output() <= max_outputs, "output words without RUN packets");
            computed |= dev.pending_output() > 0;
        }
        computed
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use spikeq_hdl::regmap::{addr, ctrl, op};

    use super::*;

    /// The corpus of this target: for each configuration of the sweep, the program of one real
    /// random call as the host sends it (descriptor writes, the LOAD packet, the RUN packets, the
    /// output pops), in the operation encoding [`StreamTarget::run`] reads. Written to
    /// `fuzz/corpus/stream/` and kept current by a test.
    fn seeds() -> Vec<(String, Vec<u8>)> {
        let mut rng = StdRng::seed_from_u64(16);
        spikeq_tb::sweep::configs()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                // Calls small enough that every packet fits the one-byte word count of a packet op.
                let case = spikeq_tb::cases::random(d, &mut rng, 24);
                let mut p = vec![i as u8];
                let write = |p: &mut Vec<u8>, a: u32, v: u32| {
                    p.extend([0, (a / 4) as u8]);
                    p.extend(v.to_le_bytes());
                };
                let packet = |p: &mut Vec<u8>, words: &[u32]| {
                    p.extend([3, u8::try_from(words.len()).expect("a small call")]);
                    p.extend(words.iter().flat_map(|w| w.to_le_bytes()));
                    p.push(0); // TLAST on the last word
                };
                write(&mut p, addr::LAYER_K, case.k as u32);
                write(&mut p, addr::LAYER_M, case.m as u32);
                write(&mut p, addr::MODE, case.mode.code());
                write(&mut p, addr::OP, op::LOAD);
                write(&mut p, addr::CTRL, ctrl::AP_START);
                packet(&mut p, &stream::pack_load(d, &case.weights, case.m, case.k, case.thresholds.as_deref()));
                write(&mut p, addr::OP, op::RUN);
                write(&mut p, addr::LAYER_N, case.n() as u32);
                write(&mut p, addr::CTRL, ctrl::AP_START);
                for token in case.codes.chunks(case.k) {
                    packet(&mut p, &stream::pack_codes(token));
                    p.extend([5, stream::output_words(case.m, case.mode) as u8]);
                }
                (format!("{:02}_{}.bin", i, d.config.name), p)
            })
            .collect()
    }

    /// The committed seeds are what [`seeds`] makes, so they stay real protocol traffic when the
    /// packing or the sweep changes. `SPIKEQ_FUZZ_WRITE_SEEDS=1` rewrites them.
    #[test]
    fn committed_stream_seeds_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/stream");
        for (name, bytes) in seeds() {
            let path = dir.join(&name);
            if std::env::var_os("SPIKEQ_FUZZ_WRITE_SEEDS").is_some() {
                std::fs::write(&path, &bytes).unwrap();
            }
            let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(committed == bytes, "{} is stale: rerun with SPIKEQ_FUZZ_WRITE_SEEDS=1", path.display());
        }
    }

    /// A seed drives the golden device through a whole call without a descriptor or framing
    /// error and with outputs waiting (so the target's programs reach the compute, not only the
    /// framing checks).
    #[test]
    fn a_seed_program_runs_a_real_call() {
        let t = StreamTarget::default();
        let (_, seed) = &seeds()[2];
        let (d, fresh) = &t.configs[seed[0] as usize];
        let mut dev = fresh.clone();
        assert_eq!(dev.read_reg(addr::ERROR), 0);
        // Replay all but the pops, then check nothing was flagged and outputs are waiting.
        let mut c = Cursor(&seed[1..]);
        while !c.0.is_empty() {
            match c.u8() {
                0 => {
                    let (a, v) = (u32::from(c.u8()) * 4, c.u32());
                    dev.write_reg(a, v);
                }
                3 => {
                    let n = c.u8() as usize;
                    let words = c.words(n);
                    assert_eq!(c.u8(), 0);
                    dev.push_packet(&words);
                }
                5 => {
                    c.u8();
                }
                other => panic!("unexpected op {other}"),
            }
        }
        let framing = spikeq_hdl::regmap::err::DESCRIPTOR | spikeq_hdl::regmap::err::STREAM;
        assert_eq!(dev.read_reg(addr::ERROR) & framing, 0, "{}", d.config.name);
        assert!(dev.pending_output() > 0);
        t.run(seed);
    }
}
