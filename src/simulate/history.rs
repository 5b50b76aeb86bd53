//! What the simulator has sent, as far as its REST API needs it: the spaces (each as
//! its latest `topic.updated` left it: title, type, status, members), how many
//! payloads, and each message's latest state as the REST API would return it
//! (category chat, idea or task; `deleted: true` once removed; `modified` the time
//! of the latest change), listed by keyset or by offset.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::event::time::{format_millis, now_millis, parse_iso_millis};

/// A space as `GET /users/me/spaces` lists it.
#[derive(Debug, Clone)]
pub struct SpaceEntry {
    /// Space id.
    pub id: String,
    /// The listing item.
    pub item: Value,
}

/// Everything sent so far.
#[derive(Debug, Default)]
pub struct History {
    /// Payloads sent.
    pub sent: u64,
    /// Spaces by id.
    pub spaces: BTreeMap<String, SpaceEntry>,
    /// Latest REST item per message id, with its modified time (UTC ms).
    pub messages: HashMap<String, (i64, Map<String, Value>)>,
    /// Per space, its messages' `(modified, id)` in order: the REST listing's index.
    by_space: HashMap<String, BTreeSet<(i64, String)>>,
    /// The stream's own clock: the latest time any payload carried.
    clock: i64,
}

fn category_of_kind(category: &str) -> Option<&'static str> {
    match category {
        "chat" | "app.event.message.updated" => Some("chat"),
        "idea" | "app.event.idea.updated" => Some("idea"),
        "task" | "app.event.task.updated" => Some("task"),
        _ => None,
    }
}

impl History {
    /// Records one payload about to be sent.
    pub fn record(&mut self, payload: &Value) {
        let now = now_millis();
        if let Value::Object(obj) = payload {
            self.note_space(obj);
            self.note_message(obj, now);
        }
        self.sent += 1;
    }

    /// Adds a space the listing starts with.
    pub fn add_space(&mut self, id: &str, title: &str) {
        self.spaces
            .entry(id.to_string())
            .or_insert_with(|| SpaceEntry {
                id: id.to_string(),
                item: serde_json::json!({ "_id": id, "title": title }),
            });
    }

    fn note_space(&mut self, obj: &Map<String, Value>) {
        let category = obj.get("category").and_then(Value::as_str);
        if matches!(category, Some("topic.updated" | "app.event.topic.new")) {
            if let Some(Value::Object(content)) = obj.get("content") {
                if let Some(id) = content.get("_id").and_then(Value::as_str) {
                    // The listing shows a space as its latest update left it.
                    let entry = self
                        .spaces
                        .entry(id.to_string())
                        .or_insert_with(|| SpaceEntry {
                            id: id.to_string(),
                            item: Value::Object(Map::new()),
                        });
                    if let Value::Object(item) = &mut entry.item {
                        for (key, value) in content {
                            item.insert(key.clone(), value.clone());
                        }
                    }
                    return;
                }
            }
        }
        let Some(id) = obj.get("topicId").and_then(Value::as_str) else {
            return;
        };
        // A space first seen in a message is listed with what the message says of it.
        self.spaces.entry(id.to_string()).or_insert_with(|| {
            let mut item = Map::new();
            item.insert("_id".into(), Value::String(id.to_string()));
            for (from, to) in [
                ("topicTitle", "title"),
                ("topicType", "type"),
                ("status", "status"),
            ] {
                if let Some(value) = obj.get(from).filter(|v| !v.is_null()) {
                    item.insert(to.into(), value.clone());
                }
            }
            SpaceEntry {
                id: id.to_string(),
                item: Value::Object(item),
            }
        });
    }

