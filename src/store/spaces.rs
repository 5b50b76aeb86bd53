//! `topic.updated` and `app.event.topic.new`: a space's settings and its membership.
//! A snapshot older than the one already applied (by `modified`) changes nothing; a
//! newer one sets the fields it carries, and its member list is compared with the
//! current members to record who joined and who left.

use std::collections::{HashMap, HashSet};

use sqlx::{Row, SqliteConnection};

use super::bulk::{insert_many, select_in};
use super::items::NewEvent;
use crate::event::payload::SpaceEvent;
use crate::event::Payload;

/// A space's fields as the batch leaves them.
#[derive(Default)]
struct SpaceUpdate {
    title: Option<String>,
    kind: Option<String>,
    status: Option<i64>,
    description: Option<String>,
    settings: Option<String>,
    retention: Option<String>,
    created: Option<i64>,
    modified: Option<i64>,
}

/// A member row as it stands.
#[derive(Clone)]
struct MemberRow {
    role: Option<String>,
    joined_at: Option<i64>,
    left_at: Option<i64>,
}

/// A join or leave.
struct Change<'a> {
    space_id: &'a str,
    person_id: String,
    change: &'static str,
    at: Option<i64>,
    role: Option<String>,
    seq: i64,
}

/// Applies the batch's space events.
pub async fn apply_spaces(
    conn: &mut SqliteConnection,
    events: &[NewEvent<'_>],
    mark: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let space_events: Vec<(&NewEvent, &SpaceEvent)> = events
        .iter()
        .filter_map(|e| match &e.decoded.payload {
            Payload::Space(s) => Some((e, s.as_ref())),
            _ => None,
        })
        .collect();
    if space_events.is_empty() {
        return Ok(Vec::new());
    }
    let mut ids: Vec<&str> = space_events.iter().map(|(_, s)| s.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut modified: HashMap<String, Option<i64>> = HashMap::new();
    let mut titles: HashMap<String, Option<String>> = HashMap::new();
    let space_sql = "SELECT id, modified, title FROM spaces WHERE id IN";
    for row in select_in(conn, space_sql, "", &ids).await? {
        modified.insert(row.try_get("id")?, row.try_get("modified")?);
        titles.insert(row.try_get("id")?, row.try_get("title")?);
    }
    let mut members: HashMap<String, HashMap<String, MemberRow>> = HashMap::new();
    let member_sql =
        "SELECT space_id, person_id, role, joined_at, left_at FROM space_members WHERE space_id IN";
    for row in select_in(conn, member_sql, "", &ids).await? {
        let member = MemberRow {
            role: row.try_get("role")?,
            joined_at: row.try_get("joined_at")?,
            left_at: row.try_get("left_at")?,
        };
        members
            .entry(row.try_get("space_id")?)
            .or_default()
            .insert(row.try_get("person_id")?, member);
    }
    let mut updates: HashMap<&str, SpaceUpdate> = HashMap::new();
    let mut changes = Vec::new();
    let mut touched_members: HashSet<&str> = HashSet::new();
    for (event, space) in &space_events {
        let applied = modified.entry(space.id.clone()).or_default();
        if let (Some(old), Some(new)) = (*applied, space.modified) {
            if new < old {
                continue;
            }
        }
        *applied = space.modified.or(*applied);
        merge_update(updates.entry(&space.id).or_default(), space);
        if let Some(snapshot) = &space.members {
            let current = members.entry(space.id.clone()).or_default();
            let at = space.modified.unwrap_or(event.event.received_at);
            diff_members(current, snapshot, &space.id, at, event.seq, &mut changes);
            touched_members.insert(&space.id);
        }
    }
    write_updates(conn, &updates).await?;
    // A new title changes every indexed document of the space.
    let mut renamed = Vec::new();
    for (id, update) in &updates {
        let old = titles.get(*id).cloned().flatten();
        if update.title.is_some() && update.title != old {
            renamed.extend(super::outbox::mark_space(conn, id, mark).await?);
        }
    }
    let member_rows: Vec<(&str, &String, &MemberRow)> = touched_members
        .iter()
        .flat_map(|id| {
            members[*id]
                .iter()
                .map(move |(person, row)| (*id, person, row))
        })
        .collect();
    write_members(conn, &member_rows).await?;
    write_changes(conn, &changes).await?;
    Ok(renamed)
}

fn merge_update(update: &mut SpaceUpdate, space: &SpaceEvent) {
    let set = |slot: &mut Option<String>, value: &Option<String>| {
        if value.is_some() {
            slot.clone_from(value);
        }
    };
    set(&mut update.title, &space.title);
    set(&mut update.kind, &space.kind);
    set(&mut update.description, &space.description);
    set(&mut update.settings, &space.settings);
    set(&mut update.retention, &space.retention);
    update.status = space.status.or(update.status);
    update.created = space.created.or(update.created);
    update.modified = space.modified.or(update.modified);
}

fn diff_members<'a>(
    current: &mut HashMap<String, MemberRow>,
    snapshot: &[crate::event::payload::Member],
    space_id: &'a str,
    at: i64,
    seq: i64,
    changes: &mut Vec<Change<'a>>,
) {
    let present: HashSet<&str> = snapshot.iter().map(|m| m.person.id.as_str()).collect();
    for member in snapshot {
        let id = &member.person.id;
        let joined_now = match current.get(id) {
            None => Some(member.joined.unwrap_or(at)),
            Some(row) if row.left_at.is_some() => Some(at),
            Some(_) => None,
        };
        let row = current.entry(id.clone()).or_insert(MemberRow {
            role: None,
            joined_at: None,
            left_at: None,
        });
        if let Some(when) = joined_now {
            changes.push(Change {
                space_id,
                person_id: id.clone(),
                change: "join",
                at: Some(when),
                role: member.role.clone(),
                seq,
            });
            row.left_at = None;
            row.joined_at = Some(when);
        }
        row.role = member.role.clone().or(row.role.take());
        row.joined_at = member.joined.or(row.joined_at);
    }
    for (person, row) in current.iter_mut() {
        if row.left_at.is_none() && !present.contains(person.as_str()) {
            row.left_at = Some(at);
            changes.push(Change {
                space_id,
                person_id: person.clone(),
                change: "leave",
                at: Some(at),
                role: row.role.clone(),
                seq,
            });
        }
    }
}

async fn write_updates(
    conn: &mut SqliteConnection,
    updates: &HashMap<&str, SpaceUpdate>,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(&&str, &SpaceUpdate)> = updates.iter().collect();
    for (id, u) in rows {
        sqlx::query(
            "UPDATE spaces SET title = COALESCE(?, title), type = COALESCE(?, type), status = COALESCE(?, status), \
             description_html = COALESCE(?, description_html), settings = COALESCE(?, settings), \
             retention = COALESCE(?, retention), created = COALESCE(?, created), modified = COALESCE(?, modified) \
             WHERE id = ?",
        )
        .bind(&u.title)
        .bind(&u.kind)
        .bind(u.status)
        .bind(&u.description)
        .bind(&u.settings)
        .bind(&u.retention)
        .bind(u.created)
        .bind(u.modified)
        .bind(*id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn write_members(
    conn: &mut SqliteConnection,
    rows: &[(&str, &String, &MemberRow)],
) -> Result<(), sqlx::Error> {
    insert_many(
        conn,
        "INSERT INTO space_members (space_id, person_id, role, joined_at, left_at) ",
        " ON CONFLICT (space_id, person_id) DO UPDATE SET role = excluded.role, joined_at = excluded.joined_at, \
           left_at = excluded.left_at",
        rows,
        5,
        &mut |row, (space, person, m)| {
            row.push_bind(*space).push_bind(*person).push_bind(&m.role).push_bind(m.joined_at).push_bind(m.left_at);
        },
    )
    .await
}

async fn write_changes(
    conn: &mut SqliteConnection,
    changes: &[Change<'_>],
) -> Result<(), sqlx::Error> {
    insert_many(
        conn,
        "INSERT INTO membership_changes (space_id, person_id, change, at, role, event_seq) ",
        "",
        changes,
        6,
        &mut |row, c| {
            row.push_bind(c.space_id)
                .push_bind(&c.person_id)
                .push_bind(c.change)
                .push_bind(c.at)
                .push_bind(&c.role)
                .push_bind(c.seq);
        },
    )
    .await
}
