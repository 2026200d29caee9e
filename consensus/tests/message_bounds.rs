//! Safety-holes issue, item 8: every message kind has a size bound that depends on the
//! configuration alone (VIEW-CHANGE and NEW-VIEW carry digests, not batches), computed from the
//! real encoding and enforced by `Config::validate` against `max_message_bytes` (TOCS'02 §4.4
//! message formats; the limits are those of the wire and the durable store).

mod common;

use bftledger_consensus::{
    batch_digest, bounds, durable, Batch, CheckpointProof, Config, ConfigProblem, Input, Message,
    MessageBounds, PersistOp, SignedMessage,
};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::SecretKey;
use common::{keys, pre_prepare, view_change, Single};

fn prepare(view: u64, seq: u64, digest: bftledger_crypto::Digest) -> Message {
    Message::Prepare(bftledger_consensus::Prepare { view, seq, digest })
}

/// A consensus config shaped like the node's default (500-transfer batches of up to 1 KiB
/// each, a window of 64, 3 MiB messages).
fn node_like_config() -> Config {
    let mut c = Config::new(keys(4).iter().map(SecretKey::public).collect());
    c.settings.checkpoint_interval_seqs = 16;
    c.settings.watermark_window_seqs = 64;
    c.settings.max_batch_requests = 500;
    c.settings.max_request_bytes = 1024;
    c.settings.max_batch_bytes = 1 << 20;
    c.settings.max_message_bytes = 3 << 20;
    c.validate().expect("valid config");
    c
}

/// Regression, item 8 (§4.4 VIEW-CHANGE and NEW-VIEW formats): replica 1 (the next primary)
/// prepares a full window of 64 slots with full 500-request batches (about 32 MB of batches;
/// the old VIEW-CHANGE attached them all and the old NEW-VIEW re-attached them, far beyond the
/// 3 MiB limit, so frames were dropped and the faulty primary never replaced). Its VIEW-CHANGE
/// and NEW-VIEW now fit `max_message_bytes`, within the computed bounds, and so do the durable
/// `W` and `N` values.
#[test]
fn view_change_and_new_view_with_a_full_window_of_full_batches_fit_the_limits() {
    let config = node_like_config();
    let window = config.settings.watermark_window_seqs;
    let mut s = Single::with_config(config.clone(), 1);
    let k = keys(4);
    for seq in 1..=window {
        let requests: Vec<bftledger_consensus::Request> = (0..500)
            .map(|i| bftledger_consensus::Request {
                payload: format!("{seq}-{i}-{}", "p".repeat(1000)).into_bytes(),
            })
            .collect();
        let b: Batch = requests.into();
        s.deliver(0, pre_prepare(0, seq, &b));
        for from in [2, 3] {
            s.deliver(from, prepare(0, seq, batch_digest(&b)));
        }
    }
    let mut persisted = Vec::new();
    let mut sent = Vec::new();
    for from in [2, 3] {
        let vc = view_change(&k, from, 1, CheckpointProof::genesis(), vec![]);
        let (persist, a) = s.input_raw(Input::Message(vc));
        persisted.extend(persist);
        sent.extend(a.send);
    }
    assert_eq!(s.replica.view(), 1, "{:?}", s.replica);
    let bounds = MessageBounds::of(&config);
    let size_of = |kind: &str| {
        sent.iter()
            .find(|o| o.message.message.kind() == kind)
            .map(|o| o.message.to_bytes().len())
            .unwrap_or_else(|| panic!("no {kind} sent"))
    };
    let (vc_bytes, nv_bytes) = (size_of("view_change"), size_of("new_view"));
    assert!(
        vc_bytes <= bounds.view_change && bounds.view_change <= config.settings.max_message_bytes
    );
    assert!(nv_bytes <= bounds.new_view && bounds.new_view <= config.settings.max_message_bytes);
    let own_vc = sent.iter().find_map(|o| match &o.message.message {
        Message::ViewChange(vc) => Some(vc.prepared.len()),
        _ => None,
    });
    assert_eq!(own_vc, Some(window as usize), "a certificate for every seq");
    for op in &persisted {
        if let PersistOp::Put { key, value } = op {
            if matches!(key[0], b'W' | b'N') {
                assert!(
                    value.len() <= config.settings.max_message_bytes,
                    "{}",
                    key[0] as char
                );
            }
        }
    }
}

