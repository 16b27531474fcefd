"""Dequantizes ggml blocks with the `gguf` package's numpy reference (gguf.quants, by ggml's
authors) for the cross-check in host/tests/ggml.rs.

usage: gguf_quants.py DIR TYPE_ID...   reads DIR/ID.bin (whole blocks), writes DIR/ID.f32 (f32 LE)
"""
import pathlib
import sys

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf.quants import dequantize

folder = pathlib.Path(sys.argv[1])
for arg in sys.argv[2:]:
    ty = GGMLQuantizationType(int(arg))
    raw = np.fromfile(folder / f"{arg}.bin", dtype=np.uint8)
    _, type_size = GGML_QUANT_SIZES[ty]
    out = dequantize(raw.reshape((-1, type_size)), ty)
    out.astype("<f4").tofile(folder / f"{arg}.f32")
