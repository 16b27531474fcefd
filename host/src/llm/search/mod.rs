//! Tiered mixed-precision search (QSLM-style): global → block → module, under a memory budget and
//! a perplexity limit, scored by user-weighted perplexity, memory and energy. docs/search.md
//! describes the algorithm, the score and the cache.
//!
//! **The search only ever reads the calibration text it is given (PTB *valid*)**: it is read
//! through [`crate::session::read_calibration_text`], which refuses the PTB test split by content
//! hash, and the search records the path and hash of every text it read in its output. Points are measured by the fast path ([`fast`]), which equals the golden backend up to
//! f32 rounding; final test-split perplexities come from `spikeq eval --precision` on the golden
//! backend.

pub mod cache;
pub mod fast;
pub mod pareto;

use std::path::{Path, PathBuf};

use serde::Serialize;
use spikeq_hdl::quant::SalientSelector;
use spikeq_hdl::ArrayConfig;
use thiserror::Error;

use crate::files::digest::CacheKey;
use crate::llm::eval;
use crate::llm::model::linear::{F32Linear, LinearId, LinearKind};
use crate::llm::model::llama::{KvCache, Llama};
use crate::llm::model::ModelError;
use crate::llm::precision::{Assignment, LayerSpec, Precision, PrecisionError};
use crate::llm::quant::{QuantError, Quantization};
use crate::session::TextRead;
use crate::study::energy::{price, table};
use cache::{Measured, PointCache};
use fast::FakeQuant;
pub use fast::WeightCache;

/// Bumped when what a cached point means changes (evaluation path, energy model; 2: the
/// activation clip applies to 4-bit codes only).
const CACHE_VERSION: u32 = 2;

/// Errors of the search.
#[derive(Debug, Error)]
pub enum SearchError {
    /// File I/O.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// Another search holds the cache file.
    #[error("{path} is in use by another spikeq search; wait for it or pass another --cache-dir")]
    Busy { path: PathBuf },
    /// The cache file belongs to another setup (hash collision or hand-edited).
    #[error("{path} was written for another model, text or setting; delete it to start over")]
    CacheHeader { path: PathBuf },
    /// Not enough calibration text.
    #[error("the calibration text has {got} tokens, {need} are needed for {segments} segments of {len}; use fewer or shorter segments")]
    ShortText { got: usize, need: usize, segments: usize, len: usize },
    /// Options that cannot work together.
    #[error("{0}")]
    Options(String),
    /// `--max-evals` reached.
    #[error("stopped after {evals} new evaluations (--max-evals); every point so far is saved in {path}: rerun the same command to continue")]
    Paused { evals: usize, path: PathBuf },
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A precision setting or array that does not work.
    #[error(transparent)]
    Precision(#[from] PrecisionError),
    /// The derived array configuration is invalid.
    #[error(transparent)]
    Array(#[from] QuantError),
    /// Plotting failed.
    #[error("cannot draw {path}: {why}")]
    Plot { path: PathBuf, why: String },
}

/// The first `count` segments of `len` tokens of a tokenized text.
pub fn segments(tokens: &[u32], len: usize, count: usize) -> Result<Vec<Vec<u32>>, SearchError> {
    let need = len * count;
    if len == 0 || count == 0 || tokens.len() < need {
        return Err(SearchError::ShortText { got: tokens.len(), need, segments: count, len });
    }
    Ok(tokens.chunks_exact(len).take(count).map(<[u32]>::to_vec).collect())
}

/// Everything a measurement depends on.
#[derive(Debug)]
pub struct Setup<'m> {
    /// The f32 model.
    pub model: &'m Llama,
    /// SHA-256 of the GGUF.
    pub model_sha256: String,
    /// SmoothQuant strength and calibration windows the model was smoothed with, if any.
    pub smooth: Option<(f32, usize)>,
    /// Whether the model was rotated (`crate::llm::rotate`).
    pub rotate: bool,
    /// PTB valid windows of GPTQ's Hessians when the weights are GPTQ-rounded (the
    /// [`WeightCache`] given to [`Evaluator::open`] holds them), `None`: round-to-nearest.
    pub gptq: Option<usize>,
    /// Activation clip ratio of every layer call.
    pub act_clip: f32,
    /// Calibration segments (each scored after token 0, as a perplexity window).
    pub segments: Vec<Vec<u32>>,
    /// The calibration text read.
    pub text: TextRead,
    /// Salient selector of layers with salient bits.
    pub selector: SalientSelector,
    /// Base array (rows, lanes, k_max, salient budget); each assignment widens it.
    pub base: ArrayConfig,
}

impl Setup<'_> {
    /// The cache header: every input of a measurement. Its hash names the cache file.
    fn header(&self) -> serde_json::Value {
        let seg_hash = self
            .segments
            .iter()
            .fold(CacheKey::new("spikeq-search-segments"), |key, seg| {
                key.part("segment", seg.iter().flat_map(|t| t.to_le_bytes()).collect::<Vec<u8>>())
            })
            .hex();
        serde_json::json!({
            "spikeq_search_cache": CACHE_VERSION,
            "model_sha256": self.model_sha256,
            "smooth": self.smooth,
            "rotate": self.rotate,
            "gptq": self.gptq,
            "act_clip": self.act_clip,
            "segments": self.segments.len(),
            "segment_tokens": self.segments.first().map_or(0, Vec::len),
            "segments_sha256": seg_hash,
            "selector": crate::llm::precision::selector_text(self.selector),
            "base_array": self.base.hash(),
        })
    }

