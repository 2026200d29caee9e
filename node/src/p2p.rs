//! Peer-to-peer networking of validators over libp2p.
//!
//! - **Transport**: TCP + noise + yamux. The libp2p identity is the validator's ed25519 key, so a
//!   [`PeerId`] *is* a validator ([`peer_id_of`]).
//! - **Discovery**: Kademlia seeded with the configured bootstrap addresses (across machines),
//!   mDNS on a LAN when enabled, identify to learn listen addresses.
//! - **Protocols** (names carry the genesis-hash prefix, so two chains never talk):
//!   `/bftledger/<hash16>/consensus/1` carries opaque consensus frames (acknowledged with an empty
//!   response) and `/bftledger/<hash16>/sync/1` carries request/response pairs for state sync.
//!   Frames are length-prefixed and refused above the configured size before allocation.
//! - **Trust**: frames from peers that are not validators are refused, counted, never surfaced,
//!   and such a peer is disconnected (an honest non-validator never sends them). Peers whose
//!   identify protocol version names another chain are disconnected.
//! - **Bounds**: per-peer inbound queue (frames and bytes; drop and count when full, the swarm task
//!   never blocks), per-peer unacknowledged outbound frames, command queue, event channel, frame
//!   sizes (an announced length over the limit is refused before reading; a frame's buffer grows
//!   with the bytes that arrive), substreams per connection, concurrent sync requests, request
//!   timeout, non-validator peers, remembered addresses per peer.
//! - **Re-dial**: validators that are not connected are dialed with an exponential, capped backoff
//!   (known addresses first, a Kademlia lookup when none is known).
//!
//! Consensus frames from one peer may be delivered out of order (one substream per frame);
//! the consensus core tolerates reordering and loss.
//!
//! ```no_run
//! # async fn demo(key: bftledger_crypto::SecretKey, cfg: bftledger_node::p2p::P2pConfig) -> Result<(), bftledger_node::p2p::P2pError> {
//! use bftledger_node::p2p::{self, P2pEvent};
//! let (handle, mut events) = p2p::spawn(&key, cfg)?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         P2pEvent::Consensus { from, bytes } => { /* decode, Replica::step, then handle.send/broadcast */ }
//!         P2pEvent::SyncRequest { from, bytes, reply } => { let _ = reply.send(Vec::new()); }
//!         P2pEvent::PeerConnected(_) | P2pEvent::PeerDisconnected(_) => {}
//!     }
//! }
//! # handle.shutdown().await; Ok(()) }
//! ```

mod behaviour;
pub mod codec;
mod config;
mod identity;
mod inbound;
mod outbound;
mod redial;
mod stats;
mod task;

use std::collections::{BTreeSet, HashSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bftledger_crypto::{PublicKey, SecretKey};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

pub use config::{
    P2pConfig, P2pConfigError, P2pConfigProblem, P2pSettings, FRAME_BYTES_CEILING,
    TIMEOUT_MS_CEILING,
};
pub use identity::{keypair_of, peer_id_of};
pub use stats::P2pStats;

use stats::Counters;

/// What the p2p layer tells the node. Only validators ever appear as `from`.
#[derive(Debug)]
pub enum P2pEvent {
    /// A consensus frame from a validator (opaque bytes, at most `max_frame_bytes`).
    Consensus {
        /// The sending validator (authenticated by the noise handshake).
        from: PublicKey,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// A sync request from a validator; answer through `reply` within `request_timeout_ms`
    /// (dropping `reply` refuses the request; a reply over `max_sync_response_bytes` is refused).
    SyncRequest {
        /// The requesting validator.
        from: PublicKey,
        /// The request.
        bytes: Vec<u8>,
        /// Where to put the response.
        reply: oneshot::Sender<Vec<u8>>,
    },
    /// A validator is now connected (first connection).
    PeerConnected(PublicKey),
    /// A validator lost its last connection (it will be re-dialed).
    PeerDisconnected(PublicKey),
}

/// Why a request to a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestFailure {
    /// The peer could not be dialed.
    #[error("dial failed")]
    Dial,
    /// No response within `request_timeout_ms`.
    #[error("timed out")]
    Timeout,
    /// The connection closed before the response arrived.
    #[error("connection closed")]
    ConnectionClosed,
    /// The peer does not speak this chain's protocol.
    #[error("protocol not supported by the peer")]
    UnsupportedProtocol,
    /// Stream I/O failed (includes a response over the size limit: kind `InvalidData`).
    #[error("i/o error: {kind}")]
    Io {
        /// The I/O error kind.
        kind: io::ErrorKind,
    },
}

/// Errors of the p2p layer.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] P2pConfigError),
    /// The noise transport could not be set up.
    #[error("p2p: noise setup failed: {0}")]
    Noise(#[source] libp2p::noise::Error),
    /// A listen address could not be bound.
    #[error("p2p: cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// The transport error.
        #[source]
        source: libp2p::TransportError<io::Error>,
    },
    /// The target key is not in the validator set.
    #[error("p2p: {key} is not a validator")]
    NotAValidator {
        /// The key.
        key: Box<PublicKey>,
    },
    /// The target is this node itself.
    #[error("p2p: cannot send to myself")]
    SelfTarget,
    /// The frame is larger than the protocol allows.
    #[error("p2p: frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Frame length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The command queue to the swarm task is full; the frame was dropped.
    #[error("p2p: outbound command queue full")]
    OutboundQueueFull,
    /// Already `max_concurrent_sync_requests` sync requests in flight.
    #[error("p2p: {max} sync requests already in flight")]
    TooManyRequests {
        /// The limit.
        max: usize,
    },
    /// A sync request failed.
    #[error("p2p: request to {peer} failed: {reason}")]
    RequestFailed {
        /// The target validator.
        peer: Box<PublicKey>,
        /// What went wrong.
        reason: RequestFailure,
    },
    /// The swarm task has stopped.
    #[error("p2p: the network task has stopped")]
    Shutdown,
}

