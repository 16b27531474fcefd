//! AXI4-Stream packing (docs/streams.md), the one implementation that the golden device, the
//! Icarus vectors, the cosimulation harness and the host driver all use.

use crate::config::{Derived, OutputMode, STREAM_BITS};

/// Words of one weight row of length K.
pub fn weight_words_per_row(d: &Derived, k: usize) -> usize {
    k.div_ceil(d.weights_per_word as usize)
}

/// The LOAD packet: M rows of K weights (each row on fresh words), then M thresholds in fire mode.
pub fn pack_load(d: &Derived, weights: &[i8], m: usize, k: usize, thresholds: Option<&[u64]>) -> Vec<u32> {
    let per = d.weights_per_word as usize;
    let fmt = d.config.weight_format;
    let bits = d.weight_bits;
    let mut out = Vec::with_capacity(m * weight_words_per_row(d, k) + thresholds.map_or(0, |t| t.len()));
    for row in weights.chunks_exact(k).take(m) {
        for chunk in row.chunks(per) {
            let mut w = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                w |= fmt.encode(c) << (i as u32 * bits);
            }
            out.push(w);
        }
    }
    if let Some(th) = thresholds {
        out.extend(th.iter().map(|&t| t as u32));
    }
    out
}

/// Inverse of the weight part of [`pack_load`] (for checks and the golden device).
pub fn unpack_weights(d: &Derived, words: &[u32], m: usize, k: usize) -> Vec<i8> {
    let per = d.weights_per_word as usize;
    let wpr = weight_words_per_row(d, k);
    let fmt = d.config.weight_format;
    let bits = d.weight_bits;
    let mut out = Vec::with_capacity(m * k);
    for r in 0..m {
        for kk in 0..k {
            let word = words.get(r * wpr + kk / per).copied().unwrap_or(0);
            out.push(fmt.decode(word >> ((kk % per) as u32 * bits)));
        }
    }
    out
}

/// Words of one token's codes.
pub fn code_words(k: usize) -> usize {
    k.div_ceil(4)
}

/// One token's codes, 8-bit two's complement, 4 per word, LSB first.
pub fn pack_codes(codes: &[i8]) -> Vec<u32> {
    codes.chunks(4).map(|c| c.iter().enumerate().fold(0u32, |w, (i, &b)| w | (b as u8 as u32) << (8 * i))).collect()
}

/// Inverse of [`pack_codes`].
pub fn unpack_codes(words: &[u32], k: usize) -> Vec<i8> {
    (0..k).map(|i| (words.get(i / 4).copied().unwrap_or(0) >> (8 * (i % 4))) as u8 as i8).collect()
}

/// Outputs one stream word carries: a 32-bit V in raw mode, four 8-bit codes in fire mode.
pub fn outputs_per_word(mode: OutputMode) -> usize {
    match mode {
        OutputMode::Raw => 1,
        OutputMode::Fire => 4,
    }
}

/// Words of one token's outputs.
pub fn output_words(m: usize, mode: OutputMode) -> usize {
    m.div_ceil(outputs_per_word(mode))
}

/// One token's outputs as the array sends them.
pub fn pack_outputs(values: &[i32], mode: OutputMode) -> Vec<u32> {
    match mode {
        OutputMode::Raw => values.iter().map(|&v| v as u32).collect(),
        OutputMode::Fire => {
            let codes: Vec<i8> = values.iter().map(|&v| v as i8).collect();
            pack_codes(&codes)
        }
    }
}

/// One token's outputs from the words the array sent.
pub fn unpack_outputs(words: &[u32], m: usize, mode: OutputMode) -> Vec<i32> {
    match mode {
        OutputMode::Raw => words.iter().take(m).map(|&w| w as i32).collect(),
        OutputMode::Fire => unpack_codes(words, m).into_iter().map(i32::from).collect(),
    }
}

const _: () = assert!(STREAM_BITS == 32, "packing assumes 32-bit stream words");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ALL_FORMATS;

    #[test]
    fn weights_round_trip_for_every_format() {
        for f in ALL_FORMATS {
            let mut c = crate::config::tiny().config;
            c.weight_format = f;
            let d = c.validate().unwrap();
            let q = f.qmax();
            let (m, k) = (3, 13);
            let w: Vec<i8> = (0..m * k)
                .map(|i| {
                    if f == crate::WeightFormat::Binary {
                        if i % 3 == 0 {
                            -1
                        } else {
                            1
                        }
                    } else {
                        ((i as i32 % (2 * q + 1)) - q) as i8
                    }
                })
                .collect();
            let words = pack_load(&d, &w, m, k, None);
            assert_eq!(words.len(), m * weight_words_per_row(&d, k));
            assert_eq!(unpack_weights(&d, &words, m, k), w, "{f}");
        }
    }

    #[test]
    fn codes_and_outputs_round_trip() {
        let codes: Vec<i8> = vec![-127, -1, 0, 1, 127, 5, -8];
        let words = pack_codes(&codes);
        assert_eq!(words.len(), code_words(codes.len()));
        assert_eq!(words[0], 0x0100_FF81);
        assert_eq!(unpack_codes(&words, 7), codes);
        let v = vec![-5, 7, 0, -127, 3];
        for mode in [OutputMode::Raw, OutputMode::Fire] {
            let w = pack_outputs(&v, mode);
            assert_eq!(w.len(), output_words(v.len(), mode));
            assert_eq!(unpack_outputs(&w, v.len(), mode), v);
        }
    }
}
