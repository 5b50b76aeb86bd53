//! The simulator's files: `GET /api/files/getdownloadurl` (behind the token) hands
//! out signed URLs on a storage path of its own, `/storage/{key}`, which serves each
//! file's deterministic bytes and, like Cloud Storage, refuses a request carrying
//! any credential. URLs expire after `url_ttl`; faults: every Nth file missing (404)
//! or flaky (503 twice), every Nth URL issued already expired, downloads throttled.
//!
//! A file's bytes follow from its key and name alone ([`file_bytes`]): text files
//! are real words, PDFs and DOCX real documents ([`crate::files::samples`]), others
//! pseudo-random bytes; each text-like one holds its key's [`marker`] word.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Shared;
use crate::event::time::now_millis;

/// Bytes per chunk of a streamed body.
const CHUNK: usize = 64 * 1024;

/// File faults and limits.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// How long a signed URL is valid.
    pub url_ttl: Duration,
    /// Every Nth file (by key) answers 404.
    pub missing_every: Option<u64>,
    /// Every Nth file (by key) answers 503 to its first two downloads.
    pub flaky_every: Option<u64>,
    /// Every Nth URL is issued already expired.
    pub expired_every: Option<u64>,
    /// Downloads are throttled to this many bytes a second.
    pub slow: Option<u64>,
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            url_ttl: Duration::from_secs(300),
            missing_every: None,
            flaky_every: None,
            expired_every: None,
            slow: None,
        }
    }
}

/// A file the stream has named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Its key.
    pub key: String,
    /// Its name.
    pub name: String,
    /// Its size as the message states it (the size served, except for PDF/DOCX).
    pub size: u64,
}

/// What the storage saw, for tests.
#[derive(Debug, Clone, Default)]
pub struct FileStats {
    /// Download URLs asked for (keys).
    pub urls_issued: u64,
    /// `getdownloadurl` calls.
    pub url_requests: u64,
    /// 200 answers begun, by key.
    pub downloads: HashMap<String, u64>,
    /// Requests for each key's content with a valid, unexpired URL.
    pub requests: HashMap<String, u64>,
    /// Requests to the storage that carried a credential (refused with 400).
    pub credentials_seen: u64,
    /// Requests refused because their URL had expired.
    pub expired: u64,
    /// 503s served by flaky files.
    pub flaky_served: u64,
}

/// The files the stream named, and what the storage saw.
#[derive(Debug, Default)]
pub struct Shelf {
    files: std::sync::Mutex<HashMap<String, FileMeta>>,
    stats: std::sync::Mutex<FileStats>,
    secret: u64,
}

impl Shelf {
    /// An empty shelf with a fresh signing secret.
    pub fn new() -> Shelf {
        Shelf {
            secret: fastrand::u64(..),
            ..Shelf::default()
        }
    }

    /// Records the files a payload names (`content.data[]`, thumbnails too).
    pub fn record(&self, payload: &Value) {
        let Some(items) = payload["content"]["data"].as_array() else {
            return;
        };
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for item in items {
            let name = item["name"].as_str().unwrap_or("file").to_string();
            let size = item["fileSize"].as_u64().unwrap_or(1_000);
            if let Some(key) = item["fileId"].as_str().filter(|k| !k.is_empty()) {
                files.entry(key.to_string()).or_insert_with(|| FileMeta {
                    key: key.to_string(),
                    name: name.clone(),
                    size,
                });
            }
            if let Some(key) = item["thumbnailFile"].as_str().filter(|k| !k.is_empty()) {
                files.entry(key.to_string()).or_insert_with(|| FileMeta {
                    key: key.to_string(),
                    name: "thumbnail.png".into(),
                    size: 2_000,
                });
            }
        }
    }

    /// A copy of what the storage saw.
    pub fn stats(&self) -> FileStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The file with this key, if the stream named it.
    pub fn get(&self, key: &str) -> Option<FileMeta> {
        self.files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    fn signature(&self, key: &str, expires: i64) -> String {
        let digest = Sha256::digest(format!("{}:{key}:{expires}", self.secret));
        crate::files::content::hex(&digest[..16])
    }
}

fn every(n: Option<u64>, key: &str) -> bool {
    n.is_some_and(|n| n > 0 && key_hash(key).is_multiple_of(n))
}

fn key_hash(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
}

/// Whether the simulator serves this key as missing (404) under `options`.
pub fn is_missing(options: &FileOptions, key: &str) -> bool {
    every(options.missing_every, key)
}

/// Whether this key is flaky (503 twice) under `options`.
pub fn is_flaky(options: &FileOptions, key: &str) -> bool {
    every(options.flaky_every, key)
}

/// A word found in the file with this key and nowhere else.
pub fn marker(key: &str) -> String {
    format!("filemark{:012x}", key_hash(key) >> 16)
}

/// Kinds of served content, by the name's extension.
fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn paragraphs(key: &str, count: usize) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(key_hash(key));
    let mut out = vec![format!(
        "{} {}",
        marker(key),
        crate::generate::text::words(&mut rng, 40)
    )];
    out.extend((1..count).map(|_| crate::generate::text::words(&mut rng, 200)));
    out
}

/// Every byte of a file (PDF and DOCX: a document; others: `size` bytes).
pub fn file_bytes(meta: &FileMeta) -> Vec<u8> {
    match extension(&meta.name).as_str() {
        "pdf" => crate::files::samples::pdf(&paragraphs(&meta.key, 12)),
        "docx" => crate::files::samples::docx(&paragraphs(&meta.key, 12)),
        _ => (0..meta.size.div_ceil(CHUNK as u64))
            .flat_map(|i| chunk(meta, i))
            .collect(),
    }
}

