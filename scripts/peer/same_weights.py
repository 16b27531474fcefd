"""Counts the elements of a GGUF that differ, bit for bit, from its F32 conversion by llama-quantize
(ggml's own dequantizers), dequantizing with gguf.quants, which host/tests/ggml.rs shows equal to
spikeq bit for bit. Prints "N of M differ".

usage: PYTHONPATH=.cache/py python3 scripts/peer/same_weights.py FILE.gguf FILE_AS_F32.gguf
"""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

quant, f32 = GGUFReader(sys.argv[1]), GGUFReader(sys.argv[2])
by_name = {t.name: t for t in f32.tensors}
differ = total = 0
for t in quant.tensors:
    ours = dequantize(t.data, t.tensor_type).reshape(-1).view(np.uint32)
    theirs = np.asarray(by_name[t.name].data).reshape(-1).view(np.uint32)
    differ += int((ours != theirs).sum())
    total += ours.size
print(f"{differ} of {total} differ")
