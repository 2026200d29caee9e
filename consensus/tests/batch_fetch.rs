//! Safety-holes issue, item 8: VIEW-CHANGE and NEW-VIEW carry digests, never batches; a replica
//! that holds a pre-prepare without its batch fetches it (OSDI'99 §4.4: "a replica may be
//! missing some request message m ... It can obtain missing information from another
//! replica"; TOCS'02 §5 keeps such retransmission bounded). The size bounds are in
//! `message_bounds.rs`.

mod common;

use bftledger_consensus::{
    batch_digest, Batch, CheckpointProof, CommittedBatch, FetchBatch, Input, Message, PersistOp,
    PrePrepare, Rejection, SignedMessage, Target,
};
use common::{
    batch_of, keys, new_view, pre_prepare, prepared_cert, rejections, sent_kinds,
    three_view_changes, view_change, Single,
};

/// The FETCH-BATCH requests among `sends`, with their destinations.
fn fetches(sends: &[bftledger_consensus::Outbound]) -> Vec<(Target, FetchBatch)> {
    sends
        .iter()
        .filter_map(|o| match &o.message.message {
            Message::FetchBatch(f) => Some((o.to, *f)),
            _ => None,
        })
        .collect()
}

/// A peer's answer to `fetch`: the primary's signed pre-prepare with `batch`.
fn answer(fetch: &FetchBatch, batch: &Batch) -> SignedMessage {
    SignedMessage {
        from: (fetch.pre_prepare.view % 4) as u32,
        message: Message::PrePrepare {
            pre_prepare: fetch.pre_prepare,
            batch: batch.clone(),
        },
        signature: fetch.primary_signature,
    }
}

fn prepare(view: u64, seq: u64, digest: bftledger_crypto::Digest) -> Message {
    Message::Prepare(bftledger_consensus::Prepare { view, seq, digest })
}

fn commit(view: u64, seq: u64, digest: bftledger_crypto::Digest) -> Message {
    Message::Commit(bftledger_consensus::Commit { view, seq, digest })
}

/// §4.4 with item 8: a backup enters view 1 through a NEW-VIEW that carries only digests (seq 1
/// null, seq 2 a batch it never saw). It prepares the null entry, not seq 2 (a correct backup
/// prepares only a batch it holds), and asks f+1 peers for seq 2 with FETCH-BATCH carrying the
/// primary's signed pre-prepare. A relayed batch that does not match the signed digest is
/// rejected without accusing the primary (item 5); the matching one is prepared, and with its
/// peers' votes both seqs execute.
#[test]
fn backup_entering_a_view_without_batches_fetches_them_and_executes() {
    let mut s = Single::new(4, 2);
    let k = keys(4);
    let b = batch_of(&["x"]);
    let nv = new_view(&k, 1, &three_view_changes(&k, &b));
    let a = s.deliver(1, Message::NewView(nv.clone()));
    assert!(rejections(&a).is_empty(), "{:?}", a.events);
    assert_eq!(s.replica.view(), 1);
    assert_eq!(sent_kinds(&a), ["prepare", "fetch_batch", "fetch_batch"]);
    let asked = fetches(&a.send);
    let want = PrePrepare {
        view: 1,
        seq: 2,
        digest: batch_digest(&b),
    };
    for (to, fetch) in &asked {
        assert_eq!(fetch.pre_prepare, want);
        assert_eq!(fetch.primary_signature, nv.pre_prepares[1].signature);
        assert!(matches!(to, Target::One(r) if *r != 2), "{to:?}");
    }
    assert_ne!(asked[0].0, asked[1].0, "f+1 distinct peers");

    let junk = answer(&asked[0].1, &batch_of(&["not-x"]));
    let a = s.input(Input::Message(junk));
    assert!(
        matches!(
            &a.events[..],
            [bftledger_consensus::Event::Rejected {
                from: None,
                reason: Rejection::DigestMismatch { seq: 2, .. }
            }]
        ),
        "refused, nobody blamed: {:?}",
        a.events
    );
    assert!(a.send.is_empty() && !s.replica.is_view_changing());

    let a = s.input(Input::Message(answer(&asked[0].1, &b)));
    assert!(rejections(&a).is_empty(), "{:?}", a.events);
    assert_eq!(
        sent_kinds(&a),
        ["prepare"],
        "prepares seq 2 once it holds the batch"
    );

    let mut executed: Vec<CommittedBatch> = Vec::new();
    for (seq, digest) in [(1, bftledger_consensus::null_digest()), (2, want.digest)] {
        s.deliver(3, prepare(1, seq, digest));
        for from in [0, 3] {
            executed.extend(s.deliver(from, commit(1, seq, digest)).execute);
        }
    }
    let got: Vec<(u64, usize)> = executed.iter().map(|e| (e.seq, e.requests.len())).collect();
    assert_eq!(got, [(1, 0), (2, 1)]);
    assert_eq!(executed[1].requests[..], b[..]);
}

