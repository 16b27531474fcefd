//! ggml tensor types: how each block format llama.cpp writes packs its elements, and how to get
//! f32 back.
//!
//! One zero-sized type per format implements [`BlockFormat`] (after candle's `GgmlType`): the block
//! geometry, `dequantize_ref`, a statement-by-statement transcription of ggml's `dequantize_row_*`
//! that serves as the specification, and `dequantize`, the path the loader runs. A format whose
//! literal loop is slow enough to show in load time overrides `dequantize` with a restructured one;
//! `host/tests/ggml.rs` checks fast against reference bit for bit for every format, and the
//! reference against the `gguf` Python package's numpy dequantizers (by ggml's authors).
//!
//! The f32 arithmetic follows ggml's order of operations exactly and never fuses a multiply-add, so
//! results are bit-identical to `gguf.quants`, and to llama.cpp's own F32 conversion of real files
//! (docs/model.md, "Files made by llama.cpp").
//! Every byte pattern is a valid block (a NaN or infinite f16 scale simply propagates): given whole
//! blocks, dequantization cannot fail.

use std::fmt;

use half::slice::HalfFloatSliceExt;

/// Elements of a K-quant super-block (`QK_K`).
const QK_K: usize = 256;

/// One ggml block format.
pub trait BlockFormat {
    /// ggml's name for the type, as llama.cpp prints it.
    const NAME: &'static str;
    /// ggml's type id, as stored in GGUF tensor infos.
    const ID: u32;
    /// Elements per block: a tensor's row length must be a multiple of it.
    const BLOCK_LEN: usize;
    /// Bytes per block.
    const BLOCK_BYTES: usize;

    /// Dequantizes one block (`block.len() == BLOCK_BYTES`, `out.len() == BLOCK_LEN`), literally as
    /// ggml's reference C code does.
    fn dequantize_ref(block: &[u8], out: &mut [f32]);

    /// Dequantizes whole blocks (`bytes` holds `out.len() / BLOCK_LEN` of them): the loader's path.
    /// Same bits as [`Self::dequantize_ref`].
    fn dequantize(bytes: &[u8], out: &mut [f32]) {
        for (b, o) in bytes.chunks_exact(Self::BLOCK_BYTES).zip(out.chunks_exact_mut(Self::BLOCK_LEN)) {
            Self::dequantize_ref(b, o);
        }
    }
}

/// The f16 at `b[0..2]` (ggml's `GGML_FP16_TO_FP32`: exact).
fn f16(b: &[u8]) -> f32 {
    half::f16::from_le_bytes([b[0], b[1]]).to_f32()
}

/// The 6-bit scale and min `j` of a Q4_K/Q5_K block's 12 packed scale bytes (ggml's
/// `get_scale_min_k4`): eight of each, the first four in the low 6 bits of bytes 0..8, the last four
/// split over the nibbles of bytes 8..12 and the top 2 bits of bytes 0..8.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// IQ4_NL's non-linear 4-bit code book (ggml's `kvalues_iq4nl`), shared by IQ4_XS.
const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// 32-bit IEEE float.
#[derive(Debug)]
pub struct F32;

impl BlockFormat for F32 {
    const NAME: &'static str = "F32";
    const ID: u32 = 0;
    const BLOCK_LEN: usize = 1;
    const BLOCK_BYTES: usize = 4;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        out[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// 16-bit IEEE float.
#[derive(Debug)]
pub struct F16;

impl BlockFormat for F16 {
    const NAME: &'static str = "F16";
    const ID: u32 = 1;
    const BLOCK_LEN: usize = 1;
    const BLOCK_BYTES: usize = 2;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        out[0] = f16(b);
    }

    /// Runs of 64 through `half`'s slice conversion, which uses the CPU's F16C instructions where
    /// present (element by element, an F16 file's load is several times slower).
    fn dequantize(bytes: &[u8], out: &mut [f32]) {
        let mut run = [half::f16::ZERO; 64];
        for (b, o) in bytes.chunks(2 * run.len()).zip(out.chunks_mut(run.len())) {
            let run = &mut run[..o.len()];
            for (h, c) in run.iter_mut().zip(b.chunks_exact(2)) {
                *h = half::f16::from_le_bytes([c[0], c[1]]);
            }
            run.convert_to_f32_slice(o);
        }
    }
}

/// bfloat16: the top half of an f32 (ggml's `GGML_BF16_TO_FP32` shifts the bits, NaNs included).
#[derive(Debug)]
pub struct BF16;

impl BlockFormat for BF16 {
    const NAME: &'static str = "BF16";
    const ID: u32 = 30;
    const BLOCK_LEN: usize = 1;
    const BLOCK_BYTES: usize = 2;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        out[0] = f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16);
    }
}

