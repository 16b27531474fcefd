//! The golden model against two independent references: a naive i64 dot product for the values,
//! and a cycle-stepped simulation of the spike engines (adds only) for values and cycle counts.

use proptest::prelude::*;
use spikeq_hdl::config::{ArrayConfig, Derived, OutputMode, PeKind};
use spikeq_hdl::fire::fire_ref;
use spikeq_hdl::format::{WeightFormat, ALL_FORMATS};
use spikeq_hdl::golden::{Golden, Layer};

fn config(pe: PeKind, rows: u32, lanes: u32, wf: WeightFormat, max_salient: u32, k_max: u32) -> Derived {
    let modes = if pe == PeKind::Mac { vec![OutputMode::Raw] } else { vec![OutputMode::Raw, OutputMode::Fire] };
    ArrayConfig {
        name: "prop".into(),
        pe,
        rows,
        lanes,
        weight_format: wf,
        act_bits: 4,
        salient_bits: 8,
        max_salient,
        output_modes: modes,
        frac_bits: 6,
        out_bits: 8,
        k_max,
        m_max: 256,
        clock_mhz: 100.0,
        code_buffer_tokens: spikeq_hdl::config::DEFAULT_CODE_BUFFER_TOKENS,
    }
    .validate()
    .expect("valid test configuration")
}

/// Cycle-stepped reference of one token on one tile (cycle contract v2): each lane walks its own
/// non-zero codes, one burst per cycle (the lowest remaining bit j of |q| adds the weight shifted
/// by j); the salient path bursts the digits of one entry in parallel. Returns (V per row, cycles
/// before fire, bursts).
fn step_token(d: &Derived, w: &[i8], k: usize, m: usize, codes: &[i8]) -> (Vec<i64>, u64, u64) {
    let lanes = d.config.lanes as usize;
    let (qa, shift) = (d.qa, d.digit_shift);
    let mut acc = vec![0i64; m];
    let mut lane_codes = codes.to_vec();
    let mut queue = Vec::new();
    for (kk, c) in lane_codes.iter_mut().enumerate() {
        if (*c as i32).abs() > qa && queue.len() < d.salient_depth as usize {
            queue.push((kk, *c as i32));
            *c = 0;
        } else if (*c as i32).abs() > qa {
            *c = 0;
        }
    }
    let mut bursts = 0u64;
    // Lanes: lane l's list of (input, sign, bits left); all lanes step together, each on its own.
    let mut lists: Vec<Vec<(usize, i64, u32)>> = (0..lanes)
        .map(|l| {
            (l..k)
                .step_by(lanes)
                .filter(|&kk| lane_codes[kk] != 0)
                .map(|kk| {
                    let q = lane_codes[kk] as i32;
                    (kk, q.signum() as i64, q.unsigned_abs())
                })
                .collect()
        })
        .collect();
    let mut lane_cycles = 1u64; // the fill cycle: each lane reads its first weight
    while lists.iter().any(|l| !l.is_empty()) {
        for list in lists.iter_mut() {
            if let Some((kk, sign, left)) = list.first_mut() {
                let j = left.trailing_zeros();
                for r in 0..m {
                    acc[r] += *sign * ((w[r * k + *kk] as i64) << j);
                }
                bursts += 1;
                *left &= *left - 1;
                if *left == 0 {
                    list.remove(0);
                }
            }
        }
        lane_cycles += 1;
    }
    // Salient engine: one entry at a time, its digits burst in parallel.
    let mut sal_cycles = 0u64;
    for &(kk, q) in &queue {
        let mag = q.unsigned_abs();
        let mut digits: Vec<u32> = (0..d.salient_digits).map(|j| (mag >> (j * shift)) & ((1 << shift) - 1)).collect();
        while digits.iter().any(|&dj| dj != 0) {
            for (j, dj) in digits.iter_mut().enumerate() {
                if *dj != 0 {
                    let b = dj.trailing_zeros();
                    for r in 0..m {
                        acc[r] += q.signum() as i64 * ((w[r * k + kk] as i64) << (j as u32 * shift + b));
                    }
                    bursts += 1;
                    *dj &= *dj - 1;
                }
            }
            sal_cycles += 1;
        }
    }
    (acc, 1 + lane_cycles.max(sal_cycles), bursts)
}

fn formats() -> impl Strategy<Value = WeightFormat> {
    prop::sample::select(ALL_FORMATS.to_vec())
}

