//! Tamper evidence: a hash chain over every stored payload and rejected input
//! ([`link`]), the rows chained when the archive predates it ([`fill`]), the archive's
//! Ed25519 key ([`key`]), signed checkpoints of the chains' heads ([`checkpoint`]), and
//! recomputing it all ([`verify`]).

pub mod checkpoint;
pub mod fill;
pub mod key;
pub mod link;
pub mod verify;

pub use checkpoint::Checkpoint;
pub use key::{PublicKey, SigningKey};
pub use link::{link, sha256, Hash, GENESIS};
