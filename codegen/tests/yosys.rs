//! yosys elaborates and synthesises configs/tiny.toml for iCE40 with no latch and no error.

mod common;

use std::process::Command;

use common::*;

#[test]
fn tiny_synthesises_for_ice40_without_latches() {
    require("yosys");
    let d = config("tiny");
    let design = spikeq_codegen::generate(&d).unwrap();
    let dir = scratch("yosys_tiny");
    design.write_to(&dir, true).unwrap();
    let files: Vec<String> = design.verilog().map(|f| f.path.clone()).collect();
    let script = format!("read_verilog -sv {}; synth_ice40 -top {}; check -assert; stat", files.join(" "), design.top);
    let (ok, log) = run(Command::new("yosys").current_dir(&dir).args(["-q", "-l", "yosys.log", "-p", &script]));
    let log = std::fs::read_to_string(dir.join("yosys.log")).unwrap_or(log);
    assert!(ok, "yosys failed:\n{}", log.lines().rev().take(40).collect::<Vec<_>>().join("\n"));
    assert!(!log.contains("ERROR"), "yosys reported an error");
    let latches: Vec<&str> = log.lines().filter(|l| l.contains("Latch inferred") || l.contains("$dlatch") || l.contains("SB_LATCH")).collect();
    assert!(latches.is_empty(), "latches inferred:\n{}", latches.join("\n"));
    let luts: u64 = log
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SB_LUT4"))
        .filter_map(|n| n.trim().parse().ok())
        .next_back()
        .expect("stat lists SB_LUT4");
    eprintln!("tiny on iCE40: {luts} LUT4");
    assert!(luts <= 5280, "tiny no longer fits an iCE40 UP5K: {luts} LUT4 > 5280");
}
