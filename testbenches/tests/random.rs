//! Seeded random cosimulation: every configuration, random shapes, modes, weights, codes and
//! thresholds; every output element, counter and error flag must equal the golden model's.
//! At least 1,000 RUN calls in total (CALLS per configuration × 5 configurations).

mod common;

use rand::rngs::StdRng;
use rand::SeedableRng;
use spikeq_hdl::OutputMode;
use spikeq_tb::cases;

/// RUN calls per configuration.
const CALLS: usize = 400;

fn random_suite(name: &str) {
    let seed = common::seed(&format!("random/{name}"));
    let mut cosim = common::cosim(name);
    let mut rng = StdRng::seed_from_u64(common::sub_seed(seed, name));
    let d = cosim.derived().clone();
    let k_max = d.config.k_max as usize;
    // What the cases exercised, so a generator change that makes them trivial is noticed.
    let (mut fired, mut saturated, mut overflow, mut range) = (0, 0, 0, 0);
    for i in 0..CALLS {
        let case = cases::random(cosim.derived(), &mut rng, k_max);
        let report =
            cosim.check(&case).unwrap_or_else(|e| panic!("{name} seed {seed} call {i} {}: {e}", case.describe()));
        if let Some(m) = &report.mismatch {
            panic!(
                "{name} seed {seed} call {i} {}: {m}\n  FST of the rerun: {}",
                case.describe(),
                report.trace.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
        if case.mode == OutputMode::Fire {
            fired += usize::from(report.expected.outputs.iter().any(|&c| c != 0 && c.abs() < d.qy));
            saturated += usize::from(report.expected.outputs.iter().any(|&c| c.abs() == d.qy));
        }
        overflow += usize::from(report.expected.flags.salient_overflow);
        range += usize::from(report.expected.flags.code_range);
    }
    eprintln!("{name}: {CALLS} calls, fire with partial counts {fired}, saturated {saturated}, salient overflow {overflow}, code range {range}");
    if d.supports(OutputMode::Fire) {
        assert!(fired > 10 && saturated > 0, "{name}: fire cases too trivial ({fired} partial, {saturated} saturated)");
    }
    if d.salient_depth > 0 {
        assert!(overflow > 0, "{name}: no case overflowed the salient budget");
    }
    assert!(range > 0, "{name}: no case had an out-of-range code");
}

#[test]
fn random_spike_int4() {
    random_suite("spike_int4");
}

#[test]
fn random_mac_int4() {
    random_suite("mac_int4");
}

#[test]
fn random_spike_ternary() {
    random_suite("spike_ternary");
}

#[test]
fn random_spike_binary() {
    random_suite("spike_binary");
}

#[test]
fn random_spike_int8_raw() {
    random_suite("spike_int8_raw");
}
