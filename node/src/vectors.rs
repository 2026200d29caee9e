//! Test vectors for client authors: `docs/test-vectors.json`, printed by the hidden command
//! `bftledger vectors`.
//!
//! Why generated: every value comes out of the code that signs, encodes, hashes and verifies
//! (transfer signing, the in-memory store executing a real block, consensus COMMIT signing,
//! address parsing), from fixed keys. A unit test regenerates the document and compares it with
//! the committed file, so the vectors and `docs/PROTOCOL.md`'s examples can never drift from the
//! node. Regenerate with `cargo run -p bftledger-node -- vectors > docs/test-vectors.json`.

use crate::api::types::BlockResponse;
use bftledger_consensus::message::{signing_bytes, SignedBody};
use bftledger_consensus::{
    batch_digest, Checkpoint, CheckpointProof, Commit, CommitCertificate, Message, Quorum, Request,
    SignedMessage,
};
use bftledger_crypto::encoding::{encode, Versioned};
use bftledger_crypto::{Address, AddressError, CryptoError, Digest, Domain, PublicKey, SecretKey};
use bftledger_ledger::{
    receipts_digest, state_root_of, BatchInput, Genesis, InitialBalance, MemoryBackend, Signatures,
    SignedTransfer, Store, Transfer, Validator,
};
use serde_json::{json, Value};

/// The chain id of every vector.
const CHAIN: &str = "vectors-1";

/// The key with seed `[n; 32]`.
fn key(n: u8) -> SecretKey {
    SecretKey::from_bytes(&[n; 32])
}

fn key_json(n: u8) -> Value {
    let k = key(n);
    json!({
        "seed": hex::encode(k.to_bytes().as_ref()),
        "public_key": hex::encode(k.public().as_bytes()),
        "address": Address::from(k.public()).to_string(),
    })
}

/// Everything a client derives from one transfer, in the order it derives it.
fn transfer_json(name: &str, transfer: Transfer, signer: &SecretKey) -> Value {
    let signing_bytes = transfer.signing_bytes();
    let signed = transfer.clone().sign(signer);
    let payload = signed.to_bytes();
    json!({
        "name": name,
        "transfer": transfer,
        "signing_bytes": hex::encode(&signing_bytes),
        "signed_message": hex::encode(
            [Domain::Transfer.tag(), signing_bytes.as_slice()].concat()
        ),
        "id": transfer.id(),
        "signature": signed.signature,
        "body": signed,
        "signed_transfer_bytes": hex::encode(&payload),
        "request_digest": Digest::of(&payload),
    })
}

fn transfers() -> Vec<(String, Transfer, SecretKey)> {
    let plain = Transfer {
        chain_id: CHAIN.into(),
        from: key(10).public(),
        to: key(11).public(),
        amount: 250,
        nonce: 1,
        memo: None,
    };
    let memo = Transfer {
        amount: 1_000,
        nonce: 2,
        memo: Some("café ☕ #42".into()),
        ..plain.clone()
    };
    let large = Transfer {
        amount: u64::MAX,
        nonce: (1 << 53) + 1,
        ..plain.clone()
    };
    vec![
        ("no memo".into(), plain, key(10)),
        ("memo (UTF-8)".into(), memo, key(10)),
        ("amount 2^64-1, nonce 2^53+1".into(), large, key(10)),
    ]
}

/// The bech32m text of `data` under `hrp`, or the bech32 (not bech32m) text with `legacy`.
fn bech32_text(hrp: &str, data: &[u8], legacy: bool) -> String {
    let hrp = bech32::Hrp::parse(hrp).expect("a valid human-readable part");
    if legacy {
        bech32::encode::<bech32::Bech32>(hrp, data).expect("short data encodes")
    } else {
        bech32::encode::<bech32::Bech32m>(hrp, data).expect("short data encodes")
    }
}

