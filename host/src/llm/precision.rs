//! Per-layer precision: the weight format and activation codes of each linear layer (30 blocks ×
//! q, k, v, o, gate, up, down), read and written as a compact TOML file.
//!
//! A layer's setting is written `w<W>a<A>[s<S>]`: weights `W` = 2..8 bits (`int<W>`), `t`
//! (ternary) or `b` (binary); `A` normal activation bits; `S` salient bits (present = salient
//! selection on, wider than `A`). Examples: `w8a8`, `w6a8`, `w4a4s8` (SpikeQuant).
//!
//! ```toml
//! selector = "mad:6"          # salient selector of every layer whose setting has s<S>
//! default = "w8a8"            # every layer ...
//! [kinds]                     # ... unless its kind is listed here (all blocks),
//! down = "w8a8"
//! [blocks]                    # ... or its block (wins over kinds),
//! 12 = "w6a8"
//! [layers]                    # ... or the layer itself (wins over everything).
//! "12.down" = "w4a8"
//! ```
//!
//! One array serves every layer (**the array covers the widest setting the file names**): its
//! weight format is the widest format, its activation bits the largest `A`, its salient bits the
//! largest `S`. A narrower code is sent unchanged in the wider format: an int4 code is an int8 code
//! of the same value, a 4-bit activation code is an 8-bit one, and a salient code above the array's
//! `Qa` goes to the salient queue (at most `max_salient` per token, which the host's quantizer
//! never exceeds). The integrated `V = Σ q·Wq` is therefore the exact integer it would be on an
//! array built for that layer alone; only the cycle count differs (wider lanes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use spikeq_hdl::quant::{ActBits, SalientSelector};
use spikeq_hdl::{Derived, WeightFormat};
use thiserror::Error;

use crate::llm::model::linear::{LinearId, LinearKind};
use crate::llm::model::llama::Llama;

/// Errors reading or applying a precision file.
#[derive(Debug, Error)]
pub enum PrecisionError {
    /// A setting string that is not `w<W>a<A>[s<S>]`.
    #[error("precision setting {got:?}: {why}; write w<W>a<A>[s<S>] with W in 2..8, t or b, A in 2..8 and S in A+1..8, e.g. w8a8 or w4a4s8")]
    Setting { got: String, why: &'static str },
    /// The TOML does not parse or has unknown keys.
    #[error("{0}")]
    Toml(String),
    /// A key that names no layer.
    #[error("{key:?} in [{table}] {why}")]
    Key { table: &'static str, key: String, why: String },
    /// The file cannot be read.
    #[error("cannot read precision file {}: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    /// What is wrong inside a precision file, and which file.
    #[error("precision file {}: {source}", path.display())]
    File { path: std::path::PathBuf, source: Box<PrecisionError> },
    /// The array cannot carry a layer's codes.
    #[error("array {array} cannot carry layer setting {setting}: it needs {need}; derive the array from the precision file (spikeq gen --precision)")]
    Array { array: String, setting: LayerSpec, need: String },
}

/// The precision of one linear layer: weight format, normal and salient activation bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerSpec {
    /// Weight format (per-row scales).
    pub weights: WeightFormat,
    /// Normal activation code bits.
    pub acts: u32,
    /// Salient code bits; equal to `acts` when salient selection is off.
    pub salient: u32,
}

impl LayerSpec {
    /// The activation code widths.
    pub fn bits(self) -> ActBits {
        ActBits { normal: self.acts, salient: self.salient }
    }

