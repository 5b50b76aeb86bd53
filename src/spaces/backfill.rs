//! Backfill: what changed while the socket was not listening, fetched over REST and
//! fed through the same writer as live events, so it is idempotent (a payload seen
//! before changes nothing; an older state never replaces a newer one). Each space
//! resumes from the latest `modified` time archived for it, minus a safety window;
//! a space seen for the first time is fetched from its beginning.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::rest::{RestClient, RestError, SPACES_PER_CALL};
use super::status::Status;
use crate::event::decode::{decode_json, Decoded};
use crate::event::time::now_millis;
use crate::store::read::latest_modified;
use crate::store::{compress, Archive, Item, Rejection, Source, StoreError, StoredEvent};

/// Why a backfill stopped.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// REST.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// Reading the resume points.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer is gone (shutting down).
    #[error("the writer stopped")]
    Closed,
}

/// Fetches and feeds backfill.
pub struct Backfill {
    /// The REST client.
    pub rest: Arc<RestClient>,
    /// The archive (for resume points).
    pub archive: Archive,
    /// The writer's channel.
    pub out: mpsc::Sender<Vec<Item>>,
    /// Subtracted from every resume point: covers clocks and events in flight.
    pub safety: Duration,
    /// Counters.
    pub status: Arc<Status>,
}

impl Backfill {
    /// The resume points now: the latest change archived per space. Taken when the
    /// socket stops listening, before anything newer is archived.
    pub async fn resume_points(&self) -> Result<HashMap<String, i64>, BackfillError> {
        Ok(latest_modified(&self.archive).await?)
    }

    /// Backfills `spaces` from `resume` (a space without a point: from its
    /// beginning). Returns the items fed.
    pub async fn run(
        &self,
        spaces: &[String],
        resume: &HashMap<String, i64>,
    ) -> Result<u64, BackfillError> {
        let safety = self.safety.as_millis() as i64;
        let mut ordered: Vec<(i64, &String)> = spaces
            .iter()
            .map(|s| (resume.get(s).map_or(0, |t| (t - safety).max(0)), s))
            .collect();
        ordered.sort();
        let mut fed = 0;
        for chunk in chunks(&ordered) {
            let after = chunk.iter().map(|(t, _)| *t).min().unwrap_or(0);
            let ids: Vec<String> = chunk.iter().map(|(_, s)| (*s).clone()).collect();
            fed += self.fetch(&ids, after).await?;
        }
        Ok(fed)
    }

    async fn fetch(&self, spaces: &[String], after: i64) -> Result<u64, BackfillError> {
        let mut pager = self.rest.messages_after(spaces, after);
        let mut fed = 0;
        while let Some(items) = pager.next_page().await? {
            let batch: Vec<Item> = items.iter().map(|item| to_item(item.get())).collect();
            fed += batch.len() as u64;
            Status::add(&self.status.backfill_items, batch.len() as u64);
            for item in &batch {
                if let Item::Event(e) = item {
                    self.status.count_event("backfill", &e.decoded.category);
                }
            }
            if !batch.is_empty() {
                self.out
                    .send(batch)
                    .await
                    .map_err(|_| BackfillError::Closed)?;
            }
        }
        Ok(fed)
    }
}

/// Spaces sorted by resume point, grouped for calls: at most [`SPACES_PER_CALL`] a
/// call, and only spaces whose resume points are within [`SHARED_WINDOW_MS`] of the
/// group's first share one (a call asks from the group's earliest point, so a quiet
/// space must not make an active one fetch its whole history again).
fn chunks<'a>(ordered: &'a [(i64, &'a String)]) -> Vec<&'a [(i64, &'a String)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=ordered.len() {
        let full = i - start == SPACES_PER_CALL;
        let apart = i < ordered.len() && ordered[i].0 - ordered[start].0 > SHARED_WINDOW_MS;
        if i == ordered.len() || full || apart {
            out.push(&ordered[start..i]);
            start = i;
        }
    }
    out
}

/// Resume points this close share a call.
const SHARED_WINDOW_MS: i64 = 3_600_000;

/// One REST item as an item for the writer.
fn to_item(text: &str) -> Item {
    let received_at = now_millis();
    match decode_json(text) {
        Ok(Decoded::Payload { raw, payload }) => Item::Event(Box::new(StoredEvent {
            received_at,
            source: Source::Backfill,
            raw: compress(raw.as_bytes()),
            decoded: *payload,
        })),
        Ok(Decoded::Ignored(why)) => rejected(text, why, received_at),
        Err(why) => rejected(text, why.to_string(), received_at),
    }
}

fn rejected(text: &str, reason: String, received_at: i64) -> Item {
    Item::Rejected(Rejection {
        received_at,
        source: Source::Backfill,
        source_name: "GET users/me/messages".into(),
        line: None,
        reason,
        raw_len: text.len() as u64,
        raw: compress(text.as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::chunks;

    #[test]
    fn groups_close_resume_points_only() {
        let ids: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        let mut ordered: Vec<(i64, &String)> = ids
            .iter()
            .enumerate()
            .map(|(i, s)| (i as i64 * 1_000, s))
            .collect();
        let sizes: Vec<usize> = chunks(&ordered).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![15, 15, 10]);
        ordered[39].0 = 10 * 3_600_000;
        let sizes: Vec<usize> = chunks(&ordered).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, vec![15, 15, 9, 1]);
        assert!(chunks(&[]).is_empty());
    }
}
