//! `spikeq compare`: spike vs MAC arrays across sizes — area and Fmax (yosys, nextpnr), cycles per
//! SmolLM2 token (golden cycle model on real PTB activations), throughput per LUT and energy per
//! token — written as JSON, an SVG plot and a table inside docs/results.md (between markers).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use spikeq_hdl::quant::SalientSelector;
use spikeq_hdl::{ArrayConfig, PeKind};
use spikeq_host::compare::{self, plot, Sweep, GENERATOR};
use spikeq_host::energy::table;
use spikeq_host::eval::{self, DEFAULT_MODEL, DEFAULT_TEXT};
use spikeq_host::model;
use spikeq_host::smooth::smooth_on_valid;
use spikeq_host::synth::Target;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Documentation folder: writes OUT/compare.json, OUT/img/compare.svg and the table between
    /// the `spikeq:compare` markers of OUT/results.md (appended with markers if absent).
    #[arg(long, default_value = "docs")]
    out: PathBuf,
    /// Array sizes (rows = lanes), comma-separated; at least two.
    #[arg(long, value_delimiter = ',', default_value = "2,4,8,16")]
    sizes: Vec<u32>,
    /// PTB test tokens run through each array (after token 0) to measure cycles and energy.
    #[arg(long, default_value_t = 16)]
    tokens: usize,
    /// Base configuration: k_max, salient budget and clock are kept, rows/lanes/PE set per point.
    #[arg(long, default_value = "configs/default.toml")]
    config: PathBuf,
    /// Synthesis targets, comma-separated: xilinx (LUT/FF/DSP estimate), ice40 (place and route, Fmax).
    #[arg(long, value_delimiter = ',', default_value = "xilinx,ice40")]
    targets: Vec<String>,
    /// Folder for the synthesis runs (RTL, logs, netlists).
    #[arg(long, default_value = "out/compare")]
    work: PathBuf,
    /// Cache of synthesis reports, keyed by the content hash of RTL, script and tool versions.
    #[arg(long, default_value = ".cache/synth")]
    cache: PathBuf,
    /// SmoothQuant migration strength ALPHA in 0..=1, or `off` (as `spikeq eval --smooth`).
    #[arg(long, default_value = "0.5", value_parser = super::eval::parse_alpha)]
    smooth: super::eval::Smooth,
    /// PTB valid windows for the smoothing's channel maxima.
    #[arg(long, default_value_t = 2)]
    calib_windows: usize,
    /// Salient selector: none, mad:TAU, topk:FRAC.
    #[arg(long, default_value = "mad:6")]
    salient: String,
    /// Overwrite compare.json / img/compare.svg even if spikeq compare did not write them.
    #[arg(long)]
    force: bool,
    /// GGUF model (default: .cache/model/SmolLM2-135M-Instruct.Q4_1.gguf under the repository root).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Text (default: .cache/ptb/test.txt under the repository root).
    #[arg(long)]
    text: Option<PathBuf>,
}

fn parse_target(s: &str) -> Result<Target> {
    match s {
        "xilinx" => Ok(Target::Xilinx),
        "ice40" => Ok(Target::Ice40),
        _ => bail!("unknown synthesis target {s:?}: use xilinx, ice40 or both (--targets xilinx,ice40)"),
    }
}

