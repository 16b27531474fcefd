#!/usr/bin/env bash
# Sets everything up on a fresh Debian machine and runs the main job: SmolLM2-135M's linear layers
# quantized with SpikeQuant (the host's default recipe: rotation, GPTQ, activation clip; docs/host.md)
# and computed by the golden model of the default array, scored on a few PTB test windows beside
# the f32 model on the same windows. The first run computes GPTQ (a few minutes, then cached).
# Extra arguments go to `spikeq eval` (e.g. --windows 11 --backend verilator).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
command -v cargo >/dev/null || { echo "quickstart: cargo not found; install Rust (rustup) first" >&2; exit 1; }
cargo build --release -q -p spikeq-host
exec target/release/spikeq eval --windows 3 "$@"