/// 32 elements: f16 scale d, 16 bytes of nibbles (low nibbles are elements 0..16, high 16..32);
/// x = (q - 8) d.
#[derive(Debug)]
pub struct Q4_0;

impl BlockFormat for Q4_0 {
    const NAME: &'static str = "Q4_0";
    const ID: u32 = 2;
    const BLOCK_LEN: usize = 32;
    const BLOCK_BYTES: usize = 18;

    fn dequantize_ref(b: &[u8], y: &mut [f32]) {
        let d = f16(b);
        let qs = &b[2..18];
        for j in 0..16 {
            let x0 = (qs[j] & 0x0F) as i32 - 8;
            let x1 = (qs[j] >> 4) as i32 - 8;
            y[j] = x0 as f32 * d;
            y[j + 16] = x1 as f32 * d;
        }
    }
}

/// 32 elements: f16 scale d and min m, nibbles as Q4_0; x = q d + m.
#[derive(Debug)]
pub struct Q4_1;

impl BlockFormat for Q4_1 {
    const NAME: &'static str = "Q4_1";
    const ID: u32 = 3;
    const BLOCK_LEN: usize = 32;
    const BLOCK_BYTES: usize = 20;

    fn dequantize_ref(b: &[u8], y: &mut [f32]) {
        let (d, m) = (f16(b), f16(&b[2..]));
        let qs = &b[4..20];
        for j in 0..16 {
            let x0 = qs[j] & 0x0F;
            let x1 = qs[j] >> 4;
            y[j] = x0 as f32 * d + m;
            y[j + 16] = x1 as f32 * d + m;
        }
    }
}

/// 32 elements: f16 scale d, a u32 of fifth bits (bit j for element j), nibbles as Q4_0;
/// x = (q - 16) d.
#[derive(Debug)]
pub struct Q5_0;

impl BlockFormat for Q5_0 {
    const NAME: &'static str = "Q5_0";
    const ID: u32 = 6;
    const BLOCK_LEN: usize = 32;
    const BLOCK_BYTES: usize = 22;

    fn dequantize_ref(b: &[u8], y: &mut [f32]) {
        let d = f16(b);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        let qs = &b[6..22];
        for j in 0..16 {
            let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
            let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
            let x0 = ((qs[j] & 0x0F) | xh_0) as i32 - 16;
            let x1 = ((qs[j] >> 4) | xh_1) as i32 - 16;
            y[j] = x0 as f32 * d;
            y[j + 16] = x1 as f32 * d;
        }
    }

    fn dequantize(bytes: &[u8], out: &mut [f32]) {
        for (b, y) in bytes.chunks_exact(Self::BLOCK_BYTES).zip(out.chunks_exact_mut(Self::BLOCK_LEN)) {
            let d = f16(b);
            let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
            let (lo, hi) = y.split_at_mut(16);
            for (j, ((a, c), &q)) in lo.iter_mut().zip(hi).zip(&b[6..22]).enumerate() {
                let x0 = (u32::from(q & 0xF) | (((qh >> j) & 1) << 4)) as i32 - 16;
                let x1 = (u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4)) as i32 - 16;
                *a = x0 as f32 * d;
                *c = x1 as f32 * d;
            }
        }
    }
}

