//! The synthesis flows on the real tools (yosys, nextpnr-ice40; scripts/setup.sh installs them and
//! these tests fail, never skip, without them): both PE kinds synthesise, the MAC baseline routes on
//! an iCE40 and maps its multipliers to DSPs on Xilinx while the spike array needs none, reports
//! are cached by content, an array too large for every iCE40 keeps its yosys counts, and a
//! directory spikeq did not write is refused. The spike array's iCE40 route is checked end to end
//! by tests/bitstream.rs.

use std::path::PathBuf;

use spikeq_hdl::Derived;
use spikeq_host::study::synth::{self, SynthError, SynthOptions, SynthReport, Target};

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/synth-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A small array: 4 rows x 4 lanes, int4 weights, K up to 64 (configs/tiny.toml's shape).
fn array(name: &str, pe: &str, rows: u32, lanes: u32) -> Derived {
    let modes = if pe == "mac" { "[\"raw\"]" } else { "[\"raw\", \"fire\"]" };
    let text = format!(
        "name = \"{name}\"\npe = \"{pe}\"\nrows = {rows}\nlanes = {lanes}\nweight_format = \"int4\"\nact_bits = 4\n\
         salient_bits = 8\nmax_salient = 4\noutput_modes = {modes}\nfrac_bits = 6\nout_bits = 4\nk_max = 64\nm_max = 64\nclock_mhz = 12.0\n"
    );
    Derived::from_toml(&text).expect("valid configuration")
}

fn on_disk(dir: &std::path::Path, target: Target) -> SynthReport {
    let text = std::fs::read_to_string(dir.join(target.name()).join(synth::REPORT)).expect("report.json written");
    serde_json::from_str(&text).expect("report.json parses")
}

#[test]
fn mac_routes_on_ice40_and_only_the_mac_uses_dsps_on_xilinx() {
    let mac = array("mac4", "mac", 4, 4);
    let dir = scratch("mac4");
    let r = synth::run(&mac, Target::Ice40, &dir).expect("iCE40 flow");
    assert_eq!((r.routed, r.fits), (true, Some(true)), "{r:?}");
    assert!(r.device.contains("UP5K"), "the smallest fitting part is chosen: {}", r.device);
    let fmax = r.fmax_mhz.expect("routed designs have an Fmax");
    assert!(fmax > 1.0 && fmax < 500.0, "implausible Fmax {fmax}");
    assert!(r.counts.luts > 1000 && r.counts.brams > 0 && r.counts.carries > 0, "{r:?}");
    assert!(r.counts.ffs > r.harness_ffs, "the array's registers survived synthesis: {} FFs", r.counts.ffs);
    assert!(r.logic_cells.unwrap() >= r.counts.luts, "a logic cell holds at most one LUT4");
    assert_eq!(r.top, spikeq_codegen::flow::harness_name(&mac));
    assert!(
        r.tools.yosys.starts_with("Yosys") && r.tools.nextpnr.as_deref().unwrap_or("").contains("nextpnr"),
        "{:?}",
        r.tools
    );
    assert_eq!(on_disk(&dir, Target::Ice40), r);
    assert!(dir.join("ice40").join(synth::ICE40_ASC).is_file(), "routed design kept for icepack");

    let cache = scratch("mac4-cache");
    let opts = SynthOptions { cache: Some(cache.clone()), ..SynthOptions::default() };
    let x = synth::run_with(&mac, Target::Xilinx, &dir, &opts).expect("Xilinx flow");
    assert_eq!(x.fmax_mhz, None, "no router for Xilinx here, so no Fmax");
    assert_eq!(
        x.counts.dsps,
        (mac.config.rows * mac.config.lanes) as u64,
        "one multiplier per lane per row, each a DSP48: {x:?}"
    );
    assert!(x.counts.luts > 0 && x.counts.ffs > x.harness_ffs, "{x:?}");
    assert!(!x.cached);
    let again = synth::run_with(&mac, Target::Xilinx, &dir, &opts).expect("cached Xilinx flow");
    assert!(again.cached, "second run with the same RTL, script and tools comes from the cache");
    assert_eq!(SynthReport { cached: false, ..again }, x);

    let spike = array("spike4", "spike", 4, 4);
    let sdir = scratch("spike4");
    let s = synth::run_with(&spike, Target::Xilinx, &sdir, &opts).expect("Xilinx flow, spike PE");
    assert!(!s.cached && s.key != x.key, "a different RTL is a different cache key");
    assert_eq!(s.counts.dsps, 0, "the spike PE adds, it never multiplies: {s:?}");

    let md = synth::markdown(&[r, x, s]);
    assert!(
        md.contains("| mac4 | mac | 4x4 | ice40 | iCE40 UP5K (sg48) |")
            && md.contains("| spike4 | spike | 4x4 | xilinx |"),
        "{md}"
    );
    assert!(md.contains("Yosys 0.") && md.contains("nextpnr-ice40"), "tool versions in the markdown:\n{md}");
}

#[test]
fn an_array_larger_than_every_ice40_keeps_its_yosys_counts() {
    let d = array("s8x8", "spike", 8, 8);
    let dir = scratch("s8x8");
    let r = synth::run(&d, Target::Ice40, &dir).expect("iCE40 flow");
    assert_eq!((r.routed, r.fits, r.fmax_mhz), (false, Some(false), None), "{r:?}");
    assert!(r.counts.luts > 7680 || r.counts.brams > 32, "counts say why it does not fit an HX8K: {r:?}");
    let note = r.note.as_deref().unwrap_or("");
    assert!(note.contains("does not fit any iCE40") && note.contains("HX8K"), "{note}");
    assert!(!dir.join("ice40").join(synth::ICE40_ASC).exists(), "no place and route was attempted");
}

#[test]
fn refuses_a_directory_it_did_not_write() {
    let dir = scratch("foreign");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let err = synth::run(&array("tiny", "spike", 4, 4), Target::Xilinx, &dir).unwrap_err();
    assert!(matches!(err, SynthError::NotOurs { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "the error says what to do: {err}");
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing written");
}
