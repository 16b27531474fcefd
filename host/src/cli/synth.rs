//! `spikeq synth --config FILE [--target ice40|xilinx|all] [--out DIR] [--force]`: area and Fmax of
//! a generated array (wrapped in the 4-pin synthesis harness) from yosys and nextpnr-ice40; writes
//! `synth.json` and `synth.md` (plus every tool's files) to the output directory.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use spikeq_host::synth::{self, Ice40Device, SynthOptions, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetArg {
    /// Lattice iCE40: yosys synth_ice40, then nextpnr-ice40 place and route (Fmax).
    Ice40,
    /// Xilinx 7-series: yosys synth_xilinx (LUT/FF/DSP/BRAM estimates, no Fmax).
    Xilinx,
    /// Both.
    All,
}

#[derive(Debug, Args)]
#[command(after_help = "The array is synthesised inside a generated 4-pin harness (clk, rst_n, din -> shift register \
feeding every AXI input, XOR of every output -> dout), so I/O neither dominates the area nor limits Fmax and nothing \
is optimised away. Tools: yosys, nextpnr-ice40 (scripts/setup.sh installs them). See docs/synthesis.md.")]
pub struct SynthArgs {
    /// TOML configuration, e.g. configs/tiny.toml.
    #[arg(long)]
    config: PathBuf,
    /// Which flow(s) to run.
    #[arg(long, value_enum, default_value = "all")]
    target: TargetArg,
    /// Output directory (default: out/synth/<config name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write into a non-empty directory that `spikeq synth` did not write.
    #[arg(long)]
    force: bool,
    /// iCE40 part: up5k or hx8k (default: the smallest the design can fit).
    #[arg(long)]
    device: Option<Ice40Device>,
    /// iCE40 package (default: sg48 for up5k, ct256 for hx8k).
    #[arg(long)]
    package: Option<String>,
    /// nextpnr pin constraints for the harness pins clk, rst_n, din, dout (default: placed freely).
    #[arg(long)]
    pcf: Option<PathBuf>,
    /// Clock nextpnr aims for, MHz (default: the configuration's clock_mhz). The reported Fmax is
    /// what routing achieved either way.
    #[arg(long)]
    freq: Option<f64>,
    /// nextpnr placer seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Reuse reports cached in this directory, keyed by the content hash of RTL, script, options
    /// and tool versions (default: always run the tools).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub fn run(a: SynthArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.config).with_context(|| format!("cannot read {}", a.config.display()))?;
    let d = spikeq_hdl::Derived::from_toml(&text).with_context(|| format!("{} is not a usable configuration", a.config.display()))?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("out/synth").join(&d.config.name));
    let targets = match a.target {
        TargetArg::Ice40 => vec![Target::Ice40],
        TargetArg::Xilinx => vec![Target::Xilinx],
        TargetArg::All => vec![Target::Ice40, Target::Xilinx],
    };
    let opts = SynthOptions {
        device: a.device,
        package: a.package,
        pcf: a.pcf,
        freq_mhz: a.freq,
        seed: a.seed,
        force: a.force,
        cache: a.cache,
    };
    let mut reports = Vec::new();
    for target in targets {
        let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template("{spinner} [{elapsed}] {msg}").expect("style"));
        let steps = if target == Target::Ice40 { "yosys synth_ice40 + nextpnr-ice40" } else { "yosys synth_xilinx" };
        bar.set_message(format!("{} ({} PE, {}x{}): {steps}", d.config.name, report_pe(&d), d.config.rows, d.config.lanes));
        bar.enable_steady_tick(Duration::from_millis(200));
        let r = synth::run_with(&d, target, &out, &opts);
        bar.finish_and_clear();
        let r = r.with_context(|| format!("{target} synthesis of {}", a.config.display()))?;
        println!(
            "{target}: {} LUTs, {} FFs, {} BRAM, {} carry, {} DSP{}{} on {}{}",
            r.luts,
            r.ffs,
            r.brams,
            r.carries,
            r.dsps,
            if r.lutrams > 0 { format!(", {} LUTRAM", r.lutrams) } else { String::new() },
            r.fmax_mhz.map_or(String::new(), |f| format!(", Fmax {f:.2} MHz")),
            r.device,
            if r.cached { " (cached)" } else { "" }
        );
        reports.push(r);
    }
    let json = out.join("synth.json");
    std::fs::write(&json, serde_json::to_string_pretty(&reports)? + "\n").with_context(|| format!("cannot write {}", json.display()))?;
    let md = out.join("synth.md");
    std::fs::write(&md, synth::markdown(&reports)).with_context(|| format!("cannot write {}", md.display()))?;
    for r in reports.iter().filter_map(|r| r.note.as_ref()) {
        println!("note: {r}");
    }
    println!("reports: {} and {}", json.display(), md.display());
    Ok(())
}

fn report_pe(d: &spikeq_hdl::Derived) -> &'static str {
    match d.config.pe {
        spikeq_hdl::PeKind::Spike => "spike",
        spikeq_hdl::PeKind::Mac => "mac",
    }
}
