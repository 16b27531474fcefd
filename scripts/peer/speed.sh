#!/usr/bin/env bash
# Evaluation speed of spikeq beside llama.cpp in one run, same GGUF weights, same PTB windows
# protocol (token 0 + 511 text tokens per window, every text token scored), 2 threads: llama.cpp
# through its C API (window-ppl, scripts/peer/window_ppl.c, CPU backend) on the F32 and Q4_0 files
# made by make_quants.sh, then `spikeq eval` for f32, w8a8 and spikequant (golden backend).
# Tokens/s = scored tokens / whole-process wall time (model load included, for both); spikeq's
# own figure (evaluation only) in the last column. Not part of the test suite: a benchmark.
#
#   scripts/peer/speed.sh [WINDOWS] [DIR]    # WINDOWS default 4; DIR as compare.sh (~/gguf-peer)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-4}
D=${2:-${GGUF_PEER_DIR:-$HOME/gguf-peer}}
# A built window-ppl is used as it is (llama_cpp.sh builds it when missing).
BIN=.cache/llama.cpp/bin
[ -x "$BIN/window-ppl" ] || BIN=$(scripts/peer/llama_cpp.sh)
SPQ=target/release/spikeq
TEXT=.cache/ptb/test.txt
[ -x "$SPQ" ] || { echo "build spikeq first: cargo build --release -p spikeq-host" >&2; exit 1; }
[ -f "$D/smollm2-F32.gguf" ] && [ -f "$D/smollm2-Q4_0.gguf" ] || { echo "no files in $D: run make_quants.sh first" >&2; exit 1; }
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
# Runs a command, leaves its output in $OUT and its wall seconds in $SECS.
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >"$OUT" 2>&1; t1=$(date +%s.%N); SECS=$(python3 -c "print($t1 - $t0)"); }
scored=$(python3 -c "print(min($W * 511, 101691))")
echo "PTB test, $W windows ($scored scored tokens), 2 threads, one run; load $(cut -d' ' -f1 /proc/loadavg) before"
echo "| path | PPL | wall s | tokens/s (whole process) | vs llama.cpp f32 | spikeq's own tokens/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
base=""
row() { # name ppl
  local rate ratio
  rate=$(python3 -c "print(f'{$scored / $SECS:.1f}')")
  [ -n "$base" ] || base=$rate
  ratio=$(python3 -c "print(f'{$rate / $base:.2f}')")
  echo "| $1 | $2 | $(printf %.1f "$SECS") | $rate | $ratio | ${3:-–} |"
}
for t in F32 Q4_0; do
  timed "$BIN/window-ppl" "$D/smollm2-$t.gguf" "$TEXT" "$W" 2
  row "llama.cpp $t" "$(grep -oE 'ppl [0-9.]+' "$OUT" | cut -d' ' -f2)"
done
for s in f32 w8a8 spikequant; do
  timed "$SPQ" eval --scheme "$s" --windows "$W"
  row "spikeq $s" "$(grep -oE 'PPL [0-9.]+' "$OUT" | tail -n 1 | cut -d' ' -f2)" "$(grep -oE '[0-9.]+ tokens/s' "$OUT" | tail -n 1 | cut -d' ' -f1)"
done
echo "load $(cut -d' ' -f1 /proc/loadavg) after"