/// `address` with the lowest padding bit of its last data character set and the checksum
/// recomputed: valid bech32m, but another spelling of the key's address.
fn with_padding_bit(address: &str) -> String {
    use bech32::primitives::decode::CheckedHrpstring;
    use bech32::primitives::iter::Fe32IterExt;
    let checked =
        CheckedHrpstring::new::<bech32::Bech32m>(address).expect("a valid address decodes");
    let mut groups: Vec<bech32::Fe32> = checked.fe32_iter::<std::iter::Empty<u8>>().collect();
    let last = groups.pop().expect("an address has data");
    groups.push(bech32::Fe32::try_from(last.to_u8() | 1).expect("a 5-bit value"));
    groups
        .into_iter()
        .with_checksum::<bech32::Bech32m>(&checked.hrp())
        .chars()
        .collect()
}

/// The first 32-byte string `[b, 0, ..., 0]` that is not an ed25519 point.
fn not_a_point() -> [u8; 32] {
    (2..=u8::MAX)
        .map(|b| {
            let mut bytes = [0u8; 32];
            bytes[0] = b;
            bytes
        })
        .find(|bytes| PublicKey::from_bytes(bytes) == Err(CryptoError::InvalidPublicKey))
        .expect("some y coordinate below 256 has no point")
}

fn address_error_kind(e: &AddressError) -> &'static str {
    match e {
        AddressError::Checksum(_) => "checksum",
        AddressError::WrongPrefix(_) => "wrong_prefix",
        AddressError::WrongLength(_) => "wrong_length",
        AddressError::NonZeroPadding => "non_zero_padding",
        AddressError::BadKey(CryptoError::WeakPublicKey) => "weak_key",
        AddressError::BadKey(_) => "not_a_point",
    }
}

fn addresses() -> Value {
    let good = Address::from(key(10).public()).to_string();
    let typo = {
        let mut chars: Vec<char> = good.chars().collect();
        chars[10] = if chars[10] == 'q' { 'p' } else { 'q' };
        chars.into_iter().collect::<String>()
    };
    let mut small_order = [0u8; 32];
    small_order[0] = 1; // the identity point
    let candidates = [
        ("one character changed", typo),
        ("mixed case", format!("BFT{}", &good[3..])),
        (
            "another prefix",
            bech32_text("btc", key(10).public().as_bytes(), false),
        ),
        (
            "bech32 checksum instead of bech32m",
            bech32_text("bft", key(10).public().as_bytes(), true),
        ),
        (
            "31 bytes",
            bech32_text("bft", &key(10).public().as_bytes()[..31], false),
        ),
        (
            "small-order key (the identity point)",
            bech32_text("bft", &small_order, false),
        ),
        (
            "not a curve point",
            bech32_text("bft", &not_a_point(), false),
        ),
        ("non-zero padding bits", with_padding_bit(&good)),
    ];
    let invalid: Vec<Value> = candidates
        .into_iter()
        .map(|(name, text)| {
            let e = text
                .parse::<Address>()
                .expect_err("every invalid vector is refused");
            json!({"name": name, "address": text, "error": address_error_kind(&e)})
        })
        .collect();
    let valid: Vec<Value> = [1u8, 2, 3, 4, 10, 11, 12]
        .iter()
        .map(|&n| {
            let k = key(n).public();
            json!({"public_key": hex::encode(k.as_bytes()), "address": Address::from(k).to_string()})
        })
        .chain(std::iter::once(json!({
            "public_key": hex::encode(key(10).public().as_bytes()),
            "address": good.to_uppercase(),
            "note": "upper case is accepted; addresses are written in lower case",
        })))
        .collect();
    json!({"valid": valid, "invalid": invalid})
}

fn genesis() -> Genesis {
    Genesis {
        chain_id: CHAIN.into(),
        validators: (1..=4)
            .map(|i| Validator {
                public_key: key(i).public(),
                addresses: vec![format!("/ip4/127.0.0.1/tcp/{}", 26600 + u16::from(i) - 1)],
            })
            .collect(),
        balances: vec![
            InitialBalance {
                account: key(10).public(),
                amount: 1_000_000,
            },
            InitialBalance {
                account: key(12).public(),
                amount: 500,
            },
        ],
    }
}

