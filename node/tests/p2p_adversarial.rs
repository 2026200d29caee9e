//! p2p against misbehaving peers: a non-validator sending frames, malformed and oversized frames
//! written raw on the consensus protocol, and a flood filling the inbound queue. In every case
//! the node refuses, counts, and keeps working with its honest peers.

mod p2p_common;

use std::io;
use std::time::Duration;

use bftledger_node::p2p::{self, P2pError, P2pEvent};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::{request_response, swarm::SwarmEvent, StreamProtocol};
use p2p_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_validator_can_connect_but_its_frames_are_refused() {
    let keys = keys(3);
    let vals = publics(&keys[..2]); // keys[2] is not a validator
    let mut a = start(&keys[0], config(vals.clone(), vec![]));
    let a_addr = dial_addr(&a.handle).await;
    let b = start(&keys[1], config(vals.clone(), vec![a_addr.clone()]));
    // The outsider knows the validator set and A's address, like any full node would.
    let x = start(&keys[2], config(vals.clone(), vec![a_addr]));
    wait_connected(&a.handle, 1).await;
    wait_connected(&x.handle, 1).await; // the transport connection is allowed

    tokio::time::timeout(WAIT, async {
        while a.handle.stats().dropped_not_validator == 0 {
            let _ = x.handle.send(vals[0], b"forged".to_vec());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("A refuses the outsider's frames");
    // Sync requests from the outsider are refused as well.
    let refused_before = a.handle.stats().dropped_not_validator;
    let sync = x.handle.request(vals[0], b"give me state".to_vec()).await;
    assert!(
        matches!(sync, Err(P2pError::RequestFailed { .. })),
        "{sync:?}"
    );

    // Honest traffic is unaffected, and nothing from the outsider ever surfaced.
    let (from, bytes) = send_until_received(&b, &mut a, b"honest").await;
    assert_eq!((from, bytes), (vals[1], b"honest".to_vec()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(event) = a.events.try_recv() {
        match event {
            P2pEvent::Consensus { from, .. } => assert_eq!(from, vals[1]),
            P2pEvent::SyncRequest { from, .. } => panic!("sync request surfaced from {from}"),
            P2pEvent::PeerConnected(k) | P2pEvent::PeerDisconnected(k) => {
                assert_eq!(k, vals[1])
            }
        }
    }
    assert_eq!(a.handle.connected_validators(), vec![vals[1]]);
    // The outsider's side may give up on its request (a timeout on a loaded machine) before A
    // gets to it: A's count of refusals is awaited, not sampled once.
    tokio::time::timeout(WAIT, async {
        while a.handle.stats().dropped_not_validator <= refused_before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("A counts the refused sync request: {:?}", a.handle.stats()));
    assert_eq!(a.handle.stats().connected_validators, 1);
    for node in [&a, &b, &x] {
        node.handle.shutdown().await;
    }
}

/// Writes request bytes verbatim (no length prefix): lets the test put anything on the wire.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut buf = Vec::new();
        io.take(1024).read_to_end(&mut buf).await?;
        Ok(buf)
    }

    async fn read_response<T>(&mut self, p: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_request(p, io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&r).await?;
        io.flush().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        r: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&r).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_oversized_frames_are_refused_and_the_node_keeps_working() {
    let keys = keys(3);
    let vals = publics(&keys);
    let mut cfg_a = config(vals.clone(), vec![]);
    cfg_a.settings.max_frame_bytes = 1024;
    let prefix = cfg_a.protocol_prefix();
    let mut a = start(&keys[0], cfg_a);
    let a_addr = dial_addr(&a.handle).await;
    let mut b = start(&keys[1], config(vals.clone(), vec![a_addr.clone()]));
    wait_connected(&a.handle, 1).await;

    // The attacker holds a real validator key (keys[2]): the refusal below is about the bytes.
    let protocol = StreamProtocol::try_from_owned(format!("{prefix}/consensus/1")).unwrap();
    let mut attacker = libp2p::SwarmBuilder::with_existing_identity(p2p::keypair_of(&keys[2]))
        .with_tokio()
        .with_tcp(
            Default::default(),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::<RawCodec>::new(
                [(protocol, request_response::ProtocolSupport::Outbound)],
                request_response::Config::default().with_request_timeout(Duration::from_secs(5)),
            )
        })
        .unwrap()
        .build();
    attacker.dial(a_addr).unwrap();

    let mut len_1025 = 1025u32.to_be_bytes().to_vec();
    len_1025.extend(vec![0u8; 1025]);
    let garbage: Vec<Vec<u8>> = vec![
        [vec![0xff; 4], vec![0xab; 100]].concat(), // announces 4 GiB
        len_1025,                                  // one byte over the limit, fully sent
        vec![0, 0, 0, 10, 1, 2, 3],                // truncated body
        vec![0, 0],                                // truncated length prefix
    ];
    let valid = vec![0, 0, 0, 3, b'o', b'k', b'!'];
    let a_peer = a.handle.local_peer_id();
    let outcomes = tokio::time::timeout(WAIT, async {
        let mut sent = false;
        let mut outcomes = Vec::new();
        while outcomes.len() < garbage.len() + 1 {
            match attacker.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } if !sent => {
                    sent = true;
                    for frame in garbage.iter().chain([&valid]) {
                        attacker
                            .behaviour_mut()
                            .send_request(&a_peer, frame.clone());
                    }
                }
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => {
                    // An acknowledgement is an empty frame (4 zero bytes of length); a refused
                    // request sees the stream closed without any.
                    outcomes.push(if response == [0, 0, 0, 0] {
                        "acknowledged"
                    } else {
                        "refused"
                    })
                }
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                    error, ..
                }) => {
                    println!("attacker: request failed: {error}");
                    outcomes.push("failed")
                }
                _ => {}
            }
        }
        outcomes
    })
    .await
    .expect("attacker's requests complete");
    // Only the valid frame is acknowledged; the connection survived the garbage.
    assert_eq!(
        outcomes.iter().filter(|o| **o == "acknowledged").count(),
        1,
        "{outcomes:?}"
    );

    let (from, bytes) = next_consensus(&mut a.events).await;
    assert_eq!((from, bytes), (vals[2], b"ok!".to_vec()));
    let stats = a.handle.stats();
    assert_eq!(stats.bad_frames, 4, "{stats:?}");

    // The node keeps working with honest peers, both ways.
    assert_eq!(
        send_until_received(&b, &mut a, b"still alive").await,
        (vals[1], b"still alive".to_vec())
    );
    assert_eq!(
        send_until_received(&a, &mut b, b"yes").await,
        (vals[0], b"yes".to_vec())
    );
    while let Ok(event) = a.events.try_recv() {
        if let P2pEvent::Consensus { from, bytes } = event {
            assert_eq!(from, vals[1], "unexpected frame {bytes:?}");
        }
    }
    drop(attacker);
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_fills_only_the_senders_queue_and_is_dropped_and_counted() {
    let keys = keys(2);
    let vals = publics(&keys);
    let mut cfg_a = config(vals.clone(), vec![]);
    cfg_a.settings.max_inbound_queue_frames = 8;
    cfg_a.settings.event_channel_capacity = 4;
    let mut a = start(&keys[0], cfg_a);
    let mut b = start(
        &keys[1],
        config(vals.clone(), vec![dial_addr(&a.handle).await]),
    );
    wait_connected(&a.handle, 1).await;
    send_until_received(&b, &mut a, b"warm-up").await;
    send_until_received(&a, &mut b, b"warm-up").await;

    // A does not read its events while B floods it: the swarm must keep acknowledging (never
    // block), and drop what does not fit.
    let settled =
        |s: p2p::P2pStats| s.frames_acked + s.frames_failed + s.dropped_outbound_queue_full;
    let base = settled(b.handle.stats());
    let flood = 500;
    let mut sent = 0;
    tokio::time::timeout(WAIT, async {
        while settled(b.handle.stats()) - base < flood {
            if sent < flood && b.handle.send(vals[0], vec![9u8; 100]).is_ok() {
                sent += 1;
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    })
    .await
    .expect("every flood frame acknowledged or failed");
    let stats = a.handle.stats();
    assert!(stats.dropped_inbound_queue_full > 0, "{stats:?}");
    assert!(stats.frames_in < 100, "{stats:?}");

    // A still works: what was queued drains, then fresh frames flow both ways.
    let mut drained = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(200), a.events.recv()).await
    {
        drained += 1;
    }
    assert!(drained <= 8 + 4 + 1, "drained {drained}");
    assert_eq!(
        send_until_received(&b, &mut a, b"after flood").await,
        (vals[1], b"after flood".to_vec())
    );
    assert_eq!(
        send_until_received(&a, &mut b, b"ack").await,
        (vals[0], b"ack".to_vec())
    );
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}
