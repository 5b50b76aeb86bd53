//! The reconciliation sweep (`run --sweep-interval`, `--sweep-window`): every
//! interval, per space, what the REST API lists as changed within the window is
//! compared with the archive, and whatever is missing or newer than what is stored
//! is archived (source `sweep`). It finds what the socket silently never delivered,
//! which no reconnect announces. Spaces go round-robin (a pass cut short by the
//! next interval resumes where it stopped), grouped into calls as the backfill
//! groups them, and its requests take at most a fifth of the REST budget, after
//! the backfill's ([`super::rest::Priority::Sweep`]).
//!
//! The window ends at the space's own clock: it covers `--sweep-window` before the
//! latest change archived for the space (or before now, when that is later), so a
//! quiet space costs one request a pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::backfill::{chunks, to_item, Backfill, BackfillError};
use super::keyset::{ItemKey, KeysetPager};
use super::rest::Priority;
use super::status::Status;
use crate::event::time::now_millis;
use crate::store::read::latest_modified;
use crate::store::reconcile::message_states;
use crate::store::{Item, Source};

/// How long a message found missing is given to arrive live (it may be in the
/// writer's queue) before the sweep archives it: a message the socket delivered
/// moments ago is not one it never delivered.
const SETTLE: Duration = Duration::from_secs(2);

/// When and how far back the sweep looks.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// Between passes.
    pub interval: Duration,
    /// How far back each space is compared.
    pub window: Duration,
}

/// What one pass did.
#[derive(Debug, Default)]
struct Pass {
    spaces: usize,
    requests: u64,
    /// Messages archived by the sweep, per space.
    recovered: BTreeMap<String, u64>,
    /// Whether the pass ended before every group was swept.
    cut: bool,
}

/// The sweep task.
pub struct Sweep {
    /// Feeds the writer and reads the archive (the backfill's).
    pub backfill: Arc<Backfill>,
    /// The schedule.
    pub options: SweepOptions,
}

impl Sweep {
    /// Sweeps every interval until shutdown.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut next_group = 0usize;
        loop {
            tokio::select! {
                _ = sleep(self.options.interval) => {}
                _ = shutdown.changed() => return,
            }
            let started = Instant::now();
            let deadline = started + self.options.interval;
            let pass = tokio::select! {
                pass = self.pass(&mut next_group, deadline) => pass,
                _ = shutdown.changed() => return,
            };
            match pass {
                Ok(pass) => self.report(&pass, started.elapsed()),
                Err(BackfillError::Closed) => return,
                Err(e) => tracing::warn!("sweep failed: {e}; trying again at the next interval"),
            }
        }
    }

    /// One pass over the spaces from group `next_group` on, until `deadline`.
    async fn pass(&self, next_group: &mut usize, deadline: Instant) -> Result<Pass, BackfillError> {
        let latest = latest_modified(&self.backfill.archive).await?;
        let spaces = self.backfill.status.space_ids();
        let window = self.options.window.as_millis() as i64;
        let now = now_millis();
        let mut anchored: Vec<(i64, &String)> = spaces
            .iter()
            .map(|s| {
                let end = latest.get(s).map_or(now, |t| (*t).min(now));
                ((end - window).max(0), s)
            })
            .collect();
        anchored.sort();
        let groups = chunks(&anchored);
        let mut pass = Pass {
            spaces: spaces.len(),
            ..Pass::default()
        };
        for step in 0..groups.len() {
            if Instant::now() >= deadline {
                pass.cut = true;
                break;
            }
            let index = (*next_group + step) % groups.len();
            let group = groups[index];
            let after = group.iter().map(|(t, _)| *t).min().unwrap_or(0);
            let ids: Vec<String> = group.iter().map(|(_, s)| (*s).clone()).collect();
            self.sweep_group(ids, after, &mut pass).await?;
            *next_group = index + 1;
        }
        Ok(pass)
    }

    async fn sweep_group(
        &self,
        spaces: Vec<String>,
        after: i64,
        pass: &mut Pass,
    ) -> Result<(), BackfillError> {
        let mut pager = KeysetPager::new(&self.backfill.rest, spaces, after, Priority::Sweep);
        let result = async {
            while let Some(page) = pager.next_page().await? {
                let missing = self.not_archived(page.items).await?;
                if missing.is_empty() {
                    continue;
                }
                sleep(SETTLE).await;
                let missing = self.not_archived(missing).await?;
                let mut batch = Vec::with_capacity(missing.len());
                for (item, _) in &missing {
                    let item = to_item(item.get(), Source::Sweep);
                    if let Item::Event(e) = &item {
                        let space = e.decoded.space_id.clone().unwrap_or_default();
                        *pass.recovered.entry(space).or_default() += 1;
                    }
                    batch.push(item);
                }
                Status::add(&self.backfill.status.sweep_recovered, batch.len() as u64);
                self.backfill.feed(batch).await?;
            }
            Ok(())
        }
        .await;
        pass.requests += pager.requests();
        result
    }

    /// The items the archive does not hold as listed: a message it lacks, one
    /// changed later than what it stores, or a removal it has not seen.
    async fn not_archived(
        &self,
        items: Vec<(Box<RawValue>, ItemKey)>,
    ) -> Result<Vec<(Box<RawValue>, ItemKey)>, BackfillError> {
        let ids: Vec<&str> = items.iter().filter_map(|(_, k)| k.id.as_deref()).collect();
        let stored = message_states(&self.backfill.archive, &ids).await?;
        Ok(items
            .into_iter()
            .filter(|(_, key)| {
                let Some(id) = &key.id else { return false };
                match stored.get(id) {
                    None => true,
                    Some(state) if key.deleted => !state.removed,
                    Some(state) => !state.removed && key.time > state.time,
                }
            })
            .collect())
    }

    fn report(&self, pass: &Pass, took: Duration) {
        let recovered: u64 = pass.recovered.values().sum();
        tracing::info!(
            spaces = pass.spaces,
            requests = pass.requests,
            recovered,
            seconds = took.as_secs_f64(),
            cut_short = pass.cut,
            "sweep pass done"
        );
        if recovered > 0 {
            let spaces: Vec<String> = pass
                .recovered
                .iter()
                .map(|(space, n)| format!("{space} ({n})"))
                .collect();
            tracing::warn!(
                "the sweep archived {recovered} messages the socket never delivered, in {}",
                spaces.join(", ")
            );
        }
    }
}
