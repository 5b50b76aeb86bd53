//! One link of the hash chain: the exact bytes hashed, so that anyone can recompute
//! the chain from the rows with nothing but SHA-256.
//!
//! `chain = SHA-256(previous chain ‖ seq ‖ received_at ‖ len(source) ‖ source ‖
//! SHA-256(payload bytes))`, where the previous chain of the first row is 32 zero
//! bytes, `seq` and `received_at` are 8-byte big-endian two's-complement integers,
//! `len(source)` is one byte and `source` its ASCII name (`live`, `backfill`, `import`,
//! `sweep`, …), and the payload bytes are the payload exactly as received
//! (decompressed), or for a rejected input the bytes kept of it.

use sha2::{Digest, Sha256};

/// A chain value or a payload digest.
pub type Hash = [u8; 32];

/// The "previous chain" of the first row.
pub const GENESIS: Hash = [0; 32];

/// The chain value of a row.
pub fn link(previous: &Hash, seq: i64, received_at: i64, source: &str, payload: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(seq.to_be_bytes());
    h.update(received_at.to_be_bytes());
    h.update([source.len().min(255) as u8]);
    h.update(&source.as_bytes()[..source.len().min(255)]);
    h.update(payload);
    h.finalize().into()
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> Hash {
    Sha256::digest(bytes).into()
}

/// A stored chain value as a [`Hash`], if it is one.
pub fn hash_of(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

/// Lower-case hex (the one the stored files use).
pub use crate::files::content::hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_link() {
        let base = link(&GENESIS, 1, 1000, "live", &sha256(b"{}"));
        assert_ne!(base, link(&[1; 32], 1, 1000, "live", &sha256(b"{}")));
        assert_ne!(base, link(&GENESIS, 2, 1000, "live", &sha256(b"{}")));
        assert_ne!(base, link(&GENESIS, 1, 1001, "live", &sha256(b"{}")));
        assert_ne!(base, link(&GENESIS, 1, 1000, "sweep", &sha256(b"{}")));
        assert_ne!(base, link(&GENESIS, 1, 1000, "live", &sha256(b"{ }")));
        assert_eq!(base, link(&GENESIS, 1, 1000, "live", &sha256(b"{}")));
    }

    #[test]
    fn the_bytes_are_as_documented() {
        let payload = sha256(b"x");
        let mut bytes = vec![0u8; 32];
        bytes.extend_from_slice(&7i64.to_be_bytes());
        bytes.extend_from_slice(&(-1i64).to_be_bytes());
        bytes.push(6);
        bytes.extend_from_slice(b"import");
        bytes.extend_from_slice(&payload);
        assert_eq!(link(&GENESIS, 7, -1, "import", &payload), sha256(&bytes));
    }
}
