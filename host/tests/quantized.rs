//! SmolLM2's linear layers through the accelerator driver on the golden backend: quantization
//! schemes behave as measured (docs/results.md) and the driver refuses the wrong device.

mod common;

use std::time::Duration;

use spikeq_hdl::quant::SalientSelector;
use spikeq_hdl::{ArrayConfig, OutputMode, PeKind};
use spikeq_host::device::golden::GoldenTransport;
use spikeq_host::device::{Accelerator, Backend};
use spikeq_host::llm::eval;
use spikeq_host::llm::quant::{QuantExec, Quantization, ScaleKind, Scheme};

fn base() -> ArrayConfig {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/default.toml")).unwrap();
    ArrayConfig::from_toml(&text).unwrap()
}

fn quantization(scheme: Scheme) -> Quantization {
    scheme.quantization(SalientSelector::Mad { tau: 6.0 }).unwrap()
}

fn first_window_ppl(scheme: Scheme) -> (f64, spikeq_host::llm::quant::AccelStats) {
    let (model, tok) = common::model();
    let tokens = tok.encode(&common::ptb_test()).unwrap();
    let q = quantization(scheme);
    let d = q.array(&base()).unwrap();
    let mut exec =
        QuantExec::new(q, Accelerator::connect(&Backend::Golden, &d, Duration::from_secs(5)).unwrap(), None).unwrap();
    let p = eval::perplexity(model, &mut exec, &tokens, Some(1), |_| {}).unwrap();
    (p.ppl(), exec.stats)
}

#[test]
fn w8a8_is_close_to_f32_and_spikequant_beats_w4a4() {
    let (w8, stats) = first_window_ppl(Scheme::W8A8);
    // f32 first window: 88.476. Per-row int8 weights and per-token 8-bit codes stay within 5 %.
    assert!(w8 > 88.0 && w8 < 88.476 * 1.05, "w8a8 PPL {w8}");
    assert_eq!(stats.calls, 30 * 7, "every linear layer of the 30 blocks went through the array");
    assert_eq!(stats.flagged, 0);
    let (w4, _) = first_window_ppl(Scheme::W4A4);
    let (sq, sq_stats) = first_window_ppl(Scheme::SpikeQuant);
    assert!(sq < w4, "spikequant PPL {sq} must beat w4a4 {w4}");
    assert!(sq_stats.salient > 0 && sq_stats.salient * 20 < sq_stats.codes, "salient rate stays a few percent");
    assert!(sq_stats.counters.cycles > 0 && sq_stats.counters.accumulates > sq_stats.counters.spikes);
}

#[test]
fn the_driver_refuses_a_device_of_another_configuration() {
    let a = quantization(Scheme::SpikeQuant).array(&base()).unwrap();
    let b = quantization(Scheme::W4A4).array(&base()).unwrap();
    let e = Accelerator::open(GoldenTransport::new(&b), &a).unwrap_err().to_string();
    assert!(e.contains("CFG_HASH") && e.contains("regenerate"), "{e}");
}

#[test]
fn fire_needs_calibration() {
    let q = quantization(Scheme::SpikeQuantFire);
    let d = q.array(&base()).unwrap();
    let acc = Accelerator::open(GoldenTransport::new(&d), &d).unwrap();
    assert!(QuantExec::new(q, acc, None).unwrap_err().to_string().contains("calibrate first"));
}

#[test]
fn a_scheme_is_a_uniform_precision_on_the_array_it_names() {
    // One description: spikequant is w4a4s8 on every layer, raw output, dynamic scales, and the
    // array it derives is the configuration the board and the RTL are generated for.
    let q = quantization(Scheme::SpikeQuant);
    assert_eq!(q.precision.default.to_string(), "w4a4s8");
    assert!(q.precision.settings().len() == 1 && q.scales == ScaleKind::Dynamic);
    let c = q.array_config(&base());
    assert_eq!(
        (c.name.as_str(), c.act_bits, c.salient_bits, c.output_modes.as_slice()),
        ("default_spikequant", 4, 8, &[OutputMode::Raw][..])
    );
    let fire = quantization(Scheme::SpikeQuantFire);
    assert_eq!((fire.mode, fire.scales), (OutputMode::Fire, ScaleKind::Relative));
    assert_eq!(fire.array_config(&base()).name, "default_spikequant_fire");
    assert!(Scheme::F32.quantization(SalientSelector::None).is_none(), "f32 runs no array");
    // A precision file's array is named `mixed`; a MAC base keeps raw output only.
    let mixed = Quantization::mixed(q.precision.clone()).array_config(&base());
    assert_eq!((mixed.name.as_str(), mixed.output_modes.as_slice()), ("default_mixed", &[OutputMode::Raw][..]));
    let mac = ArrayConfig { pe: PeKind::Mac, ..base() };
    assert_eq!(fire.array_config(&mac).output_modes, vec![OutputMode::Raw]);
}
