//! Export from the web app: the current search's scope (its filters: space,
//! sender, kind, time, removed; every message within them, not only those the
//! words match) as a `spaces-archive-export/1` JSONL file, or as RSMF 2.0 or an
//! HTML transcript (their directory zipped into one download), limited to the
//! viewer's spaces. The file is written to the exports directory (private),
//! recorded with its SHA-256, shown on `/exports/{id}` and downloaded from there by
//! its maker.

use askama::Template;
use axum::body::Body;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::search::SearchForm;
use crate::audit::WebExport;
use crate::export::formats::{export_set, SetFormat};
use crate::export::rsmf::slice::SliceBy;
use crate::export::set::pairs;
use crate::export::{export, ExportOptions, Removed, SORT_MEMORY};
use crate::index::RemovedFilter;
use crate::web::auth::Viewer;
use crate::web::view::{self, Nav};
use crate::web::Shared;

/// The export form: the search form's fields and the token.
#[derive(Debug, Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    csrf: String,
    /// `jsonl` (the default), `rsmf` or `html`.
    #[serde(default)]
    format: String,
    #[serde(flatten)]
    search: SearchForm,
}

/// `POST /export`.
pub async fn create(
    State(app): State<Shared>,
    viewer: Viewer,
    Form(form): Form<ExportForm>,
) -> Response {
    let nav = Some(viewer.nav());
    if !viewer.csrf_ok(&form.csrf) {
        return view::error(
            StatusCode::FORBIDDEN,
            nav,
            "The form's token is not this session's; reload the page.",
        );
    }
    let filters = match form.search.filters(&app, &viewer).await {
        Ok(filters) => filters,
        Err(message) => return view::error(StatusCode::BAD_REQUEST, nav, message),
    };
    let options = ExportOptions {
        spaces: filters.space_ids(),
        from: filters.from,
        kind: filters.kind,
        since: filters.since,
        until: filters.until,
        by_modified: false,
        removed: match filters.removed {
            RemovedFilter::Include => Removed::Include,
            RemovedFilter::Exclude => Removed::Exclude,
            RemovedFilter::Only => Removed::Only,
        },
        raw: false,
        after_cursor: None,
        sort_memory: SORT_MEMORY,
        files: false,
    };
    let id = match crate::audit::random_hex(16) {
        Ok(id) => id,
        Err(e) => return view::failed(nav, "Naming the export", e),
    };
    let set_format = match form.format.as_str() {
        "" | "jsonl" => None,
        "rsmf" => Some(SetFormat::Rsmf(SliceBy::Day)),
        "html" => Some(SetFormat::Html),
        other => {
            return view::error(
                StatusCode::BAD_REQUEST,
                nav,
                format!("{other:?} is not an export format (jsonl, rsmf or html)"),
            )
        }
    };
    let format_name = set_format.map_or("jsonl", SetFormat::name);
    let (file, summary, sha256) = match set_format {
        None => {
            let file = format!("export-{id}.jsonl");
            let path = app.options.exports_dir.join(&file);
            let summary = export(
                &app.archive,
                &options,
                Some(&path),
                None,
                indicatif::ProgressBar::hidden(),
            )
            .await;
            match summary {
                Ok(summary) => {
                    let sha256 = summary.file_sha256.clone();
                    (file, summary, sha256)
                }
                Err(e) => return export_failed(nav, e),
            }
        }
        Some(format) => {
            let dir = app.options.exports_dir.join(format!("export-{id}"));
            let file = format!("export-{id}-{}.zip", format.name());
            let zip = app.options.exports_dir.join(&file);
            let hidden = indicatif::ProgressBar::hidden();
            let summary = match export_set(&app.archive, &options, format, &dir, hidden).await {
                Ok((summary, _)) => summary,
                Err(e) => return export_failed(nav, e),
            };
            let zipped = tokio::task::spawn_blocking(move || {
                let sha256 = crate::export::zip_dir::zip_dir(&dir, &zip);
                let _ = std::fs::remove_dir_all(&dir);
                sha256
            })
            .await;
            match zipped {
                Ok(Ok(sha256)) => (file, summary, sha256),
                Ok(Err(e)) => return view::failed(nav, "Zipping the export", e),
                Err(e) => return view::failed(nav, "Zipping the export", e),
            }
        }
    };
    let path = app.options.exports_dir.join(&file);
    let bytes = std::fs::metadata(&path)
        .map(|m| m.len() as i64)
        .unwrap_or(0);
    let record = WebExport {
        id: id.clone(),
        user: viewer.user.name.clone(),
        created: crate::event::time::now_millis(),
        file,
        sha256,
        bytes,
        counts: json!(summary.counts),
        scope: form.search.to_json(),
    };
    if let Err(e) = app.audit.add_export(&record).await {
        return view::failed(nav, "Recording the export", e);
    }
    viewer
        .audit(
            &app,
            "export",
            json!({"export": id, "format": format_name, "scope": record.scope, "counts": record.counts,
                   "sha256": record.sha256, "bytes": bytes}),
        )
        .await;
    Redirect::to(&format!("/exports/{id}")).into_response()
}

