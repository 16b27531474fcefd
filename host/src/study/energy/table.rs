//! Per-operation energies of M. Horowitz, "Computing's energy problem (and what we can do about
//! it)", ISSCC 2014 (45 nm, 0.9 V), and how other widths and memory sizes are interpolated.
//!
//! Published points (pJ): integer add 8 b 0.03, 32 b 0.1; integer multiply 8 b 0.2, 32 b 3.1;
//! float add 16 b 0.4, 32 b 0.9; float multiply 16 b 1.1, 32 b 3.7; 64-bit SRAM read 8 KB 10,
//! 32 KB 20, 1 MB 100; DRAM 1.3–2.6 nJ per 64-bit access.
//!
//! Interpolation (stated in docs/energy.md; exact at every published point):
//! - integer add: **linear in bits** through (8, 0.03) and (32, 0.1) — a ripple/prefix adder's
//!   switched capacitance grows with its width;
//! - integer multiply of an a-bit by a b-bit operand: **power law in a·b** through (64, 0.2) and
//!   (1024, 3.1), exponent ln(15.5)/ln(16) = 0.988, i.e. almost exactly proportional to the
//!   partial-product array (quadratic in width for a square multiplier);
//! - SRAM read: **piecewise power law in size** (straight lines in log–log) through the three
//!   points, extended below 8 KB and above 1 MB with the nearest segment's slope (about √size); a
//!   read of w bits costs w/64 of a 64-bit read of the same memory;
//! - DRAM: the midpoint of the published range, 1.95 nJ per 64 bits, unless a caller picks another.

use serde::Serialize;

/// The citation every report prints next to numbers from this table.
pub const SOURCE: &str =
    "M. Horowitz, \"Computing's energy problem (and what we can do about it)\", ISSCC 2014, 45 nm, 0.9 V";

const INT_ADD: [(f64, f64); 2] = [(8.0, 0.03), (32.0, 0.1)];
const INT_MUL: [(f64, f64); 2] = [(64.0, 0.2), (1024.0, 3.1)];
const SRAM_64B: [(f64, f64); 3] = [(8.0 * 1024.0, 10.0), (32.0 * 1024.0, 20.0), (1024.0 * 1024.0, 100.0)];
/// Published DRAM range per 64-bit access, pJ.
pub const DRAM_64B_RANGE: (f64, f64) = (1300.0, 2600.0);

/// Width of a floating-point operation (the two the paper gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Float {
    /// IEEE half precision.
    F16,
    /// IEEE single precision.
    F32,
}

/// Energy of a `bits`-wide integer addition (or subtraction, or comparison), pJ.
pub fn int_add(bits: u32) -> f64 {
    let [(b0, e0), (b1, e1)] = INT_ADD;
    (e0 + (bits as f64 - b0) * (e1 - e0) / (b1 - b0)).max(0.0)
}

/// Energy of an `a`-bit by `b`-bit integer multiplication, pJ.
pub fn int_mul(a: u32, b: u32) -> f64 {
    let [(p0, e0), (p1, e1)] = INT_MUL;
    let exponent = (e1 / e0).ln() / (p1 / p0).ln();
    e0 * ((a as f64 * b as f64) / p0).powf(exponent)
}

/// Energy of a floating-point addition, pJ.
pub fn fp_add(f: Float) -> f64 {
    match f {
        Float::F16 => 0.4,
        Float::F32 => 0.9,
    }
}

/// Energy of a floating-point multiplication, pJ.
pub fn fp_mul(f: Float) -> f64 {
    match f {
        Float::F16 => 1.1,
        Float::F32 => 3.7,
    }
}

/// Energy of one 64-bit read from an SRAM of `bytes` bytes, pJ.
pub fn sram_read_64(bytes: f64) -> f64 {
    let s = bytes.max(1.0).ln();
    let seg = |(x0, y0): (f64, f64), (x1, y1): (f64, f64)| {
        let slope = (y1.ln() - y0.ln()) / (x1.ln() - x0.ln());
        (y0.ln() + slope * (s - x0.ln())).exp()
    };
    if bytes <= SRAM_64B[1].0 {
        seg(SRAM_64B[0], SRAM_64B[1])
    } else {
        seg(SRAM_64B[1], SRAM_64B[2])
    }
}

/// Energy of reading `bits` bits from an SRAM of `bytes` bytes, pJ.
pub fn sram_read_bits(bits: f64, bytes: f64) -> f64 {
    bits / 64.0 * sram_read_64(bytes)
}

/// Midpoint of the published DRAM range per 64-bit access, pJ.
pub fn dram_64() -> f64 {
    (DRAM_64B_RANGE.0 + DRAM_64B_RANGE.1) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn published_points_are_reproduced() {
        assert!(close(int_add(8), 0.03) && close(int_add(32), 0.1));
        assert!(close(int_mul(8, 8), 0.2) && close(int_mul(32, 32), 3.1));
        assert!(close(fp_add(Float::F16), 0.4) && close(fp_add(Float::F32), 0.9));
        assert!(close(fp_mul(Float::F16), 1.1) && close(fp_mul(Float::F32), 3.7));
        assert!(close(sram_read_64(8192.0), 10.0));
        assert!(close(sram_read_64(32768.0), 20.0));
        assert!(close(sram_read_64(1048576.0), 100.0));
        assert!(close(dram_64(), 1950.0));
    }

    #[test]
    fn interpolation_is_monotone_and_positive() {
        for b in 1..64 {
            assert!(int_add(b) > 0.0 && int_add(b + 1) > int_add(b), "add {b}");
            assert!(int_mul(b, b) > 0.0 && int_mul(b + 1, b + 1) > int_mul(b, b), "mul {b}");
            assert!(int_mul(b, 4) < int_mul(b + 1, 4), "mul {b}x4");
        }
        let mut last = 0.0;
        for kb in [0.0625, 0.5, 1.0, 4.0, 8.0, 12.0, 32.0, 100.0, 1024.0, 4096.0] {
            let e = sram_read_64(kb * 1024.0);
            assert!(e > last, "sram {kb} KB: {e} <= {last}");
            last = e;
        }
    }

    #[test]
    fn multiplier_is_quadratic_and_adder_linear_in_width() {
        // Doubling both operand widths multiplies the energy by about 4, the adder's by less than 2.
        let r = int_mul(16, 16) / int_mul(8, 8);
        assert!((3.9..4.0).contains(&r), "{r}");
        assert!(int_add(16) / int_add(8) < 2.0);
        // A 4x4 multiply costs about a quarter of an 8x8 one; 8x4 about a half.
        assert!((int_mul(4, 4) / 0.2 - 0.25).abs() < 0.01);
        assert!((int_mul(8, 4) / 0.2 - 0.5).abs() < 0.01);
    }
}
