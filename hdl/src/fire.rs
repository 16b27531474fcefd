//! Output stage of the numeric contract: the threshold-embedded scale of the IF neuron.
//!
//! `theta[m] = s_y / (s_x * s_w[m])` is held as unsigned fixed point `th = round(theta * 2^F)`,
//! at least 1. After integration the neuron fires
//! `c = min(Qy, floor((|V| * 2^F + floor(th / 2)) / th))` spikes of sign(V).

/// Fixed-point threshold of one output row, clamped to `1..=th_max`.
///
/// `th_max` is the smallest threshold that fires no spike for any reachable V
/// ([`crate::config::Derived::th_max`]); clamping there changes no output.
pub fn threshold(s_y: f32, s_x: f32, s_w: f32, frac_bits: u32, th_max: u64) -> u64 {
    let theta = s_y / (s_x * s_w);
    let fixed = (theta * (1u64 << frac_bits) as f32).round();
    // Compared with th_max exactly (DESIGN.md: never in f32, where th_max itself may round):
    // an integer-valued f32 below 2^64 converts to u64 without loss.
    if fixed.is_nan() || f64::from(fixed) >= 18_446_744_073_709_551_616.0 {
        return th_max.max(1);
    }
    (fixed as u64).clamp(1, th_max.max(1))
}

/// The output code of one neuron (fast, closed form).
#[inline]
pub fn fire(v: i64, th: u64, frac_bits: u32, qy: i32) -> i32 {
    debug_assert!(th >= 1);
    let u = ((v.unsigned_abs() as u128) << frac_bits) + (th / 2) as u128;
    let c = (u / th as u128).min(qy as u128) as i32;
    if v < 0 {
        -c
    } else {
        c
    }
}

/// Spikes the neuron emits before it stops (the fire phase of the RTL counts these per row).
#[inline]
pub fn fire_count(v: i64, th: u64, frac_bits: u32, qy: i32) -> u32 {
    fire(v, th, frac_bits, qy).unsigned_abs()
}

/// Reference: the IF neuron as the RTL runs it, one compare-and-subtract per cycle.
pub fn fire_ref(v: i64, th: u64, frac_bits: u32, qy: i32) -> i32 {
    let mut membrane = ((v.unsigned_abs() as u128) << frac_bits) + (th / 2) as u128;
    let mut c = 0;
    while c < qy && membrane >= th as u128 {
        membrane -= th as u128;
        c += 1;
    }
    if v < 0 {
        -c
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn threshold_compares_with_th_max_exactly() {
        // 231168 · 2^8 = 59,179,008 is exact in f32; th_max = 59,179,010 is not (it rounds to
        // 59,179,008 in f32), so an f32 comparison replaced the right threshold by th_max.
        assert_eq!(threshold(231168.0, 1.0, 1.0, 8, 59_179_010), 59_179_008);
        assert_eq!(threshold(f32::INFINITY, 1.0, 1.0, 8, 1000), 1000);
        assert_eq!(threshold(f32::NAN, 1.0, 1.0, 8, 1000), 1000);
        assert_eq!(threshold(-5.0, 1.0, 1.0, 8, 1000), 1);
    }

    proptest! {
        #[test]
        fn closed_form_equals_compare_and_subtract(
            v in -(1i64 << 24)..(1i64 << 24),
            th in 1u64..(1 << 20),
            f in 0u32..12,
            qy in prop::sample::select(vec![1i32, 3, 7, 15, 31, 63, 127]),
        ) {
            prop_assert_eq!(fire(v, th, f, qy), fire_ref(v, th, f, qy));
        }
    }

    #[test]
    fn hand_computed_cases() {
        // theta = 2.5 at F = 1 → th = 5; V = 5: (10 + 2) / 5 = 2 spikes.
        assert_eq!(fire(5, 5, 1, 127), 2);
        assert_eq!(fire(-5, 5, 1, 127), -2);
        // Half rounds up through floor(th/2): V = 1, th = 2 at F = 0 → (1 + 1) / 2 = 1.
        assert_eq!(fire(1, 2, 0, 7), 1);
        assert_eq!(fire(0, 1, 4, 7), 0);
        // Saturates at Qy.
        assert_eq!(fire(1000, 1, 0, 7), 7);
        assert_eq!(fire(-1000, 1, 0, 7), -7);
    }

    #[test]
    fn threshold_rounds_and_clamps() {
        assert_eq!(threshold(1.0, 1.0, 0.4, 2, 1000), 10); // 2.5 * 4
        assert_eq!(threshold(1.0, 1.0, 1e9, 8, 1000), 1, "at least 1");
        assert_eq!(threshold(1.0, 1e-30, 1e-30, 8, 1000), 1000, "at most th_max");
        assert_eq!(threshold(0.0, 0.0, 1.0, 8, 1000), 1000, "NaN saturates (fires nothing)");
    }
}
