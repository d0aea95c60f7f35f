//! OTU, GeoBFT's optimistic transfer: the sending leader (node 0) sends each entry to a set of
//! receivers holding at least `u_r + 1` stake, each of which verifies, delivers and broadcasts it
//! to its own cluster; if the entry is not acknowledged in time, the next sender takes over.
//!
//! # Roles and timeouts
//!
//! Sender role `i` is local node `i`, for `i < m`, where `m` is the smallest count of nodes
//! `0..m` whose stake exceeds `u_s` (so `u_s + 1` with unit stake, and at least one of them is
//! correct). Role 0 sends every entry when it is committed and forgets it. Role `i ≥ 1` keeps the
//! entry and, if at `committed_at(k) + i · resend_timeout` (its own commit time, its own clock)
//! `k` is not yet acknowledged by `u_r + 1` stake of receivers as far as its own received acks
//! show, sends it once to its own receiver set, then forgets it. An entry is thus sent by at most
//! `m` senders, `u_s + 1` with unit stake.
//!
//! # Receiver sets
//!
//! Role `i` sends `k` to consecutive remote nodes starting at `(k + i · (u_r + 1)) mod n_r`,
//! taken until their stake exceeds `u_r`: originals rotate over all receivers, and with unit
//! stake a takeover targets other receivers than the original where the cluster is large enough.
//!
//! # Acks
//!
//! Every receiver acknowledges cumulatively (`Ack { next, phi: empty }`, `next` = smallest index
//! not yet durably received) to the `m` sender-role nodes of the other cluster: piggybacked on
//! every cross batch it sends anyway, and otherwise as an ack-only cross batch, at most one round
//! per `noop_delay`, only to those that have not yet heard the current `next`. A sender computes
//! its QUACK from the highest `next` it has heard from each receiver (stake-weighted, `u_r + 1`)
//! and forgets everything below it. Nodes outside the sender roles get no acks and report no
//! QUACK.

use crate::baselines::common::{Core, Rules, forward_outputs};
use crate::protocol::{
    Ack, Batch, ClusterConfig, Entry, EntryVerifier, Event, Protocol, ProtocolKind, Recovered,
    Setup,
};
use crate::types::{NodeId, StreamIndex, Time};
use std::collections::{BTreeMap, VecDeque};

/// One relay running OTU.
#[derive(Debug)]
pub struct Otu {
    core: Core,
    /// This node's sender role, if it has one.
    role: Option<u32>,
    /// Highest `next` heard from each remote node (monotone).
    remote_next: Vec<StreamIndex>,
    /// Every own-stream index below this is held by `u_r + 1` stake of receivers.
    quack: StreamIndex,
    /// Entries a takeover role may still have to send (not acknowledged, not yet resent).
    pending: BTreeMap<StreamIndex, Entry>,
    /// Takeover deadlines, in commit order (so in deadline order).
    resend_queue: VecDeque<(Time, StreamIndex)>,
}

impl Otu {
    /// A relay running OTU, seeded from what it recovered after a restart (entries below the
    /// recovered QUACK are not sent again).
    pub fn new(setup: Setup, verifier: Box<dyn EntryVerifier>, recovered: Recovered) -> Self {
        let roles = sender_roles(&setup.local);
        let me = setup.me.index.0;
        let role = (me < roles).then_some(me);
        let remote_next = vec![StreamIndex(0); setup.remote.n()];
        let rules = Rules {
            kind: ProtocolKind::Otu,
            broadcast: true,
            lanes: false,
            ack_to: sender_roles(&setup.remote),
        };
        let mut core = Core::new(setup, verifier, &recovered, rules);
        let quack = recovered.quack.unwrap_or_default();
        core.restore_quack(quack);
        Otu {
            core,
            role,
            remote_next,
            quack,
            pending: BTreeMap::new(),
            resend_queue: VecDeque::new(),
        }
    }

    /// The own-stream QUACK this relay has observed.
    pub fn quack(&self) -> StreamIndex {
        self.quack
    }

