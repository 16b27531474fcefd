//! The energy report: measured counts priced per token and per layer kind, the spike designs
//! against the MAC baseline at each level of the model, and whether the SpikeQuant claim (up to
//! 4.6× lower energy) is reproduced.

use std::fmt::Write as _;

use serde::Serialize;
use spikeq_hdl::{Derived, OutputMode, PeKind};

use super::{counts, mac_widths, price, snn_convention, table, Activity, Energy, OpCounts};

/// The claim being checked: "up to 4.6× lower energy" than a MAC accelerator.
pub const CLAIM: f64 = 4.6;

/// Widths and memory sizes the prices used.
#[derive(Debug, Clone, Serialize)]
pub struct Widths {
    /// Accumulator bits (each accumulate is an add of this width).
    pub acc_bits: u32,
    /// Membrane bits of the IF neuron (fire arrays).
    pub membrane_bits: Option<u32>,
    /// Multiplier operand bits (code, weight) of MAC arrays.
    pub multiplier: Option<(u32, u32)>,
    /// Weight memory, bytes.
    pub weight_memory_bytes: f64,
    /// Code buffer, bytes.
    pub code_memory_bytes: f64,
}

/// Energy per token of one layer kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindEnergy {
    /// Projection kind (q, k, v, o, gate, up, down).
    pub kind: String,
    /// pJ per token.
    pub energy: Energy,
}

/// One measured accelerator.
#[derive(Debug, Clone, Serialize)]
pub struct DesignReport {
    /// Short name (`spike-raw`, `spike-fire`, `mac-w4a4`).
    pub label: String,
    /// Quantization scheme of its array.
    pub scheme: String,
    /// Array configuration name and short hash.
    pub array: String,
    /// Widths and sizes used for pricing.
    pub widths: Widths,
    /// Perplexity of the forward this array drove (None for a shadow array).
    pub ppl: Option<f64>,
    /// Token positions run.
    pub positions: u64,
    /// Counts over the whole run.
    pub counts: OpCounts,
    /// Energy per token, pJ.
    pub per_token: Energy,
    /// Energy per token by layer kind (forward order), pJ.
    pub per_kind: Vec<KindEnergy>,
    /// The spiking-network convention (fp32 AC 0.9 pJ / MAC 4.6 pJ, arithmetic only), pJ per token.
    pub snn_convention: f64,
}

impl DesignReport {
    /// Prices an activity measured over `positions` token positions.
    pub fn new(
        label: &str,
        scheme: &str,
        d: &Derived,
        activity: &Activity,
        positions: u64,
        ppl: Option<f64>,
        dram_pj_64: f64,
    ) -> Self {
        let per = positions.max(1) as f64;
        let total = activity.total();
        let mac = d.config.pe == PeKind::Mac;
        DesignReport {
            label: label.into(),
            scheme: scheme.into(),
            array: format!("{} ({})", d.config.name, d.short_hash()),
            widths: Widths {
                acc_bits: d.acc_bits,
                membrane_bits: d.supports(OutputMode::Fire).then_some(d.membrane_bits),
                multiplier: mac.then(|| mac_widths(d)),
                weight_memory_bytes: counts::weight_memory_bytes(d),
                code_memory_bytes: counts::code_memory_bytes(d),
            },
            ppl,
            positions,
            counts: total,
            per_token: price(d, &total, dram_pj_64).scaled(per),
            per_kind: activity
                .by_kind
                .iter()
                .map(|(k, c)| KindEnergy {
                    kind: format!("{k:?}").to_lowercase(),
                    energy: price(d, c, dram_pj_64).scaled(per),
                })
                .collect(),
            snn_convention: snn_convention(d, &total) / per,
        }
    }
}

