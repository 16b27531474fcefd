//! `spikeq cosim`: runs random tile calls through the Verilator model of a configuration and the
//! golden model and compares every output, counter and error flag; and `spikeq bench cosim`:
//! simulated clock cycles per second under Verilator and Icarus on the same vectors.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};
use rand::rngs::StdRng;
use rand::SeedableRng;
use spikeq_codegen::testbench::TbOptions;
use spikeq_hdl::{Derived, OutputMode};
use spikeq_host::files::config_file;
use spikeq_tb::cosim::CosimOptions;
use spikeq_tb::{cases, program, sweep, BuildOptions, Builder, Cosim, Driver, Sim};

use super::args::ConfigArg;
use super::progress;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("calls").required(true).args(["config", "long"])))]
pub struct CosimArgs {
    /// Array configuration.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Random tile calls (LOAD + RUN) to check.
    #[arg(long, default_value_t = 100, conflicts_with = "long")]
    layers: usize,
    /// Long cosimulation: N random calls spread evenly over the sweep of configurations
    /// (every weight format, both PE kinds, both output modes, act/salient width extremes).
    #[arg(long, value_name = "N", conflicts_with = "trace")]
    long: Option<usize>,
    /// Seed of the random calls (default: from the clock; printed first either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Record the whole session into this FST (view with gtkwave); failing calls then refer to it.
    #[arg(long)]
    trace: Option<PathBuf>,
}

pub fn run(a: CosimArgs) -> Result<()> {
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    println!("seed {seed} (reproduce with --seed {seed})");
    let (configs, calls) = match (&a.config, a.long) {
        (Some(path), _) => (vec![config_file::read(path)?], a.layers),
        (None, long) => (sweep::configs(), long.context("give --config FILE, or --long N for the sweep")?),
    };
    let builder = Builder::new()?;
    let t_start = Instant::now();
    if a.long.is_some() {
        println!("long cosimulation: {calls} calls over {} configurations", configs.len());
    }
    let bar = progress::bar(calls as u64, "calls");
    // Lines that must reach logs go through `suspend`: `bar.println` prints nothing when the bar
    // is hidden (stderr not a terminal), which is how FAIL lines used to vanish from CI logs.
    let say = |line: String| bar.suspend(|| println!("{line}"));
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut passed, mut failed, mut call) = (0usize, 0usize, 0usize);
    for (ci, d) in configs.iter().enumerate() {
        // Calls spread evenly; the first `calls % n` configurations take one more.
        let share = calls / configs.len() + usize::from(ci < calls % configs.len());
        let t0 = Instant::now();
        let opts = CosimOptions { trace: a.trace.clone(), ..Default::default() };
        let mut cosim = Cosim::new(&builder, d, opts)
            .with_context(|| format!("building the Verilator model of {}", d.config.name))?;
        say(format!(
            "config {} ({}), model {} ({} in {:.1} s), {share} calls",
            d.config.name,
            d.short_hash(),
            cosim.model().prefix(),
            if cosim.model().cache_hit() { "cache hit" } else { "built" },
            t0.elapsed().as_secs_f64(),
        ));
        let k_max = d.config.k_max as usize;
        let failed_before = failed;
        // What the calls exercised: salient budget overflows, out-of-range codes, saturated fires.
        let (mut overflow, mut range, mut saturated) = (0usize, 0usize, 0usize);
        for _ in 0..share {
            let case = cases::random(d, &mut rng, k_max);
            let checked = cosim.check(&case);
            if let Ok(r) = &checked {
                overflow += usize::from(r.expected.flags.salient_overflow);
                range += usize::from(r.expected.flags.code_range);
                saturated +=
                    usize::from(case.mode == OutputMode::Fire && r.expected.outputs.iter().any(|v| v.abs() == d.qy));
            }
            let fail = match checked {
                Ok(r) if r.passed() => None,
                Ok(r) => {
                    let m = r.mismatch.map(|m| m.to_string()).unwrap_or_default();
                    let fst = r
                        .trace
                        .or_else(|| a.trace.clone())
                        .map(|p| format!(" (FST: {})", p.display()))
                        .unwrap_or_default();
                    Some(format!("{m}{fst}"))
                }
                Err(e) => Some(e.to_string()),
            };
            match fail {
                None => passed += 1,
                Some(why) => {
                    failed += 1;
                    say(format!("FAIL call {call} config {} {}: {why}", d.config.name, case.describe()));
                }
            }
            call += 1;
            bar.set_message(format!("{failed} failed"));
            bar.inc(1);
        }
        cosim.finish();
        if configs.len() > 1 {
            let f = failed - failed_before;
            say(format!(
                "config {}: {} passed, {f} failed (salient overflow in {overflow} calls, code out of range in {range}, fire saturated in {saturated})",
                d.config.name,
                share - f
            ));
        }
    }
    bar.finish_and_clear();
    if let Some(p) = &a.trace {
        println!("trace: {} (gtkwave {})", p.display(), p.display());
    }
    if a.long.is_some() {
        println!("{calls} calls over {} configurations in {:.1} s", configs.len(), t_start.elapsed().as_secs_f64());
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        // The summary must stay the last line (CI reads it); the exit code carries the failure.
        std::process::exit(1);
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Random tiles per output mode in the generated testbench program.
    #[arg(long, default_value_t = 4)]
    cases: usize,
    /// Largest K of the vectors.
    #[arg(long, default_value_t = 256)]
    k_limit: u32,
    /// Seed of the vectors.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// C++ optimisation level of the Verilated model (the builder's default is 1).
    #[arg(long, default_value_t = BuildOptions::default().opt_level)]
    cxx_opt: u32,
}

