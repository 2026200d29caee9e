//! Transfers: what a client signs, its canonical encoding, its id and its stateless checks.
//!
//! The **signed bytes** of a transfer are `Transfer::to_bytes()` ([`Versioned`]: version byte 1,
//! then the postcard encoding of the fields in declaration order), signed by `from` under
//! [`Domain::Transfer`]. The **transfer id** is SHA-256 of those same bytes, so the id commits to
//! everything the sender signed and to nothing else (not the signature: ed25519 signatures are
//! deterministic, but an id must not depend on which valid signature was attached).

use crate::error::{InvalidPayloads, PayloadError, TransferError};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{verify_batch, BatchItem, Digest, Domain, PublicKey, SecretKey, Signature};
use serde::{Deserialize, Serialize};

/// Largest memo, in bytes of UTF-8.
pub const MAX_MEMO_BYTES: usize = 256;
/// Largest chain id, in bytes (ASCII `[A-Za-z0-9._-]`).
pub const MAX_CHAIN_ID_BYTES: usize = 64;

/// A payment of `amount` minor units from `from` to `to`, the sender's `nonce`-th transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The chain this transfer is for (the genesis chain id): a transfer never replays on another chain.
    pub chain_id: String,
    /// Sender; must sign.
    pub from: PublicKey,
    /// Recipient; an account is created on its first credit.
    pub to: PublicKey,
    /// Amount in minor units; must be > 0. A decimal string in JSON ([`crate::decimal_u64`]).
    #[serde(with = "crate::decimal_u64")]
    pub amount: u64,
    /// Per-sender sequence number: the sender's first transfer has nonce 1, then 2, 3, ...
    /// A decimal string in JSON ([`crate::decimal_u64`]).
    #[serde(with = "crate::decimal_u64")]
    pub nonce: u64,
    /// Free text, at most [`MAX_MEMO_BYTES`] bytes.
    pub memo: Option<String>,
}

impl Versioned for Transfer {
    const VERSION: u8 = 1;
    /// Version byte, chain id (1 + 64), keys (2 x 33), amount and nonce (2 x 10), memo (1 + 2 + 256),
    /// rounded up: 448 bytes.
    const MAX_BYTES: usize = 448;
}

impl Transfer {
    /// The bytes the sender signs (and hashes into the id): `self.to_bytes()`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        self.to_bytes()
    }

    /// The transfer id: SHA-256 of [`Transfer::signing_bytes`].
    pub fn id(&self) -> Digest {
        Digest::of(&self.signing_bytes())
    }

    /// Signs with `key`, which should be `from`'s key (otherwise the result fails [`SignedTransfer::check`]).
    pub fn sign(self, key: &SecretKey) -> SignedTransfer {
        let signature = key.sign(Domain::Transfer, &self.signing_bytes());
        SignedTransfer {
            transfer: self,
            signature,
        }
    }

    /// Stateless checks other than the signature: chain id, amount > 0, nonce > 0, from != to,
    /// memo size. Cheap; admission, batch validation before PREPARE and execution all run it, so
    /// each rule lives here once. Deterministic: every replica reaches the same verdict.
    pub fn check_fields(&self, chain_id: &str) -> Result<(), TransferError> {
        if self.chain_id != chain_id {
            return Err(TransferError::WrongChainId);
        }
        if self.amount == 0 {
            return Err(TransferError::ZeroAmount);
        }
        if self.nonce == 0 {
            return Err(TransferError::ZeroNonce);
        }
        if self.from == self.to {
            return Err(TransferError::SelfTransfer);
        }
        if let Some(memo) = &self.memo {
            if memo.len() > MAX_MEMO_BYTES {
                return Err(TransferError::MemoTooLong {
                    len_bytes: u32::try_from(memo.len()).unwrap_or(u32::MAX),
                    max_bytes: MAX_MEMO_BYTES as u32,
                });
            }
        }
        Ok(())
    }
}

/// A transfer with its sender's signature: what a client submits and a block contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransfer {
    /// The transfer.
    pub transfer: Transfer,
    /// `from`'s signature over `transfer.signing_bytes()` under [`Domain::Transfer`].
    pub signature: Signature,
}