/// Block 1 of [`genesis`], executed by the store, and its certificate: view 1 (views are not
/// part of a block), signed by replicas 0, 2 and 3 (a quorum of 4, not the first three).
fn block() -> Value {
    let genesis = genesis();
    let mut store = Store::in_backend(Box::new(MemoryBackend::new()), &genesis)
        .expect("an in-memory store opens");
    let mut signed: Vec<SignedTransfer> = transfers()
        .into_iter()
        .take(2)
        .map(|(_, t, k)| t.sign(&k))
        .collect();
    let base = signed[0].transfer.clone();
    // Rejected at execution: key(12) holds 500; key(11) has never sent, so its next nonce is 1.
    signed.push(
        Transfer {
            from: key(12).public(),
            to: key(10).public(),
            amount: 501,
            ..base.clone()
        }
        .sign(&key(12)),
    );
    signed.push(
        Transfer {
            from: key(11).public(),
            to: key(10).public(),
            amount: 5,
            nonce: 3,
            ..base
        }
        .sign(&key(11)),
    );
    let requests: Vec<Request> = signed
        .iter()
        .map(|t| Request {
            payload: t.to_bytes(),
        })
        .collect();
    let digest = batch_digest(&requests);
    let (view, seq, signers) = (1u64, 1u64, [0u32, 2, 3]);
    let commit = Commit { view, seq, digest };
    let commits: Vec<(u32, bftledger_crypto::Signature)> = signers
        .iter()
        .map(|&id| {
            let m = SignedMessage::sign(id, Message::Commit(commit), &key(id as u8 + 1));
            (id, m.signature)
        })
        .collect();
    let certificate = CommitCertificate {
        view,
        seq,
        digest,
        commits: commits.clone(),
    };
    let certificate_bytes = certificate.to_bytes();
    let block = store
        .commit_batch(
            BatchInput {
                batch_digest: digest,
                transfers: signed,
                certificate: certificate_bytes.clone(),
            },
            Signatures::Verify,
        )
        .expect("the in-memory store takes the block");
    let validators: Vec<PublicKey> = genesis.validators.iter().map(|v| v.public_key).collect();
    certificate
        .verify(&validators)
        .expect("the certificate verifies");
    let commit_vectors: Vec<Value> = commits
        .iter()
        .map(|(id, signature)| {
            let bytes = signing_bytes(*id, SignedBody::Commit(&commit));
            json!({
                "replica_id": id,
                "validator": Address::from(validators[*id as usize]).to_string(),
                "signed_bytes": hex::encode(&bytes),
                "signed_message": hex::encode([Domain::Consensus.tag(), bytes.as_slice()].concat()),
                "signature": signature,
            })
        })
        .collect();
    let accounts: Vec<Value> = store
        .state()
        .accounts()
        .map(|(k, a)| {
            json!({
                "public_key": hex::encode(k),
                "balance": a.balance.to_string(),
                "nonce": a.nonce.to_string(),
            })
        })
        .collect();
    assert_eq!(state_root_of(store.state().accounts()), block.state_root);
    let header = block.header();
    let account_proof = checkpoint_account_proof(&store, &block, &validators);
    json!({
        "genesis": {
            "toml": genesis.to_toml(),
            "bytes": hex::encode(genesis.to_bytes()),
            "hash": genesis.hash(),
        },
        "request_digests": requests.iter().map(Request::digest).collect::<Vec<_>>(),
        "batch_digest": digest,
        "receipts_bytes": hex::encode(encode(&block.receipts)),
        "receipts_digest": receipts_digest(&block.receipts),
        "header": header,
        "hash": block.hash(),
        "accounts_after": accounts,
        "state_root": block.state_root,
        "account_proof": account_proof,
        "quorum": Quorum::new(validators.len()).strong(),
        "certificate": {
            "view": view,
            "seq": seq,
            "digest": digest,
            "bytes": hex::encode(&certificate_bytes),
            "commits": commit_vectors,
        },
        "response": BlockResponse {
            hash: block.hash(),
            certificate: hex::encode(&certificate_bytes),
            block,
        },
    })
}

