//! Server-side sessions: the browser holds a random 256-bit token in a cookie, the
//! database only its SHA-256 (a copy of the file logs nobody in), with the
//! account, a CSRF token for the session's forms, the address it began from and
//! its times. A session ends at logout, after `idle` without a request, after
//! `absolute` whatever is done, and when its account's password changes or the
//! account is removed.

use std::time::Duration;

use super::{random_hex, sha256_hex, AuditDb, AuditError, User};

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after login, whatever happens.
    pub absolute: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub user: User,
    /// The token the session's forms carry.
    pub csrf: String,
    /// SHA-256 of the cookie's token (the row's key).
    pub id_hash: String,
}

/// Last-seen times are written at most this often (ms), not on every request.
const TOUCH_EVERY: i64 = 15_000;

impl AuditDb {
    /// Starts a session for `user`; returns the cookie's token and the session.
    pub async fn start_session(
        &self,
        user: &User,
        address: &str,
    ) -> Result<(String, Session), AuditError> {
        let token = random_hex(32)?;
        let csrf = random_hex(32)?;
        let id_hash = sha256_hex(&token);
        let now = crate::event::time::now_millis();
        let _write = self.write_gate().await;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user, csrf, address, created, last_seen) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&id_hash)
        .bind(&user.name)
        .bind(&csrf)
        .bind(address)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok((
            token,
            Session {
                user: user.clone(),
                csrf,
                id_hash,
            },
        ))
    }

    /// The session of the cookie's `token`, if it is live (an expired one is ended).
    pub async fn session(
        &self,
        token: &str,
        limits: SessionLimits,
    ) -> Result<Option<Session>, AuditError> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let id_hash = sha256_hex(token);
        let row: Option<(String, String, i64, i64)> =
            sqlx::query_as("SELECT user, csrf, created, last_seen FROM sessions WHERE id_hash = ?")
                .bind(&id_hash)
                .fetch_optional(&self.pool)
                .await?;
        let Some((name, csrf, created, last_seen)) = row else {
            return Ok(None);
        };
        let now = crate::event::time::now_millis();
        let idle = now - last_seen > limits.idle.as_millis() as i64;
        let old = now - created > limits.absolute.as_millis() as i64;
        if idle || old {
            self.end_session(&id_hash).await?;
            return Ok(None);
        }
        let Some(user) = self.user(&name).await? else {
            self.end_session(&id_hash).await?;
            return Ok(None);
        };
        if now - last_seen > TOUCH_EVERY {
            // The request does not wait for the touch (its commit, an fsync, queues
            // behind the audit rows): a touch lost to a crash only ends the session
            // up to TOUCH_EVERY sooner.
            let db = self.clone();
            let id_hash = id_hash.clone();
            tokio::spawn(async move {
                let _write = db.write_gate().await;
                let touched = sqlx::query("UPDATE sessions SET last_seen = ? WHERE id_hash = ?")
                    .bind(now)
                    .bind(&id_hash)
                    .execute(&db.pool)
                    .await;
                if let Err(e) = touched {
                    tracing::warn!("cannot note a session's last request: {e}");
                }
            });
        }
        Ok(Some(Session {
            user,
            csrf,
            id_hash,
        }))
    }

    /// Ends the session whose token hashes to `id_hash`.
    pub async fn end_session(&self, id_hash: &str) -> Result<(), AuditError> {
        let _write = self.write_gate().await;
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every session of the account `name`.
    pub async fn end_sessions_of(&self, name: &str) -> Result<(), AuditError> {
        let _write = self.write_gate().await;
        sqlx::query("DELETE FROM sessions WHERE user = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes sessions past either limit; returns how many.
    pub async fn expire_sessions(&self, limits: SessionLimits) -> Result<u64, AuditError> {
        let now = crate::event::time::now_millis();
        let _write = self.write_gate().await;
        let done = sqlx::query("DELETE FROM sessions WHERE last_seen < ? OR created < ?")
            .bind(now - limits.idle.as_millis() as i64)
            .bind(now - limits.absolute.as_millis() as i64)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
