//! The slot-choice algorithm (the index allocator).
//!
//! Each slot is *used*, *unused-cold* (never used, or its module affinity
//! forgotten) or *unused-warm* (remembers the module it last held, whose
//! state — for memories, a mapped image — is still there). To allocate for a
//! module `M`:
//!
//! 1. the most recently freed warm slot affine to `M` (an affinity hit);
//! 2. else, while fewer than `max_unused_warm_slots` slots are warm, a cold slot;
//! 3. else the least recently used warm slot of another module;
//! 4. else any cold slot.
//!
//! With `max_unused_warm_slots = 0` rule 2 never applies, so the set of slots
//! ever used equals the peak concurrency.
//!
//! The slots are split into shards (one per core). A thread allocates from
//! its home shard and steals from the others only when that is empty, so
//! threads instantiating in parallel do not serialize on one lock. Each shard
//! holds an equal share of the warm-slot budget.

use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A hasher for the allocator's `u64` affinity keys (module id and index):
/// one multiply, instead of SipHash on the instantiation path.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ *b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A slot index within one pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SlotId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Used,
    Cold,
    Warm { affinity: u64, stamp: u64 },
}

struct Shard {
    first: u32,
    states: Vec<State>,
    cold: Vec<u32>,
    warm: HashMap<u64, Vec<u32>, BuildHasherDefault<KeyHasher>>,
    lru: BTreeMap<u64, u32>,
    next_stamp: u64,
    max_warm: usize,
}

impl Shard {
    fn take_warm(&mut self, local: u32) {
        if let State::Warm { affinity, stamp } = self.states[local as usize] {
            self.lru.remove(&stamp);
            if let Some(list) = self.warm.get_mut(&affinity) {
                list.retain(|s| *s != local);
                if list.is_empty() {
                    self.warm.remove(&affinity);
                }
            }
        }
        self.states[local as usize] = State::Used;
    }

    fn alloc(&mut self, affinity: Option<u64>) -> Option<(u32, bool)> {
        if let Some(a) = affinity
            && let Some(&local) = self.warm.get(&a).and_then(|l| l.last())
        {
            self.take_warm(local);
            return Some((local, true));
        }
        if self.lru.len() < self.max_warm
            && let Some(local) = self.cold.pop()
        {
            self.states[local as usize] = State::Used;
            return Some((local, false));
        }
        if let Some((_, &local)) = self.lru.iter().next() {
            self.take_warm(local);
            return Some((local, false));
        }
        let local = self.cold.pop()?;
        self.states[local as usize] = State::Used;
        Some((local, false))
    }

    fn free(&mut self, local: u32, affinity: Option<u64>) {
        debug_assert_eq!(self.states[local as usize], State::Used, "slot freed twice");
        match affinity {
            Some(a) => {
                let stamp = self.next_stamp;
                self.next_stamp += 1;
                self.states[local as usize] = State::Warm { affinity: a, stamp };
                self.warm.entry(a).or_default().push(local);
                self.lru.insert(stamp, local);
            }
            None => {
                self.states[local as usize] = State::Cold;
                self.cold.push(local);
            }
        }
        // Never keep more warm slots than the budget: the least recently used
        // one forgets its module. It goes on top of the cold stack, so slots
        // that were used before are reused before untouched ones.
        while self.lru.len() > self.max_warm {
            let (_, &oldest) = self.lru.iter().next().expect("non-empty");
            self.take_warm(oldest);
            self.states[oldest as usize] = State::Cold;
            self.cold.push(oldest);
        }
    }
}

/// One shard and its warm count, on its own cache lines so threads working
/// on different shards never write the same line.
#[repr(align(128))]
struct PaddedShard {
    shard: Mutex<Shard>,
    warm: AtomicUsize,
}

/// Hands out slot indices `0..n` with module affinity.
pub(crate) struct IndexAllocator {
    shards: Box<[PaddedShard]>,
    per_shard: u32,
}

/// This thread's home shard index (before reduction modulo a shard count);
/// threads get consecutive values in the order they first ask.
pub(crate) fn home_index() -> usize {
    HOME.with(|h| {
        if h.get() == usize::MAX {
            h.set(NEXT_HOME.fetch_add(1, Ordering::Relaxed));
        }
        h.get()
    })
}

