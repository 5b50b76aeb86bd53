//! `export --format html --output DIR`: an offline transcript made from the JSONL
//! export's records: `index.html` (scope, period, spaces with counts, the records'
//! SHA-256), a page per space (`spaces/ID.html`; a space of more than
//! [`SINGLE_PAGE`] messages gets `spaces/ID/` with a page per month, each split at
//! [`PAGE_MAX`], and an index of them), messages in order with replies under their
//! post or task, every version in a `<details>`, removals struck through with who and
//! when, and attachments from `files/`. No script, no network resource (a
//! Content-Security-Policy says so), print CSS; everything from a message is
//! HTML-escaped by the templates.

mod view;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use askama::Template;
use serde_json::Map;

use super::files::copy_checked;
use super::lines::Records;
use super::parsed::{CompleteIn, ManifestIn, MessageIn, Record, SpaceIn};
use super::rsmf::text::readable_time;
use super::set::{finish_set, pairs, safe_name, ExportDir, SetSummary};
use crate::files::content::ContentStore;
use view::{IndexPage, PagesPage, ReplyTo, SpacePage, SpaceRow};

/// The format name in the set's manifest.
pub const FORMAT: &str = "spaces-archive-html/1";
/// A space with at most this many messages is one page.
pub const SINGLE_PAGE: usize = 2_000;
/// Messages on one page of a month at most.
pub const PAGE_MAX: usize = 5_000;
/// The transcript's style sheet.
const STYLE: &str = include_str!("style.css");

/// A space as the index shows it.
#[derive(Default)]
struct SpaceStats {
    messages: usize,
    removed: usize,
    edited: usize,
    first: Option<String>,
    last: Option<String>,
    /// (period, file, messages) of each page.
    pages: Vec<(String, String, usize)>,
    /// Its pages are by month, in `spaces/ID/`.
    by_month: bool,
}

/// Messages waiting for their page.
struct Page {
    space_id: String,
    /// The month (`None` while the space may still be one page).
    month: Option<String>,
    part: usize,
    messages: Vec<MessageIn>,
}

/// Writes the transcript of an export's records.
pub struct HtmlWriter {
    set: Option<ExportDir>,
    store: ContentStore,
    manifest: Option<ManifestIn>,
    spaces: Vec<SpaceIn>,
    stats: BTreeMap<String, SpaceStats>,
    page: Option<Page>,
    /// Posts and tasks of the current space already on a page: their link.
    parents: HashMap<String, String>,
    copied: HashSet<String>,
    done: Arc<Mutex<Option<SetSummary>>>,
}

impl HtmlWriter {
    /// Writes into `set`, copying stored files from `store`; `done` receives the
    /// summary once the set is renamed into place.
    pub fn new(
        set: ExportDir,
        store: ContentStore,
        done: Arc<Mutex<Option<SetSummary>>>,
    ) -> HtmlWriter {
        HtmlWriter {
            set: Some(set),
            store,
            manifest: None,
            spaces: Vec::new(),
            stats: BTreeMap::new(),
            page: None,
            parents: HashMap::new(),
            copied: HashSet::new(),
            done,
        }
    }

    fn set(&mut self) -> io::Result<&mut ExportDir> {
        self.set
            .as_mut()
            .ok_or_else(|| io::Error::other("a record came after the export's last"))
    }

    fn message(&mut self, m: Box<MessageIn>) -> io::Result<()> {
        if self.page.as_ref().is_some_and(|p| p.space_id != m.space_id) {
            self.finish_space()?;
        }
        let stats = self.stats.entry(m.space_id.clone()).or_default();
        stats.messages += 1;
        stats.removed += usize::from(m.removed.is_some());
        stats.edited += usize::from(m.versions.iter().skip(1).any(|v| !v.removed));
        if let Some(t) = m.time() {
            if stats.first.as_deref().is_none_or(|f| t < f) {
                stats.first = Some(t.to_string());
            }
            if stats.last.as_deref().is_none_or(|l| t > l) {
                stats.last = Some(t.to_string());
            }
        }
        if stats.by_month {
            return self.monthly(m);
        }
        let page = self.page.get_or_insert_with(|| Page {
            space_id: m.space_id.clone(),
            month: None,
            part: 1,
            messages: Vec::new(),
        });
        page.messages.push(*m);
        if page.messages.len() > SINGLE_PAGE {
            // Too many for one page: the space goes by month from here.
            let waiting = std::mem::take(&mut page.messages);
            self.page = None;
            if let Some(stats) = self.stats.get_mut(&waiting[0].space_id) {
                stats.by_month = true;
            }
            for m in waiting {
                self.monthly(Box::new(m))?;
            }
        }
        Ok(())
    }

