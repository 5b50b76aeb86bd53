//! The registry scrubs each secret in every encoding a library may print it.

use super::forms::{base64, base64_core, hex};
use super::*;

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Each test registers its own secret: the registry is one for the process.
fn clean(text: &str, secret: &str) {
    let scrubbed = scrub(text);
    assert!(scrubbed.contains(REDACTED), "nothing scrubbed in {text}");
    assert!(!scrubbed.contains(secret), "{scrubbed}");
}

#[test]
fn scrubs_plain_and_url_encoded_forms() {
    register("p@ss/w0rd");
    assert_eq!(
        scrub("a p@ss/w0rd b p%40ss%2Fw0rd c p%40ss%2fw0rd"),
        "a <redacted> b <redacted> c <redacted>"
    );
    assert_eq!(scrub("nothing here"), "nothing here");
    assert!(matches!(scrub_cow("nothing here"), Cow::Borrowed(_)));
}

#[test]
fn scrubs_hex_in_both_cases() {
    let secret = "tok/3fd+9a1c=HEXSECRET";
    register(secret);
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    for base in [secret, encoded.as_str()] {
        // As tungstenite dumps a frame: the whole payload as hex, the secret inside.
        let frame = format!("40/chat?tokenType=jwt&token={base},");
        for upper in [false, true] {
            let dump = format!("payload: 0x{}", hex(frame.as_bytes(), upper));
            clean(&dump, &hex(base.as_bytes(), upper));
        }
    }
}

#[test]
fn scrubs_base64_at_every_alignment_and_alphabet() {
    let secret = "tok/3fd+9a1c=B64SECRET?>~";
    register(secret);
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    for base in [secret, encoded.as_str()] {
        for prefix in ["", "x", "xy", "Bearer ", "{\"token\":\""] {
            for suffix in ["", "\"}", "&x=1"] {
                let text = format!("{prefix}{base}{suffix}");
                for alphabet in [STANDARD, URL_SAFE] {
                    let padded = base64(text.as_bytes(), alphabet);
                    let unpadded = padded.trim_end_matches('=').to_string();
                    for form in [padded, unpadded] {
                        let line = format!("sent {form} to the server");
                        let scrubbed = scrub(&line);
                        assert!(scrubbed.contains(REDACTED), "{prefix:?}{suffix:?}: {line}");
                        // What is left of the encoding around it is a character or
                        // two of the secret's bits at each end.
                        for alignment in 0..3 {
                            let core = base64_core(base.as_bytes(), alignment, alphabet);
                            assert!(!scrubbed.contains(&core), "{scrubbed}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn forgotten_secrets_are_no_longer_scrubbed() {
    register("retired-token-0001");
    register("current-token-0002");
    forget("retired-token-0001");
    assert_eq!(
        scrub("retired-token-0001 current-token-0002"),
        "retired-token-0001 <redacted>"
    );
    let hex_form = hex(b"retired-token-0001", false);
    assert_eq!(scrub(&hex_form), hex_form);
}

#[test]
fn a_secret_inside_another_is_replaced_whole() {
    register("inner-secret-77");
    register("outer-inner-secret-77-outer");
    assert_eq!(
        scrub("[outer-inner-secret-77-outer] [inner-secret-77]"),
        "[<redacted>] [<redacted>]"
    );
}