/// 32 elements: f16 scale d and min m, fifth bits and nibbles as Q5_0; x = q d + m.
#[derive(Debug)]
pub struct Q5_1;

impl BlockFormat for Q5_1 {
    const NAME: &'static str = "Q5_1";
    const ID: u32 = 7;
    const BLOCK_LEN: usize = 32;
    const BLOCK_BYTES: usize = 24;

    fn dequantize_ref(b: &[u8], y: &mut [f32]) {
        let (d, m) = (f16(b), f16(&b[2..]));
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let qs = &b[8..24];
        for j in 0..16 {
            let xh_0 = (((qh >> j) << 4) & 0x10) as u8;
            let xh_1 = ((qh >> (j + 12)) & 0x10) as u8;
            let x0 = (qs[j] & 0x0F) | xh_0;
            let x1 = (qs[j] >> 4) | xh_1;
            y[j] = x0 as f32 * d + m;
            y[j + 16] = x1 as f32 * d + m;
        }
    }

    fn dequantize(bytes: &[u8], out: &mut [f32]) {
        for (b, y) in bytes.chunks_exact(Self::BLOCK_BYTES).zip(out.chunks_exact_mut(Self::BLOCK_LEN)) {
            let (d, m) = (f16(b), f16(&b[2..]));
            let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            let (lo, hi) = y.split_at_mut(16);
            for (j, ((a, c), &q)) in lo.iter_mut().zip(hi).zip(&b[8..24]).enumerate() {
                let x0 = u32::from(q & 0xF) | (((qh >> j) & 1) << 4);
                let x1 = u32::from(q >> 4) | (((qh >> (j + 16)) & 1) << 4);
                *a = x0 as f32 * d + m;
                *c = x1 as f32 * d + m;
            }
        }
    }
}

/// 32 elements: f16 scale d, 32 signed bytes; x = q d.
#[derive(Debug)]
pub struct Q8_0;

impl BlockFormat for Q8_0 {
    const NAME: &'static str = "Q8_0";
    const ID: u32 = 8;
    const BLOCK_LEN: usize = 32;
    const BLOCK_BYTES: usize = 34;

    fn dequantize_ref(b: &[u8], y: &mut [f32]) {
        let d = f16(b);
        for j in 0..32 {
            y[j] = b[2 + j] as i8 as f32 * d;
        }
    }
}

/// 256 elements in 16 groups of 16: 16 bytes of 4-bit (scale, min) pairs, 64 bytes of 2-bit
/// quants, f16 d and dmin; x = d scale q - dmin min.
#[derive(Debug)]
pub struct Q2K;

impl BlockFormat for Q2K {
    const NAME: &'static str = "Q2_K";
    const ID: u32 = 10;
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = 84;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        let (scales, qs) = (&b[..16], &b[16..80]);
        let d = f16(&b[80..]);
        let min = f16(&b[82..]);
        let mut y = 0;
        let mut q = 0;
        let mut is = 0;
        for _n in (0..QK_K).step_by(128) {
            let mut shift = 0;
            for _j in 0..4 {
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
                for l in 0..16 {
                    out[y] = dl * ((qs[q + l] >> shift) & 3) as f32 - ml;
                    y += 1;
                }
                let sc = scales[is];
                is += 1;
                let (dl, ml) = (d * (sc & 0xF) as f32, min * (sc >> 4) as f32);
                for l in 0..16 {
                    out[y] = dl * ((qs[q + l + 16] >> shift) & 3) as f32 - ml;
                    y += 1;
                }
                shift += 2;
            }
            q += 32;
        }
    }
}

/// 256 elements in 16 groups of 16: 32 bytes of high bits, 64 bytes of low 2 bits, 12 bytes of
/// 6-bit signed scales, f16 d; x = d (scale - 32) (q - 4 if the high bit is clear).
#[derive(Debug)]
pub struct Q3K;

