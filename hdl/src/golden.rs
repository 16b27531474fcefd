//! Golden model of the array: the exact outputs and the exact cycle count of the RTL.
//!
//! The golden model *defines* the behaviour; the generated RTL must match it bit for bit and cycle
//! for cycle (docs/architecture.md explains the micro-architecture this models).
//!
//! Cycle contract v2 (event-driven lanes). Per token of a RUN call on a tile of `m` rows (spike PE):
//!
//! ```text
//! cycles = 1                                   clear accumulators, read each lane's first code
//!        + max(1 + L, S)                       lanes (after one fill cycle) and salient path side by side
//!        + (fire mode ? 3 + max_r c_r : 0)     drain the row adders, load membranes, one spike per cycle, final check
//! L = max over lanes l of Σ_{codes q of lane l} popcount(|q|)   (normal codes, |q| <= Qa)
//! S = Σ_salient max over radix-2^(ba-1) digits d of popcount(d) (codes with |q| > Qa)
//! ```
//!
//! Lane l owns inputs k ≡ l (mod lanes) and walks only its non-zero codes (a zero costs nothing).
//! A code is delivered as bursts of its binary digits: bit j of |q| is one addition of the weight
//! shifted left by j (2^j spikes at once; wiring, not a multiplier), so a code costs
//! popcount(|q|) cycles and additions. The salient path does the same per radix-2^(ba-1) digit,
//! its digits in parallel. v1 (lock step: `Σ_groups max(1, max_l |q|)`) is described in
//! docs/architecture.md with its measured figures.
//!
//! MAC PE: `cycles = 1 + ceil(K / lanes)` per token (one multiply per lane per cycle).
//!
//! Protocol v3 (hardware VERSION major 3): the array keeps the codes of a RUN of at most
//! `code_buffer_tokens` tokens (lane lists, salient queue and token counts, per token slot), and
//! REPLAY runs them through the tile loaded since. A REPLAY token costs exactly what the same token
//! costs in a RUN (the formula above: CYCLES counts the compute engine only, never stream
//! transfers, so neither RUN's code receiver nor REPLAY's one restore cycle per token counts),
//! adds the same SPIKES and ACCUMULATES, and raises again the data flags its RUN raised. So a
//! layer's counters do not depend on the dataflow: [`Golden::run_layer`] is the sum of its
//! calls whichever [`crate::protocol::plan`] the driver follows.

use std::ops::{BitOr, BitOrAssign, Range};
use std::sync::{Arc, Mutex, MutexGuard};

use rayon::prelude::*;

use crate::config::{Derived, OutputMode, PeKind, MAX_ROWS_LANES};
use crate::error::LayerError;
use crate::fire::fire;
use crate::igemm::{igemm, PackedWeights};
use crate::regmap::err;

/// One layer call: `y = W x` for N tokens, `W` as M×K weight codes, `x` as N×K activation codes.
/// The one description of a call that the golden model, the host driver, the cosimulation cases
/// and the search's counting all use; [`Layer::tiles`] cuts it into what the array runs.
#[derive(Debug, Clone, Copy)]
pub struct Layer<'a> {
    /// Output length M.
    pub m: usize,
    /// Input length K.
    pub k: usize,
    /// Weight codes, `m * k`, row-major.
    pub weights: &'a [i8],
    /// Fixed-point thresholds, one per output (fire mode only).
    pub thresholds: Option<&'a [u64]>,
    /// Output mode.
    pub mode: OutputMode,
    /// Activation codes, `n * k`, token-major.
    pub codes: &'a [i8],
}

impl<'a> Layer<'a> {
    /// Tokens N.
    pub fn n(&self) -> usize {
        self.codes.len() / self.k.max(1)
    }

