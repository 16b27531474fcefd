//! The forward's f32 matrix product: register-tiled, multithreaded, and **deterministic** — the
//! same bits on every machine, at every thread count, with or without AVX2.
//!
//! All matrix products of the forward go through [`matmul`]: the linear layers (via
//! [`super::linear::F32Linear`]), the attention scores and values, and the output head. The
//! quantized schemes round what these products feed (activation codes, smoothing factors, static
//! scales), so a summation order picked at run time by CPU features or thread count would move
//! quantized perplexities from machine to machine (a runtime-dispatched BLAS did: 592.06 on one
//! 2-core machine, 580.7 on another). The order here is fixed by the shapes alone:
//!
//! - **dot form** (`b`'s columns contiguous: `x · Wᵀ`, `Q · Kᵀ`, the output head): each output
//!   keeps [`LANES`] partial sums, lane `l` accumulating `a[k] · b[k]` for `k ≡ l (mod LANES)` in
//!   increasing k with fused multiply-adds (a last partial step is zero padded); the lanes are
//!   then added in a fixed tree (`l + 4`, then `l + 2`, then `l + 1`);
//! - **axpy form** (`b`'s rows contiguous: `P · V`): each output is one chain of fused
//!   multiply-adds over k in increasing order.
//!
//! Tiles, blocks and threads only decide *which* outputs a core computes when, never how one is
//! summed. The kernels are written once, in plain Rust with `f32::mul_add` (exactly rounded fused
//! multiply-add on every target), and compiled twice: as is (the portable path) and inside an
//! AVX2 + FMA function chosen at run time, where LLVM turns the lane arrays into ymm registers
//! and `mul_add` into `vfmadd` — IEEE semantics forbid it to reassociate, so both paths give the
//! same bits (a test checks it).

use rayon::prelude::*;

/// Lanes of a dot-form accumulator (one ymm register).
pub const LANES: usize = 8;
/// Rows of `a` per dot-form tile.
const MR: usize = 3;
/// Columns of `b` per dot-form tile (3 × 4 accumulators plus the loads fit 16 ymm registers).
const NR: usize = 4;
/// Columns of `b` per parallel task.
const COL_BLOCK: usize = 64;
/// Bytes of `a` rows kept hot in L2 while a block of columns streams past.
const A_BLOCK_BYTES: usize = 256 << 10;

/// A read-only strided view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        Self { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Whether every element lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// Whether a product is split over the rayon pool (large products) or run on this thread
/// (products that are themselves run in parallel, e.g. one per attention head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    Pool,
    Single,
}

/// Which compilation of the kernels runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Plain Rust (any CPU).
    Portable,
    /// The same code compiled for AVX2 + FMA.
    Avx2Fma,
}

impl Path {
    /// The fastest path this CPU runs.
    pub fn best() -> Path {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Path::Avx2Fma;
        }
        Path::Portable
    }
}

/// `dst = a · b` (or `dst += a · b` with `accumulate`), `dst` row-major with row stride `dst_rs`.
/// `a`'s rows must be contiguous (`cs == 1`) and `b` must have contiguous columns (dot form) or
/// rows (axpy form).
///
/// Panics if a view or `dst` is out of bounds or the shapes disagree: callers derive all shapes
/// from checked model dimensions, so a mismatch is a bug in spikeq, not bad input.
pub fn matmul(dst: &mut [f32], dst_rs: usize, a: View<'_>, b: View<'_>, accumulate: bool, threads: Threads) {
    matmul_on(Path::best(), dst, dst_rs, a, b, accumulate, threads);
}

/// [`matmul`] on a chosen path (tests compare the paths).
pub fn matmul_on(
    path: Path,
    dst: &mut [f32],
    dst_rs: usize,
    a: View<'_>,
    b: View<'_>,
    accumulate: bool,
    threads: Threads,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert!(a.in_bounds() && b.in_bounds(), "operand view out of bounds");
    assert!(m == 0 || n == 0 || (m - 1) * dst_rs + n <= dst.len(), "destination out of bounds");
    assert!(a.cs == 1 || a.rows <= 1 || a.cols <= 1, "a's rows must be contiguous");
    assert!(b.rs == 1 || b.cs == 1, "b needs contiguous columns or rows");
    if m == 0 || n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if path == Path::Avx2Fma {
        assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"), "no AVX2 + FMA");
    }
    #[cfg(not(target_arch = "x86_64"))]
    assert!(path == Path::Portable, "AVX2 + FMA needs an x86_64 CPU");
    Job { a, b, dst_rs, accumulate, threads, path }.run(dst);
}

