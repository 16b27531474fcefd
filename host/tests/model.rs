//! The f32 forward on SmolLM2-135M: the reference perplexity, a sensible greedy continuation, and
//! KV-cache decoding agreeing with the batched forward.

mod common;

use spikeq_host::llm::eval;
use spikeq_host::llm::model::generate::{argmax, generate_greedy};
use spikeq_host::llm::model::linear::{F32Linear, LinearExec, LinearId, LinearKind, Weight};
use spikeq_host::llm::model::llama::KvCache;
use spikeq_host::llm::model::ModelError;

fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

#[test]
fn ptb_perplexity_of_the_first_11_windows_matches_the_reference() {
    let (model, tok) = common::model();
    let tokens = tok.encode(&common::ptb_test()).unwrap();
    let mut first = None;
    let total = eval::perplexity(model, &mut F32Linear, &tokens, Some(11), |w| {
        first.get_or_insert(*w);
    })
    .unwrap();
    let first = first.unwrap();
    assert_eq!((first.windows, first.scored), (1, 511));
    assert!(rel(first.ppl(), 88.476) < 1e-3, "first window PPL {}", first.ppl());
    assert_eq!((total.windows, total.scored), (11, 11 * 511));
    assert!(rel(total.ppl(), 73.426) < 1e-3, "11-window PPL {}", total.ppl());
}

#[test]
fn the_capital_of_france_is_paris() {
    let (model, tok) = common::model();
    let prompt = tok.encode("The capital of France is").unwrap();
    let out = generate_greedy(model, &mut F32Linear, &prompt, 8, &[tok.eos()], |_| Ok(())).unwrap();
    let text = tok.decode(&out).unwrap();
    assert!(text.contains("Paris"), "continuation {text:?}");
}

#[test]
fn kv_cache_decoding_matches_the_batched_forward() {
    let (model, tok) = common::model();
    let ids = tok.encode("Penn Treebank sentences are short and plain.").unwrap();
    let (d, vocab) = (model.config().d_model, model.config().vocab);
    let mut cache = KvCache::new(model.config(), ids.len());
    let batched = model.forward(&mut F32Linear, &ids, &mut cache).unwrap();
    cache.clear();
    let mut last = Vec::new();
    for (i, &t) in ids.iter().enumerate() {
        last = model.forward(&mut F32Linear, &[t], &mut cache).unwrap();
        let b = &batched[i * d..(i + 1) * d];
        let worst = last.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-3, "position {i}: hidden states differ by {worst}");
    }
    let mut a = vec![0f32; vocab];
    let mut b = vec![0f32; vocab];
    model.logits(&batched[(ids.len() - 1) * d..], 1, &mut a);
    model.logits(&last, 1, &mut b);
    assert_eq!(argmax(&a), argmax(&b));
    assert!(matches!(model.forward(&mut F32Linear, &ids, &mut cache), Err(ModelError::ContextOverflow { .. })));
}

/// Records every linear call while delegating to f32: the forward must route all 7 × 30 layers
/// through the executor, in order, with each layer's own weight.
#[derive(Default)]
struct Recorder(Vec<(LinearId, usize, usize, usize)>);

impl LinearExec for Recorder {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        self.0.push((id, w.m(), w.k(), n));
        F32Linear.linear(id, w, x, n, y)
    }
}

#[test]
fn every_linear_layer_goes_through_the_executor() {
    let (model, _) = common::model();
    let mut rec = Recorder::default();
    model.forward(&mut rec, &[1, 2, 3], &mut KvCache::new(model.config(), 3)).unwrap();
    let c = model.config();
    assert_eq!(rec.0.len(), 7 * c.n_blocks);
    for (i, (id, m, k, n)) in rec.0.iter().enumerate() {
        assert_eq!(id.block, i / 7);
        assert_eq!(id.kind, LinearKind::ALL[i % 7]);
        let w = model.blocks()[id.block].weight(id.kind);
        assert_eq!((*m, *k, *n), (w.m(), w.k(), 3));
    }
    let err = F32Linear
        .linear(rec.0[0].0, model.blocks()[0].weight(LinearKind::Q), &[0.0; 5], 1, &mut [0.0; 576])
        .unwrap_err();
    assert!(matches!(err, ModelError::Mismatch { .. }), "{err}");
}

#[test]
fn nothing_to_score_is_an_error_not_ppl_nan() {
    let (model, _) = common::model();
    let none = eval::perplexity(model, &mut F32Linear, &[], None, |_| {});
    assert!(matches!(none, Err(ModelError::NoTokens)), "{none:?}");
    let zero_windows = eval::perplexity(model, &mut F32Linear, &[1, 2, 3], Some(0), |_| {});
    assert!(matches!(zero_windows, Err(ModelError::NoTokens)), "{zero_windows:?}");
}

#[test]
fn an_empty_text_file_is_refused_by_the_session() {
    use spikeq_host::session::{Inputs, Session, SessionError};
    let dir = std::env::temp_dir().join(format!("spikeq-empty-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let config = spikeq_host::files::config_file::read(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/default.toml"),
    )
    .unwrap()
    .config;
    let inputs = Inputs {
        text: Some(empty.clone()),
        ..Inputs::new(common::model_path(), config, spikeq_hdl::quant::SalientSelector::None)
    };
    let e = Session::open(inputs).unwrap_err();
    assert!(matches!(&e, SessionError::EmptyText { path, .. } if *path == empty), "{e}");
    std::fs::remove_dir_all(dir).unwrap();
}