    /// Checks that the buffers have the lengths M, K and N imply (the array's limits are checked
    /// per tile by [`Golden::check_tile`]).
    pub fn check_shape(&self) -> Result<(), LayerError> {
        if self.m == 0 || self.k == 0 {
            return Err(LayerError::Shape { what: "layer M×K", expected: 1, got: 0 });
        }
        if self.weights.len() != self.m * self.k {
            return Err(LayerError::Shape { what: "weights", expected: self.m * self.k, got: self.weights.len() });
        }
        if !self.codes.len().is_multiple_of(self.k) {
            let expected = self.k * self.codes.len().div_ceil(self.k);
            return Err(LayerError::Shape { what: "codes", expected, got: self.codes.len() });
        }
        if let Some(th) = self.thresholds {
            if th.len() != self.m {
                return Err(LayerError::Shape { what: "thresholds", expected: self.m, got: th.len() });
            }
        }
        Ok(())
    }

    /// The row tiles of an array of `rows` rows, in order: the output rows each covers and the
    /// tile the array loads for them (every tile sees all N tokens).
    pub fn tiles(&self, rows: usize) -> impl Iterator<Item = (Range<usize>, Tile<'a>)> + 'a {
        let (m, k, weights, thresholds, mode) = (self.m, self.k, self.weights, self.thresholds, self.mode);
        (0..m).step_by(rows.max(1)).map(move |m0| {
            let r = m0..m.min(m0 + rows);
            let tile = Tile {
                k,
                m: r.len(),
                weights: &weights[r.start * k..r.end * k],
                thresholds: thresholds.map(|t| &t[r.clone()]),
                mode,
            };
            (r, tile)
        })
    }
}

/// A layer call that owns its data and has a name: what the cosimulation suites, `spikeq cosim`
/// and the Icarus testbench program generate and report on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Short description for reports (`random`, `all zero`, …).
    pub name: String,
    /// Output length M.
    pub m: usize,
    /// Input length K.
    pub k: usize,
    /// Output mode.
    pub mode: OutputMode,
    /// `m * k` weight codes, row-major.
    pub weights: Vec<i8>,
    /// One threshold per output (fire mode only).
    pub thresholds: Option<Vec<u64>>,
    /// `n * k` activation codes, token-major.
    pub codes: Vec<i8>,
}

impl Case {
    /// The call in the shared vocabulary.
    pub fn layer(&self) -> Layer<'_> {
        Layer {
            m: self.m,
            k: self.k,
            weights: &self.weights,
            thresholds: self.thresholds.as_deref(),
            mode: self.mode,
            codes: &self.codes,
        }
    }

    /// The weights as one tile (cases of a single tile: `m` <= rows).
    pub fn tile(&self) -> Tile<'_> {
        Tile { k: self.k, m: self.m, weights: &self.weights, thresholds: self.thresholds.as_deref(), mode: self.mode }
    }

    /// Tokens N.
    pub fn n(&self) -> usize {
        self.layer().n()
    }

    /// The same call with the tile's rows (weights and thresholds) in reverse order: what the
    /// suites LOAD before a REPLAY of the case's buffered tokens.
    pub fn rows_reversed(&self) -> Case {
        let k = self.k;
        let weights = self.weights.chunks_exact(k).rev().flatten().copied().collect();
        let thresholds = self.thresholds.as_ref().map(|t| t.iter().rev().copied().collect());
        Case { name: format!("{} (rows reversed, replayed)", self.name), weights, thresholds, ..self.clone() }
    }

    /// One line for logs: name, shape, mode.
    pub fn describe(&self) -> String {
        format!("{} (K {}, M {}, N {}, {:?})", self.name, self.k, self.m, self.n(), self.mode)
    }
}

/// One row tile as the array holds it after a LOAD call.
#[derive(Debug, Clone, Copy)]
pub struct Tile<'a> {
    /// Input length K.
    pub k: usize,
    /// Rows of this tile (1..=rows).
    pub m: usize,
    /// Weight codes, `m * k`, row-major.
    pub weights: &'a [i8],
    /// Fixed-point thresholds, one per row (fire mode only).
    pub thresholds: Option<&'a [u64]>,
    /// Output mode of the RUN call.
    pub mode: OutputMode,
}

