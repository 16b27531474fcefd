//! Element-wise kernels of the forward, written as branch-free loops the compiler vectorizes.

/// `e^x` for x in about [-87, 88], relative error below 5e-7: x = r·ln2 + f with r an integer
/// and |f| <= ln2/2 (Cody-Waite split of ln2, so f is exact), a degree-6 polynomial for e^f,
/// scaled by 2^r through the exponent bits. Softmax and SiLU evaluate tens of millions of these
/// per window, where libm's scalar `expf` would cost as much as a GEMM.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding then subtracting 1.5 * 2^23 rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let r = (x * LOG2E + ROUND) - ROUND;
    let f = x - r * LN2_HI - r * LN2_LO;
    let p = 1.0 + f * (1.0 + f * (0.5 + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    p * f32::from_bits(((r as i32 + 127) as u32) << 23)
}

/// `x[i] = e^x[i]`.
pub fn exp_inplace(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = exp(*v));
}

/// Sum with eight independent accumulators, so the loop vectorizes (a plain `sum` is sequential).
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Maximum of a slice (NEG_INFINITY when empty), vectorizable.
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = a.max(v);
        }
    }
    acc.iter().fold(tail, |a, &b| a.max(b))
}

/// RMSNorm of each row of `x` (rows of `w.len()`) into `out`: `x / sqrt(mean(x²) + eps) * w`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    for (xr, or) in x.chunks_exact(w.len()).zip(out.chunks_exact_mut(w.len())) {
        let ms: f64 = xr.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / w.len() as f64;
        let inv = (1.0 / (ms + f64::from(eps)).sqrt()) as f32;
        for ((o, &v), &g) in or.iter_mut().zip(xr).zip(w) {
            *o = v * inv * g;
        }
    }
}

/// `x += y`.
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
}

/// SwiGLU in place: `gate[i] = silu(gate[i]) * up[i]`, silu(g) = g / (1 + e^-g).
pub fn swiglu(gate: &mut [f32], up: &[f32]) {
    gate.iter_mut().zip(up).for_each(|(g, &u)| *g = *g / (1.0 + exp(-*g)) * u);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0f32;
        for i in -8700..8800 {
            let x = i as f32 * 0.01 + 0.003;
            let (a, b) = (exp(x), x.exp());
            worst = worst.max(((a - b) / b).abs());
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn sum_and_max_cover_the_tail() {
        let x: Vec<f32> = (0..19).map(|i| i as f32).collect();
        assert_eq!(sum(&x), 171.0);
        assert_eq!(max(&x), 18.0);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }
}
