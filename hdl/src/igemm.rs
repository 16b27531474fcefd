//! The golden model's exact integer product `V[n, m] = Σ_k x[n, k] · w[m, k]` of i8 codes.
//!
//! The array's sums are exact integers, so any exact way to them gives the same bits; this one is
//! fast on x86: the weights are packed once per layer ([`PackedWeights`]) and each call runs the
//! best kernel the CPU offers (chosen at run time), all of them equal to [`igemm_ref`]:
//!
//! - **AVX2, narrow codes** (the 4-bit weights): every code gets the offset `t`, the call's
//!   largest |x|, so `u = x + t` is in 0..=2t (a u8 up to t = 127). Where that would overflow the
//!   i16 sums below (wider weights), `t` is the caller's *dense bound* instead, and codes beyond
//!   it (the salient codes, at most `salient_depth` per token) are taken out and added afterwards
//!   from the weight columns. (Taking the salient codes out was the slower way on 4-bit weights:
//!   72 against 90 G multiply-adds/s on one Zen 3 core, the columns of ~4 % salient codes cost
//!   about as much as the dense product of the rest.)
//!   The weights are packed once in panels of 8 rows × 4 codes (one 256-bit vector), so a token's
//!   4 codes are broadcast and `vpmaddubsw` gives each of the 8 rows two i16 pair sums of at most
//!   `2 · 2t · max|w|`: no horizontal sums. The i16 sums are widened to i32 (`vpmaddwd` by ones)
//!   every `i16::MAX / (4 t max|w|)` steps, before they can overflow, and the offset is removed at
//!   the end with the weight row sums: `Σ x w = Σ u w - t Σ w`.
//! - **AVX2, wide codes** (8-bit weights): the weights packed once as i16 in panels of 8 rows ×
//!   2 codes, a token's 2 codes (widened to i16 once per call) broadcast, `vpmaddwd` into i32 (a
//!   pair sum is at most 2 · 128 · 127, never saturating).
//! - **AVX-512 VNNI** (any code width): every code gets the offset 128, so `u = x + 128` is a u8
//!   and `vpdpbusd` adds 4 (u8, i8) products per i32 lane straight into 16 i32 accumulators of
//!   16 weight rows each, a token's 4 codes broadcast to all lanes: no i16 stage, no salient codes
//!   taken out, no horizontal sums (the weights are packed once in the 16-row × 4-code layout
//!   this needs, [`PackedWeights`]).
//! - **Portable**: i32 dot products the compiler vectorizes.
//!
//! Every path accumulates in i32 only when `K · max|x · w|` (or the offset sum) is below 2^31;
//! larger layers go to [`igemm_ref`], which sums in i64. The results are i32: the array's raw
//! outputs are (the configuration's widths hold them), so the product is written where the
//! outputs go, with no i64 pass in between.

use rayon::prelude::*;

/// K step of the SIMD kernels (bytes of one 256-bit vector); rows are padded to a multiple of it.
const STEP: usize = 32;
/// Tokens per micro tile of both AVX2 kernels.
const MR: usize = 6;
/// Weight rows of one AVX2 panel (8 rows × 4 codes = one 256-bit vector).
const PROWS: usize = 8;
/// Panels per micro tile (6 tokens × 2 panels: 12 accumulators in ymm registers; 23 % faster on
/// Zen 3 than 4 × 3, which loads a third more codes per multiply).
const NP: usize = 2;
/// Tokens per parallel task, about ([`token_blocks`]): their packed codes stay in L2 while the
/// weights stream past.
const TOKEN_BLOCK: usize = 48;
/// Weight rows of one VNNI vector (16 i32 lanes).
const VROWS: usize = 16;
/// VNNI vectors of weight rows per micro tile (2 × 16 rows).
const VNR: usize = 2;
/// Tokens per VNNI micro tile (6 × 2 accumulators plus the loads fit 32 zmm registers).
const VMR: usize = 6;
/// Tokens per parallel VNNI task, about ([`token_blocks`]).
const VTOKEN_BLOCK: usize = 48;

