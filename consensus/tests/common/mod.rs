//! A small deterministic in-test cluster: n replicas, FIFO delivery of every message (with
//! optional drops), a toy application whose state root is a hash chain of executed batches, an
//! in-memory "disk" per replica, crash and recovery. `check_invariants()` runs after every step
//! and agreement (same digest per executed seq) is checked on every execution.

#![allow(dead_code)]

use bftledger_consensus::{
    durable, Actions, Application, CommittedBatch, Config, Event, Input, InvalidBatch, Message,
    Replica, ReplicaId, Request, SeqNum, SignedMessage, Target,
};
use bftledger_crypto::{Digest, SecretKey};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Decides whether a delivery (to, message) is lost.
pub type DropFilter = Box<dyn Fn(ReplicaId, &SignedMessage) -> bool>;

/// Accepts every request except payloads starting with `bad`. A payload `body#signature` is
/// a signed request: its identity is the digest of `body` alone, so `t#1` and `t#2` are one
/// request signed twice; other payloads are identified by their bytes. Payloads
/// `key@rest` with one `key` conflict (as two transfers with one sender and nonce do).
#[derive(Debug, Clone, Default)]
pub struct ToyApp;

impl Application for ToyApp {
    fn request_ids(&self, requests: &[Request], digests: &[Digest]) -> Vec<Digest> {
        requests
            .iter()
            .zip(digests)
            .map(|(r, d)| match r.payload.iter().position(|b| *b == b'#') {
                Some(at) => Digest::of(&r.payload[..at]),
                None => *d,
            })
            .collect()
    }

    fn conflict_keys(&self, requests: &[Request], _: &[Digest]) -> Vec<Option<Digest>> {
        requests
            .iter()
            .map(|r| {
                let at = r.payload.iter().position(|b| *b == b'@')?;
                Some(Digest::of(&r.payload[..at]))
            })
            .collect()
    }

    fn validate_batch(&self, requests: &[Request], _: &[Digest]) -> Result<(), InvalidBatch> {
        let bad: Vec<usize> = requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.payload.starts_with(b"bad"))
            .map(|(i, _)| i)
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(InvalidBatch { bad })
        }
    }
}

pub fn keys(n: usize) -> Vec<SecretKey> {
    (0..n)
        .map(|i| SecretKey::from_bytes(&[i as u8 + 1; 32]))
        .collect()
}

/// Small limits so that checkpoints, watermarks and timeouts are reached quickly.
pub fn small_config(n: usize) -> Config {
    let mut c = Config::new(keys(n).iter().map(SecretKey::public).collect());
    c.settings.checkpoint_interval_seqs = 4;
    c.settings.watermark_window_seqs = 8;
    c.settings.max_batch_requests = 4;
    c.settings.max_batch_bytes = 4096;
    c.settings.max_request_bytes = 1024;
    c.settings.max_message_bytes = 1 << 20;
    c.settings.batch_delay_ticks = 0;
    c.settings.view_change_timeout_ticks = 20;
    c.settings.view_change_timeout_max_ticks = 320;
    c.settings.retransmit_ticks = 5;
    c.settings.max_pending_requests = 64;
    c.settings.max_future_views = 4;
    c.settings.executed_requests_remembered = 1000;
    c.validate().expect("valid test config");
    c
}

pub fn req(s: &str) -> Request {
    Request {
        payload: s.as_bytes().to_vec(),
    }
}

/// The toy application's state of one replica.
#[derive(Debug, Clone, Default)]
pub struct AppState {
    pub root: Digest,
    pub height: SeqNum,
    pub executed: Vec<(SeqNum, Digest, usize)>,
    /// Digests of the executed requests, in order.
    pub requests: Vec<Digest>,
}

pub struct Cluster {
    pub config: Config,
    pub keys: Vec<SecretKey>,
    pub replicas: Vec<Option<Replica<ToyApp>>>,
    pub disks: Vec<BTreeMap<Vec<u8>, Vec<u8>>>,
    pub apps: Vec<AppState>,
    pub queue: VecDeque<(ReplicaId, SignedMessage)>,
    /// Requests relayed by backups to a primary (§4.4), delivered after the messages.
    pub relayed: VecDeque<(ReplicaId, ReplicaId, Vec<Request>)>,
    /// Relayed requests every host refuses to hand its core (as a node's mempool refuses a
    /// transfer whose nonce its ledger already used).
    pub hosts_refuse: Vec<Request>,
    /// Messages from these replicas are dropped (silent / crashed).
    pub mute: BTreeSet<ReplicaId>,
    /// Messages to these replicas are dropped.
    pub deaf: BTreeSet<ReplicaId>,
    /// seq -> digest committed anywhere (agreement check).
    pub decided: BTreeMap<SeqNum, Digest>,
    pub events: Vec<(ReplicaId, Event)>,
    pub sent: Vec<(ReplicaId, Target, SignedMessage)>,
    /// Drops a delivery (to, message) when it returns true.
    pub drop_if: Option<DropFilter>,
}

