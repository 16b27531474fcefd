//! Layer cases ([`Case`]): one LOAD + one RUN call on one row tile, random or directed.
//!
//! Shared by the test suites and `spikeq cosim` so that a seed means the same cases everywhere.

use rand::rngs::StdRng;
use rand::Rng;
use spikeq_hdl::{Case, Derived, OutputMode, PeKind, WeightFormat};

/// Largest tokens per random call (a few keep the suite quick yet exercise back-to-back tokens).
pub const MAX_TOKENS: usize = 3;

/// A random weight code valid for the format (binary has no 0).
fn weight(d: &Derived, rng: &mut StdRng) -> i8 {
    if d.config.weight_format == WeightFormat::Binary {
        if rng.gen_bool(0.5) {
            1
        } else {
            -1
        }
    } else {
        rng.gen_range(-d.qw..=d.qw) as i8
    }
}

/// One token of codes the way a quantizer makes them: mostly small normal codes, a few salient
/// ones up to the budget, now and then one over budget or out of range (the RTL must flag those).
fn token(d: &Derived, rng: &mut StdRng, k: usize, out: &mut Vec<i8>) {
    let (qa, qs) = (d.qa, d.qs);
    let sparsity = rng.gen_range(0.0..0.6);
    let start = out.len();
    for _ in 0..k {
        let q = if rng.gen_bool(sparsity) {
            0
        } else {
            // Triangular-ish magnitudes: small codes are likelier, as after quantization.
            let a = rng.gen_range(0..=qa);
            let b = rng.gen_range(0..=qa);
            let mag = a.min(b).max(if rng.gen_bool(0.2) { qa } else { 0 });
            if rng.gen_bool(0.5) {
                mag
            } else {
                -mag
            }
        };
        out.push(q as i8);
    }
    if qs > qa {
        let budget = d.config.max_salient as usize;
        let mut n_sal = rng.gen_range(0..=budget.min(k));
        if rng.gen_bool(0.1) {
            n_sal = (n_sal + rng.gen_range(1..=2)).min(k);
        }
        for _ in 0..n_sal {
            let i = start + rng.gen_range(0..k);
            let mag = rng.gen_range(qa + 1..=qs);
            out[i] = if rng.gen_bool(0.5) { mag as i8 } else { -mag as i8 };
        }
    }
    if rng.gen_bool(0.03) {
        // Out of range: beyond ±Qs (only -128 when Qs = 127).
        let i = start + rng.gen_range(0..k);
        out[i] = if qs < 127 && rng.gen_bool(0.5) { (qs + 1) as i8 } else { -128 };
    }
}

/// Thresholds that make the neurons fire a spread of counts (0 to Qy), plus the extremes.
fn thresholds(d: &Derived, rng: &mut StdRng, k: usize, m: usize) -> Vec<u64> {
    let f = d.config.frac_bits;
    // Typical |V| of the random codes and weights: about sqrt(K) · Qa/2 · Qw/2.
    let typical = ((k as f64).sqrt() * f64::from(d.qa) * f64::from(d.qw) / 4.0).max(1.0);
    (0..m)
        .map(|_| match rng.gen_range(0..10) {
            0 => 1,
            1 => d.th_max,
            2 => rng.gen_range(1..=d.th_max),
            _ => {
                let target = rng.gen_range(0.5..f64::from(d.qy) + 2.0);
                ((typical * f64::from(1u32 << f) / target) as u64).clamp(1, d.th_max)
            }
        })
        .collect()
}

/// A random case on array `d`: random shape (K up to `k_cap`), mode, weights, codes, thresholds.
pub fn random(d: &Derived, rng: &mut StdRng, k_cap: usize) -> Case {
    let c = &d.config;
    let k = rng.gen_range(1..=k_cap.clamp(1, c.k_max as usize));
    let m = rng.gen_range(1..=c.rows as usize);
    let n = rng.gen_range(1..=MAX_TOKENS);
    let mode = c.output_modes[rng.gen_range(0..c.output_modes.len())];
    let weights = (0..m * k).map(|_| weight(d, rng)).collect();
    let mut codes = Vec::with_capacity(n * k);
    for _ in 0..n {
        token(d, rng, k, &mut codes);
    }
    let thresholds = (mode == OutputMode::Fire).then(|| thresholds(d, rng, k, m));
    Case { name: "random".into(), k, m, mode, weights, thresholds, codes }
}

