//! `spikeq config check FILE`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate a configuration file and print every derived width.
    Check {
        /// TOML configuration, e.g. configs/default.toml.
        file: PathBuf,
        /// Print the derived widths as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: ConfigCmd) -> Result<()> {
    match cmd {
        ConfigCmd::Check { file, json } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let d = spikeq_hdl::Derived::from_toml(&text)
                .with_context(|| format!("{} is not a usable configuration", file.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print!("{}", d.report());
            }
            Ok(())
        }
    }
}
