//! The REST API, as far as the archiver needs it: every space the user can see and
//! the messages changed after a time (removed ones included), page by page, within
//! Avaya's limits (600 requests per 5 minutes, 60 per minute per resource) and
//! backing off on HTTP 429 and server errors. The token goes in the
//! `Authorization` header only; `nextPageUrl` is followed only on the API's own
//! host, so the token never leaves it.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::{sleep, Instant};
use url::Url;

use super::subscriber::backoff;
use super::tokens::Tokens;

/// Spaces per messages call (the API's limit).
pub const SPACES_PER_CALL: usize = 15;
/// Items per page asked for.
const PAGE_SIZE: &str = "50";
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceInfo {
    /// Space id.
    pub id: String,
    /// Title, when given.
    pub title: Option<String>,
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

/// Sliding-window request budget: overall and per resource.
#[derive(Debug, Default)]
struct Budget {
    limits: Limits,
    all: VecDeque<Instant>,
    per_resource: HashMap<String, VecDeque<Instant>>,
}

impl Budget {
    /// How long to wait before a request to `resource` fits; records it when zero.
    fn take(&mut self, resource: &str) -> Duration {
        let now = Instant::now();
        let all = (self.limits.per_5_minutes.max(1), Duration::from_secs(300));
        let one = (
            self.limits.per_minute_per_resource.max(1),
            Duration::from_secs(60),
        );
        let wait_all = window_wait(&mut self.all, all, now);
        let queue = self.per_resource.entry(resource.to_string()).or_default();
        let wait_one = window_wait(queue, one, now);
        let wait = wait_all.max(wait_one);
        if wait.is_zero() {
            self.all.push_back(now);
            queue.push_back(now);
        }
        wait
    }
}

fn window_wait(
    times: &mut VecDeque<Instant>,
    (limit, span): (usize, Duration),
    now: Instant,
) -> Duration {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= span)
    {
        times.pop_front();
    }
    if times.len() < limit {
        return Duration::ZERO;
    }
    times
        .front()
        .map_or(Duration::ZERO, |t| span - now.duration_since(*t))
}

/// The REST client.
pub struct RestClient {
    http: reqwest::Client,
    base: Url,
    tokens: Tokens,
    budget: Mutex<Budget>,
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
            budget: Mutex::new(Budget {
                limits,
                ..Budget::default()
            }),
        })
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
            .append_pair("size", PAGE_SIZE)
            .append_pair("topictype", "all")
            .append_pair("topicstatus", "all");
        let mut out = Vec::new();
        let mut pager = self.pager(url);
        while let Some(items) = pager.next_page().await? {
            for item in items {
                let value: Value = crate::event::surrogates::from_str_lenient(item.get())
                    .map_or(Value::Null, |(value, _)| value);
                if let Some(id) = value["_id"].as_str() {
                    out.push(SpaceInfo {
                        id: id.to_string(),
                        title: value["title"].as_str().map(str::to_string),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The pages of messages of `spaces` (at most [`SPACES_PER_CALL`]) modified
    /// after `after` (UTC ms), removed ones included.
    pub fn messages_after(&self, spaces: &[String], after: i64) -> Pager<'_> {
        let mut url = self.url("users/me/messages");
        url.query_pairs_mut()
            .append_pair("spacelist", &spaces.join(","))
            .append_pair("after", &after.max(0).to_string())
            .append_pair("includedeleted", "true")
            .append_pair("size", PAGE_SIZE);
        self.pager(url)
    }

    fn pager(&self, url: Url) -> Pager<'_> {
        Pager {
            client: self,
            next: Some(url),
        }
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
    async fn get(&self, url: &Url) -> Result<String, RestError> {
        let path = url.path().to_string();
        let mut delays = backoff(Duration::from_millis(500), Duration::from_secs(60));
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            self.wait_budget(&path).await;
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
                    return Err(RestError::Request {
                        path,
                        reason: format!("HTTP {}", response.status()),
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

    async fn wait_budget(&self, resource: &str) {
        loop {
            let wait = self.budget.lock().await.take(resource);
            if wait.is_zero() {
                return;
            }
            tracing::debug!(resource, "request budget spent: waiting {wait:?}");
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

/// Pages of a listing, followed through `nextPageUrl`.
pub struct Pager<'a> {
    client: &'a RestClient,
    next: Option<Url>,
}

impl Pager<'_> {
    /// The next page's `data` items (each one's JSON text), `None` after the last.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Box<RawValue>>>, RestError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let body = self.client.get(&url).await?;
        let page: Page = serde_json::from_str(&body).map_err(|e| RestError::Body {
            path: url.path().into(),
            reason: e.to_string(),
        })?;
        if let Some(next) = page.next_page_url.filter(|n| !n.is_empty()) {
            self.next = Some(self.client.next_url(&url, &next)?);
        }
        Ok(Some(page.data.unwrap_or_default()))
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    data: Option<Vec<Box<RawValue>>>,
    next_page_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_waits_when_a_window_is_full() {
        let mut budget = Budget::default();
        for _ in 0..60 {
            assert!(budget.take("/users/me/messages").is_zero());
        }
        let wait = budget.take("/users/me/messages");
        assert!(
            wait > Duration::from_secs(59) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert!(budget.take("/users/me/spaces").is_zero());
    }
}