impl<'a> Tile<'a> {
    /// The layer call of `codes` through this tile alone.
    pub fn layer(&self, codes: &'a [i8]) -> Layer<'a> {
        Layer { m: self.m, k: self.k, weights: self.weights, thresholds: self.thresholds, mode: self.mode, codes }
    }
}

/// Performance counters of the array, as its registers report them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Clock cycles of the compute engine (stream transfers excluded).
    pub cycles: u64,
    /// Spike events (spike PE) or non-zero codes (MAC PE).
    pub spikes: u64,
    /// Weight additions into an accumulator (spike PE) or multiply-accumulates (MAC PE).
    pub accumulates: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Self) {
        self.cycles += o.cycles;
        self.spikes += o.spikes;
        self.accumulates += o.accumulates;
    }
}

/// Status bits of a call that the ERROR register reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// More salient codes in a token than the salient path holds; the extra ones counted as 0.
    pub salient_overflow: bool,
    /// A code outside -Qs..=Qs; it was clamped.
    pub code_range: bool,
}

impl Flags {
    /// Whether any flag is raised.
    pub fn any(self) -> bool {
        self.salient_overflow || self.code_range
    }

    /// The ERROR register bits these flags set.
    pub fn error_bits(self) -> u32 {
        (if self.salient_overflow { err::SALIENT_OVERFLOW } else { 0 })
            | (if self.code_range { err::CODE_RANGE } else { 0 })
    }

    /// The flags an ERROR register value reports (other bits are not data flags).
    pub fn from_error_bits(e: u32) -> Self {
        Flags { salient_overflow: e & err::SALIENT_OVERFLOW != 0, code_range: e & err::CODE_RANGE != 0 }
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, o: Self) {
        self.salient_overflow |= o.salient_overflow;
        self.code_range |= o.code_range;
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(mut self, o: Self) -> Flags {
        self |= o;
        self
    }
}

/// Result of a call: a whole layer, or one RUN call on one tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRun {
    /// Outputs, `n * m` row-major: V in raw mode, the fired code in fire mode.
    pub outputs: Vec<i32>,
    /// Counters summed over the tiles.
    pub counters: Counters,
    /// Error flags raised by any tile.
    pub flags: Flags,
    /// Lane-slot capacity used for utilisation: rows × lanes × cycles.
    pub lane_slots: u64,
}

impl LayerRun {
    /// The run statistics of `counters` on the array `d` (the one place lane slots are derived).
    pub fn new(d: &Derived, outputs: Vec<i32>, counters: Counters, flags: Flags) -> Self {
        let lane_slots = counters.cycles * d.config.rows as u64 * d.config.lanes as u64;
        LayerRun { outputs, counters, flags, lane_slots }
    }

    /// Useful accumulates over rows × lanes × cycles.
    pub fn utilisation(&self) -> f64 {
        if self.lane_slots == 0 {
            0.0
        } else {
            self.counters.accumulates as f64 / self.lane_slots as f64
        }
    }
}

/// One token as the array sees it (see [`Golden::token_view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    /// Codes the array integrates, after clamping and salient overflow.
    pub effective: Vec<i8>,
    /// What the token costs on one tile.
    pub cost: TokenCost,
}

/// What one token costs on one tile of the array.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCost {
    /// Raw-mode cycles (add `3 + max c` in fire mode).
    pub cycles: u64,
    /// Spikes (spike PE: |q| of a lane code, the digit sum of a salient code) or non-zero codes
    /// (MAC PE): what the SPIKES counter adds.
    pub spikes: u64,
    /// Additions into each row's accumulator: one per burst (set bit of a code's magnitude) on the
    /// spike PE, one per input on the MAC PE. ACCUMULATES adds this once per row.
    pub additions: u64,
    /// Weight memory reads of each row: one weight per non-zero code (spike PE: a lane reads
    /// when it takes its next code, the salient path when it takes its next entry), or one
    /// lane-group word per group (MAC PE).
    pub weight_reads: u64,
    /// Codes the salient queue took (spike PE; 0 on the MAC PE).
    pub salient_entries: u64,
    /// Flags raised.
    pub flags: Flags,
}

