//! Which entries of one stream have reached every correct receiver: the benchmark's measure of
//! delivery, and the front the source paces itself against.
//!
//! Each correct receiver reports the indices it delivered ([`Completion::deliver`]); an entry is
//! *complete* once `target` receivers delivered it (every correct relay of the receiving cluster,
//! or one for OST, which promises no more). The tracker keeps one counter per index between the
//! front (the smallest incomplete index) and the highest index reported, so its memory is bounded
//! by the source's window. A delivery of an index that is already complete, or a counter going
//! past the target, is a duplicate delivery and is counted as such (a correct protocol has none).

use super::source::Doorbell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Indices this far past the front are refused (they cannot have been released; a bound on
/// memory should a bug report one).
const MAX_AHEAD: u64 = 1 << 24;

/// The counters, without locking: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracker {
    target: u32,
    front: u64,
    /// Receivers that delivered `front + i`.
    counts: VecDeque<u32>,
    completed: u64,
    duplicates: u64,
    refused: u64,
}

impl Tracker {
    /// Entries are complete once `target` (at least 1) receivers delivered them.
    pub fn new(target: u32) -> Self {
        Tracker {
            target: target.max(1),
            front: 0,
            counts: VecDeque::new(),
            completed: 0,
            duplicates: 0,
            refused: 0,
        }
    }

    /// One receiver delivered `k`. Returns whether the front advanced.
    pub fn deliver(&mut self, k: u64) -> bool {
        if k < self.front {
            self.duplicates += 1;
            return false;
        }
        let off = k - self.front;
        if off >= MAX_AHEAD {
            self.refused += 1;
            return false;
        }
        let off = off as usize;
        if self.counts.len() <= off {
            self.counts.resize(off + 1, 0);
        }
        let c = &mut self.counts[off];
        *c += 1;
        if *c == self.target {
            self.completed += 1;
        } else if *c > self.target {
            self.duplicates += 1;
        }
        let before = self.front;
        while self.counts.front().is_some_and(|&c| c >= self.target) {
            self.counts.pop_front();
            self.front += 1;
        }
        self.front > before
    }

    /// The smallest index not yet complete.
    pub fn front(&self) -> u64 {
        self.front
    }

    /// Entries complete so far (in any order).
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Deliveries beyond one per receiver and entry.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Indices refused as impossibly far ahead.
    pub fn refused(&self) -> u64 {
        self.refused
    }
}

/// A [`Tracker`] shared by the relays of the receiving cluster and the source thread.
#[derive(Debug)]
pub struct Completion {
    tracker: Mutex<Tracker>,
    doorbell: Arc<Doorbell>,
}

impl Completion {
    /// A tracker for `target` receivers; `doorbell` is rung when the front advances.
    pub fn new(target: u32, doorbell: Arc<Doorbell>) -> Self {
        Completion {
            tracker: Mutex::new(Tracker::new(target)),
            doorbell,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One receiver delivered every index in `ks`.
    pub fn deliver_all(&self, ks: &[u64]) {
        let mut advanced = false;
        {
            let mut t = self.lock();
            for &k in ks {
                advanced |= t.deliver(k);
            }
        }
        if advanced {
            self.doorbell.ring();
        }
    }

    /// The smallest incomplete index.
    pub fn front(&self) -> u64 {
        self.lock().front()
    }

    /// A copy of the counters.
    pub fn snapshot(&self) -> Tracker {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_completes_when_every_receiver_has_it() {
        let mut t = Tracker::new(3);
        assert!(!t.deliver(0));
        assert!(!t.deliver(0));
        assert_eq!(t.completed(), 0);
        assert!(t.deliver(0));
        assert_eq!((t.front(), t.completed()), (1, 1));
    }

    #[test]
    fn out_of_order_completions_count_and_the_front_jumps() {
        let mut t = Tracker::new(2);
        for k in [2, 2, 1, 1] {
            assert!(!t.deliver(k));
        }
        assert_eq!((t.front(), t.completed()), (0, 2));
        t.deliver(0);
        assert!(t.deliver(0));
        assert_eq!((t.front(), t.completed()), (3, 3));
        assert_eq!(t.duplicates(), 0);
    }

    #[test]
    fn duplicates_and_impossible_indices_are_counted_not_trusted() {
        let mut t = Tracker::new(1);
        t.deliver(0);
        t.deliver(0);
        assert_eq!((t.completed(), t.duplicates()), (1, 1));
        let mut t = Tracker::new(2);
        t.deliver(5);
        t.deliver(5);
        t.deliver(5);
        assert_eq!((t.completed(), t.duplicates()), (1, 1));
        assert!(!t.deliver(u64::MAX));
        assert_eq!(t.refused(), 1);
        assert!(t.counts.len() < 10, "no giant allocation");
    }
}
