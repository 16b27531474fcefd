//! Golden model of the array: the exact outputs and the exact cycle count of the RTL.
//!
//! The golden model *defines* the behaviour; the generated RTL must match it bit for bit and cycle
//! for cycle (docs/architecture.md explains the micro-architecture this models).
//!
//! Per token of a RUN call on a tile of `m` rows (spike PE):
//!
//! ```text
//! cycles = 1                                   clear accumulators, start both engines
//!        + max(N_norm, N_sal)                  normal lanes and salient path run side by side
//!        + (fire mode ? 2 + max_r c_r : 0)     load membranes, one spike per cycle, final check
//! N_norm = Σ_groups max(1, max over lanes of |q|)       (codes with |q| <= Qa)
//! N_sal  = Σ_salient max over radix-2^(ba-1) digits of |q|  (codes with |q| > Qa, at most Qa each)
//! ```
//!
//! MAC PE: `cycles = 1 + ceil(K / lanes)` per token (one multiply per lane per cycle).

use crate::config::{Derived, OutputMode, PeKind};
use crate::error::LayerError;
use crate::fire::fire;

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

/// Result of one RUN call on one tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileRun {
    /// Outputs, `n * m` row-major: V in raw mode, the fired code in fire mode.
    pub outputs: Vec<i32>,
    /// Counters after the call.
    pub counters: Counters,
    /// Error flags raised.
    pub flags: Flags,
}

/// Result of a whole layer (all row tiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRun {
    /// Outputs, `n * m` row-major.
    pub outputs: Vec<i32>,
    /// Counters summed over the tiles.
    pub counters: Counters,
    /// Error flags raised by any tile.
    pub flags: Flags,
    /// Lane-slot capacity used for utilisation: rows × lanes × cycles.
    pub lane_slots: u64,
}

impl LayerRun {
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
    /// Raw-mode cycles of one tile (add `2 + max c` per tile in fire mode).
    pub cycles: u64,
    /// Spikes (spike PE) or non-zero codes (MAC PE) of one tile.
    pub spikes: u64,
    /// Flags raised.
    pub flags: Flags,
}

/// The array's golden model.
#[derive(Debug, Clone)]
pub struct Golden {
    d: Derived,
}

/// What the array sees of one token after its codes are loaded.
struct TokenPlan {
    /// Codes the normal lanes integrate (salient ones zeroed), length K.
    lanes: Vec<i8>,
    /// Salient codes the salient path integrates, (k, code), in k order.
    salient: Vec<(usize, i32)>,
    /// Cycles of the normal engine and of the salient engine.
    n_norm: u64,
    n_sal: u64,
    spikes: u64,
    flags: Flags,
}

impl Golden {
    /// Golden model of a validated configuration.
    pub fn new(d: &Derived) -> Self {
        Golden { d: d.clone() }
    }

    /// The configuration this models.
    pub fn derived(&self) -> &Derived {
        &self.d
    }

