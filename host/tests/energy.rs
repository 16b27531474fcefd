//! `spikeq energy` end to end on one PTB test window: the counts it reports follow from the layer
//! shapes and the array's counters, the prices from the Horowitz table, and the Markdown lands
//! between its markers without touching the rest of the file.

mod common;

use std::process::Command;

use serde_json::Value;
use spikeq_host::study::energy::table;

fn spikeq(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spikeq"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("spikeq runs")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

#[test]
fn energy_of_one_window() {
    let doc = std::env::temp_dir().join(format!("spikeq_energy_test_{}.md", std::process::id()));
    std::fs::write(&doc, "# Energy\n\nhand-written prose\n").unwrap();
    let out = spikeq(&["energy", "--windows", "1", "--json", "--update", doc.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).expect("JSON report");

    let labels: Vec<&str> = r["designs"].as_array().unwrap().iter().map(|d| d["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["spike-raw", "spike-fire", "mac-w4a4"]);
    let (raw, fire, mac) = (&r["designs"][0], &r["designs"][1], &r["designs"][2]);
    let positions = 512;
    for d in [raw, fire, mac] {
        assert_eq!(u(&d["positions"]), positions, "one window is 511 text tokens after token 0");
    }

    // The MAC baseline does one multiply per weight per token, whatever the data.
    let c = common::model().0.config().clone();
    let (q, kv) = (c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim);
    let weights = c.n_blocks * (c.d_model * q + 2 * c.d_model * kv + q * c.d_model + 3 * c.d_model * c.d_ffn);
    let outputs = c.n_blocks * (q + 2 * kv + c.d_model + 2 * c.d_ffn + c.d_model);
    assert_eq!(u(&mac["counts"]["multiplies"]), weights as u64 * positions);
    assert_eq!(u(&mac["counts"]["accumulates"]), weights as u64 * positions);
    for d in [raw, fire, mac] {
        assert_eq!(u(&d["counts"]["outputs"]), outputs as u64 * positions);
    }
    // Spike arrays add, never multiply; raw dequantizes twice per output, fire once and fires.
    for d in [raw, fire] {
        assert_eq!(u(&d["counts"]["multiplies"]), 0);
        assert!(u(&d["counts"]["accumulates"]) > 0);
    }
    assert_eq!(u(&raw["counts"]["compares"]), 0);
    assert_eq!(u(&raw["counts"]["dequant_mults"]), 2 * outputs as u64 * positions);
    assert_eq!(u(&fire["counts"]["dequant_mults"]), outputs as u64 * positions);
    assert_eq!(u(&fire["counts"]["membrane_loads"]), outputs as u64 * positions);
    // One compare per spike plus one per output that did not saturate at Qy.
    let failing = u(&fire["counts"]["compares"]) - u(&fire["counts"]["subtracts"]);
    assert!(failing > 0 && failing <= u(&fire["counts"]["membrane_loads"]));

    // Prices: accumulates at the accumulator width, multiplies at the MAC's operand widths.
    let per = positions as f64;
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    let acc_bits = u(&raw["widths"]["acc_bits"]) as u32;
    assert!(close(
        raw["per_token"]["accumulate"].as_f64().unwrap(),
        u(&raw["counts"]["accumulates"]) as f64 / per * table::int_add(acc_bits)
    ));
    assert_eq!(mac["widths"]["multiplier"], serde_json::json!([4, 4]), "a W4A4 baseline");
    assert!(close(mac["per_token"]["multiply"].as_f64().unwrap(), weights as f64 * table::int_mul(4, 4)));

    // Per-kind parts add up to the total, in forward order.
    let kinds: Vec<&str> = raw["per_kind"].as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["q", "k", "v", "o", "gate", "up", "down"]);
    let sum: f64 =
        raw["per_kind"].as_array().unwrap().iter().map(|k| k["energy"]["accumulate"].as_f64().unwrap()).sum();
    assert!((sum - raw["per_token"]["accumulate"].as_f64().unwrap()).abs() < 1e-6 * sum);

    // Ratios are baseline / design, and the claim verdict follows from them.
    let ratios = r["ratios"].as_array().unwrap();
    assert_eq!(ratios.len(), 2);
    let arith = |d: &Value| {
        ["accumulate", "multiply", "fire", "dequant"].iter().map(|p| d["per_token"][p].as_f64().unwrap()).sum::<f64>()
    };
    assert!(close(ratios[0]["arithmetic"].as_f64().unwrap(), arith(mac) / arith(raw)));
    let reached = ratios
        .iter()
        .any(|x| ["arithmetic", "on_chip", "total", "snn_convention"].iter().any(|l| x[l].as_f64().unwrap() >= 4.6));
    assert_eq!(reached, !r["claim_reproduced_at"].as_array().unwrap().is_empty());

    let md = std::fs::read_to_string(&doc).unwrap();
    assert!(
        md.starts_with("# Energy\n\nhand-written prose\n")
            && md.contains("<!-- spikeq:energy:begin")
            && md.contains("| mac-w4a4 | q |"),
        "{md}"
    );
    std::fs::remove_file(&doc).ok();
}

#[test]
fn energy_refuses_bad_arguments_with_a_hint() {
    for (args, hint) in [
        (&["energy", "--windows", "0"][..], "use 1 or more"),
        (&["energy", "--scheme", "f32"][..], "pick quantized schemes"),
    ] {
        let out = spikeq(args);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(hint) && !err.contains("panicked"), "{err}");
    }
}
