//! Energy model: counts of what an array did on real text (golden-backend runs), priced with the
//! 45 nm per-operation energies of Horowitz (ISSCC 2014). docs/energy.md states the model, its
//! sources and its assumptions; `spikeq energy` prints it per layer kind and per token.
//!
//! Three levels are kept apart because they answer different questions: arithmetic only (what
//! spike-count arithmetic changes), on chip (plus weight and code memory reads), and system (plus
//! the stream bytes, priced as DRAM accesses on the host side).

pub mod counts;
pub mod measure;
pub mod report;
pub mod table;

use std::collections::BTreeMap;

use serde::Serialize;
use spikeq_hdl::{Derived, Golden, LayerRun, PeKind};

pub use counts::{count_layer, OpCounts};
use table::Float;

use crate::device::Traffic;
use crate::llm::model::linear::{LinearId, LinearKind};
use crate::llm::quant::LayerTap;
use spikeq_hdl::Layer;

/// Energy of some counts, pJ, by part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Energy {
    /// Accumulator additions (acc_bits wide).
    pub accumulate: f64,
    /// Code × weight multiplications (MAC PE).
    pub multiply: f64,
    /// IF neuron: membrane loads, compares and subtracts (membrane_bits wide).
    pub fire: f64,
    /// f32 multiplications that turn outputs back into real values.
    pub dequant: f64,
    /// Weight memory reads.
    pub weight_reads: f64,
    /// Code buffer reads.
    pub code_reads: f64,
    /// Stream bytes priced as DRAM accesses.
    pub stream: f64,
}

impl Energy {
    /// Arithmetic only: accumulates, multiplies, fire, dequantization.
    pub fn arithmetic(&self) -> f64 {
        self.accumulate + self.multiply + self.fire + self.dequant
    }

    /// Arithmetic plus on-chip memory reads.
    pub fn on_chip(&self) -> f64 {
        self.arithmetic() + self.weight_reads + self.code_reads
    }

    /// Everything, streams included.
    pub fn total(&self) -> f64 {
        self.on_chip() + self.stream
    }

    /// Every part divided by `by` (e.g. per token).
    pub fn scaled(&self, by: f64) -> Energy {
        Energy {
            accumulate: self.accumulate / by,
            multiply: self.multiply / by,
            fire: self.fire / by,
            dequant: self.dequant / by,
            weight_reads: self.weight_reads / by,
            code_reads: self.code_reads / by,
            stream: self.stream / by,
        }
    }
}

/// Width of the multiplier of a MAC lane: the code width it holds times the weight's value bits
/// (binary weights enter as ±1 in two bits, as the generated RTL does).
pub fn mac_widths(d: &Derived) -> (u32, u32) {
    (d.config.salient_bits, d.weight_bits.max(2))
}

/// Prices counts of an array with the Horowitz table. `dram_pj_64` prices 64 stream bits.
pub fn price(d: &Derived, c: &OpCounts, dram_pj_64: f64) -> Energy {
    let add = table::int_add(d.acc_bits);
    let membrane = table::int_add(d.membrane_bits);
    let (a, b) = mac_widths(d);
    Energy {
        accumulate: c.accumulates as f64 * add,
        multiply: c.multiplies as f64 * table::int_mul(a, b),
        fire: (c.membrane_loads + c.compares + c.subtracts) as f64 * membrane,
        dequant: c.dequant_mults as f64 * table::fp_mul(Float::F32),
        weight_reads: table::sram_read_bits(c.weight_bits_read as f64, counts::weight_memory_bytes(d)),
        code_reads: table::sram_read_bits(c.code_bits_read as f64, counts::code_memory_bytes(d)),
        stream: c.stream_bytes as f64 / 8.0 * dram_pj_64,
    }
}

/// The convention of the spiking-network literature: every accumulate is a 32-bit float addition
/// (0.9 pJ), every multiply-accumulate a 32-bit float multiply plus add (4.6 pJ), nothing else
/// counted. Reported beside the model above because claims like "4.6× lower energy" use it.
pub fn snn_convention(d: &Derived, c: &OpCounts) -> f64 {
    let ac = table::fp_add(Float::F32);
    match d.config.pe {
        PeKind::Spike => c.accumulates as f64 * ac,
        PeKind::Mac => c.multiplies as f64 * (table::fp_mul(Float::F32) + ac),
    }
}

/// A [`LayerTap`] that counts every layer call of an executor by layer kind.
#[derive(Debug, Clone, Default)]
pub struct Activity {
    golden: Option<Golden>,
    /// Counts per projection kind, summed over blocks.
    pub by_kind: BTreeMap<LinearKind, OpCounts>,
}

impl Activity {
    /// The configuration of the array that was counted (after the first call).
    pub fn derived(&self) -> Option<&Derived> {
        self.golden.as_ref().map(Golden::derived)
    }

    /// Counts over all kinds (`tokens` is then summed over layer calls, not positions).
    pub fn total(&self) -> OpCounts {
        let mut t = OpCounts::default();
        for c in self.by_kind.values() {
            t += *c;
        }
        t
    }
}

impl LayerTap for Activity {
    fn layer(&mut self, id: LinearId, d: &Derived, job: &Layer<'_>, run: &LayerRun, traffic: Traffic) {
        let g = self.golden.get_or_insert_with(|| Golden::new(d));
        let c = count_layer(g, job, run, traffic);
        *self.by_kind.entry(id.kind).or_default() += c;
    }
}
