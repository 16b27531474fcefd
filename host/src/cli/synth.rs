//! `spikeq synth --config FILE... [--pe spike,mac] [--target ice40|xilinx|all] [--out DIR] [--force]`:
//! area and Fmax of generated arrays (wrapped in the 4-pin synthesis harness) from yosys and
//! nextpnr-ice40. Each configuration × PE kind gets `DIR/<name>-<pe>/`; one `synth.json` and one
//! `synth.md` table cover them all.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use spikeq_codegen::outdir::check_ours;
use spikeq_hdl::PeKind;
use spikeq_host::files::config_file;
use spikeq_host::study::synth::{self, Ice40Device, SynthOptions, Target};

use super::progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TargetArg {
    /// Lattice iCE40: yosys synth_ice40 -abc9, then nextpnr-ice40 place and route (Fmax).
    Ice40,
    /// Xilinx 7-series: yosys synth_xilinx (LUT/FF/DSP/BRAM estimates, no Fmax).
    Xilinx,
    /// Both.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PeArg {
    /// The PE of the configuration file.
    Config,
    /// Spike-count PE (adds per spike).
    Spike,
    /// MAC baseline (one multiplier per lane; raw output only).
    Mac,
}

#[derive(Debug, Args)]
#[command(after_help = "The array is synthesised inside a generated 4-pin harness (clk, rst_n, din -> shift register \
feeding every AXI input, XOR of every output -> dout), so I/O neither dominates the area nor limits Fmax and nothing \
is optimised away. Tools: yosys, nextpnr-ice40 (scripts/setup.sh installs them). See docs/synthesis.md.\n\n\
Example (the table of docs/synthesis.md):\n  spikeq synth --config configs/tiny.toml --config configs/default.toml --pe spike,mac --update docs/synthesis.md")]
pub struct SynthArgs {
    /// TOML configuration(s), e.g. configs/tiny.toml; repeat for several.
    #[arg(long, required = true)]
    config: Vec<PathBuf>,
    /// PE kind(s) to synthesise each configuration with, comma-separated (`mac` keeps the shape
    /// and widths, with raw output only).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "config")]
    pe: Vec<PeArg>,
    /// Which flow(s) to run.
    #[arg(long, value_enum, default_value = "all")]
    target: TargetArg,
    /// Output directory: one folder per configuration and PE kind, plus synth.json and synth.md.
    #[arg(long, default_value = "out/synth")]
    out: PathBuf,
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
    /// Also write the Markdown table into this file, between its `spikeq:synth` marker comments
    /// (appended with markers if it has none), e.g. docs/synthesis.md; repeat for several files.
    #[arg(long)]
    update: Vec<PathBuf>,
    /// Reuse reports cached in this directory, keyed by the content hash of RTL, script, options
    /// and tool versions (default: always run the tools).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Xilinx: keep multipliers out of the DSP48 blocks (`synth_xilinx -nodsp`), so a MAC array is
    /// counted in LUTs alone.
    #[arg(long)]
    no_dsp: bool,
    /// Also synthesise each array for iCE40 without flattening and print how the LUT4s split
    /// between the modules (rows, lanes, neurons, core, AXI shell), into OUT/<name>-<pe>/modules.md.
    #[arg(long)]
    modules: bool,
}

pub fn run(a: SynthArgs) -> Result<()> {
    let mut arrays = Vec::new();
    for path in &a.config {
        let d = config_file::read(path)?;
        for pe in &a.pe {
            let pe = match pe {
                PeArg::Config => d.config.pe,
                PeArg::Spike => PeKind::Spike,
                PeArg::Mac => PeKind::Mac,
            };
            let v = synth::with_pe(&d, pe)?;
            if !arrays.iter().any(|x: &spikeq_hdl::Derived| x.hash == v.hash) {
                arrays.push(v);
            }
        }
    }
    let targets = match a.target {
        TargetArg::Ice40 => vec![Target::Ice40],
        TargetArg::Xilinx => vec![Target::Xilinx],
        TargetArg::All => vec![Target::Ice40, Target::Xilinx],
    };
    let (json, md) = (a.out.join("synth.json"), a.out.join("synth.md"));
    check_ours(&a.out, a.force, "spikeq synth", |d| d.join("synth.json").exists())?;
    let opts = SynthOptions {
        device: a.device,
        package: a.package,
        pcf: a.pcf,
        freq_mhz: a.freq,
        seed: a.seed,
        force: a.force,
        cache: a.cache,
        no_dsp: a.no_dsp,
    };
    let total = (arrays.len() * targets.len()) as u64;
    let bar = progress::bar(total, "runs");
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut reports = Vec::new();
    for d in &arrays {
        let dir = a.out.join(format!("{}-{}", d.config.name, synth::pe_name(d.config.pe)));
        for &target in &targets {
            let steps =
                if target == Target::Ice40 { "yosys synth_ice40 -abc9 + nextpnr-ice40" } else { "yosys synth_xilinx" };
            bar.set_message(format!(
                "{} ({} PE, {}x{}): {steps}",
                d.config.name,
                synth::pe_name(d.config.pe),
                d.config.rows,
                d.config.lanes
            ));
            let r = synth::run_with(d, target, &dir, &opts).with_context(|| {
                format!("{target} synthesis of {} ({} PE)", d.config.name, synth::pe_name(d.config.pe))
            });
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    bar.abandon();
                    return Err(e);
                }
            };
            let line = format!(
                "{} {} {target}: {} LUTs, {} FFs, {} BRAM, {} carry, {} DSP{}{} on {}{}",
                r.config,
                r.pe,
                r.counts.luts,
                r.counts.ffs,
                r.counts.brams,
                r.counts.carries,
                r.counts.dsps,
                if r.counts.lutrams > 0 { format!(", {} LUTRAM", r.counts.lutrams) } else { String::new() },
                r.fmax_mhz.map_or(String::new(), |f| format!(", Fmax {f:.2} MHz")),
                r.device,
                if r.cached { " (cached)" } else { "" }
            );
            // printed even when the bar is hidden (not a terminal), unlike bar.println
            bar.suspend(|| println!("{line}"));
            bar.inc(1);
            reports.push(r);
        }
    }
    bar.finish_and_clear();
    if a.modules {
        for d in &arrays {
            let dir = a.out.join(format!("{}-{}", d.config.name, synth::pe_name(d.config.pe)));
            let split = synth::modules::split(d, &dir)
                .with_context(|| format!("unflattened iCE40 synthesis of {}", d.config.name))?;
            let table = synth::modules::markdown(&split);
            let path = dir.join("modules.md");
            std::fs::write(&path, &table).with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "{} ({} PE), LUT4 by module (iCE40, unflattened):\n{table}",
                d.config.name,
                synth::pe_name(d.config.pe)
            );
        }
    }
    std::fs::write(&json, serde_json::to_string_pretty(&reports)? + "\n")
        .with_context(|| format!("cannot write {}", json.display()))?;
    let table = synth::markdown(&reports);
    std::fs::write(&md, &table).with_context(|| format!("cannot write {}", md.display()))?;
    for doc in &a.update {
        spikeq_host::study::docs::update_file(doc, "synth", &table)
            .with_context(|| format!("cannot update {}", doc.display()))?;
        println!("updated {}", doc.display());
    }
    for r in &reports {
        if let Some(note) = &r.note {
            println!("note ({} {} {}): {note}", r.config, r.pe, r.target);
        }
    }
    println!("reports: {} and {}", json.display(), md.display());
    Ok(())
}
