//! Llama forward in f32: RMSNorm, grouped-query attention with adjacent-pair RoPE and a KV
//! cache, SwiGLU feed-forward, tied (or separate) output head.
//!
//! Hyperparameters come from the GGUF's `llama.*` metadata. RoPE is applied to adjacent pairs
//! (2i, 2i+1) of each head: that is the convention of GGUF `llama` tensors (the converter permutes
//! the Q and K rows of HF checkpoints into it). Metadata asking for anything this forward does not
//! implement (RoPE scaling, partial rotary dimensions, another architecture) is an error, never
//! silently ignored.
//!
//! Every projection goes through [`LinearExec`], so quantized executors see each layer's f32
//! weights and inputs; the attention products and the output head stay in f32.

use rayon::prelude::*;

use super::gemm::{matmul, matmul_packed, Threads, View};
use super::gguf::Gguf;
use super::hadamard::Hadamard;
use super::linear::{LinearExec, LinearId, LinearKind, Weight};
use super::math::{add_assign, exp_inplace, max, rms_norm, sum, swiglu};
use super::ModelError;

/// Model hyperparameters, read from metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub n_blocks: usize,
    pub d_model: usize,
    pub d_ffn: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub vocab: usize,
    pub context_len: usize,
    pub rope_base: f64,
    pub rms_eps: f32,
}

impl LlamaConfig {
    pub fn from_gguf(g: &Gguf) -> Result<Self, ModelError> {
        let arch = g.str_key("general.architecture")?;
        if arch != "llama" {
            return Err(ModelError::BadKey {
                key: "general.architecture".into(),
                expected: "\"llama\"".into(),
                got: format!("{arch:?}"),
            });
        }
        let n_heads = g.usize_key("llama.attention.head_count")?;
        let n_kv_heads = g.usize_key("llama.attention.head_count_kv")?;
        let d_model = g.usize_key("llama.embedding_length")?;
        let bad = |key: &str, expected: String, got: String| ModelError::BadKey { key: key.into(), expected, got };
        if n_heads == 0 || n_kv_heads == 0 || n_heads % n_kv_heads != 0 || d_model % n_heads != 0 {
            return Err(bad(
                "llama.attention.head_count_kv",
                format!("a divisor of head_count {n_heads}, with embedding_length {d_model} divisible by head_count"),
                n_kv_heads.to_string(),
            ));
        }
        let head_dim = d_model / n_heads;
        if head_dim % 2 != 0 {
            return Err(bad("llama.embedding_length", "an even head dimension".into(), head_dim.to_string()));
        }
        if let Ok(rot) = g.usize_key("llama.rope.dimension_count") {
            if rot != head_dim {
                return Err(bad("llama.rope.dimension_count", format!("{head_dim} (full-head RoPE)"), rot.to_string()));
            }
        }
        if let Ok(kind) = g.str_key("llama.rope.scaling.type") {
            if kind != "none" {
                return Err(bad("llama.rope.scaling.type", "absent or \"none\"".into(), format!("{kind:?}")));
            }
        }
        if let Ok(f) = g.f64_key("llama.rope.scaling.factor") {
            if f != 1.0 && f != 0.0 {
                return Err(bad("llama.rope.scaling.factor", "absent or 1".into(), f.to_string()));
            }
        }
        let rope_base = g.f64_key("llama.rope.freq_base")?;
        let rms_eps = g.f64_key("llama.attention.layer_norm_rms_epsilon")? as f32;
        // rms_eps is read in f32 as the forward uses it, so an f64 beyond f32's range is refused too.
        if !(rope_base > 1.0 && rope_base.is_finite()) {
            return Err(bad(
                "llama.rope.freq_base",
                "a finite number above 1 (SmolLM2: 100000)".into(),
                rope_base.to_string(),
            ));
        }
        if !(rms_eps > 0.0 && rms_eps.is_finite()) {
            return Err(bad(
                "llama.attention.layer_norm_rms_epsilon",
                "a finite positive f32 (SmolLM2: 1e-5)".into(),
                g.f64_key("llama.attention.layer_norm_rms_epsilon")?.to_string(),
            ));
        }
        let vocab = match g.usize_key("llama.vocab_size") {
            Ok(v) => v,
            Err(_) => g.array_key("tokenizer.ggml.tokens")?.len(),
        };
        let n_blocks = g.usize_key("llama.block_count")?;
        // Blocks the file holds: a block_count below it would silently drop layers.
        let in_file = g
            .tensors()
            .filter_map(|t| t.name.strip_prefix("blk.")?.split('.').next()?.parse::<usize>().ok())
            .max()
            .map_or(0, |b| b + 1);
        if n_blocks != in_file {
            return Err(bad(
                "llama.block_count",
                format!(
                    "{in_file}, the number of blocks whose tensors the file holds (blk.0 .. blk.{})",
                    in_file.max(1) - 1
                ),
                n_blocks.to_string(),
            ));
        }
        Ok(Self {
            n_blocks,
            d_model,
            d_ffn: g.usize_key("llama.feed_forward_length")?,
            n_heads,
            n_kv_heads,
            head_dim,
            vocab,
            context_len: g.usize_key("llama.context_length")?,
            rope_base,
            rms_eps,
        })
    }