    /// Stored bytes of an `m × k` layer: packed weight codes (`storage_bits` each: int-b b bits,
    /// ternary 2, binary 1) plus one f32 scale per row. Raw output needs no thresholds.
    pub fn memory_bytes(self, m: usize, k: usize) -> u64 {
        (m as u64 * k as u64 * u64::from(self.weights.storage_bits())).div_ceil(8) + 4 * m as u64
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.weights {
            WeightFormat::Int(b) => write!(f, "w{b}")?,
            WeightFormat::Ternary => f.write_str("wt")?,
            WeightFormat::Binary => f.write_str("wb")?,
        }
        write!(f, "a{}", self.acts)?;
        if self.salient > self.acts {
            write!(f, "s{}", self.salient)?;
        }
        Ok(())
    }
}

impl FromStr for LayerSpec {
    type Err = PrecisionError;
    fn from_str(s: &str) -> Result<Self, PrecisionError> {
        let bad = |why| PrecisionError::Setting { got: s.to_string(), why };
        let rest = s.strip_prefix('w').ok_or_else(|| bad("it must start with w"))?;
        let (w, rest) = rest.split_once('a').ok_or_else(|| bad("the activation part a<A> is missing"))?;
        let weights = match w {
            "t" => WeightFormat::Ternary,
            "b" => WeightFormat::Binary,
            _ => match w.parse::<u8>() {
                Ok(b @ 2..=8) => WeightFormat::Int(b),
                _ => return Err(bad("unknown weight format")),
            },
        };
        let (a, sal) = rest.split_once('s').map_or((rest, None), |(a, b)| (a, Some(b)));
        let acts = match a.parse::<u32>() {
            Ok(a @ 2..=8) => a,
            _ => return Err(bad("activation bits must be 2..8")),
        };
        let salient = match sal.map(str::parse::<u32>) {
            None => acts,
            Some(Ok(v)) if v > acts && v <= 8 => v,
            Some(_) => return Err(bad("salient bits must be above the activation bits and at most 8")),
        };
        Ok(LayerSpec { weights, acts, salient })
    }
}

/// Orders weight formats by the codes they can carry: a wider format holds every code of a
/// narrower one (ternary holds binary's ±1; int-b holds ternary's -1, 0, 1).
fn format_width(f: WeightFormat) -> (i32, u8) {
    match f {
        WeightFormat::Binary => (1, 0),
        WeightFormat::Ternary => (1, 1),
        WeightFormat::Int(b) => (f.qmax(), 1 + b),
    }
}

/// Writes a selector the way [`SalientSelector::parse`] reads it.
pub fn selector_text(s: SalientSelector) -> String {
    match s {
        SalientSelector::None => "none".into(),
        SalientSelector::Mad { tau } => format!("mad:{tau}"),
        SalientSelector::Topk { frac } => format!("topk:{frac}"),
    }
}

/// A precision file: a default setting with overrides by kind, by block and by layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Precision {
    /// Salient selector of the layers whose setting has salient bits.
    pub selector: SalientSelector,
    /// Setting of every layer not overridden.
    pub default: LayerSpec,
    /// Per kind, in every block.
    pub kinds: BTreeMap<LinearKind, LayerSpec>,
    /// Per block (wins over kinds).
    pub blocks: BTreeMap<usize, LayerSpec>,
    /// Per layer (wins over everything).
    pub layers: BTreeMap<(usize, LinearKind), LayerSpec>,
}

/// The TOML as written on disk.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrecisionToml {
    #[serde(default)]
    selector: Option<String>,
    default: String,
    #[serde(default)]
    kinds: BTreeMap<String, String>,
    #[serde(default)]
    blocks: BTreeMap<String, String>,
    #[serde(default)]
    layers: BTreeMap<String, String>,
}

/// The default salient selector (DESIGN.md: `mad(6)`).
pub const DEFAULT_SELECTOR: SalientSelector = SalientSelector::Mad { tau: 6.0 };

impl Precision {
    /// Every layer at one setting.
    pub fn uniform(spec: LayerSpec, selector: SalientSelector) -> Self {
        Precision { selector, default: spec, kinds: BTreeMap::new(), blocks: BTreeMap::new(), layers: BTreeMap::new() }
    }

    /// The setting of one layer.
    pub fn spec(&self, id: LinearId) -> LayerSpec {
        self.layers
            .get(&(id.block, id.kind))
            .or_else(|| self.blocks.get(&id.block))
            .or_else(|| self.kinds.get(&id.kind))
            .copied()
            .unwrap_or(self.default)
    }

    /// Every setting the file names (the array must carry all of them).
    pub fn settings(&self) -> BTreeSet<LayerSpec> {
        let mut s: BTreeSet<LayerSpec> =
            self.kinds.values().chain(self.blocks.values()).chain(self.layers.values()).copied().collect();
        s.insert(self.default);
        s
    }

    /// The setting of the one array that carries every layer: the widest weight format, the
    /// largest activation and salient bits the file names ([`crate::llm::quant::Quantization`] derives
    /// the array configuration from it).
    pub fn widest(&self) -> LayerSpec {
        let settings = self.settings();
        let weights =
            settings.iter().map(|s| s.weights).max_by_key(|&f| format_width(f)).expect("at least the default");
        let acts = settings.iter().map(|s| s.acts).max().expect("at least the default");
        let salient = settings.iter().map(|s| s.salient).max().expect("at least the default").max(acts);
        LayerSpec { weights, acts, salient }
    }

