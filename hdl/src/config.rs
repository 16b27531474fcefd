//! Array configuration: what one accelerator instance looks like, read from TOML, validated into a
//! [`Derived`] set of widths that every other part (golden model, generator, host) reads instead of
//! recomputing.
//!
//! Validation happens once, before anything else: a configuration whose widths cannot hold its own
//! worst case is refused with an error that names the field and a value that would work.

use serde::{Deserialize, Serialize};

use crate::error::{ConfigError, HdlError};
use crate::format::WeightFormat;

/// Processing-element kind: the spike array of SpikeQuant, or the conventional multiply-accumulate
/// baseline it is compared against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum PeKind {
    /// Adds (or subtracts, or skips) the weight once per input spike; no multipliers.
    Spike,
    /// Multiplies code × weight in one cycle per lane group (the W4A4 baseline).
    Mac,
}

/// How the array returns a layer's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum OutputMode {
    /// The integrated membrane potential V; the host dequantizes.
    Raw,
    /// The IF neuron fires the next layer's code; the scale lives in the threshold.
    Fire,
}

impl OutputMode {
    /// Value of the MODE register for this mode.
    pub fn code(self) -> u32 {
        match self {
            OutputMode::Raw => 0,
            OutputMode::Fire => 1,
        }
    }
}

/// One array, as the user writes it in `configs/*.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayConfig {
    /// Human-readable name, used in file names and reports (letters, digits, `_`).
    pub name: String,
    /// Processing-element kind.
    #[serde(default = "default_pe")]
    pub pe: PeKind,
    /// Output neurons computed in parallel.
    pub rows: u32,
    /// Input channels consumed per step.
    pub lanes: u32,
    /// Weight format: `int2`..`int8`, `ternary`, `binary`.
    pub weight_format: WeightFormat,
    /// Bits of a normal activation code (`ba`).
    #[serde(default = "default_act_bits")]
    pub act_bits: u32,
    /// Bits of a salient activation code (`bs`).
    #[serde(default = "default_salient_bits")]
    pub salient_bits: u32,
    /// Largest number of salient codes per token the salient path can hold.
    #[serde(default = "default_max_salient")]
    pub max_salient: u32,
    /// Output modes the array supports.
    #[serde(default = "default_modes")]
    pub output_modes: Vec<OutputMode>,
    /// Fraction bits F of the fixed-point threshold.
    #[serde(default = "default_frac_bits")]
    pub frac_bits: u32,
    /// Bits of a fired output code.
    #[serde(default = "default_out_bits")]
    pub out_bits: u32,
    /// Largest K (input length) a layer may have.
    pub k_max: u32,
    /// Largest M (output length) a layer may have; the host tiles M onto `rows`.
    pub m_max: u32,
    /// Target clock in MHz (used for synthesis constraints and time/energy reports).
    #[serde(default = "default_clock")]
    pub clock_mhz: f64,
    /// Tokens the on-chip code buffer holds (a power of two, 2..=4096): a RUN of at most this many
    /// tokens keeps their codes, and REPLAY runs them through the next loaded row tile without
    /// streaming them again (protocol v3, docs/architecture.md).
    #[serde(default = "default_code_buffer_tokens")]
    pub code_buffer_tokens: u32,
}

fn default_pe() -> PeKind {
    PeKind::Spike
}
fn default_act_bits() -> u32 {
    4
}
fn default_salient_bits() -> u32 {
    8
}
fn default_max_salient() -> u32 {
    32
}
fn default_modes() -> Vec<OutputMode> {
    vec![OutputMode::Raw, OutputMode::Fire]
}
fn default_frac_bits() -> u32 {
    8
}
fn default_out_bits() -> u32 {
    8
}
fn default_clock() -> f64 {
    100.0
}
fn default_code_buffer_tokens() -> u32 {
    DEFAULT_CODE_BUFFER_TOKENS
}

/// Code buffer of a configuration that does not name one (`code_buffer_tokens`).
pub const DEFAULT_CODE_BUFFER_TOKENS: u32 = 16;
/// Largest code buffer, in tokens.
pub const MAX_CODE_BUFFER_TOKENS: u32 = 4096;

