//! The simulator's REST endpoints, served from its history with the API's shapes:
//! results in `data`, pages linked by absolute `nextPageUrl`, the token checked in
//! the `Authorization` header; and the storage of [`super::files`], which checks
//! signed URLs instead.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Paging, Shared};

#[derive(Clone)]
struct Api {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

/// The REST routes under `/api`, every one behind the token check.
pub fn router(shared: Arc<Shared>, addr: SocketAddr) -> Router {
    let api = Api { shared, addr };
    Router::new()
        .route("/api/users/me/spaces", get(spaces))
        .route("/api/users/me/messages", get(messages))
        .route("/api/files/getdownloadurl", get(download_urls))
        .route_layer(axum::middleware::from_fn_with_state(
            api.clone(),
            check_token,
        ))
        .with_state(api.clone())
        // The storage checks signatures, never tokens (and refuses any credential).
        .merge(
            Router::new()
                .route("/storage/{key}", get(super::files::storage))
                .with_state(api.shared),
        )
}

/// `Authorization: jwt TOKEN` or `bearer TOKEN`, else 401.
async fn check_token(
    State(api): State<Api>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let token = given.and_then(|v| v.strip_prefix("jwt ").or_else(|| v.strip_prefix("bearer ")));
    match token {
        Some(token) if api.shared.accepts(token) => next.run(request).await,
        _ => refused(),
    }
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": { "code": "unauthorized", "message": "invalid token" } })),
    )
        .into_response()
}

fn page_size(api: &Api, query: &HashMap<String, String>) -> usize {
    query
        .get("size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(api.shared.options.page_size)
        .clamp(1, 100)
        .min(api.shared.options.page_size)
}

/// The absolute URL of the next page: this request with `pageToken` set.
fn next_url(
    api: &Api,
    headers: &HeaderMap,
    path: &str,
    query: &HashMap<String, String>,
    token: &str,
) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| api.addr.to_string(), str::to_string);
    let mut url = url::Url::parse(&format!("http://{host}{path}")).expect("simulator URL");
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query.iter().filter(|(k, _)| k.as_str() != "pageToken") {
            pairs.append_pair(k, v);
        }
        pairs.append_pair("pageToken", token);
    }
    url.to_string()
}

/// One page of a fixed listing from an offset `pageToken`.
fn page(
    api: &Api,
    headers: &HeaderMap,
    path: &str,
    query: &HashMap<String, String>,
    items: Vec<Value>,
) -> Response {
    let size = page_size(api, query);
    let start: usize = query
        .get("pageToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let end = (start + size).min(items.len());
    let data: Vec<Value> = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let next = (end < items.len()).then(|| next_url(api, headers, path, query, &end.to_string()));
    Json(json!({ "data": data, "total": items.len(), "nextPageUrl": next })).into_response()
}

async fn download_urls(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Query<HashMap<String, String>>,
) -> Response {
    super::files::download_urls(State(api.shared), headers, query).await
}

async fn spaces(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let items: Vec<Value> = {
        let history = api.shared.history.lock().unwrap_or_else(|e| e.into_inner());
        history.spaces.values().map(|s| s.item.clone()).collect()
    };
    page(&api, &headers, "/api/users/me/spaces", &query, items)
}

async fn messages(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let spaces: Vec<&str> = query
        .get("spacelist")
        .map(|s| s.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if spaces.is_empty() || spaces.len() > 15 {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": { "code": "invalid.parameters", "message": "spacelist needs 1 to 15 space ids" } }))).into_response();
    }
    api.shared
        .message_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let after: i64 = query.get("after").and_then(|s| s.parse().ok()).unwrap_or(0);
    if api.shared.options.paging == Paging::Offset {
        return messages_by_offset(&api, &headers, &query, &spaces, after);
    }
    let cursor: Option<(i64, String)> = query
        .get("pageToken")
        .and_then(|t| t.split_once(':'))
        .and_then(|(t, id)| Some((t.parse().ok()?, id.to_string())));
    let size = page_size(&api, &query);
    let (items, next): (Vec<Value>, Option<String>) = {
        let history = api.shared.history.lock().unwrap_or_else(|e| e.into_inner());
        let found = history.messages_after(
            &spaces,
            after,
            cursor.as_ref().map(|(t, id)| (*t, id.as_str())),
            size + 1,
        );
        let more = found.len() > size;
        let page: Vec<(i64, Value)> = found
            .into_iter()
            .take(size)
            .map(|(t, item)| (t, Value::Object(item.clone())))
            .collect();
        let next = more.then(|| {
            let (t, item) = page.last().expect("a full page");
            format!("{t}:{}", item["_id"].as_str().unwrap_or(""))
        });
        (page.into_iter().map(|(_, v)| v).collect(), next)
    };
    let next = next.map(|token| next_url(&api, &headers, "/api/users/me/messages", &query, &token));
    Json(json!({ "data": items, "nextPageUrl": next })).into_response()
}

/// `GET /api/users/me/messages` paged by an offset into the list as it is at each
/// request.
fn messages_by_offset(
    api: &Api,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    spaces: &[&str],
    after: i64,
) -> Response {
    let size = page_size(api, query);
    let offset: usize = query
        .get("pageToken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (items, total) = {
        let history = api.shared.history.lock().unwrap_or_else(|e| e.into_inner());
        let (page, total) = history.messages_from_offset(spaces, after, offset, size);
        let items: Vec<Value> = page.into_iter().map(|i| Value::Object(i.clone())).collect();
        (items, total)
    };
    let end = offset + items.len();
    let next = (end < total).then(|| {
        next_url(
            api,
            headers,
            "/api/users/me/messages",
            query,
            &end.to_string(),
        )
    });
    Json(json!({ "data": items, "total": total, "nextPageUrl": next })).into_response()
}