impl TokenCost {
    /// Counts a normal code of magnitude `a` in its lane (`bursts`: the lane's running burst
    /// count): its spikes, its bursts, and one weight read unless it is zero.
    fn lane_code(&mut self, bursts: &mut u32, a: u32) {
        *bursts += a.count_ones();
        self.spikes += u64::from(a);
        self.weight_reads += u64::from(a != 0);
    }
}

/// The array's golden model.
#[derive(Debug)]
pub struct Golden {
    d: Derived,
    /// The last layer call's codes as the array sees them. Layers that read the same input (Q, K
    /// and V; gate and up) send the same codes, whose effective codes and costs do not depend on
    /// the weights: they are computed once and found again by comparing the codes.
    last_view: Mutex<Option<Arc<CodesView>>>,
}

impl Clone for Golden {
    fn clone(&self) -> Self {
        Golden::new(&self.d)
    }
}

/// The codes of a layer call (N tokens of K) as the array sees them, and their costs summed over
/// the tokens, per tile.
#[derive(Debug)]
struct CodesView {
    k: usize,
    codes: Vec<i8>,
    effective: Vec<i8>,
    /// Σ over tokens of [`TokenCost::cycles`], `spikes` and `additions`.
    cycles: u64,
    spikes: u64,
    additions: u64,
    flags: Flags,
}

impl Golden {
    /// Golden model of a validated configuration.
    pub fn new(d: &Derived) -> Self {
        Golden { d: d.clone(), last_view: Mutex::new(None) }
    }

    /// The configuration this models.
    pub fn derived(&self) -> &Derived {
        &self.d
    }

    /// Checks a tile against the array's limits (what the RTL flags as a bad descriptor).
    pub fn check_tile(&self, t: &Tile<'_>) -> Result<(), LayerError> {
        self.check_tile_shape(t)?;
        self.check_weights(t.weights)
    }

    /// [`Golden::check_tile`] without the weight codes' range (checked once by [`Golden::pack`]).
    fn check_tile_shape(&self, t: &Tile<'_>) -> Result<(), LayerError> {
        let c = &self.d.config;
        if t.k == 0 || t.k > c.k_max as usize {
            return Err(LayerError::Descriptor { field: "K", got: t.k, limit: format!("1..={}", c.k_max) });
        }
        if t.m == 0 || t.m > c.rows as usize {
            return Err(LayerError::Descriptor { field: "M", got: t.m, limit: format!("1..={}", c.rows) });
        }
        if !self.d.supports(t.mode) {
            return Err(LayerError::Mode(t.mode));
        }
        if t.weights.len() != t.m * t.k {
            return Err(LayerError::Shape { what: "weights", expected: t.m * t.k, got: t.weights.len() });
        }
        if t.mode == OutputMode::Fire {
            let th = t.thresholds.ok_or(LayerError::MissingThresholds)?;
            if th.len() != t.m {
                return Err(LayerError::Shape { what: "thresholds", expected: t.m, got: th.len() });
            }
            if let Some(pos) = th.iter().position(|&v| v == 0 || v > self.d.th_max) {
                return Err(LayerError::Threshold { row: pos, got: th[pos], max: self.d.th_max });
            }
        }
        Ok(())
    }

    /// Checks that every weight code is in the format's range.
    fn check_weights(&self, weights: &[i8]) -> Result<(), LayerError> {
        let q = self.d.qw as i8;
        if let Some(pos) =
            weights.iter().position(|&w| w < -q || w > q || (w == 0 && self.d.qw == 1 && is_binary(&self.d)))
        {
            return Err(LayerError::WeightRange {
                index: pos,
                code: weights[pos],
                format: self.d.config.weight_format.to_string(),
            });
        }
        Ok(())
    }

    /// A layer's M×K weight codes, checked against the format's range and packed for the exact
    /// product: done once per layer, then every call of [`Golden::run_layer_packed`] uses it.
    pub fn pack(&self, weights: &[i8], m: usize, k: usize) -> Result<PackedWeights, LayerError> {
        if weights.len() != m * k {
            return Err(LayerError::Shape { what: "weights", expected: m * k, got: weights.len() });
        }
        self.check_weights(weights)?;
        Ok(PackedWeights::new(weights, m, k))
    }

