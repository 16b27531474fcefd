//! Shared by the cosimulation suites: configurations, the seed, one built array per test.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::PathBuf;

use spikeq_hdl::Derived;
use spikeq_tb::cosim::CosimOptions;
use spikeq_tb::{Builder, Cosim};

/// The suites' configurations (testbenches/tests/configs/): both PE kinds, int4/int8/ternary/binary,
/// raw and fire, with and without a salient path, rows/lanes that are not powers of two.
pub const CONFIGS: [&str; 5] = ["spike_int4", "mac_int4", "spike_ternary", "spike_binary", "spike_int8_raw"];

pub fn config(name: &str) -> Derived {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/configs").join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Derived::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Generated, built (cached) and reset array of a configuration.
pub fn cosim(name: &str) -> Cosim {
    let builder = Builder::new().expect("Verilator is needed: run scripts/setup.sh");
    Cosim::new(&builder, &config(name), CosimOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The suite's seed: `SPIKEQ_SEED` if set, else a fresh one; printed first so a failure can be
/// reproduced with `SPIKEQ_SEED=<seed> cargo test --release -p spikeq-tb`.
pub fn seed(suite: &str) -> u64 {
    let seed = match std::env::var("SPIKEQ_SEED") {
        Ok(s) => s.trim().parse().unwrap_or_else(|_| panic!("SPIKEQ_SEED={s:?} is not a u64")),
        Err(_) => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
        }
    };
    eprintln!("{suite}: seed {seed} (reproduce with SPIKEQ_SEED={seed})");
    seed
}

/// A per-configuration seed derived from the suite seed, so configurations see different cases.
pub fn sub_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0x9E37_79B9_7F4A_7C15, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3))
}
