//! Orthogonal Hadamard transforms of a vector, applied in O(n log n) without a dense matrix:
//! `T = H · D / √n`, where `D` is a fixed diagonal of ±1 and `H = H_a ⊗ H_b ⊗ …` a Kronecker
//! product of small Hadamard matrices — Paley's order 12 and Sylvester's powers of two. SmolLM2's
//! widths need both: 576 = 12 · 12 · 4 and 1536 = 12 · 128 (no Sylvester matrix has these orders).
//!
//! Rotation (`crate::llm::rotate`) fuses such transforms into the weights, and the forward applies
//! one online before `down` ([`super::llama::Llama::set_down_input`]), so the transform must be
//! cheap per token: each factor is applied along its own axis of the index, a Paley factor as a
//! 12 × 12 product of signs, a power of two as the Walsh butterfly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::ModelError;

/// Order of Paley's Hadamard matrix used as a factor.
const PALEY: usize = 12;

/// One Kronecker factor.
#[derive(Debug, Clone, PartialEq)]
enum Factor {
    /// Paley's H12 (construction I from GF(11)), as rows of ±1.
    Paley(Vec<[f64; PALEY]>),
    /// Sylvester's H_{2^p}, applied by the butterfly.
    Walsh(usize),
}

impl Factor {
    fn order(&self) -> usize {
        match self {
            Factor::Paley(_) => PALEY,
            Factor::Walsh(n) => *n,
        }
    }
}

/// Paley's construction I for q = 11 ≡ 3 (mod 4): `H = I + C`, C the skew conference matrix
/// `[[0, 1ᵀ], [-1, Q]]` with Q the Jacobsthal matrix `Q[i][j] = χ(j - i)` (χ the quadratic
/// character mod 11). `C Cᵀ = 11 I` and `C + Cᵀ = 0` make `H Hᵀ = 12 I`.
fn paley12() -> Vec<[f64; PALEY]> {
    let q = PALEY - 1;
    let squares: Vec<usize> = (1..q).map(|x| x * x % q).collect();
    let chi = |a: usize| {
        if a == 0 {
            0.0
        } else if squares.contains(&a) {
            1.0
        } else {
            -1.0
        }
    };
    let mut h = vec![[0f64; PALEY]; PALEY];
    for (i, row) in h.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            let c = match (i, j) {
                (0, 0) => 0.0,
                (0, _) => 1.0,
                (_, 0) => -1.0,
                _ => chi((j + q - i) % q),
            };
            *v = c + if i == j { 1.0 } else { 0.0 };
        }
    }
    h
}

/// `T = H · D / √n` on vectors of one length.
#[derive(Debug, Clone, PartialEq)]
pub struct Hadamard {
    n: usize,
    /// Factors, most significant axis first.
    factors: Vec<Factor>,
    /// The diagonal D (±1), applied before H.
    signs: Vec<f64>,
}

