//! GGUF reader on crafted files: the first types dequantize to hand-computed values, every readable
//! type loads, and every kind of malformed input gives an error (never a panic or a huge
//! allocation).

use spikeq_host::llm::model::ggml::GgmlType;
use spikeq_host::llm::model::gguf::{Gguf, MetaValue};
use spikeq_host::llm::model::ModelError;

const ALIGN: usize = 32;

/// One tensor of a crafted file: its raw type id and offset can be set to anything.
struct T {
    name: &'static str,
    dims: Vec<u64>,
    ty: u32,
    data: Vec<u8>,
    offset: Option<u64>,
}

/// Writes a GGUF v3 image: header, metadata, tensor infos, padding, data.
fn build(kvs: &[(&str, u32, Vec<u8>)], tensors: &[T]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(b"GGUF");
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((kvs.len() as u64).to_le_bytes());
    for (k, ty, v) in kvs {
        b.extend(gstr(k));
        b.extend(ty.to_le_bytes());
        b.extend(v);
    }
    let mut offset = 0u64;
    let mut data = Vec::new();
    for t in tensors {
        b.extend(gstr(t.name));
        b.extend((t.dims.len() as u32).to_le_bytes());
        for d in &t.dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(t.ty.to_le_bytes());
        b.extend(t.offset.unwrap_or(offset).to_le_bytes());
        data.extend(&t.data);
        while data.len() % ALIGN != 0 {
            data.push(0);
        }
        offset = data.len() as u64;
    }
    while b.len() % ALIGN != 0 {
        b.push(0);
    }
    b.extend(data);
    b
}

fn gstr(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend(s.as_bytes());
    v
}

fn f16(x: f32) -> [u8; 2] {
    half::f16::from_f32(x).to_le_bytes()
}

