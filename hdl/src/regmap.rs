//! The register map of the AXI4-Lite control slave, defined once as data and exported by one
//! function per output: Markdown (docs/regmap.md), C header, Verilog localparams, JSON.
//!
//! Layout: the Vivado HLS control block at 0x00–0x0C, then identification, the layer descriptor,
//! status/error and 64-bit performance counters split into LO/HI words.

use serde::Serialize;

use crate::config::Derived;

/// Register offsets: the single definition every export and the host use.
pub mod addr {
    /// ap_start / ap_done / ap_idle / ap_ready.
    pub const CTRL: u32 = 0x00;
    /// Global interrupt enable.
    pub const GIE: u32 = 0x04;
    /// Interrupt enable.
    pub const IER: u32 = 0x08;
    /// Interrupt status.
    pub const ISR: u32 = 0x0C;
    /// Magic number identifying a spikeq array.
    pub const ID: u32 = 0x10;
    /// Contract version.
    pub const VERSION: u32 = 0x14;
    /// Low 32 bits of the configuration hash.
    pub const CFG_HASH: u32 = 0x18;
    /// Free read/write register for link tests.
    pub const SCRATCH: u32 = 0x1C;
    /// Operation of the next start: 0 LOAD, 1 RUN.
    pub const OP: u32 = 0x20;
    /// Input length K of the layer.
    pub const LAYER_K: u32 = 0x24;
    /// Rows M of the tile (1..=rows).
    pub const LAYER_M: u32 = 0x28;
    /// Tokens N of a RUN call.
    pub const LAYER_N: u32 = 0x2C;
    /// Output mode: 0 raw, 1 fire.
    pub const MODE: u32 = 0x30;
    /// Busy and phase.
    pub const STATUS: u32 = 0x34;
    /// Sticky error flags, write 1 to clear.
    pub const ERROR: u32 = 0x38;
    /// Compute cycles of the last call, low word.
    pub const CYCLES_LO: u32 = 0x40;
    /// Compute cycles, high word.
    pub const CYCLES_HI: u32 = 0x44;
    /// Spikes of the last call, low word.
    pub const SPIKES_LO: u32 = 0x48;
    /// Spikes, high word.
    pub const SPIKES_HI: u32 = 0x4C;
    /// Accumulates of the last call, low word.
    pub const ACCUM_LO: u32 = 0x50;
    /// Accumulates, high word.
    pub const ACCUM_HI: u32 = 0x54;
    /// Rows of the array.
    pub const ROWS: u32 = 0x58;
    /// Lanes of the array.
    pub const LANES: u32 = 0x5C;
    /// Largest K.
    pub const K_MAX: u32 = 0x60;
    /// Packed widths: weight bits, act bits, salient bits, out bits (one byte each, LSB first).
    pub const FORMAT: u32 = 0x64;
}

/// Value of the ID register: ASCII "SPKQ".
pub const ID_MAGIC: u32 = 0x5350_4B51;

/// OP register values.
pub mod op {
    /// Stream in the weights (and thresholds in fire mode) of one row tile.
    pub const LOAD: u32 = 0;
    /// Stream in N tokens of codes, stream out N rows of outputs.
    pub const RUN: u32 = 1;
}

/// CTRL register bits (HLS layout).
pub mod ctrl {
    /// Write 1 to start; reads 1 until the core accepts the start.
    pub const AP_START: u32 = 1 << 0;
    /// The last call finished; clears on read.
    pub const AP_DONE: u32 = 1 << 1;
    /// The core is idle.
    pub const AP_IDLE: u32 = 1 << 2;
    /// The core can accept a new start.
    pub const AP_READY: u32 = 1 << 3;
}

/// ERROR register bits (sticky; write 1 to clear).
pub mod err {
    /// A descriptor field outside the array's limits; the call did nothing.
    pub const DESCRIPTOR: u32 = 1 << 0;
    /// More salient codes in a token than the salient path holds.
    pub const SALIENT_OVERFLOW: u32 = 1 << 1;
    /// A code outside -Qs..=Qs (clamped).
    pub const CODE_RANGE: u32 = 1 << 2;
    /// TLAST missing or early on the input stream.
    pub const STREAM: u32 = 1 << 3;
}

/// Software access of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Access {
    /// Read-only.
    RO,
    /// Read-write.
    RW,
    /// Read, write 1 to clear.
    W1C,
    /// Read-write with side effects described per field.
    RWS,
}

