//! The machinery the four baselines share: per-destination batching, the receive path
//! (validation, proof checks, window, de-duplication, internal broadcast, delivery), persistence
//! bookkeeping, cumulative acks for the protocols that send them, and the output queues.
//!
//! A baseline owns one [`Core`] and adds only its sending rule (who sends which entry to whom)
//! and, for OTU, what it does with the acks it receives. Every `handle_*` of a baseline ends with
//! [`Core::end_input`], which turns the indices delivered during that input into one
//! [`PersistOp`].

use crate::protocol::{
    Ack, Batch, BatchKind, ClusterConfig, Delivery, DeliveryPath, Entry, EntryVerifier, Event,
    MisbehaviourKind, Params, PersistId, PersistOp, ProtocolKind, Recovered, Setup, StreamStatus,
    Transmit,
};
use crate::types::{NodeId, StreamIndex, Time};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// A set of the stream indices of one lane (`k ≡ offset mod stride`), stored as "every lane
/// position below `next`" plus the held positions above it, so it never grows with the length of
/// the stream, only with the holes in it.
///
/// OST receivers hold the lane of the indices scheduled to them (`stride = n_r`), so the indices
/// that go to other receivers are not holes; every other receiver holds the whole stream
/// (`stride = 1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IndexSet {
    stride: u64,
    offset: u64,
    /// Lane position (`k / stride`) of the smallest index not held.
    next: u64,
    above: BTreeSet<u64>,
}

impl Default for IndexSet {
    fn default() -> Self {
        IndexSet::lane(1, 0)
    }
}

impl IndexSet {
    /// An empty set of the indices `k ≡ offset (mod stride)`.
    pub(crate) fn lane(stride: u64, offset: u64) -> Self {
        let stride = stride.max(1);
        IndexSet {
            stride,
            offset: offset % stride,
            next: 0,
            above: BTreeSet::new(),
        }
    }

    /// Lane position of `k`, if `k` is in the lane.
    fn position(&self, k: StreamIndex) -> Option<u64> {
        (k.0 % self.stride == self.offset).then_some(k.0 / self.stride)
    }

    /// Whether `k` belongs to this set's lane at all.
    pub(crate) fn in_lane(&self, k: StreamIndex) -> bool {
        self.position(k).is_some()
    }

    /// The smallest index of the lane not in the set.
    pub(crate) fn next(&self) -> StreamIndex {
        StreamIndex(
            self.next
                .saturating_mul(self.stride)
                .saturating_add(self.offset),
        )
    }

    /// Whether `k` is in the set.
    pub(crate) fn contains(&self, k: StreamIndex) -> bool {
        self.position(k)
            .is_some_and(|p| p < self.next || self.above.contains(&p))
    }

    /// Whether `k` lies `window` or more lane positions past `next`.
    pub(crate) fn beyond(&self, k: StreamIndex, window: u64) -> bool {
        k.0 / self.stride >= self.next.saturating_add(window)
    }

    /// Adds `k`; `false` if it was already there or is not in the lane.
    pub(crate) fn insert(&mut self, k: StreamIndex) -> bool {
        let Some(p) = self.position(k) else {
            return false;
        };
        if p < self.next {
            return false;
        }
        if p == self.next {
            self.next += 1;
            while self.above.remove(&self.next) {
                self.next += 1;
            }
            true
        } else {
            self.above.insert(p)
        }
    }

    /// How many positions above `next` are held (the holes' bookkeeping).
    #[cfg(test)]
    pub(crate) fn sparse_len(&self) -> usize {
        self.above.len()
    }
}

/// How a baseline uses the shared machinery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Which protocol this is.
    pub(crate) kind: ProtocolKind,
    /// Receivers pass entries they got directly from the other cluster on to every other node
    /// of their own cluster, and accept [`BatchKind::Internal`] batches.
    pub(crate) broadcast: bool,
    /// Receiver `i` of the other stream is sent only the indices `k ≡ i (mod n)` (OST): it
    /// refuses the others and tracks holes in its own lane only.
    pub(crate) lanes: bool,
    /// Receivers send cumulative acks of durably received entries to these nodes of the other
    /// cluster (by index), piggybacked on cross batches or as ack-only batches.
    pub(crate) ack_to: u32,
}

/// Entries waiting to go to one destination.
#[derive(Debug)]
struct Outbox {
    entries: Vec<Entry>,
    bytes: usize,
    deadline: Time,
}

/// The verifier, behind a `Debug` that prints nothing of it.
struct Verifier(Box<dyn EntryVerifier>);

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EntryVerifier")
    }
}

