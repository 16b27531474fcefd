//! A bounds-checked, safe front for the `gemm` crate's strided f32 matrix product.
//!
//! All matrix products of the forward go through [`matmul`]: the linear layers (via
//! [`super::linear::F32Linear`]), the attention scores and values, and the output head.

/// A read-only strided view: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows × cols` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        Self { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Whether every element lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// Whether a product is split over the rayon pool (large products) or run on this thread
/// (products that are themselves run in parallel, e.g. one per attention head).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    Pool,
    Single,
}

/// `dst = a · b` (or `dst += a · b` with `accumulate`), `dst` row-major with row stride `dst_rs`.
///
/// Panics if a view or `dst` is out of bounds or the shapes disagree: callers derive all shapes
/// from checked model dimensions, so a mismatch is a bug in spikeq, not bad input.
pub fn matmul(dst: &mut [f32], dst_rs: usize, a: View<'_>, b: View<'_>, accumulate: bool, threads: Threads) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ");
    assert!(a.in_bounds() && b.in_bounds(), "operand view out of bounds");
    assert!(m == 0 || n == 0 || (m - 1) * dst_rs + n <= dst.len(), "destination out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    let parallelism = match threads {
        Threads::Pool => gemm::Parallelism::Rayon(0),
        Threads::Single => gemm::Parallelism::None,
    };
    // SAFETY: the bounds of all three matrices were checked above; `dst` is borrowed mutably, so
    // it cannot alias the shared operands.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}
