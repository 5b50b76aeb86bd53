//! An export file written around the page cache (`O_DIRECT`, on Linux): an export is
//! written once and not read back, so caching it would only evict the archive's own
//! pages, and copying gigabytes into the cache costs more CPU than the disk needs to
//! store them (a 2.7 GB export: 394 MB/s through the cache with a final fsync, 1.2 to
//! 1.6 GB/s direct, on the machine of the benchmark). Where the file system refuses
//! direct I/O, the file is written the ordinary way.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Direct writes go in whole buffers of this size, aligned to it in memory and in
/// the file (a multiple of every block size in use).
const ALIGN: usize = 4096;
const BUFFER: usize = 4 << 20;

/// A new file, written in aligned blocks by a thread of its own (one buffer is filled
/// while the other is on its way to disk); [`DirectFile::finish`] writes the tail and
/// syncs it.
pub struct DirectFile {
    filling: Aligned,
    len: usize,
    spare: Option<Aligned>,
    full: Option<SyncSender<Aligned>>,
    emptied: Receiver<io::Result<Aligned>>,
    disk: Option<JoinHandle<Disk>>,
    direct: bool,
}

/// A buffer of `BUFFER` bytes aligned to `ALIGN`.
struct Aligned {
    memory: Vec<u8>,
    start: usize,
}

impl Aligned {
    fn new() -> Aligned {
        let memory = vec![0u8; BUFFER + ALIGN];
        let start = memory.as_ptr().align_offset(ALIGN);
        Aligned { memory, start }
    }

    fn bytes(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.memory[self.start + range.start..self.start + range.end]
    }

    fn bytes_mut(&mut self, range: std::ops::Range<usize>) -> &mut [u8] {
        &mut self.memory[self.start + range.start..self.start + range.end]
    }
}

/// The file, owned by the thread that writes it.
struct Disk {
    file: File,
    direct: bool,
}

impl DirectFile {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> io::Result<DirectFile> {
        let (file, direct) = match open(path, true) {
            Ok(file) => (file, true),
            Err(e) if e.raw_os_error() == Some(EINVAL) => (open(path, false)?, false),
            Err(e) => return Err(e),
        };
        let (full, to_disk) = sync_channel::<Aligned>(1);
        let (written, emptied) = sync_channel::<io::Result<Aligned>>(2);
        let disk = std::thread::Builder::new()
            .name("export-disk".into())
            .spawn(move || {
                let mut disk = Disk { file, direct };
                for buffer in to_disk {
                    let result = disk.write_out(buffer.bytes(0..BUFFER));
                    let failed = result.is_err();
                    if written.send(result.map(|()| buffer)).is_err() || failed {
                        break;
                    }
                }
                disk
            })?;
        Ok(DirectFile {
            filling: Aligned::new(),
            len: 0,
            spare: Some(Aligned::new()),
            full: Some(full),
            emptied,
            disk: Some(disk),
            direct,
        })
    }

    /// Whether writes bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Hands the full buffer to the disk thread and takes an empty one.
    fn send_full(&mut self) -> io::Result<()> {
        let empty = match self.spare.take() {
            Some(buffer) => buffer,
            None => self.emptied.recv().map_err(|_| stopped())??,
        };
        let full = std::mem::replace(&mut self.filling, empty);
        self.full
            .as_ref()
            .ok_or_else(stopped)?
            .send(full)
            .map_err(|_| stopped())?;
        self.len = 0;
        Ok(())
    }

    /// Writes what is buffered and syncs the file to disk.
    pub fn finish(mut self) -> io::Result<File> {
        drop(self.full.take());
        let mut disk = self
            .disk
            .take()
            .ok_or_else(stopped)?
            .join()
            .map_err(|_| io::Error::other("the export's disk thread panicked"))?;
        for result in self.emptied.try_iter() {
            result?;
        }
        let whole = self.len / ALIGN * ALIGN;
        disk.write_out(self.filling.bytes(0..whole))?;
        if self.len > whole {
            // The tail is not a whole block: write it through the page cache.
            disk.set_direct(false)?;
            disk.write_out(self.filling.bytes(whole..self.len))?;
        }
        self.len = 0;
        disk.file.sync_all()?;
        Ok(disk.file)
    }
}

fn stopped() -> io::Error {
    io::Error::other("the export's disk thread stopped")
}

impl Disk {
    fn write_out(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.file.write_all(bytes) {
            Err(e) if self.direct && e.raw_os_error() == Some(EINVAL) => {
                // Refused at the first write (alignment this file system does not
                // take): nothing was written; go on through the page cache.
                self.set_direct(false)?;
                self.file.write_all(bytes)
            }
            result => result,
        }
    }

    #[cfg(target_os = "linux")]
    fn set_direct(&mut self, on: bool) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        if self.direct == on {
            return Ok(());
        }
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl on a file descriptor this struct owns, with integer arguments.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = if on {
            flags | libc::O_DIRECT
        } else {
            flags & !libc::O_DIRECT
        };
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.direct = on;
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn set_direct(&mut self, _on: bool) -> io::Result<()> {
        self.direct = false;
        Ok(())
    }
}

impl Write for DirectFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.len == BUFFER {
            self.send_full()?;
        }
        let n = data.len().min(BUFFER - self.len);
        self.filling
            .bytes_mut(self.len..self.len + n)
            .copy_from_slice(&data[..n]);
        self.len += n;
        Ok(n)
    }

    /// Whole blocks only go out when the buffer is full; the rest waits for
    /// [`DirectFile::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(target_os = "linux")]
const EINVAL: i32 = libc::EINVAL;
#[cfg(not(target_os = "linux"))]
const EINVAL: i32 = 22;

#[cfg(target_os = "linux")]
fn open(path: &Path, direct: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Mode 0600, also for a temporary file that a crashed export left.
    let mut options = crate::private::create_options();
    if direct {
        options.custom_flags(libc::O_DIRECT);
    }
    let file = options.open(path)?;
    crate::private::restrict(&file)?;
    Ok(file)
}

#[cfg(not(target_os = "linux"))]
fn open(path: &Path, direct: bool) -> io::Result<File> {
    if direct {
        return Err(io::Error::from_raw_os_error(EINVAL));
    }
    let file = crate::private::create_options().open(path)?;
    crate::private::restrict(&file)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every length around the block and buffer sizes comes back byte for byte.
    #[test]
    fn files_hold_exactly_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            ALIGN - 1,
            ALIGN,
            ALIGN + 1,
            BUFFER - 1,
            BUFFER,
            BUFFER + 1,
            2 * BUFFER + 3 * ALIGN + 17,
        ] {
            let path = dir.path().join(format!("out-{len}"));
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let mut file = DirectFile::create(&path).unwrap();
            for piece in data.chunks(100_003) {
                file.write_all(piece).unwrap();
            }
            file.flush().unwrap();
            file.finish().unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), data, "length {len}");
        }
    }
}
