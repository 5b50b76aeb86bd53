//! Convergence, as properties: a small generated history of message events (creates,
//! edits with distinct or equal `modified` times, a removal, replies, identical and
//! re-shaped redeliveries), delivered in any order, cut into any batches and spread
//! over the sources, ends in the same normalized state and the same search hits as
//! the history delivered in order. Each arrangement goes through the library's one
//! writer into a fresh archive; some restart the writer half-way (state then comes
//! back from SQLite, as after a restart of the process).
//!
//! `PROPTEST_CASES` sets the number of histories (default [`CASES`]); a failure is
//! shrunk to a small history and arrangement and printed.

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use sqlx::Row;

use spaces_archive::event::decode::{decode_json, Decoded};
use spaces_archive::event::time::format_millis;
use spaces_archive::index::{RemovedFilter, SearchIndex, Sort};
use spaces_archive::search::{search_with, SearchOptions};
use spaces_archive::store::read::{stats, Stats};
use spaces_archive::store::{compress, Archive, Item, Source, StoredEvent};
use spaces_archive::writer::ArchiveWriter;
use spaces_archive::writer::IndexCommitPolicy;

/// Histories tried; each is archived in order and in two other arrangements.
const CASES: u32 = 32;
/// Arrangements of each history besides the in-order one.
const ARRANGEMENTS: usize = 2;

/// 2024-01-01T10:00:00Z: the first message is created then.
const T0: i64 = 1_704_103_200_000;
/// Items are received from this time on, a second apart: after everything they
/// describe, as a live socket or a backfill receives them.
const RECEIVED: i64 = T0 + 86_400_000;

/// Words of the bodies; each is searched for.
const WORDS: &[&str] = &["budget", "rollout", "kiwi", "zephyr", "quorum", "lantern"];

// ---------------------------------------------------------------- the history

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Chat,
    Post,
    Task,
}

#[derive(Debug, Clone)]
struct Edit {
    /// Minutes after the creation (0: the same `modified` as the create).
    minute: i64,
    words: Vec<usize>,
    attachment: bool,
    done: bool,
}

#[derive(Debug, Clone)]
struct Removal {
    /// Whether the payload carries the message's content, as Avaya's do.
    with_content: bool,
    by_moderator: bool,
}

#[derive(Debug, Clone)]
struct MessageSpec {
    shape: Shape,
    space: usize,
    /// A reply to an earlier post or task (chats only; ignored when there is none).
    reply_to: Option<Index>,
    words: Vec<usize>,
    attachment: bool,
    likes: u32,
    edits: Vec<Edit>,
    removal: Option<Removal>,
}

#[derive(Debug, Clone)]
struct History {
    messages: Vec<MessageSpec>,
    /// Payloads received again: which one, and whether re-shaped (another field, as a
    /// backfill item differs from the socket's payload) rather than identical.
    redeliveries: Vec<(Index, bool)>,
}

