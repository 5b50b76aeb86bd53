//! What an export says of each attachment's bytes: every attachment object of a
//! message or version record gains `sha256`, `status` (`pending`, `stored`,
//! `failed`, `gone`, `too_large`; null for an attachment with no file key) and
//! `stored` (whether the bytes are in the archive), read from the `files` table as
//! of the export's snapshot.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use sqlx::SqliteConnection;

use crate::store::file_reads::AttachmentState;
use crate::store::StoreError;

/// Every queued file's state, by key, and the stored contents the exported records
/// name (for `export --files`).
#[derive(Debug, Default)]
pub struct FileStates {
    states: HashMap<String, AttachmentState>,
    used: Mutex<BTreeMap<String, i64>>,
}

impl FileStates {
    /// The stored contents named so far: SHA-256 and size.
    pub fn used(&self) -> BTreeMap<String, i64> {
        self.used.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The state of every file, read inside the export's snapshot.
pub async fn load_states(conn: &mut SqliteConnection) -> Result<Arc<FileStates>, StoreError> {
    let rows: Vec<(String, String, Option<String>, Option<i64>)> =
        sqlx::query_as("SELECT file_id, status, sha256, size FROM files")
            .fetch_all(conn)
            .await?;
    let mut states = HashMap::with_capacity(rows.len());
    for (id, status, sha256, size) in rows {
        let status = crate::store::files::FileStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("file {id}: status {status:?}")))?;
        states.insert(
            id,
            AttachmentState {
                status,
                sha256,
                size,
            },
        );
    }
    Ok(Arc::new(FileStates {
        states,
        used: Mutex::default(),
    }))
}

/// `attachments` (a stored JSON array) with each object's file state added.
pub fn with_states(attachments: &str, states: &FileStates) -> Result<String, serde_json::Error> {
    let mut items: Vec<Map<String, Value>> = serde_json::from_str(attachments)?;
    for item in &mut items {
        let state = item
            .get("file_id")
            .and_then(Value::as_str)
            .and_then(|key| states.states.get(key));
        let status = state.map(|s| s.status);
        if let Some(AttachmentState {
            status: crate::store::files::FileStatus::Stored,
            sha256: Some(sha256),
            size,
        }) = state
        {
            let mut used = states.used.lock().unwrap_or_else(|e| e.into_inner());
            used.insert(sha256.clone(), size.unwrap_or(0));
        }
        item.insert("sha256".into(), state.and_then(|s| s.sha256.clone()).into());
        item.insert("status".into(), status.map(|s| s.as_str()).into());
        item.insert(
            "stored".into(),
            (status == Some(crate::store::files::FileStatus::Stored)).into(),
        );
    }
    serde_json::to_string(&items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::files::FileStatus;

    #[test]
    fn each_attachment_says_whether_its_bytes_are_stored() {
        let mut states = HashMap::new();
        states.insert(
            "a".to_string(),
            AttachmentState {
                status: FileStatus::Stored,
                sha256: Some("ab".repeat(32)),
                size: Some(5),
            },
        );
        states.insert(
            "b".to_string(),
            AttachmentState {
                status: FileStatus::Gone,
                sha256: None,
                size: None,
            },
        );
        let states = FileStates {
            states,
            used: Mutex::default(),
        };
        let json = r#"[{"file_id":"a","name":"x.txt"},{"file_id":"b"},{"name":"no key"}]"#;
        let out: Value = serde_json::from_str(&with_states(json, &states).unwrap()).unwrap();
        assert_eq!(out[0]["sha256"], "ab".repeat(32));
        assert_eq!(out[0]["status"], "stored");
        assert_eq!(out[0]["stored"], true);
        assert_eq!(out[0]["name"], "x.txt");
        assert_eq!(out[1]["status"], "gone");
        assert_eq!(out[1]["stored"], false);
        assert_eq!(out[2]["status"], Value::Null);
        assert_eq!(out[2]["stored"], false);
        assert!(with_states("{", &states).is_err());
        assert_eq!(
            states.used().into_iter().collect::<Vec<_>>(),
            vec![("ab".repeat(32), 5)]
        );
    }
}
