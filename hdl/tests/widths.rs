//! Every configuration that `validate` accepts can hold its own worst case: the golden model runs
//! the largest layer the array takes (K = k_max, every weight ±Qw, every code at its largest, the
//! salient queue full) and what it computes must fit each register width the RTL declares from
//! `Derived`. This checks the golden model against the widths, not the widths against their own
//! formulas: a width derivation that drops bits (as frac_bits 57..65 once did) fails here.

use proptest::prelude::*;
use spikeq_hdl::config::{ArrayConfig, Derived, OutputMode, PeKind};
use spikeq_hdl::format::ALL_FORMATS;
use spikeq_hdl::golden::{Golden, Layer};

/// Largest value a signed register of `bits` holds.
fn signed_max(bits: u32) -> u128 {
    (1u128 << (bits - 1)) - 1
}

/// Largest value an unsigned register of `bits` holds.
fn unsigned_max(bits: u32) -> u128 {
    (1u128 << bits) - 1
}

/// The worst-case codes of one token: the spike PE takes `salient_depth` codes at ±Qs on its
/// salient path and Qa on its lanes; the MAC PE multiplies codes up to ±Qs everywhere.
fn worst_codes(d: &Derived, k: usize, sign: i8) -> Vec<i8> {
    (0..k)
        .map(|i| {
            let big = d.config.pe == PeKind::Mac || i < d.salient_depth as usize;
            sign * if big { d.qs } else { d.qa } as i8
        })
        .collect()
}

fn check(d: &Derived) -> Result<(), TestCaseError> {
    let c = &d.config;
    let (m, k) = (c.rows as usize, c.k_max as usize);
    let g = Golden::new(d);
    for (w_sign, x_sign) in [(1i8, 1i8), (-1, 1)] {
        let weights = vec![w_sign * d.qw as i8; m * k];
        let codes = worst_codes(d, k, x_sign);
        let raw = Layer { m, k, weights: &weights, thresholds: None, mode: OutputMode::Raw, codes: &codes };
        let run = g.run_layer(&raw).map_err(|e| TestCaseError::fail(format!("{}: {e}", c.name)))?;
        prop_assert!(!run.flags.any(), "worst case flagged {:?}", run.flags);
        let v_max = run.outputs.iter().map(|v| v.unsigned_abs() as u128).max().unwrap();
        prop_assert!(v_max <= u128::from(d.v_max), "|V| {v_max} > v_max {}", d.v_max);
        prop_assert!(v_max <= signed_max(d.acc_bits), "|V| {v_max} overflows acc_bits {}", d.acc_bits);
        if d.supports(OutputMode::Fire) {
            prop_assert!(u128::from(d.th_max) <= unsigned_max(d.th_bits), "th_max overflows th_bits");
            for th in [1, d.th_max] {
                let membrane = (v_max << c.frac_bits) + u128::from(th / 2);
                prop_assert!(membrane <= unsigned_max(d.membrane_bits), "membrane overflows at th {th}");
                let ths = vec![th; m];
                let fire = Layer { thresholds: Some(&ths), mode: OutputMode::Fire, ..raw };
                let run = g.run_layer(&fire).map_err(|e| TestCaseError::fail(format!("{}: {e}", c.name)))?;
                let count = run.outputs.iter().map(|v| v.unsigned_abs()).max().unwrap();
                prop_assert!(u128::from(count) <= unsigned_max(d.fire_count_bits), "fire count {count} overflows");
            }
        }
    }
    // Indices and counts the loaders and engines hold.
    prop_assert!(u128::from(c.k_max) <= unsigned_max(d.k_index_bits) + 1, "K index");
    prop_assert!(u128::from(c.rows) <= unsigned_max(d.row_index_bits) + 1, "row index");
    prop_assert!(u128::from(c.lanes) <= unsigned_max(d.lane_index_bits) + 1, "lane index");
    prop_assert!(d.groups_max <= d.memory_depth && u128::from(d.memory_depth) <= unsigned_max(d.group_index_bits) + 1);
    prop_assert!(d.qs as u128 <= unsigned_max(d.code_mag_bits), "code magnitude");
    prop_assert!(u128::from(d.salient_depth) <= unsigned_max(d.salient_count_bits), "salient count");
    if c.pe == PeKind::Mac {
        prop_assert!((d.qs * d.qw) as u128 <= signed_max(d.product_bits), "MAC product");
    } else {
        prop_assert!(d.qa as u128 <= unsigned_max(d.time_bits), "spike time");
        prop_assert!(d.salient_depth <= d.salient_slots, "salient slots");
    }
    Ok(())
}

/// A configuration from raw field values; `None` when `validate` refuses it.
#[allow(clippy::too_many_arguments)]
fn accepted(
    mac: bool,
    rows: u32,
    lanes: u32,
    format: usize,
    act: u32,
    salient: u32,
    max_salient: u32,
    frac_bits: u32,
    out_bits: u32,
    k_max: u32,
) -> Option<Derived> {
    let pe = if mac { PeKind::Mac } else { PeKind::Spike };
    let output_modes = if mac { vec![OutputMode::Raw] } else { vec![OutputMode::Raw, OutputMode::Fire] };
    ArrayConfig {
        name: "widths".into(),
        pe,
        rows,
        lanes,
        weight_format: ALL_FORMATS[format % ALL_FORMATS.len()],
        act_bits: act,
        salient_bits: salient,
        max_salient,
        output_modes,
        frac_bits,
        out_bits,
        k_max,
        m_max: rows.max(1),
        clock_mhz: 100.0,
        code_buffer_tokens: spikeq_hdl::config::DEFAULT_CODE_BUFFER_TOKENS,
    }
    .validate()
    .ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_accepted_configuration_holds_its_worst_case(
        mac in any::<bool>(),
        rows in 1u32..=16,
        lanes in 1u32..=64,
        format in 0usize..16,
        act in 2u32..=8,
        salient_extra in 0u32..=6,
        max_salient in prop_oneof![Just(0u32), 1u32..=64, Just(u32::MAX)],
        frac_bits in prop_oneof![0u32..=20, 20u32..=70, Just(u32::MAX)],
        out_bits in 2u32..=8,
        k_max in prop_oneof![1u32..=64, 64u32..=4096],
    ) {
        let salient = (act + salient_extra).min(8);
        // u32::MAX stands for a salient queue as deep as K (the most the check accepts).
        let max_salient = max_salient.min(k_max);
        let d = accepted(mac, rows, lanes, format, act, salient, max_salient, frac_bits, out_bits, k_max);
        prop_assume!(d.is_some());
        check(&d.unwrap())?;
    }
}

#[test]
fn the_largest_shipped_shapes_hold_their_worst_case() {
    // Extremes a random draw rarely meets together: 8-bit everything, the widest K, and F at the
    // largest value the configuration check accepts for the shape.
    let cases = [
        (false, 16, 16, 6, 8, 8, 1536, 8, 2048),
        (true, 16, 16, 6, 8, 8, 0, 8, 4096),
        (false, 4, 64, 0, 2, 8, 4096, 2, 4096),
        (false, 1, 1, 8, 8, 8, 1, 8, 1),
    ];
    for (mac, rows, lanes, format, act, salient, max_salient, out_bits, k_max) in cases {
        let f_cap = (0..=64)
            .rev()
            .find_map(|f| accepted(mac, rows, lanes, format, act, salient, max_salient, f, out_bits, k_max))
            .unwrap_or_else(|| panic!("no frac_bits makes the {k_max}-K configuration valid"));
        check(&f_cap).unwrap();
    }
}
