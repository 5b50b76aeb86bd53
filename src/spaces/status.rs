//! What the live archiver is doing, shared between its tasks and read by the
//! status line: connection, per-space subscriptions, counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// A space's subscription on the current connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// Requested, no answer yet (or not connected).
    Pending,
    /// `CHANNEL_SUBSCRIBED` received.
    Subscribed,
    /// `SUBSCRIBE_CHANNEL_FAILED` received; retried with back-off.
    Failed {
        /// The server's message.
        error: String,
        /// Failures in a row.
        attempts: u32,
    },
}

/// Shared state and counters.
#[derive(Debug, Default)]
pub struct Status {
    connected: AtomicBool,
    /// Successful connects (the first one included).
    pub connects: AtomicU64,
    /// `MESSAGE_SENT` payloads received on the socket.
    pub live_events: AtomicU64,
    /// Frames that did not parse (skipped, stored as rejected).
    pub bad_frames: AtomicU64,
    /// Items fetched by backfill.
    pub backfill_items: AtomicU64,
    /// Messages the sweep found missing (or stale) and archived.
    pub sweep_recovered: AtomicU64,
    /// New payloads stored by the writer.
    pub archived: AtomicU64,
    /// Payloads stored before (duplicates).
    pub duplicates: AtomicU64,
    /// Inputs rejected.
    pub rejected: AtomicU64,
    /// Items waiting in the socket task because the writer is behind.
    pub socket_backlog: AtomicU64,
    /// `SUBSCRIBE_CHANNEL_FAILED` answers received.
    pub subscriptions_failed: AtomicU64,
    /// When the last payload arrived (socket or backfill), UTC ms; 0 before the first.
    pub last_event_ms: AtomicI64,
    spaces: Mutex<BTreeMap<String, Subscription>>,
    events: Mutex<BTreeMap<(&'static str, String), u64>>,
}

/// Subscription counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpaceCounts {
    /// Subscribed.
    pub subscribed: usize,
    /// Waiting for an answer.
    pub pending: usize,
    /// Refused, being retried.
    pub failed: usize,
}

impl Status {
    /// Whether the socket is connected.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// Records a connect or a loss; a loss makes every subscription pending.
    pub fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
        if up {
            self.connects.fetch_add(1, Ordering::Relaxed);
        } else {
            let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
            for state in spaces.values_mut() {
                if *state == Subscription::Subscribed {
                    *state = Subscription::Pending;
                }
            }
        }
    }

    /// Sets one space's subscription state.
    pub fn set_space(&self, space: &str, state: Subscription) {
        let mut spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        spaces.insert(space.to_string(), state);
    }

    /// One space's subscription state.
    pub fn space(&self, space: &str) -> Option<Subscription> {
        let spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        spaces.get(space).cloned()
    }

    /// Every space archived (whatever its subscription state), in id order.
    pub fn space_ids(&self) -> Vec<String> {
        let spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        spaces.keys().cloned().collect()
    }

    /// Subscription counts.
    pub fn counts(&self) -> SpaceCounts {
        let spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = SpaceCounts::default();
        for state in spaces.values() {
            match state {
                Subscription::Subscribed => counts.subscribed += 1,
                Subscription::Pending => counts.pending += 1,
                Subscription::Failed { .. } => counts.failed += 1,
            }
        }
        counts
    }

    /// Spaces whose subscription is refused, with the server's message.
    pub fn failed(&self) -> Vec<(String, String)> {
        let spaces = self.spaces.lock().unwrap_or_else(|e| e.into_inner());
        spaces
            .iter()
            .filter_map(|(id, s)| match s {
                Subscription::Failed { error, .. } => Some((id.clone(), error.clone())),
                _ => None,
            })
            .collect()
    }

    /// Counts a payload received from `source` (`live`, `backfill`). Categories the
    /// archive does not know are counted together as `other`, so a server sending
    /// many made-up ones cannot grow the metrics without bound.
    pub fn count_event(&self, source: &'static str, category: &str) {
        let known = crate::event::Category::parse(category).is_known();
        let category = if known { category } else { "other" };
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        *events.entry((source, category.to_string())).or_default() += 1;
        self.last_event_ms
            .store(crate::event::time::now_millis(), Ordering::Relaxed);
    }

    /// Payloads received, by source and category.
    pub fn events(&self) -> Vec<((&'static str, String), u64)> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Per space, the change time (`modified`, UTC ms) of the first live message payload
/// of one connection: where that connection's stream begins, so the backfill of the
/// gap before it can stop there instead of fetching the live stream again.
///
/// A space subscribed with the connection is live from about when the others are, so
/// a group's latest mark bounds its unmarked quiet spaces too. A space subscribed
/// later (a new space, or one whose subscription was refused at first) is not: until
/// it has a mark of its own, a group holding it has no bound, so its history up to
/// its subscription is fetched whole.
#[derive(Debug, Default)]
pub struct LiveMarks {
    marks: Mutex<HashMap<String, i64>>,
    late: Mutex<std::collections::HashSet<String>>,
}

impl LiveMarks {
    /// Notes `time` for `space` unless it has a mark already; `true` when it is new.
    pub fn note(&self, space: &str, time: i64) -> bool {
        let mut marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        if marks.contains_key(space) {
            return false;
        }
        marks.insert(space.to_string(), time);
        true
    }

    /// Notes that `space` was subscribed after the connection's first subscriptions.
    pub fn note_late(&self, space: &str) {
        let mut late = self.late.lock().unwrap_or_else(|e| e.into_inner());
        late.insert(space.to_string());
    }

    /// Where the live stream of `spaces` began: the latest of their marks; `None`
    /// while none of them has had a live payload, or while one subscribed late has
    /// had none.
    pub fn bound(&self, spaces: &[String]) -> Option<i64> {
        let marks = self.marks.lock().unwrap_or_else(|e| e.into_inner());
        let late = self.late.lock().unwrap_or_else(|e| e.into_inner());
        if spaces
            .iter()
            .any(|s| late.contains(s) && !marks.contains_key(s))
        {
            return None;
        }
        spaces.iter().filter_map(|s| marks.get(s).copied()).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_space_subscribed_late_unbounds_its_group_until_it_has_a_mark() {
        let marks = LiveMarks::default();
        let group = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(marks.bound(&group(&["a", "quiet"])), None);
        assert!(marks.note("a", 1_000));
        assert!(!marks.note("a", 2_000));
        // A quiet space subscribed with the connection is bounded by the group.
        assert_eq!(marks.bound(&group(&["a", "quiet"])), Some(1_000));
        // A new space is not, until its own live stream begins.
        marks.note_late("new");
        assert_eq!(marks.bound(&group(&["a", "quiet", "new"])), None);
        assert!(marks.note("new", 5_000));
        assert_eq!(marks.bound(&group(&["a", "quiet", "new"])), Some(5_000));
    }
}
