//! The genesis file: chain id, validators and initial balances. Its hash identifies the chain.
//!
//! Format: TOML (see `ledger/genesis.example.toml`). Keys are addresses (`bft1...`, bech32m of
//! the ed25519 public key); amounts are u64 minor units.
//!
//! ```toml
//! chain_id = "bftledger-local"
//!
//! [[validators]]
//! public_key = "bft1..."                      # the validator's consensus key
//! addresses = ["/ip4/127.0.0.1/tcp/7001"]     # optional network address hints (libp2p multiaddrs)
//! # ... at least 4 validators in total (consensus tolerates f = (n - 1) / 3 faulty ones)
//!
//! [[balances]]
//! account = "bft1..."
//! amount = 1000000000                         # minor units
//! ```
//!
//! Loading validates it: chain id 1..=64 bytes of `[A-Za-z0-9._-]`; 4..=256 validators without
//! duplicate keys, at most 8 address hints of at most 256 bytes each; at most 100,000 initial
//! balances, no duplicate account, no zero balance, a total supply > 0 that fits in a u64.
//!
//! The **genesis hash** is SHA-256 of `Genesis::to_bytes()` (the [`Versioned`] canonical
//! encoding: version byte 1, then postcard of the fields in file order), so reordering
//! validators or balances makes a different chain.

use crate::error::GenesisError;
use crate::transfer::MAX_CHAIN_ID_BYTES;
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Address, Digest, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// Fewest validators (n = 3f + 1 with f = 1).
pub const MIN_VALIDATORS: usize = 4;
/// Most validators.
pub const MAX_VALIDATORS: usize = 256;
/// Most network address hints per validator.
pub const MAX_ADDRESS_HINTS: usize = 8;
/// Longest address hint, in bytes.
pub const MAX_ADDRESS_HINT_BYTES: usize = 256;
/// Most initial balances.
pub const MAX_GENESIS_ACCOUNTS: usize = 100_000;
/// Longest genesis TOML text, in bytes: the largest legal genesis (256 validators with 8 hints of
/// 256 bytes, ~ 0.6 MiB; 100,000 balances of ~ 110 bytes, ~ 11 MiB) with room for comments.
/// Checked before parsing, so a huge file is refused instead of parsed.
pub const MAX_GENESIS_TOML_BYTES: u64 = 32 << 20;

/// A validator of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    /// Its consensus public key (an address `bft1...` in the file).
    pub public_key: PublicKey,
    /// Where to reach it (libp2p multiaddrs), as hints for discovery; may be empty.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// An initial balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialBalance {
    /// The account (an address `bft1...` in the file).
    pub account: PublicKey,
    /// Its balance in minor units (> 0).
    pub amount: u64,
}

/// The genesis of a chain. Construct with [`Genesis::load`] / [`Genesis::from_toml_str`] (which
/// validate) or build one and call [`Genesis::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain id every transfer must carry.
    pub chain_id: String,
    /// The validators, in order: `ReplicaId` i is `validators[i]`.
    pub validators: Vec<Validator>,
    /// Initial balances.
    #[serde(default)]
    pub balances: Vec<InitialBalance>,
}

impl Versioned for Genesis {
    const VERSION: u8 = 1;
    /// 256 validators with hints (~ 256 x 2.1 KiB) plus 100,000 balances (~ 45 bytes each): 8 MiB.
    const MAX_BYTES: usize = 8 << 20;
}

fn check_toml_len(len_bytes: u64) -> Result<(), GenesisError> {
    if len_bytes > MAX_GENESIS_TOML_BYTES {
        return Err(GenesisError::TooLarge {
            len_bytes,
            max_bytes: MAX_GENESIS_TOML_BYTES,
        });
    }
    Ok(())
}

impl Genesis {
    /// Reads and validates a genesis TOML file.
    pub fn load(path: &Path) -> Result<Genesis, GenesisError> {
        let io = |source| GenesisError::Io {
            path: path.to_owned(),
            source,
        };
        // Checked on the metadata first so an oversized file is never read into memory.
        check_toml_len(std::fs::metadata(path).map_err(io)?.len())?;
        let text = std::fs::read_to_string(path).map_err(io)?;
        Genesis::from_toml_str(&text)
    }