    fn monthly(&mut self, m: Box<MessageIn>) -> io::Result<()> {
        let month = Some(month_of(&m));
        let full = self
            .page
            .as_ref()
            .map(|p| (p.month != month, p.messages.len() >= PAGE_MAX, p.part));
        let part = match full {
            Some((true, _, _)) => {
                self.flush_page()?;
                1
            }
            Some((false, true, part)) => {
                self.flush_page()?;
                part + 1
            }
            Some((false, false, _)) => 0,
            None => 1,
        };
        if part > 0 {
            self.page = Some(Page {
                space_id: m.space_id.clone(),
                month,
                part,
                messages: Vec::new(),
            });
        }
        if let Some(page) = &mut self.page {
            page.messages.push(*m);
        }
        Ok(())
    }

    /// Writes the page being gathered.
    fn flush_page(&mut self) -> io::Result<()> {
        let Some(page) = self.page.take() else {
            return Ok(());
        };
        let space = self
            .spaces
            .iter()
            .find(|s| s.id == page.space_id)
            .ok_or_else(|| {
                io::Error::other(format!(
                    "messages name space {}, which the export has no record of",
                    page.space_id
                ))
            })?;
        let dir = safe_name(&space.id);
        let (rel, depth, period) = match &page.month {
            None => (format!("spaces/{dir}.html"), 1, "all messages".to_string()),
            Some(month) => {
                let file = match page.part {
                    1 => format!("{month}.html"),
                    n => format!("{month}-{n}.html"),
                };
                let period = match page.part {
                    1 => month.clone(),
                    n => format!("{month}, part {n}"),
                };
                (format!("spaces/{dir}/{file}"), 2, period)
            }
        };
        let file = rel.rsplit('/').next().unwrap_or_default().to_string();
        let mut items: Vec<view::Item> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for m in &page.messages {
            let mut item = view::item(m, depth);
            if let Some(parent) = &m.parent_id {
                if let Some(&i) = at.get(parent) {
                    items[i].replies.push(item);
                    continue;
                }
                item.reply_to = Some(ReplyTo {
                    id: parent.clone(),
                    href: self.parents.get(parent).cloned(),
                });
            }
            at.insert(m.id.clone(), items.len());
            items.push(item);
        }
        for m in &page.messages {
            if m.kind != "chat" {
                self.parents
                    .insert(m.id.clone(), format!("{file}#m-{}", m.id));
            }
        }
        let stats = self.stats.get(&space.id);
        let previous = stats
            .and_then(|s| s.pages.last())
            .map(|(_, f, _)| f.clone());
        let html = SpacePage {
            up: "../".repeat(depth),
            title: space.display(),
            space_id: &space.id,
            period: period.clone(),
            pages_href: page.month.as_ref().map(|_| "index.html".to_string()),
            previous,
            items,
            count: page.messages.len(),
        }
        .render()
        .map_err(io::Error::other)?;
        let space_id = space.id.clone();
        self.copy_files(&page.messages)?;
        let set = self.set()?;
        let mut out = set.create_file(&rel)?;
        out.write_all(html.as_bytes())?;
        let mut about = Map::new();
        about.insert("kind".into(), "page".into());
        about.insert("space_id".into(), space_id.clone().into());
        about.insert("period".into(), period.clone().into());
        about.insert("messages".into(), page.messages.len().into());
        let entry = out.finish(about)?;
        set.add(entry);
        if let Some(stats) = self.stats.get_mut(&space_id) {
            stats.pages.push((period, file, page.messages.len()));
        }
        Ok(())
    }

    /// Copies the stored files `messages` name into `files/`, once each.
    fn copy_files(&mut self, messages: &[MessageIn]) -> io::Result<()> {
        for m in messages {
            for a in &m.attachments {
                let Some(sha256) = a.stored_sha256() else {
                    continue;
                };
                let name = format!("files/{}", view::file_name(sha256, a.display()));
                if !self.copied.insert(name.clone()) {
                    continue;
                }
                let store = self.store.clone();
                let set = self.set()?;
                let mut out = set.create_file(&name)?;
                copy_checked(&store, sha256, &mut out)?;
                let mut about = Map::new();
                about.insert("kind".into(), "file".into());
                about.insert("sha256_of".into(), sha256.into());
                let entry = out.finish(about)?;
                set.add(entry);
            }
        }
        Ok(())
    }