impl Versioned for SignedTransfer {
    const VERSION: u8 = 1;
    /// A transfer (448) plus a signature (1 + 64), rounded up: 576 bytes.
    const MAX_BYTES: usize = 576;
}

impl SignedTransfer {
    /// The transfer id (see [`Transfer::id`]).
    pub fn id(&self) -> Digest {
        self.transfer.id()
    }

    /// Verifies the signature alone.
    pub fn verify_signature(&self) -> Result<(), TransferError> {
        self.transfer
            .from
            .verify(
                Domain::Transfer,
                &self.transfer.signing_bytes(),
                &self.signature,
            )
            .map_err(|_| TransferError::BadSignature)
    }

    /// Every stateless check, the signature last (it is the expensive one).
    pub fn check(&self, chain_id: &str) -> Result<(), TransferError> {
        self.transfer.check_fields(chain_id)?;
        self.verify_signature()
    }
}

/// Batch-verifies the signatures of `transfers`; on failure returns the positions of the bad ones
/// (increasing). Deterministic, so every replica reaches the same verdict on the same batch.
pub fn verify_signatures<T: std::borrow::Borrow<SignedTransfer>>(
    transfers: &[T],
) -> Result<(), Vec<usize>> {
    let messages: Vec<Vec<u8>> = transfers
        .iter()
        .map(|t| t.borrow().transfer.signing_bytes())
        .collect();
    let items: Vec<BatchItem<'_>> = transfers
        .iter()
        .zip(&messages)
        .map(|(t, m)| BatchItem {
            signer: &t.borrow().transfer.from,
            message: m,
            signature: &t.borrow().signature,
        })
        .collect();
    verify_batch(Domain::Transfer, &items).map_err(|e| e.bad)
}

/// Decodes one opaque request payload into a signed transfer (no checks beyond decoding).
pub fn decode_payload(payload: &[u8]) -> Result<SignedTransfer, PayloadError> {
    SignedTransfer::from_bytes(payload).map_err(PayloadError::Decode)
}

/// Decodes the payloads of a *committed* batch (which passed [`decode_and_check_batch`] on the
/// replicas that prepared it), without re-checking signatures; `State::apply` checks the rest.
pub fn decode_batch<P: AsRef<[u8]>>(
    payloads: &[P],
) -> Result<Vec<SignedTransfer>, InvalidPayloads> {
    let mut bad = Vec::new();
    let mut transfers = Vec::with_capacity(payloads.len());
    for (pos, payload) in payloads.iter().enumerate() {
        match decode_payload(payload.as_ref()) {
            Ok(t) => transfers.push(t),
            Err(e) => bad.push((pos, e)),
        }
    }
    if bad.is_empty() {
        Ok(transfers)
    } else {
        Err(InvalidPayloads { bad })
    }
}

