//! Who is asking. A request carries a session cookie (`sa_session`: HttpOnly,
//! SameSite=Strict, Secure behind TLS) naming a server-side session, or, with
//! `--auth-header`, comes from a `--trusted-proxy` address with the user's name in
//! that header. [`Viewer`] is the extractor every page takes: without a live
//! session a GET is sent to `/login` (and back afterwards), anything else is 401.
//! Forms carry a CSRF token checked in constant time; the login form's token is
//! a cookie of its own (double submit), so a login cannot be forged either.

use std::net::SocketAddr;
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::view::{self, Nav};
use super::{throttle, Shared};
use crate::audit::{AuditEntry, User};

/// The session cookie.
pub const SESSION_COOKIE: &str = "sa_session";
/// The login form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "sa_login";

/// The account behind a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The account.
    pub user: User,
    /// The token its forms must carry.
    pub csrf: String,
    /// The client's address.
    pub address: String,
    /// The session's key, when logged in by password.
    pub session: Option<String>,
}

impl Viewer {
    /// The navigation bar for this viewer.
    pub fn nav(&self) -> Nav {
        Nav {
            user: self.user.name.clone(),
            admin: self.user.is_admin(),
            csrf: self.csrf.clone(),
        }
    }

    /// Whether a form's token is this viewer's.
    pub fn csrf_ok(&self, given: &str) -> bool {
        same(given, &self.csrf)
    }

    /// Records an action of this viewer in the audit log; a failure to record is
    /// logged (the action is not refused: the archive stays readable).
    pub async fn audit(&self, app: &Shared, action: &str, detail: serde_json::Value) {
        let entry = AuditEntry {
            user: self.user.name.clone(),
            address: self.address.clone(),
            action: action.to_string(),
            detail,
        };
        if let Err(e) = app.audit.record(&entry).await {
            tracing::error!(
                "cannot record {action} by {} in the audit log: {e}",
                self.user.name
            );
        }
    }
}

/// Constant-time comparison of two tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && !a.is_empty()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of cookie `name`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The client's address: the peer's, or the proxy's `X-Forwarded-For` (its last
/// entry) when the peer is a trusted proxy.
pub fn client_address(app: &Shared, peer: Option<SocketAddr>, headers: &HeaderMap) -> String {
    let Some(peer) = peer.map(|p| p.ip()) else {
        return "unknown".into();
    };
    if app.options.trusted_proxies.contains(&peer) {
        if let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim)
            .filter(|v| v.parse::<std::net::IpAddr>().is_ok())
        {
            return forwarded.to_string();
        }
    }
    peer.to_string()
}

/// A `Set-Cookie` value for the session token (empty and expired to clear it).
fn session_cookie(app: &Shared, token: Option<&str>) -> HeaderValue {
    let secure = if app.options.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    let value = match token {
        Some(token) => {
            format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}")
        }
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl FromRequestParts<Shared> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Viewer, Response> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| *a);
        let address = client_address(app, peer, &parts.headers);
        let peer_trusted = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(a)| app.options.trusted_proxies.contains(&a.ip()));
        if let (Some(name), true) = (&app.options.auth_header, peer_trusted) {
            if let Some(user) = parts
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
            {
                return match app.audit.user(user.trim()).await {
                    Ok(Some(user)) => Ok(Viewer {
                        csrf: crate::audit::sha256_hex(&format!("{}\n{}", app.secret, user.name)),
                        user,
                        address,
                        session: None,
                    }),
                    Ok(None) => Err(view::error(
                        StatusCode::FORBIDDEN,
                        None,
                        "The proxy named a user who has no account here (`spaces-archive users add`).",
                    )),
                    Err(e) => Err(view::failed(None, "Checking the account", e)),
                };
            }
        }
        let session = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(token) => app
                .audit
                .session(token, app.options.limits)
                .await
                .map_err(|e| view::failed(None, "Checking the session", e))?,
            None => None,
        };
        match session {
            Some(session) => Ok(Viewer {
                user: session.user,
                csrf: session.csrf,
                address,
                session: Some(session.id_hash),
            }),
            None if parts.method == Method::GET || parts.method == Method::HEAD => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let target = format!(
                    "/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Err(Redirect::to(&target).into_response())
            }
            None => Err(view::error(
                StatusCode::UNAUTHORIZED,
                None,
                "Your session has ended; log in again.",
            )),
        }
    }
}

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// No bar before login.
    pub nav: Option<Nav>,
    /// The form's token.
    pub csrf: String,
    /// Where to go afterwards.
    pub next: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
    /// The name typed last.
    pub username: String,
}