    /// Checks that an opened array carries every setting of the file (weight codes within its
    /// format, activation codes within its lanes or its salient path).
    pub fn check_array(&self, d: &Derived) -> Result<(), PrecisionError> {
        let c = &d.config;
        for s in self.settings() {
            let need = if format_width(s.weights) > format_width(c.weight_format) {
                Some(format!("{} weights, the array has {}", s.weights, c.weight_format))
            } else if s.acts > c.act_bits {
                Some(format!("{}-bit activation codes in the lanes, the array has {}", s.acts, c.act_bits))
            } else if s.salient > c.salient_bits {
                Some(format!(
                    "{}-bit salient codes, the array has {}-bit lanes and {}-bit salient path",
                    s.salient, c.act_bits, c.salient_bits
                ))
            } else {
                None
            };
            if let Some(need) = need {
                return Err(PrecisionError::Array {
                    array: format!("{} ({})", c.name, d.short_hash()),
                    setting: s,
                    need,
                });
            }
        }
        Ok(())
    }

    /// Checks that every block the file names exists in a model of `n_blocks` blocks.
    pub fn check_blocks(&self, n_blocks: usize) -> Result<(), PrecisionError> {
        let named = self.blocks.keys().map(|&b| (b, "blocks")).chain(self.layers.keys().map(|&(b, _)| (b, "layers")));
        for (b, table) in named {
            if b >= n_blocks {
                return Err(PrecisionError::Key {
                    table,
                    key: b.to_string(),
                    why: format!("names block {b}; the model has blocks 0..{}", n_blocks - 1),
                });
            }
        }
        Ok(())
    }

    /// Parses a precision file.
    pub fn from_toml(text: &str) -> Result<Self, PrecisionError> {
        let t: PrecisionToml = toml::from_str(text).map_err(|e| PrecisionError::Toml(e.to_string()))?;
        let selector = match &t.selector {
            Some(s) => SalientSelector::parse(s).map_err(|e| PrecisionError::Key {
                table: "top level",
                key: "selector".into(),
                why: e,
            })?,
            None => DEFAULT_SELECTOR,
        };
        let key_err =
            |table, key: &str, why: &str| PrecisionError::Key { table, key: key.to_string(), why: why.to_string() };
        let kind = |table, key: &str| {
            LinearKind::from_name(key)
                .ok_or_else(|| key_err(table, key, "is not a kind: use q, k, v, o, gate, up or down"))
        };
        let block = |table, key: &str| key.parse::<usize>().map_err(|_| key_err(table, key, "is not a block number"));
        let mut p = Precision::uniform(t.default.parse()?, selector);
        for (k, v) in &t.kinds {
            p.kinds.insert(kind("kinds", k)?, v.parse()?);
        }
        for (k, v) in &t.blocks {
            p.blocks.insert(block("blocks", k)?, v.parse()?);
        }
        for (k, v) in &t.layers {
            let (b, kd) =
                k.split_once('.').ok_or_else(|| key_err("layers", k, "must be BLOCK.KIND, e.g. \"12.down\""))?;
            p.layers.insert((block("layers", b)?, kind("layers", kd)?), v.parse()?);
        }
        Ok(p)
    }

