//! `/search`: the CLI's query syntax with its filters as form fields, a page of
//! hits with highlighted snippets and marks, each opening its conversation there.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::field;
use crate::event::time::{now_millis, parse_time_arg};
use crate::index::{RemovedFilter, Sort};
use crate::search::{search_page, SearchError, SearchOptions};
use crate::web::access::{self, ScopeError, SpaceScope};
use crate::web::auth::Viewer;
use crate::web::view::{self, Nav, Run};
use crate::web::Shared;

/// Hits per page.
pub const PAGE: usize = 20;

/// The search form's fields (also the export's scope).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SearchForm {
    /// The query.
    #[serde(default)]
    pub q: Option<String>,
    /// Space id or title.
    #[serde(default)]
    pub space: Option<String>,
    /// Sender id, name or user name.
    #[serde(default)]
    pub from: Option<String>,
    /// chat, post, task.
    #[serde(default)]
    pub kind: Option<String>,
    /// Created at or after (date, date-time, or 7d / 12h).
    #[serde(default)]
    pub since: Option<String>,
    /// Created before.
    #[serde(default)]
    pub until: Option<String>,
    /// include, exclude, only.
    #[serde(default)]
    pub removed: Option<String>,
    /// relevance, newest, oldest.
    #[serde(default)]
    pub sort: Option<String>,
    /// Page number, from 1.
    #[serde(default)]
    pub page: Option<usize>,
}

/// The filters checked: what the search and the export both take.
#[derive(Debug, Clone)]
pub struct Filters {
    /// Spaces the request covers.
    pub spaces: SpaceScope,
    /// Senders as typed.
    pub from: Vec<String>,
    /// chat, post, task.
    pub kind: Option<String>,
    /// UTC ms.
    pub since: Option<i64>,
    /// UTC ms.
    pub until: Option<i64>,
    /// Removed messages.
    pub removed: RemovedFilter,
}

impl Filters {
    /// The space filter as the search and the export take it (empty: every space).
    pub fn space_ids(&self) -> Vec<String> {
        self.spaces
            .ids()
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    }
}

impl SearchForm {
    /// The filters, checked and limited to what `viewer` may see; or what is wrong.
    pub async fn filters(&self, app: &Shared, viewer: &Viewer) -> Result<Filters, String> {
        let given: Vec<String> = field(&self.space).map(String::from).into_iter().collect();
        let spaces = match access::resolve(&app.archive, &viewer.user, &given).await {
            Ok(scope) => scope,
            Err(ScopeError::NoSuchSpace(name)) => {
                return Err(format!("No space matches {name:?}."))
            }
            Err(ScopeError::Store(e)) => return Err(format!("Reading the spaces failed: {e}")),
        };
        let time = |name: &str, value: &Option<String>| -> Result<Option<i64>, String> {
            match field(value) {
                None => Ok(None),
                Some(text) => parse_time_arg(text, now_millis()).map(Some).ok_or_else(|| {
                    format!("{name} {text:?} is not a time (use 2024-05-01, 2024-05-01T12:00:00Z, 7d, 12h).")
                }),
            }
        };
        let kind = match field(&self.kind) {
            None => None,
            Some(k @ ("chat" | "post" | "task")) => Some(k.to_string()),
            Some(other) => return Err(format!("{other:?} is not a kind (chat, post, task).")),
        };
        let removed = match field(&self.removed) {
            None | Some("include") => RemovedFilter::Include,
            Some("exclude") => RemovedFilter::Exclude,
            Some("only") => RemovedFilter::Only,
            Some(other) => {
                return Err(format!(
                    "{other:?} is not a removed filter (include, exclude, only)."
                ))
            }
        };
        Ok(Filters {
            spaces,
            from: field(&self.from).map(String::from).into_iter().collect(),
            kind,
            since: time("Since", &self.since)?,
            until: time("Until", &self.until)?,
            removed,
        })
    }

    /// The form's fields as a query string (for links to other pages of the results).
    pub fn query_string(&self, page: usize) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("q", &self.q),
            ("space", &self.space),
            ("from", &self.from),
            ("kind", &self.kind),
            ("since", &self.since),
            ("until", &self.until),
            ("removed", &self.removed),
            ("sort", &self.sort),
        ] {
            if let Some(v) = field(value) {
                out.append_pair(key, v);
            }
        }
        out.append_pair("page", &page.to_string());
        out.finish()
    }

    /// The form's filters as the audit log and the export record them.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "q": field(&self.q), "space": field(&self.space), "from": field(&self.from),
            "kind": field(&self.kind), "since": field(&self.since), "until": field(&self.until),
            "removed": field(&self.removed), "sort": field(&self.sort),
        })
    }
}

