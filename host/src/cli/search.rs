//! `spikeq search`: tiered mixed-precision search on PTB *valid* calibration segments
//! (`search run`), and the results section of docs/results.md (`search results`), whose test-split
//! perplexities come from the golden backend.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use spikeq_codegen::outdir::check_ours;
use spikeq_host::files::digest::file_sha256;
use spikeq_host::files::paths::{self, DEFAULT_SEARCH_CACHE, DEFAULT_TEXT, DEFAULT_VALID};
use spikeq_host::llm::eval;
use spikeq_host::llm::model::linear::F32Linear;
use spikeq_host::llm::model::llama::Llama;
use spikeq_host::llm::precision::{f32_memory_bytes, Assignment, LayerSpec, Precision};
use spikeq_host::llm::quant::Quantization;
use spikeq_host::llm::search::{
    self, pareto, Constraints, Depth, Evaluator, SearchOptions, SearchResult, Setup, WeightCache, Weights,
};
use spikeq_host::session::{Inputs, Session};

use super::args::{low_bit_setting, parse_count, recipe_text, ArrayArgs, ModelArgs, RecipeArgs, SmoothArgs, Uses};
use super::{files, progress};

#[derive(Debug, Subcommand)]
pub enum SearchCmd {
    /// Search per-layer precisions under a memory budget and a perplexity limit. Every point is
    /// measured on PTB valid segments (never the test split) and cached as it finishes:
    /// interrupt at any time and rerun the same command to continue. Writes the chosen precision
    /// file, the explored Pareto front (JSON) and its plot (SVG) to --out.
    Run(RunArgs),
    /// Regenerate the search section of docs/results.md: a search per budget, then test-split
    /// perplexity of each chosen configuration and of the uniform settings on the golden backend.
    Results(ResultsArgs),
}

/// What every search needs: model, calibration text, array, ladder, score.
#[derive(Debug, Args)]
pub struct Common {
    /// Settings to choose from, most precise first: w<W>a<A>[s<S>] (W = 2..8 bits, t ternary, b
    /// binary; A activation bits; S salient bits). The first, applied to every layer, is the
    /// reference of the score.
    #[arg(long, value_delimiter = ',', default_value = "w8a8,w6a8,w4a8")]
    ladder: Vec<String>,
    /// Perplexity limit on the calibration segments.
    #[arg(long)]
    max_ppl: Option<f64>,
    /// Perplexity limit as an increase over f32 on the calibration segments, in percent.
    #[arg(long)]
    max_ppl_increase: Option<f64>,
    /// Score weight of perplexity (score = w_ppl·PPL/PPL_ref + w_memory·MEM/MEM_ref + w_energy·E/E_ref).
    #[arg(long, default_value_t = 1.0)]
    w_ppl: f64,
    /// Score weight of memory.
    #[arg(long, default_value_t = 1.0)]
    w_memory: f64,
    /// Score weight of on-chip energy per token.
    #[arg(long, default_value_t = 0.25)]
    w_energy: f64,
    /// Last tier: global (uniform settings), block, or module.
    #[arg(long, default_value = "module", value_parser = parse_depth)]
    depth: Depth,
    /// Blocks refined per module in the module tier (the most sensitive ones not yet at the
    /// lowest setting); each costs up to 14 evaluations.
    #[arg(long, default_value_t = 4)]
    module_blocks: usize,
    /// Calibration segments (each scored after token 0, like a perplexity window).
    #[arg(long, default_value_t = 2, value_parser = parse_count)]
    segments: usize,
    /// Tokens per calibration segment.
    #[arg(long, default_value_t = 128, value_parser = parse_count)]
    segment_tokens: usize,
    /// Stop after this many new (uncached) evaluations; rerun to continue.
    #[arg(long)]
    max_evals: Option<usize>,
    #[command(flatten)]
    array: ArrayArgs,
    /// Calibration text (default: .cache/ptb/valid.txt under the repository root). The PTB test
    /// split is refused.
    #[arg(long)]
    text: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    /// Folder of the point caches (default: .cache/search under the repository root).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    // The host recipe (smoothing, rotation, GPTQ, activation clip) is applied before the search
    // as `spikeq eval` applies it to a precision file with the ladder's settings, so the chosen
    // files reproduce under eval's defaults.
    #[command(flatten)]
    smooth: SmoothArgs,
    #[command(flatten)]
    recipe: RecipeArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Memory budget of the linear layers' weights and scales, bytes (suffixes k, M, G, KiB,
    /// MiB, GiB; e.g. 70M).
    #[arg(long, value_parser = parse_bytes)]
    max_memory: Option<u64>,
    /// Output folder: precision.toml (chosen), pareto.json, pareto.svg.
    #[arg(long, default_value = "out/search")]
    out: PathBuf,
    /// Overwrite files in --out that an earlier search did not write.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct ResultsArgs {
    #[command(flatten)]
    common: Common,
    /// Memory budgets to search, bytes (suffixes as in `search run`).
    #[arg(long, value_delimiter = ',', value_parser = parse_bytes, default_value = "90M,70M")]
    budgets: Vec<u64>,
    /// PTB test windows evaluated on the golden backend per configuration.
    #[arg(long, default_value_t = 11, value_parser = parse_count)]
    windows: usize,
    /// PTB test text (read only for the final evaluation, never by the search).
    #[arg(long)]
    test_text: Option<PathBuf>,
    /// Markdown file whose `spikeq:search` section is replaced.
    #[arg(long, default_value = "docs/results.md")]
    docs: PathBuf,
    /// Folder of the chosen precision files.
    #[arg(long, default_value = "configs/precision")]
    precision_dir: PathBuf,
    /// Folder of the Pareto plots.
    #[arg(long, default_value = "docs/img")]
    img_dir: PathBuf,
}

