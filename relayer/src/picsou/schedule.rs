//! Who sends entry `k` first, and to whom (§4.1, stake-aware).
//!
//! A quantum of `q = min(lcm(Δ_s, Δ_r), quantum_max)` slots is apportioned among the senders and
//! among the receivers by Hamilton's method (largest remainder first, ties to the lower index; a
//! node may get zero slots). Each side's slots are laid out interleaved by smooth weighted
//! round-robin, so one node's slots are spread over the quantum instead of bunched. Then
//! `s(k) = S[k mod q]` and `r(k) = R[(k mod q + ⌊k/q⌋) mod q]`: each sender slot walks through all
//! receiver slots over `q` rounds. With unit stakes and `n_s = n_r = n` this is exactly the paper's
//! `s(k) = k mod n`, `r(k) = (k + ⌊k/n⌋) mod n`.
//!
//! Tables are `O(q)`; nothing grows with `q²`.

use crate::protocol::ClusterConfig;
use crate::types::{NodeIdx, Stake, StreamIndex};
use sha2::{Digest, Sha256};

/// Hamilton (largest remainder) apportionment of `slots` among `stakes`.
///
/// Every node gets `⌊slots·δ_i/Δ⌋`; the leftover slots go one each to the largest remainders,
/// ties to the lower index.
pub fn apportion(stakes: &[Stake], slots: u64) -> Vec<u64> {
    let total: u128 = stakes.iter().map(|s| u128::from(s.0)).sum();
    if total == 0 {
        return vec![0; stakes.len()];
    }
    let mut counts = Vec::with_capacity(stakes.len());
    let mut remainders = Vec::with_capacity(stakes.len());
    for (i, s) in stakes.iter().enumerate() {
        let scaled = u128::from(slots) * u128::from(s.0);
        counts.push((scaled / total) as u64);
        remainders.push((scaled % total, i));
    }
    let given: u64 = counts.iter().sum();
    // Largest remainder first; equal remainders go to the lower index.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take((slots - given) as usize) {
        counts[i] += 1;
    }
    counts
}

/// Lays out `counts[i]` slots for each node `order[i]` by smooth weighted round-robin: at each
/// step every node gains its weight, the node with the most credit (first in `order` on ties)
/// takes the slot and pays the total.
pub fn interleave(counts: &[u64], order: &[NodeIdx]) -> Vec<NodeIdx> {
    let total: i128 = counts.iter().map(|&c| i128::from(c)).sum();
    let mut credit = vec![0i128; counts.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = usize::MAX;
        for (pos, &node) in order.iter().enumerate() {
            let i = node.as_usize();
            credit[i] += i128::from(counts[i]);
            if counts[i] > 0 && (best == usize::MAX || credit[i] > credit[order[best].as_usize()]) {
                best = pos;
            }
        }
        let pick = order[best];
        credit[pick.as_usize()] -= total;
        out.push(pick);
    }
    out
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// `lcm(a, b)`, saturating at `u64::MAX`.
pub fn lcm(a: u64, b: u64) -> u64 {
    if a == 0 || b == 0 {
        return 0;
    }
    (a / gcd(a, b)).saturating_mul(b)
}

/// The order in which a cluster's nodes take their slots. With a zero seed it is index order (the
/// paper's layout); otherwise it is derived from a public seed every node shares, so no node can
/// choose its position next to an accomplice.
pub fn slot_order(n: usize, seed: u64, salt: u8) -> Vec<NodeIdx> {
    let mut order: Vec<NodeIdx> = (0..n as u32).map(NodeIdx).collect();
    if seed != 0 {
        order.sort_by_key(|i| {
            let d: [u8; 32] = Sha256::new()
                .chain_update(b"PICSOU-SLOTS")
                .chain_update(seed.to_le_bytes())
                .chain_update([salt])
                .chain_update(i.0.to_le_bytes())
                .finalize()
                .into();
            (d, i.0)
        });
    }
    order
}

/// The original (sender, receiver) of every index of one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    senders: Vec<NodeIdx>,
    receivers: Vec<NodeIdx>,
}

impl Schedule {
    /// The schedule of the stream from `senders` to `receivers`.
    pub fn new(
        senders: &ClusterConfig,
        receivers: &ClusterConfig,
        quantum_max: u64,
        seed: u64,
    ) -> Self {
        let q = lcm(senders.total().0, receivers.total().0)
            .min(quantum_max)
            .max(1);
        let s_counts = apportion(&senders.stakes, q);
        let r_counts = apportion(&receivers.stakes, q);
        Schedule {
            senders: interleave(&s_counts, &slot_order(senders.n(), seed, 0)),
            receivers: interleave(&r_counts, &slot_order(receivers.n(), seed, 1)),
        }
    }