    /// Token positions run per evaluation (segments plus their prefix tokens).
    fn positions(&self) -> usize {
        self.segments.iter().map(|s| s.len() + 1).sum()
    }
}

/// Measures assignments on the calibration segments, through the cache.
#[derive(Debug)]
pub struct Evaluator<'m> {
    setup: Setup<'m>,
    weights: WeightCache,
    cache: PointCache,
    /// Evaluations run by this evaluator (not found in the cache).
    pub new_evals: usize,
    max_new: Option<usize>,
}

impl<'m> Evaluator<'m> {
    /// Opens the cache for `setup` under `cache_dir`, the layers' weights quantized through
    /// `weights` (GPTQ's codes when `setup.gptq` says so); stops with [`SearchError::Paused`]
    /// after `max_new` new evaluations.
    pub fn open(
        setup: Setup<'m>,
        weights: WeightCache,
        cache_dir: &Path,
        max_new: Option<usize>,
    ) -> Result<Self, SearchError> {
        let header = setup.header();
        let id = CacheKey::new("spikeq-search-cache").part("header", header.to_string()).hex()[..16].to_string();
        let cache = PointCache::open(cache_dir, &id, &header)?;
        Ok(Evaluator { setup, weights, cache, new_evals: 0, max_new })
    }

    /// The setup.
    pub fn setup(&self) -> &Setup<'m> {
        &self.setup
    }

    /// The cache file.
    pub fn cache_path(&self) -> &Path {
        self.cache.path()
    }

    /// Whether `key` is measured already.
    pub fn is_cached(&self, key: &str) -> bool {
        self.cache.get(key).is_some()
    }

    fn run(
        &mut self,
        key: String,
        f: impl FnOnce(&mut Self) -> Result<Measured, SearchError>,
    ) -> Result<Measured, SearchError> {
        if let Some(m) = self.cache.get(&key) {
            return Ok(m.clone());
        }
        if self.max_new.is_some_and(|max| self.new_evals >= max) {
            return Err(SearchError::Paused { evals: self.new_evals, path: self.cache.path().to_path_buf() });
        }
        let m = f(self)?;
        self.new_evals += 1;
        self.cache.insert(m.clone())?;
        Ok(m)
    }

    fn nll(
        model: &Llama,
        segments: &[Vec<u32>],
        exec: &mut dyn crate::llm::model::linear::LinearExec,
    ) -> Result<(f64, usize), SearchError> {
        let mut cache = KvCache::new(model.config(), segments.iter().map(Vec::len).max().unwrap_or(0) + 1);
        let mut logits = Vec::new();
        let (mut nll, mut scored) = (0.0, 0);
        for s in segments {
            let p = eval::eval_window(model, exec, s, &mut cache, &mut logits)?;
            nll += p.nll_sum;
            scored += p.scored;
        }
        Ok((nll, scored))
    }

    /// The f32 model on the calibration segments.
    pub fn f32(&mut self) -> Result<Measured, SearchError> {
        self.run("f32".into(), |ev| {
            let (nll_sum, scored) = Self::nll(ev.setup.model, &ev.setup.segments, &mut F32Linear)?;
            Ok(Measured { key: "f32".into(), nll_sum, scored, energy_pj: 0.0 })
        })
    }

    /// An assignment on the calibration segments: perplexity and on-chip energy per token of the
    /// array that carries it.
    pub fn measure(&mut self, a: &Assignment) -> Result<Measured, SearchError> {
        self.run(a.key(), |ev| {
            let q = Quantization::mixed(Precision::compact(a, ev.setup.selector));
            let d = q.array(&ev.setup.base)?;
            q.precision.check_array(&d)?;
            let mut exec = FakeQuant::new(a, ev.setup.selector, ev.setup.act_clip, &d, &mut ev.weights);
            let (nll_sum, scored) = Self::nll(ev.setup.model, &ev.setup.segments, &mut exec)?;
            let energy_pj = energy_per_token(&d, &exec.counts, ev.setup.positions());
            Ok(Measured { key: a.key(), nll_sum, scored, energy_pj })
        })
    }
}

