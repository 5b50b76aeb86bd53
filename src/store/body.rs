//! Where a version's HTML is, for rows written before migration 0004 (marked
//! `html_in_payload`): stored in `versions` only when the raw payload of the event
//! that made the version did not hold it. Later rows store it themselves.

use serde_json::{Map, Value};

use super::codec::decompress;
use super::StoreError;
use crate::event::payload::payload_html;

/// The HTML of a body and a description: the stored column if set, else the
/// payload's field; `None` means "same as the plain text".
pub fn resolve_html(
    stored_html: Option<String>,
    stored_description: Option<String>,
    payload: &[u8],
) -> Result<(Option<String>, Option<String>), StoreError> {
    if stored_html.is_some() && stored_description.is_some() {
        return Ok((stored_html, stored_description));
    }
    let bytes = decompress(payload)
        .map_err(|e| StoreError::Corrupt(format!("payload does not decompress: {e}")))?;
    let obj: Map<String, Value> = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::Corrupt(format!("payload is not a JSON object: {e}")))?;
    let (html, description) = payload_html(&obj);
    Ok((stored_html.or(html), stored_description.or(description)))
}