    /// What the array integrates for one token and what it costs, without the weights: the codes
    /// after range clamping and salient-queue overflow (`V = effective · W` exactly), and the
    /// token's [`TokenCost`] on one tile. This is the code loader and the cycle formula.
    pub fn token_view(&self, codes: &[i8]) -> TokenView {
        let mut effective = vec![0; codes.len()];
        let cost = self.token_view_into(codes, &mut effective);
        TokenView { effective, cost }
    }

    /// [`Golden::token_view`] writing the effective codes to `effective` (same length as
    /// `codes`): the layer path's allocation-free form.
    fn token_view_into(&self, codes: &[i8], effective: &mut [i8]) -> TokenCost {
        let lanes = self.d.config.lanes as usize;
        let qs = self.d.qs;
        if self.d.config.pe == PeKind::Mac {
            let mut cost = TokenCost::default();
            for (&c, e) in codes.iter().zip(effective.iter_mut()) {
                let q = i32::from(c);
                if q.abs() > qs {
                    cost.flags.code_range = true;
                }
                let q = q.clamp(-qs, qs);
                cost.spikes += u64::from(q != 0);
                *e = q as i8;
            }
            let groups = codes.len().div_ceil(lanes) as u64;
            cost.cycles = 1 + groups;
            cost.additions = codes.len() as u64;
            cost.weight_reads = groups;
            return cost;
        }
        let (qa, shift) = (self.d.qa.unsigned_abs(), self.d.digit_shift);
        let mut cost = TokenCost::default();
        // Bursts of each lane: the lane's cycles once it has its first weight.
        let mut lane_bursts = [0u32; MAX_ROWS_LANES as usize];
        let lane_bursts = &mut lane_bursts[..lanes];
        // Pass 1, the normal codes (|q| <= Qa, nearly all of them): each lane's bursts, the
        // spikes and the weight reads, in straight loops the compiler vectorizes. A code beyond
        // Qa is left 0 here and counted by pass 2.
        let qa8 = qa.min(127) as u8;
        #[cfg(target_arch = "x86_64")]
        let (spikes, reads, beyond) = if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            unsafe { normal_codes_avx2(codes, effective, lane_bursts, qa8) }
        } else {
            normal_codes(codes, effective, lane_bursts, qa8)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (spikes, reads, beyond) = normal_codes(codes, effective, lane_bursts, qa8);
        cost.spikes = u64::from(spikes);
        cost.weight_reads = u64::from(reads);
        // Pass 2, the codes beyond Qa in index order (the salient queue's order): clamped to
        // ±Qs, then queued while the salient path has room, dropped (overflow) after.
        let (mut salient_cycles, mut queued) = (0u64, 0usize);
        // Blocks of 32 codes: a bit mask of the codes beyond Qa (one vector compare), then
        // only its set bits are visited.
        const BLOCK: usize = 32;
        let blocks = codes.chunks(BLOCK).zip(effective.chunks_mut(BLOCK)).enumerate();
        for (b, (block, dst)) in blocks.take_while(|_| beyond) {
            #[cfg(target_arch = "x86_64")]
            let mut mask = if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present.
                unsafe { beyond_mask_avx2(block, qa8) }
            } else {
                beyond_mask(block, qa8)
            };
            #[cfg(not(target_arch = "x86_64"))]
            let mut mask = beyond_mask(block, qa8);
            while mask != 0 {
                let j = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let (i, c, e) = (b * BLOCK + j, block[j], &mut dst[j]);
                let mut q = i32::from(c);
                if q.abs() > qs {
                    cost.flags.code_range = true;
                    q = q.clamp(-qs, qs);
                }
                let a = q.unsigned_abs();
                if a <= qa {
                    cost.lane_code(&mut lane_bursts[i % lanes], a);
                    *e = q as i8;
                } else if queued < self.d.salient_depth as usize {
                    // Salient: the lane sees 0; the salient path takes it while it has room.
                    queued += 1;
                    cost.spikes += u64::from(digit_sum(a, shift));
                    cost.additions += u64::from(a.count_ones());
                    cost.weight_reads += 1;
                    cost.salient_entries += 1;
                    salient_cycles += u64::from(digit_bursts(a, shift));
                    *e = q as i8;
                } else {
                    cost.flags.salient_overflow = true;
                }
            }
        }
        cost.additions += lane_bursts.iter().map(|&b| u64::from(b)).sum::<u64>();
        let lane_cycles = u64::from(lane_bursts.iter().copied().max().unwrap_or(0));
        cost.cycles = 1 + (1 + lane_cycles).max(salient_cycles);
        cost
    }

    /// Cycles of one token in raw mode (they do not depend on the weights): the cycle model alone.
    pub fn token_cycles(&self, codes: &[i8]) -> u64 {
        self.token_view(codes).cost.cycles
    }

    /// Counters and flags of a layer call that do not depend on the weights (raw mode: every
    /// counter; fire mode adds each token's fire phase to the cycles), plus the effective codes.
    /// Tokens are independent, so they are viewed in parallel and their counts summed (integer
    /// addition: the same sums as a sequential pass).
    fn integrate_stats(&self, layer: &Layer<'_>, tiles: u64) -> (Arc<CodesView>, Counters, Flags) {
        let view = self.codes_view(layer.codes, layer.k);
        // Per token, the cycles and spikes of one tile times the tiles, the additions times the
        // rows: summed over the tokens first, the same integers.
        let counters = Counters {
            cycles: view.cycles * tiles,
            spikes: view.spikes * tiles,
            accumulates: view.additions * layer.m as u64,
        };
        let flags = view.flags;
        (view, counters, flags)
    }

    /// The [`CodesView`] of `codes` (rows of `k`): the last call's when the codes are the same,
    /// else computed (tokens in parallel, their costs summed) and kept for the next call.
    fn codes_view(&self, codes: &[i8], k: usize) -> Arc<CodesView> {
        // Compared and copied by token rows in parallel (a layer's codes are up to a few MB).
        let same = |v: &&Arc<CodesView>| {
            v.k == k
                && v.codes.len() == codes.len()
                && v.codes.par_chunks(k).zip(codes.par_chunks(k)).all(|(a, b)| a == b)
        };
        if let Some(v) = self.kept_view().as_ref().filter(same) {
            return Arc::clone(v);
        }
        let mut effective = vec![0i8; codes.len()];
        let (cycles, spikes, additions, flags) = codes
            .par_chunks_exact(k)
            .zip(effective.par_chunks_exact_mut(k))
            .map(|(tok, dst)| {
                let cost = self.token_view_into(tok, dst);
                (cost.cycles, cost.spikes, cost.additions, cost.flags)
            })
            .reduce(|| (0, 0, 0, Flags::default()), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 | b.3));
        let kept = codes.par_iter().copied().collect();
        let view = Arc::new(CodesView { k, codes: kept, effective, cycles, spikes, additions, flags });
        // Not locked while computing: callers on other threads wait for nothing but the compare.
        *self.kept_view() = Some(Arc::clone(&view));
        view
    }

    /// The kept [`CodesView`] (a panic elsewhere cannot leave it half-written: it is replaced whole).
    fn kept_view(&self) -> MutexGuard<'_, Option<Arc<CodesView>>> {
        self.last_view.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters and flags of a raw-mode layer call without computing its outputs (what the
    /// array would report; the search's fast path counts with this).
    pub fn layer_stats(&self, layer: &Layer<'_>) -> Result<(Counters, Flags), LayerError> {
        layer.check_shape()?;
        let tiles = layer.m.div_ceil(self.d.config.rows as usize) as u64;
        let (_, counters, flags) = self.integrate_stats(layer, tiles);
        Ok((counters, flags))
    }

    /// One RUN call on a loaded tile: N tokens of K codes each (`codes` is `n * k`).
    pub fn run_tile(&self, t: &Tile<'_>, codes: &[i8]) -> Result<LayerRun, LayerError> {
        self.check_tile(t)?;
        let layer = t.layer(codes);
        layer.check_shape()?;
        Ok(self.run_checked(&layer, &PackedWeights::new(t.weights, t.m, t.k)))
    }

    /// A whole M×K layer: row tiles of `rows` outputs each, the same N tokens through every tile.
    /// The single golden entry point; it computes what tile-by-tile streaming computes (outputs,
    /// counters, flags) with one exact integer product for the whole layer.
    pub fn run_layer(&self, layer: &Layer<'_>) -> Result<LayerRun, LayerError> {
        layer.check_shape()?;
        for (_, tile) in layer.tiles(self.d.config.rows as usize) {
            self.check_tile(&tile)?;
        }
        Ok(self.run_checked(layer, &PackedWeights::new(layer.weights, layer.m, layer.k)))
    }

    /// [`Golden::run_layer`] with the layer's weights packed once by [`Golden::pack`] (the
    /// quantized forward's path: `packed` must hold `layer.weights`, whose range `pack` checked).
    pub fn run_layer_packed(&self, layer: &Layer<'_>, packed: &PackedWeights) -> Result<LayerRun, LayerError> {
        layer.check_shape()?;
        if (packed.m(), packed.k()) != (layer.m, layer.k) {
            return Err(LayerError::Shape {
                what: "packed weights",
                expected: layer.m * layer.k,
                got: packed.m() * packed.k(),
            });
        }
        for (_, tile) in layer.tiles(self.d.config.rows as usize) {
            self.check_tile_shape(&tile)?;
        }
        Ok(self.run_checked(layer, packed))
    }

    /// [`Golden::run_layer`] of a layer whose shape and tiles are checked, `packed` its weights.
    fn run_checked(&self, layer: &Layer<'_>, packed: &PackedWeights) -> LayerRun {
        let rows = self.d.config.rows as usize;
        let (m, n) = (layer.m, layer.n());
        let tiles = m.div_ceil(rows) as u64;
        let (view, mut counters, flags) = self.integrate_stats(layer, tiles);
        // Codes beyond Qa are salient (at most salient_depth per token) when the array has a
        // salient path: the bound above which the exact product may take codes aside (its AVX2
        // path keeps every code dense when the weights are narrow enough).
        let dense_max = if self.d.salient_depth > 0 { self.d.qa } else { self.d.qa.max(self.d.qs) };
        // The exact product is the raw output: igemm writes it in place. The buffer (a few MB)
        // is cleared in parallel: a serial clear left the other core idle (`perf`: 1.5 %).
        let mut outputs: Vec<i32> = rayon::iter::repeat_n(0, n * m).collect();
        igemm(&view.effective, n, packed, dense_max as u32, &mut outputs);
        if layer.mode == OutputMode::Fire {
            let th = layer.thresholds.expect("check_tile: fire tiles carry thresholds");
            // Tokens are independent: fired in parallel, their cycles summed.
            counters.cycles += outputs
                .par_chunks_exact_mut(m)
                .map(|orow| {
                    let mut cycles = 0;
                    for r0 in (0..m).step_by(rows) {
                        let r = r0..m.min(r0 + rows);
                        cycles += self.fire_tile(&th[r.clone()], &mut orow[r]);
                    }
                    cycles
                })
                .sum::<u64>();
        }
        LayerRun::new(&self.d, outputs, counters, flags)
    }

    /// The fire phase of one token on one tile: replaces the integrated membranes in `v`
    /// (thresholds `th`) by their output codes and returns the phase's cycles: load the
    /// membranes, one spike per cycle until no neuron fires, final check (2 + max c), after one
    /// cycle in which the rows' pipelined adders add their last terms (spike PE, contract v2).
    fn fire_tile(&self, th: &[u64], v: &mut [i32]) -> u64 {
        let f = self.d.config.frac_bits;
        let mut max_c = 0;
        for (o, &th) in v.iter_mut().zip(th) {
            *o = fire(i64::from(*o), th, f, self.d.qy);
            max_c = max_c.max(o.unsigned_abs());
        }
        let drain = u64::from(self.d.config.pe == PeKind::Spike);
        drain + 2 + max_c as u64
    }
}

