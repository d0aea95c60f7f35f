//! Scenario tests of the Picsou core on a small latency network: a fixed delay per hop, a
//! virtual clock, crashed nodes (no input, no output), and per-node output filters to model
//! Byzantine behaviour. The simulator covers bandwidth, load and the fault catalogue at scale;
//! these tests pin the protocol's rules down exactly.

use crate::picsou::Picsou;
use crate::protocol::{
    Batch, BatchKind, ClusterConfig, Entry, Event, Params, Protocol, Recovered, Setup, Transmit,
};
use crate::testkit::TestChain;
use crate::types::{NodeId, Side, StreamIndex, Time};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

type Filter = Box<dyn FnMut(&mut Transmit) -> bool>;

struct Net {
    chain: TestChain,
    a: ClusterConfig,
    b: ClusterConfig,
    params: Params,
    nodes: BTreeMap<NodeId, Picsou>,
    crashed: BTreeSet<NodeId>,
    filters: BTreeMap<NodeId, Filter>,
    now: Time,
    hop: Duration,
    seq: u64,
    queue: BTreeMap<(Time, u64), (NodeId, Transmit)>,
    delivered: BTreeMap<NodeId, Vec<u64>>,
    persisted: BTreeMap<NodeId, Vec<StreamIndex>>,
    quack_persisted: BTreeMap<NodeId, StreamIndex>,
    cross_copies: BTreeMap<(Side, u64), usize>,
    fetches: usize,
    events: Vec<(NodeId, Event)>,
}

impl Net {
    fn new(a: ClusterConfig, b: ClusterConfig, params: Params) -> Self {
        let mut net = Net {
            chain: TestChain::new(9),
            a,
            b,
            params,
            nodes: BTreeMap::new(),
            crashed: BTreeSet::new(),
            filters: BTreeMap::new(),
            now: Time::ZERO,
            hop: Duration::from_micros(500),
            seq: 0,
            queue: BTreeMap::new(),
            delivered: BTreeMap::new(),
            persisted: BTreeMap::new(),
            quack_persisted: BTreeMap::new(),
            cross_copies: BTreeMap::new(),
            fetches: 0,
            events: Vec::new(),
        };
        for id in net.ids() {
            net.start(id);
        }
        net
    }

    fn bft(n: usize) -> Self {
        Net::new(
            ClusterConfig::bft(Side::A, n),
            ClusterConfig::bft(Side::B, n),
            Params::default(),
        )
    }

    fn ids(&self) -> Vec<NodeId> {
        self.a.nodes().chain(self.b.nodes()).collect()
    }

    fn cluster(&self, side: Side) -> &ClusterConfig {
        if side == Side::A { &self.a } else { &self.b }
    }

    fn start(&mut self, id: NodeId) {
        let setup = Setup {
            me: id,
            local: self.cluster(id.side).clone(),
            remote: self.cluster(id.side.other()).clone(),
            epoch: 0,
            params: self.params.clone(),
        };
        let recovered = Recovered {
            received: self.persisted.get(&id).cloned().unwrap_or_default(),
            quack: self.quack_persisted.get(&id).copied(),
        };
        let node = Picsou::new(setup, Box::new(self.chain.verifier()), recovered);
        self.nodes.insert(id, node);
    }

    fn entry(&self, side: Side, k: u64) -> Entry {
        self.chain
            .entry(side, StreamIndex(k), TestChain::payload(StreamIndex(k), 40))
    }

    /// Both chains finalize `count` more entries each, at the current time.
    fn commit(&mut self, from: u64, count: u64) {
        self.commit_sides(&[Side::A, Side::B], from, count);
    }

    /// The chains of `sides` finalize `count` more entries each, at the current time.
    fn commit_sides(&mut self, sides: &[Side], from: u64, count: u64) {
        for k in from..from + count {
            for &side in sides {
                for id in self.cluster(side).nodes().collect::<Vec<_>>() {
                    if self.crashed.contains(&id) {
                        continue;
                    }
                    let e = self.entry(side, k);
                    let now = self.now;
                    self.nodes.get_mut(&id).unwrap().handle_committed(now, e);
                    self.drain(id);
                }
            }
        }
    }