/// How many times less energy a design needs than the baseline, at each level.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// The spike design.
    pub design: String,
    /// The MAC baseline.
    pub baseline: String,
    /// Arithmetic only.
    pub arithmetic: f64,
    /// Arithmetic and on-chip memory reads.
    pub on_chip: f64,
    /// Everything, streams priced as DRAM.
    pub total: f64,
    /// The spiking-network convention.
    pub snn_convention: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct EnergyReport {
    /// Where the per-operation energies come from.
    pub source: String,
    /// Text measured on.
    pub text: String,
    /// PTB test windows run.
    pub windows: usize,
    /// SmoothQuant strength applied to the model before quantization (None: no smoothing).
    pub smooth: Option<f32>,
    /// pJ per 64 stream bits.
    pub dram_pj_64: f64,
    /// Every measured design; the last one is the baseline.
    pub designs: Vec<DesignReport>,
    /// Each spike design against the baseline.
    pub ratios: Vec<Ratio>,
    /// The claim checked.
    pub claim: f64,
    /// Levels at which some design reaches the claim (empty: not reproduced).
    pub claim_reproduced_at: Vec<String>,
}

impl EnergyReport {
    /// Compares every design with the last one (the baseline).
    pub fn new(windows: usize, dram_pj_64: f64, designs: Vec<DesignReport>) -> Self {
        let (base, spikes) = designs.split_last().expect("at least the baseline");
        let ratios: Vec<Ratio> = spikes
            .iter()
            .map(|s| Ratio {
                design: s.label.clone(),
                baseline: base.label.clone(),
                arithmetic: base.per_token.arithmetic() / s.per_token.arithmetic(),
                on_chip: base.per_token.on_chip() / s.per_token.on_chip(),
                total: base.per_token.total() / s.per_token.total(),
                snn_convention: base.snn_convention / s.snn_convention,
            })
            .collect();
        let mut at = Vec::new();
        for r in &ratios {
            for (level, v) in [
                ("arithmetic", r.arithmetic),
                ("on-chip", r.on_chip),
                ("total", r.total),
                ("snn-convention", r.snn_convention),
            ] {
                if v >= CLAIM {
                    at.push(format!("{} {level} ({v:.2}x)", r.design));
                }
            }
        }
        EnergyReport {
            source: table::SOURCE.into(),
            text: "Penn Treebank test split (measurement, not calibration)".into(),
            windows,
            smooth: None,
            dram_pj_64,
            designs,
            ratios,
            claim: CLAIM,
            claim_reproduced_at: at,
        }
    }

    fn smoothing(&self) -> String {
        self.smooth.map_or("no smoothing".into(), |a| format!("SmoothQuant alpha {a} (calibrated on PTB valid)"))
    }

