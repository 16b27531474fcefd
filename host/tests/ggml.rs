//! ggml block formats: every format's fast path equals its literal reference bit for bit, and the
//! reference equals the `gguf` Python package's numpy dequantizers (gguf.quants, by ggml's
//! authors) bit for bit on random valid blocks. The Python side comes from scripts/setup.sh
//! (.cache/py); without it the cross-check fails and says so.

use std::path::PathBuf;
use std::process::Command;

use rand::{Rng, SeedableRng};
use spikeq_host::llm::model::ggml::GgmlType;

/// Equal bits, or both NaN (a NaN's payload may differ between f16/bf16 conversions).
fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn first_difference(ty: GgmlType, what: &str, got: &[f32], want: &[f32]) -> Option<String> {
    assert_eq!(got.len(), want.len(), "{ty} {what}: lengths");
    let i = got.iter().zip(want).position(|(&a, &b)| !same(a, b))?;
    let block = i / ty.block_len();
    Some(format!("{ty} {what}: element {i} (block {block}) is {:e}, expected {:e}", got[i], want[i]))
}

#[test]
fn fast_path_equals_reference_for_every_format() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    for &ty in GgmlType::ALL {
        // Arbitrary bytes: NaN and infinite scales included, every bit pattern is a block.
        let n_blocks = 8192 / ty.block_len() + 3;
        let bytes: Vec<u8> = (0..n_blocks * ty.block_bytes()).map(|_| rng.gen()).collect();
        let mut fast = vec![0f32; n_blocks * ty.block_len()];
        let mut reference = vec![1f32; fast.len()];
        ty.dequantize(&bytes, &mut fast);
        ty.dequantize_ref(&bytes, &mut reference);
        if let Some(d) = first_difference(ty, "fast vs reference", &fast, &reference) {
            panic!("{d}");
        }
    }
}

/// Byte offsets of the f16 scales in a block of `ty` (the block layouts of ggml-common.h).
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => &[],
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 | GgmlType::Iq4Nl | GgmlType::Iq4Xs => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
        GgmlType::Q2K => &[80, 82],
        GgmlType::Q3K => &[108],
        GgmlType::Q6K => &[208],
    }
}

/// Random valid blocks: arbitrary quants and sub-scales, finite f16 scales (normal and subnormal,
/// either sign) so that values are meaningful; float types get arbitrary bits, NaN and inf included.
fn valid_blocks(ty: GgmlType, n_blocks: usize, rng: &mut impl Rng) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..n_blocks * ty.block_bytes()).map(|_| rng.gen()).collect();
    for block in bytes.chunks_exact_mut(ty.block_bytes()) {
        for &at in f16_fields(ty) {
            let finite = loop {
                let bits: u16 = rng.gen();
                if bits & 0x7C00 != 0x7C00 {
                    break bits;
                }
            };
            block[at..at + 2].copy_from_slice(&finite.to_le_bytes());
        }
    }
    bytes
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn reference_equals_gguf_quants_for_every_format() {
    let pythonpath = root().join(".cache/py");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/gguf_quants.py");
    let python = |cmd: &mut Command| {
        cmd.env("PYTHONPATH", &pythonpath)
            .output()
            .unwrap_or_else(|e| panic!("cannot run python3 ({e}): install it and run scripts/setup.sh"))
    };
    let probe = python(Command::new("python3").args(["-c", "import gguf.quants"]));
    assert!(
        probe.status.success(),
        "the gguf Python package is missing from {}: run scripts/setup.sh ({})",
        pythonpath.display(),
        String::from_utf8_lossy(&probe.stderr).trim()
    );

    let dir = std::env::temp_dir().join(format!("spikeq-ggml-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6767_6d6c);
    let mut cases = Vec::new();
    for &ty in GgmlType::ALL {
        let n_blocks = 16384 / ty.block_len() + 5;
        let bytes = valid_blocks(ty, n_blocks, &mut rng);
        std::fs::write(dir.join(format!("{}.bin", ty.id())), &bytes).unwrap();
        cases.push((ty, bytes));
    }
    let ids: Vec<String> = cases.iter().map(|(ty, _)| ty.id().to_string()).collect();
    let run = python(Command::new("python3").arg(&script).arg(&dir).args(&ids));
    assert!(run.status.success(), "gguf_quants.py failed: {}", String::from_utf8_lossy(&run.stderr));

    let mut failures = Vec::new();
    for (ty, bytes) in &cases {
        let peer = std::fs::read(dir.join(format!("{}.f32", ty.id()))).unwrap();
        let peer: Vec<f32> = peer.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let n = bytes.len() / ty.block_bytes() * ty.block_len();
        let (mut reference, mut fast) = (vec![0f32; n], vec![0f32; n]);
        ty.dequantize_ref(bytes, &mut reference);
        ty.dequantize(bytes, &mut fast);
        failures.extend(first_difference(*ty, "reference vs gguf.quants", &reference, &peer));
        failures.extend(first_difference(*ty, "fast vs gguf.quants", &fast, &peer));
        assert!(reference.iter().any(|x| x.is_finite() && *x != 0.0), "{ty}: degenerate sample");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
