//! Space records and the people table, read inside the export's snapshot.

use std::collections::HashMap;

use serde_json::value::RawValue;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use super::messages::{person, People};
use super::records::{MemberRecord, MembershipChange, PersonRecord, SpaceRecord};
use super::scope::{push_in, Scope};
use super::ExportError;
use crate::event::time::format_millis;

/// Everyone the archive knows, by id.
pub async fn load_people(conn: &mut SqliteConnection) -> Result<People, ExportError> {
    let rows = sqlx::query("SELECT id, display_name, username FROM people")
        .fetch_all(&mut *conn)
        .await?;
    let mut people = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0)?;
        people.insert(
            id.clone(),
            PersonRecord {
                id,
                name: row.try_get(1)?,
                username: row.try_get(2)?,
            },
        );
    }
    Ok(People::new(people))
}

/// The spaces in scope, by id: those named by `--space`, else every space; in an
/// incremental export, only those a payload after the cursor named.
pub async fn space_records(
    conn: &mut SqliteConnection,
    scope: &Scope,
    after: Option<i64>,
    snapshot: i64,
    people: &People,
) -> Result<Vec<SpaceRecord>, ExportError> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT id, title, type, status, description_html, retention, settings, created, modified \
         FROM spaces s WHERE 1",
    );
    push_space_scope(&mut q, scope, after, snapshot);
    q.push(" ORDER BY id");
    let mut spaces = Vec::new();
    for row in q.build().fetch_all(&mut *conn).await? {
        let json = |i: usize| -> Result<Option<Box<RawValue>>, ExportError> {
            match row.try_get::<Option<String>, _>(i)? {
                Some(text) => Ok(Some(RawValue::from_string(text)?)),
                None => Ok(None),
            }
        };
        spaces.push(SpaceRecord {
            kind: "space",
            id: row.try_get(0)?,
            title: row.try_get(1)?,
            space_type: row.try_get(2)?,
            status: row.try_get(3)?,
            description_html: row.try_get(4)?,
            retention: json(5)?,
            settings: json(6)?,
            created: row.try_get::<Option<i64>, _>(7)?.map(format_millis),
            modified: row.try_get::<Option<i64>, _>(8)?.map(format_millis),
            members: Vec::new(),
            membership_changes: Vec::new(),
        });
    }
    let index: HashMap<String, usize> = spaces
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    // Members and changes come as one JSON row each: sqlx hands rows over one at a
    // time between threads, which for a hundred thousand rows cost most of a second.
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT json_group_array(json_array(space_id, person_id, role, joined_at, left_at) \
         ORDER BY space_id, person_id) FROM space_members \
         WHERE space_id IN (SELECT s.id FROM spaces s WHERE 1",
    );
    push_space_scope(&mut q, scope, after, snapshot);
    q.push(")");
    let members: String = q.build().fetch_one(&mut *conn).await?.try_get(0)?;
    let members: Vec<Member> = serde_json::from_str(&members)?;
    for (space_id, person_id, role, joined_at, left_at) in members {
        if let Some(&i) = index.get(&space_id) {
            spaces[i].members.push(MemberRecord {
                person: person(people, person_id),
                role,
                joined_at: joined_at.map(format_millis),
                left_at: left_at.map(format_millis),
            });
        }
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT json_group_array(json_array(c.space_id, c.person_id, c.change, c.at, c.role, \
         e.received_at) ORDER BY c.space_id, c.event_seq, c.id) \
         FROM membership_changes c LEFT JOIN events e ON e.seq = c.event_seq \
         WHERE c.space_id IN (SELECT s.id FROM spaces s WHERE 1",
    );
    push_space_scope(&mut q, scope, after, snapshot);
    q.push(")");
    let changes: String = q.build().fetch_one(&mut *conn).await?.try_get(0)?;
    let changes: Vec<Change> = serde_json::from_str(&changes)?;
    for (space_id, person_id, change, at, role, seen_at) in changes {
        if let Some(&i) = index.get(&space_id) {
            spaces[i].membership_changes.push(MembershipChange {
                person: person(people, person_id),
                change,
                at: at.map(format_millis),
                role,
                seen_at: seen_at.map(format_millis),
            });
        }
    }
    Ok(spaces)
}

/// A `space_members` row: space, person, role, joined, left.
type Member = (String, String, Option<String>, Option<i64>, Option<i64>);
/// A `membership_changes` row: space, person, change, at, role, seen at.
type Change = (
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

fn push_space_scope(
    q: &mut QueryBuilder<'_, Sqlite>,
    scope: &Scope,
    after: Option<i64>,
    snapshot: i64,
) {
    if let Some(ids) = &scope.spaces {
        push_in(q, "s.id", ids);
    }
    if let Some(seq) = after {
        q.push(" AND s.id IN (SELECT space_id FROM events WHERE seq > ")
            .push_bind(seq)
            .push(" AND seq <= ")
            .push_bind(snapshot)
            .push(" AND space_id IS NOT NULL)");
    }
}
