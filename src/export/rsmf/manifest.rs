//! One slice's `rsmf_manifest.json` (RSMF 2.0.0, Relativity's `rsmf_schema_2_0_0.json`):
//! participants (Avaya ids), one conversation (the space), and its events: every
//! message with its edits, removal and attachments, and the joins and leaves.
//! Custom values are never empty (the schema's `minLength: 1`), and every participant
//! an event, edit or conversation names is listed.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::slice::{Slice, SliceEvent};
use crate::export::parsed::{MessageIn, PersonIn, SpaceIn};

/// The RSMF version written.
pub const VERSION: &str = "2.0.0";
/// `platform` of every conversation.
pub const PLATFORM: &str = "Avaya Spaces";
/// The participant an event without a known person is given.
const UNKNOWN: &str = "unknown";

/// The manifest.
#[derive(Debug, Serialize)]
pub struct Manifest {
    version: &'static str,
    eventcollectionid: String,
    participants: Vec<Participant>,
    conversations: Vec<Conversation>,
    events: Vec<Event>,
}

impl Manifest {
    /// Its events.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The earliest and latest event timestamps (the `X-RSMF-BeginDate` and `EndDate`).
    pub fn period(&self) -> (Option<&str>, Option<&str>) {
        let times = || self.events.iter().filter_map(|e| e.timestamp.as_deref());
        (times().min(), times().max())
    }

    /// `X-RSMF-Participants`: every participant, `Name <email>` where the e-mail is
    /// known, comma-separated (a name with a comma or quote is quoted).
    pub fn participants_header(&self) -> String {
        let names: Vec<String> = self
            .participants
            .iter()
            .map(|p| {
                let name = if p.display.contains([',', '"', '<', '>']) {
                    format!(
                        "\"{}\"",
                        p.display.replace('\\', "\\\\").replace('"', "\\\"")
                    )
                } else {
                    p.display.clone()
                };
                match &p.email {
                    Some(email) => format!("{name} <{email}>"),
                    None => name,
                }
            })
            .collect();
        names.join(", ")
    }
}

#[derive(Debug, Serialize)]
struct Participant {
    id: String,
    display: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    account_id: String,
}

#[derive(Debug, Serialize)]
struct Conversation {
    id: String,
    display: String,
    platform: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    participants: Vec<String>,
    custom: Vec<Custom>,
}

/// A custom name/value pair (value never empty).
#[derive(Debug, Serialize)]
pub struct Custom {
    name: &'static str,
    value: String,
}

#[derive(Debug, Serialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    conversation: String,
    participant: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    edits: Vec<Edit>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<Attachment>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    custom: Vec<Custom>,
}

#[derive(Debug, Serialize)]
struct Edit {
    participant: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    previous: String,
    new: String,
}

#[derive(Debug, Serialize)]
struct Attachment {
    id: String,
    display: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<i64>,
}

/// The people a manifest names, by id, with the best-known name of each.
#[derive(Default)]
struct People(BTreeMap<String, PersonIn>);

impl People {
    /// `person`'s id, remembered (or the unknown participant's).
    fn name(&mut self, person: Option<&PersonIn>) -> String {
        let Some(person) = person else {
            self.0.entry(UNKNOWN.into()).or_insert_with(|| PersonIn {
                id: UNKNOWN.into(),
                name: Some("(unknown)".into()),
                username: None,
            });
            return UNKNOWN.into();
        };
        let known = self
            .0
            .entry(person.id.clone())
            .or_insert_with(|| person.clone());
        if known.name.is_none() {
            known.name.clone_from(&person.name);
        }
        if known.username.is_none() {
            known.username.clone_from(&person.username);
        }
        person.id.clone()
    }

    fn into_participants(self) -> Vec<Participant> {
        self.0
            .into_values()
            .map(|p| Participant {
                display: p.display().to_string(),
                email: p
                    .username
                    .as_deref()
                    .filter(|u| is_email(u))
                    .map(String::from),
                account_id: p.id.clone(),
                id: p.id,
            })
            .collect()
    }
}

/// A user name that is an e-mail address (the schema's `idn-email`): one `@` with a
/// name before it and a dotted domain after it, no spaces or brackets.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && s.matches('@').count() == 1
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
}

fn custom(out: &mut Vec<Custom>, name: &'static str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        out.push(Custom {
            name,
            value: value.to_string(),
        });
    }
}

/// Archive status as words.
pub fn status_name(status: Option<i64>) -> Option<String> {
    status.map(|s| match s {
        0 => "active".to_string(),
        1 => "archived".to_string(),
        other => other.to_string(),
    })
}

