//! The numeric contract's quantizers (DESIGN.md v1): weights per output row, activations per token
//! with salient selection. One implementation, used by the golden model and by the host.

use serde::{Deserialize, Serialize};

use crate::format::WeightFormat;

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
/// |x_k - med| first, ties by lower k.
pub fn select_salient(x: &[f32], selector: SalientSelector, max_salient: usize) -> Vec<usize> {
    if matches!(selector, SalientSelector::None) || max_salient == 0 || x.is_empty() {
        return Vec::new();
    }
    let mut scratch = x.to_vec();
    let med = median(&mut scratch);
    let dev: Vec<f32> = x.iter().map(|v| (v - med).abs()).collect();
    let mut chosen: Vec<usize> = match selector {
        SalientSelector::Mad { tau } => {
            scratch.copy_from_slice(&dev);
            let mad = median(&mut scratch);
            let limit = tau * mad;
            (0..x.len()).filter(|&k| dev[k] > limit).collect()
        }
        SalientSelector::Topk { frac } => {
            let n = (frac * x.len() as f32).round() as usize;
            let mut idx: Vec<usize> = (0..x.len()).collect();
            idx.sort_by(|&a, &b| dev[b].total_cmp(&dev[a]).then(a.cmp(&b)));
            idx.truncate(n);
            idx
        }
        SalientSelector::None => unreachable!(),
    };
    if chosen.len() > max_salient {
        chosen.sort_by(|&a, &b| dev[b].total_cmp(&dev[a]).then(a.cmp(&b)));
        chosen.truncate(max_salient);
    }
    chosen.sort_unstable();
    chosen
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
pub fn dynamic_scale(x: &[f32], salient: &[usize], qa: i32) -> f32 {
    let mut max = 0f32;
    let mut next = salient.iter().peekable();
    for (k, v) in x.iter().enumerate() {
        if next.peek() == Some(&&k) {
            next.next();
            continue;
        }
        max = max.max(v.abs());
    }
    let s = max / qa as f32;
    if s == 0.0 || !s.is_finite() {
        1.0
    } else {
        s
    }
}

/// Codes of one token row given its scale: normal codes clamp at Qa, salient codes at Qs.
pub fn quantize_codes(x: &[f32], scale: f32, salient: &[usize], bits: ActBits, out: &mut [i8]) {
    let (qa, qs) = (bits.qa() as f32, bits.qs() as f32);
    for (o, v) in out.iter_mut().zip(x) {
        *o = (v / scale).round().clamp(-qa, qa) as i8;
    }
    for &k in salient {
        out[k] = (x[k] / scale).round().clamp(-qs, qs) as i8;
    }
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
    assert!(k > 0 && x.len().is_multiple_of(k), "activation length {} is not a multiple of K = {k}", x.len());
    let n = x.len() / k;
    let mut codes = vec![0i8; n * k];
    let mut scales = Vec::with_capacity(n);
    let mut salient_count = 0;
    let selector = if bits.salient > bits.normal { selector } else { SalientSelector::None };
    for (row, out) in x.chunks_exact(k).zip(codes.chunks_exact_mut(k)) {
        let salient = select_salient(row, selector, max_salient);
        let s = match static_scale {
            Some(s) if s > 0.0 && s.is_finite() => s,
            Some(_) => 1.0,
            None => dynamic_scale(row, &salient, bits.qa()),
        };
        quantize_codes(row, s, &salient, bits, out);
        salient_count += salient.len();
        scales.push(s);
    }
    QuantActs { n, k, codes, scales, salient_count }
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
    fn selector_parsing() {
        assert_eq!(SalientSelector::parse("mad:4.5").unwrap(), SalientSelector::Mad { tau: 4.5 });
        assert_eq!(SalientSelector::parse("none").unwrap(), SalientSelector::None);
        assert!(SalientSelector::parse("topk:2").is_err());
        assert!(SalientSelector::parse("bogus").is_err());
    }
}
