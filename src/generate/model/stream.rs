//! The payloads of the generated stream, one method per category, picked with the
//! proportions of a busy organisation: mostly chat, some posts and tasks, edits,
//! removals, read markers, a few space changes and a few unknown categories.

use serde_json::{json, Value};

use super::{Generator, Message, RECENT};
use crate::event::time::format_millis;

/// (weight per mille, what to make).
const MIX: &[(u32, Make)] = &[
    (520, Make::Chat),
    (80, Make::Reply),
    (50, Make::Post),
    (40, Make::Task),
    (60, Make::EditChat),
    (20, Make::EditPost),
    (30, Make::EditTask),
    (30, Make::Remove),
    (20, Make::TopicUpdated),
    (110, Make::MarkRead),
    (25, Make::Preference),
    (5, Make::TopicNew),
    (10, Make::Unknown),
];

#[derive(Clone, Copy)]
enum Make {
    Chat,
    Reply,
    Post,
    Task,
    EditChat,
    EditPost,
    EditTask,
    Remove,
    TopicUpdated,
    MarkRead,
    Preference,
    TopicNew,
    Unknown,
}

impl Iterator for Generator {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        self.clock += self.rng.i64(200..20_000);
        let mut roll = self.rng.u32(0..1000);
        let mut make = Make::Chat;
        for (weight, m) in MIX {
            if roll < *weight {
                make = *m;
                break;
            }
            roll -= weight;
        }
        let payload = self.make(make).unwrap_or_else(|| self.create("chat", None));
        let category = payload["category"].as_str().unwrap_or_default().to_string();
        self.tally.category(&category);
        Some(payload)
    }
}

impl Generator {
    fn make(&mut self, make: Make) -> Option<Value> {
        match make {
            Make::Chat => Some(self.create("chat", None)),
            Make::Reply => {
                let parent = self.pick_recent(|m| m.category != "chat")?;
                Some(self.create("chat", Some(parent)))
            }
            Make::Post => Some(self.create("idea", None)),
            Make::Task => Some(self.create("task", None)),
            Make::EditChat => self.edit("chat", "app.event.message.updated"),
            Make::EditPost => self.edit("idea", "app.event.idea.updated"),
            Make::EditTask => self.edit("task", "app.event.task.updated"),
            Make::Remove => self.remove(),
            Make::TopicUpdated => Some(self.topic_updated()),
            Make::MarkRead => self.mark_read(),
            Make::Preference => Some(self.preference()),
            Make::TopicNew => Some(self.topic_new()),
            Make::Unknown => Some(self.unknown()),
        }
    }

