//! p2p between honest validators on loopback: Kademlia discovery from bootstrap addresses,
//! consensus frames both ways and broadcast, sync request/response with size limits,
//! re-dial after a restart, mDNS (in a private network namespace: needs root), chain separation,
//! and a throughput print.

mod p2p_common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bftledger_crypto::Digest;
use bftledger_node::p2p::{P2pError, P2pEvent, RequestFailure};
use libp2p::multiaddr::Protocol;
use p2p_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_validators_discover_and_exchange_frames_both_ways() {
    let keys = keys(2);
    let vals = publics(&keys);
    let mut a = start(&keys[0], config(vals.clone(), vec![]));
    let a_addr = dial_addr(&a.handle).await;
    let mut b = start(&keys[1], config(vals.clone(), vec![a_addr]));

    assert_eq!(
        wait_connected(&a.handle, 1).await,
        BTreeSet::from([vals[1]])
    );
    assert_eq!(
        wait_connected(&b.handle, 1).await,
        BTreeSet::from([vals[0]])
    );

    assert_eq!(
        send_until_received(&a, &mut b, b"a->b").await,
        (vals[0], b"a->b".to_vec())
    );
    assert_eq!(
        send_until_received(&b, &mut a, b"b->a").await,
        (vals[1], b"b->a".to_vec())
    );
    b.handle.broadcast(b"b->all".to_vec()).unwrap();
    assert_eq!(
        next_consensus(&mut a.events).await,
        (vals[1], b"b->all".to_vec())
    );

    // Sending to oneself or to a non-validator is refused locally.
    assert!(matches!(
        a.handle.send(vals[0], vec![1]),
        Err(P2pError::SelfTarget)
    ));
    let outsider = bftledger_crypto::SecretKey::generate().public();
    assert!(matches!(
        a.handle.send(outsider, vec![1]),
        Err(P2pError::NotAValidator { .. })
    ));
    let stats = a.handle.stats();
    assert!(stats.frames_in >= 2 && stats.frames_out >= 1, "{stats:?}");
    assert_eq!(stats.connected_validators, 1);
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_find_each_other_through_one_bootstrap_node_and_broadcast() {
    let keys = keys(4);
    let vals = publics(&keys);
    let first = start(&keys[0], config(vals.clone(), vec![]));
    let boot = dial_addr(&first.handle).await;
    let mut nodes = vec![first];
    for key in &keys[1..] {
        // Nodes 1..3 only know node 0; they must find each other through Kademlia.
        nodes.push(start(key, config(vals.clone(), vec![boot.clone()])));
    }
    let t0 = Instant::now();
    for node in &nodes {
        wait_connected(&node.handle, 3).await;
    }
    println!("4 validators fully connected in {:?}", t0.elapsed());

    // Every node broadcasts; every node receives the 3 others. Broadcast is best effort, so
    // repeat a round until all arrived (a round is normally enough).
    let mut missing: BTreeMap<usize, BTreeSet<usize>> = (0..4)
        .map(|i| (i, (0..4).filter(|j| *j != i).collect()))
        .collect();
    tokio::time::timeout(WAIT, async {
        while missing.values().any(|m| !m.is_empty()) {
            for (i, node) in nodes.iter().enumerate() {
                node.handle
                    .broadcast(format!("from {i}").into_bytes())
                    .unwrap();
            }
            for (i, node) in nodes.iter_mut().enumerate() {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
                while let Ok(Some(event)) =
                    tokio::time::timeout_at(deadline, node.events.recv()).await
                {
                    if let P2pEvent::Consensus { from, bytes } = event {
                        let j = vals.iter().position(|v| *v == from).unwrap();
                        assert_eq!(bytes, format!("from {j}").into_bytes());
                        missing.get_mut(&i).unwrap().remove(&j);
                    }
                    if missing[&i].is_empty() {
                        break;
                    }
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("broadcasts missing: {missing:?}"));
    for node in &nodes {
        node.handle.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_request_round_trip_with_size_limits() {
    let keys = keys(2);
    let vals = publics(&keys);
    let mut cfg_a = config(vals.clone(), vec![]);
    cfg_a.settings.max_sync_response_bytes = 1024; // the requester accepts at most 1 KiB back
    cfg_a.settings.max_concurrent_sync_requests = 1;
    cfg_a.settings.max_frame_bytes = 4096;
    let a = start(&keys[0], cfg_a);
    let mut cfg_b = config(vals.clone(), vec![dial_addr(&a.handle).await]);
    cfg_b.settings.max_sync_response_bytes = 4096; // the responder sends at most 4 KiB
    let mut b = start(&keys[1], cfg_b);
    wait_connected(&a.handle, 1).await;

    // B answers each request with as many bytes as the request says (u32 BE).
    let responder = tokio::spawn(async move {
        while let Some(event) = b.events.recv().await {
            if let P2pEvent::SyncRequest { from, bytes, reply } = event {
                assert_eq!(from, b.handle.connected_validators()[0]);
                let n = u32::from_be_bytes(bytes[..4].try_into().unwrap());
                if n == u32::MAX {
                    // Hold the reply for a while to keep the request in flight.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let _ = reply.send(vec![]);
                } else {
                    let _ = reply.send(vec![7u8; n as usize]);
                }
            }
        }
        b.handle
    });
    let req = |n: u32| n.to_be_bytes().to_vec();

    let ok = tokio::time::timeout(WAIT, a.handle.request(vals[1], req(1000)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ok, vec![7u8; 1000]);

    // 2000 bytes: within the responder's limit, over the requester's: refused on reading.
    let err = tokio::time::timeout(WAIT, a.handle.request(vals[1], req(2000)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            P2pError::RequestFailed {
                reason: RequestFailure::Io { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // 5000 bytes: over the responder's own limit: it refuses to send.
    let err = tokio::time::timeout(WAIT, a.handle.request(vals[1], req(5000)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, P2pError::RequestFailed { .. }), "{err:?}");

    // Oversized request: refused locally.
    assert!(matches!(
        a.handle.request(vals[1], vec![0; 4097]).await,
        Err(P2pError::FrameTooLarge {
            len: 4097,
            max: 4096
        })
    ));
    // Concurrency bound: one request in flight, a second fails at once.
    let slow = {
        let h = a.handle.clone();
        let peer = vals[1];
        tokio::spawn(async move { h.request(peer, req(u32::MAX)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(matches!(
        a.handle.request(vals[1], req(1)).await,
        Err(P2pError::TooManyRequests { max: 1 })
    ));
    assert_eq!(slow.await.unwrap().unwrap(), Vec::<u8>::new());
    // The permit is released: requests work again.
    assert_eq!(
        a.handle.request(vals[1], req(3)).await.unwrap(),
        vec![7u8; 3]
    );

    let stats = a.handle.stats();
    assert_eq!(stats.sync_requests_out, 5, "{stats:?}");
    assert_eq!(stats.sync_requests_failed, 2, "{stats:?}");
    a.handle.shutdown().await;
    // Dropping B's only handle (owned by the responder) stops B's network task.
    responder.abort();
}

/// A validator asking for sync answers as fast as it can holds at most
/// `max_sync_requests_per_peer` of the responder's slots; its other requests are refused (and
/// counted) at once, and another validator's request is still answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_validator_cannot_take_every_sync_slot() {
    let keys = keys(3);
    let vals = publics(&keys);
    let mut cfg_b = config(vals.clone(), vec![]);
    // Three slots: without the per-peer bound the flooder alone would take all of them.
    cfg_b.settings.max_concurrent_sync_requests = 3;
    cfg_b.settings.max_sync_requests_per_peer = 2;
    let mut b = start(&keys[1], cfg_b);
    let b_addr = dial_addr(&b.handle).await;
    let flooder = start(&keys[0], config(vals.clone(), vec![b_addr.clone()]));
    let lagging = start(&keys[2], config(vals.clone(), vec![b_addr]));
    wait_connected(&b.handle, 2).await;
    wait_connected(&flooder.handle, 1).await;
    wait_connected(&lagging.handle, 1).await;

    // B holds the flooder's requests (first byte 1) unanswered for 2 s; others at once.
    let b_handle = b.handle.clone();
    let responder = tokio::spawn(async move {
        while let Some(event) = b.events.recv().await {
            if let P2pEvent::SyncRequest { bytes, reply, .. } = event {
                tokio::spawn(async move {
                    if bytes[0] == 1 {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                    let _ = reply.send(bytes);
                });
            }
        }
        b.handle
    });
    let floods: Vec<_> = (0..6u8)
        .map(|i| {
            let h = flooder.handle.clone();
            let peer = vals[1];
            tokio::spawn(async move { h.request(peer, vec![1, i]).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        lagging.handle.request(vals[1], vec![2, 9]),
    )
    .await
    .expect("the lagging validator is answered while the flooder waits")
    .unwrap();
    assert_eq!(answer, vec![2, 9]);
    let mut answered = 0;
    for flood in floods {
        if tokio::time::timeout(WAIT, flood)
            .await
            .unwrap()
            .unwrap()
            .is_ok()
        {
            answered += 1;
        }
    }
    assert_eq!(answered, 2, "two of the flooder's six requests held a slot");
    let stats = b_handle.stats();
    assert_eq!(stats.sync_requests_refused_peer_limit, 4, "{stats:?}");
    assert_eq!(stats.sync_requests_in, 3, "{stats:?}");
    b_handle.shutdown().await;
    responder.abort();
    flooder.handle.shutdown().await;
    lagging.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_that_restarts_is_redialed_and_frames_flow_again() {
    let keys = keys(2);
    let vals = publics(&keys);
    let mut a = start(&keys[0], config(vals.clone(), vec![]));
    let b = start(
        &keys[1],
        config(vals.clone(), vec![dial_addr(&a.handle).await]),
    );
    wait_connected(&a.handle, 1).await;
    send_until_received(&b, &mut a, b"before").await;
    let b_addr = dial_addr(&b.handle).await;
    let port = b_addr
        .iter()
        .find_map(|p| match p {
            Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .unwrap();

    b.handle.shutdown().await;
    drop(b);
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(P2pEvent::PeerDisconnected(k)) = a.events.recv().await {
                assert_eq!(k, vals[1]);
                break;
            }
        }
    })
    .await
    .expect("disconnection seen");
    assert!(a.handle.connected_validators().is_empty());
    let redials_before = a.handle.stats().redials;

    // Let A fail a few times (backoff grows), then bring B back on the same port WITHOUT any
    // bootstrap address: only A's re-dial can reconnect them.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut cfg_b = config(vals.clone(), vec![]);
    cfg_b.settings.listen = vec![format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()];
    let mut b = start(&keys[1], cfg_b);
    let t0 = Instant::now();
    wait_connected(&a.handle, 1).await;
    wait_connected(&b.handle, 1).await;
    println!("re-dialed after restart in {:?}", t0.elapsed());
    assert!(a.handle.stats().redials > redials_before);

    assert_eq!(
        send_until_received(&a, &mut b, b"again a->b").await,
        (vals[0], b"again a->b".to_vec())
    );
    assert_eq!(
        send_until_received(&b, &mut a, b"again b->a").await,
        (vals[1], b"again b->a".to_vec())
    );
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_different_chains_never_exchange_frames() {
    let keys = keys(2);
    let vals = publics(&keys);
    let mut a = start(&keys[0], config(vals.clone(), vec![]));
    let mut cfg_b = config(vals.clone(), vec![dial_addr(&a.handle).await]);
    cfg_b.genesis_hash = Digest::of(b"another chain");
    let b = start(&keys[1], cfg_b);

    // B dials A (same keys!), but identify shows another chain and the consensus protocol
    // names differ: A never reports B as connected and never surfaces a frame.
    tokio::time::timeout(WAIT, async {
        while a.handle.stats().wrong_chain_peers == 0 {
            let _ = b.handle.send(vals[0], b"other chain".to_vec());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("A notices the other chain");
    for _ in 0..5 {
        let _ = b.handle.send(vals[0], b"other chain".to_vec());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(event) = a.events.try_recv() {
        assert!(
            !matches!(event, P2pEvent::Consensus { .. }),
            "frame from another chain surfaced: {event:?}"
        );
    }
    assert_eq!(a.handle.stats().frames_in, 0);
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mdns_enabled_does_not_break_bootstrap_discovery() {
    if !netns::inside_private_netns("mdns_enabled_does_not_break_bootstrap_discovery") {
        return;
    }
    let keys = keys(2);
    let vals = publics(&keys);
    let mut cfg_a = config(vals.clone(), vec![]);
    cfg_a.settings.enable_mdns = true;
    let a = start(&keys[0], cfg_a);
    let mut cfg_b = config(vals.clone(), vec![dial_addr(&a.handle).await]);
    cfg_b.settings.enable_mdns = true;
    let mut b = start(&keys[1], cfg_b);
    wait_connected(&a.handle, 1).await;
    assert_eq!(
        send_until_received(&a, &mut b, b"with mdns").await,
        (vals[0], b"with mdns".to_vec())
    );
    // mDNS really ran (a link with multicast exists in the namespace), beside the bootstrap.
    assert_eq!(a.handle.stats().mdns_active, 1);
    assert_eq!(b.handle.stats().mdns_active, 1);
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

/// True mDNS discovery: no bootstrap address at all. Needs multicast on a non-loopback
/// interface (libp2p-mdns skips loopback interfaces) and must not send it to a real network, so
/// it runs in a private network namespace with a veth link of its own (`p2p_common::netns`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mdns_discovers_validators_without_bootstrap() {
    if !netns::inside_private_netns("mdns_discovers_validators_without_bootstrap") {
        return;
    }
    let keys = keys(2);
    let vals = publics(&keys);
    let mdns_cfg = || {
        let mut cfg = config(vals.clone(), vec![]);
        cfg.settings.enable_mdns = true;
        // mDNS only announces addresses of the interface it runs on: listen on all of them.
        cfg.settings.listen = vec!["/ip4/0.0.0.0/tcp/0".parse().unwrap()];
        cfg
    };
    let a = start(&keys[0], mdns_cfg());
    let mut b = start(&keys[1], mdns_cfg());
    wait_connected(&a.handle, 1).await;
    wait_connected(&b.handle, 1).await;
    assert_eq!(
        send_until_received(&a, &mut b, b"found by mdns").await,
        (vals[0], b"found by mdns".to_vec())
    );
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}

/// Not a pass/fail benchmark: prints frame rates between two local peers (run with
/// `--nocapture`). Asserts only that everything arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_print() {
    let keys = keys(2);
    let vals = publics(&keys);
    let mut cfg_a = config(vals.clone(), vec![]);
    cfg_a.settings.max_frame_bytes = 2 * 1024 * 1024;
    let mut a = start(&keys[0], cfg_a.clone());
    let mut cfg_b = cfg_a;
    cfg_b.settings.bootstrap = vec![dial_addr(&a.handle).await];
    let mut b = start(&keys[1], cfg_b);
    send_until_received(&a, &mut b, b"warm-up").await;
    send_until_received(&b, &mut a, b"warm-up").await;

    // 1. Round trips: A sends, B echoes, A waits (one frame in flight).
    let rounds = 500;
    let t0 = Instant::now();
    for i in 0..rounds {
        a.handle.send(vals[1], vec![i as u8; 64]).unwrap();
        let (_, bytes) = next_consensus(&mut b.events).await;
        b.handle.send(vals[0], bytes).unwrap();
        next_consensus(&mut a.events).await;
    }
    let rtt = t0.elapsed() / rounds;
    println!(
        "p2p round trips: {rounds} in {:?} -> {:.0} round trips/s ({rtt:?} each)",
        t0.elapsed(),
        1.0 / rtt.as_secs_f64()
    );

    // 2. Pipelined frames, at most 48 outstanding (under the in-flight and queue bounds).
    // Frames dropped by a bound or failed are counted, not delivered: the loop ends when every
    // frame is either received or counted as lost. The window keeps losses rare.
    for (size, count, window) in [(1024usize, 5_000u64, 32u64), (1024 * 1024, 100, 8)] {
        let dropped = || {
            let (s, r) = (a.handle.stats(), b.handle.stats());
            s.dropped_outbound_queue_full
                + s.dropped_command_queue_full
                + s.frames_failed
                + r.dropped_inbound_queue_full
        };
        let dropped_base = dropped();
        let t0 = Instant::now();
        let (mut sent, mut received) = (0u64, 0u64);
        tokio::time::timeout(Duration::from_secs(60), async {
            while received + (dropped() - dropped_base) < count {
                while sent < count && sent - received - (dropped() - dropped_base) < window {
                    if a.handle.send(vals[1], vec![1u8; size]).is_err() {
                        break;
                    }
                    sent += 1;
                }
                let next = tokio::time::timeout(Duration::from_millis(200), b.events.recv());
                if let Ok(Some(P2pEvent::Consensus { bytes, .. })) = next.await {
                    assert_eq!(bytes.len(), size);
                    received += 1;
                }
            }
        })
        .await
        .expect("pipelined frames arrive or are counted as dropped");
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "p2p one-way: {received} of {count} frames of {size} B in {secs:.2}s -> {:.0} frames/s, \
             {:.1} MiB/s ({} lost to bounds or failures)",
            received as f64 / secs,
            (received as f64 * size as f64) / secs / 1048576.0,
            dropped() - dropped_base,
        );
    }
    println!("sender stats: {:?}", a.handle.stats());
    println!("receiver stats: {:?}", b.handle.stats());
    a.handle.shutdown().await;
    b.handle.shutdown().await;
}