    fn drain(&mut self, id: NodeId) {
        let crashed = self.crashed.contains(&id);
        let node = self.nodes.get_mut(&id).unwrap();
        let mut out = Vec::new();
        while let Some(t) = node.poll_transmit() {
            out.push(t);
        }
        while let Some(d) = node.poll_deliver() {
            self.delivered.entry(id).or_default().push(d.entry.k.0);
        }
        while let Some(op) = node.poll_persist() {
            // Durable at once.
            self.persisted
                .entry(id)
                .or_default()
                .extend(op.received.iter().copied());
            if let Some(q) = op.quack {
                self.quack_persisted.insert(id, q);
            }
            node.handle_persisted(op.id);
        }
        while let Some(t) = node.poll_transmit() {
            out.push(t);
        }
        while let Some(e) = node.poll_event() {
            self.events.push((id, e));
        }
        if crashed {
            return;
        }
        for mut t in out {
            if let Some(f) = self.filters.get_mut(&id)
                && !f(&mut t)
            {
                continue;
            }
            if matches!(t.batch.kind, BatchKind::Fetch { .. }) {
                self.fetches += 1;
            }
            if t.to.side != id.side {
                for e in &t.batch.entries {
                    *self.cross_copies.entry((id.side, e.k.0)).or_default() += 1;
                }
            }
            self.seq += 1;
            self.queue
                .insert((self.now.add(self.hop), self.seq), (id, t));
        }
    }

    /// Runs until nothing is in flight and no timer is due before `until`.
    fn run_until(&mut self, until: Time) {
        loop {
            let next_msg = self.queue.keys().next().map(|k| k.0);
            let next_timer = self
                .nodes
                .iter()
                .filter(|(id, _)| !self.crashed.contains(id))
                .filter_map(|(id, n)| n.poll_timeout().map(|t| (t.max(self.now), *id)))
                .min();
            let msg_first = match (next_msg, next_timer) {
                (Some(m), Some((t, _))) => m <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return,
            };
            if msg_first {
                let (&key, _) = self.queue.iter().next().unwrap();
                if key.0 > until {
                    return;
                }
                let (from, t) = self.queue.remove(&key).unwrap();
                self.now = key.0;
                if self.crashed.contains(&t.to) {
                    continue;
                }
                let now = self.now;
                self.nodes
                    .get_mut(&t.to)
                    .unwrap()
                    .handle_batch(now, from, t.batch);
                self.drain(t.to);
            } else {
                let (t, id) = next_timer.unwrap();
                if t > until {
                    return;
                }
                self.now = t;
                self.nodes.get_mut(&id).unwrap().handle_timeout(t);
                self.drain(id);
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now.add(d);
        self.run_until(until);
        self.now = self.now.max(until);
    }

    fn correct(&self, side: Side) -> Vec<NodeId> {
        self.cluster(side)
            .nodes()
            .filter(|id| !self.crashed.contains(id) && !self.filters.contains_key(id))
            .collect()
    }

    /// Every correct relay of both clusters delivered `0..count` exactly once.
    fn assert_all_delivered_once(&self, count: u64) {
        for side in [Side::A, Side::B] {
            for id in self.correct(side) {
                let mut got = self.delivered.get(&id).cloned().unwrap_or_default();
                got.sort_unstable();
                let want: Vec<u64> = (0..count).collect();
                assert_eq!(got, want, "{id} delivered");
            }
        }
    }

    fn resends(&self) -> usize {
        self.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Resent { .. }))
            .count()
    }

    fn max_copies(&self) -> usize {
        self.cross_copies.values().copied().max().unwrap_or(0)
    }
}