fn edit() -> impl Strategy<Value = Edit> {
    (
        0..4i64,
        prop::collection::vec(0..WORDS.len(), 1..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(minute, words, attachment, done)| Edit {
            minute,
            words,
            attachment,
            done,
        })
}

fn message() -> impl Strategy<Value = MessageSpec> {
    let shape = prop_oneof![Just(Shape::Chat), Just(Shape::Post), Just(Shape::Task)];
    let removal = prop::option::weighted(
        0.4,
        (any::<bool>(), any::<bool>()).prop_map(|(with_content, by_moderator)| Removal {
            with_content,
            by_moderator,
        }),
    );
    (
        (shape, 0..2usize, prop::option::of(any::<Index>())),
        prop::collection::vec(0..WORDS.len(), 1..3),
        (any::<bool>(), 0..4u32),
        prop::collection::vec(edit(), 0..=3),
        removal,
    )
        .prop_map(
            |((shape, space, reply_to), words, (attachment, likes), edits, removal)| MessageSpec {
                shape,
                space,
                reply_to,
                words,
                attachment,
                likes,
                edits,
                removal,
            },
        )
}

fn history() -> impl Strategy<Value = History> {
    (
        prop::collection::vec(message(), 2..=4),
        prop::collection::vec((any::<Index>(), any::<bool>()), 0..=3),
    )
        .prop_map(|(messages, redeliveries)| History {
            messages,
            redeliveries,
        })
}

fn message_id(n: usize) -> String {
    format!("6592d4c0{:016x}", 0xa000 + n)
}

fn space_id(n: usize) -> String {
    format!("6592d4b0{:016x}", 0x5000 + n)
}

fn person(id: &str, name: &str) -> Value {
    json!({"_id": id, "displayname": name, "picture_url": "", "type": "user", "username": ""})
}

fn body(words: &[usize], tag: &str) -> String {
    let words: Vec<&str> = words.iter().map(|&w| WORDS[w]).collect();
    format!("<p>{} &amp; {tag}</p>", words.join(" "))
}

fn content(shape: Shape, words: &[usize], tag: &str, attachment: bool, done: bool) -> Value {
    let data: Vec<Value> = if attachment {
        vec![
            json!({"fileId": format!("f-{tag}"), "name": format!("{tag}.txt"), "fileSize": 12,
                    "fileType": "document", "provider": "native", "providerFileType": "text/plain"}),
        ]
    } else {
        Vec::new()
    };
    let mut content = json!({"bodyText": body(words, tag), "data": data, "description": ""});
    if shape != Shape::Chat {
        content["description"] = format!("<p>about {tag}</p>").into();
    }
    if shape == Shape::Task {
        content["status"] = if done { "complete" } else { "pending" }.into();
        content["dueDate"] = format_millis(T0 + 7 * 86_400_000).into();
        content["assignees"] = json!([{"_id": "u2"}]);
    }
    content
}

/// The payloads of a history, in the order they happened (redeliveries last).
fn payloads(history: &History) -> Vec<String> {
    let mut out: Vec<Value> = Vec::new();
    let shapes: Vec<Shape> = history.messages.iter().map(|m| m.shape).collect();
    for (i, m) in history.messages.iter().enumerate() {
        let id = message_id(i);
        let created = T0 + i as i64 * 600_000;
        let parents: Vec<usize> = (0..i).filter(|&p| shapes[p] != Shape::Chat).collect();
        let parent = match (m.shape, &m.reply_to) {
            (Shape::Chat, Some(pick)) if !parents.is_empty() => {
                Some(parents[pick.index(parents.len())])
            }
            _ => None,
        };
        let space = parent.map_or(m.space, |p| history.messages[p].space);
        let category = match m.shape {
            Shape::Chat => "chat",
            Shape::Post => "idea",
            Shape::Task => "task",
        };
        let mut create = json!({
            "_id": id, "category": category, "chatCount": 0, "likeCount": m.likes,
            "content": content(m.shape, &m.words, &format!("m{i}v0"), m.attachment, false),
            "created": format_millis(created), "modified": format_millis(created),
            "sender": person("u1", "Ann Lee"), "status": 0,
            "topicId": space_id(space), "topicTitle": format!("Space {space}"), "topicType": "group",
        });
        if let Some(p) = parent {
            create["parentMsg"] = message_id(p).into();
        }
        // The latest state, for the removal to carry: the last of the latest edits.
        let mut latest = (created, create["content"].clone());
        out.push(create);
        for (j, e) in m.edits.iter().enumerate() {
            let modified = created + e.minute * 60_000;
            let content = content(
                m.shape,
                &e.words,
                &format!("m{i}v{}", j + 1),
                e.attachment,
                e.done,
            );
            let category = match m.shape {
                Shape::Chat => "app.event.message.updated",
                Shape::Post => "app.event.idea.updated",
                Shape::Task => "app.event.task.updated",
            };
            let mut update = json!({
                "_id": id, "messageId": id, "category": category, "content": content,
                "modified": format_millis(modified), "sender": person("u1", "Ann Lee"),
                "topicId": space_id(space),
            });
            if m.shape == Shape::Chat {
                update["created"] = format_millis(created).into();
            }
            if modified >= latest.0 {
                latest = (modified, update["content"].clone());
            }
            out.push(update);
        }
        if let Some(r) = &m.removal {
            let remover = if r.by_moderator {
                person("u3", "Mod Erator")
            } else {
                person("u1", "Ann Lee")
            };
            let mut removal = json!({
                "_id": id, "messageId": id, "category": "app.event.message.removed",
                "sender": remover, "topicId": space_id(space),
            });
            if r.with_content {
                removal["content"] = latest.1;
                removal["created"] = format_millis(created).into();
            }
            out.push(removal);
        }
    }
    let originals = out.len();
    for (pick, reshaped) in &history.redeliveries {
        let mut again = out[pick.index(originals)].clone();
        if *reshaped {
            again["loopbackMetadata"] = "received again".into();
        }
        out.push(again);
    }
    out.iter().map(Value::to_string).collect()
}

// ---------------------------------------------------------------- arrangements

/// One way the payloads could arrive.
#[derive(Debug, Clone)]
struct Arrangement {
    /// Payload indexes in arrival order.
    order: Vec<usize>,
    /// Batch sizes, adding up to the number of payloads.
    batches: Vec<usize>,
    /// The source of each arriving item.
    sources: Vec<Source>,
    /// Restart the writer (a new process) after this many batches.
    restart_after: Option<usize>,
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        Just(Source::Live),
        Just(Source::Backfill),
        Just(Source::Import),
        Just(Source::Sweep),
    ]
}

