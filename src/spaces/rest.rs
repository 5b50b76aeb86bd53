//! The REST API, as far as the archiver needs it: every space the user can see and
//! the messages changed after a time (removed ones included, see [`super::keyset`]
//! for how those are paged), within Avaya's limits (600 requests per 5 minutes, 60
//! per minute per resource) shared by priority (backfill first, the sweep at most a
//! fifth), and backing off on HTTP 429 and server errors. The token goes in the
//! `Authorization` header only; `nextPageUrl` is followed only on the API's own
//! host, so the token never leaves it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::sleep;
use url::Url;

use super::budget::Budget;
use super::subscriber::backoff;
use super::tokens::Tokens;

/// Spaces per messages call (the API's limit).
pub const SPACES_PER_CALL: usize = 15;
/// Items per page asked for.
pub const PAGE_SIZE: usize = 50;

/// Who a request is for; the budget serves them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Listing spaces and filling gaps: what the archive is missing now.
    Backfill,
    /// Download URLs of attachments: wait while a backfill request waits.
    Files,
    /// The reconciliation sweep: waits while a backfill or files request waits, and
    /// never takes more than a fifth of any window.
    Sweep,
}
/// Attempts per request before giving up (429 and 5xx are retried).
const ATTEMPTS: usize = 8;

/// A REST failure. Messages name the path, never the token.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Transport failure or bad status after retries.
    #[error("GET {path}: {reason}")]
    Request {
        /// The path called.
        path: String,
        /// What happened.
        reason: String,
    },
    /// A status that retrying does not change (404, 403…).
    #[error("GET {path}: HTTP {status}")]
    Status {
        /// The path called.
        path: String,
        /// The HTTP status.
        status: u16,
    },
    /// The body is not what the API documents.
    #[error("GET {path}: unexpected response: {reason}")]
    Body {
        /// The path called.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

/// A space as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct SpaceInfo {
    /// Space id.
    pub id: String,
    /// Title, when given.
    pub title: Option<String>,
    /// The listing's item as sent (`Null` for a space known only by id).
    pub item: Value,
}

/// Request limits (Avaya's documented ones by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Requests per 5 minutes, all resources together.
    pub per_5_minutes: usize,
    /// Requests per minute to one resource.
    pub per_minute_per_resource: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_5_minutes: 600,
            per_minute_per_resource: 60,
        }
    }
}

/// The REST client.
pub struct RestClient {
    http: reqwest::Client,
    base: Url,
    tokens: Tokens,
    budget: Mutex<Budget>,
    /// Requests waiting for the budget, by priority: lower priorities wait while
    /// any higher one does.
    waiting: [AtomicUsize; 3],
    /// Requests sent, by priority (backfill, files, sweep).
    sent: [AtomicU64; 3],
}

