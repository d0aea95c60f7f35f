//! Stake quorums: the QUACK (§5), resend levels (§6) and §4.3 claims are all "the largest value
//! that at least `threshold` stake of distinct nodes vouches for".
//!
//! Computed raft-style: sort the per-node values, walk from the top accumulating stake, stop at the
//! threshold. `O(n log n)` per recomputation, `n` the cluster size; no history is scanned.

use crate::types::Stake;

/// The largest `v` such that the nodes whose value is `≥ v` hold at least `threshold` stake, or
/// `None` if all nodes together hold less.
///
/// `values` yields `(value, stake)` per distinct node.
pub fn quorum_value(
    values: impl IntoIterator<Item = (u64, Stake)>,
    threshold: Stake,
) -> Option<u64> {
    let mut v: Vec<(u64, Stake)> = values.into_iter().collect();
    v.sort_unstable_by_key(|&(value, _)| std::cmp::Reverse(value));
    let mut acc = 0u64;
    for (value, stake) in v {
        acc = acc.saturating_add(stake.0);
        if acc >= threshold.0 {
            return Some(value);
        }
    }
    None
}

/// The QUACK of one stream as seen by one sender: the highest cumulative ack heard from each
/// receiver, and the stake quorum over them.
#[derive(Clone, Debug)]
pub struct QuackTracker {
    stakes: Vec<Stake>,
    highest: Vec<u64>,
    threshold: Stake,
    floor: u64,
    quack: u64,
}

impl QuackTracker {
    /// A tracker for receivers with these stakes; the QUACK needs `u_r + 1` stake. `floor` is a
    /// QUACK already known (e.g. recovered from disk).
    pub fn new(stakes: Vec<Stake>, u_r: Stake, floor: u64) -> Self {
        let n = stakes.len();
        QuackTracker {
            stakes,
            highest: vec![0; n],
            threshold: Stake(u_r.0 + 1),
            floor,
            quack: floor,
        }
    }

    /// Current QUACK: every index below it is held by at least one correct receiver.
    pub fn quack(&self) -> u64 {
        self.quack
    }

    /// Highest cumulative ack heard from receiver `j`.
    pub fn highest(&self, j: usize) -> u64 {
        self.highest[j]
    }

    /// Records that receiver `j` holds every index below `next`. Lower values than already heard
    /// are ignored (acks are monotone). Returns the new QUACK if it advanced.
    pub fn observe(&mut self, j: usize, next: u64) -> Option<u64> {
        if j >= self.highest.len() || next <= self.highest[j] {
            return None;
        }
        self.highest[j] = next;
        let q = quorum_value(
            self.highest
                .iter()
                .copied()
                .zip(self.stakes.iter().copied()),
            self.threshold,
        )
        .unwrap_or(0)
        .max(self.floor);
        if q > self.quack {
            self.quack = q;
            Some(q)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(v: &[u64]) -> Vec<Stake> {
        v.iter().map(|&s| Stake(s)).collect()
    }

    /// One row: receiver stakes, `u_r`, acks in arrival order as (receiver, next), expected QUACK.
    type Row = (&'static [u64], u64, &'static [(usize, u64)], u64);

    #[test]
    fn quack_table() {
        let cases: &[Row] = &[
            // n = 4, f = 1: two receivers must hold an index.
            (&[1, 1, 1, 1], 1, &[(0, 10)], 0),
            (&[1, 1, 1, 1], 1, &[(0, 10), (1, 5)], 5),
            (&[1, 1, 1, 1], 1, &[(0, 10), (1, 5), (2, 7)], 7),
            // A lower ack from the same receiver changes nothing.
            (&[1, 1, 1, 1], 1, &[(0, 10), (1, 5), (1, 2)], 5),
            // Repeats of one receiver never make a quorum.
            (&[1, 1, 1, 1], 1, &[(0, 10), (0, 11), (0, 12)], 0),
            // Stake: a heavy receiver alone reaches u + 1.
            (&[4, 1, 1, 1], 4, &[(0, 9)], 0),
            (&[5, 1, 1, 1], 4, &[(0, 9)], 9),
            (&[4, 1, 1, 1], 4, &[(0, 9), (3, 4)], 4),
            // CFT (u = 1 of 3 here): two of three.
            (&[1, 1, 1], 1, &[(2, 3), (1, 8)], 3),
        ];
        for (stakes, u, acks, want) in cases {
            let mut t = QuackTracker::new(st(stakes), Stake(*u), 0);
            for &(j, next) in *acks {
                t.observe(j, next);
            }
            assert_eq!(t.quack(), *want, "stakes {stakes:?} u {u} acks {acks:?}");
        }
    }

    #[test]
    fn floor_is_kept() {
        let mut t = QuackTracker::new(st(&[1, 1, 1, 1]), Stake(1), 50);
        assert_eq!(t.quack(), 50);
        assert_eq!(t.observe(0, 10), None);
        t.observe(1, 10);
        assert_eq!(t.quack(), 50);
        t.observe(0, 60);
        assert_eq!(t.observe(1, 70), Some(60));
    }

    #[test]
    fn quorum_value_without_enough_stake_is_none() {
        assert_eq!(quorum_value([(3, Stake(1))], Stake(2)), None);
        assert_eq!(
            quorum_value([(3, Stake(1)), (1, Stake(1))], Stake(2)),
            Some(1)
        );
    }
}