fn is_binary(d: &Derived) -> bool {
    d.config.weight_format == crate::format::WeightFormat::Binary
}

/// Pass 1 of [`Golden::token_view`]: the codes of magnitude up to `qa` into their lanes' burst
/// counts (`bursts`, one per lane, `codes` in groups of that many) and into `effective`, the
/// others left 0 there. Returns the spikes and weight reads of those codes, and whether any code
/// was beyond `qa`.
#[inline(always)]
fn normal_codes(codes: &[i8], effective: &mut [i8], bursts: &mut [u32], qa: u8) -> (u32, u32, bool) {
    let lanes = bursts.len();
    // Blocks of whole lane groups, at least 32 codes wide, so the inner loop is long enough to
    // vectorize whatever the lane count; position j of a block belongs to lane j mod lanes.
    let width = if lanes >= 32 { lanes } else { lanes * 32usize.div_ceil(lanes) };
    let mut acc = [0u32; MAX_ROWS_LANES as usize];
    let acc = &mut acc[..width];
    let (mut spikes, mut reads, mut beyond) = (0u32, 0u32, false);
    for (block, dst) in codes.chunks(width).zip(effective.chunks_mut(width)) {
        for ((&c, e), b) in block.iter().zip(dst.iter_mut()).zip(acc.iter_mut()) {
            let a = c.unsigned_abs();
            let normal = a <= qa;
            beyond |= !normal;
            let a = if normal { a } else { 0 };
            *e = if normal { c } else { 0 };
            *b += u32::from(popcount8(a));
            spikes += u32::from(a);
            reads += u32::from(a != 0);
        }
    }
    for (j, &v) in acc.iter().enumerate() {
        bursts[j % lanes] += v;
    }
    (spikes, reads, beyond)
}