/// A bit field of a register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Name.
    pub name: &'static str,
    /// Lowest bit.
    pub lsb: u32,
    /// Width in bits.
    pub width: u32,
    /// What it means.
    pub doc: &'static str,
}

/// One 32-bit register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Register {
    /// Name.
    pub name: &'static str,
    /// Byte offset.
    pub offset: u32,
    /// Access.
    pub access: Access,
    /// Value after reset (configuration-dependent registers give 0 here; see [`reset_value`]).
    pub reset: u32,
    /// What it is for.
    pub doc: &'static str,
    /// Bit fields (empty: the whole word is one value).
    pub fields: &'static [Field],
}

const fn f(name: &'static str, lsb: u32, width: u32, doc: &'static str) -> Field {
    Field { name, lsb, width, doc }
}

const fn r(name: &'static str, offset: u32, access: Access, reset: u32, doc: &'static str) -> Register {
    Register { name, offset, access, reset, doc, fields: &[] }
}

/// The register map, in address order.
pub const REGISTERS: &[Register] = &[
    Register {
        name: "CTRL",
        offset: addr::CTRL,
        access: Access::RWS,
        reset: ctrl::AP_IDLE | ctrl::AP_READY,
        doc: "HLS control: start, done, idle, ready",
        fields: &[
            f("ap_start", 0, 1, "write 1 to start the operation in OP; reads 1 until accepted"),
            f("ap_done", 1, 1, "the last operation finished; clears on read"),
            f("ap_idle", 2, 1, "no operation in progress"),
            f("ap_ready", 3, 1, "a start will be accepted"),
        ],
    },
    Register {
        name: "GIE",
        offset: addr::GIE,
        access: Access::RW,
        reset: 0,
        doc: "global interrupt enable",
        fields: &[f("enable", 0, 1, "interrupt output follows ISR & IER")],
    },
    Register {
        name: "IER",
        offset: addr::IER,
        access: Access::RW,
        reset: 0,
        doc: "interrupt enable",
        fields: &[f("done", 0, 1, "interrupt on ap_done"), f("ready", 1, 1, "interrupt on ap_ready")],
    },
    Register {
        name: "ISR",
        offset: addr::ISR,
        access: Access::W1C,
        reset: 0,
        doc: "interrupt status (write 1 to clear)",
        fields: &[f("done", 0, 1, "ap_done seen"), f("ready", 1, 1, "ap_ready seen")],
    },
    r("ID", addr::ID, Access::RO, ID_MAGIC, "magic 0x53504B51 (\"SPKQ\")"),
    Register {
        name: "VERSION",
        offset: addr::VERSION,
        access: Access::RO,
        reset: 0x0001_0000,
        doc: "contract version",
        fields: &[f("patch", 0, 8, "patch"), f("minor", 8, 8, "minor"), f("major", 16, 8, "major")],
    },
    r("CFG_HASH", addr::CFG_HASH, Access::RO, 0, "first 8 hex digits of the configuration's SHA-256"),
    r("SCRATCH", addr::SCRATCH, Access::RW, 0, "free register for link tests"),
    r(
        "OP",
        addr::OP,
        Access::RW,
        0,
        "operation of the next start: 0 LOAD (weights, thresholds), 1 RUN (codes → outputs)",
    ),
    r("LAYER_K", addr::LAYER_K, Access::RW, 0, "input length K of the layer (1..=K_MAX)"),
    r("LAYER_M", addr::LAYER_M, Access::RW, 0, "rows of the tile (1..=ROWS)"),
    r("LAYER_N", addr::LAYER_N, Access::RW, 0, "tokens of a RUN call (>= 1)"),
    r("MODE", addr::MODE, Access::RW, 0, "output mode: 0 raw (V), 1 fire (threshold-embedded scale)"),
    Register {
        name: "STATUS",
        offset: addr::STATUS,
        access: Access::RO,
        reset: 0,
        doc: "engine status",
        fields: &[f("busy", 0, 1, "an operation is in progress"), f("phase", 4, 4, "controller state, for debugging")],
    },
    Register {
        name: "ERROR",
        offset: addr::ERROR,
        access: Access::W1C,
        reset: 0,
        doc: "sticky error flags (write 1 to clear)",
        fields: &[
            f("descriptor", 0, 1, "K, M, N or MODE outside the array's limits; the operation did nothing"),
            f(
                "salient_overflow",
                1,
                1,
                "a token had more salient codes than the salient path holds; extras counted as 0",
            ),
            f("code_range", 2, 1, "a code outside -Qs..=Qs arrived; it was clamped"),
            f("stream", 3, 1, "TLAST missing or early on the input stream"),
        ],
    },
    r("CYCLES_LO", addr::CYCLES_LO, Access::RO, 0, "compute cycles of the last operation, bits 31:0"),
    r("CYCLES_HI", addr::CYCLES_HI, Access::RO, 0, "compute cycles, bits 63:32"),
    r("SPIKES_LO", addr::SPIKES_LO, Access::RO, 0, "spikes (spike PE) or non-zero codes (MAC PE), bits 31:0"),
    r("SPIKES_HI", addr::SPIKES_HI, Access::RO, 0, "spikes, bits 63:32"),
    r("ACCUM_LO", addr::ACCUM_LO, Access::RO, 0, "accumulates (spike PE) or MACs (MAC PE), bits 31:0"),
    r("ACCUM_HI", addr::ACCUM_HI, Access::RO, 0, "accumulates, bits 63:32"),
    r("ROWS", addr::ROWS, Access::RO, 0, "rows of the array"),
    r("LANES", addr::LANES, Access::RO, 0, "lanes of the array"),
    r("K_MAX", addr::K_MAX, Access::RO, 0, "largest K"),
    Register {
        name: "FORMAT",
        offset: addr::FORMAT,
        access: Access::RO,
        reset: 0,
        doc: "widths of the array",
        fields: &[
            f("weight_bits", 0, 8, "stored weight bits"),
            f("act_bits", 8, 8, "normal code bits"),
            f("salient_bits", 16, 8, "salient code bits"),
            f("out_bits", 24, 8, "fired code bits"),
        ],
    },
];

