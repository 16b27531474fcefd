//! Directed edge cases on every configuration, back-pressure on the streams, a fault injection
//! that the harness must catch, and the builder's cache on a generated design.

mod common;

use rand::rngs::StdRng;
use rand::SeedableRng;
use spikeq_tb::cosim::{CosimOptions, Site};
use spikeq_tb::{cases, Backpressure, Builder, Cosim};

#[test]
fn directed_edge_cases_on_every_configuration() {
    for name in common::CONFIGS {
        let mut cosim = common::cosim(name);
        let cases = cases::directed(cosim.derived());
        assert!(cases.len() >= 5, "{name}: only {} directed cases", cases.len());
        for case in cases {
            let report = cosim.check(&case).unwrap_or_else(|e| panic!("{name} {}: {e}", case.describe()));
            assert!(report.passed(), "{name} {}: {}", case.describe(), report.mismatch.unwrap());
        }
    }
}

#[test]
fn backpressure_loses_and_duplicates_nothing() {
    let seed = common::seed("backpressure");
    for name in common::CONFIGS {
        let mut cosim = common::cosim(name);
        let mut rng = StdRng::seed_from_u64(common::sub_seed(seed, name));
        let k_max = cosim.derived().config.k_max as usize;
        for (i, stall) in [0.3, 0.7, 0.95].into_iter().cycle().take(30).enumerate() {
            let bp =
                Backpressure { seed: common::sub_seed(seed, name) + i as u64, out_stall: stall, in_gap: stall / 2.0 };
            cosim.harness().driver().set_backpressure(Some(bp));
            let case = cases::random(cosim.derived(), &mut rng, k_max);
            let report =
                cosim.check(&case).unwrap_or_else(|e| panic!("{name} seed {seed} call {i} {}: {e}", case.describe()));
            // The cycle counter counts the engine only: stalls on the streams must not change it.
            assert!(
                report.passed(),
                "{name} seed {seed} call {i} (stall {stall}) {}: {}",
                case.describe(),
                report.mismatch.unwrap()
            );
        }
    }
}

#[test]
fn a_wrong_golden_result_is_caught_with_a_trace() {
    let mut cosim = common::cosim("spike_int4");
    let golden = spikeq_hdl::Golden::new(cosim.derived());
    let mut rng = StdRng::seed_from_u64(4);
    let case = cases::random(cosim.derived(), &mut rng, 20);

    // Fault 1: one output element off by one.
    let mut wrong = golden.run_tile(&case.tile(), &case.codes).unwrap();
    let idx = wrong.outputs.len() - 1;
    wrong.outputs[idx] += 1;
    let report = cosim.check_against(&case, wrong).unwrap();
    let m = report.mismatch.expect("a wrong output was not caught");
    assert_eq!(m.site, Site::Output { token: idx / case.m, row: idx % case.m });
    assert_eq!(m.expected, m.actual + 1);
    let fst = report.trace.expect("no FST of the failing run");
    assert!(std::fs::metadata(&fst).map(|md| md.len() > 100).unwrap_or(false), "{} missing or empty", fst.display());
    assert!(m.cycle > 0, "{m}");
    let _ = std::fs::remove_file(&fst);

    // Fault 2: the cycle count off by one.
    let mut wrong = golden.run_tile(&case.tile(), &case.codes).unwrap();
    wrong.counters.cycles += 1;
    let m = cosim.check_against(&case, wrong).unwrap().mismatch.expect("a wrong cycle count was not caught");
    assert_eq!(m.site, Site::Counter("CYCLES"));
    assert!(m.to_string().contains("CYCLES"), "{m}");

    // And the right result still passes afterwards.
    assert!(cosim.check(&case).unwrap().passed());
}

#[test]
fn second_build_of_a_generated_design_is_a_cache_hit() {
    let builder = Builder::new().unwrap();
    let d = common::config("spike_ternary");
    let first = Cosim::new(&builder, &d, CosimOptions::default()).unwrap();
    let second = Cosim::new(&builder, &d, CosimOptions::default()).unwrap();
    assert!(
        second.model().cache_hit(),
        "rebuilt although the design did not change (first hit: {})",
        first.model().cache_hit()
    );
    assert_eq!(first.model().path(), second.model().path());
}

#[test]
fn a_whole_layer_in_chunks_replays_the_code_buffer_on_every_configuration() {
    use spikeq_hdl::{protocol, Case, Golden};
    let seed = common::seed("layer plan");
    for name in common::CONFIGS {
        let mut cosim = common::cosim(name);
        let d = cosim.derived().clone();
        let mut rng = StdRng::seed_from_u64(common::sub_seed(seed, name));
        // 2 buffers and a bit of tokens, 2 row tiles and a bit: RUN, REPLAY, REPLAY per chunk
        let b = d.config.code_buffer_tokens as usize;
        let (m, n) = (2 * d.config.rows as usize + 1, 2 * b + 3);
        let one = cases::random(&d, &mut rng, d.config.k_max as usize);
        let k = one.k.max(d.config.lanes as usize + 1).min(d.config.k_max as usize);
        // Rows and tokens of other random calls, cut or padded to this K: every token differs.
        let (mut weights, mut codes) = (Vec::new(), Vec::new());
        while weights.len() < m * k || codes.len() < n * k {
            let more = cases::random(&d, &mut rng, d.config.k_max as usize);
            for row in more.weights.chunks_exact(more.k) {
                weights.extend((0..k).map(|i| row[i % row.len()]));
            }
            for token in more.codes.chunks_exact(more.k) {
                codes.extend((0..k).map(|i| token.get(i).copied().unwrap_or(0)));
            }
        }
        weights.truncate(m * k);
        codes.truncate(n * k);
        let thresholds = one.thresholds.as_ref().map(|t| (0..m).map(|r| t[r % t.len()]).collect());
        let case = Case { name: "layer in chunks".into(), k, m, mode: one.mode, weights, thresholds, codes };
        let layer = case.layer();
        let want = Golden::new(&d).run_layer(&layer).unwrap();
        let calls = protocol::plan(&d, &layer);
        assert!(calls.iter().any(|c| c.replay), "{name}: the plan replays");
        let (mut out, mut counters, mut error) = (vec![0; n * m], spikeq_hdl::Counters::default(), 0);
        let h = cosim.harness();
        for call in calls {
            let status = protocol::run_call(h, &d, &layer, &call, &mut out).unwrap();
            assert!(!status.failed(), "{name}: {:#x}", status.error);
            counters += status.counters;
            error |= status.error;
        }
        assert_eq!(out, want.outputs, "{name} seed {seed} {}", case.describe());
        assert_eq!(counters, want.counters, "{name} seed {seed}");
        assert_eq!(spikeq_hdl::Flags::from_error_bits(error), want.flags, "{name} seed {seed}");
    }
}
