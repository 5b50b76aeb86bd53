//! One input record (a JSON line or a socket frame, as `ingest` and the socket read
//! them) through decoding and, for a message event, normalization. Whatever the
//! bytes: no panic, and the record is archived (a payload), ignored with a reason (a
//! frame without a payload) or rejected with a non-empty reason. A payload decodes
//! again from the text the archive stores to the same digest (what `renormalize`
//! relies on), and applying a message event twice adds no second version.

#![no_main]

use libfuzzer_sys::fuzz_target;
use spaces_archive::event::decode::{decode_json, decode_line, Decoded};
use spaces_archive::event::normalize::apply;
use spaces_archive::event::Payload;

fuzz_target!(|data: &[u8]| {
    match decode_line(data) {
        Ok(Decoded::Payload { raw, payload }) => {
            let Ok(Decoded::Payload { payload: again, .. }) = decode_json(raw) else {
                panic!("the stored text of a payload does not decode again");
            };
            assert_eq!(again.digest, payload.digest);
            assert_eq!(again.category, payload.category);
            if let Payload::Message(event) = &payload.payload {
                let first = apply(None, event, 1_000);
                assert!(first.version.is_some(), "a new message has a first version");
                let second = apply(Some(first.state.clone()), event, 1_000);
                assert!(
                    second.version.is_none(),
                    "the same event made a second version"
                );
                assert_eq!(second.state, first.state);
            }
        }
        Ok(Decoded::Ignored(reason)) => assert!(!reason.is_empty(), "ignored without a reason"),
        Err(error) => assert!(!error.to_string().is_empty(), "rejected without a reason"),
    }
});
