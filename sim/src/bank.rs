//! The simulated bank: the genesis of a seed, its clients' accounts, and the signed transfers
//! they submit. The replicas run the real ledger (`bftledger_host` over an in-memory
//! `bftledger_ledger::Store`), so these are real transfers: a Byzantine primary cannot forge
//! one, a double spend is two transfers with one nonce, and "applied" means what it means for
//! a user: the sender's nonce on the ledger reached the transfer's.
//!
//! Each client keeps **one transfer in flight** (a real client waits for its receipt before it
//! signs the next nonce: a later nonce ordered first would only be refused as a gap), and
//! re-sends it to another validator when it times out.

use bftledger_consensus::Request;
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{Domain, PublicKey, SecretKey, Signature};
use bftledger_ledger::{
    decode_payload, Genesis, InitialBalance, SignedTransfer, Store, Transfer, Validator,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The chain id of every simulated cluster.
pub const CHAIN: &str = "bftledger-sim";
/// Simulated clients (one funded account each).
pub const CLIENTS: usize = 32;
/// Each client's balance at genesis, in minor units: far more than it can ever send.
const OPENING_BALANCE: u64 = 1 << 40;
/// Largest amount a client sends in one transfer.
const MAX_AMOUNT: u64 = 1_000;

/// The clients of one seed.
pub struct Bank {
    keys: Vec<SecretKey>,
    publics: Vec<PublicKey>,
}

impl Bank {
    /// `CLIENTS` clients with keys drawn from `rng`.
    pub fn new(rng: &mut ChaCha8Rng) -> Bank {
        let keys: Vec<SecretKey> = (0..CLIENTS)
            .map(|_| SecretKey::from_bytes(&rng.random()))
            .collect();
        let publics = keys.iter().map(SecretKey::public).collect();
        Bank { keys, publics }
    }

    /// The genesis: `validators` in replica-id order, every client funded.
    pub fn genesis(&self, validators: &[PublicKey]) -> Genesis {
        Genesis {
            chain_id: CHAIN.to_string(),
            validators: validators
                .iter()
                .map(|&public_key| Validator {
                    public_key,
                    addresses: vec![],
                })
                .collect(),
            balances: self
                .publics
                .iter()
                .map(|&account| InitialBalance {
                    account,
                    amount: OPENING_BALANCE,
                })
                .collect(),
        }
    }

    /// Client `client`'s transfer with `nonce` to another client (drawn from `rng`).
    pub fn transfer(&self, rng: &mut ChaCha8Rng, client: usize, nonce: u64) -> SignedTransfer {
        let to = (client + rng.random_range(1..CLIENTS)) % CLIENTS;
        Transfer {
            chain_id: CHAIN.to_string(),
            from: self.publics[client],
            to: self.publics[to],
            amount: rng.random_range(1..=MAX_AMOUNT),
            nonce,
            memo: None,
        }
        .sign(&self.keys[client])
    }

    /// `transfer` again with another valid signature of its client (ed25519 signatures are
    /// not unique): other request bytes, the same transfer id.
    pub fn resigned(
        &self,
        rng: &mut ChaCha8Rng,
        client: usize,
        transfer: &SignedTransfer,
    ) -> SignedTransfer {
        let signature = self.keys[client].sign_again(
            Domain::Transfer,
            &transfer.transfer.signing_bytes(),
            rng.random(),
        );
        SignedTransfer {
            transfer: transfer.transfer.clone(),
            signature,
        }
    }

    /// The client whose account sends `transfer`, if it is one of ours.
    pub fn client_of(&self, transfer: &SignedTransfer) -> Option<usize> {
        self.publics
            .iter()
            .position(|p| *p == transfer.transfer.from)
    }

    /// Client `client`'s public key.
    pub fn public(&self, client: usize) -> PublicKey {
        self.publics[client]
    }
}

/// The consensus request carrying `transfer`.
pub fn request(transfer: &SignedTransfer) -> Request {
    Request {
        payload: transfer.to_bytes(),
    }
}

/// Whether `store` applied `transfer`'s nonce of its sender (this transfer, or a double spend
/// of it under the same nonce).
pub fn nonce_applied(store: &Store, transfer: &SignedTransfer) -> bool {
    store.account(&transfer.transfer.from).nonce >= transfer.transfer.nonce
}

/// A well-formed transfer from a made-up account with a garbage signature: what a Byzantine
/// primary slips into a batch (no correct backup may prepare it).
pub fn forged_transfer(rng: &mut ChaCha8Rng) -> SignedTransfer {
    SignedTransfer {
        transfer: Transfer {
            chain_id: CHAIN.to_string(),
            from: SecretKey::from_bytes(&rng.random()).public(),
            to: SecretKey::from_bytes(&rng.random()).public(),
            amount: rng.random_range(1..=MAX_AMOUNT),
            nonce: rng.random_range(1..4),
            memo: None,
        },
        signature: Signature(std::array::from_fn(|_| rng.random())),
    }
}

/// The transfer a request carries, if it decodes as one (anything else is junk a Byzantine
/// replica made up).
pub fn transfer_of(request: &Request) -> Option<SignedTransfer> {
    decode_payload(&request.payload).ok()
}
