//! Cutting the export's message stream (space by space, in created order) into
//! slices: one per space per day, week or month (or the whole space), each split at
//! [`MAX_EVENTS`] events or [`MAX_BYTES`] of attachments and text, with the space's
//! joins and leaves placed in the slice of their time (a period with only those gets
//! a slice of its own). Messages without a created time form an `undated` slice first.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io;
use std::sync::Arc;

use chrono::Datelike;

use crate::export::parsed::{ChangeIn, MessageIn, PersonIn, SpaceIn};

/// Events in one slice at most (Relativity's recommendation).
pub const MAX_EVENTS: usize = 10_000;
/// Bytes of attachments and text in one slice at most (an `.rsmf` stays under 2 GB,
/// base64 and all).
pub const MAX_BYTES: u64 = 1 << 30;

/// `--slice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceBy {
    /// A UTC day.
    Day,
    /// An ISO week (Monday to Sunday, UTC).
    Week,
    /// A UTC month.
    Month,
    /// The whole space (still split at the limits).
    None,
}

impl SliceBy {
    /// The slice a time (ISO-8601 UTC) falls in; `None` for an unknown time.
    pub fn key(self, time: Option<&str>) -> Option<String> {
        let time = time?;
        let date = time.get(..10)?;
        Some(match self {
            SliceBy::Day => date.to_string(),
            SliceBy::Month => date.get(..7)?.to_string(),
            SliceBy::None => "all".to_string(),
            SliceBy::Week => {
                let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
                let week = day.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
        })
    }
}

/// An event of a slice.
#[derive(Debug)]
pub enum SliceEvent {
    /// A message.
    Message(Box<MessageIn>),
    /// A join or leave.
    Membership(ChangeIn),
}

impl SliceEvent {
    /// When it happened.
    pub fn time(&self) -> Option<&str> {
        match self {
            SliceEvent::Message(m) => m.time(),
            SliceEvent::Membership(c) => c.time(),
        }
    }
}

/// One slice: a space's events of one period (or part of one).
#[derive(Debug)]
pub struct Slice {
    /// The space.
    pub space: Arc<SpaceIn>,
    /// The period (`2026-03-04`, `2026-W10`, `2026-03`, `all`), `None` when undated.
    pub key: Option<String>,
    /// 1 for a period's first slice, 2… when it was split.
    pub part: u32,
    /// Its events in time order.
    pub events: Vec<SliceEvent>,
    bytes: u64,
}

impl Slice {
    /// Its file's name (without extension): space id, period and part.
    pub fn name(&self) -> String {
        let key = self.key.as_deref().unwrap_or("undated");
        let base = format!("{}_{key}", crate::export::set::safe_name(&self.space.id));
        match self.part {
            1 => base,
            n => format!("{base}_part{n}"),
        }
    }

    /// The first event's time.
    pub fn begin(&self) -> Option<&str> {
        self.events.iter().filter_map(SliceEvent::time).min()
    }

    /// The last event's time.
    pub fn end(&self) -> Option<&str> {
        self.events.iter().filter_map(SliceEvent::time).max()
    }

    /// Messages in it.
    pub fn messages(&self) -> impl Iterator<Item = &MessageIn> {
        self.events.iter().filter_map(|e| match e {
            SliceEvent::Message(m) => Some(&**m),
            SliceEvent::Membership(_) => None,
        })
    }

    /// The space's members at the slice's first event: each person's last join or
    /// leave at or before it decides; people with no change on record count by
    /// their joined and left times.
    pub fn members_at_start(&self) -> Vec<PersonIn> {
        let at = self.begin();
        let mut last: BTreeMap<&str, (&PersonIn, bool)> = BTreeMap::new();
        for change in &self.space.membership_changes {
            let before = match (change.time(), at) {
                (Some(t), Some(at)) => t <= at,
                (None, _) => true,
                (Some(_), None) => false,
            };
            if before {
                last.insert(
                    &change.person.id,
                    (&change.person, change.change != "leave"),
                );
            }
        }
        let changed: HashSet<&str> = self
            .space
            .membership_changes
            .iter()
            .map(|c| c.person.id.as_str())
            .collect();
        let mut members: Vec<PersonIn> = last
            .values()
            .filter(|(_, member)| *member)
            .map(|(p, _)| (*p).clone())
            .collect();
        for m in &self.space.members {
            if changed.contains(m.person.id.as_str()) {
                continue;
            }
            let joined = match (m.joined_at.as_deref(), at) {
                (Some(j), Some(at)) => j <= at,
                _ => true,
            };
            let left = match (m.left_at.as_deref(), at) {
                (Some(l), Some(at)) => l <= at,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if joined && !left {
                members.push(m.person.clone());
            }
        }
        members
    }

    fn push(&mut self, event: SliceEvent, bytes: u64) {
        self.bytes += bytes;
        self.events.push(event);
    }
}

/// Which joins and leaves an export carries: those of the people and times its
/// filters name (none when it is limited to a kind of message or to removed ones).
#[derive(Debug, Clone, Default)]
pub struct MembershipFilter {
    /// No membership events at all.
    pub none: bool,
    /// Only these people.
    pub people: Option<Vec<String>>,
    /// At or after.
    pub since: Option<String>,
    /// Before.
    pub until: Option<String>,
}

impl MembershipFilter {
    /// Reads the filters of the export's manifest.
    pub fn from_filters(filters: &serde_json::Value) -> MembershipFilter {
        let text = |key: &str| filters[key].as_str().map(String::from);
        MembershipFilter {
            none: !filters["kind"].is_null()
                || filters["removed"].as_str() == Some("only")
                || !filters["after_cursor"].is_null(),
            people: filters["from"].as_array().map(|ids| {
                ids.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            }),
            since: text("since"),
            until: text("until"),
        }
    }

