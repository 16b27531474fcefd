//! The fixed port list of every generated top (DESIGN.md "Hardware interface contract"), defined
//! once: the top template declares its ports from [`TOP_PORTS`], the signature lists them, the
//! synthesis harness wires them, and the Verilator shim (`spikeq-tb`) addresses them by [`PortId`].

use serde::Serialize;
use spikeq_hdl::regmap::ADDR_BITS;

/// Direction of a top port, seen from the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Driven from outside (`in` in the signature).
    In,
    /// Driven by the design (`out`).
    Out,
}

/// A port of the top module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Port {
    /// Verilog name.
    pub name: &'static str,
    /// Direction.
    pub dir: Dir,
    /// Width in bits (every port fits 32 bits, so a simulator passes values as `u32`).
    pub width: u32,
    /// Interface the port belongs to (`clock`, `reset`, `s_axi_control`, `s_axis`, `m_axis`,
    /// `interrupt`); Vivado infers an AXI interface from `<interface>_<signal>` names.
    pub interface: &'static str,
}

/// Declares [`PortId`] and [`TOP_PORTS`] from one list, so an id is always its port's index.
macro_rules! top_ports {
    ($( $id:ident $name:literal $dir:ident $width:expr, $interface:literal; )*) => {
        /// Index of a port in [`TOP_PORTS`] (the Verilator shim's set/get functions take it).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        #[allow(missing_docs)] // each variant is the Verilog port of the same name
        pub enum PortId {
            $( $id, )*
        }

        /// Every port of the top, in declaration order.
        pub const TOP_PORTS: &[Port] = &[
            $( Port { name: $name, dir: Dir::$dir, width: $width, interface: $interface }, )*
        ];
    };
}

top_ports! {
    ApClk "ap_clk" In 1, "clock";
    ApRstN "ap_rst_n" In 1, "reset";
    AwValid "s_axi_control_awvalid" In 1, "s_axi_control";
    AwReady "s_axi_control_awready" Out 1, "s_axi_control";
    AwAddr "s_axi_control_awaddr" In ADDR_BITS, "s_axi_control";
    WValid "s_axi_control_wvalid" In 1, "s_axi_control";
    WReady "s_axi_control_wready" Out 1, "s_axi_control";
    WData "s_axi_control_wdata" In 32, "s_axi_control";
    WStrb "s_axi_control_wstrb" In 4, "s_axi_control";
    BValid "s_axi_control_bvalid" Out 1, "s_axi_control";
    BReady "s_axi_control_bready" In 1, "s_axi_control";
    BResp "s_axi_control_bresp" Out 2, "s_axi_control";
    ArValid "s_axi_control_arvalid" In 1, "s_axi_control";
    ArReady "s_axi_control_arready" Out 1, "s_axi_control";
    ArAddr "s_axi_control_araddr" In ADDR_BITS, "s_axi_control";
    RValid "s_axi_control_rvalid" Out 1, "s_axi_control";
    RReady "s_axi_control_rready" In 1, "s_axi_control";
    RData "s_axi_control_rdata" Out 32, "s_axi_control";
    RResp "s_axi_control_rresp" Out 2, "s_axi_control";
    SData "s_axis_tdata" In 32, "s_axis";
    SValid "s_axis_tvalid" In 1, "s_axis";
    SReady "s_axis_tready" Out 1, "s_axis";
    SLast "s_axis_tlast" In 1, "s_axis";
    MData "m_axis_tdata" Out 32, "m_axis";
    MValid "m_axis_tvalid" Out 1, "m_axis";
    MReady "m_axis_tready" In 1, "m_axis";
    MLast "m_axis_tlast" Out 1, "m_axis";
    Interrupt "interrupt" Out 1, "interrupt";
}

impl PortId {
    /// The port's entry in [`TOP_PORTS`].
    pub fn port(self) -> &'static Port {
        &TOP_PORTS[self as usize]
    }
}

/// One line of the top's port list, as the top template writes it.
#[derive(Debug, Serialize)]
pub(crate) struct PortDecl {
    /// Comment that opens the port's interface group (on its first port only).
    pub group: Option<&'static str>,
    /// `input  wire [31:0] s_axis_tdata`, aligned.
    pub decl: String,
}

/// What a group of ports is for, written above its first port.
fn group_comment(interface: &str) -> Option<&'static str> {
    match interface {
        "clock" => Some("clock and reset"),
        "s_axi_control" => Some("AXI4-Lite control slave"),
        "s_axis" => Some("AXI4-Stream in (weights, thresholds, codes)"),
        "m_axis" => Some("AXI4-Stream out (V or fired codes)"),
        "interrupt" => Some("interrupt (ISR & IER, gated by GIE)"),
        _ => None,
    }
}

/// The top's port declarations, in [`TOP_PORTS`] order.
pub(crate) fn declarations() -> Vec<PortDecl> {
    let mut prev = "";
    TOP_PORTS
        .iter()
        .map(|p| {
            let group = if p.interface != prev { group_comment(p.interface) } else { None };
            prev = p.interface;
            let dir = if p.dir == Dir::In { "input" } else { "output" };
            let range = if p.width == 1 { String::new() } else { format!("[{}:0]", p.width - 1) };
            PortDecl { group, decl: format!("{dir:<6} wire {range:<6} {}", p.name) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_the_table() {
        assert_eq!(PortId::ApClk.port().name, "ap_clk");
        assert_eq!(PortId::RData.port().name, "s_axi_control_rdata");
        assert_eq!(PortId::SLast.port().name, "s_axis_tlast");
        assert_eq!(PortId::Interrupt as usize, TOP_PORTS.len() - 1);
        let mut names: Vec<_> = TOP_PORTS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TOP_PORTS.len());
        assert!(TOP_PORTS.iter().all(|p| (1..=32).contains(&p.width)));
    }

    #[test]
    fn declarations_are_aligned() {
        let d = declarations();
        assert_eq!(d[0].decl, "input  wire        ap_clk");
        assert_eq!(d[4].decl, "input  wire [7:0]  s_axi_control_awaddr");
        assert_eq!(d[23].decl, "output wire [31:0] m_axis_tdata");
        assert_eq!(d.iter().filter(|p| p.group.is_some()).count(), 5);
    }
}