/// The energy term of the score: on-chip energy (arithmetic and SRAM reads, `crate::study::energy`)
/// per token position. Stream traffic is left out: it depends on how the host schedules tiles,
/// not on the precision.
pub fn energy_per_token(d: &spikeq_hdl::Derived, counts: &crate::study::energy::OpCounts, positions: usize) -> f64 {
    price(d, counts, table::dram_64()).on_chip() / positions.max(1) as f64
}

/// Which tier produced a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// The whole model at one setting.
    Global,
    /// One block (all seven layers) changed.
    Block,
    /// One layer changed.
    Module,
}

/// One explored point.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// What it is ("uniform w8a8", "block 3 -> w6a8", "walk: +layer 3.down -> w4a8", ...).
    pub label: String,
    /// The tier that explored it.
    pub tier: Tier,
    /// Calibration perplexity.
    pub ppl: f64,
    /// Bytes of weights and scales of the linear layers.
    pub memory: u64,
    /// On-chip energy per token, pJ.
    pub energy_pj: f64,
    /// Score (lower is better; see [`Weights`]).
    pub score: f64,
    /// Meets `--max-memory` and the perplexity limit.
    pub feasible: bool,
    /// The assignment.
    #[serde(skip)]
    pub assignment: Assignment,
}

/// User constraints.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Constraints {
    /// Bytes of weights and scales, at most.
    pub max_memory: Option<u64>,
    /// Calibration perplexity, at most.
    pub max_ppl: Option<f64>,
    /// Calibration perplexity increase over f32, at most (fraction: 0.05 = +5 %).
    pub max_ppl_increase: Option<f64>,
}

/// Weights of the score `w_ppl·ppl/ppl_ref + w_memory·memory/memory_ref + w_energy·energy/energy_ref`,
/// the reference being the first ladder setting applied uniformly.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Weights {
    /// Perplexity weight.
    pub ppl: f64,
    /// Memory weight.
    pub memory: f64,
    /// Energy weight.
    pub energy: f64,
}

/// How far the search refines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Depth {
    /// Uniform settings only.
    Global,
    /// Then per block.
    Block,
    /// Then per module (q, k, v, o, gate, up, down).
    Module,
}

/// Search options.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Settings from most to least precise; the first, applied uniformly, is the reference.
    pub ladder: Vec<LayerSpec>,
    /// Constraints.
    pub constraints: Constraints,
    /// Score weights.
    pub weights: Weights,
    /// Last tier run.
    pub depth: Depth,
    /// Blocks refined per module: the most sensitive blocks not yet at the lowest setting.
    pub module_blocks: usize,
}

/// A progress event: one point done.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Points done so far.
    pub done: usize,
    /// Points planned so far (grows as tiers are planned).
    pub planned: usize,
    /// The point.
    pub label: String,
    /// Whether it came from the cache.
    pub cached: bool,
}

/// What a search found.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// f32 perplexity on the calibration segments.
    pub f32_ppl: f64,
    /// The perplexity limit applied (from `--max-ppl` / `--max-ppl-increase`).
    pub ppl_limit: Option<f64>,
    /// Every point explored, in order.
    pub points: Vec<Point>,
    /// Indices of the Pareto front in (memory, perplexity).
    pub front: Vec<usize>,
    /// Index of the chosen point: the feasible point of lowest score.
    pub chosen: Option<usize>,
    /// Index of the uniform reference point.
    pub reference: usize,
}

struct Run<'a, 'm> {
    ev: &'a mut Evaluator<'m>,
    opts: &'a SearchOptions,
    limit: Option<f64>,
    points: Vec<Point>,
    reference: Option<(f64, u64, f64)>,
    progress: &'a mut dyn FnMut(&Progress),
    planned: usize,
}

