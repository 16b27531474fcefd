//! The register map of the AXI4-Lite control slave, defined once in the `register_map!` table
//! below. The table yields both the data ([`REGISTERS`]) and the constants the host and the
//! golden device use ([`addr`], [`ctrl`], [`err`]); [`export`] turns it into Markdown
//! (docs/regmap.md), a C header, JSON and the named Verilog constants of the generated RTL.
//!
//! Layout: the Vivado HLS control block at 0x00–0x0C, then identification, the layer descriptor,
//! status/error and 64-bit performance counters split into LO/HI words.

use serde::Serialize;

use crate::config::Derived;

mod export;

pub use export::{fingerprint, to_c_header, to_json, to_markdown, verilog_consts, VerilogConst};

/// Value of the ID register: ASCII "SPKQ".
pub const ID_MAGIC: u32 = 0x5350_4B51;

/// Width of a register address on the AXI4-Lite port (the map fits 256 bytes).
pub const ADDR_BITS: u32 = 8;

/// OP register values.
pub mod op {
    /// Stream in the weights (and thresholds in fire mode) of one row tile.
    pub const LOAD: u32 = 0;
    /// Stream in N tokens of codes, stream out N rows of outputs; when N <= the code buffer, the
    /// codes stay in the buffer for REPLAY.
    pub const RUN: u32 = 1;
    /// Run the N tokens the last RUN buffered (same K, same N) through the loaded tile: no input
    /// stream, N rows of outputs out (protocol v3).
    pub const REPLAY: u32 = 2;
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

impl Field {
    /// The field's bits within the register word.
    pub fn mask(&self) -> u32 {
        (((1u64 << self.width) - 1) << self.lsb) as u32
    }
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
    /// Prefix of the field constants: the Rust module (`ctrl`, `err`) or the register name; the
    /// Verilog names are its capitals (`CTRL_AP_START`, `ERR_STREAM`, `STATUS_PHASE`).
    #[serde(skip)]
    pub prefix: &'static str,
}

impl Register {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Bits of the word that fields use (one past the highest field bit).
    pub fn used_bits(&self) -> u32 {
        self.fields.iter().map(|f| f.lsb + f.width).max().unwrap_or(32)
    }

    /// The word whose fields hold `values`, by field name. An unknown field or a value wider than
    /// its field is a bug in the caller, so it panics.
    pub fn pack(&self, values: &[(&str, u32)]) -> u32 {
        values.iter().fold(0, |word, &(name, v)| {
            let f = self.field(name).unwrap_or_else(|| panic!("{} has no field {name}", self.name));
            assert!(u64::from(v) >> f.width == 0, "{v} does not fit {}.{name} ({} bits)", self.name, f.width);
            word | v << f.lsb
        })
    }
}

/// The register with this name.
pub fn register(name: &str) -> Option<&'static Register> {
    REGISTERS.iter().find(|r| r.name == name)
}

/// Defines the map once. Each entry is a register, `NAME = offset, access, reset value, doc`,
/// then optionally its fields (`CONST name lsb, width, doc`) and, with `mod m "doc"`, a Rust
/// module `m` of field masks (`ctrl::AP_START`). The table yields [`addr`] (every offset),
/// those modules and [`REGISTERS`], so no offset or bit is written twice.
macro_rules! register_map {
    (@module ; $($rest:tt)*) => {};
    (@module $m:ident $mdoc:literal ; $( $F:ident $lsb:literal $width:literal $fdoc:literal ; )*) => {
        #[doc = $mdoc]
        pub mod $m {
            $(
                #[doc = $fdoc]
                pub const $F: u32 = (((1u64 << $width) - 1) << $lsb) as u32;
            )*
        }
    };
    (@prefix $reg:ident) => { stringify!($reg) };
    (@prefix $reg:ident $m:ident) => { stringify!($m) };
    ($(
        $reg:ident = $offset:literal, $access:ident, reset $reset:expr, $doc:literal
        $( fields $( mod $m:ident $mdoc:literal )? {
            $( $F:ident $field:ident $lsb:literal, $width:literal, $fdoc:literal; )*
        } )?
        ;
    )*) => {
        /// Register offsets: the single definition every export and the host use.
        pub mod addr {
            $(
                #[doc = $doc]
                pub const $reg: u32 = $offset;
            )*
        }

        $( $( register_map!(@module $( $m $mdoc )? ; $( $F $lsb $width $fdoc ; )*); )? )*

        /// The register map, in address order.
        pub const REGISTERS: &[Register] = &[
            $(
                Register {
                    name: stringify!($reg),
                    offset: addr::$reg,
                    access: Access::$access,
                    reset: $reset,
                    doc: $doc,
                    fields: &[ $( $( Field { name: stringify!($field), lsb: $lsb, width: $width, doc: $fdoc }, )* )? ],
                    prefix: register_map!(@prefix $reg $( $( $m )? )?),
                },
            )*
        ];
    };
}