/// One product, checked.
#[derive(Clone, Copy)]
struct Job<'a> {
    a: View<'a>,
    b: View<'a>,
    dst_rs: usize,
    accumulate: bool,
    threads: Threads,
    path: Path,
}

impl Job<'_> {
    /// Splits the outputs into blocks (in parallel or not) and runs the tiles of each.
    fn run(&self, dst: &mut [f32]) {
        let (m, k, n) = (self.a.rows, self.a.cols, self.b.cols);
        let rows = (A_BLOCK_BYTES / (4 * k.max(1))).max(MR) / MR * MR;
        // Row blocks one after another (each is read from L2 by every column block); column
        // blocks in parallel. Rows are written by one block only.
        for (blk, d) in dst.chunks_mut(rows * self.dst_rs).enumerate() {
            let r0 = blk * rows;
            let r1 = m.min(r0 + rows);
            let cols = n.div_ceil(COL_BLOCK);
            let out = SharedOut(d.as_mut_ptr(), d.len());
            let task = |c: usize| {
                let c0 = c * COL_BLOCK;
                let c1 = n.min(c0 + COL_BLOCK);
                // SAFETY: column blocks are disjoint, so tasks write disjoint elements of `d`
                // (rows r0..r1, columns c0..c1, each inside `d` as checked by `matmul_on`); the
                // AVX2 + FMA compilation runs only where `matmul_on` found both features.
                unsafe {
                    match self.path {
                        Path::Portable => self.block(&out, r0, r1, c0, c1),
                        #[cfg(target_arch = "x86_64")]
                        Path::Avx2Fma => self.block_avx2_fma(&out, r0, r1, c0, c1),
                        #[cfg(not(target_arch = "x86_64"))]
                        Path::Avx2Fma => unreachable!(),
                    }
                }
            };
            match self.threads {
                Threads::Pool if cols > 1 => (0..cols).into_par_iter().for_each(task),
                _ => (0..cols).for_each(task),
            }
        }
    }

    /// [`Job::block`] compiled for AVX2 + FMA (LLVM vectorizes the lane arrays; `mul_add`
    /// becomes `vfmadd`).
    ///
    /// # Safety
    /// As [`Job::block`], and the CPU has AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block_avx2_fma(&self, out: &SharedOut, r0: usize, r1: usize, c0: usize, c1: usize) {
        // SAFETY: forwarded from the caller.
        unsafe { self.block(out, r0, r1, c0, c1) }
    }

    /// Outputs of rows r0..r1 (of `a`), columns c0..c1 (of `b`) into `out` (the row block that
    /// starts at row r0).
    ///
    /// # Safety
    /// No other thread touches those elements of `out` meanwhile.
    #[inline(always)]
    unsafe fn block(&self, out: &SharedOut, r0: usize, r1: usize, c0: usize, c1: usize) {
        let (a, b, k) = (self.a, self.b, self.a.cols);
        let row = |i: usize| &a.data[i * a.rs..i * a.rs + k];
        let store = |i: usize, j: usize, v: f32| {
            let idx = (i - r0) * self.dst_rs + j;
            assert!(idx < out.1);
            // SAFETY: in bounds (asserted); exclusive per the function's contract.
            let o = unsafe { &mut *out.0.add(idx) };
            *o = if self.accumulate { *o + v } else { v };
        };
        if b.rs == 1 {
            // Dot form: column j of b is b.data[j * cs..][..k].
            let col = |j: usize| &b.data[j * b.cs..j * b.cs + k];
            for j0 in (c0..c1).step_by(NR) {
                let nc = NR.min(c1 - j0);
                let cols = [col(j0), col(j0 + 1.min(nc - 1)), col(j0 + 2.min(nc - 1)), col(j0 + 3.min(nc - 1))];
                for i0 in (r0..r1).step_by(MR) {
                    let nr = MR.min(r1 - i0);
                    let rows = [row(i0), row(i0 + 1.min(nr - 1)), row(i0 + 2.min(nr - 1))];
                    let t = dot_tile(self.path, &rows, &cols, k);
                    for (i, tr) in t.iter().enumerate().take(nr) {
                        for (j, &v) in tr.iter().enumerate().take(nc) {
                            store(i0 + i, j0 + j, v);
                        }
                    }
                }
            }
        } else {
            // Axpy form: row p of b is b.data[p * rs..][c0..c1].
            let mut acc = [0f32; COL_BLOCK];
            for i in r0..r1 {
                let acc = &mut acc[..c1 - c0];
                match self.path {
                    Path::Portable => axpy_row(row(i), b.data, b.rs, c0, acc),
                    // SAFETY: this path runs only where `matmul_on` found AVX2 and FMA.
                    #[cfg(target_arch = "x86_64")]
                    Path::Avx2Fma => unsafe { avx2::axpy_row(row(i), b.data, b.rs, c0, acc) },
                    #[cfg(not(target_arch = "x86_64"))]
                    Path::Avx2Fma => unreachable!(),
                }
                for (j, &v) in acc.iter().enumerate() {
                    store(i, c0 + j, v);
                }
            }
        }
    }
}