    /// How many entries this relay still keeps for a possible takeover.
    pub fn kept(&self) -> usize {
        self.pending.len()
    }

    fn on_ack(&mut self, from: NodeId, ack: Ack) {
        let Some(slot) = self.remote_next.get_mut(from.index.as_usize()) else {
            return;
        };
        if ack.next <= *slot {
            return;
        }
        *slot = ack.next;
        let quack = quack_of(self.core.remote(), &self.remote_next);
        if quack <= self.quack {
            return;
        }
        self.quack = quack;
        self.core.note_quack(quack);
        self.pending = self.pending.split_off(&quack);
        while self.resend_queue.front().is_some_and(|&(_, k)| k < quack) {
            self.resend_queue.pop_front();
        }
    }
}

/// How many sender roles a cluster has: the fewest first nodes whose stake exceeds `u`.
pub fn sender_roles(cluster: &ClusterConfig) -> u32 {
    let mut acc = 0u64;
    for (i, s) in cluster.stakes.iter().enumerate() {
        acc = acc.saturating_add(s.0);
        if acc > cluster.u.0 {
            return i as u32 + 1;
        }
    }
    cluster.n() as u32
}

/// The receivers (node indices of `remote`) that sender role `role` sends entry `k` to.
pub fn receivers(remote: &ClusterConfig, k: StreamIndex, role: u32) -> Vec<u32> {
    let n = remote.n() as u64;
    if n == 0 {
        return Vec::new();
    }
    let shift = (u64::from(role) % n) * ((remote.u.0 % n + 1) % n) % n;
    let start = (k.0 % n + shift) % n;
    let mut out = Vec::new();
    let mut acc = 0u64;
    for j in 0..n {
        let idx = ((start + j) % n) as usize;
        out.push(idx as u32);
        acc = acc.saturating_add(remote.stakes[idx].0);
        if acc > remote.u.0 {
            break;
        }
    }
    out
}

/// The largest `v` such that receivers holding more than `u` stake all report `next ≥ v`.
pub fn quack_of(remote: &ClusterConfig, nexts: &[StreamIndex]) -> StreamIndex {
    let mut by_next: Vec<(StreamIndex, u64)> = nexts
        .iter()
        .zip(&remote.stakes)
        .map(|(&n, s)| (n, s.0))
        .collect();
    by_next.sort_unstable_by_key(|&(next, _)| std::cmp::Reverse(next));
    let mut acc = 0u64;
    for (next, stake) in by_next {
        acc = acc.saturating_add(stake);
        if acc > remote.u.0 {
            return next;
        }
    }
    StreamIndex(0)
}

impl Protocol for Otu {
    forward_outputs!();

    fn handle_committed(&mut self, now: Time, entry: Entry) {
        if self.core.accept_committed(now, &entry) && entry.k >= self.quack {
            let k = entry.k;
            match self.role {
                Some(0) => {
                    let remote = self.core.remote().side;
                    for r in receivers(self.core.remote(), k, 0) {
                        self.core.send(now, NodeId::new(remote, r), entry.clone());
                    }
                    self.core.note_sent(k);
                }
                Some(i) => {
                    let wait = self.core.params().resend_timeout.saturating_mul(i);
                    self.pending.insert(k, entry);
                    self.resend_queue.push_back((now.add(wait), k));
                }
                None => {}
            }
        }
        self.core.end_input();
    }

    fn handle_batch(&mut self, now: Time, from: NodeId, batch: Batch) {
        if let Some(ack) = self.core.receive(now, from, batch) {
            self.on_ack(from, ack);
        }
        self.core.end_input();
    }

    fn handle_timeout(&mut self, now: Time) {
        self.core.on_timeout(now);
        let level = self.role.unwrap_or(0);
        while let Some(&(due, k)) = self.resend_queue.front() {
            if due > now {
                break;
            }
            self.resend_queue.pop_front();
            let Some(entry) = self.pending.remove(&k) else {
                continue;
            };
            if k < self.quack {
                continue;
            }
            let remote = self.core.remote().side;
            for r in receivers(self.core.remote(), k, level) {
                let to = NodeId::new(remote, r);
                self.core.send(now, to, entry.clone());
                self.core.event(Event::Resent { k, level, to });
            }
            self.core.note_resent();
        }
        self.core.end_input();
    }