/// Refuses a file that exists and was not written by spikeq compare, unless `force` (checked
/// before the long runs, so a refusal costs nothing).
fn check_ours(path: &Path, force: bool) -> Result<()> {
    if let Ok(old) = std::fs::read_to_string(path) {
        if !force && !old.contains(GENERATOR) {
            bail!("{} exists and was not written by {GENERATOR}: move it away or pass --force", path.display());
        }
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub fn run(a: CompareArgs) -> Result<()> {
    if a.sizes.len() < 2 || a.sizes.contains(&0) {
        bail!("--sizes needs at least two positive sizes, e.g. --sizes 2,4,8,16");
    }
    if a.tokens == 0 {
        bail!("--tokens 0 measures nothing: use e.g. --tokens 16");
    }
    let targets: Vec<Target> = a.targets.iter().map(|t| parse_target(t)).collect::<Result<_>>()?;
    let (json_path, svg_path) = (a.out.join("compare.json"), a.out.join("img/compare.svg"));
    check_ours(&json_path, a.force)?;
    check_ours(&svg_path, a.force)?;
    let model_path = eval::asset_path("model", a.model, DEFAULT_MODEL)?;
    let text_path = eval::asset_path("text", a.text, DEFAULT_TEXT)?;
    let (mut model, tokenizer) =
        model::load(&model_path).with_context(|| format!("loading {}", model_path.display()))?;
    let text = std::fs::read_to_string(&text_path).with_context(|| format!("reading {}", text_path.display()))?;
    let all = tokenizer.encode(&text)?;
    let tokens = &all[..a.tokens.min(all.len())];
    if let Some(alpha) = a.smooth.0 {
        let valid_path = text_path.with_file_name("valid.txt");
        let valid = std::fs::read_to_string(&valid_path)
            .with_context(|| format!("reading calibration text {} (run scripts/setup.sh)", valid_path.display()))?;
        smooth_on_valid(&mut model, &tokenizer.encode(&valid)?, a.calib_windows, alpha)?;
    }
    let base = ArrayConfig::from_toml(
        &std::fs::read_to_string(&a.config).with_context(|| format!("cannot read {}", a.config.display()))?,
    )
    .with_context(|| format!("{}", a.config.display()))?;
    let selector = SalientSelector::parse(&a.salient).map_err(anyhow::Error::msg)?;

    let arrays: Vec<_> = a
        .sizes
        .iter()
        .flat_map(|&s| [PeKind::Spike, PeKind::Mac].map(move |pe| (s, pe)))
        .map(|(s, pe)| Ok((s, compare::sweep_array(&base, s, pe)?)))
        .collect::<Result<_>>()?;
    let bar = ProgressBar::new((arrays.len() * (1 + targets.len())) as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} steps {spinner} {msg}")?
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    let mut points = Vec::new();
    let mut tools = None;
    for (size, d) in &arrays {
        bar.set_message(format!("{}: {} tokens through the golden backend", d.config.name, tokens.len()));
        let act = compare::measure(&model, d, tokens, selector)?;
        bar.inc(1);
        let (mut xilinx, mut ice40) = (None, None);
        for &t in &targets {
            bar.set_message(format!("{}: synthesis for {t}", d.config.name));
            let started = std::time::Instant::now();
            let (area, versions) = compare::synthesize(d, t, &a.work, &a.cache)
                .with_context(|| format!("synthesizing {} for {t}", d.config.name))?;
            let fmax = area.fmax_mhz.map_or(String::new(), |f| format!(", Fmax {f:.1} MHz"));
            let secs = started.elapsed().as_secs_f64();
            // Printed also when the bar is hidden (no terminal): the synthesis times are measurements.
            bar.suspend(|| {
                eprintln!(
                    "{} {t}: {} LUTs, {} FFs, {} DSPs{fmax} ({}; {})",
                    d.config.name,
                    area.luts,
                    area.ffs,
                    area.dsps,
                    area.device,
                    if area.cached { "cached".to_string() } else { format!("{secs:.0} s") }
                )
            });
            tools.get_or_insert(versions);
            match t {
                Target::Xilinx => xilinx = Some(area),
                Target::Ice40 => ice40 = Some(area),
            }
            bar.inc(1);
        }
        points.push(compare::point(*size, d, &act, xilinx, ice40));
    }
    bar.finish_and_clear();

    let sweep = Sweep {
        generator: GENERATOR.into(),
        tokens: tokens.len(),
        smooth: a.smooth.0,
        tools,
        energy_source: table::SOURCE.into(),
        points,
    };
    let command = format!(
        "spikeq compare --out {} --sizes {} --tokens {} --targets {} --smooth {}",
        a.out.display(),
        a.sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        tokens.len(),
        a.targets.join(","),
        a.smooth.0.map_or("off".to_string(), |x| x.to_string())
    );
    write(&json_path, &(serde_json::to_string_pretty(&sweep)? + "\n"))?;
    write(&svg_path, &plot::svg(&sweep).map_err(anyhow::Error::msg)?)?;
    let results = a.out.join("results.md");
    spikeq_host::docs::update_file(&results, "compare", &sweep.markdown(&command))
        .with_context(|| format!("updating {}", results.display()))?;
    print!("{}", sweep.markdown(&command));
    eprintln!("wrote {}, {} and the table in {}", json_path.display(), svg_path.display(), results.display());
    Ok(())
}
