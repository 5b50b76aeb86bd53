//! Putting message lines in export order without reading the archive in that order.
//!
//! Export order (space, created, id) is not storage order (arrival): reading rows in
//! export order fetches SQLite pages at random, which was most of an export's time.
//! So lines are made in storage order and put in place by an external merge sort:
//! each message's export position is known before it is read (the keys query gives
//! the order), lines gather in a run of bounded size, a full run is sorted by position
//! and appended to an unlinked spill file, and at the end the runs are merged by
//! position. A run that never fills is merged from memory: a small export touches no
//! file. Spilled runs are LZ4 frames: a fifth of the bytes through the page cache,
//! which cost more than compressing them. Memory is the runs being filled plus, while
//! merging, one frame (64 KiB, and its compressed bytes) per spilled run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Lines are spilled in LZ4 frames of about this many bytes: each line whole in one
/// frame, and one frame per spilled run in memory while merging.
const FRAME: usize = 64 << 10;
/// Frames gathered before one write to the spill file.
const SPILL_WRITE: usize = 1 << 20;
/// A spilled line: position (u64) and length (u64), little-endian, then the line.
const HEADER: usize = 16;
/// A frame: its compressed and its plain length (u32 each, little-endian), then it.
const FRAME_HEADER: usize = 8;
/// Room left for the next line when a run's buffer grows.
const HEADROOM: usize = 1 << 20;

/// One line of the current run: its export position and where it is in the buffer.
struct Entry {
    position: u64,
    start: usize,
    end: usize,
}

/// Lines made in any order, gathered in runs sorted by export position.
pub struct Runs {
    budget: usize,
    dir: PathBuf,
    lines: Vec<u8>,
    entries: Vec<Entry>,
    spill: Option<File>,
    spilled: Vec<(u64, u64)>,
    spill_len: u64,
}

impl Runs {
    /// Runs of about `budget` bytes; spill files are made (unlinked) in `dir`.
    pub fn new(dir: &Path, budget: usize) -> Runs {
        Runs {
            budget: budget.max(1),
            dir: dir.to_path_buf(),
            lines: Vec::new(),
            entries: Vec::new(),
            spill: None,
            spilled: Vec::new(),
            spill_len: 0,
        }
    }

    /// Where the next line is written; [`Runs::commit`] then files it.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        // Grown by hand up to the budget (and a line's worth more), so that a run
        // does not double its buffer just past the budget.
        if self.lines.capacity() - self.lines.len() < HEADROOM {
            let want = (self.lines.capacity() * 2)
                .min(self.budget.saturating_add(HEADROOM))
                .max(HEADROOM);
            self.lines
                .reserve_exact(want.saturating_sub(self.lines.len()).max(HEADROOM));
        }
        &mut self.lines
    }

    /// Files the bytes written to [`Runs::buffer`] since `start` as the line at
    /// `position`, and spills the run when it is full.
    pub fn commit(&mut self, position: u64, start: usize) -> io::Result<()> {
        self.entries.push(Entry {
            position,
            start,
            end: self.lines.len(),
        });
        if self.lines.len() >= self.budget {
            self.spill_run()?;
        }
        Ok(())
    }

    /// Sorts the run in memory and appends it to the spill file.
    fn spill_run(&mut self) -> io::Result<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let file = match &mut self.spill {
            Some(file) => file,
            None => self
                .spill
                .insert(tempfile::tempfile_in(&self.dir).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "creating a spill file in {} for ordering the export: {e}",
                            self.dir.display()
                        ),
                    )
                })?),
        };
        self.entries.sort_unstable_by_key(|e| e.position);
        let offset = self.spill_len;
        let mut frame = Vec::with_capacity(FRAME + FRAME / 4);
        let mut out = Vec::with_capacity(SPILL_WRITE + SPILL_WRITE / 4);
        let entries = self.entries.len();
        for (i, entry) in self.entries.iter().enumerate() {
            let line = &self.lines[entry.start..entry.end];
            frame.extend_from_slice(&entry.position.to_le_bytes());
            frame.extend_from_slice(&(line.len() as u64).to_le_bytes());
            frame.extend_from_slice(line);
            if frame.len() >= FRAME || i + 1 == entries {
                pack(&frame, &mut out)?;
                frame.clear();
            }
            if out.len() >= SPILL_WRITE || i + 1 == entries {
                file.write_all(&out)?;
                self.spill_len += out.len() as u64;
                out.clear();
            }
        }
        self.spilled.push((offset, self.spill_len - offset));
        self.entries.clear();
        self.lines.clear();
        Ok(())
    }
}

