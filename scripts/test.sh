#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the whole test suite: unit, property, RTL lint,
# Icarus, Verilator cosimulation, synthesis, model and end-to-end tests, after rustfmt --check and
# clippy -D warnings. Nothing is skipped:
# a test whose tool or asset is missing fails and says how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Habits first: formatting (rustfmt.toml) and lints, warnings as errors.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --all-features -q -- -D warnings
# The suite runs optimized but with overflow checks and debug assertions on in spikeq's own
# crates (profile `test-checked`): a width bug must fail, not wrap.
cargo test --workspace --profile test-checked --all-features
