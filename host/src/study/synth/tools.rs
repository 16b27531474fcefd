//! The external tools of the flows: finding them (with an install hint when missing), their
//! versions (recorded in every report and in the cache key) and running them with a log.

use std::path::Path;
use std::process::Command;

use super::SynthError;

/// How to install every tool the flows use (one Debian package each).
pub const INSTALL_HINT: &str = "run scripts/setup.sh, or `sudo apt-get install yosys nextpnr-ice40 fpga-icestorm`";

/// An external program of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// Executable name.
    pub exe: &'static str,
    /// Argument that prints the version.
    version_arg: &'static str,
    /// Debian package that provides it.
    pub package: &'static str,
}

/// yosys (synthesis, both families).
pub const YOSYS: Tool = Tool { exe: "yosys", version_arg: "-V", package: "yosys" };
/// nextpnr-ice40 (place and route, iCE40).
pub const NEXTPNR_ICE40: Tool = Tool { exe: "nextpnr-ice40", version_arg: "--version", package: "nextpnr-ice40" };

impl Tool {
    /// The tool's version line (first non-empty line it prints), or a [`SynthError::ToolMissing`]
    /// that says how to install it.
    pub fn version(self) -> Result<String, SynthError> {
        let out = Command::new(self.exe).arg(self.version_arg).output().map_err(|_| self.missing())?;
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        Ok(text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(self.exe).to_string())
    }

    fn missing(self) -> SynthError {
        SynthError::ToolMissing { tool: self.exe, package: self.package }
    }

    /// Runs the tool in `dir` with `args`; its own log goes to `dir/log` (the tools write it
    /// themselves via `-l`). A non-zero exit becomes [`SynthError::ToolFailed`] with the log's tail.
    pub fn run(self, dir: &Path, args: &[&str], log: &str) -> Result<(), SynthError> {
        let out = Command::new(self.exe).current_dir(dir).args(args).output().map_err(|_| self.missing())?;
        if out.status.success() {
            return Ok(());
        }
        let logged = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
        let text = logged + &String::from_utf8_lossy(&out.stdout) + &String::from_utf8_lossy(&out.stderr);
        Err(SynthError::ToolFailed { tool: self.exe, log: dir.join(log), tail: tail(&text, 15) })
    }
}

/// The last `n` non-empty lines of a log.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_says_how_to_install_it() {
        let tool = Tool { exe: "spikeq-no-such-tool", version_arg: "-V", package: "spikeq-pkg" };
        let err = tool.version().unwrap_err().to_string();
        assert!(err.contains("spikeq-no-such-tool is not installed") && err.contains("scripts/setup.sh"), "{err}");
        assert!(err.contains("apt-get install spikeq-pkg") && err.contains("nextpnr-ice40 fpga-icestorm"), "{err}");
    }

    #[test]
    fn installed_tools_report_their_version() {
        assert!(YOSYS.version().unwrap().starts_with("Yosys "));
        assert!(NEXTPNR_ICE40.version().unwrap().contains("nextpnr-ice40"));
    }
}
