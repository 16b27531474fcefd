//! The numeric contract's quantizers (DESIGN.md v1): weights per output row, activations per token
//! with salient selection. One implementation, used by the golden model and by the host.

use std::cell::RefCell;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::format::WeightFormat;
use crate::rowscan;
use crate::select::nth_key;

/// A quantized weight matrix, M rows × K columns, row-major codes and one scale per row.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantWeights {
    /// Output length M.
    pub m: usize,
    /// Input length K.
    pub k: usize,
    /// Format the codes are in.
    pub format: WeightFormat,
    /// Codes, `m * k`, row-major.
    pub codes: Vec<i8>,
    /// Scale s_w of each row.
    pub scales: Vec<f32>,
}

/// Quantizes an M×K row-major matrix.
pub fn quantize_weights(w: &[f32], m: usize, k: usize, format: WeightFormat) -> QuantWeights {
    assert_eq!(w.len(), m * k, "weight matrix is {m}x{k}");
    let mut codes = vec![0i8; m * k];
    let mut scales = Vec::with_capacity(m);
    for (row, out) in w.chunks_exact(k.max(1)).zip(codes.chunks_exact_mut(k.max(1))) {
        let s = format.row_scale(row);
        for (o, &x) in out.iter_mut().zip(row) {
            *o = format.code(x, s);
        }
        scales.push(s);
    }
    QuantWeights { m, k, format, codes, scales }
}

/// How the salient set of a token is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SalientSelector {
    /// No salient values: every code is a normal code.
    None,
    /// Median absolute deviation: k is salient iff |x_k - med| > tau · mad.
    Mad {
        /// Multiple of the MAD beyond which a value is salient.
        tau: f32,
    },
    /// The `frac · K` (rounded) values of largest |x_k - med|.
    Topk {
        /// Fraction of the row that is salient.
        frac: f32,
    },
}

impl SalientSelector {
    /// Parses `none`, `mad:TAU` (or `mad` = tau 6) and `topk:FRAC`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, arg) = s.split_once(':').map_or((s, None), |(a, b)| (a, Some(b)));
        let num = |a: Option<&str>, default: f32| -> Result<f32, String> {
            match a {
                None => Ok(default),
                Some(t) => t
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(|| format!("salient selector {s:?}: {t:?} is not a non-negative number")),
            }
        };
        match name {
            "none" => Ok(SalientSelector::None),
            "mad" => Ok(SalientSelector::Mad { tau: num(arg, 6.0)? }),
            "topk" => {
                let frac = num(arg, 0.025)?;
                if frac > 1.0 {
                    return Err(format!("salient selector {s:?}: the fraction must be at most 1"));
                }
                Ok(SalientSelector::Topk { frac })
            }
            _ => Err(format!("unknown salient selector {s:?}: use none, mad:TAU or topk:FRAC")),
        }
    }
}

/// Median in f32; the median of an even count is the mean of the two middle values.
pub fn median(values: &mut [f32]) -> f32 {
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    // Selection instead of a full sort: the order statistics are the same values.
    let (below, &mut upper, _) = values.select_nth_unstable_by(n / 2, |a, b| a.total_cmp(b));
    if n % 2 == 1 {
        upper
    } else {
        let lower = below.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (lower + upper) / 2.0
    }
}

/// Salient indices of one token row, ascending. At most `max_salient` are kept: largest
/// |x_k - med| first, ties by lower k. A NaN is never salient (the MAD test's comparison is false
/// for it, and top-k ranks it last), so it cannot take the place of a real outlier.
pub fn select_salient(x: &[f32], selector: SalientSelector, max_salient: usize) -> Vec<usize> {
    let mut scratch = SalientScratch::default();
    select_salient_into(x, selector, max_salient, &mut scratch);
    scratch.chosen
}

/// Working memory of [`select_salient_into`], reused from row to row so selecting allocates
/// nothing once it has grown to the row length.
#[derive(Debug, Default)]
pub struct SalientScratch {
    keys: Vec<i32>,
    dev: Vec<f32>,
    chosen: Vec<usize>,
    /// The selection's own buffers ([`nth_key`]).
    select: Vec<i32>,
    /// Deviation ranks of the chosen values when they exceed the budget ([`deviation_rank`]).
    ranks: Vec<u64>,
}

/// An integer whose order is `f32::total_cmp`'s: selecting on these is selecting on the values,
/// with plain integer comparisons.
#[inline(always)]
fn order_key(v: f32) -> i32 {
    let b = v.to_bits() as i32;
    b ^ (((b >> 31) as u32) >> 1) as i32
}

