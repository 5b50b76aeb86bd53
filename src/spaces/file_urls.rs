//! Reading `GET /api/files/getdownloadurl`'s answer. Its exact shape is unverified
//! (Avaya's "filesystem" guide shows none), so every plausible one is read: a URL
//! for the one key asked (`{"url": …}`, `{"downloadUrl": …}`, or a bare string),
//! `{"data": [{"fileKey": …, "url": …}, …]}`, `{"urls": {"<key>": "…"}}`, or a plain
//! array of such objects; inside `data` the same shapes again.

use std::collections::HashMap;

use serde_json::Value;

/// Names a URL goes by in an item.
const URL_FIELDS: [&str; 4] = ["url", "downloadUrl", "signedUrl", "link"];
/// Names a key goes by in an item.
const KEY_FIELDS: [&str; 4] = ["fileKey", "fileId", "key", "id"];

/// The download URL for each key `asked`, as far as `body` says (keys without one
/// are left out). A URL given without a key belongs to the only key asked.
pub fn download_urls(body: &Value, asked: &[&str]) -> HashMap<String, String> {
    let mut found = HashMap::new();
    collect(body, asked, &mut found, 0);
    found.retain(|key, url| asked.contains(&key.as_str()) && is_url(url));
    found
}

fn is_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn first_str<'a>(object: &'a serde_json::Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| object.get(*n).and_then(Value::as_str))
}

fn collect(value: &Value, asked: &[&str], found: &mut HashMap<String, String>, depth: usize) {
    if depth > 4 {
        return;
    }
    let only = (asked.len() == 1).then(|| asked[0]);
    match value {
        Value::String(url) => {
            if let Some(key) = only {
                found.entry(key.to_string()).or_insert_with(|| url.clone());
            }
        }
        Value::Array(items) => {
            for item in items {
                collect(item, asked, found, depth + 1);
            }
        }
        Value::Object(object) => {
            if let Some(url) = first_str(object, &URL_FIELDS) {
                if let Some(key) = first_str(object, &KEY_FIELDS).or(only) {
                    found
                        .entry(key.to_string())
                        .or_insert_with(|| url.to_string());
                }
            }
            if let Some(Value::Object(urls)) = object.get("urls") {
                for (key, url) in urls {
                    if let Some(url) = url.as_str() {
                        found.entry(key.clone()).or_insert_with(|| url.to_string());
                    }
                }
            }
            for nested in ["data", "urls", "result", "files"] {
                if let Some(inner @ (Value::Array(_) | Value::Object(_))) = object.get(nested) {
                    if nested != "urls" || inner.is_array() {
                        collect(inner, asked, found, depth + 1);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "https://storage.example/a?sig=1";
    const B: &str = "https://storage.example/b?sig=2";

    fn urls(body: Value, asked: &[&str]) -> Vec<(String, String)> {
        let mut found: Vec<_> = download_urls(&body, asked).into_iter().collect();
        found.sort();
        found
    }

    fn both() -> Vec<(String, String)> {
        vec![("a".into(), A.into()), ("b".into(), B.into())]
    }

    #[test]
    fn every_documented_shape_is_read() {
        assert_eq!(
            urls(json!({"url": A}), &["a"]),
            vec![("a".into(), A.into())]
        );
        let data = json!({"data": [{"fileKey": "a", "url": A}, {"fileKey": "b", "url": B}]});
        assert_eq!(urls(data, &["a", "b"]), both());
        assert_eq!(urls(json!({"urls": {"a": A, "b": B}}), &["a", "b"]), both());
        let array = json!([{"fileKey": "b", "url": B}, {"fileKey": "a", "url": A}]);
        assert_eq!(urls(array, &["a", "b"]), both());
    }

    #[test]
    fn nearby_shapes_are_read_too() {
        assert_eq!(urls(json!(A), &["a"]), vec![("a".into(), A.into())]);
        assert_eq!(
            urls(json!({"data": {"url": A}}), &["a"]),
            vec![("a".into(), A.into())]
        );
        assert_eq!(
            urls(json!({"data": [A]}), &["a"]),
            vec![("a".into(), A.into())]
        );
        let id = json!({"data": [{"fileId": "a", "downloadUrl": A}]});
        assert_eq!(urls(id, &["a", "b"]), vec![("a".into(), A.into())]);
        assert_eq!(
            urls(json!({"data": {"urls": {"a": A}}}), &["a"]),
            vec![("a".into(), A.into())]
        );
    }

    #[test]
    fn keys_not_asked_and_non_urls_are_dropped() {
        assert!(urls(json!({"urls": {"z": A}}), &["a"]).is_empty());
        assert!(urls(json!({"url": "not a url"}), &["a"]).is_empty());
        assert!(urls(json!({"url": "file:///etc/passwd"}), &["a"]).is_empty());
        // A URL without its key cannot be told apart when several were asked.
        assert!(urls(json!({"url": A}), &["a", "b"]).is_empty());
        assert!(urls(json!({"error": "nope"}), &["a"]).is_empty());
        assert!(urls(json!(null), &["a"]).is_empty());
    }
}
