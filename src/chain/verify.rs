//! Recomputing both chains from the rows and checking every checkpoint against them
//! (`verify`). One thread steps through the table in SQLite; another decompresses and
//! hashes each payload and follows the chain, so a million payloads take seconds.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver};

use super::checkpoint::{list, Checkpoint};
use super::key::PublicKey;
use super::link::{hash_of, hex, link, sha256, Hash, GENESIS};
use crate::store::raw::{blocking, RawConnection};
use crate::store::{decompress, Archive, StoreError};

/// Problems listed per kind before the rest are only counted.
const KEEP: usize = 100;

/// Rows handed to the hashing thread at a time.
const CHUNK: usize = 2_048;

/// What checking the chains found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Payload rows checked.
    pub payloads: u64,
    /// Rejected-input rows checked.
    pub rejected: u64,
    /// Purged payloads (checked through their tombstone's digest).
    pub tombstones: u64,
    /// Where the chains break, the first first: each names the table, the row and why.
    pub breaks: Vec<String>,
    /// Breaks beyond those listed.
    pub more_breaks: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Checkpoints that are not signed by the archive's key or do not match the rows.
    pub checkpoint_problems: Vec<String>,
    /// The latest checkpoint.
    pub latest: Option<Checkpoint>,
    /// Payloads after the latest checkpoint (signed at the writer's next checkpoint).
    pub unsigned: i64,
}

impl ChainReport {
    /// Whether both chains and every checkpoint hold.
    pub fn is_ok(&self) -> bool {
        self.breaks.is_empty() && self.checkpoint_problems.is_empty()
    }
}

/// One row as read: its number, time, source, stored bytes, chain and (for a purged
/// payload) the tombstone's digest.
struct RowIn {
    n: i64,
    received_at: i64,
    source: String,
    bytes: Vec<u8>,
    chain: Option<Hash>,
    tombstone: Option<Hash>,
}

/// What following one chain gave: the recomputed value at each row asked for, the
/// last row, and the breaks.
#[derive(Default)]
struct Followed {
    rows: u64,
    tombstones: u64,
    last: i64,
    at: BTreeMap<i64, Hash>,
    breaks: Vec<String>,
    more: u64,
}

impl Followed {
    fn broke(&mut self, text: String) {
        if self.breaks.len() < KEEP {
            self.breaks.push(text);
        } else {
            self.more += 1;
        }
    }
}

/// Checks both chains and every checkpoint; `key` is the archive's public key
/// (checkpoints are reported unsigned without it).
pub async fn verify_chain(
    archive: &Archive,
    key: Option<PublicKey>,
) -> Result<ChainReport, StoreError> {
    let mut conn = archive.pool().acquire().await?;
    let checkpoints = list(&mut conn).await?;
    let mut handle = conn.lock_handle().await?;
    let wanted_events: Vec<i64> = checkpoints.iter().map(|c| c.seq).collect();
    let wanted_rejected: Vec<i64> = checkpoints.iter().map(|c| c.rejected_id).collect();
    let (events, rejected) = blocking(|| {
        let raw = RawConnection::new(&mut handle);
        let events = follow(
            &raw,
            "events",
            "SELECT e.seq, e.received_at, e.source, e.payload, e.chain, t.payload_sha256 \
             FROM events e LEFT JOIN tombstones t ON t.seq = e.seq ORDER BY e.seq",
            &wanted_events,
        )?;
        let rejected = follow(
            &raw,
            "rejected",
            "SELECT id, received_at, source, raw, chain, NULL FROM rejected ORDER BY id",
            &wanted_rejected,
        )?;
        Ok::<_, StoreError>((events, rejected))
    })?;
    let mut report = ChainReport {
        payloads: events.rows,
        rejected: rejected.rows,
        tombstones: events.tombstones,
        more_breaks: events.more + rejected.more,
        checkpoints: checkpoints.len() as u64,
        ..ChainReport::default()
    };
    report.breaks = events.breaks.clone();
    report.breaks.extend(rejected.breaks.iter().cloned());
    let mut previous: Option<&Checkpoint> = None;
    for checkpoint in &checkpoints {
        let mut problem = |why: String| {
            report.checkpoint_problems.push(format!(
                "checkpoint {} (seq {}): {why}",
                checkpoint.id, checkpoint.seq
            ))
        };
        match &key {
            Some(key) if !checkpoint.signed_by(key) => {
                problem("its signature does not verify with the archive's key: altered".into())
            }
            Some(_) => {}
            None => problem("cannot be checked: the archive has no signing key".into()),
        }
        check_head(
            &events,
            checkpoint.seq,
            &checkpoint.head,
            "payload",
            &mut problem,
        );
        check_head(
            &rejected,
            checkpoint.rejected_id,
            &checkpoint.rejected_head,
            "rejected-input",
            &mut problem,
        );
        if let Some(before) = previous {
            if checkpoint.seq < before.seq || checkpoint.rejected_id < before.rejected_id {
                problem(format!("goes back from checkpoint {}", before.id));
            }
        }
        previous = Some(checkpoint);
    }
    report.unsigned = events.last - checkpoints.last().map_or(0, |c| c.seq);
    report.latest = checkpoints.last().cloned();
    Ok(report)
}

