//! The r-th smallest of a row of integer keys: the selection under the quantizer's two medians
//! (the MAD salient test). A selection by rank has one answer whatever the algorithm, so the AVX2
//! path returns exactly what `select_nth_unstable` returns; it is about 1.5× faster on rows of
//! 576 to 1,536 keys (docs/benchmarks.md, issue 15 fifth step).

/// The `r`-th smallest of `keys` (0-based). `keys` may be reordered; `scratch` is working memory
/// reused from call to call.
///
/// # Panics
/// When `r >= keys.len()`.
pub(crate) fn nth_key(keys: &mut [i32], r: usize, scratch: &mut Vec<i32>) -> i32 {
    assert!(r < keys.len(), "rank {r} of {} keys", keys.len());
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (and r < keys.len(), asserted above).
        return unsafe { avx2::nth_key(keys, r, scratch) };
    }
    let _ = scratch;
    *keys.select_nth_unstable(r).1
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Parts of at most this many keys are left to `select_nth_unstable`.
    const SMALL: usize = 64;

    /// For each 8-bit mask, the lane indices with their bit set, then the others: a permutation
    /// that moves the selected lanes of a vector to its front.
    static COMPRESS: [[i32; 8]; 256] = compress_table();

    const fn compress_table() -> [[i32; 8]; 256] {
        let mut t = [[0i32; 8]; 256];
        let mut m = 0;
        while m < 256 {
            let mut n = 0;
            let mut b: usize = 0;
            while b < 8 {
                if (m >> b) & 1 == 1 {
                    t[m][n] = b as i32;
                    n += 1;
                }
                b += 1;
            }
            b = 0;
            while b < 8 {
                if (m >> b) & 1 == 0 {
                    t[m][n] = b as i32;
                    n += 1;
                }
                b += 1;
            }
            m += 1;
        }
        t
    }

    /// Quickselect with a vector partition: each round splits the live keys around the median of
    /// five samples into those below it and the rest, eight keys per step (compare, then two
    /// permutations from [`COMPRESS`] and two full-width stores at the two parts' ends), into
    /// one of two pairs of buffers in `scratch` that alternate from round to round; the round
    /// continues in the part that holds rank `r`. Rows of at most [`SMALL`] keys finish with
    /// `select_nth_unstable`.
    ///
    /// The caller guarantees `r < keys.len()` (AVX2 is the function's target feature).
    #[target_feature(enable = "avx2")]
    pub(super) fn nth_key(keys: &mut [i32], mut r: usize, scratch: &mut Vec<i32>) -> i32 {
        // SAFETY: the pointers below stay inside `keys` (`len` live keys) or inside one of the
        // four buffers of `cap` slots in `scratch`; each part is written at most `len + 8 <= cap`
        // wide (a full vector store past its last key).
        unsafe {
            // Each part can take a full vector store past its last key: 8 spare slots per buffer.
            let cap = keys.len() + 8;
            if scratch.len() < 4 * cap {
                scratch.resize(4 * cap, 0);
            }
            let base = scratch.as_mut_ptr();
            let mut src: *mut i32 = keys.as_mut_ptr();
            let mut len = keys.len();
            let mut round = 0;
            loop {
                if len <= SMALL {
                    return *std::slice::from_raw_parts_mut(src, len).select_nth_unstable(r).1;
                }
                let at = |j: usize| *src.add(j);
                let mut sample = [at(0), at(len / 4), at(len / 2), at(3 * len / 4), at(len - 1)];
                sample.sort_unstable();
                let pivot = sample[2];
                let pv = _mm256_set1_epi32(pivot);
                let pair = if round % 2 == 0 { 0 } else { 2 * cap };
                let (lo, hi) = (base.add(pair), base.add(pair + cap));
                let (mut nl, mut nh) = (0, 0);
                let mut i = 0;
                while i + 8 <= len {
                    let v = _mm256_loadu_si256(src.add(i).cast());
                    let below = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(pv, v))) as usize;
                    let to_lo = _mm256_loadu_si256(COMPRESS[below].as_ptr().cast());
                    let to_hi = _mm256_loadu_si256(COMPRESS[below ^ 0xff].as_ptr().cast());
                    _mm256_storeu_si256(lo.add(nl).cast(), _mm256_permutevar8x32_epi32(v, to_lo));
                    _mm256_storeu_si256(hi.add(nh).cast(), _mm256_permutevar8x32_epi32(v, to_hi));
                    let k = below.count_ones() as usize;
                    nl += k;
                    nh += 8 - k;
                    i += 8;
                }
                for j in i..len {
                    let v = at(j);
                    if v < pivot {
                        *lo.add(nl) = v;
                        nl += 1;
                    } else {
                        *hi.add(nh) = v;
                        nh += 1;
                    }
                }
                round += 1;
                if r < nl {
                    (src, len) = (lo, nl);
                    continue;
                }
                r -= nl;
                (src, len) = (hi, nh);
                if nl == 0 {
                    // The pivot is the least key: nothing went below it. Rank r is the pivot while
                    // r counts its copies; else continue with the keys above it.
                    let part = std::slice::from_raw_parts_mut(hi, nh);
                    let copies = part.iter().filter(|&&v| v == pivot).count();
                    if r < copies {
                        return pivot;
                    }
                    r -= copies;
                    let mut w = 0;
                    for j in 0..nh {
                        if part[j] != pivot {
                            part[w] = part[j];
                            w += 1;
                        }
                    }
                    len = w;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every rank of rows short and long, with few distinct values (many copies) or many.
        #[test]
        fn equals_select_nth_unstable(keys in prop::collection::vec(prop_oneof![-3i32..3, any::<i32>()], 1..700),
                                      at in 0.0f64..1.0) {
            let r = ((keys.len() as f64 * at) as usize).min(keys.len() - 1);
            let mut want = keys.clone();
            let want = *want.select_nth_unstable(r).1;
            let mut scratch = Vec::new();
            let mut got = keys.clone();
            prop_assert_eq!(nth_key(&mut got, r, &mut scratch), want);
            // The scratch reused for another row.
            let mut again = keys.clone();
            prop_assert_eq!(nth_key(&mut again, r, &mut scratch), want);
        }
    }

    #[test]
    fn all_equal_and_sorted_rows() {
        let mut scratch = Vec::new();
        for n in [65, 100, 576, 1536] {
            let mut same = vec![7; n];
            assert_eq!(nth_key(&mut same, n / 2, &mut scratch), 7);
            let sorted: Vec<i32> = (0..n as i32).collect();
            for r in [0, n / 2, n - 1] {
                assert_eq!(nth_key(&mut sorted.clone(), r, &mut scratch), r as i32);
                let mut reversed: Vec<i32> = sorted.iter().rev().copied().collect();
                assert_eq!(nth_key(&mut reversed, r, &mut scratch), r as i32);
            }
        }
    }
}
