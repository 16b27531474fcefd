//! Array configurations: TOML text → `ArrayConfig::from_toml` → `validate`. An accepted
//! configuration must round-trip through its TOML with the same hash, and its derived widths
//! must hold its own worst case within the stream and register limits the RTL declares: the
//! golden model, run on the worst-case layer (every weight at ±Qw, the salient budget at Qs, the
//! other codes at Qa, K = k_max), must give exactly ±v_max with no flag raised, and fire at most
//! Qy spikes. One accepted input in 32 also goes through the RTL generator, which must take it.

use rand::rngs::StdRng;
use spikeq_hdl::config::{sbits, ubits, STREAM_BITS};
use spikeq_hdl::{ArrayConfig, Derived, Golden, OutputMode, PeKind, Tile};

use super::{mutate_toml, s};
use crate::Target;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct ConfigTarget;

const KEYS: [&str; 14] = [
    "name",
    "pe",
    "rows",
    "lanes",
    "weight_format",
    "act_bits",
    "salient_bits",
    "max_salient",
    "output_modes",
    "frac_bits",
    "out_bits",
    "k_max",
    "m_max",
    "clock_mhz",
];

impl Target for ConfigTarget {
    fn name(&self) -> &'static str {
        "config"
    }

    fn max_len(&self) -> usize {
        4096
    }

    fn run(&self, input: &[u8]) -> bool {
        let text = String::from_utf8_lossy(input);
        let Ok(c) = ArrayConfig::from_toml(&text) else { return false };
        let Ok(d) = c.validate() else { return false };
        let back = ArrayConfig::from_toml(&c.to_toml()).expect("an accepted configuration's TOML parses");
        assert_eq!(back.hash(), d.hash, "the TOML of an accepted configuration changes its hash");
        assert_eq!(back.validate().expect("and validates").hash, d.hash);
        // The widths hold the worst case, within what the streams and registers carry.
        assert_eq!(d.acc_bits, sbits(d.v_max), "acc_bits for v_max {}", d.v_max);
        assert!(d.acc_bits <= STREAM_BITS, "acc_bits {}", d.acc_bits);
        if d.supports(OutputMode::Fire) {
            assert!(
                d.th_bits <= STREAM_BITS && d.th_max < 1u64 << d.th_bits,
                "th_max {} th_bits {}",
                d.th_max,
                d.th_bits
            );
            let membrane = (u128::from(d.v_max) << d.config.frac_bits.min(64)) + u128::from(d.th_max / 2);
            assert!(membrane < 1u128 << d.membrane_bits, "membrane {membrane} in {} bits", d.membrane_bits);
            assert!(d.fire_compare_bits >= d.th_bits.max(d.membrane_bits));
        }
        assert!(d.config.k_max <= d.groups_max * d.config.lanes && 1u64 << d.k_index_bits >= u64::from(d.config.k_max));
        assert!(d.memory_depth >= d.groups_max && d.salient_slots >= d.salient_depth);
        assert_eq!(d.time_bits, ubits(d.qa as u64));
        let _ = d.report();
        worst_case(&d);
        // Generating the RTL takes ~40 ms: done for one accepted input in GENERATE_EVERY, picked
        // by the input's bytes so that replaying a reproducer generates again.
        if input.iter().fold(0u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % GENERATE_EVERY == 0 {
            if let Err(e) = spikeq_codegen::generate(&d) {
                panic!("an accepted configuration does not generate: {e}");
            }
        }
        true
    }

    fn structured(&self, input: &[u8], rng: &mut StdRng) -> Option<Vec<u8>> {
        let values = [
            s("spike"),
            s("mac"),
            s("int2"),
            s("int8"),
            s("int9"),
            s("int0"),
            s("ternary"),
            s("binary"),
            s(""),
            s("a b"),
            toml::Value::Array(vec![s("raw")]),
            toml::Value::Array(vec![s("fire")]),
            toml::Value::Array(vec![]),
            toml::Value::Array(vec![s("fire"), s("fire"), s("raw")]),
            toml::Value::Boolean(true),
        ];
        mutate_toml(input, &KEYS, &values, rng)
    }
}

/// One accepted input in this many also generates its RTL (the generator must take every
/// configuration `validate` accepts).
const GENERATE_EVERY: u32 = 32;

/// Largest K of the worst-case layer the target runs (a longer k_max is checked on this prefix;
/// the exact ±v_max check needs K = k_max).
const WORST_K: u32 = 4096;

/// Runs the worst-case layer of `d` through the golden model (see the module documentation).
fn worst_case(d: &Derived) {
    let c = &d.config;
    let k = c.k_max.min(WORST_K) as usize;
    // The salient budget at Qs (all of K on the MAC PE, whose lanes take any code), the rest at Qa.
    let n_sal = match (d.qs > d.qa, c.pe) {
        (false, _) => 0,
        (true, PeKind::Spike) => d.salient_depth as usize,
        (true, PeKind::Mac) => k,
    };
    let codes: Vec<i8> = (0..k).map(|i| if i < n_sal.min(k) { d.qs } else { d.qa } as i8).collect();
    let golden = Golden::new(d);
    for sign in [1i8, -1] {
        let weights = vec![sign * d.qw as i8; k];
        for &mode in &c.output_modes {
            for th in [1, d.th_max] {
                let ths = [th];
                let thresholds = (mode == OutputMode::Fire).then_some(&ths[..]);
                let tile = Tile { k, m: 1, weights: &weights, thresholds, mode };
                let run = golden.run_tile(&tile, &codes).expect("the worst-case layer is a valid call");
                assert_eq!(run.flags.error_bits(), 0, "worst case raised a flag");
                let v = run.outputs[0];
                match mode {
                    OutputMode::Raw if c.k_max <= WORST_K => {
                        assert_eq!(i64::from(v), i64::from(sign) * d.v_max as i64, "worst |V| is not v_max")
                    }
                    OutputMode::Raw => assert!(u64::from(v.unsigned_abs()) <= d.v_max),
                    OutputMode::Fire => assert!(v.abs() <= d.qy, "fired {v} > Qy {}", d.qy),
                }
            }
        }
    }
}