/// The inverse of [`order_key`] (the map is an involution).
#[inline(always)]
fn from_order_key(k: i32) -> f32 {
    f32::from_bits((k ^ (((k >> 31) as u32) >> 1) as i32) as u32)
}

/// [`median`] of the values behind `keys` (reordered): the same order statistics, so the same
/// value for finite inputs. Of an even count the lower middle key is the largest key below the
/// upper one when exactly n/2 keys are below it, else (copies) the upper one itself.
#[inline(always)]
fn median_of_keys(keys: &mut [i32], scratch: &mut Vec<i32>) -> f32 {
    let n = keys.len();
    let upper = nth_key(keys, n / 2, scratch);
    if n % 2 == 1 {
        return from_order_key(upper);
    }
    let (below, max_below) = rowscan::below(keys, upper);
    let lower = if below == n / 2 { max_below } else { upper };
    (from_order_key(lower) + from_order_key(upper)) / 2.0
}

/// [`select_salient`] into `scratch` (the indices it returns live there).
#[inline(always)]
pub fn select_salient_into<'s>(
    x: &[f32],
    selector: SalientSelector,
    max_salient: usize,
    scratch: &'s mut SalientScratch,
) -> &'s [usize] {
    let SalientScratch { keys, dev, chosen, select, ranks } = scratch;
    chosen.clear();
    if matches!(selector, SalientSelector::None) || max_salient == 0 || x.is_empty() {
        return chosen;
    }
    keys.clear();
    keys.extend(x.iter().map(|&v| order_key(v)));
    let med = median_of_keys(keys, select);
    dev.clear();
    dev.extend(x.iter().map(|v| (v - med).abs()));
    match selector {
        SalientSelector::Mad { tau } => {
            keys.clear();
            keys.extend(dev.iter().map(|&v| order_key(v)));
            let limit = tau * median_of_keys(keys, select);
            rowscan::above(dev, limit, chosen);
        }
        SalientSelector::Topk { frac } => {
            let n = (frac * x.len() as f32).round() as usize;
            chosen.extend(0..x.len());
            chosen.sort_by(|&a, &b| by_deviation(dev, a, b));
            chosen.truncate(n);
            chosen.retain(|&k| !dev[k].is_nan());
            chosen.sort_unstable();
        }
        SalientSelector::None => unreachable!(),
    }
    // `chosen` is in index order here.
    if chosen.len() > max_salient {
        // The `max_salient` first in the deviation order: a selection on integer ranks that sort
        // as `by_deviation` does (the index is part of the rank), not a sort, as they are put
        // in index order next.
        ranks.clear();
        ranks.extend(chosen.iter().map(|&k| deviation_rank(dev[k], k)));
        ranks.select_nth_unstable(max_salient - 1);
        chosen.clear();
        chosen.extend(ranks[..max_salient].iter().map(|&r| (r & u64::from(u32::MAX)) as usize));
        chosen.sort_unstable();
    }
    chosen
}

/// An integer whose ascending order is [`by_deviation`]'s for value `k` of deviation `dev`:
/// larger deviation first (a NaN last), then lower index.
#[inline(always)]
fn deviation_rank(dev: f32, k: usize) -> u64 {
    let key = order_key(if dev.is_nan() { f32::NEG_INFINITY } else { dev });
    // `order_key` ascends with the value as an i32; flipping its sign bit makes it ascend as a
    // u32, and its complement descends.
    let descending = !((key as u32) ^ 0x8000_0000);
    let index = u32::try_from(k).expect("a token row is shorter than 2^32 values");
    (u64::from(descending) << 32) | u64::from(index)
}

/// Largest deviation first, NaN last, ties by lower index.
fn by_deviation(dev: &[f32], a: usize, b: usize) -> std::cmp::Ordering {
    let key = |k: usize| if dev[k].is_nan() { f32::NEG_INFINITY } else { dev[k] };
    key(b).total_cmp(&key(a)).then(a.cmp(&b))
}

/// Activation code widths of a scheme.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ActBits {
    /// Normal code bits `ba`.
    pub normal: u32,
    /// Salient code bits `bs`.
    pub salient: u32,
}

impl ActBits {
    /// Qa = 2^(ba-1) - 1.
    pub fn qa(self) -> i32 {
        (1 << (self.normal - 1)) - 1
    }
    /// Qs = 2^(bs-1) - 1.
    pub fn qs(self) -> i32 {
        (1 << (self.salient - 1)) - 1
    }
}