impl Run<'_, '_> {
    fn score(&self, ppl: f64, memory: u64, energy: f64) -> f64 {
        let (rp, rm, re) = self.reference.unwrap_or((ppl, memory, energy));
        let w = self.opts.weights;
        let rel = |x: f64, r: f64| if r > 0.0 { x / r } else { 0.0 };
        w.ppl * rel(ppl, rp) + w.memory * rel(memory as f64, rm as f64) + w.energy * rel(energy, re)
    }

    fn feasible(&self, ppl: f64, memory: u64) -> bool {
        self.opts.constraints.max_memory.is_none_or(|m| memory <= m) && self.limit.is_none_or(|l| ppl <= l)
    }

    /// Measures an assignment and records it as an explored point; returns its index.
    fn point(&mut self, a: Assignment, tier: Tier, label: String) -> Result<usize, SearchError> {
        let cached = self.ev.is_cached(&a.key());
        let m = self.ev.measure(&a)?;
        let memory = a.memory_bytes(self.ev.setup.model);
        let ppl = m.ppl();
        if self.reference.is_none() {
            self.reference = Some((ppl, memory, m.energy_pj));
        }
        let p = Point {
            score: self.score(ppl, memory, m.energy_pj),
            feasible: self.feasible(ppl, memory),
            label,
            tier,
            ppl,
            memory,
            energy_pj: m.energy_pj,
            assignment: a,
        };
        (self.progress)(&Progress {
            done: self.points.len() + 1,
            planned: self.planned.max(self.points.len() + 1),
            label: p.label.clone(),
            cached,
        });
        self.points.push(p);
        Ok(self.points.len() - 1)
    }

    fn level(&self, s: LayerSpec) -> usize {
        self.opts.ladder.iter().position(|&l| l == s).expect("assignments only use ladder settings")
    }

    /// Sets every layer of `unit` that is above `level` to it; `None` when nothing changes.
    fn lowered(&self, a: &Assignment, unit: &[LinearId], level: usize) -> Option<Assignment> {
        let mut b = a.clone();
        let mut changed = false;
        for &id in unit {
            if self.level(a.get(id)) < level {
                b.set(id, self.opts.ladder[level]);
                changed = true;
            }
        }
        changed.then_some(b)
    }

    /// One refinement tier: the sensitivity of each unit at each lower level (one step for
    /// modules) from `current`, then the greedy walk over those moves. Returns the new current and
    /// each unit's sensitivity (largest perplexity increase of its moves).
    fn tier(
        &mut self,
        tier: Tier,
        units: Vec<(String, Vec<LinearId>)>,
        current: usize,
    ) -> Result<(usize, Vec<f64>), SearchError> {
        let last = self.opts.ladder.len() - 1;
        let base = self.points[current].assignment.clone();
        let mut moves = Vec::new();
        for (u, (name, unit)) in units.iter().enumerate() {
            let from = unit.iter().map(|&id| self.level(base.get(id))).min().expect("non-empty unit");
            let to_levels: Vec<usize> =
                if tier == Tier::Module { (from + 1..=last).take(1).collect() } else { (from + 1..=last).collect() };
            for to in to_levels {
                if self.lowered(&base, unit, to).is_some() {
                    moves.push((u, name.clone(), unit.clone(), to));
                }
            }
        }
        self.planned += 2 * moves.len();
        let (cp, cm, ce) = (self.points[current].ppl, self.points[current].memory, self.points[current].energy_pj);
        let mut ranked = Vec::new();
        let mut sensitivity = vec![f64::NEG_INFINITY; units.len()];
        for (u, name, unit, to) in moves {
            let a = self.lowered(&base, &unit, to).expect("checked above");
            let i = self.point(a, tier, format!("{name} -> {}", self.opts.ladder[to]))?;
            let p = &self.points[i];
            let (dppl, dmem) = (p.ppl - cp, cm as f64 - p.memory as f64);
            sensitivity[u] = sensitivity[u].max(dppl);
            let dscore = p.score - self.score(cp, cm, ce);
            // Knapsack order: perplexity cost per byte saved; moves that save no memory after, by score.
            let key = if dmem > 0.0 { (0, dppl / dmem) } else { (1, dscore) };
            ranked.push((key, name, unit, to));
        }
        ranked.sort_by(|a, b| a.0 .0.cmp(&b.0 .0).then(a.0 .1.total_cmp(&b.0 .1)));
        let mut cur = current;
        for (_, name, unit, to) in ranked {
            let Some(a) = self.lowered(&self.points[cur].assignment, &unit, to) else {
                self.planned -= 1;
                continue;
            };
            let i = self.point(a, tier, format!("walk: + {name} -> {}", self.opts.ladder[to]))?;
            let (c, p) = (&self.points[cur], &self.points[i]);
            let within = self.limit.is_none_or(|l| p.ppl <= l);
            let needs_memory = self.opts.constraints.max_memory.is_some_and(|m| c.memory > m);
            if within && ((needs_memory && p.memory < c.memory) || p.score < c.score) {
                cur = i;
            }
        }
        Ok((cur, sensitivity))
    }
}

