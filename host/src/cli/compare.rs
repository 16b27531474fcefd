//! `spikeq compare`: spike vs MAC arrays across sizes — area and Fmax (yosys, nextpnr), cycles per
//! SmolLM2 token (golden cycle model on real PTB activations), throughput per LUT and energy per
//! token — written as JSON, an SVG plot and a table inside docs/results.md (between markers).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use spikeq_codegen::outdir::check_ours;
use spikeq_hdl::PeKind;
use spikeq_host::files::paths::{self, DEFAULT_SYNTH_CACHE};
use spikeq_host::llm::quant::Scheme;
use spikeq_host::session::Session;
use spikeq_host::study::compare::{self, plot, Sweep, GENERATOR};
use spikeq_host::study::energy::table;
use spikeq_host::study::synth::Target;

use super::args::{parse_count, recipe_text, PipelineArgs};
use super::{files, progress};

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
    #[arg(long, default_value_t = 16, value_parser = parse_count)]
    tokens: usize,
    /// Synthesis targets, comma-separated: xilinx (LUT/FF/DSP estimate), ice40 (place and route, Fmax).
    #[arg(long, value_delimiter = ',', default_value = "xilinx,ice40")]
    targets: Vec<String>,
    /// Folder for the synthesis runs (RTL, logs, netlists).
    #[arg(long, default_value = "out/compare")]
    work: PathBuf,
    /// Cache of synthesis reports, keyed by the content hash of RTL, script and tool versions
    /// (default: .cache/synth under the repository root).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Code buffer of the swept arrays, in tokens (a power of two, 2..=4096). The smallest by
    /// default, as in configs/tiny.toml: the buffer does not change a token's cycles, and the
    /// spike core keeps a salient queue per slot, which iCE40 (no LUT RAM) builds from flip-flops;
    /// at the default configuration's 64 tokens that takes synthesis hours (docs/results.md).
    #[arg(long, default_value_t = 2)]
    code_buffer: u32,
    /// Overwrite compare.json / img/compare.svg even if spikeq compare did not write them.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    pipeline: PipelineArgs,
}

fn parse_target(s: &str) -> Result<Target> {
    match s {
        "xilinx" => Ok(Target::Xilinx),
        "ice40" => Ok(Target::Ice40),
        _ => bail!("unknown synthesis target {s:?}: use xilinx, ice40 or both (--targets xilinx,ice40)"),
    }
}

pub fn run(a: CompareArgs) -> Result<()> {
    if a.sizes.len() < 2 || a.sizes.contains(&0) {
        bail!("--sizes needs at least two positive sizes, e.g. --sizes 2,4,8,16");
    }
    let targets: Vec<Target> = a.targets.iter().map(|t| parse_target(t)).collect::<Result<_>>()?;
    let (json_path, svg_path) = (a.out.join("compare.json"), a.out.join("img/compare.svg"));
    for path in [&json_path, &svg_path] {
        check_ours(path, a.force, GENERATOR, |p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(GENERATOR)))?;
    }
    let spikequant = Scheme::SpikeQuant.quantization(a.pipeline.array.selector()).expect("spikequant runs on an array");
    let inputs = a.pipeline.inputs(&[&spikequant])?;
    let arrays: Vec<_> = a
        .sizes
        .iter()
        .flat_map(|&s| [PeKind::Spike, PeKind::Mac].map(move |pe| (s, pe)))
        .map(|(s, pe)| Ok((s, compare::sweep_array(&inputs.array, s, pe, a.code_buffer)?)))
        .collect::<Result<_>>()?;
    let cache = paths::or_default(a.cache.clone(), DEFAULT_SYNTH_CACHE);
    let session = Session::open(inputs)?;
    let all = &session.text()?.tokens;
    let tokens = &all[..a.tokens.min(all.len())];

    // A MAC array on Xilinx is synthesised twice: with DSPs, and with its multipliers in LUTs.
    let extra = |d: &spikeq_hdl::Derived| u64::from(d.config.pe == PeKind::Mac && targets.contains(&Target::Xilinx));
    let steps: u64 = arrays.iter().map(|(_, d)| 1 + targets.len() as u64 + extra(d)).sum();
    let bar = progress::bar(steps, "steps");
    bar.enable_steady_tick(Duration::from_millis(250));
    let mut points = Vec::new();
    let mut tools = None;
    for (size, d) in &arrays {
        bar.set_message(format!("{}: {} tokens through the golden backend", d.config.name, tokens.len()));
        let act = compare::measure(&session, d, tokens)?;
        bar.inc(1);
        let (mut xilinx, mut xilinx_no_dsp, mut ice40) = (None, None, None);
        let runs = targets.iter().map(|&t| (t, false)).chain((extra(d) == 1).then_some((Target::Xilinx, true)));
        for (t, no_dsp) in runs {
            let how = if no_dsp { " (multipliers in LUTs)" } else { "" };
            bar.set_message(format!("{}: synthesis for {t}{how}", d.config.name));
            let started = std::time::Instant::now();
            let (area, versions) = compare::synthesize(d, t, &a.work, &cache, no_dsp)
                .with_context(|| format!("synthesizing {} for {t}{how}", d.config.name))?;
            let fmax = area.fmax_mhz.map_or(String::new(), |f| format!(", Fmax {f:.1} MHz"));
            let secs = started.elapsed().as_secs_f64();
            // Printed also when the bar is hidden (no terminal): the synthesis times are measurements.
            bar.suspend(|| {
                eprintln!(
                    "{} {t}{how}: {} LUTs, {} FFs, {} DSPs{fmax} ({}; {})",
                    d.config.name,
                    area.luts,
                    area.ffs,
                    area.dsps,
                    area.device,
                    if area.cached { "cached".to_string() } else { format!("{secs:.0} s") }
                )
            });
            tools.get_or_insert(versions);
            match (t, no_dsp) {
                (Target::Xilinx, false) => xilinx = Some(area),
                (Target::Xilinx, true) => xilinx_no_dsp = Some(area),
                (Target::Ice40, _) => ice40 = Some(area),
            }
            bar.inc(1);
        }
        points.push(compare::point(*size, d, &act, xilinx, xilinx_no_dsp, ice40));
    }
    bar.finish_and_clear();

    let sweep = Sweep {
        generator: GENERATOR.into(),
        tokens: tokens.len(),
        smooth: session.inputs.smooth,
        tools,
        energy_source: table::SOURCE.into(),
        points,
    };
    let command = format!(
        "spikeq compare --out {} --sizes {} --tokens {} --targets {} --code-buffer {} {}",
        a.out.display(),
        a.sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        tokens.len(),
        a.targets.join(","),
        a.code_buffer,
        recipe_text(&session.inputs)
    );
    files::write(&json_path, &(serde_json::to_string_pretty(&sweep)? + "\n"))?;
    files::write(&svg_path, &plot::svg(&sweep).map_err(anyhow::Error::msg)?)?;
    let results = a.out.join("results.md");
    spikeq_host::study::docs::update_file(&results, "compare", &sweep.markdown(&command))
        .with_context(|| format!("updating {}", results.display()))?;
    print!("{}", sweep.markdown(&command));
    eprintln!("wrote {}, {} and the table in {}", json_path.display(), svg_path.display(), results.display());
    Ok(())
}