fn parse_depth(s: &str) -> Result<Depth, String> {
    match s {
        "global" => Ok(Depth::Global),
        "block" => Ok(Depth::Block),
        "module" => Ok(Depth::Module),
        _ => Err(format!("unknown depth {s:?}: use global, block or module")),
    }
}

/// Parses a byte count with an optional decimal (k, M, G) or binary (KiB, MiB, GiB) suffix.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult = match unit.trim() {
        "" | "B" => 1.0,
        "k" | "K" | "kB" | "KB" => 1e3,
        "M" | "MB" => 1e6,
        "G" | "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("unknown unit {u:?} in {s:?}: use bytes or k, M, G, KiB, MiB, GiB (e.g. 70M)")),
    };
    let v: f64 = num.parse().map_err(|_| format!("{s:?} is not a byte count: write e.g. 70000000 or 70M"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("{s:?}: the budget must be positive"));
    }
    Ok((v * mult).round() as u64)
}

impl Common {
    fn options(&self, max_memory: Option<u64>) -> Result<SearchOptions> {
        let ladder = self.ladder.iter().map(|s| s.parse::<LayerSpec>()).collect::<Result<Vec<_>, _>>()?;
        if ladder.is_empty() {
            bail!("--ladder is empty: give settings from most to least precise, e.g. w8a8,w6a8,w4a8");
        }
        for (w, name) in [(self.w_ppl, "--w-ppl"), (self.w_memory, "--w-memory"), (self.w_energy, "--w-energy")] {
            if !(w.is_finite() && w >= 0.0) {
                bail!("{name} {w} must be a non-negative number");
            }
        }
        if let Some(p) = self.max_ppl_increase.filter(|p| !(p.is_finite() && *p >= 0.0)) {
            bail!("--max-ppl-increase {p} must be a non-negative percentage, e.g. 5");
        }
        Ok(SearchOptions {
            ladder,
            constraints: Constraints {
                max_memory,
                max_ppl: self.max_ppl,
                max_ppl_increase: self.max_ppl_increase.map(|p| p / 100.0),
            },
            weights: Weights { ppl: self.w_ppl, memory: self.w_memory, energy: self.w_energy },
            depth: self.depth,
            module_blocks: self.module_blocks,
        })
    }