/// A hit as the page shows it.
pub struct HitView {
    /// Message id.
    pub id: String,
    /// Its space (id).
    pub space_id: String,
    /// Space title.
    pub space: String,
    /// Sender.
    pub sender: String,
    /// Created.
    pub created: String,
    /// chat, post, task.
    pub kind: String,
    /// Removed.
    pub removed: bool,
    /// Edited (more than one version).
    pub edited: bool,
    /// The snippet.
    pub snippet: Vec<Run>,
    /// `text`, `description`, `history`, `attachment`.
    pub source: &'static str,
}

/// The search page.
#[derive(Template)]
#[template(path = "search.html")]
pub struct SearchPageView {
    /// The bar.
    pub nav: Option<Nav>,
    /// The form as sent.
    pub form: SearchForm,
    /// The query (for the form).
    pub q: String,
    /// Whether a search ran.
    pub searched: bool,
    /// What is wrong with the request.
    pub error: Option<String>,
    /// Messages matching.
    pub total: usize,
    /// This page's hits.
    pub hits: Vec<HitView>,
    /// Page number.
    pub page: usize,
    /// Link to the previous page.
    pub prev: Option<String>,
    /// Link to the next page.
    pub next: Option<String>,
    /// Shown hits' positions.
    pub first: usize,
    /// Last shown position.
    pub last: usize,
}

impl SearchPageView {
    /// The selected value of a select field.
    pub fn is(&self, field: &str, value: &str) -> bool {
        let given = match field {
            "kind" => &self.form.kind,
            "removed" => &self.form.removed,
            _ => &self.form.sort,
        };
        super::field(given).unwrap_or("") == value
    }

    /// A text field's value.
    pub fn value(&self, field: &str) -> String {
        let given = match field {
            "space" => &self.form.space,
            "from" => &self.form.from,
            "since" => &self.form.since,
            _ => &self.form.until,
        };
        given.clone().unwrap_or_default()
    }
}

/// `GET /search`.
pub async fn page(
    State(app): State<Shared>,
    viewer: Viewer,
    Query(form): Query<SearchForm>,
) -> Response {
    let page = form.page.unwrap_or(1).clamp(1, 500);
    let mut view = SearchPageView {
        nav: Some(viewer.nav()),
        q: form.q.clone().unwrap_or_default(),
        form: form.clone(),
        searched: false,
        error: None,
        total: 0,
        hits: Vec::new(),
        page,
        prev: None,
        next: None,
        first: 0,
        last: 0,
    };
    let Some(query) = field(&form.q).map(String::from) else {
        return view::page(&view);
    };
    view.searched = true;
    let filters = match form.filters(&app, &viewer).await {
        Ok(filters) => filters,
        Err(message) => {
            view.error = Some(message);
            let mut response = view::page(&view);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    let options = SearchOptions {
        query: query.clone(),
        spaces: filters.space_ids(),
        from: filters.from,
        kind: filters.kind,
        since: filters.since,
        until: filters.until,
        removed: filters.removed,
        in_history: true,
        sort: match field(&form.sort) {
            Some("newest") => Sort::Newest,
            Some("oldest") => Sort::Oldest,
            _ => Sort::Relevance,
        },
        limit: PAGE,
        offset: (page - 1) * PAGE,
    };
    let result = search_page(&app.archive, &app.index, &app.reader, &options).await;
    let found = match result {
        Ok(found) => found,
        Err(SearchError::Query(e)) => {
            view.error = Some(format!("Bad query: {}", e.message));
            let mut response = view::page(&view);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
        Err(SearchError::Filter(message)) => {
            view.error = Some(message);
            let mut response = view::page(&view);
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
        Err(e) => return view::failed(Some(viewer.nav()), "The search", e),
    };
    viewer
        .audit(
            &app,
            "search",
            json!({"query": query, "filters": form.to_json(), "hits": found.total, "page": page}),
        )
        .await;
    view.total = found.total;
    view.first = (page - 1) * PAGE + 1;
    view.last = (page - 1) * PAGE + found.hits.len();
    view.prev = (page > 1).then(|| form.query_string(page - 1));
    view.next = (view.last < found.total).then(|| form.query_string(page + 1));
    view.hits = found
        .hits
        .iter()
        .map(|hit| HitView {
            id: hit.row.id.clone(),
            space_id: hit.row.space_id.clone().unwrap_or_default(),
            space: hit
                .row
                .space_title
                .clone()
                .or_else(|| hit.row.space_id.clone())
                .unwrap_or_default(),
            sender: hit
                .row
                .sender_name
                .clone()
                .or_else(|| hit.row.sender_id.clone())
                .unwrap_or_default(),
            created: view::time(hit.row.created),
            kind: hit.row.kind.clone(),
            removed: hit.row.removed_at.is_some(),
            edited: hit.row.versions > 1,
            snippet: view::runs(&hit.snippet),
            source: hit.snippet.source,
        })
        .collect();
    view::page(&view)
}