/// Commands from handles to the swarm task.
#[derive(Debug)]
enum Command {
    Send {
        to: PeerId,
        bytes: Vec<u8>,
    },
    Broadcast {
        bytes: Vec<u8>,
    },
    Request {
        to: PeerId,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, P2pError>>,
        permit: OwnedSemaphorePermit,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Handle to the running network task (cheap to clone). When every handle is dropped, or on
/// [`P2pHandle::shutdown`], the task stops and closes all connections.
#[derive(Clone, Debug)]
pub struct P2pHandle {
    local: PublicKey,
    validators: Arc<HashSet<PublicKey>>,
    commands: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    connected: watch::Receiver<BTreeSet<PublicKey>>,
    listen_addrs: watch::Receiver<Vec<Multiaddr>>,
    sync_permits: Arc<Semaphore>,
    max_concurrent_sync_requests: usize,
    max_frame_bytes: usize,
    request_timeout: Duration,
}

/// Starts the network: binds the listen addresses, dials bootstrap addresses and validators,
/// and spawns the swarm task on the current tokio runtime.
///
/// Must be called from within a tokio runtime. The listen addresses actually bound (port 0
/// resolved) appear shortly after in [`P2pHandle::listen_addrs`] / [`P2pHandle::watch_listen_addrs`].
/// A `cfg` that [`P2pConfig::validate`] refuses is refused with every problem (the node has
/// already validated its settings at start-up; this is the same check, for every caller).
pub fn spawn(
    key: &SecretKey,
    cfg: P2pConfig,
) -> Result<(P2pHandle, mpsc::Receiver<P2pEvent>), P2pError> {
    cfg.validate()?;
    let (command_tx, command_rx) = mpsc::channel(cfg.settings.command_queue_capacity);
    let (event_tx, event_rx) = mpsc::channel(cfg.settings.event_channel_capacity);
    let (connected_tx, connected_rx) = watch::channel(BTreeSet::new());
    let (listen_tx, listen_rx) = watch::channel(Vec::new());
    let counters = Arc::new(Counters::default());
    let handle = P2pHandle {
        local: key.public(),
        validators: Arc::new(cfg.validators.iter().copied().collect()),
        commands: command_tx,
        counters: counters.clone(),
        connected: connected_rx,
        listen_addrs: listen_rx,
        sync_permits: Arc::new(Semaphore::new(cfg.settings.max_concurrent_sync_requests)),
        max_concurrent_sync_requests: cfg.settings.max_concurrent_sync_requests,
        max_frame_bytes: cfg.settings.max_frame_bytes,
        request_timeout: cfg.settings.request_timeout(),
    };
    let task = task::Task::new(
        key,
        cfg,
        task::Channels {
            commands: command_rx,
            events: event_tx,
            connected: connected_tx,
            listen_addrs: listen_tx,
        },
        counters,
    )?;
    tokio::spawn(task.run());
    Ok((handle, event_rx))
}

impl P2pHandle {
    /// This node's validator key.
    pub fn local_key(&self) -> PublicKey {
        self.local
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        peer_id_of(&self.local)
    }

    fn check_frame(&self, len: usize) -> Result<(), P2pError> {
        if len > self.max_frame_bytes {
            return Err(P2pError::FrameTooLarge {
                len,
                max: self.max_frame_bytes,
            });
        }
        Ok(())
    }

    fn check_target(&self, to: &PublicKey) -> Result<PeerId, P2pError> {
        if *to == self.local {
            return Err(P2pError::SelfTarget);
        }
        if !self.validators.contains(to) {
            return Err(P2pError::NotAValidator { key: Box::new(*to) });
        }
        Ok(peer_id_of(to))
    }

    fn enqueue(&self, command: Command) -> Result<(), P2pError> {
        self.commands.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                Counters::add(&self.counters.dropped_command_queue_full, 1);
                P2pError::OutboundQueueFull
            }
            mpsc::error::TrySendError::Closed(_) => P2pError::Shutdown,
        })
    }

    /// Sends a consensus frame to one validator. Never blocks: the frame is dropped (and
    /// counted) if a queue is full or the validator is not connected (it is being re-dialed).
    /// Delivery is best effort.
    pub fn send(&self, to: PublicKey, bytes: Vec<u8>) -> Result<(), P2pError> {
        self.check_frame(bytes.len())?;
        let to = self.check_target(&to)?;
        self.enqueue(Command::Send { to, bytes })
    }

    /// Sends a consensus frame to every connected validator (not to this node). Never blocks.
    pub fn broadcast(&self, bytes: Vec<u8>) -> Result<(), P2pError> {
        self.check_frame(bytes.len())?;
        self.enqueue(Command::Broadcast { bytes })
    }

    /// Sends a sync request to a validator and waits for its response (at most
    /// `max_sync_response_bytes`, within `request_timeout_ms`). At most
    /// `max_concurrent_sync_requests` requests are in flight; beyond, this fails at once.
    pub async fn request(&self, to: PublicKey, bytes: Vec<u8>) -> Result<Vec<u8>, P2pError> {
        self.check_frame(bytes.len())?;
        let peer = self.check_target(&to)?;
        let permit = self.sync_permits.clone().try_acquire_owned().map_err(|_| {
            P2pError::TooManyRequests {
                max: self.max_concurrent_sync_requests,
            }
        })?;
        let (reply, response) = oneshot::channel();
        self.commands
            .send(Command::Request {
                to: peer,
                bytes,
                reply,
                permit,
            })
            .await
            .map_err(|_| P2pError::Shutdown)?;
        // libp2p enforces `request_timeout_ms`; the margin only guards against a stuck task.
        let guard = self.request_timeout + Duration::from_secs(5);
        match tokio::time::timeout(guard, response).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(P2pError::Shutdown),
            Err(_) => Err(P2pError::RequestFailed {
                peer: Box::new(to),
                reason: RequestFailure::Timeout,
            }),
        }
    }

    /// Validators currently connected (sorted).
    pub fn connected_validators(&self) -> Vec<PublicKey> {
        self.connected.borrow().iter().copied().collect()
    }

    /// A watch of the connected validators (await `changed()` to follow connections).
    pub fn watch_connected(&self) -> watch::Receiver<BTreeSet<PublicKey>> {
        self.connected.clone()
    }

    /// Addresses this node listens on (empty until the listeners report, shortly after spawn).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.listen_addrs.borrow().clone()
    }

    /// A watch of the listen addresses.
    pub fn watch_listen_addrs(&self) -> watch::Receiver<Vec<Multiaddr>> {
        self.listen_addrs.clone()
    }

    /// A snapshot of the counters (frames in/out, drops by reason, connected validators, ...).
    pub fn stats(&self) -> P2pStats {
        self.counters.snapshot()
    }

    /// Stops the network task and waits until its connections and listeners are closed.
    /// Idempotent; other handles then fail with [`P2pError::Shutdown`].
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Shutdown { done }).await.is_ok() {
            let _ = finished.await;
        }
    }
}