/// Bits needed to hold the unsigned value `v` (at least 1).
pub fn ubits(v: u64) -> u32 {
    (64 - v.leading_zeros()).max(1)
}

/// Bits of an unsigned number that holds `v` (at least 1), for widths computed in u128.
fn ubits128(v: u128) -> u32 {
    (128 - v.leading_zeros()).max(1)
}

/// Bits of a two's-complement number that holds every value in `-v..=v`.
pub fn sbits(v: u64) -> u32 {
    ubits(v) + 1
}

/// Greatest common divisor.
fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Bits of an index into a table of `n` entries: max(1, ceil(log2 n)).
pub fn index_bits(n: u32) -> u32 {
    ubits(n.max(1) as u64 - 1)
}

/// Codes (and fired output codes) packed in one stream word, one byte each.
pub const CODES_PER_WORD: u32 = 4;
/// Largest data word the streams carry, and so the widest raw output and threshold.
pub const STREAM_BITS: u32 = 32;
/// Largest weight memory the generator will emit, in bits (64 Mbit: bigger than any FPGA's BRAM).
pub const MAX_WEIGHT_MEMORY_BITS: u64 = 64 << 20;
/// Largest rows or lanes of one array.
pub const MAX_ROWS_LANES: u32 = 256;

/// Every width the array needs, derived from a validated [`ArrayConfig`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Derived {
    /// The configuration these widths were derived from.
    pub config: ArrayConfig,
    /// SHA-256 of the canonical JSON of the configuration, hex.
    pub hash: String,
    /// Low 32 bits of the hash, as the CFG_HASH register reports it.
    pub hash32: u32,
    /// Bits of one stored weight.
    pub weight_bits: u32,
    /// Largest weight magnitude Qw.
    pub qw: i32,
    /// Largest normal code magnitude Qa = 2^(ba-1) - 1.
    pub qa: i32,
    /// Largest salient code magnitude Qs = 2^(bs-1) - 1.
    pub qs: i32,
    /// Largest fired output code Qy = 2^(out_bits-1) - 1.
    pub qy: i32,
    /// Digits of a salient magnitude in radix 2^(ba-1): each digit is at most Qa spikes.
    pub salient_digits: u32,
    /// Bits per digit (ba - 1): the shift between digit weights.
    pub digit_shift: u32,
    /// Salient queue depth (0 when the array has no salient path).
    pub salient_depth: u32,
    /// Lane groups of the largest layer: ceil(k_max / lanes).
    pub groups_max: u32,
    /// Largest |V| any layer up to k_max can produce, given the salient budget.
    pub v_max: u64,
    /// Accumulator width (signed) that holds ±v_max.
    pub acc_bits: u32,
    /// Largest useful threshold: anything above fires no spike for any V, so the host clamps here.
    pub th_max: u64,
    /// Threshold register width (unsigned).
    pub th_bits: u32,
    /// Membrane width of the fire phase (unsigned): |V|·2^F + th/2.
    pub membrane_bits: u32,
    /// Width of the spike counter of an output neuron.
    pub fire_count_bits: u32,
    /// Index of one of a layer's K inputs (0..k_max-1, also K-1): the loaders' element counter.
    pub k_index_bits: u32,
    /// Index of a row of the tile (0..rows-1, also M-1 and a token's output word).
    pub row_index_bits: u32,
    /// Index of a lane (0..lanes-1).
    pub lane_index_bits: u32,
    /// Index of a lane group (0..groups_max-1): the address of the weight and code memories.
    pub group_index_bits: u32,
    /// Words of each row's weight memory and of the code memory: 2^group_index_bits, so that
    /// every address is a valid word.
    pub memory_depth: u32,
    /// Index of an element inside a stream word (weights_per_word weights, or 4 codes).
    pub word_index_bits: u32,
    /// Spike time inside a lane group or salient entry (0..=Qa), and a lane code's magnitude.
    pub time_bits: u32,
    /// Magnitude of a code after clamping to ±Qs (salient_bits - 1).
    pub code_mag_bits: u32,
    /// One lane's code in the code memory: sign and magnitude (spike PE, act_bits), or the
    /// two's-complement code the multiplier takes (MAC PE, salient_bits).
    pub lane_code_bits: u32,
    /// One code memory word. MAC PE: the lane codes of a lane group. Spike PE: one entry of a
    /// lane's code list (lane group, sign, magnitude of a non-zero normal code).
    pub code_word_bits: u32,
    /// Entries of one lane's code list (0..=groups of the largest layer): group_index_bits + 1.
    pub list_count_bits: u32,
    /// The bit j of a magnitude a burst adds (weight shifted left by j), 0..time_bits-1.
    pub shift_bits: u32,
    /// MAC PE: one code × weight product (binary weights enter the multiplier as ±1 in 2 bits).
    pub product_bits: u32,
    /// A salient magnitude padded to whole digits (salient_digits × digit_shift).
    pub salient_digit_bits: u32,
    /// Salient codes held for the current token (0..=salient_depth).
    pub salient_count_bits: u32,
    /// Index of a salient queue entry (0..salient_depth-1).
    pub salient_index_bits: u32,
    /// Entries of the salient queue memory: 2^salient_index_bits.
    pub salient_slots: u32,
    /// One salient queue entry: lane group, lane, magnitude, sign (0 without a salient queue).
    pub salient_entry_bits: u32,
    /// Spikes one code adds to SPIKES: |q| of a lane code, the digit sum of a salient code, or
    /// 1 for a non-zero code (MAC PE).
    pub code_spike_bits: u32,
    /// Spikes of one token (at most k_max × Qs), the per-row increment of ACCUMULATES.
    pub token_spike_bits: u32,
    /// Fire phase comparison of membrane and threshold: max(th_bits, membrane_bits).
    pub fire_compare_bits: u32,
    /// Output words of a token in fire mode at M = rows (four 8-bit codes per word).
    pub fire_words: u32,
    /// Weights packed in one 32-bit stream word.
    pub weights_per_word: u32,
    /// Weights the LOAD state writes per cycle: gcd(lanes, weights_per_word) on the spike PE (a
    /// chunk never crosses a lane group, each of its weights goes to its own lane), 1 on the MAC PE.
    pub load_chunk: u32,
    /// Chunks of one stream word (weights_per_word / load_chunk).
    pub load_chunks: u32,
    /// Codes the code receiver takes per cycle: gcd(lanes, 4) on the spike PE (a chunk never
    /// crosses a lane group, each code goes to its own lane), 1 on the MAC PE.
    pub rx_chunk: u32,
    /// Chunks of one stream word of codes (4 / rx_chunk).
    pub rx_chunks: u32,
    /// Weight memory of the array in bits (rows × groups_max × lanes × weight_bits).
    pub weight_memory_bits: u64,
    /// Index of a code buffer slot (one token): log2(code_buffer_tokens).
    pub buffer_slot_bits: u32,
    /// Code buffer of the array in bits: per slot, every lane's code list (spike PE) or the code
    /// memory (MAC PE), the salient queue and the token's counts.
    pub code_buffer_bits: u64,
}

