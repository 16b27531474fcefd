//! GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained
//! Transformers", ICLR 2023) on the numeric contract's grid: each layer's weights are rounded one
//! input column at a time, and the rounding error of a column is pushed onto the columns not yet
//! rounded through the inverse Hessian of the layer's inputs, `H = Σ x xᵀ` over calibration
//! tokens (PTB *valid*). The codes stay per-row int-b / ternary / binary with one scale per row,
//! so the array, the RTL and the golden model see nothing new: only which code each weight gets.
//!
//! Settings as ../shared/W4A4.md measured them on SmolLM2: act-order (columns of largest `H_jj`
//! first), 1 % damping, blocks of 128 columns, and for int formats a per-row clip search — the row
//! scale `r · max|W_m| / Qw` with r in 0.6..=1 minimising the `diag(H)`-weighted rounding error.
//!
//! Deterministic: Hessians are sums in f64 in a fixed order (window after window, one GEMM per
//! layer call on one thread), the factorizations run sequentially per layer, and the rows of a
//! layer — independent in GPTQ — are split over threads without changing any row's arithmetic.
//! Results are cached by a content hash of the model, the calibration tokens and the settings
//! ([`cached`]), so a rerun costs nothing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rayon::prelude::*;
use spikeq_hdl::digest::CacheKey;
use spikeq_hdl::quant::QuantWeights;
use spikeq_hdl::WeightFormat;

use crate::llm::eval;
use crate::llm::model::linear::{check_linear_shapes, F32Linear, LinearExec, LinearId, LinearKind, Weight};
use crate::llm::model::llama::Llama;
use crate::llm::model::ModelError;
use crate::llm::precision::Precision;

/// Columns rounded between two lazy updates of the rest of the row.
const BLOCK: usize = 128;
/// Damping added to the Hessian's diagonal, as a fraction of its mean.
const DAMP: f64 = 0.01;
/// Clip ratios tried per row (int formats), 0.6 to 1 by 0.025.
const CLIP_STEPS: usize = 17;
/// Rows rounded together, so one pass over the inverse Hessian serves them all.
const ROW_CHUNK: usize = 32;
/// Names the cache format; bump when the algorithm or the file layout changes.
const RECIPE: &str = "spikeq-gptq-v2";

/// The layer whose input a layer reads: q, k and v share theirs, as do gate and up.
fn input_of(kind: LinearKind) -> LinearKind {
    match kind {
        LinearKind::K | LinearKind::V => LinearKind::Q,
        LinearKind::Up => LinearKind::Gate,
        k => k,
    }
}

/// Accumulates `X^T X` of every distinct layer input while the f32 model runs.
#[derive(Debug, Default)]
pub struct Hessians {
    sums: BTreeMap<LinearId, Vec<f64>>,
}

/// `dst += aᵀ a` for a row-major `n × k` matrix `a`, in f64. Each element sums its products in
/// row order, so the result does not depend on the thread count or the CPU (no fused or
/// reordered kernels): the upper triangle is accumulated, rows of `dst` in parallel over blocks of
/// input rows, then mirrored.
fn add_gram(dst: &mut [f64], a: &[f32], n: usize, k: usize) {
    const BLOCK: usize = 64;
    let a: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
    for rows in a.chunks(BLOCK * k).take(n.div_ceil(BLOCK)) {
        dst.par_chunks_mut(k).enumerate().for_each(|(i, out)| {
            for row in rows.chunks_exact(k) {
                let ai = row[i];
                for (o, &aj) in out[i..].iter_mut().zip(&row[i..]) {
                    *o += ai * aj;
                }
            }
        });
    }
    for i in 0..k {
        for j in 0..i {
            dst[i * k + j] = dst[j * k + i];
        }
    }
}

impl Hessians {
    /// `Σ x xᵀ` (k × k, row-major) of the input of layer `id`.
    pub fn get(&self, id: LinearId) -> Option<&[f64]> {
        self.sums.get(&LinearId { block: id.block, kind: input_of(id.kind) }).map(Vec::as_slice)
    }
}