/// `acc[j] = Σ_p x[p] · b[p * rs + c0 + j]`, each output one fused multiply-add chain over p.
#[inline(always)]
fn axpy_row(x: &[f32], b: &[f32], rs: usize, c0: usize, acc: &mut [f32]) {
    acc.fill(0.0);
    for (p, &xp) in x.iter().enumerate() {
        let brow = &b[p * rs + c0..p * rs + c0 + acc.len()];
        for (s, &y) in acc.iter_mut().zip(brow) {
            *s = xp.mul_add(y, *s);
        }
    }
}

/// Columns of a packed panel (two ymm registers).
const PANEL: usize = 16;
/// Rows of `x` per packed-form tile (6 × 2 accumulators plus loads fit 16 ymm registers).
const PR: usize = 6;

/// A weight matrix `W[m, k]` packed for [`matmul_packed`]: panels of [`PANEL`] rows stored
/// k-major (`panel[k][j]`), the last panel zero padded. Packed once per layer.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedF32 {
    m: usize,
    k: usize,
    panels: Vec<f32>,
}

impl PackedF32 {
    /// Packs a row-major `m × k` matrix.
    pub fn new(w: &[f32], m: usize, k: usize) -> Self {
        assert_eq!(w.len(), m * k, "weights are {m}x{k}");
        let np = m.div_ceil(PANEL);
        let mut panels = vec![0f32; np * k * PANEL];
        panels.par_chunks_mut((k * PANEL).max(1)).enumerate().for_each(|(p, panel)| {
            for j in 0..PANEL.min(m - p * PANEL) {
                let row = &w[(p * PANEL + j) * k..][..k];
                for (c, &v) in row.iter().enumerate() {
                    panel[c * PANEL + j] = v;
                }
            }
        });
        PackedF32 { m, k, panels }
    }
}

/// `y = x · Wᵀ` for `n` rows of `x` (`n × k`) and a packed `W` (`m × k`), `y` row-major `n × m`.
/// Each output is one fused multiply-add chain over k in increasing order, from +0 (the axpy
/// form's order), whatever the path, blocking or thread count.
pub fn matmul_packed(y: &mut [f32], x: &[f32], n: usize, w: &PackedF32) {
    matmul_packed_on(Path::best(), y, x, n, w);
}

/// [`matmul_packed`] on a chosen path (tests compare the paths).
pub fn matmul_packed_on(path: Path, y: &mut [f32], x: &[f32], n: usize, w: &PackedF32) {
    let (m, k) = (w.m, w.k);
    assert_eq!(x.len(), n * k, "x is {n}x{k}");
    assert_eq!(y.len(), n * m, "y is {n}x{m}");
    #[cfg(target_arch = "x86_64")]
    if path == Path::Avx2Fma {
        assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"), "no AVX2 + FMA");
    }
    #[cfg(not(target_arch = "x86_64"))]
    assert!(path == Path::Portable, "AVX2 + FMA needs an x86_64 CPU");
    if n == 0 || m == 0 {
        return;
    }
    let panels = m.div_ceil(PANEL);
    // Rows of x per block, kept in L2 while every panel streams past once.
    let block_rows = (A_BLOCK_BYTES / (4 * k.max(1))).max(PR) / PR * PR;
    for (blk, yb) in y.chunks_mut(block_rows * m).enumerate() {
        let r0 = blk * block_rows;
        let rows = yb.len() / m;
        let out = &SharedOut(yb.as_mut_ptr(), yb.len());
        (0..panels).into_par_iter().for_each(|p| {
            let panel = &w.panels[p * k * PANEL..(p + 1) * k * PANEL];
            let cols = PANEL.min(m - p * PANEL);
            for i0 in (0..rows).step_by(PR) {
                let nr = PR.min(rows - i0);
                let xr: [&[f32]; PR] = std::array::from_fn(|i| &x[(r0 + i0 + i.min(nr - 1)) * k..][..k]);
                let t = match path {
                    Path::Portable => panel_tile(&xr, panel, k),
                    // SAFETY: this path runs only where AVX2 and FMA were found above.
                    #[cfg(target_arch = "x86_64")]
                    Path::Avx2Fma => unsafe { avx2::panel_tile(&xr, panel, k) },
                    #[cfg(not(target_arch = "x86_64"))]
                    Path::Avx2Fma => unreachable!(),
                };
                for (i, tr) in t.iter().enumerate().take(nr) {
                    let idx = (i0 + i) * m + p * PANEL;
                    assert!(idx + cols <= out.1);
                    // SAFETY: in bounds (asserted); panels are disjoint column ranges, so no
                    // other task writes these elements.
                    let dst = unsafe { std::slice::from_raw_parts_mut(out.0.add(idx), cols) };
                    dst.copy_from_slice(&tr[..cols]);
                }
            }
        });
    }
}