register_map! {
    CTRL = 0x00, RWS, reset ctrl::AP_IDLE | ctrl::AP_READY, "HLS control: start, done, idle, ready"
        fields mod ctrl "CTRL register bits (HLS layout)." {
            AP_START ap_start 0, 1, "write 1 to start the operation in OP; reads 1 until accepted";
            AP_DONE ap_done 1, 1, "the last operation finished; clears on read";
            AP_IDLE ap_idle 2, 1, "no operation in progress";
            AP_READY ap_ready 3, 1, "a start will be accepted";
        };
    GIE = 0x04, RW, reset 0, "global interrupt enable"
        fields { ENABLE enable 0, 1, "interrupt output follows ISR & IER"; };
    IER = 0x08, RW, reset 0, "interrupt enable"
        fields {
            DONE done 0, 1, "interrupt on ap_done";
            READY ready 1, 1, "interrupt on ap_ready";
        };
    ISR = 0x0C, W1C, reset 0, "interrupt status (write 1 to clear)"
        fields {
            DONE done 0, 1, "ap_done seen";
            READY ready 1, 1, "ap_ready seen";
        };
    ID = 0x10, RO, reset ID_MAGIC, "magic 0x53504B51 (\"SPKQ\")";
    VERSION = 0x14, RO, reset 0x0003_0000, "contract version (major.minor in bits 23:16 and 15:0; major 3: cycle contract v2, event-driven lanes, code buffer and REPLAY)"
        fields {
            PATCH patch 0, 8, "patch";
            MINOR minor 8, 8, "minor";
            MAJOR major 16, 8, "major";
        };
    CFG_HASH = 0x18, RO, reset 0, "first 8 hex digits of the configuration's SHA-256";
    SCRATCH = 0x1C, RW, reset 0, "free register for link tests";
    OP = 0x20, RW, reset 0,
        "operation of the next start: 0 LOAD (weights, thresholds), 1 RUN (codes → outputs, buffered when N fits), 2 REPLAY (buffered codes → outputs)";
    LAYER_K = 0x24, RW, reset 0, "input length K of the layer (1..=K_MAX)";
    LAYER_M = 0x28, RW, reset 0, "rows of the tile (1..=ROWS)";
    LAYER_N = 0x2C, RW, reset 0, "tokens of a RUN call (>= 1); of a REPLAY, the buffered count";
    MODE = 0x30, RW, reset 0, "output mode: 0 raw (V), 1 fire (threshold-embedded scale)";
    STATUS = 0x34, RO, reset 0, "engine status"
        fields {
            BUSY busy 0, 1, "an operation is in progress";
            PHASE phase 4, 4, "controller state, for debugging";
        };
    ERROR = 0x38, W1C, reset 0, "sticky error flags (write 1 to clear)"
        fields mod err "ERROR register bits (sticky; write 1 to clear)." {
            DESCRIPTOR descriptor 0, 1, "K, M, N or MODE outside the array's limits; the operation did nothing";
            SALIENT_OVERFLOW salient_overflow 1, 1,
                "a token had more salient codes than the salient path holds; extras counted as 0";
            CODE_RANGE code_range 2, 1, "a code outside -Qs..=Qs arrived; it was clamped";
            STREAM stream 3, 1, "TLAST missing or early on the input stream";
        };
    CYCLES_LO = 0x40, RO, reset 0, "compute cycles of the last operation, bits 31:0";
    CYCLES_HI = 0x44, RO, reset 0, "compute cycles, bits 63:32";
    SPIKES_LO = 0x48, RO, reset 0, "spikes (spike PE) or non-zero codes (MAC PE), bits 31:0";
    SPIKES_HI = 0x4C, RO, reset 0, "spikes, bits 63:32";
    ACCUM_LO = 0x50, RO, reset 0, "accumulates (spike PE) or MACs (MAC PE), bits 31:0";
    ACCUM_HI = 0x54, RO, reset 0, "accumulates, bits 63:32";
    ROWS = 0x58, RO, reset 0, "rows of the array";
    LANES = 0x5C, RO, reset 0, "lanes of the array";
    K_MAX = 0x60, RO, reset 0, "largest K";
    FORMAT = 0x64, RO, reset 0, "widths of the array"
        fields {
            WEIGHT_BITS weight_bits 0, 8, "stored weight bits";
            ACT_BITS act_bits 8, 8, "normal code bits";
            SALIENT_BITS salient_bits 16, 8, "salient code bits";
            OUT_BITS out_bits 24, 8, "fired code bits";
        };
}

