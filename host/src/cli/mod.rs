//! Argument parsing (clap) and dispatch to one module per subcommand.

mod args;
mod bench;
mod bench_eval;
mod board;
mod compare;
mod config;
mod cosim;
mod energy;
mod eval;
mod files;
mod gen;
mod generate;
mod progress;
mod regmap;
mod search;
mod synth;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// spikeq: spike-count accelerators for quantized LLMs — generate RTL, cosimulate it, and run
/// SmolLM2 through the golden model, Verilator or an FPGA board.
#[derive(Debug, Parser)]
#[command(name = "spikeq", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Array configurations: validate one and print its derived widths.
    #[command(subcommand)]
    Config(config::ConfigCmd),
    /// Print the register map (Markdown, C header or JSON).
    Regmap(regmap::RegmapArgs),
    /// Benchmarks that print ratios and machine-independent counts measured in one run.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Greedy text generation with the f32 model (KV cache).
    Generate(generate::GenerateArgs),
    /// Generate the RTL of an array (plus manifest, signature, optional Icarus testbench).
    Gen(gen::GenArgs),
    /// Cosimulation: random tile calls through the Verilator model, checked against the golden model.
    Cosim(cosim::CosimArgs),
    /// Serve a virtual XDMA board (the RTL in Verilator) as FUSE device files for `--backend xdma:DIR`.
    Board(board::BoardArgs),
    /// Area and Fmax from yosys and nextpnr (iCE40) / yosys (Xilinx), as JSON and Markdown.
    Synth(synth::SynthArgs),
    /// Perplexity on the PTB test split (windows of 511 tokens after token 0).
    Eval(eval::EvalArgs),
    /// Mixed-precision search (global -> block -> module) under memory and perplexity limits.
    #[command(subcommand)]
    Search(search::SearchCmd),
    /// Energy per token of the spike array (raw, fire) vs a W4A4 MAC accelerator (the shape of
    /// --config with pe = "mac"), from counts of golden-backend runs on PTB text priced with
    /// Horowitz's 45 nm per-op energies.
    Energy(energy::EnergyArgs),
    /// Spike vs MAC arrays across sizes (--config with rows = lanes and the PE set per point): area,
    /// Fmax, cycles per token, throughput per LUT and energy per token; writes JSON, an SVG plot and
    /// a table in docs/results.md.
    Compare(compare::CompareArgs),
}

/// Parses the command line and runs it.
pub fn run() -> Result<()> {
    match Cli::parse().command {
        Command::Config(c) => config::run(c),
        Command::Regmap(a) => regmap::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Search(c) => search::dispatch(c),
        Command::Gen(a) => gen::run(a),
        Command::Bench(c) => bench::run(c),
        Command::Cosim(a) => cosim::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Energy(a) => energy::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Board(a) => board::run(a),
    }
}

/// An error and its causes on one line, each cause once: many errors already quote their source
/// in their own message (`cannot read X: Not a directory`), so a cause whose text the line holds
/// is not repeated (anyhow's `{:#}` would print `...: Not a directory: Not a directory`).
pub fn report(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::report;

    #[test]
    fn a_cause_the_message_quotes_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotADirectory);
        let quoted = spikeq_host::llm::model::ModelError::Io { path: "m.gguf".into(), source: io };
        let line = report(&anyhow::Error::new(quoted));
        assert_eq!(line.matches("directory").count(), 1, "{line}");
        let wrapped = anyhow::Error::msg("inner cause").context("outer");
        assert_eq!(report(&wrapped), "outer: inner cause");
    }
}
