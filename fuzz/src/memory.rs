//! The memory bound of every fuzz input.
//!
//! The process allocator is wrapped by [`cap::Cap`]; [`bounded`] sets its limit to what is
//! allocated now plus a budget proportional to the input. A decoder that allocates more (say,
//! because it trusted a length read from the input) gets an allocation failure, which aborts
//! the process: a crash for the fuzzer, a failed run for the corpus replayer.

use cap::Cap;
use std::alloc::System;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Bytes a target may allocate per input byte. Decoders keep the input, the decoded value and
/// a re-encoding alive at once, and TOML/JSON parsers hold tables and strings: 64 covers those
/// with a wide margin; a decoder that believed a claimed length would need far more.
pub const MEMORY_PER_INPUT_BYTE: usize = 64;

/// Bytes a target may allocate whatever the input's size: serde pre-allocates at most 1 MiB per
/// sequence from a claimed length (`size_hint::cautious`), read_frame a 64 KiB first chunk,
/// signature verification and state-root hashing their tables.
pub const MEMORY_SLACK_BYTES: usize = 32 << 20;

/// Runs `f` allowing it to allocate at most the budget of an input of `input_len` bytes.
pub fn bounded<R>(input_len: usize, f: impl FnOnce() -> R) -> R {
    let budget = input_len
        .saturating_mul(MEMORY_PER_INPUT_BYTE)
        .saturating_add(MEMORY_SLACK_BYTES);
    let limit = ALLOCATOR.allocated().saturating_add(budget);
    ALLOCATOR
        .set_limit(limit)
        .unwrap_or_else(|()| panic!("a limit of {limit} bytes is below what is allocated"));
    /// Lifts the limit on the way out, after a panic too (the replayer catches panics).
    struct Unlimit;
    impl Drop for Unlimit {
        fn drop(&mut self) {
            // Cannot fail: no limit is below what is allocated.
            let _ = ALLOCATOR.set_limit(usize::MAX);
        }
    }
    let _unlimit = Unlimit;
    f()
}

/// Bytes allocated now (for the tests of this module).
pub fn allocated() -> usize {
    ALLOCATOR.allocated()
}
