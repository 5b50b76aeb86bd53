//! What the transcript's templates show of a message: plain strings made from the
//! export's records (askama escapes every one of them), with replies under their post
//! or task, every version, the removal, and attachments pointing into `files/`.

use askama::Template;

use crate::export::parsed::{AttachmentIn, MessageIn, PersonIn};
use crate::export::rsmf::text::readable_time;

/// Extensions an attachment's copy in `files/` keeps (so a browser opens it as what it
/// is); anything else, HTML and SVG among them, is saved as `.bin` and cannot run.
const SAFE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "webp", "bmp", "pdf", "txt", "csv", "log", "md", "json", "doc",
    "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf", "zip", "gz", "7z", "mp3",
    "m4a", "wav", "mp4", "mov", "webm", "eml", "msg",
];
/// Content types shown inline as images.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// A stored file's name in `files/`.
pub fn file_name(sha256: &str, name: &str) -> String {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| SAFE_EXTENSIONS.contains(&e.as_str()))
        .unwrap_or_else(|| "bin".to_string());
    format!("{sha256}.{ext}")
}

/// A message as shown.
pub struct Item {
    /// Avaya id (the element's id is `m-` and this).
    pub id: String,
    /// `chat`, `post`, `task`.
    pub kind: String,
    /// Sender.
    pub sender: String,
    /// When (readable) and the ISO time.
    pub time: String,
    /// ISO time for `<time datetime>`.
    pub iso: String,
    /// Task status, due date, assignees, as words.
    pub task: Option<String>,
    /// The current text (the last one, for a removed message).
    pub text: String,
    /// Removed: when and by whom.
    pub removed: Option<String>,
    /// Changed after it was sent.
    pub edited: bool,
    /// Every version, oldest first (when there is more than one).
    pub versions: Vec<VersionItem>,
    /// Attachments.
    pub attachments: Vec<FileItem>,
    /// A reply whose post is not on this page: where it is, or why not.
    pub reply_to: Option<ReplyTo>,
    /// Replies, for a post or task.
    pub replies: Vec<Item>,
}

/// A reply's post elsewhere.
pub struct ReplyTo {
    /// The post's id.
    pub id: String,
    /// Link to it, when it is in the transcript.
    pub href: Option<String>,
}

/// One version.
pub struct VersionItem {
    /// 1, 2, …
    pub vno: i64,
    /// create, update, remove …
    pub change: String,
    /// What changed.
    pub changed: String,
    /// When.
    pub time: String,
    /// Who.
    pub editor: String,
    /// Its text.
    pub text: String,
}

/// An attachment.
pub struct FileItem {
    /// Original name.
    pub name: String,
    /// Size as people read it.
    pub size: String,
    /// `../files/…` when its bytes are in the transcript.
    pub href: Option<String>,
    /// Shown inline.
    pub image: bool,
    /// Why the bytes are not there.
    pub missing: Option<String>,
}

fn who(person: Option<&PersonIn>) -> String {
    person.map_or_else(|| "(unknown)".to_string(), |p| p.display().to_string())
}

fn size(bytes: Option<i64>) -> String {
    match bytes {
        None => String::new(),
        Some(b) if b >= 1 << 20 => format!("{:.1} MB", b as f64 / 1_048_576.0),
        Some(b) if b >= 1 << 10 => format!("{:.0} KB", b as f64 / 1024.0),
        Some(b) => format!("{b} B"),
    }
}

/// `m` as shown from a page `depth` directories below the transcript's root.
pub fn item(m: &MessageIn, depth: usize) -> Item {
    let up = "../".repeat(depth);
    let task = m.task.as_ref().map(|t| {
        let mut words = vec![t.status.clone().unwrap_or_else(|| "no status".into())];
        if let Some(due) = &t.due {
            words.push(format!("due {}", readable_time(Some(due))));
        }
        if !m.assignees.is_empty() {
            let names: Vec<&str> = m.assignees.iter().map(PersonIn::display).collect();
            words.push(format!("assigned to {}", names.join(", ")));
        }
        words.join(", ")
    });
    let versions = if m.versions.len() > 1 {
        m.versions
            .iter()
            .map(|v| VersionItem {
                vno: v.vno,
                change: v.change.clone(),
                changed: v.changed.join(", "),
                time: readable_time(v.at.as_deref()),
                editor: who(v.editor.as_ref()),
                text: v.body(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Item {
        id: m.id.clone(),
        kind: m.kind.clone(),
        sender: who(m.sender.as_ref()),
        time: readable_time(m.time()),
        iso: m.time().unwrap_or_default().to_string(),
        task,
        text: m.body(),
        removed: m.removed.as_ref().map(|r| {
            format!(
                "Removed {} by {}",
                readable_time(r.at.as_deref()),
                who(r.by.as_ref())
            )
        }),
        edited: m.versions.iter().skip(1).any(|v| !v.removed),
        versions,
        attachments: m.attachments.iter().map(|a| file_item(a, &up)).collect(),
        reply_to: None,
        replies: Vec::new(),
    }
}

fn file_item(a: &AttachmentIn, up: &str) -> FileItem {
    let stored = a.stored_sha256();
    FileItem {
        name: a.display().to_string(),
        size: size(a.size),
        href: stored.map(|sha256| format!("{up}files/{}", file_name(sha256, a.display()))),
        image: stored.is_some() && a.mime.as_deref().is_some_and(|m| IMAGE_TYPES.contains(&m)),
        missing: match stored {
            Some(_) => None,
            None => Some(format!(
                "bytes not in the archive ({})",
                a.status.as_deref().unwrap_or("not fetched")
            )),
        },
    }
}

/// A space's page (or one page of it).
#[derive(Template)]
#[template(path = "export/space.html")]
pub struct SpacePage<'a> {
    /// Path to the transcript's root (`../` or `../../`).
    pub up: String,
    /// The space's title.
    pub title: &'a str,
    /// Its id.
    pub space_id: &'a str,
    /// Which part (a month, or all).
    pub period: String,
    /// The space's list of pages, when it has several.
    pub pages_href: Option<String>,
    /// The page before this one.
    pub previous: Option<String>,
    /// Top-level messages with their replies.
    pub items: Vec<Item>,
    /// Messages on the page.
    pub count: usize,
}

/// A space's list of pages.
#[derive(Template)]
#[template(path = "export/pages.html")]
pub struct PagesPage<'a> {
    /// The title.
    pub title: &'a str,
    /// Its id.
    pub space_id: &'a str,
    /// (period, file name, messages).
    pub pages: &'a [(String, String, usize)],
}

/// A space on the index.
pub struct SpaceRow {
    /// Title.
    pub title: String,
    /// Id.
    pub id: String,
    /// Link to its page or list of pages.
    pub href: Option<String>,
    /// Messages.
    pub messages: usize,
    /// Of which removed.
    pub removed: usize,
    /// Of which edited.
    pub edited: usize,
    /// Pages.
    pub pages: usize,
    /// First and last message.
    pub period: String,
}

/// `index.html`.
#[derive(Template)]
#[template(path = "export/index.html")]
pub struct IndexPage<'a> {
    /// When the export was made.
    pub generated_at: &'a str,
    /// By what.
    pub generator: &'a str,
    /// The filters, as (name, value).
    pub scope: Vec<(String, String)>,
    /// First and last message.
    pub period: String,
    /// Spaces.
    pub spaces: Vec<SpaceRow>,
    /// Messages in all.
    pub messages: usize,
    /// SHA-256 of the export's records.
    pub records_sha256: &'a str,
    /// The cursor for the next incremental export.
    pub cursor: &'a str,
}
