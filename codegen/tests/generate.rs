//! Determinism, hashing of names, the committed golden RTL of configs/tiny.toml, and the output
//! directory rules of `Design::write_to`.

mod common;

use common::*;
use spikeq_codegen::{generate, testbench, MANIFEST, SIGNATURE};

#[test]
fn generation_is_byte_identical_twice() {
    for d in [config("tiny"), config("default"), cfg("mac_det", "pe = \"mac\"\noutput_modes = [\"raw\"]")] {
        let a = generate(&d).unwrap();
        let b = generate(&d).unwrap();
        assert_eq!(a.files, b.files, "{}: generation is not deterministic", d.config.name);
        let ta = testbench::generate(&d, &Default::default()).unwrap();
        let tb = testbench::generate(&d, &Default::default()).unwrap();
        assert_eq!(ta, tb, "{}: testbench generation is not deterministic", d.config.name);
    }
}

#[test]
fn changed_configuration_changes_hash_and_names() {
    let a = config("tiny");
    let mut c = a.config.clone();
    c.frac_bits += 1;
    let b = c.validate().unwrap();
    assert_ne!(a.hash, b.hash);
    let (da, db) = (generate(&a).unwrap(), generate(&b).unwrap());
    assert_ne!(da.top, db.top);
    for (fa, fb) in da.verilog().zip(db.verilog()) {
        assert_ne!(fa.path, fb.path);
        assert!(fa.contents.contains(a.short_hash()) && !fa.contents.contains(b.short_hash()));
    }
}

#[test]
fn every_file_is_one_module_named_after_it() {
    for d in [config("tiny"), cfg("mac_names", "pe = \"mac\"\noutput_modes = [\"raw\"]")] {
        let design = generate(&d).unwrap();
        assert_eq!(design.top, format!("spikeq_top_{}", d.short_hash()));
        for f in design.verilog() {
            let modules: Vec<&str> = f.contents.lines().filter_map(|l| l.strip_prefix("module ")).collect();
            assert_eq!(modules.len(), 1, "{}", f.path);
            let name = modules[0].split([' ', '(']).next().unwrap();
            assert_eq!(format!("{name}.v"), f.path);
            assert!(name.ends_with(d.short_hash()));
            assert!(f.contents.contains("`default_nettype none"));
            assert!(f.contents.contains(&d.hash), "header states the configuration hash");
            assert!(f.contents.contains(spikeq_codegen::GENERATOR_VERSION));
        }
        let sig: serde_json::Value =
            serde_json::from_str(&design.files.iter().find(|f| f.path == SIGNATURE).unwrap().contents).unwrap();
        assert_eq!(sig["regmap_fingerprint"], format!("{:08x}", spikeq_hdl::regmap::fingerprint()));
        assert_eq!(sig["ports"].as_array().unwrap().len(), spikeq_codegen::TOP_PORTS.len());
    }
}

#[test]
fn committed_tiny_rtl_is_current() {
    let design = generate(&config("tiny")).unwrap();
    let dir = root().join("codegen/golden/tiny");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut stale = Vec::new();
    for f in &design.files {
        let path = dir.join(&f.path);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(f.contents.as_str()) {
            stale.push(f.path.clone());
        }
    }
    let on_disk: Vec<String> = std::fs::read_dir(&dir)
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let extra: Vec<&String> = on_disk.iter().filter(|n| !design.files.iter().any(|f| &f.path == *n)).collect();
    if (stale.is_empty() && extra.is_empty()) || update {
        if update {
            design.write_to(&dir, true).unwrap();
        }
        return;
    }
    panic!(
        "codegen/golden/tiny is stale ({stale:?} differ, {extra:?} extra): regenerate with\n  \
         UPDATE_GOLDEN=1 cargo test --release -p spikeq-codegen --test generate committed_tiny_rtl_is_current\n\
         (or `spikeq gen --config configs/tiny.toml --out codegen/golden/tiny`) and commit the result"
    );
}

/// The RTL with what may depend on the sizes taken out: the module hash, comments, and the
/// declarations of the named constants.
fn without_sizes(d: &spikeq_hdl::Derived) -> Vec<String> {
    let design = generate(d).unwrap();
    let mut lines = Vec::new();
    for f in design.verilog() {
        for line in f.contents.lines() {
            let code = line.split("//").next().unwrap().trim_end();
            let decl = ["parameter ", "localparam "].iter().any(|p| code.trim_start().starts_with(p));
            if !code.is_empty() && !decl {
                lines.push(code.replace(d.short_hash(), "<h>"));
            }
        }
    }
    lines
}

#[test]
fn sizes_are_named_constants_not_literals() {
    // tiny and a larger array of the same kind (rows, lanes, K, weight and threshold widths all
    // change): once the constants' declarations are set aside, the Verilog is the same text.
    let small = config("tiny");
    let mut c = small.config.clone();
    // 2 lanes and int2 (16 weights per stream word): LOAD's and the code receiver's chunks are a
    // whole lane group in both, as in tiny (4 lanes, int4): the same variant of the hardware.
    (c.rows, c.lanes, c.k_max, c.m_max, c.frac_bits) = (8, 2, 128, 128, 5);
    c.weight_format = "int2".parse().unwrap();
    let large = c.validate().unwrap();
    assert_ne!((small.acc_bits, small.k_index_bits), (large.acc_bits, large.k_index_bits));
    let (a, b) = (without_sizes(&small), without_sizes(&large));
    let first = a.iter().zip(&b).position(|(x, y)| x != y);
    assert!(first.is_none() && a.len() == b.len(), "first difference: {:?}", first.map(|i| (&a[i], &b[i])));
}

#[test]
fn write_to_refuses_foreign_directories() {
    let d = config("tiny");
    let design = generate(&d).unwrap();
    let dir = scratch("write_to");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let e = design.write_to(&dir, false).unwrap_err();
    assert!(e.to_string().contains("--force"), "{e}");
    design.write_to(&dir, true).unwrap();
    assert!(dir.join(MANIFEST).exists());
    // our own directory may be regenerated without --force
    design.write_to(&dir, false).unwrap();
    let empty = scratch("write_to_empty");
    design.write_to(&empty, false).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(empty.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest["top"], design.top);
    assert_eq!(manifest["config_hash"], d.hash);
    assert_eq!(manifest["files"].as_array().unwrap().len(), design.files.len() - 1);
}