    /// Session inputs: the model, the calibration text (searched on; smoothing, GPTQ's Hessians),
    /// the array and the recipe eval applies to the ladder's settings; `test`: the text scored at
    /// the end (`search results`), never read by the search itself.
    fn inputs(&self, ladder: &[LayerSpec], test: Option<PathBuf>) -> Result<Inputs> {
        let calibration = paths::asset("calibration text", self.text.clone(), DEFAULT_VALID)?;
        let uses = Uses { quantized: true, low: ladder.iter().any(low_bit_setting), relative: false };
        let base = Inputs { text: test, ..self.array.inputs(&self.model)? };
        let inputs = self.recipe.apply(&self.smooth, &self.array, base, uses, || Ok(calibration.clone()))?;
        Ok(Inputs { calibration: Some(calibration), ..inputs })
    }

    fn evaluator<'m>(&self, session: &'m Session, ladder: &[LayerSpec]) -> Result<Evaluator<'m>> {
        let text = session.calibration()?;
        let model_sha256 = file_sha256(&session.inputs.model)
            .with_context(|| format!("hashing {}", session.inputs.model.display()))?;
        let i = &session.inputs;
        let setup = Setup {
            model: &session.model,
            model_sha256,
            smooth: i.smooth.map(|a| (a, i.calib_windows)),
            rotate: i.rotate,
            gptq: i.gptq,
            act_clip: i.act_clip,
            segments: search::segments(&text.tokens, self.segment_tokens, self.segments)?,
            text: text.read.clone(),
            selector: i.selector,
            base: i.array.clone(),
        };
        let cache = paths::or_default(self.cache_dir.clone(), DEFAULT_SEARCH_CACHE);
        Ok(Evaluator::open(setup, gptq_codes(session, ladder)?, &cache, self.max_evals)?)
    }
}

/// The weight codes of every ladder format GPTQ-rounded (computed once, then cached), when the
/// session rounds with GPTQ: GPTQ's Hessians come from the f32 model, so a layer's codes in a
/// format do not depend on the other layers' formats and a mixed assignment takes them as they
/// are.
fn gptq_codes(session: &Session, ladder: &[LayerSpec]) -> Result<WeightCache> {
    let mut formats: Vec<LayerSpec> = Vec::new();
    for &s in ladder {
        if !formats.iter().any(|f| f.weights == s.weights) {
            formats.push(s);
        }
    }
    let mut codes = Vec::new();
    for s in formats {
        if session.inputs.gptq.is_some() {
            eprintln!(
                "GPTQ of every layer at {} weights (cached under {})",
                s.weights,
                session.inputs.gptq_cache.display()
            );
        }
        if let Some(w) = session.gptq_weights(&Precision::uniform(s, session.inputs.selector))? {
            codes.extend(w);
        }
    }
    Ok(WeightCache::with_codes(codes))
}

/// Opens the session of a search, GPTQ's progress on a bar.
fn open(inputs: Inputs) -> Result<Session> {
    let mut session = Session::open(inputs)?;
    progress::gptq_layers(&mut session);
    eprintln!("host recipe: {}", recipe_text(&session.inputs));
    Ok(session)
}

/// Runs a search with a progress bar.
fn run_search(ev: &mut Evaluator<'_>, opts: &SearchOptions, what: &str) -> Result<SearchResult> {
    let bar = progress::bar(opts.ladder.len() as u64, "points");
    let r = search::search(ev, opts, &mut |p| {
        bar.set_length(p.planned as u64);
        bar.set_position(p.done as u64);
        bar.set_message(format!("{what}: {}{}", p.label, if p.cached { " (cached)" } else { "" }));
    });
    bar.finish_and_clear();
    Ok(r?)
}

fn mb(b: u64) -> String {
    format!("{:.2}", b as f64 / 1e6)
}