/// Dynamic per-token scale: max |x_k| over non-salient k, divided by Qa; zero becomes 1.
/// `salient` must be ascending (as [`select_salient`] returns it).
#[inline(always)]
pub fn dynamic_scale(x: &[f32], salient: &[usize], qa: i32) -> f32 {
    // The maximum of the runs between salient indices: a maximum of finite values does not
    // depend on the order it is taken in, and whole runs vectorize.
    let mut max = 0f32;
    let mut start = 0;
    for &k in salient.iter().chain(std::iter::once(&x.len())) {
        max = rowscan::abs_max(&x[start..k.max(start)], max);
        start = k + 1;
    }
    let s = max / qa as f32;
    if s == 0.0 || !s.is_finite() {
        1.0
    } else {
        s
    }
}

/// Codes of one token row given its scale: normal codes clamp at Qa, salient codes at Qs.
#[inline(always)]
pub fn quantize_codes(x: &[f32], scale: f32, salient: &[usize], bits: ActBits, out: &mut [i8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        unsafe { round_row_avx2(x, scale, bits.qa() as f32, out) };
    } else {
        round_row(x, scale, bits.qa() as f32, out);
    }
    #[cfg(not(target_arch = "x86_64"))]
    round_row(x, scale, bits.qa() as f32, out);
    let qs = bits.qs() as f32;
    for &k in salient {
        out[k] = round_code(x[k] / scale, qs);
    }
}

/// Every code of a row clamped at `limit`: the loop the quantizer spends its time in.
#[inline(always)]
fn round_row(x: &[f32], scale: f32, limit: f32, out: &mut [i8]) {
    for (o, v) in out.iter_mut().zip(x) {
        *o = round_code(v / scale, limit);
    }
}

/// [`round_row`] compiled for AVX2 (the same IEEE operations, eight lanes at a time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn round_row_avx2(x: &[f32], scale: f32, limit: f32, out: &mut [i8]) {
    round_row(x, scale, limit, out);
}

/// `q.round().clamp(-limit, limit) as i8` for `limit` <= 127, inline: `f32::round` is a libm
/// call on baseline x86-64. Within ±256 truncation is exact (`as i32`) and so is the fraction
/// `c - trunc(c)`; a fraction of at least one half rounds away from zero. NaN gives 0, as the
/// cast does.
#[inline]
fn round_code(q: f32, limit: f32) -> i8 {
    let c = q.clamp(-256.0, 256.0);
    let t = c as i32;
    let f = c - t as f32;
    let r = t + i32::from(f >= 0.5) - i32::from(f <= -0.5);
    // Clamped as an integer (the same value for these integers and the integral limits): an
    // f32 clamp followed by a saturating f32 → i8 cast kept the loop from vectorizing (2.5×).
    let limit = limit as i32;
    r.clamp(-limit, limit) as i8
}

/// Quantization of a batch of token rows.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantActs {
    /// Token rows N.
    pub n: usize,
    /// Row length K.
    pub k: usize,
    /// Codes, `n * k`, row-major.
    pub codes: Vec<i8>,
    /// Scale s_x of each token row.
    pub scales: Vec<f32>,
    /// Salient values chosen, summed over the rows.
    pub salient_count: usize,
}

/// Quantizes N token rows of length K: salient selection, then the dynamic scale of each row, or
/// the given static scale.
pub fn quantize_acts(
    x: &[f32],
    k: usize,
    bits: ActBits,
    selector: SalientSelector,
    max_salient: usize,
    static_scale: Option<f32>,
) -> QuantActs {
    quantize_acts_by(x, k, bits, selector, max_salient, |row, salient| match static_scale {
        Some(s) if s > 0.0 && s.is_finite() => s,
        Some(_) => 1.0,
        None => dynamic_scale(row, salient, bits.qa()),
    })
}

