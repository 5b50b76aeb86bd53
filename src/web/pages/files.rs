//! `/files/{id}`: an attachment's stored bytes, to whoever may see a message that
//! carries it. Always a download (`Content-Disposition: attachment`, type
//! `application/octet-stream`), except the image types a conversation shows inline
//! (`?inline=1`), which keep their own type. Streamed from `files/<sha256>`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::conversation::INLINE_IMAGES;
use crate::files::content::FILES_DIR;
use crate::store::review::conversation::stored_file;
use crate::web::auth::Viewer;
use crate::web::view;
use crate::web::Shared;

/// `?inline=1`.
#[derive(Debug, Deserialize)]
pub struct Inline {
    #[serde(default)]
    inline: Option<String>,
}

/// A file name safe in a header: ASCII letters, digits, `.`, `-`, `_`; the rest `_`.
fn ascii_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    if cleaned.trim_matches('.').is_empty() {
        "attachment".into()
    } else {
        cleaned
    }
}

/// `GET /files/{id}`.
pub async fn download(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Inline>,
) -> Response {
    let nav = Some(viewer.nav());
    let (sha, name, mime, spaces) = match stored_file(&app.archive, &id).await {
        Ok(Some(found)) => (found.sha256, found.name, found.mime, found.spaces),
        Ok(None) => return view::not_found(nav, "stored file"),
        Err(e) => return view::failed(nav, "Reading the file's record", e),
    };
    if !spaces.iter().any(|s| viewer.user.may_see(s)) {
        return view::not_found(nav, "stored file");
    }
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return view::failed(
            nav,
            "Reading the file",
            format!("bad sha256 {sha:?} for {id}"),
        );
    }
    let path = app.options.data_dir.join(FILES_DIR).join(&sha);
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) => {
            return view::failed(
                nav,
                "Opening the stored file",
                format!("{}: {e}", path.display()),
            )
        }
    };
    let length = file.metadata().await.map(|m| m.len()).ok();
    let mime = mime.map(|m| m.to_ascii_lowercase());
    let inline = q.inline.is_some() && mime.as_deref().is_some_and(|m| INLINE_IMAGES.contains(&m));
    viewer
        .audit(
            &app,
            "download_file",
            json!({"file": id, "sha256": sha, "name": name, "inline": inline}),
        )
        .await;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(buf), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    let kind = if inline {
        mime.clone().unwrap_or_default()
    } else {
        "application/octet-stream".into()
    };
    if let Ok(v) = HeaderValue::from_str(&kind) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let utf8: String = url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let disposition = format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{utf8}",
        if inline { "inline" } else { "attachment" },
        ascii_name(&name)
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}