impl Cluster {
    pub fn new(n: usize) -> Cluster {
        Cluster::with_config(small_config(n))
    }

    pub fn with_config(config: Config) -> Cluster {
        let n = config.n();
        let keys = keys(n);
        let replicas = (0..n)
            .map(|i| {
                Some(Replica::new(
                    config.clone(),
                    i as ReplicaId,
                    keys[i].clone(),
                    ToyApp,
                ))
            })
            .collect();
        Cluster {
            config,
            keys,
            replicas,
            disks: vec![BTreeMap::new(); n],
            apps: vec![AppState::default(); n],
            queue: VecDeque::new(),
            relayed: VecDeque::new(),
            hosts_refuse: Vec::new(),
            mute: BTreeSet::new(),
            deaf: BTreeSet::new(),
            decided: BTreeMap::new(),
            events: Vec::new(),
            sent: Vec::new(),
            drop_if: None,
        }
    }

    pub fn n(&self) -> usize {
        self.config.n()
    }

    pub fn replica(&self, i: ReplicaId) -> &Replica<ToyApp> {
        self.replicas[i as usize].as_ref().expect("replica is up")
    }

    /// Steps replica `i` with `input` and carries out the output (persist, send, execute).
    pub fn step(&mut self, i: ReplicaId, input: Input) {
        let Some(replica) = self.replicas[i as usize].as_mut() else {
            return;
        };
        let mut out = replica.step(input);
        replica.check_invariants();
        durable::apply(&mut self.disks[i as usize], &out.take_persist());
        let actions = out.persisted();
        self.handle(i, actions);
    }

    fn handle(&mut self, i: ReplicaId, actions: Actions) {
        for e in actions.events {
            self.events.push((i, e));
        }
        for o in actions.send {
            self.sent.push((i, o.to, o.message.clone()));
            if self.mute.contains(&i) {
                continue;
            }
            match o.to {
                Target::All => {
                    for r in 0..self.n() as ReplicaId {
                        if r != i {
                            self.queue.push_back((r, o.message.clone()));
                        }
                    }
                }
                Target::One(r) => self.queue.push_back((r, o.message)),
            }
        }
        if let Some(relay) = actions.relay {
            self.relayed.push_back((i, relay.to, relay.requests));
        }
        for batch in actions.execute {
            self.execute(i, batch);
        }
        if let Some(fetch) = actions.fetch_state {
            self.transfer_state(i, fetch.seq, fetch.state_root);
        }
    }

    fn execute(&mut self, i: ReplicaId, batch: CommittedBatch) {
        batch
            .certificate
            .verify(&self.config.validators)
            .expect("commit certificate verifies");
        if let Some(d) = self.decided.insert(batch.seq, batch.digest) {
            assert_eq!(d, batch.digest, "agreement violated at seq {}", batch.seq);
        }
        let app = &mut self.apps[i as usize];
        if batch.seq <= app.height {
            return; // already applied before a crash: the driver skips it
        }
        assert_eq!(
            batch.seq,
            app.height + 1,
            "replica {i} executes out of order"
        );
        app.height = batch.seq;
        app.root = Digest::of_parts(&[&app.root.0, &batch.digest.0]);
        app.executed
            .push((batch.seq, batch.digest, batch.requests.len()));
        app.requests
            .extend(batch.requests.iter().map(Request::digest));
        let (seq, root) = (batch.seq, app.root);
        self.step(
            i,
            Input::Executed {
                seq,
                state_root: root,
            },
        );
    }

    /// State transfer from any replica whose app reached `seq` with the same root.
    fn transfer_state(&mut self, i: ReplicaId, seq: SeqNum, root: Digest) {
        let source = self
            .apps
            .iter()
            .find(|a| a.executed.iter().any(|(s, _, _)| *s == seq) && a.height >= seq)
            .cloned();
        let Some(source) = source else {
            return;
        };
        let mut state = AppState::default();
        for (s, d, len) in source.executed.iter().filter(|(s, _, _)| *s <= seq) {
            state.height = *s;
            state.root = Digest::of_parts(&[&state.root.0, &d.0]);
            state.executed.push((*s, *d, *len));
        }
        let count: usize = state.executed.iter().map(|e| e.2).sum();
        state.requests = source.requests[..count].to_vec();
        if state.root != root {
            return;
        }
        self.apps[i as usize] = state;
        self.step(
            i,
            Input::StateTransferred {
                seq,
                state_root: root,
            },
        );
    }