    /// Checks a tile against the array's limits (what the RTL flags as a bad descriptor).
    pub fn check_tile(&self, t: &Tile<'_>) -> Result<(), LayerError> {
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
        let q = self.d.qw as i8;
        if let Some(pos) =
            t.weights.iter().position(|&w| w < -q || w > q || (w == 0 && self.d.qw == 1 && is_binary(&self.d)))
        {
            return Err(LayerError::WeightRange {
                index: pos,
                code: t.weights[pos],
                format: c.weight_format.to_string(),
            });
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

    /// Splits one token's codes the way the code loader does: range clamp, salient queue.
    fn plan_token(&self, codes: &[i8]) -> TokenPlan {
        let (qa, qs) = (self.d.qa, self.d.qs);
        let mut flags = Flags::default();
        let mut lanes = Vec::with_capacity(codes.len());
        let mut salient = Vec::new();
        let spike_pe = self.d.config.pe == PeKind::Spike;
        let mut spikes = 0u64;
        for (k, &c) in codes.iter().enumerate() {
            let mut q = c as i32;
            if q.abs() > qs {
                flags.code_range = true;
                q = q.clamp(-qs, qs);
            }
            if spike_pe && q.abs() > qa {
                if salient.len() < self.d.salient_depth as usize {
                    salient.push((k, q));
                    spikes += digit_sum(q.unsigned_abs(), self.d.digit_shift) as u64;
                } else {
                    flags.salient_overflow = true;
                }
                lanes.push(0);
            } else {
                lanes.push(q as i8);
                spikes += if spike_pe { q.unsigned_abs() as u64 } else { u64::from(q != 0) };
            }
        }
        let lanes_n = self.d.config.lanes as usize;
        let n_norm = if spike_pe {
            lanes.chunks(lanes_n).map(|g| g.iter().map(|q| q.unsigned_abs() as u64).max().unwrap_or(0).max(1)).sum()
        } else {
            codes.len().div_ceil(lanes_n) as u64
        };
        let n_sal = salient.iter().map(|&(_, q)| digit_max(q.unsigned_abs(), self.d.digit_shift) as u64).sum();
        TokenPlan { lanes, salient, n_norm, n_sal, spikes, flags }
    }

    /// Cycles of one token in raw mode (they do not depend on the weights): the cycle model alone.
    pub fn token_cycles(&self, codes: &[i8]) -> u64 {
        let plan = self.plan_token(codes);
        1 + plan.n_norm.max(plan.n_sal)
    }

    /// What the array integrates for one token and what it costs, without the weights: the codes
    /// after range clamping and salient-queue overflow (`V = effective · W` exactly), the raw-mode
    /// cycles and the spikes of one tile. Lets a fast whole-layer path reproduce `run_tile`.
    pub fn token_view(&self, codes: &[i8]) -> TokenView {
        let plan = self.plan_token(codes);
        let mut effective = plan.lanes;
        for &(k, q) in &plan.salient {
            effective[k] = q as i8;
        }
        TokenView { effective, cycles: 1 + plan.n_norm.max(plan.n_sal), spikes: plan.spikes, flags: plan.flags }
    }

    /// One RUN call on a loaded tile: N tokens of K codes each (`codes` is `n * k`).
    pub fn run_tile(&self, t: &Tile<'_>, codes: &[i8]) -> Result<TileRun, LayerError> {
        self.check_tile(t)?;
        if !codes.len().is_multiple_of(t.k) {
            return Err(LayerError::Shape {
                what: "codes",
                expected: t.k * codes.len().div_ceil(t.k),
                got: codes.len(),
            });
        }
        let n = codes.len() / t.k;
        let mut outputs = vec![0i32; n * t.m];
        let mut counters = Counters::default();
        let mut flags = Flags::default();
        let mut v = vec![0i64; t.m];
        for (token, out) in codes.chunks_exact(t.k).zip(outputs.chunks_exact_mut(t.m)) {
            let plan = self.plan_token(token);
            flags.salient_overflow |= plan.flags.salient_overflow;
            flags.code_range |= plan.flags.code_range;
            for (r, acc) in v.iter_mut().enumerate() {
                let w = &t.weights[r * t.k..(r + 1) * t.k];
                let mut sum = dot(&plan.lanes, w) as i64;
                for &(k, q) in &plan.salient {
                    sum += q as i64 * w[k] as i64;
                }
                *acc = sum;
            }
            let mut cycles = 1 + plan.n_norm.max(plan.n_sal);
            match t.mode {
                OutputMode::Raw => {
                    for (o, &acc) in out.iter_mut().zip(&v) {
                        *o = acc as i32;
                    }
                }
                OutputMode::Fire => cycles += self.fire_tile(&v, t.thresholds.expect("checked"), out),
            }
            counters.cycles += cycles;
            counters.spikes += plan.spikes;
            counters.accumulates += self.accumulates(plan.spikes, t.m, t.k);
        }
        Ok(TileRun { outputs, counters, flags })
    }

    /// The fire phase of one token on one tile: writes the output codes of the integrated
    /// membranes `v` (thresholds `th`) to `out` and returns the phase's cycles: load the
    /// membranes, one spike per cycle until no neuron fires, final check (2 + max c).
    pub fn fire_tile(&self, v: &[i64], th: &[u64], out: &mut [i32]) -> u64 {
        let f = self.d.config.frac_bits;
        let mut max_c = 0;
        for ((o, &acc), &th) in out.iter_mut().zip(v).zip(th) {
            *o = fire(acc, th, f, self.d.qy);
            max_c = max_c.max(o.unsigned_abs());
        }
        2 + max_c as u64
    }

    /// Accumulates of one token on an `m`-row tile of width `k`: the spike PE adds a weight per
    /// spike in every row, the MAC PE multiplies every code in every row.
    pub fn accumulates(&self, spikes: u64, m: usize, k: usize) -> u64 {
        match self.d.config.pe {
            PeKind::Spike => spikes * m as u64,
            PeKind::Mac => (k * m) as u64,
        }
    }

    /// A whole M×K layer: row tiles of `rows` outputs each, the same N tokens through every tile.
    pub fn run_layer(
        &self,
        m: usize,
        k: usize,
        weights: &[i8],
        thresholds: Option<&[u64]>,
        mode: OutputMode,
        codes: &[i8],
    ) -> Result<LayerRun, LayerError> {
        if weights.len() != m * k {
            return Err(LayerError::Shape { what: "weights", expected: m * k, got: weights.len() });
        }
        if m == 0 || k == 0 || !codes.len().is_multiple_of(k) {
            return Err(LayerError::Shape { what: "codes", expected: k, got: codes.len() });
        }
        let n = codes.len() / k;
        let rows = self.d.config.rows as usize;
        let mut outputs = vec![0i32; n * m];
        let mut counters = Counters::default();
        let mut flags = Flags::default();
        for m0 in (0..m).step_by(rows) {
            let mt = rows.min(m - m0);
            let tile = Tile {
                k,
                m: mt,
                weights: &weights[m0 * k..(m0 + mt) * k],
                thresholds: thresholds.map(|t| &t[m0..m0 + mt]),
                mode,
            };
            let run = self.run_tile(&tile, codes)?;
            for (dst, src) in outputs.chunks_exact_mut(m).zip(run.outputs.chunks_exact(mt)) {
                dst[m0..m0 + mt].copy_from_slice(src);
            }
            counters += run.counters;
            flags.salient_overflow |= run.flags.salient_overflow;
            flags.code_range |= run.flags.code_range;
        }
        let lane_slots = counters.cycles * rows as u64 * self.d.config.lanes as u64;
        Ok(LayerRun { outputs, counters, flags, lane_slots })
    }
}

fn is_binary(d: &Derived) -> bool {
    d.config.weight_format == crate::format::WeightFormat::Binary
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

/// Largest radix-2^shift digit of a magnitude: the cycles a salient code takes.
pub fn digit_max(mut mag: u32, shift: u32) -> u32 {
    let mask = (1 << shift) - 1;
    let mut m = 0;
    while mag > 0 {
        m = m.max(mag & mask);
        mag >>= shift;
    }
    m
}

/// Exact integer dot product of two code vectors (vectorises: i8 → i32 widening in chunks).
#[inline]
pub fn dot(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, ra) = a.split_at(a.len() - a.len() % 16);
    let (cb, rb) = b.split_at(ca.len());
    for (x, y) in ca.chunks_exact(16).zip(cb.chunks_exact(16)) {
        for i in 0..16 {
            acc[i] += x[i] as i32 * y[i] as i32;
        }
    }
    let tail: i32 = ra.iter().zip(rb).map(|(&x, &y)| x as i32 * y as i32).sum();
    acc.iter().sum::<i32>() + tail
}