/// Builds the manifest of `slice`; `attachment_id` names each stored attachment's file
/// in the zip (those without stored bytes are listed in the event's custom fields).
pub fn manifest(slice: &Slice, attachment_id: impl Fn(&str) -> String) -> Manifest {
    let space = &slice.space;
    let mut people = People::default();
    let mut members: Vec<String> = slice
        .members_at_start()
        .iter()
        .map(|p| people.name(Some(p)))
        .collect();
    let mut events = Vec::with_capacity(slice.events.len());
    // A reply names its post or task as `parent` when that is in the same slice and
    // not later than the reply (Relativity's validator checks both).
    let times: HashMap<&str, Option<&str>> = slice
        .messages()
        .map(|m| (m.id.as_str(), m.time()))
        .collect();
    let mut ids = HashSet::new();
    for event in &slice.events {
        match event {
            SliceEvent::Message(m) => {
                let parent = m.parent_id.as_deref().filter(|p| {
                    times
                        .get(p)
                        .is_some_and(|t| t.is_none_or(|t| m.time().is_none_or(|at| t <= at)))
                });
                events.push(message_event(space, m, parent, &mut people, &attachment_id));
            }
            SliceEvent::Membership(change) => events.push(Event {
                id: {
                    let base = format!(
                        "{}-{}-{}",
                        change.change,
                        change.person.id,
                        change.time().unwrap_or("undated")
                    );
                    let mut id = base.clone();
                    let mut n = 1;
                    while !ids.insert(id.clone()) {
                        n += 1;
                        id = format!("{base}-{n}");
                    }
                    id
                },
                kind: if change.change == "leave" {
                    "leave"
                } else {
                    "join"
                },
                conversation: space.id.clone(),
                participant: people.name(Some(&change.person)),
                timestamp: change.time().map(String::from),
                body: None,
                parent: None,
                deleted: false,
                edits: Vec::new(),
                attachments: Vec::new(),
                custom: {
                    let mut c = Vec::new();
                    custom(&mut c, "role", change.role.as_deref());
                    custom(&mut c, "seen_at", change.seen_at.as_deref());
                    c
                },
            }),
        }
    }
    // Everyone who took part without a join on record is a participant too: for a
    // direct space that is the definition; for a channel, the validator asks it of
    // every event's participant.
    let joined: HashSet<&str> = events
        .iter()
        .filter(|e| e.kind == "join")
        .map(|e| e.participant.as_str())
        .collect();
    let mut acting: Vec<String> = Vec::new();
    for event in &events {
        if !joined.contains(event.participant.as_str())
            && !members.contains(&event.participant)
            && !acting.contains(&event.participant)
        {
            acting.push(event.participant.clone());
        }
    }
    members.extend(acting);
    let mut conversation_custom = Vec::new();
    custom(&mut conversation_custom, "space_id", Some(&space.id));
    custom(
        &mut conversation_custom,
        "archive_status",
        status_name(space.status).as_deref(),
    );
    custom(
        &mut conversation_custom,
        "space_type",
        space.space_type.as_deref(),
    );
    Manifest {
        version: VERSION,
        eventcollectionid: space.id.clone(),
        participants: people.into_participants(),
        conversations: vec![Conversation {
            id: space.id.clone(),
            display: space.display().to_string(),
            platform: PLATFORM,
            kind: if space.is_direct() {
                "direct"
            } else {
                "channel"
            },
            participants: members,
            custom: conversation_custom,
        }],
        events,
    }
}

fn message_event(
    space: &SpaceIn,
    m: &MessageIn,
    parent: Option<&str>,
    people: &mut People,
    attachment_id: &impl Fn(&str) -> String,
) -> Event {
    let participant = people.name(m.sender.as_ref());
    let mut edits = Vec::new();
    let mut before: Option<String> = None;
    for version in &m.versions {
        let body = version.body();
        if let Some(previous) = before.take() {
            if previous != body {
                edits.push(Edit {
                    participant: match version.editor.as_ref() {
                        Some(editor) => people.name(Some(editor)),
                        None => participant.clone(),
                    },
                    // Never before the event's own time (the validator refuses that).
                    timestamp: version
                        .at
                        .clone()
                        .filter(|at| m.time().is_none_or(|t| at.as_str() >= t)),
                    previous,
                    new: body.clone(),
                });
            }
        }
        before = Some(body);
    }
    let mut c = Vec::new();
    custom(&mut c, "kind", Some(&m.kind));
    if parent.is_none() {
        custom(&mut c, "parent_id", m.parent_id.as_deref());
    }
    if let Some(task) = &m.task {
        custom(&mut c, "task_status", task.status.as_deref());
        custom(&mut c, "task_due", task.due.as_deref());
    }
    let assignees: Vec<&str> = m.assignees.iter().map(PersonIn::display).collect();
    custom(&mut c, "assignees", Some(&assignees.join(", ")));
    custom(&mut c, "modified", m.modified.as_deref());
    if let Some(purged) = &m.purged {
        custom(&mut c, "purged_at", purged.at.as_deref());
        custom(&mut c, "purge_reason", purged.reason.as_deref());
    }
    if let Some(removed) = &m.removed {
        custom(&mut c, "removed_at", removed.at.as_deref());
        if let Some(by) = &removed.by {
            people.name(Some(by));
            custom(
                &mut c,
                "removed_by",
                Some(&format!("{} ({})", by.display(), by.id)),
            );
        }
    }
    if m.created.is_none() {
        custom(
            &mut c,
            "created",
            Some("unknown (the time shown is the first version's)"),
        );
    }
    custom(&mut c, "export_message_id", Some(&m.id));
    custom(&mut c, "versions", Some(&m.versions.len().to_string()));
    let mut attachments = Vec::new();
    let mut not_stored = Vec::new();
    for a in &m.attachments {
        match a.stored_sha256() {
            Some(sha256) => attachments.push(Attachment {
                id: attachment_id(sha256),
                display: a.display().to_string(),
                size: a.size,
            }),
            None => not_stored.push(format!(
                "{} ({})",
                a.display(),
                a.status.as_deref().unwrap_or("not stored")
            )),
        }
    }
    custom(
        &mut c,
        "attachments_not_stored",
        Some(&not_stored.join("; ")),
    );
    Event {
        id: m.id.clone(),
        kind: "message",
        conversation: space.id.clone(),
        participant,
        timestamp: m.time().map(String::from),
        body: Some(m.body()),
        parent: parent.map(String::from),
        deleted: m.removed.is_some(),
        edits,
        attachments,
        custom: c,
    }
}

#[cfg(test)]
mod tests {
    use super::is_email;

    #[test]
    fn emails() {
        assert!(is_email("a.b@example.com"));
        assert!(!is_email("alice"));
        assert!(!is_email("a@b"));
        assert!(!is_email("a b@example.com"));
        assert!(!is_email("a@@example.com"));
        assert!(!is_email("@example.com"));
    }
}