impl Q3K {
    /// The 16 6-bit scales, unpacked as ggml does with its `kmask` word shuffles.
    fn scales(packed: &[u8]) -> [i8; 16] {
        const KMASK1: u32 = 0x0303_0303;
        const KMASK2: u32 = 0x0f0f_0f0f;
        let word =
            |i: usize| u32::from_le_bytes([packed[4 * i], packed[4 * i + 1], packed[4 * i + 2], packed[4 * i + 3]]);
        let mut aux = [word(0), word(1), word(2), 0];
        let tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & KMASK2) | (((tmp >> 4) & KMASK1) << 4);
        aux[3] = ((aux[1] >> 4) & KMASK2) | (((tmp >> 6) & KMASK1) << 4);
        aux[0] = (aux[0] & KMASK2) | ((tmp & KMASK1) << 4);
        aux[1] = (aux[1] & KMASK2) | (((tmp >> 2) & KMASK1) << 4);
        let mut s = [0i8; 16];
        for (i, w) in aux.iter().enumerate() {
            for (k, byte) in w.to_le_bytes().into_iter().enumerate() {
                s[4 * i + k] = byte as i8;
            }
        }
        s
    }
}

impl BlockFormat for Q3K {
    const NAME: &'static str = "Q3_K";
    const ID: u32 = 11;
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = 110;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        let (hm, qs) = (&b[..32], &b[32..96]);
        let scales = Self::scales(&b[96..108]);
        let d_all = f16(&b[108..]);
        let mut m: u8 = 1;
        let mut y = 0;
        let mut q = 0;
        let mut is = 0;
        for _n in (0..QK_K).step_by(128) {
            let mut shift = 0;
            for _j in 0..4 {
                for half in [0, 16] {
                    let dl = d_all * (scales[is] as i32 - 32) as f32;
                    is += 1;
                    for l in half..half + 16 {
                        let low = ((qs[q + l] >> shift) & 3) as i32;
                        let offset = if hm[l] & m != 0 { 0 } else { 4 };
                        out[y] = dl * (low - offset) as f32;
                        y += 1;
                    }
                }
                shift += 2;
                m <<= 1;
            }
            q += 32;
        }
    }
}

/// 256 elements in 8 groups of 32: f16 d and dmin, 12 bytes of 6-bit (scale, min) pairs, 128
/// bytes of nibbles (per 64 elements: low nibbles first, then high); x = d scale q - dmin min.
#[derive(Debug)]
pub struct Q4K;

impl BlockFormat for Q4K {
    const NAME: &'static str = "Q4_K";
    const ID: u32 = 12;
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = 144;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        let (d, min) = (f16(b), f16(&b[2..]));
        let (scales, qs) = (&b[4..16], &b[16..144]);
        let mut y = 0;
        let mut q = 0;
        let mut is = 0;
        for _j in (0..QK_K).step_by(64) {
            let (sc, m) = scale_min_k4(is, scales);
            let (d1, m1) = (d * sc as f32, min * m as f32);
            let (sc, m) = scale_min_k4(is + 1, scales);
            let (d2, m2) = (d * sc as f32, min * m as f32);
            for l in 0..32 {
                out[y] = d1 * (qs[q + l] & 0xF) as f32 - m1;
                y += 1;
            }
            for l in 0..32 {
                out[y] = d2 * (qs[q + l] >> 4) as f32 - m2;
                y += 1;
            }
            q += 32;
            is += 2;
        }
    }

    fn dequantize(bytes: &[u8], out: &mut [f32]) {
        for (b, o) in bytes.chunks_exact(Self::BLOCK_BYTES).zip(out.chunks_exact_mut(Self::BLOCK_LEN)) {
            let (d, min) = (f16(b), f16(&b[2..]));
            let scales = &b[4..16];
            for (i, (qs, y)) in b[16..].chunks_exact(32).zip(o.chunks_exact_mut(64)).enumerate() {
                let (sc1, m1) = scale_min_k4(2 * i, scales);
                let (sc2, m2) = scale_min_k4(2 * i + 1, scales);
                let (d1, m1, d2, m2) = (d * sc1 as f32, min * m1 as f32, d * sc2 as f32, min * m2 as f32);
                let (lo, hi) = y.split_at_mut(32);
                for ((a, b), &q) in lo.iter_mut().zip(hi.iter_mut()).zip(qs) {
                    *a = d1 * (q & 0xF) as f32 - m1;
                    *b = d2 * (q >> 4) as f32 - m2;
                }
            }
        }
    }
}

