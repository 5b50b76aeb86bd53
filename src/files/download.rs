//! One download: GET a URL with no credential of any kind (a client of its own, no
//! default headers, no cookies), stream the body into the content store in bounded
//! memory, and say what happened in terms the fetcher acts on: stored, too large,
//! not there, expired, or a failure that may pass.

use std::time::Duration;

use reqwest::StatusCode;
use url::Url;

use super::content::{ContentStore, Stored};

/// What a download found, when it stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Bigger than the limit (by `Content-Length`, or by what arrived).
    #[error("{size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Bytes announced or received so far.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The storage says the file is not there (404, 410, 403).
    #[error("the storage answered HTTP {0}")]
    Absent(u16),
    /// The signed URL has expired (ask for a new one).
    #[error("the signed URL has expired (HTTP {0})")]
    Expired(u16),
    /// A failure that may pass: 5xx, 429, other statuses, timeouts, resets.
    #[error("{0}")]
    Transient(String),
    /// Too little free space: the download waits (see [`DISK_RESERVE`]).
    #[error("{free} bytes free on the archive's disk; attachments leave {reserve} bytes for the archive itself")]
    NoRoom {
        /// Bytes free.
        free: u64,
        /// Bytes kept free.
        reserve: u64,
    },
    /// The file could not be written to the store.
    #[error("cannot store the file: {0}")]
    Store(#[from] std::io::Error),
}

/// Downloads into the store.
#[derive(Debug, Clone)]
pub struct Downloader {
    http: reqwest::Client,
    store: ContentStore,
    /// Largest file fetched, in bytes.
    pub max_size: u64,
}

/// Free space a download always leaves on the archive's disk, so attachments never
/// take the room SQLite needs to keep archiving messages.
pub const DISK_RESERVE: u64 = 256 << 20;

/// Bytes free to an unprivileged writer on the file system holding `path`.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is a NUL-terminated path and `stat` a valid, writable statvfs.
    let done = unsafe { libc::statvfs(name.as_ptr(), &mut stat) };
    (done == 0).then(|| stat.f_bavail as u64 * stat.f_frsize as u64)
}

impl Downloader {
    /// A downloader into `store` of files up to `max_size` bytes.
    pub fn new(store: ContentStore, max_size: u64) -> Result<Downloader, reqwest::Error> {
        crate::tls::install_crypto();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Between reads, not in all: a large file takes as long as it takes.
            .read_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Downloader {
            http,
            store,
            max_size,
        })
    }

    /// The store written to.
    pub fn store(&self) -> &ContentStore {
        &self.store
    }

    /// GETs `url` (never with a credential) and stores its body. Returns what was
    /// stored and the `Content-Type` the storage gave.
    pub async fn fetch(&self, url: &Url) -> Result<(Stored, Option<String>), DownloadError> {
        self.check_room(0)?;
        let transient = |e: reqwest::Error| {
            DownloadError::Transient(crate::redact::scrub(&e.without_url().to_string()))
        };
        let mut response = self.http.get(url.clone()).send().await.map_err(transient)?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(classify(status, &body));
        }
        if let Some(size) = response.content_length().filter(|s| *s > self.max_size) {
            return Err(DownloadError::TooLarge {
                size,
                limit: self.max_size,
            });
        }
        self.check_room(response.content_length().unwrap_or(0))?;
        let mime = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .filter(|v| !v.is_empty());
        let mut incoming = self.store.incoming()?;
        while let Some(chunk) = response.chunk().await.map_err(transient)? {
            if incoming.size() + chunk.len() as u64 > self.max_size {
                return Err(DownloadError::TooLarge {
                    size: incoming.size() + chunk.len() as u64,
                    limit: self.max_size,
                });
            }
            incoming.write(&chunk)?;
        }
        let store = self.store.clone();
        let stored = tokio::task::spawn_blocking(move || incoming.finish(&store))
            .await
            .map_err(|e| DownloadError::Store(std::io::Error::other(e.to_string())))??;
        Ok((stored, mime))
    }
}

impl Downloader {
    /// Whether `size` more bytes leave [`DISK_RESERVE`] free.
    fn check_room(&self, size: u64) -> Result<(), DownloadError> {
        match free_bytes(self.store.dir()) {
            Some(free) if free < size.saturating_add(DISK_RESERVE) => Err(DownloadError::NoRoom {
                free,
                reserve: DISK_RESERVE,
            }),
            _ => Ok(()),
        }
    }
}

/// What an unsuccessful status means. Cloud Storage answers an expired signed URL
/// with 400 `ExpiredToken` (XML API) or 403 "Request has expired"; either says so in
/// the body.
fn classify(status: StatusCode, body: &str) -> DownloadError {
    let lower = body.to_ascii_lowercase();
    let code = status.as_u16();
    if matches!(code, 400 | 401 | 403) && lower.contains("expired") {
        return DownloadError::Expired(code);
    }
    match status {
        StatusCode::NOT_FOUND | StatusCode::GONE | StatusCode::FORBIDDEN => {
            DownloadError::Absent(code)
        }
        _ => DownloadError::Transient(format!("the storage answered HTTP {code}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let expired = "<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>";
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, expired),
            DownloadError::Expired(400)
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, "Request has expired"),
            DownloadError::Expired(403)
        ));
        for (status, code) in [
            (StatusCode::NOT_FOUND, 404),
            (StatusCode::GONE, 410),
            (StatusCode::FORBIDDEN, 403),
        ] {
            assert!(
                matches!(classify(status, "AccessDenied"), DownloadError::Absent(c) if c == code)
            );
        }
        for status in [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::BAD_REQUEST,
        ] {
            assert!(matches!(classify(status, ""), DownloadError::Transient(_)));
        }
    }
}
