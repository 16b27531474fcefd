//! `verilator --lint-only -Wall` over a sweep of configurations: no warnings, no waivers in the
//! generated files. (`-Wno-SYMRSVDWORD` on the command line only: the fixed top port `interrupt`
//! is a C++ word; nothing is waived inside the files.)

mod common;

use common::*;
use spikeq_hdl::Derived;

fn sweep() -> Vec<Derived> {
    vec![
        config("tiny"),
        config("default"),
        cfg("s1x1", "rows = 1\nlanes = 1\nweight_format = \"int2\"\nk_max = 16\nmax_salient = 2"),
        cfg("s64x1", "rows = 64\nlanes = 1\nweight_format = \"int8\"\nk_max = 32"),
        cfg("s1x64", "rows = 1\nlanes = 64\nweight_format = \"int3\"\nk_max = 128"),
        cfg("s64x64", "rows = 64\nlanes = 64\nweight_format = \"int4\"\nk_max = 128\nmax_salient = 8"),
        cfg("s3x5", "rows = 3\nlanes = 5\nweight_format = \"int5\"\nk_max = 37"),
        cfg("s7x3raw", "rows = 7\nlanes = 3\nweight_format = \"int6\"\noutput_modes = [\"raw\"]"),
        cfg("s5x7fire", "rows = 5\nlanes = 7\nweight_format = \"int7\"\noutput_modes = [\"fire\"]"),
        cfg("tern4", "weight_format = \"ternary\""),
        cfg("bin4", "weight_format = \"binary\""),
        cfg("tern9x13", "rows = 9\nlanes = 13\nweight_format = \"ternary\"\nk_max = 100"),
        cfg("bin13x9", "rows = 13\nlanes = 9\nweight_format = \"binary\"\noutput_modes = [\"raw\"]"),
        cfg("mac4", "pe = \"mac\"\noutput_modes = [\"raw\"]"),
        cfg(
            "mac16",
            "pe = \"mac\"\nrows = 16\nlanes = 16\nweight_format = \"int8\"\nk_max = 256\noutput_modes = [\"raw\"]",
        ),
        cfg("macbin", "pe = \"mac\"\nrows = 3\nlanes = 5\nweight_format = \"binary\"\noutput_modes = [\"raw\"]"),
        cfg("macter", "pe = \"mac\"\nrows = 64\nlanes = 2\nweight_format = \"ternary\"\noutput_modes = [\"raw\"]"),
        cfg("mac44", "pe = \"mac\"\nsalient_bits = 4\noutput_modes = [\"raw\"]"),
        cfg("nosal", "salient_bits = 4"),
        cfg("sal0", "max_salient = 0"),
        cfg("ba2", "act_bits = 2\nsalient_bits = 8\nrows = 6\nlanes = 6"),
        cfg("ba8", "act_bits = 8\nsalient_bits = 8\nweight_format = \"int8\""),
        cfg("ba3bs5", "act_bits = 3\nsalient_bits = 5\nout_bits = 2\nfrac_bits = 0\nrows = 2\nlanes = 3"),
        cfg("sal1", "max_salient = 1\nrows = 2\nlanes = 2"),
        cfg("k1", "rows = 1\nlanes = 1\nk_max = 1\nmax_salient = 1\nact_bits = 2\nweight_format = \"int8\""),
    ]
}

#[test]
fn verilator_lint_sweep_is_clean() {
    require("verilator");
    let configs = sweep();
    assert!(configs.len() >= 20);
    let mut failures = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for d in &configs {
        assert!(names.insert(d.short_hash().to_string()), "two sweep configurations share a hash");
        let design = spikeq_codegen::generate(d).expect("generate");
        let dir = scratch(&format!("lint/{}", d.config.name));
        design.write_to(&dir, true).expect("write");
        let mut cmd = std::process::Command::new("verilator");
        cmd.current_dir(&dir).args(["--lint-only", "-Wall", "-Wno-SYMRSVDWORD", "--top-module", &design.top]);
        for f in design.verilog() {
            assert!(!f.contents.contains("lint_off"), "{}: waiver in a generated file", f.path);
            cmd.arg(&f.path);
        }
        let (ok, text) = run(&mut cmd);
        if !ok || text.contains("%Warning") || text.contains("%Error") {
            failures.push(format!(
                "== {} ({})\n{}",
                d.config.name,
                d.short_hash(),
                text.lines().take(30).collect::<Vec<_>>().join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "lint failed for {} configuration(s):\n{}", failures.len(), failures.join("\n"));
}

/// The synthesis harness (`flow::harness`) is generated Verilog too: lint-clean as the top over
/// the generated modules, for both PE kinds and the smallest and an odd shape.
#[test]
fn synthesis_harness_lints_clean() {
    require("verilator");
    for d in [
        config("tiny"),
        cfg("mac4", "pe = \"mac\"\noutput_modes = [\"raw\"]"),
        cfg("s1x1", "rows = 1\nlanes = 1\nk_max = 16\nmax_salient = 2"),
        cfg("s3x5", "rows = 3\nlanes = 5\nweight_format = \"int5\"\nk_max = 37"),
    ] {
        let design = spikeq_codegen::flow::generate_for_synthesis(&d).expect("generate");
        let top = spikeq_codegen::flow::harness_name(&d);
        let harness =
            design.verilog().find(|f| f.path == format!("{top}.v")).expect("harness file named after its module");
        assert_eq!(harness.contents.matches("\nmodule ").count(), 1, "one module per file");
        let dir = scratch(&format!("lint_harness/{}", d.config.name));
        design.write_to(&dir, true).expect("write");
        let mut cmd = std::process::Command::new("verilator");
        cmd.current_dir(&dir).args(["--lint-only", "-Wall", "-Wno-SYMRSVDWORD", "--top-module", &top]);
        cmd.args(design.verilog().map(|f| f.path.clone()));
        let (ok, text) = run(&mut cmd);
        assert!(
            ok && !text.contains("%Warning") && !text.contains("%Error"),
            "{}: harness lint failed:\n{text}",
            d.config.name
        );
    }
}
