//! The composed libp2p behaviour and the swarm (TCP + noise + yamux).

use libp2p::{
    identify, identity, kad, mdns, ping, request_response,
    swarm::{behaviour::toggle::Toggle, NetworkBehaviour},
    tcp, Swarm, SwarmBuilder,
};

use std::sync::Arc;

use super::{codec::FrameCodec, stats::Counters, P2pConfig, P2pError};

/// Protocol names of one chain.
#[derive(Clone, Debug)]
pub struct Protocols {
    /// Consensus frames: `<prefix>/consensus/1`.
    pub consensus: libp2p::StreamProtocol,
    /// Sync requests: `<prefix>/sync/1`.
    pub sync: libp2p::StreamProtocol,
    /// Kademlia DHT of this chain: `<prefix>/kad/1`.
    pub kad: libp2p::StreamProtocol,
    /// Identify protocol version: `<prefix>/1`; peers announcing another one are another chain.
    pub identify_version: String,
}

impl Protocols {
    /// Names derived from the genesis hash prefix of `cfg`.
    pub fn of(cfg: &P2pConfig) -> Protocols {
        let prefix = cfg.protocol_prefix();
        let name = |suffix: &str| {
            libp2p::StreamProtocol::try_from_owned(format!("{prefix}/{suffix}"))
                .expect("protocol names start with '/'")
        };
        Protocols {
            consensus: name("consensus/1"),
            sync: name("sync/1"),
            kad: name("kad/1"),
            identify_version: format!("{prefix}/1"),
        }
    }
}

/// Every protocol a bftledger node speaks.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Consensus frames: request = frame, response = empty acknowledgement.
    pub consensus: request_response::Behaviour<FrameCodec>,
    /// State sync: request and response frames, bounded separately.
    pub sync: request_response::Behaviour<FrameCodec>,
    /// Peer discovery across machines (bootstrap addresses).
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    /// Listen addresses and chain check (protocol version).
    pub identify: identify::Behaviour,
    /// Liveness of connections (half-open TCP detection).
    pub ping: ping::Behaviour,
    /// Discovery on the local network, when enabled.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

fn request_response_config(cfg: &P2pConfig) -> request_response::Config {
    request_response::Config::default()
        .with_request_timeout(cfg.settings.request_timeout())
        .with_max_concurrent_streams(cfg.settings.max_streams_per_connection)
}

fn build_behaviour(
    keypair: &identity::Keypair,
    cfg: &P2pConfig,
    protocols: &Protocols,
    counters: &Arc<Counters>,
) -> Behaviour {
    let local = keypair.public().to_peer_id();
    let consensus = request_response::Behaviour::with_codec(
        FrameCodec::new(cfg.settings.max_frame_bytes, 0).counting(counters.clone()),
        [(
            protocols.consensus.clone(),
            request_response::ProtocolSupport::Full,
        )],
        request_response_config(cfg),
    );
    let sync = request_response::Behaviour::with_codec(
        FrameCodec::new(
            cfg.settings.max_frame_bytes,
            cfg.settings.max_sync_response_bytes,
        )
        .counting(counters.clone()),
        [(
            protocols.sync.clone(),
            request_response::ProtocolSupport::Full,
        )],
        request_response_config(cfg),
    );
    let mut kad_cfg = kad::Config::new(protocols.kad.clone());
    kad_cfg.set_query_timeout(cfg.settings.request_timeout());
    // The DHT is used for peer routing only: records that peers push are not stored.
    kad_cfg.set_record_filtering(kad::StoreInserts::FilterBoth);
    let mut kad = kad::Behaviour::with_config(local, kad::store::MemoryStore::new(local), kad_cfg);
    // Loopback and LAN addresses are never "confirmed external", so without this Kademlia would
    // stay in client mode and answer no queries.
    kad.set_mode(Some(kad::Mode::Server));
    let identify = identify::Behaviour::new(
        identify::Config::new(protocols.identify_version.clone(), keypair.public())
            .with_agent_version(format!("bftledger/{}", env!("CARGO_PKG_VERSION"))),
    );
    let mdns = if cfg.settings.enable_mdns {
        match mdns::tokio::Behaviour::new(mdns::Config::default(), local) {
            Ok(m) => Some(m),
            Err(error) => {
                // A node without multicast still works through bootstrap addresses.
                tracing::warn!(%error, "mDNS could not start; continuing without it");
                None
            }
        }
    } else {
        None
    };
    Behaviour {
        consensus,
        sync,
        kad,
        identify,
        ping: ping::Behaviour::new(ping::Config::new()),
        mdns: Toggle::from(mdns),
    }
}

/// Builds the swarm: TCP (nodelay) + noise + yamux, identity = the validator key.
pub fn build_swarm(
    keypair: identity::Keypair,
    cfg: &P2pConfig,
    protocols: &Protocols,
    counters: &Arc<Counters>,
) -> Result<Swarm<Behaviour>, P2pError> {
    let idle = cfg.settings.idle_connection_timeout();
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .map_err(P2pError::Noise)?
        .with_behaviour(|key| build_behaviour(key, cfg, protocols, counters))
        .unwrap_or_else(|never| match never {})
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();
    Ok(swarm)
}
