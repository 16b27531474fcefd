//! `spikeq regmap`: export the register map.

use anyhow::Result;
use clap::Args;
use spikeq_hdl::regmap;

#[derive(Debug, Args)]
pub struct RegmapArgs {
    /// Markdown (docs/regmap.md).
    #[arg(long, group = "fmt")]
    markdown: bool,
    /// C header.
    #[arg(long, group = "fmt")]
    c_header: bool,
    /// JSON.
    #[arg(long, group = "fmt")]
    json: bool,
}

pub fn run(a: RegmapArgs) -> Result<()> {
    let text = if a.c_header {
        regmap::to_c_header()
    } else if a.json {
        regmap::to_json() + "\n"
    } else {
        regmap::to_markdown()
    };
    print!("{text}");
    Ok(())
}
