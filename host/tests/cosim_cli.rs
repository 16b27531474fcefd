//! `spikeq cosim --long N`: the long cosimulation covers the whole sweep of configurations, and
//! its lines reach a log. stdout is a pipe here, as in CI: the lines printed while the progress
//! bar runs (per-configuration results, and FAIL lines, which go through the same path) used to
//! be dropped when the bar was hidden.

use std::process::Command;

#[test]
fn long_cosim_runs_every_sweep_configuration_and_prints_to_a_pipe() {
    let out = Command::new(env!("CARGO_BIN_EXE_spikeq"))
        .args(["cosim", "--long", "24", "--seed", "3"])
        .output()
        .expect("spikeq runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let configs = spikeq_tb::sweep::configs();
    for d in &configs {
        let line = format!("config {}: 2 passed, 0 failed (", d.config.name);
        assert!(stdout.lines().any(|l| l.starts_with(&line)), "missing {line:?} in:\n{stdout}");
    }
    assert_eq!(stdout.lines().last(), Some("24 passed, 0 failed"), "{stdout}");
}

#[test]
fn cosim_needs_a_config_or_long() {
    let out = Command::new(env!("CARGO_BIN_EXE_spikeq")).args(["cosim"]).output().expect("spikeq runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--config") && stderr.contains("--long"), "{stderr}");
}