impl RestClient {
    /// A client for the API at `base` (e.g. `https://spacesapis.avayacloud.com/api`).
    pub fn new(base: Url, tokens: Tokens, limits: Limits) -> Result<RestClient, RestError> {
        super::install_crypto();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| RestError::Request {
                path: base.path().into(),
                reason: e.to_string(),
            })?;
        Ok(RestClient {
            http,
            base,
            tokens,
            budget: Mutex::new(Budget::new(limits)),
            waiting: Default::default(),
            sent: Default::default(),
        })
    }

    /// Requests sent so far for `priority` (retries included).
    pub fn requests(&self, priority: Priority) -> u64 {
        self.sent[priority as usize].load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!(
            "{}/{}",
            url.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        url.set_path(&joined);
        url
    }

    /// Every space the user can see (all types and statuses, every page).
    pub async fn spaces(&self) -> Result<Vec<SpaceInfo>, RestError> {
        let mut url = self.url("users/me/spaces");
        url.query_pairs_mut()
            .append_pair("size", &PAGE_SIZE.to_string())
            .append_pair("topictype", "all")
            .append_pair("topicstatus", "all");
        let mut out = Vec::new();
        // Spaces are few and change rarely; one skipped by a listing that shifts
        // while it is paged is found by the next one (every --relist-interval).
        let mut next = Some(url);
        while let Some(url) = next.take() {
            let page = self.page(&url, Priority::Backfill).await?;
            next = page.next;
            for item in page.items {
                let value: Value = crate::event::surrogates::from_str_lenient(item.get())
                    .map_or(Value::Null, |(value, _)| value);
                if let Some(id) = value["_id"].as_str() {
                    out.push(SpaceInfo {
                        id: id.to_string(),
                        title: value["title"].as_str().map(str::to_string),
                        item: value.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The URL of the messages of `spaces` (at most [`SPACES_PER_CALL`]) modified
    /// after `after` (UTC ms), removed ones included, oldest change first.
    pub fn messages_url(&self, spaces: &[String], after: i64) -> Url {
        let mut url = self.url("users/me/messages");
        url.query_pairs_mut()
            .append_pair("spacelist", &spaces.join(","))
            .append_pair("after", &after.max(0).to_string())
            .append_pair("includedeleted", "true")
            .append_pair("size", &PAGE_SIZE.to_string());
        url
    }

    /// Signed download URLs for these attachment keys (`GET files/getdownloadurl`,
    /// the keys in `fileKeys` as a JSON array), as far as the answer gives them.
    pub async fn download_urls(
        &self,
        keys: &[&str],
    ) -> Result<std::collections::HashMap<String, String>, RestError> {
        let mut url = self.url("files/getdownloadurl");
        let list = serde_json::to_string(keys).unwrap_or_default();
        url.query_pairs_mut().append_pair("fileKeys", &list);
        let body = self.get(&url, Priority::Files).await?;
        let value: Value = serde_json::from_str(&body).map_err(|e| RestError::Body {
            path: url.path().into(),
            reason: e.to_string(),
        })?;
        Ok(super::file_urls::download_urls(&value, keys))
    }

    /// One page of a listing: its `data` items and its `nextPageUrl` (checked to
    /// stay on the API's host).
    pub async fn page(&self, url: &Url, priority: Priority) -> Result<Page, RestError> {
        let body = self.get(url, priority).await?;
        let page: PageBody = serde_json::from_str(&body).map_err(|e| RestError::Body {
            path: url.path().into(),
            reason: e.to_string(),
        })?;
        let next = match page.next_page_url.filter(|n| !n.is_empty()) {
            Some(next) => Some(self.next_url(url, &next)?),
            None => None,
        };
        Ok(Page {
            items: page.data.unwrap_or_default(),
            next,
        })
    }

    /// The next page: an absolute URL on the API's own origin (or a relative one).
    fn next_url(&self, current: &Url, next: &str) -> Result<Url, RestError> {
        let url = current.join(next).map_err(|e| RestError::Body {
            path: current.path().into(),
            reason: format!("nextPageUrl is not a URL: {e}"),
        })?;
        if url.origin() != self.base.origin() {
            return Err(RestError::Body {
                path: current.path().into(),
                reason: format!(
                    "nextPageUrl leaves the API host ({}); not followed",
                    url.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    /// One GET with the budget, retries on 429 (honouring `Retry-After`) and 5xx.
    async fn get(&self, url: &Url, priority: Priority) -> Result<String, RestError> {
        let path = url.path().to_string();
        let mut delays = backoff(Duration::from_millis(500), Duration::from_secs(60));
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            self.wait_budget(&path, priority).await;
            self.sent[priority as usize].fetch_add(1, Ordering::Relaxed);
            let sent = self
                .http
                .get(url.clone())
                .header(
                    reqwest::header::AUTHORIZATION,
                    self.tokens.current().authorization(),
                )
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await;
            let delay = delays.next().unwrap_or(Duration::from_secs(60));
            match sent {
                Ok(response) if response.status().is_success() => {
                    return response.text().await.map_err(|e| RestError::Request {
                        path: path.clone(),
                        reason: crate::redact::scrub(&e.without_url().to_string()),
                    });
                }
                Ok(response) if retryable(response.status()) => {
                    let wait = retry_after(&response).unwrap_or(delay);
                    last = format!("HTTP {}", response.status());
                    tracing::warn!(path, status = %response.status(), "retrying in {:.1} s", wait.as_secs_f64());
                    sleep(wait).await;
                }
                Ok(response) => {
                    return Err(RestError::Status {
                        path,
                        status: response.status().as_u16(),
                    })
                }
                Err(e) => {
                    last = crate::redact::scrub(&e.without_url().to_string());
                    tracing::warn!(
                        path,
                        "request failed: {last}; retrying in {:.1} s",
                        delay.as_secs_f64()
                    );
                    sleep(delay).await;
                }
            }
        }
        Err(RestError::Request {
            path,
            reason: format!("gave up after {ATTEMPTS} attempts: {last}"),
        })
    }

    async fn wait_budget(&self, resource: &str, priority: Priority) {
        let waiting = WaitingGuard::new(&self.waiting[priority as usize]);
        loop {
            let ahead = self.waiting[..priority as usize]
                .iter()
                .any(|w| w.load(Ordering::Relaxed) > 0);
            let wait = if ahead {
                // Higher priorities first: look again shortly.
                Duration::from_millis(250)
            } else {
                self.budget.lock().await.take(resource, priority)
            };
            if wait.is_zero() {
                drop(waiting);
                return;
            }
            tracing::debug!(
                resource,
                ?priority,
                "request budget spent: waiting {wait:?}"
            );
            sleep(wait).await;
        }
    }
}

fn retryable(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let seconds: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(600)))
}

/// Counts a request as waiting for as long as it lives.
struct WaitingGuard<'a>(&'a AtomicUsize);

impl<'a> WaitingGuard<'a> {
    fn new(count: &'a AtomicUsize) -> WaitingGuard<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        WaitingGuard(count)
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One page of a listing.
#[derive(Debug)]
pub struct Page {
    /// The `data` items, each one's JSON text.
    pub items: Vec<Box<RawValue>>,
    /// `nextPageUrl`, when the server says there is more.
    pub next: Option<Url>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageBody {
    data: Option<Vec<Box<RawValue>>>,
    next_page_url: Option<String>,
}

impl crate::files::fetch::UrlSource for RestClient {
    async fn download_urls(
        &self,
        keys: Vec<String>,
    ) -> Result<std::collections::HashMap<String, String>, String> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        RestClient::download_urls(self, &keys)
            .await
            .map_err(|e| e.to_string())
    }
}
