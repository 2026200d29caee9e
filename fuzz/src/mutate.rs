//! Seeded byte mutations for the stable-Rust corpus replayer (the coverage-guided runs use
//! AFL's own). The same seed gives the same sequence of inputs, so a failure replays exactly.

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Longest input a mutation produces, in bytes (inputs grow by insertions and splices).
pub const MAX_MUTANT_BYTES: usize = 1 << 20;

/// Byte values that sit on the edges of varints, lengths, tags and UTF-8.
const INTERESTING: [u8; 10] = [0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xc0, 0xfe, 0xff, b'"'];

/// A deterministic source of mutants of a corpus.
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    /// A mutator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A mutant of one of `corpus` (which must not be empty): 1 to 8 stacked edits.
    pub fn mutant(&mut self, corpus: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = corpus[self.rng.random_range(0..corpus.len())].clone();
        for _ in 0..self.rng.random_range(1..=8) {
            self.edit(&mut bytes, corpus);
        }
        bytes.truncate(MAX_MUTANT_BYTES);
        bytes
    }

    fn pos(&mut self, len: usize) -> usize {
        self.rng.random_range(0..=len)
    }

    fn edit(&mut self, bytes: &mut Vec<u8>, corpus: &[Vec<u8>]) {
        let len = bytes.len();
        match self.rng.random_range(0..9) {
            0 if len > 0 => {
                let i = self.rng.random_range(0..len);
                bytes[i] ^= 1 << self.rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = self.rng.random_range(0..len);
                bytes[i] = INTERESTING[self.rng.random_range(0..INTERESTING.len())];
            }
            2 if len > 0 => {
                let i = self.rng.random_range(0..len);
                bytes[i] = self.rng.random();
            }
            3 => {
                let at = self.pos(len);
                let n = self.rng.random_range(1..=16);
                let mut fresh = vec![0u8; n];
                self.rng.fill_bytes(&mut fresh);
                bytes.splice(at..at, fresh);
            }
            4 if len > 0 => {
                let at = self.rng.random_range(0..len);
                let end = (at + self.rng.random_range(1..=32)).min(len);
                bytes.drain(at..end);
            }
            5 => {
                let cut = self.pos(len);
                bytes.truncate(cut);
            }
            6 if len > 0 => {
                // Duplicate a chunk: repeated fields, longer sequences.
                let at = self.rng.random_range(0..len);
                let end = (at + self.rng.random_range(1..=64)).min(len);
                let chunk = bytes[at..end].to_vec();
                let to = self.pos(len);
                bytes.splice(to..to, chunk);
            }
            7 => {
                // Splice in a chunk of another input of the corpus.
                let other = &corpus[self.rng.random_range(0..corpus.len())];
                if !other.is_empty() {
                    let at = self.rng.random_range(0..other.len());
                    let end = (at + self.rng.random_range(1..=64)).min(other.len());
                    let to = self.pos(len);
                    bytes.splice(to..to, other[at..end].iter().copied());
                }
            }
            _ if len >= 4 => {
                // Overwrite a u32-sized window with an edge value (big-endian length prefixes).
                let at = self.rng.random_range(0..=len - 4);
                let value: u32 = match self.rng.random_range(0..4) {
                    0 => 0,
                    1 => u32::MAX,
                    2 => 1 << self.rng.random_range(0..32),
                    _ => self.rng.random(),
                };
                bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            _ => bytes.push(self.rng.random()),
        }
    }
}