impl ArrayConfig {
    /// Parses TOML text (no validation; see [`ArrayConfig::validate`]).
    pub fn from_toml(text: &str) -> Result<Self, HdlError> {
        toml::from_str(text).map_err(|e| HdlError::Parse(e.to_string()))
    }

    /// Serializes as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("ArrayConfig serializes to TOML")
    }

    /// Canonical hash of the configuration (SHA-256 over its JSON form, fields in declaration order).
    pub fn hash(&self) -> String {
        let json = serde_json::to_string(self).expect("ArrayConfig serializes to JSON");
        crate::digest::sha256_hex(json.as_bytes())
    }

    /// Checks every field and derives the widths. Each error names its field and a value that works.
    pub fn validate(&self) -> Result<Derived, ConfigError> {
        let c = self;
        let bad = |field: &'static str, got: String, fix: String| ConfigError::Invalid { field, got, fix };

        if c.name.is_empty() || !c.name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
            return Err(bad(
                "name",
                format!("{:?}", c.name),
                "use letters, digits and '_' only, e.g. \"default\"".into(),
            ));
        }
        if c.rows == 0 || c.rows > MAX_ROWS_LANES {
            return Err(bad("rows", c.rows.to_string(), format!("use a value in 1..={MAX_ROWS_LANES}")));
        }
        if c.lanes == 0 || c.lanes > MAX_ROWS_LANES {
            return Err(bad("lanes", c.lanes.to_string(), format!("use a value in 1..={MAX_ROWS_LANES}")));
        }
        if !(2..=8).contains(&c.act_bits) {
            return Err(bad("act_bits", c.act_bits.to_string(), "use a value in 2..=8 (codes travel as bytes)".into()));
        }
        if c.salient_bits < c.act_bits || c.salient_bits > 8 {
            return Err(bad(
                "salient_bits",
                c.salient_bits.to_string(),
                format!("use a value in {}..=8 (at least act_bits, at most a byte)", c.act_bits),
            ));
        }
        if !(2..=8).contains(&c.out_bits) {
            return Err(bad(
                "out_bits",
                c.out_bits.to_string(),
                "use a value in 2..=8 (fired codes travel as bytes)".into(),
            ));
        }
        if c.output_modes.is_empty() {
            return Err(bad("output_modes", "[]".into(), "list at least one of \"raw\", \"fire\"".into()));
        }
        if c.pe == PeKind::Mac && c.output_modes.contains(&OutputMode::Fire) {
            return Err(bad(
                "output_modes",
                "[.., \"fire\"] with pe = \"mac\"".into(),
                "use output_modes = [\"raw\"]: the MAC baseline returns V and dequantizes outside the array".into(),
            ));
        }
        if c.k_max == 0 {
            return Err(bad("k_max", "0".into(), "use the largest input length a layer has, e.g. 1536".into()));
        }
        if c.m_max == 0 {
            return Err(bad("m_max", "0".into(), "use the largest output length a layer has, e.g. 1536".into()));
        }
        if c.max_salient > c.k_max {
            return Err(bad("max_salient", c.max_salient.to_string(), format!("use at most k_max = {}", c.k_max)));
        }
        if !(c.clock_mhz.is_finite() && c.clock_mhz > 0.0 && c.clock_mhz <= 1000.0) {
            return Err(bad("clock_mhz", c.clock_mhz.to_string(), "use a frequency in (0, 1000] MHz, e.g. 100".into()));
        }

        let weight_bits = c.weight_format.storage_bits();
        let qw = c.weight_format.qmax();
        let qa = (1i32 << (c.act_bits - 1)) - 1;
        let qs = (1i32 << (c.salient_bits - 1)) - 1;
        let qy = (1i32 << (c.out_bits - 1)) - 1;
        let digit_shift = c.act_bits - 1;
        let salient_digits = (c.salient_bits - 1).div_ceil(digit_shift);
        // A salient path exists only when salient codes can exceed Qa and the budget is non-zero.
        let salient_depth = if c.salient_bits > c.act_bits && c.pe == PeKind::Spike { c.max_salient } else { 0 };
        let groups_max = c.k_max.div_ceil(c.lanes);

        // Worst |V|: every normal code at Qa, the salient budget at Qs, every weight at Qw.
        // The MAC baseline multiplies any code in its lanes, so its worst case is every code at Qs.
        let sal = match (c.salient_bits > c.act_bits, c.pe) {
            (false, _) => 0,
            (true, PeKind::Spike) => c.max_salient as u64,
            (true, PeKind::Mac) => c.k_max as u64,
        };
        let v_max = ((c.k_max as u64 - sal) * qa as u64 + sal * qs as u64) * qw as u64;
        let acc_bits = sbits(v_max);
        if acc_bits > STREAM_BITS {
            // Largest k_max whose worst case still fits a signed 32-bit word.
            let per_k = (qa.max(if sal > 0 { qs } else { qa }) as u64) * qw as u64;
            let fit = ((1u64 << (STREAM_BITS - 1)) - 1) / per_k.max(1);
            return Err(bad(
                "k_max",
                c.k_max.to_string(),
                format!("the accumulator needs {acc_bits} bits (> {STREAM_BITS}); use k_max <= {fit}"),
            ));
        }

        let mut th_max = 0;
        let mut th_bits = 1;
        let mut membrane_bits = 1;
        if c.output_modes.contains(&OutputMode::Fire) {
            // In u128 with F capped at 64 (a larger F only widens the threshold further), so no
            // shift can drop bits: every F the check accepts gives the widths the RTL declares.
            let threshold_max = |f: u32| (u128::from(v_max) << (f.min(64) + 1)) + 2;
            let f = c.frac_bits.min(64);
            let th = threshold_max(f);
            let th_need = ubits128(th);
            let membrane_need = ubits128((u128::from(v_max) << f) + th / 2);
            if th_need > STREAM_BITS || membrane_need > 48 {
                let mut fit = f;
                while fit > 0 && ubits128(threshold_max(fit)) > STREAM_BITS {
                    fit -= 1;
                }
                return Err(bad(
                    "frac_bits",
                    c.frac_bits.to_string(),
                    format!(
                        "thresholds need at least {th_need} bits (> {STREAM_BITS}); use frac_bits <= {fit} or a smaller k_max"
                    ),
                ));
            }
            th_max = u64::try_from(th).expect("checked: at most 32 bits");
            th_bits = th_need;
            membrane_bits = membrane_need;
        }

        let weight_memory_bits = c.rows as u64 * groups_max as u64 * c.lanes as u64 * weight_bits as u64;
        // Widths of the generated RTL's registers, memories and indices (docs/codegen.md).
        let mac = c.pe == PeKind::Mac;
        let weights_per_word = STREAM_BITS / weight_bits;
        let load_chunk = if mac { 1 } else { gcd(c.lanes, weights_per_word) };
        let rx_chunk = if mac { 1 } else { gcd(c.lanes, CODES_PER_WORD) };
        let lane_index_bits = index_bits(c.lanes);
        let group_index_bits = index_bits(groups_max);
        let salient_index_bits = index_bits(salient_depth);
        let time_bits = ubits(qa as u64);
        let code_mag_bits = c.salient_bits - 1;
        let lane_code_bits = if mac { c.salient_bits } else { c.act_bits };
        if weight_memory_bits > MAX_WEIGHT_MEMORY_BITS {
            let fit = MAX_WEIGHT_MEMORY_BITS / (c.rows as u64 * weight_bits as u64);
            return Err(bad(
                "k_max",
                c.k_max.to_string(),
                format!("the weight memory would be {weight_memory_bits} bits; use k_max <= {fit} or fewer rows"),
            ));
        }

        let b = c.code_buffer_tokens;
        if !(2..=MAX_CODE_BUFFER_TOKENS).contains(&b) || !b.is_power_of_two() {
            let fit = b.clamp(2, MAX_CODE_BUFFER_TOKENS).next_power_of_two().min(MAX_CODE_BUFFER_TOKENS);
            return Err(bad(
                "code_buffer_tokens",
                b.to_string(),
                format!("the code buffer holds a power of two of tokens in 2..={MAX_CODE_BUFFER_TOKENS}; use {fit}"),
            ));
        }
        let memory_depth = 1u64 << group_index_bits;
        let code_word_bits = if mac { c.lanes * lane_code_bits } else { group_index_bits + lane_code_bits };
        let salient_entry_bits =
            if salient_depth > 0 { group_index_bits + lane_index_bits + code_mag_bits + 1 } else { 0 };
        let token_spike_bits = ubits(c.k_max as u64 * qs as u64);
        // One slot: the lists (lanes × depth entries) or the code memory (depth words), the
        // salient queue, the list counts and the token's spike and burst counts.
        let lists = if mac { memory_depth } else { c.lanes as u64 * memory_depth } * code_word_bits as u64;
        let slot_bits = lists
            + (1u64 << index_bits(salient_depth)) * salient_entry_bits as u64
            + if mac { 0 } else { c.lanes as u64 * (group_index_bits as u64 + 1) }
            + 2 * (ubits(salient_depth as u64) as u64 + token_spike_bits as u64);
        let code_buffer_bits = b as u64 * slot_bits;
        if code_buffer_bits > MAX_WEIGHT_MEMORY_BITS {
            let fit = (MAX_WEIGHT_MEMORY_BITS / slot_bits).max(2);
            let fit = 1u64 << (63 - fit.leading_zeros());
            return Err(bad(
                "code_buffer_tokens",
                b.to_string(),
                format!("the code buffer would be {code_buffer_bits} bits ({slot_bits} per token); use code_buffer_tokens <= {fit}"),
            ));
        }

        Ok(Derived {
            config: c.clone(),
            hash: c.hash(),
            hash32: u32::from_str_radix(&c.hash()[..8], 16).expect("hex"),
            weight_bits,
            qw,
            qa,
            qs,
            qy,
            salient_digits,
            digit_shift,
            salient_depth,
            groups_max,
            v_max,
            acc_bits,
            th_max,
            th_bits,
            membrane_bits,
            fire_count_bits: ubits(qy as u64),
            k_index_bits: index_bits(c.k_max),
            row_index_bits: index_bits(c.rows),
            lane_index_bits,
            group_index_bits,
            memory_depth: 1 << group_index_bits,
            word_index_bits: index_bits(weights_per_word.max(CODES_PER_WORD)),
            time_bits,
            code_mag_bits,
            lane_code_bits,
            code_word_bits,
            list_count_bits: group_index_bits + 1,
            shift_bits: index_bits(time_bits),
            product_bits: lane_code_bits + if c.weight_format == WeightFormat::Binary { 2 } else { weight_bits },
            salient_digit_bits: salient_digits * digit_shift,
            salient_count_bits: ubits(salient_depth as u64),
            salient_index_bits,
            salient_slots: 1 << salient_index_bits,
            salient_entry_bits,
            code_spike_bits: match (mac, salient_depth > 0) {
                (true, _) => 1,
                (false, true) => code_mag_bits,
                (false, false) => time_bits,
            },
            token_spike_bits,
            fire_compare_bits: th_bits.max(membrane_bits),
            fire_words: c.rows.div_ceil(CODES_PER_WORD),
            weights_per_word,
            load_chunk,
            load_chunks: weights_per_word / load_chunk,
            rx_chunk,
            rx_chunks: CODES_PER_WORD / rx_chunk,
            weight_memory_bits,
            buffer_slot_bits: b.trailing_zeros(),
            code_buffer_bits,
        })
    }
}

