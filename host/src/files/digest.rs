//! Digests of the user's files; the hex form and the cache-key recipe are `spikeq_hdl::digest`'s.

use std::io;
use std::path::Path;

use sha2::{Digest, Sha256};
pub use spikeq_hdl::digest::{sha256_hex, CacheKey};

/// Hex SHA-256 of a file, read in chunks (a model file is too large to hold twice).
pub fn file_sha256(path: &Path) -> io::Result<String> {
    let mut h = Sha256::new();
    io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(spikeq_hdl::digest::hex(&h.finalize()))
}
