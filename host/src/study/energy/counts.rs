//! Operation counts of layer calls, taken from the call as sent and the device's result.
//!
//! The array's own counters (CYCLES, SPIKES, ACCUMULATES, checked against the RTL in
//! cosimulation) are used as they are; everything else is counted here on the host from the same
//! job and result, so the golden model and the RTL-visible counters keep their meaning.

use serde::Serialize;
use spikeq_hdl::{Derived, Golden, LayerRun, OutputMode, PeKind};

use crate::device::Traffic;
use spikeq_hdl::Layer;

/// What one accelerator did, summed over calls. Widths are not stored: they are the array's
/// ([`Derived`]) and the same for every call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpCounts {
    /// Token rows run (N summed over calls).
    pub tokens: u64,
    /// Outputs returned (N × M summed over calls).
    pub outputs: u64,
    /// Additions of a weight into an accumulator: one per burst per row (spike PE: a set bit of a
    /// code's magnitude, the weight shifted by its position) or one per multiply-accumulate (MAC
    /// PE) — the ACCUMULATES counter.
    pub accumulates: u64,
    /// Code × weight multiplications (MAC PE only): one per multiply-accumulate.
    pub multiplies: u64,
    /// Fire mode: membrane loads `|V|·2^F + th/2` (one addition per output).
    pub membrane_loads: u64,
    /// Fire mode: membrane-against-threshold comparisons (one per spike fired, plus the failing
    /// one unless the count saturated at Qy).
    pub compares: u64,
    /// Fire mode: threshold subtractions (one per spike fired).
    pub subtracts: u64,
    /// Floating-point multiplications that bring an output back to a real value: `s_x·s_w·V`
    /// (two per output, raw mode) or `c·s_y` (one per output, fire mode).
    pub dequant_mults: u64,
    /// Bits read from the weight memory. Spike PE: one weight per row per non-zero code (a lane's
    /// memory is read when the lane takes its next code, a salient entry's when the salient path
    /// takes it). MAC PE: one lane-group word per row per lane group.
    pub weight_bits_read: u64,
    /// Bits read from the code buffer. Spike PE: one list entry per tile per non-zero lane code,
    /// one salient queue entry per tile per salient code. MAC PE: one lane-group word per tile per
    /// group.
    pub code_bits_read: u64,
    /// Bytes on the streams, both directions (weights, thresholds, codes, outputs).
    pub stream_bytes: u64,
}

impl std::ops::AddAssign for OpCounts {
    fn add_assign(&mut self, o: Self) {
        self.tokens += o.tokens;
        self.outputs += o.outputs;
        self.accumulates += o.accumulates;
        self.multiplies += o.multiplies;
        self.membrane_loads += o.membrane_loads;
        self.compares += o.compares;
        self.subtracts += o.subtracts;
        self.dequant_mults += o.dequant_mults;
        self.weight_bits_read += o.weight_bits_read;
        self.code_bits_read += o.code_bits_read;
        self.stream_bytes += o.stream_bytes;
    }
}

/// Bits of one code memory word: a lane-group word of codes (MAC PE) or one entry of a lane's code
/// list (spike PE), [`Derived::code_word_bits`].
pub fn code_word_bits(d: &Derived) -> u64 {
    d.code_word_bits.into()
}

/// Bits of one salient queue entry (lane group, lane, magnitude, sign) as the generated queue
/// stores them, [`Derived::salient_entry_bits`] (0 for an array without a salient queue).
pub fn salient_entry_bits(d: &Derived) -> u64 {
    d.salient_entry_bits.into()
}

/// Bytes of the code buffer: one word per lane group of the largest layer (MAC PE), or one list
/// of that many entries per lane (spike PE).
pub fn code_memory_bytes(d: &Derived) -> f64 {
    let words = match d.config.pe {
        PeKind::Mac => d.groups_max as f64,
        PeKind::Spike => d.groups_max as f64 * d.config.lanes as f64,
    };
    words * code_word_bits(d) as f64 / 8.0
}

/// Bytes of the weight memory of the whole array.
pub fn weight_memory_bytes(d: &Derived) -> f64 {
    d.weight_memory_bits as f64 / 8.0
}