/// The tiny reference array (`configs/tiny.toml`): the one fixture of hdl's unit tests.
#[cfg(test)]
pub(crate) fn tiny() -> Derived {
    Derived::from_toml(include_str!("../../configs/tiny.toml")).expect("configs/tiny.toml is valid")
}

impl Derived {
    /// Parses and validates TOML text in one step.
    pub fn from_toml(text: &str) -> Result<Self, HdlError> {
        Ok(ArrayConfig::from_toml(text)?.validate()?)
    }

    /// Short hash (8 hex digits) used in module names.
    pub fn short_hash(&self) -> &str {
        &self.hash[..8]
    }

    /// Whether the array supports an output mode.
    pub fn supports(&self, mode: OutputMode) -> bool {
        self.config.output_modes.contains(&mode)
    }

    /// Human-readable table of the derived widths (what `spikeq config check` prints).
    pub fn report(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let mut line = |k: &str, v: String| s.push_str(&format!("{k:<22} {v}\n"));
        line("name", c.name.clone());
        line("hash", self.hash.clone());
        line("pe", format!("{:?}", c.pe).to_lowercase());
        line("rows x lanes", format!("{} x {}", c.rows, c.lanes));
        line("weight format", format!("{} ({} bits stored, Qw = {})", c.weight_format, self.weight_bits, self.qw));
        line(
            "activation codes",
            format!("ba = {} (Qa = {}), bs = {} (Qs = {})", c.act_bits, self.qa, c.salient_bits, self.qs),
        );
        line(
            "salient path",
            format!("depth {}, {} digits of {} bits", self.salient_depth, self.salient_digits, self.digit_shift),
        );
        line("layer limits", format!("K <= {}, M <= {} ({} lane groups)", c.k_max, c.m_max, self.groups_max));
        line("worst |V|", self.v_max.to_string());
        line("accumulator", format!("{} bits (signed)", self.acc_bits));
        if self.supports(OutputMode::Fire) {
            line("threshold", format!("{} bits, F = {}, max {}", self.th_bits, c.frac_bits, self.th_max));
            line("membrane", format!("{} bits", self.membrane_bits));
            line("fire counter", format!("{} bits (Qy = {})", self.fire_count_bits, self.qy));
            line("fire compare", format!("{} bits", self.fire_compare_bits));
        }
        line(
            "output modes",
            c.output_modes.iter().map(|m| format!("{m:?}").to_lowercase()).collect::<Vec<_>>().join(", "),
        );
        line(
            "index widths",
            format!(
                "k {}, row {}, lane {}, group {}, word element {}, time {}",
                self.k_index_bits,
                self.row_index_bits,
                self.lane_index_bits,
                self.group_index_bits,
                self.word_index_bits,
                self.time_bits
            ),
        );
        line(
            "weight memory",
            format!(
                "{} bits ({} words per row, {} weights per stream word)",
                self.weight_memory_bits, self.memory_depth, self.weights_per_word
            ),
        );
        line(
            "code memory",
            if self.config.pe == PeKind::Mac {
                format!(
                    "{} words of {} bits (lane codes of {} bits)",
                    self.memory_depth, self.code_word_bits, self.lane_code_bits
                )
            } else {
                format!(
                    "{} lists of {} entries of {} bits (lane group, sign, magnitude)",
                    self.config.lanes, self.memory_depth, self.code_word_bits
                )
            },
        );
        if self.salient_depth > 0 {
            line(
                "salient queue",
                format!(
                    "{} slots of {} bits (count {} bits, index {} bits)",
                    self.salient_slots, self.salient_entry_bits, self.salient_count_bits, self.salient_index_bits
                ),
            );
        }
        if self.config.pe == PeKind::Mac {
            line("multiplier", format!("{} bits product", self.product_bits));
        }
        line(
            "spike counters",
            format!("{} bits per code, {} bits per token", self.code_spike_bits, self.token_spike_bits),
        );
        line(
            "code buffer",
            format!(
                "{} tokens, {} bits (slot index {} bits)",
                c.code_buffer_tokens, self.code_buffer_bits, self.buffer_slot_bits
            ),
        );
        line("clock", format!("{} MHz", c.clock_mhz));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_widths_are_the_rtl_widths() {
        let d = tiny();
        // K <= 64 inputs, 4 rows, 4 lanes, 16 lane groups: indices 0..63, 0..3, 0..3, 0..15
        let idx = (d.k_index_bits, d.row_index_bits, d.lane_index_bits, d.group_index_bits);
        assert_eq!(idx, (6, 2, 2, 4));
        assert_eq!((d.memory_depth, d.word_index_bits, d.time_bits), (16, 3, 3));
        // a lane list entry: group 4 + lane code 4 (sign, 3-bit magnitude); counts 0..=16; bursts j 0..2
        assert_eq!((d.lane_code_bits, d.code_word_bits, d.list_count_bits, d.shift_bits), (4, 8, 5, 2));
        // salient entry: group 4 + lane 2 + magnitude 7 + sign 1
        assert_eq!((d.salient_entry_bits, d.salient_slots, d.salient_count_bits), (14, 4, 3));
        assert!(d.report().contains("k 6, row 2, lane 2, group 4, word element 3, time 3"), "{}", d.report());
    }

    #[test]
    fn code_buffer_is_a_power_of_two_that_fits() {
        let d = tiny();
        assert_eq!((d.config.code_buffer_tokens, d.buffer_slot_bits), (2, 1));
        for (b, fix) in [(0, "use 2"), (1, "use 2"), (12, "use 16"), (8192, "use 4096")] {
            let mut c = d.config.clone();
            c.code_buffer_tokens = b;
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("code_buffer_tokens") && e.contains(fix), "{b}: {e}");
        }
        // The default array's buffer: 16 lanes x 64 tokens x 128 entries of 11 bits, plus queues and counts.
        let def = Derived::from_toml(include_str!("../../configs/default.toml")).unwrap();
        assert_eq!(def.config.code_buffer_tokens, 64);
        assert!(
            def.code_buffer_bits > 64 * 16 * 128 * 11 && def.code_buffer_bits < 2_000_000,
            "{}",
            def.code_buffer_bits
        );
    }

    #[test]
    fn index_bits_of_a_table() {
        assert_eq!([1, 2, 3, 4, 5, 64, 65].map(index_bits), [1, 1, 2, 2, 3, 6, 7]);
    }
}