/// A layer's weight codes, packed once for [`igemm`]: rows padded to whole SIMD steps, the
/// transpose for the codes taken out of the dense product, the row sums for the offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedWeights {
    m: usize,
    k: usize,
    /// K rounded up to [`STEP`].
    kp: usize,
    /// `m × kp` codes, zero padded.
    rows: Vec<i8>,
    /// `k × m`: column k of W, contiguous.
    cols: Vec<i8>,
    /// Σ_k w[m, k] of each row.
    row_sums: Vec<i32>,
    /// Largest |w|.
    wmax: u32,
    /// The VNNI layout when this CPU runs it: panels of [`VROWS`] rows (M rounded up to
    /// `VNR · VROWS`), in each the codes of k-group g (4 codes) of its 16 rows together:
    /// byte `panel·kp·16 + g·64 + r·4 + j` is `w[panel·16 + r, 4g + j]`.
    vnni: Option<Vec<i8>>,
    /// The AVX2 narrow kernel's layout when AVX2 is this CPU's best path: the same panel order
    /// with [`PROWS`] rows per panel (M rounded up to `NP · PROWS`).
    panels8: Option<Vec<i8>>,
    /// The AVX2 wide kernel's layout when AVX2 is this CPU's best path and the weights are wider
    /// than the narrow kernel takes (|w| > 64): panels of [`PROWS`] rows, each k-pair of its rows
    /// as i16 together: element `panel·kp·8 + g·16 + r·2 + j` is `w[panel·8 + r, 2g + j]`.
    panels16: Option<Vec<i16>>,
}

impl PackedWeights {
    /// Packs an M×K row-major matrix of codes.
    pub fn new(w: &[i8], m: usize, k: usize) -> Self {
        assert_eq!(w.len(), m * k, "weights are {m}x{k}");
        let kp = k.div_ceil(STEP) * STEP;
        let mut rows = vec![0i8; m * kp];
        let mut cols = vec![0i8; k * m];
        for (r, src) in w.chunks_exact(k.max(1)).enumerate() {
            rows[r * kp..r * kp + k].copy_from_slice(src);
            for (c, &v) in src.iter().enumerate() {
                cols[c * m + r] = v;
            }
        }
        let row_sums = w.chunks_exact(k.max(1)).map(|r| r.iter().map(|&v| v as i32).sum()).collect();
        let wmax = w.iter().map(|v| v.unsigned_abs() as u32).max().unwrap_or(0);
        let best = Path::best();
        let vnni = (best == Path::Vnni).then(|| panel_layout(w, m, k, kp, VROWS, VNR));
        let panels8 = (best == Path::Avx2).then(|| panel_layout(w, m, k, kp, PROWS, NP));
        let panels16 = (best == Path::Avx2 && wmax > 64).then(|| wide_panel_layout(w, m, k, kp));
        PackedWeights { m, k, kp, rows, cols, row_sums, wmax, vnni, panels8, panels16 }
    }

    /// Output length M.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Input length K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Row r of the weights (unpadded).
    fn row(&self, r: usize) -> &[i8] {
        &self.rows[r * self.kp..r * self.kp + self.k]
    }
}

/// The kernels; [`Path::best`] is what [`igemm`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// i32 dot products in plain Rust.
    Portable,
    /// AVX2: `vpmaddubsw` on offset narrow codes, or `vpmaddwd` on wide ones.
    Avx2,
    /// AVX-512 VNNI: `vpdpbusd` on offset codes of any width.
    Vnni,
}

impl Path {
    /// The fastest path this CPU runs.
    pub fn best() -> Path {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni") {
                return Path::Vnni;
            }
            if is_x86_feature_detected!("avx2") {
                return Path::Avx2;
            }
        }
        Path::Portable
    }
}

/// `out[n, m] = Σ_k x[n, k] · w[m, k]` exactly for `n` tokens of K codes (`x` is `n × k`).
/// `dense_max` is the largest code magnitude the dense product takes; larger codes (few per
/// token, such as salient codes) are added from the weight columns. Any value gives the same
/// result; the right one makes it fast.
pub fn igemm(x: &[i8], n: usize, w: &PackedWeights, dense_max: u32, out: &mut [i32]) {
    igemm_on(Path::best(), x, n, w, dense_max, out);
}

