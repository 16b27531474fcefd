//! The straight passes the activation quantizer makes over one token row around its two
//! selections: keys below a bound (count and largest), values above a limit (their indices) and
//! the largest magnitude. Written with AVX2 where the CPU has it: the compiler left all three
//! scalar and branchy in the quantizer's loop (`perf` on `quantize_acts`: two thirds of the
//! row's time outside the selections). Each AVX2 form returns exactly what its portable form
//! returns (tests below).

/// How many `keys` are below `bound`, and the largest of them (`i32::MIN` when none is).
pub(crate) fn below(keys: &[i32], bound: i32) -> (usize, i32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        return unsafe { avx2::below(keys, bound) };
    }
    below_portable(keys, bound)
}

fn below_portable(keys: &[i32], bound: i32) -> (usize, i32) {
    keys.iter().filter(|&&v| v < bound).fold((0, i32::MIN), |(n, m), &v| (n + 1, m.max(v)))
}

/// Appends to `out` the indices of the `values` greater than `limit`, ascending (a NaN is never
/// greater).
pub(crate) fn above(values: &[f32], limit: f32, out: &mut Vec<usize>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        return unsafe { avx2::above(values, limit, out) };
    }
    above_portable(values, limit, out)
}

fn above_portable(values: &[f32], limit: f32, out: &mut Vec<usize>) {
    out.extend(values.iter().enumerate().filter(|(_, &v)| v > limit).map(|(k, _)| k));
}

/// `values.fold(init, |m, v| m.max(v.abs()))`: the largest magnitude, NaNs skipped. `init` must
/// not be NaN (the quantizer starts at 0).
pub(crate) fn abs_max(values: &[f32], init: f32) -> f32 {
    debug_assert!(!init.is_nan(), "abs_max starts from a number");
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        return unsafe { avx2::abs_max(values, init) };
    }
    abs_max_portable(values, init)
}

fn abs_max_portable(values: &[f32], init: f32) -> f32 {
    values.iter().fold(init, |m, v| m.max(v.abs()))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// [`super::below`]: eight keys per step, a compare whose all-ones lanes subtract into the
    /// count and select the key for the running maximum.
    #[target_feature(enable = "avx2")]
    pub(super) fn below(keys: &[i32], bound: i32) -> (usize, i32) {
        let b = _mm256_set1_epi32(bound);
        let none = _mm256_set1_epi32(i32::MIN);
        let (mut count, mut max) = (_mm256_setzero_si256(), none);
        let chunks = keys.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            // SAFETY: `c` holds 8 keys; unaligned load.
            let v = unsafe { _mm256_loadu_si256(c.as_ptr().cast()) };
            let lt = _mm256_cmpgt_epi32(b, v);
            count = _mm256_sub_epi32(count, lt);
            max = _mm256_max_epi32(max, _mm256_blendv_epi8(none, v, lt));
        }
        let (mut counts, mut maxes) = ([0i32; 8], [0i32; 8]);
        // SAFETY: both arrays hold 8 i32; unaligned stores.
        unsafe {
            _mm256_storeu_si256(counts.as_mut_ptr().cast(), count);
            _mm256_storeu_si256(maxes.as_mut_ptr().cast(), max);
        }
        let (n, m) = super::below_portable(rest, bound);
        (n + counts.iter().map(|&c| c as usize).sum::<usize>(), maxes.into_iter().fold(m, i32::max))
    }

    /// [`super::above`]: eight values per step, an ordered compare (false for NaN) whose mask's
    /// set bits are the indices.
    #[target_feature(enable = "avx2")]
    pub(super) fn above(values: &[f32], limit: f32, out: &mut Vec<usize>) {
        let l = _mm256_set1_ps(limit);
        let chunks = values.chunks_exact(8);
        let (rest, tail) = (chunks.remainder(), values.len() - values.len() % 8);
        for (i, c) in chunks.enumerate() {
            // SAFETY: `c` holds 8 values; unaligned load.
            let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            let mut mask = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(v, l)) as u32;
            while mask != 0 {
                out.push(8 * i + mask.trailing_zeros() as usize);
                mask &= mask - 1;
            }
        }
        out.extend(rest.iter().enumerate().filter(|(_, &v)| v > limit).map(|(k, _)| tail + k));
    }

    /// [`super::abs_max`]: `vmaxps(|v|, m)` gives `m` when `|v|` is NaN, as `f32::max` skips it;
    /// the maximum of numbers does not depend on the order it is taken in.
    #[target_feature(enable = "avx2")]
    pub(super) fn abs_max(values: &[f32], init: f32) -> f32 {
        let magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(i32::MAX));
        let mut max = _mm256_set1_ps(init);
        let chunks = values.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            // SAFETY: `c` holds 8 values; unaligned load.
            let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
            max = _mm256_max_ps(_mm256_and_ps(v, magnitude), max);
        }
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds 8 f32; unaligned store.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), max) };
        super::abs_max_portable(rest, lanes.into_iter().fold(init, f32::max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Values with ties, zeros of both signs, NaNs and infinities among ordinary numbers.
    fn value() -> impl Strategy<Value = f32> {
        prop_oneof![
            4 => -100.0f32..100.0,
            1 => prop::sample::select(vec![0.0, -0.0, 1.5, -1.5, f32::NAN, f32::INFINITY, f32::NEG_INFINITY]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn below_equals_portable(keys in prop::collection::vec(prop_oneof![-3i32..3, any::<i32>()], 0..100),
                                 bound in prop_oneof![-3i32..3, any::<i32>()]) {
            prop_assert_eq!(below(&keys, bound), below_portable(&keys, bound));
        }

        #[test]
        fn above_equals_portable(values in prop::collection::vec(value(), 0..100), limit in value()) {
            let (mut got, mut want) = (vec![7], vec![7]);
            above(&values, limit, &mut got);
            above_portable(&values, limit, &mut want);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn abs_max_equals_portable(values in prop::collection::vec(value(), 0..100), init in 0.0f32..50.0) {
            prop_assert_eq!(abs_max(&values, init).to_bits(), abs_max_portable(&values, init).to_bits());
        }
    }
}
