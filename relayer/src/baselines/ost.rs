//! OST, one-shot: entry `k` goes from local node `k mod n_s` to remote node `k mod n_r`, once.
//!
//! No internal broadcast, no acks, no resends: every entry is delivered by exactly one receiver
//! if its two ends are correct, and by nobody otherwise. OST is not C3B; it is the throughput
//! upper bound the paper measures the other protocols against (shared design folder, §12).
//! Stake is ignored: the schedule counts nodes.
//!
//! Receiver `r` expects exactly the indices `k ≡ r (mod n_r)`: it tracks holes (and counts the
//! receive window) in that lane only, reports `next_expected` as the smallest index of its lane
//! not yet durable, and refuses any other index as `Malformed`.

use crate::baselines::common::{Core, Rules, forward_core_inputs, forward_outputs};
use crate::protocol::{Entry, EntryVerifier, Protocol, ProtocolKind, Recovered, Setup};
use crate::types::{NodeId, StreamIndex, Time};

/// One relay running OST.
#[derive(Debug)]
pub struct Ost {
    core: Core,
}

impl Ost {
    /// A relay running OST, seeded from what it recovered after a restart.
    pub fn new(setup: Setup, verifier: Box<dyn EntryVerifier>, recovered: Recovered) -> Self {
        let rules = Rules {
            kind: ProtocolKind::Ost,
            broadcast: false,
            lanes: true,
            ack_to: 0,
        };
        Ost {
            core: Core::new(setup, verifier, &recovered, rules),
        }
    }

    /// The (sender, receiver) pair of entry `k`, as node indices.
    pub fn pair(k: StreamIndex, n_s: usize, n_r: usize) -> (u32, u32) {
        ((k.0 % n_s as u64) as u32, (k.0 % n_r as u64) as u32)
    }
}

impl Protocol for Ost {
    forward_outputs!();
    forward_core_inputs!();

    fn handle_committed(&mut self, now: Time, entry: Entry) {
        if self.core.accept_committed(now, &entry) {
            let (s, r) = Ost::pair(entry.k, self.core.local().n(), self.core.remote().n());
            if s == self.core.me().index.0 {
                let k = entry.k;
                self.core
                    .send(now, NodeId::new(self.core.remote().side, r), entry);
                self.core.note_sent(k);
            }
        }
        self.core.end_input();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Batch, BatchKind, ClusterConfig, Event, MisbehaviourKind, Params};
    use crate::testkit::TestChain;
    use crate::types::Side;
    use bytes::Bytes;

    #[test]
    fn schedule_pairs_sender_and_receiver_by_index() {
        assert_eq!(Ost::pair(StreamIndex(9), 4, 7), (1, 2));
        assert_eq!(Ost::pair(StreamIndex(3), 4, 4), (3, 3));
    }

    #[test]
    fn a_receiver_tracks_its_own_lane_only() {
        let chain = TestChain::new(3);
        let setup = Setup {
            me: NodeId::new(Side::B, 2),
            local: ClusterConfig::bft(Side::B, 4),
            remote: ClusterConfig::bft(Side::A, 4),
            epoch: 0,
            params: Params {
                recv_window: 64,
                ..Params::default()
            },
        };
        let mut b2 = Ost::new(setup, Box::new(chain.verifier()), Recovered::default());
        let batch = |ks: &mut dyn Iterator<Item = u64>| Batch {
            epoch: 0,
            kind: BatchKind::Cross {
                ack: None,
                quack_claim: None,
                exported: StreamIndex(0),
            },
            entries: ks
                .map(|k| chain.entry(Side::A, StreamIndex(k), Bytes::from_static(b"p")))
                .collect(),
        };
        // Far more entries than the window: the window slides along the lane.
        for round in 0..100u64 {
            let mut ks = (0..10).map(|i| (round * 10 + i) * 4 + 2);
            b2.handle_batch(Time(round), NodeId::new(Side::A, 2), batch(&mut ks));
            while let Some(op) = b2.poll_persist() {
                b2.handle_persisted(op.id);
            }
        }
        assert_eq!(b2.status().delivered, 1000);
        assert_eq!(b2.status().next_expected, 4000 + 2);
        assert!(b2.poll_event().is_none(), "nothing refused");
        b2.handle_batch(
            Time(200),
            NodeId::new(Side::A, 1),
            batch(&mut [4001u64].into_iter()),
        );
        assert!(matches!(
            b2.poll_event(),
            Some(Event::Misbehaviour {
                kind: MisbehaviourKind::Malformed,
                ..
            })
        ));
    }
}
