//! What the templates are given: times as people read them, snippets as runs of
//! plain and highlighted text, the navigation bar, and the pages' error answers.
//! Everything a template shows is escaped by askama; nothing here builds HTML.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::search::Snippet;

/// The bar at the top of every page after login.
#[derive(Debug, Clone)]
pub struct Nav {
    /// Who is logged in.
    pub user: String,
    /// Whether they may see the audit log.
    pub admin: bool,
    /// The token the page's forms carry.
    pub csrf: String,
}

/// A run of a snippet.
#[derive(Debug, Clone)]
pub struct Run {
    /// The text.
    pub text: String,
    /// A matched term.
    pub mark: bool,
}

/// A snippet as runs of plain and matched text.
pub fn runs(snippet: &Snippet) -> Vec<Run> {
    let mut out = Vec::new();
    let mut at = 0;
    for range in &snippet.highlights {
        let (start, end) = (
            range.start.min(snippet.text.len()),
            range.end.min(snippet.text.len()),
        );
        if start < at
            || !snippet.text.is_char_boundary(start)
            || !snippet.text.is_char_boundary(end)
        {
            continue;
        }
        if start > at {
            out.push(Run {
                text: snippet.text[at..start].to_string(),
                mark: false,
            });
        }
        out.push(Run {
            text: snippet.text[start..end].to_string(),
            mark: true,
        });
        at = end;
    }
    if at < snippet.text.len() {
        out.push(Run {
            text: snippet.text[at..].to_string(),
            mark: false,
        });
    }
    out
}

/// A time as `2024-05-01 12:00:00 UTC`; empty when unknown.
pub fn time(millis: Option<i64>) -> String {
    let Some(millis) = millis else {
        return String::new();
    };
    let iso = crate::event::time::format_millis(millis);
    match (iso.get(..10), iso.get(11..19)) {
        (Some(date), Some(clock)) => format!("{date} {clock} UTC"),
        _ => iso,
    }
}

/// A byte count as people read it.
pub fn size(bytes: Option<i64>) -> String {
    let Some(bytes) = bytes else {
        return String::new();
    };
    let b = bytes as f64;
    if b >= 1_048_576.0 {
        format!("{:.1} MB", b / 1_048_576.0)
    } else if b >= 1024.0 {
        format!("{:.0} KB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// Renders a page, or answers 500 saying the page could not be built.
pub fn page(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("cannot render a page: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be built",
            )
                .into_response()
        }
    }
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The bar, when logged in.
    pub nav: Option<Nav>,
    /// The status line's words.
    pub title: String,
    /// What went wrong.
    pub message: String,
}

/// An error page with `status`.
pub fn error(status: StatusCode, nav: Option<Nav>, message: impl Into<String>) -> Response {
    let page_html = page(&ErrorPage {
        nav,
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        message: message.into(),
    });
    (status, page_html).into_response()
}

/// 404 with the same words whether the thing is missing or not the viewer's to see.
pub fn not_found(nav: Option<Nav>, what: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        nav,
        format!("The archive holds no {what} by that id that you may see."),
    )
}

/// 500 for a failed read, logged with its cause (the page says only that it failed).
pub fn failed(nav: Option<Nav>, what: &str, cause: impl std::fmt::Display) -> Response {
    tracing::error!("{what}: {cause}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        nav,
        format!("{what} failed; the server's log says why."),
    )
}
