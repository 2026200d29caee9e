//! Four hosts on in-memory ledgers, wired by a lossless in-order network: the host's output
//! contract end to end (group commit, persist → send → execute, already-stored blocks after a
//! restart, state transfer through the sync protocol), and a replica crashed at every
//! [`CrashPoint`] and restarted from exactly what its store holds.

use bftledger_consensus::{
    Config, Event, Input, Replica, ReplicaId, Request, SignedMessage, Target,
};
use bftledger_crypto::encoding::Versioned;
use bftledger_crypto::Digest;
use bftledger_host::fixtures::{genesis, key, transfer};
use bftledger_host::sync::{self, SyncRequest};
use bftledger_host::{
    CrashPoint, FetchTarget, Host, HostError, HostIo, LedgerApp, VerifiedTransfers,
    MAX_GROUP_INPUTS,
};
use bftledger_ledger::{Block, Genesis, MemoryBackend, SignedTransfer, Store};
use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

const CHAIN: &str = "host-cluster";
const N: usize = 4;

fn config() -> Config {
    let mut config = Config::new((1..=N as u8).map(|i| key(i).public()).collect());
    config.settings.checkpoint_interval_seqs = 4;
    config.settings.watermark_window_seqs = 16;
    config.settings.batch_delay_ticks = 1;
    config.settings.view_change_timeout_ticks = 400;
    config.settings.retransmit_ticks = 20;
    config.validate().unwrap();
    config
}

/// What one host did in one call, for the test to deliver and check.
#[derive(Default)]
struct Effects {
    sends: Vec<(Target, SignedMessage)>,
    fetch: Option<FetchTarget>,
    blocks: Vec<(u64, Digest)>,
    crash_at: Option<CrashPoint>,
    crashes_seen: usize,
    state_transfers: usize,
}

impl HostIo for Effects {
    fn send(&mut self, to: Target, message: SignedMessage) {
        self.sends.push((to, message));
    }
    fn relay(&mut self, _: ReplicaId, _: Vec<SignedTransfer>) {}
    fn fetch_state(&mut self, target: FetchTarget) {
        self.fetch = Some(target);
    }
    fn block_stored(&mut self, block: &Block, _executed: bool) {
        self.blocks.push((block.height, block.hash()));
    }
    fn state_transferred(&mut self, _: FetchTarget) {
        self.state_transfers += 1;
    }
    fn event(&mut self, event: &Event) {
        if let Event::ViewChangeStarted { view, cause } = event {
            panic!("no replica is faulty, yet a view change to {view} started ({cause:?})");
        }
    }
    fn crash_at(&mut self, point: CrashPoint) -> bool {
        if self.crash_at == Some(point) {
            self.crash_at = None;
            self.crashes_seen += 1;
            return true;
        }
        false
    }
}

struct Slot {
    disk: MemoryBackend,
    host: Option<Host>,
    io: Effects,
}

struct Cluster {
    genesis: Genesis,
    slots: Vec<Slot>,
    /// (from, to, message), delivered in order.
    network: VecDeque<(usize, usize, SignedMessage)>,
}

fn start(genesis: &Genesis, id: usize, disk: &MemoryBackend) -> Host {
    let store = Store::in_backend(Box::new(disk.clone()), genesis).unwrap();
    let entries = store.consensus_entries().unwrap();
    let verified = VerifiedTransfers::shared(1024);
    let app = LedgerApp::with_verified(CHAIN, verified.clone());
    let replica = Replica::recover(config(), id as u32, key(id as u8 + 1), app, entries).unwrap();
    let store = Arc::new(RwLock::new(store));
    Host::new(replica, store, genesis.clone(), verified, MAX_GROUP_INPUTS)
}

impl Cluster {
    fn new() -> Cluster {
        let genesis = genesis(CHAIN, 1_000_000);
        let slots = (0..N)
            .map(|id| {
                let disk = MemoryBackend::new();
                Slot {
                    host: Some(start(&genesis, id, &disk)),
                    disk,
                    io: Effects::default(),
                }
            })
            .collect();
        Cluster {
            genesis,
            slots,
            network: VecDeque::new(),
        }
    }