impl LinearExec for Hessians {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        check_linear_shapes(id, w, x, n, y)?;
        if input_of(id.kind) == id.kind {
            let k = w.k();
            let h = self.sums.entry(id).or_insert_with(|| vec![0.0; k * k]);
            add_gram(h, x, n, k);
        }
        F32Linear.linear(id, w, x, n, y)
    }
}

/// Lower Cholesky factor of a symmetric positive definite `n × n` matrix; `None` if it is not.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = l[i * n..i * n + j].iter().zip(&l[j * n..j * n + j]).map(|(x, y)| x * y).sum();
            let s = a[i * n + j] - dot;
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// The upper-triangular U with `Uᵀ U = H⁻¹` (what GPTQ's column updates read), from the Cholesky
/// factor of H with rows and columns reversed: if `J H J = L Lᵀ` then `U = J L⁻¹ J`.
fn inverse_factor(h: &[f64], n: usize) -> Option<Vec<f64>> {
    let r = |i: usize| n - 1 - i;
    let rev: Vec<f64> = (0..n * n).map(|p| h[r(p / n) * n + r(p % n)]).collect();
    let l = cholesky(&rev, n)?;
    // Column j of L⁻¹ by forward substitution, kept as row j of `inv_t` (contiguous dots).
    let mut inv_t = vec![0f64; n * n];
    for j in 0..n {
        let y = &mut inv_t[j * n..(j + 1) * n];
        for i in j..n {
            let dot: f64 = l[i * n + j..i * n + i].iter().zip(&y[j..i]).map(|(a, b)| a * b).sum();
            y[i] = (if i == j { 1.0 } else { 0.0 } - dot) / l[i * n + i];
        }
    }
    // U[i][j] = L⁻¹[r(i)][r(j)] = inv_t[r(j)][r(i)].
    Some((0..n * n).map(|p| inv_t[r(p % n) * n + r(p / n)]).collect())
}

/// The row scale of `row` for `format`: the contract's for ternary and binary; for int formats
/// the clip ratio whose round-to-nearest error, weighted by `diag`, is smallest.
fn row_scale(row: &[f32], diag: &[f64], format: WeightFormat) -> f32 {
    let base = format.row_scale(row);
    if !matches!(format, WeightFormat::Int(_)) {
        return base;
    }
    let mut best = (f64::INFINITY, base);
    for step in 0..CLIP_STEPS {
        let ratio = 1.0 - 0.4 * step as f32 / (CLIP_STEPS - 1) as f32;
        let s = base * ratio;
        let err: f64 = row
            .iter()
            .zip(diag)
            .map(|(&w, &d)| {
                let e = f64::from(w) - f64::from(format.code(w, s)) * f64::from(s);
                d * e * e
            })
            .sum();
        if err < best.0 {
            best = (err, s);
        }
    }
    best.1
}

