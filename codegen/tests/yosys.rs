//! yosys elaborates and synthesises configs/tiny.toml, wrapped in the synthesis harness, for iCE40
//! with the flow's own script (`flow::yosys_script`): no latch, no error, within an UP5K.

mod common;

use std::process::Command;

use common::*;
use spikeq_codegen::flow::{self, Family};

#[test]
fn tiny_synthesises_for_ice40_without_latches() {
    require("yosys");
    let d = config("tiny");
    let design = flow::generate_for_synthesis(&d).unwrap();
    let dir = scratch("yosys_tiny");
    design.write_to(&dir, true).unwrap();
    let files: Vec<String> = design.verilog().map(|f| f.path.clone()).collect();
    let script = flow::yosys_script(Family::Ice40, &files, &flow::harness_name(&d), "stat.json", "netlist.json", false);
    std::fs::write(dir.join("synth.ys"), script).unwrap();
    let (ok, log) = run(Command::new("yosys").current_dir(&dir).args(["-q", "-l", "yosys.log", "-s", "synth.ys"]));
    let log = std::fs::read_to_string(dir.join("yosys.log")).unwrap_or(log);
    assert!(ok, "yosys failed:\n{}", log.lines().rev().take(40).collect::<Vec<_>>().join("\n"));
    assert!(!log.contains("ERROR"), "yosys reported an error");
    let latches: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Latch inferred") || l.contains("$dlatch") || l.contains("SB_LATCH"))
        .collect();
    assert!(latches.is_empty(), "latches inferred:\n{}", latches.join("\n"));
    let stat: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("stat.json")).unwrap()).expect("stat.json");
    let cells = &stat["design"]["num_cells_by_type"];
    let luts = cells["SB_LUT4"].as_u64().expect("stat lists SB_LUT4");
    eprintln!("tiny on iCE40: {luts} LUT4, {} SB_RAM40_4K", cells["SB_RAM40_4K"]);
    assert!(luts <= 5280, "tiny no longer fits an iCE40 UP5K: {luts} LUT4 > 5280");
    assert!(cells["SB_RAM40_4K"].as_u64().unwrap_or(0) >= 8, "the weight memories are no longer block RAM");
    assert!(dir.join("netlist.json").metadata().map(|m| m.len() > 100_000).unwrap_or(false), "no netlist for nextpnr");
}