#[test]
fn failure_free_each_entry_crosses_once_and_reaches_everyone() {
    for n in [4, 7] {
        let mut net = Net::bft(n);
        net.commit(0, 200);
        net.run_for(Duration::from_secs(2));
        net.assert_all_delivered_once(200);
        assert_eq!(net.resends(), 0, "n {n}");
        assert_eq!(net.max_copies(), 1, "n {n}");
        assert_eq!(net.cross_copies.len(), 400);
        for id in net.ids() {
            let s = net.nodes[&id].status();
            assert_eq!(s.quack, 200, "{id} QUACK");
        }
    }
}

#[test]
fn every_sender_hears_enough_acks_within_one_ack_round() {
    // One stream, no reverse data to carry acks: B's acks reach A only in ack rounds. Each A
    // relay (not only the entry's sender) needs acks from u + 1 = 3 of the 7 B relays for its
    // QUACK. One ack-only batch per round, round-robin, gave each A about one ack per round, so
    // the last A confirmed three rounds later; an ack round informs ⌈3·7/7⌉ = 3 A relays.
    let mut net = Net::bft(7);
    let round = net.params.noop_delay;
    net.commit_sides(&[Side::A], 0, 1);
    // The sender's flush and the cross hop, the receiver's broadcast flush and the internal
    // hop, then at most one round and the hop back.
    let p = &net.params;
    let held_by_all = (p.batch_delay + net.hop) * 2;
    net.run_for(held_by_all + round + net.hop);
    for id in net.cluster(Side::A).nodes() {
        assert_eq!(
            net.nodes[&id].status().quack,
            1,
            "{id} QUACK after one round"
        );
    }
    for id in net.cluster(Side::B).nodes() {
        assert_eq!(net.delivered.get(&id), Some(&vec![0]), "{id} delivered");
    }
    assert_eq!(net.resends(), 0);
}

#[test]
fn an_ack_round_reaches_enough_senders_for_the_smallest_quorum() {
    use crate::picsou::ack_fanout;
    use crate::types::Stake;
    for (n, want) in [(4, 2), (7, 3), (19, 7)] {
        assert_eq!(
            ack_fanout(&ClusterConfig::bft(Side::B, n), n),
            want,
            "n {n}"
        );
    }
    // 4 receivers (2 needed) for 19 senders: each receiver informs ⌈2·19/4⌉ = 10.
    assert_eq!(ack_fanout(&ClusterConfig::bft(Side::B, 4), 19), 10);
    // 19 receivers (7 needed) for 4 senders: ⌈7·4/19⌉ = 2.
    assert_eq!(ack_fanout(&ClusterConfig::bft(Side::B, 19), 4), 2);
    // Stakes 97,1,1,1 with u = 33: the three small ones do not exceed u, so all four may be
    // needed, and every receiver informs every sender.
    let skewed = ClusterConfig::with_stakes(Side::B, [97, 1, 1, 1].map(Stake).to_vec(), false);
    assert_eq!(skewed.u, Stake(33));
    assert_eq!(ack_fanout(&skewed, 5), 5);
}

#[test]
fn network_goes_quiet_once_everything_is_acknowledged() {
    let mut net = Net::bft(4);
    net.commit(0, 50);
    net.run_for(Duration::from_secs(1));
    assert!(net.queue.is_empty());
    for id in net.ids() {
        assert_eq!(net.nodes[&id].poll_timeout(), None, "{id} still has timers");
    }
}

#[test]
fn ack_turns_start_inside_a_smaller_remote_cluster() {
    // Relays 4..7 of A have no namesake in B: their turns once started past B's last relay, and
    // the next ack round's ordering underflowed (a panic in a debug build).
    let net = Net::new(
        ClusterConfig::bft(Side::A, 7),
        ClusterConfig::bft(Side::B, 4),
        Params::default(),
    );
    for id in net.ids() {
        let remote = net.cluster(id.side.other()).n();
        assert!(
            net.nodes[&id].ack_rr < remote,
            "{id}: {}",
            net.nodes[&id].ack_rr
        );
    }
}

