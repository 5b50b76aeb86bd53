//! People, space stubs, read markers and preferences: small upserts that every batch
//! makes once per table, with the batch's rows merged in memory first.

use std::collections::HashMap;

use sqlx::SqliteConnection;

use super::bulk::insert_many;
use crate::event::payload::{Person, SpaceRef};
use crate::event::Payload;

use super::items::NewEvent;

/// Every person the batch names, merged so a later non-empty field wins.
pub fn collect_people<'a>(events: &'a [NewEvent<'a>]) -> Vec<Person> {
    let mut people: HashMap<String, Person> = HashMap::new();
    let mut add = |p: &Person| {
        let entry = people.entry(p.id.clone()).or_insert_with(|| Person {
            id: p.id.clone(),
            ..Person::default()
        });
        merge_field(&mut entry.display_name, &p.display_name);
        merge_field(&mut entry.username, &p.username);
        merge_field(&mut entry.kind, &p.kind);
        merge_field(&mut entry.picture_url, &p.picture_url);
    };
    for event in events {
        match &event.decoded.payload {
            Payload::Message(m) => {
                m.sender.iter().chain(&m.assignee_people).for_each(&mut add);
            }
            Payload::Space(s) => {
                s.sender.iter().for_each(&mut add);
                s.members.iter().flatten().for_each(|m| add(&m.person));
            }
            Payload::ReadMarker(r) => add(&r.person),
            Payload::Preference(p) => add(&p.person),
            Payload::Unknown => {}
        }
    }
    let mut out: Vec<Person> = people.into_values().collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn merge_field(slot: &mut Option<String>, value: &Option<String>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}

/// Inserts or completes people rows.
pub async fn upsert_people(
    conn: &mut SqliteConnection,
    people: &[Person],
) -> Result<(), sqlx::Error> {
    insert_many(
        conn,
        "INSERT INTO people (id, display_name, username, type, picture_url) ",
        " ON CONFLICT (id) DO UPDATE SET \
           display_name = COALESCE(excluded.display_name, people.display_name), \
           username = COALESCE(excluded.username, people.username), \
           type = COALESCE(excluded.type, people.type), \
           picture_url = COALESCE(excluded.picture_url, people.picture_url)",
        people,
        5,
        &mut |row, p| {
            row.push_bind(&p.id)
                .push_bind(&p.display_name)
                .push_bind(&p.username)
                .push_bind(&p.kind)
                .push_bind(&p.picture_url);
        },
    )
    .await
}

/// A space named by an event, with what that event says about it.
struct SpaceStub {
    space: SpaceRef,
    first_seq: i64,
}

/// Makes sure every space the batch names exists, filling a missing title, type or
/// status from message events (a `topic.updated` sets them for real).
pub async fn upsert_space_stubs(
    conn: &mut SqliteConnection,
    events: &[NewEvent<'_>],
) -> Result<(), sqlx::Error> {
    let mut stubs: HashMap<&str, SpaceStub> = HashMap::new();
    for event in events {
        let Some(id) = event.decoded.space_id.as_deref() else {
            continue;
        };
        let given = match &event.decoded.payload {
            Payload::Message(m) => m.space.clone(),
            _ => None,
        };
        let stub = stubs.entry(id).or_insert_with(|| SpaceStub {
            space: SpaceRef {
                id: id.to_string(),
                ..SpaceRef::default()
            },
            first_seq: event.seq,
        });
        if let Some(given) = given {
            stub.space.title = stub.space.title.take().or(given.title);
            stub.space.kind = stub.space.kind.take().or(given.kind);
            stub.space.status = stub.space.status.or(given.status);
        }
    }
    let mut rows: Vec<SpaceStub> = stubs.into_values().collect();
    rows.sort_by_key(|s| s.first_seq);
    insert_many(
        conn,
        "INSERT INTO spaces (id, title, type, status, first_seq) ",
        " ON CONFLICT (id) DO UPDATE SET \
           title = COALESCE(spaces.title, excluded.title), \
           type = COALESCE(spaces.type, excluded.type), \
           status = COALESCE(spaces.status, excluded.status)",
        &rows,
        5,
        &mut |row, s| {
            row.push_bind(&s.space.id)
                .push_bind(&s.space.title)
                .push_bind(&s.space.kind)
                .push_bind(s.space.status)
                .push_bind(s.first_seq);
        },
    )
    .await
}

/// Stores read markers, keeping the latest per space and person.
pub async fn upsert_read_markers(
    conn: &mut SqliteConnection,
    events: &[NewEvent<'_>],
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.decoded.payload {
            Payload::ReadMarker(r) => Some((r, e.seq, r.at.unwrap_or(e.event.received_at))),
            _ => None,
        })
        .collect();
    insert_many(
        conn,
        "INSERT INTO read_markers (space_id, person_id, read_at, message_id, event_seq) ",
        " ON CONFLICT (space_id, person_id) DO UPDATE SET \
           read_at = excluded.read_at, message_id = excluded.message_id, event_seq = excluded.event_seq \
         WHERE excluded.read_at >= read_markers.read_at",
        &rows,
        5,
        &mut |row, (r, seq, at)| {
            row.push_bind(&r.space_id)
                .push_bind(&r.person.id)
                .push_bind(*at)
                .push_bind(&r.message_id)
                .push_bind(*seq);
        },
    )
    .await
}

/// Stores preferences; a later event overrides the fields it carries.
pub async fn upsert_preferences(
    conn: &mut SqliteConnection,
    events: &[NewEvent<'_>],
) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.decoded.payload {
            Payload::Preference(p) => Some((p, e.seq)),
            _ => None,
        })
        .collect();
    insert_many(
        conn,
        "INSERT INTO preferences (space_id, person_id, pinned, notification, event_seq) ",
        " ON CONFLICT (space_id, person_id) DO UPDATE SET \
           pinned = COALESCE(excluded.pinned, preferences.pinned), \
           notification = COALESCE(excluded.notification, preferences.notification), \
           event_seq = excluded.event_seq \
         WHERE excluded.event_seq > preferences.event_seq",
        &rows,
        5,
        &mut |row, (p, seq)| {
            row.push_bind(&p.space_id)
                .push_bind(&p.person.id)
                .push_bind(p.pinned)
                .push_bind(p.notification)
                .push_bind(*seq);
        },
    )
    .await
}