/// Replays the program under Verilator until at least `min_secs` have passed; returns
/// (cycles, seconds, replays).
fn verilator_rate(
    builder: &Builder,
    d: &Derived,
    opts: BuildOptions,
    stim: &[u32],
    expect: &[u32],
    min_secs: f64,
) -> Result<(u64, f64, usize)> {
    let model = builder.build(&spikeq_tb::cosim::rtl_of(d)?, opts)?;
    let mut drv = Driver::new(Sim::new(model));
    let (mut cycles, mut reps) = (0u64, 0usize);
    let start = Instant::now();
    while reps == 0 || start.elapsed().as_secs_f64() < min_secs {
        drv.reset();
        let c0 = drv.cycles();
        let r = program::replay(&mut drv, stim, expect)?;
        if let Some((i, got, want)) = r.first {
            bail!("Verilator disagrees with expect.hex: {} mismatches, first at word {i}: got {got:08x}, expected {want:08x}", r.mismatches);
        }
        cycles += drv.cycles() - c0;
        reps += 1;
    }
    Ok((cycles, start.elapsed().as_secs_f64(), reps))
}

/// Compiles and runs the generated Icarus testbench; returns (cycles, seconds of `vvp`). A probe
/// module compiled beside it prints the testbench's cycle counter from a `final` block, since
/// Icarus does not report the time at `$finish` (the generated testbench stays untouched).
fn icarus_rate(dir: &Path, module: &str) -> Result<(u64, f64)> {
    let probe = "spikeq_bench_probe";
    let probe_file = format!("tb/{probe}.v");
    std::fs::write(
        dir.join(&probe_file),
        format!("module {probe};\n    final $display(\"spikeq-bench cycles %0d\", {module}.cyc);\nendmodule\n"),
    )?;
    let status = Command::new("iverilog")
        .current_dir(dir)
        .args(["-g2012", "-o", "tb/sim", "-s", module, "-s", probe, &format!("tb/{module}.sv"), &probe_file])
        .args(
            std::fs::read_dir(dir)?
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| n.to_string_lossy().ends_with(".v")),
        )
        .status()
        .context("iverilog not found: scripts/setup.sh installs it")?;
    anyhow::ensure!(status.success(), "iverilog failed on the generated testbench");
    let start = Instant::now();
    let out =
        Command::new("vvp").current_dir(dir).args(["-n", "tb/sim", "+dir=tb"]).output().context("vvp not found")?;
    let secs = start.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(text.lines().any(|l| l.trim() == "PASS"), "the Icarus testbench did not pass:\n{text}");
    let cycles = text
        .lines()
        .find_map(|l| l.strip_prefix("spikeq-bench cycles ")?.trim().parse().ok())
        .context("the probe did not print the testbench's cycle count")?;
    Ok((cycles, secs))
}

pub fn bench(a: BenchArgs) -> Result<()> {
    let d = a.config.read()?;
    let mut design = spikeq_codegen::generate(&d)?;
    let tb = spikeq_codegen::testbench::generate(
        &d,
        &TbOptions { seed: a.seed, random_cases: a.cases, k_limit: a.k_limit, ..Default::default() },
    )?;
    let hex = |name: &str| -> Result<Vec<u32>> {
        let f = tb.iter().find(|f| f.path == name).with_context(|| format!("the generator wrote no {name}"))?;
        Ok(program::parse_hex(&f.contents)?)
    };
    let (stim, expect) = (hex("tb/stim.hex")?, hex("tb/expect.hex")?);
    let module = format!("spikeq_tb_{}", d.short_hash());
    design.add_files(tb);
    let dir = std::env::temp_dir().join(format!("spikeq-bench-cosim-{}", std::process::id()));
    design.write_to(&dir, true)?;
    println!(
        "config {} ({}), {} stimulus words, {} expected words, seed {}",
        d.config.name,
        d.short_hash(),
        stim.len(),
        expect.len(),
        a.seed
    );

    let builder = Builder::new()?;
    let opts = BuildOptions { opt_level: a.cxx_opt, ..Default::default() };
    let t0 = Instant::now();
    let model = builder.build(&spikeq_tb::cosim::rtl_of(&d)?, opts)?;
    let how = if model.cache_hit() { "cache hit" } else { "built" };
    println!("verilator model (C++ -O{}): {how} in {:.1} s", a.cxx_opt, t0.elapsed().as_secs_f64());
    let (vc, vs, reps) = verilator_rate(&builder, &d, opts, &stim, &expect, 2.0)?;
    let (ic, is) = icarus_rate(&dir, &module)?;
    let _ = std::fs::remove_dir_all(&dir);
    let (vr, ir) = (vc as f64 / vs, ic as f64 / is);
    println!("verilator: {vc} cycles ({reps} replays) in {vs:.2} s = {vr:.0} cycles/s");
    println!("icarus:    {ic} cycles in {is:.2} s = {ir:.0} cycles/s");
    println!("ratio verilator/icarus: {:.1}x", vr / ir);
    Ok(())
}
