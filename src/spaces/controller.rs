//! The controller of `run`: turns the socket's signals into backfills (after every
//! connect, the gap since the connection was lost, up to where the new live stream
//! begins; a new space whole), re-lists the spaces on a schedule and after every
//! connect (subscribing to new ones, updating changed ones from the listing), and
//! prints the status line. Backfills run one at a time, in order, in a task of
//! their own.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, Instant};

use super::backfill::{Backfill, BackfillError};
use super::listing::listing_changes;
use super::rest::{RestClient, SpaceInfo};
use super::status::{LiveMarks, Status};
use super::subscriber::{backoff, Signal};
use crate::store::Item;

/// What the controller needs of `run`'s options.
#[derive(Debug, Clone)]
pub struct ControllerOptions {
    /// Only these spaces (id or title), when not empty.
    pub include: Vec<String>,
    /// Never these spaces (id or title).
    pub exclude: Vec<String>,
    /// How often the space list is fetched again.
    pub relist_every: Duration,
    /// How often the status line is printed.
    pub status_every: Duration,
}

/// Whether a listed space passes `--space` / `--exclude-space`.
pub fn wanted(space: &SpaceInfo, include: &[String], exclude: &[String]) -> bool {
    let named = |names: &[String]| {
        names
            .iter()
            .any(|n| *n == space.id || space.title.as_deref() == Some(n.as_str()))
    };
    (include.is_empty() || named(include)) && !named(exclude)
}

/// Backfills, re-lists, prints the status line.
pub struct Controller {
    /// The backfill (its REST client, archive and writer channel).
    pub backfill: Arc<Backfill>,
    /// The REST client.
    pub rest: Arc<RestClient>,
    /// Settings.
    pub options: ControllerOptions,
    /// Shared status.
    pub status: Arc<Status>,
    /// The spaces archived.
    pub spaces: BTreeSet<String>,
    /// New spaces for the socket task to subscribe to.
    pub added: mpsc::UnboundedSender<String>,
    /// The writer's channel (for the status line's backlog).
    pub channel: mpsc::Sender<Vec<Item>>,
}

/// One backfill to do.
enum Job {
    /// Every space, from these resume points, up to the marks of the connection
    /// made at that instant.
    Gap {
        resume: HashMap<String, i64>,
        live: Arc<LiveMarks>,
        connected_at: Instant,
    },
    /// One new space, whole.
    Whole(String),
}

impl Controller {
    /// Runs until shutdown. `listed` is the listing `run` started from.
    pub async fn run(
        mut self,
        listed: Vec<SpaceInfo>,
        mut signals: mpsc::UnboundedReceiver<Signal>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut relist = Instant::now() + self.options.relist_every;
        let mut status_at = Instant::now() + self.options.status_every;
        let mut last_archived = 0;
        // Where the next gap starts: what was archived before this run's first
        // connect, then what was archived when each connection was lost.
        let mut gap_start = self.resume_points().await;
        let (jobs, job_rx) = mpsc::unbounded_channel::<Job>();
        let worker = tokio::spawn(backfill_worker(
            self.backfill.clone(),
            self.spaces.clone(),
            job_rx,
            shutdown.clone(),
        ));
        tokio::select! {
            _ = self.apply_listing(&listed) => {}
            _ = shutdown.changed() => {}
        }
        while !*shutdown.borrow() {
            tokio::select! {
                _ = shutdown.changed() => break,
                Some(signal) = signals.recv() => match signal {
                    Signal::Lost => {
                        if gap_start.is_none() {
                            gap_start = self.resume_points().await;
                        }
                    }
                    Signal::Connected(live) => {
                        let connected_at = Instant::now();
                        // A space joined or changed while disconnected was announced
                        // to nobody.
                        tokio::select! {
                            _ = self.relist(&jobs) => {}
                            _ = shutdown.changed() => break,
                        }
                        let resume = match gap_start.take() {
                            Some(resume) => resume,
                            None => self.resume_points().await.unwrap_or_default(),
                        };
                        let _ = jobs.send(Job::Gap { resume, live, connected_at });
                    }
                    Signal::NewSpace(space) => {
                        let info = SpaceInfo { id: space, title: None, item: serde_json::Value::Null };
                        self.add_space(info, &jobs);
                    }
                },
                _ = tokio::time::sleep_until(relist) => {
                    relist = Instant::now() + self.options.relist_every;
                    tokio::select! {
                        _ = self.relist(&jobs) => {}
                        _ = shutdown.changed() => break,
                    }
                }
                _ = tokio::time::sleep_until(status_at) => {
                    status_at = Instant::now() + self.options.status_every;
                    last_archived = self.print_status(last_archived);
                }
            }
        }
        drop(jobs);
        let _ = worker.await;
    }

    /// The resume points, or `None` (logged) when SQLite cannot say.
    async fn resume_points(&self) -> Option<HashMap<String, i64>> {
        match self.backfill.resume_points().await {
            Ok(points) => Some(points),
            Err(e) => {
                tracing::warn!("cannot read the backfill resume points: {e}");
                None
            }
        }
    }

    async fn relist(&mut self, jobs: &mpsc::UnboundedSender<Job>) {
        match self.rest.spaces().await {
            Ok(listed) => {
                for info in &listed {
                    self.add_space(info.clone(), jobs);
                }
                self.apply_listing(&listed).await;
            }
            Err(e) => tracing::warn!("cannot list the spaces again: {e}"),
        }
    }

