//! The configurations of the long cosimulation (`spikeq cosim --long N`): every weight format,
//! both PE kinds, both output modes, act/salient widths at their extremes (2 and 8 bits, no
//! salient path, a one-bit-per-digit salient path), salient budgets of 0, 1 and k_max, and
//! rows/lanes from 1 to 8 that are not all powers of two. Small K keeps one call fast, so that
//! 10^4 calls take minutes, not hours; the random cases saturate the salient budget (and go one
//! or two over it) on their own.

use spikeq_hdl::{ArrayConfig, Derived, OutputMode, PeKind, WeightFormat};

/// One row of the sweep: (name, pe, weight format, rows, lanes, act_bits, salient_bits,
/// max_salient, output modes, frac_bits, out_bits, k_max).
type Row = (&'static str, PeKind, WeightFormat, u32, u32, u32, u32, u32, &'static [OutputMode], u32, u32, u32);

const BOTH: &[OutputMode] = &[OutputMode::Raw, OutputMode::Fire];
const RAW: &[OutputMode] = &[OutputMode::Raw];
const FIRE: &[OutputMode] = &[OutputMode::Fire];

#[rustfmt::skip]
const ROWS: [Row; 12] = [
    // name                 pe             format                   rows lanes ba bs  sal  modes frac out k_max
    ("long_int2_a2s2",      PeKind::Spike, WeightFormat::Int(2),    3,   5,    2, 2,  0,   BOTH, 6,   2,  40),
    ("long_int3_a2s8",      PeKind::Spike, WeightFormat::Int(3),    4,   4,    2, 8,  24,  BOTH, 4,   8,  24),
    ("long_int4_a4s8",      PeKind::Spike, WeightFormat::Int(4),    4,   4,    4, 8,  4,   BOTH, 6,   4,  64),
    ("long_int5_a8s8",      PeKind::Spike, WeightFormat::Int(5),    2,   3,    8, 8,  0,   BOTH, 8,   8,  33),
    ("long_int6_a3s5",      PeKind::Spike, WeightFormat::Int(6),    5,   2,    3, 5,  1,   BOTH, 5,   6,  30),
    ("long_int7_a7s8",      PeKind::Spike, WeightFormat::Int(7),    1,   1,    7, 8,  2,   FIRE, 3,   3,  17),
    ("long_int8_a5s8",      PeKind::Spike, WeightFormat::Int(8),    8,   8,    5, 8,  3,   RAW,  8,   8,  64),
    ("long_ternary_a3s6",   PeKind::Spike, WeightFormat::Ternary,   3,   5,    3, 6,  3,   BOTH, 4,   5,  40),
    ("long_binary_a4s4",    PeKind::Spike, WeightFormat::Binary,    2,   8,    4, 4,  0,   BOTH, 8,   8,  64),
    ("long_mac_int4_a4s8",  PeKind::Mac,   WeightFormat::Int(4),    4,   4,    4, 8,  4,   RAW,  6,   8,  48),
    ("long_mac_int8_a8s8",  PeKind::Mac,   WeightFormat::Int(8),    3,   2,    8, 8,  0,   RAW,  8,   8,  20),
    ("long_mac_binary_a2s8", PeKind::Mac,  WeightFormat::Binary,    2,   7,    2, 8,  8,   RAW,  8,   8,  35),
];

/// The sweep's configurations, validated.
pub fn configs() -> Vec<Derived> {
    ROWS.iter()
        .map(
            |&(
                name,
                pe,
                weight_format,
                rows,
                lanes,
                act_bits,
                salient_bits,
                max_salient,
                modes,
                frac_bits,
                out_bits,
                k_max,
            )| {
                let c = ArrayConfig {
                    name: name.into(),
                    pe,
                    rows,
                    lanes,
                    weight_format,
                    act_bits,
                    salient_bits,
                    max_salient,
                    output_modes: modes.to_vec(),
                    frac_bits,
                    out_bits,
                    k_max,
                    m_max: k_max,
                    clock_mhz: 100.0,
                    code_buffer_tokens: spikeq_hdl::config::DEFAULT_CODE_BUFFER_TOKENS,
                };
                c.validate().unwrap_or_else(|e| panic!("sweep configuration {name} is invalid: {e}"))
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spikeq_hdl::format::ALL_FORMATS;

    /// The sweep must keep covering what the long cosimulation promises (docs/reliability.md):
    /// dropping or editing a row must not silently lose a format, a PE kind, a mode or an extreme.
    #[test]
    fn sweep_covers_formats_pes_modes_and_extremes() {
        let ds = configs();
        assert!(ds.len() >= 8);
        for f in ALL_FORMATS {
            assert!(ds.iter().any(|d| d.config.weight_format == f), "no configuration with {f}");
        }
        for pe in [PeKind::Spike, PeKind::Mac] {
            assert!(ds.iter().any(|d| d.config.pe == pe), "no {pe:?} configuration");
        }
        for mode in [OutputMode::Raw, OutputMode::Fire] {
            assert!(ds.iter().any(|d| d.supports(mode)), "no configuration with {mode:?}");
        }
        let has = |p: &dyn Fn(&Derived) -> bool| ds.iter().any(p);
        assert!(has(&|d| d.config.act_bits == 2 && d.config.salient_bits == 2), "act/salient both at 2 bits");
        assert!(has(&|d| d.config.act_bits == 2 && d.config.salient_bits == 8 && d.salient_depth > 0));
        assert!(has(&|d| d.config.act_bits == 8 && d.config.salient_bits == 8), "act bits at 8");
        assert!(has(&|d| d.salient_depth == 1), "a salient budget of 1 (saturates on most tokens)");
        assert!(has(&|d| d.salient_depth > 0 && d.config.max_salient == d.config.k_max), "budget = k_max");
        assert!(has(&|d| d.config.rows == 1 && d.config.lanes == 1), "a 1x1 array");
        let mut names: Vec<&str> = ds.iter().map(|d| d.config.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ds.len(), "names are unique");
    }
}
