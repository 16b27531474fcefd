//! Mixed-precision search: the fast path equals the golden backend on real layers, the search
//! meets a memory budget uniform int8 cannot, resumes from its cache, and never reads the test split.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use spikeq_hdl::quant::{quantize_weights, QuantWeights};
use spikeq_hdl::ArrayConfig;
use spikeq_host::device::{Accelerator, Backend, Transport};
use spikeq_host::llm::model::linear::{LinearExec, LinearId, LinearKind, Weight};
use spikeq_host::llm::model::llama::KvCache;
use spikeq_host::llm::model::ModelError;
use spikeq_host::llm::precision::{Assignment, Precision, DEFAULT_SELECTOR};
use spikeq_host::llm::quant::{QuantExec, Quantization};
use spikeq_host::llm::search::fast::{FakeQuant, WeightCache};
use spikeq_host::llm::search::{self, Constraints, Depth, Evaluator, SearchError, SearchOptions, Setup, Weights};
use spikeq_host::session::{read_calibration_text, PTB_TEST_SHA256};

fn base() -> ArrayConfig {
    ArrayConfig::from_toml(include_str!("../../configs/default.toml")).unwrap()
}

/// Runs each layer through both executors and checks they agree, passing the golden output on.
struct Compare<'a, T: Transport> {
    golden: QuantExec<T>,
    fast: FakeQuant<'a>,
    worst: f32,
}

impl<T: Transport> LinearExec for Compare<'_, T> {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        let mut f = vec![0f32; y.len()];
        self.fast.linear(id, w, x, n, &mut f)?;
        self.golden.linear(id, w, x, n, y)?;
        let scale = y.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let err = y.iter().zip(&f).fold(0f32, |m, (a, b)| m.max((a - b).abs())) / scale;
        self.worst = self.worst.max(err);
        Ok(())
    }
}

/// Runs the f32 model with every layer through the golden executor and the fast path at a mixed
/// assignment with activation clip `act_clip` (the layers of block 0 taking given codes, standing
/// in for GPTQ's, when `given`), and checks that they agree.
fn compare_fast_and_golden(act_clip: f32, given: bool) {
    let (model, tok) = common::model();
    // Mixed: int8/8-bit default, an int6 block, SpikeQuant (int4, 4-bit + 8-bit salient) layers,
    // a ternary layer — all carried by one int8 / 8-bit array.
    let mut a = Assignment::uniform("w8a8".parse().unwrap(), 30);
    for kind in LinearKind::ALL {
        a.set(LinearId { block: 1, kind }, "w6a8".parse().unwrap());
    }
    a.set(LinearId { block: 0, kind: LinearKind::Down }, "w4a4s8".parse().unwrap());
    a.set(LinearId { block: 2, kind: LinearKind::Q }, "w4a4s8".parse().unwrap());
    a.set(LinearId { block: 3, kind: LinearKind::Up }, "wta4s8".parse().unwrap());
    let q = Quantization { act_clip, ..Quantization::mixed(Precision::compact(&a, DEFAULT_SELECTOR)) };
    let d = q.array(&base()).unwrap();
    // Codes other than round-to-nearest's (those of 1.1 W), as GPTQ's are.
    let codes: HashMap<LinearId, QuantWeights> = if given {
        LinearKind::ALL
            .into_iter()
            .map(|kind| {
                let id = LinearId { block: 0, kind };
                let w = model.blocks()[0].weight(kind);
                let scaled: Vec<f32> = w.data().iter().map(|v| v * 1.1).collect();
                (id, quantize_weights(&scaled, w.m(), w.k(), a.get(id).weights))
            })
            .collect()
    } else {
        HashMap::new()
    };
    let golden =
        QuantExec::new(q, Accelerator::connect(&Backend::Golden, &d, Duration::from_secs(5)).unwrap(), None).unwrap();
    let golden = if given { golden.with_weights(codes.clone()) } else { golden };
    let mut cache = WeightCache::with_codes(codes);
    let fast = FakeQuant::new(&a, DEFAULT_SELECTOR, act_clip, &d, &mut cache);
    let mut cmp = Compare { golden, fast, worst: 0.0 };
    let tokens = tok.encode("The company said it expects sales of its new chips to rise sharply next year").unwrap();
    let mut kv = KvCache::new(model.config(), tokens.len());
    model.forward(&mut cmp, &tokens, &mut kv).unwrap();
    assert_eq!(cmp.golden.stats.calls, 210, "every layer compared");
    assert_eq!(cmp.golden.stats.flagged + cmp.fast.flagged, 0, "narrower codes fit the wider array");
    assert!(cmp.golden.stats.salient > 0, "the SpikeQuant layers used salient codes");
    assert!(cmp.worst < 1e-4, "largest difference {} of the output range", cmp.worst);
    // Counts: the fast path reports the same accumulates as the golden device.
    assert_eq!(cmp.fast.counts.accumulates, cmp.golden.stats.counters.accumulates);
}

#[test]
fn fast_path_equals_the_golden_backend_up_to_f32_rounding() {
    compare_fast_and_golden(1.0, false);
}

#[test]
fn fast_path_takes_given_codes_and_the_activation_clip_as_the_golden_backend_does() {
    compare_fast_and_golden(0.8, true);
}

fn options(max_memory: u64) -> SearchOptions {
    SearchOptions {
        ladder: vec!["w8a8".parse().unwrap(), "w4a8".parse().unwrap()],
        constraints: Constraints { max_memory: Some(max_memory), max_ppl: None, max_ppl_increase: Some(0.5) },
        weights: Weights { ppl: 1.0, memory: 1.0, energy: 0.25 },
        depth: Depth::Module,
        module_blocks: 1,
    }
}