    /// Updates the archived spaces that the listing shows changed.
    async fn apply_listing(&self, listed: &[SpaceInfo]) {
        let ours: Vec<SpaceInfo> = listed
            .iter()
            .filter(|s| self.spaces.contains(&s.id))
            .cloned()
            .collect();
        match listing_changes(&self.backfill.archive, &ours).await {
            Ok(items) if items.is_empty() => {}
            Ok(items) => {
                let _ = self.backfill.feed(items).await;
            }
            Err(e) => tracing::warn!("cannot compare the listed spaces with the archive: {e}"),
        }
    }

    fn add_space(&mut self, info: SpaceInfo, jobs: &mpsc::UnboundedSender<Job>) {
        if self.spaces.contains(&info.id)
            || !wanted(&info, &self.options.include, &self.options.exclude)
        {
            return;
        }
        tracing::info!(
            space = info.id,
            "new space: subscribing and backfilling it from its beginning"
        );
        self.spaces.insert(info.id.clone());
        let _ = self.added.send(info.id.clone());
        let _ = jobs.send(Job::Whole(info.id));
    }

    fn print_status(&self, last_archived: u64) -> u64 {
        let s = &self.status;
        let counts = s.counts();
        let archived = Status::get(&s.archived);
        let rate = (archived - last_archived) as f64 / self.options.status_every.as_secs_f64();
        let chunks = self.channel.max_capacity() - self.channel.capacity();
        eprintln!(
            "status: {} | spaces {} subscribed, {} pending, {} failed | {:.1} events/s | backlog {} chunks + {} queued | archived {}, duplicates {}, rejected {}, reconnects {}",
            if s.connected() { "connected" } else { "disconnected" },
            counts.subscribed,
            counts.pending,
            counts.failed,
            rate,
            chunks,
            Status::get(&s.socket_backlog),
            archived,
            Status::get(&s.duplicates),
            Status::get(&s.rejected),
            Status::get(&s.connects).saturating_sub(1),
        );
        for (space, error) in s.failed() {
            eprintln!("status: subscription to {space} refused ({error}); retrying");
        }
        archived
    }
}

/// How long new spaces gather before their backfill starts: spaces announced close
/// together share calls (15 a call) instead of spending a request each.
const NEW_SPACES_GATHER: Duration = Duration::from_secs(5);

/// Runs the backfills one at a time, in order. Jobs queued together are merged: new
/// spaces join the archived set and share their calls, and a gap's backfill covers
/// the new spaces queued with it (they have no resume point: from their beginning).
async fn backfill_worker(
    backfill: Arc<Backfill>,
    mut spaces: BTreeSet<String>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            job = jobs.recv() => match job { Some(job) => job, None => return },
            _ = shutdown.changed() => return,
        };
        let mut queued = vec![first];
        if matches!(queued[0], Job::Whole(_)) {
            // New spaces gather a moment, but a gap to fill does not wait for them.
            let deadline = Instant::now() + NEW_SPACES_GATHER;
            loop {
                tokio::select! {
                    job = jobs.recv() => match job {
                        Some(job @ Job::Gap { .. }) => {
                            queued.push(job);
                            break;
                        }
                        Some(job) => queued.push(job),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = shutdown.changed() => return,
                }
            }
        }
        while let Ok(job) = jobs.try_recv() {
            queued.push(job);
        }
        let mut new_spaces = Vec::new();
        let mut gaps = Vec::new();
        for job in queued {
            match job {
                Job::Whole(space) => new_spaces.push(space),
                gap => gaps.push(gap),
            }
        }
        spaces.extend(new_spaces.iter().cloned());
        if gaps.is_empty() {
            gaps.push(Job::Whole(new_spaces.join(",")));
        }
        for job in &gaps {
            let targets: Vec<String> = match job {
                Job::Gap { .. } => spaces.iter().cloned().collect(),
                Job::Whole(_) => new_spaces.clone(),
            };
            if !run_job(&backfill, job, &targets, &mut shutdown).await {
                return;
            }
        }
    }
}

/// Runs one backfill until it succeeds (retrying with back-off); `false` at shutdown.
async fn run_job(
    backfill: &Backfill,
    job: &Job,
    targets: &[String],
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut delays = backoff(Duration::from_secs(5), Duration::from_secs(300));
    loop {
        let started = Instant::now();
        let run = async {
            match job {
                Job::Gap { resume, live, .. } => backfill.run(targets, resume, Some(live)).await,
                Job::Whole(_) => backfill.run(targets, &HashMap::new(), None).await,
            }
        };
        let result = tokio::select! {
            result = run => result,
            _ = shutdown.changed() => return false,
        };
        let delay = match result {
            Ok(report) => {
                let since_connect = match job {
                    Job::Gap { connected_at, .. } => connected_at.elapsed().as_secs_f64(),
                    Job::Whole(_) => started.elapsed().as_secs_f64(),
                };
                tracing::info!(
                    items = report.items,
                    requests = report.requests,
                    groups_stopped_at_live_stream = report.bounded,
                    seconds = started.elapsed().as_secs_f64(),
                    seconds_since_reconnect = since_connect,
                    new_spaces = if matches!(job, Job::Whole(_)) {
                        targets.len()
                    } else {
                        0
                    },
                    "backfill done"
                );
                return true;
            }
            Err(BackfillError::Closed) => return false,
            Err(e) => {
                let delay = delays.next().unwrap_or(Duration::from_secs(300));
                tracing::warn!(
                    "backfill failed: {e}; retrying in {:.0} s",
                    delay.as_secs_f64()
                );
                delay
            }
        };
        tokio::select! {
            _ = sleep(delay) => {}
            _ = shutdown.changed() => return false,
        }
    }
}
