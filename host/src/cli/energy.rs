//! `spikeq energy`: what SmolLM2's linear layers cost per token on the spike array (raw and fire)
//! and on a W4A4 MAC accelerator that dequantizes, priced with Horowitz's 45 nm per-operation
//! energies from counts of real golden-backend runs on PTB test text (docs/energy.md).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikeq_hdl::quant::SalientSelector;
use spikeq_hdl::{ArrayConfig, OutputMode, PeKind};
use spikeq_host::driver::{Accelerator, Backend};
use spikeq_host::energy::measure::{calibrate, counting_exec, scheme_array, Tee};
use spikeq_host::energy::report::{DesignReport, EnergyReport};
use spikeq_host::energy::table;
use spikeq_host::energy::Activity;
use spikeq_host::eval::{self, DEFAULT_MODEL, DEFAULT_TEXT};
use spikeq_host::model;
use spikeq_host::precision::Precision;
use spikeq_host::quant::{QuantExec, Scheme};
use spikeq_host::smooth::smooth_on_valid;

#[derive(Debug, Args)]
pub struct EnergyArgs {
    /// PTB test windows (511 tokens each) whose activity is measured. The test split is used for
    /// measurement only; static scales (fire) are calibrated on PTB valid.
    #[arg(long, default_value_t = 1)]
    windows: usize,
    /// Spike-array schemes to measure, comma-separated (each runs its own forward). The W4A4 MAC
    /// baseline sees the layer inputs of the first one.
    #[arg(long, value_delimiter = ',', default_value = "spikequant,spikequant-fire")]
    scheme: Vec<Scheme>,
    /// Array configuration (rows, lanes, k_max, salient budget); the scheme sets the widths and
    /// the baseline uses the same shape with pe = "mac".
    #[arg(long, default_value = "configs/default.toml")]
    config: PathBuf,
    /// Salient selector: none, mad:TAU, topk:FRAC.
    #[arg(long, default_value = "mad:6")]
    salient: String,
    /// Also measure a per-layer precision file (docs/search.md) on the array that carries it.
    #[arg(long)]
    precision: Option<PathBuf>,
    /// PTB valid windows for the static scales of fire schemes and for smoothing.
    #[arg(long, default_value_t = 2)]
    calib_windows: usize,
    /// SmoothQuant migration strength ALPHA in 0..=1, or `off` — as `spikeq eval --smooth`, whose
    /// default this follows, so the measured activity is that of the evaluated pipeline.
    #[arg(long, default_value = "0.5", value_parser = super::eval::parse_alpha)]
    smooth: super::eval::Smooth,
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
    /// GGUF model (default: .cache/model/SmolLM2-135M-Instruct.Q4_1.gguf under the repository root).
    #[arg(long)]
    model: Option<PathBuf>,
    /// PTB test text (default: .cache/ptb/test.txt under the repository root; calibration reads
    /// valid.txt beside it).
    #[arg(long)]
    text: Option<PathBuf>,
}

fn label(s: Scheme) -> String {
    match s {
        Scheme::SpikeQuant => "spike-raw".into(),
        Scheme::SpikeQuantFire => "spike-fire".into(),
        other => format!("spike-{other}"),
    }
}

