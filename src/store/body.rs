//! Where a version's HTML is (`versions.html_form`, see migration 0004): stored in the
//! row, rebuilt from the plain text, or (rows written before that migration) read
//! from the raw payload of the event that made the version.

use serde_json::{Map, Value};

use super::codec::decompress;
use super::StoreError;
use crate::event::payload::payload_html;
use crate::event::surrogates::from_slice_lenient;

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
    let (obj, _): (Map<String, Value>, _) = from_slice_lenient(&bytes)
        .map_err(|e| StoreError::Corrupt(format!("payload is not a JSON object: {e}")))?;
    let (html, description) = payload_html(&obj);
    Ok((stored_html.or(html), stored_description.or(description)))
}

/// `versions.html_form`: `html` is the HTML, or NULL for the plain text itself.
pub const FORM_STORED: i64 = 0;
/// `versions.html_form`: a NULL `html` is in the raw payload (rows before 0004).
pub const FORM_PAYLOAD: i64 = 1;
/// `versions.html_form`: the HTML is [`paragraph`] of the plain text.
pub const FORM_PARAGRAPH: i64 = 2;

/// How to store `html` beside `text`: the form and the column's value.
pub fn stored_form<'a>(html: &'a str, text: &str) -> (i64, Option<&'a str>) {
    if html == text {
        return (FORM_STORED, None);
    }
    if is_paragraph(html, text) {
        return (FORM_PARAGRAPH, None);
    }
    (FORM_STORED, Some(html))
}

/// Appends `<p>` + `text` with `&`, `<` and `>` escaped + `</p>`.
pub fn push_paragraph(out: &mut String, text: &str) {
    out.reserve(text.len() + 7);
    out.push_str("<p>");
    for piece in escaped(text) {
        out.push_str(piece);
    }
    out.push_str("</p>");
}

/// `text` with `&`, `<` and `>` escaped, as consecutive pieces.
fn escaped(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    let mut entity: Option<&'static str> = None;
    std::iter::from_fn(move || {
        if let Some(entity) = entity.take() {
            return Some(entity);
        }
        if rest.is_empty() {
            return None;
        }
        match rest.find(['&', '<', '>']) {
            Some(i) => {
                let (plain, tail) = rest.split_at(i);
                entity = Some(match tail.as_bytes()[0] {
                    b'&' => "&amp;",
                    b'<' => "&lt;",
                    _ => "&gt;",
                });
                rest = &tail[1..];
                Some(plain)
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}

/// Whether `html` is [`push_paragraph`] of `text`, compared piece by piece (this runs
/// for every version written, so it builds nothing).
fn is_paragraph(html: &str, text: &str) -> bool {
    let Some(mut rest) = html
        .strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
    else {
        return false;
    };
    for piece in escaped(text) {
        match rest.strip_prefix(piece) {
            Some(after) => rest = after,
            None => return false,
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paragraph_form_is_chosen_only_when_it_rebuilds_the_html() {
        let rebuild = |text: &str| {
            let mut out = String::new();
            push_paragraph(&mut out, text);
            out
        };
        for (html, text, form) in [
            ("<p>asd</p>", "asd", FORM_PARAGRAPH),
            ("<p>a &amp; b &lt;c&gt;</p>", "a & b <c>", FORM_PARAGRAPH),
            ("<p>a & b</p>", "a & b", FORM_STORED),
            ("<p>a &#39; b</p>", "a ' b", FORM_STORED),
            ("<p>one</p><p>two</p>", "one\ntwo", FORM_STORED),
            ("<p>x <a href=\"u\">link</a></p>", "x link", FORM_STORED),
            ("same", "same", FORM_STORED),
            ("<p></p>", "", FORM_PARAGRAPH),
        ] {
            let (got, stored) = stored_form(html, text);
            assert_eq!(got, form, "{html}");
            let back = match (got, stored) {
                (FORM_PARAGRAPH, None) => rebuild(text),
                (_, Some(html)) => html.to_string(),
                (_, None) => text.to_string(),
            };
            assert_eq!(back, html);
        }
    }
}
