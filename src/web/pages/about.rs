//! `/spaces/{id}/about`: a space's titles over time, its members now and every
//! join and leave the archive saw.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::conversation::encode;
use crate::store::review::history::space_about;
use crate::web::auth::Viewer;
use crate::web::view::{self, Nav};
use crate::web::Shared;

/// A row of a table on the page.
pub struct Line {
    /// When.
    pub at: String,
    /// What.
    pub what: String,
    /// Who.
    pub who: String,
    /// Role.
    pub role: String,
}

/// The about page.
#[derive(Template)]
#[template(path = "about.html")]
pub struct AboutPage {
    /// The bar.
    pub nav: Option<Nav>,
    /// Conversation link.
    pub conversation: String,
    /// Space id.
    pub id: String,
    /// Title now.
    pub title: String,
    /// group, direct, …
    pub kind: String,
    /// active or archived.
    pub status: String,
    /// Messages archived.
    pub messages: i64,
    /// Titles over time (`what` is the title).
    pub titles: Vec<Line>,
    /// Members now (`at` is when they joined).
    pub members: Vec<Line>,
    /// Joins and leaves.
    pub changes: Vec<Line>,
}

/// `GET /spaces/{id}/about`.
pub async fn page(State(app): State<Shared>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let nav = Some(viewer.nav());
    if !viewer.user.may_see(&id) {
        return view::not_found(nav, "space");
    }
    let about = match space_about(&app.archive, &id).await {
        Ok(Some(about)) => about,
        Ok(None) => return view::not_found(nav, "space"),
        Err(e) => return view::failed(nav, "Reading the space", e),
    };
    viewer.audit(&app, "view_space", json!({"space": id})).await;
    view::page(&AboutPage {
        nav,
        conversation: format!("/spaces/{}", encode(&id)),
        title: about.title.clone().unwrap_or_else(|| id.clone()),
        kind: about.kind.clone().unwrap_or_default(),
        status: match about.status {
            Some(1) => "archived".into(),
            Some(0) => "active".into(),
            Some(n) => n.to_string(),
            None => String::new(),
        },
        messages: about.messages,
        titles: about
            .titles
            .iter()
            .map(|t| Line {
                at: view::time(Some(t.at)),
                what: t.title.clone(),
                who: String::new(),
                role: String::new(),
            })
            .collect(),
        members: about
            .members
            .iter()
            .map(|(who, role, joined)| Line {
                at: view::time(*joined),
                what: String::new(),
                who: who.clone(),
                role: role.clone().unwrap_or_default(),
            })
            .collect(),
        changes: about
            .changes
            .iter()
            .map(|c| Line {
                at: view::time(c.at),
                what: c.change.clone(),
                who: c.person.clone(),
                role: c.role.clone().unwrap_or_default(),
            })
            .collect(),
        id,
    })
}
