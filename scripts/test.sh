#!/usr/bin/env bash
# Sets everything up (idempotent) and runs the whole test suite: unit, property, RTL lint,
# Icarus, Verilator cosimulation, synthesis, model and end-to-end tests. Nothing is skipped:
# a test whose tool or asset is missing fails and says how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --release --all-features
