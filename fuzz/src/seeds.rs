//! The seed corpora: genuine values of every kind, built and encoded by the project's own code
//! (signed with the fixture keys, answered by a real store), a few per target, including the
//! largest legal consensus messages of a small configuration.

use crate::context::{Context, BLOCKS, CHAIN_ID};
use bftledger_consensus::bounds::largest_messages;
use bftledger_consensus::{
    Checkpoint, Commit, Config, FetchBatch, Message, PrePrepare, Prepare, Request, Settings,
    SignedMessage,
};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::{keyfile, Address, SecretKey};
use bftledger_host::fixtures::{certificate, key};
use bftledger_host::sync::{answer, SyncRequest};
use bftledger_ledger::{
    CertifiedBlock, Genesis, Region, SignedTransfer, SnapshotPart, Transfer, Validator,
};
#[cfg(feature = "node")]
use bftledger_node::{
    api::types::BatchSubmitRequest, p2p::codec::LENGTH_PREFIX_BYTES, wire::Frame,
};

/// The genesis example shipped with the ledger crate.
const GENESIS_EXAMPLE: &str = include_str!("../../ledger/genesis.example.toml");

/// One seed: its target, a file name, its bytes.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The target's name.
    pub target: &'static str,
    /// The file name under `fuzz/corpus/<target>/`.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

fn seed(target: &'static str, name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Seed {
    Seed {
        target,
        name: name.into(),
        bytes: bytes.into(),
    }
}

/// Every seed of every target.
pub fn all(cx: &Context) -> Vec<Seed> {
    let messages = messages(cx);
    let transfers = transfers();
    let mut seeds = Vec::new();
    for (name, m) in &messages {
        seeds.push(seed("consensus_message", *name, m.to_bytes()));
    }
    #[cfg(feature = "node")]
    seeds.extend(node_seeds(cx, &messages, &transfers));
    seeds.extend(sync(cx));
    for (name, t) in &transfers {
        seeds.push(seed("transfer", *name, t.to_bytes()));
    }
    for height in 1..=BLOCKS.min(2) {
        let block = stored_block(cx, height);
        seeds.push(seed(
            "commit_certificate",
            format!("block-{height}"),
            block.certificate,
        ));
    }
    seeds.push(seed(
        "commit_certificate",
        "four-signers",
        certificate(&[0, 1, 2, 3], 9, cx.store.state_root()).to_bytes(),
    ));
    for h in [1, BLOCKS] {
        let snapshot = cx
            .store
            .export_snapshot(h)
            .unwrap_or_else(|e| panic!("the fuzz store exports height {h}: {e}"));
        seeds.push(seed("snapshot", format!("height-{h}"), snapshot.to_bytes()));
    }
    for h in [1, BLOCKS] {
        let part = cx
            .store
            .export_part(h, &Region::ALL)
            .unwrap_or_else(|e| panic!("the fuzz store exports a part at height {h}: {e}"));
        seeds.push(seed(
            "snapshot_part",
            format!("height-{h}"),
            part.to_bytes(),
        ));
    }
    // A split: the tip's tree answered with a limit of one account per part.
    let split = SnapshotPart {
        genesis_hash: cx.genesis.hash(),
        header: cx
            .store
            .header_at(BLOCKS)
            .unwrap()
            .expect("the tip's header"),
        region: Region::ALL,
        content: cx.store.state().tree().region(&Region::ALL, 1),
    };
    seeds.push(seed("snapshot_part", "split", split.to_bytes()));
    for n in [1u8, 200] {
        let text = keyfile::render(&key(n));
        seeds.push(seed("key_file", format!("key-{n}"), text.as_bytes()));
    }
    seeds.push(seed("genesis", "fuzz-chain", cx.genesis.to_toml()));
    seeds.push(seed("genesis", "example", GENESIS_EXAMPLE));
    seeds.push(seed(
        "genesis",
        "seven-with-hints",
        seven_validators().to_toml(),
    ));
    seeds.push(seed(
        "api_path",
        "address",
        Address::from(key(10).public()).to_string(),
    ));
    seeds.push(seed(
        "api_path",
        "transfer-id",
        transfers[0].1.id().to_hex(),
    ));
    seeds
}