/// One tensor of every supported type, with values chosen so that each element is distinct.
fn sample_tensors() -> (Vec<T>, Vec<(&'static str, Vec<f32>)>) {
    let f32s: Vec<f32> = (0..6).map(|i| i as f32 * 0.25 - 0.5).collect();
    let f16s = [1.0f32, -2.0, 0.5, 65504.0];
    let mut q8 = f16(0.5).to_vec();
    q8.extend((0..32).map(|j| (j as i8 - 16) as u8));
    let mut q40 = f16(2.0).to_vec();
    q40.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let mut q41 = f16(0.5).to_vec();
    q41.extend(f16(-1.0));
    q41.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let tensors = vec![
        T {
            name: "f32",
            dims: vec![3, 2],
            ty: 0,
            data: f32s.iter().flat_map(|x| x.to_le_bytes()).collect(),
            offset: None,
        },
        T { name: "f16", dims: vec![4], ty: 1, data: f16s.iter().flat_map(|&x| f16(x)).collect(), offset: None },
        T { name: "q8_0", dims: vec![32], ty: 8, data: q8, offset: None },
        T { name: "q4_0", dims: vec![32], ty: 2, data: q40, offset: None },
        T { name: "q4_1", dims: vec![32], ty: 3, data: q41, offset: None },
    ];
    let nib = |j: usize| if j < 16 { j } else { 31 - j } as f32;
    let expected = vec![
        ("f32", f32s),
        ("f16", f16s.to_vec()),
        ("q8_0", (0..32).map(|j| (j as f32 - 16.0) * 0.5).collect()),
        ("q4_0", (0..32).map(|j| (nib(j) - 8.0) * 2.0).collect()),
        ("q4_1", (0..32).map(|j| nib(j) * 0.5 - 1.0).collect()),
    ];
    (tensors, expected)
}

fn sample_kvs() -> Vec<(&'static str, u32, Vec<u8>)> {
    let mut arr = 8u32.to_le_bytes().to_vec();
    arr.extend(2u64.to_le_bytes());
    arr.extend(gstr("a"));
    arr.extend(gstr("bc"));
    vec![
        ("general.architecture", 8, gstr("llama")),
        ("llama.block_count", 4, 30u32.to_le_bytes().to_vec()),
        ("llama.rope.freq_base", 6, 100000f32.to_le_bytes().to_vec()),
        ("tokenizer.ggml.tokens", 9, arr),
        ("flag", 7, vec![1]),
    ]
}

fn sample() -> Vec<u8> {
    build(&sample_kvs(), &sample_tensors().0)
}

#[test]
fn crafted_file_parses_and_dequantizes_known_values() {
    let path = std::env::temp_dir().join(format!("spikeq-gguf-test-{}.gguf", std::process::id()));
    std::fs::write(&path, sample()).unwrap();
    let g = Gguf::open(&path);
    std::fs::remove_file(&path).unwrap();
    let g = g.unwrap();
    assert_eq!(g.version(), 3);
    assert_eq!(g.str_key("general.architecture").unwrap(), "llama");
    assert_eq!(g.usize_key("llama.block_count").unwrap(), 30);
    assert_eq!(g.f64_key("llama.rope.freq_base").unwrap(), 100000.0);
    assert_eq!(g.metadata()["flag"], MetaValue::Bool(true));
    let arr = g.array_key("tokenizer.ggml.tokens").unwrap();
    assert_eq!(arr, [MetaValue::String("a".into()), MetaValue::String("bc".into())]);
    assert!(matches!(g.usize_key("general.architecture"), Err(ModelError::BadKey { .. })));
    assert!(matches!(g.usize_key("nope"), Err(ModelError::MissingKey { .. })));
    assert_eq!(g.tensor("q4_1").unwrap().ty, GgmlType::Q4_1);
    for (name, want) in sample_tensors().1 {
        let (dims, got) = g.dequantize(name).unwrap();
        assert_eq!(dims, g.tensor(name).unwrap().dims);
        assert_eq!(got, want, "{name}");
    }
    assert!(matches!(g.dequantize("absent"), Err(ModelError::MissingTensor { .. })));
}

/// Every readable type through a file: sizes from the tensor info, values as the format's reference
/// dequantizer gives them (host/tests/ggml.rs checks those against gguf.quants).
#[test]
fn every_readable_type_loads_from_a_file() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut byte = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    let tensors: Vec<T> = GgmlType::ALL
        .iter()
        .map(|&ty| T {
            name: ty.name(),
            dims: vec![2 * ty.block_len() as u64, 3],
            ty: ty.id(),
            data: (0..6 * ty.block_bytes()).map(|_| byte()).collect(),
            offset: None,
        })
        .collect();
    let g = Gguf::from_bytes(build(&[], &tensors)).unwrap();
    for (t, &ty) in tensors.iter().zip(GgmlType::ALL) {
        let info = g.tensor(t.name).unwrap();
        assert_eq!((info.ty, info.n_bytes), (ty, t.data.len() as u64), "{ty}");
        let (_, got) = g.dequantize(t.name).unwrap();
        let mut want = vec![0f32; 6 * ty.block_len()];
        ty.dequantize_ref(&t.data, &mut want);
        let bits = |v: &[f32]| v.iter().map(|x| if x.is_nan() { u32::MAX } else { x.to_bits() }).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{ty}");
    }
}

#[test]
fn version_2_is_read() {
    let mut b = sample();
    b[4..8].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(Gguf::from_bytes(b).unwrap().version(), 2);
}

fn err(b: Vec<u8>) -> ModelError {
    Gguf::from_bytes(b).expect_err("malformed input must be rejected")
}

#[test]
fn wrong_magic_and_version() {
    let mut b = sample();
    b[0] = b'X';
    assert!(matches!(err(b), ModelError::BadMagic { .. }));
    let mut b = sample();
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(err(b), ModelError::UnsupportedVersion { got: 1 }));
    assert!(matches!(err(Vec::new()), ModelError::Truncated { .. }));
}

#[test]
fn every_truncation_is_an_error() {
    let b = sample();
    // The last tensor (Q4_1, 20 bytes) is followed by 12 bytes of optional padding.
    assert!(Gguf::from_bytes(b[..b.len() - 12].to_vec()).is_ok());
    for len in 0..b.len() - 12 {
        let e = Gguf::from_bytes(b[..len].to_vec());
        assert!(e.is_err(), "prefix of {len} of {} bytes parsed", b.len());
    }
}

