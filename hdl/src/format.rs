//! Weight formats: how a weight code is quantized, stored in the array and packed on the stream.
//!
//! Each format implements the numeric contract's weight rule (DESIGN.md, "Weights"). The fast
//! quantizer in [`crate::quant`] calls [`WeightFormat::row_scale`] and [`WeightFormat::code`]; the
//! reference versions `*_ref` beside them spell the contract out literally and a generic test checks
//! the two agree for every format.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A weight format of the numeric contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightFormat {
    /// Symmetric signed integer of 2..=8 bits: codes in -Qw..=Qw, Qw = 2^(b-1) - 1.
    Int(u8),
    /// "1.58-bit": codes -1, 0, +1 with a mean-|W| scale.
    Ternary,
    /// "1-bit": codes -1, +1 with a mean-|W| scale.
    Binary,
}

/// Every format, for sweeps and tests.
pub const ALL_FORMATS: [WeightFormat; 9] = [
    WeightFormat::Int(2),
    WeightFormat::Int(3),
    WeightFormat::Int(4),
    WeightFormat::Int(5),
    WeightFormat::Int(6),
    WeightFormat::Int(7),
    WeightFormat::Int(8),
    WeightFormat::Ternary,
    WeightFormat::Binary,
];

impl WeightFormat {
    /// Largest code magnitude.
    pub fn qmax(self) -> i32 {
        match self {
            WeightFormat::Int(b) => (1 << (b - 1)) - 1,
            WeightFormat::Ternary | WeightFormat::Binary => 1,
        }
    }

    /// Bits of one stored code (two's complement; binary stores 1 for +1 and 0 for -1).
    pub fn storage_bits(self) -> u32 {
        match self {
            WeightFormat::Int(b) => b as u32,
            WeightFormat::Ternary => 2,
            WeightFormat::Binary => 1,
        }
    }

    /// Bits per weight for memory reports (ternary counts log2(3) ≈ 1.58).
    pub fn effective_bits(self) -> f64 {
        match self {
            WeightFormat::Int(b) => b as f64,
            WeightFormat::Ternary => 3f64.log2(),
            WeightFormat::Binary => 1.0,
        }
    }

    /// Scale of one weight row (fast path: one pass, f32 arithmetic as the contract says).
    pub fn row_scale(self, row: &[f32]) -> f32 {
        let s = match self {
            WeightFormat::Int(_) => row.iter().fold(0f32, |m, w| m.max(w.abs())) / self.qmax() as f32,
            WeightFormat::Ternary | WeightFormat::Binary => {
                row.iter().map(|w| w.abs()).sum::<f32>() / row.len().max(1) as f32
            }
        };
        if s == 0.0 || !s.is_finite() {
            1.0
        } else {
            s
        }
    }

    /// Reference scale: the contract's formula written out literally.
    pub fn row_scale_ref(self, row: &[f32]) -> f32 {
        let mut s;
        match self {
            WeightFormat::Int(_) => {
                let mut max = 0f32;
                for &w in row {
                    if w.abs() > max {
                        max = w.abs();
                    }
                }
                s = max / self.qmax() as f32;
            }
            WeightFormat::Ternary | WeightFormat::Binary => {
                let mut sum = 0f32;
                for &w in row {
                    sum += w.abs();
                }
                s = sum / row.len().max(1) as f32;
            }
        }
        if s == 0.0 || !s.is_finite() {
            s = 1.0;
        }
        s
    }

    /// Code of one weight given its row scale (fast path).
    #[inline]
    pub fn code(self, w: f32, scale: f32) -> i8 {
        match self {
            WeightFormat::Binary => {
                if w >= 0.0 {
                    1
                } else {
                    -1
                }
            }
            _ => {
                let q = self.qmax() as f32;
                (w / scale).round().clamp(-q, q) as i8
            }
        }
    }

    /// Reference code: the contract written out with explicit branches.
    pub fn code_ref(self, w: f32, scale: f32) -> i8 {
        if self == WeightFormat::Binary {
            return if w >= 0.0 { 1 } else { -1 };
        }
        let q = self.qmax();
        let r = (w / scale).round();
        if r.is_nan() {
            0
        } else if r > q as f32 {
            q as i8
        } else if r < -q as f32 {
            -q as i8
        } else {
            r as i8
        }
    }

    /// Bit pattern of a code as stored (low `storage_bits` bits).
    pub fn encode(self, code: i8) -> u32 {
        let bits = self.storage_bits();
        match self {
            WeightFormat::Binary => u32::from(code > 0),
            _ => (code as i32 as u32) & ((1u32 << bits) - 1),
        }
    }

    /// Code from its stored bit pattern.
    pub fn decode(self, bits: u32) -> i8 {
        match self {
            WeightFormat::Binary => {
                if bits & 1 == 1 {
                    1
                } else {
                    -1
                }
            }
            _ => {
                let b = self.storage_bits();
                let v = (bits & ((1 << b) - 1)) as i32;
                (if v >= 1 << (b - 1) { v - (1 << b) } else { v }) as i8
            }
        }
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightFormat::Int(b) => write!(f, "int{b}"),
            WeightFormat::Ternary => f.write_str("ternary"),
            WeightFormat::Binary => f.write_str("binary"),
        }
    }
}

impl FromStr for WeightFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ternary" | "1.58" => Ok(WeightFormat::Ternary),
            "binary" | "1" => Ok(WeightFormat::Binary),
            _ => {
                let bits = s.strip_prefix("int").and_then(|b| b.parse::<u8>().ok());
                match bits {
                    Some(b @ 2..=8) => Ok(WeightFormat::Int(b)),
                    _ => Err(format!("unknown weight format {s:?}: use int2..int8, ternary or binary")),
                }
            }
        }
    }
}

impl Serialize for WeightFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for WeightFormat {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_every_format() {
        for f in ALL_FORMATS {
            let q = f.qmax() as i8;
            for c in -q..=q {
                if f == WeightFormat::Binary && c == 0 {
                    continue;
                }
                assert_eq!(f.decode(f.encode(c)), c, "{f} code {c}");
                assert!(f.encode(c) < 1 << f.storage_bits());
            }
        }
    }

    #[test]
    fn names_parse_back() {
        for f in ALL_FORMATS {
            assert_eq!(f.to_string().parse::<WeightFormat>().unwrap(), f);
        }
        assert!("int9".parse::<WeightFormat>().is_err());
        assert!("int1".parse::<WeightFormat>().is_err());
    }
}