fn export_failed(nav: Option<Nav>, e: crate::export::ExportError) -> Response {
    match e {
        crate::export::ExportError::Filter(message) => {
            view::error(StatusCode::BAD_REQUEST, nav, message)
        }
        e => view::failed(nav, "The export", e),
    }
}

/// What a file in the exports directory holds, by its name.
fn format_of(file: &str) -> (&'static str, &'static str) {
    if file.ends_with("-rsmf.zip") {
        (
            "RSMF 2.0, a zip of the export directory (.rsmf files, manifest.jsonl, SHA256SUMS)",
            "application/zip",
        )
    } else if file.ends_with("-html.zip") {
        (
            "HTML transcript, a zip of the export directory (open index.html)",
            "application/zip",
        )
    } else {
        (
            "spaces-archive-export/1 (JSON lines)",
            "application/x-ndjson",
        )
    }
}

/// The export's page.
#[derive(Template)]
#[template(path = "export.html")]
pub struct ExportPage {
    /// The bar.
    pub nav: Option<Nav>,
    /// Id.
    pub id: String,
    /// When.
    pub created: String,
    /// SHA-256.
    pub sha256: String,
    /// What it holds.
    pub format: &'static str,
    /// Size.
    pub size: String,
    /// Records by type.
    pub counts: Vec<(String, String)>,
    /// Filters.
    pub scope: Vec<(String, String)>,
}

async fn owned(app: &Shared, viewer: &Viewer, id: &str) -> Result<WebExport, Response> {
    let nav = Some(viewer.nav());
    match app.audit.export(id).await {
        Ok(Some(export)) if export.user == viewer.user.name || viewer.user.is_admin() => Ok(export),
        Ok(_) => Err(view::not_found(nav, "export")),
        Err(e) => Err(view::failed(nav, "Reading the export's record", e)),
    }
}

/// `GET /exports/{id}`.
pub async fn show(State(app): State<Shared>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let export = match owned(&app, &viewer, &id).await {
        Ok(export) => export,
        Err(response) => return response,
    };
    view::page(&ExportPage {
        nav: Some(viewer.nav()),
        id: export.id,
        created: view::time(Some(export.created)),
        format: format_of(&export.file).0,
        sha256: export.sha256,
        size: view::size(Some(export.bytes)),
        counts: pairs(&export.counts),
        scope: pairs(&export.scope),
    })
}

/// `GET /exports/{id}/download`.
pub async fn download(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    let export = match owned(&app, &viewer, &id).await {
        Ok(export) => export,
        Err(response) => return response,
    };
    let path = app.options.exports_dir.join(&export.file);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return view::failed(
                Some(viewer.nav()),
                "Reading the export",
                format!("{}: {e}", path.display()),
            )
        }
    };
    viewer
        .audit(
            &app,
            "download_export",
            json!({"export": id, "sha256": export.sha256}),
        )
        .await;
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format_of(&export.file).1),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", export.file)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&export.sha256) {
        headers.insert("x-content-sha256", v);
    }
    response
}
