//! Reviewers' and administrators' accounts: a name, a role, the spaces a reviewer
//! is limited to, and an argon2id password hash (PHC string, salt from the system's
//! random source). A password is checked in constant time against its hash; a name
//! that does not exist is checked against a dummy hash, so the answer takes as long.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Serialize;
use sqlx::Row;

use super::{AuditDb, AuditError};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Searches, reads and exports (within its spaces when limited).
    Reviewer,
    /// A reviewer who also sees raw payloads and the audit log.
    Admin,
}

impl Role {
    /// As stored and typed: `reviewer` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    /// Parses `reviewer` or `admin`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "reviewer" => Some(Role::Reviewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An account (without its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Space ids the account is limited to; `None` for every space.
    pub spaces: Option<Vec<String>>,
    /// Created, UTC ms.
    pub created: i64,
    /// Password or role last changed, UTC ms.
    pub changed: i64,
}

impl User {
    /// Whether the account may see the space `id`.
    pub fn may_see(&self, id: &str) -> bool {
        self.spaces
            .as_ref()
            .is_none_or(|spaces| spaces.iter().any(|s| s == id))
    }

    /// Whether the account is an administrator.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// Hashes `password` with argon2id and a fresh 16-byte salt.
pub fn hash_password(password: &str) -> Result<String, AuditError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuditError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuditError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (false for a malformed hash).
pub fn check_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash no password is checked against but to spend the same time.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password("not a password anyone has").unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
             1bq2SVaXgQ2hGVaTmDH0fEPmClNmD0Yhu5RNIGpDgvc"
                .to_string()
        })
    })
}

/// A generated password: 20 characters from a 32-letter alphabet (100 bits).
pub fn generate_password() -> Result<String, AuditError> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    getrandom::getrandom(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect())
}

/// Checks an account name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
pub fn check_name(name: &str) -> Result<(), AuditError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuditError::Refused(format!(
            "{name:?} is not an account name (1 to 64 letters, digits, '.', '_', '-' or '@')"
        )))
    }
}

fn user_from(row: &sqlx::sqlite::SqliteRow) -> Result<User, AuditError> {
    let role: String = row.try_get("role")?;
    let spaces: Option<String> = row.try_get("spaces")?;
    Ok(User {
        name: row.try_get("name")?,
        role: Role::parse(&role).unwrap_or(Role::Reviewer),
        spaces: spaces.and_then(|s| serde_json::from_str(&s).ok()),
        created: row.try_get("created")?,
        changed: row.try_get("changed")?,
    })
}

impl AuditDb {
    /// Adds an account; refused when the name is taken or malformed.
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        spaces: &[String],
        password: &str,
    ) -> Result<User, AuditError> {
        check_name(name)?;
        let hash = hash_password(password)?;
        let now = crate::event::time::now_millis();
        let spaces = (!spaces.is_empty()).then(|| serde_json::json!(spaces).to_string());
        let _write = self.write_gate().await;
        let done = sqlx::query(
            "INSERT INTO users (name, role, spaces, hash, created, changed) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(&spaces)
        .bind(&hash)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(AuditError::Refused(format!(
                "an account named {name:?} exists already (`users passwd` changes its password)"
            )));
        }
        self.user(name)
            .await?
            .ok_or_else(|| AuditError::Refused(format!("account {name:?} vanished")))
    }

    /// The account `name`, if any.
    pub async fn user(&self, name: &str) -> Result<Option<User>, AuditError> {
        let row =
            sqlx::query("SELECT name, role, spaces, created, changed FROM users WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(user_from).transpose()
    }

    /// Every account, by name.
    pub async fn users(&self) -> Result<Vec<User>, AuditError> {
        let rows =
            sqlx::query("SELECT name, role, spaces, created, changed FROM users ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(user_from).collect()
    }

    /// Sets a new password and ends the account's sessions.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<(), AuditError> {
        let hash = hash_password(password)?;
        let done = {
            let _write = self.write_gate().await;
            sqlx::query("UPDATE users SET hash = ?, changed = ? WHERE name = ?")
                .bind(&hash)
                .bind(crate::event::time::now_millis())
                .bind(name)
                .execute(&self.pool)
                .await?
        };
        if done.rows_affected() == 0 {
            return Err(no_such(name));
        }
        self.end_sessions_of(name).await
    }

    /// Removes an account and its sessions (its audit rows stay).
    pub async fn remove_user(&self, name: &str) -> Result<(), AuditError> {
        self.end_sessions_of(name).await?;
        let _write = self.write_gate().await;
        let done = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(no_such(name));
        }
        Ok(())
    }

    /// The account, when `password` is its password. Takes as long for a name that
    /// does not exist.
    pub async fn authenticate(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, AuditError> {
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| dummy_hash().to_string());
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || check_password(&password, &hash))
            .await
            .unwrap_or(false);
        if known && ok {
            self.user(name).await
        } else {
            Ok(None)
        }
    }
}

fn no_such(name: &str) -> AuditError {
    AuditError::Refused(format!(
        "no account named {name:?} (`users list` shows them)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_checks_against_its_own_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(check_password("correct horse", &hash));
        assert!(!check_password("correct horsE", &hash));
        assert!(!check_password("correct horse", "not a hash"));
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn generated_passwords_differ_and_are_long() {
        let a = generate_password().unwrap();
        assert_eq!(a.len(), 20);
        assert_ne!(a, generate_password().unwrap());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("ana.lopez@example.com").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("<script>").is_err());
    }
}