impl Hadamard {
    /// The transform of length `n` with random signs drawn from `seed`: n must be a power of two
    /// times at most two factors of 12 (covers 576 and 1536; other lengths are an error).
    pub fn new(n: usize, seed: u64) -> Result<Self, ModelError> {
        let mut factors = Vec::new();
        let mut rest = n;
        while rest > 0 && rest.is_multiple_of(PALEY) && factors.len() < 2 {
            factors.push(Factor::Paley(paley12()));
            rest /= PALEY;
        }
        if rest == 0 || !rest.is_power_of_two() {
            return Err(ModelError::Mismatch {
                what: "Hadamard transform length".into(),
                expected: "2^p, 12 · 2^p or 144 · 2^p".into(),
                got: n.to_string(),
            });
        }
        if rest > 1 {
            factors.push(Factor::Walsh(rest));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let signs = (0..n).map(|_| if rng.gen::<bool>() { 1.0 } else { -1.0 }).collect();
        Ok(Hadamard { n, factors, signs })
    }

    /// Vector length.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the length is zero (never, for a constructed transform).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// `v ← T v`, in f64. Every output is computed with the operations, in the order, of the
    /// textbook form (`apply_f64_ref` in the tests: sign, then per factor a left-to-right sum of
    /// ±x over the factor's axis or the butterfly's x ± y, then the norm), so the result is the
    /// same bit for bit; the loops only run over contiguous memory so that they vectorize.
    pub fn apply_f64(&self, v: &mut [f64]) {
        assert_eq!(v.len(), self.n, "Hadamard transform of length {} applied to {}", self.n, v.len());
        let mut a: Vec<f64> = v.iter().zip(&self.signs).map(|(x, s)| x * s).collect();
        self.factors_in(&mut a, &mut Vec::new());
        let norm = self.norm();
        v.iter_mut().zip(&a).for_each(|(o, x)| *o = x * norm);
    }

    /// `1 / √n`, the last step of the transform.
    fn norm(&self) -> f64 {
        1.0 / (self.n as f64).sqrt()
    }

    /// The factors of the transform on the signed vector `a` (the result is left in `a`; `b` is
    /// working memory of the same use), on the best compilation.
    fn factors_in(&self, a: &mut Vec<f64>, b: &mut Vec<f64>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            return unsafe { self.factors_avx2(a, b) };
        }
        self.factors_with(a, b);
    }

    /// The factors themselves (see [`Hadamard::apply_f64`]). A Paley factor reads one buffer and
    /// writes the other (the two are swapped after it), so no copy of its input is made.
    #[inline(always)]
    fn factors_with(&self, a: &mut Vec<f64>, b: &mut Vec<f64>) {
        // Axis of factor i: the elements `stride` apart inside a run of `order · stride`.
        let mut stride = self.n;
        for f in &self.factors {
            let order = f.order();
            stride /= order;
            match f {
                Factor::Paley(h) => {
                    b.resize(self.n, 0.0);
                    for (src, dst) in a.chunks_exact(order * stride).zip(b.chunks_exact_mut(order * stride)) {
                        paley_axis(h, src, dst, stride);
                    }
                    std::mem::swap(a, b);
                }
                Factor::Walsh(_) => a.chunks_exact_mut(order * stride).for_each(|run| walsh_axis(run, order, stride)),
            }
        }
    }

    /// [`Hadamard::factors_with`] compiled for AVX2: the same IEEE additions, four f64 lanes at a
    /// time instead of two.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn factors_avx2(&self, a: &mut Vec<f64>, b: &mut Vec<f64>) {
        self.factors_with(a, b)
    }

    /// `v ← T v` for an f32 vector (computed in f64, rounded once): the signs are applied as the
    /// values are widened and the norm as they are rounded back, each the same multiply as in
    /// [`Hadamard::apply_f64`]. The f64 buffers are per thread and reused: the forward applies
    /// this to every token row.
    pub fn apply(&self, v: &mut [f32]) {
        thread_local! {
            static BUFFERS: std::cell::RefCell<(Vec<f64>, Vec<f64>)> = std::cell::RefCell::default();
        }
        assert_eq!(v.len(), self.n, "Hadamard transform of length {} applied to {}", self.n, v.len());
        BUFFERS.with_borrow_mut(|(a, b)| {
            a.clear();
            a.extend(v.iter().zip(&self.signs).map(|(&x, s)| f64::from(x) * s));
            self.factors_in(a, b);
            let norm = self.norm();
            v.iter_mut().zip(a.iter()).for_each(|(o, &x)| *o = (x * norm) as f32);
        });
    }

    /// `T` applied to every row of a row-major matrix whose rows have this length; rows are
    /// independent, so the parallel result equals the sequential one.
    pub fn apply_rows(&self, rows: &mut [f32]) {
        rows.par_chunks_exact_mut(self.n).for_each(|r| self.apply(r));
    }
}