/// GPTQ of one layer: `w` is `m × k`, `h` its inputs' `k × k` Hessian sum.
pub fn quantize_layer(w: &Weight, h: &[f64], format: WeightFormat) -> Result<QuantWeights, ModelError> {
    let (m, k) = (w.m(), w.k());
    let mut h = h.to_vec();
    // Inputs that were always zero carry no information: their weights round to nothing.
    let dead: Vec<bool> = (0..k).map(|j| h[j * k + j] == 0.0).collect();
    for (j, &d) in dead.iter().enumerate() {
        if d {
            h[j * k + j] = 1.0;
        }
    }
    let diag: Vec<f64> = (0..k).map(|j| h[j * k + j]).collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| diag[b].total_cmp(&diag[a]).then(a.cmp(&b)));
    let mean = diag.iter().sum::<f64>() / k as f64;
    let mut hp: Vec<f64> = (0..k * k).map(|p| h[order[p / k] * k + order[p % k]]).collect();
    let mut factor = None;
    for attempt in 0..4 {
        let damp = DAMP * 10f64.powi(attempt) * mean;
        let mut damped = hp.clone();
        (0..k).for_each(|j| damped[j * k + j] += damp);
        factor = inverse_factor(&damped, k);
        if factor.is_some() {
            break;
        }
    }
    hp.clear();
    let u = factor.ok_or_else(|| {
        ModelError::Backend(format!("GPTQ: the Hessian of a {m} x {k} layer is not positive definite"))
    })?;
    let mut codes = vec![0i8; m * k];
    let mut scales = vec![0f32; m];
    codes.par_chunks_mut(ROW_CHUNK * k).zip(scales.par_chunks_mut(ROW_CHUNK)).enumerate().for_each(
        |(c, (codes, scales))| {
            let rows = scales.len();
            // Permuted f64 working copies of the chunk's rows, dead inputs zeroed.
            let mut wp: Vec<f64> = (0..rows * k)
                .map(|p| {
                    let j = order[p % k];
                    if dead[j] {
                        0.0
                    } else {
                        f64::from(w.row(c * ROW_CHUNK + p / k)[j])
                    }
                })
                .collect();
            for (r, s) in scales.iter_mut().enumerate() {
                let orig: Vec<f32> = (0..k).map(|j| if dead[j] { 0.0 } else { w.row(c * ROW_CHUNK + r)[j] }).collect();
                *s = row_scale(&orig, &diag, format);
            }
            let mut err = vec![0f64; rows * BLOCK];
            for b0 in (0..k).step_by(BLOCK) {
                let b1 = (b0 + BLOCK).min(k);
                for i in b0..b1 {
                    let d = u[i * k + i];
                    let urow = &u[i * k..(i + 1) * k];
                    for r in 0..rows {
                        let row = &mut wp[r * k..(r + 1) * k];
                        let s = scales[r];
                        let q = format.code(row[i] as f32, s);
                        codes[r * k + order[i]] = q;
                        let e = (row[i] - f64::from(q) * f64::from(s)) / d;
                        for (x, &uv) in row[i + 1..b1].iter_mut().zip(&urow[i + 1..b1]) {
                            *x -= e * uv;
                        }
                        err[r * BLOCK + (i - b0)] = e;
                    }
                }
                // Lazy update of the columns after the block.
                for i in b0..b1 {
                    let urow = &u[i * k + b1..(i + 1) * k];
                    for r in 0..rows {
                        let e = err[r * BLOCK + (i - b0)];
                        for (x, &uv) in wp[r * k + b1..(r + 1) * k].iter_mut().zip(urow) {
                            *x -= e * uv;
                        }
                    }
                }
            }
        },
    );
    Ok(QuantWeights { m, k, format, codes, scales })
}

/// Measures the Hessians on the first `windows` windows of `valid_tokens` (PTB *valid*).
pub fn hessians(model: &Llama, valid_tokens: &[u32], windows: usize) -> Result<Hessians, ModelError> {
    let mut h = Hessians::default();
    eval::perplexity(model, &mut h, valid_tokens, Some(windows), |_| {})?;
    Ok(h)
}

/// GPTQ of every layer of `model` at its format in `precision`; `done` is called after each layer
/// (from worker threads).
pub fn quantize_model(
    model: &Llama,
    precision: &Precision,
    h: &Hessians,
    done: &(dyn Fn() + Sync),
) -> Result<HashMap<LinearId, QuantWeights>, ModelError> {
    let ids: Vec<LinearId> =
        (0..model.blocks().len()).flat_map(|block| LinearKind::ALL.map(|kind| LinearId { block, kind })).collect();
    ids.par_iter()
        .map(|&id| {
            let w = model.blocks()[id.block].weight(id.kind);
            let hs =
                h.get(id).ok_or_else(|| ModelError::Backend(format!("GPTQ: no Hessian for the input of {id:?}")))?;
            let q = quantize_layer(w, hs, precision.spec(id).weights)?;
            done();
            Ok((id, q))
        })
        .collect()
}