    /// Writes the current space's last page, and its list of pages when it has several.
    fn finish_space(&mut self) -> io::Result<()> {
        let Some(space_id) = self.page.as_ref().map(|p| p.space_id.clone()) else {
            return Ok(());
        };
        self.flush_page()?;
        self.parents.clear();
        let Some(stats) = self.stats.get(&space_id) else {
            return Ok(());
        };
        if !stats.by_month {
            return Ok(());
        }
        let title = self
            .spaces
            .iter()
            .find(|s| s.id == space_id)
            .map_or(space_id.as_str(), SpaceIn::display);
        let html = PagesPage {
            title,
            space_id: &space_id,
            pages: &stats.pages,
        }
        .render()
        .map_err(io::Error::other)?;
        let rel = format!("spaces/{}/index.html", safe_name(&space_id));
        let set = self.set()?;
        let mut out = set.create_file(&rel)?;
        out.write_all(html.as_bytes())?;
        let mut about = Map::new();
        about.insert("kind".into(), "pages".into());
        about.insert("space_id".into(), space_id.into());
        let entry = out.finish(about)?;
        set.add(entry);
        Ok(())
    }

    fn complete(&mut self, complete: CompleteIn) -> io::Result<()> {
        self.finish_space()?;
        let manifest = self
            .manifest
            .clone()
            .ok_or_else(|| io::Error::other("the export's records have no manifest"))?;
        let mut rows = Vec::new();
        let mut total = 0;
        let (mut first, mut last): (Option<String>, Option<String>) = (None, None);
        for space in &self.spaces {
            let stats = self.stats.get(&space.id);
            let messages = stats.map_or(0, |s| s.messages);
            total += messages;
            if let Some(s) = stats {
                if let Some(f) = &s.first {
                    if first.as_ref().is_none_or(|x| f < x) {
                        first = Some(f.clone());
                    }
                }
                if s.last > last {
                    last.clone_from(&s.last);
                }
            }
            let dir = safe_name(&space.id);
            rows.push(SpaceRow {
                title: space.display().to_string(),
                id: space.id.clone(),
                href: stats.filter(|s| !s.pages.is_empty()).map(|s| {
                    if s.by_month {
                        format!("spaces/{dir}/index.html")
                    } else {
                        format!("spaces/{dir}.html")
                    }
                }),
                messages,
                removed: stats.map_or(0, |s| s.removed),
                edited: stats.map_or(0, |s| s.edited),
                pages: stats.map_or(0, |s| s.pages.len()),
                period: period(
                    stats.and_then(|s| s.first.as_deref()),
                    stats.and_then(|s| s.last.as_deref()),
                ),
            });
        }
        let scope = pairs(&manifest.filters);
        let index = IndexPage {
            generated_at: &manifest.generated_at,
            generator: &manifest.generator,
            scope,
            period: period(first.as_deref(), last.as_deref()),
            spaces: rows,
            messages: total,
            records_sha256: &complete.sha256,
            cursor: &complete.cursor,
        }
        .render()
        .map_err(io::Error::other)?;
        let pages: usize = self.stats.values().map(|s| s.pages.len()).sum();
        let set = self.set()?;
        for (rel, bytes, kind) in [
            ("style.css", STYLE.as_bytes(), "style"),
            ("index.html", index.as_bytes(), "index"),
        ] {
            let mut out = set.create_file(rel)?;
            out.write_all(bytes)?;
            let mut about = Map::new();
            about.insert("kind".into(), kind.into());
            let entry = out.finish(about)?;
            set.add(entry);
        }
        let mut more = Map::new();
        more.insert("page".into(), pages.into());
        more.insert("attachment_file".into(), self.copied.len().into());
        finish_set(
            &mut self.set,
            &self.done,
            FORMAT,
            Some(&manifest),
            &complete,
            more,
        )
    }
}

impl Records for HtmlWriter {
    fn record(&mut self, record: Record) -> io::Result<()> {
        match record {
            Record::Manifest(m) => self.manifest = Some(m),
            Record::Space(space) => self.spaces.push(space),
            Record::Message(m) => self.message(m)?,
            Record::OutOfScope(o) => self.set()?.out_of_scope(o),
            Record::Complete(c) => self.complete(c)?,
        }
        Ok(())
    }
}

/// A message's month (UTC, from its created time), or `undated`.
fn month_of(m: &MessageIn) -> String {
    m.created
        .as_deref()
        .and_then(|t| t.get(..7))
        .unwrap_or("undated")
        .to_string()
}

fn period(first: Option<&str>, last: Option<&str>) -> String {
    match (first, last) {
        (Some(f), Some(l)) => format!("{} to {}", readable_time(Some(f)), readable_time(Some(l))),
        _ => "no dated messages".to_string(),
    }
}
