//! `/spaces/{id}`: a space's conversation in time order around a message
//! (`?around=ID`), or before / after one, with replies under their post or task,
//! removed messages struck through with who removed them and when, edited marks,
//! and attachments (stored images inline, other stored files as downloads).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::store::review::conversation::conversation;
use crate::store::review::{AttachmentView, ConversationMessage, Page};
use crate::web::auth::Viewer;
use crate::web::view::{self, Nav};
use crate::web::Shared;

/// Top-level messages per page.
pub const PAGE: i64 = 40;

/// Image types shown inline (never SVG: it can hold script).
pub const INLINE_IMAGES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// `?around=`, `?before=`, `?after=`.
#[derive(Debug, Deserialize)]
pub struct Where {
    around: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

/// An attachment as shown.
pub struct FileView {
    /// Download link, when stored.
    pub href: Option<String>,
    /// Inline image source, when a stored image.
    pub image: Option<String>,
    /// Original name.
    pub name: String,
    /// Size.
    pub size: String,
    /// Why it cannot be had, when not stored.
    pub status: String,
}

/// A message as shown.
pub struct MessageView {
    /// Id.
    pub id: String,
    /// chat, post, task.
    pub kind: String,
    /// Sender.
    pub sender: String,
    /// Created.
    pub created: String,
    /// Text.
    pub text: String,
    /// Description.
    pub description: String,
    /// Task status.
    pub task_status: String,
    /// Removed: by whom and when.
    pub removed: Option<String>,
    /// Versions (edited when more than one).
    pub versions: i64,
    /// The message the page is centred on.
    pub anchor: bool,
    /// Attachments.
    pub files: Vec<FileView>,
    /// Replies.
    pub replies: Vec<MessageView>,
}

/// The conversation page.
#[derive(Template)]
#[template(path = "conversation.html")]
pub struct ConversationPage {
    /// The bar.
    pub nav: Option<Nav>,
    /// Space id.
    pub space_id: String,
    /// Space title.
    pub title: String,
    /// Messages.
    pub messages: Vec<MessageView>,
    /// Link to earlier messages.
    pub earlier: Option<String>,
    /// Link to later messages.
    pub later: Option<String>,
}

fn file_view(file: &AttachmentView) -> FileView {
    let stored = file.status == "stored";
    let href = file
        .file_id
        .as_ref()
        .filter(|_| stored)
        .map(|id| format!("/files/{}", encode(id)));
    let image = href.as_ref().and_then(|h| {
        let mime = file.mime.as_deref()?.to_ascii_lowercase();
        INLINE_IMAGES
            .contains(&mime.as_str())
            .then(|| format!("{h}?inline=1"))
    });
    FileView {
        href,
        image,
        name: file.name.clone(),
        size: view::size(file.size),
        status: match file.status.as_str() {
            "stored" => String::new(),
            "pending" | "failed" => "not fetched yet".into(),
            "gone" => "gone from the server".into(),
            "too_large" => "larger than the archive keeps".into(),
            _ => "not archived".into(),
        },
    }
}

/// A path segment, percent-encoded.
pub fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

fn message_view(m: &ConversationMessage, anchor: Option<&str>) -> MessageView {
    MessageView {
        id: m.id.clone(),
        kind: m.kind.clone(),
        sender: m.sender.clone().unwrap_or_default(),
        created: view::time(m.created),
        text: m.text.clone(),
        description: m.description.clone(),
        task_status: m.task_status.clone().unwrap_or_default(),
        removed: m.removed_at.map(|at| match &m.removed_by {
            Some(by) => format!("removed by {by} at {}", view::time(Some(at))),
            None => format!("removed at {}", view::time(Some(at))),
        }),
        versions: m.versions,
        anchor: anchor == Some(m.id.as_str()),
        files: m.attachments.iter().map(file_view).collect(),
        replies: m.replies.iter().map(|r| message_view(r, anchor)).collect(),
    }
}

/// `GET /spaces/{id}`.
pub async fn page(
    State(app): State<Shared>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(at): Query<Where>,
) -> Response {
    let nav = Some(viewer.nav());
    if !viewer.user.may_see(&id) {
        return view::not_found(nav, "space");
    }
    let title: Option<Option<String>> =
        match sqlx::query_scalar("SELECT title FROM spaces WHERE id = ?")
            .bind(&id)
            .fetch_optional(app.archive.pool())
            .await
        {
            Ok(title) => title,
            Err(e) => return view::failed(nav, "Reading the space", e),
        };
    let Some(title) = title else {
        return view::not_found(nav, "space");
    };
    let page = match (&at.around, &at.before, &at.after) {
        (Some(m), _, _) => Page::Around(m.clone()),
        (_, Some(m), _) => Page::Before(m.clone()),
        (_, _, Some(m)) => Page::After(m.clone()),
        _ => Page::Latest,
    };
    let found = match conversation(&app.archive, &id, &page, PAGE).await {
        Ok(Some(found)) => found,
        Ok(None) => return view::not_found(nav, "message in this space"),
        Err(e) => return view::failed(nav, "Reading the conversation", e),
    };
    viewer
        .audit(
            &app,
            "view_conversation",
            json!({"space": id, "around": at.around, "before": at.before, "after": at.after,
                   "messages": found.messages.len()}),
        )
        .await;
    let base = format!("/spaces/{}", encode(&id));
    let earlier = found
        .more_before
        .then(|| found.messages.first())
        .flatten()
        .map(|m| format!("{base}?before={}", encode(&m.id)));
    let later = found
        .more_after
        .then(|| found.messages.last())
        .flatten()
        .map(|m| format!("{base}?after={}", encode(&m.id)));
    let anchor = at.around.as_deref();
    view::page(&ConversationPage {
        nav,
        title: title.unwrap_or_else(|| id.clone()),
        space_id: id,
        messages: found
            .messages
            .iter()
            .map(|m| message_view(m, anchor))
            .collect(),
        earlier,
        later,
    })
}