/// Merges the runs of one or more [`Runs`] into one stream in position order.
pub struct Merge {
    sources: Vec<Source>,
    heap: BinaryHeap<Reverse<(u64, usize)>>,
}

/// A run being merged.
enum Source {
    /// The last run of a [`Runs`], never spilled: its entries, sorted, and bytes.
    Memory {
        lines: Vec<u8>,
        entries: Vec<Entry>,
        next: usize,
    },
    /// A run in a spill file, read a frame at a time.
    Spilled {
        file: std::sync::Arc<File>,
        offset: u64,
        end: u64,
        /// The current frame, unpacked, and where its next line starts.
        frame: Vec<u8>,
        at: usize,
        packed: Vec<u8>,
    },
}

impl Merge {
    /// Merges every run of `runs`.
    pub fn new(runs: Vec<Runs>) -> io::Result<Merge> {
        let mut sources = Vec::new();
        for mut run in runs {
            if let Some(file) = run.spill.take() {
                let file = std::sync::Arc::new(file);
                for &(offset, len) in &run.spilled {
                    sources.push(Source::Spilled {
                        file: file.clone(),
                        offset,
                        end: offset + len,
                        frame: Vec::new(),
                        at: 0,
                        packed: Vec::new(),
                    });
                }
            }
            if !run.entries.is_empty() {
                run.entries.sort_unstable_by_key(|e| e.position);
                sources.push(Source::Memory {
                    lines: std::mem::take(&mut run.lines),
                    entries: std::mem::take(&mut run.entries),
                    next: 0,
                });
            }
        }
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            if let Some(position) = source.peek()? {
                heap.push(Reverse((position, i)));
            }
        }
        Ok(Merge { sources, heap })
    }

    /// Appends the next line (in position order) to `out`; `false` when none is left.
    pub fn next_line(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(false);
        };
        let source = &mut self.sources[i];
        source.take(out);
        if let Some(position) = source.peek()? {
            self.heap.push(Reverse((position, i)));
        }
        Ok(true)
    }
}

impl Source {
    /// The position of the next line, reading more of a spilled run when needed.
    fn peek(&mut self) -> io::Result<Option<u64>> {
        match self {
            Source::Memory { entries, next, .. } => Ok(entries.get(*next).map(|e| e.position)),
            Source::Spilled {
                file,
                offset,
                end,
                frame,
                at,
                packed,
            } => {
                if *at == frame.len() {
                    if *offset == *end {
                        return Ok(None);
                    }
                    unpack(file, offset, *end, packed, frame)?;
                    *at = 0;
                }
                let header = frame
                    .get(*at..*at + HEADER)
                    .ok_or_else(|| corrupt("a line's header is cut"))?;
                let position = u64::from_le_bytes(header[..8].try_into().unwrap_or_default());
                let len = u64::from_le_bytes(header[8..].try_into().unwrap_or_default());
                if (frame.len() - *at - HEADER) as u64 >= len {
                    Ok(Some(position))
                } else {
                    Err(corrupt("a line is cut"))
                }
            }
        }
    }

    /// Appends the line [`Source::peek`] found to `out`.
    fn take(&mut self, out: &mut Vec<u8>) {
        match self {
            Source::Memory {
                lines,
                entries,
                next,
            } => {
                let e = &entries[*next];
                out.extend_from_slice(&lines[e.start..e.end]);
                *next += 1;
            }
            Source::Spilled { frame, at, .. } => {
                let len =
                    u64::from_le_bytes(frame[*at + 8..*at + HEADER].try_into().unwrap_or_default())
                        as usize;
                let start = *at + HEADER;
                out.extend_from_slice(&frame[start..start + len]);
                *at = start + len;
            }
        }
    }
}

