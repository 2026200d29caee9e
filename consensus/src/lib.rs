//! PBFT (Castro & Liskov, OSDI'99; TOCS'02) as a deterministic, sans-IO state machine.
//!
//! A [`Replica`] owns no IO: no sockets, no disk, no clock, no randomness. The driver feeds it
//! [`Input`]s (peer messages, client requests, ticks, execution reports) through
//! [`Replica::step`] and carries out the returned [`Output`], **in this order**:
//!
//! 1. **persist** — [`Output::persist`]: [`PersistOp`]s for an ordered key-value store (own
//!    votes, view, stable checkpoint, prepared certificates, own checkpoints). Make them durable
//!    and synced *before anything is sent*: that is what lets a restarted replica
//!    ([`Replica::recover`]) never sign two different messages for the same (view, seq).
//! 2. **send** — only reachable through [`Output::persisted`] (which consumes the output, like
//!    raft-rs's `Ready`/`advance`), then [`Actions::send`].
//! 3. **execute** — [`Actions::execute`]: committed batches in seq order, each once; report each
//!    back with [`Input::Executed`] (the state root drives checkpoints, §4.3).
//! 4. **fetch_state** — [`Actions::fetch_state`]: a stable checkpoint beyond what was executed;
//!    fetch its state from peers and report [`Input::StateTransferred`].
//! 5. **events** — [`Actions::events`] for logs and metrics (rejections carry typed reasons).
//!
//! ```
//! use bftledger_consensus::{
//!     durable, Application, Config, Input, InvalidBatch, Replica, Request, Target,
//! };
//! use bftledger_crypto::{Digest, SecretKey};
//! use std::collections::{BTreeMap, VecDeque};
//!
//! struct AcceptAll;
//! impl Application for AcceptAll {
//!     fn validate_batch(&self, _: &[Request], _: &[Digest]) -> Result<(), InvalidBatch> {
//!         Ok(())
//!     }
//! }
//!
//! let keys: Vec<SecretKey> = (0..4u8).map(|i| SecretKey::from_bytes(&[i + 1; 32])).collect();
//! let config = Config::new(keys.iter().map(SecretKey::public).collect());
//! config.validate().expect("valid config");
//! let mut replicas: Vec<Replica<AcceptAll>> = keys
//!     .iter()
//!     .enumerate()
//!     .map(|(i, k)| Replica::new(config.clone(), i as u32, k.clone(), AcceptAll))
//!     .collect();
//! let mut disks = vec![BTreeMap::new(); 4];
//! let mut inbox: VecDeque<(usize, Input)> = VecDeque::new();
//! inbox.push_back((0, Input::ClientRequests(vec![Request { payload: b"pay bob 5".to_vec() }])));
//! for _ in 0..3 {
//!     inbox.push_back((0, Input::Tick));
//! }
//! let mut executed = vec![0u64; 4];
//! while let Some((to, input)) = inbox.pop_front() {
//!     let mut output = replicas[to].step(input);
//!     replicas[to].check_invariants();
//!     // 1. persist (durably!) before anything else
//!     durable::apply(&mut disks[to], &output.take_persist());
//!     let actions = output.persisted();
//!     // 2. send
//!     for out in actions.send {
//!         match out.to {
//!             Target::All => (0..4).filter(|r| *r != to).for_each(|r| {
//!                 inbox.push_back((r, Input::Message(out.message.clone())))
//!             }),
//!             Target::One(r) => inbox.push_back((r as usize, Input::Message(out.message))),
//!         }
//!     }
//!     // 3. execute, then report the state root
//!     for batch in actions.execute {
//!         executed[to] = batch.seq;
//!         let state_root = Digest::of(&batch.seq.to_be_bytes()); // the application's root
//!         inbox.push_back((to, Input::Executed { seq: batch.seq, state_root }));
//!     }
//! }
//! assert_eq!(executed, vec![1, 1, 1, 1]);
//! ```
//!
//! Module map (ARCHITECTURE.md §1): [`message`] (messages, signed envelope, certificates),
//! `replica` (state and `step` dispatch), `normal_case` (§4.2), `checkpoint` (§4.3),
//! `retransmit` (bounded re-sending), `fetch_batch` (missing batches),
//! [`view_change`] (§4.4), `log`, [`quorum`], `timer`, `invariants`, [`config`], [`bounds`]
//! (largest message of every kind), [`error`], [`durable`] (persist key layout and recovery).
//!
//! **Client requests at a backup** are kept pending, keyed by their identity
//! ([`Application::request_ids`]: one transfer signed twice is one request). The view-change
//! timer waits for one of them, the oldest, and executing other batches does not stop it
//! (§4.4), so a primary that censors a request is replaced. A backup relays what it waits on
//! to the primary ([`Actions::relay`], at most once per retransmission period per request): the
//! node forwards client requests to every validator, but a lost frame, a selective forwarder or
//! a primary that restarted must not cost a view change. Pending requests are dropped after a
//! state transfer (the transferred state may contain them; clients re-send what is missing).
//!
//! **Durability** ([`durable`]): own votes, view status, own view-change, stable checkpoint, own
//! checkpoints, prepared certificates and the batches this replica voted for. After
//! [`Replica::recover`] the driver must skip [`CommittedBatch`]es at or below the application's
//! height, but still report [`Input::Executed`] for them (with the state root it has for that
//! height). A checkpoint becomes stable only once the application *reported* executing it.
//!
//! **State transfer**: f+1 matching checkpoint signatures already vouch for a state (one signer
//! is correct, TOCS'02 §6.2), so a replica behind such a checkpoint asks for it
//! ([`FetchState`], proof checked with [`CheckpointProof::verify_weak`]); inside the watermark
//! window it first waits one retransmission period for the commits it misses. Only 2f+1 make a
//! checkpoint stable (garbage collection, low watermark).
//!
//! **Retransmission** (message loss, crashes), every `retransmit_ticks`, bounded to 4 slots per
//! peer: own view-changes while changing view; own latest checkpoint and the signed checkpoint
//! messages of the stable proof; an outstanding fetch request; for each slot of the current view
//! older than one period, own pre-prepare/prepare/commit (and, from backups, the primary's signed
//! pre-prepare with its batch) to each peer whose commit for it is missing; FETCH-BATCH for slots
//! holding a pre-prepare without its batch; own commits for slots lost in a restart, to which
//! peers that committed the slot answer by relaying its certificate and batch. A primary that
//! receives a view-change for the view it installed answers with its new-view. Healthy
//! pipelines (slots younger than a period) never trigger it. What a peer can make a replica
//! send back (certificates, NEW-VIEWs, FETCH-BATCH answers) is bounded per peer and period.
//!
//! **Batches and view changes** (safety-holes issue, item 8): VIEW-CHANGE and NEW-VIEW carry
//! digests only, never batches, so every message kind has a size bound that depends on the
//! configuration alone ([`bounds`]), checked by [`Config::validate`] against
//! `max_message_bytes`. A replica that enters a view without the batch of an O-set entry (the
//! new primary included) asks for it with [`FetchBatch`]; any replica holding it answers with
//! the primary's signed pre-prepare and the batch, checked against the signed digest. A backup
//! prepares only batches it holds, so the correct signers of every prepared certificate hold
//! its batch (the argument is in `fetch_batch.rs`).
//!
//! **Known limitation (PBFT behaviour)**: a replica alone in a view change to v+1 (its new-view
//! lost and its timer expired) while the others stay in v rejects their normal-case messages
//! until they change view too; meanwhile it follows through checkpoints and state transfer.