    /// Reads a precision file from disk.
    pub fn load(path: &std::path::Path) -> Result<Self, PrecisionError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| PrecisionError::Read { path: path.to_path_buf(), source })?;
        Self::from_toml(&text).map_err(|e| PrecisionError::File { path: path.to_path_buf(), source: Box::new(e) })
    }

    /// The file text: deterministic (keys in numeric and forward order), parsed back by
    /// [`Precision::from_toml`] to an equal value.
    pub fn to_toml(&self) -> String {
        let mut out = format!("selector = \"{}\"\ndefault = \"{}\"\n", selector_text(self.selector), self.default);
        if !self.kinds.is_empty() {
            out += "\n[kinds]\n";
            for (k, v) in &self.kinds {
                out += &format!("{} = \"{v}\"\n", LinearKind::name(*k));
            }
        }
        if !self.blocks.is_empty() {
            out += "\n[blocks]\n";
            for (b, v) in &self.blocks {
                out += &format!("{b} = \"{v}\"\n");
            }
        }
        if !self.layers.is_empty() {
            out += "\n[layers]\n";
            for ((b, k), v) in &self.layers {
                out += &format!("\"{b}.{}\" = \"{v}\"\n", LinearKind::name(*k));
            }
        }
        out
    }

    /// The compact file of a per-layer assignment: the most common setting becomes the default,
    /// a block whose most common setting differs gets a block override, remaining differences
    /// become layer overrides. Ties go to the lower setting in [`LayerSpec`] order (deterministic).
    pub fn compact(table: &Assignment, selector: SalientSelector) -> Self {
        fn most_common(specs: impl Iterator<Item = LayerSpec>) -> LayerSpec {
            let mut count: BTreeMap<LayerSpec, usize> = BTreeMap::new();
            for s in specs {
                *count.entry(s).or_default() += 1;
            }
            let best = count.values().copied().max().unwrap_or(0);
            *count.iter().find(|(_, &c)| c == best).expect("non-empty table").0
        }
        let mut p = Precision::uniform(most_common(table.blocks.iter().flatten().copied()), selector);
        for (b, row) in table.blocks.iter().enumerate() {
            let block = most_common(row.iter().copied());
            if block != p.default {
                p.blocks.insert(b, block);
            }
            for (kind, &s) in LinearKind::ALL.iter().zip(row) {
                if s != block {
                    p.layers.insert((b, *kind), s);
                }
            }
        }
        p
    }

    /// The per-layer assignment for a model of `n_blocks` blocks.
    pub fn assignment(&self, n_blocks: usize) -> Assignment {
        let blocks =
            (0..n_blocks).map(|b| LinearKind::ALL.map(|kind| self.spec(LinearId { block: b, kind }))).collect();
        Assignment { blocks }
    }
}

/// The setting of every layer, block by block in [`LinearKind::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Assignment {
    /// `blocks[b][i]` is the setting of block b, kind `LinearKind::ALL[i]`.
    pub blocks: Vec<[LayerSpec; 7]>,
}

impl Assignment {
    /// Every layer of `n_blocks` blocks at one setting.
    pub fn uniform(spec: LayerSpec, n_blocks: usize) -> Self {
        Assignment { blocks: vec![[spec; 7]; n_blocks] }
    }

    fn index(kind: LinearKind) -> usize {
        LinearKind::ALL.iter().position(|&k| k == kind).expect("kind in ALL")
    }

    /// The setting of one layer.
    pub fn get(&self, id: LinearId) -> LayerSpec {
        self.blocks[id.block][Self::index(id.kind)]
    }

    /// Sets one layer.
    pub fn set(&mut self, id: LinearId, spec: LayerSpec) {
        self.blocks[id.block][Self::index(id.kind)] = spec;
    }

    /// Every layer id, in forward order.
    pub fn ids(&self) -> impl Iterator<Item = LinearId> + '_ {
        (0..self.blocks.len()).flat_map(|block| LinearKind::ALL.map(|kind| LinearId { block, kind }))
    }

    /// A canonical text naming the assignment (cache key): the settings in forward order.
    pub fn key(&self) -> String {
        self.blocks.iter().flatten().map(LayerSpec::to_string).collect::<Vec<_>>().join(",")
    }

    /// Bytes of weights and scales of every linear layer of `model` (embeddings, norms and the
    /// tied output head are not on the array and not counted).
    pub fn memory_bytes(&self, model: &Llama) -> u64 {
        self.ids()
            .map(|id| {
                let w = model.blocks()[id.block].weight(id.kind);
                self.get(id).memory_bytes(w.m(), w.k())
            })
            .sum()
    }
}

