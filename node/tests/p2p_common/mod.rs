//! Helpers shared by the p2p integration tests (loopback, port 0, everything under a timeout).
#![allow(dead_code)]

pub mod netns;

use std::collections::BTreeSet;
use std::time::Duration;

use bftledger_crypto::{Digest, PublicKey, SecretKey};
use bftledger_node::p2p::{self, P2pConfig, P2pEvent, P2pHandle};
use libp2p::{multiaddr::Protocol, Multiaddr};
use tokio::sync::mpsc;

/// Upper bound of any single wait in these tests: a hang fails instead of blocking CI.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn genesis() -> Digest {
    Digest::of(b"bftledger p2p test chain")
}

pub fn keys(n: usize) -> Vec<SecretKey> {
    (0..n).map(|_| SecretKey::generate()).collect()
}

pub fn publics(keys: &[SecretKey]) -> Vec<PublicKey> {
    keys.iter().map(SecretKey::public).collect()
}

/// Loopback, port 0, short timeouts and backoffs.
pub fn config(validators: Vec<PublicKey>, bootstrap: Vec<Multiaddr>) -> P2pConfig {
    let mut cfg = P2pConfig::new(genesis(), validators);
    cfg.settings.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    cfg.settings.bootstrap = bootstrap;
    cfg.settings.request_timeout_ms = 5_000;
    cfg.settings.redial_backoff_initial_ms = 50;
    cfg.settings.redial_backoff_max_ms = 800;
    cfg
}

pub struct Node {
    pub handle: P2pHandle,
    pub events: mpsc::Receiver<P2pEvent>,
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,yamux=error".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn start(key: &SecretKey, cfg: P2pConfig) -> Node {
    init_tracing();
    let (handle, events) = p2p::spawn(key, cfg).expect("spawn p2p");
    Node { handle, events }
}

/// The first listen address of `handle`, with `/p2p/<peer id>`.
pub async fn dial_addr(handle: &P2pHandle) -> Multiaddr {
    let mut watch = handle.watch_listen_addrs();
    let addrs = tokio::time::timeout(WAIT, watch.wait_for(|a| !a.is_empty()))
        .await
        .expect("listening in time")
        .expect("task alive")
        .clone();
    addrs[0].clone().with(Protocol::P2p(handle.local_peer_id()))
}

/// Waits until `handle` has at least `n` connected validators.
pub async fn wait_connected(handle: &P2pHandle, n: usize) -> BTreeSet<PublicKey> {
    let mut watch = handle.watch_connected();
    let connected = tokio::time::timeout(WAIT, watch.wait_for(|c| c.len() >= n))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{} has {:?} connected validators, wanted {n}",
                handle.local_key().short(),
                handle.connected_validators().len()
            )
        })
        .expect("task alive")
        .clone();
    connected
}

/// Next consensus frame (skipping connection events), within [`WAIT`].
pub async fn next_consensus(events: &mut mpsc::Receiver<P2pEvent>) -> (PublicKey, Vec<u8>) {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await.expect("event channel open") {
                P2pEvent::Consensus { from, bytes } => return (from, bytes),
                P2pEvent::SyncRequest { .. } => panic!("unexpected sync request"),
                P2pEvent::PeerConnected(_) | P2pEvent::PeerDisconnected(_) => {}
            }
        }
    })
    .await
    .expect("a consensus frame in time")
}

/// Sends `bytes` to `to` until the receiver sees it: right after connecting, the first frames
/// may race the connection setup; delivery is best effort by design.
pub async fn send_until_received(from: &Node, to: &mut Node, bytes: &[u8]) -> (PublicKey, Vec<u8>) {
    let target = to.handle.local_key();
    tokio::time::timeout(WAIT, async {
        loop {
            from.handle.send(target, bytes.to_vec()).unwrap();
            if let Ok(got) =
                tokio::time::timeout(Duration::from_millis(500), next_consensus(&mut to.events))
                    .await
            {
                return got;
            }
        }
    })
    .await
    .expect("frame delivered in time")
}
