//! The largest encoding of every message kind a [`Config`] allows, from the real encoding.
//!
//! Safety-holes issue, item 8: a VIEW-CHANGE used to carry the batches of its prepared
//! certificates and a NEW-VIEW those of its O-set, so with 500-transfer batches about 15
//! prepared slots outgrew a 4 MiB frame; frames over the limit are dropped, and a faulty primary
//! was never replaced. Now no message but a pre-prepare carries a batch, and every kind has a
//! bound that depends only on the configuration:
//!
//! | kind | largest legal content |
//! |---|---|
//! | PRE-PREPARE | `max_batch_requests` requests, `max_batch_bytes` of payload, each at most `max_request_bytes` |
//! | PREPARE, COMMIT, CHECKPOINT, FETCH-BATCH | fixed fields |
//! | VIEW-CHANGE | a stable proof with a strong quorum of signatures, a prepared certificate for every seq of the window (L), each with a strong quorum of signers |
//! | NEW-VIEW | a strong quorum of such VIEW-CHANGEs and a pre-prepare for every seq of the window |
//!
//! (The O-set spans (min-s, max-s] with max-s at most min-s + L: every certificate of a
//! VIEW-CHANGE lies within L of that sender's checkpoint, which is at most min-s.) The core
//! keeps to these shapes ([`crate::view_change::validate_view_change`] refuses certificates and
//! proofs with more signatures than a quorum, `validate_new_view` more view-changes than a
//! quorum), so no message it sends, stores or accepts is larger.
//!
//! [`MessageBounds::of`] computes the sizes from postcard encodings of maximal *parts* (one
//! certificate, one proof, one empty message per kind) and the additivity of postcard's
//! sequence encoding (a varint length, then the elements); [`largest_messages`] builds the whole
//! messages, and a test checks the two agree byte for byte. Every number is the length of
//! [`SignedMessage::to_bytes`] (version byte included), which is what
//! [`crate::Settings::max_message_bytes`] limits. Every durable value ([`crate::durable`]) is one of
//! these messages or a part of one, so it is never larger than the largest message
//! ([`largest_durable_values`]).

use crate::config::Config;
use crate::durable;
use crate::error::ConfigProblem;
use crate::message::{
    Batch, Checkpoint, CheckpointProof, Commit, FetchBatch, Message, NewView, PrePrepare, Prepare,
    PreparedCertificate, Request, SignedMessage, SignedPrePrepare, SignedViewChange, ViewChange,
};
use crate::quorum::Quorum;
use crate::step_io::PersistOp;
use crate::{ReplicaId, SeqNum, View};
use bftledger_crypto::encoding::{encode, Versioned};
use bftledger_crypto::{Digest, Signature};

/// The largest `max_message_bytes` a configuration may set: a [`SignedMessage`] never decodes
/// beyond [`SignedMessage::MAX_BYTES`], and the largest message (a NEW-VIEW, kept durably under
/// key `N`) must fit a durable value ([`durable::MAX_VALUE_BYTES`]).
pub const MAX_MESSAGE_BYTES_CAP: usize = if SignedMessage::MAX_BYTES < durable::MAX_VALUE_BYTES {
    SignedMessage::MAX_BYTES
} else {
    durable::MAX_VALUE_BYTES
};

/// Placeholder signature: every signature encodes to the same number of bytes.
const SIGNATURE: Signature = Signature([0xff; 64]);
/// Placeholder digest (fixed size too).
const DIGEST: Digest = Digest([0xff; 32]);
/// Views and seqs near `u64::MAX` take the longest varint (10 bytes).
const VIEW_MAX: View = View::MAX;

/// Largest [`SignedMessage::to_bytes`] length of each message kind under one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageBounds {
    /// PRE-PREPARE with a full batch (also what a relay or a FETCH-BATCH answer sends).
    pub pre_prepare: usize,
    /// PREPARE.
    pub prepare: usize,
    /// COMMIT.
    pub commit: usize,
    /// CHECKPOINT.
    pub checkpoint: usize,
    /// VIEW-CHANGE with a full window of prepared certificates.
    pub view_change: usize,
    /// NEW-VIEW with a strong quorum of full VIEW-CHANGEs and a full window of pre-prepares.
    pub new_view: usize,
    /// FETCH-BATCH.
    pub fetch_batch: usize,
}

