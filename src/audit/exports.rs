//! The exports made in the web app: who made which file, with its SHA-256, counts
//! and scope, so only its maker (or an administrator) can download it later.

use sqlx::Row;

use super::{AuditDb, AuditError};

/// An export made in the web app.
#[derive(Debug, Clone)]
pub struct WebExport {
    /// Random id (the URL's).
    pub id: String,
    /// Who made it.
    pub user: String,
    /// When, UTC ms.
    pub created: i64,
    /// The file's name in the exports directory.
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Its size.
    pub bytes: i64,
    /// Records by type (JSON object).
    pub counts: serde_json::Value,
    /// The filters (JSON object).
    pub scope: serde_json::Value,
}

impl AuditDb {
    /// Records an export.
    pub async fn add_export(&self, export: &WebExport) -> Result<(), AuditError> {
        let _write = self.write_gate().await;
        sqlx::query(
            "INSERT INTO exports (id, user, created, file, sha256, bytes, counts, scope) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&export.id)
        .bind(&export.user)
        .bind(export.created)
        .bind(&export.file)
        .bind(&export.sha256)
        .bind(export.bytes)
        .bind(export.counts.to_string())
        .bind(export.scope.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The export `id`, if any.
    pub async fn export(&self, id: &str) -> Result<Option<WebExport>, AuditError> {
        let row = sqlx::query(
            "SELECT id, user, created, file, sha256, bytes, counts, scope FROM exports WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let json = |i: usize| -> Result<serde_json::Value, AuditError> {
            let text: String = row.try_get(i)?;
            Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
        };
        Ok(Some(WebExport {
            id: row.try_get(0)?,
            user: row.try_get(1)?,
            created: row.try_get(2)?,
            file: row.try_get(3)?,
            sha256: row.try_get(4)?,
            bytes: row.try_get(5)?,
            counts: json(6)?,
            scope: json(7)?,
        }))
    }
}