/// Ack bookkeeping of a receiver (only for protocols with acks).
#[derive(Debug, Default)]
struct AckState {
    /// The `next` last advertised to each ack target.
    advertised: BTreeMap<NodeId, StreamIndex>,
    /// When the next ack-only round is due, if one is.
    due: Option<Time>,
    /// When the last ack-only round went out.
    last_round: Option<Time>,
}

/// One relay's shared baseline state: see the module docs.
#[derive(Debug)]
pub(crate) struct Core {
    setup: Setup,
    rules: Rules,
    verifier: Verifier,
    /// Latest time seen on any input (for inputs that carry none, such as `handle_persisted`).
    last_now: Time,

    // Sending side.
    /// Smallest own-stream index not yet handed in by `handle_committed`.
    committed_next: StreamIndex,
    outboxes: BTreeMap<NodeId, Outbox>,
    deadlines: BTreeSet<(Time, NodeId)>,

    // Receiving side.
    /// Indices of the other stream received (delivered, or delivered before a restart).
    received: IndexSet,
    /// Indices of the other stream known durable.
    durable: IndexSet,
    /// Delivered during the current input, not yet in a persist op.
    unpersisted: Vec<StreamIndex>,
    /// Persist ops handed out and not yet confirmed.
    in_flight: BTreeMap<PersistId, Vec<StreamIndex>>,
    next_persist: u64,
    /// An own-stream QUACK to record in the next persist op.
    quack_to_persist: Option<StreamIndex>,
    acks: Option<AckState>,

    // Outputs.
    transmits: VecDeque<Transmit>,
    deliveries: VecDeque<Delivery>,
    persists: VecDeque<PersistOp>,
    events: VecDeque<Event>,
    stats: StreamStatus,
}

impl Core {
    /// A relay's shared state, seeded from what it recovered after a restart.
    pub(crate) fn new(
        setup: Setup,
        verifier: Box<dyn EntryVerifier>,
        recovered: &Recovered,
        rules: Rules,
    ) -> Self {
        let mut received = if rules.lanes {
            IndexSet::lane(setup.local.n() as u64, u64::from(setup.me.index.0))
        } else {
            IndexSet::default()
        };
        for &k in &recovered.received {
            received.insert(k);
        }
        // After a restart with entries in hand, tell the senders at once (their view of our
        // `next` may be gone with them, and it changes only when something new arrives).
        let acks = (rules.ack_to > 0).then(|| AckState {
            due: (received.next() > StreamIndex(0)).then_some(Time::ZERO),
            ..AckState::default()
        });
        let stats = StreamStatus {
            next_expected: received.next().0,
            ..StreamStatus::default()
        };
        Core {
            setup,
            rules,
            verifier: Verifier(verifier),
            last_now: Time::ZERO,
            committed_next: StreamIndex(0),
            outboxes: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            durable: received.clone(),
            received,
            unpersisted: Vec::new(),
            in_flight: BTreeMap::new(),
            next_persist: 0,
            quack_to_persist: None,
            acks,
            transmits: VecDeque::new(),
            deliveries: VecDeque::new(),
            persists: VecDeque::new(),
            events: VecDeque::new(),
            stats,
        }
    }

    /// This relay.
    pub(crate) fn me(&self) -> NodeId {
        self.setup.me
    }

    /// Its own cluster.
    pub(crate) fn local(&self) -> &ClusterConfig {
        &self.setup.local
    }

    /// The other cluster.
    pub(crate) fn remote(&self) -> &ClusterConfig {
        &self.setup.remote
    }

    /// Tuning.
    pub(crate) fn params(&self) -> &Params {
        &self.setup.params
    }

    /// Which protocol this is.
    pub(crate) fn kind(&self) -> ProtocolKind {
        self.rules.kind
    }

    /// Records the time of an input.
    pub(crate) fn observe(&mut self, now: Time) {
        self.last_now = self.last_now.max(now);
    }

    /// Accepts an own-stream entry from `handle_committed`; `false` if its index was already
    /// handed in (a replay), in which case the caller ignores it.
    pub(crate) fn accept_committed(&mut self, now: Time, entry: &Entry) -> bool {
        self.observe(now);
        if entry.k < self.committed_next {
            return false;
        }
        self.committed_next = entry.k.next();
        self.stats.exported += 1;
        true
    }

    /// Records that this relay sent `k` across in its original role.
    pub(crate) fn note_sent(&mut self, k: StreamIndex) {
        self.stats.originals_sent += 1;
        self.events.push_back(Event::Sent { k });
    }

