//! The access token in force, and, for OAuth, keeping it fresh: a refresh before it
//! expires and before a reconnect when it is near expiry, each rotated refresh token
//! stored atomically (mode 0600) in the data directory, and a refused refresh reported
//! and retried with backoff while the archive goes on with what it has. Avaya checks
//! the token at the socket handshake only (`spec/PROTOCOL.md` section 5), so a socket
//! that is up keeps archiving while a refresh is refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

use super::auth::{Token, TokenType};

/// File in the data directory holding the latest refresh token.
pub const REFRESH_TOKEN_FILE: &str = "oauth-refresh-token";
/// Beside it: the SHA-256 of the refresh token given when the stored one was first
/// stored, so that a new one given later (the stored one revoked) is used instead.
const GIVEN_DIGEST_FILE: &str = "oauth-refresh-token.given";

/// What an OAuth refresh needs.
#[derive(Clone)]
pub struct OAuthConfig {
    /// The token endpoint (`…/oauth2/access_token`).
    pub accounts: Url,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// The refresh token given at start; one stored in `state_dir` wins over it.
    pub refresh_token: String,
    /// The data directory, where rotated refresh tokens are kept.
    pub state_dir: PathBuf,
}

/// Why a refresh failed. Messages never hold a token or the client secret.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The endpoint answered with an error: the refresh token or client was refused.
    #[error("the accounts endpoint refused the refresh (HTTP {status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// What it said.
        message: String,
    },
    /// The endpoint could not be reached or answered nonsense.
    #[error("the accounts endpoint cannot be used: {0}")]
    Unavailable(String),
    /// The new refresh token could not be stored.
    #[error("cannot store the new refresh token in {path}: {source}")]
    Store {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

struct Current {
    token: Token,
    expires_at: Option<Instant>,
    lifetime: Duration,
}

struct Refresher {
    http: reqwest::Client,
    config: OAuthConfig,
    refresh_token: tokio::sync::Mutex<String>,
    /// The access token replaced last, still scrubbed until it is replaced again.
    retired: Mutex<Option<Token>>,
}

/// The token in force, shared by the socket task and the REST client.
#[derive(Clone)]
pub struct Tokens {
    current: Arc<Mutex<Current>>,
    refresher: Option<Arc<Refresher>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let refreshed = if self.refresher.is_some() {
            "refreshed"
        } else {
            "fixed"
        };
        write!(f, "Tokens({refreshed}, {:?})", self.lock().token)
    }
}

#[derive(Deserialize)]
struct Grant {
    access_token: String,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

impl Tokens {
    /// A token that is never refreshed (a JWT, or an OAuth token without a refresh
    /// token).
    pub fn fixed(token: Token) -> Tokens {
        Tokens {
            current: Arc::new(Mutex::new(Current {
                token,
                expires_at: None,
                lifetime: Duration::ZERO,
            })),
            refresher: None,
        }
    }

    /// OAuth tokens kept fresh, and the first access token got now. The refresh
    /// token used is the one stored by an earlier run, unless the one given now is
    /// new (differs from the one given when that was stored): then the given one.
    pub async fn oauth(config: OAuthConfig) -> Result<Tokens, RefreshError> {
        crate::redact::register(&config.client_secret);
        crate::redact::register(&config.refresh_token);
        let start = starting_refresh_token(&config)?;
        super::install_crypto();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        let refresher = Arc::new(Refresher {
            http,
            refresh_token: tokio::sync::Mutex::new(start),
            retired: Mutex::new(None),
            config,
        });
        let current = {
            let mut refresh_token = refresher.refresh_token.lock().await;
            refresher.grant(&mut refresh_token).await?
        };
        Ok(Tokens {
            current: Arc::new(Mutex::new(current)),
            refresher: Some(refresher),
        })
    }