/// [`igemm`] on a chosen path (tests run every path the CPU has).
///
/// # Panics
/// When an exact sum does not fit i32 (only possible when `K · max|x| · max|w|` reaches 2^31,
/// which a validated array configuration excludes: its raw outputs are i32).
pub fn igemm_on(path: Path, x: &[i8], n: usize, w: &PackedWeights, dense_max: u32, out: &mut [i32]) {
    let (m, k) = (w.m, w.k);
    assert_eq!(x.len(), n * k, "codes are {n}x{k}");
    assert_eq!(out.len(), n * m, "outputs are {n}x{m}");
    if n == 0 || m == 0 {
        return;
    }
    // Largest |partial sum| of an i32 path: K products of at most 255 · max|w| (offset codes;
    // wide codes and the portable path stay below 128 · max|w|), so i32 holds every path's sums
    // when this is below 2^31 (K up to 66,000 at 8-bit weights); otherwise sum in i64.
    if (w.kp as u64) * 255 * (w.wmax as u64).max(1) >= 1 << 31 {
        let mut wide = vec![0i64; n * m];
        igemm_ref(x, n, &w.rows_unpadded(), m, k, &mut wide);
        for (o, v) in out.iter_mut().zip(wide) {
            *o = i32::try_from(v).expect("an exact sum beyond i32: K · max|x| · max|w| exceeds the array's raw width");
        }
        return;
    }
    match path {
        Path::Portable => portable(x, n, w, out),
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => {
            assert!(is_x86_feature_detected!("avx2"), "the AVX2 path needs AVX2");
            avx2::run(x, n, w, dense_max.min(127), out)
        }
        #[cfg(target_arch = "x86_64")]
        Path::Vnni => {
            let packed = w.vnni.as_deref().expect("the VNNI layout is packed where VNNI is the best path");
            vnni::run(x, n, w, packed, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        Path::Avx2 | Path::Vnni => panic!("the {path:?} path needs an x86_64 CPU"),
    }
}

/// The panel layout of an M×K matrix, K padded to `kp`: panels of `rows` rows (M rounded up to
/// whole tiles of `per_tile` panels), in each the 4 codes of k-group g of its rows together:
/// byte `panel·kp·rows + g·4·rows + r·4 + j` is `w[panel·rows + r, 4g + j]`.
fn panel_layout(w: &[i8], m: usize, k: usize, kp: usize, rows: usize, per_tile: usize) -> Vec<i8> {
    let panels = m.div_ceil(per_tile * rows) * per_tile;
    let mut out = vec![0i8; panels * rows * kp];
    for (r, src) in w.chunks_exact(k.max(1)).enumerate() {
        let (panel, lane) = (r / rows, r % rows);
        let base = panel * rows * kp;
        for (c, &v) in src.iter().enumerate() {
            out[base + (c / 4) * 4 * rows + lane * 4 + c % 4] = v;
        }
    }
    out
}

/// The wide kernel's layout of an M×K matrix (see [`PackedWeights`]'s `panels16`), K padded to
/// `kp`, M to whole tiles of [`NP`] panels.
fn wide_panel_layout(w: &[i8], m: usize, k: usize, kp: usize) -> Vec<i16> {
    let panels = m.div_ceil(NP * PROWS) * NP;
    let mut out = vec![0i16; panels * PROWS * kp];
    for (r, src) in w.chunks_exact(k.max(1)).enumerate() {
        let base = (r / PROWS) * PROWS * kp;
        for (c, &v) in src.iter().enumerate() {
            out[base + (c / 2) * 2 * PROWS + (r % PROWS) * 2 + c % 2] = i16::from(v);
        }
    }
    out
}

impl PackedWeights {
    /// The M×K codes without padding.
    fn rows_unpadded(&self) -> Vec<i8> {
        (0..self.m).flat_map(|r| self.row(r).iter().copied()).collect()
    }
}

/// The `n × m` outputs cut into the parallel tasks' token blocks, each with its first token:
/// whole micro tiles of `mr` tokens, about `target` tokens a block, and as many blocks as a
/// multiple of the threads, of sizes differing by at most one micro tile, so the threads get
/// equal shares. (Fixed blocks of 48 made 11 of a 512-token window: one thread ran 6 of them
/// while the other ran 5, a ninth of the product's time with a core idle.)
fn token_blocks(out: &mut [i32], m: usize, n: usize, target: usize, mr: usize) -> Vec<(usize, &mut [i32])> {
    let tiles = n.div_ceil(mr);
    let threads = rayon::current_num_threads().max(1);
    let blocks = (tiles * mr).div_ceil(target).next_multiple_of(threads).clamp(1, tiles.max(1));
    let (mut rest, mut first) = (out, 0);
    (0..blocks)
        .map(|b| {
            let tokens = ((tiles / blocks + usize::from(b < tiles % blocks)) * mr).min(n - first);
            let (block, tail) = std::mem::take(&mut rest).split_at_mut(tokens * m);
            rest = tail;
            first += tokens;
            (first - tokens, block)
        })
        .collect()
}

/// The reference: one i64 sum per output, in index order.
pub fn igemm_ref(x: &[i8], n: usize, w: &[i8], m: usize, k: usize, out: &mut [i64]) {
    for t in 0..n {
        for r in 0..m {
            out[t * m + r] = (0..k).map(|c| x[t * k + c] as i64 * w[r * k + c] as i64).sum();
        }
    }
}

/// Portable path: i32 dot products (exact: see the bound in [`igemm_on`]), tokens in parallel.
fn portable(x: &[i8], n: usize, w: &PackedWeights, out: &mut [i32]) {
    let (m, k) = (w.m, w.k);
    out.par_chunks_mut(m).zip(x.par_chunks(k)).take(n).for_each(|(o, xt)| {
        for (r, v) in o.iter_mut().enumerate() {
            *v = xt.iter().zip(w.row(r)).map(|(&a, &b)| a as i32 * b as i32).sum::<i32>();
        }
    });
}

// Register tiles read clearest as index loops over the tile (acc[i][j] of x[i] and w[j]).
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use rayon::prelude::*;

    use super::{token_blocks, PackedWeights, MR, NP, PROWS, TOKEN_BLOCK};

    /// Packs the tokens, runs the tiles in parallel blocks of tokens, adds the codes the dense
    /// product left out. Results go straight to `out` (the exact sums fit i32: see `igemm_on`).
    pub(super) fn run(x: &[i8], n: usize, w: &PackedWeights, t: u32, out: &mut [i32]) {
        let (m, k, kp) = (w.m, w.k, w.kp);
        // Every code dense when the offset codes still fit u8 and an i16 pair sum still holds
        // them (4-bit weights: any code up to ±127): no codes taken out, at the price of
        // widening the i16 sums more often; else the caller's bound.
        // Token rows in parallel; a fold of u8 maxima vectorizes (`Iterator::max` stayed scalar).
        let xmax =
            x.par_chunks(k).map(|row| row.iter().fold(0u8, |a, v| a.max(v.unsigned_abs()))).max().unwrap_or(0) as u32;
        let t = if xmax <= 127 && 4 * xmax as u64 * w.wmax as u64 <= i16::MAX as u64 { xmax.max(1) } else { t };
        // Offset codes fit u8 and an i16 pair sum holds 2 · 2t · wmax; else the wide kernel.
        let pair = 4 * t as u64 * w.wmax as u64;
        let narrow = t > 0 && pair <= i16::MAX as u64;
        let (dense_max, offset) = if narrow { (t as i32, t as i32) } else { (127, 0) };
        let np = n.div_ceil(MR) * MR;
        // Dense codes, offset (narrow); K padded with the offset, which meets zero weights.
        // The packed codes' buffer is the calling thread's, kept from call to call: every code
        // row is written below, and the padding rows (tokens n..np) are computed but never stored,
        // so the buffer needs no clearing.
        thread_local! {
            static PACKED: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::default();
        }
        let mut xp = PACKED.take();
        xp.resize(np * kp, 0);
        let mut sparse: Vec<Vec<(usize, i32)>> = vec![Vec::new(); n];
        xp.par_chunks_mut(kp).zip(sparse.par_iter_mut()).enumerate().for_each(|(tok, (dst, sp))| {
            let src = &x[tok * k..tok * k + k];
            dst[k..].fill(offset as u8);
            if xmax as i32 <= dense_max {
                // Every code dense: a plain offset copy.
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = (v as u8).wrapping_add(offset as u8);
                }
                return;
            }
            for (c, (d, &v)) in dst.iter_mut().zip(src).enumerate() {
                let v = v as i32;
                let dense = if v.abs() > dense_max {
                    sp.push((c, v));
                    0
                } else {
                    v
                };
                *d = (dense + offset) as u8;
            }
        });
        let interval = if narrow { (i16::MAX as u64 / pair.max(1)).max(1) as usize } else { 0 };
        // The narrow kernel's panels: packed once per layer where AVX2 is the best path; packed
        // here for a test that runs this path on a CPU whose best path is another.
        let repacked;
        let panels: &[i8] = match (&w.panels8, narrow) {
            (Some(p), _) => p,
            (None, true) => {
                repacked = super::panel_layout(&w.rows_unpadded(), m, k, kp, PROWS, NP);
                &repacked
            }
            (None, false) => &[],
        };
        // The wide kernel's i16 panels and codes (codes widened once per call).
        let rewide;
        let wide: &[i16] = match (&w.panels16, narrow) {
            (_, true) => &[],
            (Some(p), false) => p,
            (None, false) => {
                rewide = super::wide_panel_layout(&w.rows_unpadded(), m, k, kp);
                &rewide
            }
        };
        let xw: Vec<i16> = if narrow { Vec::new() } else { xp.par_iter().map(|&u| i16::from(u as i8)).collect() };
        token_blocks(out, m, n, TOKEN_BLOCK, MR).into_par_iter().for_each(|(first, blk)| {
            let tokens = blk.len() / m;
            let span = first * kp..(first + tokens.div_ceil(MR) * MR) * kp;
            if narrow {
                // SAFETY: AVX2 was detected by the caller; each call gets MR rows of `kp` codes
                // and NP panels of PROWS rows × kp, kp a multiple of 4, which is all it reads.
                tiles(blk, m, kp, &xp[span], panels, |xt, wt| unsafe { tile_narrow(xt, wt, kp, interval) });
            } else {
                // SAFETY: as above, kp even.
                tiles(blk, m, kp, &xw[span], wide, |xt, wt| unsafe { tile_wide(xt, wt, kp) });
            }
            for (i, o) in blk.chunks_exact_mut(m).enumerate() {
                // SAFETY: AVX2 was detected by the caller.
                unsafe { finish_token(o, &sparse[first + i], w, offset) }
            }
        });
        PACKED.set(xp);
    }

    /// Runs `kernel` over a block of tokens (`x`: their codes, `kp` per token, padded to whole
    /// MR) and every tile of NP panels (`panels`), writing the sums into the block's `m`-wide
    /// output rows.
    fn tiles<X, W>(
        blk: &mut [i32],
        m: usize,
        kp: usize,
        x: &[X],
        panels: &[W],
        kernel: impl Fn(&[X], &[W]) -> [[i32; NP * PROWS]; MR],
    ) {
        let tokens = blk.len() / m;
        for r0 in (0..m).step_by(NP * PROWS) {
            let wt = &panels[r0 * kp..(r0 + NP * PROWS) * kp];
            for t0 in (0..tokens).step_by(MR) {
                put(blk, m, t0, r0, tokens, &kernel(&x[t0 * kp..(t0 + MR) * kp], wt));
            }
        }
    }

    /// Writes a tile of sums (tokens `t0..`, rows `r0..`) into a block of `tokens` output rows of
    /// `m`, leaving out padding tokens and rows. Element by element: a copy of a few values is
    /// cheaper inline than as a call to memcpy.
    fn put<const T: usize, const R: usize>(
        blk: &mut [i32],
        m: usize,
        t0: usize,
        r0: usize,
        tokens: usize,
        tile: &[[i32; R]; T],
    ) {
        let cols = R.min(m - r0);
        for (i, row) in tile.iter().enumerate().take(tokens - t0) {
            for (d, &v) in blk[(t0 + i) * m + r0..][..cols].iter_mut().zip(row) {
                *d = v;
            }
        }
    }

    /// One token's outputs from its offset dense sums `a`, in place: the offset removed, the
    /// codes taken out of the dense product added from the weight columns. In i32 (with the bound
    /// `igemm_on` checked, |Σ u w| and |t Σ w| are each below 127 · kp · max|w|, and so is every
    /// partial sum of the exact result); a product of a code and a weight fits i16 (|x| <= 128,
    /// |w| <= 127). Compiled for AVX2 so the loops run 16 outputs per instruction.
    #[target_feature(enable = "avx2")]
    fn finish_token(a: &mut [i32], sparse: &[(usize, i32)], w: &PackedWeights, offset: i32) {
        let m = w.m;
        if offset != 0 {
            for (s, &rs) in a.iter_mut().zip(&w.row_sums) {
                *s -= offset * rs;
            }
        }
        for &(c, code) in sparse {
            let code = code as i16;
            for (s, &wc) in a.iter_mut().zip(&w.cols[c * m..(c + 1) * m]) {
                *s += i32::from(code * wc as i16);
            }
        }
    }

    /// One tile of offset narrow codes: MR tokens × NP panels of PROWS rows. Each step takes
    /// 4 codes of a token, broadcast to the 8 rows of a panel: `vpmaddubsw` gives every row two
    /// i16 pair sums, added into i16 and widened into i32 every `interval` steps (`vpmaddwd` by
    /// ones adds each row's two pair sums). Caller guarantees AVX2 and the slice lengths (MR·kp
    /// and NP·PROWS·kp).
    #[target_feature(enable = "avx2")]
    fn tile_narrow(x: &[u8], w: &[i8], kp: usize, interval: usize) -> [[i32; NP * PROWS]; MR] {
        assert!(x.len() >= MR * kp && w.len() >= NP * PROWS * kp && kp.is_multiple_of(4));
        let ones = _mm256_set1_epi16(1);
        let mut acc32 = [[_mm256_setzero_si256(); NP]; MR];
        let groups = kp / 4;
        let mut g0 = 0;
        while g0 < groups {
            let end = groups.min(g0 + interval);
            let mut acc16 = [[_mm256_setzero_si256(); NP]; MR];
            for g in g0..end {
                // SAFETY: g < kp / 4, so panel j's 8 rows × 4 codes of group g lie inside `w`
                // and token i's 4 codes inside `x` (lengths asserted above); unaligned loads.
                let wv: [__m256i; NP] = std::array::from_fn(|j| unsafe {
                    _mm256_loadu_si256(w.as_ptr().add(j * PROWS * kp + g * 4 * PROWS).cast())
                });
                for i in 0..MR {
                    // SAFETY: as above.
                    let four = unsafe { x.as_ptr().add(i * kp + 4 * g).cast::<i32>().read_unaligned() };
                    let xv = _mm256_set1_epi32(four);
                    for j in 0..NP {
                        acc16[i][j] = _mm256_add_epi16(acc16[i][j], _mm256_maddubs_epi16(xv, wv[j]));
                    }
                }
            }
            for i in 0..MR {
                for j in 0..NP {
                    acc32[i][j] = _mm256_add_epi32(acc32[i][j], _mm256_madd_epi16(acc16[i][j], ones));
                }
            }
            g0 = end;
        }
        let mut out = [[0i32; NP * PROWS]; MR];
        for i in 0..MR {
            for j in 0..NP {
                // SAFETY: `out[i]` holds NP·PROWS i32; unaligned store.
                unsafe { _mm256_storeu_si256(out[i].as_mut_ptr().add(j * PROWS).cast(), acc32[i][j]) };
            }
        }
        out
    }

    /// One tile of wide codes (no offset): MR tokens × NP panels of PROWS rows. Each step takes
    /// 2 codes of a token (as i16), broadcast to the 8 rows of a panel: `vpmaddwd` adds each row's
    /// two products into its i32 lane (a pair sum is at most 2 · 128 · 127: no saturation).
    /// Caller guarantees AVX2 and the slice lengths (MR·kp and NP·PROWS·kp).
    #[target_feature(enable = "avx2")]
    fn tile_wide(x: &[i16], w: &[i16], kp: usize) -> [[i32; NP * PROWS]; MR] {
        assert!(x.len() >= MR * kp && w.len() >= NP * PROWS * kp && kp.is_multiple_of(2));
        let mut acc = [[_mm256_setzero_si256(); NP]; MR];
        for g in 0..kp / 2 {
            // SAFETY: g < kp / 2, so panel j's 8 rows × 2 codes of pair g lie inside `w` and
            // token i's 2 codes inside `x` (lengths asserted above); unaligned loads.
            let wv: [__m256i; NP] = std::array::from_fn(|j| unsafe {
                _mm256_loadu_si256(w.as_ptr().add(j * PROWS * kp + g * 2 * PROWS).cast())
            });
            for i in 0..MR {
                // SAFETY: as above.
                let two = unsafe { x.as_ptr().add(i * kp + 2 * g).cast::<i32>().read_unaligned() };
                let xv = _mm256_set1_epi32(two);
                for j in 0..NP {
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(xv, wv[j]));
                }
            }
        }
        let mut out = [[0i32; NP * PROWS]; MR];
        for i in 0..MR {
            for j in 0..NP {
                // SAFETY: `out[i]` holds NP·PROWS i32; unaligned store.
                unsafe { _mm256_storeu_si256(out[i].as_mut_ptr().add(j * PROWS).cast(), acc[i][j]) };
            }
        }
        out
    }
}