    fn note_message(&mut self, obj: &Map<String, Value>, now: i64) {
        let category = obj.get("category").and_then(Value::as_str).unwrap_or("");
        let id = obj
            .get("messageId")
            .or_else(|| obj.get("_id"))
            .and_then(Value::as_str);
        let Some(id) = id else { return };
        let time = |o: &Map<String, Value>| {
            o.get("modified")
                .or_else(|| o.get("created"))
                .and_then(Value::as_str)
                .and_then(parse_iso_millis)
        };
        if let Some(t) = time(obj) {
            self.clock = self.clock.max(t);
        }
        if category == "app.event.message.removed" {
            // A removal carries no time of its own (`created` is the message's):
            // it happened now, on the stream's clock.
            let at = obj
                .get("modified")
                .and_then(Value::as_str)
                .and_then(parse_iso_millis)
                .unwrap_or(self.clock);
            if let Some((modified, item)) = self.messages.get_mut(id) {
                let at = at.max(*modified);
                item.insert("deleted".into(), Value::Bool(true));
                item.insert("modified".into(), Value::String(format_millis(at)));
                let before = std::mem::replace(modified, at);
                let space = space_of(item);
                reindex(&mut self.by_space, &space, id, Some(before), at);
            }
            return;
        }
        let Some(kind) = category_of_kind(category) else {
            return;
        };
        let (before, mut item) = self
            .messages
            .remove(id)
            .map_or((None, Map::new()), |(t, item)| (Some(t), item));
        for (key, value) in obj {
            item.insert(key.clone(), value.clone());
        }
        item.insert("_id".into(), Value::String(id.to_string()));
        item.remove("messageId");
        item.insert("category".into(), Value::String(kind.into()));
        let modified = time(obj).unwrap_or(now);
        reindex(&mut self.by_space, &space_of(&item), id, before, modified);
        self.messages.insert(id.to_string(), (modified, item));
    }

    /// Message items of `spaces` modified after `after` and after the page cursor
    /// `(modified, id)`, oldest change first, at most `limit`: a keyset, so items
    /// changing between pages are neither skipped nor lost (a changed item comes
    /// again later).
    pub fn messages_after(
        &self,
        spaces: &[&str],
        after: i64,
        cursor: Option<(i64, &str)>,
        limit: usize,
    ) -> Vec<(i64, &Map<String, Value>)> {
        let start = match cursor {
            Some((t, id)) if t > after => (t, id.to_string()),
            _ => (after.saturating_add(1), String::new()),
        };
        let mut keys: Vec<&(i64, String)> = Vec::new();
        for space in spaces {
            if let Some(set) = self.by_space.get(*space) {
                keys.extend(
                    set.range((
                        std::ops::Bound::Excluded(start.clone()),
                        std::ops::Bound::Unbounded,
                    ))
                    .take(limit),
                );
            }
        }
        keys.sort();
        keys.truncate(limit);
        keys.into_iter()
            .filter_map(|(t, id)| self.messages.get(id).map(|(_, item)| (*t, item)))
            .collect()
    }
}

impl History {
    /// Message items of `spaces` modified after `after`, oldest change first, from
    /// `offset` of that list as it is now, at most `limit`; and how many there are.
    /// A naive server's paging: the list shifts under a client between pages.
    pub fn messages_from_offset(
        &self,
        spaces: &[&str],
        after: i64,
        offset: usize,
        limit: usize,
    ) -> (Vec<&Map<String, Value>>, usize) {
        let mut keys: Vec<&(i64, String)> = spaces
            .iter()
            .filter_map(|space| self.by_space.get(*space))
            .flat_map(|set| {
                set.range((
                    std::ops::Bound::Excluded((after, String::from("\u{10ffff}"))),
                    std::ops::Bound::Unbounded,
                ))
            })
            .collect();
        keys.sort();
        let total = keys.len();
        let page = keys
            .into_iter()
            .skip(offset)
            .take(limit)
            .filter_map(|(_, id)| self.messages.get(id).map(|(_, item)| item))
            .collect();
        (page, total)
    }
}

fn space_of(item: &Map<String, Value>) -> String {
    item.get("topicId")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Moves a message's key in its space's ordered set.
fn reindex(
    by_space: &mut HashMap<String, BTreeSet<(i64, String)>>,
    space: &str,
    id: &str,
    before: Option<i64>,
    now: i64,
) {
    let set = by_space.entry(space.to_string()).or_default();
    if let Some(before) = before {
        set.remove(&(before, id.to_string()));
    }
    set.insert((now, id.to_string()));
}
