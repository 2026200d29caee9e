//! The swarm task: one tokio task owning the libp2p swarm; all state below is local to it.
//!
//! It never blocks on the node (events go through bounded per-peer queues and are forwarded
//! only when the node's channel has room) and never panics on peer input (every peer-supplied
//! value is checked, failures are counted and logged).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use bftledger_crypto::{PublicKey, SecretKey};
use futures::{future::BoxFuture, stream::FuturesUnordered, FutureExt, StreamExt};
use libp2p::{
    core::ConnectedPoint,
    identify, kad, mdns, ping,
    request_response::{self, InboundRequestId, OutboundRequestId, ResponseChannel},
    swarm::{
        dial_opts::{DialOpts, PeerCondition},
        DialError, SwarmEvent,
    },
    Multiaddr, PeerId, Swarm,
};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::{
    behaviour::{build_swarm, Behaviour, BehaviourEvent, Protocols},
    identity::{keypair_of, ValidatorSet},
    inbound::InboundQueues,
    outbound::{Offer, OutboundQueues},
    redial::{peer_of, without_p2p, Redial},
    stats::Counters,
    Command, P2pConfig, P2pError, P2pEvent, RequestFailure,
};
use std::sync::Arc;

/// Control events (connect/disconnect) waiting for the node, at most.
const MAX_CONTROL_EVENTS: usize = 4096;

/// Channels between the task and the handles.
pub(super) struct Channels {
    pub commands: mpsc::Receiver<Command>,
    pub events: mpsc::Sender<P2pEvent>,
    pub connected: watch::Sender<BTreeSet<PublicKey>>,
    pub listen_addrs: watch::Sender<Vec<Multiaddr>>,
}

/// A bootstrap address that is not a validator tracked by [`Redial`]: dialed with backoff until
/// a connection to it succeeds once (after that, Kademlia and identify know it).
#[derive(Debug)]
struct BootstrapDial {
    address: Multiaddr,
    peer: Option<PeerId>,
    backoff: Duration,
    next_attempt: Instant,
}

struct PendingRequest {
    key: Box<PublicKey>,
    reply: oneshot::Sender<Result<Vec<u8>, P2pError>>,
    permit: OwnedSemaphorePermit,
}

impl PendingRequest {
    /// Frees the concurrency slot *before* waking the requester, so that it can send its next
    /// request at once.
    fn complete(self, result: Result<Vec<u8>, P2pError>) {
        drop(self.permit);
        let _ = self.reply.send(result);
    }
}

type SyncReply = BoxFuture<'static, (InboundRequestId, PeerId, Option<Vec<u8>>)>;

pub(super) struct Task {
    swarm: Swarm<Behaviour>,
    cfg: P2pConfig,
    identify_version: String,
    validators: ValidatorSet,
    counters: Arc<Counters>,
    channels: Channels,
    inbound: InboundQueues<P2pEvent>,
    redial: Redial,
    bootstrap: Vec<BootstrapDial>,
    /// Consensus frames sent to each peer and not yet acknowledged or failed, and the frames
    /// waiting behind a full window.
    outbound: OutboundQueues,
    outbound_sync: HashMap<OutboundRequestId, PendingRequest>,
    inbound_sync: HashMap<InboundRequestId, ResponseChannel<Vec<u8>>>,
    sync_replies: FuturesUnordered<SyncReply>,
    /// Inbound sync requests of each peer waiting for our reply (in `sync_replies`), bounded by
    /// `max_sync_requests_per_peer`.
    sync_replies_by_peer: HashMap<PeerId, usize>,
    non_validator_peers: HashSet<PeerId>,
}

