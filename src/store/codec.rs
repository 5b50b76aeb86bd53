//! Compression of raw payloads: zstd, level 3 (fast enough for the writer's pace,
//! roughly halving typical JSON payloads).

/// Compresses bytes for storage.
pub fn compress(bytes: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(bytes, 3).unwrap_or_else(|_| bytes.to_vec())
}

/// Restores stored bytes.
pub fn decompress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::stream::decode_all(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let payload =
            br#"{"category":"chat","content":{"bodyText":"<p>caf\u00e9</p>"}}"#.repeat(20);
        let packed = super::compress(&payload);
        assert!(packed.len() < payload.len() / 4);
        assert_eq!(super::decompress(&packed).unwrap(), payload);
    }
}