    /// The token in force.
    pub fn current(&self) -> Token {
        self.lock().token.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the token should be refreshed: a quarter of its life before it expires,
    /// and at most a minute before.
    fn due(&self) -> Option<Instant> {
        let current = self.lock();
        let margin = (current.lifetime / 4).min(Duration::from_secs(60));
        current.expires_at.map(|t| t - margin)
    }

    /// The token to connect with: refreshed first when it is near expiry. When the
    /// refresh fails but the token has not expired yet, it is used anyway (and the
    /// failure logged); a failure with an expired token is returned, and the caller
    /// retries with its own backoff.
    pub async fn fresh(&self) -> Result<Token, RefreshError> {
        match self.refresh_if_due().await {
            Ok(()) => {}
            Err(e) if self.lock().expires_at.is_some_and(|t| Instant::now() < t) => {
                tracing::error!(
                    "token refresh failed; connecting with the current token until it expires: {e}"
                );
            }
            Err(e) => return Err(e),
        }
        Ok(self.current())
    }

    /// Refreshes when the token is due. One refresh at a time: whoever waited for
    /// another finds the token fresh and does nothing (a second refresh would rotate
    /// the refresh token again for nothing).
    async fn refresh_if_due(&self) -> Result<(), RefreshError> {
        let Some(refresher) = &self.refresher else {
            return Ok(());
        };
        let mut refresh_token = refresher.refresh_token.lock().await;
        if self.due().is_none_or(|due| Instant::now() < due) {
            return Ok(());
        }
        let next = refresher.grant(&mut refresh_token).await?;
        let old = std::mem::replace(&mut *self.lock(), next);
        // The token just replaced may still show in a line about the socket it opened
        // until it expires: keep scrubbing it until the next refresh, when it has.
        let mut retired = refresher.retired.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(expired) = retired.replace(old.token) {
            expired.forget();
        }
        Ok(())
    }

    /// Refreshes before each expiry until `stop`; a failed refresh is logged and
    /// retried with backoff (1 s doubling to 60 s). Does nothing for a fixed token.
    pub async fn keep_fresh(self, mut stop: watch::Receiver<bool>) {
        if self.refresher.is_none() {
            return;
        }
        let mut delay = Duration::from_secs(1);
        while !*stop.borrow() {
            let wait = self.due().map_or(Duration::from_secs(60), |due| {
                due.saturating_duration_since(Instant::now())
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break,
            }
            match self.refresh_if_due().await {
                Ok(()) => delay = Duration::from_secs(1),
                Err(e) => {
                    tracing::error!("token refresh failed, retrying in {delay:?}: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => break,
                    }
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}

impl Refresher {
    /// One refresh with `refresh_token` (the locked current one): a new access token;
    /// the rotated refresh token replaces it in memory first, then in the data dir. A
    /// failure to store it is logged, not returned: the server no longer takes the
    /// old one, so dropping the new one would end refreshing for good.
    async fn grant(&self, refresh_token: &mut String) -> Result<Current, RefreshError> {
        let c = &self.config;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token.as_str())
            .append_pair("client_id", c.client_id.as_str())
            .append_pair("client_secret", c.client_secret.as_str())
            .finish();
        let response = self
            .http
            .post(c.accounts.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| {
                RefreshError::Unavailable(crate::redact::scrub(&e.without_url().to_string()))
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| RefreshError::Unavailable(crate::redact::scrub(&e.to_string())))?;
        if !status.is_success() {
            let message: String = crate::redact::scrub(&body).chars().take(300).collect();
            return Err(if status.is_server_error() {
                RefreshError::Unavailable(format!("HTTP {}: {message}", status.as_u16()))
            } else {
                RefreshError::Refused {
                    status: status.as_u16(),
                    message,
                }
            });
        }
        let grant: Grant = serde_json::from_str(&body).map_err(|e| {
            RefreshError::Unavailable(format!("the answer is not a token grant: {e}"))
        })?;
        let token = Token::new(
            TokenType::Oauth,
            &grant.access_token,
            "the accounts endpoint",
        )
        .map_err(|e| RefreshError::Unavailable(e.to_string()))?;
        if let Some(rotated) = grant.refresh_token.filter(|r| !r.trim().is_empty()) {
            let rotated = rotated.trim().to_string();
            crate::redact::register(&rotated);
            let used = std::mem::replace(refresh_token, rotated);
            // The one given at start stays registered (it may be given again).
            if used != c.refresh_token {
                crate::redact::forget(&used);
            }
            if let Err(e) = store_refresh_token(&c.state_dir, refresh_token) {
                tracing::error!("{e}; the new refresh token is kept in memory only");
            }
        }
        let lifetime = Duration::from_secs(grant.expires_in.unwrap_or(3599).max(1));
        tracing::info!(expires_in = ?lifetime, "access token refreshed");
        Ok(Current {
            token,
            expires_at: Some(Instant::now() + lifetime),
            lifetime,
        })
    }
}

/// The refresh token to start from: the stored one, unless the one given is new.
/// A digest of the given one is kept beside the stored one to tell.
fn starting_refresh_token(config: &OAuthConfig) -> Result<String, RefreshError> {
    use sha2::{Digest, Sha256};
    let dir = &config.state_dir;
    let stored = std::fs::read_to_string(dir.join(REFRESH_TOKEN_FILE))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    if let Some(stored) = &stored {
        crate::redact::register(stored);
    }
    let given = config.refresh_token.trim();
    let digest: String = Sha256::digest(given.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let marker = dir.join(GIVEN_DIGEST_FILE);
    let known = std::fs::read_to_string(&marker).unwrap_or_default();
    match stored {
        Some(stored) if given.is_empty() || known.trim() == digest => Ok(stored),
        _ if given.is_empty() => Err(RefreshError::Refused {
            status: 0,
            message: "no refresh token given and none stored".into(),
        }),
        _ => {
            crate::private::write(&marker, format!("{digest}\n").as_bytes()).map_err(|source| {
                RefreshError::Store {
                    path: marker.display().to_string(),
                    source,
                }
            })?;
            Ok(given.to_string())
        }
    }
}

/// Writes the refresh token to a temporary file (mode 0600), syncs it and renames it
/// into place, so a crash leaves either the old token or the new one.
fn store_refresh_token(dir: &Path, token: &str) -> Result<(), RefreshError> {
    let path = dir.join(REFRESH_TOKEN_FILE);
    let err = |source| RefreshError::Store {
        path: path.display().to_string(),
        source,
    };
    let temporary = dir.join(format!(".{REFRESH_TOKEN_FILE}.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        // A temporary file left by a crash keeps its mode when opened again.
        let mut file = crate::private::create_options().open(&temporary)?;
        crate::private::restrict(&file)?;
        file.write_all(token.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(err)
}
