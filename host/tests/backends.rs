//! A full SmolLM2 forward (all 30 blocks, 16 tokens) with its linear layers computed by the
//! generated RTL in Verilator gives logits bit-identical to the golden backend, directly and
//! through the XDMA transport against the virtual board (`spikeq board`). The two tests run in
//! parallel (one core each).

mod common;

use std::time::Duration;

use spikeq_hdl::quant::SalientSelector;
use spikeq_hdl::ArrayConfig;
use spikeq_host::device::{Accelerator, Backend};
use spikeq_host::llm::model::llama::KvCache;
use spikeq_host::llm::quant::{QuantExec, Scheme};

fn logits(backend: &Backend, tokens: &[u32]) -> (Vec<f32>, u64, u64) {
    let (model, _) = common::model();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/default.toml")).unwrap();
    let q = Scheme::SpikeQuant.quantization(SalientSelector::Mad { tau: 6.0 }).unwrap();
    let d = q.array(&ArrayConfig::from_toml(&text).unwrap()).unwrap();
    let timeout = Duration::from_secs(600);
    let mut exec = QuantExec::new(q, Accelerator::connect(backend, &d, timeout).unwrap(), None).unwrap();
    let mut cache = KvCache::new(model.config(), tokens.len());
    let out = model.forward(&mut exec, tokens, &mut cache).unwrap();
    (out, exec.stats.counters.cycles, exec.stats.calls)
}

fn window() -> Vec<u32> {
    let (_, tok) = common::model();
    let mut tokens = vec![0u32];
    tokens.extend(tok.encode(&common::ptb_test()).unwrap().into_iter().take(15));
    tokens
}

fn assert_equal_to_golden(backend: &Backend) {
    let tokens = window();
    let (golden, g_cycles, calls) = logits(&Backend::Golden, &tokens);
    let (rtl, r_cycles, _) = logits(backend, &tokens);
    assert_eq!(calls, 30 * 7);
    assert_eq!(golden.len(), rtl.len());
    let diff = golden.iter().zip(&rtl).position(|(a, b)| a.to_bits() != b.to_bits());
    assert!(diff.is_none(), "first differing logit at {diff:?}");
    assert_eq!(g_cycles, r_cycles, "cycle counters of the RTL equal the golden model's");
}

#[test]
fn verilator_logits_equal_golden_logits() {
    assert_equal_to_golden(&Backend::Verilator);
}

#[test]
fn xdma_on_the_virtual_board_logits_equal_golden_logits() {
    let dir = common::board::mount_dir("forward");
    let _board =
        common::board::BoardProcess::start("configs/default.toml", Some("spikequant"), &dir, Duration::from_secs(900));
    assert_equal_to_golden(&Backend::Xdma(dir.clone()));
}
