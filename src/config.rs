//! Validated configuration shared by the subcommands: where the archive lives.

use std::path::PathBuf;

/// Environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "SPACES_ARCHIVE_DATA_DIR";

/// The default data directory: `$XDG_DATA_HOME/spaces-archive`, else
/// `$HOME/.local/share/spaces-archive`, else `./spaces-archive-data`.
pub fn default_data_dir() -> PathBuf {
    let non_empty = |key: &str| {
        std::env::var_os(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(xdg) = non_empty("XDG_DATA_HOME") {
        return xdg.join("spaces-archive");
    }
    if let Some(home) = non_empty("HOME") {
        return home.join(".local/share/spaces-archive");
    }
    PathBuf::from("spaces-archive-data")
}