/// 256 elements in 8 groups of 32: as Q4_K plus 32 bytes of fifth bits (bit 2i of byte l for
/// element l of group 2i, bit 2i+1 for group 2i+1) before the nibbles.
#[derive(Debug)]
pub struct Q5K;

impl BlockFormat for Q5K {
    const NAME: &'static str = "Q5_K";
    const ID: u32 = 13;
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = 176;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        let (d, min) = (f16(b), f16(&b[2..]));
        let (scales, qh, ql) = (&b[4..16], &b[16..48], &b[48..176]);
        let mut y = 0;
        let mut q = 0;
        let mut is = 0;
        let (mut u1, mut u2): (u8, u8) = (1, 2);
        for _j in (0..QK_K).step_by(64) {
            let (sc, m) = scale_min_k4(is, scales);
            let (d1, m1) = (d * sc as f32, min * m as f32);
            let (sc, m) = scale_min_k4(is + 1, scales);
            let (d2, m2) = (d * sc as f32, min * m as f32);
            for l in 0..32 {
                let high = if qh[l] & u1 != 0 { 16 } else { 0 };
                out[y] = d1 * ((ql[q + l] & 0xF) + high) as f32 - m1;
                y += 1;
            }
            for l in 0..32 {
                let high = if qh[l] & u2 != 0 { 16 } else { 0 };
                out[y] = d2 * ((ql[q + l] >> 4) + high) as f32 - m2;
                y += 1;
            }
            q += 32;
            is += 2;
            u1 <<= 2;
            u2 <<= 2;
        }
    }

    fn dequantize(bytes: &[u8], out: &mut [f32]) {
        for (b, o) in bytes.chunks_exact(Self::BLOCK_BYTES).zip(out.chunks_exact_mut(Self::BLOCK_LEN)) {
            let (d, min) = (f16(b), f16(&b[2..]));
            let (scales, qh) = (&b[4..16], &b[16..48]);
            for (i, (ql, y)) in b[48..].chunks_exact(32).zip(o.chunks_exact_mut(64)).enumerate() {
                let (sc1, m1) = scale_min_k4(2 * i, scales);
                let (sc2, m2) = scale_min_k4(2 * i + 1, scales);
                let (d1, m1, d2, m2) = (d * sc1 as f32, min * m1 as f32, d * sc2 as f32, min * m2 as f32);
                let (lo, hi) = y.split_at_mut(32);
                for (((a, b), &q), &h) in lo.iter_mut().zip(hi.iter_mut()).zip(ql).zip(qh) {
                    let h1 = ((h >> (2 * i)) & 1) << 4;
                    let h2 = ((h >> (2 * i + 1)) & 1) << 4;
                    *a = d1 * ((q & 0xF) | h1) as f32 - m1;
                    *b = d2 * ((q >> 4) | h2) as f32 - m2;
                }
            }
        }
    }
}

/// 256 elements in 16 groups of 16: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs, 16
/// signed 8-bit scales, f16 d; x = d scale (q - 32).
#[derive(Debug)]
pub struct Q6K;

impl BlockFormat for Q6K {
    const NAME: &'static str = "Q6_K";
    const ID: u32 = 14;
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = 210;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        let d = f16(&b[208..]);
        let (mut ql, mut qh, mut sc, mut y) = (0, 128, 192, 0);
        for _n in (0..QK_K).step_by(128) {
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((b[ql + l] & 0xF) | ((b[qh + l] & 3) << 4)) as i8 - 32;
                let q2 = ((b[ql + l + 32] & 0xF) | (((b[qh + l] >> 2) & 3) << 4)) as i8 - 32;
                let q3 = ((b[ql + l] >> 4) | (((b[qh + l] >> 4) & 3) << 4)) as i8 - 32;
                let q4 = ((b[ql + l + 32] >> 4) | (((b[qh + l] >> 6) & 3) << 4)) as i8 - 32;
                let s = |k: usize| b[sc + is + k] as i8 as f32;
                out[y + l] = d * s(0) * q1 as f32;
                out[y + l + 32] = d * s(2) * q2 as f32;
                out[y + l + 64] = d * s(4) * q3 as f32;
                out[y + l + 96] = d * s(6) * q4 as f32;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }

