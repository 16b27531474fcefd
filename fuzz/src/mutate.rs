//! The mutation engine: byte-level mutations in the style of AFL/libFuzzer (bit flips, random
//! bytes, interesting integers, arithmetic, insert, delete, duplicate, splice with another corpus
//! entry), stacked 1 to 6 at a time, plus the target's own structure-aware mutation. Seeded: one
//! seed gives the same inputs on every machine.

use rand::rngs::StdRng;
use rand::Rng;

/// Integers at the edges of every width, the values that find off-by-one and overflow bugs.
pub const INTERESTING: [u64; 24] = [
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    16,
    31,
    32,
    64,
    127,
    128,
    255,
    256,
    1024,
    32767,
    65535,
    65536,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0x7FFF_FFFF_FFFF_FFFF,
    u64::MAX,
];

/// An interesting value, sometimes negated or nudged by one.
pub fn interesting(rng: &mut StdRng) -> u64 {
    let v = INTERESTING[rng.gen_range(0..INTERESTING.len())];
    match rng.gen_range(0..4) {
        0 => v.wrapping_neg(),
        1 => v.wrapping_add(1),
        2 => v.wrapping_sub(1),
        _ => v,
    }
}

/// One byte-level mutation of `data` in place (the result may be empty); `other` is another
/// corpus entry for splicing.
pub fn mutate_bytes(data: &mut Vec<u8>, other: &[u8], rng: &mut StdRng) {
    let len = data.len();
    let pos = |rng: &mut StdRng, len: usize| if len == 0 { 0 } else { rng.gen_range(0..len) };
    match rng.gen_range(0..9) {
        0 if len > 0 => {
            let i = pos(rng, len);
            data[i] ^= 1 << rng.gen_range(0..8);
        }
        1 if len > 0 => {
            let i = pos(rng, len);
            data[i] = rng.gen();
        }
        2 => {
            // An interesting integer of 1, 2, 4 or 8 bytes, little- or big-endian.
            let width = [1, 2, 4, 8][rng.gen_range(0..4)];
            let v = interesting(rng);
            let bytes = if rng.gen_bool(0.8) { v.to_le_bytes() } else { (v << (64 - 8 * width)).to_be_bytes() };
            let i = pos(rng, len.saturating_sub(width - 1).max(1)).min(len);
            let end = (i + width).min(len);
            data[i..end].copy_from_slice(&bytes[..end - i]);
        }
        3 if len >= 4 => {
            // Small arithmetic on a little-endian u32.
            let i = pos(rng, len - 3);
            let v = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
            let d = rng.gen_range(1..=35u32);
            let v = if rng.gen_bool(0.5) { v.wrapping_add(d) } else { v.wrapping_sub(d) };
            data[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        4 => {
            let i = pos(rng, len + 1).min(len);
            let n = rng.gen_range(1..=16);
            let fill: Vec<u8> =
                if rng.gen_bool(0.5) { (0..n).map(|_| rng.gen()).collect() } else { vec![rng.gen(); n] };
            data.splice(i..i, fill);
        }
        5 if len > 0 => {
            let i = pos(rng, len);
            let n = rng.gen_range(1..=(len - i).min(64));
            data.drain(i..i + n);
        }
        6 if len > 0 => {
            let i = pos(rng, len);
            let n = rng.gen_range(1..=(len - i).min(64));
            let chunk = data[i..i + n].to_vec();
            let j = pos(rng, len + 1).min(len);
            data.splice(j..j, chunk);
        }
        7 if !other.is_empty() => {
            // Splice: a prefix of this input, a suffix of the other.
            let i = pos(rng, len + 1).min(len);
            let j = pos(rng, other.len());
            data.truncate(i);
            data.extend_from_slice(&other[j..]);
        }
        _ => {
            // Truncate (also what the guarded arms fall back to on inputs too short for them).
            if len > 0 {
                data.truncate(pos(rng, len));
            } else {
                data.push(rng.gen());
            }
        }
    }
}
