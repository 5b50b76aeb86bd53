//! `files verify`: every stored content read back and hashed again, each mismatch
//! or missing file named with the file keys that point at it.

use super::content::{Check, ContentStore};
use crate::store::file_reads::stored_contents;
use crate::store::{Archive, StoreError};

/// One stored file that is not what the archive says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The SHA-256 the archive recorded.
    pub sha256: String,
    /// A file key naming it.
    pub file_id: String,
    /// What is wrong.
    pub check: Check,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = format!("files/{} (file {})", self.sha256, self.file_id);
        match &self.check {
            Check::Intact => write!(f, "{name}: intact"),
            Check::Missing => write!(f, "{name}: missing"),
            Check::Altered { found, size } => {
                write!(f, "{name}: altered: its {size} bytes hash to {found}")
            }
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verified {
    /// Contents checked.
    pub checked: u64,
    /// Their bytes.
    pub bytes: u64,
    /// What is wrong.
    pub problems: Vec<Problem>,
}

/// Re-hashes every stored content (off the async threads); `progress` gets the
/// number checked so far.
pub async fn verify_files(
    archive: &Archive,
    store: &ContentStore,
    progress: impl Fn(u64) + Send + 'static,
) -> Result<Verified, StoreError> {
    let contents = stored_contents(archive).await?;
    let store = store.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let mut verified = Verified::default();
        for (sha256, size, file_id) in contents {
            let check = store
                .check(&sha256, u64::try_from(size).ok())
                .unwrap_or_else(|e| Check::Altered {
                    found: format!("unreadable ({e})"),
                    size: 0,
                });
            verified.checked += 1;
            verified.bytes += size.max(0) as u64;
            if check != Check::Intact {
                verified.problems.push(Problem {
                    sha256,
                    file_id,
                    check,
                });
            }
            progress(verified.checked);
        }
        verified
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("file verification stopped: {e}")))?;
    Ok(checked)
}