/// Quantizes N token rows of length K with the scale `scale(row, salient indices)` gives each row
/// (the host's clipped scales are one such rule). Rows are independent, so they are quantized in
/// parallel, each thread with its own reused [`SalientScratch`].
pub fn quantize_acts_by(
    x: &[f32],
    k: usize,
    bits: ActBits,
    selector: SalientSelector,
    max_salient: usize,
    scale: impl Fn(&[f32], &[usize]) -> f32 + Sync,
) -> QuantActs {
    thread_local! {
        static SCRATCH: RefCell<SalientScratch> = RefCell::default();
    }
    assert!(k > 0 && x.len().is_multiple_of(k), "activation length {} is not a multiple of K = {k}", x.len());
    let n = x.len() / k;
    let mut codes = vec![0i8; n * k];
    let mut scales = vec![0f32; n];
    let selector = if bits.salient > bits.normal { selector } else { SalientSelector::None };
    let salient_count = x
        .par_chunks_exact(k)
        .zip(codes.par_chunks_exact_mut(k))
        .zip(scales.par_iter_mut())
        .with_min_len(8)
        .map(|((row, out), s)| {
            SCRATCH.with_borrow_mut(|scratch| {
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: AVX2 is present.
                    return unsafe { quantize_row_avx2(row, bits, selector, max_salient, &scale, scratch, s, out) };
                }
                quantize_row(row, bits, selector, max_salient, &scale, scratch, s, out)
            })
        })
        .sum();
    QuantActs { n, k, codes, scales, salient_count }
}

/// One token row of [`quantize_acts_by`]: its salient indices, its scale (into `s`) and its codes
/// (into `out`); returns the salient count.
#[allow(clippy::too_many_arguments)] // the row's inputs and outputs, as the caller holds them
#[inline(always)]
fn quantize_row(
    row: &[f32],
    bits: ActBits,
    selector: SalientSelector,
    max_salient: usize,
    scale: &impl Fn(&[f32], &[usize]) -> f32,
    scratch: &mut SalientScratch,
    s: &mut f32,
    out: &mut [i8],
) -> usize {
    let salient = select_salient_into(row, selector, max_salient, scratch);
    *s = scale(row, salient);
    quantize_codes(row, *s, salient, bits, out);
    salient.len()
}