/// Bytes of the linear layers of `model` as f32 (the unquantized reference).
pub fn f32_memory_bytes(model: &Llama) -> u64 {
    model.blocks().iter().flat_map(|b| LinearKind::ALL.map(|k| b.weight(k))).map(|w| 4 * (w.m() * w.k()) as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> LayerSpec {
        x.parse().unwrap()
    }

    #[test]
    fn settings_parse_and_print_back() {
        for t in ["w8a8", "w6a8", "w4a4s8", "wta4s8", "wba4s8", "w2a2s3"] {
            assert_eq!(s(t).to_string(), t);
        }
        assert_eq!(s("w4a4s8"), LayerSpec { weights: WeightFormat::Int(4), acts: 4, salient: 8 });
        for bad in ["x8a8", "w9a8", "w8", "w8a1", "w8a8s8", "w4a4s9", "w4a"] {
            let e = bad.parse::<LayerSpec>().unwrap_err().to_string();
            assert!(e.contains("w<W>a<A>"), "{bad}: {e}");
        }
    }

    #[test]
    fn overrides_resolve_most_specific_first() {
        let p = Precision::from_toml(
            "default = \"w8a8\"\n[kinds]\ndown = \"w6a8\"\n[blocks]\n3 = \"w4a8\"\n[layers]\n\"3.q\" = \"w4a4s8\"\n",
        )
        .unwrap();
        let id = |block, kind| LinearId { block, kind };
        assert_eq!(p.spec(id(0, LinearKind::Q)), s("w8a8"));
        assert_eq!(p.spec(id(0, LinearKind::Down)), s("w6a8"));
        assert_eq!(p.spec(id(3, LinearKind::Down)), s("w4a8"), "block wins over kind");
        assert_eq!(p.spec(id(3, LinearKind::Q)), s("w4a4s8"), "layer wins over block");
        assert_eq!(p.selector, DEFAULT_SELECTOR);
        assert!(p.check_blocks(30).is_ok());
        assert!(p.check_blocks(3).unwrap_err().to_string().contains("blocks 0..2"));
    }

    #[test]
    fn bad_files_say_what_to_write() {
        for (text, want) in [
            ("default = \"w8a8\"\n[kinds]\nqkv = \"w8a8\"\n", "use q, k, v, o, gate, up or down"),
            ("default = \"w8a8\"\n[layers]\n\"3\" = \"w8a8\"\n", "BLOCK.KIND"),
            ("default = \"w8\"\n", "w<W>a<A>"),
            ("default = \"w8a8\"\nweights = 3\n", "unknown field"),
            ("[blocks]\n1 = \"w8a8\"\n", "default"),
        ] {
            let e = Precision::from_toml(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn compact_form_round_trips_and_is_small() {
        let mut a = Assignment::uniform(s("w8a8"), 30);
        for k in LinearKind::ALL {
            a.set(LinearId { block: 7, kind: k }, s("w6a8"));
        }
        a.set(LinearId { block: 7, kind: LinearKind::Down }, s("w8a8"));
        a.set(LinearId { block: 20, kind: LinearKind::Up }, s("w4a8"));
        let p = Precision::compact(&a, DEFAULT_SELECTOR);
        assert_eq!(p.default, s("w8a8"));
        assert_eq!(p.blocks.len(), 1);
        assert_eq!(p.layers.len(), 2);
        let back = Precision::from_toml(&p.to_toml()).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.assignment(30), a);
    }

    #[test]
    fn array_covers_the_widest_setting() {
        let base = spikeq_hdl::ArrayConfig::from_toml(include_str!("../../../configs/default.toml")).unwrap();
        let array = |p: &Precision| crate::llm::quant::Quantization::mixed(p.clone()).array(&base).unwrap();
        let mut p = Precision::uniform(s("w4a4s8"), DEFAULT_SELECTOR);
        p.blocks.insert(1, s("w6a8"));
        p.layers.insert((2, LinearKind::Q), s("wta4s8"));
        assert_eq!(p.widest(), s("w6a8"));
        p.check_array(&array(&p)).unwrap();
        // An int4 array cannot carry the int6 block.
        let narrow = array(&Precision::uniform(s("w4a8"), DEFAULT_SELECTOR));
        assert!(p.check_array(&narrow).unwrap_err().to_string().contains("int6"));
        // Ternary is wider than binary; a binary-only file gets a binary array.
        assert_eq!(Precision::uniform(s("wba4s8"), DEFAULT_SELECTOR).widest().weights, WeightFormat::Binary);
        let mut tb = Precision::uniform(s("wba4s8"), DEFAULT_SELECTOR);
        tb.layers.insert((0, LinearKind::K), s("wta4s8"));
        assert_eq!(tb.widest().weights, WeightFormat::Ternary);
        // Salient bits never fall below the activation bits of another layer.
        tb.blocks.insert(3, s("w4a8"));
        assert_eq!(tb.widest(), s("w4a8"));
    }

    #[test]
    fn memory_counts_packed_codes_and_row_scales() {
        // 3 × 5 int4: 60 bits → 8 bytes, plus 3 f32 scales.
        assert_eq!(s("w4a8").memory_bytes(3, 5), 8 + 12);
        // 2 × 4 ternary codes at 2 bits: 16 bits → 2 bytes; 1 × 9 binary: 9 bits → 2 bytes.
        assert_eq!(s("wta4s8").memory_bytes(2, 4), 2 + 8);
        assert_eq!(s("wba4s8").memory_bytes(1, 9), 2 + 4);
    }
}
