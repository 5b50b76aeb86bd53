//! Signed checkpoints: the heads of both chains (payloads and rejected input) at a
//! moment, signed with the archive's key. The writer makes one every
//! [`EVERY_PAYLOADS`] payloads or [`EVERY_MS`] and when it stops; exports carry the
//! latest. A later checkpoint proves an earlier one is its prefix: the rows between
//! them chain from the earlier head to the later one.

use serde_json::{json, Value};
use sqlx::{Row, SqliteConnection};

use super::key::{PublicKey, SigningKey};
use super::link::{hash_of, hex, Hash, GENESIS};
use crate::event::time::{format_millis, now_millis};

/// Payloads between checkpoints.
pub const EVERY_PAYLOADS: i64 = 10_000;

/// Longest time between checkpoints while something new was written: 10 minutes.
pub const EVERY_MS: i64 = 10 * 60 * 1000;

/// One checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its number.
    pub id: i64,
    /// The last payload's sequence number.
    pub seq: i64,
    /// The payload chain's value at `seq`.
    pub head: Hash,
    /// The last rejected input's id.
    pub rejected_id: i64,
    /// The rejected chain's value at `rejected_id`.
    pub rejected_head: Hash,
    /// When it was made, UTC ms.
    pub at: i64,
    /// The Ed25519 signature of [`Checkpoint::message`].
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// The exact text signed.
    pub fn message(&self) -> String {
        format!(
            "spaces-archive checkpoint v1\nseq: {}\nhead: {}\nrejected: {}\nrejected_head: {}\nat: {}\n",
            self.seq,
            hex(&self.head),
            self.rejected_id,
            hex(&self.rejected_head),
            self.at
        )
    }

    /// Whether `key` signed it.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        key.verifies(self.message().as_bytes(), &self.signature)
    }

    /// As exports and `checkpoints --json` show it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "seq": self.seq,
            "head": hex(&self.head),
            "rejected_id": self.rejected_id,
            "rejected_head": hex(&self.rejected_head),
            "at": format_millis(self.at),
            "at_ms": self.at,
            "signature": hex(&self.signature),
        })
    }

    /// Reads [`Checkpoint::to_json`]'s form back; `None` when a field is missing or
    /// malformed.
    pub fn from_json(value: &Value) -> Option<Checkpoint> {
        let hash =
            |name: &str| crate::store::unhex(value.get(name)?.as_str()?).and_then(|b| hash_of(&b));
        Some(Checkpoint {
            id: value.get("id")?.as_i64()?,
            seq: value.get("seq")?.as_i64()?,
            head: hash("head")?,
            rejected_id: value.get("rejected_id")?.as_i64()?,
            rejected_head: hash("rejected_head")?,
            at: value.get("at_ms")?.as_i64()?,
            signature: crate::store::unhex(value.get("signature")?.as_str()?)?,
        })
    }
}

/// Every checkpoint, oldest first.
pub async fn list(conn: &mut SqliteConnection) -> Result<Vec<Checkpoint>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, seq, head, rejected_id, rejected_head, at, signature FROM checkpoints ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The latest checkpoint, if any.
pub async fn latest(conn: &mut SqliteConnection) -> Result<Option<Checkpoint>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, seq, head, rejected_id, rejected_head, at, signature FROM checkpoints \
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.as_ref().map(from_row))
}

fn from_row(row: &sqlx::sqlite::SqliteRow) -> Checkpoint {
    let hash = |name: &str| {
        row.try_get::<Vec<u8>, _>(name)
            .ok()
            .and_then(|b| hash_of(&b))
            .unwrap_or(GENESIS)
    };
    Checkpoint {
        id: row.try_get("id").unwrap_or_default(),
        seq: row.try_get("seq").unwrap_or_default(),
        head: hash("head"),
        rejected_id: row.try_get("rejected_id").unwrap_or_default(),
        rejected_head: hash("rejected_head"),
        at: row.try_get("at").unwrap_or_default(),
        signature: row.try_get("signature").unwrap_or_default(),
    }
}

/// The last row of a chained table as `sql` selects it (number, chain): its number
/// and chain value, `(0, GENESIS)` for an empty table.
pub async fn head_of(
    conn: &mut SqliteConnection,
    sql: &'static str,
) -> Result<(i64, Hash), sqlx::Error> {
    let row: Option<(i64, Option<Vec<u8>>)> = sqlx::query_as(sql).fetch_optional(conn).await?;
    Ok(match row {
        Some((n, chain)) => (n, chain.and_then(|c| hash_of(&c)).unwrap_or(GENESIS)),
        None => (0, GENESIS),
    })
}

/// The last payload row: `SELECT` for [`head_of`].
pub const EVENTS_HEAD: &str = "SELECT seq, chain FROM events ORDER BY seq DESC LIMIT 1";

/// The last rejected-input row: `SELECT` for [`head_of`].
pub const REJECTED_HEAD: &str = "SELECT id, chain FROM rejected ORDER BY id DESC LIMIT 1";

/// The heads of both chains now: (last seq, its chain, last rejected id, its chain).
pub async fn heads(conn: &mut SqliteConnection) -> Result<(i64, Hash, i64, Hash), sqlx::Error> {
    let (seq, chain) = head_of(conn, EVENTS_HEAD).await?;
    let (rejected, rejected_chain) = head_of(conn, REJECTED_HEAD).await?;
    Ok((seq, chain, rejected, rejected_chain))
}

/// Signs and stores a checkpoint of the heads now, unless the latest already states
/// them (`force` or not) or, without `force`, none is due. Runs inside the caller's
/// transaction. Returns the new checkpoint.
pub async fn make(
    conn: &mut SqliteConnection,
    key: &SigningKey,
    force: bool,
) -> Result<Option<Checkpoint>, sqlx::Error> {
    let (seq, head, rejected_id, rejected_head) = heads(conn).await?;
    let now = now_millis();
    let last = latest(conn).await?;
    let (last_seq, last_rejected, last_at) = last
        .as_ref()
        .map_or((0, 0, i64::MIN / 2), |c| (c.seq, c.rejected_id, c.at));
    let new = seq > last_seq || rejected_id > last_rejected;
    if !new && last.is_some() || seq == 0 && rejected_id == 0 {
        return Ok(None);
    }
    if !force && seq - last_seq < EVERY_PAYLOADS && now - last_at < EVERY_MS {
        return Ok(None);
    }
    let mut checkpoint = Checkpoint {
        id: 0,
        seq,
        head,
        rejected_id,
        rejected_head,
        at: now,
        signature: Vec::new(),
    };
    checkpoint.signature = key.sign(checkpoint.message().as_bytes());
    checkpoint.id = sqlx::query_scalar(
        "INSERT INTO checkpoints (seq, head, rejected_id, rejected_head, at, signature) \
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(checkpoint.seq)
    .bind(&checkpoint.head[..])
    .bind(checkpoint.rejected_id)
    .bind(&checkpoint.rejected_head[..])
    .bind(checkpoint.at)
    .bind(&checkpoint.signature)
    .fetch_one(conn)
    .await?;
    Ok(Some(checkpoint))
}