/// Runs the tiered search.
///
/// 1. **Global**: f32 and each ladder setting applied to the whole model. The search starts from
///    the least precise uniform setting that is within the perplexity limit but above the memory
///    budget (the first setting without a budget): refinement lowers parts of it.
/// 2. **Block**: for each block and each lower setting, the model with only that block lowered
///    (sensitivity), then a greedy walk that applies these moves cheapest-first (perplexity cost
///    per byte saved), measuring each step and keeping it if it stays within the perplexity limit
///    and either the budget is still unmet and it saves memory, or it lowers the score.
/// 3. **Module**: the same per layer (one step down from its current setting), in the
///    `module_blocks` most sensitive blocks that are not yet at the lowest setting.
///
/// The chosen point is the feasible explored point of lowest score.
pub fn search(
    ev: &mut Evaluator<'_>,
    opts: &SearchOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<SearchResult, SearchError> {
    if opts.ladder.is_empty() {
        return Err(SearchError::Options("the ladder needs at least one setting, e.g. --ladder w8a8,w6a8,w4a8".into()));
    }
    let f32_ppl = ev.f32()?.ppl();
    let c = opts.constraints;
    let limit = match (c.max_ppl, c.max_ppl_increase) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(f64::INFINITY).min(b.map_or(f64::INFINITY, |inc| f32_ppl * (1.0 + inc)))),
    };
    let n_blocks = ev.setup.model.blocks().len();
    let mut run = Run { ev, opts, limit, points: Vec::new(), reference: None, progress, planned: opts.ladder.len() };
    for &s in &opts.ladder {
        run.point(Assignment::uniform(s, n_blocks), Tier::Global, format!("uniform {s}"))?;
    }
    let start = (0..opts.ladder.len())
        .rev()
        .find(|&i| {
            let p = &run.points[i];
            run.limit.is_none_or(|l| p.ppl <= l) && c.max_memory.is_none_or(|m| p.memory > m)
        })
        .filter(|_| c.max_memory.is_some())
        .unwrap_or(0);
    let mut cur = start;
    let mut block_sensitivity = vec![0.0; n_blocks];
    if opts.depth >= Depth::Block {
        let units = (0..n_blocks)
            .map(|b| (format!("block {b}"), LinearKind::ALL.map(|kind| LinearId { block: b, kind }).to_vec()))
            .collect();
        (cur, block_sensitivity) = run.tier(Tier::Block, units, cur)?;
    }
    if opts.depth >= Depth::Module {
        // The most sensitive blocks that can still go lower: the block walk kept them high, so
        // lowering their insensitive modules is where per-module precision pays.
        let a = &run.points[cur].assignment;
        let mut blocks: Vec<usize> =
            (0..n_blocks).filter(|&b| a.blocks[b].iter().any(|&s| run.level(s) + 1 < opts.ladder.len())).collect();
        blocks.sort_by(|&x, &y| block_sensitivity[y].total_cmp(&block_sensitivity[x]).then(x.cmp(&y)));
        blocks.truncate(opts.module_blocks);
        blocks.sort_unstable();
        let units = blocks
            .into_iter()
            .flat_map(|b| {
                LinearKind::ALL.map(|kind| (format!("layer {b}.{}", kind.name()), vec![LinearId { block: b, kind }]))
            })
            .collect();
        run.tier(Tier::Module, units, cur)?;
    }
    let points = run.points;
    let front = pareto::front(&points);
    let chosen =
        (0..points.len()).filter(|&i| points[i].feasible).min_by(|&a, &b| points[a].score.total_cmp(&points[b].score));
    Ok(SearchResult { f32_ppl, ppl_limit: limit, points, front, chosen, reference: 0 })
}
