//! The archive's Ed25519 key pair: made on the first open for writing, the private
//! key kept in the data directory (`signing.key`, PKCS#8, mode 0600), the public key
//! given out as 64 hex digits (`spaces-archive key`) so that checkpoints and exports can
//! be checked anywhere.

use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

use super::link::hex;

/// File name of the private key inside the data directory.
pub const KEY_FILE: &str = "signing.key";

/// Why the key could not be had or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file.
    #[error("the archive's signing key {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
    /// The key file is not a key.
    #[error("the archive's signing key {} is not an Ed25519 PKCS#8 key", path.display())]
    Invalid {
        /// The key file.
        path: PathBuf,
    },
    /// A public key given on the command line is not one.
    #[error(
        "{0:?} is not an Ed25519 public key (64 hex digits, or a file whose last line is one)"
    )]
    BadPublicKey(String),
}

/// The archive's signing key.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// The key of the archive in `data_dir`, made (and saved, 0600) when there is none.
    pub fn open_or_create(data_dir: &Path) -> Result<SigningKey, KeyError> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_pkcs8(&bytes, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let io = |source| KeyError::Io {
                    path: path.clone(),
                    source,
                };
                let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .map_err(|_| io(std::io::Error::other("no randomness for a new key")))?;
                // Written under a temporary name and renamed, so that a crash never
                // leaves half a key (which would make every later open fail).
                let temporary = data_dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
                let file = crate::private::write(&temporary, document.as_ref()).map_err(io)?;
                file.sync_all().map_err(io)?;
                std::fs::rename(&temporary, &path).map_err(io)?;
                Self::from_pkcs8(document.as_ref(), &path)
            }
            Err(source) => Err(KeyError::Io { path, source }),
        }
    }

    /// The key of the archive in `data_dir`, if it has one.
    pub fn open(data_dir: &Path) -> Result<Option<SigningKey>, KeyError> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::from_pkcs8(&bytes, &path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(KeyError::Io { path, source }),
        }
    }

    fn from_pkcs8(bytes: &[u8], path: &Path) -> Result<SigningKey, KeyError> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes)
            .map(|pair| SigningKey { pair })
            .map_err(|_| KeyError::Invalid {
                path: path.to_path_buf(),
            })
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.pair.public_key().as_ref());
        PublicKey(bytes)
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// An Ed25519 public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Reads a key as given to `--key`: its 64 hex digits (an `ed25519:` prefix
    /// allowed), or the name of a file whose last non-empty line is that (the output
    /// of `spaces-archive key` saved to a file).
    pub fn parse(given: &str) -> Result<PublicKey, KeyError> {
        let text = match std::fs::read_to_string(given) {
            Ok(content) => content
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string(),
            Err(_) => given.trim().to_string(),
        };
        let digits = text.strip_prefix("ed25519:").unwrap_or(&text);
        crate::store::unhex(digits)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(PublicKey)
            .ok_or_else(|| KeyError::BadPublicKey(given.to_string()))
    }

    /// Whether `signature` is this key's of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_signatures_check_only_with_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(SigningKey::open(dir.path()).unwrap().is_none());
        let key = SigningKey::open_or_create(dir.path()).unwrap();
        assert_eq!(
            crate::private::mode_of(&dir.path().join(KEY_FILE)),
            Some(0o600)
        );
        let again = SigningKey::open_or_create(dir.path()).unwrap();
        assert_eq!(key.public(), again.public());
        let signature = key.sign(b"checkpoint");
        assert!(key.public().verifies(b"checkpoint", &signature));
        assert!(!key.public().verifies(b"checkpoinT", &signature));
        let other = tempfile::tempdir().unwrap();
        let other = SigningKey::open_or_create(other.path()).unwrap();
        assert!(!other.public().verifies(b"checkpoint", &signature));
    }

    #[test]
    fn public_keys_parse_from_hex_or_a_file() {
        let hexed = "ab".repeat(32);
        assert_eq!(PublicKey::parse(&hexed).unwrap().0, [0xab; 32]);
        assert_eq!(
            PublicKey::parse(&format!("ed25519:{hexed}")).unwrap().0,
            [0xab; 32]
        );
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key.txt");
        std::fs::write(&file, format!("public key of /data:\n{hexed}\n\n")).unwrap();
        assert_eq!(
            PublicKey::parse(file.to_str().unwrap()).unwrap().0,
            [0xab; 32]
        );
        let err = PublicKey::parse("nope").unwrap_err().to_string();
        assert!(err.contains("\"nope\""), "{err}");
    }
}
