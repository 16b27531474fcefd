//! The host's 4-bit recipe (docs/host.md): Hadamard rotation is an exact reparametrization of the
//! f32 model, GPTQ rounds real layers better than round-to-nearest on the same grid, and nothing
//! that calibrates (smoothing, GPTQ's Hessians, output scales) reads the PTB test split.

mod common;

use std::path::Path;
use std::process::Command;

use spikeq_hdl::quant::{quantize_weights, QuantWeights, SalientSelector};
use spikeq_hdl::{ArrayConfig, WeightFormat};
use spikeq_host::llm::eval;
use spikeq_host::llm::gptq;
use spikeq_host::llm::model::linear::{F32Linear, LinearKind};
use spikeq_host::llm::model::llama::{KvCache, Llama};
use spikeq_host::llm::precision::{LayerSpec, Precision};
use spikeq_host::llm::rotate::rotate;
use spikeq_host::session::{Inputs, Session, SessionError};

fn rotated() -> Llama {
    let (mut model, _) = spikeq_host::llm::model::load(&common::model_path()).unwrap();
    rotate(&mut model).unwrap();
    model
}

fn logits(m: &Llama, tokens: &[u32]) -> Vec<f32> {
    let hidden = m.forward(&mut F32Linear, tokens, &mut KvCache::new(m.config(), tokens.len())).unwrap();
    let mut out = vec![0f32; tokens.len() * m.config().vocab];
    m.logits(&hidden, tokens.len(), &mut out);
    out
}

fn first_window_ppl(m: &Llama) -> f64 {
    let tokens = common::model().1.encode(&common::ptb_test()).unwrap();
    eval::perplexity(m, &mut F32Linear, &tokens, Some(1), |_| {}).unwrap().ppl()
}

#[test]
fn rotation_keeps_the_f32_model() {
    let (plain, tok) = common::model();
    let mut model = rotated();
    assert!(model.output().is_some(), "the folded output gain unties the head from the embedding");
    assert!(model.blocks().iter().all(|b| b.attn_norm.iter().chain(&b.ffn_norm).all(|&g| g == 1.0)));
    let tokens: Vec<u32> =
        std::iter::once(0).chain(tok.encode(&common::ptb_test()).unwrap().into_iter().take(31)).collect();
    let (a, b) = (logits(plain, &tokens), logits(&model, &tokens));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    let scale = a.iter().map(|x| x.abs()).fold(0f32, f32::max);
    assert!(worst < 1e-3 * scale, "rotation changed the f32 logits by {worst} (max |logit| {scale})");
    let (p, r) = (first_window_ppl(plain), first_window_ppl(&model));
    assert!((r / p - 1.0).abs() < 1e-4, "first-window f32 PPL {p} unrotated, {r} rotated");
    assert!(rotate(&mut model).is_err(), "a model is rotated once");
    // The online transform before `down` is part of the function: without it the model breaks.
    model.set_down_input(None);
    let broken = first_window_ppl(&model);
    assert!(broken > 2.0 * p, "without the online transform PPL {broken}, with it {r}");
}

#[test]
fn gptq_rounds_a_real_layer_better_than_round_to_nearest() {
    // Block 3's `down` of the rotated model (int4, Hessian of 2 PTB valid windows): the output
    // error on a third valid window, which the Hessian did not see.
    let model = rotated();
    let tok = &common::model().1;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let valid = tok.encode(&std::fs::read_to_string(root.join(".cache/ptb/valid.txt")).unwrap()).unwrap();
    let spec = LayerSpec { weights: WeightFormat::Int(4), acts: 4, salient: 8 };
    let p = Precision::uniform(spec, SalientSelector::None);
    let h = gptq::hessians(&model, &valid, 2).unwrap();
    let id = spikeq_host::llm::model::linear::LinearId { block: 3, kind: LinearKind::Down };
    let w = model.blocks()[3].weight(LinearKind::Down);
    let g = gptq::quantize_layer(w, h.get(id).unwrap(), p.spec(id).weights).unwrap();
    let rtn = quantize_weights(w.data(), w.m(), w.k(), WeightFormat::Int(4));
    assert!(g.codes.iter().all(|&c| (-7..=7).contains(&c)), "codes on the int4 grid");
    let held_out = gptq::hessians(&model, &valid[2 * eval::WINDOW_TEXT_TOKENS..], 1).unwrap();
    let hx = held_out.get(id).unwrap();
    // Σ over rows of dᵀ H d, d = w - codes · scale: the output error on the held-out tokens.
    let k = w.k();
    let err = |q: &QuantWeights| -> f64 {
        (0..w.m())
            .map(|m| {
                let d: Vec<f64> = (0..k)
                    .map(|j| f64::from(w.row(m)[j]) - f64::from(q.codes[m * k + j]) * f64::from(q.scales[m]))
                    .collect();
                hx.chunks_exact(k)
                    .zip(&d)
                    .map(|(hr, di)| di * hr.iter().zip(&d).map(|(a, b)| a * b).sum::<f64>())
                    .sum::<f64>()
            })
            .sum()
    };
    let (eg, er) = (err(&g), err(&rtn));
    // Measured: 2,435 against 3,352 (-27 %); on the tokens it was fitted to GPTQ gains more.
    assert!(eg < 0.85 * er, "GPTQ output error {eg} is not well below round-to-nearest {er}");
}

#[test]
fn calibration_never_reads_the_test_split() {
    // The library refuses the test split as calibration text, whatever its name.
    let dir = std::env::temp_dir().join(format!("spikeq_recipe_split_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("ptb")).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let disguised = dir.join("ptb/valid.txt");
    std::fs::copy(root.join(".cache/ptb/test.txt"), &disguised).unwrap();
    let text = std::fs::read_to_string(root.join("configs/default.toml")).unwrap();
    let inputs = Inputs {
        calibration: Some(disguised.clone()),
        rotate: true,
        gptq: Some(1),
        ..Inputs::new(common::model_path(), ArrayConfig::from_toml(&text).unwrap(), SalientSelector::None)
    };
    assert!(matches!(Session::open(inputs), Err(SessionError::TestSplit { .. })));
    // `spikeq eval` calibrates (smoothing, GPTQ, output scales) on --calibration-text: given the
    // test split under another name, every recipe refuses to run.
    std::fs::copy(root.join(".cache/ptb/test.txt"), dir.join("ptb/test.txt")).unwrap();
    for extra in
        [&["--scheme", "spikequant"][..], &["--scheme", "spikequant-fire", "--gptq", "off"], &["--scheme", "w8a8"]]
    {
        let o = Command::new(env!("CARGO_BIN_EXE_spikeq"))
            .args(["eval", "--windows", "1", "--text", dir.join("ptb/test.txt").to_str().unwrap()])
            .args(["--calibration-text", disguised.to_str().unwrap()])
            .args(extra)
            .args(["--model", common::model_path().to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains("is the PTB test split"), "{extra:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
