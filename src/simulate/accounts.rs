//! The simulator's OAuth2 token endpoint (`POST /oauth2/access_token`, as Avaya's
//! accounts server): short-lived access tokens, a refresh token that rotates at every
//! use (the old one stops working), and refusals on chosen attempts, for testing a
//! client that must keep its token fresh for months.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

/// How the token endpoint behaves.
#[derive(Debug, Clone)]
pub struct OAuthSim {
    /// Lifetime of each access token.
    pub lifetime: Duration,
    /// The client id it accepts.
    pub client_id: String,
    /// The client secret it accepts.
    pub client_secret: String,
    /// The refresh token valid at start.
    pub refresh_token: String,
    /// Refresh attempts (1 for the first) answered with a refusal.
    pub refuse_attempts: Vec<u64>,
}

/// The endpoint's state.
pub struct Accounts {
    options: OAuthSim,
    state: Mutex<Ledger>,
}

struct Ledger {
    refresh_token: String,
    issued: HashMap<String, Instant>,
    attempts: u64,
    grants: u64,
}

#[derive(Deserialize)]
struct Request {
    grant_type: String,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl Accounts {
    /// An endpoint with these options.
    pub fn new(options: OAuthSim) -> Accounts {
        Accounts {
            state: Mutex::new(Ledger {
                refresh_token: options.refresh_token.clone(),
                issued: HashMap::new(),
                attempts: 0,
                grants: 0,
            }),
            options,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `token` is an access token it issued that has not expired.
    pub fn accepts(&self, token: &str) -> bool {
        self.lock()
            .issued
            .get(token)
            .is_some_and(|&until| Instant::now() < until)
    }

    /// The refresh token valid now.
    pub fn refresh_token(&self) -> String {
        self.lock().refresh_token.clone()
    }

    /// Access tokens granted so far.
    pub fn grants(&self) -> u64 {
        self.lock().grants
    }

    fn grant(&self, request: Request) -> Response {
        let mut state = self.lock();
        state.attempts += 1;
        let o = &self.options;
        let refuse = |code: &str, why: &str| {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": code, "error_description": why })),
            )
                .into_response()
        };
        if o.refuse_attempts.contains(&state.attempts) {
            return refuse("invalid_grant", "refused (a simulated fault)");
        }
        if request.grant_type != "refresh_token" {
            return refuse("unsupported_grant_type", "only refresh_token is supported");
        }
        if request.client_id.as_deref() != Some(o.client_id.as_str())
            || request.client_secret.as_deref() != Some(o.client_secret.as_str())
        {
            return refuse("invalid_client", "unknown client or wrong secret");
        }
        if request.refresh_token.as_deref() != Some(state.refresh_token.as_str()) {
            return refuse(
                "invalid_grant",
                "the refresh token is not valid (used or unknown)",
            );
        }
        state.grants += 1;
        let access = format!("sim-access-{}-{}", state.grants, fastrand::u64(..));
        let refresh = format!("sim-refresh-{}-{}", state.grants, fastrand::u64(..));
        let now = Instant::now();
        state.issued.retain(|_, until| *until > now);
        state.issued.insert(access.clone(), now + o.lifetime);
        state.refresh_token = refresh.clone();
        Json(json!({
            "access_token": access,
            "token_type": "bearer",
            "expires_in": o.lifetime.as_secs().max(1),
            "refresh_token": refresh,
        }))
        .into_response()
    }
}

/// `POST /oauth2/access_token`.
pub fn router(accounts: Arc<Accounts>) -> Router {
    Router::new()
        .route("/oauth2/access_token", post(access_token))
        .with_state(accounts)
}

async fn access_token(
    State(accounts): State<Arc<Accounts>>,
    Form(request): Form<Request>,
) -> Response {
    accounts.grant(request)
}
