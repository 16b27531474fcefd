//! `bitstreams/ice40/build.sh` end to end on configs/tiny.toml: spikeq synth (RTL + harness, yosys,
//! nextpnr-ice40 with the iCEBreaker PCF) -> icepack -> a real UP5K bitstream. Checks that nextpnr
//! routed and met the board's 12 MHz clock, that the .bin is a complete UP5K image that
//! iceunpack/icepack round-trip bit for bit, and that most logic tiles are configured.

use std::path::PathBuf;
use std::process::Command;

use spikeq_host::study::synth::{SynthReport, Target};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run scripts/setup.sh)"));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn tiny_bitstream_builds_routes_and_round_trips() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let build = root.join("target/synth-tests/bitstream");
    let _ = std::fs::remove_dir_all(&build);
    let log = run(Command::new(root.join("bitstreams/ice40/build.sh"))
        .arg(&build)
        .env("SPIKEQ", env!("CARGO_BIN_EXE_spikeq")));
    eprintln!("{log}");

    let text = std::fs::read_to_string(build.join("tiny-spike/ice40/report.json")).expect("synth report");
    let r: SynthReport = serde_json::from_str(&text).expect("report parses");
    assert_eq!((r.target, r.config.as_str(), r.routed), (Target::Ice40, "tiny", true), "{r:?}");
    assert_eq!(r.device, "iCE40 UP5K (sg48)");
    let fmax = r.fmax_mhz.expect("Fmax");
    assert!(fmax >= 12.0, "tiny no longer meets the iCEBreaker's 12 MHz clock: {fmax} MHz");
    let nextpnr = std::fs::read_to_string(build.join("tiny-spike/ice40/nextpnr.log")).expect("nextpnr log");
    assert!(
        nextpnr.contains("Program finished normally") && !nextpnr.contains("ERROR"),
        "nextpnr did not finish cleanly"
    );

    let bin = build.join("spikeq_tiny.bin");
    let bytes = std::fs::read(&bin).expect("the .bin exists");
    // a full UP5K configuration image (CRAM + BRAM), opening with icepack's preamble and sync word
    assert!(bytes.len() > 100_000, "{} bytes is not a UP5K image", bytes.len());
    assert_eq!(&bytes[..8], &[0xff, 0x00, 0x00, 0xff, 0x7e, 0xaa, 0x99, 0x7e], "bitstream header");

    let asc = build.join("roundtrip.asc");
    run(Command::new("iceunpack").arg(&bin).arg(&asc));
    let unpacked = std::fs::read_to_string(&asc).unwrap();
    assert!(unpacked.contains(".device 5k"), "iceunpack sees a UP5K bitstream");
    let repacked = build.join("roundtrip.bin");
    run(Command::new("icepack").arg(&asc).arg(&repacked));
    assert!(std::fs::read(&repacked).unwrap() == bytes, "icepack(iceunpack(bin)) differs from bin");
    // the design occupies the chip: count logic tiles with any configuration bit set
    let tiles: Vec<&str> = unpacked.split("\n.").filter(|b| b.starts_with("logic_tile")).collect();
    let used = tiles.iter().filter(|b| b.lines().skip(1).any(|l| l.contains('1'))).count();
    assert!(used * 2 > tiles.len(), "only {used} of {} logic tiles configured", tiles.len());

    let icetime = std::fs::read_to_string(build.join("icetime.txt")).expect("icetime report");
    assert!(icetime.contains("Total path delay"), "icetime analysed the routed design");
}
