//! A bounded map of two generations, the eviction rule of both per-thread memos
//! ([`crate::key_memo`], and `verdict_memo` for the simulator).
//!
//! Why generations instead of an LRU list: a lookup that hits the older generation moves the
//! entry to the current one, so what is used stays, and eviction is one `mem::take` when the
//! current generation is full, with no per-entry bookkeeping. At most `2 * limit` entries.

use std::collections::HashMap;
use std::hash::Hash;

/// Two generations of at most `limit` entries each.
pub(crate) struct Generations<K, V> {
    limit: usize,
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
}

impl<K: Hash + Eq + Copy, V: Copy> Generations<K, V> {
    /// An empty map whose generations hold at most `limit` entries each.
    pub(crate) fn new(limit: usize) -> Self {
        assert!(limit > 0, "a generation must hold an entry");
        Generations {
            limit,
            current: HashMap::new(),
            previous: HashMap::new(),
        }
    }

    /// The value for `key`, moved to the current generation if it was in the older one.
    pub(crate) fn get(&mut self, key: &K) -> Option<V> {
        if let Some(value) = self.current.get(key) {
            return Some(*value);
        }
        let value = self.previous.remove(key)?;
        self.insert(*key, value);
        Some(value)
    }

    /// Stores `value`; a full current generation becomes the older one first (dropping the
    /// oldest).
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.current.len() >= self.limit {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    /// Entries held (at most `2 * limit`).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_two_generations_and_keeps_what_is_used() {
        let mut map = Generations::new(4);
        for i in 0..4u32 {
            map.insert(i, i * 10);
        }
        map.insert(4, 40); // 0..4 become the older generation
        assert_eq!(map.get(&1), Some(10)); // moved to the current one
        for i in 5..8u32 {
            map.insert(i, i * 10); // fills the current generation: 4, 1, 5, 6; then 7 evicts
        }
        assert!(map.len() <= 8, "{} held", map.len());
        assert_eq!(map.get(&1), Some(10), "a used entry survives one eviction");
        assert_eq!(map.get(&0), None, "an unused one does not");
    }
}