fn arrangement(n: usize) -> impl Strategy<Value = Arrangement> {
    (
        Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
        prop::collection::vec(prop::bool::weighted(0.35), n),
        prop::collection::vec(source(), n),
        prop::option::of(any::<Index>()),
    )
        .prop_map(|(order, cuts, sources, restart)| {
            let mut batches = Vec::new();
            let mut size = 0;
            for (i, cut) in cuts.iter().enumerate() {
                size += 1;
                if *cut || i + 1 == cuts.len() {
                    batches.push(size);
                    size = 0;
                }
            }
            let restart_after = restart.map(|r| r.index(batches.len()));
            Arrangement {
                order,
                batches,
                sources,
                restart_after,
            }
        })
}

/// The history in the order it happened: one batch, live.
fn in_order(n: usize) -> Arrangement {
    Arrangement {
        order: (0..n).collect(),
        batches: vec![n],
        sources: vec![Source::Live; n],
        restart_after: None,
    }
}

fn case() -> impl Strategy<Value = (History, Vec<Arrangement>)> {
    history().prop_flat_map(|h| {
        let n = payloads(&h).len();
        (Just(h), prop::collection::vec(arrangement(n), ARRANGEMENTS))
    })
}

// ---------------------------------------------------------------- archiving

fn item(text: &str, source: Source, received_at: i64) -> Item {
    let Ok(Decoded::Payload { raw, payload }) = decode_json(text) else {
        panic!("generated payload does not decode: {text}");
    };
    Item::Event(Box::new(StoredEvent {
        received_at,
        source,
        raw: compress(raw.as_bytes()),
        sha256: spaces_archive::chain::sha256(raw.as_bytes()),
        decoded: *payload,
    }))
}

async fn open_writer(dir: &Path) -> (ArchiveWriter, SearchIndex) {
    let archive = Archive::open(dir).await.expect("open archive");
    let index = SearchIndex::open(dir).expect("open index");
    let writer = ArchiveWriter::open(archive, &index, IndexCommitPolicy::default())
        .await
        .expect("open writer");
    (writer, index)
}

/// Archives the payloads as `arrangement` delivers them into a fresh archive in
/// `dir`, and returns what it ends with.
async fn archive(dir: &Path, payloads: &[String], arrangement: &Arrangement) -> Snapshot {
    let (mut writer, mut index) = open_writer(dir).await;
    let mut next = 0;
    for (b, &size) in arrangement.batches.iter().enumerate() {
        let items: Vec<Item> = (next..next + size)
            .map(|pos| {
                let text = &payloads[arrangement.order[pos]];
                item(
                    text,
                    arrangement.sources[pos],
                    RECEIVED + pos as i64 * 1_000,
                )
            })
            .collect();
        next += size;
        writer.write(&items).await.expect("write batch");
        if arrangement.restart_after == Some(b) {
            let archive = writer.archive().clone();
            writer.finish().await.expect("finish writer");
            archive.close().await;
            drop(index);
            (writer, index) = open_writer(dir).await;
        }
    }
    let archive = writer.archive().clone();
    writer.finish().await.expect("finish writer");
    let snapshot = snapshot(&archive, &index).await;
    archive.close().await;
    snapshot
}

// ---------------------------------------------------------------- what is compared

/// The normalized state of an archive, as far as it must not depend on arrival.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// Per message: its row and its current version's content.
    messages: Vec<BTreeMap<&'static str, String>>,
    /// Every version: message, text, description, `modified`, removed, status, due,
    /// attachments, assignees (a sorted list: version numbers are arrival order).
    versions: Vec<String>,
    /// Spaces and people.
    spaces: Vec<String>,
    people: Vec<String>,
    /// Current attachments and assignees.
    attachments: Vec<String>,
    assignees: Vec<String>,
    /// `stats`.
    stats: Stats,
    /// Per query: the ids found, sorted.
    hits: BTreeMap<String, Vec<String>>,
}

const MESSAGE_COLUMNS: &[&str] = &[
    "id",
    "space_id",
    "kind",
    "kind_known",
    "parent_id",
    "sender_id",
    "created",
    "modified",
    "task_status",
    "due",
    "like_count",
    "chat_count",
    "removed",
    "removed_by",
    "version_count",
    "text",
    "html",
    "html_form",
    "description_text",
    "description_html",
];

/// A column as text, whatever its type (NULL as `∅`).
fn cell(row: &sqlx::sqlite::SqliteRow, column: &str) -> String {
    if let Ok(v) = row.try_get::<Option<i64>, _>(column) {
        return v.map_or("∅".into(), |v| v.to_string());
    }
    row.try_get::<Option<String>, _>(column)
        .unwrap_or_else(|e| panic!("{column}: {e}"))
        .unwrap_or_else(|| "∅".into())
}

