//! iCE40 place and route with nextpnr-ice40: device choice, the run, and its JSON report
//! (utilisation and the post-route Fmax).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::tools::NEXTPNR_ICE40;
use super::SynthError;

/// iCE40 parts nextpnr can target here, smallest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ice40Device {
    /// iCE40 UltraPlus UP5K: 5,280 logic cells, 30 RAM40 blocks (iCEBreaker board, package sg48).
    Up5k,
    /// iCE40 HX8K: 7,680 logic cells, 32 RAM40 blocks (HX8K breakout board, package ct256), the
    /// largest iCE40.
    Hx8k,
}

impl Ice40Device {
    /// Every device, smallest first (the order automatic selection tries them in).
    pub const ALL: [Ice40Device; 2] = [Ice40Device::Up5k, Ice40Device::Hx8k];

    /// Logic cells (one LUT4 + one flip-flop + carry each).
    pub fn logic_cells(self) -> u64 {
        match self {
            Ice40Device::Up5k => 5280,
            Ice40Device::Hx8k => 7680,
        }
    }

    /// 4-Kbit block RAMs.
    pub fn brams(self) -> u64 {
        match self {
            Ice40Device::Up5k => 30,
            Ice40Device::Hx8k => 32,
        }
    }

    /// nextpnr-ice40's device flag and the package used unless another is given.
    fn nextpnr_flag(self) -> &'static str {
        match self {
            Ice40Device::Up5k => "--up5k",
            Ice40Device::Hx8k => "--hx8k",
        }
    }

    /// Default package: the one of the common board (iCEBreaker, HX8K breakout).
    pub fn default_package(self) -> &'static str {
        match self {
            Ice40Device::Up5k => "sg48",
            Ice40Device::Hx8k => "ct256",
        }
    }

    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Ice40Device::Up5k => "up5k",
            Ice40Device::Hx8k => "hx8k",
        }
    }

    /// Whether yosys's counts rule the device out before place and route (a logic cell holds at
    /// most one LUT4, so more LUT4s than cells cannot fit; likewise RAM).
    pub fn cannot_fit(self, luts: u64, brams: u64) -> bool {
        luts > self.logic_cells() || brams > self.brams()
    }
}

impl std::str::FromStr for Ice40Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.name() == s.to_ascii_lowercase())
            .ok_or_else(|| format!("unknown iCE40 device {s:?}: use one of up5k, hx8k"))
    }
}

/// What place and route produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// Logic cells used (ICESTORM_LC).
    pub logic_cells: u64,
    /// Post-route maximum frequency of the clock, MHz.
    pub fmax_mhz: f64,
}

#[derive(Deserialize)]
struct Report {
    fmax: BTreeMap<String, Fmax>,
    utilization: BTreeMap<String, Used>,
}

#[derive(Deserialize)]
struct Fmax {
    achieved: f64,
}

#[derive(Deserialize)]
struct Used {
    used: u64,
}

/// Files of one nextpnr run, relative to its directory.
pub const LOG: &str = "nextpnr.log";
/// nextpnr's JSON report.
pub const REPORT: &str = "nextpnr-report.json";
/// The routed design (input of icepack).
pub const ASC: &str = "design.asc";

/// Places and routes `netlist` (yosys JSON, in `dir`) on `device`, writing [`ASC`], [`LOG`] and
/// [`REPORT`] to `dir`. Timing failure is not an error (the report gives the Fmax achieved);
/// without a PCF the pins are placed freely.
pub fn place_and_route(
    dir: &Path,
    netlist: &str,
    device: Ice40Device,
    package: &str,
    pcf: Option<&Path>,
    freq_mhz: f64,
    seed: u64,
) -> Result<Routed, SynthError> {
    let (freq, seed) = (format!("{freq_mhz}"), seed.to_string());
    let mut args = vec![
        device.nextpnr_flag(),
        "--package",
        package,
        "--json",
        netlist,
        "--asc",
        ASC,
        "--report",
        REPORT,
        "--freq",
        &freq,
        "--seed",
        &seed,
        "--timing-allow-fail",
        "-q",
        "-l",
        LOG,
    ];
    let pcf_abs;
    match pcf {
        Some(p) => {
            pcf_abs = std::path::absolute(p).map_err(|source| SynthError::Io { path: p.to_path_buf(), source })?;
            args.extend([
                "--pcf",
                pcf_abs.to_str().ok_or_else(|| SynthError::Options(format!("{} is not UTF-8", p.display())))?,
            ]);
        }
        None => args.push("--pcf-allow-unconstrained"),
    }
    NEXTPNR_ICE40.run(dir, &args, LOG)?;
    let path = dir.join(REPORT);
    let text = std::fs::read_to_string(&path).map_err(|source| SynthError::Io { path: path.clone(), source })?;
    let parse = |reason: String| SynthError::Parse { path: path.clone(), reason };
    let r: Report = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
    let fmax_mhz =
        r.fmax.values().map(|f| f.achieved).reduce(f64::min).ok_or_else(|| parse("no clock in fmax".into()))?;
    let logic_cells = r.utilization.get("ICESTORM_LC").map(|u| u.used).ok_or_else(|| parse("no ICESTORM_LC".into()))?;
    Ok(Routed { logic_cells, fmax_mhz })
}
