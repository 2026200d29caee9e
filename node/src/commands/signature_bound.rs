//! This machine's signature bound, measured by `bench` before it offers load.
//!
//! Why: throughput figures differ threefold between the machines we run on, so a figure alone
//! says nothing. What does not change is the ceiling that the design sets: every validator
//! verifies every transfer's signature once (ARCHITECTURE §2), so n validators sharing this
//! machine's cores commit at most `verify_per_s / n` transfers per second, where `verify_per_s`
//! is the machine's batch-verification rate on all of its cores. `bench` reports its committed
//! rate as a ratio to that bound.

use bftledger_ledger::{verify_signatures, SignedTransfer};
use std::time::{Duration, Instant};

/// Transfers verified per batch, as the core verifies a proposed batch.
pub const BATCH_TRANSFERS: usize = 256;
/// How long the measurement verifies on each core.
pub const MEASURE_FOR: Duration = Duration::from_millis(1500);

/// The measured bound.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct SignatureBound {
    /// Transfers batch-verified per second on all cores together.
    pub verify_per_s: f64,
    /// Threads that verified (the machine's available parallelism).
    pub threads: usize,
    /// Validators that share this machine's cores.
    pub validators: usize,
    /// `verify_per_s / validators`: the most transfers per second the cluster can commit here.
    pub bound_per_s: f64,
}

/// Verifies `sample` (real signed transfers; cycled through) in batches on every core for
/// [`MEASURE_FOR`].
///
/// # Panics
/// If `sample` is empty or a signature in it is invalid (the caller signed them).
pub fn measure(sample: &[SignedTransfer], validators: usize) -> SignatureBound {
    assert!(!sample.is_empty(), "no transfers to measure with");
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let started = Instant::now();
    let verified: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut done = 0;
                    let mut chunks = sample.chunks(BATCH_TRANSFERS).cycle().skip(t);
                    while started.elapsed() < MEASURE_FOR {
                        let chunk = chunks.next().expect("a cycle never ends");
                        verify_signatures(chunk).expect("the bench signed these transfers");
                        done += chunk.len();
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("verification thread panicked"))
            .sum()
    });
    let verify_per_s = verified as f64 / started.elapsed().as_secs_f64();
    SignatureBound {
        verify_per_s: verify_per_s.round(),
        threads,
        validators,
        bound_per_s: (verify_per_s / validators.max(1) as f64).round(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::transfer;

    #[test]
    fn the_bound_is_the_verification_rate_shared_by_the_validators() {
        let sample: Vec<_> = (1..=64).map(|n| transfer("bound", 1, n)).collect();
        let bound = measure(&sample, 4);
        assert!(bound.verify_per_s > 0.0 && bound.threads >= 1);
        let per_validator = bound.verify_per_s / 4.0;
        assert!(
            (bound.bound_per_s - per_validator).abs() <= 1.0,
            "{bound:?}"
        );
    }
}
