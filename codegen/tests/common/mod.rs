//! Helpers shared by the integration tests: configurations, tool checks, temporary directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use spikeq_hdl::Derived;

/// Repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// A committed configuration, validated.
pub fn config(name: &str) -> Derived {
    let text = std::fs::read_to_string(root().join("configs").join(format!("{name}.toml"))).expect("config file");
    Derived::from_toml(&text).expect("valid config")
}

/// A configuration from TOML fields, on top of small defaults.
pub fn cfg(name: &str, extra: &str) -> Derived {
    let mut fields = std::collections::BTreeMap::new();
    for line in [
        "rows = 4",
        "lanes = 4",
        "weight_format = \"int4\"",
        "k_max = 40",
        "m_max = 64",
        "max_salient = 4",
        "frac_bits = 6",
    ]
    .into_iter()
    .chain(extra.lines())
    {
        let line = line.trim();
        if let Some((k, v)) = line.split_once('=') {
            fields.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let mut text = format!("name = \"{name}\"\n");
    for (k, v) in fields {
        text.push_str(&format!("{k} = {v}\n"));
    }
    Derived::from_toml(&text).unwrap_or_else(|e| panic!("config {name}: {e}\n{text}"))
}

/// Fails (never skips) when a tool is missing.
pub fn require(tool: &str) {
    let ok = Command::new(tool).arg(if tool == "iverilog" { "-V" } else { "--version" }).output().is_ok();
    assert!(ok, "{tool} is not installed: run scripts/setup.sh (the codegen tests need verilator, iverilog and yosys)");
}

/// A fresh scratch directory under target/.
pub fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target").join("codegen-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs a command, returning its output (stdout and stderr joined).
pub fn run(cmd: &mut Command) -> (bool, String) {
    let out: Output = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}