    /// Pushes `input` to replica `r` and runs its host; a crash drops the host.
    fn step(&mut self, r: usize, input: Input) {
        let slot = &mut self.slots[r];
        let Some(host) = slot.host.as_mut() else {
            return;
        };
        host.push(input);
        let result = host.run(&mut slot.io);
        self.after(r, result);
    }

    fn after(&mut self, r: usize, result: Result<(), HostError>) {
        let slot = &mut self.slots[r];
        match result {
            Ok(()) => {}
            Err(HostError::Crashed(_)) => slot.host = None,
            Err(e) => panic!("replica {r}: {e}"),
        }
        for (to, message) in std::mem::take(&mut slot.io.sends) {
            let targets: Vec<usize> = match to {
                Target::All => (0..N).filter(|&t| t != r).collect(),
                Target::One(t) => vec![t as usize],
            };
            for t in targets {
                self.network.push_back((r, t, message.clone()));
            }
        }
        if let Some(target) = self.slots[r].io.fetch.take() {
            self.fetch(r, target);
        }
    }

    /// State transfer through the sync protocol: blocks from the first peer that serves them,
    /// checked (`check_blocks`) and applied by the host.
    fn fetch(&mut self, r: usize, target: FetchTarget) {
        let validators = self.genesis.validator_keys();
        for donor in (0..N).filter(|&d| d != r) {
            let Some(donor_host) = self.slots[donor].host.as_ref() else {
                continue;
            };
            let from = self.slots[r].host.as_ref().map_or(0, Host::height) + 1;
            let max = target.seq + 1 - from;
            let request = SyncRequest::Blocks { from, max }.to_bytes();
            let answer = sync::answer(&donor_host.store(), &request, 64, 1 << 20);
            let Ok(Some(blocks)) = sync::check_blocks(&validators, from, max, &answer, 1 << 20)
            else {
                continue;
            };
            let slot = &mut self.slots[r];
            let Some(host) = slot.host.as_mut() else {
                return;
            };
            let result = host.apply_blocks(blocks, &mut slot.io).map(|_| ());
            self.after(r, result);
            return;
        }
    }

    fn restart(&mut self, r: usize) {
        let slot = &mut self.slots[r];
        assert!(slot.host.is_none());
        slot.host = Some(start(&self.genesis, r, &slot.disk));
    }

    fn deliver_all(&mut self) {
        while let Some((_, to, message)) = self.network.pop_front() {
            self.step(to, Input::Message(message));
        }
    }

    fn tick(&mut self, ticks: usize) {
        for _ in 0..ticks {
            for r in 0..N {
                self.step(r, Input::Tick);
            }
            self.deliver_all();
        }
    }

    fn submit(&mut self, nonces: std::ops::RangeInclusive<u64>) {
        let requests: Vec<Request> = nonces
            .map(|nonce| Request {
                payload: transfer(CHAIN, 1, nonce).to_bytes(),
            })
            .collect();
        for r in 0..N {
            self.step(r, Input::ClientRequests(requests.clone()));
        }
        self.deliver_all();
    }

    fn heights_and_hashes(&self) -> Vec<(u64, Digest)> {
        self.slots
            .iter()
            .map(|s| {
                let store = s.host.as_ref().expect("running").store();
                (store.latest_height(), store.latest_block_hash())
            })
            .collect()
    }
}

/// Transfers submitted to every replica become the same blocks everywhere, every transfer
/// applied once (the sender's nonce is the count), on every ledger.
#[test]
fn four_hosts_build_one_ledger() {
    let mut cluster = Cluster::new();
    for round in 0..6u64 {
        cluster.submit(round * 3 + 1..=round * 3 + 3);
        cluster.tick(4);
    }
    let tips = cluster.heights_and_hashes();
    assert!(tips[0].0 >= 6, "{tips:?}");
    assert!(tips.iter().all(|t| *t == tips[0]), "{tips:?}");
    for slot in &cluster.slots {
        let store = slot.host.as_ref().unwrap().store();
        assert_eq!(store.account(&key(10).public()).nonce, 18);
    }
}

