//! How the store reads its own records back: meta keys, typed decoding errors, and loading the
//! accounts.

use super::backend::{Backend, Column};
use crate::error::StoreError;
use crate::genesis::Genesis;
use crate::state::{Account, State};
use bftledger_crypto::encoding::{DecodeError, Versioned};

// Meta keys: the layout table is in the `store` module docs.
pub(super) const KEY_GENESIS: &[u8] = b"genesis";
pub(super) const KEY_TIP: &[u8] = b"tip";
pub(super) const KEY_BASE: &[u8] = b"base";

/// A `Corrupt` error saying what is wrong.
pub(super) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into() }
}

/// Decodes a stored record; a record of another format version is [`StoreError::FormatVersion`]
/// (a database of another build), any other record that does not decode means corruption.
pub(super) fn decode_stored<T: Versioned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    T::from_bytes(bytes).map_err(|e: DecodeError| match e {
        DecodeError::UnknownVersion { found, expected } => StoreError::FormatVersion {
            what: what.to_string(),
            found,
            expected,
        },
        e => corrupt(format!("{what}: {e}")),
    })
}

/// Loads every account into a [`State`] at `height` (its root is checked by the caller).
pub(super) fn load_state(
    db: &dyn Backend,
    genesis: &Genesis,
    height: u64,
) -> Result<State, StoreError> {
    let mut accounts = Vec::new();
    for (key, value) in db.entries(Column::Accounts)? {
        let key: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| corrupt(format!("account key of {} bytes", key.len())))?;
        let account: Account = decode_stored(&value, "account")?;
        if account.is_empty() {
            return Err(corrupt("an empty account is stored"));
        }
        accounts.push((key, account));
    }
    Ok(State::from_accounts(
        &genesis.chain_id,
        genesis.supply(),
        height,
        accounts,
    ))
}