/// Value a read-only identification register holds for a configuration.
pub fn reset_value(reg: &Register, d: &Derived) -> u32 {
    let c = &d.config;
    match reg.offset {
        addr::CFG_HASH => d.hash32,
        addr::ROWS => c.rows,
        addr::LANES => c.lanes,
        addr::K_MAX => c.k_max,
        addr::FORMAT => d.weight_bits | c.act_bits << 8 | c.salient_bits << 16 | c.out_bits << 24,
        _ => reg.reset,
    }
}

/// The register of this name (`"LAYER_K"`), the one lookup by name.
pub fn register(name: &str) -> Option<&'static Register> {
    REGISTERS.iter().find(|r| r.name == name)
}

/// The register at a byte offset, the one lookup by address.
pub fn register_at(offset: u32) -> Option<&'static Register> {
    REGISTERS.iter().find(|r| r.offset == offset)
}

/// A register's name for messages: `LAYER_K`, or the offset when nothing lives there.
pub fn name_of(offset: u32) -> String {
    register_at(offset).map_or_else(|| format!("{offset:#04x}"), |r| r.name.to_string())
}

/// Checks the map once: aligned, in order, no overlap, no duplicate names, fields inside 32 bits.
pub fn check() -> Result<(), String> {
    let mut names = std::collections::BTreeSet::new();
    for w in REGISTERS.windows(2) {
        if w[1].offset <= w[0].offset {
            return Err(format!(
                "{} at {:#x} does not follow {} at {:#x}",
                w[1].name, w[1].offset, w[0].name, w[0].offset
            ));
        }
    }
    for reg in REGISTERS {
        if reg.offset % 4 != 0 {
            return Err(format!("{} at {:#x} is not word aligned", reg.name, reg.offset));
        }
        if !names.insert(reg.name) {
            return Err(format!("duplicate register name {}", reg.name));
        }
        let mut used = 0u64;
        for fl in reg.fields {
            let mask = ((1u64 << fl.width) - 1) << fl.lsb;
            if fl.lsb + fl.width > 32 || used & mask != 0 {
                return Err(format!("field {}.{} overlaps or leaves the word", reg.name, fl.name));
            }
            used |= mask;
        }
    }
    Ok(())
}

