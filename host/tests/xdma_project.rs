//! bitstreams/xdma cannot be built here (no Vivado), so this checks what can be checked without
//! it: the generator's RTL discovery (plain Tcl) run by the real tclsh on freshly generated RTL,
//! the scripts' syntax (`info complete`), that the block design wires exactly the top's interfaces
//! (codegen's TOP_PORTS) with the names Vivado infers AXI interfaces from, and that every port
//! kcu105.xdc constrains is an external port the block design creates.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use spikeq_codegen::TOP_PORTS;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Runs a Tcl program with tclsh (scripts/setup.sh installs it); returns stdout.
fn tclsh(program: &str, dir: &Path) -> String {
    let mut child = Command::new("tclsh")
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("tclsh is not installed: run scripts/setup.sh (Debian package tcl)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(program.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "tclsh failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn tcl_scripts_parse_and_find_the_generated_rtl() {
    let xdma = root().join("bitstreams/xdma");
    for f in ["create_project.tcl", "spikeq_rtl.tcl"] {
        let out = tclsh(&format!("set fh [open {f}]; puts [info complete [read $fh]]"), &xdma);
        assert_eq!(out.trim(), "1", "{f} is not complete Tcl (unbalanced braces or quotes)");
    }
    let text = std::fs::read_to_string(root().join("configs/default.toml")).unwrap();
    let d = spikeq_hdl::Derived::from_toml(&text).unwrap();
    // the RTL of `spikeq synth` (with the harness) must give the same sources as `spikeq gen`'s
    let design = spikeq_codegen::flow::generate_for_synthesis(&d).unwrap();
    let rtl = root().join("target/synth-tests/xdma_rtl");
    let _ = std::fs::remove_dir_all(&rtl);
    design.write_to(&rtl, true).unwrap();
    let out = tclsh(
        &format!(
            "source spikeq_rtl.tcl; set r [spikeq_rtl {{{}}}]; puts [dict get $r top]; puts [dict get $r clock_mhz]; \
             foreach f [dict get $r sources] {{ puts [file tail $f] }}",
            rtl.display()
        ),
        &xdma,
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(design.top.as_str()), "top module");
    assert_eq!(lines.next().map(|s| s.parse::<f64>().unwrap()), Some(d.config.clock_mhz), "clock from manifest.json");
    let found: BTreeSet<&str> = lines.collect();
    let expected: BTreeSet<String> = spikeq_codegen::generate(&d).unwrap().verilog().map(|f| f.path.clone()).collect();
    assert_eq!(found, expected.iter().map(String::as_str).collect(), "sources: the generated modules, not the harness");

    let err = tclsh("source spikeq_rtl.tcl; catch {spikeq_rtl /nonexistent} e; puts $e", &xdma);
    assert!(err.contains("spikeq gen --config"), "a wrong directory says what to run: {err}");
}

#[test]
fn block_design_wires_the_top_ports_and_the_xdc_its_external_ports() {
    let tcl = read("bitstreams/xdma/create_project.tcl");
    // pins of the spikeq cell the block design connects
    let used: BTreeSet<&str> = tcl
        .match_indices("spikeq_0/")
        .map(|(i, _)| tcl[i + 9..].split(|c: char| !c.is_ascii_alphanumeric() && c != '_').next().unwrap())
        .collect();
    let interfaces: BTreeSet<&str> = TOP_PORTS.iter().map(|p| p.interface).collect();
    let names: BTreeSet<&str> = TOP_PORTS.iter().map(|p| p.name).collect();
    for u in &used {
        assert!(
            interfaces.contains(u) || names.contains(u),
            "create_project.tcl uses spikeq_0/{u}, which the top does not have"
        );
    }
    for needed in ["ap_clk", "ap_rst_n", "s_axi_control", "s_axis", "m_axis"] {
        assert!(used.contains(needed), "create_project.tcl does not connect spikeq_0/{needed}");
    }
    // Vivado infers an interface from <interface>_<standard signal name>
    let axi = [
        "awvalid", "awready", "awaddr", "wvalid", "wready", "wdata", "wstrb", "bvalid", "bready", "bresp", "arvalid",
        "arready", "araddr", "rvalid", "rready", "rdata", "rresp",
    ];
    let axis = ["tdata", "tvalid", "tready", "tlast"];
    for p in TOP_PORTS.iter().filter(|p| p.interface.starts_with("s_axi") || p.interface == "m_axis") {
        let signal = p
            .name
            .strip_prefix(&format!("{}_", p.interface))
            .unwrap_or_else(|| panic!("{} lacks its interface prefix", p.name));
        let standard = if p.interface == "s_axi_control" { &axi[..] } else { &axis[..] };
        assert!(standard.contains(&signal), "{}: {signal} is not a standard signal name", p.name);
    }
    assert!(
        tcl.contains("CONFIG.xdma_axi_intf_mm {AXI_Stream}") && tcl.contains("CONFIG.axilite_master_en {true}"),
        "XDMA in AXI-ST mode with the AXI-Lite master"
    );
    for (from, to) in [
        ("xdma_0/M_AXIS_H2C_0", "h2c_width/S_AXIS"),
        ("c2h_width/M_AXIS", "xdma_0/S_AXIS_C2H_0"),
        ("xdma_0/M_AXI_LITE", "axil_sc/S00_AXI"),
    ] {
        assert!(tcl.contains(&format!("[get_bd_intf_pins {from}] [get_bd_intf_pins {to}]")), "{from} -> {to} missing");
    }

    // external ports of the block design, as the wrapper names them
    let mut ports = BTreeSet::new();
    for line in tcl.lines().filter(|l| l.contains("create_bd_port") || l.contains("create_bd_intf_port")) {
        let name = line.split(']').next().unwrap().split_whitespace().last().unwrap().to_string();
        if line.contains("diff_clock_rtl") {
            ports.extend([format!("{name}_clk_p"), format!("{name}_clk_n")]);
        } else if line.contains("pcie_7x_mgt_rtl") {
            ports.extend(["rxp", "rxn", "txp", "txn"].map(|s| format!("{name}_{s}")));
        } else {
            ports.insert(name);
        }
    }
    let xdc = read("bitstreams/xdma/kcu105.xdc");
    let mut constrained = 0;
    for (i, _) in xdc.match_indices("[get_ports ") {
        let pattern = xdc[i + 11..].split(']').next().unwrap().trim_matches(|c| c == '{' || c == '}' || c == ' ');
        let prefix = pattern.trim_end_matches('*');
        assert!(
            ports.iter().any(|p| if pattern.ends_with('*') { p.starts_with(prefix) } else { p == prefix }),
            "kcu105.xdc constrains {pattern}, not a port of the block design {ports:?}"
        );
        constrained += 1;
    }
    assert!(constrained >= 7, "refclk, PERST#, system clock constrained");
    for pin in ["AB6", "AB5", "K22", "G10", "F10"] {
        assert!(xdc.contains(&format!("PACKAGE_PIN {pin}")), "KCU105 pin {pin}");
    }
}