    fn keeps(&self, change: &ChangeIn) -> bool {
        if self.none {
            return false;
        }
        if let Some(people) = &self.people {
            if !people.contains(&change.person.id) {
                return false;
            }
        }
        match change.time() {
            Some(t) => {
                self.since.as_deref().is_none_or(|s| t >= s)
                    && self.until.as_deref().is_none_or(|u| t < u)
            }
            None => self.since.is_none() && self.until.is_none(),
        }
    }
}

/// A space's joins and leaves not yet placed, in time order, with their periods.
struct Pending {
    space: Arc<SpaceIn>,
    changes: VecDeque<(Option<String>, ChangeIn)>,
}

/// Cuts the stream into slices and hands each, whole, to `emit`.
pub struct Slicer {
    by: SliceBy,
    max_events: usize,
    spaces: BTreeMap<String, Pending>,
    current: Option<Slice>,
    names: HashSet<String>,
}

impl Slicer {
    /// Slices by `by`, at most `max_events` events each.
    pub fn new(by: SliceBy, max_events: usize) -> Slicer {
        Slicer {
            by,
            max_events: max_events.max(1),
            spaces: BTreeMap::new(),
            current: None,
            names: HashSet::new(),
        }
    }

    /// A space record (they all come before the messages).
    pub fn space(&mut self, space: SpaceIn, filter: &MembershipFilter) {
        let mut changes: Vec<(Option<String>, ChangeIn)> = space
            .membership_changes
            .iter()
            .filter(|c| filter.keeps(c))
            .map(|c| (self.by.key(c.time()), c.clone()))
            .collect();
        changes.sort_by(|a, b| (&a.0, a.1.time()).cmp(&(&b.0, b.1.time())));
        let id = space.id.clone();
        self.spaces.insert(
            id,
            Pending {
                space: Arc::new(space),
                changes: changes.into(),
            },
        );
    }

    /// The next message; `bytes` is what it adds to its slice's size.
    pub fn message(
        &mut self,
        message: Box<MessageIn>,
        bytes: u64,
        emit: &mut impl FnMut(Slice) -> io::Result<()>,
    ) -> io::Result<()> {
        let key = self.by.key(message.created.as_deref());
        if let Some(current) = &self.current {
            let old = current.space.id.clone();
            let same_space = old == message.space_id;
            if !same_space || current.key != key {
                self.close(emit)?;
            }
            if !same_space {
                self.drain_through(&old, emit)?;
            }
        }
        self.drain_before(&message.space_id, emit)?;
        if self.current.is_none() {
            self.memberships_before(&message.space_id, &key, emit)?;
            let space = match self.spaces.get(&message.space_id) {
                Some(pending) => pending.space.clone(),
                None => {
                    return Err(io::Error::other(format!(
                        "message {} names space {}, which the export has no record of",
                        message.id, message.space_id
                    )))
                }
            };
            self.start(space, key.clone(), 1);
        }
        self.memberships_until(&message.space_id, &key, message.time(), emit)?;
        self.split_if_full(bytes, emit)?;
        if let Some(current) = &mut self.current {
            current.push(SliceEvent::Message(message), bytes);
        }
        Ok(())
    }

    /// The end of the stream: the last slice, and every join and leave not yet placed.
    pub fn finish(&mut self, emit: &mut impl FnMut(Slice) -> io::Result<()>) -> io::Result<()> {
        self.close(emit)?;
        let ids: Vec<String> = self.spaces.keys().cloned().collect();
        for id in ids {
            self.memberships_before(&id, &Some("\u{10ffff}".into()), emit)?;
        }
        Ok(())
    }

