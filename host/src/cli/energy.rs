//! `spikeq energy`: what SmolLM2's linear layers cost per token on the spike array (raw and fire)
//! and on a W4A4 MAC accelerator that dequantizes, priced with Horowitz's 45 nm per-operation
//! energies from counts of real golden-backend runs on PTB test text (docs/energy.md).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use spikeq_hdl::{ArrayConfig, PeKind};
use spikeq_host::device::Backend;
use spikeq_host::llm::eval;
use spikeq_host::llm::precision::Precision;
use spikeq_host::llm::quant::{Quantization, ScaleKind, Scheme};
use spikeq_host::session::Session;
use spikeq_host::study::energy::measure::Tee;
use spikeq_host::study::energy::report::{DesignReport, EnergyReport};
use spikeq_host::study::energy::table;
use spikeq_host::study::energy::Activity;

use super::args::{parse_count, recipe_text, PipelineArgs};
use super::progress;

#[derive(Debug, Args)]
pub struct EnergyArgs {
    /// PTB test windows (511 tokens each) whose activity is measured. The test split is used for
    /// measurement only; static scales (fire) are calibrated on PTB valid.
    #[arg(long, default_value_t = 1, value_parser = parse_count)]
    windows: usize,
    /// Spike-array schemes to measure, comma-separated (each runs its own forward). The W4A4 MAC
    /// baseline sees the layer inputs of the first one.
    #[arg(long, value_delimiter = ',', default_value = "spikequant,spikequant-fire")]
    scheme: Vec<Scheme>,
    /// Also measure a per-layer precision file (docs/search.md) on the array that carries it.
    #[arg(long)]
    precision: Option<PathBuf>,
    /// pJ per 64 bits of stream traffic (Horowitz gives 1300-2600 for DRAM; default the midpoint).
    #[arg(long, default_value_t = table::dram_64())]
    dram_pj: f64,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write the report's Markdown tables into this file, between its `spikeq:energy`
    /// marker comments (appended with markers if it has none).
    #[arg(long)]
    update: Option<PathBuf>,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

fn label(s: Scheme) -> String {
    match s {
        Scheme::SpikeQuant => "spike-raw".into(),
        Scheme::SpikeQuantFire => "spike-fire".into(),
        other => format!("spike-{other}"),
    }
}

/// One measured design: its report label, what it is (scheme or file) and its quantization.
struct Run {
    label: String,
    what: String,
    quant: Quantization,
}

pub fn run(a: EnergyArgs) -> Result<()> {
    if let Some(s) = a.scheme.iter().find(|s| **s == Scheme::F32) {
        bail!("scheme {s} runs no array: pick quantized schemes, e.g. --scheme spikequant,spikequant-fire");
    }
    if !(a.dram_pj.is_finite() && a.dram_pj >= 0.0) {
        bail!("--dram-pj {} is not an energy: use a value in pJ such as 1950", a.dram_pj);
    }
    // What is measured, and every array it runs on, checked before the model loads.
    let selector = a.pipeline.array.selector();
    let quant = |s: Scheme| s.quantization(selector).expect("f32 is refused above");
    let mut runs: Vec<Run> =
        a.scheme.iter().map(|&s| Run { label: label(s), what: s.to_string(), quant: quant(s) }).collect();
    if let Some(path) = &a.precision {
        let quant = Quantization::mixed(Precision::load(path)?);
        runs.push(Run { label: "spike-mixed".into(), what: path.display().to_string(), quant });
    }
    let mut inputs = a.pipeline.inputs(&runs.iter().map(|r| &r.quant).collect::<Vec<_>>())?;
    // The schemes take the recipe's selector; a precision file keeps its own.
    for r in runs.iter_mut().take(a.scheme.len()) {
        r.quant.precision.selector = inputs.selector;
    }
    inputs.array.pe = PeKind::Spike;
    let mac_quant = quant(Scheme::W4A4);
    let mac_d = mac_quant.array(&ArrayConfig { pe: PeKind::Mac, ..inputs.array.clone() })?;
    let arrays = runs.iter().map(|r| r.quant.array(&inputs.array)).collect::<Result<Vec<_>, _>>()?;
    let session = Session::open(inputs)?;
    let tokens = &session.text()?.tokens;

    let mut mac = session.executor_on(&mac_quant, &mac_d, &Backend::Golden)?.with_tap(Activity::default());
    let mut mac_positions = None;
    let per_pass: usize = eval::windows(tokens, Some(a.windows)).map(<[u32]>::len).sum();
    let bar = progress::bar((per_pass * runs.len()) as u64, "tokens");
    let mut designs = Vec::new();
    for (r, d) in runs.iter().zip(&arrays) {
        r.quant.precision.check_blocks(session.model.blocks().len())?;
        if r.quant.scales == ScaleKind::Relative {
            bar.set_message(format!("{}: calibrating on {} PTB valid windows", r.what, session.inputs.calib_windows));
        }
        let mut exec = session.executor_on(&r.quant, d, &Backend::Golden)?.with_tap(Activity::default());
        bar.set_message(format!("{}{}", r.what, if mac_positions.is_none() { " + MAC baseline" } else { "" }));
        let progress = |w: &eval::Perplexity| bar.inc(w.scored as u64);
        let ppl = if mac_positions.is_none() {
            eval::perplexity(&session.model, &mut Tee::new(&mut exec, &mut mac), tokens, Some(a.windows), progress)?
        } else {
            eval::perplexity(&session.model, &mut exec, tokens, Some(a.windows), progress)?
        };
        let positions = (ppl.scored + ppl.windows) as u64;
        mac_positions.get_or_insert(positions);
        designs.push(DesignReport::new(&r.label, &r.what, d, &exec.tap, positions, Some(ppl.ppl()), a.dram_pj));
    }
    bar.finish_and_clear();
    designs.push(DesignReport::new("mac-w4a4", "w4a4", &mac_d, &mac.tap, mac_positions.unwrap_or(0), None, a.dram_pj));
    let mut report = EnergyReport::new(a.windows, a.dram_pj, designs);
    report.smooth = session.inputs.smooth;
    if let Some(path) = &a.update {
        let cmd = format!(
            "spikeq energy --windows {} --scheme {} {}",
            a.windows,
            a.scheme.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
            recipe_text(&session.inputs)
        );
        let body = format!("Produced by `{cmd} --update {}`.\n\n{}", path.display(), report.render_markdown());
        spikeq_host::study::docs::update_file(path, "energy", &body)
            .with_context(|| format!("updating {}", path.display()))?;
        eprintln!("wrote the energy tables into {}", path.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(())
}