pub fn run(a: EnergyArgs) -> Result<()> {
    if a.windows == 0 {
        bail!("--windows 0 measures nothing: use 1 or more");
    }
    if let Some(s) = a.scheme.iter().find(|s| **s == Scheme::F32) {
        bail!("scheme {s} runs no array: pick quantized schemes, e.g. --scheme spikequant,spikequant-fire");
    }
    if !(a.dram_pj.is_finite() && a.dram_pj >= 0.0) {
        bail!("--dram-pj {} is not an energy: use a value in pJ such as 1950", a.dram_pj);
    }
    let model_path = eval::asset_path("model", a.model, DEFAULT_MODEL)?;
    let text_path = eval::asset_path("text", a.text, DEFAULT_TEXT)?;
    let (mut model, tokenizer) =
        model::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let text = std::fs::read_to_string(&text_path).with_context(|| format!("reading {}", text_path.display()))?;
    let tokens = tokenizer.encode(&text)?;
    let valid_path = text_path.with_file_name("valid.txt");
    let valid =
        tokenizer
            .encode(&std::fs::read_to_string(&valid_path).with_context(|| {
                format!("reading calibration text {} (run scripts/setup.sh)", valid_path.display())
            })?)?;
    if let Some(alpha) = a.smooth.0 {
        smooth_on_valid(&mut model, &valid, a.calib_windows, alpha)?;
    }
    let base_text =
        std::fs::read_to_string(&a.config).with_context(|| format!("cannot read {}", a.config.display()))?;
    let mut base = ArrayConfig::from_toml(&base_text).with_context(|| format!("{}", a.config.display()))?;
    base.pe = PeKind::Spike;
    let mac_base = ArrayConfig { pe: PeKind::Mac, ..base.clone() };
    let selector = SalientSelector::parse(&a.salient).map_err(anyhow::Error::msg)?;

    let mac_d = scheme_array(Scheme::W4A4, &mac_base)?;
    let mut mac = counting_exec(Scheme::W4A4, &mac_d, selector, None)?;
    let mut mac_positions = None;
    let per_pass: usize = eval::windows(&tokens, Some(a.windows)).map(<[u32]>::len).sum();
    let bar = ProgressBar::new((per_pass * (a.scheme.len() + usize::from(a.precision.is_some()))) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} tokens {msg}")?.progress_chars("=> "),
    );
    let mut designs = Vec::new();
    for &scheme in &a.scheme {
        let d = scheme_array(scheme, &base)?;
        let calibration = if scheme.mode() == OutputMode::Fire {
            bar.set_message(format!("{scheme}: calibrating on {} PTB valid windows", a.calib_windows));
            Some(calibrate(&model, &valid, &d.config, selector, a.calib_windows)?)
        } else {
            None
        };
        let mut exec = counting_exec(scheme, &d, selector, calibration)?;
        bar.set_message(format!("{scheme}{}", if mac_positions.is_none() { " + MAC baseline" } else { "" }));
        let progress = |w: &eval::Perplexity| bar.inc(w.scored as u64);
        let ppl = if mac_positions.is_none() {
            eval::perplexity(&model, &mut Tee::new(&mut exec, &mut mac), &tokens, Some(a.windows), progress)?
        } else {
            eval::perplexity(&model, &mut exec, &tokens, Some(a.windows), progress)?
        };
        let positions = (ppl.scored + ppl.windows) as u64;
        mac_positions.get_or_insert(positions);
        designs.push(DesignReport::new(
            &label(scheme),
            &scheme.to_string(),
            &d,
            &exec.tap,
            positions,
            Some(ppl.ppl()),
            a.dram_pj,
        ));
    }
    if let Some(path) = &a.precision {
        let p = Precision::load(path)?;
        p.check_blocks(model.blocks().len())?;
        let d = p.array_config(&base).validate().with_context(|| format!("array for {}", path.display()))?;
        let timeout = Duration::from_secs(60);
        let acc = Accelerator::connect(&Backend::Golden, &d, timeout)?;
        let mut exec = QuantExec::with_precision(p, acc)?.with_tap(Activity::default());
        bar.set_message(path.display().to_string());
        let ppl = eval::perplexity(&model, &mut exec, &tokens, Some(a.windows), |w| bar.inc(w.scored as u64))?;
        let positions = (ppl.scored + ppl.windows) as u64;
        designs.push(DesignReport::new(
            "spike-mixed",
            &path.display().to_string(),
            &d,
            &exec.tap,
            positions,
            Some(ppl.ppl()),
            a.dram_pj,
        ));
    }
    bar.finish_and_clear();
    designs.push(DesignReport::new("mac-w4a4", "w4a4", &mac_d, &mac.tap, mac_positions.unwrap_or(0), None, a.dram_pj));
    let mut report = EnergyReport::new(a.windows, a.dram_pj, designs);
    report.smooth = a.smooth.0;
    if let Some(path) = &a.update {
        let smooth = a.smooth.0.map_or("off".to_string(), |x| x.to_string());
        let cmd = format!(
            "spikeq energy --windows {} --scheme {} --smooth {smooth}",
            a.windows,
            a.scheme.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        );
        let body = format!("Produced by `{cmd} --update {}`.\n\n{}", path.display(), report.render_markdown());
        spikeq_host::docs::update_file(path, "energy", &body)
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
