//! A tiny deterministic network for the baseline tests: every relay of both clusters, one FIFO
//! queue of in-flight batches delivered with zero latency, and a virtual clock that jumps to the
//! earliest deadline when the queue is empty. Persist ops are confirmed at once. A crashed node
//! gets no input and everything it would send is dropped; a test can also lose chosen batches.
//!
//! Not the simulator (no link model, no adversaries beyond crashes and injected batches): just
//! enough to check the baselines' rules exactly.

use crate::baselines::{Ata, Ll, Ost, Otu};
use crate::protocol::{
    Batch, ClusterConfig, Entry, Event, Params, Protocol, ProtocolKind, Recovered, Setup, Transmit,
};
use crate::testkit::TestChain;
use crate::types::{NodeId, Side, StreamIndex, Time};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// Payload bytes of every test entry.
pub(crate) const PAYLOAD: usize = 64;

/// Builds one baseline relay.
pub(crate) fn build(
    kind: ProtocolKind,
    setup: Setup,
    chain: &TestChain,
    rec: Recovered,
) -> Box<dyn Protocol> {
    let v = Box::new(chain.verifier());
    match kind {
        ProtocolKind::Ost => Box::new(Ost::new(setup, v, rec)),
        ProtocolKind::Ata => Box::new(Ata::new(setup, v, rec)),
        ProtocolKind::Ll => Box::new(Ll::new(setup, v, rec)),
        ProtocolKind::Otu => Box::new(Otu::new(setup, v, rec)),
        ProtocolKind::Picsou => panic!("the baseline harness runs baselines only"),
    }
}

/// Both clusters, their relays, the in-flight queue, and what happened.
pub(crate) struct Net {
    pub(crate) chain: TestChain,
    pub(crate) kind: ProtocolKind,
    pub(crate) a: ClusterConfig,
    pub(crate) b: ClusterConfig,
    pub(crate) params: Params,
    pub(crate) nodes: BTreeMap<NodeId, Box<dyn Protocol>>,
    pub(crate) crashed: BTreeSet<NodeId>,
    pub(crate) now: Time,
    queue: VecDeque<(NodeId, Transmit)>,
    /// Indices delivered by each node, in delivery order (across restarts).
    pub(crate) delivered: BTreeMap<NodeId, Vec<StreamIndex>>,
    /// Indices each node asked to persist (all confirmed at once).
    pub(crate) persisted: BTreeMap<NodeId, Vec<StreamIndex>>,
    /// The last QUACK each node asked to persist.
    pub(crate) quacks: BTreeMap<NodeId, StreamIndex>,
    pub(crate) events: Vec<(NodeId, Event)>,
    /// Cross-cluster copies of each entry actually sent, by (source stream, k).
    pub(crate) cross_copies: BTreeMap<(Side, u64), usize>,
    /// Which nodes sent each entry across.
    pub(crate) cross_senders: BTreeMap<(Side, u64), BTreeSet<NodeId>>,
    /// Batches sent (all kinds, including ack-only).
    pub(crate) batches: usize,
    /// Batches (sender, transmit) this returns `true` for are lost on the wire.
    pub(crate) lose: Option<fn(NodeId, &Transmit) -> bool>,
}

impl Net {
    /// Unit-stake BFT clusters of `na` and `nb` nodes.
    pub(crate) fn new(kind: ProtocolKind, na: usize, nb: usize, params: Params) -> Self {
        Net::with(
            kind,
            ClusterConfig::bft(Side::A, na),
            ClusterConfig::bft(Side::B, nb),
            params,
        )
    }

    /// Any two clusters.
    pub(crate) fn with(
        kind: ProtocolKind,
        a: ClusterConfig,
        b: ClusterConfig,
        params: Params,
    ) -> Self {
        let mut net = Net {
            chain: TestChain::new(42),
            kind,
            a,
            b,
            params,
            nodes: BTreeMap::new(),
            crashed: BTreeSet::new(),
            now: Time::ZERO,
            queue: VecDeque::new(),
            delivered: BTreeMap::new(),
            persisted: BTreeMap::new(),
            quacks: BTreeMap::new(),
            events: Vec::new(),
            cross_copies: BTreeMap::new(),
            cross_senders: BTreeMap::new(),
            batches: 0,
            lose: None,
        };
        for id in net.ids() {
            net.restart(id, Recovered::default());
        }
        net
    }

