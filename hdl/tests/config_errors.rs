//! Each invalid field gives its own error naming the field and what would work.

use spikeq_hdl::config::ArrayConfig;
use spikeq_hdl::HdlError;

fn base() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/default.toml")).unwrap()
}

fn with(line: &str) -> String {
    let key = line.split('=').next().unwrap().trim();
    let mut out: Vec<String> =
        base().lines().filter(|l| !l.starts_with(&format!("{key} "))).map(String::from).collect();
    out.push(line.to_string());
    out.join("\n")
}

fn error_of(text: &str) -> (String, String) {
    let cfg = ArrayConfig::from_toml(text).expect("parses");
    let e = cfg.validate().expect_err("must be refused");
    (e.field().to_string(), e.to_string())
}

#[test]
fn shipped_configs_are_valid() {
    for name in ["default", "tiny"] {
        let path = format!("{}/../configs/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).unwrap();
        let d = ArrayConfig::from_toml(&text).unwrap().validate().unwrap();
        assert!(d.acc_bits <= 32);
    }
}

#[test]
fn each_field_has_its_own_message() {
    let cases = [
        ("rows = 0", "rows", "1..=256"),
        ("lanes = 300", "lanes", "1..=256"),
        ("act_bits = 1", "act_bits", "2..=8"),
        ("salient_bits = 3", "salient_bits", "4..=8"),
        ("out_bits = 9", "out_bits", "2..=8"),
        ("max_salient = 5000", "max_salient", "at most k_max = 1536"),
        ("name = \"has space\"", "name", "letters"),
        ("clock_mhz = -5.0", "clock_mhz", "MHz"),
        ("output_modes = []", "output_modes", "at least one"),
    ];
    for (line, field, hint) in cases {
        let (f, msg) = error_of(&with(line));
        assert_eq!(f, field, "{line}: {msg}");
        assert!(msg.contains(hint), "{line}: message {msg:?} lacks {hint:?}");
    }
}

#[test]
fn worst_case_overflow_names_the_largest_k_that_fits() {
    // int8 weights, 8-bit codes everywhere: 127*127 per input; (2^31 - 1)/16129 = 133144.
    let text = with("k_max = 200000")
        .replace("weight_format = \"int4\"", "weight_format = \"int8\"")
        .replace("act_bits = 4", "act_bits = 8")
        .replace("max_salient = 48", "max_salient = 0");
    let (f, msg) = error_of(&text);
    assert_eq!(f, "k_max");
    assert!(msg.contains("k_max <= 133144"), "{msg}");
}

#[test]
fn threshold_width_names_the_largest_frac_bits() {
    let (f, msg) = error_of(&with("frac_bits = 20"));
    assert_eq!(f, "frac_bits");
    assert!(msg.contains("frac_bits <= 14"), "{msg}");
}

#[test]
fn frac_bits_too_large_for_any_shift_are_refused_not_wrapped() {
    // A shift in u64 used to drop the high bits: F = 57..=65 or 2^32-1 passed with a 2-bit
    // threshold and the RTL computed garbage. Each must be refused, naming the largest F that fits.
    for f in [31u64, 57, 60, 63, 64, 65, 4_294_967_295] {
        let (field, msg) = error_of(&with(&format!("frac_bits = {f}")));
        assert_eq!(field, "frac_bits", "F = {f}");
        assert!(msg.contains("frac_bits <= 14") && !msg.contains("frac_bits <= 4294967295"), "F = {f}: {msg}");
    }
}

#[test]
fn mac_baseline_is_raw_only() {
    let (f, msg) = error_of(&with("pe = \"mac\""));
    assert_eq!(f, "output_modes");
    assert!(msg.contains("[\"raw\"]"), "{msg}");
}

#[test]
fn unknown_fields_and_formats_are_parse_errors() {
    assert!(matches!(ArrayConfig::from_toml(&with("rowz = 3")), Err(HdlError::Parse(_))));
    let e = ArrayConfig::from_toml(&with("weight_format = \"int9\"")).unwrap_err().to_string();
    assert!(e.contains("int2..int8"), "{e}");
}