/// The cache key of a GPTQ run: every parameter of the model (after smoothing or rotation), the
/// online transform, the calibration tokens, the formats and the recipe version.
pub fn cache_key(model: &Llama, precision: &Precision, valid_tokens: &[u32], windows: usize) -> String {
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut key = CacheKey::new(RECIPE).part("windows", windows.to_le_bytes());
    let used: usize = eval::windows(valid_tokens, Some(windows)).map(<[u32]>::len).sum();
    key = key.part("tokens", valid_tokens[..used].iter().flat_map(|t| t.to_le_bytes()).collect::<Vec<u8>>());
    key = key.part("down input", format!("{:?}", model.down_input()));
    key = key.part("parameters", model_digest(model, bytes));
    for block in 0..model.blocks().len() {
        for kind in LinearKind::ALL {
            key = key.part("format", format!("{block} {kind:?} {}", precision.spec(LinearId { block, kind }).weights));
        }
    }
    key.hex()
}

/// Digest of every f32 parameter the forward reads, in a fixed order.
fn model_digest(model: &Llama, bytes: impl Fn(&[f32]) -> Vec<u8>) -> String {
    let mut key = CacheKey::new("model parameters");
    for b in model.blocks() {
        key = key.part("attn_norm", bytes(&b.attn_norm)).part("ffn_norm", bytes(&b.ffn_norm));
        for kind in LinearKind::ALL {
            key = key.part("linear", bytes(b.weight(kind).data()));
        }
    }
    key = key.part("embed", bytes(model.embed().data())).part("output_norm", bytes(model.output_norm()));
    if let Some(o) = model.output() {
        key = key.part("output", bytes(o.data()));
    }
    key.hex()
}

/// Magic of a cache file.
const MAGIC: &[u8; 8] = b"SPQGPTQ1";

/// Writes `weights` to `path` (through a temporary file, so a reader never sees half a file).
fn save(path: &Path, weights: &HashMap<LinearId, QuantWeights>) -> std::io::Result<()> {
    let mut out = MAGIC.to_vec();
    let mut ids: Vec<&LinearId> = weights.keys().collect();
    ids.sort();
    out.extend((ids.len() as u64).to_le_bytes());
    for id in ids {
        let q = &weights[id];
        out.extend((id.block as u64).to_le_bytes());
        out.push(LinearKind::ALL.iter().position(|&k| k == id.kind).expect("a kind of ALL") as u8);
        out.extend((q.m as u64).to_le_bytes());
        out.extend((q.k as u64).to_le_bytes());
        q.scales.iter().for_each(|s| out.extend(s.to_le_bytes()));
        out.extend(q.codes.iter().map(|&c| c as u8));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, out)?;
    std::fs::rename(tmp, path)
}

/// Reads a cache file written by [`save`] for `model`'s layers at `precision`'s formats; `None`
/// if it is missing, truncated or does not match the model's shapes.
fn load(path: &Path, model: &Llama, precision: &Precision) -> Option<HashMap<LinearId, QuantWeights>> {
    let data = std::fs::read(path).ok()?;
    let mut r = Reader(data.strip_prefix(MAGIC)?);
    let count = r.size()?;
    let mut out = HashMap::new();
    for _ in 0..count {
        let block = r.size()?;
        let kind = *LinearKind::ALL.get(r.take(1)?[0] as usize)?;
        let (m, k) = (r.size()?, r.size()?);
        let w = model.blocks().get(block)?.weight(kind);
        if (w.m(), w.k()) != (m, k) {
            return None;
        }
        let scales = r
            .take(m.checked_mul(4)?)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        let codes = r.take(m.checked_mul(k)?)?.iter().map(|&b| b as i8).collect();
        let id = LinearId { block, kind };
        out.insert(id, QuantWeights { m, k, format: precision.spec(id).weights, codes, scales });
    }
    r.0.is_empty().then_some(out)
}