/// `?next=`.
#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// Only a path on this server (no `//host`, no scheme): an open redirect otherwise.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_string()
        }
        _ => "/search".to_string(),
    }
}

/// The login form's token: the one this browser already holds (so a second tab,
/// or a favicon request that lands on the login page, does not void the first
/// form), or a new one.
fn login_token(headers: &HeaderMap) -> Result<String, crate::audit::AuditError> {
    match cookie(headers, LOGIN_COOKIE) {
        Some(token) if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(token.to_string())
        }
        _ => crate::audit::random_hex(32),
    }
}

fn login_page(
    app: &Shared,
    token: Result<String, crate::audit::AuditError>,
    next: String,
    error: Option<String>,
    username: String,
    status: StatusCode,
) -> Response {
    let csrf = match token {
        Ok(token) => token,
        Err(e) => return view::failed(None, "Making the login form", e),
    };
    let secure = if app.options.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{LOGIN_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    let mut response = view::page(&LoginPage {
        nav: None,
        csrf,
        next,
        error,
        username,
    });
    *response.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /login`.
pub async fn login_form(
    State(app): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    login_page(
        &app,
        login_token(&headers),
        safe_next(q.next.as_deref()),
        None,
        String::new(),
        StatusCode::OK,
    )
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login`.
pub async fn login(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let address = client_address(&app, Some(peer), &headers);
    let next = safe_next(form.next.as_deref());
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !same(&form.csrf, expected) {
        return login_page(
            &app,
            login_token(&headers),
            next,
            Some("The form had expired; log in again.".into()),
            form.username,
            StatusCode::FORBIDDEN,
        );
    }
    let keys = throttle::keys(&form.username, &address);
    if let Some(wait) = app.throttle.lock().await.wait(&keys, Instant::now()) {
        let secs = wait.as_secs().max(1);
        let mut response = login_page(
            &app,
            login_token(&headers),
            next,
            Some(format!("Too many failed logins; try again in {secs} s.")),
            form.username,
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let user = match app.audit.authenticate(&form.username, &form.password).await {
        Ok(user) => user,
        Err(e) => return view::failed(None, "Checking the password", e),
    };
    let Some(user) = user else {
        app.throttle.lock().await.fail(&keys, Instant::now());
        let entry = AuditEntry {
            user: form.username.chars().take(64).collect(),
            address,
            action: "login_failed".into(),
            detail: json!({}),
        };
        if let Err(e) = app.audit.record(&entry).await {
            tracing::error!("cannot record a failed login in the audit log: {e}");
        }
        return login_page(
            &app,
            login_token(&headers),
            next,
            Some("Wrong user name or password.".into()),
            form.username,
            StatusCode::UNAUTHORIZED,
        );
    };
    app.throttle.lock().await.clear(&keys);
    let (token, session) = match app.audit.start_session(&user, &address).await {
        Ok(started) => started,
        Err(e) => return view::failed(None, "Starting the session", e),
    };
    let viewer = Viewer {
        user,
        csrf: session.csrf,
        address,
        session: Some(session.id_hash),
    };
    viewer.audit(&app, "login", json!({})).await;
    let mut response = Redirect::to(&next).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie(&app, Some(&token)));
    response
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(app): State<Shared>,
    viewer: Viewer,
    Form(form): Form<TokenForm>,
) -> Response {
    if !viewer.csrf_ok(&form.csrf) {
        return view::error(
            StatusCode::FORBIDDEN,
            Some(viewer.nav()),
            "The form's token is not this session's.",
        );
    }
    if let Some(id) = &viewer.session {
        if let Err(e) = app.audit.end_session(id).await {
            return view::failed(Some(viewer.nav()), "Ending the session", e);
        }
    }
    viewer.audit(&app, "logout", json!({})).await;
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie(&app, None));
    response
}