impl Task {
    pub(super) fn new(
        key: &SecretKey,
        cfg: P2pConfig,
        channels: Channels,
        counters: Arc<Counters>,
    ) -> Result<Task, P2pError> {
        let keypair = keypair_of(key);
        let local = keypair.public().to_peer_id();
        let protocols = Protocols::of(&cfg);
        let mut swarm = build_swarm(keypair, &cfg, &protocols, &counters)?;
        Counters::set(
            &counters.mdns_active,
            u64::from(swarm.behaviour().mdns.is_enabled()),
        );
        for addr in &cfg.settings.listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|source| P2pError::Listen {
                    addr: addr.clone(),
                    source,
                })?;
        }
        let validators = ValidatorSet::new(&cfg.validators);
        let now = Instant::now();
        let redial = Redial::new(
            validators.peers().copied().filter(|p| *p != local),
            cfg.settings.redial_backoff_initial(),
            cfg.settings.redial_backoff_max(),
            cfg.settings.max_addresses_per_peer,
            now,
        );
        let mut task = Task {
            swarm,
            identify_version: protocols.identify_version,
            validators,
            counters,
            channels,
            inbound: InboundQueues::new(
                cfg.settings.max_inbound_queue_frames,
                cfg.settings.max_inbound_queue_bytes,
                MAX_CONTROL_EVENTS,
            ),
            redial,
            bootstrap: Vec::new(),
            outbound: OutboundQueues::new(
                cfg.settings.max_outbound_in_flight_frames,
                cfg.settings.max_outbound_queue_bytes,
            ),
            outbound_sync: HashMap::new(),
            inbound_sync: HashMap::new(),
            sync_replies: FuturesUnordered::new(),
            sync_replies_by_peer: HashMap::new(),
            non_validator_peers: HashSet::new(),
            cfg,
        };
        task.add_bootstrap_addresses(now);
        Ok(task)
    }

    fn add_bootstrap_addresses(&mut self, now: Instant) {
        let local = *self.swarm.local_peer_id();
        for address in self.cfg.settings.bootstrap.clone() {
            let peer = peer_of(&address);
            if peer == Some(local) {
                continue;
            }
            if let Some(peer) = peer {
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, without_p2p(address.clone()));
                if self.validators.contains(&peer) {
                    self.redial.add_address(&peer, address);
                    continue;
                }
            }
            self.bootstrap.push(BootstrapDial {
                address,
                peer,
                backoff: self.cfg.settings.redial_backoff_initial(),
                next_attempt: now,
            });
        }
    }

    /// Runs until shutdown, until every handle is dropped, or until the node drops its events.
    pub(super) async fn run(mut self) {
        let mut shutdown_ack = None;
        // A clone, so that a permit (which borrows the sender) does not borrow `self`.
        let events = self.channels.events.clone();
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                command = self.channels.commands.recv() => match command {
                    Some(Command::Shutdown { done }) => {
                        shutdown_ack = Some(done);
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((id, peer, reply)) = self.sync_replies.next(), if !self.sync_replies.is_empty() => {
                    self.on_sync_reply(id, peer, reply);
                }
                permit = events.reserve(), if self.inbound.has_pending() => match permit {
                    Ok(permit) => permit.send(self.inbound.pop().expect("has_pending")),
                    Err(_) => {
                        tracing::info!("p2p: the node dropped its event receiver; stopping");
                        break;
                    }
                },
                () = tokio::time::sleep_until(deadline) => self.dial_due(Instant::now()),
            }
        }
        let Task {
            swarm,
            outbound_sync,
            ..
        } = self;
        drop(swarm);
        for (_, pending) in outbound_sync {
            pending.complete(Err(P2pError::Shutdown));
        }
        if let Some(done) = shutdown_ack {
            let _ = done.send(());
        }
    }

    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let bootstrap = self.bootstrap.iter().map(|b| b.next_attempt).min();
        [self.redial.next_deadline(), bootstrap]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(far)
    }

    // ---------------------------------------------------------------- commands from handles

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Send { to, bytes } => self.send_consensus(to, bytes),
            Command::Broadcast { bytes } => {
                let targets: Vec<PeerId> = self
                    .channels
                    .connected
                    .borrow()
                    .iter()
                    .map(super::peer_id_of)
                    .collect();
                for peer in targets {
                    self.send_consensus(peer, bytes.clone());
                }
            }
            Command::Request {
                to,
                bytes,
                reply,
                permit,
            } => {
                let key = Box::new(
                    self.validators
                        .key_of(&to)
                        .expect("P2pHandle::request checks that the target is a validator"),
                );
                let id = self.swarm.behaviour_mut().sync.send_request(&to, bytes);
                Counters::add(&self.counters.sync_requests_out, 1);
                self.outbound_sync
                    .insert(id, PendingRequest { key, reply, permit });
            }
            Command::Shutdown { .. } => unreachable!("handled by run"),
        }
    }

    fn send_consensus(&mut self, to: PeerId, bytes: Vec<u8>) {
        // Not connected: drop rather than let request-response dial on every frame; the
        // re-dial schedule (with backoff) reconnects the validator.
        if !self.swarm.is_connected(&to) {
            Counters::add(&self.counters.dropped_not_connected, 1);
            return;
        }
        match self.outbound.offer(to, bytes) {
            Offer::Send(bytes) => self.put_on_wire(to, bytes),
            Offer::Queued => {}
            Offer::Dropped => Counters::add(&self.counters.dropped_outbound_queue_full, 1),
        }
        self.count_waiting();
    }

    fn count_waiting(&self) {
        let waiting = self.outbound.waiting_frames() as u64;
        Counters::set(&self.counters.outbound_waiting_frames, waiting);
    }

    fn put_on_wire(&mut self, to: PeerId, bytes: Vec<u8>) {
        Counters::add(&self.counters.frames_out, 1);
        Counters::add(&self.counters.bytes_out, bytes.len() as u64);
        self.swarm
            .behaviour_mut()
            .consensus
            .send_request(&to, bytes);
    }

    /// A frame to `peer` was acknowledged or failed: the next queued one takes its slot.
    fn frame_settled(&mut self, peer: &PeerId) {
        if let Some(next) = self.outbound.settled(peer) {
            self.put_on_wire(*peer, next);
            self.count_waiting();
        }
    }

    // ---------------------------------------------------------------- swarm events

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Consensus(e)) => self.on_consensus(e),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.on_sync(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => self.on_kad(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.on_identify(e),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(e)) => self.on_ping(e),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(e)) => self.on_mdns(e),
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => self.on_connection_established(peer_id, &endpoint, num_established.get()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(%peer_id, ?cause, num_established, "p2p: connection closed");
                if num_established == 0 {
                    self.on_peer_gone(peer_id);
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "p2p: dial failed");
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "p2p: listening");
                self.channels.listen_addrs.send_modify(|a| a.push(address));
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.channels
                    .listen_addrs
                    .send_modify(|a| a.retain(|x| *x != address));
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "p2p: listener error");
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                tracing::warn!(?addresses, ?reason, "p2p: listener closed");
                self.channels
                    .listen_addrs
                    .send_modify(|a| a.retain(|x| !addresses.contains(x)));
            }
            _ => {}
        }
    }

    fn on_connection_established(&mut self, peer: PeerId, endpoint: &ConnectedPoint, n: u32) {
        let bootstrap_before = self.bootstrap.len();
        if let ConnectedPoint::Dialer { address, .. } = endpoint {
            let dialed = without_p2p(address.clone());
            self.bootstrap
                .retain(|b| b.peer != Some(peer) && without_p2p(b.address.clone()) != dialed);
            self.redial.add_address(&peer, dialed);
        } else {
            self.bootstrap.retain(|b| b.peer != Some(peer));
            // Until identify reports the peer's listen addresses (it may go down before that).
            self.redial
                .add_fallback_address(&peer, endpoint.get_remote_address().clone());
        }
        let is_bootstrap = self.bootstrap.len() < bootstrap_before;
        if n != 1 {
            return;
        }
        if is_bootstrap || self.validators.contains(&peer) {
            // A validator or bootstrap node may know others: refresh the routing table (a
            // bounded query; not done for arbitrary peers, which could connect in numbers).
            let _ = self.swarm.behaviour_mut().kad.bootstrap();
        }
        match self.validators.key_of(&peer) {
            Some(key) => {
                tracing::info!(validator = %key.short(), %peer, "p2p: validator connected");
                self.redial.connected(&peer);
                self.channels.connected.send_modify(|c| {
                    c.insert(key);
                });
                self.update_connected_gauge();
                self.push_control(P2pEvent::PeerConnected(key));
            }
            None => {
                self.non_validator_peers.insert(peer);
                if self.non_validator_peers.len() > self.cfg.settings.max_non_validator_peers {
                    Counters::add(&self.counters.non_validator_peers_refused, 1);
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
        }
    }

    fn on_peer_gone(&mut self, peer: PeerId) {
        self.non_validator_peers.remove(&peer);
        let dropped = self.outbound.forget_waiting(&peer);
        Counters::add(&self.counters.dropped_outbound_queue_full, dropped as u64);
        self.count_waiting();
        if let Some(key) = self.validators.key_of(&peer) {
            tracing::info!(validator = %key.short(), %peer, "p2p: validator disconnected");
            self.redial.disconnected(&peer, Instant::now());
            self.channels.connected.send_modify(|c| {
                c.remove(&key);
            });
            self.update_connected_gauge();
            self.push_control(P2pEvent::PeerDisconnected(key));
        }
    }

    fn update_connected_gauge(&self) {
        let n = self.channels.connected.borrow().len() as u64;
        Counters::set(&self.counters.connected_validators, n);
    }

    fn push_control(&mut self, event: P2pEvent) {
        if let Err(event) = self.inbound.push_control(event) {
            tracing::warn!(?event, "p2p: control event queue full; event dropped");
        }
    }

    /// A peer that is not a validator sent a consensus or sync frame: refuse, count, disconnect
    /// (an honest non-validator never sends these, and it costs us memory to read them).
    fn refuse_non_validator(&mut self, peer: PeerId) {
        Counters::add(&self.counters.dropped_not_validator, 1);
        tracing::debug!(%peer, "p2p: frame from a non-validator refused");
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn on_consensus(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let Some(from) = self.validators.key_of(&peer) else {
                    drop(channel);
                    return self.refuse_non_validator(peer);
                };
                // Acknowledge receipt at once: the ack only frees the sender's in-flight slot.
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .consensus
                    .send_response(channel, Vec::new());
                let len = request.len();
                let event = P2pEvent::Consensus {
                    from,
                    bytes: request,
                };
                match self.inbound.push(peer, event, len) {
                    Ok(()) => {
                        Counters::add(&self.counters.frames_in, 1);
                        Counters::add(&self.counters.bytes_in, len as u64);
                    }
                    Err(_) => Counters::add(&self.counters.dropped_inbound_queue_full, 1),
                }
            }
            Event::Message {
                peer,
                message: Message::Response { .. },
                ..
            } => {
                Counters::add(&self.counters.frames_acked, 1);
                self.frame_settled(&peer);
            }
            Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "p2p: consensus frame not delivered");
                Counters::add(&self.counters.frames_failed, 1);
                self.frame_settled(&peer);
            }
            Event::InboundFailure { peer, error, .. } => self.on_inbound_failure(peer, error),
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_inbound_failure(&mut self, peer: PeerId, error: request_response::InboundFailure) {
        // Frames that fail to decode never get here (libp2p drops them); the codec counts them.
        match error {
            // Our own refusal (dropped response channel), already counted.
            request_response::InboundFailure::ResponseOmission => {}
            other => tracing::debug!(%peer, error = %other, "p2p: inbound stream failed"),
        }
    }

    fn on_sync(&mut self, event: request_response::Event<Vec<u8>, Vec<u8>>) {
        use request_response::{Event, Message};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => self.on_sync_request(peer, request_id, request, channel),
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(pending) = self.outbound_sync.remove(&request_id) {
                    pending.complete(Ok(response));
                }
            }
            Event::OutboundFailure {
                request_id, error, ..
            } => {
                Counters::add(&self.counters.sync_requests_failed, 1);
                if let Some(pending) = self.outbound_sync.remove(&request_id) {
                    let reason = request_failure(&error);
                    let peer = pending.key.clone();
                    pending.complete(Err(P2pError::RequestFailed { peer, reason }));
                }
            }
            Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                self.inbound_sync.remove(&request_id);
                self.on_inbound_failure(peer, error);
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn on_sync_request(
        &mut self,
        peer: PeerId,
        id: InboundRequestId,
        request: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let Some(from) = self.validators.key_of(&peer) else {
            drop(channel);
            return self.refuse_non_validator(peer);
        };
        if self.sync_replies.len() >= self.cfg.settings.max_concurrent_sync_requests {
            Counters::add(&self.counters.sync_requests_refused, 1);
            return;
        }
        // One validator's requests never take every slot: the others' (a lagging replica's)
        // still get answers while a faulty one asks as fast as it can.
        let of_peer = self.sync_replies_by_peer.get(&peer).copied().unwrap_or(0);
        if of_peer >= self.cfg.settings.max_sync_requests_per_peer {
            Counters::add(&self.counters.sync_requests_refused_peer_limit, 1);
            return;
        }
        let (reply, response) = oneshot::channel();
        let len = request.len();
        let event = P2pEvent::SyncRequest {
            from,
            bytes: request,
            reply,
        };
        if self.inbound.push(peer, event, len).is_err() {
            Counters::add(&self.counters.dropped_inbound_queue_full, 1);
            return;
        }
        *self.sync_replies_by_peer.entry(peer).or_default() += 1;
        Counters::add(&self.counters.sync_requests_in, 1);
        self.inbound_sync.insert(id, channel);
        let timeout = self.cfg.settings.request_timeout();
        self.sync_replies.push(
            async move {
                let reply = tokio::time::timeout(timeout, response).await;
                (id, peer, reply.ok().and_then(Result::ok))
            }
            .boxed(),
        );
    }

    fn on_sync_reply(&mut self, id: InboundRequestId, peer: PeerId, reply: Option<Vec<u8>>) {
        if let Some(count) = self.sync_replies_by_peer.get_mut(&peer) {
            *count -= 1;
            if *count == 0 {
                self.sync_replies_by_peer.remove(&peer);
            }
        }
        let Some(channel) = self.inbound_sync.remove(&id) else {
            return; // the request already failed (timeout, connection closed)
        };
        match reply {
            Some(bytes) if bytes.len() <= self.cfg.settings.max_sync_response_bytes => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, bytes);
            }
            Some(bytes) => {
                tracing::warn!(
                    len = bytes.len(),
                    max = self.cfg.settings.max_sync_response_bytes,
                    "p2p: sync reply too large; refused"
                );
                Counters::add(&self.counters.sync_requests_refused, 1);
            }
            None => Counters::add(&self.counters.sync_requests_refused, 1),
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
        let identify::Event::Received { peer_id, info, .. } = event else {
            return;
        };
        if info.protocol_version != self.identify_version {
            tracing::info!(
                %peer_id,
                theirs = %info.protocol_version,
                ours = %self.identify_version,
                "p2p: peer of another chain; disconnecting"
            );
            Counters::add(&self.counters.wrong_chain_peers, 1);
            let _ = self.swarm.disconnect_peer_id(peer_id);
            return;
        }
        for address in info
            .listen_addrs
            .into_iter()
            .take(self.cfg.settings.max_addresses_per_peer)
        {
            self.learn_address(peer_id, address);
        }
    }

    /// Records an address of `peer` in Kademlia and, for validators, in the re-dial book;
    /// a validator that is not connected is dialed soon.
    fn learn_address(&mut self, peer: PeerId, address: Multiaddr) {
        if peer == *self.swarm.local_peer_id() {
            return;
        }
        let address = without_p2p(address);
        self.swarm
            .behaviour_mut()
            .kad
            .add_address(&peer, address.clone());
        if self.validators.contains(&peer) {
            self.redial.add_address(&peer, address);
            if !self.swarm.is_connected(&peer) {
                self.redial.wake(&peer, Instant::now());
            }
        }
    }

    fn on_ping(&mut self, event: ping::Event) {
        match event.result {
            // A peer without ping (e.g. a minimal client) is not a dead connection.
            Ok(_) | Err(ping::Failure::Unsupported) => {}
            Err(failure) => {
                tracing::debug!(peer = %event.peer, %failure, "p2p: ping failed; closing connection");
                self.swarm.close_connection(event.connection);
            }
        }
    }

    fn on_mdns(&mut self, event: mdns::Event) {
        if let mdns::Event::Discovered(found) = event {
            for (peer, address) in found {
                tracing::debug!(%peer, %address, "p2p: mDNS discovered");
                self.learn_address(peer, address);
            }
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::RoutingUpdated {
                peer, addresses, ..
            } if self.validators.contains(&peer) => {
                for address in addresses.iter() {
                    self.redial.add_address(&peer, address.clone());
                }
                if !self.swarm.is_connected(&peer) {
                    self.redial.wake(&peer, Instant::now());
                }
            }
            kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(result),
                ..
            } => {
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                for info in peers {
                    if self.validators.contains(&info.peer_id) {
                        for address in info.addrs {
                            self.redial.add_address(&info.peer_id, address);
                        }
                        if !self.swarm.is_connected(&info.peer_id) {
                            self.redial.wake(&info.peer_id, Instant::now());
                        }
                    }
                }
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------- dialing

    fn dial_due(&mut self, now: Instant) {
        for peer in self.redial.due(now) {
            if self.swarm.is_connected(&peer) {
                self.redial.connected(&peer);
                continue;
            }
            Counters::add(&self.counters.redials, 1);
            let addresses = self.redial.addresses(&peer);
            if addresses.is_empty() {
                // Ask the DHT where the validator is; results wake it up again.
                self.swarm.behaviour_mut().kad.get_closest_peers(peer);
            }
            let opts = DialOpts::peer_id(peer)
                .addresses(addresses)
                .extend_addresses_through_behaviour()
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            match self.swarm.dial(opts) {
                Ok(()) => tracing::debug!(%peer, "p2p: dialing validator"),
                Err(DialError::NoAddresses) => {
                    tracing::debug!(%peer, "p2p: no address known for validator yet");
                }
                Err(error) => tracing::debug!(%peer, %error, "p2p: cannot dial validator"),
            }
        }
        let max = self.cfg.settings.redial_backoff_max();
        for entry in &mut self.bootstrap {
            if entry.next_attempt > now {
                continue;
            }
            entry.next_attempt = now + entry.backoff;
            entry.backoff = (entry.backoff * 2).min(max);
            let opts = match entry.peer {
                Some(peer) => DialOpts::peer_id(peer)
                    .addresses(vec![without_p2p(entry.address.clone())])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build(),
                None => DialOpts::unknown_peer_id()
                    .address(entry.address.clone())
                    .build(),
            };
            if let Err(error) = self.swarm.dial(opts) {
                tracing::debug!(address = %entry.address, %error, "p2p: cannot dial bootstrap");
            }
        }
    }
}

fn request_failure(error: &request_response::OutboundFailure) -> RequestFailure {
    match error {
        request_response::OutboundFailure::DialFailure => RequestFailure::Dial,
        request_response::OutboundFailure::Timeout => RequestFailure::Timeout,
        request_response::OutboundFailure::ConnectionClosed => RequestFailure::ConnectionClosed,
        request_response::OutboundFailure::UnsupportedProtocols => {
            RequestFailure::UnsupportedProtocol
        }
        request_response::OutboundFailure::Io(e) => RequestFailure::Io { kind: e.kind() },
    }
}