async fn lines(archive: &Archive, sql: &str, columns: &[&str]) -> Vec<String> {
    let rows = sqlx::query(sql)
        .fetch_all(archive.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            let cells: Vec<String> = columns.iter().map(|c| cell(r, c)).collect();
            cells.join(" | ")
        })
        .collect();
    out.sort();
    out
}

async fn snapshot(archive: &Archive, index: &SearchIndex) -> Snapshot {
    let rows = sqlx::query(
        "SELECT m.*, m.removed_at IS NOT NULL AS removed, v.text, v.html, v.html_form, \
         v.description_text, v.description_html FROM messages m \
         JOIN versions v ON v.message_id = m.id AND v.vno = m.current_vno ORDER BY m.id",
    )
    .fetch_all(archive.pool())
    .await
    .expect("messages");
    let messages = rows
        .iter()
        .map(|r| MESSAGE_COLUMNS.iter().map(|&c| (c, cell(r, c))).collect())
        .collect();
    let version_columns = [
        "message_id",
        "text",
        "description_text",
        "modified",
        "removed",
        "task_status",
        "due",
        "attachments",
        "assignees",
    ];
    let versions = lines(archive, "SELECT * FROM versions", &version_columns).await;
    let spaces = lines(
        archive,
        "SELECT * FROM spaces",
        &["id", "title", "type", "status"],
    )
    .await;
    let people = lines(
        archive,
        "SELECT * FROM people",
        &["id", "display_name", "type"],
    )
    .await;
    let attachments = lines(
        archive,
        "SELECT * FROM attachments",
        &["message_id", "position", "file_id", "name", "size"],
    )
    .await;
    let assignees = lines(
        archive,
        "SELECT * FROM task_assignees",
        &["message_id", "person_id"],
    )
    .await;
    let stats = stats(archive).await.expect("stats");
    Snapshot {
        messages,
        versions,
        spaces,
        people,
        attachments,
        assignees,
        stats,
        hits: hits(archive, index).await,
    }
}

/// Every word searched for, in current texts only and with earlier versions, and
/// among messages not removed.
async fn hits(archive: &Archive, index: &SearchIndex) -> BTreeMap<String, Vec<String>> {
    let reader = index.reader().expect("index reader");
    let mut out = BTreeMap::new();
    let queries = WORDS
        .iter()
        .map(|w| w.to_string())
        .chain(["m0v1".into(), "about".into()]);
    for query in queries {
        for (in_history, removed) in [
            (true, RemovedFilter::Include),
            (false, RemovedFilter::Include),
            (true, RemovedFilter::Exclude),
        ] {
            let options = SearchOptions {
                query: query.clone(),
                spaces: Vec::new(),
                from: Vec::new(),
                kind: None,
                since: None,
                until: None,
                removed,
                in_history,
                sort: Sort::Oldest,
                limit: 100,
                offset: 0,
            };
            let found = search_with(archive, index, &reader, &options)
                .await
                .unwrap_or_else(|e| panic!("search {query:?}: {e}"));
            let mut ids: Vec<String> = found.into_iter().map(|h| h.row.id).collect();
            ids.sort();
            out.insert(format!("{query} history={in_history} {removed:?}"), ids);
        }
    }
    out
}

// ---------------------------------------------------------------- the property

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES);
    TestRunner::new(Config {
        cases,
        // Every case opens archives; a shrink needs a few hundred at most.
        max_shrink_iters: 400,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Where two snapshots differ first, for the failure message.
fn difference(want: &Snapshot, got: &Snapshot) -> String {
    let want = format!("{want:#?}");
    let got = format!("{got:#?}");
    let first = want
        .lines()
        .zip(got.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    let context = |text: &str| -> String {
        text.lines()
            .skip(first.saturating_sub(6))
            .take(12)
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "in order:\n{}\nthis arrangement:\n{}",
        context(&want),
        context(&got)
    )
}

#[test]
fn every_arrival_order_batching_and_source_converges() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runner()
        .run(&case(), |(history, arrangements)| {
            let payloads = payloads(&history);
            runtime.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let reference = archive(
                    &dir.path().join("in-order"),
                    &payloads,
                    &in_order(payloads.len()),
                )
                .await;
                for (n, arrangement) in arrangements.iter().enumerate() {
                    let got =
                        archive(&dir.path().join(format!("a{n}")), &payloads, arrangement).await;
                    if got != reference {
                        return Err(TestCaseError::fail(format!(
                            "arrangement {arrangement:?} of {} payloads ends elsewhere:\n{}",
                            payloads.len(),
                            difference(&reference, &got)
                        )));
                    }
                }
                Ok(())
            })
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