/// [`quantize_row`] compiled for AVX2: the same IEEE operations (Rust never fuses a multiply and
/// an add on its own), on eight lanes where the baseline build has four.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quantize_row_avx2(
    row: &[f32],
    bits: ActBits,
    selector: SalientSelector,
    max_salient: usize,
    scale: &impl Fn(&[f32], &[usize]) -> f32,
    scratch: &mut SalientScratch,
    s: &mut f32,
    out: &mut [i8],
) -> usize {
    quantize_row(row, bits, selector, max_salient, scale, scratch, s, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::ALL_FORMATS;

    #[test]
    fn fast_weight_quantizer_matches_reference_for_every_format() {
        let row: Vec<f32> = (0..97).map(|i| ((i * 37 % 23) as f32 - 11.0) * 0.173).collect();
        let zero = [0f32; 8];
        for f in ALL_FORMATS {
            for r in [&row[..], &zero[..]] {
                let s = f.row_scale(r);
                assert_eq!(s.to_bits(), f.row_scale_ref(r).to_bits(), "{f}");
                for &w in r {
                    assert_eq!(f.code(w, s), f.code_ref(w, s), "{f} w={w}");
                }
            }
        }
    }

    /// The element-by-element form of [`dynamic_scale`]'s maximum.
    fn dynamic_scale_ref(x: &[f32], salient: &[usize], qa: i32) -> f32 {
        let max = x.iter().enumerate().filter(|(k, _)| !salient.contains(k)).fold(0f32, |m, (_, v)| m.max(v.abs()));
        let s = max / qa as f32;
        if s == 0.0 || !s.is_finite() {
            1.0
        } else {
            s
        }
    }

    #[test]
    fn row_kernels_equal_their_element_by_element_forms() {
        let mut state = 0x9e37_79b9_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let bits = ActBits { normal: 4, salient: 8 };
        for len in [1usize, 2, 7, 31, 64, 576, 1536] {
            for _ in 0..20 {
                let x: Vec<f32> = (0..len)
                    .map(|_| (next() as f32 / u32::MAX as f32 - 0.5) * [1e-3, 1.0, 40.0][next() as usize % 3])
                    .collect();
                let mut salient: Vec<usize> = (0..next() as usize % 5).map(|_| next() as usize % len).collect();
                salient.sort_unstable();
                salient.dedup();
                let s = dynamic_scale(&x, &salient, bits.qa());
                assert_eq!(s.to_bits(), dynamic_scale_ref(&x, &salient, bits.qa()).to_bits(), "len {len}");
                let (mut fast, mut slow) = (vec![0i8; len], vec![0i8; len]);
                quantize_codes(&x, s, &salient, bits, &mut fast);
                for (o, v) in slow.iter_mut().zip(&x) {
                    *o = round_code(v / s, bits.qa() as f32);
                }
                for &k in &salient {
                    slow[k] = round_code(x[k] / s, bits.qs() as f32);
                }
                assert_eq!(fast, slow, "len {len}");
            }
        }
    }

    #[test]
    fn int4_hand_computed_with_ties_and_clipping() {
        // max |w| = 1.4 → s = 0.2; 0.1/0.2 = 0.5 rounds away from zero to 1; -0.3/0.2 = -1.5 → -2.
        let w = [1.4f32, 0.1, -0.3, 0.0, -1.4];
        let q = quantize_weights(&w, 1, 5, WeightFormat::Int(4));
        assert_eq!(q.scales[0], 1.4f32 / 7.0);
        assert_eq!(q.codes, vec![7, 1, -2, 0, -7]);
        // Symmetric: -8 never used at 4 bits.
        assert!(q.codes.iter().all(|&c| c >= -7));
    }

    #[test]
    fn zero_rows_get_scale_one() {
        for f in ALL_FORMATS {
            let q = quantize_weights(&[0.0; 6], 2, 3, f);
            assert_eq!(q.scales, vec![1.0, 1.0], "{f}");
        }
        let q = quantize_weights(&[0.0; 3], 1, 3, WeightFormat::Binary);
        assert_eq!(q.codes, vec![1, 1, 1], "binary maps 0 to +1");
    }

    #[test]
    fn ternary_and_binary_hand_computed() {
        // mean |w| = (0.9 + 0.1 + 0.5 + 0.5) / 4 = 0.5.
        let w = [0.9f32, -0.1, 0.5, -0.5];
        let t = quantize_weights(&w, 1, 4, WeightFormat::Ternary);
        assert_eq!(t.scales[0], 0.5);
        assert_eq!(t.codes, vec![1, 0, 1, -1]);
        let b = quantize_weights(&w, 1, 4, WeightFormat::Binary);
        assert_eq!(b.codes, vec![1, -1, 1, -1]);
    }

    #[test]
    fn median_even_count_is_mean_of_middle_pair() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), 3.0);
    }

    #[test]
    fn mad_selects_outliers_and_budget_keeps_largest_then_lowest_index() {
        let mut x = vec![0.1f32, -0.1, 0.2, -0.2, 0.0, 0.1, -0.1, 0.0];
        x[2] = 9.0;
        x[5] = -9.0;
        x[7] = 5.0;
        let s = select_salient(&x, SalientSelector::Mad { tau: 3.0 }, 8);
        assert_eq!(s, vec![2, 5, 7]);
        // med = -0.05, so |9 - med| = 9.05 > |-9 - med| = 8.95 > |5 - med|.
        let s = select_salient(&x, SalientSelector::Mad { tau: 3.0 }, 2);
        assert_eq!(s, vec![2, 5]);
        let s = select_salient(&x, SalientSelector::Mad { tau: 3.0 }, 1);
        assert_eq!(s, vec![2]);
        // An exact tie on the deviation goes to the lower index.
        let s = select_salient(&[0.0, -1.0, 1.0, 0.0], SalientSelector::Mad { tau: 1.0 }, 1);
        assert_eq!(s, vec![1]);
    }

    #[test]
    fn topk_never_picks_nan() {
        let x = [1.0f32, f32::NAN, 9.0, 0.0, -1.0];
        // total_cmp ranks NaN above every deviation; the real outlier (9) must win.
        assert_eq!(select_salient(&x, SalientSelector::Topk { frac: 0.2 }, 4), vec![2]);
        assert!(!select_salient(&x, SalientSelector::Topk { frac: 1.0 }, 5).contains(&1));
        assert!(!select_salient(&x, SalientSelector::Mad { tau: 0.0 }, 5).contains(&1));
    }

    #[test]
    fn topk_ties_by_lower_index() {
        let x = [1.0f32, -1.0, 1.0, 0.0];
        // med = 0.5; deviations 0.5, 1.5, 0.5, 0.5 → top 1 is k=1; top 2 adds k=0 (tie, lowest k).
        assert_eq!(select_salient(&x, SalientSelector::Topk { frac: 0.25 }, 4), vec![1]);
        assert_eq!(select_salient(&x, SalientSelector::Topk { frac: 0.5 }, 4), vec![0, 1]);
    }

    #[test]
    fn codes_clip_at_their_budget_and_scale_ignores_salient() {
        let x = [0.7f32, -0.35, 10.0, 0.05];
        let bits = ActBits { normal: 4, salient: 8 };
        let s = dynamic_scale(&x, &[2], bits.qa());
        assert_eq!(s, 0.7 / 7.0);
        let mut out = [0i8; 4];
        quantize_codes(&x, s, &[2], bits, &mut out);
        // 10 / 0.1 = 100 fits the salient budget; -0.35/0.1 = -3.5 → -4 (half away from zero).
        assert_eq!(out, [7, -4, 100, 1]);
        quantize_codes(&x, s, &[], bits, &mut out);
        assert_eq!(out[2], 7, "a non-salient outlier clips at Qa");
        assert_eq!(dynamic_scale(&[0.0; 3], &[], 7), 1.0, "zero scale becomes 1");
    }

    #[test]
    fn deviation_ranks_order_as_by_deviation() {
        let dev = [3.0, f32::NAN, 0.0, 3.0, f32::INFINITY, 1e-40, 7.5, f32::NAN, 0.0, 2.0];
        for a in 0..dev.len() {
            for b in 0..dev.len() {
                let want = by_deviation(&dev, a, b);
                assert_eq!(deviation_rank(dev[a], a).cmp(&deviation_rank(dev[b], b)), want, "{a} {b}");
            }
        }
    }

    #[test]
    fn selector_parsing() {
        assert_eq!(SalientSelector::parse("mad:4.5").unwrap(), SalientSelector::Mad { tau: 4.5 });
        assert_eq!(SalientSelector::parse("none").unwrap(), SalientSelector::None);
        assert!(SalientSelector::parse("topk:2").is_err());
        assert!(SalientSelector::parse("bogus").is_err());
    }

    /// The selector as DESIGN.md states it, with full sorts: the reference of the selection path.
    fn select_salient_sorted(x: &[f32], tau: f32, max_salient: usize) -> Vec<usize> {
        let med_of = |v: &[f32]| {
            let mut s = v.to_vec();
            s.sort_by(f32::total_cmp);
            let n = s.len();
            if n % 2 == 1 {
                s[n / 2]
            } else {
                (s[n / 2 - 1] + s[n / 2]) / 2.0
            }
        };
        let med = med_of(x);
        let dev: Vec<f32> = x.iter().map(|v| (v - med).abs()).collect();
        let limit = tau * med_of(&dev);
        let mut chosen: Vec<usize> = (0..x.len()).filter(|&k| dev[k] > limit).collect();
        chosen.sort_by(|&a, &b| dev[b].total_cmp(&dev[a]).then(a.cmp(&b)));
        chosen.truncate(max_salient);
        chosen.sort_unstable();
        chosen
    }

    #[test]
    fn selection_on_order_keys_equals_sorting_and_rounding_equals_f32_round() {
        let mut s = 0x9e37_79b9u32;
        let mut scratch = SalientScratch::default();
        for len in [1usize, 2, 3, 8, 64, 575, 576] {
            for trial in 0..20 {
                let x: Vec<f32> = (0..len)
                    .map(|i| {
                        s ^= s << 13;
                        s ^= s >> 17;
                        s ^= s << 5;
                        let v = (s % 2001) as f32 / 100.0 - 10.0;
                        // Repeated values, signed zeros and outliers.
                        match (i + trial) % 11 {
                            0 => 0.0,
                            1 => -0.0,
                            2 => v * 40.0,
                            3 => 1.25,
                            _ => v,
                        }
                    })
                    .collect();
                for max_salient in [0, 3, len] {
                    let got = select_salient_into(&x, SalientSelector::Mad { tau: 2.5 }, max_salient, &mut scratch);
                    assert_eq!(got, select_salient_sorted(&x, 2.5, max_salient), "len {len} trial {trial}");
                }
            }
        }
        for i in -70_000..70_000 {
            let q = i as f32 * 0.003_7;
            for limit in [7.0, 127.0] {
                assert_eq!(round_code(q, limit), q.round().clamp(-limit, limit) as i8, "q {q}");
            }
        }
        for q in [0.5f32, -0.5, 1.5, -2.5, 126.5, -127.5, 1e9, -1e9, f32::NAN, f32::INFINITY, -0.0] {
            assert_eq!(round_code(q, 127.0), q.round().clamp(-127.0, 127.0) as i8, "q {q}");
        }
    }
}