/// An account proof as `GET /v1/accounts/{address}?proof=true` serves it (PROTOCOL.md §6), for
/// the sender of the block's transfers, with the block as a stable checkpoint signed by
/// replicas 0, 1 and 3.
fn checkpoint_account_proof(
    store: &Store,
    block: &bftledger_ledger::Block,
    validators: &[PublicKey],
) -> Value {
    let checkpoint = Checkpoint {
        seq: block.height,
        state_root: block.hash(),
    };
    let certificate = CheckpointProof {
        seq: block.height,
        state_root: block.hash(),
        signatures: [0u32, 1, 3]
            .iter()
            .map(|&id| {
                let m =
                    SignedMessage::sign(id, Message::Checkpoint(checkpoint), &key(id as u8 + 1));
                (id, m.signature)
            })
            .collect(),
    };
    certificate
        .verify(validators)
        .expect("the checkpoint certificate verifies");
    let sender = key(10).public();
    let (account, proof) = store.state().tree().prove(sender.as_bytes());
    let body = crate::account_proof::body_of(&bftledger_ledger::ProvenAccount {
        checkpoint: bftledger_ledger::StableCheckpoint {
            height: block.height,
            certificate: certificate.to_bytes(),
        },
        header: block.header(),
        account,
        proof,
    });
    crate::account_proof::verify(validators, &sender, &body).expect("the account proof verifies");
    let signed_bytes: Vec<String> = [0u32, 1, 3]
        .iter()
        .map(|&id| hex::encode(signing_bytes(id, SignedBody::Checkpoint(&checkpoint))))
        .collect();
    json!({
        "address": Address::from(sender).to_string(),
        "checkpoint_signed_bytes": signed_bytes,
        "proof": body,
    })
}

/// The whole document.
pub fn generate() -> Value {
    let keys: Vec<Value> = [1u8, 2, 3, 4, 10, 11, 12]
        .iter()
        .map(|&n| key_json(n))
        .collect();
    let transfers: Vec<Value> = transfers()
        .into_iter()
        .map(|(name, t, k)| transfer_json(&name, t, &k))
        .collect();
    json!({
        "about": "bftledger test vectors, generated by `bftledger vectors` from fixed keys; \
                  see docs/PROTOCOL.md. Hex is lower case; digests are SHA-256.",
        "domain_tags": {
            "transfer": hex::encode(Domain::Transfer.tag()),
            "consensus": hex::encode(Domain::Consensus.tag()),
        },
        "keys": keys,
        "chain_id": CHAIN,
        "transfers": transfers,
        "addresses": addresses(),
        "binary_batch": binary_batch(),
        "block": block(),
        "state_tree": state_tree(),
    })
}

/// The account tree of ten accounts (keys with seeds 20..=29): every leaf, the root, and proofs of
/// an account and of absences of both kinds (`bftledger_ledger::state_tree`, PROTOCOL.md §6).
fn state_tree() -> Value {
    use bftledger_ledger::state_tree::{leaf_hash, path_of, root_of};
    use bftledger_ledger::{Account, StateTree, Terminal};
    let accounts: Vec<([u8; 32], Account)> = (20u8..30)
        .map(|n| {
            let account = Account {
                balance: 1_000 * u64::from(n),
                nonce: u64::from(n % 3),
            };
            (*key(n).public().as_bytes(), account)
        })
        .collect();
    let tree = StateTree::from_accounts(accounts.iter().copied());
    assert_eq!(tree.root(), root_of(accounts.iter().map(|(k, a)| (k, a))));
    let proof_json = |k: &[u8; 32]| {
        let (account, proof) = tree.prove(k);
        proof
            .verify(&tree.root(), k, &account)
            .expect("a vector proof verifies");
        let terminal = match proof.terminal {
            Terminal::Account => json!({"kind": "account"}),
            Terminal::Empty => json!({"kind": "empty"}),
            Terminal::OtherAccount { key, account } => json!({
                "kind": "other_account",
                "key": hex::encode(key),
                "balance": account.balance.to_string(),
                "nonce": account.nonce.to_string(),
            }),
        };
        json!({
            "public_key": hex::encode(k),
            "path": hex::encode(path_of(k)),
            "balance": account.balance.to_string(),
            "nonce": account.nonce.to_string(),
            "siblings": proof.siblings,
            "terminal": terminal,
        })
    };
    // Absent accounts: the first seeds from 40 whose proofs end in each kind of terminal.
    let absent = |kind: &str| {
        (40u8..=255)
            .map(|n| *key(n).public().as_bytes())
            .map(|k| proof_json(&k))
            .find(|p| p["terminal"]["kind"] == kind)
            .unwrap_or_else(|| panic!("no seed in 40..=255 gives a {kind} terminal"))
    };
    json!({
        "about": "the state root of these accounts and proofs under it (PROTOCOL.md §6)",
        "accounts": accounts
            .iter()
            .map(|(k, a)| json!({
                "public_key": hex::encode(k),
                "balance": a.balance.to_string(),
                "nonce": a.nonce.to_string(),
                "path": hex::encode(path_of(k)),
                "leaf_hash": leaf_hash(k, a),
            }))
            .collect::<Vec<_>>(),
        "state_root": tree.root(),
        "empty_state_root": StateTree::default().root(),
        "proofs": [
            proof_json(&accounts[3].0),
            absent("empty"),
            absent("other_account"),
        ],
    })
}

