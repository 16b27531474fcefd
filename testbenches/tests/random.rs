//! Seeded random cosimulation: every configuration, random shapes, modes, weights, codes and
//! thresholds; every output element, counter and error flag must equal the golden model's.
//! At least 1,000 RUN calls in total (CALLS per configuration × 5 configurations).

mod common;

use rand::rngs::StdRng;
use rand::SeedableRng;
use spikeq_tb::cases;

/// RUN calls per configuration.
const CALLS: usize = 220;

fn random_suite(name: &str) {
    let seed = common::seed(&format!("random/{name}"));
    let mut cosim = common::cosim(name);
    let mut rng = StdRng::seed_from_u64(common::sub_seed(seed, name));
    let k_max = cosim.derived().config.k_max as usize;
    for i in 0..CALLS {
        let case = cases::random(cosim.derived(), &mut rng, k_max);
        let report = cosim.check(&case).unwrap_or_else(|e| panic!("{name} seed {seed} call {i} {}: {e}", case.describe()));
        if let Some(m) = &report.mismatch {
            panic!(
                "{name} seed {seed} call {i} {}: {m}\n  FST of the rerun: {}",
                case.describe(),
                report.trace.as_ref().map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
    }
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
