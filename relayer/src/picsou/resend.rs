//! Who resends entry `k` to whom (§4.2, §5.3): a deterministic list of (sender, receiver) role
//! pairs every node computes alike.
//!
//! Pair 0 is the original `(s(k), r(k))`. Further pairs walk the senders from `s(k)` and the
//! receivers from `r(k)` in index order (so resend load rotates with `k`), in one of two ways,
//! each guaranteeing that whatever fails within the bounds, some pair is correct at both ends;
//! the list is the shorter of the two (the stake walk on a tie):
//!
//! - **Stake walk.** Both clusters are scaled to a common total (`Δ_s·Δ_r`: sender stake is
//!   multiplied by `Δ_r`, receiver stake by `Δ_s`); each pair covers the smaller of its sender's
//!   and its receiver's remaining scaled stake, and the walk moves past whichever is used up.
//!   Pairs are added until the covered stake exceeds `u_s·Δ_r + u_r·Δ_s`, the most that pairs
//!   with a faulty end can cover. Few pairs when a few nodes hold most stake.
//! - **Distinct ends.** Pair `i` is `(s(k)+i, r(k)+i)`: no node is in two pairs, so a faulty
//!   sender or receiver spoils one pair at most. Pairs are added until there are more than the
//!   most listed senders that can fail together (the most of them whose stakes sum to at most
//!   `u_s`) plus the same for receivers. With unit stakes that is exactly `u_s + u_r + 1`, also
//!   when the clusters differ in size, where the stake walk splits nodes across pairs and
//!   needs more (6 senders, 4 receivers, `u = 1` each: 4 pairs instead of 3).
//!
//! With unit stakes and equal sizes both give the same `u_s + u_r + 1` pairs.

use crate::picsou::schedule::Schedule;
use crate::protocol::ClusterConfig;
use crate::types::{NodeIdx, StreamIndex};

/// One resend role: `sender` sends the entry to `receiver`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RolePair {
    /// The sending relay (of the source cluster).
    pub sender: NodeIdx,
    /// The receiving relay (of the destination cluster).
    pub receiver: NodeIdx,
}

/// The role pairs of `k`, pair 0 first.
pub fn role_pairs(
    schedule: &Schedule,
    senders: &ClusterConfig,
    receivers: &ClusterConfig,
    k: StreamIndex,
) -> Vec<RolePair> {
    let walk = stake_walk(schedule, senders, receivers, k);
    match distinct_ends(schedule, senders, receivers, k) {
        Some(distinct) if distinct.len() < walk.len() => distinct,
        _ => walk,
    }
}

/// How many of `sorted` (ascending) can fail together within `u`: the smallest ones first.
pub(crate) fn most_failing(sorted: &[u64], u: u64) -> usize {
    let mut sum = 0u64;
    sorted
        .iter()
        .take_while(|&&s| {
            sum = sum.saturating_add(s);
            sum <= u
        })
        .count()
}

/// Pairs `(s(k)+i, r(k)+i)` until no failure within the bounds spoils them all; `None` if the
/// smaller cluster runs out first.
fn distinct_ends(
    schedule: &Schedule,
    senders: &ClusterConfig,
    receivers: &ClusterConfig,
    k: StreamIndex,
) -> Option<Vec<RolePair>> {
    let (ns, nr) = (senders.n(), receivers.n());
    let (s0, r0) = (
        schedule.sender(k).as_usize(),
        schedule.receiver(k).as_usize(),
    );
    let mut pairs = Vec::new();
    let (mut s_stakes, mut r_stakes) = (Vec::new(), Vec::new());
    for i in 0..ns.min(nr) {
        let (s, r) = ((s0 + i) % ns, (r0 + i) % nr);
        pairs.push(RolePair {
            sender: NodeIdx(s as u32),
            receiver: NodeIdx(r as u32),
        });
        for (sorted, stake) in [
            (&mut s_stakes, senders.stakes[s].0),
            (&mut r_stakes, receivers.stakes[r].0),
        ] {
            let at = sorted.partition_point(|&x| x <= stake);
            sorted.insert(at, stake);
        }
        let spoiled = most_failing(&s_stakes, senders.u.0) + most_failing(&r_stakes, receivers.u.0);
        if pairs.len() > spoiled {
            return Some(pairs);
        }
    }
    None
}