    fn dequantize(bytes: &[u8], out: &mut [f32]) {
        for (b, o) in bytes.chunks_exact(Self::BLOCK_BYTES).zip(out.chunks_exact_mut(Self::BLOCK_LEN)) {
            let d = f16(&b[208..]);
            // Scale of each group of 16, folded with d once per block.
            let ds: [f32; 16] = std::array::from_fn(|i| d * b[192 + i] as i8 as f32);
            for (h, y) in o.chunks_exact_mut(128).enumerate() {
                let (ql, qh, ds) = (&b[64 * h..64 * h + 64], &b[128 + 32 * h..160 + 32 * h], &ds[8 * h..8 * h + 8]);
                for (l, &hb) in qh.iter().enumerate() {
                    let (a, c) = (ql[l], ql[l + 32]);
                    let is = l / 16;
                    y[l] = ds[is] * (((a & 0xF) | ((hb & 3) << 4)) as i8 - 32) as f32;
                    y[l + 32] = ds[is + 2] * (((c & 0xF) | (((hb >> 2) & 3) << 4)) as i8 - 32) as f32;
                    y[l + 64] = ds[is + 4] * (((a >> 4) | (((hb >> 4) & 3) << 4)) as i8 - 32) as f32;
                    y[l + 96] = ds[is + 6] * (((c >> 4) | (((hb >> 6) & 3) << 4)) as i8 - 32) as f32;
                }
            }
        }
    }
}

/// 32 elements: f16 scale d, nibbles as Q4_0 indexing [`KVALUES_IQ4NL`]; x = d kvalue.
#[derive(Debug)]
pub struct Iq4Nl;

impl BlockFormat for Iq4Nl {
    const NAME: &'static str = "IQ4_NL";
    const ID: u32 = 20;
    const BLOCK_LEN: usize = 32;
    const BLOCK_BYTES: usize = 18;

    fn dequantize_ref(b: &[u8], y: &mut [f32]) {
        let d = f16(b);
        let qs = &b[2..18];
        for j in 0..16 {
            y[j] = d * KVALUES_IQ4NL[(qs[j] & 0xF) as usize] as f32;
            y[j + 16] = d * KVALUES_IQ4NL[(qs[j] >> 4) as usize] as f32;
        }
    }
}

/// 256 elements in 8 groups of 32: f16 d, 6-bit group scales (high 2 bits in a u16, low nibbles in
/// 4 bytes), IQ4_NL nibbles per group; x = d (scale - 32) kvalue.
#[derive(Debug)]
pub struct Iq4Xs;

impl BlockFormat for Iq4Xs {
    const NAME: &'static str = "IQ4_XS";
    const ID: u32 = 23;
    const BLOCK_LEN: usize = QK_K;
    const BLOCK_BYTES: usize = 136;