/// The message-size rules of [`Config::validate`], beside the bounds they compare (the sizes
/// come from the real encoding).
impl Config {
    /// Safety-holes issue, item 8: every message the core sends fits `max_message_bytes`, and
    /// that fits a decodable message and a durable value (the NEW-VIEW of the current view is
    /// kept under key `N`; a value the store refuses would stop the replica on every restart).
    /// The sizes come from the real encoding (`bounds.rs`).
    pub(crate) fn validate_message_bounds(&self, problems: &mut Vec<ConfigProblem>) {
        let max_message_bytes = self.settings.max_message_bytes;
        let cap = MAX_MESSAGE_BYTES_CAP;
        if max_message_bytes > cap {
            problems.push(ConfigProblem::MessageLimitAboveCap {
                max_message_bytes,
                cap,
            });
        }
        for (kind, bytes) in MessageBounds::of(self).kinds() {
            if bytes > max_message_bytes {
                problems.push(ConfigProblem::MessageTooSmall {
                    kind,
                    bytes,
                    max_message_bytes,
                });
            }
        }
    }
}

impl MessageBounds {
    /// The bounds for `config` (computed from encodings of maximal parts; cheap, allocates
    /// only a few certificates).
    pub fn of(config: &Config) -> MessageBounds {
        let shape = Shape::of(config);
        let window = usize_of(config.settings.watermark_window_seqs);
        let cert_bytes = encode(&shape.certificate(shape.stable_seq + 1)).len();
        let empty_view_change = shape.view_change_message(Vec::new()).to_bytes().len();
        let view_change = grow_sequence(empty_view_change, window, cert_bytes);
        let mut new_view = shape
            .signed(Message::NewView(NewView {
                view: VIEW_MAX,
                view_changes: Vec::new(),
                pre_prepares: Vec::new(),
            }))
            .to_bytes()
            .len();
        let senders = shape.senders(shape.strong);
        let embedded: usize = senders
            .iter()
            .map(|from| {
                let empty = encode(&shape.signed_view_change(*from, Vec::new())).len();
                grow_sequence(empty, window, cert_bytes)
            })
            .fold(0, usize::saturating_add);
        new_view = grow_sequence(new_view, senders.len(), 0).saturating_add(embedded);
        let pre_prepare_bytes = encode(&shape.o_set_entry(shape.stable_seq + 1)).len();
        new_view = grow_sequence(new_view, window, pre_prepare_bytes);
        let empty_pre_prepare = shape
            .signed(shape.pre_prepare_message(Vec::new()))
            .to_bytes()
            .len();
        MessageBounds {
            pre_prepare: empty_pre_prepare - varint_len(0) + batch_bytes_max(config),
            prepare: shape.signed(shape.prepare()).to_bytes().len(),
            commit: shape.signed(shape.commit()).to_bytes().len(),
            checkpoint: shape.signed(shape.checkpoint()).to_bytes().len(),
            view_change,
            new_view,
            fetch_batch: shape.signed(shape.fetch_batch()).to_bytes().len(),
        }
    }

