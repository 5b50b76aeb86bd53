//! The generator's model of an organisation: people, spaces with members, recent
//! messages to reply to, edit and remove, and a clock that moves forward.

use std::collections::VecDeque;

use fastrand::Rng;
use serde_json::{json, Value};

use super::text::{escape, html_body, pick_length, words, Mentionable};
use super::{Expected, GenerateOptions, Tally};
use crate::event::time::format_millis;

/// Messages kept for edits, removals and replies; older ones are left alone, as in life.
const RECENT: usize = 2_000;

struct Person {
    id: String,
    name: String,
}

struct Space {
    id: String,
    title: String,
    kind: &'static str,
    members: Vec<usize>,
    created: i64,
    archived: bool,
}

struct Message {
    id: String,
    category: &'static str,
    space: usize,
    sender: usize,
    created: i64,
    content: Value,
    removed: bool,
}

/// A deterministic payload stream: an iterator of JSON payloads.
pub struct Generator {
    rng: Rng,
    remaining: u64,
    clock: i64,
    ids: u64,
    people: Vec<Person>,
    spaces: Vec<Space>,
    recent: VecDeque<Message>,
    tally: Tally,
}

const FIRST: &[&str] = &[
    "Ann",
    "Bob",
    "Chloé",
    "Dmitri",
    "Eve",
    "François",
    "Günther",
    "Hana",
    "Ines",
    "José",
    "Kenji",
    "Léa",
    "Mateo",
    "Nina",
    "Oğuz",
    "Priya",
    "Quinn",
    "Rosa",
    "Søren",
    "Tomás",
    "陈",
    "佐藤",
    "김",
];
const LAST: &[&str] = &[
    "Lee", "Martin", "Dubois", "Ivanova", "O'Neil", "Müller", "Sato", "García", "Kowalski",
    "Nguyen", "Rossi", "Smith", "伟", "花子", "민준",
];
const SPACE_NAMES: &[&str] = &[
    "Release train",
    "Support escalations",
    "Design review",
    "Sales EMEA",
    "Café & chat",
    "Incident room",
    "Onboarding",
    "プロジェクト会議",
    "Board <private>",
    "Finance Q&A",
];
const FILES: &[(&str, &str, &str)] = &[
    ("image", "image/jpeg", "photo.jpg"),
    ("image", "image/png", "screenshot.png"),
    ("document", "application/pdf", "contract.pdf"),
    ("document", "text/plain", "notes.txt"),
    (
        "document",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "memo.docx",
    ),
    (
        "document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "budget.xlsx",
    ),
    ("video", "video/mp4", "demo.mp4"),
    ("audio", "audio/mpeg", "call.mp3"),
];

impl Generator {
    /// A generator for `options`.
    pub fn new(options: GenerateOptions) -> Generator {
        let mut rng = Rng::with_seed(options.seed);
        let start = 1_704_067_200_000 + (options.seed % 1_000) as i64 * 86_400_000;
        let mut g = Generator {
            remaining: options.events,
            clock: start,
            ids: 0,
            people: Vec::new(),
            spaces: Vec::new(),
            recent: VecDeque::new(),
            tally: Tally::default(),
            rng: Rng::with_seed(rng.u64(..)),
        };
        let people = (options.spaces * 4).max(12);
        for i in 0..people {
            let name = format!(
                "{} {}",
                FIRST[i % FIRST.len()],
                LAST[(i / FIRST.len() + i) % LAST.len()]
            );
            let id = g.next_id();
            g.people.push(Person { id, name });
        }
        for _ in 0..options.spaces.max(1) {
            g.add_space();
        }
        g
    }

    /// The spaces so far, as (id, title): those of the start, until more are made.
    pub fn spaces(&self) -> Vec<(String, String)> {
        self.spaces
            .iter()
            .map(|s| (s.id.clone(), s.title.clone()))
            .collect()
    }

    /// The tally of what has been generated so far.
    pub fn expected(&self) -> Expected {
        self.tally.finish()
    }

    fn next_id(&mut self) -> String {
        self.ids += 1;
        format!(
            "{:08x}{:016x}",
            (self.clock / 1000) as u32,
            self.rng.u64(..) ^ self.ids
        )
    }

    fn add_space(&mut self) -> usize {
        let n = self.spaces.len();
        let title = format!("{} {}", SPACE_NAMES[n % SPACE_NAMES.len()], n + 1);
        let size = self.rng.usize(3..=12.min(self.people.len()));
        let mut members: Vec<usize> = Vec::new();
        while members.len() < size {
            let p = self.rng.usize(..self.people.len());
            if !members.contains(&p) {
                members.push(p);
            }
        }
        let kind = if self.rng.u32(0..10) == 0 {
            "direct"
        } else {
            "group"
        };
        let id = self.next_id();
        self.spaces.push(Space {
            id,
            title,
            kind,
            members,
            created: self.clock,
            archived: false,
        });
        n
    }

