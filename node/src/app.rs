//! The consensus [`Application`] of a node: a batch is valid when every request decodes as a
//! signed transfer for this chain that passes the ledger's stateless checks, signatures
//! batch-verified (the ledger's `decode_and_check_batch`). Deterministic: same batch, same
//! verdict on every replica.

use bftledger_consensus::{Application, InvalidBatch, Request};
use bftledger_ledger::decode_and_check_batch;

/// The ledger as a consensus application.
#[derive(Debug, Clone)]
pub struct LedgerApp {
    chain_id: String,
}

impl LedgerApp {
    /// The application for the chain `chain_id`.
    pub fn new(chain_id: impl Into<String>) -> LedgerApp {
        LedgerApp {
            chain_id: chain_id.into(),
        }
    }
}

impl Application for LedgerApp {
    fn validate_batch(&self, requests: &[Request]) -> Result<(), InvalidBatch> {
        let payloads: Vec<&[u8]> = requests.iter().map(|r| r.payload.as_slice()).collect();
        decode_and_check_batch(&payloads, &self.chain_id)
            .map(|_| ())
            .map_err(|e| InvalidBatch {
                bad: e.bad.into_iter().map(|(position, _)| position).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bftledger_crypto::encoding::Versioned;
    use bftledger_crypto::SecretKey;
    use bftledger_ledger::Transfer;

    fn request(nonce: u64, chain: &str) -> Request {
        let key = SecretKey::from_bytes(&[1; 32]);
        let t = Transfer {
            chain_id: chain.into(),
            from: key.public(),
            to: SecretKey::from_bytes(&[2; 32]).public(),
            amount: 1,
            nonce,
            memo: None,
        }
        .sign(&key);
        Request {
            payload: t.to_bytes(),
        }
    }

    #[test]
    fn names_every_bad_request() {
        let app = LedgerApp::new("c");
        assert!(app
            .validate_batch(&[request(1, "c"), request(2, "c")])
            .is_ok());
        let garbage = Request {
            payload: vec![1, 2, 3],
        };
        let err = app
            .validate_batch(&[request(1, "c"), garbage, request(3, "other")])
            .unwrap_err();
        assert_eq!(err.bad, vec![1, 2]);
    }
}