prop_compose! {
    fn layer()(wf in formats(), rows in 1u32..9, lanes in 1u32..9, max_salient in 0u32..6,
               k in 1usize..40, m in 1usize..20, n in 1usize..4)
              (w in prop::collection::vec(-(wf.qmax() as i8)..=(wf.qmax() as i8), m * k),
               codes in prop::collection::vec(prop_oneof![4 => -7i8..=7, 1 => -127i8..=127, 1 => Just(127i8), 1 => Just(-127i8)], n * k),
               wf in Just(wf), rows in Just(rows), lanes in Just(lanes), max_salient in Just(max_salient),
               k in Just(k), m in Just(m))
              -> (WeightFormat, u32, u32, u32, usize, usize, Vec<i8>, Vec<i8>) {
        let w = if wf == WeightFormat::Binary { w.into_iter().map(|x| if x >= 0 { 1 } else { -1 }).collect() } else { w };
        (wf, rows, lanes, max_salient, k, m, w, codes)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn raw_values_equal_naive_i64_and_stepped_cycles((wf, rows, lanes, max_salient, k, m, w, codes) in layer()) {
        let d = config(PeKind::Spike, rows, lanes, wf, max_salient, 64);
        let g = Golden::new(&d);
        let run = g.run_layer(&Layer { m, k, weights: &w, thresholds: None, mode: OutputMode::Raw, codes: &codes }).unwrap();
        let (mut cycles, mut additions) = (0u64, 0u64);
        for (tok, out) in codes.chunks(k).zip(run.outputs.chunks(m)) {
            let overflow = tok.iter().filter(|&&c| (c as i32).abs() > d.qa).count() > d.salient_depth as usize;
            for r in 0..m {
                let naive: i64 = (0..k).map(|kk| tok[kk] as i64 * w[r * k + kk] as i64).sum();
                if !overflow {
                    prop_assert_eq!(out[r] as i64, naive, "row {}", r);
                }
            }
            for m0 in (0..m).step_by(rows as usize) {
                let mt = (rows as usize).min(m - m0);
                let (v, c, b) = step_token(&d, &w[m0 * k..(m0 + mt) * k], k, mt, tok);
                for r in 0..mt {
                    prop_assert_eq!(out[m0 + r] as i64, v[r]);
                }
                cycles += c;
                additions += b * mt as u64;
            }
        }
        prop_assert_eq!(run.counters.cycles, cycles);
        prop_assert_eq!(run.counters.accumulates, additions);
    }

    #[test]
    fn fire_mode_equals_compare_and_subtract((wf, rows, lanes, max_salient, k, m, w, codes) in layer(),
                                             th_seed in prop::collection::vec(1u64..5000, 20)) {
        let d = config(PeKind::Spike, rows, lanes, wf, max_salient, 64);
        let th: Vec<u64> = (0..m).map(|r| th_seed[r % th_seed.len()].min(d.th_max)).collect();
        let g = Golden::new(&d);
        let raw = g.run_layer(&Layer { m, k, weights: &w, thresholds: None, mode: OutputMode::Raw, codes: &codes }).unwrap();
        let fired = g.run_layer(&Layer { m, k, weights: &w, thresholds: Some(&th), mode: OutputMode::Fire, codes: &codes }).unwrap();
        let mut extra = 0u64;
        for (vs, cs) in raw.outputs.chunks(m).zip(fired.outputs.chunks(m)) {
            for m0 in (0..m).step_by(rows as usize) {
                let mut max_c = 0;
                for r in m0..m.min(m0 + rows as usize) {
                    let c = fire_ref(vs[r] as i64, th[r], d.config.frac_bits, d.qy);
                    prop_assert_eq!(cs[r], c);
                    max_c = max_c.max(c.unsigned_abs() as u64);
                }
                // drain the rows' pipelined adders, load membranes, max c spikes, final check
                extra += 3 + max_c;
            }
        }
        prop_assert_eq!(fired.counters.cycles, raw.counters.cycles + extra);
    }

    /// One model serving layers that share their codes (Q, K, V) and layers that do not, in
    /// turn, gives what a fresh model gives each call: the view it keeps is found by the codes.
    #[test]
    fn layers_sharing_codes_equal_fresh_models((wf, rows, lanes, max_salient, k, m, w, codes) in layer(),
                                               m2 in 1usize..20) {
        let d = config(PeKind::Spike, rows, lanes, wf, max_salient, 64);
        let w2: Vec<i8> = (0..m2 * k).map(|i| w[(i * 7 + 3) % w.len()]).collect();
        let other: Vec<i8> = codes.iter().rev().copied().collect();
        let shared = Golden::new(&d);
        for (m, w, codes) in [(m, &w, &codes), (m2, &w2, &codes), (m, &w, &other), (m2, &w2, &codes)] {
            let layer = Layer { m, k, weights: w, thresholds: None, mode: OutputMode::Raw, codes };
            prop_assert_eq!(shared.run_layer(&layer).unwrap(), Golden::new(&d).run_layer(&layer).unwrap());
        }
    }

    #[test]
    fn mac_values_and_cycles((wf, rows, lanes, _s, k, m, w, codes) in layer()) {
        let d = config(PeKind::Mac, rows, lanes, wf, 0, 64);
        let run = Golden::new(&d).run_layer(&Layer { m, k, weights: &w, thresholds: None, mode: OutputMode::Raw, codes: &codes }).unwrap();
        let n = codes.len() / k;
        for (tok, out) in codes.chunks(k).zip(run.outputs.chunks(m)) {
            for r in 0..m {
                let naive: i64 = (0..k).map(|kk| tok[kk] as i64 * w[r * k + kk] as i64).sum();
                prop_assert_eq!(out[r] as i64, naive);
            }
        }
        let tiles = m.div_ceil(rows as usize) as u64;
        prop_assert_eq!(run.counters.cycles, tiles * n as u64 * (1 + k.div_ceil(lanes as usize) as u64));
        prop_assert_eq!(run.counters.accumulates, (n * k * m) as u64);
    }
}

#[test]
fn salient_overflow_drops_extras_and_flags() {
    let d = config(PeKind::Spike, 2, 2, WeightFormat::Int(4), 1, 16);
    let w = vec![1i8; 4];
    let codes = [100i8, 50, 3, 0];
    let run = Golden::new(&d)
        .run_layer(&Layer { m: 1, k: 4, weights: &w, thresholds: None, mode: OutputMode::Raw, codes: &codes })
        .unwrap();
    assert!(run.flags.salient_overflow);
    assert_eq!(run.outputs, vec![103], "the second salient code (50) is dropped");
}

#[test]
fn all_zero_and_saturating_codes() {
    let d = config(PeKind::Spike, 4, 4, WeightFormat::Int(8), 8, 64);
    let g = Golden::new(&d);
    let w = vec![127i8; 4 * 64];
    let zero = g
        .run_layer(&Layer { m: 4, k: 64, weights: &w, thresholds: None, mode: OutputMode::Raw, codes: &[0i8; 64] })
        .unwrap();
    assert_eq!(zero.outputs, vec![0; 4]);
    assert_eq!(zero.counters.cycles, 1 + 1, "zero codes cost no cycle: clear and the lanes' fill cycle");
    assert_eq!(zero.counters.spikes, 0);
    let mut codes = [7i8; 64];
    codes[..8].copy_from_slice(&[127; 8]);
    let full = g
        .run_layer(&Layer { m: 4, k: 64, weights: &w, thresholds: None, mode: OutputMode::Raw, codes: &codes })
        .unwrap();
    assert_eq!(full.outputs, vec![(56 * 7 + 8 * 127) * 127; 4]);
    // Lanes: each of the 4 lanes holds 14 codes of 7 (3 bursts each) = 42 bursts after a fill
    // cycle; salient path: 8 entries of 127 = digits (7, 7, 1), 3 bursts in parallel → 24 < 43.
    assert_eq!(full.counters.cycles, 1 + 1 + 14 * 3);
    // Additions per row: 56 codes × 3 bits + 8 salient × 7 bits.
    assert_eq!(full.counters.accumulates, 4 * (56 * 3 + 8 * 7));
    assert_eq!(full.counters.spikes, 56 * 7 + 8 * 15);
}

#[test]
fn bad_tiles_are_refused() {
    let d = config(PeKind::Spike, 2, 2, WeightFormat::Ternary, 2, 8);
    let g = Golden::new(&d);
    assert!(
        g.run_layer(&Layer { m: 1, k: 9, weights: &[0; 9], thresholds: None, mode: OutputMode::Raw, codes: &[0; 9] })
            .is_err(),
        "K > k_max"
    );
    assert!(
        g.run_layer(&Layer { m: 1, k: 2, weights: &[2, 0], thresholds: None, mode: OutputMode::Raw, codes: &[0; 2] })
            .is_err(),
        "ternary code 2"
    );
    assert!(
        g.run_layer(&Layer { m: 1, k: 2, weights: &[1, 0], thresholds: None, mode: OutputMode::Fire, codes: &[0; 2] })
            .is_err(),
        "fire without thresholds"
    );
    assert!(
        g.run_layer(&Layer {
            m: 1,
            k: 2,
            weights: &[1, 0],
            thresholds: Some(&[0]),
            mode: OutputMode::Fire,
            codes: &[0; 2]
        })
        .is_err(),
        "threshold 0"
    );
}