    fn dequantize_ref(b: &[u8], out: &mut [f32]) {
        let d = f16(b);
        let scales_h = u16::from_le_bytes([b[2], b[3]]);
        let (scales_l, qs) = (&b[4..8], &b[8..136]);
        for ib in 0..QK_K / 32 {
            let ls = ((scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) as i32 | ((((scales_h >> (2 * ib)) & 3) << 4) as i32);
            let dl = d * (ls - 32) as f32;
            let (q, y) = (&qs[16 * ib..], &mut out[32 * ib..]);
            for j in 0..16 {
                y[j] = dl * KVALUES_IQ4NL[(q[j] & 0xf) as usize] as f32;
                y[j + 16] = dl * KVALUES_IQ4NL[(q[j] >> 4) as usize] as f32;
            }
        }
    }
}

/// Declares [`GgmlType`], one variant per [`BlockFormat`], and its run-time dispatch.
macro_rules! ggml_types {
    ($($t:ident),* $(,)?) => {
        /// The tensor types this reader dequantizes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum GgmlType {
            $($t),*
        }

        impl GgmlType {
            /// Every readable type, in ggml id order.
            pub const ALL: &'static [GgmlType] = &[$(Self::$t),*];

            /// The readable type with ggml id `id`.
            pub fn from_id(id: u32) -> Option<Self> {
                match id {
                    $(<$t as BlockFormat>::ID => Some(Self::$t),)*
                    _ => None,
                }
            }

            pub fn id(self) -> u32 {
                match self { $(Self::$t => <$t as BlockFormat>::ID),* }
            }

            /// ggml's name (`Q4_K`, `BF16`, ...).
            pub fn name(self) -> &'static str {
                match self { $(Self::$t => <$t as BlockFormat>::NAME),* }
            }

            /// Elements per block.
            pub fn block_len(self) -> usize {
                match self { $(Self::$t => <$t as BlockFormat>::BLOCK_LEN),* }
            }

            /// Bytes per block.
            pub fn block_bytes(self) -> usize {
                match self { $(Self::$t => <$t as BlockFormat>::BLOCK_BYTES),* }
            }

            /// Dequantizes whole blocks with the loader's path. Panics unless `bytes` and `out` hold
            /// the same whole number of blocks (callers size both from the tensor info).
            pub fn dequantize(self, bytes: &[u8], out: &mut [f32]) {
                self.check_blocks(bytes, out);
                match self { $(Self::$t => <$t as BlockFormat>::dequantize(bytes, out)),* }
            }

            /// Dequantizes whole blocks with the literal reference, block by block.
            pub fn dequantize_ref(self, bytes: &[u8], out: &mut [f32]) {
                self.check_blocks(bytes, out);
                match self {
                    $(Self::$t => {
                        let blocks = bytes.chunks_exact(<$t>::BLOCK_BYTES);
                        for (b, o) in blocks.zip(out.chunks_exact_mut(<$t>::BLOCK_LEN)) {
                            <$t as BlockFormat>::dequantize_ref(b, o);
                        }
                    })*
                }
            }
        }
    };
}

ggml_types!(F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2K, Q3K, Q4K, Q5K, Q6K, Iq4Nl, Iq4Xs, BF16);

impl GgmlType {
    fn check_blocks(self, bytes: &[u8], out: &[f32]) {
        let (len, size) = (self.block_len(), self.block_bytes());
        assert!(
            out.len().is_multiple_of(len) && bytes.len() == out.len() / len * size,
            "{self}: {} bytes for {} elements",
            bytes.len(),
            out.len()
        );
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// ggml's name for any type id it has defined, readable here or not (for error messages).
pub fn type_name(id: u32) -> Option<&'static str> {
    if let Some(t) = GgmlType::from_id(id) {
        return Some(t.name());
    }
    Some(match id {
        4 => "Q4_2 (removed from ggml)",
        5 => "Q4_3 (removed from ggml)",
        9 => "Q8_1",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        21 => "IQ3_S",
        22 => "IQ2_S",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        31 => "Q4_0_4_4 (removed from GGUF)",
        32 => "Q4_0_4_8 (removed from GGUF)",
        33 => "Q4_0_8_8 (removed from GGUF)",
        34 => "TQ1_0",
        35 => "TQ2_0",
        36 => "IQ4_NL_4_4 (removed from GGUF)",
        37 => "IQ4_NL_4_8 (removed from GGUF)",
        38 => "IQ4_NL_8_8 (removed from GGUF)",
        39 => "MXFP4",
        40 => "NVFP4",
        _ => return None,
    })
}

/// The readable types' names, comma-separated (for error messages).
pub fn readable_names() -> String {
    GgmlType::ALL.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}
