//! Export from the web app: the current search's scope (its filters: space,
//! sender, kind, time, removed; every message within them, not only those the
//! words match) as a `spaces-archive-export/1` JSONL file, limited to the viewer's
//! spaces. The file is written to the exports directory (private), recorded with
//! its SHA-256, shown on `/exports/{id}` and downloaded from there by its maker.

use askama::Template;
use axum::body::Body;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::search::SearchForm;
use crate::audit::WebExport;
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
    let file = format!("export-{id}.jsonl");
    let path = app.options.exports_dir.join(&file);
    let summary = match export(
        &app.archive,
        &options,
        Some(&path),
        None,
        indicatif::ProgressBar::hidden(),
    )
    .await
    {
        Ok(summary) => summary,
        Err(crate::export::ExportError::Filter(message)) => {
            return view::error(StatusCode::BAD_REQUEST, nav, message)
        }
        Err(e) => return view::failed(nav, "The export", e),
    };
    let bytes = std::fs::metadata(&path)
        .map(|m| m.len() as i64)
        .unwrap_or(0);
    let record = WebExport {
        id: id.clone(),
        user: viewer.user.name.clone(),
        created: crate::event::time::now_millis(),
        file,
        sha256: summary.file_sha256.clone(),
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
            json!({"export": id, "format": "jsonl", "scope": record.scope, "counts": record.counts,
                   "sha256": record.sha256, "bytes": bytes}),
        )
        .await;
    Redirect::to(&format!("/exports/{id}")).into_response()
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

fn pairs(value: &serde_json::Value) -> Vec<(String, String)> {
    value
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
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
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", export.file)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&export.sha256) {
        headers.insert("x-content-sha256", v);
    }
    response
}