/// [`normal_codes`] compiled for AVX2 (the same integer operations, 32 codes at a time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn normal_codes_avx2(codes: &[i8], effective: &mut [i8], bursts: &mut [u32], qa: u8) -> (u32, u32, bool) {
    normal_codes(codes, effective, bursts, qa)
}

/// Bit j set when code j of a block of at most 32 is beyond `qa` in magnitude.
#[inline(always)]
fn beyond_mask(block: &[i8], qa: u8) -> u32 {
    block.iter().enumerate().fold(0u32, |m, (j, c)| m | u32::from(c.unsigned_abs() > qa) << j)
}

/// [`beyond_mask`] compiled for AVX2 (a compare and a byte mask move).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn beyond_mask_avx2(block: &[i8], qa: u8) -> u32 {
    beyond_mask(block, qa)
}

/// Set bits of a byte, in shifts and masks a vector unit runs on 32 bytes at once (`count_ones`
/// is a scalar call on baseline x86-64).
fn popcount8(a: u8) -> u8 {
    let x = a - ((a >> 1) & 0x55);
    let x = (x & 0x33) + ((x >> 2) & 0x33);
    (x + (x >> 4)) & 0x0F
}

/// Sum of the radix-2^shift digits of a magnitude: the spikes of a salient code.
pub fn digit_sum(mut mag: u32, shift: u32) -> u32 {
    let mask = (1 << shift) - 1;
    let mut s = 0;
    while mag > 0 {
        s += mag & mask;
        mag >>= shift;
    }
    s
}

/// Cycles the salient path spends on a magnitude: its radix-2^shift digits burst in parallel,
/// one set bit of each digit per cycle, so the digit with the most set bits sets the length.
pub fn digit_bursts(mut mag: u32, shift: u32) -> u32 {
    let mask = (1 << shift) - 1;
    let mut m = 0;
    while mag > 0 {
        m = m.max((mag & mask).count_ones());
        mag >>= shift;
    }
    m
}
