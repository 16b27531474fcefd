//! `spikeq gen` writes all or nothing: a run that fails half-way (here a file-size limit, as a full
//! disk would) leaves the output directory as it was, so the retry is accepted and succeeds.

use std::path::Path;
use std::process::Command;

/// Runs `spikeq gen` on configs/tiny.toml into `out`, under a file-size limit of `limit_kib` KiB
/// when given (SIGXFSZ ignored, so a write past it fails with EFBIG like one on a full disk).
fn gen(out: &Path, limit_kib: Option<u32>) -> std::process::Output {
    let exe = env!("CARGO_BIN_EXE_spikeq");
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/tiny.toml");
    let limit = limit_kib.map_or(String::new(), |k| format!("ulimit -f {k}; "));
    let script = format!("trap '' XFSZ; {limit}exec \"$0\" gen --config \"$1\" --out \"$2\" --testbench");
    Command::new("bash").args(["-c", &script, exe]).arg(&config).arg(out).output().expect("bash runs")
}

/// Every file under `dir` with its bytes, sorted.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                files.push((p.strip_prefix(dir).unwrap().display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn a_failed_generation_leaves_the_directory_as_it_was() {
    let root = std::env::temp_dir().join(format!("spikeq-gen-output-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let out = root.join("tiny");

    // A fresh directory: the failed run creates nothing (no truncated .v, no partial folder).
    let failed = gen(&out, Some(4));
    assert!(!failed.status.success(), "gen under a 4 KiB file limit must fail");
    assert!(String::from_utf8_lossy(&failed.stderr).contains("error:"), "{failed:?}");
    assert!(!out.exists(), "the failed run left {}", out.display());
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "a staging folder was left behind");

    // The retry is accepted and writes the design.
    let ok = gen(&out, None);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let before = snapshot(&out);
    assert!(before.iter().any(|(p, _)| p == "manifest.json") && before.iter().any(|(p, _)| p.ends_with(".v")));

    // Over an earlier generation: a failed run changes no byte of it.
    let failed = gen(&out, Some(4));
    assert!(!failed.status.success());
    assert_eq!(snapshot(&out), before, "the failed run changed the earlier generation");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1, "a staging folder was left behind");
    std::fs::remove_dir_all(&root).unwrap();
}