/// Directed edge cases for array `d`, every supported mode: all zero, saturating codes and
/// weights, exactly the salient budget, thresholds 1 and th_max, K and M off the array's
/// multiples, the largest K, one over the salient budget, out-of-range codes.
pub fn directed(d: &Derived) -> Vec<Case> {
    let c = &d.config;
    let (rows, lanes, kmax) = (c.rows as usize, c.lanes as usize, c.k_max as usize);
    let qw = d.qw as i8;
    let (qa, qs) = (d.qa as i8, d.qs as i8);
    let budget = d.salient_depth as usize;
    // K not a multiple of the lanes (when the array allows it), M not a multiple of... anything.
    let k_odd = if lanes > 1 { (lanes + 1).min(kmax) } else { kmax.min(3) };
    let k_odd = if lanes > 1 && k_odd % lanes == 0 { k_odd - 1 } else { k_odd };
    let m_odd = if rows > 1 { rows - 1 } else { 1 };
    let alt = |i: usize, v: i8| if i & 1 == 0 { v } else { -v };
    let mut cases = Vec::new();
    for &mode in &c.output_modes {
        let th = |m: usize, v: u64| (mode == OutputMode::Fire).then(|| vec![v; m]);
        let mut push =
            |name: &str, k: usize, m: usize, weights: Vec<i8>, codes: Vec<i8>, thresholds: Option<Vec<u64>>| {
                cases.push(Case { name: format!("{name} [{mode:?}]"), k, m, mode, weights, thresholds, codes });
            };
        let full_w = |m: usize, k: usize| -> Vec<i8> {
            (0..m * k)
                .map(|i| {
                    if c.weight_format == WeightFormat::Binary {
                        if i % 3 == 0 {
                            -1
                        } else {
                            1
                        }
                    } else {
                        alt(i / 3, qw)
                    }
                })
                .collect()
        };

        // All zero: zero codes (every group costs one cycle), zero weights where the format has 0.
        let zero_w = if c.weight_format == WeightFormat::Binary {
            vec![1; rows * kmax.min(64)]
        } else {
            vec![0; rows * kmax.min(64)]
        };
        push("all zero", kmax.min(64), rows, zero_w, vec![0; 2 * kmax.min(64)], th(rows, 1));

        // Saturating: every code at ±Qa, weights at ±Qw, largest K; threshold 1 so fire saturates at Qy.
        let k = kmax;
        let codes: Vec<i8> = (0..2 * k).map(|i| if i < k { qa } else { alt(i, qa) }).collect();
        push("saturating codes, threshold 1", k, rows, vec![qw; rows * k], codes, th(rows, 1));

        // Exactly the salient budget, every salient code at ±Qs; thresholds at th_max (fires 0).
        if let Some(step) = kmax.checked_div(budget) {
            let k = kmax;
            let mut codes = vec![qa; k];
            for (j, i) in (0..k).step_by(step.max(1)).take(budget).enumerate() {
                codes[i] = alt(j, qs);
            }
            push(
                "maximum salient budget, threshold th_max",
                k,
                rows,
                full_w(rows, k),
                codes.clone(),
                th(rows, d.th_max),
            );
            // One over the budget: the last salient code counts as 0 and ERROR.salient_overflow is set.
            let mut over = codes;
            if let Some(i) = over.iter().position(|&q| q == qa) {
                over[i] = qs;
                push("salient budget + 1", k, rows, full_w(rows, k), over, th(rows, 3));
            }
        }

        // K and M off the array's multiples, mixed codes, per-row thresholds from 1 to th_max.
        let codes: Vec<i8> = (0..3 * k_odd).map(|i| ((i * 7 % (2 * qa as usize + 1)) as i8) - qa).collect();
        let ths = (mode == OutputMode::Fire)
            .then(|| (0..m_odd).map(|r| if r % 2 == 0 { 1 + r as u64 } else { d.th_max - r as u64 }).collect());
        push("K and M not multiples of the array", k_odd, m_odd, full_w(m_odd, k_odd), codes, ths);

        // K = 1, M = 1: the smallest call.
        push("K = 1, M = 1", 1, 1, full_w(1, 1), vec![qa, -qa, 0], th(1, 1 << c.frac_bits));

        // Codes out of range: clamped and flagged.
        let k = lanes.min(kmax);
        let mut codes = vec![1i8; k];
        codes[0] = -128;
        if qs < 127 {
            codes[k - 1] = qs + 1;
        }
        push("codes out of range", k, rows, full_w(rows, k), codes, th(rows, 1));
    }
    if c.pe == PeKind::Mac {
        // The MAC baseline multiplies any code: all at ±Qs, the widest products.
        let k = kmax;
        let codes: Vec<i8> = (0..k).map(|i| alt(i, qs)).collect();
        cases.push(Case {
            name: "MAC: every code at Qs".into(),
            k,
            m: rows,
            mode: OutputMode::Raw,
            weights: vec![qw; rows * k],
            thresholds: None,
            codes,
        });
    }
    cases
}