/// The stake walk (see the module doc).
fn stake_walk(
    schedule: &Schedule,
    senders: &ClusterConfig,
    receivers: &ClusterConfig,
    k: StreamIndex,
) -> Vec<RolePair> {
    let (ds, dr) = (
        u128::from(senders.total().0),
        u128::from(receivers.total().0),
    );
    let bound = u128::from(senders.u.0) * dr + u128::from(receivers.u.0) * ds;
    let (ns, nr) = (senders.n(), receivers.n());
    let (s0, r0) = (
        schedule.sender(k).as_usize(),
        schedule.receiver(k).as_usize(),
    );
    let sender_weight = |i: usize| u128::from(senders.stakes[i].0) * dr;
    let receiver_weight = |j: usize| u128::from(receivers.stakes[j].0) * ds;

    let mut pairs = Vec::new();
    let (mut si, mut ri) = (0usize, 0usize);
    let (mut s_left, mut r_left) = (sender_weight(s0), receiver_weight(r0));
    let mut covered = 0u128;
    while covered <= bound && si < ns && ri < nr {
        let (s, r) = ((s0 + si) % ns, (r0 + ri) % nr);
        pairs.push(RolePair {
            sender: NodeIdx(s as u32),
            receiver: NodeIdx(r as u32),
        });
        let c = s_left.min(r_left);
        covered += c;
        s_left -= c;
        r_left -= c;
        if s_left == 0 {
            si += 1;
            if si < ns {
                s_left = sender_weight((s0 + si) % ns);
            }
        }
        if r_left == 0 {
            ri += 1;
            if ri < nr {
                r_left = receiver_weight((r0 + ri) % nr);
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Side, Stake};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn unit_stake_gives_u_s_plus_u_r_plus_one_distinct_pairs() {
        for n in [4usize, 7, 10, 19, 100] {
            let a = ClusterConfig::bft(Side::A, n);
            let b = ClusterConfig::bft(Side::B, n);
            let sched = Schedule::new(&a, &b, 1 << 16, 0);
            for k in 0..(3 * n) as u64 {
                let pairs = role_pairs(&sched, &a, &b, StreamIndex(k));
                assert_eq!(pairs.len() as u64, a.u.0 + b.u.0 + 1, "n {n} k {k}");
                assert_eq!(pairs[0].sender, sched.sender(StreamIndex(k)));
                assert_eq!(pairs[0].receiver, sched.receiver(StreamIndex(k)));
                let s: BTreeSet<_> = pairs.iter().map(|p| p.sender).collect();
                let r: BTreeSet<_> = pairs.iter().map(|p| p.receiver).collect();
                assert_eq!(s.len(), pairs.len());
                assert_eq!(r.len(), pairs.len());
            }
        }
    }

    #[test]
    fn unit_stake_unequal_sizes_still_give_u_s_plus_u_r_plus_one_distinct_pairs() {
        // Wherever u_s + u_r + 1 relays fit on both sides.
        for (ns, nr) in [(6usize, 4usize), (4, 6), (7, 10), (10, 7), (13, 7), (4, 5)] {
            let a = ClusterConfig::bft(Side::A, ns);
            let b = ClusterConfig::bft(Side::B, nr);
            let sched = Schedule::new(&a, &b, 1 << 16, 0);
            for k in 0..(3 * ns * nr) as u64 {
                let pairs = role_pairs(&sched, &a, &b, StreamIndex(k));
                assert_eq!(
                    pairs.len() as u64,
                    a.u.0 + b.u.0 + 1,
                    "{ns}+{nr} k {k}: {pairs:?}"
                );
                assert_eq!(pairs[0].sender, sched.sender(StreamIndex(k)));
                assert_eq!(pairs[0].receiver, sched.receiver(StreamIndex(k)));
                let s: BTreeSet<_> = pairs.iter().map(|p| p.sender).collect();
                let r: BTreeSet<_> = pairs.iter().map(|p| p.receiver).collect();
                assert_eq!((s.len(), r.len()), (pairs.len(), pairs.len()));
            }
        }
    }

    #[test]
    fn a_heavy_node_keeps_the_stake_walk_short() {
        // One sender holds 97 of 100. With distinct ends, three light senders (within u = 33)
        // and a receiver could spoil four pairs, and 4 relays a side cannot give five: the stake
        // walk is used, and where the heavy sender sends first it needs three pairs, all its own.
        let a = cluster(Side::A, &[97, 1, 1, 1], 33);
        let b = ClusterConfig::bft(Side::B, 4);
        let sched = Schedule::new(&a, &b, 1 << 16, 0);
        for k in 0..400u64 {
            let k = StreamIndex(k);
            let pairs = role_pairs(&sched, &a, &b, k);
            assert_eq!(pairs, stake_walk(&sched, &a, &b, k), "k {k:?}");
            if sched.sender(k).0 == 0 {
                assert_eq!(pairs.len(), 3, "k {k:?}: {pairs:?}");
                assert!(pairs.iter().all(|p| p.sender.0 == 0), "k {k:?}: {pairs:?}");
            }
        }
    }

    #[test]
    fn resend_load_rotates_with_k() {
        let a = ClusterConfig::bft(Side::A, 4);
        let b = ClusterConfig::bft(Side::B, 4);
        let sched = Schedule::new(&a, &b, 1 << 16, 0);
        let firsts: BTreeSet<_> = (0..4)
            .map(|k| role_pairs(&sched, &a, &b, StreamIndex(k))[1].sender)
            .collect();
        assert_eq!(firsts.len(), 4);
    }

    fn cluster(side: Side, stakes: &[u64], u: u64) -> ClusterConfig {
        ClusterConfig {
            side,
            stakes: stakes.iter().map(|&s| Stake(s)).collect(),
            u: Stake(u),
            r: Stake(u),
        }
    }

    proptest! {
        /// Whatever set of nodes fails within the bounds, some pair is correct at both ends.
        #[test]
        fn some_pair_survives_any_failure_within_bounds(
            sa in prop::collection::vec(1u64..10, 1..9),
            sb in prop::collection::vec(1u64..10, 1..9),
            fail_a in prop::collection::vec(any::<bool>(), 9),
            fail_b in prop::collection::vec(any::<bool>(), 9),
            k in 0u64..1000,
        ) {
            let ta: u64 = sa.iter().sum();
            let tb: u64 = sb.iter().sum();
            let a = cluster(Side::A, &sa, (ta - 1) / 3);
            let b = cluster(Side::B, &sb, (tb - 1) / 3);
            let sched = Schedule::new(&a, &b, 1 << 12, 0);
            let pairs = role_pairs(&sched, &a, &b, StreamIndex(k));
            // Fail nodes greedily while staying within u.
            let pick = |c: &ClusterConfig, f: &[bool]| {
                let mut used = 0;
                let mut set = BTreeSet::new();
                for (i, s) in c.stakes.iter().enumerate() {
                    if f[i] && used + s.0 <= c.u.0 {
                        used += s.0;
                        set.insert(i as u32);
                    }
                }
                set
            };
            let (fa, fb) = (pick(&a, &fail_a), pick(&b, &fail_b));
            prop_assert!(pairs.iter().any(|p| !fa.contains(&p.sender.0) && !fb.contains(&p.receiver.0)),
                "pairs {:?} failed a {:?} b {:?}", pairs, fa, fb);
        }
    }
}
