//! Where export bytes go: stdout or a file written under a temporary name and renamed
//! when complete, optionally compressed, with the SHA-256 of the records (for the
//! `complete` line) and of the bytes written (for the `FILE.sha256` sidecar).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::direct::DirectFile;

/// `--compress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zstd (level 3).
    Zstd,
    /// gzip (level 6).
    Gzip,
}

/// A writer that hashes what passes through it (when it has a hasher: the bytes of an
/// uncompressed export are the records and the last line, whose hash is known anyway).
struct Hashing<W> {
    inner: W,
    hash: Option<Sha256>,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(hash) = &mut self.hash {
            hash.update(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where the bytes go.
enum Output {
    Stdout(io::Stdout),
    File(DirectFile),
    Records(Box<dyn Write + Send>),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(w) => w.write(buf),
            Output::File(w) => w.write(buf),
            Output::Records(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(w) => w.flush(),
            Output::File(w) => w.flush(),
            Output::Records(w) => w.flush(),
        }
    }
}

type Raw = Hashing<BufWriter<Output>>;

enum Encoder {
    Plain(Raw),
    Zstd(zstd::Encoder<'static, Raw>),
    Gzip(flate2::write::GzEncoder<Raw>),
}

impl Encoder {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Encoder::Plain(w) => w,
            Encoder::Zstd(w) => w,
            Encoder::Gzip(w) => w,
        }
    }

    fn finish(self) -> io::Result<Raw> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Zstd(w) => w.finish(),
            Encoder::Gzip(w) => w.finish(),
        }
    }
}

/// The destination of one export.
pub struct Sink {
    encoder: Encoder,
    records: Sha256,
    target: Option<Target>,
}

/// A file being written: its temporary name and final name. Until it is renamed into
/// place, dropping it deletes the temporary file: an export that did not finish leaves
/// nothing behind.
struct Target {
    temporary: PathBuf,
    path: PathBuf,
    renamed: bool,
}

impl Drop for Target {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

impl Sink {
    /// Writes to `path` (through a temporary file beside it), or to stdout when `None`.
    pub fn open(path: Option<&Path>, compression: Option<Compression>) -> io::Result<Sink> {
        let (out, target) = match path {
            None => (Output::Stdout(io::stdout()), None),
            Some(path) => {
                let name = path
                    .file_name()
                    .ok_or_else(|| {
                        io::Error::other(format!("{} is not a file name", path.display()))
                    })?
                    .to_string_lossy();
                let temporary =
                    path.with_file_name(format!(".{name}.partial-{}", std::process::id()));
                let file = DirectFile::create(&temporary)?;
                tracing::debug!(direct = file.is_direct(), path = %temporary.display(), "export file");
                (
                    Output::File(file),
                    Some(Target {
                        temporary,
                        path: path.to_path_buf(),
                        renamed: false,
                    }),
                )
            }
        };
        let raw = Hashing {
            inner: BufWriter::with_capacity(1 << 20, out),
            hash: compression.map(|_| Sha256::new()),
        };
        let encoder = match compression {
            None => Encoder::Plain(raw),
            Some(Compression::Zstd) => Encoder::Zstd(zstd::Encoder::new(raw, 3)?),
            Some(Compression::Gzip) => Encoder::Gzip(flate2::write::GzEncoder::new(
                raw,
                flate2::Compression::default(),
            )),
        };
        Ok(Sink {
            encoder,
            records: Sha256::new(),
            target,
        })
    }

    /// Hands every record line, uncompressed, to `writer` (the writer of another
    /// format), the `complete` line last.
    pub fn records(writer: Box<dyn Write + Send>) -> Sink {
        Sink {
            encoder: Encoder::Plain(Hashing {
                inner: BufWriter::with_capacity(1 << 20, Output::Records(writer)),
                hash: None,
            }),
            records: Sha256::new(),
            target: None,
        }
    }

    /// Writes one record's line (without its newline), hashed as a record.
    pub fn line(&mut self, json: &[u8]) -> io::Result<()> {
        self.records.update(json);
        self.records.update(b"\n");
        let w = self.encoder.writer();
        w.write_all(json)?;
        w.write_all(b"\n")
    }

    /// Takes the hash of the records written so far, for another thread to go on with
    /// while this one writes (see [`Sink::write_hashed`]); [`Sink::put_records`] gives
    /// it back.
    pub fn take_records(&mut self) -> Sha256 {
        std::mem::take(&mut self.records)
    }

    /// Gives back the hash [`Sink::take_records`] took, with everything since in it.
    pub fn put_records(&mut self, records: Sha256) {
        self.records = records;
    }

    /// Writes whole record lines (each ending in a newline) whose hash the holder of
    /// [`Sink::take_records`] updates.
    pub fn write_hashed(&mut self, lines: &[u8]) -> io::Result<()> {
        self.encoder.writer().write_all(lines)
    }

    /// SHA-256 (hex) of every record line written so far.
    pub fn records_sha256(&self) -> String {
        hex(&self.records.clone().finalize())
    }

    /// Writes the last line (not hashed as a record), finishes compression, and, for
    /// a file, syncs it, renames it into place and writes `FILE.sha256` beside it.
    /// Returns the SHA-256 of the bytes written.
    pub fn finish(self, last: &[u8]) -> io::Result<String> {
        let mut encoder = self.encoder;
        let w = encoder.writer();
        w.write_all(last)?;
        w.write_all(b"\n")?;
        let mut raw = encoder.finish()?;
        raw.flush()?;
        let file_hash = match raw.hash.take() {
            Some(hash) => hash,
            None => {
                let mut hash = self.records;
                hash.update(last);
                hash.update(b"\n");
                hash
            }
        };
        let file_sha256 = hex(&file_hash.finalize());
        let out = raw.inner.into_inner().map_err(|e| e.into_error())?;
        let (Some(mut target), Output::File(file)) = (self.target, out) else {
            return Ok(file_sha256);
        };
        file.finish()?;
        std::fs::rename(&target.temporary, &target.path)?;
        target.renamed = true;
        let name = target
            .path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy();
        let sidecar = sidecar_path(&target.path);
        let temporary = sidecar.with_file_name(format!(
            ".{}.partial-{}",
            sidecar.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        crate::private::write(&temporary, format!("{file_sha256}  {name}\n").as_bytes())?
            .sync_all()?;
        std::fs::rename(&temporary, &sidecar)?;
        // The renames themselves are durable once the directory is synced.
        let directory = match target.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(directory)?.sync_all()?;
        Ok(file_sha256)
    }
}

/// `FILE.sha256`.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    path.with_file_name(name)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