#[test]
fn crashed_third_of_each_cluster_still_delivers_within_the_resend_bound() {
    for n in [4, 7] {
        let mut net = Net::bft(n);
        let f = (n - 1) / 3;
        for i in 0..f {
            net.crashed.insert(NodeId::new(Side::A, i as u32));
            net.crashed.insert(NodeId::new(Side::B, (n - 1 - i) as u32));
        }
        net.commit(0, 100);
        net.run_for(Duration::from_secs(5));
        net.assert_all_delivered_once(100);
        assert!(net.resends() > 0);
        let bound = 2 * f + 1;
        assert!(
            net.max_copies() <= bound,
            "n {n}: {} copies > {bound}",
            net.max_copies()
        );
    }
}

#[test]
fn lost_last_entry_is_still_detected() {
    let mut net = Net::bft(4);
    // The sender of A's entry 9 drops it.
    let s9 = NodeId::new(Side::A, 9 % 4);
    net.filters.insert(
        s9,
        Box::new(|t: &mut Transmit| {
            t.batch
                .entries
                .retain(|e| e.k.0 != 9 || t.to.side == Side::A);
            true
        }),
    );
    net.commit(0, 10);
    net.run_for(Duration::from_secs(3));
    for id in net.correct(Side::B) {
        assert!(net.delivered[&id].contains(&9), "{id} lacks the last entry");
    }
}

#[test]
fn lying_acks_cause_no_resend_and_no_loss() {
    // One liar per side claims everything (high) or nothing (zero).
    for mode in ["high", "zero"] {
        let mut net = Net::bft(4);
        for id in [NodeId::new(Side::A, 1), NodeId::new(Side::B, 2)] {
            let high = mode == "high";
            net.filters.insert(
                id,
                Box::new(move |t: &mut Transmit| {
                    if let BatchKind::Cross { ack: Some(ack), .. } = &mut t.batch.kind {
                        ack.next = StreamIndex(if high { 1 << 30 } else { 0 });
                        ack.phi = bytes::Bytes::new();
                    }
                    true
                }),
            );
        }
        net.commit(0, 120);
        net.run_for(Duration::from_secs(3));
        net.assert_all_delivered_once(120);
        assert_eq!(net.resends(), 0, "{mode}");
        assert_eq!(net.max_copies(), 1, "{mode}");
    }
}

#[test]
fn forged_entries_are_refused_and_reported() {
    let mut net = Net::bft(4);
    let liar = NodeId::new(Side::A, 0);
    net.filters.insert(
        liar,
        Box::new(|t: &mut Transmit| {
            for e in &mut t.batch.entries {
                if t.to.side == Side::B {
                    e.payload = b"mint me a million".into();
                }
            }
            true
        }),
    );
    net.commit(0, 40);
    net.run_for(Duration::from_secs(3));
    // Correct receivers still get every genuine entry (the liar's ones by resend) ...
    for id in net.correct(Side::B) {
        let mut got = net.delivered[&id].clone();
        got.sort_unstable();
        assert_eq!(got, (0..40).collect::<Vec<_>>(), "{id}");
    }
    // ... and the forgeries were pinned on the liar.
    assert!(net.events.iter().any(|(_, e)| matches!(
        e,
        Event::Misbehaviour { peer, kind: crate::protocol::MisbehaviourKind::BadProof, .. } if *peer == liar
    )));
}

#[test]
fn restart_from_store_neither_redelivers_nor_loses() {
    let mut net = Net::bft(4);
    net.commit(0, 30);
    net.run_for(Duration::from_secs(1));
    let victim = NodeId::new(Side::B, 1);
    net.crashed.insert(victim);
    net.commit(30, 30);
    net.run_for(Duration::from_millis(300));
    net.crashed.remove(&victim);
    net.start(victim);
    // Its chain replays its own stream from the start.
    for k in 0..60 {
        let e = net.entry(Side::B, k);
        let now = net.now;
        net.nodes.get_mut(&victim).unwrap().handle_committed(now, e);
        net.drain(victim);
    }
    net.run_for(Duration::from_secs(3));
    net.assert_all_delivered_once(60);
}

