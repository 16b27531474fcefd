//! `spikeq gen --config FILE --out DIR [--force] [--testbench]`: writes the RTL of an array, its
//! manifest and signature (and optionally the self-checking Icarus testbench).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use spikeq_codegen::testbench::TbOptions;
use spikeq_host::files::config_file;
use spikeq_host::llm::precision::Precision;
use spikeq_host::llm::quant::Quantization;

#[derive(Debug, Args)]
pub struct GenArgs {
    /// TOML configuration, e.g. configs/tiny.toml.
    #[arg(long)]
    config: PathBuf,
    /// Per-layer precision file (docs/search.md): the array is --config widened to the widest
    /// weight format and activation bits the file names, raw output, as `spikeq eval --precision` opens it.
    #[arg(long)]
    precision: Option<PathBuf>,
    /// Output directory (created; a non-empty directory must hold an earlier spikeq manifest).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite a non-empty directory that was not written by `spikeq gen`.
    #[arg(long)]
    force: bool,
    /// Also write the self-checking Icarus testbench and its vectors (tb/).
    #[arg(long)]
    testbench: bool,
    /// Seed of the testbench's random layers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Largest K the testbench vectors use (keeps Icarus runs short on big arrays).
    #[arg(long, default_value_t = 96)]
    tb_k_limit: u32,
}

pub fn run(a: GenArgs) -> Result<()> {
    let base = config_file::read(&a.config)?;
    let d = match &a.precision {
        None => base,
        Some(p) => Quantization::mixed(Precision::load(p)?).array(&base.config)?,
    };
    let mut design = spikeq_codegen::generate(&d)?;
    if a.testbench {
        let o = TbOptions { seed: a.seed, k_limit: a.tb_k_limit, ..TbOptions::default() };
        design.add_files(spikeq_codegen::testbench::generate(&d, &o)?);
    }
    design.write_to(&a.out, a.force)?;
    println!("{} ({} files) -> {}", design.top, design.files.len(), a.out.display());
    if a.testbench {
        println!("run the testbench: sh {}/tb/run_icarus.sh", a.out.display());
    }
    Ok(())
}