    /// Parses and validates genesis TOML of at most [`MAX_GENESIS_TOML_BYTES`]: the one decoder
    /// of genesis text (file, CLI, fuzz target).
    pub fn from_toml_str(text: &str) -> Result<Genesis, GenesisError> {
        check_toml_len(u64::try_from(text.len()).unwrap_or(u64::MAX))?;
        let genesis: Genesis =
            toml::from_str(text).map_err(|e| GenesisError::Parse(e.to_string()))?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Renders as TOML (what [`Genesis::from_toml_str`] reads back).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a genesis always renders as TOML")
    }

    /// Checks every rule of the module docs.
    pub fn validate(&self) -> Result<(), GenesisError> {
        validate_chain_id(&self.chain_id)?;
        self.validate_validators()?;
        self.validate_balances()?;
        Ok(())
    }

    fn validate_validators(&self) -> Result<(), GenesisError> {
        let count = self.validators.len();
        if count < MIN_VALIDATORS {
            return Err(GenesisError::TooFewValidators {
                count,
                min: MIN_VALIDATORS,
            });
        }
        if count > MAX_VALIDATORS {
            return Err(GenesisError::TooManyValidators {
                count,
                max: MAX_VALIDATORS,
            });
        }
        let mut seen = BTreeSet::new();
        for v in &self.validators {
            let key = Address::from(v.public_key).to_string();
            if !seen.insert(v.public_key) {
                return Err(GenesisError::DuplicateValidator { key });
            }
            if v.addresses.len() > MAX_ADDRESS_HINTS
                || v.addresses.iter().any(|a| a.len() > MAX_ADDRESS_HINT_BYTES)
            {
                return Err(GenesisError::BadAddressHints {
                    key,
                    max_count: MAX_ADDRESS_HINTS,
                    max_bytes: MAX_ADDRESS_HINT_BYTES,
                });
            }
        }
        Ok(())
    }

    fn validate_balances(&self) -> Result<(), GenesisError> {
        if self.balances.len() > MAX_GENESIS_ACCOUNTS {
            return Err(GenesisError::TooManyAccounts {
                count: self.balances.len(),
                max: MAX_GENESIS_ACCOUNTS,
            });
        }
        let mut seen = BTreeSet::new();
        let mut supply = 0u64;
        for b in &self.balances {
            let account = Address::from(b.account).to_string();
            if !seen.insert(b.account) {
                return Err(GenesisError::DuplicateAccount { account });
            }
            if b.amount == 0 {
                return Err(GenesisError::ZeroBalance { account });
            }
            supply = supply
                .checked_add(b.amount)
                .ok_or(GenesisError::SupplyOverflow)?;
        }
        if supply == 0 {
            return Err(GenesisError::ZeroSupply);
        }
        Ok(())
    }

    /// The genesis hash: SHA-256 of the canonical encoding.
    pub fn hash(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }

    /// The total supply in minor units.
    ///
    /// # Panics
    /// If the balances overflow u64 (a genesis that did not pass [`Genesis::validate`]).
    pub fn supply(&self) -> u64 {
        self.balances
            .iter()
            .try_fold(0u64, |sum, b| sum.checked_add(b.amount))
            .expect("genesis supply overflows u64: validate() the genesis first")
    }

    /// The validators' public keys, in order (what consensus `Config::validators` takes).
    pub fn validator_keys(&self) -> Vec<PublicKey> {
        self.validators.iter().map(|v| v.public_key).collect()
    }
}