/// A cursor over a cache file's bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.0.split_at_checked(n)?;
        self.0 = b;
        Some(a)
    }

    fn size(&mut self) -> Option<usize> {
        usize::try_from(u64::from_le_bytes(self.take(8)?.try_into().ok()?)).ok()
    }
}

/// GPTQ weights of `model` at `precision`'s formats, Hessians from the first `windows` windows
/// of `valid_tokens` (PTB *valid*): read from `cache_dir` when a run with the same key was cached,
/// computed (and cached) otherwise. `done` is called after each computed layer; `total` layers.
pub fn cached(
    model: &Llama,
    precision: &Precision,
    valid_tokens: &[u32],
    windows: usize,
    cache_dir: &Path,
    done: &(dyn Fn() + Sync),
) -> Result<HashMap<LinearId, QuantWeights>, ModelError> {
    let path = cache_dir.join(format!("{}.bin", cache_key(model, precision, valid_tokens, windows)));
    if let Some(w) = load(&path, model, precision) {
        return Ok(w);
    }
    let h = hessians(model, valid_tokens, windows)?;
    let w = quantize_model(model, precision, &h, done)?;
    save(&path, &w).map_err(|e| ModelError::Backend(format!("writing the GPTQ cache {}: {e}", path.display())))?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Inputs with correlated channels (a few shared factors plus noise) and one loud channel, as
    /// a linear layer of a language model sees them; row-major n × k.
    fn inputs(n: usize, k: usize, rng: &mut StdRng) -> Vec<f32> {
        let factors: Vec<Vec<f32>> = (0..4).map(|_| (0..k).map(|_| rng.gen_range(-1.0..1.0)).collect()).collect();
        (0..n)
            .flat_map(|_| {
                let a: Vec<f32> = (0..4).map(|_| rng.gen_range(-2.0..2.0)).collect();
                let noise: Vec<f32> = (0..k).map(|_| rng.gen_range(-0.2..0.2)).collect();
                (0..k)
                    .map(|j| {
                        let v: f32 = (0..4).map(|f| a[f] * factors[f][j]).sum::<f32>() + noise[j];
                        if j == 3 {
                            v * 10.0
                        } else {
                            v
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn gram(x: &[f32], n: usize, k: usize) -> Vec<f64> {
        let mut h = vec![0f64; k * k];
        add_gram(&mut h, x, n, k);
        h
    }

    /// Σ over tokens and rows of (y - ŷ)², ŷ from the codes and scales.
    fn output_error(w: &Weight, q: &QuantWeights, x: &[f32], k: usize) -> f64 {
        let mut e = 0f64;
        for xr in x.chunks_exact(k) {
            for m in 0..w.m() {
                let (wr, cr) = (w.row(m), &q.codes[m * k..(m + 1) * k]);
                let y: f64 = wr.iter().zip(xr).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                let yq: f64 =
                    cr.iter().zip(xr).map(|(&c, &b)| f64::from(c) * f64::from(q.scales[m]) * f64::from(b)).sum();
                e += (y - yq) * (y - yq);
            }
        }
        e
    }

    #[test]
    fn gram_matches_the_definition() {
        let mut rng = StdRng::seed_from_u64(1);
        let (n, k) = (7, 5);
        let x: Vec<f32> = (0..n * k).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let h = gram(&x, n, k);
        for i in 0..k {
            for j in 0..k {
                let want: f64 = (0..n).map(|t| f64::from(x[t * k + i]) * f64::from(x[t * k + j])).sum();
                assert!((h[i * k + j] - want).abs() < 1e-12, "({i}, {j})");
            }
        }
    }

    #[test]
    fn inverse_factor_gives_the_inverse_hessian() {
        let mut rng = StdRng::seed_from_u64(2);
        let k = 24;
        let x = inputs(200, k, &mut rng);
        let mut h = gram(&x, 200, k);
        (0..k).for_each(|j| h[j * k + j] += 0.01);
        let u = inverse_factor(&h, k).unwrap();
        for i in 0..k {
            for j in 0..i {
                assert_eq!(u[i * k + j], 0.0, "U is upper triangular");
            }
        }
        // (Uᵀ U) H = I.
        for i in 0..k {
            for j in 0..k {
                let v: f64 =
                    (0..k).map(|l| (0..k).map(|p| u[p * k + i] * u[p * k + l]).sum::<f64>() * h[l * k + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-8, "({i}, {j}): {v}");
            }
        }
        assert!(inverse_factor(&[1.0, 2.0, 2.0, 1.0], 2).is_none(), "an indefinite matrix has no factor");
    }

    #[test]
    fn gptq_beats_round_to_nearest_on_the_layer_output_and_stays_on_the_grid() {
        let mut rng = StdRng::seed_from_u64(3);
        let (m, k, n) = (40, 64, 400);
        let x = inputs(n, k, &mut rng);
        let w = Weight::new(m, k, (0..m * k).map(|_| rng.gen_range(-1.0f32..1.0)).collect()).unwrap();
        let h = gram(&x, n, k);
        for format in [WeightFormat::Int(4), WeightFormat::Int(3), WeightFormat::Ternary] {
            let g = quantize_layer(&w, &h, format).unwrap();
            let rtn = spikeq_hdl::quant::quantize_weights(w.data(), m, k, format);
            let q = format.qmax() as i8;
            assert!(g.codes.iter().all(|&c| (-q..=q).contains(&c)), "{format}: codes on the grid");
            let (eg, er) = (output_error(&w, &g, &x, k), output_error(&w, &rtn, &x, k));
            assert!(eg < 0.7 * er, "{format}: GPTQ output error {eg} not well below round-to-nearest {er}");
            // Rows are independent: the threads that rounded them change nothing.
            assert_eq!(g, quantize_layer(&w, &h, format).unwrap());
        }
    }

    #[test]
    fn dead_inputs_round_to_zero() {
        let mut rng = StdRng::seed_from_u64(4);
        let (m, k, n) = (3, 16, 50);
        let mut x = inputs(n, k, &mut rng);
        x.chunks_exact_mut(k).for_each(|r| r[5] = 0.0);
        let w = Weight::new(m, k, (0..m * k).map(|_| rng.gen_range(-1.0f32..1.0)).collect()).unwrap();
        let g = quantize_layer(&w, &gram(&x, n, k), WeightFormat::Int(4)).unwrap();
        assert!((0..m).all(|r| g.codes[r * k + 5] == 0));
    }

    #[test]
    fn cache_files_round_trip_and_bad_files_are_ignored() {
        let (model, _) = crate::llm::model::load(
            &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../.cache/model/SmolLM2-135M-Instruct.Q4_1.gguf"),
        )
        .expect("the model (scripts/setup.sh fetches it)");
        let p = Precision::uniform(
            crate::llm::precision::LayerSpec { weights: WeightFormat::Int(4), acts: 4, salient: 8 },
            crate::llm::precision::DEFAULT_SELECTOR,
        );
        let weights: HashMap<LinearId, QuantWeights> = (0..model.blocks().len())
            .flat_map(|block| LinearKind::ALL.map(|kind| LinearId { block, kind }))
            .map(|id| {
                let w = model.blocks()[id.block].weight(id.kind);
                (id, spikeq_hdl::quant::quantize_weights(w.data(), w.m(), w.k(), WeightFormat::Int(4)))
            })
            .collect();
        let dir = std::env::temp_dir().join(format!("spikeq_gptq_cache_{}", std::process::id()));
        let path = dir.join("x.bin");
        save(&path, &weights).unwrap();
        assert_eq!(load(&path, &model, &p).as_ref(), Some(&weights));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(load(&path, &model, &p).is_none(), "a truncated file is not a cache hit");
        std::fs::write(&path, b"SPQGPTQ1\xff\xff\xff\xff\xff\xff\xff\xff").unwrap();
        assert!(load(&path, &model, &p).is_none(), "a huge count is not a cache hit");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