fn check_head(
    followed: &Followed,
    n: i64,
    head: &Hash,
    what: &str,
    problem: &mut impl FnMut(String),
) {
    if n == 0 {
        if head != &GENESIS {
            problem(format!("states a {what} head before the first row"));
        }
        return;
    }
    match followed.at.get(&n) {
        None => problem(format!(
            "names {what} row {n}, which is missing (the table ends at {}): rows were removed",
            followed.last
        )),
        Some(actual) if actual != head => problem(format!(
            "its {what} head {} is not the chain recomputed at row {n} ({})",
            hex(head),
            hex(actual)
        )),
        Some(_) => {}
    }
}

/// Reads `sql`'s rows on this thread and follows their chain on another.
fn follow(
    raw: &RawConnection<'_>,
    table: &'static str,
    sql: &str,
    wanted: &[i64],
) -> Result<Followed, StoreError> {
    let mut stmt = raw.prepare(sql)?;
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Vec<RowIn>>(4);
        let hasher = s.spawn(move || hash_rows(table, rx, wanted));
        let mut chunk = Vec::with_capacity(CHUNK);
        let mut failed = None;
        loop {
            match stmt.step() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
            chunk.push(RowIn {
                n: stmt.i64(0),
                received_at: stmt.i64(1),
                source: stmt
                    .text(2, "source")
                    .ok()
                    .flatten()
                    .unwrap_or("")
                    .to_string(),
                bytes: stmt.bytes(3).unwrap_or_default().to_vec(),
                chain: stmt.bytes(4).and_then(hash_of),
                tombstone: stmt.bytes(5).and_then(hash_of),
            });
            if chunk.len() == CHUNK && tx.send(std::mem::take(&mut chunk)).is_err() {
                break;
            }
        }
        if !chunk.is_empty() {
            let _ = tx.send(chunk);
        }
        drop(tx);
        let followed = hasher
            .join()
            .map_err(|_| StoreError::Corrupt(format!("checking the {table} chain panicked")))?;
        match failed {
            Some(e) => Err(e),
            None => Ok(followed),
        }
    })
}

fn hash_rows(table: &str, rows: Receiver<Vec<RowIn>>, wanted: &[i64]) -> Followed {
    let mut followed = Followed::default();
    let wanted: std::collections::HashSet<i64> = wanted.iter().copied().collect();
    let mut previous = GENESIS;
    let mut expected_n = 1;
    for chunk in rows {
        for row in chunk {
            followed.rows += 1;
            let gap = row.n != expected_n;
            if gap {
                let missing = if row.n - 1 > expected_n {
                    format!("rows {expected_n} to {} are", row.n - 1)
                } else {
                    format!("row {expected_n} is")
                };
                followed.broke(format!(
                    "{table} row {}: {missing} missing (removed)",
                    row.n
                ));
            }
            let digest = match row.tombstone {
                Some(digest) => {
                    followed.tombstones += 1;
                    if !row.bytes.is_empty() {
                        followed.broke(format!(
                            "{table} row {}: purged, yet it holds {} bytes of payload",
                            row.n,
                            row.bytes.len()
                        ));
                    }
                    digest
                }
                None => match decompress(&row.bytes) {
                    Ok(bytes) => sha256(&bytes),
                    Err(e) => {
                        followed.broke(format!(
                            "{table} row {}: its stored bytes do not decompress ({e}): altered",
                            row.n
                        ));
                        sha256(&row.bytes)
                    }
                },
            };
            let value = link(&previous, row.n, row.received_at, &row.source, &digest);
            match row.chain {
                None => followed.broke(format!("{table} row {}: it has no chain value", row.n)),
                Some(stored) if stored != value && !gap => followed.broke(format!(
                    "{table} row {}: it does not match its chain value: its payload, time, \
                     source or chain was altered, or rows were swapped or reordered",
                    row.n
                )),
                Some(_) => {}
            }
            // Follow the stored chain from here, so that each later break is named
            // too and an intact rest is not reported.
            previous = row.chain.unwrap_or(value);
            if wanted.contains(&row.n) {
                followed.at.insert(row.n, value);
            }
            expected_n = row.n + 1;
            followed.last = row.n;
        }
    }
    followed
}
