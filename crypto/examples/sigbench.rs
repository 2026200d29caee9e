//! Signature throughput on this machine: sign, strict verify, and batch verify at several batch
//! sizes, single-threaded. Prints one JSON object; compare the figures as ratios within one run
//! (shared machines are noisy).
//!
//! ```text
//! cargo run --release -p bftledger-crypto --example sigbench [-- ITEMS]
//! ```

use bftledger_crypto::{verify_batch, BatchItem, Domain, SecretKey, Signature};
use std::time::Instant;

fn per_second(count: usize, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let items: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let keys: Vec<SecretKey> = (0..256u32)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..4].copy_from_slice(&i.to_le_bytes());
            SecretKey::from_bytes(&seed)
        })
        .collect();
    let publics: Vec<_> = keys.iter().map(SecretKey::public).collect();
    let messages: Vec<Vec<u8>> = (0..items)
        .map(|i| format!("transfer number {i} of the benchmark").into_bytes())
        .collect();

    let started = Instant::now();
    let signatures: Vec<Signature> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| keys[i % keys.len()].sign(Domain::Transfer, m))
        .collect();
    let sign = per_second(items, started);

    let started = Instant::now();
    for (i, (m, s)) in messages.iter().zip(&signatures).enumerate() {
        publics[i % publics.len()]
            .verify(Domain::Transfer, m, s)
            .expect("benchmark signatures are valid");
    }
    let verify = per_second(items, started);

    let mut batch = Vec::new();
    for size in [16usize, 64, 256, 1024] {
        let started = Instant::now();
        let mut done = 0;
        for chunk_start in (0..items).step_by(size) {
            let end = (chunk_start + size).min(items);
            let chunk: Vec<BatchItem> = (chunk_start..end)
                .map(|i| BatchItem {
                    signer: &publics[i % publics.len()],
                    message: &messages[i],
                    signature: &signatures[i],
                })
                .collect();
            verify_batch(Domain::Transfer, &chunk).expect("benchmark signatures are valid");
            done += chunk.len();
        }
        batch.push(format!(
            "\"batch_{size}_per_s\":{:.0}",
            per_second(done, started)
        ));
    }
    println!(
        "{{\"items\":{items},\"sign_per_s\":{sign:.0},\"verify_per_s\":{verify:.0},{}}}",
        batch.join(",")
    );
}