/// Decodes a batch of opaque request payloads, and checks each stateless rule, signatures
/// included (batch-verified). This is what a replica runs on a proposed batch before it
/// prepares it: any error makes the whole batch invalid, and names every bad position.
pub fn decode_and_check_batch<P: AsRef<[u8]>>(
    payloads: &[P],
    chain_id: &str,
) -> Result<Vec<SignedTransfer>, InvalidPayloads> {
    let mut bad = Vec::new();
    let mut transfers = Vec::with_capacity(payloads.len());
    let mut positions = Vec::with_capacity(payloads.len());
    for (pos, payload) in payloads.iter().enumerate() {
        match decode_payload(payload.as_ref()) {
            Ok(t) => match t.transfer.check_fields(chain_id) {
                Ok(()) => {
                    transfers.push(t);
                    positions.push(pos);
                }
                Err(e) => bad.push((pos, PayloadError::Invalid(e))),
            },
            Err(e) => bad.push((pos, e)),
        }
    }
    if let Err(sig_bad) = verify_signatures(&transfers) {
        bad.extend(sig_bad.into_iter().map(|i| {
            (
                positions[i],
                PayloadError::Invalid(TransferError::BadSignature),
            )
        }));
        bad.sort_by_key(|b| b.0);
    }
    if bad.is_empty() {
        Ok(transfers)
    } else {
        Err(InvalidPayloads { bad })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_bytes(&[n; 32])
    }

    fn transfer(memo: Option<String>) -> Transfer {
        Transfer {
            chain_id: "test".into(),
            from: key(1).public(),
            to: key(2).public(),
            amount: 5,
            nonce: 1,
            memo,
        }
    }

    #[test]
    fn largest_transfer_fits_its_limit() {
        let mut t = transfer(Some("x".repeat(MAX_MEMO_BYTES)));
        t.chain_id = "c".repeat(MAX_CHAIN_ID_BYTES);
        t.amount = u64::MAX;
        t.nonce = u64::MAX;
        let signed = t.clone().sign(&key(1));
        assert!(t.to_bytes().len() <= Transfer::MAX_BYTES);
        let bytes = signed.to_bytes();
        assert!(bytes.len() <= SignedTransfer::MAX_BYTES, "{}", bytes.len());
        assert_eq!(SignedTransfer::from_bytes(&bytes).unwrap(), signed);
    }

    #[test]
    fn signature_and_id_cover_every_field() {
        let signed = transfer(None).sign(&key(1));
        assert_eq!(signed.check("test"), Ok(()));
        let mut tampered = signed.clone();
        tampered.transfer.amount = 6;
        assert_ne!(tampered.id(), signed.id());
        assert_eq!(tampered.check("test"), Err(TransferError::BadSignature));
        let wrong_signer = transfer(None).sign(&key(3));
        assert_eq!(wrong_signer.check("test"), Err(TransferError::BadSignature));
    }

    #[test]
    fn stateless_checks_have_typed_reasons() {
        let t = transfer(None);
        assert_eq!(t.check_fields("other"), Err(TransferError::WrongChainId));
        let mut z = t.clone();
        z.amount = 0;
        assert_eq!(z.check_fields("test"), Err(TransferError::ZeroAmount));
        let mut n = t.clone();
        n.nonce = 0;
        assert_eq!(n.check_fields("test"), Err(TransferError::ZeroNonce));
        let mut s = t.clone();
        s.to = s.from;
        assert_eq!(s.check_fields("test"), Err(TransferError::SelfTransfer));
        let m = transfer(Some("é".repeat(MAX_MEMO_BYTES / 2 + 1)));
        assert_eq!(
            m.check_fields("test"),
            Err(TransferError::MemoTooLong {
                len_bytes: MAX_MEMO_BYTES as u32 + 2,
                max_bytes: MAX_MEMO_BYTES as u32
            })
        );
    }

    #[test]
    fn batch_decoding_names_every_bad_payload() {
        let good = transfer(None).sign(&key(1)).to_bytes();
        let forged = transfer(None).sign(&key(9)).to_bytes();
        let mut zero = transfer(None);
        zero.amount = 0;
        let zero = zero.sign(&key(1)).to_bytes();
        let garbage = vec![1u8, 2, 3];
        let payloads = vec![good.clone(), forged, garbage, zero, good];
        let err = decode_and_check_batch(&payloads, "test").unwrap_err();
        let positions: Vec<usize> = err.bad.iter().map(|b| b.0).collect();
        assert_eq!(positions, vec![1, 2, 3]);
        assert_eq!(
            err.bad[0].1,
            PayloadError::Invalid(TransferError::BadSignature)
        );
        assert!(matches!(err.bad[1].1, PayloadError::Decode(_)));
        assert_eq!(
            err.bad[2].1,
            PayloadError::Invalid(TransferError::ZeroAmount)
        );
        let ok = decode_and_check_batch(&payloads[..1], "test").unwrap();
        assert_eq!(ok.len(), 1);
        // Decoding alone only rejects what does not decode.
        let err = decode_batch(&payloads).unwrap_err();
        assert_eq!(err.bad.len(), 1);
        assert_eq!(err.bad[0].0, 2);
        assert_eq!(decode_batch(&payloads[..2]).unwrap().len(), 2);
    }
}
