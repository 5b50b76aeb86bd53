//! Compression of raw payloads and rejected input: zstd level 3 with a dictionary.
//!
//! A payload is small (typically under 2 KB) and most of it is the same JSON
//! structure every time (`content`, `mediaMode`, `sender`, `picture_url`, …), which
//! per-payload compression cannot learn. The dictionary `payload.dict` was trained on
//! that structure only: the seed payloads and `generate` payloads with every body and
//! description emptied, so it knows Avaya's field names and common values but no
//! message text. It is part of the format: frames carry its id, and it never changes
//! in place (a new one would get a new id and the old one would stay for reading).
//! Regenerate with `cargo test --release -- --ignored train_payload_dictionary`.

use std::cell::RefCell;
use std::sync::OnceLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// The trained dictionary.
const DICTIONARY: &[u8] = include_bytes!("payload.dict");

/// zstd level: 3 is zstd's default, fast enough that compression stays off the
/// critical path of ingest.
const LEVEL: i32 = 3;

fn encoder_dictionary() -> &'static EncoderDictionary<'static> {
    static DICT: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    DICT.get_or_init(|| EncoderDictionary::copy(DICTIONARY, LEVEL))
}

fn decoder_dictionary() -> &'static DecoderDictionary<'static> {
    static DICT: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    DICT.get_or_init(|| DecoderDictionary::copy(DICTIONARY))
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Compresses bytes for storage.
pub fn compress(bytes: &[u8]) -> Vec<u8> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Compressor::with_prepared_dictionary(encoder_dictionary()).ok();
        }
        match slot.as_mut().map(|c| c.compress(bytes)) {
            Some(Ok(packed)) => packed,
            // Compression of a bounded in-memory buffer does not fail in practice; if it
            // ever did, keep the data: a frame without a dictionary still decodes.
            _ => zstd::bulk::compress(bytes, LEVEL).unwrap_or_default(),
        }
    })
}

/// Restores stored bytes.
pub fn decompress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let size = zstd::zstd_safe::get_frame_content_size(bytes)
        .map_err(|_| bad("not a zstd frame"))?
        .ok_or_else(|| bad("zstd frame without a content size"))?;
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Decompressor::with_prepared_dictionary(decoder_dictionary())?);
        }
        let decompressor = slot.as_mut().ok_or_else(|| bad("no decompressor"))?;
        decompressor.decompress(bytes, size as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let payload =
            br#"{"category":"chat","content":{"bodyText":"<p>caf\u00e9</p>"}}"#.repeat(20);
        let packed = compress(&payload);
        assert!(packed.len() < payload.len() / 4);
        assert_eq!(decompress(&packed).unwrap(), payload);
        assert_eq!(decompress(&compress(b"")).unwrap(), b"");
        assert!(decompress(b"garbage").is_err());
    }

    #[test]
    fn the_dictionary_pays_for_itself_on_a_seed_payload() {
        // Payloads arrive compact on the socket; the seed file is pretty-printed.
        let seed: serde_json::Value = serde_json::from_slice(include_bytes!(
            "../../tests/fixtures/seed-payloads/chat.json"
        ))
        .unwrap();
        let seed = serde_json::to_vec(&seed).unwrap();
        let plain = zstd::bulk::compress(&seed, LEVEL).unwrap();
        let packed = compress(&seed);
        assert!(
            packed.len() * 2 < plain.len(),
            "{} vs {}",
            packed.len(),
            plain.len()
        );
    }

    /// Trains `payload.dict` from the structure of payloads (bodies emptied).
    #[test]
    #[ignore]
    fn train_payload_dictionary() {
        use crate::generate::{stream, GenerateOptions};
        let (payloads, _) = stream(GenerateOptions {
            events: 20_000,
            seed: 9_001,
            spaces: 20,
        });
        let mut samples: Vec<Vec<u8>> = payloads
            .into_iter()
            .map(|mut p| {
                if let Some(content) = p.get_mut("content").and_then(|c| c.as_object_mut()) {
                    for key in ["bodyText", "description"] {
                        if content.contains_key(key) {
                            content.insert(key.into(), "".into());
                        }
                    }
                }
                serde_json::to_vec(&p).unwrap()
            })
            .collect();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seed-payloads");
        for entry in std::fs::read_dir(dir).unwrap() {
            let value: serde_json::Value =
                serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
            samples.push(serde_json::to_vec(&value).unwrap());
        }
        let dict = zstd::dict::from_samples(&samples, 16 * 1024).unwrap();
        std::fs::write(
            concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/payload.dict"),
            dict,
        )
        .unwrap();
    }
}