    /// Width of the K and V projections.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

/// One transformer block's f32 parameters.
#[derive(Debug)]
pub struct Block {
    pub attn_norm: Vec<f32>,
    pub ffn_norm: Vec<f32>,
    pub q: Weight,
    pub k: Weight,
    pub v: Weight,
    pub o: Weight,
    pub gate: Weight,
    pub up: Weight,
    pub down: Weight,
}

impl Block {
    /// The weight of one linear layer of this block.
    pub fn weight(&self, kind: LinearKind) -> &Weight {
        match kind {
            LinearKind::Q => &self.q,
            LinearKind::K => &self.k,
            LinearKind::V => &self.v,
            LinearKind::O => &self.o,
            LinearKind::Gate => &self.gate,
            LinearKind::Up => &self.up,
            LinearKind::Down => &self.down,
        }
    }
}

/// The model with all weights dequantized to f32.
#[derive(Debug)]
pub struct Llama {
    cfg: LlamaConfig,
    embed: Weight,
    blocks: Vec<Block>,
    output_norm: Vec<f32>,
    /// `None` when the output head is tied to the embedding (no `output.weight` tensor).
    output: Option<Weight>,
    /// Online transform of `down`'s input (a rotated model, `crate::llm::rotate`).
    down_input: Option<Hadamard>,
}

/// Query rows scored together in attention: large enough for an efficient product, small
/// enough that little of the causal mask's upper triangle is computed.
const QUERY_BLOCK: usize = 128;

/// Per-block keys and values of the positions seen so far, plus the forward's working buffers,
/// kept so that evaluating window after window allocates (and page-faults) nothing new.
#[derive(Debug)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    capacity: usize,
    scratch: Scratch,
}

/// Activations of one forward call; contents never outlive the call.
#[derive(Debug, Default)]
struct Scratch {
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    proj: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    scores: Vec<f32>,
    heads_out: Vec<f32>,
}

/// `buf` resized to `len` (contents unspecified: every user overwrites what it reads).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    buf.resize(len, 0.0);
    buf
}