/// The JSON written beside the plot: inputs, limits, every point, the front and the choice.
fn pareto_json(ev: &Evaluator<'_>, opts: &SearchOptions, r: &SearchResult) -> serde_json::Value {
    let s = ev.setup();
    let points: Vec<serde_json::Value> = r
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut v = serde_json::to_value(p).expect("points serialize");
            v["on_front"] = r.front.contains(&i).into();
            if r.front.contains(&i) || r.chosen == Some(i) {
                v["precision"] = Precision::compact(&p.assignment, s.selector).to_toml().into();
            }
            v
        })
        .collect();
    serde_json::json!({
        "tool": "spikeq search",
        "model_sha256": s.model_sha256,
        "texts_read": [s.text],
        "segments": s.segments.len(),
        "segment_tokens": s.segments.first().map_or(0, Vec::len),
        "ladder": opts.ladder.iter().map(LayerSpec::to_string).collect::<Vec<_>>(),
        "constraints": opts.constraints,
        "weights": opts.weights,
        "f32_ppl": r.f32_ppl,
        "ppl_limit": r.ppl_limit,
        "memory_f32": f32_memory_bytes(s.model),
        "cache": ev.cache_path(),
        "points": points,
        "front": r.front,
        "chosen": r.chosen,
    })
}