    /// Records that this relay resent `k` (one entry, however many copies).
    pub(crate) fn note_resent(&mut self) {
        self.stats.resends += 1;
    }

    /// Emits an event.
    pub(crate) fn event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// The own-stream QUACK advanced (protocols with acks): reported, persisted lazily.
    pub(crate) fn note_quack(&mut self, quack: StreamIndex) {
        self.stats.quack = quack.0;
        self.quack_to_persist = Some(quack);
        self.events.push_back(Event::Quack { quack });
    }

    /// The own-stream QUACK recovered after a restart (status only; nothing to report).
    pub(crate) fn restore_quack(&mut self, quack: StreamIndex) {
        self.stats.quack = quack.0;
    }

    /// Queues `entry` for `to` (a node of either cluster), flushing the batch once it is full.
    pub(crate) fn send(&mut self, now: Time, to: NodeId, entry: Entry) {
        let delay = self.setup.params.batch_delay;
        let outbox = self.outboxes.entry(to).or_insert_with(|| {
            let deadline = now.add(delay);
            self.deadlines.insert((deadline, to));
            Outbox {
                entries: Vec::new(),
                bytes: 0,
                deadline,
            }
        });
        outbox.bytes += entry.payload.len() + entry.proof.len();
        outbox.entries.push(entry);
        if outbox.bytes >= self.setup.params.batch_bytes || delay.is_zero() {
            self.flush(to);
        }
    }

    /// Sends whatever is waiting for `to` now.
    fn flush(&mut self, to: NodeId) {
        let Some(outbox) = self.outboxes.remove(&to) else {
            return;
        };
        self.deadlines.remove(&(outbox.deadline, to));
        let kind = if to.side == self.setup.me.side {
            BatchKind::Internal
        } else {
            BatchKind::Cross {
                ack: self.ack_for(to),
                quack_claim: None,
                exported: self.committed_next,
            }
        };
        self.transmits.push_back(Transmit {
            to,
            batch: Batch {
                epoch: self.setup.epoch,
                kind,
                entries: outbox.entries,
            },
        });
    }

    /// The ack to put on a cross batch to `to`, recording that `to` has been told.
    fn ack_for(&mut self, to: NodeId) -> Option<Ack> {
        let next = self.durable.next();
        let acks = self.acks.as_mut()?;
        if to.index.0 < self.rules.ack_to {
            acks.advertised.insert(to, next);
        }
        Some(Ack {
            next,
            phi: Bytes::new(),
        })
    }

    /// Processes a batch from `from`: validates its kind and direction, then checks, delivers
    /// and (if the protocol broadcasts) passes on each new entry. Returns the ack it carried,
    /// for protocols with acks.
    pub(crate) fn receive(&mut self, now: Time, from: NodeId, batch: Batch) -> Option<Ack> {
        self.observe(now);
        let me = self.setup.me;
        let cluster = if from.side == me.side {
            &self.setup.local
        } else {
            &self.setup.remote
        };
        if from.index.as_usize() >= cluster.n() || from == me {
            self.misbehaviour(from, MisbehaviourKind::Malformed, "unknown sender".into());
            return None;
        }
        if batch.epoch != self.setup.epoch {
            let detail = format!(
                "batch of epoch {}, ours is {}",
                batch.epoch, self.setup.epoch
            );
            self.misbehaviour(from, MisbehaviourKind::Malformed, detail);
            return None;
        }
        let (path, ack) = match batch.kind {
            BatchKind::Cross { ack, .. } if from.side != me.side => (DeliveryPath::Direct, ack),
            BatchKind::Internal if from.side == me.side && self.rules.broadcast => {
                (DeliveryPath::Internal, None)
            }
            other => {
                let what = match other {
                    BatchKind::Cross { .. } => "cross batch from our own cluster",
                    BatchKind::Internal if from.side != me.side => {
                        "internal batch from the other cluster"
                    }
                    BatchKind::Internal => "internal batch, which this protocol never sends",
                    BatchKind::Fetch { .. } => "fetch batch, which this protocol never sends",
                };
                let detail = format!("{what} ({})", self.rules.kind.name());
                self.misbehaviour(from, MisbehaviourKind::Malformed, detail);
                return None;
            }
        };
        self.receive_entries(now, from, path, batch.entries);
        if self.acks.is_some() { ack } else { None }
    }