/// Value a read-only identification register holds for a configuration.
pub fn reset_value(reg: &Register, d: &Derived) -> u32 {
    let c = &d.config;
    match reg.offset {
        addr::CFG_HASH => d.hash32,
        addr::ROWS => c.rows,
        addr::LANES => c.lanes,
        addr::K_MAX => c.k_max,
        addr::FORMAT => reg.pack(&[
            ("weight_bits", d.weight_bits),
            ("act_bits", c.act_bits),
            ("salient_bits", c.salient_bits),
            ("out_bits", c.out_bits),
        ]),
        _ => reg.reset,
    }
}

/// The register at a byte offset, the one lookup by address.
pub fn register_at(offset: u32) -> Option<&'static Register> {
    REGISTERS.iter().find(|r| r.offset == offset)
}

/// A register's name for messages: `LAYER_K`, or the offset when nothing lives there.
pub fn name_of(offset: u32) -> String {
    register_at(offset).map_or_else(|| format!("{offset:#04x}"), |r| r.name.to_string())
}

/// Checks the map once: aligned, in order, inside the address space, no overlap, no duplicate
/// names, fields inside 32 bits.
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
        if reg.offset % 4 != 0 || reg.offset >> ADDR_BITS != 0 {
            return Err(format!("{} at {:#x} is not a word address below 2^{ADDR_BITS}", reg.name, reg.offset));
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
    fn constants_come_from_the_table() {
        assert_eq!((addr::CTRL, addr::LAYER_K, addr::FORMAT), (0x00, 0x24, 0x64));
        assert_eq!((ctrl::AP_START, ctrl::AP_DONE, ctrl::AP_IDLE, ctrl::AP_READY), (1, 2, 4, 8));
        assert_eq!((err::DESCRIPTOR, err::SALIENT_OVERFLOW, err::CODE_RANGE, err::STREAM), (1, 2, 4, 8));
        let ctrl_reg = register("CTRL").unwrap();
        assert_eq!(ctrl_reg.reset, 0xC);
        assert_eq!(ctrl_reg.field("ap_done").unwrap().mask(), ctrl::AP_DONE);
        assert_eq!(register("ERROR").unwrap().used_bits(), 4);
        assert_eq!(
            (ctrl_reg.prefix, register("ERROR").unwrap().prefix, register("STATUS").unwrap().prefix),
            ("ctrl", "err", "STATUS")
        );
    }

    #[test]
    fn format_packs_the_widths_bytewise() {
        let d = crate::config::tiny();
        let c = &d.config;
        let want = d.weight_bits | c.act_bits << 8 | c.salient_bits << 16 | c.out_bits << 24;
        assert_eq!(reset_value(register("FORMAT").unwrap(), &d), want);
    }

    #[test]
    fn verilog_names_are_unique() {
        let d = crate::config::tiny();
        let consts = verilog_consts(&d);
        let names: std::collections::BTreeSet<_> = consts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), consts.len());
        let get = |n: &str| consts.iter().find(|c| c.name == n).unwrap().value;
        assert_eq!(
            (get("ADDR_LAYER_K"), get("ERR_STREAM"), get("STATUS_PHASE"), get("STATUS_PHASE_BITS")),
            (0x24, 3, 4, 4)
        );
        assert_eq!(get("ID_VALUE"), ID_MAGIC);
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
