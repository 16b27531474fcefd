#!/usr/bin/env python3
"""Writes the GGUF seeds of the fuzz corpus (fuzz/corpus/gguf/): small, valid files that reach
every branch of the reader, the tokenizer builder and the Llama loader.

A hand-written writer (the GGUF v2/v3 layout of docs/model.md) so that no package is needed;
the bytes are deterministic. Run from the repository root: python3 fuzz/seeds/make_gguf.py
"""
import random
import struct
from pathlib import Path

OUT = Path("fuzz/corpus/gguf")
ALIGN = 32

# ggml id -> (block length, block bytes) of every type spikeq reads.
TYPES = {
    "F32": (0, 1, 4), "F16": (1, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22),
    "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84), "Q3_K": (11, 256, 110),
    "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210), "IQ4_NL": (20, 32, 18),
    "IQ4_XS": (23, 256, 136), "BF16": (30, 1, 2),
}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def value(ty, v):
    """A metadata value of GGUF type `ty` (arrays: (elem_ty, items))."""
    fmt = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q", 11: "<q", 12: "<d"}
    if ty == 8:
        return gstr(v)
    if ty == 9:
        elem, items = v
        return struct.pack("<IQ", elem, len(items)) + b"".join(value(elem, x) for x in items)
    return struct.pack(fmt[ty], v)


def build(kvs, tensors, version=3, align=ALIGN):
    """kvs: [(key, type, value)]; tensors: [(name, dims, type name, data bytes)]."""
    b = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, ty, v in kvs:
        b += gstr(k) + struct.pack("<I", ty) + value(ty, v)
    data = b""
    for name, dims, ty, raw in tensors:
        b += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        b += struct.pack("<IQ", TYPES[ty][0], len(data))
        data += raw + b"\0" * (-len(raw) % align)
    b += b"\0" * (-len(b) % align)
    return b + data


def f16s(values):
    return b"".join(struct.pack("<e", x) for x in values)


def byte_alphabet():
    """GPT-2's byte-to-character map (tokenizer.rs byte_to_char)."""
    out, nxt = [], 256
    for b in range(256):
        if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF:
            out.append(chr(b))
        else:
            out.append(chr(nxt))
            nxt += 1
    return out


def tiny_llama(rng):
    """A one-block Llama (d 8, ffn 16, 2 heads, 1 KV head) with a byte-level BPE vocabulary."""
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ġ 1"]
    vocab = byte_alphabet() + ["Ġt", "he", "Ġthe", "in", "Ġa", "er", "Ġ1", "<|endoftext|>"]
    d, f, kv, n = 8, 16, 4, len(vocab)
    kvs = [
        ("general.architecture", 8, "llama"),
        ("general.name", 8, "fuzz seed"),
        ("llama.block_count", 4, 1),
        ("llama.context_length", 4, 16),
        ("llama.embedding_length", 4, d),
        ("llama.feed_forward_length", 4, f),
        ("llama.attention.head_count", 4, 2),
        ("llama.attention.head_count_kv", 4, 1),
        ("llama.rope.freq_base", 6, 10000.0),
        ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
        ("llama.rope.dimension_count", 4, d // 2),
        ("tokenizer.ggml.model", 8, "gpt2"),
        ("tokenizer.ggml.pre", 8, "smollm"),
        ("tokenizer.ggml.tokens", 9, (8, vocab)),
        ("tokenizer.ggml.token_type", 9, (5, [1] * n)),
        ("tokenizer.ggml.merges", 9, (8, merges)),
        ("tokenizer.ggml.eos_token_id", 4, n - 1),
        ("tokenizer.ggml.unknown_token_id", 4, n - 1),
    ]

    def mat(m, k):
        return f16s([rng.uniform(-1, 1) for _ in range(m * k)])

    t = [
        ("token_embd.weight", [d, n], "F16", mat(n, d)),
        ("output_norm.weight", [d], "F32", struct.pack(f"<{d}f", *([1.0] * d))),
        ("blk.0.attn_norm.weight", [d], "F32", struct.pack(f"<{d}f", *([1.0] * d))),
        ("blk.0.ffn_norm.weight", [d], "F32", struct.pack(f"<{d}f", *([1.0] * d))),
        ("blk.0.attn_q.weight", [d, d], "F16", mat(d, d)),
        ("blk.0.attn_k.weight", [d, kv], "F16", mat(kv, d)),
        ("blk.0.attn_v.weight", [d, kv], "BF16", mat(kv, d)),
        ("blk.0.attn_output.weight", [d, d], "F16", mat(d, d)),
        ("blk.0.ffn_gate.weight", [d, f], "F16", mat(f, d)),
        ("blk.0.ffn_up.weight", [d, f], "F16", mat(f, d)),
        ("blk.0.ffn_down.weight", [f, d], "F16", mat(d, f)),
    ]
    return build(kvs, t)


def every_type(rng):
    """One two-block tensor of every readable type (random block bytes: any bytes are a valid
    block) and one metadata value of every GGUF value type, nested arrays included."""
    kvs = [
        ("u8", 0, 200), ("i8", 1, -100), ("u16", 2, 60000), ("i16", 3, -30000), ("u32", 4, 4000000000),
        ("i32", 5, -2000000000), ("f32", 6, 1.5), ("bool", 7, 1), ("string", 8, "text"),
        ("array", 9, (9, [(4, [1, 2, 3]), (8, ["a", "bc"])])), ("u64", 10, 2**63), ("i64", 11, -(2**62)),
        ("f64", 12, -2.25), ("general.alignment", 4, 64),
    ]
    t = []
    for name, (_, blen, bbytes) in TYPES.items():
        rows = 2 if blen > 1 else 64
        t.append((f"t.{name}", [blen, rows] if blen > 1 else [rows], name, bytes(rng.randrange(256) for _ in range(bbytes * rows))))
    return build(kvs, t, align=64)


def main():
    rng = random.Random(16)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tiny_llama.gguf").write_bytes(tiny_llama(rng))
    (OUT / "every_type.gguf").write_bytes(every_type(rng))
    (OUT / "minimal_v2.gguf").write_bytes(build([("general.architecture", 8, "llama")], [], version=2))
    (OUT / "one_q4_0_tensor.gguf").write_bytes(build([], [("w", [32, 1], "Q4_0", bytes(range(18)))]))


if __name__ == "__main__":
    main()