thread_local! {
    static HOME: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_HOME: AtomicUsize = AtomicUsize::new(0);

impl IndexAllocator {
    /// An allocator of `n` slots in `shards` shards, keeping at most
    /// `max_warm` slots warm in total.
    pub(crate) fn new(n: u32, max_warm: u32, shards: usize) -> IndexAllocator {
        let shards = shards.clamp(1, n.max(1) as usize);
        let per_shard = n.div_ceil(shards as u32).max(1);
        let mut list = Vec::with_capacity(shards);
        for k in 0..shards as u32 {
            let first = k * per_shard;
            let count = n.saturating_sub(first).min(per_shard);
            let warm_share =
                max_warm as usize / shards + usize::from((k as usize) < max_warm as usize % shards);
            list.push(PaddedShard {
                shard: Mutex::new(Shard {
                    first,
                    states: vec![State::Cold; count as usize],
                    cold: (0..count).rev().collect(),
                    warm: HashMap::default(),
                    lru: BTreeMap::new(),
                    next_stamp: 0,
                    max_warm: warm_share,
                }),
                warm: AtomicUsize::new(0),
            });
        }
        IndexAllocator { shards: list.into_boxed_slice(), per_shard }
    }

    fn home(&self) -> usize {
        home_index() % self.shards.len()
    }

    /// A slot for a module with `affinity` (`None`: no preference), and
    /// whether it is an affinity hit; `None` when every slot is in use.
    pub(crate) fn alloc(&self, affinity: Option<u64>) -> Option<(SlotId, bool)> {
        let home = self.home();
        for k in 0..self.shards.len() {
            let i = (home + k) % self.shards.len();
            let padded = &self.shards[i];
            let mut shard = padded.shard.lock();
            if let Some((local, hit)) = shard.alloc(affinity) {
                padded.warm.store(shard.lru.len(), Ordering::Relaxed);
                return Some((SlotId(shard.first + local), hit));
            }
        }
        None
    }

    /// Returns `slot`; with an affinity it stays warm for that module.
    pub(crate) fn free(&self, slot: SlotId, affinity: Option<u64>) {
        let padded = &self.shards[(slot.0 / self.per_shard) as usize];
        let mut s = padded.shard.lock();
        let local = slot.0 - s.first;
        s.free(local, affinity);
        padded.warm.store(s.lru.len(), Ordering::Relaxed);
    }

    /// Unused warm slots right now.
    pub(crate) fn num_warm(&self) -> usize {
        self.shards.iter().map(|s| s.warm.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_affinity_then_cold_then_lru() {
        let a = IndexAllocator::new(4, 2, 1);
        let (s0, hit) = a.alloc(Some(1)).unwrap();
        assert!(!hit);
        a.free(s0, Some(1));
        let (again, hit) = a.alloc(Some(1)).unwrap();
        assert_eq!((again, hit), (s0, true), "warm slot of the same module");
        a.free(again, Some(1));
        let (other, hit) = a.alloc(Some(2)).unwrap();
        assert!(other != s0 && !hit, "a cold slot while under the warm budget");
        a.free(other, Some(2));
        assert_eq!(a.num_warm(), 2);
        // Warm budget (2) reached: a third module takes the LRU warm slot (module 1's).
        let (third, _) = a.alloc(Some(3)).unwrap();
        assert_eq!(third, s0);
        assert_eq!(a.num_warm(), 1);
        // Freeing past the budget demotes the least recently used warm slot.
        let (fourth, _) = a.alloc(Some(4)).unwrap();
        a.free(third, Some(3));
        a.free(fourth, Some(4));
        assert_eq!(a.num_warm(), 2, "never more warm slots than the budget");
        assert!(!a.alloc(Some(2)).unwrap().1, "module 2's slot was demoted");
    }

    #[test]
    fn with_no_warm_budget_slots_used_equal_peak_concurrency() {
        let a = IndexAllocator::new(10, 0, 1);
        let mut seen = std::collections::HashSet::new();
        for round in 0..50u64 {
            let x = a.alloc(Some(round % 3)).unwrap().0;
            let y = a.alloc(Some(round % 5)).unwrap().0;
            seen.insert(x);
            seen.insert(y);
            a.free(x, Some(round % 3));
            a.free(y, Some(round % 5));
        }
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn exhaustion_and_stealing_across_shards() {
        let a = IndexAllocator::new(3, 100, 2);
        let slots: Vec<_> = (0..3).map(|_| a.alloc(None).unwrap().0).collect();
        assert!(a.alloc(None).is_none());
        let mut sorted = slots.clone();
        sorted.sort();
        assert_eq!(sorted, vec![SlotId(0), SlotId(1), SlotId(2)]);
        a.free(slots[2], None);
        assert_eq!(a.alloc(None).unwrap().0, slots[2]);
    }
}