/// §4.3: faulty receivers help a QUACK form and then go silent, while the only correct holders
/// got the entry by broadcast from a faulty receiver that skipped the others.
#[test]
fn wedge_is_recovered_by_fetching_from_peers() {
    let mut net = Net::bft(4);
    // B3 is Byzantine: receives everything directly addressed to it, acks honestly, but passes
    // entries on only to B0.
    let b3 = NodeId::new(Side::B, 3);
    net.filters.insert(
        b3,
        Box::new(|t: &mut Transmit| {
            !(matches!(t.batch.kind, BatchKind::Internal) && t.to.index.0 != 0)
        }),
    );
    net.commit(0, 40);
    net.run_for(Duration::from_secs(5));
    net.assert_all_delivered_once(40);
    assert!(net.fetches > 0, "recovered without the §4.3 path");
    assert_eq!(net.resends(), 0, "QUACKed entries are never resent");
}

/// A relay that got an entry only by broadcast passes it on once a sender sends it to it
/// directly: a resend goes there because other receivers still miss the entry.
#[test]
fn a_direct_copy_of_an_entry_got_by_broadcast_is_passed_on() {
    let mut net = Net::bft(4);
    let me = NodeId::new(Side::B, 1);
    let entry = net.entry(Side::A, 0);
    let batch = |kind: BatchKind| Batch {
        epoch: 0,
        kind,
        entries: vec![entry.clone()],
    };
    let later = |t: Time| t.add(net.params.batch_delay * 2);
    let node = net.nodes.get_mut(&me).unwrap();
    let passed_on = |node: &mut Picsou| {
        let mut to = BTreeSet::new();
        while let Some(t) = node.poll_transmit() {
            if matches!(t.batch.kind, BatchKind::Internal)
                && t.batch.entries.iter().any(|e| e.k == entry.k)
            {
                to.insert(t.to.index.0);
            }
        }
        to
    };

    let t0 = Time::ZERO;
    node.handle_batch(t0, NodeId::new(Side::B, 0), batch(BatchKind::Internal));
    node.handle_timeout(later(t0));
    assert_eq!(
        passed_on(node),
        BTreeSet::new(),
        "a broadcast copy is not passed on"
    );

    let t1 = later(t0);
    let cross = BatchKind::Cross {
        ack: None,
        quack_claim: None,
        exported: StreamIndex(1),
    };
    node.handle_batch(t1, NodeId::new(Side::A, 2), batch(cross));
    node.handle_timeout(later(t1));
    assert_eq!(passed_on(node), BTreeSet::from([0, 2, 3]));
}

/// Claims from two senders of A (r_s + 1 = 2) that B holds everything below `upto`.
fn claim(node: &mut Picsou, at: Time, upto: u64) {
    for s in 0..2 {
        let kind = BatchKind::Cross {
            ack: None,
            quack_claim: Some(StreamIndex(upto)),
            exported: StreamIndex(upto + 1),
        };
        let batch = Batch {
            epoch: 0,
            kind,
            entries: Vec::new(),
        };
        node.handle_batch(at, NodeId::new(Side::A, s), batch);
    }
}

/// The fetches `node` sent: (peer, indices asked for).
fn fetched(node: &mut Picsou) -> Vec<(u32, Vec<u64>)> {
    let mut asked = Vec::new();
    while let Some(t) = node.poll_transmit() {
        if let BatchKind::Fetch { want } = &t.batch.kind {
            asked.push((t.to.index.0, want.iter().map(|k| k.0).collect()));
        }
    }
    asked
}