/// Counts of one layer call: `job` as the executor sent it, `run` as the device answered,
/// `traffic` the stream bytes of the call. `g` is the array's golden model (for the code loader's
/// split of each token into listed lane codes and salient entries, and the weight reads).
pub fn count_layer(g: &Golden, job: &Layer<'_>, run: &LayerRun, traffic: Traffic) -> OpCounts {
    let d = g.derived();
    let c = &d.config;
    let (m, k) = (job.m as u64, job.k);
    let n = (job.codes.len() / k) as u64;
    let groups = k.div_ceil(c.lanes as usize) as u64;
    let tiles = job.m.div_ceil(c.rows as usize) as u64;

    let (weight_bits_read, code_bits_read) = match c.pe {
        PeKind::Mac => {
            let word = c.lanes as u64 * d.weight_bits as u64;
            (m * n * groups * word, tiles * n * groups * code_word_bits(d))
        }
        PeKind::Spike => {
            // Per token: weights read per row, and how many of them were salient entries.
            let (reads, salient) = job.codes.chunks_exact(k).fold((0u64, 0u64), |(r, s), t| {
                let cost = g.token_view(t).cost;
                (r + cost.weight_reads, s + cost.salient_entries)
            });
            let listed = reads - salient;
            (m * reads * d.weight_bits as u64, tiles * (listed * code_word_bits(d) + salient * salient_entry_bits(d)))
        }
    };

    let mut counts = OpCounts {
        tokens: n,
        outputs: n * m,
        accumulates: run.counters.accumulates,
        multiplies: if c.pe == PeKind::Mac { run.counters.accumulates } else { 0 },
        weight_bits_read,
        code_bits_read,
        stream_bytes: traffic.h2c + traffic.c2h,
        ..OpCounts::default()
    };
    match job.mode {
        OutputMode::Raw => counts.dequant_mults = 2 * n * m,
        OutputMode::Fire => {
            counts.dequant_mults = n * m;
            counts.membrane_loads = n * m;
            for &out in &run.outputs {
                let spikes = out.unsigned_abs() as u64;
                counts.subtracts += spikes;
                counts.compares += spikes + u64::from(spikes < d.qy as u64);
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {

    use spikeq_hdl::{ArrayConfig, PeKind};

    use super::*;
    use crate::device::golden::GoldenTransport;
    use crate::device::Accelerator;

    fn tiny(pe: PeKind) -> Derived {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny.toml")).unwrap();
        let mut c = ArrayConfig::from_toml(&text).unwrap();
        c.pe = pe;
        // A buffer for the 3 tokens below (tiny's own holds 2, to fit the UP5K).
        c.code_buffer_tokens = 4;
        if pe == PeKind::Mac {
            c.output_modes = vec![OutputMode::Raw];
        }
        c.validate().unwrap()
    }

    /// Spikes of one code as the contract defines them: |q| for a lane code, the sum of the
    /// radix-2^(ba-1) digits for a salient one.
    fn spikes(d: &Derived, q: i8) -> u64 {
        let (mut a, r) = (q.unsigned_abs() as u64, 1u64 << d.digit_shift);
        if a <= d.qa as u64 {
            return a;
        }
        let mut s = 0;
        while a > 0 {
            s += a % r;
            a /= r;
        }
        s
    }

    /// Runs one call on a real golden device and returns its counts, checking the result against
    /// the register path first.
    fn golden_call(d: &Derived, m: usize, k: usize, codes: &[i8], mode: OutputMode) -> (OpCounts, LayerRun) {
        let w: Vec<i8> = (0..m * k).map(|i| ((i * 5 + 1) % 15) as i8 - 7).collect();
        let th: Vec<u64> = (0..m).map(|r| 40 + 23 * r as u64).collect();
        let job = Layer { m, k, weights: &w, thresholds: (mode == OutputMode::Fire).then_some(&th[..]), mode, codes };
        let mut acc = Accelerator::open(GoldenTransport::new(d), d).unwrap();
        acc.force_register_path();
        let run = acc.run_layer(&job).unwrap();
        assert!(!run.flags.salient_overflow && !run.flags.code_range);
        (count_layer(&Golden::new(d), &job, &run, acc.traffic), run)
    }

    // K = 13 (4 lane groups, the last one partial), M = 10 (3 row tiles, the last partial), 3
    // tokens with 0..=2 salient codes each (tiny's salient budget is 4).
    const K: usize = 13;
    const M: usize = 10;
    const CODES: [i8; 39] = [
        0, 1, -2, 3, 7, -7, 0, 0, 5, -1, 2, 0, 4, //
        90, 1, 0, 0, 0, -3, 6, 0, 0, 0, -127, 2, 1, //
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -9,
    ];

    #[test]
    fn spike_counts_follow_the_contract() {
        let d = tiny(PeKind::Spike);
        let (n, tiles) = (3u64, M.div_ceil(4) as u64);
        let salient = CODES.iter().filter(|q| q.unsigned_abs() as i32 > d.qa).count() as u64;
        let listed = CODES.iter().filter(|&&q| q != 0 && q.unsigned_abs() as i32 <= d.qa).count() as u64;
        let bursts: u64 = CODES.iter().map(|q| u64::from(q.unsigned_abs().count_ones())).sum();
        let spike_sum: u64 = CODES.iter().map(|&q| spikes(&d, q)).sum();
        for mode in [OutputMode::Raw, OutputMode::Fire] {
            let (c, run) = golden_call(&d, M, K, &CODES, mode);
            assert_eq!(c.tokens, n);
            assert_eq!(c.outputs, n * M as u64);
            assert_eq!(c.accumulates, bursts * M as u64, "one add per set bit of |q| per row");
            assert_eq!(run.counters.spikes, spike_sum * tiles, "SPIKES counts the contract's spikes in every tile");
            assert_eq!(c.multiplies, 0);
            assert_eq!(
                c.weight_bits_read,
                M as u64 * (listed + salient) * 4,
                "one int4 weight per row per non-zero code"
            );
            assert_eq!(c.code_bits_read, tiles * (listed * code_word_bits(&d) + salient * salient_entry_bits(&d)));
            // int4: 8 weights per word, per row; codes 4 per word, once (protocol v3: the 3 tokens
            // fit tiny's code buffer, later tiles REPLAY them); outputs per mode.
            let (load, out_words) = match mode {
                OutputMode::Raw => (M * K.div_ceil(8), n * M as u64),
                OutputMode::Fire => (M * K.div_ceil(8) + M, n * 3), // 4 codes per word: one word per tile
            };
            assert!(n <= u64::from(d.config.code_buffer_tokens));
            assert_eq!(c.stream_bytes, 4 * (load as u64 + n * K.div_ceil(4) as u64 + out_words));
            match mode {
                OutputMode::Raw => {
                    assert_eq!(
                        (c.dequant_mults, c.compares, c.subtracts, c.membrane_loads),
                        (2 * n * M as u64, 0, 0, 0)
                    );
                }
                OutputMode::Fire => {
                    let fired: u64 = run.outputs.iter().map(|o| o.unsigned_abs() as u64).sum();
                    let saturated = run.outputs.iter().filter(|o| o.abs() == d.qy).count() as u64;
                    assert!(fired > 0 && saturated < c.outputs, "the thresholds exercise both exits of the fire loop");
                    assert_eq!(c.subtracts, fired);
                    assert_eq!(c.compares, fired + c.outputs - saturated);
                    assert_eq!((c.membrane_loads, c.dequant_mults), (n * M as u64, n * M as u64));
                }
            }
        }
    }

    #[test]
    fn mac_counts_are_one_multiply_per_weight_and_token() {
        let d = tiny(PeKind::Mac);
        let (c, _) = golden_call(&d, M, K, &CODES, OutputMode::Raw);
        assert_eq!(c.multiplies, 3 * (M * K) as u64);
        assert_eq!(c.accumulates, c.multiplies);
        assert_eq!(c.weight_bits_read, M as u64 * 3 * K.div_ceil(4) as u64 * 16, "no salient port");
        assert_eq!(c.code_bits_read, 3 * 3 * K.div_ceil(4) as u64 * 4 * 8, "8-bit lane codes, per tile");
    }
}
