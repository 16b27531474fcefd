#!/usr/bin/env bash
# Builds a real iCE40 bitstream of configs/tiny.toml for the iCEBreaker board (iCE40UP5K-SG48,
# 12 MHz oscillator), in one command:
#   spikeq synth (spikeq gen's RTL + the 4-pin harness -> yosys synth_ice40 -> nextpnr-ice40 with
#   icebreaker.pcf at 12 MHz) -> icepack -> .bin, plus icetime's independent timing report.
#
# Usage: bitstreams/ice40/build.sh [BUILD_DIR]        (default: bitstreams/ice40/build)
# Env:   CONFIG=configs/other.toml (default configs/tiny.toml)
#        SPIKEQ=path/to/spikeq     (default: cargo build --release, then target/release/spikeq)
# Reports land in BUILD_DIR (synth.md, synth.json, <name>-spike/ice40/*.log, icetime.txt); the .bin is never
# committed (.gitignore). Program the board with: iceprog BUILD_DIR/spikeq_tiny.bin
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-$HERE/build}
CONFIG=${CONFIG:-$ROOT/configs/tiny.toml}
NAME=$(basename "$CONFIG" .toml)

for tool in yosys nextpnr-ice40 icepack icetime; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build.sh: $tool is not installed: run scripts/setup.sh, or sudo apt-get install yosys nextpnr-ice40 fpga-icestorm" >&2
    exit 1
  fi
done
if [ -z "${SPIKEQ:-}" ]; then
  (cd "$ROOT" && cargo build --release -q -p spikeq-host)
  SPIKEQ=$ROOT/target/release/spikeq
fi

# RTL + harness, yosys, nextpnr (refuses a BUILD_DIR it did not write earlier)
"$SPIKEQ" synth --config "$CONFIG" --target ice40 --device up5k --package sg48 \
  --pcf "$HERE/icebreaker.pcf" --freq 12 --out "$BUILD"

# spikeq synth writes BUILD/<config name>-<pe>/ice40/design.asc (one configuration here)
ASC=$(ls "$BUILD"/*/ice40/design.asc)
BIN="$BUILD/spikeq_$NAME.bin"
rm -f "$BIN"
icepack "$ASC" "$BIN"
# icetime: timing of the routed design from icestorm's own database, a second opinion on nextpnr's
icetime -d up5k -P sg48 -p "$HERE/icebreaker.pcf" -t -r "$BUILD/icetime.txt" "$ASC" >/dev/null
echo "bitstream: $BIN ($(wc -c <"$BIN") bytes); icetime: $(grep -m1 -o 'Total path delay.*' "$BUILD/icetime.txt")"