    /// Delivers queued messages until none are left (or `max` deliveries).
    pub fn deliver_all(&mut self) {
        let mut budget = 1_000_000;
        loop {
            if let Some((to, message)) = self.queue.pop_front() {
                budget -= 1;
                assert!(budget > 0, "message storm");
                if self.deaf.contains(&to) || self.replicas[to as usize].is_none() {
                    continue;
                }
                if self.drop_if.as_ref().is_some_and(|f| f(to, &message)) {
                    continue;
                }
                self.step(to, Input::Message(message));
            } else if let Some((from, to, requests)) = self.relayed.pop_front() {
                let lost = self.mute.contains(&from) || self.deaf.contains(&to);
                let requests: Vec<Request> = requests
                    .into_iter()
                    .filter(|r| !self.hosts_refuse.contains(r))
                    .collect();
                if !lost && !requests.is_empty() {
                    self.step(to, Input::ClientRequests(requests));
                }
            } else {
                break;
            }
        }
    }

    pub fn submit(&mut self, to: ReplicaId, requests: Vec<Request>) {
        self.step(to, Input::ClientRequests(requests));
    }

    pub fn tick_all(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for i in 0..self.n() as ReplicaId {
                self.step(i, Input::Tick);
            }
            self.deliver_all();
        }
    }

    pub fn crash(&mut self, i: ReplicaId) {
        self.replicas[i as usize] = None;
    }

    pub fn recover(&mut self, i: ReplicaId) {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = self.disks[i as usize]
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let replica = Replica::recover(
            self.config.clone(),
            i,
            self.keys[i as usize].clone(),
            ToyApp,
            entries,
        )
        .expect("recover");
        self.replicas[i as usize] = Some(replica);
    }

    pub fn executed(&self, i: ReplicaId) -> SeqNum {
        self.apps[i as usize].height
    }

    pub fn requests_executed(&self, i: ReplicaId) -> usize {
        self.apps[i as usize]
            .executed
            .iter()
            .map(|(_, _, n)| n)
            .sum()
    }

    pub fn sign(&self, from: ReplicaId, message: Message) -> SignedMessage {
        SignedMessage::sign(from, message, &self.keys[from as usize])
    }

    pub fn rejections_of(&self, i: ReplicaId, kind: &str) -> u64 {
        self.replica(i)
            .rejection_counts()
            .get(kind)
            .copied()
            .unwrap_or(0)
    }
}

/// A lone replica under test plus the keys of its peers, for single-message rule tests.
pub struct Single {
    pub config: Config,
    pub keys: Vec<SecretKey>,
    pub replica: Replica<ToyApp>,
    /// What the replica's outputs persisted (for [`Single::restart`]).
    pub disk: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Single {
    pub fn new(n: usize, id: ReplicaId) -> Single {
        Single::with_config(small_config(n), id)
    }

    pub fn with_config(config: Config, id: ReplicaId) -> Single {
        let keys = keys(config.n());
        let replica = Replica::new(config.clone(), id, keys[id as usize].clone(), ToyApp);
        Single {
            config,
            keys,
            replica,
            disk: BTreeMap::new(),
        }
    }

    /// A crash and restart: the replica is rebuilt from what it persisted.
    pub fn restart(&mut self) {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = self
            .disk
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let id = self.replica.id();
        self.replica = Replica::recover(
            self.config.clone(),
            id,
            self.keys[id as usize].clone(),
            ToyApp,
            entries,
        )
        .expect("recover");
        self.replica.check_invariants();
    }

    pub fn sign(&self, from: ReplicaId, message: Message) -> SignedMessage {
        SignedMessage::sign(from, message, &self.keys[from as usize])
    }

    /// Steps with a message signed by `from`; returns the actions (persist ignored).
    pub fn deliver(&mut self, from: ReplicaId, message: Message) -> Actions {
        let signed = self.sign(from, message);
        self.input(Input::Message(signed))
    }

    pub fn input(&mut self, input: Input) -> Actions {
        self.input_raw(input).1
    }
}

pub fn rejections(actions: &Actions) -> Vec<bftledger_consensus::Rejection> {
    actions
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

/// The seqs of the pre-prepares among the sends, in order.
pub fn proposed_seqs(actions: &Actions) -> Vec<u64> {
    actions
        .send
        .iter()
        .filter_map(|o| match &o.message.message {
            Message::PrePrepare { pre_prepare, .. } => Some(pre_prepare.seq),
            _ => None,
        })
        .collect()
}

pub fn sent_kinds(actions: &Actions) -> Vec<&'static str> {
    actions
        .send
        .iter()
        .map(|o| o.message.message.kind())
        .collect()
}

impl Single {
    /// Steps with `input`, returning the persist ops and the actions.
    pub fn input_raw(&mut self, input: Input) -> (Vec<bftledger_consensus::PersistOp>, Actions) {
        let mut out = self.replica.step(input);
        self.replica.check_invariants();
        let persist = out.take_persist();
        bftledger_consensus::durable::apply(&mut self.disk, &persist);
        (persist, out.persisted())
    }

