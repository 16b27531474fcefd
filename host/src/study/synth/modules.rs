//! Where the LUTs go: the design synthesised for iCE40 *without* flattening, so yosys's `stat`
//! counts each module's own cells, multiplied by how often the hierarchy instantiates it.
//!
//! Unflattened synthesis cannot optimise across module boundaries, so the totals are a little
//! above the flattened run's; the split is what the next optimisation should aim at.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use spikeq_codegen::flow;
use spikeq_hdl::Derived;

use super::{cells, tools, SynthError, Target};

/// One module's share of the array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleArea {
    /// Module name without the configuration hash (`spikeq_row`).
    pub module: String,
    /// Instances in the design.
    pub instances: u64,
    /// Cells of one instance.
    pub each: cells::Counts,
    /// Cells of all instances.
    pub total: cells::Counts,
}

#[derive(Deserialize)]
struct Stat {
    modules: BTreeMap<String, StatModule>,
}

#[derive(Deserialize)]
struct StatModule {
    num_cells_by_type: BTreeMap<String, u64>,
}

/// Synthesises `d` (with the harness) for iCE40 without flattening in `out/modules/` and returns
/// every module's cells, top first.
pub fn split(d: &Derived, out: &Path) -> Result<Vec<ModuleArea>, SynthError> {
    let design = flow::generate_for_synthesis(d)?;
    let rtl = out.join("rtl");
    design.write_to(&rtl, true)?;
    let dir = out.join("modules");
    super::reset_dir(&dir)?;
    let files: Vec<String> = design.verilog().map(|f| format!("../rtl/{}", f.path)).collect();
    let top = flow::harness_name(d);
    let script = format!(
        "read_verilog -sv {}\nsynth_ice40 -abc9 -noflatten -top {top}\ntee -q -o stat.json stat -json\n",
        files.join(" ")
    );
    super::write(&dir.join("modules.ys"), &script)?;
    tools::YOSYS.run(&dir, &["-q", "-l", "yosys.log", "-s", "modules.ys"], "yosys.log")?;
    let path = dir.join("stat.json");
    let text = std::fs::read_to_string(&path).map_err(|source| SynthError::Io { path: path.clone(), source })?;
    let stat = parse(&text).map_err(|reason| SynthError::Parse { path, reason })?;
    Ok(tally(&stat, &top, &format!("_{}", d.short_hash())))
}

/// Parses yosys 0.23's `stat -json`, which prints the hierarchy as plain text lines in the middle
/// of the JSON when the design is not flat: those lines (no quote, brace or colon) are dropped.
fn parse(text: &str) -> Result<Stat, String> {
    let json: String = text
        .lines()
        .filter(|l| l.trim().is_empty() || l.contains(['"', '{', '}', ':', '[', ']']))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&json).map_err(|e| e.to_string())
}

/// Instances of every module below `top` (cells whose type is a module), and their counts.
fn tally(stat: &Stat, top: &str, suffix: &str) -> Vec<ModuleArea> {
    let key = |m: &str| format!("\\{m}");
    let mut instances: BTreeMap<String, u64> = BTreeMap::new();
    let mut order = vec![top.to_string()];
    instances.insert(top.to_string(), 1);
    let mut i = 0;
    while i < order.len() {
        let m = order[i].clone();
        let n = instances[&m];
        if let Some(sm) = stat.modules.get(&key(&m)) {
            for (cell, &count) in &sm.num_cells_by_type {
                if stat.modules.contains_key(&key(cell)) {
                    if !instances.contains_key(cell) {
                        order.push(cell.clone());
                    }
                    *instances.entry(cell.clone()).or_default() += n * count;
                }
            }
        }
        i += 1;
    }
    order
        .iter()
        .filter_map(|m| {
            let sm = stat.modules.get(&key(m))?;
            let each = cells::classify(Target::Ice40, &sm.num_cells_by_type);
            let n = instances[m];
            let total = cells::Counts {
                luts: each.luts * n,
                ffs: each.ffs * n,
                brams: each.brams * n,
                carries: each.carries * n,
                dsps: each.dsps * n,
                lutrams: each.lutrams * n,
            };
            Some(ModuleArea { module: m.trim_end_matches(suffix).to_string(), instances: n, each, total })
        })
        .collect()
}

/// The split as a Markdown table, with the share of LUT4 per module.
pub fn markdown(split: &[ModuleArea]) -> String {
    let luts: u64 = split.iter().map(|m| m.total.luts).sum();
    let mut s = String::from(
        "| module | instances | LUT4 each | LUT4 total | share | FFs total | RAM40 total | carry total |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for m in split {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} % | {} | {} | {} |\n",
            m.module,
            m.instances,
            m.each.luts,
            m.total.luts,
            100.0 * m.total.luts as f64 / luts.max(1) as f64,
            m.total.ffs,
            m.total.brams,
            m.total.carries
        ));
    }
    s.push_str(&format!("| all (unflattened) | | | {luts} | 100 % | | | |\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_lines_are_dropped_and_instances_multiply() {
        let text = r#"{
   "modules": {
      "\\top_h": { "num_cells_by_type": { "SB_LUT4": 2, "core_h": 1 } },
      "\\core_h": { "num_cells_by_type": { "SB_LUT4": 10, "SB_DFF": 3, "row_h": 4 } },
      "\\row_h": { "num_cells_by_type": { "SB_LUT4": 5, "SB_CARRY": 2 } }
   },
       top_h          1
         core_h       1
           row_h      4
   "design": { }
}"#;
        let stat = parse(text).unwrap();
        let split = tally(&stat, "top_h", "_h");
        let names: Vec<_> = split.iter().map(|m| (m.module.as_str(), m.instances, m.total.luts)).collect();
        assert_eq!(names, [("top", 1, 2), ("core", 1, 10), ("row", 4, 20)]);
        assert_eq!(split[2].total.carries, 8);
        assert!(markdown(&split).contains("| row | 4 | 5 | 20 | 62.5 % |"));
    }
}