/// Appends `frame` to `out`, compressed, with its header.
fn pack(frame: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    let most = lz4_flex::block::get_maximum_output_size(frame.len());
    out.resize(start + FRAME_HEADER + most, 0);
    let packed = lz4_flex::block::compress_into(frame, &mut out[start + FRAME_HEADER..])
        .map_err(|e| io::Error::other(format!("compressing a spilled run: {e}")))?;
    let lengths = |n: usize| u32::try_from(n).map_err(|_| corrupt("a line over 4 GiB"));
    out[start..start + 4].copy_from_slice(&lengths(packed)?.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&lengths(frame.len())?.to_le_bytes());
    out.truncate(start + FRAME_HEADER + packed);
    Ok(())
}

/// Reads the frame at `offset` (before `end`) of `file` into `frame`, uncompressed.
fn unpack(
    file: &File,
    offset: &mut u64,
    end: u64,
    packed: &mut Vec<u8>,
    frame: &mut Vec<u8>,
) -> io::Result<()> {
    let mut header = [0u8; FRAME_HEADER];
    file.read_exact_at(&mut header, *offset)?;
    let packed_len = u32::from_le_bytes(header[..4].try_into().unwrap_or_default()) as usize;
    let plain_len = u32::from_le_bytes(header[4..].try_into().unwrap_or_default()) as usize;
    let next = *offset + (FRAME_HEADER + packed_len) as u64;
    if next > end {
        return Err(corrupt("a frame runs past the end of its run"));
    }
    packed.resize(packed_len, 0);
    file.read_exact_at(packed, *offset + FRAME_HEADER as u64)?;
    frame.resize(plain_len, 0);
    let n = lz4_flex::block::decompress_into(packed, frame)
        .map_err(|e| corrupt(&format!("a frame does not decompress: {e}")))?;
    if n != plain_len {
        return Err(corrupt("a frame is shorter than its header says"));
    }
    *offset = next;
    Ok(())
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("spill file of the export: {what}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of varied lengths at shuffled positions come back in position order,
    /// whatever the run size: everything in memory, many spilled runs, and runs
    /// smaller than one line.
    #[test]
    fn merges_runs_in_position_order() {
        let dir = tempfile::tempdir().unwrap();
        let n = 5_000u64;
        let line = |p: u64| {
            let mut l = format!("{{\"position\":{p},\"fill\":\"");
            l.push_str(&"x".repeat((p * 7919 % 3001) as usize));
            l.push_str("\"}\n");
            l
        };
        let expected: Vec<u8> = (0..n).flat_map(|p| line(p).into_bytes()).collect();
        for budget in [usize::MAX, 1 << 20, 100_000, 1] {
            for readers in [1, 3] {
                let mut runs: Vec<Runs> = (0..readers)
                    .map(|_| Runs::new(dir.path(), budget))
                    .collect();
                // Positions in a scrambled order, dealt to the readers in turn.
                for k in 0..n {
                    let p = k * 2_654_435_761 % n;
                    let run = &mut runs[(k % readers) as usize];
                    let start = run.buffer().len();
                    run.buffer().extend_from_slice(line(p).as_bytes());
                    run.commit(p, start).unwrap();
                }
                let spilled = runs.iter().map(|r| r.spilled.len()).sum::<usize>();
                assert_eq!(spilled > 0, budget != usize::MAX, "budget {budget}");
                let mut merge = Merge::new(runs).unwrap();
                let mut out = Vec::new();
                while merge.next_line(&mut out).unwrap() {}
                assert!(out == expected, "budget {budget}, {readers} readers");
            }
        }
    }

    /// A spill file cut short is an error, not a short export.
    #[test]
    fn a_truncated_spill_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut runs = Runs::new(dir.path(), 1);
        for p in 0..3u64 {
            let start = runs.buffer().len();
            runs.buffer().extend_from_slice(b"{\"a\":1}\n");
            runs.commit(p, start).unwrap();
        }
        runs.spill
            .as_ref()
            .unwrap()
            .set_len(runs.spill_len - 3)
            .unwrap();
        let result = Merge::new(vec![runs]).and_then(|mut merge| {
            let mut out = Vec::new();
            while merge.next_line(&mut out)? {}
            Ok(out)
        });
        assert!(result.is_err(), "{result:?}");
    }
}