    /// Ticks `n` times, returning all actions merged.
    pub fn ticks(&mut self, n: usize) -> Actions {
        let mut all = Actions::default();
        for _ in 0..n {
            let a = self.input(Input::Tick);
            all.send.extend(a.send);
            all.execute.extend(a.execute);
            all.events.extend(a.events);
            if a.fetch_state.is_some() {
                all.fetch_state = a.fetch_state;
            }
        }
        all
    }
}

pub fn batch_of(payloads: &[&str]) -> bftledger_consensus::Batch {
    payloads.iter().map(|p| req(p)).collect::<Vec<_>>().into()
}

/// A pre-prepare message for `batch`.
pub fn pre_prepare(view: u64, seq: u64, batch: &bftledger_consensus::Batch) -> Message {
    Message::PrePrepare {
        pre_prepare: bftledger_consensus::PrePrepare {
            view,
            seq,
            digest: bftledger_consensus::batch_digest(batch),
        },
        batch: batch.clone(),
    }
}

pub fn sig_for(
    keys: &[SecretKey],
    from: ReplicaId,
    message: Message,
) -> bftledger_crypto::Signature {
    SignedMessage::sign(from, message, &keys[from as usize]).signature
}

/// A valid prepared certificate for (view, seq, digest) with prepares from the first 2f
/// backups.
pub fn prepared_cert(
    keys: &[SecretKey],
    view: u64,
    seq: u64,
    digest: Digest,
) -> bftledger_consensus::PreparedCertificate {
    use bftledger_consensus::{PrePrepare, Prepare, PreparedCertificate};
    let n = keys.len();
    let f = (n - 1) / 3;
    let primary = (view % n as u64) as ReplicaId;
    let pp = PrePrepare { view, seq, digest };
    let primary_signature = sig_for(
        keys,
        primary,
        Message::PrePrepare {
            pre_prepare: pp,
            batch: Vec::new().into(),
        },
    );
    let prepares = (0..n as ReplicaId)
        .filter(|r| *r != primary)
        .take(2 * f)
        .map(|r| {
            let p = Prepare { view, seq, digest };
            (r, sig_for(keys, r, Message::Prepare(p)))
        })
        .collect();
    PreparedCertificate {
        pre_prepare: pp,
        primary_signature,
        prepares,
    }
}

/// A valid stable-checkpoint proof signed by the first 2f+1 replicas.
pub fn checkpoint_proof(
    keys: &[SecretKey],
    seq: u64,
    state_root: Digest,
) -> bftledger_consensus::CheckpointProof {
    use bftledger_consensus::{Checkpoint, CheckpointProof};
    if seq == 0 {
        return CheckpointProof::genesis();
    }
    let f = (keys.len() - 1) / 3;
    let signatures = (0..(2 * f + 1) as ReplicaId)
        .map(|r| {
            let c = Checkpoint { seq, state_root };
            (r, sig_for(keys, r, Message::Checkpoint(c)))
        })
        .collect();
    CheckpointProof {
        seq,
        state_root,
        signatures,
    }
}

/// A signed view-change of `from` for `new_view`.
pub fn view_change(
    keys: &[SecretKey],
    from: ReplicaId,
    new_view: u64,
    stable: bftledger_consensus::CheckpointProof,
    prepared: Vec<bftledger_consensus::PreparedCertificate>,
) -> SignedMessage {
    let vc = bftledger_consensus::ViewChange {
        new_view,
        stable,
        prepared,
    };
    SignedMessage::sign(from, Message::ViewChange(vc), &keys[from as usize])
}

impl Single {
    /// Drives this backup (view 0, primary 0) through committing and executing seqs
    /// `from..=upto`, reporting state root `[seq; 32]`; with `peer_checkpoints`, two peers
    /// send matching checkpoints at every multiple of K.
    pub fn execute_upto(&mut self, from: u64, upto: u64, peer_checkpoints: bool) {
        use bftledger_consensus::{batch_digest, Checkpoint, Commit, Prepare};
        let me = self.replica.id();
        let others: Vec<ReplicaId> = (1..4).filter(|r| *r != me).collect();
        for seq in from..=upto {
            let b = batch_of(&[&format!("req-{seq}")]);
            let digest = batch_digest(&b);
            self.deliver(0, pre_prepare(0, seq, &b));
            for r in &others {
                self.deliver(
                    *r,
                    Message::Prepare(Prepare {
                        view: 0,
                        seq,
                        digest,
                    }),
                );
            }
            let mut executed = 0;
            for r in [0, others[0]] {
                executed += self
                    .deliver(
                        r,
                        Message::Commit(Commit {
                            view: 0,
                            seq,
                            digest,
                        }),
                    )
                    .execute
                    .len();
            }
            assert_eq!(executed, 1, "seq {seq} executed");
            let state_root = Digest([seq as u8; 32]);
            self.input(Input::Executed { seq, state_root });
            if peer_checkpoints && seq.is_multiple_of(self.config.settings.checkpoint_interval_seqs)
            {
                for r in &others {
                    self.deliver(*r, Message::Checkpoint(Checkpoint { seq, state_root }));
                }
            }
        }
    }
}

/// xorshift64*: a tiny deterministic generator for randomized tests (seeded, replayable).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

impl Cluster {
    /// Delivers up to `max` queued messages in random order, dropping `drop_pct`% and
    /// duplicating `dup_pct`% of them.
    pub fn deliver_random(&mut self, rng: &mut Rng, max: usize, drop_pct: u64, dup_pct: u64) {
        for _ in 0..max {
            if self.queue.is_empty() {
                return;
            }
            let i = rng.below(self.queue.len() as u64) as usize;
            let Some((to, message)) = self.queue.remove(i) else {
                return;
            };
            if rng.chance(drop_pct) {
                continue;
            }
            if rng.chance(dup_pct) {
                self.queue.push_back((to, message.clone()));
            }
            if self.deaf.contains(&to) || self.replicas[to as usize].is_none() {
                continue;
            }
            self.step(to, Input::Message(message));
        }
    }
}

/// Builds NEW-VIEW(view) from signed view-change messages, as a correct primary would.
pub fn new_view(
    keys: &[SecretKey],
    view: u64,
    vcs: &[SignedMessage],
) -> bftledger_consensus::NewView {
    use bftledger_consensus::{compute_o_set, NewView, SignedViewChange, ViewChange};
    let signed: Vec<SignedViewChange> = vcs
        .iter()
        .map(|m| match &m.message {
            Message::ViewChange(view_change) => SignedViewChange {
                from: m.from,
                view_change: view_change.clone(),
                signature: m.signature,
            },
            other => panic!("not a view-change: {other:?}"),
        })
        .collect();
    let refs: Vec<&ViewChange> = signed.iter().map(|s| &s.view_change).collect();
    let o = compute_o_set(view, &refs);
    let primary = (view % keys.len() as u64) as ReplicaId;
    NewView {
        view,
        view_changes: signed,
        pre_prepares: o
            .pre_prepares
            .iter()
            .map(|pp| sign_pp(keys, primary, *pp))
            .collect(),
    }
}

/// An O-set entry signed by `primary`.
pub fn sign_pp(
    keys: &[SecretKey],
    primary: ReplicaId,
    pp: bftledger_consensus::PrePrepare,
) -> bftledger_consensus::SignedPrePrepare {
    bftledger_consensus::SignedPrePrepare {
        pre_prepare: pp,
        signature: sig_for(
            keys,
            primary,
            Message::PrePrepare {
                pre_prepare: pp,
                batch: Vec::new().into(),
            },
        ),
    }
}

/// VIEW-CHANGE(1) from replicas 1, 3 and 0 (n = 4); replica 1 reports a prepared certificate
/// for `b` at seq 2 (view 0), so the O-set of view 1 is seq 1 null, seq 2 `b`.
pub fn three_view_changes(k: &[SecretKey], b: &bftledger_consensus::Batch) -> Vec<SignedMessage> {
    use bftledger_consensus::CheckpointProof;
    let cert = prepared_cert(k, 0, 2, bftledger_consensus::batch_digest(b));
    vec![
        view_change(k, 1, 1, CheckpointProof::genesis(), vec![cert]),
        view_change(k, 3, 1, CheckpointProof::genesis(), vec![]),
        view_change(k, 0, 1, CheckpointProof::genesis(), vec![]),
    ]
}