impl KvCache {
    /// An empty cache for up to `capacity` positions (capped by the model's context length).
    pub fn new(cfg: &LlamaConfig, capacity: usize) -> Self {
        let capacity = capacity.min(cfg.context_len);
        let block = || Vec::with_capacity(capacity * cfg.kv_dim());
        Self {
            k: (0..cfg.n_blocks).map(|_| block()).collect(),
            v: (0..cfg.n_blocks).map(|_| block()).collect(),
            len: 0,
            capacity,
            scratch: Scratch::default(),
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets all positions, keeping the allocation.
    pub fn clear(&mut self) {
        self.k.iter_mut().chain(self.v.iter_mut()).for_each(Vec::clear);
        self.len = 0;
    }
}

fn vector(g: &Gguf, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
    let (dims, data) = g.dequantize(name)?;
    if dims != [len as u64] {
        return Err(ModelError::BadShape { name: name.into(), expected: vec![len as u64], got: dims });
    }
    finite(name, data)
}

/// Refuses a tensor with a NaN or infinite element: it would turn every perplexity into NaN.
fn finite(name: &str, data: Vec<f32>) -> Result<Vec<f32>, ModelError> {
    match data.par_iter().position_first(|v| !v.is_finite()) {
        None => Ok(data),
        Some(i) => Err(ModelError::BadTensor {
            tensor: name.into(),
            reason: format!("element {i} is {} (every weight must be finite)", data[i]),
        }),
    }
}

fn matrix(g: &Gguf, name: &str, m: usize, k: usize) -> Result<Weight, ModelError> {
    let (dims, data) = g.dequantize(name)?;
    if dims != [k as u64, m as u64] {
        return Err(ModelError::BadShape { name: name.into(), expected: vec![k as u64, m as u64], got: dims });
    }
    Weight::new(m, k, finite(name, data)?)
}

impl Llama {
    /// Dequantizes every tensor the forward needs, checking each shape against the metadata.
    pub fn from_gguf(g: &Gguf) -> Result<Self, ModelError> {
        let cfg = LlamaConfig::from_gguf(g)?;
        let (d, f, kv) = (cfg.d_model, cfg.d_ffn, cfg.kv_dim());
        let blocks = (0..cfg.n_blocks)
            .map(|i| {
                let t = |s: &str| format!("blk.{i}.{s}.weight");
                Ok(Block {
                    attn_norm: vector(g, &t("attn_norm"), d)?,
                    ffn_norm: vector(g, &t("ffn_norm"), d)?,
                    q: matrix(g, &t("attn_q"), d, d)?,
                    k: matrix(g, &t("attn_k"), kv, d)?,
                    v: matrix(g, &t("attn_v"), kv, d)?,
                    o: matrix(g, &t("attn_output"), d, d)?,
                    gate: matrix(g, &t("ffn_gate"), f, d)?,
                    up: matrix(g, &t("ffn_up"), f, d)?,
                    down: matrix(g, &t("ffn_down"), d, f)?,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let output = match g.tensor("output.weight") {
            Some(_) => Some(matrix(g, "output.weight", cfg.vocab, d)?),
            None => None,
        };
        Ok(Self {
            embed: matrix(g, "token_embd.weight", cfg.vocab, d)?,
            output_norm: vector(g, "output_norm.weight", d)?,
            blocks,
            output,
            down_input: None,
            cfg,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    pub fn blocks_mut(&mut self) -> &mut [Block] {
        &mut self.blocks
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The token embedding (`vocab × d_model`).
    pub fn embed(&self) -> &Weight {
        &self.embed
    }

    /// The final RMSNorm gains.
    pub fn output_norm(&self) -> &[f32] {
        &self.output_norm
    }

    /// The output head when it is not tied to the embedding.
    pub fn output(&self) -> Option<&Weight> {
        self.output.as_ref()
    }

    /// The token embedding, for exact reparametrizations.
    pub fn embed_mut(&mut self) -> &mut Weight {
        &mut self.embed
    }

    /// The final RMSNorm gains, for exact reparametrizations.
    pub fn output_norm_mut(&mut self) -> &mut [f32] {
        &mut self.output_norm
    }

    /// The output head, made a separate copy of the embedding first if it was tied (a
    /// reparametrization that treats them differently unties them).
    pub fn untied_output_mut(&mut self) -> &mut Weight {
        self.output.get_or_insert_with(|| self.embed.clone())
    }

    /// Sets the transform the forward applies to `down`'s input (`silu(gate) * up`) before the
    /// layer runs; `down`'s weights must hold its inverse.
    pub fn set_down_input(&mut self, t: Option<Hadamard>) {
        self.down_input = t;
    }

    /// The transform applied to `down`'s input, if any.
    pub fn down_input(&self) -> Option<&Hadamard> {
        self.down_input.as_ref()
    }

    /// Runs `tokens` at the positions following those in `cache` (which it extends) and returns
    /// the final-normed hidden states, `tokens.len() × d_model` row-major. On error the cache is
    /// left as it was.
    pub fn forward(
        &self,
        exec: &mut dyn LinearExec,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> Result<Vec<f32>, ModelError> {
        let c = &self.cfg;
        let (n, past) = (tokens.len(), cache.len);
        if past + n > cache.capacity {
            return Err(ModelError::ContextOverflow { got: past + n, limit: cache.capacity });
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= c.vocab) {
            return Err(ModelError::BadToken { id: t, vocab: c.vocab });
        }
        let result = self.blocks_forward(exec, tokens, cache);
        let keep = if result.is_ok() { past + n } else { past };
        cache.k.iter_mut().chain(cache.v.iter_mut()).for_each(|b| b.truncate(keep * c.kv_dim()));
        cache.len = keep;
        result
    }

    fn blocks_forward(
        &self,
        exec: &mut dyn LinearExec,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> Result<Vec<f32>, ModelError> {
        let c = &self.cfg;
        let (n, d, kvd, hd, f) = (tokens.len(), c.d_model, c.kv_dim(), c.head_dim, c.d_ffn);
        let past = cache.len;
        let total = past + n;
        let KvCache { k: kc, v: vc, scratch: s, .. } = cache;
        let x = sized(&mut s.x, n * d);
        for (row, &t) in x.chunks_exact_mut(d).zip(tokens) {
            row.copy_from_slice(self.embed.row(t as usize));
        }
        let rope = RopeTable::new(c, past, n);
        let xn = sized(&mut s.xn, n * d);
        let q = sized(&mut s.q, n * d);
        let k = sized(&mut s.k, n * kvd);
        let v = sized(&mut s.v, n * kvd);
        let att = sized(&mut s.att, n * d);
        let proj = sized(&mut s.proj, n * d);
        let gate = sized(&mut s.gate, n * f);
        let up = sized(&mut s.up, n * f);
        let scores = sized(&mut s.scores, c.n_heads * n * total);
        let heads_out = sized(&mut s.heads_out, c.n_heads * n * hd);

        for (bi, b) in self.blocks.iter().enumerate() {
            let id = |kind| LinearId { block: bi, kind };
            rms_norm(x, &b.attn_norm, c.rms_eps, xn);
            exec.linear(id(LinearKind::Q), &b.q, xn, n, q)?;
            exec.linear(id(LinearKind::K), &b.k, xn, n, k)?;
            exec.linear(id(LinearKind::V), &b.v, xn, n, v)?;
            rope.apply(q, c.n_heads, hd);
            rope.apply(k, c.n_kv_heads, hd);
            kc[bi].extend_from_slice(k);
            vc[bi].extend_from_slice(v);
            self.attention(q, &kc[bi], &vc[bi], past, n, scores, heads_out);
            for (h, out) in heads_out.chunks_exact(n * hd).enumerate() {
                for (row, src) in att.chunks_exact_mut(d).zip(out.chunks_exact(hd)) {
                    row[h * hd..(h + 1) * hd].copy_from_slice(src);
                }
            }
            exec.linear(id(LinearKind::O), &b.o, att, n, proj)?;
            add_assign(x, proj);

            rms_norm(x, &b.ffn_norm, c.rms_eps, xn);
            exec.linear(id(LinearKind::Gate), &b.gate, xn, n, gate)?;
            exec.linear(id(LinearKind::Up), &b.up, xn, n, up)?;
            swiglu(gate, up);
            if let Some(t) = &self.down_input {
                t.apply_rows(gate);
            }
            exec.linear(id(LinearKind::Down), &b.down, gate, n, proj)?;
            add_assign(x, proj);
        }
        rms_norm(x, &self.output_norm, c.rms_eps, xn);
        Ok(xn.to_vec())
    }

    /// Causal attention of the `n` new queries over the `past + n` cached positions. Head h reads
    /// KV head `h / (n_heads / n_kv_heads)` and writes `n × head_dim` rows to its part of `out`.
    /// Queries are taken in blocks of [`QUERY_BLOCK`] rows, each scored only against the keys it
    /// can see, which skips most of the masked upper triangle; (head, block) pairs run in parallel.
    #[allow(clippy::too_many_arguments)]
    fn attention(&self, q: &[f32], kc: &[f32], vc: &[f32], past: usize, n: usize, scores: &mut [f32], out: &mut [f32]) {
        let c = &self.cfg;
        let (d, kvd, hd, total) = (c.d_model, c.kv_dim(), c.head_dim, past + n);
        let group = c.n_heads / c.n_kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        scores
            .par_chunks_exact_mut(n * total)
            .zip(out.par_chunks_exact_mut(n * hd))
            .enumerate()
            .flat_map(|(h, (s, o))| {
                s.par_chunks_mut(QUERY_BLOCK * total)
                    .zip(o.par_chunks_mut(QUERY_BLOCK * hd))
                    .enumerate()
                    .map(move |(blk, so)| (h, blk, so))
            })
            .for_each(|(h, blk, (s, o))| {
                let kh = h / group;
                let (i0, rows) = (blk * QUERY_BLOCK, o.len() / hd);
                // Keys visible to the last query of the block.
                let seen_max = past + i0 + rows;
                let qv = View { data: &q[i0 * d + h * hd..], rows, cols: hd, rs: d, cs: 1 };
                let kt = View { data: &kc[kh * hd..], rows: seen_max, cols: hd, rs: kvd, cs: 1 }.t();
                matmul(s, total, qv, kt, false, Threads::Single);
                for (i, row) in s.chunks_mut(total).enumerate() {
                    // Query i0 + i sits at position past + i0 + i and sees keys 0..=that position.
                    let seen = past + i0 + i + 1;
                    let max = max(&row[..seen]);
                    for x in &mut row[..seen] {
                        *x = (*x - max) * scale;
                    }
                    exp_inplace(&mut row[..seen]);
                    let inv = 1.0 / sum(&row[..seen]);
                    row[..seen].iter_mut().for_each(|x| *x *= inv);
                    row[seen..seen_max].fill(0.0);
                }
                let p = View { data: s, rows, cols: seen_max, rs: total, cs: 1 };
                let vv = View { data: &vc[kh * hd..], rows: seen_max, cols: hd, rs: kvd, cs: 1 };
                matmul(o, hd, p, vv, false, Threads::Single);
            });
    }

    /// Output logits for `rows` final hidden states (`rows × d_model`) into `logits`
    /// (`rows × vocab`).
    pub fn logits(&self, hidden: &[f32], rows: usize, logits: &mut [f32]) {
        let head = self.output.as_ref().unwrap_or(&self.embed);
        matmul_packed(logits, &hidden[..rows * self.cfg.d_model], rows, head.packed());
    }
}

/// cos/sin of every (position, pair) for one forward call.
struct RopeTable {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
}

impl RopeTable {
    fn new(c: &LlamaConfig, past: usize, n: usize) -> Self {
        let half = c.head_dim / 2;
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for p in past..past + n {
            for i in 0..half {
                let theta = p as f64 * c.rope_base.powf(-2.0 * i as f64 / c.head_dim as f64);
                cos.push(theta.cos() as f32);
                sin.push(theta.sin() as f32);
            }
        }
        Self { cos, sin, half }
    }

    /// Rotates the adjacent pairs (2i, 2i+1) of every head of every row of `x` (`n × heads·hd`).
    fn apply(&self, x: &mut [f32], heads: usize, hd: usize) {
        for (row, (cos, sin)) in
            x.chunks_exact_mut(heads * hd).zip(self.cos.chunks_exact(self.half).zip(self.sin.chunks_exact(self.half)))
        {
            for head in row.chunks_exact_mut(hd) {
                for ((pair, &c), &s) in head.chunks_exact_mut(2).zip(cos).zip(sin) {
                    let (a, b) = (pair[0], pair[1]);
                    pair[0] = a * c - b * s;
                    pair[1] = a * s + b * c;
                }
            }
        }
    }
}
