//! Resource counts from yosys's cell statistics (`stat -json`), per family.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{SynthError, Target};

/// The resource classes every report carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// LUTs (SB_LUT4 / LUT1..LUT6).
    pub luts: u64,
    /// Flip-flops (SB_DFF* / FD*), harness included.
    pub ffs: u64,
    /// Block RAMs: SB_RAM40_4K (4 Kbit) on iCE40, RAMB18 units on Xilinx (RAMB36 = 2).
    pub brams: u64,
    /// Carry cells (SB_CARRY / CARRY4).
    pub carries: u64,
    /// DSP blocks (SB_MAC16 / DSP48E1).
    pub dsps: u64,
    /// Distributed-RAM cells (Xilinx).
    pub lutrams: u64,
}

#[derive(Deserialize)]
struct Stat {
    design: StatDesign,
}

#[derive(Deserialize)]
struct StatDesign {
    num_cells_by_type: BTreeMap<String, u64>,
}

/// The cell histogram of the synthesised (flattened) design, from yosys's `stat -json` output.
pub fn read_stat(path: &Path) -> Result<BTreeMap<String, u64>, SynthError> {
    let text = std::fs::read_to_string(path).map_err(|source| SynthError::Io { path: path.to_path_buf(), source })?;
    let stat: Stat = serde_json::from_str(&text)
        .map_err(|e| SynthError::Parse { path: path.to_path_buf(), reason: e.to_string() })?;
    Ok(stat.design.num_cells_by_type)
}

/// Resource classes of a cell histogram.
/// - iCE40: LUT = SB_LUT4, FF = SB_DFF*, BRAM = SB_RAM40_4K (4 Kbit), carry = SB_CARRY, DSP = SB_MAC16.
/// - Xilinx 7-series: LUT = LUT1..LUT6, FF = FD*, BRAM in RAMB18 units (a RAMB36E1 counts 2),
///   DSP = DSP48E1, carry = CARRY4, LUTRAM = distributed RAM cells (RAM32M, RAM64X1D, ...).
///   INV cells are not counted as LUTs (see [`super::SynthReport::note`]).
pub fn classify(target: Target, cells: &BTreeMap<String, u64>) -> Counts {
    let mut c = Counts::default();
    for (name, &n) in cells {
        let name = name.as_str();
        match target {
            Target::Ice40 => match name {
                "SB_LUT4" => c.luts += n,
                "SB_RAM40_4K" => c.brams += n,
                "SB_CARRY" => c.carries += n,
                "SB_MAC16" => c.dsps += n,
                _ if name.starts_with("SB_DFF") => c.ffs += n,
                _ => {}
            },
            Target::Xilinx => match name {
                "LUT1" | "LUT2" | "LUT3" | "LUT4" | "LUT5" | "LUT6" => c.luts += n,
                "FDRE" | "FDSE" | "FDCE" | "FDPE" => c.ffs += n,
                "RAMB18E1" => c.brams += n,
                "RAMB36E1" => c.brams += 2 * n,
                "CARRY4" => c.carries += n,
                _ if name.starts_with("DSP48") => c.dsps += n,
                _ if name.starts_with("RAM") && !name.starts_with("RAMB") => c.lutrams += n,
                _ => {}
            },
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_family() {
        let cells: BTreeMap<String, u64> =
            [("SB_LUT4", 10), ("SB_DFFESR", 3), ("SB_DFF", 2), ("SB_RAM40_4K", 4), ("SB_CARRY", 5), ("SB_IO", 4)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        assert_eq!(
            classify(Target::Ice40, &cells),
            Counts { luts: 10, ffs: 5, brams: 4, carries: 5, dsps: 0, lutrams: 0 }
        );
        let cells: BTreeMap<String, u64> = [
            ("LUT2", 3),
            ("LUT6", 4),
            ("INV", 9),
            ("FDRE", 7),
            ("FDSE", 1),
            ("RAMB36E1", 2),
            ("RAMB18E1", 1),
            ("DSP48E1", 6),
            ("RAM32M", 5),
            ("CARRY4", 2),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(
            classify(Target::Xilinx, &cells),
            Counts { luts: 7, ffs: 8, brams: 5, carries: 2, dsps: 6, lutrams: 5 }
        );
    }
}