/// One packed-form tile: PR rows of x against one panel, each output a chain over k.
#[allow(clippy::needless_range_loop)] // index loops over the register tile
#[inline(always)]
fn panel_tile(x: &[&[f32]; PR], panel: &[f32], k: usize) -> [[f32; PANEL]; PR] {
    let mut acc = [[0f32; PANEL]; PR];
    for p in 0..k {
        let wv = &panel[p * PANEL..(p + 1) * PANEL];
        for i in 0..PR {
            let xv = x[i][p];
            for j in 0..PANEL {
                acc[i][j] = xv.mul_add(wv[j], acc[i][j]);
            }
        }
    }
    acc
}

/// The destination of a row block, shared by tasks that write disjoint elements of it.
struct SharedOut(*mut f32, usize);
// SAFETY: tasks write disjoint elements only (see `Job::block`).
unsafe impl Sync for SharedOut {}

/// One dot-form tile: MR rows against NR columns (callers repeat a row or column to fill a
/// partial tile and drop its outputs), every output the lane sums of the module's order, reduced
/// in the fixed tree. The whole lane steps run on `path`; the zero-padded last step and the
/// reduction are the same code on both paths.
#[allow(clippy::needless_range_loop)] // index loops over the register tile
#[inline(always)]
fn dot_tile(path: Path, rows: &[&[f32]; MR], cols: &[&[f32]; NR], k: usize) -> [[f32; NR]; MR] {
    let whole = k / LANES * LANES;
    let mut acc = match path {
        Path::Portable => dot_steps(rows, cols, whole),
        // SAFETY: this path runs only where `matmul_on` found AVX2 and FMA; every row and column
        // holds `k >= whole` elements.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2Fma => unsafe { avx2::dot_steps(rows, cols, whole) },
        #[cfg(not(target_arch = "x86_64"))]
        Path::Avx2Fma => unreachable!(),
    };
    if whole < k {
        let pad = |s: &[f32]| -> [f32; LANES] { std::array::from_fn(|l| s.get(whole + l).copied().unwrap_or(0.0)) };
        let av: [[f32; LANES]; MR] = std::array::from_fn(|i| pad(rows[i]));
        for j in 0..NR {
            let bv = pad(cols[j]);
            for i in 0..MR {
                for l in 0..LANES {
                    acc[i][j][l] = av[i][l].mul_add(bv[l], acc[i][j][l]);
                }
            }
        }
    }
    let mut out = [[0f32; NR]; MR];
    for i in 0..MR {
        for j in 0..NR {
            out[i][j] = reduce(acc[i][j]);
        }
    }
    out
}

/// Lane accumulators of a dot-form tile.
type Acc = [[[f32; LANES]; NR]; MR];

/// The whole lane steps (`0..whole`, a multiple of LANES) of a dot-form tile, portable.
#[allow(clippy::needless_range_loop)] // index loops over the register tile
#[inline(always)]
fn dot_steps(rows: &[&[f32]; MR], cols: &[&[f32]; NR], whole: usize) -> Acc {
    let mut acc = [[[0f32; LANES]; NR]; MR];
    for p in (0..whole).step_by(LANES) {
        for j in 0..NR {
            for i in 0..MR {
                for l in 0..LANES {
                    acc[i][j][l] = rows[i][p + l].mul_add(cols[j][p + l], acc[i][j][l]);
                }
            }
        }
    }
    acc
}