    /// Every kind with its bound, in a fixed order (names as [`Message::kind`]).
    pub fn kinds(&self) -> [(&'static str, usize); 7] {
        [
            ("pre_prepare", self.pre_prepare),
            ("prepare", self.prepare),
            ("commit", self.commit),
            ("checkpoint", self.checkpoint),
            ("view_change", self.view_change),
            ("new_view", self.new_view),
            ("fetch_batch", self.fetch_batch),
        ]
    }

    /// The largest of them.
    pub fn largest(&self) -> usize {
        self.kinds().iter().map(|(_, b)| *b).max().unwrap_or(0)
    }
}

/// Upper bound of the encoded batch: a varint count, then per request a varint length and the
/// payload. At most `max_batch_requests` requests, `max_batch_bytes` of payload in all, each
/// payload at most `max_request_bytes` (so its length prefix at most that varint).
fn batch_bytes_max(config: &Config) -> usize {
    let request_len_max = config
        .settings
        .max_request_bytes
        .min(config.settings.max_batch_bytes);
    varint_len(config.settings.max_batch_requests)
        .saturating_add(config.settings.max_batch_bytes)
        .saturating_add(
            config
                .settings
                .max_batch_requests
                .saturating_mul(varint_len(request_len_max)),
        )
}

/// The length of an encoding whose (empty) sequence gets `count` elements of `element_bytes`
/// each: the varint length prefix grows, and the elements are appended.
fn grow_sequence(empty_bytes: usize, count: usize, element_bytes: usize) -> usize {
    (empty_bytes - varint_len(0))
        .saturating_add(varint_len(count))
        .saturating_add(count.saturating_mul(element_bytes))
}

fn varint_len(value: usize) -> usize {
    encode(&(value as u64)).len()
}

fn usize_of(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The field values of the largest legal messages of one configuration.
struct Shape {
    n: usize,
    strong: usize,
    window: SeqNum,
    /// The stable checkpoint of the maximal VIEW-CHANGE: certificates fill (stable, stable + L]
    /// right below `u64::MAX`, where every seq takes a 10-byte varint.
    stable_seq: SeqNum,
}

impl Shape {
    fn of(config: &Config) -> Shape {
        let window = config.settings.watermark_window_seqs;
        Shape {
            n: config.n(),
            strong: Quorum::new(config.n()).strong(),
            window,
            stable_seq: SeqNum::MAX - window,
        }
    }

    /// `count` distinct replica ids, the highest first (the longest varints).
    fn senders(&self, count: usize) -> Vec<ReplicaId> {
        (0..self.n.min(count))
            .map(|i| (self.n - 1 - i) as ReplicaId)
            .collect()
    }

    fn signatures(&self, count: usize) -> Vec<(ReplicaId, Signature)> {
        self.senders(count)
            .into_iter()
            .map(|id| (id, SIGNATURE))
            .collect()
    }

    fn signed(&self, message: Message) -> SignedMessage {
        SignedMessage {
            from: self.n.saturating_sub(1) as ReplicaId,
            message,
            signature: SIGNATURE,
        }
    }

    fn pre_prepare(&self, seq: SeqNum) -> PrePrepare {
        PrePrepare {
            view: VIEW_MAX,
            seq,
            digest: DIGEST,
        }
    }

    fn pre_prepare_message(&self, batch: Vec<Request>) -> Message {
        Message::PrePrepare {
            pre_prepare: self.pre_prepare(SeqNum::MAX),
            batch: Batch::from(batch),
        }
    }

    fn prepare(&self) -> Message {
        Message::Prepare(Prepare {
            view: VIEW_MAX,
            seq: SeqNum::MAX,
            digest: DIGEST,
        })
    }

    fn commit(&self) -> Message {
        Message::Commit(Commit {
            view: VIEW_MAX,
            seq: SeqNum::MAX,
            digest: DIGEST,
        })
    }

    fn checkpoint(&self) -> Message {
        Message::Checkpoint(Checkpoint {
            seq: SeqNum::MAX,
            state_root: DIGEST,
        })
    }

    fn fetch_batch(&self) -> Message {
        Message::FetchBatch(FetchBatch {
            pre_prepare: self.pre_prepare(SeqNum::MAX),
            primary_signature: SIGNATURE,
        })
    }

    fn stable_proof(&self) -> CheckpointProof {
        CheckpointProof {
            seq: self.stable_seq,
            state_root: DIGEST,
            signatures: self.signatures(self.strong),
        }
    }

    /// A prepared certificate of the view before the last, with a strong quorum of signers
    /// (the pre-prepare and `strong - 1` prepares).
    fn certificate(&self, seq: SeqNum) -> PreparedCertificate {
        PreparedCertificate {
            pre_prepare: PrePrepare {
                view: VIEW_MAX - 1,
                seq,
                digest: DIGEST,
            },
            primary_signature: SIGNATURE,
            prepares: self.signatures(self.strong - 1),
        }
    }

    fn certificates(&self) -> Vec<PreparedCertificate> {
        (1..=self.window)
            .map(|i| self.certificate(self.stable_seq + i))
            .collect()
    }

    fn view_change(&self, prepared: Vec<PreparedCertificate>) -> ViewChange {
        ViewChange {
            new_view: VIEW_MAX,
            stable: self.stable_proof(),
            prepared,
        }
    }

    fn view_change_message(&self, prepared: Vec<PreparedCertificate>) -> SignedMessage {
        self.signed(Message::ViewChange(self.view_change(prepared)))
    }

    fn signed_view_change(
        &self,
        from: ReplicaId,
        prepared: Vec<PreparedCertificate>,
    ) -> SignedViewChange {
        SignedViewChange {
            from,
            view_change: self.view_change(prepared),
            signature: SIGNATURE,
        }
    }

    fn o_set_entry(&self, seq: SeqNum) -> SignedPrePrepare {
        SignedPrePrepare {
            pre_prepare: self.pre_prepare(seq),
            signature: SIGNATURE,
        }
    }
}

/// The largest legal batch: `max_batch_requests` requests sharing `max_batch_bytes` of payload
/// as evenly as `max_request_bytes` allows.
fn largest_batch(config: &Config) -> Vec<Request> {
    let count = config.settings.max_batch_requests.max(1);
    let total = config
        .settings
        .max_batch_bytes
        .min(count.saturating_mul(config.settings.max_request_bytes));
    let (each, extra) = (total / count, total % count);
    (0..count)
        .map(|i| Request {
            payload: vec![0xab; each + usize::from(i < extra)],
        })
        .collect()
}

/// The largest legal message of every kind for `config`, built whole, in the order of
/// [`MessageBounds::kinds`]. Signatures are placeholders (their size, not their validity,
/// counts). Allocates about the sum of the bounds: for tests of the limits.
pub fn largest_messages(config: &Config) -> Vec<SignedMessage> {
    let shape = Shape::of(config);
    let certificates = shape.certificates();
    let view_changes = shape
        .senders(shape.strong)
        .into_iter()
        .map(|from| shape.signed_view_change(from, certificates.clone()))
        .collect();
    let pre_prepares = (1..=shape.window)
        .map(|i| shape.o_set_entry(shape.stable_seq + i))
        .collect();
    let new_view = NewView {
        view: VIEW_MAX,
        view_changes,
        pre_prepares,
    };
    vec![
        shape.signed(shape.pre_prepare_message(largest_batch(config))),
        shape.signed(shape.prepare()),
        shape.signed(shape.commit()),
        shape.signed(shape.checkpoint()),
        shape.view_change_message(certificates),
        shape.signed(Message::NewView(new_view)),
        shape.signed(shape.fetch_batch()),
    ]
}

/// The largest value of every durable key ([`crate::durable`]) for `config`, built from
/// [`largest_messages`]: `N` (the NEW-VIEW), `W` (the VIEW-CHANGE), `B` (a full batch), `P`
/// (a certificate), `S`/`F` (a checkpoint proof) and the small fixed ones.
pub fn largest_durable_values(config: &Config) -> Vec<PersistOp> {
    let shape = Shape::of(config);
    let messages = largest_messages(config);
    let mut ops = vec![
        durable::put_view(VIEW_MAX, Some(VIEW_MAX)),
        durable::put_stable(&shape.stable_proof()),
        durable::put_floor(&shape.stable_proof()),
        durable::put_executed(SeqNum::MAX, DIGEST),
        durable::put_vote(SeqNum::MAX, VIEW_MAX, durable::VoteKind::Commit, DIGEST),
        durable::put_checkpoint(SeqNum::MAX, DIGEST),
        durable::put_prepared(&shape.certificate(SeqNum::MAX)),
    ];
    for message in &messages {
        match &message.message {
            Message::PrePrepare { pre_prepare, batch } => ops.push(durable::put_batch(
                pre_prepare.seq,
                &pre_prepare.digest,
                pre_prepare.view,
                &SIGNATURE,
                batch,
            )),
            Message::ViewChange(vc) => ops.push(durable::put_view_change(vc, &SIGNATURE)),
            Message::NewView(_) => ops.push(durable::put_new_view(message)),
            _ => {}
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use bftledger_crypto::SecretKey;

    fn config(n: usize, window: SeqNum) -> Config {
        let keys = (0..n).map(|i| {
            let mut seed = [7u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            SecretKey::from_bytes(&seed).public()
        });
        let mut config = Config::new(keys.collect());
        config.settings.checkpoint_interval_seqs = window / 2;
        config.settings.watermark_window_seqs = window;
        config.settings.max_batch_requests = 37;
        config.settings.max_request_bytes = 300;
        config.settings.max_batch_bytes = 5_000;
        config
    }

    /// The bounds computed from parts are exactly the lengths of the whole messages (VIEW-CHANGE,
    /// NEW-VIEW and the fixed kinds), or at most a few bytes per request above them
    /// (PRE-PREPARE: the bound allows every request the longest length prefix), for n from 4
    /// to 256 (ids past 127 take two-byte varints) and windows past 127 seqs.
    #[test]
    fn bounds_match_the_real_encoding() {
        for (n, window) in [(4, 8), (7, 16), (10, 200), (130, 4), (256, 2)] {
            let c = config(n, window);
            let bounds = MessageBounds::of(&c);
            let messages = largest_messages(&c);
            for ((kind, bound), message) in bounds.kinds().iter().zip(&messages) {
                assert_eq!(*kind, message.message.kind());
                let real = message.to_bytes().len();
                if *kind == "pre_prepare" {
                    assert!(real <= *bound, "n={n}: {kind} {real} > bound {bound}");
                    let slack = c.settings.max_batch_requests * 2;
                    assert!(
                        *bound - real <= slack,
                        "n={n}: bound {bound} far above {real}"
                    );
                } else {
                    assert_eq!(real, *bound, "n={n} L={window}: {kind}");
                }
            }
        }
    }

    /// Every durable value is at most the largest message: `max_message_bytes` below
    /// [`durable::MAX_VALUE_BYTES`] is then enough for the store.
    #[test]
    fn durable_values_are_no_larger_than_the_largest_message() {
        for (n, window) in [(4, 8), (10, 64), (256, 2)] {
            let c = config(n, window);
            let largest = MessageBounds::of(&c).largest();
            for op in largest_durable_values(&c) {
                let PersistOp::Put { key, value } = op else {
                    unreachable!("puts only")
                };
                assert!(
                    value.len() <= largest,
                    "key {:?}: {}",
                    key[0] as char,
                    value.len()
                );
            }
        }
    }
}
