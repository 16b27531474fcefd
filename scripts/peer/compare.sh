#!/usr/bin/env bash
# Window-1 f32 perplexity of llama.cpp-made SmolLM2 files: spikeq beside llama.cpp on the same
# tokens (window-ppl, see window_ppl.c), one Markdown table row per format (docs/model.md).
#
# llama.cpp's CPU kernels multiply a quantized weight by activations quantized to 8 bits (Q8_0,
# Q8_1 or Q8_K blocks), F16/BF16 weights by F16/BF16 activations; spikeq's `--scheme f32` keeps
# activations in f32. So each file is also converted to F32 by llama-quantize (ggml's own
# dequantizers) and scored by both: that is llama.cpp's f32 perplexity of the same weights, and
# spikeq must give the same figure on the file and on its F32 conversion.
#
#   scripts/peer/compare.sh [DIR]    # DIR: files made by make_quants.sh (default ~/gguf-peer)
# Needs scripts/peer/llama_cpp.sh (builds llama.cpp once), target/release/spikeq, scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${1:-${GGUF_PEER_DIR:-$HOME/gguf-peer}}
BIN=$(scripts/peer/llama_cpp.sh)
SPQ=target/release/spikeq
[ -x "$SPQ" ] || { echo "build spikeq first: cargo build --release -p spikeq-host" >&2; exit 1; }
TEXT=.cache/ptb/test.txt
mkdir -p "$D/as-f32"
spikeq_ppl() { "$SPQ" eval --scheme f32 --windows 1 --model "$1" 2>/dev/null | grep -oE 'PPL [0-9.]+' | cut -d' ' -f2; }
llama_ppl() { "$BIN/window-ppl" "$1" "$TEXT" 1 2 | grep -oE 'ppl [0-9.]+' | cut -d' ' -f2; }
rel() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{100 * (a - b) / b:+.2f} %')" "$1" "$2"; }
types() {
  PYTHONPATH=.cache/py python3 -c "
import collections, sys
from gguf import GGUFReader
c = collections.Counter(t.tensor_type.name for t in GGUFReader(sys.argv[1]).tensors)
print(', '.join(f'{n} {k}' for k, n in sorted(c.items(), key=lambda kv: -kv[1])))" "$1"
}
echo "| file | tensors | spikeq | llama.cpp (its kernels) | Δ | llama.cpp, file as F32 | spikeq, file as F32 | Δ |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for t in F32 F16 BF16 Q8_0 Q4_0 Q4_K_M Q5_K_M Q6_K; do
  f="$D/smollm2-$t.gguf"
  g="$D/as-f32/smollm2-$t.gguf"
  [ -f "$g" ] || "$BIN/llama-quantize" --allow-requantize "$f" "$g" F32 >/dev/null 2>&1
  ours=$(spikeq_ppl "$f"); peer=$(llama_ppl "$f")
  ours32=$(spikeq_ppl "$g"); peer32=$(llama_ppl "$g")
  echo "| $t | $(types "$f") | $ours | $peer | $(rel "$ours" "$peer") | $peer32 | $ours32 | $(rel "$ours" "$peer32") |"
done
