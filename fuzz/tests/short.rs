//! The short seeded fuzz run of the test suite: every target, 2,000 executions, fixed seed, under
//! the same bounds as the documented runs (docs/reliability.md); and the harness itself catches
//! a crash, measures allocation, and stops on an allocation over the bound or a hang with the
//! input saved (so a passing run means something).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use spikeq_fuzz::alloc::CountingAlloc;
use spikeq_fuzz::{targets, Options, Target};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The harness has process-wide state (panic hook, allocation counters): one run at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn options(execs: u64) -> Options {
    Options {
        execs,
        seed: 16,
        // Generous: plain `cargo test` builds without optimisation.
        timeout: Duration::from_secs(30),
        alloc_limit: 256 << 20,
        crash_dir: std::env::temp_dir().join(format!("spikeq-fuzz-test-{}", std::process::id())),
        report_every: 0,
    }
}

#[test]
fn every_target_survives_a_short_seeded_run() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let model = root().join(spikeq_host::files::paths::DEFAULT_MODEL);
    assert!(model.is_file(), "{} is missing: run scripts/setup.sh", model.display());
    let opts = options(2_000);
    for name in targets::NAMES {
        let target = targets::build(name, &model).unwrap();
        let corpus = spikeq_fuzz::load_corpus(&root().join("fuzz/corpus").join(name)).unwrap();
        let s = spikeq_fuzz::run(target.as_ref(), &corpus, &opts).unwrap();
        eprintln!("{}", s.line(&opts));
        assert_eq!(s.execs, 2_000);
        assert!(s.accepted > 0, "{name}: no input got past the parser");
        assert!(s.crashes.is_empty(), "{name}: {:?}", s.crashes);
        assert!(s.peak_alloc > 0, "{name}: the counting allocator saw nothing");
    }
    let _ = std::fs::remove_dir_all(&opts.crash_dir);
}

/// Panics on inputs that start with `!` and holds 1 MiB on the others.
struct Planted;

impl Target for Planted {
    fn name(&self) -> &'static str {
        "planted"
    }
    fn max_len(&self) -> usize {
        64
    }
    fn run(&self, input: &[u8]) -> bool {
        assert!(input.first() != Some(&b'!'), "planted bug");
        std::hint::black_box(vec![1u8; 1 << 20]);
        true
    }
}

#[test]
fn the_harness_reports_a_planted_crash_with_its_reproducer() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let opts = options(3_000);
    let corpus = vec![b"ok".to_vec(), b"!".to_vec()];
    let s = spikeq_fuzz::run(&Planted, &corpus, &opts).unwrap();
    assert_eq!(s.crashes.len(), 1, "{:?}", s.crashes);
    let c = &s.crashes[0];
    assert!(c.message.contains("planted bug") && c.message.contains("short.rs"), "{}", c.message);
    assert!(c.count >= 1 && c.count < 3_000);
    assert_eq!(s.accepted + c.count, 3_000, "every execution either passed or crashed");
    assert_eq!(std::fs::read(&c.reproducer).unwrap().first(), Some(&b'!'));
    assert!(s.peak_alloc >= 1 << 20, "peak {} below the 1 MiB the target holds", s.peak_alloc);
    let _ = std::fs::remove_dir_all(&opts.crash_dir);
}

/// Holds 1 GiB (zeroed, so the pages are never touched) on inputs that start with `A`, and sleeps
/// 10 s on inputs that start with `H`.
struct Greedy;

impl Target for Greedy {
    fn name(&self) -> &'static str {
        "greedy"
    }
    fn max_len(&self) -> usize {
        64
    }
    fn run(&self, input: &[u8]) -> bool {
        match input.first() {
            Some(b'A') => drop(std::hint::black_box(vec![0u8; 1 << 30])),
            Some(b'H') => std::thread::sleep(Duration::from_secs(10)),
            _ => {}
        }
        true
    }
}

/// Runs `Greedy` on `seed` in a child process (the bounds end the process), returning its exit
/// status, its stderr and the crash directory.
fn greedy_child(test: &str, seed: &str) -> (std::process::ExitStatus, String, PathBuf) {
    let dir = std::env::temp_dir().join(format!("spikeq-fuzz-{test}-{}", std::process::id()));
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads", "1"])
        .env("SPIKEQ_FUZZ_CHILD", seed)
        .env("SPIKEQ_FUZZ_CHILD_DIR", &dir)
        .output()
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned(), dir.join("greedy"))
}

/// In the child: fuzz `Greedy` from the one seed given, with a 0.5 s limit and a 64 MiB bound.
fn greedy_in_child() -> bool {
    let Some(seed) = std::env::var_os("SPIKEQ_FUZZ_CHILD") else { return false };
    let mut opts = options(10);
    opts.timeout = Duration::from_millis(500);
    opts.alloc_limit = 64 << 20;
    opts.crash_dir = std::env::var_os("SPIKEQ_FUZZ_CHILD_DIR").unwrap().into();
    let _ = spikeq_fuzz::run(&Greedy, &[seed.into_encoded_bytes()], &opts);
    true
}

#[test]
fn an_allocation_over_the_bound_stops_the_run_with_its_reproducer() {
    if greedy_in_child() {
        return;
    }
    let (status, stderr, dir) = greedy_child("an_allocation_over_the_bound_stops_the_run_with_its_reproducer", "A1");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("ALLOCATION over the bound of 67108864 bytes"), "{stderr}");
    assert_eq!(std::fs::read(dir.join("alloc-over-bound.bin")).unwrap(), b"A1");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_hang_stops_the_run_with_its_reproducer() {
    if greedy_in_child() {
        return;
    }
    let (status, stderr, dir) = greedy_child("a_hang_stops_the_run_with_its_reproducer", "H1");
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("HANG in greedy"), "{stderr}");
    let saved: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    let hang = saved.iter().find(|n| n.to_string_lossy().starts_with("hang-")).expect("a hang reproducer");
    assert_eq!(std::fs::read(dir.join(hang)).unwrap(), b"H1");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}