/// The seeds of the node crate's targets.
#[cfg(feature = "node")]
fn node_seeds(
    cx: &Context,
    messages: &[(&'static str, SignedMessage)],
    transfers: &[(&'static str, SignedTransfer)],
) -> Vec<Seed> {
    let mut seeds = wire_frames(messages, transfers);
    for (name, t) in transfers {
        seeds.push(seed("api_transfer", *name, json(t)));
    }
    let batch = BatchSubmitRequest {
        transfers: transfers.iter().map(|(_, t)| t.clone()).collect(),
    };
    seeds.push(seed("api_batch", "three", json(&batch)));
    seeds.push(seed(
        "api_batch_binary",
        "three",
        bftledger_node::api::binary::encode(&batch.transfers),
    ));
    seeds.push(seed(
        "api_batch",
        "empty",
        json(&BatchSubmitRequest { transfers: vec![] }),
    ));
    seeds.push(seed("node_config", "local-default", cx.config.to_toml()));
    seeds
}

#[cfg(feature = "node")]
fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| panic!("a seed renders as JSON: {e}"))
}

fn stored_block(cx: &Context, height: u64) -> CertifiedBlock {
    match cx.store.block(height) {
        Ok(Some(block)) => block,
        other => panic!("the fuzz store holds block {height}: {other:?}"),
    }
}

/// Transfers: a plain one, one with the longest memo, one with extreme amounts and nonces.
fn transfers() -> Vec<(&'static str, SignedTransfer)> {
    let base = |amount, nonce, memo: Option<String>, from: &SecretKey| {
        Transfer {
            chain_id: CHAIN_ID.into(),
            from: from.public(),
            to: key(11).public(),
            amount,
            nonce,
            memo,
        }
        .sign(from)
    };
    vec![
        ("plain", base(25, 1, None, &key(10))),
        (
            "longest-memo",
            base(
                1,
                2,
                Some("m".repeat(bftledger_ledger::transfer::MAX_MEMO_BYTES)),
                &key(10),
            ),
        ),
        (
            "extremes",
            base(u64::MAX, u64::MAX, Some("é✓".into()), &key(12)),
        ),
    ]
}

/// Signed messages of every kind: small genuine ones for block 1, and the largest legal
/// VIEW-CHANGE and NEW-VIEW of a small configuration (their nested certificates).
fn messages(cx: &Context) -> Vec<(&'static str, SignedMessage)> {
    let block = stored_block(cx, 1);
    let requests: Vec<Request> = block
        .block
        .transfers
        .iter()
        .map(|t| Request {
            payload: t.to_bytes(),
        })
        .collect();
    let digest = bftledger_consensus::batch_digest(&requests);
    let (view, seq) = (0, 1);
    let pre_prepare = PrePrepare { view, seq, digest };
    let signed = |from: u32, m: Message| SignedMessage::sign(from, m, &key(from as u8 + 1));
    let primary_signature = signed(
        0,
        Message::PrePrepare {
            pre_prepare,
            batch: Vec::new().into(),
        },
    )
    .signature;
    let mut out = vec![
        (
            "pre-prepare",
            signed(
                0,
                Message::PrePrepare {
                    pre_prepare,
                    batch: requests.into(),
                },
            ),
        ),
        (
            "prepare",
            signed(1, Message::Prepare(Prepare { view, seq, digest })),
        ),
        (
            "commit",
            signed(2, Message::Commit(Commit { view, seq, digest })),
        ),
        (
            "checkpoint",
            signed(
                3,
                Message::Checkpoint(Checkpoint {
                    seq,
                    state_root: block.block.hash(),
                }),
            ),
        ),
        (
            "fetch-batch",
            signed(
                1,
                Message::FetchBatch(FetchBatch {
                    pre_prepare,
                    primary_signature,
                }),
            ),
        ),
    ];
    let small = Settings {
        checkpoint_interval_seqs: 2,
        watermark_window_seqs: 4,
        max_batch_requests: 2,
        max_batch_bytes: 1024,
        max_request_bytes: 512,
        ..Settings::default()
    };
    let config = Config::with_settings(cx.validators.clone(), small);
    for m in largest_messages(&config) {
        match &m.message {
            Message::ViewChange(_) => out.push(("largest-view-change", m)),
            Message::NewView(_) => out.push(("largest-new-view", m)),
            _ => {}
        }
    }
    out
}

#[cfg(feature = "node")]
/// Stream bytes as the p2p codec reads them: a big-endian length, then a frame.
fn wire_frames(
    messages: &[(&'static str, SignedMessage)],
    transfers: &[(&'static str, SignedTransfer)],
) -> Vec<Seed> {
    let framed = |frame: Frame| {
        let body = frame.to_bytes();
        let len = u32::try_from(body.len()).unwrap_or_else(|_| panic!("a seed frame fits a u32"));
        let mut bytes = len.to_be_bytes().to_vec();
        assert_eq!(bytes.len(), LENGTH_PREFIX_BYTES);
        bytes.extend_from_slice(&body);
        bytes
    };
    let mut seeds: Vec<Seed> = messages
        .iter()
        .filter(|(name, _)| !name.starts_with("largest"))
        .map(|(name, m)| seed("wire_frame", *name, framed(Frame::Consensus(m.clone()))))
        .collect();
    let forward = Frame::Forward(transfers.iter().map(|(_, t)| t.clone()).collect());
    seeds.push(seed("wire_frame", "forward", framed(forward)));
    seeds
}

/// Requests, and the store's real answers to them.
fn sync(cx: &Context) -> Vec<Seed> {
    let requests = [
        ("status", SyncRequest::Status),
        ("blocks", SyncRequest::Blocks { from: 1, max: 2 }),
        (
            "snapshot_part",
            SyncRequest::SnapshotPart {
                height: 2,
                region: Region::ALL,
            },
        ),
        ("unavailable", SyncRequest::Blocks { from: 99, max: 1 }),
    ];
    let mut seeds = Vec::new();
    for (name, request) in requests {
        let bytes = request.to_bytes();
        let response = answer(
            &cx.store,
            &bytes,
            cx.limits.max_blocks_per_request,
            cx.limits.max_sync_response_bytes,
        );
        seeds.push(seed("sync_request", name, bytes));
        seeds.push(seed("sync_response", name, response));
    }
    seeds
}

/// A genesis of seven validators with address hints and two balances.
fn seven_validators() -> Genesis {
    Genesis {
        chain_id: "seven.validators-1".into(),
        validators: (1..=7u8)
            .map(|i| Validator {
                public_key: key(i).public(),
                addresses: vec![
                    format!("/ip4/10.0.0.{i}/tcp/26600"),
                    format!("/dns/v{i}.example/tcp/26600"),
                ],
            })
            .collect(),
        balances: vec![
            bftledger_ledger::InitialBalance {
                account: key(10).public(),
                amount: 5,
            },
            bftledger_ledger::InitialBalance {
                account: key(11).public(),
                amount: u64::MAX - 5,
            },
        ],
    }
}