/// The binary form of a batch submission of every transfer above, in order (PROTOCOL.md §3.4).
fn binary_batch() -> Value {
    let signed: Vec<SignedTransfer> = transfers()
        .into_iter()
        .map(|(_, t, k)| t.sign(&k))
        .collect();
    json!({
        "about": "POST /v1/transfers/batch with Content-Type: application/octet-stream: \
                  each transfer's signed_transfer_bytes behind its length (u16, big-endian)",
        "transfers": transfers().into_iter().map(|(name, _, _)| name).collect::<Vec<_>>(),
        "body": hex::encode(crate::api::binary::encode(&signed)),
    })
}

/// The document as written to `docs/test-vectors.json`.
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&generate()).expect("JSON values render");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed vectors are exactly what this build generates.
    #[test]
    fn committed_vectors_match_the_code() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors.json");
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert!(
            committed == render(),
            "docs/test-vectors.json is stale; regenerate it with \
             `cargo run -p bftledger-node -- vectors > docs/test-vectors.json`"
        );
    }

    /// PROTOCOL.md's worked example is the first vector's signing bytes, byte for byte.
    #[test]
    fn the_worked_example_of_the_protocol_document_is_the_first_vector() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let start = doc
            .find("Worked example, `transfers[0]`")
            .expect("the worked example");
        let block = doc[start..].split("```").nth(1).expect("its code block");
        let bytes: String = block
            .lines()
            .filter_map(|l| l.split("   ").next())
            .flat_map(|l| {
                l.split_whitespace()
                    .filter(|w| w.len() % 2 == 0 && hex::decode(w).is_ok())
            })
            .collect();
        let (_, transfer, _) = transfers().remove(0);
        assert_eq!(bytes, hex::encode(transfer.signing_bytes()));
    }

    /// The vectors hold what they claim: signatures verify, ids are hashes of the signing bytes,
    /// the receipts are the documented mix.
    #[test]
    fn vectors_are_self_consistent() {
        let doc = generate();
        for t in doc["transfers"].as_array().unwrap() {
            let signed: SignedTransfer = serde_json::from_value(t["body"].clone()).unwrap();
            assert_eq!(signed.check(CHAIN), Ok(()));
            let bytes = hex::decode(t["signing_bytes"].as_str().unwrap()).unwrap();
            assert_eq!(Digest::of(&bytes).to_hex(), t["id"].as_str().unwrap());
        }
        // The binary batch is the records of the signed transfers' bytes, in order.
        let mut body = Vec::new();
        for t in doc["transfers"].as_array().unwrap() {
            let bytes = hex::decode(t["signed_transfer_bytes"].as_str().unwrap()).unwrap();
            body.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
            body.extend_from_slice(&bytes);
        }
        assert_eq!(doc["binary_batch"]["body"], json!(hex::encode(body)));
        let receipts = &doc["block"]["response"]["block"]["receipts"];
        assert_eq!(receipts[0], json!("Applied"));
        assert_eq!(receipts[1], json!("Applied"));
        assert_eq!(
            receipts[2],
            json!({"Rejected": {"InsufficientFunds": {"balance": "500", "amount": "501"}}})
        );
        assert_eq!(
            receipts[3],
            json!({"Rejected": {"NonceGap": {"expected": "1", "got": "3"}}})
        );
    }
}