/// One Paley factor on a run of `12 · stride` values, `src` to `dst`: output `a` at offset
/// `off` is `Σ_b h[a][b] · x[b · stride + off]`, summed over b from 0 up. Row b of the run is the
/// contiguous slice `x[b · stride ..][.. stride]`, so the sum runs over whole slices. Every
/// entry is ±1, so `h · x` is exactly ±x and adding it is adding or subtracting x (IEEE defines
/// `o - x` as `o + (-x)`): the same sums without the multiplies.
#[inline(always)]
fn paley_axis(h: &[[f64; PALEY]], src: &[f64], dst: &mut [f64], stride: usize) {
    for (row, out) in h.iter().zip(dst.chunks_exact_mut(stride)) {
        let x0 = &src[..stride];
        if row[0] > 0.0 {
            out.copy_from_slice(x0);
        } else {
            out.iter_mut().zip(x0).for_each(|(o, &x)| *o = -x);
        }
        for (&hb, xb) in row.iter().zip(src.chunks_exact(stride)).skip(1) {
            if hb > 0.0 {
                out.iter_mut().zip(xb).for_each(|(o, &x)| *o += x);
            } else {
                out.iter_mut().zip(xb).for_each(|(o, &x)| *o -= x);
            }
        }
    }
}

/// One Sylvester factor of `order` on a run of `order · stride` values: the butterfly
/// `(x, y) ← (x + y, x - y)` on index pairs `i, i + half` of the axis. The pairs of one block of
/// `2 · half` indices are two contiguous halves of the run.
///
/// Blocks narrower than four values (the first levels on the last axis, stride 1) are done
/// over fixed-size chunks instead, so no level loops over one or two values per block: the same
/// additions on the same pairs.
#[inline(always)]
fn walsh_axis(run: &mut [f64], order: usize, stride: usize) {
    let mut half = 1;
    while half < order && half * stride == 1 {
        for p in run.chunks_exact_mut(2) {
            let (a, b) = (p[0], p[1]);
            p[0] = a + b;
            p[1] = a - b;
        }
        half *= 2;
    }
    while half < order && half * stride == 2 {
        for q in run.chunks_exact_mut(4) {
            let (a0, a1, b0, b1) = (q[0], q[1], q[2], q[3]);
            q[0] = a0 + b0;
            q[1] = a1 + b1;
            q[2] = a0 - b0;
            q[3] = a1 - b1;
        }
        half *= 2;
    }
    while half < order {
        for block in run.chunks_exact_mut(2 * half * stride) {
            let (xs, ys) = block.split_at_mut(half * stride);
            for (x, y) in xs.iter_mut().zip(ys) {
                let (a, b) = (*x, *y);
                *x = a + b;
                *y = a - b;
            }
        }
        half *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paley12_is_a_hadamard_matrix() {
        let h = paley12();
        for (i, a) in h.iter().enumerate() {
            assert!(a.iter().all(|v| v.abs() == 1.0), "row {i} has entries other than ±1");
            for (j, b) in h.iter().enumerate() {
                let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                assert_eq!(dot, if i == j { 12.0 } else { 0.0 }, "rows {i}, {j}");
            }
        }
    }

    /// The dense matrix of T, column j = T e_j.
    fn dense(t: &Hadamard) -> Vec<Vec<f64>> {
        (0..t.len())
            .map(|j| {
                let mut e = vec![0f64; t.len()];
                e[j] = 1.0;
                t.apply_f64(&mut e);
                e
            })
            .collect()
    }

    #[test]
    fn transforms_are_orthogonal_with_entries_of_one_magnitude() {
        for n in [8, 12, 48, 144, 576, 1536] {
            let t = Hadamard::new(n, 7).unwrap();
            let cols = dense(&t);
            let mag = 1.0 / (n as f64).sqrt();
            for (j, c) in cols.iter().enumerate() {
                assert!(c.iter().all(|v| (v.abs() - mag).abs() < 1e-12), "n {n}: column {j} is not ±1/√n");
            }
            // Orthogonal columns: checked on a sample of pairs (all pairs of 1536 are slow).
            for (a, b) in [(0, 1), (0, n - 1), (3, n / 2), (n / 3, n / 3), (n - 1, n - 1)] {
                let dot: f64 = cols[a].iter().zip(&cols[b]).map(|(x, y)| x * y).sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "n {n}: columns {a}, {b} give {dot}");
            }
        }
    }

    /// The textbook form of [`Hadamard::apply_f64`], element by element: the reference the
    /// vectorizable form must equal bit for bit.
    fn apply_f64_ref(t: &Hadamard, v: &mut [f64]) {
        v.iter_mut().zip(&t.signs).for_each(|(x, s)| *x *= s);
        let mut stride = t.n;
        for f in &t.factors {
            let order = f.order();
            stride /= order;
            for run in v.chunks_exact_mut(order * stride) {
                for off in 0..stride {
                    match f {
                        Factor::Paley(h) => {
                            let mut x = [0f64; PALEY];
                            for (a, xa) in x.iter_mut().enumerate() {
                                *xa = run[off + a * stride];
                            }
                            for (a, row) in h.iter().enumerate() {
                                run[off + a * stride] = row.iter().zip(&x).map(|(h, x)| h * x).sum();
                            }
                        }
                        Factor::Walsh(_) => {
                            let mut half = 1;
                            while half < order {
                                for start in (0..order).step_by(2 * half) {
                                    for i in start..start + half {
                                        let (a, b) = (off + i * stride, off + (i + half) * stride);
                                        let (x, y) = (run[a], run[b]);
                                        run[a] = x + y;
                                        run[b] = x - y;
                                    }
                                }
                                half *= 2;
                            }
                        }
                    }
                }
            }
        }
        let norm = 1.0 / (t.n as f64).sqrt();
        v.iter_mut().for_each(|x| *x *= norm);
    }

    #[test]
    fn fast_transform_equals_the_textbook_form_bit_for_bit() {
        let mut rng = StdRng::seed_from_u64(15);
        for n in [1, 2, 8, 12, 24, 48, 144, 576, 1536, 4096] {
            let t = Hadamard::new(n, n as u64).unwrap();
            for scale in [0.0, -0.0, 1e-30, 1.0, 3.7e5] {
                let x: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0) * scale).collect();
                let (mut fast, mut slow) = (x.clone(), x);
                t.apply_f64(&mut fast);
                apply_f64_ref(&t, &mut slow);
                let same = fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "n {n}: the vectorized transform differs from the textbook one");
            }
        }
    }

    #[test]
    fn f32_transform_is_the_f64_one_rounded_once() {
        let mut rng = StdRng::seed_from_u64(16);
        for n in [12, 576, 1536] {
            let t = Hadamard::new(n, 3).unwrap();
            let x: Vec<f32> = (0..n).map(|_| rng.gen_range(-4.0f32..4.0)).collect();
            let mut wide: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
            let mut narrow = x;
            t.apply_f64(&mut wide);
            t.apply(&mut narrow);
            let same = narrow.iter().zip(&wide).all(|(a, &b)| a.to_bits() == (b as f32).to_bits());
            assert!(same, "n {n}: the f32 transform is not the f64 one rounded");
        }
    }

    #[test]
    fn unsupported_lengths_are_an_error() {
        for n in [0, 3, 100, 12 * 12 * 12] {
            assert!(Hadamard::new(n, 1).is_err(), "length {n}");
        }
    }

    #[test]
    fn the_seed_picks_the_signs() {
        assert_eq!(Hadamard::new(576, 1).unwrap(), Hadamard::new(576, 1).unwrap());
        assert_ne!(Hadamard::new(576, 1).unwrap(), Hadamard::new(576, 2).unwrap());
    }
}
