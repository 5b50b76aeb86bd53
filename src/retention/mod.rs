//! Legal holds ([`holds`]) and retention ([`purge`]): `hold add/list/release`,
//! `purge --before`, and `run --retention DAYS` / `--honour-space-retention` (the
//! per-space policy Avaya sends as `msgRetention`, see [`space_rules`]).

pub mod holds;
pub mod purge;

use sqlx::SqliteConnection;

use crate::store::StoreError;

/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Why a hold or purge could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The archive.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A bad name, filter or state.
    #[error("{0}")]
    Usage(String),
}

impl From<sqlx::Error> for RetentionError {
    fn from(e: sqlx::Error) -> Self {
        RetentionError::Store(e.into())
    }
}

/// The days a space's `msgRetention` keeps messages, `None` for ever (or for a
/// policy this version does not understand, which is logged and never purges).
///
/// Avaya's documents show only `{"retentionType": "forever", "retentionLength": 0}`;
/// a length with a type of `day(s)`, `week(s)`, `month(s)` (30 days) or `year(s)`
/// (365 days) is read as that many of them.
pub fn retention_days(policy: &serde_json::Value) -> Option<i64> {
    let kind = policy.get("retentionType")?.as_str()?.to_ascii_lowercase();
    let length = policy.get("retentionLength")?.as_i64()?;
    if kind == "forever" || length <= 0 {
        return None;
    }
    let unit = match kind.trim_end_matches('s') {
        "day" => 1,
        "week" => 7,
        "month" => 30,
        "year" => 365,
        _ => {
            tracing::warn!(policy = %policy, "a space's retention policy of an unknown type: kept for ever");
            return None;
        }
    };
    Some(length.saturating_mul(unit))
}

/// One rule per space whose own policy limits retention: its messages created
/// before `now` less the policy's days.
pub async fn space_rules(
    conn: &mut SqliteConnection,
    now: i64,
) -> Result<Vec<purge::Rule>, sqlx::Error> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, retention FROM spaces WHERE retention IS NOT NULL")
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, text)| {
            let policy: serde_json::Value = serde_json::from_str(&text).ok()?;
            let days = retention_days(&policy)?;
            Some(purge::Rule {
                before: now.saturating_sub(days.saturating_mul(DAY_MS)),
                spaces: Some(vec![id]),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_avaya_retention_policies() {
        let forever = json!({"retentionLength": 0, "retentionType": "forever"});
        assert_eq!(retention_days(&forever), None);
        assert_eq!(
            retention_days(&json!({"retentionLength": 30, "retentionType": "days"})),
            Some(30)
        );
        assert_eq!(
            retention_days(&json!({"retentionLength": 2, "retentionType": "Year"})),
            Some(730)
        );
        assert_eq!(
            retention_days(&json!({"retentionLength": 2, "retentionType": "fortnights"})),
            None
        );
        assert_eq!(retention_days(&json!({})), None);
    }
}