    fn pick_recent(&mut self, filter: impl Fn(&Message) -> bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.recent.len())
            .rev()
            .take(200)
            .filter(|&i| !self.recent[i].removed && filter(&self.recent[i]))
            .collect();
        (!candidates.is_empty()).then(|| candidates[self.rng.usize(..candidates.len())])
    }

    fn create(&mut self, category: &'static str, parent: Option<usize>) -> Value {
        let space = match parent {
            Some(p) => self.recent[p].space,
            None => self.pick_space(),
        };
        let sender = self.pick_member(space);
        let id = self.next_id();
        let content = self.content(category, space);
        let mut payload = json!({
            "_id": id,
            "category": category,
            "chatCount": 0,
            "content": content,
            "created": format_millis(self.clock),
            "likeCount": self.rng.u32(0..4),
            "modified": format_millis(self.clock),
            "sender": self.person(sender),
        });
        self.space_fields(space, &mut payload);
        if let Some(p) = parent {
            payload["parentMsg"] = self.recent[p].id.clone().into();
        }
        let e = &mut self.tally.expected;
        match category {
            "idea" => e.post += 1,
            "task" => e.task += 1,
            _ => e.chat += 1,
        }
        e.versions += 1;
        e.attachments += payload["content"]["data"].as_array().map_or(0, Vec::len) as u64;
        self.recent.push_back(Message {
            id,
            category,
            space,
            sender,
            created: self.clock,
            content: payload["content"].clone(),
            removed: false,
        });
        if self.recent.len() > RECENT {
            self.recent.pop_front();
        }
        payload
    }

    fn edit(&mut self, kind: &str, category: &str) -> Option<Value> {
        let i = self.pick_recent(|m| m.category == kind)?;
        let space = self.recent[i].space;
        let mut content = self.recent[i].content.clone();
        if kind == "task" && self.rng.bool() {
            let done = content["status"] == "pending";
            content["status"] = if done { "complete" } else { "pending" }.into();
        } else {
            let body = content["bodyText"].as_str().unwrap_or_default().to_string();
            let extra =
                crate::generate::text::escape(&crate::generate::text::words(&mut self.rng, 12));
            content["bodyText"] = if kind == "chat" {
                format!("{body}<p>edit: {extra}</p>")
            } else {
                format!("{body} {extra}")
            }
            .into();
        }
        let m = &mut self.recent[i];
        m.content = content.clone();
        let (id, sender) = (m.id.clone(), m.sender);
        let mut payload = json!({
            "_id": id,
            "category": category,
            "content": content,
            "messageId": id,
            "modified": format_millis(self.clock),
            "sender": self.person(sender),
            "topicId": self.spaces[space].id,
        });
        if kind == "chat" {
            payload["created"] = format_millis(self.recent[i].created).into();
        }
        self.tally.expected.versions += 1;
        Some(payload)
    }

    fn remove(&mut self) -> Option<Value> {
        let i = self.pick_recent(|_| true)?;
        let remover = if self.rng.u32(0..4) == 0 {
            self.pick_member(self.recent[i].space)
        } else {
            self.recent[i].sender
        };
        let m = &mut self.recent[i];
        m.removed = true;
        let (id, created, content, space) = (m.id.clone(), m.created, m.content.clone(), m.space);
        self.tally.expected.versions += 1;
        self.tally.expected.removed += 1;
        Some(json!({
            "_id": id,
            "category": "app.event.message.removed",
            "content": content,
            "created": format_millis(created),
            "messageId": id,
            "sender": self.person(remover),
            "topicId": self.spaces[space].id,
        }))
    }

    fn space_content(&mut self, space: usize) -> Value {
        let members: Vec<Value> = self.spaces[space]
            .members
            .clone()
            .into_iter()
            .enumerate()
            .map(|(n, p)| {
                let mut member = self.person(p);
                let id = member["_id"].take();
                member["member"] = id;
                member["memberType"] = "userId".into();
                member["role"] = if n == 0 { "admin" } else { "member" }.into();
                member["joinTime"] =
                    format_millis(self.spaces[space].created + n as i64 * 60_000).into();
                member["phone_numbers"] = json!([]);
                member
            })
            .collect();
        let s = &self.spaces[space];
        self.tally.spaces.insert(s.id.clone());
        json!({
            "_id": s.id,
            "created": format_millis(s.created),
            "members": members,
            "modified": format_millis(self.clock),
            "msgRetention": {"retentionLength": 0, "retentionType": "forever", "policy": {"from": "company", "retentionType": "forever"}},
            "settings": {"memberOnly": false, "autoStart": false, "confId": format!("{}", 900_000_000 + space)},
            "status": i32::from(s.archived),
            "title": s.title,
            "type": s.kind,
        })
    }

    fn topic_updated(&mut self) -> Value {
        let space = self.rng.usize(..self.spaces.len());
        // Mostly membership changes; renames and archiving are rare (a rename makes the
        // archive re-index the whole space, as it must).
        match self.rng.u32(0..100) {
            0..=39 => {
                let p = self.rng.usize(..self.people.len());
                if !self.spaces[space].members.contains(&p) {
                    self.spaces[space].members.push(p);
                }
            }
            40..=59 if self.spaces[space].members.len() > 2 => {
                let n = self.rng.usize(1..self.spaces[space].members.len());
                self.spaces[space].members.remove(n);
            }
            60 => self.spaces[space].title.push_str(" (renamed)"),
            61..=62 => self.spaces[space].archived = !self.spaces[space].archived,
            _ => {}
        }
        let actor = self.spaces[space].members[0];
        json!({
            "category": "topic.updated",
            "content": self.space_content(space),
            "sender": self.person(actor),
            "topicId": self.spaces[space].id,
        })
    }

    fn topic_new(&mut self) -> Value {
        let space = self.add_space();
        let actor = self.spaces[space].members[0];
        json!({
            "category": "app.event.topic.new",
            "content": self.space_content(space),
            "sender": self.person(actor),
            "topicId": self.spaces[space].id,
        })
    }

    fn mark_read(&mut self) -> Option<Value> {
        let i = self.pick_recent(|_| true)?;
        let space = self.recent[i].space;
        let reader = self.pick_member(space);
        Some(json!({
            "category": "topic.markread",
            "content": {"_id": self.spaces[space].id, "messageId": self.recent[i].id, "readTime": format_millis(self.clock)},
            "sender": self.person(reader),
            "topicId": self.spaces[space].id,
        }))
    }

    fn preference(&mut self) -> Value {
        let space = self.pick_space();
        let user = self.pick_member(space);
        self.tally.people.insert(self.people[user].id.clone());
        let s = &self.spaces[space];
        self.tally.spaces.insert(s.id.clone());
        let payload = json!({
            "category": "app.event.user.topic.preference.updated",
            "content": {"_id": s.id, "isPinned": self.rng.bool(), "notification": self.rng.bool()},
            "sender": {"_id": self.people[user].id, "type": "user"},
            "topicId": s.id,
        });
        if !self.tally.preferences.insert(payload.to_string()) {
            self.tally.expected.duplicates += 1;
        }
        payload
    }

    fn unknown(&mut self) -> Value {
        let space = self.pick_space();
        let s = &self.spaces[space];
        self.tally.spaces.insert(s.id.clone());
        self.tally.expected.unknown += 1;
        let category = [
            "app.event.meeting.started",
            "app.event.presence.changed",
            "app.event.recording.ready",
        ][self.rng.usize(..3)];
        json!({"category": category, "content": {"meetingId": self.rng.u64(..)}, "topicId": s.id})
    }
}