/// `node` gets `entry` from peer `from` of its cluster, at `at`, and makes it durable.
fn copy_from_peer(node: &mut Picsou, at: Time, from: u32, entry: &Entry) {
    let batch = Batch {
        epoch: 0,
        kind: BatchKind::Internal,
        entries: vec![entry.clone()],
    };
    node.handle_batch(at, NodeId::new(Side::B, from), batch);
    while let Some(op) = node.poll_persist() {
        node.handle_persisted(op.id);
    }
}

/// Steps `node` through its timers from `from` until it fetches (or `until` passes): when, and
/// what.
fn first_fetch(node: &mut Picsou, from: Time, until: Time) -> (Time, Vec<(u32, Vec<u64>)>) {
    let mut now = from;
    loop {
        node.handle_timeout(now);
        let asked = fetched(node);
        if !asked.is_empty() || now > until {
            return (now, asked);
        }
        now = node.poll_timeout().expect("a timer is due").max(now);
    }
}

/// A relay that fetched an entry which then arrived anyway by another peer's broadcast waits
/// that much longer before its next fetch: in a failure-free run each fetch is a copy too many.
#[test]
fn a_fetch_overtaken_by_the_broadcast_lengthens_the_next_wait() {
    let mut net = Net::bft(4);
    let p = net.params.clone();
    let entries = [net.entry(Side::A, 0), net.entry(Side::A, 1)];
    let node = net.nodes.get_mut(&NodeId::new(Side::B, 1)).unwrap();

    // First wedge: #0 is fetched after `fetch_delay`, from B2 (the next peer in turn) ...
    let t0 = Time::ZERO;
    claim(node, t0, 1);
    let (at, asked) = first_fetch(node, t0, t0.add(p.max_message_delay));
    assert_eq!((at, asked), (t0.add(p.fetch_delay), vec![(2, vec![0])]));
    // ... and B0's broadcast of it arrives first, 150 ms after the wedge was seen.
    let late = Duration::from_millis(150);
    copy_from_peer(node, t0.add(late), 0, &entries[0]);

    // Second wedge: #1 stays missing for the 150 ms the broadcast took before it is fetched.
    let t2 = t0.add(late).add(p.batch_delay);
    claim(node, t2, 2);
    let (at, asked) = first_fetch(node, t2, t2.add(late * 2));
    assert_eq!(asked, vec![(3, vec![1])]);
    assert_eq!(
        at,
        t2.add(late),
        "fetched {:?} after the wedge",
        at.since(t2)
    );
}

/// A copy of a fetched entry that comes from another peer only after the fetch could have been
/// made again (`max_message_delay`) says nothing about the broadcast it was waiting for: the
/// next fetch still waits `fetch_delay` only.
#[test]
fn a_copy_long_after_a_fetch_does_not_lengthen_the_next_wait() {
    let mut net = Net::bft(4);
    let p = net.params.clone();
    let entries = [net.entry(Side::A, 0), net.entry(Side::A, 1)];
    let node = net.nodes.get_mut(&NodeId::new(Side::B, 1)).unwrap();

    let t0 = Time::ZERO;
    claim(node, t0, 1);
    let (at, asked) = first_fetch(node, t0, t0.add(p.max_message_delay));
    assert_eq!((at, asked), (t0.add(p.fetch_delay), vec![(2, vec![0])]));
    // B2 answers; B0's copy (say, a resend it passed on) comes much later.
    copy_from_peer(node, at.add(p.batch_delay), 2, &entries[0]);
    let stale = at.add(p.max_message_delay).add(p.batch_delay);
    copy_from_peer(node, stale, 0, &entries[0]);

    let t2 = stale.add(p.batch_delay);
    claim(node, t2, 2);
    let (at, asked) = first_fetch(node, t2, t2.add(p.max_message_delay * 2));
    assert_eq!(asked, vec![(3, vec![1])]);
    assert_eq!(
        at,
        t2.add(p.fetch_delay),
        "fetched {:?} after the wedge",
        at.since(t2)
    );
}