/// A replica crashed at each crash point and restarted from its store never stops the cluster
/// and ends on the same ledger: at `BeforePersist` the group is lost (peers' retransmissions
/// and state transfer make up for it), at `BeforeSend` its votes are durable though unsent, at
/// `AfterExecute` the block is stored but the core never heard of it, so after the restart the
/// host finds it stored and reports its hash instead of executing it twice.
#[test]
fn a_replica_crashed_at_every_crash_point_restarts_onto_the_same_ledger() {
    for point in [
        CrashPoint::BeforePersist,
        CrashPoint::BeforeSend,
        CrashPoint::AfterExecute,
    ] {
        let mut cluster = Cluster::new();
        let round = |cluster: &mut Cluster, n: u64| {
            cluster.submit(n * 3 + 1..=n * 3 + 3);
            cluster.tick(4);
        };
        round(&mut cluster, 0);
        cluster.slots[1].io.crash_at = Some(point);
        round(&mut cluster, 1);
        assert_eq!(cluster.slots[1].io.crashes_seen, 1, "{point:?} was reached");
        assert!(cluster.slots[1].host.is_none());
        for n in 2..6 {
            round(&mut cluster, n);
        }
        cluster.restart(1);
        for n in 6..10 {
            round(&mut cluster, n);
        }
        cluster.tick(100);
        let tips = cluster.heights_and_hashes();
        assert!(tips.iter().all(|t| *t == tips[0]), "{point:?}: {tips:?}");
        assert!(tips[0].0 >= 10, "{point:?}: {tips:?}");
        // Each height stored once on the crashed replica, by execution or by catch-up.
        let heights: Vec<u64> = cluster.slots[1].io.blocks.iter().map(|b| b.0).collect();
        assert_eq!(heights, (1..=tips[0].0).collect::<Vec<_>>(), "{point:?}");
        assert_eq!(cluster.slots[1].io.state_transfers, 1, "{point:?}");
        let store = cluster.slots[1].host.as_ref().unwrap().store();
        assert_eq!(
            store.account(&key(10).public()).nonce,
            30,
            "{point:?}: every transfer applied once on the restarted replica"
        );
    }
}

/// Catch-up never trusts a peer's block beyond its certificate: a certified block whose
/// receipts or state root do not match its re-execution is refused with the reason, nothing
/// is stored, and the genuine block is then applied (TOCS'02 §5.3.2: state is accepted only if
/// it matches what the certificate binds; here the store re-executes the block).
#[test]
fn a_certified_block_with_a_wrong_outcome_is_refused_and_the_store_is_unchanged() {
    let mut cluster = Cluster::new();
    cluster.submit(1..=3);
    cluster.tick(4);
    let genuine = cluster.slots[0]
        .host
        .as_ref()
        .unwrap()
        .store()
        .block(1)
        .unwrap()
        .unwrap();
    let mut lying = genuine.clone();
    lying.block.state_root = Digest::ZERO;
    let disk = MemoryBackend::new();
    let mut fresh = start(&cluster.genesis, 3, &disk);
    let mut io = Effects::default();
    let (applied, refused) = fresh.apply_blocks(vec![lying], &mut io).unwrap();
    assert_eq!(applied, 0);
    assert!(
        matches!(
            refused,
            Some(bftledger_ledger::StoreError::BlockMismatch {
                height: 1,
                what: "state_root"
            })
        ),
        "{refused:?}"
    );
    assert_eq!(fresh.height(), 0);
    assert!(io.blocks.is_empty());
    let (applied, refused) = fresh.apply_blocks(vec![genuine], &mut io).unwrap();
    assert_eq!((applied, refused.is_none(), fresh.height()), (1, true, 1));
}
