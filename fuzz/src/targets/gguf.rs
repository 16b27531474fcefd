//! GGUF files: bytes → `Gguf::from_bytes`, then everything that reads an accepted file: the
//! metadata accessors, every tensor's dequantization (the fast path must equal the literal
//! reference bit for bit, or both NaN), the tokenizer builder and the Llama loader.
//!
//! The structure-aware mutation walks the header of the input and overwrites one of its integer
//! fields (a count, a string length, a value type, a dimension, a tensor type or offset) with an
//! interesting value: random bytes rarely hit those, and they are what a reader must distrust.

use rand::rngs::StdRng;
use rand::Rng;
use spikeq_host::llm::model::gguf::Gguf;
use spikeq_host::llm::model::llama::{Llama, LlamaConfig};
use spikeq_host::llm::model::tokenizer::Tokenizer;

use crate::Target;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct GgufTarget;

/// Equal bits, or both NaN (a NaN's payload may differ between f16/bf16 conversions).
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

impl Target for GgufTarget {
    fn name(&self) -> &'static str {
        "gguf"
    }

    fn max_len(&self) -> usize {
        64 << 10
    }

    fn run(&self, input: &[u8]) -> bool {
        let Ok(g) = Gguf::from_bytes(input.to_vec()) else { return false };
        for v in g.metadata().values() {
            let _ = (v.as_u64(), v.as_f64(), v.as_str(), v.as_array().map(<[_]>::len));
        }
        for t in g.tensors() {
            let (dims, fast) = g.dequantize(&t.name).expect("an accepted tensor dequantizes");
            assert_eq!(dims, t.dims);
            assert_eq!(fast.len() as u64, t.n_elements(), "{}", t.name);
            let mut reference = vec![0f32; fast.len()];
            t.ty.dequantize_ref(g.tensor_bytes(t), &mut reference);
            if let Some(i) = fast.iter().zip(&reference).position(|(&a, &b)| !same(a, b)) {
                panic!("{} ({}): element {i} fast {:e}, reference {:e}", t.name, t.ty, fast[i], reference[i]);
            }
        }
        if let Ok(tok) = Tokenizer::from_gguf(&g) {
            let text = "the in 1 a\u{e9}";
            let ids = tok.encode(text).expect("encodes");
            assert!(ids.iter().all(|&id| (id as usize) < tok.vocab_size()));
            let _ = tok.decode(&ids).expect("ids from encode decode");
            assert!((tok.eos() as usize) < tok.vocab_size());
        }
        if LlamaConfig::from_gguf(&g).is_ok() {
            let _ = Llama::from_gguf(&g);
        }
        true
    }

    fn structured(&self, input: &[u8], rng: &mut StdRng) -> Option<Vec<u8>> {
        let fields = header_fields(input);
        if fields.is_empty() {
            return None;
        }
        let (at, width) = fields[rng.gen_range(0..fields.len())];
        let mut out = input.to_vec();
        let v = match rng.gen_range(0..4) {
            // Off by a little from the present value (lengths, counts, offsets).
            0 => {
                let mut cur = [0u8; 8];
                cur[..width].copy_from_slice(&input[at..at + width]);
                let d = rng.gen_range(1..=64u64);
                let cur = u64::from_le_bytes(cur);
                if rng.gen_bool(0.5) {
                    cur.wrapping_add(d)
                } else {
                    cur.wrapping_sub(d)
                }
            }
            1 => rng.gen_range(0..=40), // a value type or ggml type id, valid or not
            _ => crate::mutate::interesting(rng),
        };
        out[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
        Some(out)
    }
}

/// (offset, width) of the integer fields of a GGUF header, as far as it can be walked.
fn header_fields(b: &[u8]) -> Vec<(usize, usize)> {
    let mut f = Vec::new();
    let mut pos = 8usize; // magic, version
    let rd = |pos: usize, w: usize| -> Option<u64> {
        let s = b.get(pos..pos.checked_add(w)?)?;
        let mut a = [0u8; 8];
        a[..w].copy_from_slice(s);
        Some(u64::from_le_bytes(a))
    };
    let mut walk = || -> Option<()> {
        f.push((4, 4));
        let n_tensors = rd(pos, 8)?;
        f.push((pos, 8));
        let n_kv = rd(pos + 8, 8)?;
        f.push((pos + 8, 8));
        pos += 16;
        // Skips one value of type `ty`, recording its length and type fields.
        fn value(b: &[u8], f: &mut Vec<(usize, usize)>, pos: &mut usize, ty: u64, depth: u32) -> Option<()> {
            let rd = |pos: usize, w: usize| -> Option<u64> {
                let s = b.get(pos..pos.checked_add(w)?)?;
                let mut a = [0u8; 8];
                a[..w].copy_from_slice(s);
                Some(u64::from_le_bytes(a))
            };
            match ty {
                0 | 1 | 7 => *pos += 1,
                2 | 3 => *pos += 2,
                4..=6 => *pos += 4,
                10..=12 => *pos += 8,
                8 => {
                    let n = rd(*pos, 8)?;
                    f.push((*pos, 8));
                    *pos = pos.checked_add(8)?.checked_add(usize::try_from(n).ok()?)?;
                }
                9 if depth < 4 => {
                    let elem = rd(*pos, 4)?;
                    f.push((*pos, 4));
                    let n = rd(*pos + 4, 8)?;
                    f.push((*pos + 4, 8));
                    *pos += 12;
                    for _ in 0..n.min(64) {
                        value(b, f, pos, elem, depth + 1)?;
                    }
                    if n > 64 {
                        return None; // long arrays (vocabularies): stop walking here
                    }
                }
                _ => return None,
            }
            (*pos <= b.len()).then_some(())
        }
        for _ in 0..n_kv.min(1024) {
            value(b, &mut f, &mut pos, 8, 0)?; // the key
            let ty = rd(pos, 4)?;
            f.push((pos, 4));
            pos += 4;
            value(b, &mut f, &mut pos, ty, 0)?;
        }
        for _ in 0..n_tensors.min(1024) {
            value(b, &mut f, &mut pos, 8, 0)?; // the name
            let n_dims = rd(pos, 4)?;
            f.push((pos, 4));
            pos += 4;
            for _ in 0..n_dims.min(8) {
                rd(pos, 8)?;
                f.push((pos, 8));
                pos += 8;
            }
            rd(pos + 4, 8)?;
            f.push((pos, 4));
            f.push((pos + 4, 8));
            pos += 12;
        }
        Some(())
    };
    let _ = walk();
    f.retain(|&(at, w)| at + w <= b.len());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walker must find the fields of a real seed, or the structure-aware mutation silently
    /// degrades to nothing.
    #[test]
    fn header_walker_finds_every_tensor_field_of_a_seed() {
        let seed = include_bytes!("../../corpus/gguf/one_q4_0_tensor.gguf");
        // version, 2 counts, then the tensor: name length, n_dims, 2 dims, type, offset.
        let f = header_fields(seed);
        assert_eq!(f, [(4, 4), (8, 8), (16, 8), (24, 8), (33, 4), (37, 8), (45, 8), (53, 4), (57, 8)]);
    }
}