    fn poll_timeout(&self) -> Option<Time> {
        let resend = self.resend_queue.front().map(|&(t, _)| t);
        match (self.core.next_deadline(), resend) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{BatchKind, Params, PersistOp, Transmit};
    use crate::testkit::TestChain;
    use crate::types::{Side, Stake};
    use bytes::Bytes;
    use std::time::Duration;

    #[test]
    fn sender_roles_cover_more_than_u_stake() {
        assert_eq!(sender_roles(&ClusterConfig::bft(Side::A, 4)), 2);
        assert_eq!(sender_roles(&ClusterConfig::bft(Side::A, 7)), 3);
        assert_eq!(sender_roles(&ClusterConfig::cft(Side::A, 5)), 3);
        assert_eq!(sender_roles(&ClusterConfig::bft(Side::A, 1)), 1);
        let heavy_first = ClusterConfig {
            side: Side::A,
            stakes: vec![Stake(5), Stake(1), Stake(1), Stake(1)],
            u: Stake(2),
            r: Stake(2),
        };
        assert_eq!(sender_roles(&heavy_first), 1);
    }

    #[test]
    fn receiver_sets_rotate_and_takeovers_pick_others() {
        for n in [4usize, 7, 10] {
            let c = ClusterConfig::bft(Side::B, n);
            let u = c.u.0 as usize;
            let mut load = vec![0usize; n];
            for k in 0..(n as u64 * 10) {
                let orig = receivers(&c, StreamIndex(k), 0);
                assert_eq!(orig.len(), u + 1);
                for &r in &orig {
                    load[r as usize] += 1;
                }
                if n >= 2 * (u + 1) {
                    let takeover = receivers(&c, StreamIndex(k), 1);
                    assert!(takeover.iter().all(|r| !orig.contains(r)), "n={n} k={k}");
                }
            }
            assert!(
                load.iter().all(|&l| l == load[0]),
                "even load at n={n}: {load:?}"
            );
        }
    }

    #[test]
    fn quack_needs_more_than_u_stake() {
        let c = ClusterConfig::bft(Side::B, 4);
        let s = |v: &[u64]| v.iter().map(|&x| StreamIndex(x)).collect::<Vec<_>>();
        assert_eq!(quack_of(&c, &s(&[9, 0, 0, 0])), StreamIndex(0));
        assert_eq!(quack_of(&c, &s(&[9, 5, 0, 0])), StreamIndex(5));
        assert_eq!(quack_of(&c, &s(&[9, 5, 7, 2])), StreamIndex(7));
        let weighted = ClusterConfig {
            side: Side::B,
            stakes: vec![Stake(1), Stake(3), Stake(1)],
            u: Stake(2),
            r: Stake(0),
        };
        assert_eq!(quack_of(&weighted, &s(&[9, 4, 0])), StreamIndex(4));
        assert_eq!(quack_of(&weighted, &s(&[9, 0, 8])), StreamIndex(0));
    }

    fn node(side: Side, index: u32, params: &Params) -> Otu {
        let setup = Setup {
            me: NodeId::new(side, index),
            local: ClusterConfig::bft(side, 4),
            remote: ClusterConfig::bft(side.other(), 4),
            epoch: 1,
            params: params.clone(),
        };
        Otu::new(
            setup,
            Box::new(TestChain::new(1).verifier()),
            Recovered::default(),
        )
    }

    fn drain(p: &mut Otu) -> (Vec<Transmit>, Vec<PersistOp>) {
        let mut t = Vec::new();
        let mut ops = Vec::new();
        while let Some(x) = p.poll_transmit() {
            t.push(x);
        }
        while let Some(x) = p.poll_persist() {
            ops.push(x);
        }
        while p.poll_deliver().is_some() || p.poll_event().is_some() {}
        (t, ops)
    }

    fn acks_in(t: &[Transmit]) -> Vec<(NodeId, StreamIndex)> {
        t.iter()
            .filter_map(|t| match &t.batch.kind {
                BatchKind::Cross { ack: Some(a), .. } => Some((t.to, a.next)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn acks_advertise_only_durable_entries() {
        let params = Params::default();
        let chain = TestChain::new(1);
        let mut b = node(Side::B, 2, &params);
        let e = chain.entry(Side::A, StreamIndex(0), Bytes::from_static(b"x"));
        let batch = Batch {
            epoch: 1,
            kind: BatchKind::Cross {
                ack: None,
                quack_claim: None,
                exported: StreamIndex(1),
            },
            entries: vec![e],
        };
        b.handle_batch(Time(0), NodeId::new(Side::A, 0), batch);
        let (_, ops) = drain(&mut b);
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].received, vec![StreamIndex(0)]);
        // Not yet durable: the broadcast goes out, but no ack says 1.
        let t = Time::ZERO.add(Duration::from_secs(1));
        b.handle_timeout(t);
        let (sent, _) = drain(&mut b);
        assert!(
            sent.iter().all(|t| t.to.side == Side::B),
            "only the broadcast: {sent:?}"
        );
        b.handle_persisted(ops[0].id);
        let due = b.poll_timeout().expect("an ack round is due");
        b.handle_timeout(due.max(t));
        let (sent, _) = drain(&mut b);
        // Acks go to the sender roles of A (nodes 0 and 1), and only once per value.
        assert_eq!(
            acks_in(&sent),
            vec![
                (NodeId::new(Side::A, 0), StreamIndex(1)),
                (NodeId::new(Side::A, 1), StreamIndex(1))
            ]
        );
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn takeover_role_keeps_entries_only_until_acknowledged() {
        let params = Params::default();
        let chain = TestChain::new(1);
        let mut a1 = node(Side::A, 1, &params);
        for k in 0..10 {
            let k = StreamIndex(k);
            a1.handle_committed(Time(k.0), chain.entry(Side::A, k, Bytes::from_static(b"y")));
        }
        assert_eq!(a1.kept(), 10);
        let ack = |next| Batch {
            epoch: 1,
            kind: BatchKind::Cross {
                ack: Some(Ack {
                    next: StreamIndex(next),
                    phi: Bytes::new(),
                }),
                quack_claim: None,
                exported: StreamIndex(0),
            },
            entries: vec![],
        };
        a1.handle_batch(Time(20), NodeId::new(Side::B, 0), ack(6));
        assert_eq!(a1.quack(), StreamIndex(0), "one receiver is not u + 1");
        a1.handle_batch(Time(21), NodeId::new(Side::B, 3), ack(4));
        assert_eq!(a1.quack(), StreamIndex(4));
        assert_eq!(a1.kept(), 6);
        let (_, ops) = drain(&mut a1);
        assert_eq!(ops.last().and_then(|o| o.quack), Some(StreamIndex(4)));
        // At the deadline, the rest is resent once to u + 1 receivers, then forgotten.
        let deadline = Time(9).add(params.resend_timeout);
        a1.handle_timeout(deadline);
        a1.handle_timeout(deadline.add(params.batch_delay));
        let mut resent = Vec::new();
        while let Some(e) = a1.poll_event() {
            if let Event::Resent { k, level, to } = e {
                assert_eq!(level, 1);
                resent.push((k.0, to.index.0));
            }
        }
        assert_eq!(resent.len(), 6 * 2);
        assert!(resent.iter().all(|&(k, _)| k >= 4));
        assert_eq!(a1.kept(), 0);
        assert_eq!(a1.status().resends, 6);
        let (sent, _) = drain(&mut a1);
        let copies: usize = sent.iter().map(|t| t.batch.entries.len()).sum();
        assert_eq!(copies, 12);
    }
}
