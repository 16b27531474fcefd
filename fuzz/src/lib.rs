//! `spikeq-fuzz`: in-process fuzzing of every parser of untrusted input in spikeq, on stable Rust.
//!
//! A seeded mutation loop ([`mutate`]) feeds each [`Target`] inputs derived from its corpus
//! (`fuzz/corpus/<target>/`, under version control). Every execution runs under three bounds:
//!
//! - **panics** are caught (`catch_unwind`) and reported as crashes, each distinct panic site's
//!   first input saved as `crash-<hash>.bin` in the crash directory;
//! - **hangs**: a watchdog thread stops the run when one execution takes longer than the time
//!   limit, saving the input as `hang-<hash>.bin` (a stuck thread cannot be abandoned, so the
//!   process exits, as libFuzzer does);
//! - **allocation**: with [`alloc::CountingAlloc`] installed, an input that makes the code hold
//!   more than the allocation bound stops the run, saving the input (see [`alloc`]).
//!
//! A target panics when the code under test misbehaves on an accepted input: the targets check
//! properties (round trips, fast path equals reference, values in range), not only the absence
//! of panics. docs/reliability.md has the commands and the figures of the documented runs.

pub mod alloc;
pub mod mutate;
pub mod targets;

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One fuzz target: a parser (and what is built on what it accepts) with the properties it must
/// keep on every input.
pub trait Target {
    /// Name of the target and of its corpus folder.
    fn name(&self) -> &'static str;
    /// Longest input the mutator produces (keeps executions fast and within the bounds).
    fn max_len(&self) -> usize;
    /// Runs one input; panics when a property is broken. Returns whether the input got past the
    /// parser to the checks behind it (counted, so a run shows how deep its inputs went).
    fn run(&self, input: &[u8]) -> bool;
    /// A structure-aware mutation (a GGUF field, a TOML value), or None when the input has no
    /// structure to work on.
    fn structured(&self, _input: &[u8], _rng: &mut StdRng) -> Option<Vec<u8>> {
        None
    }
}

/// Bounds and sizes of one run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Executions (the corpus entries unmutated first, then mutants).
    pub execs: u64,
    /// Seed of the mutations.
    pub seed: u64,
    /// Time limit of one execution.
    pub timeout: Duration,
    /// Allocation bound of one execution in bytes (enforced when the counting allocator is
    /// installed).
    pub alloc_limit: usize,
    /// Where reproducers go (`<dir>/<target>/`).
    pub crash_dir: PathBuf,
    /// Progress line every this many executions (0: none).
    pub report_every: u64,
}

/// One distinct crash: the panic site, its message, how often, and the saved input.
#[derive(Debug, Clone)]
pub struct Crash {
    /// Panic message with its location.
    pub message: String,
    /// Executions that panicked at this site.
    pub count: u64,
    /// The first such input, saved.
    pub reproducer: PathBuf,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Target name.
    pub target: &'static str,
    /// Executions done.
    pub execs: u64,
    /// Executions whose input the parser accepted ([`Target::run`] returned true).
    pub accepted: u64,
    /// Distinct crashes (by panic location).
    pub crashes: Vec<Crash>,
    /// Largest allocation peak of one execution, in bytes (0 without the counting allocator).
    pub peak_alloc: usize,
    /// Longest execution.
    pub slowest: Duration,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Summary {
    /// Executions that panicked.
    pub fn crash_count(&self) -> u64 {
        self.crashes.iter().map(|c| c.count).sum()
    }

    /// The one-line report: executions, crashes, hangs (always 0 here: a hang ends the process),
    /// allocation peak against the bound, slowest execution, rate.
    pub fn line(&self, opts: &Options) -> String {
        format!(
            "{}: {} execs ({} accepted), {} crashes ({} distinct), 0 hangs (limit {:.1} s, slowest {:.1} ms), peak allocation {:.3} MiB of {:.0} MiB, {:.1} s, {:.0} execs/s",
            self.target,
            self.execs,
            self.accepted,
            self.crash_count(),
            self.crashes.len(),
            opts.timeout.as_secs_f64(),
            self.slowest.as_secs_f64() * 1e3,
            self.peak_alloc as f64 / (1u64 << 20) as f64,
            opts.alloc_limit as f64 / (1u64 << 20) as f64,
            self.elapsed.as_secs_f64(),
            self.execs as f64 / self.elapsed.as_secs_f64().max(1e-9)
        )
    }
}

/// The corpus of a target: every file of `dir`, sorted by name (at least one).
pub fn load_corpus(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the corpus {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "the corpus {} is empty", dir.display());
    files.iter().map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display()))).collect()
}

/// FNV-1a of an input: its reproducer's file name.
fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Message and location of the last panic, captured by the hook [`run`] installs.
static LAST_PANIC: Mutex<Option<(String, String)>> = Mutex::new(None);
/// Whether the target is running (a panic elsewhere is the harness's own and is printed).
static IN_EXEC: AtomicBool = AtomicBool::new(false);