    /// The quantum `q`.
    pub fn quantum(&self) -> u64 {
        self.senders.len() as u64
    }

    /// Original sender of `k`.
    pub fn sender(&self, k: StreamIndex) -> NodeIdx {
        self.senders[(k.0 % self.quantum()) as usize]
    }

    /// Original receiver of `k`.
    pub fn receiver(&self, k: StreamIndex) -> NodeIdx {
        let q = self.quantum();
        self.receivers[((k.0 % q + (k.0 / q) % q) % q) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Side;
    use proptest::prelude::*;

    fn stakes(v: &[u64]) -> Vec<Stake> {
        v.iter().map(|&s| Stake(s)).collect()
    }

    #[test]
    fn apportion_matches_worked_examples() {
        assert_eq!(apportion(&stakes(&[97, 1, 1, 1]), 10), vec![10, 0, 0, 0]);
        assert_eq!(
            apportion(&stakes(&[214, 262, 262, 262]), 100),
            vec![22, 26, 26, 26]
        );
        // Ties in remainder go to the lower index.
        assert_eq!(apportion(&stakes(&[1, 1, 1]), 2), vec![1, 1, 0]);
        assert_eq!(apportion(&stakes(&[1, 1, 1, 1]), 4), vec![1, 1, 1, 1]);
    }

    #[test]
    fn unit_stake_equal_sizes_is_the_papers_formula() {
        for n in [4usize, 7, 19] {
            let a = ClusterConfig::bft(Side::A, n);
            let b = ClusterConfig::bft(Side::B, n);
            let s = Schedule::new(&a, &b, 1 << 16, 0);
            assert_eq!(s.quantum(), n as u64);
            for k in 0..(5 * n * n) as u64 {
                let n = n as u64;
                assert_eq!(s.sender(StreamIndex(k)).0 as u64, k % n, "s({k})");
                assert_eq!(
                    s.receiver(StreamIndex(k)).0 as u64,
                    (k + k / n) % n,
                    "r({k})"
                );
            }
        }
    }

    #[test]
    fn slots_are_interleaved_not_bunched() {
        let order: Vec<NodeIdx> = (0..3).map(NodeIdx).collect();
        let layout = interleave(&[4, 2, 2], &order);
        let ids: Vec<u32> = layout.iter().map(|n| n.0).collect();
        assert_eq!(ids, vec![0, 1, 2, 0, 0, 1, 2, 0]);
    }

    #[test]
    fn a_public_seed_changes_the_order_deterministically() {
        let a = slot_order(7, 42, 0);
        assert_eq!(a, slot_order(7, 42, 0));
        assert_ne!(a, slot_order(7, 0, 0));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, slot_order(7, 0, 0));
    }

    proptest! {
        #[test]
        fn apportionment_is_exact_and_within_one_of_quota(
            raw in prop::collection::vec(1u64..1000, 1..30),
            slots in 1u64..5000,
        ) {
            let st = stakes(&raw);
            let counts = apportion(&st, slots);
            prop_assert_eq!(counts.iter().sum::<u64>(), slots);
            let total: u64 = raw.iter().sum();
            for (c, s) in counts.iter().zip(&raw) {
                let quota = slots as f64 * *s as f64 / total as f64;
                prop_assert!((*c as f64 - quota).abs() < 1.0 + 1e-9);
            }
        }

        #[test]
        fn every_node_gets_its_share_of_every_quantum(
            sa in prop::collection::vec(1u64..20, 1..12),
            sb in prop::collection::vec(1u64..20, 1..12),
            seed in 0u64..3,
        ) {
            let a = ClusterConfig { side: Side::A, stakes: stakes(&sa), u: Stake(0), r: Stake(0) };
            let b = ClusterConfig { side: Side::B, stakes: stakes(&sb), u: Stake(0), r: Stake(0) };
            let s = Schedule::new(&a, &b, 1 << 12, seed);
            let q = s.quantum();
            prop_assert_eq!(q, lcm(a.total().0, b.total().0).min(1 << 12));
            let want_s = apportion(&a.stakes, q);
            let want_r = apportion(&b.stakes, q);
            let mut got_s = vec![0u64; sa.len()];
            let mut got_r = vec![0u64; sb.len()];
            // Over q consecutive indices every sender slot is used once; over q² indices every
            // receiver slot is used q times.
            for k in 0..q {
                got_s[s.sender(StreamIndex(k)).as_usize()] += 1;
            }
            for k in 0..q * q.min(64) {
                got_r[s.receiver(StreamIndex(k)).as_usize()] += 1;
            }
            prop_assert_eq!(got_s, want_s);
            let rounds = q.min(64);
            let want_r_scaled: Vec<u64> = want_r.iter().map(|c| c * rounds).collect();
            prop_assert_eq!(got_r, want_r_scaled);
        }
    }
}