// As in `avx2`: the register tile reads clearest as index loops.
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use rayon::prelude::*;

    use super::{token_blocks, PackedWeights, VMR, VNR, VROWS, VTOKEN_BLOCK};

    /// Offset of every code: `x + 128` is a u8 for every i8 code.
    const OFFSET: i32 = 128;

    /// Packs the tokens (offset codes, K padded with the offset, which meets zero weights), runs
    /// the tiles in parallel blocks of tokens and removes the offset with the row sums.
    pub(super) fn run(x: &[i8], n: usize, w: &PackedWeights, packed: &[i8], out: &mut [i32]) {
        let (m, k, kp) = (w.m, w.k, w.kp);
        let np = n.div_ceil(VMR) * VMR;
        let mut xp = vec![OFFSET as u8; np * kp];
        xp.par_chunks_mut(kp).zip(x.par_chunks(k)).for_each(|(dst, src)| {
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = (v as u8) ^ 0x80;
            }
        });
        let panels = packed.len() / (VROWS * kp);
        // Offset removal per row, padded to whole panels (padding rows are never stored).
        let mut bias = vec![0i32; panels * VROWS];
        for (b, &s) in bias.iter_mut().zip(&w.row_sums) {
            *b = -OFFSET * s;
        }
        token_blocks(out, m, n, VTOKEN_BLOCK, VMR).into_par_iter().for_each(|(first, blk)| {
            let tokens = blk.len() / m;
            let xb = &xp[first * kp..][..tokens.div_ceil(VMR) * VMR * kp];
            for p0 in (0..panels).step_by(VNR) {
                let wt = &packed[p0 * VROWS * kp..(p0 + VNR) * VROWS * kp];
                let bt = &bias[p0 * VROWS..(p0 + VNR) * VROWS];
                for t0 in (0..tokens).step_by(VMR) {
                    let xt = &xb[t0 * kp..(t0 + VMR) * kp];
                    // SAFETY: VNNI and AVX-512F were detected (the layout exists only then); `xt`
                    // holds VMR rows and `wt` VNR panels of `kp` codes, kp a multiple of 4, which
                    // is all the kernel reads.
                    let tile = unsafe { tile(xt, wt, bt, kp) };
                    let r0 = p0 * VROWS;
                    let cols = (VNR * VROWS).min(m - r0);
                    for (i, row) in tile.iter().enumerate().take(tokens - t0) {
                        for (d, &v) in blk[(t0 + i) * m + r0..][..cols].iter_mut().zip(row) {
                            *d = v;
                        }
                    }
                }
            }
        });
    }

    /// One tile: VMR tokens × VNR·16 weight rows, `vpdpbusd` over K in steps of 4 codes, the
    /// offset removed with `bias`. Caller guarantees AVX-512F, VNNI and the slice lengths.
    #[target_feature(enable = "avx512f,avx512vnni")]
    fn tile(x: &[u8], w: &[i8], bias: &[i32], kp: usize) -> [[i32; VNR * VROWS]; VMR] {
        assert!(x.len() >= VMR * kp && w.len() >= VNR * VROWS * kp && bias.len() >= VNR * VROWS);
        assert!(kp.is_multiple_of(4));
        let mut acc = [[_mm512_setzero_si512(); VNR]; VMR];
        for c in (0..kp).step_by(4) {
            // SAFETY: c + 4 <= kp: panel j's group of 16 rows × 4 codes at c lies inside `w`,
            // and 4 codes of token i inside `x` (lengths asserted above); unaligned loads.
            let wv: [__m512i; VNR] = std::array::from_fn(|j| unsafe {
                _mm512_loadu_si512(w.as_ptr().add(j * VROWS * kp + c * VROWS).cast())
            });
            for i in 0..VMR {
                // SAFETY: as above.
                let four = unsafe { x.as_ptr().add(i * kp + c).cast::<i32>().read_unaligned() };
                let xv = _mm512_set1_epi32(four);
                for j in 0..VNR {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], xv, wv[j]);
                }
            }
        }
        let mut out = [[0i32; VNR * VROWS]; VMR];
        for j in 0..VNR {
            // SAFETY: `bias` holds VNR·16 values (asserted above); unaligned load.
            let b = unsafe { _mm512_loadu_si512(bias.as_ptr().add(j * VROWS).cast()) };
            for i in 0..VMR {
                // SAFETY: `out[i]` holds VNR·16 i32; unaligned store.
                unsafe {
                    _mm512_storeu_si512(out[i].as_mut_ptr().add(j * VROWS).cast(), _mm512_add_epi32(acc[i][j], b))
                };
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every path this CPU runs (the VNNI layout is packed only where VNNI is the best path).
    fn paths() -> Vec<Path> {
        let mut p = vec![Path::Portable];
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") {
            p.push(Path::Avx2);
        }
        if Path::best() == Path::Vnni {
            p.push(Path::Vnni);
        }
        p
    }

    fn check(x: &[i8], n: usize, w: &[i8], m: usize, k: usize, dense_max: u32) {
        let mut want = vec![0i64; n * m];
        igemm_ref(x, n, w, m, k, &mut want);
        let packed = PackedWeights::new(w, m, k);
        for path in paths() {
            let mut got = vec![7i32; n * m];
            igemm_on(path, x, n, &packed, dense_max, &mut got);
            let got: Vec<i64> = got.into_iter().map(i64::from).collect();
            assert_eq!(got, want, "{path:?}, n {n} m {m} k {k} dense_max {dense_max}");
        }
    }

    #[test]
    fn token_blocks_cover_the_tokens_in_near_equal_shares() {
        let threads = rayon::current_num_threads();
        for n in [1, 5, 6, 7, 48, 49, 100, 511, 512, 2048] {
            let m = 3;
            let mut out = vec![0i32; n * m];
            let blocks = token_blocks(&mut out, m, n, 48, 6);
            let sizes: Vec<usize> = blocks.iter().map(|(_, b)| b.len() / m).collect();
            let firsts: Vec<usize> = blocks.iter().map(|&(f, _)| f).collect();
            let starts: Vec<usize> = sizes.iter().scan(0, |acc, &s| Some(std::mem::replace(acc, *acc + s))).collect();
            assert_eq!(firsts, starts, "n {n}: blocks are contiguous from token 0");
            assert_eq!(sizes.iter().sum::<usize>(), n, "n {n}");
            assert!(sizes.iter().all(|&s| s > 0), "n {n}: {sizes:?}");
            let whole = &sizes[..sizes.len() - 1];
            assert!(whole.iter().all(|s| s % 6 == 0), "n {n}: blocks of whole micro tiles {sizes:?}");
            let (lo, hi) = (whole.iter().min().unwrap_or(&0), whole.iter().max().unwrap_or(&n));
            assert!(whole.is_empty() || hi - lo <= 6, "n {n}: shares differ by more than a micro tile {sizes:?}");
            assert!(sizes[sizes.len() - 1] <= *hi, "n {n}: {sizes:?}");
            if n.div_ceil(6) >= threads {
                assert_eq!(sizes.len() % threads, 0, "n {n}: {sizes:?} for {threads} threads");
            }
        }
    }

    #[test]
    fn extreme_codes_on_every_path() {
        eprintln!("igemm paths on this CPU: {:?}", paths());
        for (n, m, k) in [(1, 1, 1), (5, 7, 33), (9, 4, 70), (4, 3, 64), (130, 5, 1536), (70, 50, 200)] {
            for (xv, wv) in [(127i8, 127i8), (-127, 127), (-127, -127), (127, -127), (-128, -127)] {
                let x = vec![xv; n * k];
                let w = vec![wv; m * k];
                for dense_max in [0, 7, 127] {
                    check(&x, n, &w, m, k, dense_max);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn every_path_equals_ref(
            n in 1usize..11, m in 1usize..9, k in 1usize..100,
            seed in any::<u64>(), xmax in prop::sample::select(vec![1i32, 7, 15, 127, 128]),
            wmax in prop::sample::select(vec![1i32, 7, 127]), dense_max in prop::sample::select(vec![0u32, 1, 7, 127]),
        ) {
            let mut s = seed | 1;
            let mut next = |lim: i32| {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                ((s % (2 * lim as u64 + 1)) as i32 - lim).clamp(-128, 127) as i8
            };
            let x: Vec<i8> = (0..n * k).map(|_| next(xmax)).collect();
            let w: Vec<i8> = (0..m * k).map(|_| next(wmax).max(-127)).collect();
            check(&x, n, &w, m, k, dense_max);
        }
    }
}
