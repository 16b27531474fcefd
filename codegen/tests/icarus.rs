//! The generated self-checking testbench passes under Icarus on several configurations (random and
//! edge-case vectors from the golden model, cycle-exact counters), and fails when an expected value
//! is corrupted.

mod common;

use std::process::Command;

use common::*;
use spikeq_codegen::testbench::{self, TbOptions};
use spikeq_hdl::Derived;

/// Generates RTL + testbench into a scratch dir and runs it; returns the simulator's output.
fn run_tb(d: &Derived, o: &TbOptions, corrupt: bool) -> String {
    require("iverilog");
    require("vvp");
    let mut design = spikeq_codegen::generate(d).expect("generate");
    design.add_files(testbench::generate(d, o).expect("testbench"));
    let dir = scratch(&format!("icarus/{}{}", d.config.name, if corrupt { "_corrupt" } else { "" }));
    design.write_to(&dir, true).expect("write");
    if corrupt {
        // flip one expected register/output word near the middle
        let path = dir.join("tb/expect.hex");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let data: Vec<usize> = (0..lines.len()).filter(|&i| !lines[i].starts_with("//")).collect();
        let i = data[data.len() / 2];
        let v = u32::from_str_radix(&lines[i], 16).unwrap() ^ 0x0000_0010;
        lines[i] = format!("{v:08x}");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }
    let tb = format!("spikeq_tb_{}", d.short_hash());
    let mut cmd = Command::new("iverilog");
    cmd.current_dir(&dir).args(["-g2012", "-o", "tb/sim", "-s", &tb, &format!("tb/{tb}.sv")]);
    for f in design.verilog() {
        cmd.arg(&f.path);
    }
    let (ok, text) = run(&mut cmd);
    assert!(ok, "iverilog failed for {}:\n{text}", d.config.name);
    let (_, text) = run(Command::new("vvp").current_dir(&dir).args(["-n", "tb/sim", "+dir=tb"]));
    text
}

fn assert_pass(d: &Derived, o: &TbOptions) {
    let text = run_tb(d, o, false);
    assert!(
        text.lines().any(|l| l.trim() == "PASS"),
        "{} ({}): testbench did not pass:\n{text}",
        d.config.name,
        d.short_hash()
    );
}

#[test]
fn tiny_passes() {
    assert_pass(&config("tiny"), &TbOptions { seed: 7, random_cases: 4, ..Default::default() });
}

#[test]
fn default_passes_with_small_vectors() {
    assert_pass(&config("default"), &TbOptions { seed: 3, random_cases: 2, k_limit: 48, tokens: 2 });
}

#[test]
fn mac_baseline_passes() {
    let d = cfg("mac_tb", "pe = \"mac\"\nrows = 3\nlanes = 5\noutput_modes = [\"raw\"]");
    assert_pass(&d, &TbOptions { seed: 11, ..Default::default() });
}

#[test]
fn ternary_and_binary_pass() {
    assert_pass(
        &cfg("tern_tb", "weight_format = \"ternary\"\nrows = 5\nlanes = 3"),
        &TbOptions { seed: 5, ..Default::default() },
    );
    assert_pass(
        &cfg("bin_tb", "weight_format = \"binary\"\nrows = 3\nlanes = 6"),
        &TbOptions { seed: 6, ..Default::default() },
    );
}

#[test]
fn odd_shapes_pass() {
    for (name, extra) in [
        ("odd_1x1", "rows = 1\nlanes = 1\nk_max = 9\nmax_salient = 2\nweight_format = \"int2\""),
        ("odd_ba2", "act_bits = 2\nrows = 6\nlanes = 7\nmax_salient = 3"),
        ("odd_nosal", "salient_bits = 4\nrows = 2\nlanes = 3\nweight_format = \"int8\""),
        ("odd_sal0", "max_salient = 0\nrows = 3\nlanes = 2"),
        ("odd_mac_bin", "pe = \"mac\"\nweight_format = \"binary\"\nrows = 2\nlanes = 3\noutput_modes = [\"raw\"]"),
    ] {
        assert_pass(&cfg(name, extra), &TbOptions { seed: 9, random_cases: 2, k_limit: 40, tokens: 2 });
    }
}

#[test]
fn corrupted_expectation_fails() {
    let d = config("tiny");
    let text = run_tb(&d, &TbOptions { seed: 7, random_cases: 1, ..Default::default() }, true);
    assert!(
        text.lines().any(|l| l.trim() == "FAIL 1 mismatches"),
        "a corrupted expect.hex must make the testbench fail:\n{text}"
    );
}