mod application;
pub mod bounds;
mod checkpoint;
pub mod config;
pub mod durable;
pub mod error;
mod fetch_batch;
mod invariants;
mod log;
pub mod message;
pub mod mutants;
mod normal_case;
pub mod quorum;
mod recovery;
mod replica;
mod requests;
mod retransmit;
mod step_io;
mod timer;
pub mod view_change;

/// Index of a replica in [`Config::validators`].
pub type ReplicaId = u32;
/// A sequence number (= ledger height; 0 is genesis, the first batch is 1).
pub type SeqNum = u64;
/// A view number; the primary of view v is v mod n.
pub type View = u64;

pub use application::{Application, InvalidBatch};
pub use bftledger_crypto::Digest;
pub use bounds::MessageBounds;
pub use config::{Config, Settings};
pub use durable::RecoverError;
pub use error::{ConfigError, ConfigProblem, NewViewFault, Rejection, ViewChangeFault};
pub use message::{
    batch_digest, null_digest, Batch, CertificateError, Checkpoint, CheckpointProof, Commit,
    CommitCertificate, FetchBatch, Message, NewView, PrePrepare, Prepare, PreparedCertificate,
    Request, SignedMessage, SignedPrePrepare, SignedViewChange, ViewChange,
};
pub use mutants::Mutant;
pub use quorum::{Quorum, QuorumKind};
pub use replica::{Replica, Status};
pub use requests::PendingRequest;
pub use step_io::{
    Actions, CommittedBatch, Event, FetchState, Input, Outbound, Output, PersistOp, Phase,
    Progress, RequestRelay, Target, ViewChangeCause,
};
pub use view_change::{compute_o_set, OSet};