#[test]
fn absurd_counts_are_rejected_before_allocating() {
    for (at, what) in [(8usize, "tensor count"), (16, "metadata count")] {
        for n in [u64::MAX, 1 << 40, 1 << 19] {
            let mut b = sample();
            b[at..at + 8].copy_from_slice(&n.to_le_bytes());
            let e = err(b);
            assert!(matches!(e, ModelError::TooLarge { .. } | ModelError::Truncated { .. }), "{what} {n}: {e}");
        }
    }
    // First key's string length.
    let mut b = sample();
    b[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(err(b), ModelError::TooLarge { .. }));
    // An array claiming 2^40 strings.
    let mut arr = 8u32.to_le_bytes().to_vec();
    arr.extend((1u64 << 40).to_le_bytes());
    let e = err(build(&[("a", 9, arr)], &[]));
    assert!(matches!(e, ModelError::TooLarge { .. } | ModelError::Truncated { .. }), "{e}");
    // Arrays nested past the limit.
    let mut nested = Vec::new();
    for _ in 0..6 {
        nested.extend(9u32.to_le_bytes());
        nested.extend(1u64.to_le_bytes());
    }
    assert!(matches!(err(build(&[("a", 9, nested)], &[])), ModelError::TooLarge { .. }));
}

#[test]
fn unknown_types_are_rejected() {
    assert!(matches!(err(build(&[("a", 13, vec![0; 8])], &[])), ModelError::UnknownValueType { got: 13, .. }));
    // An i-quant with a code-book grid: refused by name, with the types that are read.
    let t = T { name: "t", dims: vec![256], ty: 16, data: vec![0; 66], offset: None };
    let e = err(build(&[], &[t]));
    assert!(matches!(e, ModelError::UnsupportedTensorType { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("IQ2_XXS") && msg.contains("Q4_K") && msg.contains("Q6_K") && msg.contains("\"t\""), "{msg}");
    let t = T { name: "t", dims: vec![32], ty: 99, data: vec![0; 256], offset: None };
    let msg = err(build(&[], &[t])).to_string();
    assert!(msg.contains("unknown ggml type id 99"), "{msg}");
    assert!(matches!(err(build(&[("b", 7, vec![2])], &[])), ModelError::BadKey { .. }));
}

#[test]
fn bad_tensor_shapes_and_ranges_are_rejected() {
    let t = |dims: Vec<u64>, ty: u32, len: usize, offset: Option<u64>| T {
        name: "t",
        dims,
        ty,
        data: vec![0; len],
        offset,
    };
    let cases = [
        ("offset past the end", t(vec![4], 0, 16, Some(1 << 20))),
        ("offset overflowing", t(vec![4], 0, 16, Some(u64::MAX - 31))),
        ("misaligned offset", t(vec![4], 0, 16, Some(4))),
        ("data past the end", t(vec![1 << 20], 0, 16, None)),
        ("zero dimension", t(vec![0], 0, 16, None)),
        ("no dimensions", t(vec![], 0, 16, None)),
        ("five dimensions", t(vec![1; 5], 0, 16, None)),
        ("element count overflow", t(vec![1 << 32, 1 << 32, 1 << 32], 0, 16, None)),
        ("row not a multiple of the block", t(vec![16], 8, 34, None)),
        ("row not a multiple of the K-quant super-block", t(vec![576, 2], 12, 2 * 324, None)),
    ];
    for (what, tensor) in cases {
        let e = err(build(&[], &[tensor]));
        assert!(matches!(e, ModelError::BadTensor { .. } | ModelError::TooLarge { .. }), "{what}: {e}");
    }
    let two = |name| T { name, dims: vec![8], ty: 0, data: vec![0; 32], offset: None };
    assert!(matches!(err(build(&[], &[two("x"), two("x")])), ModelError::BadTensor { .. }));
    let mut align = 3u32.to_le_bytes().to_vec();
    align.truncate(4);
    assert!(matches!(err(build(&[("general.alignment", 4, align)], &[])), ModelError::BadKey { .. }));
}

#[test]
fn corrupted_bytes_never_panic() {
    let b = sample();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..3000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut c = b.clone();
        let i = (state % c.len() as u64) as usize;
        c[i] = (state >> 32) as u8;
        if let Ok(g) = Gguf::from_bytes(c) {
            let names: Vec<String> = g.tensors().map(|t| t.name.clone()).collect();
            for n in names {
                let (_, v) = g.dequantize(&n).unwrap();
                assert!(v.len() <= 1 << 20);
            }
        }
    }
}

/// A one-block Llama with f32 tensors (d 8, 2 heads, 1 KV head, FFN 16, vocab 12), every
/// metadata key settable: the model loader's refusals are tested on it.
fn tiny_llama(keys: &[(&'static str, u32, Vec<u8>)], poison: Option<&'static str>) -> Vec<u8> {
    let (d, f, kv, vocab) = (8u64, 16u64, 4u64, 12u64);
    let u32v = |v: u64| (v as u32).to_le_bytes().to_vec();
    let mut kvs: Vec<(&str, u32, Vec<u8>)> = vec![
        ("general.architecture", 8, gstr("llama")),
        ("llama.block_count", 4, u32v(1)),
        ("llama.embedding_length", 4, u32v(d)),
        ("llama.feed_forward_length", 4, u32v(f)),
        ("llama.attention.head_count", 4, u32v(2)),
        ("llama.attention.head_count_kv", 4, u32v(1)),
        ("llama.context_length", 4, u32v(64)),
        ("llama.vocab_size", 4, u32v(vocab)),
        ("llama.rope.freq_base", 6, 10000f32.to_le_bytes().to_vec()),
        ("llama.attention.layer_norm_rms_epsilon", 6, 1e-5f32.to_le_bytes().to_vec()),
    ];
    for (k, ty, v) in keys {
        kvs.retain(|(name, _, _)| name != k);
        kvs.push((k, *ty, v.clone()));
    }
    let shapes: [(&'static str, Vec<u64>); 11] = [
        ("token_embd.weight", vec![d, vocab]),
        ("output_norm.weight", vec![d]),
        ("blk.0.attn_norm.weight", vec![d]),
        ("blk.0.ffn_norm.weight", vec![d]),
        ("blk.0.attn_q.weight", vec![d, d]),
        ("blk.0.attn_k.weight", vec![d, kv]),
        ("blk.0.attn_v.weight", vec![d, kv]),
        ("blk.0.attn_output.weight", vec![d, d]),
        ("blk.0.ffn_gate.weight", vec![d, f]),
        ("blk.0.ffn_up.weight", vec![d, f]),
        ("blk.0.ffn_down.weight", vec![f, d]),
    ];
    let tensors: Vec<T> = shapes
        .into_iter()
        .map(|(name, dims)| {
            let n = dims.iter().product::<u64>() as usize;
            let mut values: Vec<f32> = (0..n).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
            if poison == Some(name) {
                values[n / 2] = f32::NAN;
            }
            T { name, dims, ty: 0, data: values.iter().flat_map(|x| x.to_le_bytes()).collect(), offset: None }
        })
        .collect();
    build(&kvs, &tensors)
}

fn load_llama(bytes: Vec<u8>) -> Result<spikeq_host::llm::model::llama::Llama, ModelError> {
    spikeq_host::llm::model::llama::Llama::from_gguf(&Gguf::from_bytes(bytes).unwrap())
}

#[test]
fn garbage_hyperparameters_and_weights_are_refused_not_run() {
    let l = load_llama(tiny_llama(&[], None)).expect("the well-formed tiny model loads");
    assert_eq!(l.blocks().len(), 1);
    let message = |e: ModelError| e.to_string();
    // rms_eps = inf and an f64 beyond f32's range: every RMSNorm would output 0, PPL NaN.
    let inf = load_llama(tiny_llama(
        &[("llama.attention.layer_norm_rms_epsilon", 6, f32::INFINITY.to_le_bytes().to_vec())],
        None,
    ));
    assert!(message(inf.unwrap_err()).contains("layer_norm_rms_epsilon"));
    let huge = load_llama(tiny_llama(
        &[("llama.attention.layer_norm_rms_epsilon", 12, 1e300f64.to_le_bytes().to_vec())],
        None,
    ));
    assert!(message(huge.unwrap_err()).contains("finite positive"));
    // block_count 0 on a file with blk.0: the model would silently lose its block.
    let short = load_llama(tiny_llama(&[("llama.block_count", 4, 0u32.to_le_bytes().to_vec())], None));
    assert!(message(short.unwrap_err()).contains("llama.block_count"));
    // A NaN weight.
    let nan = load_llama(tiny_llama(&[], Some("blk.0.ffn_down.weight")));
    let m = message(nan.unwrap_err());
    assert!(m.contains("blk.0.ffn_down.weight") && m.contains("NaN"), "{m}");
}

#[test]
fn a_huge_garbage_key_is_clipped_in_the_message() {
    let key = "k".repeat(400_000);
    let e = err(build(&[(key.as_str(), 99, vec![])], &[]));
    let m = e.to_string();
    assert!(m.len() < 300 && m.contains("400000 bytes"), "{} bytes: {}", m.len(), &m[..200.min(m.len())]);
}