/// Whether `dir` holds an earlier search's pareto.json.
fn ours(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("pareto.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v["tool"] == "spikeq search")
}

fn outputs(
    ev: &Evaluator<'_>,
    opts: &SearchOptions,
    r: &SearchResult,
    precision: &Path,
    json: &Path,
    svg: &Path,
) -> Result<()> {
    if let Some(c) = r.chosen {
        let p = &r.points[c];
        let header = format!(
            "# spikeq search: {}; calibration PPL {:.3} (f32 {:.3}), {} MB of linear-layer weights and scales, {:.1} µJ/token on chip\n",
            p.label,
            p.ppl,
            r.f32_ppl,
            mb(p.memory),
            p.energy_pj / 1e6
        );
        files::write(precision, &(header + &Precision::compact(&p.assignment, ev.setup().selector).to_toml()))?;
    }
    files::write(json, &serde_json::to_string_pretty(&pareto_json(ev, opts, r))?)?;
    if let Some(p) = svg.parent() {
        std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
    }
    let marks = pareto::Marks { max_memory: opts.constraints.max_memory, ppl_limit: r.ppl_limit, chosen: r.chosen };
    pareto::plot_svg(svg, &r.points, &r.front, marks)?;
    Ok(())
}

fn print_summary(r: &SearchResult, model: &Llama) {
    let f32_mem = f32_memory_bytes(model);
    println!(
        "calibration f32 PPL {:.3}; limit {}",
        r.f32_ppl,
        r.ppl_limit.map_or("none".into(), |l| format!("{l:.3}"))
    );
    println!("{:<44} {:>10} {:>9} {:>10} {:>7}", "point", "MB", "PPL", "µJ/token", "score");
    let mut shown: Vec<usize> =
        r.points.iter().enumerate().filter(|(_, p)| p.tier == search::Tier::Global).map(|(i, _)| i).collect();
    shown.extend(r.chosen.filter(|c| !shown.contains(c)));
    for i in shown {
        let p = &r.points[i];
        let tag = if Some(i) == r.chosen { " <- chosen" } else { "" };
        println!(
            "{:<44} {:>10} {:>9.3} {:>10.1} {:>7.4}{tag}",
            p.label,
            mb(p.memory),
            p.ppl,
            p.energy_pj / 1e6,
            p.score
        );
    }
    println!(
        "{} points explored, {} on the Pareto front; f32 linear layers are {} MB",
        r.points.len(),
        r.front.len(),
        mb(f32_mem)
    );
}

fn run(a: RunArgs) -> Result<()> {
    let opts = a.common.options(a.max_memory)?;
    check_ours(&a.out, a.force, "spikeq search", ours)?;
    let session = open(a.common.inputs(&opts.ladder, None)?)?;
    let mut ev = a.common.evaluator(&session, &opts.ladder)?;
    eprintln!("calibration {}; point cache {}", ev.setup().text.path.display(), ev.cache_path().display());
    let r = run_search(&mut ev, &opts, "search")?;
    print_summary(&r, &session.model);
    outputs(&ev, &opts, &r, &a.out.join("precision.toml"), &a.out.join("pareto.json"), &a.out.join("pareto.svg"))?;
    eprintln!("{} new evaluations; wrote {}/{{precision.toml,pareto.json,pareto.svg}}", ev.new_evals, a.out.display());
    match r.chosen {
        Some(_) => {
            println!("test-split perplexity on the golden backend: spikeq eval --precision {}/precision.toml --windows 11", a.out.display());
            Ok(())
        }
        None => bail!(
            "no explored configuration meets the limits (see {}/pareto.svg): raise --max-memory or the perplexity limit, or add a lower setting to --ladder",
            a.out.display()
        ),
    }
}

/// Test-split perplexity of a precision file on the golden backend.
fn golden_ppl(session: &Session, p: &Precision, windows: usize, what: &str) -> Result<f64> {
    let mut exec = session.executor(&Quantization::mixed(p.clone())).with_context(|| format!("array for {what}"))?;
    let tokens = &session.text()?.tokens;
    let scored: usize = eval::windows(tokens, Some(windows)).map(<[u32]>::len).sum();
    let bar = progress::bar(scored as u64, "test tokens");
    bar.set_message(what.to_string());
    let total = eval::perplexity(&session.model, &mut exec, tokens, Some(windows), |w| bar.inc(w.scored as u64))?;
    bar.finish_and_clear();
    if exec.stats.flagged > 0 {
        bail!("{what}: the array flagged {} calls (salient overflow or code range)", exec.stats.flagged);
    }
    Ok(total.ppl())
}

fn results(a: ResultsArgs) -> Result<()> {
    let opts0 = a.common.options(None)?;
    let test = paths::asset("text", a.test_text.clone(), DEFAULT_TEXT)?;
    let session = open(a.common.inputs(&opts0.ladder, Some(test))?)?;
    let mut ev = a.common.evaluator(&session, &opts0.ladder)?;
    let model = &session.model;
    let test_tokens = &session.text()?.tokens;
    let f32_mem = f32_memory_bytes(model);
    let n_blocks = model.blocks().len();
    let int8 = Assignment::uniform("w8a8".parse()?, n_blocks).memory_bytes(model);

    let f32_test = eval::perplexity(model, &mut F32Linear, test_tokens, Some(a.windows), |_| {})?.ppl();
    let mut rows = Vec::new();
    for &s in &opts0.ladder {
        let p = Precision::uniform(s, session.inputs.selector);
        let ppl = golden_ppl(&session, &p, a.windows, &format!("uniform {s}"))?;
        rows.push((
            format!("uniform {s}"),
            Assignment::uniform(s, n_blocks).memory_bytes(model),
            ppl,
            None::<(f64, String)>,
        ));
    }
    let mut plots = Vec::new();
    for &budget in &a.budgets {
        let opts = a.common.options(Some(budget))?;
        let r = run_search(&mut ev, &opts, &format!("budget {} MB", mb(budget)))?;
        let name = format!("search_{}mb", budget / 1_000_000);
        let precision = a.precision_dir.join(format!("{name}.toml"));
        let svg = a.img_dir.join(format!("{name}_pareto.svg"));
        let json = std::env::temp_dir().join(format!("spikeq_{name}_pareto.json"));
        outputs(&ev, &opts, &r, &precision, &json, &svg)?;
        plots.push((budget, svg));
        let Some(c) = r.chosen else {
            rows.push((format!("search ≤ {} MB: nothing feasible", mb(budget)), 0, f64::NAN, None));
            continue;
        };
        let p = Precision::compact(&r.points[c].assignment, session.inputs.selector);
        let ppl = golden_ppl(&session, &p, a.windows, &precision.display().to_string())?;
        rows.push((
            format!("search ≤ {} MB (`{}`)", mb(budget), precision.display()),
            r.points[c].memory,
            ppl,
            Some((r.points[c].ppl, r.points[c].label.clone())),
        ));
    }

    let scored: usize = eval::windows(test_tokens, Some(a.windows)).map(<[u32]>::len).sum();
    let c = &a.common;
    let mut md = format!(
        "Command: `spikeq search results --budgets {} --windows {} --segments {} --segment-tokens {} --ladder {}{}`\n\n\
         Search on {} PTB valid segments of {} tokens (fast path, cached); test perplexity on the first {} PTB test windows \
         ({scored} scored tokens) through the golden backend with one array covering the widest setting. Memory counts the \
         weights and per-row f32 scales of the 210 linear layers (f32: {} MB).\n\n\
         | configuration | memory MB | vs f32 | vs uniform int8 | test PPL ({} windows) |\n| --- | ---: | ---: | ---: | ---: |\n| f32 | {} | 1.00 | — | {:.3} |\n",
        a.budgets.iter().map(|b| format!("{}M", b / 1_000_000)).collect::<Vec<_>>().join(","),
        a.windows,
        c.segments,
        c.segment_tokens,
        c.ladder.join(","),
        c.max_ppl_increase.map_or(String::new(), |p| format!(" --max-ppl-increase {p}")) + &c.max_ppl.map_or(String::new(), |p| format!(" --max-ppl {p}")),
        c.segments,
        c.segment_tokens,
        a.windows,
        mb(f32_mem),
        a.windows,
        mb(f32_mem),
        f32_test
    );
    for (label, mem, ppl, _) in &rows {
        md += &format!(
            "| {label} | {} | {:.3} | {:.3} | {ppl:.3} |\n",
            mb(*mem),
            *mem as f64 / f32_mem as f64,
            *mem as f64 / int8 as f64
        );
    }
    md += "\nChosen configurations (calibration PPL on PTB valid, the last search step):\n\n";
    for (label, _, _, chosen) in &rows {
        if let Some((cal, step)) = chosen {
            md += &format!("- {label}: calibration PPL {cal:.3}, reached by `{step}`\n");
        }
    }
    md += "\n";
    for (budget, svg) in &plots {
        let rel = pathdiff(svg, a.docs.parent().unwrap_or(Path::new(".")));
        md += &format!("![Pareto front, budget {} MB]({})\n", mb(*budget), rel.display());
    }
    spikeq_host::study::docs::update_file(&a.docs, "search", &md)
        .with_context(|| format!("updating {}", a.docs.display()))?;
    println!("{md}");
    eprintln!("updated {}", a.docs.display());
    Ok(())
}

/// `path` relative to `base` when it lies under base's parent folders' common root (docs links).
fn pathdiff(path: &Path, base: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix(base) {
        return rest.to_path_buf();
    }
    match base.parent() {
        Some(parent) if !base.as_os_str().is_empty() => Path::new("..").join(pathdiff(path, parent)),
        _ => path.to_path_buf(),
    }
}

pub fn dispatch(c: SearchCmd) -> Result<()> {
    match c {
        SearchCmd::Run(a) => run(a),
        SearchCmd::Results(a) => results(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_take_decimal_and_binary_suffixes() {
        assert_eq!(parse_bytes("70M"), Ok(70_000_000));
        assert_eq!(parse_bytes("1.5GB"), Ok(1_500_000_000));
        assert_eq!(parse_bytes("64MiB"), Ok(64 << 20));
        assert_eq!(parse_bytes("123456"), Ok(123_456));
        assert!(parse_bytes("70 furlongs").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("-3M").is_err());
    }

    #[test]
    fn doc_links_are_relative_to_the_document() {
        assert_eq!(pathdiff(Path::new("docs/img/a.svg"), Path::new("docs")), PathBuf::from("img/a.svg"));
    }
}
