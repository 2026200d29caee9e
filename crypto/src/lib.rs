//! Cryptographic building blocks of bftledger, and its canonical encoding.
//!
//! Everything here is pure computation (the one exception is [`keyfile`], which reads and writes
//! the key files an operator keeps on disk). The consensus core, the ledger and the node all build
//! on these types, so a signature or a digest means the same thing everywhere:
//!
//! * [`Digest`]: SHA-256, the identity of transfers, batches, blocks and states.
//! * [`SecretKey`], [`PublicKey`], [`Signature`]: ed25519 with **domain separation**
//!   ([`Domain`]): a signature made for one purpose never verifies for another.
//! * [`verify_batch`]: batch verification that, on failure, names every bad item.
//! * [`Address`]: the human form of a public key, with a checksum that catches typos.
//! * [`encoding`]: the one canonical, size-limited, versioned byte encoding.
//!
//! ```
//! use bftledger_crypto::{Domain, SecretKey};
//! let key = SecretKey::generate();
//! let sig = key.sign(Domain::Transfer, b"pay bob 5");
//! assert!(key.public().verify(Domain::Transfer, b"pay bob 5", &sig).is_ok());
//! // The same bytes signed as a transfer are not a valid consensus message.
//! assert!(key.public().verify(Domain::Consensus, b"pay bob 5", &sig).is_err());
//! ```

mod address;
mod batch;
mod digest;
pub mod encoding;
mod generations;
pub mod key_memo;
pub mod keyfile;
mod keys;
#[cfg(feature = "verdict-memo")]
pub mod verdict_memo;

pub use address::{Address, AddressError, ADDRESS_PREFIX};
pub use batch::{verify_batch, BatchError, BatchItem};
pub use digest::{Digest, DigestParseError};
pub use keys::{CryptoError, Domain, PublicKey, SecretKey, Signature};
