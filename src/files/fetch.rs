//! The fetcher: works through the `files` queue beside archiving. It asks for the
//! download URLs of a batch of files in one REST call (through [`UrlSource`], whose
//! requests share the REST budget), downloads at most [`CONCURRENT`] at a time
//! without any credential, renews a URL that expired, falls back to the attachment's
//! own `path` / `previewUrl` where no download URL can be had, extracts the text of
//! text-like files off the async threads, and sends each outcome to the one writer,
//! which records it (and re-indexes the messages whose files gained text).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use url::Url;

use super::download::{DownloadError, Downloader};
use crate::event::time::now_millis;
use crate::store::files::{due, FileOutcome, FileStatus, FileText, QueuedFile};
use crate::store::{Archive, Item};

/// Downloads at once.
pub const CONCURRENT: usize = 4;
/// Files handed out at most (downloading, or waiting for one of the
/// [`CONCURRENT`] downloads).
const GROUP: usize = 16;
/// URLs are asked for once this many files can be handed out (or fewer are due): a
/// call for several keys spends one request of the REST budget (60 a minute).
const BATCH: usize = 8;
/// Times a download is retried at once after a failure that may pass, and a URL
/// renewed after it expired, before the attempt is recorded as failed.
const RETRIES: u32 = 2;
/// Longest wait before a failed file is tried again.
const MAX_BACKOFF_MS: i64 = 6 * 3_600_000;
/// How often the queue is looked at when there is nothing to do.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Where signed download URLs come from (the REST API; a test's stand-in).
pub trait UrlSource: Send + Sync + 'static {
    /// The download URL of each key, as far as the source gives them.
    fn download_urls(
        &self,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<HashMap<String, String>, String>> + Send;
}

/// The fetcher.
pub struct Fetcher<S> {
    /// The archive whose queue is read.
    pub archive: Archive,
    /// Download URLs.
    pub urls: Arc<S>,
    /// Downloads into the store.
    pub downloader: Downloader,
    /// The writer's channel.
    pub out: mpsc::Sender<Vec<Item>>,
}

