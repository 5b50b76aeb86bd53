//! `/messages/{id}`: every version of a message oldest first, each with a word diff
//! of its text against the one before, the removal, and for administrators the
//! payloads exactly as received.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::conversation::encode;
use crate::store::review::history::{message_history, message_payloads};
use crate::web::auth::Viewer;
use crate::web::diff::{self, Run};
use crate::web::view::{self, Nav};
use crate::web::Shared;

/// A version as shown.
pub struct VersionView {
    /// Version number.
    pub vno: i64,
    /// create, update, remove.
    pub change: String,
    /// When.
    pub at: String,
    /// By whom.
    pub editor: String,
    /// The text's diff against the version before (the whole text for the first).
    pub diff: Vec<Run>,
    /// The description's diff, when it has one.
    pub description: Vec<Run>,
    /// Task status, when it changed.
    pub task_status: String,
    /// Removed in this version.
    pub removed: bool,
}

/// A payload as shown (administrators only).
pub struct PayloadView {
    /// Sequence number.
    pub seq: i64,
    /// Received.
    pub received: String,
    /// live, backfill, import, sweep.
    pub source: String,
    /// Category.
    pub category: String,
    /// The JSON, pretty-printed when it parses (else as received).
    pub json: String,
}

/// The message page.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// The bar.
    pub nav: Option<Nav>,
    /// Id.
    pub id: String,
    /// Conversation link.
    pub conversation: String,
    /// Space title.
    pub space: String,
    /// chat, post, task.
    pub kind: String,
    /// Sender.
    pub sender: String,
    /// Created.
    pub created: String,
    /// Removed: by whom and when.
    pub removed: Option<String>,
    /// Versions, oldest first.
    pub versions: Vec<VersionView>,
    /// Payloads (administrators).
    pub payloads: Option<Vec<PayloadView>>,
}

/// `GET /messages/{id}`.
pub async fn page(State(app): State<Shared>, viewer: Viewer, Path(id): Path<String>) -> Response {
    let nav = Some(viewer.nav());
    let history = match message_history(&app.archive, &id).await {
        Ok(Some(h)) => h,
        Ok(None) => return view::not_found(nav, "message"),
        Err(e) => return view::failed(nav, "Reading the message", e),
    };
    let space_id = history.space_id.clone().unwrap_or_default();
    if !viewer.user.may_see(&space_id) {
        return view::not_found(nav, "message");
    }
    let payloads = if viewer.user.is_admin() {
        match message_payloads(&app.archive, &id).await {
            Ok(events) => Some(
                events
                    .into_iter()
                    .map(|e| PayloadView {
                        seq: e.seq,
                        received: view::time(Some(e.received_at)),
                        source: e.source,
                        category: e.category,
                        json: serde_json::from_str::<serde_json::Value>(&e.payload)
                            .ok()
                            .and_then(|v| serde_json::to_string_pretty(&v).ok())
                            .unwrap_or(e.payload),
                    })
                    .collect(),
            ),
            Err(e) => return view::failed(nav, "Reading the payloads", e),
        }
    } else {
        None
    };
    viewer
        .audit(
            &app,
            "view_message",
            json!({"message": id, "space": space_id, "versions": history.versions.len(),
                   "payloads": payloads.is_some()}),
        )
        .await;
    let mut versions = Vec::with_capacity(history.versions.len());
    let (mut text, mut description, mut status) = (String::new(), String::new(), None);
    for v in &history.versions {
        versions.push(VersionView {
            vno: v.vno,
            change: v.change.clone(),
            at: view::time(Some(v.at)),
            editor: v.editor.clone().unwrap_or_default(),
            diff: diff::words(&text, &v.text),
            description: if v.description.is_empty() && description.is_empty() {
                Vec::new()
            } else {
                diff::words(&description, &v.description)
            },
            task_status: if v.task_status != status {
                v.task_status.clone().unwrap_or_default()
            } else {
                String::new()
            },
            removed: v.removed,
        });
        text.clone_from(&v.text);
        description.clone_from(&v.description);
        status.clone_from(&v.task_status);
    }
    view::page(&MessagePage {
        nav,
        conversation: format!(
            "/spaces/{}?around={}#m-{}",
            encode(&space_id),
            encode(&id),
            id
        ),
        space: history.space_title.clone().unwrap_or(space_id),
        kind: history.kind.clone(),
        sender: history.sender.clone().unwrap_or_default(),
        created: view::time(history.created),
        removed: history.removed_at.map(|at| match &history.removed_by {
            Some(by) => format!("Removed by {by} at {}", view::time(Some(at))),
            None => format!("Removed at {}", view::time(Some(at))),
        }),
        id,
        versions,
        payloads,
    })
}
