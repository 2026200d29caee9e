//! Helpers shared by the ledger's integration tests.
#![allow(dead_code)]

use bftledger_crypto::{PublicKey, SecretKey};
use bftledger_ledger::{Genesis, InitialBalance, SignedTransfer, Transfer, Validator};

pub const CHAIN: &str = "test-chain";

/// A deterministic key from a small index (never a real key).
pub fn key(i: u8) -> SecretKey {
    SecretKey::from_bytes(&[i.wrapping_add(1); 32])
}

/// A genesis with 4 validators and `balances[i]` for account `key(i)`.
pub fn genesis(balances: &[u64]) -> Genesis {
    let genesis = Genesis {
        chain_id: CHAIN.into(),
        validators: (200..204)
            .map(|i| Validator {
                public_key: key(i).public(),
                addresses: vec![],
            })
            .collect(),
        balances: balances
            .iter()
            .enumerate()
            .filter(|(_, amount)| **amount > 0)
            .map(|(i, amount)| InitialBalance {
                account: key(i as u8).public(),
                amount: *amount,
            })
            .collect(),
    };
    genesis.validate().expect("test genesis is valid");
    genesis
}

pub fn transfer(from: u8, to: u8, amount: u64, nonce: u64) -> SignedTransfer {
    Transfer {
        chain_id: CHAIN.into(),
        from: key(from).public(),
        to: key(to).public(),
        amount,
        nonce,
        memo: None,
    }
    .sign(&key(from))
}

pub fn public(i: u8) -> PublicKey {
    key(i).public()
}