/// A chain id is 1..=[`MAX_CHAIN_ID_BYTES`] bytes of `[A-Za-z0-9._-]`.
pub fn validate_chain_id(chain_id: &str) -> Result<(), GenesisError> {
    let ok = !chain_id.is_empty()
        && chain_id.len() <= MAX_CHAIN_ID_BYTES
        && chain_id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(GenesisError::BadChainId {
            chain_id: chain_id.chars().take(2 * MAX_CHAIN_ID_BYTES).collect(),
            max_bytes: MAX_CHAIN_ID_BYTES,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bftledger_crypto::SecretKey;

    fn key(n: u8) -> PublicKey {
        SecretKey::from_bytes(&[n; 32]).public()
    }

    fn genesis(validators: usize) -> Genesis {
        Genesis {
            chain_id: "test-chain".into(),
            validators: (0..validators)
                .map(|i| Validator {
                    public_key: key(i as u8 + 1),
                    addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 7001 + i)],
                })
                .collect(),
            balances: vec![
                InitialBalance {
                    account: key(100),
                    amount: 1_000,
                },
                InitialBalance {
                    account: key(101),
                    amount: 2_000,
                },
            ],
        }
    }

    #[test]
    fn toml_round_trip_and_hash_is_stable() {
        let g = genesis(4);
        g.validate().unwrap();
        let text = g.to_toml();
        let back = Genesis::from_toml_str(&text).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.hash(), g.hash());
        assert_eq!(g.supply(), 3_000);
        let mut other = g.clone();
        other.chain_id = "other".into();
        assert_ne!(other.hash(), g.hash());
    }

    #[test]
    fn the_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("genesis.example.toml");
        let g = Genesis::load(&path).unwrap();
        assert_eq!(g.validators.len(), 4);
        assert!(g.supply() > 0);
    }

    #[test]
    fn invalid_genesis_files_are_rejected_with_clear_errors() {
        assert!(matches!(
            genesis(3).validate(),
            Err(GenesisError::TooFewValidators { count: 3, min: 4 })
        ));
        assert!(matches!(
            genesis(0).validate(),
            Err(GenesisError::TooFewValidators { count: 0, .. })
        ));
        let mut dup = genesis(4);
        dup.validators[3].public_key = dup.validators[0].public_key;
        assert!(matches!(
            dup.validate(),
            Err(GenesisError::DuplicateValidator { .. })
        ));
        let mut dup_acct = genesis(4);
        dup_acct.balances[1].account = dup_acct.balances[0].account;
        assert!(matches!(
            dup_acct.validate(),
            Err(GenesisError::DuplicateAccount { .. })
        ));
        let mut overflow = genesis(4);
        overflow.balances[0].amount = u64::MAX;
        assert!(matches!(
            overflow.validate(),
            Err(GenesisError::SupplyOverflow)
        ));
        let mut none = genesis(4);
        none.balances.clear();
        assert!(matches!(none.validate(), Err(GenesisError::ZeroSupply)));
        let mut zero = genesis(4);
        zero.balances[0].amount = 0;
        assert!(matches!(
            zero.validate(),
            Err(GenesisError::ZeroBalance { .. })
        ));
        for bad in ["", "has space", &"x".repeat(65)] {
            let mut g = genesis(4);
            g.chain_id = bad.to_string();
            assert!(matches!(g.validate(), Err(GenesisError::BadChainId { .. })));
        }
        let mut hints = genesis(4);
        hints.validators[0].addresses = vec!["a".into(); 9];
        assert!(matches!(
            hints.validate(),
            Err(GenesisError::BadAddressHints { .. })
        ));
    }

    #[test]
    fn malformed_toml_names_the_problem() {
        let err = Genesis::from_toml_str("chain_id = 5").unwrap_err();
        assert!(matches!(err, GenesisError::Parse(_)), "{err}");
        let err = Genesis::from_toml_str(
            "chain_id = \"c\"\n[[validators]]\npublic_key = \"bft1notakey\"\n",
        )
        .unwrap_err();
        assert!(matches!(err, GenesisError::Parse(_)), "{err}");
        let err = Genesis::load(Path::new("/nonexistent/genesis.toml")).unwrap_err();
        assert!(matches!(err, GenesisError::Io { .. }), "{err}");
    }
}