/// Chunk `index` of a streamed (not PDF/DOCX) file.
fn chunk(meta: &FileMeta, index: u64) -> Vec<u8> {
    let start = index * CHUNK as u64;
    let len = (meta.size.saturating_sub(start)).min(CHUNK as u64) as usize;
    let mut rng = fastrand::Rng::with_seed(key_hash(&meta.key) ^ index.wrapping_mul(0x9e37_79b9));
    let text = matches!(
        extension(&meta.name).as_str(),
        "txt" | "csv" | "md" | "log" | "html"
    );
    let mut out = if !text {
        let mut bytes = vec![0u8; len];
        rng.fill(&mut bytes);
        return bytes;
    } else if index == 0 {
        format!("{}\n", marker(&meta.key)).into_bytes()
    } else {
        Vec::new()
    };
    while out.len() < len {
        out.extend_from_slice(crate::generate::text::words(&mut rng, 400).as_bytes());
        out.push(b'\n');
    }
    out.truncate(len);
    out
}

/// `GET /api/files/getdownloadurl?fileKeys=[…]`: a signed URL per known key.
pub async fn download_urls(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let keys = query
        .get("fileKeys")
        .map(|k| parse_keys(k))
        .unwrap_or_default();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let shelf = &shared.files;
    let options = &shared.options.files;
    let mut stats = shelf.stats.lock().unwrap_or_else(|e| e.into_inner());
    stats.url_requests += 1;
    let mut data = Vec::new();
    for key in keys.iter().filter(|k| shelf.get(k).is_some()) {
        stats.urls_issued += 1;
        let expired = options
            .expired_every
            .is_some_and(|n| n > 0 && stats.urls_issued.is_multiple_of(n));
        let ttl = options.url_ttl.as_millis() as i64;
        let expires = if expired {
            now_millis() - 1_000
        } else {
            now_millis() + ttl
        };
        let mut url = url::Url::parse(&format!("http://{host}/storage/")).expect("storage URL");
        url.path_segments_mut()
            .expect("a base")
            .pop_if_empty()
            .push(key);
        url.query_pairs_mut()
            .append_pair("expires", &expires.to_string())
            .append_pair("signature", &shelf.signature(key, expires));
        data.push(json!({ "fileKey": key, "url": url.as_str() }));
    }
    axum::Json(json!({ "data": data })).into_response()
}

/// `fileKeys` as a JSON array, or a comma-separated list.
fn parse_keys(text: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(text).unwrap_or_else(|_| {
        text.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect()
    })
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!("<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>");
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

/// Whether a request shows any credential: an `Authorization` header, a cookie, or
/// the token anywhere in its headers or query.
fn carries_credential(shared: &Shared, headers: &HeaderMap, query: &str) -> bool {
    let token = shared.options.token.as_str();
    let decoded: String = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| format!("{k}={v} "))
        .collect();
    headers.contains_key(header::AUTHORIZATION)
        || headers.contains_key(header::COOKIE)
        || headers
            .values()
            .filter_map(|v| v.to_str().ok())
            .chain([query, decoded.as_str()])
            .any(|v| {
                (!token.is_empty() && v.contains(token))
                    || v.split([' ', '&', '=', ',', ';'])
                        .any(|piece| !piece.is_empty() && shared.accepts(piece))
            })
}

/// `GET /storage/{key}?expires=…&signature=…`.
pub async fn storage(
    State(shared): State<Arc<Shared>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let shelf = &shared.files;
    let options = &shared.options.files;
    if carries_credential(&shared, &headers, uri.query().unwrap_or("")) {
        shelf
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .credentials_seen += 1;
        return xml_error(
            StatusCode::BAD_REQUEST,
            "InvalidAuthentication",
            "a signed URL takes no credential",
        );
    }
    let expires: i64 = query
        .get("expires")
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let signed = query
        .get("signature")
        .is_some_and(|s| *s == shelf.signature(&key, expires));
    if !signed {
        return xml_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "the signature does not match",
        );
    }
    if expires < now_millis() {
        shelf
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .expired += 1;
        return xml_error(
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired.",
        );
    }
    let Some(meta) = shelf.get(&key).filter(|_| !is_missing(options, &key)) else {
        return xml_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    {
        let mut stats = shelf.stats.lock().unwrap_or_else(|e| e.into_inner());
        let asked = stats.requests.entry(key.clone()).or_default();
        *asked += 1;
        if is_flaky(options, &key) && *asked <= 2 {
            stats.flaky_served += 1;
            return xml_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "try again",
            );
        }
        *stats.downloads.entry(key.clone()).or_default() += 1;
    }
    serve(meta, options.slow)
}

/// The file's body, streamed in chunks (throttled when `slow`).
fn serve(meta: FileMeta, slow: Option<u64>) -> Response {
    let whole = matches!(extension(&meta.name).as_str(), "pdf" | "docx");
    let mime = match extension(&meta.name).as_str() {
        "pdf" => "application/pdf",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        _ => "application/octet-stream",
    };
    let length = if whole {
        file_bytes(&meta).len() as u64
    } else {
        meta.size
    };
    let chunks = length.div_ceil(CHUNK as u64);
    let stream = futures_util::stream::unfold(0u64, move |i| {
        let meta = meta.clone();
        async move {
            if i >= chunks {
                return None;
            }
            if let Some(rate) = slow.filter(|r| *r > 0) {
                tokio::time::sleep(Duration::from_secs_f64(CHUNK as f64 / rate as f64)).await;
            }
            let bytes = if whole {
                let all = file_bytes(&meta);
                let start = (i as usize * CHUNK).min(all.len());
                all[start..(start + CHUNK).min(all.len())].to_vec()
            } else {
                chunk(&meta, i)
            };
            Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), i + 1))
        }
    });
    (
        [
            (header::CONTENT_TYPE, mime.to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
