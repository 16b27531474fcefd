//! The fixed top-level port list of every spikeq array (DESIGN.md "Hardware interface contract").
//!
//! The generator emits exactly these ports; the shim is generated from this table and [`Sim`]
//! addresses a port by its index here, so the table is the one place that knows names and widths.
//!
//! [`Sim`]: crate::Sim

/// Direction of a top port, seen from the design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Driven by the testbench.
    In,
    /// Driven by the design.
    Out,
}

/// One top-level port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    /// Verilog name.
    pub name: &'static str,
    /// Direction.
    pub dir: Dir,
    /// Width in bits (every port fits 32 bits, so values travel as `u32`).
    pub width: u32,
}

const fn p(name: &'static str, dir: Dir, width: u32) -> Port {
    Port { name, dir, width }
}

/// Index of a port in [`PORTS`]; the shim's set/get functions take this index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
#[allow(missing_docs)] // each variant is the Verilog port of the same name
pub enum PortId {
    ApClk,
    ApRstN,
    AwValid,
    AwReady,
    AwAddr,
    WValid,
    WReady,
    WData,
    WStrb,
    BValid,
    BReady,
    BResp,
    ArValid,
    ArReady,
    ArAddr,
    RValid,
    RReady,
    RData,
    RResp,
    SData,
    SValid,
    SReady,
    SLast,
    MData,
    MValid,
    MReady,
    MLast,
    Interrupt,
}

/// Every top port, in [`PortId`] order.
pub const PORTS: [Port; 28] = [
    p("ap_clk", Dir::In, 1),
    p("ap_rst_n", Dir::In, 1),
    p("s_axi_control_awvalid", Dir::In, 1),
    p("s_axi_control_awready", Dir::Out, 1),
    p("s_axi_control_awaddr", Dir::In, 8),
    p("s_axi_control_wvalid", Dir::In, 1),
    p("s_axi_control_wready", Dir::Out, 1),
    p("s_axi_control_wdata", Dir::In, 32),
    p("s_axi_control_wstrb", Dir::In, 4),
    p("s_axi_control_bvalid", Dir::Out, 1),
    p("s_axi_control_bready", Dir::In, 1),
    p("s_axi_control_bresp", Dir::Out, 2),
    p("s_axi_control_arvalid", Dir::In, 1),
    p("s_axi_control_arready", Dir::Out, 1),
    p("s_axi_control_araddr", Dir::In, 8),
    p("s_axi_control_rvalid", Dir::Out, 1),
    p("s_axi_control_rready", Dir::In, 1),
    p("s_axi_control_rdata", Dir::Out, 32),
    p("s_axi_control_rresp", Dir::Out, 2),
    p("s_axis_tdata", Dir::In, 32),
    p("s_axis_tvalid", Dir::In, 1),
    p("s_axis_tready", Dir::Out, 1),
    p("s_axis_tlast", Dir::In, 1),
    p("m_axis_tdata", Dir::Out, 32),
    p("m_axis_tvalid", Dir::Out, 1),
    p("m_axis_tready", Dir::In, 1),
    p("m_axis_tlast", Dir::Out, 1),
    p("interrupt", Dir::Out, 1),
];

impl PortId {
    /// The port's entry in [`PORTS`].
    pub fn port(self) -> &'static Port {
        &PORTS[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_table() {
        assert_eq!(PortId::ApClk.port().name, "ap_clk");
        assert_eq!(PortId::RData.port().name, "s_axi_control_rdata");
        assert_eq!(PortId::SLast.port().name, "s_axis_tlast");
        assert_eq!(PortId::Interrupt as usize, PORTS.len() - 1);
        let mut names: Vec<_> = PORTS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PORTS.len());
        assert!(PORTS.iter().all(|p| (1..=32).contains(&p.width)));
    }

    #[test]
    fn same_ports_as_the_generator_emits() {
        let gen: Vec<_> = spikeq_codegen::TOP_PORTS.iter().map(|p| (p.name, p.dir, p.width)).collect();
        let ours: Vec<_> =
            PORTS.iter().map(|p| (p.name, if p.dir == Dir::In { "in" } else { "out" }, p.width)).collect();
        assert_eq!(ours, gen);
    }
}