/// §4.4 with item 8: the new primary of view 1 lacks the batch of a prepared certificate that a
/// VIEW-CHANGE reports (VIEW-CHANGEs carry digests only). It still signs the O-set, sends
/// NEW-VIEW and enters the view; it fetches the batch (its own signed O-set pre-prepare comes
/// back relayed), makes it durable and, once the slot commits, executes it.
#[test]
fn new_primary_lacking_a_batch_installs_the_view_and_fetches_it() {
    let mut s = Single::new(4, 1);
    let k = keys(4);
    let b = batch_of(&["prepared-in-v0"]);
    let digest = batch_digest(&b);
    let cert = prepared_cert(&k, 0, 1, digest);
    s.input(Input::Message(view_change(
        &k,
        2,
        1,
        CheckpointProof::genesis(),
        vec![cert],
    )));
    let a = s.input(Input::Message(view_change(
        &k,
        3,
        1,
        CheckpointProof::genesis(),
        vec![],
    )));
    assert_eq!(
        sent_kinds(&a),
        ["view_change", "new_view", "fetch_batch", "fetch_batch"]
    );
    assert_eq!((s.replica.view(), s.replica.is_view_changing()), (1, false));
    let asked = fetches(&a.send);

    for from in [2, 3] {
        s.deliver(from, prepare(1, 1, digest));
    }
    for from in [2, 3] {
        let a = s.deliver(from, commit(1, 1, digest));
        assert!(a.execute.is_empty(), "committed, but the batch is missing");
    }
    assert_eq!(s.replica.last_executed(), 0);

    let (persist, a) = s.input_raw(Input::Message(answer(&asked[0].1, &b)));
    assert!(rejections(&a).is_empty(), "{:?}", a.events);
    let batch_key = |op: &PersistOp| matches!(op, PersistOp::Put { key, .. } if key[0] == b'B');
    assert!(
        persist.iter().any(batch_key),
        "the fetched batch is durable"
    );
    assert_eq!(a.execute.len(), 1);
    assert_eq!(a.execute[0].requests[..], b[..]);
}

/// Item 8, retransmission (TOCS'02 §5): an unanswered FETCH-BATCH is repeated every
/// retransmission period, to other peers (f+1 per round, rotating: every peer is asked within
/// ceil((n-1)/(f+1)) rounds, so a silent or faulty peer cannot stall the fetch), and stops once
/// the batch is there.
#[test]
fn fetch_is_retried_each_period_with_rotating_peers_until_the_batch_arrives() {
    let mut s = Single::new(4, 2);
    let k = keys(4);
    let b = batch_of(&["x"]);
    let a = s.deliver(
        1,
        Message::NewView(new_view(&k, 1, &three_view_changes(&k, &b))),
    );
    let mut asked: Vec<Target> = fetches(&a.send).into_iter().map(|(to, _)| to).collect();
    let period = s.config.settings.retransmit_ticks as usize;
    let again = fetches(&s.ticks(period).send);
    assert_eq!(again.len(), 2, "asked again after one period");
    asked.extend(again.iter().map(|(to, _)| *to));
    asked.sort_by_key(|t| format!("{t:?}"));
    asked.dedup();
    assert_eq!(asked, [Target::One(0), Target::One(1), Target::One(3)]);

    s.input(Input::Message(answer(&again[0].1, &b)));
    assert!(
        fetches(&s.ticks(2 * period).send).is_empty(),
        "no more requests"
    );
}

/// Item 8 and item 9 (bounded work for a peer's requests): a replica answers FETCH-BATCH for
/// any batch it holds — here one it prepared in view 0, whose slot a view change cleared, so
/// only its durable batches (`B`) still have it, also after a restart — and relays it under
/// the primary's signature from the request, whatever view it is in. It answers at most
/// `RETRANSMIT_SLOTS_PER_PEER` (4) requests per peer and retransmission period, and nothing for
/// a digest it does not hold.
#[test]
fn fetch_batch_is_answered_from_durable_batches_within_the_relay_budget() {
    let mut s = Single::new(4, 3);
    let k = keys(4);
    let b = batch_of(&["x"]);
    s.deliver(0, pre_prepare(0, 1, &b)); // prepared-voted: batch durable, no certificate
    let empty_vcs: Vec<SignedMessage> = [1, 2, 0]
        .iter()
        .map(|r| view_change(&k, *r, 1, CheckpointProof::genesis(), vec![]))
        .collect();
    s.deliver(1, Message::NewView(new_view(&k, 1, &empty_vcs)));
    assert_eq!(s.replica.view(), 1, "the slots of view 0 are gone");

    let pp = PrePrepare {
        view: 4,
        seq: 1,
        digest: batch_digest(&b),
    };
    let request = FetchBatch {
        pre_prepare: pp,
        primary_signature: common::sig_for(
            &k,
            0,
            Message::PrePrepare {
                pre_prepare: pp,
                batch: b.clone(),
            },
        ),
    };
    let answered = |a: &bftledger_consensus::Actions| {
        a.send
            .iter()
            .filter(|o| o.to == Target::One(2) && o.message == answer(&request, &b))
            .count()
    };
    let a = s.deliver(2, Message::FetchBatch(request));
    assert_eq!(answered(&a), 1, "{:?}", a.send);

    let mut unknown = request;
    unknown.pre_prepare.digest = batch_digest(&batch_of(&["never-seen"]));
    assert!(s.deliver(2, Message::FetchBatch(unknown)).send.is_empty());

    let flood: usize = (0..100)
        .map(|_| answered(&s.deliver(2, Message::FetchBatch(request))))
        .sum();
    assert!(flood <= 4, "{flood} answers to 100 requests in one period");

    s.restart();
    let a = s.deliver(2, Message::FetchBatch(request));
    assert_eq!(
        answered(&a),
        1,
        "answered from the durable batch after a restart"
    );
}
