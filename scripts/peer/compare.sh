#!/usr/bin/env bash
# Window-1 f32 perplexity of llama.cpp-made SmolLM2 files: spikeq beside llama.cpp on the same
# tokens (window-ppl, see window_ppl.c), one Markdown table row per file (docs/model.md).
#
# Columns: elements whose dequantized bits differ from the file's F32 conversion by llama-quantize
# (ggml's own dequantizers; same_weights.py); spikeq on the file, and on that F32 conversion;
# llama.cpp with the OpenBLAS backend (window-ppl-blas: the large products dequantize the weights
# and multiply in f32, as spikeq does); llama.cpp's CPU kernels alone (window-ppl: quantized weights times activations quantized to 8 bits,
# Q8_0/Q8_1/Q8_K; F16/BF16 weights times F16/BF16 activations).
#
#   scripts/peer/compare.sh [DIR]    # DIR: files made by make_quants.sh (default ~/gguf-peer)
# Also makes DIR/extra/ (the other formats) and DIR/as-f32/. Needs scripts/peer/llama_cpp.sh
# (builds llama.cpp once), target/release/spikeq and scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-${GGUF_PEER_DIR:-$HOME/gguf-peer}}
BIN=$(scripts/peer/llama_cpp.sh)
SPQ=target/release/spikeq
[ -x "$SPQ" ] || { echo "build spikeq first: cargo build --release -p spikeq-host" >&2; exit 1; }
[ -f "$D/smollm2-F32.gguf" ] || { echo "no files in $D: run make_quants.sh first" >&2; exit 1; }
TEXT=.cache/ptb/test.txt
mkdir -p "$D/as-f32" "$D/extra"
quantize() { [ -f "$2" ] || "$BIN/llama-quantize" --allow-requantize "$1" "$2" "$3" >/dev/null 2>&1; }
spikeq_ppl() { "$SPQ" eval --scheme f32 --windows 1 --model "$1" 2>/dev/null | grep -oE 'PPL [0-9.]+' | cut -d' ' -f2; }
llama_ppl() { "$BIN/$1" "$2" "$TEXT" 1 2 | grep -oE 'ppl [0-9.]+' | cut -d' ' -f2; }
rel() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{100 * (a - b) / b:+.2f} %')" "$1" "$2"; }
types() {
  PYTHONPATH=.cache/py python3 -c "
import collections, sys
from gguf import GGUFReader
c = collections.Counter(t.tensor_type.name for t in GGUFReader(sys.argv[1]).tensors)
print(', '.join(f'{n} {k}' for k, n in sorted(c.items(), key=lambda kv: -kv[1])))" "$1"
}
echo "| file | tensors | bits ≠ ggml | spikeq | spikeq, as F32 | llama.cpp + BLAS (f32 act.) | Δ | llama.cpp CPU (8-bit act.) | Δ |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for t in F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K extra/Q5_0 extra/Q5_1 extra/Q2_K extra/Q3_K_M extra/IQ4_NL extra/IQ4_XS; do
  name=${t#extra/}
  f="$D/${t%"$name"}smollm2-$name.gguf"
  g="$D/as-f32/smollm2-$name.gguf"
  quantize "$D/smollm2-F32.gguf" "$f" "$name"
  quantize "$f" "$g" F32
  ours=$(spikeq_ppl "$f"); ours32=$(spikeq_ppl "$g")
  blas=$(llama_ppl window-ppl-blas "$f"); cpu=$(llama_ppl window-ppl "$f")
  same=$(PYTHONPATH=.cache/py python3 scripts/peer/same_weights.py "$f" "$g" | cut -d' ' -f1)
  echo "| $name | $(types "$f") | $same | $ours | $ours32 | $blas | $(rel "$ours" "$blas") | $cpu | $(rel "$ours" "$cpu") |"
done
