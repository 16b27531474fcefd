//! `spikeq-fuzz`: runs the fuzz targets (see the library documentation and docs/reliability.md).
//!
//! ```text
//! cargo build --profile test-checked -p spikeq-fuzz
//! target/test-checked/spikeq-fuzz --target all --execs 1000000 --seed 1
//! ```
//!
//! The `test-checked` profile keeps overflow checks and debug assertions on, so an arithmetic
//! overflow on a hostile input is a crash here, not a silent wrap.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use spikeq_fuzz::alloc::CountingAlloc;
use spikeq_fuzz::{targets, Options};
use spikeq_host::files::paths::{self, DEFAULT_MODEL};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[derive(Debug, Parser)]
#[command(about = "Fuzz spikeq's parsers with a seeded mutation loop under crash, hang and allocation bounds")]
struct Args {
    /// Target: gguf, tokenizer, config, precision, stream, or all.
    #[arg(long, default_value = "all")]
    target: String,
    /// Executions per target.
    #[arg(long, default_value_t = 100_000)]
    execs: u64,
    /// Seed of the mutations (the same seed replays the same inputs).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Time limit of one execution, in seconds: a slower one is reported as a hang.
    #[arg(long, default_value_t = 2.0, value_parser = positive_seconds)]
    timeout: f64,
    /// Allocation bound of one execution, in MiB.
    #[arg(long, default_value_t = 256)]
    alloc_limit_mib: usize,
    /// Corpus root (one folder per target).
    #[arg(long, default_value = "fuzz/corpus")]
    corpus: PathBuf,
    /// Where reproducers of crashes, hangs and over-bound allocations go.
    #[arg(long, default_value = "target/spikeq-fuzz")]
    crash_dir: PathBuf,
    /// The GGUF whose tokenizer the tokenizer target fuzzes.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Run one input file through the target (a reproducer) instead of fuzzing.
    #[arg(long)]
    replay: Option<PathBuf>,
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds in (0, 3600]")),
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Fuzzes (or replays); returns whether no target crashed.
fn run(a: Args) -> Result<bool> {
    let model = paths::or_default(a.model.clone(), DEFAULT_MODEL);
    let names: Vec<&str> = if a.target == "all" { targets::NAMES.to_vec() } else { vec![a.target.as_str()] };
    if let Some(path) = &a.replay {
        let input = std::fs::read(path)?;
        for name in names {
            targets::build(name, &model)?.run(&input);
            println!("{name}: {} ran without a crash", path.display());
        }
        return Ok(true);
    }
    let opts = Options {
        execs: a.execs,
        seed: a.seed,
        timeout: Duration::from_secs_f64(a.timeout),
        alloc_limit: a.alloc_limit_mib << 20,
        crash_dir: a.crash_dir.clone(),
        report_every: 100_000,
    };
    let mut crashed = false;
    for name in names {
        let target = targets::build(name, &model)?;
        let corpus = spikeq_fuzz::load_corpus(&a.corpus.join(name))?;
        println!("{name}: {} seeds, {} execs, seed {}", corpus.len(), opts.execs, opts.seed);
        let summary = spikeq_fuzz::run(target.as_ref(), &corpus, &opts)?;
        for c in &summary.crashes {
            println!("CRASH {name} x{}: {} (reproducer {})", c.count, c.message, c.reproducer.display());
        }
        println!("{}", summary.line(&opts));
        crashed |= !summary.crashes.is_empty();
    }
    Ok(!crashed)
}