/// Item 8 (`Config::validate`, one owner of the limit): a window whose largest VIEW-CHANGE or
/// NEW-VIEW does not fit `max_message_bytes` is refused with the kind and its size, and so is a
/// limit above what a message can be decoded at or a durable value can hold.
#[test]
fn config_refuses_a_window_whose_view_messages_outgrow_the_message_limit() {
    let mut c = node_like_config();
    c.settings.max_batch_requests = 64;
    c.settings.max_batch_bytes = 64 << 10;
    c.settings.watermark_window_seqs = 256;
    let bounds = MessageBounds::of(&c);
    assert!(bounds.new_view > bounds.pre_prepare && bounds.new_view > bounds.view_change);
    c.settings.max_message_bytes = bounds.new_view - 1;
    assert_eq!(
        c.validate().map_err(|e| e.problems),
        Err(vec![ConfigProblem::MessageTooSmall {
            kind: "new_view",
            bytes: bounds.new_view,
            max_message_bytes: c.settings.max_message_bytes,
        }])
    );
    c.settings.max_message_bytes = bounds.new_view;
    assert_eq!(c.validate(), Ok(()));
    c.settings.watermark_window_seqs *= 16;
    let bigger = MessageBounds::of(&c);
    let problems = c.validate().unwrap_err().problems;
    assert!(problems.iter().any(|p| matches!(
        p,
        ConfigProblem::MessageTooSmall { kind: "view_change", bytes, .. } if *bytes == bigger.view_change
    )));
    c.settings.watermark_window_seqs = 256;
    c.settings.max_message_bytes = bounds::MAX_MESSAGE_BYTES_CAP + 1;
    assert!(matches!(
        c.validate().unwrap_err().problems[..],
        [ConfigProblem::MessageLimitAboveCap { .. }]
    ));
}

/// The largest window (a multiple of K) that `config` accepts, by bisection.
fn largest_valid_window(mut config: Config) -> Config {
    let k = config.settings.checkpoint_interval_seqs;
    let (mut good, mut bad) = (2u64, 1u64 << 20);
    while bad - good > 1 {
        let mid = (good + bad) / 2;
        config.settings.watermark_window_seqs = mid * k;
        if config.validate().is_ok() {
            good = mid;
        } else {
            bad = mid;
        }
    }
    config.settings.watermark_window_seqs = good * k;
    config.validate().expect("largest window is valid");
    config
}

/// Item 8: for the largest legal configuration (256 validators, the ledger's maximum; the
/// largest `max_message_bytes`; full batch limits; the largest window `validate` accepts) the
/// largest message of every kind — pre-prepare with a full batch, prepare, commit, checkpoint,
/// view-change, new-view, fetch-batch — is within its computed bound and `max_message_bytes`,
/// decodes under that limit, and every durable value fits [`durable::MAX_VALUE_BYTES`].
#[test]
fn largest_message_of_every_kind_fits_for_the_largest_legal_config() {
    let validators: Vec<_> = (0..256u32)
        .map(|i| {
            let mut seed = [9u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            SecretKey::from_bytes(&seed).public()
        })
        .collect();
    let mut c = Config::new(validators);
    c.settings.max_message_bytes = bounds::MAX_MESSAGE_BYTES_CAP;
    c.settings.max_batch_requests = 100_000;
    c.settings.max_request_bytes = 64 * 1024;
    c.settings.max_batch_bytes = 32 << 20;
    let c = largest_valid_window(c);
    let bounds = MessageBounds::of(&c);
    let messages = bounds::largest_messages(&c);
    let kinds: Vec<&str> = messages.iter().map(|m| m.message.kind()).collect();
    assert_eq!(
        kinds,
        [
            "pre_prepare",
            "prepare",
            "commit",
            "checkpoint",
            "view_change",
            "new_view",
            "fetch_batch"
        ]
    );
    for (message, (kind, bound)) in messages.iter().zip(bounds.kinds()) {
        let bytes = message.to_bytes();
        assert!(
            bytes.len() <= bound && bound <= c.settings.max_message_bytes,
            "{kind}"
        );
        let decoded = SignedMessage::decode(&bytes, c.settings.max_message_bytes).expect(kind);
        assert_eq!(decoded.message.kind(), kind);
    }
    for op in bounds::largest_durable_values(&c) {
        if let PersistOp::Put { key, value } = op {
            assert!(
                value.len() <= durable::MAX_VALUE_BYTES,
                "{}: {}",
                key[0] as char,
                value.len()
            );
        }
    }
}

/// The stable checkpoint proof the API serves inside account proofs (issue 14), at its largest:
/// 256 signers (the most validators a genesis may name) and the largest seq, within
/// `CheckpointProof::MAX_BYTES`, and decoded back under it.
#[test]
fn the_largest_checkpoint_proof_fits_its_limit() {
    use bftledger_consensus::CheckpointProof;
    use bftledger_crypto::{Digest, Signature};
    let proof = CheckpointProof {
        seq: u64::MAX,
        state_root: Digest([0xff; 32]),
        signatures: (0..256u32).map(|id| (id, Signature([0xff; 64]))).collect(),
    };
    let bytes = proof.to_bytes();
    assert!(
        bytes.len() <= CheckpointProof::MAX_BYTES,
        "{} bytes, limit {}",
        bytes.len(),
        CheckpointProof::MAX_BYTES
    );
    assert_eq!(CheckpointProof::from_bytes(&bytes).unwrap(), proof);
}
