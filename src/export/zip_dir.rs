//! A finished export directory zipped into one file, for the web app's download:
//! every file deflated under its relative path, written under a temporary name and
//! renamed when whole.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::sink::hex;

/// Zips the directory `dir` (every file, paths relative to it, deflated) into `zip`
/// (through a temporary name, renamed when whole); the zip's SHA-256.
pub fn zip_dir(dir: &Path, zip: &Path) -> io::Result<String> {
    use zip::write::SimpleFileOptions;
    let mut files = Vec::new();
    collect_files(dir, dir, &mut files)?;
    files.sort();
    let name = zip.file_name().unwrap_or_default().to_string_lossy();
    let temporary = zip.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let out = crate::private::create_options().open(&temporary)?;
    let mut writer = zip::ZipWriter::new(BufWriter::new(out));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let result = (|| -> io::Result<()> {
        for rel in &files {
            writer
                .start_file(rel.as_str(), options)
                .map_err(io::Error::other)?;
            io::copy(&mut File::open(dir.join(rel))?, &mut writer)?;
        }
        let out = writer.finish().map_err(io::Error::other)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    let mut hash = Sha256::new();
    io::copy(&mut File::open(&temporary)?, &mut hash)?;
    std::fs::rename(&temporary, zip)?;
    Ok(hex(&hash.finalize()))
}

/// Every file below `dir`, as `/`-separated paths relative to `root`.
pub fn collect_files(root: &Path, dir: &Path, into: &mut Vec<String>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, into)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            into.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}