    /// Places the remaining joins and leaves of every space up to `id`, and forgets them.
    fn drain_through(
        &mut self,
        id: &str,
        emit: &mut impl FnMut(Slice) -> io::Result<()>,
    ) -> io::Result<()> {
        let ids: Vec<String> = self
            .spaces
            .keys()
            .take_while(|k| k.as_str() <= id)
            .cloned()
            .collect();
        for id in ids {
            self.memberships_before(&id, &Some("\u{10ffff}".into()), emit)?;
            self.spaces.remove(&id);
        }
        Ok(())
    }

    /// Places the joins and leaves of spaces before `id` (no messages of theirs are
    /// left to come: messages come in space order).
    fn drain_before(
        &mut self,
        id: &str,
        emit: &mut impl FnMut(Slice) -> io::Result<()>,
    ) -> io::Result<()> {
        let before: Vec<String> = self
            .spaces
            .keys()
            .take_while(|k| k.as_str() < id)
            .cloned()
            .collect();
        match before.last() {
            Some(last) => {
                let last = last.clone();
                self.drain_through(&last, emit)
            }
            None => Ok(()),
        }
    }

    /// Membership-only slices for the periods of `id` before `key`.
    fn memberships_before(
        &mut self,
        id: &str,
        key: &Option<String>,
        emit: &mut impl FnMut(Slice) -> io::Result<()>,
    ) -> io::Result<()> {
        loop {
            let Some(pending) = self.spaces.get_mut(id) else {
                return Ok(());
            };
            let Some(period) = pending.changes.front().map(|(k, _)| k.clone()) else {
                return Ok(());
            };
            if period >= *key {
                return Ok(());
            }
            let space = pending.space.clone();
            self.start(space, period.clone(), 1);
            while let Some(pending) = self.spaces.get_mut(id) {
                match pending.changes.front() {
                    Some((k, _)) if *k == period => {}
                    _ => break,
                }
                if let Some((_, change)) = pending.changes.pop_front() {
                    self.split_if_full(0, emit)?;
                    if let Some(current) = &mut self.current {
                        current.push(SliceEvent::Membership(change), 0);
                    }
                }
            }
            self.close(emit)?;
        }
    }

    /// Joins and leaves of `id` in period `key` at or before `time`, into the current slice.
    fn memberships_until(
        &mut self,
        id: &str,
        key: &Option<String>,
        time: Option<&str>,
        emit: &mut impl FnMut(Slice) -> io::Result<()>,
    ) -> io::Result<()> {
        loop {
            let Some(pending) = self.spaces.get_mut(id) else {
                return Ok(());
            };
            let due = match pending.changes.front() {
                Some((k, c)) => k == key && (time.is_none() || c.time() <= time),
                None => false,
            };
            if !due {
                return Ok(());
            }
            let Some((_, change)) = pending.changes.pop_front() else {
                return Ok(());
            };
            self.split_if_full(0, emit)?;
            if let Some(current) = &mut self.current {
                current.push(SliceEvent::Membership(change), 0);
            }
        }
    }

    fn start(&mut self, space: Arc<SpaceIn>, key: Option<String>, part: u32) {
        let mut slice = Slice {
            space,
            key,
            part,
            events: Vec::new(),
            bytes: 0,
        };
        while !self.names.insert(slice.name()) {
            slice.part += 1;
        }
        self.current = Some(slice);
    }

    /// Starts the next part of the current slice when one more event of `bytes`
    /// would overfill it.
    fn split_if_full(
        &mut self,
        bytes: u64,
        emit: &mut impl FnMut(Slice) -> io::Result<()>,
    ) -> io::Result<()> {
        let full = self.current.as_ref().is_some_and(|c| {
            !c.events.is_empty()
                && (c.events.len() >= self.max_events || c.bytes + bytes > MAX_BYTES)
        });
        if full {
            if let Some(current) = self.current.take() {
                let (space, key, part) = (current.space.clone(), current.key.clone(), current.part);
                emit(current)?;
                self.start(space, key, part + 1);
            }
        }
        Ok(())
    }

    /// Emits the current slice, with the rest of its period's joins and leaves.
    fn close(&mut self, emit: &mut impl FnMut(Slice) -> io::Result<()>) -> io::Result<()> {
        let Some(current) = &self.current else {
            return Ok(());
        };
        let (id, key) = (current.space.id.clone(), current.key.clone());
        self.memberships_until(&id, &key, None, emit)?;
        if let Some(current) = self.current.take() {
            if !current.events.is_empty() {
                emit(current)?;
            }
        }
        Ok(())
    }
}
