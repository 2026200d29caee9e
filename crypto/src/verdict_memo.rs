//! Feature `verdict-memo`, for the simulator only: a per-thread memo of signature verdicts.
//!
//! In the simulator every replica of a cluster runs on one thread, so a message sent to n − 1
//! replicas is verified n − 1 times, a client's transfer once at admission and again in every
//! proposed batch, and a certificate's votes once more each. Profiling showed about 90% of the
//! simulator's time in ed25519 verification, most of it repeating a verdict already reached.
//!
//! * **Transparent**: verification is a pure function of (domain, signer, signature, message); the
//!   memo is keyed by SHA-256 of exactly those bytes and stores the verdict that [`crate::batch`]
//!   computed, good or bad, so a hit returns what verifying would.
//! * **Off unless asked**: compiled only with the feature, and even then inactive on a thread
//!   until [`enable`] is called there. The node never calls it; a workspace build that unifies
//!   the feature changes nothing for it.
//! * **Bounded**: two generations of at most [`GENERATION_VERDICTS`] verdicts each (33 bytes
//!   per verdict plus the map's overhead, a few MiB per thread).

use crate::generations::Generations;
use crate::{BatchItem, Domain, PublicKey, Signature};
use sha2::{Digest as _, Sha256};
use std::cell::{Cell, RefCell};

/// Most verdicts in one generation.
pub const GENERATION_VERDICTS: usize = 1 << 16;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    static MEMO: RefCell<Generations<[u8; 32], bool>> =
        RefCell::new(Generations::new(GENERATION_VERDICTS));
}

/// Turns the memo on for the calling thread.
pub fn enable() {
    ENABLED.with(|e| e.set(true));
}

/// The verdict for one signature: remembered, or computed by `verify` and remembered.
pub(crate) fn through(
    domain: Domain,
    signer: &PublicKey,
    message: &[u8],
    signature: &Signature,
    verify: impl FnOnce() -> bool,
) -> bool {
    let Some(key) = key(domain, signer, message, signature) else {
        return verify();
    };
    if let Some(verdict) = known(&key) {
        return verdict;
    }
    let verdict = verify();
    remember(key, verdict);
    verdict
}

/// Whether every item of a batch is remembered as good (false when the memo is off).
pub(crate) fn all_good(domain: Domain, items: &[BatchItem<'_>]) -> bool {
    items.iter().all(|i| {
        key(domain, i.signer, i.message, i.signature).and_then(|k| known(&k)) == Some(true)
    })
}

/// Remembers every item of a batch that verified as a whole as good.
pub(crate) fn remember_good(domain: Domain, items: &[BatchItem<'_>]) {
    for i in items {
        if let Some(key) = key(domain, i.signer, i.message, i.signature) {
            remember(key, true);
        }
    }
}

/// The memo key of one verification, or `None` when the memo is off on this thread.
fn key(
    domain: Domain,
    signer: &PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Option<[u8; 32]> {
    if !ENABLED.with(Cell::get) {
        return None;
    }
    let mut hash = Sha256::new();
    hash.update(domain.tag());
    hash.update(signer.as_bytes());
    hash.update(signature.as_bytes());
    hash.update(message);
    Some(hash.finalize().into())
}

/// The remembered verdict for `key`, if any.
fn known(key: &[u8; 32]) -> Option<bool> {
    MEMO.with(|m| m.borrow_mut().get(key))
}

/// Remembers the verdict for `key`.
fn remember(key: [u8; 32], verdict: bool) {
    MEMO.with(|m| m.borrow_mut().insert(key, verdict));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{verify_batch, SecretKey};

    #[test]
    fn a_remembered_verdict_is_the_verdict_for_exactly_those_bytes() {
        enable();
        let key = SecretKey::from_bytes(&[7; 32]);
        let signature = key.sign(Domain::Consensus, b"commit 5");
        let public = key.public();
        assert!(public
            .verify(Domain::Consensus, b"commit 5", &signature)
            .is_ok());
        // Hits now: the same bytes still verify, and any other message, domain or signer does not.
        assert!(public
            .verify(Domain::Consensus, b"commit 5", &signature)
            .is_ok());
        assert!(public
            .verify(Domain::Consensus, b"commit 6", &signature)
            .is_err());
        assert!(public
            .verify(Domain::Transfer, b"commit 5", &signature)
            .is_err());
        let other = SecretKey::from_bytes(&[8; 32]).public();
        assert!(other
            .verify(Domain::Consensus, b"commit 5", &signature)
            .is_err());
        let item = |message: &'static [u8]| BatchItem {
            signer: &public,
            message,
            signature: &signature,
        };
        assert_eq!(
            verify_batch(Domain::Consensus, &[item(b"commit 5"), item(b"commit 6")]),
            Err(crate::BatchError { bad: vec![1] })
        );
        assert!(verify_batch(Domain::Consensus, &[item(b"commit 5"), item(b"commit 5")]).is_ok());
    }
}