// Register tiles read clearest as index loops over the tile (acc[i][j] of row i and column j).
#[allow(clippy::needless_range_loop)]
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Acc, LANES, MR, NR, PANEL, PR};

    /// [`super::panel_tile`] with the 6 × 16 accumulators in ymm registers.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel_tile(x: &[&[f32]; PR], panel: &[f32], k: usize) -> [[f32; PANEL]; PR] {
        assert!(panel.len() >= k * PANEL && x.iter().all(|r| r.len() >= k));
        let xp = [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr(), x[4].as_ptr(), x[5].as_ptr()];
        let wp = panel.as_ptr();
        let mut acc = [[_mm256_setzero_ps(); 2]; PR];
        for p in 0..k {
            // SAFETY: p < k, so the panel's row p (16 floats at 16p) and x[i][p] are in bounds
            // (asserted above).
            let (w0, w1) = unsafe { (_mm256_loadu_ps(wp.add(p * PANEL)), _mm256_loadu_ps(wp.add(p * PANEL + 8))) };
            for i in 0..PR {
                // SAFETY: as above.
                let xv = unsafe { _mm256_broadcast_ss(&*xp[i].add(p)) };
                acc[i][0] = _mm256_fmadd_ps(xv, w0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(xv, w1, acc[i][1]);
            }
        }
        let mut out = [[0f32; PANEL]; PR];
        for i in 0..PR {
            // SAFETY: `out[i]` holds 16 floats.
            unsafe {
                _mm256_storeu_ps(out[i].as_mut_ptr(), acc[i][0]);
                _mm256_storeu_ps(out[i].as_mut_ptr().add(8), acc[i][1]);
            }
        }
        out
    }

    /// [`super::axpy_row`] with 32 outputs at a time in ymm registers (`vfmadd` per lane is the
    /// same chain); the columns past the last 32 run the portable loop, compiled with FMA here.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn axpy_row(x: &[f32], b: &[f32], rs: usize, c0: usize, acc: &mut [f32]) {
        let n = acc.len();
        assert!(x.is_empty() || (x.len() - 1) * rs + c0 + n <= b.len());
        let mut j0 = 0;
        while j0 + 32 <= n {
            let mut v = [_mm256_setzero_ps(); 4];
            for (p, &xp) in x.iter().enumerate() {
                let xv = _mm256_set1_ps(xp);
                let base = p * rs + c0 + j0;
                for (q, vq) in v.iter_mut().enumerate() {
                    // SAFETY: base + 8q + 8 <= (len - 1) * rs + c0 + n <= b.len() (asserted).
                    *vq = _mm256_fmadd_ps(xv, unsafe { _mm256_loadu_ps(b.as_ptr().add(base + 8 * q)) }, *vq);
                }
            }
            for (q, vq) in v.iter().enumerate() {
                // SAFETY: j0 + 8q + 8 <= n = acc.len().
                unsafe { _mm256_storeu_ps(acc.as_mut_ptr().add(j0 + 8 * q), *vq) };
            }
            j0 += 32;
        }
        if j0 < n {
            super::axpy_row(x, b, rs, c0 + j0, &mut acc[j0..]);
        }
    }

    /// [`super::dot_steps`] with the accumulators in ymm registers: `vfmadd` is the same exactly
    /// rounded fused multiply-add, lane by lane.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_steps(rows: &[&[f32]; MR], cols: &[&[f32]; NR], whole: usize) -> Acc {
        assert!(rows.iter().chain(cols).all(|s| s.len() >= whole));
        let rp = [rows[0].as_ptr(), rows[1].as_ptr(), rows[2].as_ptr()];
        let cp = [cols[0].as_ptr(), cols[1].as_ptr(), cols[2].as_ptr(), cols[3].as_ptr()];
        let mut acc = [[_mm256_setzero_ps(); NR]; MR];
        let mut p = 0;
        while p < whole {
            // SAFETY: p + LANES <= whole <= the length of every row and column (asserted).
            let av = unsafe {
                [_mm256_loadu_ps(rp[0].add(p)), _mm256_loadu_ps(rp[1].add(p)), _mm256_loadu_ps(rp[2].add(p))]
            };
            for j in 0..NR {
                // SAFETY: as above.
                let bv = unsafe { _mm256_loadu_ps(cp[j].add(p)) };
                for i in 0..MR {
                    acc[i][j] = _mm256_fmadd_ps(av[i], bv, acc[i][j]);
                }
            }
            p += LANES;
        }
        let mut out = [[[0f32; LANES]; NR]; MR];
        for i in 0..MR {
            for j in 0..NR {
                // SAFETY: `out[i][j]` holds LANES floats.
                unsafe { _mm256_storeu_ps(out[i][j].as_mut_ptr(), acc[i][j]) };
            }
        }
        out
    }
}

