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
    /// Backfills `spaces`: from their resume points, or (with `from_start`) whole.
    /// Returns the items fed.
    pub async fn run(&self, spaces: &[String], from_start: bool) -> Result<u64, BackfillError> {
        let resume = if from_start {
            HashMap::new()
        } else {
            latest_modified(&self.archive).await?
        };
        let safety = self.safety.as_millis() as i64;
        let mut ordered: Vec<(i64, &String)> = spaces
            .iter()
            .map(|s| (resume.get(s).map_or(0, |t| (t - safety).max(0)), s))
            .collect();
        // Spaces with close resume points share calls.
        ordered.sort();
        let mut fed = 0;
        for chunk in ordered.chunks(SPACES_PER_CALL) {
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
