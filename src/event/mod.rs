//! The Avaya Spaces wire side of the archive, free of I/O: payload types, decoding of
//! lines and socket frames (JSON as Node.js writes it, lone surrogate escapes
//! included), lenient field reading, HTML to text, times, and the pure normalization
//! of message events into versions. Imports nothing else of the crate.

pub mod category;
pub mod decode;
pub mod document;
pub mod fields;
pub mod frame;
pub mod html;
pub mod normalize;
pub mod payload;
pub mod surrogates;
pub mod time;

pub use category::{Category, Kind};
pub use decode::{decode_json, decode_line, DecodeError, Decoded, DecodedPayload};
pub use payload::Payload;