/// Fuzzes `target` from `corpus` under `opts`; returns the summary (crashes included) or an error
/// when the run could not start. A hang or an over-bound allocation ends the process.
pub fn run(target: &dyn Target, corpus: &[Vec<u8>], opts: &Options) -> Result<Summary> {
    anyhow::ensure!(!corpus.is_empty(), "{}: empty corpus", target.name());
    let dir = opts.crash_dir.join(target.name());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let alloc_file = dir.join("alloc-over-bound.bin");
    let sink = std::fs::File::create(&alloc_file).with_context(|| format!("creating {}", alloc_file.display()))?;
    alloc::configure(sink, alloc_file.display().to_string(), opts.alloc_limit);
    {
        let mut cur = alloc::CURRENT.lock().expect("not poisoned");
        let need = target.max_len().max(corpus.iter().map(Vec::len).max().unwrap_or(0));
        cur.clear();
        cur.reserve(need);
    }

    // The watchdog: EXEC_START is the start of the running execution in µs since `epoch`
    // (0 when none runs).
    let epoch = Instant::now();
    let exec_start = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (exec_start, done, dir, timeout, name) =
            (exec_start.clone(), done.clone(), dir.clone(), opts.timeout, target.name());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
                let start = exec_start.load(Ordering::SeqCst);
                let now = epoch.elapsed().as_micros() as u64;
                if start != 0 && now.saturating_sub(start) > timeout.as_micros() as u64 {
                    let input = alloc::CURRENT.lock().map(|v| v.clone()).unwrap_or_default();
                    let path = dir.join(format!("hang-{:016x}.bin", fnv(&input)));
                    let saved = std::fs::write(&path, &input).is_ok();
                    eprintln!(
                        "\nspikeq-fuzz: HANG in {name}: one execution ran over {:.1} s; reproducer{}: {}",
                        timeout.as_secs_f64(),
                        if saved { "" } else { " (could not be written)" },
                        path.display()
                    );
                    std::process::exit(3);
                }
            }
        })
    };

    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".into());
        if !IN_EXEC.load(Ordering::SeqCst) {
            // A panic of the harness itself (the mutators): not the target's, so say it.
            eprintln!("spikeq-fuzz: panic outside the target at {location}: {message}");
        }
        if let Ok(mut last) = LAST_PANIC.lock() {
            last.get_or_insert((location, message));
        }
    }));

    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut crashes: BTreeMap<String, Crash> = BTreeMap::new();
    let (mut peak_alloc, mut slowest, mut accepted) = (0usize, Duration::ZERO, 0u64);
    let t0 = Instant::now();
    let mut input = Vec::with_capacity(target.max_len());
    for i in 0..opts.execs {
        input.clear();
        let seed = &corpus[rng.gen_range(0..corpus.len())];
        if (i as usize) < corpus.len() {
            input.extend_from_slice(&corpus[i as usize]);
        } else {
            input.extend_from_slice(seed);
            // 1 mutation half of the time, 2 a quarter, ... up to 6: stacked mutations explore,
            // single ones keep more inputs valid enough to reach the checks behind the parser.
            let stack = 1 + (0..5).take_while(|_| rng.gen_bool(0.5)).count();
            for _ in 0..stack {
                match rng.gen_bool(0.3).then(|| target.structured(&input, &mut rng)).flatten() {
                    Some(m) => input = m,
                    None => {
                        let other = &corpus[rng.gen_range(0..corpus.len())];
                        mutate::mutate_bytes(&mut input, other, &mut rng);
                    }
                }
            }
            input.truncate(target.max_len());
        }
        {
            let mut cur = alloc::CURRENT.lock().expect("not poisoned");
            cur.clear();
            cur.extend_from_slice(&input);
        }
        *LAST_PANIC.lock().expect("not poisoned") = None;
        let start = Instant::now();
        exec_start.store((epoch.elapsed().as_micros() as u64).max(1), Ordering::SeqCst);
        IN_EXEC.store(true, Ordering::SeqCst);
        alloc::arm();
        let result = panic::catch_unwind(AssertUnwindSafe(|| target.run(&input)));
        let peak = alloc::disarm();
        IN_EXEC.store(false, Ordering::SeqCst);
        exec_start.store(0, Ordering::SeqCst);
        slowest = slowest.max(start.elapsed());
        peak_alloc = peak_alloc.max(peak);
        accepted += u64::from(matches!(result, Ok(true)));
        if result.is_err() {
            let (location, message) = LAST_PANIC.lock().expect("not poisoned").take().unwrap_or_default();
            let crash = crashes.entry(location.clone()).or_insert_with(|| {
                let path = dir.join(format!("crash-{:016x}.bin", fnv(&input)));
                if let Err(e) = std::fs::write(&path, &input) {
                    eprintln!("spikeq-fuzz: cannot save {}: {e}", path.display());
                }
                eprintln!(
                    "spikeq-fuzz: CRASH in {} at {location}: {message}; reproducer: {}",
                    target.name(),
                    path.display()
                );
                Crash { message: format!("{location}: {message}"), count: 0, reproducer: path }
            });
            crash.count += 1;
        }
        if opts.report_every > 0 && (i + 1) % opts.report_every == 0 {
            eprintln!(
                "{}: {} execs, {} crashes, {:.0} execs/s",
                target.name(),
                i + 1,
                crashes.values().map(|c| c.count).sum::<u64>(),
                (i + 1) as f64 / t0.elapsed().as_secs_f64().max(1e-9)
            );
        }
    }
    let elapsed = t0.elapsed();
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    panic::set_hook(previous_hook);
    let _ = std::fs::remove_file(&alloc_file);
    Ok(Summary {
        target: target.name(),
        execs: opts.execs,
        accepted,
        crashes: crashes.into_values().collect(),
        peak_alloc: if alloc::installed() { peak_alloc } else { 0 },
        slowest,
        elapsed,
    })
}