fn evaluator<'m>(cache: &Path, max_new: Option<usize>) -> Evaluator<'m> {
    let (model, tok) = common::model();
    let valid = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/ptb/valid.txt");
    let (text, read) = read_calibration_text(&valid).unwrap();
    let segments = search::segments(&tok.encode(&text[..4000]).unwrap(), 24, 1).unwrap();
    let setup = Setup {
        model,
        model_sha256: "test".into(),
        smooth: None,
        rotate: false,
        gptq: None,
        act_clip: 1.0,
        segments,
        text: read,
        selector: DEFAULT_SELECTOR,
        base: base(),
    };
    Evaluator::open(setup, WeightCache::default(), cache, max_new).unwrap()
}

#[test]
fn search_meets_a_budget_int8_cannot_and_resumes_from_its_cache() {
    let dir = std::env::temp_dir().join(format!("spikeq_search_resume_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (model, _) = common::model();
    let int8 = Assignment::uniform("w8a8".parse().unwrap(), 30).memory_bytes(model);
    let budget = int8 * 4 / 5;
    let opts = options(budget);

    // Interrupted after 5 new evaluations: they are on disk.
    let mut ev = evaluator(&dir, Some(5));
    let e = search::search(&mut ev, &opts, &mut |_| {}).unwrap_err();
    assert!(matches!(e, SearchError::Paused { evals: 5, .. }), "{e}");
    let cache_file = ev.cache_path().to_path_buf();
    drop(ev);
    // A torn record (killed mid-write) must not break the rerun.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&cache_file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"key\":\"w8"))
        .unwrap();

    let mut ev = evaluator(&dir, None);
    let r = search::search(&mut ev, &opts, &mut |_| {}).unwrap();
    let mut keys: Vec<String> = r.points.iter().map(|p| p.assignment.key()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(ev.new_evals + 5, keys.len() + 1, "only the points missing from the cache were evaluated (+1: f32)");
    drop(ev);

    let c = r.chosen.expect("a feasible configuration");
    let chosen = &r.points[c];
    assert!(chosen.memory <= budget && chosen.memory < int8, "{} bytes, budget {budget}", chosen.memory);
    assert!(chosen.ppl <= r.ppl_limit.unwrap());
    let all_low = chosen.assignment.blocks.iter().flatten().all(|s| s.to_string() == "w4a8");
    assert!(all_low || r.points.iter().any(|p| p.tier == search::Tier::Module), "all three tiers ran");
    assert!(
        !r.front.is_empty()
            && r.front
                .windows(2)
                .all(|w| r.points[w[0]].memory < r.points[w[1]].memory && r.points[w[0]].ppl > r.points[w[1]].ppl)
    );

    // A third run evaluates nothing and finds the same result.
    let mut ev = evaluator(&dir, Some(0));
    let again = search::search(&mut ev, &opts, &mut |_| {}).unwrap();
    assert_eq!(ev.new_evals, 0);
    assert_eq!(again.chosen, r.chosen);
    assert_eq!(again.points[c].ppl, chosen.ppl);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_search_never_reads_the_test_split() {
    // A private asset folder: PTB valid copied, and test.txt a directory, so any attempt to read
    // it as text fails; the search runs from there and records what it read.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("spikeq_search_split_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("ptb/test.txt")).unwrap();
    let valid = dir.join("ptb/valid.txt");
    std::fs::copy(root.join(".cache/ptb/valid.txt"), &valid).unwrap();
    let spikeq = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_spikeq"))
            .current_dir(&dir)
            .args(args)
            .args([
                "--model",
                common::model_path().to_str().unwrap(),
                "--config",
                root.join("configs/default.toml").to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let out = dir.join("out");
    let o = spikeq(&[
        "search",
        "run",
        "--text",
        valid.to_str().unwrap(),
        "--cache-dir",
        dir.join("cache").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--depth",
        "block",
        "--ladder",
        "w8a8,w4a8",
        "--segments",
        "1",
        "--segment-tokens",
        "16",
        "--max-memory",
        "90M",
        // GPTQ reads PTB valid like the search; off here only to keep the suite short.
        "--gptq",
        "off",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("--rotate on --gptq off --act-clip 0.8"), "a 4-bit ladder gets eval's recipe: {log}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("pareto.json")).unwrap()).unwrap();
    let read = json["texts_read"].as_array().unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["path"], valid.to_str().unwrap());
    assert_ne!(read[0]["sha256"], PTB_TEST_SHA256);
    assert!(std::fs::read_to_string(out.join("precision.toml")).unwrap().contains("default = "));
    assert!(std::fs::read_to_string(out.join("pareto.svg")).unwrap().contains("<svg"));

    // The real test split, under any name, is refused.
    let renamed = dir.join("calib.txt");
    std::fs::copy(root.join(".cache/ptb/test.txt"), &renamed).unwrap();
    let o = spikeq(&[
        "search",
        "run",
        "--text",
        renamed.to_str().unwrap(),
        "--cache-dir",
        dir.join("cache").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is the PTB test split"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The chosen file runs on the golden backend through `spikeq eval --precision`.
    let o = spikeq(&[
        "eval",
        "--precision",
        out.join("precision.toml").to_str().unwrap(),
        "--windows",
        "1",
        "--text",
        root.join(".cache/ptb/test.txt").to_str().unwrap(),
        "--calibration-text",
        valid.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("PPL") && stdout.contains("default_mixed") && !stdout.contains("flagged"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