/// The fixed reduction tree of a dot-form accumulator.
#[inline(always)]
fn reduce(v: [f32; LANES]) -> f32 {
    let s4 = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
    let s2 = [s4[0] + s4[2], s4[1] + s4[3]];
    s2[0] + s2[1]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order the module documents, written out one output at a time.
    fn dot_ref(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; LANES];
        for (p, (&x, &y)) in a.iter().zip(b).enumerate() {
            acc[p % LANES] = x.mul_add(y, acc[p % LANES]);
        }
        // Zero padding of the last step adds +0 to the lanes it does not reach.
        if !a.len().is_multiple_of(LANES) {
            for v in acc.iter_mut().skip(a.len() % LANES) {
                *v = 0f32.mul_add(0.0, *v);
            }
        }
        reduce(acc)
    }

    fn data(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 3.0
            })
            .collect()
    }

    fn paths() -> Vec<Path> {
        let mut p = vec![Path::Portable];
        if Path::best() != Path::Portable {
            p.push(Path::best());
        }
        eprintln!("f32 GEMM paths on this CPU: {p:?}");
        p
    }

    #[test]
    fn dot_form_is_the_documented_order_on_every_path_and_thread_count() {
        for (m, k, n) in [(1, 1, 1), (5, 7, 3), (7, 64, 9), (130, 576, 70), (4, 13, 130)] {
            let a = data(m * k, 1);
            let w = data(n * k, 2);
            let want: Vec<f32> = (0..m)
                .flat_map(|i| (0..n).map(|j| dot_ref(&a[i * k..][..k], &w[j * k..][..k])).collect::<Vec<_>>())
                .collect();
            for path in paths() {
                for threads in [Threads::Pool, Threads::Single] {
                    let mut got = vec![f32::NAN; m * n];
                    let av = View::row_major(&a, m, k);
                    let bv = View::row_major(&w, n, k).t();
                    matmul_on(path, &mut got, n, av, bv, false, threads);
                    let same = got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(same, "{path:?} {threads:?} m {m} k {k} n {n}");
                }
            }
        }
    }

    #[test]
    fn axpy_form_is_one_fma_chain_on_every_path() {
        for (m, k, n) in [(1, 1, 1), (3, 70, 64), (9, 5, 130)] {
            let a = data(m * k, 3);
            let b = data(k * n, 4);
            let want: Vec<f32> = (0..m)
                .flat_map(|i| {
                    let (a, b) = (&a, &b);
                    (0..n).map(move |j| (0..k).fold(0f32, |s, p| a[i * k + p].mul_add(b[p * n + j], s)))
                })
                .collect();
            for path in paths() {
                let mut got = vec![1f32; m * n];
                matmul_on(
                    path,
                    &mut got,
                    n,
                    View::row_major(&a, m, k),
                    View::row_major(&b, k, n),
                    false,
                    Threads::Pool,
                );
                assert!(got.iter().zip(&want).all(|(x, y)| x.to_bits() == y.to_bits()), "{path:?} m {m} k {k} n {n}");
                // Accumulate adds the product to what is there, once.
                let mut acc = vec![1f32; m * n];
                matmul_on(
                    path,
                    &mut acc,
                    n,
                    View::row_major(&a, m, k),
                    View::row_major(&b, k, n),
                    true,
                    Threads::Single,
                );
                assert!(acc.iter().zip(&want).all(|(x, y)| x.to_bits() == (1.0 + y).to_bits()));
            }
        }
    }

    #[test]
    fn packed_form_is_one_fma_chain_on_every_path() {
        for (n, k, m) in [(1, 1, 1), (7, 5, 17), (13, 70, 33), (300, 64, 16)] {
            let x = data(n * k, 5);
            let w = data(m * k, 6);
            let want: Vec<f32> = (0..n)
                .flat_map(|i| {
                    let (x, w) = (&x, &w);
                    (0..m).map(move |j| (0..k).fold(0f32, |s, p| x[i * k + p].mul_add(w[j * k + p], s)))
                })
                .collect();
            let packed = PackedF32::new(&w, m, k);
            for path in paths() {
                let mut got = vec![f32::NAN; n * m];
                matmul_packed_on(path, &mut got, &x, n, &packed);
                assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{path:?} n {n} k {k} m {m}");
            }
        }
    }
}