    pub(crate) fn cluster(&self, side: Side) -> &ClusterConfig {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// Every node id, A first.
    pub(crate) fn ids(&self) -> Vec<NodeId> {
        self.a.nodes().chain(self.b.nodes()).collect()
    }

    /// Replaces `id` by a fresh instance that recovered `rec`.
    pub(crate) fn restart(&mut self, id: NodeId, rec: Recovered) {
        let setup = Setup {
            me: id,
            local: self.cluster(id.side).clone(),
            remote: self.cluster(id.side.other()).clone(),
            epoch: 1,
            params: self.params.clone(),
        };
        let node = build(self.kind, setup, &self.chain, rec);
        self.nodes.insert(id, node);
    }

    /// What `id` would recover from its store now.
    pub(crate) fn recovered(&self, id: NodeId) -> Recovered {
        Recovered {
            received: self.persisted.get(&id).cloned().unwrap_or_default(),
            quack: self.quacks.get(&id).copied(),
        }
    }

    /// The certified entry `k` of `side`'s stream.
    pub(crate) fn entry(&self, side: Side, k: u64) -> Entry {
        let k = StreamIndex(k);
        self.chain.entry(side, k, TestChain::payload(k, PAYLOAD))
    }

    /// Every live node of `side` learns that its chain finalized entry `k`.
    pub(crate) fn commit(&mut self, side: Side, k: u64) {
        let entry = self.entry(side, k);
        let ids: Vec<NodeId> = self.cluster(side).nodes().collect();
        for id in ids {
            if self.crashed.contains(&id) {
                continue;
            }
            let now = self.now;
            self.node(id).handle_committed(now, entry.clone());
            self.drain(id);
        }
    }

    /// Hands `batch` to `to` as if `from` had sent it, right now.
    pub(crate) fn inject(&mut self, from: NodeId, to: NodeId, batch: Batch) {
        let now = self.now;
        self.node(to).handle_batch(now, from, batch);
        self.drain(to);
    }

    fn node(&mut self, id: NodeId) -> &mut Box<dyn Protocol> {
        self.nodes
            .get_mut(&id)
            .expect("every id of both clusters has a node")
    }

    /// Drains every output of `id` until it has nothing more to say.
    fn drain(&mut self, id: NodeId) {
        let crashed = self.crashed.contains(&id);
        loop {
            let mut progress = false;
            let node = self.nodes.get_mut(&id).expect("node exists");
            while let Some(t) = node.poll_transmit() {
                progress = true;
                if crashed || self.lose.is_some_and(|lose| lose(id, &t)) {
                    continue;
                }
                self.batches += 1;
                if t.to.side != id.side {
                    for e in &t.batch.entries {
                        *self.cross_copies.entry((id.side, e.k.0)).or_default() += 1;
                        self.cross_senders
                            .entry((id.side, e.k.0))
                            .or_default()
                            .insert(id);
                    }
                }
                self.queue.push_back((id, t));
            }
            while let Some(d) = node.poll_deliver() {
                progress = true;
                let k = d.entry.k;
                let want = self
                    .chain
                    .entry(id.side.other(), k, TestChain::payload(k, PAYLOAD));
                assert_eq!(
                    d.entry, want,
                    "{id} delivered an entry the source never certified"
                );
                self.delivered.entry(id).or_default().push(k);
            }
            while let Some(op) = node.poll_persist() {
                progress = true;
                self.persisted.entry(id).or_default().extend(&op.received);
                if let Some(q) = op.quack {
                    self.quacks.insert(id, q);
                }
                node.handle_persisted(op.id);
            }
            while let Some(e) = node.poll_event() {
                progress = true;
                self.events.push((id, e));
            }
            if !progress {
                break;
            }
        }
    }

    /// Runs for `d` of virtual time: in-flight batches first, then the earliest deadline.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let limit = self.now.add(d);
        for _ in 0..10_000_000u64 {
            if let Some((from, t)) = self.queue.pop_front() {
                if !self.crashed.contains(&t.to) {
                    self.inject(from, t.to, t.batch);
                }
                continue;
            }
            let next = self
                .nodes
                .iter()
                .filter(|(id, _)| !self.crashed.contains(id))
                .filter_map(|(_, n)| n.poll_timeout())
                .min();
            match next {
                Some(t) if t <= limit => {
                    self.now = self.now.max(t);
                    let due: Vec<NodeId> = self
                        .nodes
                        .iter()
                        .filter(|(id, n)| {
                            !self.crashed.contains(id)
                                && n.poll_timeout().is_some_and(|t| t <= self.now)
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    for id in due {
                        let now = self.now;
                        self.node(id).handle_timeout(now);
                        self.drain(id);
                    }
                }
                _ => {
                    self.now = limit;
                    return;
                }
            }
        }
        panic!("the network did not go quiet: a timer that never clears?");
    }

    /// Events of one kind, with the node that emitted them.
    pub(crate) fn resends(&self) -> Vec<(NodeId, StreamIndex, u32, NodeId)> {
        self.events
            .iter()
            .filter_map(|(id, e)| match e {
                Event::Resent { k, level, to } => Some((*id, *k, *level, *to)),
                _ => None,
            })
            .collect()
    }

    /// Misbehaviour reports: (reporter, peer, kind).
    pub(crate) fn misbehaviour(&self) -> Vec<(NodeId, NodeId, crate::protocol::MisbehaviourKind)> {
        self.events
            .iter()
            .filter_map(|(id, e)| match e {
                Event::Misbehaviour { peer, kind, .. } => Some((*id, *peer, *kind)),
                _ => None,
            })
            .collect()
    }

    /// How often `id` delivered `k`.
    pub(crate) fn times_delivered(&self, id: NodeId, k: u64) -> usize {
        self.delivered
            .get(&id)
            .map_or(0, |v| v.iter().filter(|x| x.0 == k).count())
    }
}
