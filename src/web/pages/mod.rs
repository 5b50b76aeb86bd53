//! The pages, one module each; every handler takes a [`Viewer`](super::auth::Viewer).

pub mod about;
pub mod audit;
pub mod conversation;
pub mod export;
pub mod files;
pub mod message;
pub mod search;

use axum::response::{IntoResponse, Redirect, Response};

use super::auth::Viewer;
use super::view;

/// `/`: the search page.
pub async fn home(_viewer: Viewer) -> Response {
    Redirect::to("/search").into_response()
}

/// Any other path (after login: 404; before: to the login page).
pub async fn not_found(viewer: Viewer) -> Response {
    view::not_found(Some(viewer.nav()), "page")
}

/// An optional form field: absent and blank are the same.
pub fn field(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}
