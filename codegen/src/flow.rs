//! Synthesis support: the harness that wraps the generated top for yosys and nextpnr, and the yosys
//! scripts of the supported FPGA families. This module only emits text; running the tools is the
//! host's job (`spikeq synth`, `spikeq_host::synth`).
//!
//! Why a harness: the top has 180 pins of AXI ports. Synthesised as the top level they would need
//! as many I/O pads (more than an iCE40 UP5K has) and their pad timing would dominate Fmax. The
//! harness keeps four pins and still lets no logic of the array be optimised away: every top input
//! comes from a shift register fed by one pin, every top output reaches one pin through an XOR.

use serde::{Deserialize, Serialize};
use spikeq_hdl::Derived;
use tera::{Context, Tera};

use crate::{generate, rtl, CodegenError, Design, Dir, GenFile, TOP_PORTS};

/// The pins of the harness, in declaration order.
pub const HARNESS_PINS: [&str; 4] = ["clk", "rst_n", "din", "dout"];

/// FPGA families with a yosys flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Lattice iCE40 (`synth_ice40`, placed and routed by nextpnr-ice40).
    Ice40,
    /// Xilinx 7-series (`synth_xilinx`, yosys estimate; no place and route here).
    Xilinx,
}

impl Family {
    /// Lower-case name, as on the command line and in directory names.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ice40 => "ice40",
            Family::Xilinx => "xilinx",
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Name of the harness module of a configuration.
pub fn harness_name(d: &Derived) -> String {
    format!("spikeq_synth_{}", d.short_hash())
}

/// Total width of the top's data inputs (clock and reset excluded) and of its outputs.
fn io_widths() -> (u32, u32) {
    let data = TOP_PORTS.iter().filter(|p| p.interface != "clock" && p.interface != "reset");
    data.fold((0, 0), |(i, o), p| if p.dir == Dir::In { (i + p.width, o) } else { (i, o + p.width) })
}

/// Flip-flops of the harness itself (reset synchroniser, input shift register, output register,
/// dout): reports include them, so this is what to subtract for the array alone.
pub fn harness_ffs() -> u64 {
    let (iw, ow) = io_widths();
    2 + iw as u64 + ow as u64 + 1
}

#[derive(Serialize)]
struct PortBits {
    name: &'static str,
    bits: String,
}

/// Bit ranges of the harness's input shift register (`ins_q`) and output bus (`outs`) for every
/// data port of the top, in TOP_PORTS order.
fn port_bits() -> Vec<PortBits> {
    let (mut i, mut o) = (0u32, 0u32);
    let mut out = Vec::new();
    for p in TOP_PORTS.iter().filter(|p| p.interface != "clock" && p.interface != "reset") {
        let (bus, at) = if p.dir == Dir::In { ("ins_q", &mut i) } else { ("outs", &mut o) };
        let bits =
            if p.width == 1 { format!("{bus}[{}]", *at) } else { format!("{bus}[{}:{}]", *at + p.width - 1, *at) };
        *at += p.width;
        out.push(PortBits { name: p.name, bits });
    }
    out
}

/// The harness Verilog (`spikeq_synth_<h>.v`, one module) for a configuration.
pub fn harness(d: &Derived) -> Result<GenFile, CodegenError> {
    let mut t = Tera::default();
    t.autoescape_on(vec![]);
    t.add_raw_template("spikeq_synth.v", include_str!("../templates/spikeq_synth.v.tera"))
        .map_err(|e| CodegenError::Template(format!("{e:?}")))?;
    let name = harness_name(d);
    let (iw, ow) = io_widths();
    let mut x = Context::new();
    x.insert("header", &rtl::header(d, &format!("{name}: synthesis harness (4 pins) around the generated top")));
    x.insert("h", d.short_hash());
    x.insert("n_top_pins", &TOP_PORTS.iter().map(|p| p.width).sum::<u32>());
    x.insert("iw", &iw);
    x.insert("ow", &ow);
    x.insert("harness_ffs", &harness_ffs());
    x.insert("ports", &port_bits());
    let text = t.render("spikeq_synth.v", &x).map_err(|e| CodegenError::Template(format!("spikeq_synth.v: {e:?}")))?;
    Ok(GenFile { path: format!("{name}.v"), contents: rtl::tidy(&text) })
}

/// The design of [`generate`] plus the harness: what `spikeq synth` and the bitstream flows compile.
/// `Design::top` stays the accelerator's top; the synthesis top is [`harness_name`].
pub fn generate_for_synthesis(d: &Derived) -> Result<Design, CodegenError> {
    let mut design = generate(d)?;
    design.add_files(vec![harness(d)?]);
    Ok(design)
}

/// The yosys script of a family: read the Verilog files (paths as given), synthesise `top`
/// (flattened), check the netlist, write the cell statistics as JSON to `stat_json` and, for
/// iCE40, the netlist nextpnr reads to `netlist_json`. `no_dsp` keeps multipliers out of DSP
/// blocks (Xilinx `-nodsp`: what a DSP-based design costs in LUTs; the iCE40 flow uses none).
/// iCE40 maps with ABC9 (`-abc9`, timing-driven): on configs/tiny.toml with the protocol-v3 code
/// buffer it gave 3,932 LUT4 where the default mapping gave 4,331, which did not place on the
/// UP5K (5,289 of 5,280 logic cells).
pub fn yosys_script(
    family: Family,
    files: &[String],
    top: &str,
    stat_json: &str,
    netlist_json: &str,
    no_dsp: bool,
) -> String {
    let synth = match family {
        Family::Ice40 => format!("synth_ice40 -abc9 -top {top} -json {netlist_json}"),
        Family::Xilinx => format!("synth_xilinx -flatten{} -top {top}", if no_dsp { " -nodsp" } else { "" }),
    };
    format!("read_verilog -sv {}\n{synth}\ncheck -assert\ntee -q -o {stat_json} stat -json\nstat\n", files.join(" "))
}