    fn receive_entries(
        &mut self,
        now: Time,
        from: NodeId,
        path: DeliveryPath,
        entries: Vec<Entry>,
    ) {
        let source = self.setup.remote.side;
        let mut out_of_window: Option<(StreamIndex, usize)> = None;
        let mut bad_proof: Option<(StreamIndex, String, usize)> = None;
        let mut not_mine: Option<(StreamIndex, usize)> = None;
        for entry in entries {
            let k = entry.k;
            if !self.received.in_lane(k) {
                not_mine.get_or_insert((k, 0)).1 += 1;
                continue;
            }
            if self.received.contains(k) {
                // A duplicate (every copy past the first, in ATA and OTU): neither delivered,
                // acknowledged nor passed on, so it needs no proof check.
                continue;
            }
            if self.received.beyond(k, self.setup.params.recv_window) {
                out_of_window.get_or_insert((k, 0)).1 += 1;
                continue;
            }
            if let Err(e) = self.verifier.0.verify(source, &entry) {
                bad_proof.get_or_insert((k, e.to_string(), 0)).2 += 1;
                continue;
            }
            self.received.insert(k);
            self.unpersisted.push(k);
            self.stats.delivered += 1;
            if path == DeliveryPath::Direct && self.rules.broadcast {
                for i in 0..self.setup.local.n() as u32 {
                    let peer = NodeId::new(self.setup.me.side, i);
                    if peer != self.setup.me {
                        self.send(now, peer, entry.clone());
                    }
                }
            }
            self.deliveries.push_back(Delivery { entry, from, path });
        }
        // One report per batch and kind, so a hostile batch cannot blow up the event queue.
        if let Some((k, count)) = not_mine {
            let detail = format!("{count} entries scheduled to another receiver, first {k}");
            self.misbehaviour(from, MisbehaviourKind::Malformed, detail);
        }
        if let Some((k, count)) = out_of_window {
            let detail = format!(
                "{count} entries outside the receive window, first {k} (next {})",
                self.received.next()
            );
            self.misbehaviour(from, MisbehaviourKind::OutOfWindow, detail);
        }
        if let Some((k, why, count)) = bad_proof {
            let detail = format!("{count} entries with bad proofs, first {k}: {why}");
            self.misbehaviour(from, MisbehaviourKind::BadProof, detail);
        }
    }

    fn misbehaviour(&mut self, peer: NodeId, kind: MisbehaviourKind, detail: String) {
        self.events
            .push_back(Event::Misbehaviour { peer, kind, detail });
    }

    /// Fires expired batch and ack timers.
    pub(crate) fn on_timeout(&mut self, now: Time) {
        self.observe(now);
        while let Some(&(deadline, to)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.flush(to);
        }
        let Some(acks) = self.acks.as_mut() else {
            return;
        };
        if acks.due.is_none_or(|due| due > now) {
            return;
        }
        acks.due = None;
        acks.last_round = Some(now);
        let next = self.durable.next();
        for i in 0..self.rules.ack_to.min(self.setup.remote.n() as u32) {
            let to = NodeId::new(self.setup.remote.side, i);
            if acks.advertised.get(&to).is_some_and(|&told| told >= next) {
                continue;
            }
            acks.advertised.insert(to, next);
            self.transmits.push_back(Transmit {
                to,
                batch: Batch {
                    epoch: self.setup.epoch,
                    kind: BatchKind::Cross {
                        ack: Some(Ack {
                            next,
                            phi: Bytes::new(),
                        }),
                        quack_claim: None,
                        exported: self.committed_next,
                    },
                    entries: Vec::new(),
                },
            });
        }
    }

