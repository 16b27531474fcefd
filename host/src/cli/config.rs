//! `spikeq config check FILE`.

use std::path::PathBuf;

use anyhow::Result;
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
            let d = spikeq_host::files::config_file::read(&file)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&d)?);
            } else {
                print!("{}", d.report());
            }
            Ok(())
        }
    }
}
