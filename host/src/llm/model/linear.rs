//! The one interface every linear layer of the forward goes through, so that quantized
//! executors (round-to-nearest, SpikeQuant, the accelerator backends) can replace the f32
//! product layer by layer while seeing each layer's f32 weights and inputs.

use std::sync::OnceLock;

use super::gemm::{matmul_packed, PackedF32};
use super::ModelError;

/// Which projection of a transformer block a linear layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinearKind {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl LinearKind {
    /// All kinds in the order the forward runs them.
    pub const ALL: [LinearKind; 7] = [Self::Q, Self::K, Self::V, Self::O, Self::Gate, Self::Up, Self::Down];

    /// The name precision files and messages use (`q`, `k`, `v`, `o`, `gate`, `up`, `down`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Q => "q",
            Self::K => "k",
            Self::V => "v",
            Self::O => "o",
            Self::Gate => "gate",
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    /// The kind of a name that [`LinearKind::name`] gives.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl std::fmt::Display for LinearKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `block 3 down`: how messages name a layer.
impl std::fmt::Display for LinearId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "block {} {}", self.block, self.kind)
    }
}

/// A linear layer of the model: its block and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinearId {
    pub block: usize,
    pub kind: LinearKind,
}

/// An f32 weight matrix `W[m, k]` (output × input), row-major.
#[derive(Debug, Clone)]
pub struct Weight {
    m: usize,
    k: usize,
    data: Vec<f32>,
    /// `data` packed for the f32 product, on first use.
    packed: OnceLock<PackedF32>,
}

impl Weight {
    /// Wraps row-major data; fails unless `data.len() == m * k`.
    pub fn new(m: usize, k: usize, data: Vec<f32>) -> Result<Self, ModelError> {
        if Some(data.len()) != m.checked_mul(k) {
            return Err(ModelError::Mismatch {
                what: "weight data length".into(),
                expected: format!("{m} x {k}"),
                got: data.len().to_string(),
            });
        }
        Ok(Self { m, k, data, packed: OnceLock::new() })
    }

    /// Output features (rows).
    pub fn m(&self) -> usize {
        self.m
    }

    /// Input features (columns).
    pub fn k(&self) -> usize {
        self.k
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Mutable row-major data (for exact reparametrizations such as smoothing).
    pub fn data_mut(&mut self) -> &mut [f32] {
        self.packed = OnceLock::new();
        &mut self.data
    }

    /// The matrix packed for [`matmul_packed`] (packed once, on first use).
    pub fn packed(&self) -> &PackedF32 {
        self.packed.get_or_init(|| PackedF32::new(&self.data, self.m, self.k))
    }

    /// Row `i` (the weights of output feature `i`).
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.k..(i + 1) * self.k]
    }
}

/// Computes y[n, m] = sum_k W[m, k] * x[n, k] for the N rows of x (row-major n×k), y is n×m.
pub trait LinearExec {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError>;
}

/// Checks the buffer lengths of a [`LinearExec::linear`] call; executors call it first.
pub fn check_linear_shapes(id: LinearId, w: &Weight, x: &[f32], n: usize, y: &[f32]) -> Result<(), ModelError> {
    for (what, got, expected) in [("input", x.len(), n * w.k), ("output", y.len(), n * w.m)] {
        if got != expected {
            return Err(ModelError::Mismatch {
                what: format!("{what} length of block {} {:?}", id.block, id.kind),
                expected: expected.to_string(),
                got: got.to_string(),
            });
        }
    }
    Ok(())
}

/// The f32 reference executor: one multithreaded, deterministic GEMM per call (weights packed
/// once per layer).
#[derive(Debug, Clone, Copy, Default)]
pub struct F32Linear;

impl LinearExec for F32Linear {
    fn linear(&mut self, id: LinearId, w: &Weight, x: &[f32], n: usize, y: &mut [f32]) -> Result<(), ModelError> {
        check_linear_shapes(id, w, x, n, y)?;
        matmul_packed(y, x, n, w.packed());
        Ok(())
    }
}