    /// The earliest batch or ack deadline.
    pub(crate) fn next_deadline(&self) -> Option<Time> {
        let batch = self.deadlines.first().map(|&(t, _)| t);
        let ack = self.acks.as_ref().and_then(|a| a.due);
        match (batch, ack) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A persist op is durable: its indices may now be acknowledged.
    pub(crate) fn on_persisted(&mut self, id: PersistId) {
        let Some(indices) = self.in_flight.remove(&id) else {
            return;
        };
        let before = self.durable.next();
        for k in indices {
            self.durable.insert(k);
        }
        let next = self.durable.next();
        self.stats.next_expected = next.0;
        if next == before {
            return;
        }
        let noop = self.setup.params.noop_delay;
        let now = self.last_now;
        if let Some(acks) = self.acks.as_mut()
            && acks.due.is_none()
        {
            let earliest = acks.last_round.map_or(now, |t| t.add(noop));
            acks.due = Some(earliest.max(now));
        }
    }

    /// Ends an input: whatever was delivered during it (and a QUACK that advanced) goes into
    /// one persist op.
    pub(crate) fn end_input(&mut self) {
        if self.unpersisted.is_empty() && self.quack_to_persist.is_none() {
            return;
        }
        let id = PersistId(self.next_persist);
        self.next_persist += 1;
        let received = std::mem::take(&mut self.unpersisted);
        if !received.is_empty() {
            self.in_flight.insert(id, received.clone());
        }
        self.persists.push_back(PersistOp {
            id,
            received,
            quack: self.quack_to_persist.take(),
        });
    }

    /// Next batch to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next write to make durable.
    pub(crate) fn poll_persist(&mut self) -> Option<PersistOp> {
        self.persists.pop_front()
    }

    /// Next delivery.
    pub(crate) fn poll_deliver(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// Next event.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Counters.
    pub(crate) fn status(&self) -> StreamStatus {
        self.stats.clone()
    }
}

/// Implements [`crate::protocol::Protocol`]'s output side (`poll_*` except `poll_timeout`,
/// `status`, `kind`, `handle_persisted`) by forwarding to a `core: Core` field.
macro_rules! forward_outputs {
    () => {
        fn kind(&self) -> $crate::protocol::ProtocolKind {
            self.core.kind()
        }

        fn handle_persisted(&mut self, id: $crate::protocol::PersistId) {
            self.core.on_persisted(id);
            self.core.end_input();
        }

        fn poll_transmit(&mut self) -> Option<$crate::protocol::Transmit> {
            self.core.poll_transmit()
        }

        fn poll_persist(&mut self) -> Option<$crate::protocol::PersistOp> {
            self.core.poll_persist()
        }

        fn poll_deliver(&mut self) -> Option<$crate::protocol::Delivery> {
            self.core.poll_deliver()
        }

        fn poll_event(&mut self) -> Option<$crate::protocol::Event> {
            self.core.poll_event()
        }

        fn status(&self) -> $crate::protocol::StreamStatus {
            self.core.status()
        }
    };
}
pub(crate) use forward_outputs;

/// The network and timer inputs of a baseline that has no state beyond its [`Core`] (OST, ATA,
/// LL): everything goes to the core. OTU has its own, for acks and takeovers.
macro_rules! forward_core_inputs {
    () => {
        fn handle_batch(
            &mut self,
            now: $crate::types::Time,
            from: $crate::types::NodeId,
            batch: $crate::protocol::Batch,
        ) {
            self.core.receive(now, from, batch);
            self.core.end_input();
        }

        fn handle_timeout(&mut self, now: $crate::types::Time) {
            self.core.on_timeout(now);
            self.core.end_input();
        }

        fn poll_timeout(&self) -> Option<$crate::types::Time> {
            self.core.next_deadline()
        }
    };
}
pub(crate) use forward_core_inputs;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_set_keeps_only_holes() {
        let mut s = IndexSet::default();
        assert!(s.insert(StreamIndex(2)));
        assert!(s.insert(StreamIndex(1)));
        assert!(!s.insert(StreamIndex(2)));
        assert_eq!(s.next(), StreamIndex(0));
        assert_eq!(s.sparse_len(), 2);
        assert!(s.insert(StreamIndex(0)));
        assert_eq!(s.next(), StreamIndex(3));
        assert_eq!(s.sparse_len(), 0);
        assert!(s.contains(StreamIndex(1)));
        assert!(!s.contains(StreamIndex(3)));
        for k in 3..10_000 {
            s.insert(StreamIndex(k));
        }
        assert_eq!(s.sparse_len(), 0, "no growth below next");
    }

    #[test]
    fn index_set_lanes_skip_other_receivers_indices() {
        let mut s = IndexSet::lane(4, 1);
        assert_eq!(s.next(), StreamIndex(1));
        assert!(!s.in_lane(StreamIndex(0)));
        assert!(!s.insert(StreamIndex(2)));
        assert!(s.insert(StreamIndex(5)));
        assert_eq!(s.next(), StreamIndex(1));
        assert!(s.insert(StreamIndex(1)));
        assert_eq!(s.next(), StreamIndex(9));
        assert_eq!(s.sparse_len(), 0);
        assert!(s.contains(StreamIndex(5)) && !s.contains(StreamIndex(4)));
        assert!(!s.beyond(StreamIndex(8 + 4 * 9), 10));
        assert!(s.beyond(StreamIndex(8 + 4 * 10), 10));
    }
}
