//! SHA-256 as spikeq writes it (lowercase hex) and the one recipe for cache keys: the
//! configuration hash, the generator's manifest, the Verilator model cache and the host's caches
//! all use these.
//!
//! A cache key hashes several parts (a path, file contents, options). Hashing them back to back
//! lets two different inputs give the same bytes — `("ab", "c")` and `("a", "bc")` — and so the
//! same key; [`CacheKey`] hashes every part with its label and its length first, so a key names
//! exactly one sequence of parts.

use sha2::{Digest, Sha256};

/// Lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A cache key: SHA-256 over labelled, length-prefixed parts.
#[derive(Debug, Clone)]
pub struct CacheKey(Sha256);

impl CacheKey {
    /// A key for one kind of cache; `recipe` names it and its format version, so keys of
    /// different caches or formats never meet.
    pub fn new(recipe: &str) -> Self {
        CacheKey(Sha256::new()).part("recipe", recipe)
    }

    /// Adds one part: its label, then its bytes, each preceded by its length.
    pub fn part(mut self, label: &str, bytes: impl AsRef<[u8]>) -> Self {
        for b in [label.as_bytes(), bytes.as_ref()] {
            self.0.update((b.len() as u64).to_le_bytes());
            self.0.update(b);
        }
        self
    }

    /// The key, as hex.
    pub fn hex(self) -> String {
        hex(&self.0.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cannot_run_into_each_other() {
        let key = |a: &str, b: &str| CacheKey::new("t").part("path", a).part("contents", b).hex();
        assert_ne!(key("ab", "c"), key("a", "bc"));
        assert_ne!(CacheKey::new("t").part("a", "").hex(), CacheKey::new("t").part("", "a").hex());
        assert_eq!(key("a", "bc"), key("a", "bc"));
        assert_ne!(CacheKey::new("t1").hex(), CacheKey::new("t2").hex());
    }

    #[test]
    fn hex_is_lowercase_sha256() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
