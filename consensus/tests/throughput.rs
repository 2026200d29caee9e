//! A rough throughput probe of the consensus core alone (4 replicas in one thread, in-order
//! delivery, a trivial application): `cargo test -p bftledger-consensus --release --test
//! throughput -- --ignored --nocapture`. Not a benchmark of the ledger (no client signatures).

mod common;

use common::{req, Cluster};
use std::time::Instant;

#[test]
#[ignore = "timing probe; run explicitly"]
fn requests_per_second_through_four_replicas() {
    let mut config = common::small_config(4);
    config.settings.max_batch_requests = 1024;
    config.settings.max_batch_bytes = 1 << 20;
    config.settings.max_message_bytes = 4 << 20;
    config.settings.max_pending_requests = 1 << 16;
    config.settings.watermark_window_seqs = 64;
    config.settings.checkpoint_interval_seqs = 16;
    config.settings.executed_requests_remembered = 1 << 18;
    let mut c = Cluster::with_config(config);
    let batches = 40usize;
    let start = Instant::now();
    for b in 0..batches {
        let requests = (0..1024)
            .map(|i| req(&format!("{b:08}-{i:08}-{}", "x".repeat(130))))
            .collect();
        c.submit(0, requests);
        c.deliver_all();
    }
    let secs = start.elapsed().as_secs_f64();
    let total = batches * 1024;
    assert_eq!(c.requests_executed(1), total);
    println!(
        "{total} requests in {secs:.2}s = {:.0} requests/s through 4 replicas on one thread",
        total as f64 / secs
    );
}
