//! Backfill: what changed while the socket was not listening, fetched over REST and
//! fed through the same writer as live events, so it is idempotent (a payload seen
//! before changes nothing; an older state never replaces a newer one). Each space
//! resumes from the latest `modified` time archived for it, minus a safety window;
//! a space seen for the first time is fetched from its beginning. Pages are read by
//! keyset ([`super::keyset`]), and a gap's backfill stops where the live stream of
//! its spaces began ([`LiveMarks`]) plus [`GAP_MARGIN_MS`], instead of fetching the
//! live stream again.

use crate::chain::sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::keyset::KeysetPager;
use super::rest::{Priority, RestClient, RestError, SPACES_PER_CALL};
use super::status::{LiveMarks, Status};
use crate::event::decode::{decode_json, Decoded};
use crate::event::time::now_millis;
use crate::store::read::latest_modified;
use crate::store::{compress, Archive, Item, Rejection, Source, StoreError, StoredEvent};

/// How far past the first live payload's `modified` a gap's backfill still reads.
/// Subscriptions are all sent at once after a connect, but each space's is answered
/// on its own, and the server's nodes stamp `modified` with clocks that differ by a
/// little: a change made just after the first live payload of one space may have
/// missed a subscription answered a moment later. Five seconds covers both many
/// times over, and costs at most the changes of five seconds (a page at most, at
/// a busy organisation's rate); whatever still slips through is found by the sweep.
pub const GAP_MARGIN_MS: i64 = 5_000;

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

/// What a backfill did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Items fetched and fed to the writer.
    pub items: u64,
    /// REST requests made.
    pub requests: u64,
    /// Space groups that stopped at the live stream rather than at the listing's end.
    pub bounded: u64,
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
    /// beginning), each group up to where `live` says its live stream began (to the
    /// listing's end without marks).
    pub async fn run(
        &self,
        spaces: &[String],
        resume: &HashMap<String, i64>,
        live: Option<&LiveMarks>,
    ) -> Result<BackfillReport, BackfillError> {
        let safety = self.safety.as_millis() as i64;
        let mut ordered: Vec<(i64, &String)> = spaces
            .iter()
            .map(|s| (resume.get(s).map_or(0, |t| (t - safety).max(0)), s))
            .collect();
        ordered.sort();
        let mut report = BackfillReport::default();
        for chunk in chunks(&ordered) {
            let after = chunk.iter().map(|(t, _)| *t).min().unwrap_or(0);
            let ids: Vec<String> = chunk.iter().map(|(_, s)| (*s).clone()).collect();
            self.fetch(ids, after, live, &mut report).await?;
        }
        Ok(report)
    }

    async fn fetch(
        &self,
        spaces: Vec<String>,
        after: i64,
        live: Option<&LiveMarks>,
        report: &mut BackfillReport,
    ) -> Result<(), BackfillError> {
        let mut pager = KeysetPager::new(&self.rest, spaces.clone(), after, Priority::Backfill);
        let result = async {
            while let Some(page) = pager.next_page().await? {
                let batch: Vec<Item> = page
                    .items
                    .iter()
                    .map(|(item, _)| to_item(item.get(), Source::Backfill))
                    .collect();
                report.items += self.feed(batch).await?;
                // Marks are read at every page: the live stream may begin meanwhile.
                let bound = live.and_then(|l| l.bound(&spaces));
                if let (Some(bound), Some(newest)) = (bound, pager.newest()) {
                    if newest >= bound.saturating_add(GAP_MARGIN_MS) {
                        report.bounded += 1;
                        break;
                    }
                }
            }
            Ok(())
        }
        .await;
        report.requests += pager.requests();
        result
    }

    /// Hands fetched items to the writer, counted.
    pub async fn feed(&self, batch: Vec<Item>) -> Result<u64, BackfillError> {
        let n = batch.len() as u64;
        Status::add(&self.status.backfill_items, n);
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
        Ok(n)
    }
}

/// Spaces sorted by resume point, grouped for calls: at most [`SPACES_PER_CALL`] a
/// call, and only spaces whose resume points are within [`SHARED_WINDOW_MS`] of the
/// group's first share one (a call asks from the group's earliest point, so a quiet
/// space must not make an active one fetch its whole history again).
pub fn chunks<'a>(ordered: &'a [(i64, &'a String)]) -> Vec<&'a [(i64, &'a String)]> {
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

/// One REST item as an item for the writer, from `source`.
pub fn to_item(text: &str, source: Source) -> Item {
    let received_at = now_millis();
    match decode_json(text) {
        Ok(Decoded::Payload { raw, payload }) => Item::Event(Box::new(StoredEvent {
            received_at,
            source,
            raw: compress(raw.as_bytes()),
            sha256: sha256(raw.as_bytes()),
            decoded: *payload,
        })),
        Ok(Decoded::Ignored(why)) => rejected(text, why, received_at, source),
        Err(why) => rejected(text, why.to_string(), received_at, source),
    }
}

fn rejected(text: &str, reason: String, received_at: i64, source: Source) -> Item {
    Item::Rejected(Rejection {
        received_at,
        source,
        source_name: "GET users/me/messages".into(),
        line: None,
        reason,
        raw_len: text.len() as u64,
        raw: compress(text.as_bytes()),
        sha256: sha256(text.as_bytes()),
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