impl<S: UrlSource> Fetcher<S> {
    /// Fetches as files come due, until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(CONCURRENT));
        // Files handed out, with their attempts then: one is not handed out again
        // until its outcome is committed (its attempts have grown).
        let mut out: HashMap<String, i64> = HashMap::new();
        let mut tasks = JoinSet::new();
        while !*shutdown.borrow() {
            while tasks.try_join_next().is_some() {}
            if GROUP - tasks.len().min(GROUP) < BATCH && !tasks.is_empty() {
                // Too few free places to ask a batch of URLs: go on when one finishes.
                tokio::select! {
                    _ = tasks.join_next() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let queue = match this.due_now(&mut out).await {
                Ok(queue) => queue,
                Err(e) => {
                    tracing::warn!("cannot read the files queue: {e}");
                    Vec::new()
                }
            };
            if queue.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                    _ = tasks.join_next(), if !tasks.is_empty() => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let room = GROUP - tasks.len();
            let group: Vec<QueuedFile> = queue.into_iter().take(room).collect();
            for file in &group {
                out.insert(file.file_id.clone(), file.attempts);
            }
            // Asking for URLs waits for the REST budget: shutdown does not.
            tokio::select! {
                _ = this.clone().dispatch(group, &permits, &mut tasks) => {}
                _ = shutdown.changed() => {}
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// Fetches every file pending or failed now, once each; `progress` is called
    /// with each outcome. Returns the outcomes by status.
    pub async fn fetch_all(
        self,
        progress: impl Fn(&FileOutcome) + Send + Sync + 'static,
    ) -> Result<HashMap<FileStatus, u64>, crate::store::StoreError> {
        let queue = due(&self.archive, i64::MAX, i64::MAX).await?;
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(CONCURRENT));
        let progress = Arc::new(progress);
        let mut counts: HashMap<FileStatus, u64> = HashMap::new();
        for group in queue.chunks(BATCH) {
            let mut tasks = JoinSet::new();
            this.clone()
                .dispatch(group.to_vec(), &permits, &mut tasks)
                .await;
            while let Some(done) = tasks.join_next().await {
                if let Ok(Some(outcome)) = done {
                    progress(&outcome);
                    *counts.entry(outcome.status).or_default() += 1;
                }
            }
        }
        Ok(counts)
    }

    /// Files due now that are not handed out already.
    async fn due_now(
        &self,
        out: &mut HashMap<String, i64>,
    ) -> Result<Vec<QueuedFile>, crate::store::StoreError> {
        if !out.is_empty() {
            let ids: Vec<&str> = out.keys().map(String::as_str).collect();
            let now = crate::store::files::attempts(&self.archive, &ids).await?;
            for (id, attempts) in now {
                if out.get(&id).is_some_and(|before| attempts > *before) {
                    out.remove(&id);
                }
            }
        }
        let queue = due(&self.archive, now_millis(), (GROUP * 4) as i64).await?;
        Ok(queue
            .into_iter()
            .filter(|f| !out.contains_key(&f.file_id))
            .collect())
    }

    /// Asks for the group's URLs in one call and starts a download task per file.
    async fn dispatch(
        self: Arc<Self>,
        group: Vec<QueuedFile>,
        permits: &Arc<Semaphore>,
        tasks: &mut JoinSet<Option<FileOutcome>>,
    ) {
        let keys: Vec<String> = group
            .iter()
            .filter(|f| !self.too_large(f))
            .map(|f| f.file_id.clone())
            .collect();
        let mut urls = if keys.is_empty() {
            HashMap::new()
        } else {
            match self.urls.download_urls(keys).await {
                Ok(urls) => urls,
                Err(e) => {
                    tracing::warn!("cannot get download URLs: {e}");
                    HashMap::new()
                }
            }
        };
        for file in group {
            let signed = urls.remove(&file.file_id);
            let this = self.clone();
            let permits = permits.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.ok()?;
                let outcome = this.fetch_one(&file, signed).await;
                let sent = this.out.send(vec![Item::File(Box::new(outcome.clone()))]);
                sent.await.ok()?;
                Some(outcome)
            });
        }
    }

    fn too_large(&self, file: &QueuedFile) -> bool {
        file.declared_size
            .is_some_and(|s| s > 0 && s as u64 > self.downloader.max_size)
    }

    /// One attempt at one file: the signed URL (renewed when it expired), else the
    /// attachment's own URLs.
    async fn fetch_one(&self, file: &QueuedFile, signed: Option<String>) -> FileOutcome {
        let mut outcome = FileOutcome {
            file_id: file.file_id.clone(),
            status: FileStatus::Failed,
            sha256: None,
            size: None,
            mime: None,
            error: None,
            next_attempt: 0,
            at: 0,
            text: None,
        };
        if self.too_large(file) {
            outcome.status = FileStatus::TooLarge;
            outcome.size = file.declared_size;
            outcome.error = Some(format!(
                "{} bytes (as the message states), more than --max-file-size {}",
                file.declared_size.unwrap_or(0),
                self.downloader.max_size
            ));
            outcome.at = now_millis();
            return outcome;
        }
        let result = self.try_urls(file, signed).await;
        outcome.at = now_millis();
        match result {
            Ok(stored) => self.stored(file, stored, &mut outcome).await,
            Err(e) => {
                outcome.status = match &e {
                    DownloadError::TooLarge { size, .. } => {
                        outcome.size = Some(*size as i64);
                        FileStatus::TooLarge
                    }
                    DownloadError::Absent(_) => FileStatus::Gone,
                    _ => FileStatus::Failed,
                };
                if outcome.status == FileStatus::Failed {
                    outcome.next_attempt = outcome.at + backoff_ms(file.attempts);
                }
                tracing::debug!(file = %file.file_id, "file not stored: {e}");
                outcome.error = Some(e.to_string());
            }
        }
        outcome
    }

    /// Tries the signed URL, then each fallback URL; the first that stores wins.
    async fn try_urls(
        &self,
        file: &QueuedFile,
        signed: Option<String>,
    ) -> Result<(super::content::Stored, Option<String>), DownloadError> {
        let mut last =
            DownloadError::Transient("no download URL, and the message names no other URL".into());
        if let Some(url) = signed {
            match self.signed(file, url).await {
                Ok(stored) => return Ok(stored),
                Err(e) => last = e,
            }
        }
        for fallback in &file.urls {
            let Ok(url) = Url::parse(fallback) else {
                continue;
            };
            if !matches!(url.scheme(), "http" | "https") {
                continue;
            }
            match self.with_retries(&url).await {
                Ok(stored) => return Ok(stored),
                // What the signed URL said outranks a fallback's 404.
                Err(e @ DownloadError::TooLarge { .. }) => return Err(e),
                Err(e) if matches!(last, DownloadError::Transient(_)) => last = e,
                Err(_) => {}
            }
        }
        Err(last)
    }

    /// The signed URL, renewed up to [`RETRIES`] times when it expired.
    async fn signed(
        &self,
        file: &QueuedFile,
        mut url: String,
    ) -> Result<(super::content::Stored, Option<String>), DownloadError> {
        let mut renewed = 0;
        loop {
            let parsed = Url::parse(&url)
                .map_err(|e| DownloadError::Transient(format!("download URL is not a URL: {e}")))?;
            match self.with_retries(&parsed).await {
                Err(DownloadError::Expired(code)) if renewed < RETRIES => {
                    renewed += 1;
                    tracing::debug!(file = %file.file_id, "download URL expired (HTTP {code}); asking for a new one");
                    let fresh = self
                        .urls
                        .download_urls(vec![file.file_id.clone()])
                        .await
                        .map_err(DownloadError::Transient)?;
                    url = fresh.get(&file.file_id).cloned().ok_or_else(|| {
                        DownloadError::Transient("no new download URL after one expired".into())
                    })?;
                }
                other => return other,
            }
        }
    }

    /// One URL, retried at once (1 s, then 2 s) after a failure that may pass.
    async fn with_retries(
        &self,
        url: &Url,
    ) -> Result<(super::content::Stored, Option<String>), DownloadError> {
        let mut delay = Duration::from_secs(1);
        let mut tries = 0;
        loop {
            match self.downloader.fetch(url).await {
                Err(DownloadError::Transient(e)) if tries < RETRIES => {
                    tracing::debug!("download failed ({e}); retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// Fills in a stored file's outcome, with its text when it is text-like.
    async fn stored(
        &self,
        file: &QueuedFile,
        (stored, mime): (super::content::Stored, Option<String>),
        outcome: &mut FileOutcome,
    ) {
        outcome.status = FileStatus::Stored;
        outcome.size = Some(stored.size as i64);
        outcome.mime = mime.clone();
        outcome.sha256 = Some(stored.sha256.clone());
        if file.thumbnail {
            return;
        }
        let mime = file.mime.clone().or(mime);
        let name = file.name.clone();
        let path = stored.path.clone();
        let text = tokio::task::spawn_blocking(move || {
            super::extract::extract_text(
                &path,
                mime.as_deref(),
                name.as_deref(),
                super::extract::TEXT_CAP,
            )
        })
        .await;
        outcome.text = match text {
            Ok(Ok(None)) => None,
            Ok(Ok(Some(text))) => Some(FileText {
                truncated: text.len() >= super::extract::TEXT_CAP,
                text: Some(text),
                error: None,
            }),
            Ok(Err(e)) => Some(FileText {
                text: None,
                truncated: false,
                error: Some(e.to_string()),
            }),
            Err(e) => Some(FileText {
                text: None,
                truncated: false,
                error: Some(format!("extraction stopped: {e}")),
            }),
        };
    }
}

/// Wait before the next try of a file that failed `attempts` times before this one:
/// 2 s, 4 s, 8 s… up to six hours.
fn backoff_ms(attempts: i64) -> i64 {
    let exponent = attempts.clamp(0, 20) as u32 + 1;
    (1_000i64 << exponent).min(MAX_BACKOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_six_hours() {
        assert_eq!(backoff_ms(0), 2_000);
        assert_eq!(backoff_ms(1), 4_000);
        assert_eq!(backoff_ms(3), 16_000);
        assert_eq!(backoff_ms(40), MAX_BACKOFF_MS);
    }
}