/// Markdown table for docs/regmap.md.
pub fn to_markdown() -> String {
    let mut s = String::from(
        "# Register map\n\n<!-- generated by `spikeq regmap --markdown` from hdl/src/regmap.rs; do not edit -->\n\n\
         AXI4-Lite slave `s_axi_control`, 32-bit words. Offsets 0x00–0x0C follow the Vivado HLS control\n\
         block so the usual drivers work. 64-bit counters are read LO then HI; they are cleared when\n\
         an operation starts and stop when it is done.\n\n\
         | offset | name | access | reset | description |\n| --- | --- | --- | --- | --- |\n",
    );
    for reg in REGISTERS {
        s.push_str(&format!(
            "| 0x{:02X} | `{}` | {:?} | 0x{:08X} | {} |\n",
            reg.offset, reg.name, reg.access, reg.reset, reg.doc
        ));
    }
    s.push_str("\nConfiguration-dependent registers (`CFG_HASH`, `ROWS`, `LANES`, `K_MAX`, `FORMAT`) reset to the\nvalues of the configuration the RTL was generated from.\n\n## Fields\n\n");
    for reg in REGISTERS.iter().filter(|r| !r.fields.is_empty()) {
        s.push_str(&format!(
            "### {} (0x{:02X})\n\n| bits | field | meaning |\n| --- | --- | --- |\n",
            reg.name, reg.offset
        ));
        for fl in reg.fields {
            let bits = if fl.width == 1 { fl.lsb.to_string() } else { format!("{}:{}", fl.lsb + fl.width - 1, fl.lsb) };
            s.push_str(&format!("| {} | `{}` | {} |\n", bits, fl.name, fl.doc));
        }
        s.push('\n');
    }
    s.push_str(&format!(
        "## Values\n\n- `OP`: {} LOAD, {} RUN\n- `MODE`: 0 raw, 1 fire\n- `ID`: 0x{:08X}\n",
        op::LOAD,
        op::RUN,
        ID_MAGIC
    ));
    s
}

/// C header with one `#define` per register and field.
pub fn to_c_header() -> String {
    let mut s = String::from(
        "/* spikeq register map, generated from hdl/src/regmap.rs; do not edit. */\n#ifndef SPIKEQ_REGMAP_H\n#define SPIKEQ_REGMAP_H\n\n",
    );
    s.push_str(&format!(
        "#define SPIKEQ_ID_MAGIC 0x{ID_MAGIC:08X}u\n#define SPIKEQ_OP_LOAD {}u\n#define SPIKEQ_OP_RUN {}u\n\n",
        op::LOAD,
        op::RUN
    ));
    for reg in REGISTERS {
        s.push_str(&format!("#define SPIKEQ_REG_{} 0x{:02X}u\n", reg.name, reg.offset));
        for fl in reg.fields {
            let up = fl.name.to_uppercase();
            s.push_str(&format!("#define SPIKEQ_{}_{}_SHIFT {}u\n", reg.name, up, fl.lsb));
            s.push_str(&format!(
                "#define SPIKEQ_{}_{}_MASK 0x{:08X}u\n",
                reg.name,
                up,
                (((1u64 << fl.width) - 1) << fl.lsb) as u32
            ));
        }
    }
    s.push_str("\n#endif /* SPIKEQ_REGMAP_H */\n");
    s
}

/// Verilog `localparam` lines (offsets, ID, bits) for the generated AXI4-Lite slave.
pub fn to_verilog_localparams() -> String {
    let mut s = String::new();
    for reg in REGISTERS {
        s.push_str(&format!("    localparam [7:0] A_{} = 8'h{:02X};\n", reg.name, reg.offset));
    }
    s
}

/// JSON form of the map (for tools outside Rust).
pub fn to_json() -> String {
    serde_json::to_string_pretty(REGISTERS).expect("register map serializes")
}

/// Short fingerprint of the map (FNV-1a over its JSON) that the generated RTL's
/// signature records, so a host can tell it speaks the same map.
pub fn fingerprint() -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in to_json().bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_is_consistent() {
        check().unwrap();
        assert_eq!(REGISTERS[0].offset, 0);
        assert!(REGISTERS.iter().any(|r| r.offset == 0x10 && r.name == "ID"));
    }

    #[test]
    fn committed_docs_are_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/regmap.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == to_markdown(),
            "docs/regmap.md is stale: run `cargo run -p spikeq-host -- regmap --markdown > docs/regmap.md`"
        );
        let hpath = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/spikeq_regmap.h");
        let header = std::fs::read_to_string(hpath).unwrap_or_default();
        assert!(
            header == to_c_header(),
            "docs/spikeq_regmap.h is stale: run `spikeq regmap --c-header > docs/spikeq_regmap.h`"
        );
    }
}
