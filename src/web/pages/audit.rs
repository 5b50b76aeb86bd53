//! `/audit`: the audit log for administrators, filtered by user, action and time,
//! newest first, a page at a time.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::field;
use crate::audit::AuditFilter;
use crate::event::time::{now_millis, parse_time_arg};
use crate::web::auth::Viewer;
use crate::web::view::{self, Nav};
use crate::web::Shared;

/// Rows per page.
const PAGE: i64 = 100;

/// The filter form.
#[derive(Debug, Default, Deserialize)]
pub struct AuditForm {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    page: Option<i64>,
}

/// A row as shown.
pub struct RowView {
    /// Number.
    pub seq: i64,
    /// When.
    pub at: String,
    /// Who.
    pub user: String,
    /// From where.
    pub address: String,
    /// What.
    pub action: String,
    /// Particulars (JSON).
    pub detail: String,
}

/// The audit page.
#[derive(Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    /// The bar.
    pub nav: Option<Nav>,
    /// Filter values.
    pub user: String,
    /// Action filter.
    pub action: String,
    /// Since filter.
    pub since: String,
    /// Until filter.
    pub until: String,
    /// What is wrong with the filters.
    pub error: Option<String>,
    /// Rows.
    pub rows: Vec<RowView>,
    /// Link to newer rows.
    pub newer: Option<String>,
    /// Link to older rows.
    pub older: Option<String>,
}

/// `GET /audit`.
pub async fn page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(form): Query<AuditForm>,
) -> Response {
    let nav = Some(viewer.nav());
    if !viewer.user.is_admin() {
        return view::error(
            StatusCode::FORBIDDEN,
            nav,
            "The audit log is for administrators.",
        );
    }
    let page = form.page.unwrap_or(1).max(1);
    let mut view = AuditPage {
        nav,
        user: form.user.clone().unwrap_or_default(),
        action: form.action.clone().unwrap_or_default(),
        since: form.since.clone().unwrap_or_default(),
        until: form.until.clone().unwrap_or_default(),
        error: None,
        rows: Vec::new(),
        newer: None,
        older: None,
    };
    let time = |value: &Option<String>| -> Result<Option<i64>, String> {
        match field(value) {
            None => Ok(None),
            Some(text) => parse_time_arg(text, now_millis()).map(Some).ok_or_else(|| {
                format!("{text:?} is not a time (use 2024-05-01, 2024-05-01T12:00:00Z, 7d, 12h).")
            }),
        }
    };
    let (since, until) = match (time(&form.since), time(&form.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => {
            view.error = Some(e);
            let mut response = view::page(&view);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    let filter = AuditFilter {
        user: field(&form.user).map(String::from),
        action: field(&form.action).map(String::from),
        since,
        until,
        limit: Some(PAGE + 1),
        offset: (page - 1) * PAGE,
    };
    let mut rows = match app.audit.list(&filter).await {
        Ok(rows) => rows,
        Err(e) => return view::failed(view.nav.clone(), "Reading the audit log", e),
    };
    viewer
        .audit(&app, "view_audit", json!({"user": filter.user, "action": filter.action, "since": form.since, "until": form.until, "page": page}))
        .await;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let link = |page: i64| {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("user", &form.user),
            ("action", &form.action),
            ("since", &form.since),
            ("until", &form.until),
        ] {
            if let Some(v) = field(value) {
                out.append_pair(key, v);
            }
        }
        out.append_pair("page", &page.to_string());
        format!("/audit?{}", out.finish())
    };
    view.newer = (page > 1).then(|| link(page - 1));
    view.older = more.then(|| link(page + 1));
    view.rows = rows
        .into_iter()
        .map(|r| RowView {
            seq: r.seq,
            at: view::time(Some(r.at)),
            user: r.user,
            address: r.address,
            action: r.action,
            detail: r.detail.to_string(),
        })
        .collect();
    view::page(&view)
}