    /// Human-readable report (what `spikeq energy` prints).
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let positions = self.designs.first().map_or(0, |d| d.positions);
        let _ = writeln!(
            s,
            "Energy per token (uJ) on {}: {} window(s), {positions} positions, golden backend, {}",
            self.text,
            self.windows,
            self.smoothing()
        );
        let _ =
            writeln!(s, "per-op energies: {}; streams at {:.0} pJ per 64 bits (DRAM)\n", self.source, self.dram_pj_64);
        let _ = writeln!(
            s,
            "{:<11} {:<6} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} | {:>9} {:>9} {:>9}",
            "design",
            "kind",
            "accum",
            "multiply",
            "fire",
            "dequant",
            "weights",
            "codes",
            "stream",
            "arith",
            "on-chip",
            "total"
        );
        let row = |s: &mut String, label: &str, kind: &str, e: &Energy| {
            let u = |v: f64| v / 1e6;
            let _ = writeln!(
                s,
                "{label:<11} {kind:<6} {:>9.3} {:>9.3} {:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9.2} | {:>9.3} {:>9.3} {:>9.2}",
                u(e.accumulate),
                u(e.multiply),
                u(e.fire),
                u(e.dequant),
                u(e.weight_reads),
                u(e.code_reads),
                u(e.stream),
                u(e.arithmetic()),
                u(e.on_chip()),
                u(e.total())
            );
        };
        for d in &self.designs {
            for k in &d.per_kind {
                row(&mut s, &d.label, &k.kind, &k.energy);
            }
            row(&mut s, &d.label, "all", &d.per_token);
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "{:<11} {:>12} {:>12} {:>10} {:>10} {:>9} {:>6} {:>6} {:>9}",
            "design", "accum/tok", "mul/tok", "cmp/tok", "stream B", "acc bits", "mul", "PPL", "array"
        );
        for d in &self.designs {
            let p = d.positions.max(1) as f64;
            let c = &d.counts;
            let _ = writeln!(
                s,
                "{:<11} {:>12.0} {:>12.0} {:>10.0} {:>10.0} {:>9} {:>6} {:>6} {}",
                d.label,
                c.accumulates as f64 / p,
                c.multiplies as f64 / p,
                c.compares as f64 / p,
                c.stream_bytes as f64 / p,
                d.widths.acc_bits,
                d.widths.multiplier.map_or("-".into(), |(a, b)| format!("{a}x{b}")),
                d.ppl.map_or("-".into(), |p| format!("{p:.0}")),
                d.array
            );
        }
        s.push('\n');
        let _ = writeln!(
            s,
            "{:<11} {:>10} {:>10} {:>10} {:>10} {:>15}",
            "vs", "arith", "on-chip", "total", "snn-conv", "(baseline / design)"
        );
        for r in &self.ratios {
            let _ = writeln!(
                s,
                "{:<11} {:>9.2}x {:>9.2}x {:>9.2}x {:>9.2}x   {}",
                r.design, r.arithmetic, r.on_chip, r.total, r.snn_convention, r.baseline
            );
        }
        let _ = writeln!(
            s,
            "\nSpikeQuant claim (up to {:.1}x lower energy than a MAC accelerator): {}",
            self.claim,
            if self.claim_reproduced_at.is_empty() {
                "not reproduced at any level of this model".to_string()
            } else {
                format!("reached by {}", self.claim_reproduced_at.join(", "))
            }
        );
        s
    }

    /// Markdown tables for docs/energy.md.
    pub fn render_markdown(&self) -> String {
        let mut s = String::new();
        let positions = self.designs.first().map_or(0, |d| d.positions);
        let _ = writeln!(
            s,
            "Measured on {}: {} window(s), {positions} token positions, {}; per-op energies: {}; streams at {:.0} pJ per 64 bits.\n",
            self.text,
            self.windows,
            self.smoothing(),
            self.source,
            self.dram_pj_64
        );
        let _ = writeln!(s, "| design | kind | accumulate | multiply | fire | dequant | weight reads | code reads | stream | arithmetic | on chip | total |");
        let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for d in &self.designs {
            let kinds = d
                .per_kind
                .iter()
                .map(|k| (k.kind.as_str(), &k.energy))
                .chain(std::iter::once(("**all**", &d.per_token)));
            for (kind, e) in kinds {
                let u = |v: f64| format!("{:.3}", v / 1e6);
                let _ = writeln!(
                    s,
                    "| {} | {kind} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    d.label,
                    u(e.accumulate),
                    u(e.multiply),
                    u(e.fire),
                    u(e.dequant),
                    u(e.weight_reads),
                    u(e.code_reads),
                    u(e.stream),
                    u(e.arithmetic()),
                    u(e.on_chip()),
                    u(e.total())
                );
            }
        }
        let _ = writeln!(s, "\nµJ per token. Counts per token:\n");
        let _ = writeln!(s, "| design | array | PPL | accumulates | multiplies | fire compares | stream bytes | acc bits | multiplier |");
        let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for d in &self.designs {
            let p = d.positions.max(1) as f64;
            let c = &d.counts;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.3e} | {:.3e} | {:.3e} | {:.0} | {} | {} |",
                d.label,
                d.array,
                d.ppl.map_or("(shadow)".into(), |p| format!("{p:.0}")),
                c.accumulates as f64 / p,
                c.multiplies as f64 / p,
                c.compares as f64 / p,
                c.stream_bytes as f64 / p,
                d.widths.acc_bits,
                d.widths.multiplier.map_or("—".into(), |(a, b)| format!("{a}×{b}"))
            );
        }
        let _ =
            writeln!(s, "\n| design vs baseline | arithmetic | on chip | total (streams as DRAM) | SNN convention |");
        let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: |");
        for r in &self.ratios {
            let _ = writeln!(
                s,
                "| {} vs {} | {:.2}× | {:.2}× | {:.2}× | {:.2}× |",
                r.design, r.baseline, r.arithmetic, r.on_chip, r.total, r.snn_convention
            );
        }
        let _ = writeln!(
            s,
            "\nClaim (up to {:.1}× lower energy): {}.",
            self.claim,
            if self.claim_reproduced_at.is_empty() {
                "not reproduced at any level".to_string()
            } else {
                format!("reached by {}", self.claim_reproduced_at.join(", "))
            }
        );
        s
    }
}
