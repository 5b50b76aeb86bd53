//! How a payload received again is recognised: its `events.dedup_key`.
//!
//! The key is the id the payload is about (its message, else its space) followed by
//! the digest of its canonical JSON. The digest alone decides whether two payloads are
//! the same; the id in front only decides where the key sits in the unique index.
//! Avaya's ids are MongoDB ObjectIds, which begin with their creation time, so new
//! payloads append to the index instead of landing on random pages of it (random
//! digests alone made every batch rewrite most of the index once it outgrew SQLite's
//! page cache, see migration 0003).

use crate::event::DecodedPayload;

/// The `events.dedup_key` of a payload. Migration 0003 computes the same bytes in SQL
/// for payloads stored before it.
pub fn dedup_key(payload: &DecodedPayload) -> Vec<u8> {
    let id = payload
        .message_id()
        .or(payload.space_id.as_deref())
        .unwrap_or("");
    let mut key = id_prefix(id);
    key.extend_from_slice(&payload.digest);
    key
}

/// The bytes every key of payloads about `id` begins with.
pub fn id_prefix(id: &str) -> Vec<u8> {
    unhex(id).unwrap_or_else(|| id.as_bytes().to_vec())
}

/// The range of keys of the payloads about `id` (and, for ids of other shapes, maybe
/// some about another id with the same prefix: check `message_id`).
pub fn id_range(id: &str) -> (Vec<u8>, Vec<u8>) {
    let start = id_prefix(id);
    let mut end = start.clone();
    // Longer than any digest, so above every key that starts with `start`.
    end.extend_from_slice(&[0xff; 17]);
    (start, end)
}

/// The bytes of an even number of hex digits (either case), as SQLite's `unhex`.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let high = (pair[0] as char).to_digit(16)?;
            let low = (pair[1] as char).to_digit(16)?;
            Some((high * 16 + low) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{decode_json, Decoded};
    use sqlx::{Connection, Row, SqliteConnection};

    fn decoded(json: &str) -> DecodedPayload {
        match decode_json(json).unwrap() {
            Decoded::Payload { payload, .. } => *payload,
            Decoded::Ignored(why) => panic!("ignored: {why}"),
        }
    }

    fn chat(id: &str, text: &str) -> DecodedPayload {
        decoded(&format!(
            r#"{{"_id":"{id}","category":"chat","topicId":"5f04251caa4a347af9946e06","content":{{"bodyText":"{text}"}}}}"#
        ))
    }

    #[test]
    fn keys_follow_object_id_order_and_differ_only_with_the_payload() {
        let earlier = chat("5f084a681015c7cc4929f8ca", "a");
        let later = chat("5f084a691015c7cc4929f800", "a");
        assert!(dedup_key(&earlier) < dedup_key(&later));
        assert_eq!(dedup_key(&earlier).len(), 12 + 16);
        assert_eq!(
            dedup_key(&earlier),
            dedup_key(&chat("5f084a681015c7cc4929f8ca", "a"))
        );
        assert_ne!(
            dedup_key(&earlier),
            dedup_key(&chat("5f084a681015c7cc4929f8ca", "b"))
        );
    }

    /// Runs migration 0003 itself over rows stored the old way, with every shape of id
    /// a payload can carry, and checks it gives the bytes `dedup_key` gives.
    #[tokio::test]
    async fn the_migration_computes_the_same_keys() {
        let payloads = [
            chat("5f084a681015c7cc4929f8ca", "lower-case hex"),
            chat("5F084A681015C7CC4929F8CA", "upper-case hex"),
            chat("5f084a681015c7cc4929f8c", "odd number of digits"),
            chat("task-17", "not hex"),
            chat("ünïcode", "non-ASCII"),
            decoded(
                r#"{"category":"topic.markread","content":{"_id":"5f04251caa4a347af9946e06","readTime":"2024-01-08T00:00:33.690Z"}}"#,
            ),
            decoded(r#"{"category":"app.event.presence.changed"}"#),
        ];
        let mut db = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, space_id TEXT, message_id TEXT, \
             digest BLOB NOT NULL UNIQUE)",
        )
        .execute(&mut db)
        .await
        .unwrap();
        for p in &payloads {
            sqlx::query("INSERT INTO events (space_id, message_id, digest) VALUES (?, ?, ?)")
                .bind(&p.space_id)
                .bind(p.message_id())
                .bind(&p.digest[..])
                .execute(&mut db)
                .await
                .unwrap();
        }
        sqlx::raw_sql(include_str!("../../migrations/0003_event_keys.sql"))
            .execute(&mut db)
            .await
            .unwrap();
        let rows = sqlx::query("SELECT dedup_key, typeof(dedup_key) FROM events ORDER BY seq")
            .fetch_all(&mut db)
            .await
            .unwrap();
        assert_eq!(rows.len(), payloads.len());
        for (row, payload) in rows.iter().zip(&payloads) {
            let migrated: Vec<u8> = row.get(0);
            assert_eq!(row.get::<&str, _>(1), "blob");
            assert_eq!(migrated, dedup_key(payload), "{:?}", payload.message_id());
        }
    }
}