    fn person(&mut self, index: usize) -> Value {
        let p = &self.people[index];
        self.tally.people.insert(p.id.clone());
        json!({"_id": p.id, "displayname": p.name, "picture_url": "", "type": "user", "username": ""})
    }

    fn pick_space(&mut self) -> usize {
        let active: Vec<usize> = (0..self.spaces.len())
            .filter(|&i| !self.spaces[i].archived)
            .collect();
        if active.is_empty() {
            self.spaces[0].archived = false;
            return 0;
        }
        // Some spaces are much busier than others.
        let skew = self.rng.f64() * self.rng.f64();
        active[(skew * active.len() as f64) as usize]
    }

    fn pick_member(&mut self, space: usize) -> usize {
        let members = &self.spaces[space].members;
        members[self.rng.usize(..members.len())]
    }

    fn attachments(&mut self) -> Vec<Value> {
        if self.rng.u32(0..100) >= 8 {
            return Vec::new();
        }
        (0..self.rng.usize(1..=3))
            .map(|_| {
                let (kind, mime, name) = FILES[self.rng.usize(..FILES.len())];
                let id = format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    self.rng.u32(..),
                    self.rng.u16(..),
                    self.rng.u16(..0xfff),
                    self.rng.u16(..0xfff),
                    self.rng.u64(..1 << 48)
                );
                // Mostly small, a few large: median ~125 KB, mean ~400 KB, up to 2 MB.
                let x = f64::from(self.rng.u32(0..1_000_000)) / 1e6;
                let size = 200 + (x.powi(4) * 2e6) as u64;
                // Images have a thumbnail, whose key follows from the file's.
                let thumbnail = if kind == "image" {
                    format!("{id}-thumb")
                } else {
                    String::new()
                };
                json!({
                    "fileId": id,
                    "fileSize": size,
                    "fileType": kind,
                    "name": format!("{}-{}", self.rng.u32(1..999), name),
                    "provider": "native",
                    "providerFileType": mime,
                    "path": "",
                    "thumbnailFile": thumbnail,
                    "convertStatus": 0,
                    "metaData": {"paging": 0, "prvwProvd": "gcs", "stgeProvd": "gcs"}
                })
            })
            .collect()
    }

    fn body(&mut self, space: usize) -> String {
        let len = pick_length(&mut self.rng);
        let mention = if self.rng.u32(0..10) == 0 {
            Some(self.pick_member(space))
        } else {
            None
        };
        let mention = mention.map(|p| (self.people[p].id.clone(), self.people[p].name.clone()));
        let m = mention.as_ref().map(|(id, name)| Mentionable { id, name });
        html_body(&mut self.rng, len, m)
    }

    fn content(&mut self, category: &str, space: usize) -> Value {
        let mut content = json!({
            "bodyText": self.body(space),
            "data": self.attachments(),
            "description": "",
            "endTime": null,
            "mediaMode": "audio",
            "meetingStatus": "active",
            "recordings": [],
            "startTime": format_millis(self.clock),
            "virtualEndTime": null,
        });
        if category != "chat" {
            let len = self.rng.usize(20..400);
            let title_len = self.rng.usize(8..60);
            content["bodyText"] = escape(&words(&mut self.rng, title_len)).into();
            content["description"] =
                format!("<p>{}</p>", escape(&words(&mut self.rng, len))).into();
        }
        if category == "task" {
            content["status"] = "pending".into();
            content["dueDate"] =
                format_millis(self.clock + self.rng.i64(1..30) * 86_400_000).into();
            let assignees: Vec<Value> = (0..self.rng.usize(1..=3))
                .map(|_| {
                    let p = self.pick_member(space);
                    self.tally.people.insert(self.people[p].id.clone());
                    json!({"_id": self.people[p].id})
                })
                .collect();
            let mut seen = Vec::new();
            content["assignees"] = assignees
                .into_iter()
                .filter(|a| {
                    let new = !seen.contains(a);
                    seen.push(a.clone());
                    new
                })
                .collect();
        }
        content
    }

    fn space_fields(&mut self, space: usize, payload: &mut Value) {
        let s = &self.spaces[space];
        payload["topicId"] = s.id.clone().into();
        payload["topicTitle"] = s.title.clone().into();
        payload["topicType"] = s.kind.into();
        payload["status"] = 0.into();
        self.tally.spaces.insert(s.id.clone());
    }
}

#[path = "model/stream.rs"]
mod stream;
