//! Picsou: cross-cluster consistent broadcast with QUACKs, as a sans-IO state machine.
//!
//! One [`Picsou`] is one relay. It is the sender of its own cluster's stream ([`outbound`]) and a
//! receiver of the other cluster's stream ([`inbound`]); the two directions are independent
//! except that acks of the inbound stream ride on the outbound batches.
//!
//! # What it does (the shared design's PROTOCOL.md, §4–§10)
//!
//! - **Original sends** ([`schedule`]): entry `k` is sent once, by `s(k)` to `r(k)`, under a
//!   stake-aware schedule, paced by a soft window that yields after `max_message_delay`.
//! - **Receive**: a receiver verifies the proof, de-duplicates by index, delivers, and — if it got
//!   the entry directly — passes it once to every other relay of its cluster.
//! - **Acks**: the durable cumulative ack `(next, φ-bits)` rides on every cross batch. Every
//!   `noop_delay` an ack round sends ack-only batches to a few remote relays that have not seen
//!   the latest ack and have heard nothing from this relay for `noop_delay` (enough of them that
//!   every sender hears from receivers of more than `u` stake each round); a relay that is
//!   behind, with no news, sends one after `noop_delay` without cross traffic, round-robin.
//! - **Keep-alives**: while it has entries in flight or is behind, a relay sends an empty batch
//!   to every relay it has sent nothing to for `max_message_delay / 8`, so that silence (which
//!   reroutes work, see [`outbound`]) means down, not busy.
//! - **QUACK** ([`quack`]): the highest index below which `u_r + 1` stake of receivers hold
//!   everything. Entries below it are dropped from memory.
//! - **Loss** ([`outbound`]): an ack that shows `k` missing is a report; reports from one receiver
//!   count again only a measured spacing apart, and only once `k` has had time to arrive. The
//!   resend level of `k` is the largest `N` such that `r_r + 1` stake reported it `N + 1` times.
//! - **Resend roles** ([`resend`]): role `i ≥ 1` of `k` resends to its receiver once the level
//!   reaches `i`, unless `u_r + 1` stake already individually hold `k`; higher levels retry
//!   every pair, the original included, for what the network lost, once every role had time to
//!   fire (relays count reports at different spacings).
//! - **§4.3 wedge**: a sender that hears a report for an index below its claim point (its QUACK,
//!   or past it as far as receivers of more than `u_r` stake individually hold every entry)
//!   attaches that point as a claim on its next batch to that receiver (a report inside the
//!   last claim that receiver was told asks for none, until `max_message_delay` has passed); a
//!   receiver holding claims from `r_s + 1` stake of senders that it is behind fetches the
//!   missing entries from its own cluster's relays, which keep the last `fetch_retain` entries
//!   they delivered (at most `fetch_retain_bytes` of them). It waits `fetch_delay` first, or
//!   longer once entries it fetched arrived by broadcast anyway (see [`Picsou::fetch_wait`]).
//!
//! Time is always an argument; nothing here reads a clock, draws randomness or iterates a
//! `HashMap`.

pub mod batcher;
pub mod inbound;
pub mod outbound;
pub mod pacing;
pub mod quack;
pub mod resend;
pub mod schedule;
pub mod suspicion;
#[cfg(test)]
mod tests;

use crate::picsou::resend::most_failing;
use crate::protocol::{
    Batch, BatchKind, ClusterConfig, Delivery, DeliveryPath, Entry, EntryVerifier, Event,
    MisbehaviourKind, PersistId, PersistOp, Protocol, ProtocolKind, Recovered, Setup, StreamStatus,
    Transmit,
};
use crate::types::{NodeId, NodeIdx, Side, StreamIndex, Time};
use batcher::Batcher;
use inbound::{Admit, Inbound};
use outbound::{OutAction, Outbound};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Most indices one fetch asks for, and most a relay answers in one go.
const FETCH_MAX: usize = 1024;

/// [`Picsou::fetch_wait`]'s learned part loses `1 / FETCH_LATE_DECAY` of itself per entry that
/// arrives by broadcast without having been fetched: halved after about 44 of them.
const FETCH_LATE_DECAY: u64 = 64;

/// Keep-alives per `max_message_delay` (the silence after which a relay is taken for down).
const KEEPALIVES_PER_SILENCE: u32 = 8;

/// One index a relay fetched.
#[derive(Clone, Copy, Debug)]
struct Asked {
    /// When it was asked for.
    at: Time,
    /// The peer asked.
    peer: NodeIdx,
    /// Since when it had been missing below a wedge point.
    missing_since: Time,
}

/// One relay running Picsou.
pub struct Picsou {
    setup: Setup,
    verifier: Box<dyn EntryVerifier>,
    out: Outbound,
    inb: Inbound,
    cross: Batcher,
    internal: Batcher,
    transmits: VecDeque<Transmit>,
    deliveries: VecDeque<Delivery>,
    events: VecDeque<Event>,
    next_persist: u64,
    /// QUACK carried by each persist op not yet confirmed.
    persist_quack: BTreeMap<PersistId, u64>,
    quack_requested: u64,
    quack_durable: u64,
    last_cross_sent: Time,
    /// Per remote relay: ack version it last received from us.
    informed: Vec<u64>,
    /// The remote relay ([`Picsou::maybe_noop`]'s turns start after it) last informed: always
    /// below the remote cluster's size (this relay's own index may not be, when the clusters
    /// differ in size).
    ack_rr: usize,
    /// Remote relays one ack round informs ([`ack_fanout`]).
    ack_fanout: usize,
    /// When the last ack round went out.
    last_ack_round: Time,
    fetch_rr: usize,
    /// A §4.3 wedge point above our `next`, and when we first saw it.
    wedge_seen: Option<(u64, Time)>,
    /// Indices this relay asked a peer for (see [`Picsou::maybe_fetch`]).
    asked: BTreeMap<u64, Asked>,
    /// The longest an entry this relay fetched had been missing when another peer's copy of it
    /// arrived anyway, decaying (see [`Picsou::fetch_wait`]).
    fetch_late_ns: u64,
    /// When this relay last sent anything to each relay of its cluster and of the other one.
    sent_local: Vec<Time>,
    sent_remote: Vec<Time>,
}

impl std::fmt::Debug for Picsou {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picsou")
            .field("me", &self.setup.me)
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Picsou {
    /// A relay starting from what it recovered from its store (`Recovered::default()` on first
    /// start).
    pub fn new(setup: Setup, verifier: Box<dyn EntryVerifier>, recovered: Recovered) -> Self {
        let p = &setup.params;
        let quack = recovered.quack.map_or(0, |q| q.0);
        let out = Outbound::new(
            setup.me.index,
            setup.local.clone(),
            setup.remote.clone(),
            p.clone(),
            quack,
        );
        let inb = Inbound::new(
            setup.remote.clone(),
            p.recv_window,
            p.phi,
            inbound::Retention {
                entries: p.fetch_retain,
                bytes: p.fetch_retain_bytes,
            },
            &recovered.received,
        );
        Picsou {
            cross: Batcher::new(p.batch_bytes, p.batch_delay),
            internal: Batcher::new(p.batch_bytes, p.batch_delay),
            informed: vec![0; setup.remote.n()],
            verifier,
            out,
            inb,
            transmits: VecDeque::new(),
            deliveries: VecDeque::new(),
            events: VecDeque::new(),
            next_persist: 1,
            persist_quack: BTreeMap::new(),
            quack_requested: quack,
            quack_durable: quack,
            last_cross_sent: Time::ZERO,
            ack_rr: setup.me.index.as_usize() % setup.remote.n().max(1),
            ack_fanout: ack_fanout(&setup.local, setup.remote.n()),
            last_ack_round: Time::ZERO,
            fetch_rr: setup.me.index.as_usize(),
            wedge_seen: None,
            asked: BTreeMap::new(),
            fetch_late_ns: 0,
            sent_local: vec![Time::ZERO; setup.local.n()],
            sent_remote: vec![Time::ZERO; setup.remote.n()],
            setup,
        }
    }

    fn me(&self) -> NodeId {
        self.setup.me
    }

    fn local_side(&self) -> Side {
        self.setup.me.side
    }

    fn remote_side(&self) -> Side {
        self.setup.me.side.other()
    }

    fn misbehaviour(&mut self, peer: NodeId, kind: MisbehaviourKind, detail: String) {
        self.events
            .push_back(Event::Misbehaviour { peer, kind, detail });
    }

    /// Sends a cross batch to remote relay `to`, carrying our ack, a claim if it is behind our
    /// claim point ([`Outbound::claim_for`]), and the entries given.
    fn send_cross(&mut self, now: Time, to: NodeIdx, entries: Vec<Entry>) {
        let batch = Batch {
            epoch: self.setup.epoch,
            kind: BatchKind::Cross {
                ack: Some(self.inb.ack()),
                quack_claim: self.out.claim_for(now, to).map(StreamIndex),
                exported: StreamIndex(self.out.exported()),
            },
            entries,
        };
        if let Some(v) = self.informed.get_mut(to.as_usize()) {
            *v = self.inb.version();
        }
        if let Some(t) = self.sent_remote.get_mut(to.as_usize()) {
            *t = now;
        }
        self.last_cross_sent = now;
        self.transmits.push_back(Transmit {
            to: NodeId {
                side: self.remote_side(),
                index: to,
            },
            batch,
        });
    }

    fn send_internal(&mut self, now: Time, to: NodeIdx, kind: BatchKind, entries: Vec<Entry>) {
        if let Some(t) = self.sent_local.get_mut(to.as_usize()) {
            *t = now;
        }
        self.transmits.push_back(Transmit {
            to: NodeId {
                side: self.local_side(),
                index: to,
            },
            batch: Batch {
                epoch: self.setup.epoch,
                kind,
                entries,
            },
        });
    }

    /// Turns the sending half's actions into batches and events.
    fn drain_outbound(&mut self, now: Time) {
        for action in self.out.take_actions() {
            match action {
                OutAction::Send { entry, to, level } => {
                    let k = entry.k;
                    if let Some(full) = self.cross.push(now, to, entry) {
                        self.send_cross(now, to, full);
                    }
                    let to = NodeId {
                        side: self.remote_side(),
                        index: to,
                    };
                    self.events.push_back(if level == 0 {
                        Event::Sent { k }
                    } else {
                        Event::Resent { k, level, to }
                    });
                }

                OutAction::Quack(q) => self.events.push_back(Event::Quack {
                    quack: StreamIndex(q),
                }),
                OutAction::Suspect(s) => {
                    let peer = NodeId {
                        side: self.remote_side(),
                        index: s.receiver,
                    };
                    self.misbehaviour(peer, MisbehaviourKind::AckLag, s.detail);
                }
            }
        }
    }

    /// Passes an entry on to every other relay of this cluster.
    fn broadcast(&mut self, now: Time, entry: &Entry) {
        if !self.inb.mark_broadcast(entry.k) {
            return;
        }
        let me = self.me().index;
        for i in 0..self.setup.local.n() as u32 {
            let peer = NodeIdx(i);
            if peer == me {
                continue;
            }
            if let Some(full) = self.internal.push(now, peer, entry.clone()) {
                self.send_internal(now, peer, BatchKind::Internal, full);
            }
        }
    }

    /// Takes in one entry of the other cluster's stream.
    fn receive(&mut self, now: Time, from: NodeId, entry: Entry, path: DeliveryPath) {
        match self.inb.admit(entry.k) {
            Admit::OutOfWindow => {
                let detail = format!("{} beyond window at {}", entry.k, self.inb.next());
                self.misbehaviour(from, MisbehaviourKind::OutOfWindow, detail);
            }
            Admit::Duplicate => {
                if path == DeliveryPath::Internal {
                    self.note_internal_copy(now, from.index, entry.k);
                }
                // A direct copy of something we only got by broadcast means the sender counts on
                // us to pass it on: do so once, from our own verified copy.
                if path == DeliveryPath::Direct
                    && let Some(copy) = self.inb.retained(entry.k).cloned()
                {
                    self.broadcast(now, &copy);
                }
            }
            Admit::New => {
                if let Err(e) = self.verifier.verify(self.remote_side(), &entry) {
                    self.misbehaviour(from, MisbehaviourKind::BadProof, e.to_string());
                    return;
                }
                self.inb.record(&entry);
                // Got from a peer, it is not passed on, unless a sender later sends it to us
                // directly (see `Admit::Duplicate` above).
                match path {
                    DeliveryPath::Direct => self.broadcast(now, &entry),
                    DeliveryPath::Internal => self.note_internal_copy(now, from.index, entry.k),
                }
                self.deliveries.push_back(Delivery { entry, from, path });
            }
        }
    }

    /// Learns from a copy of `k` a peer sent: if it is not the answer to our fetch of `k` (made
    /// within `max_message_delay`, after which `k` may be asked for again), the fetch was early
    /// by the time `k` had been missing, and [`Picsou::fetch_wait`] rises to it; a copy of an
    /// entry not fetched lowers the learned wait a little.
    fn note_internal_copy(&mut self, now: Time, from: NodeIdx, k: StreamIndex) {
        let retry = self.setup.params.max_message_delay;
        match self.asked.get(&k.0) {
            Some(a) if a.peer != from && now < a.at.add(retry) => {
                let missing = now.since(a.missing_since);
                let ns = u64::try_from(missing.as_nanos()).unwrap_or(u64::MAX);
                self.fetch_late_ns = self.fetch_late_ns.max(ns);
                self.asked.remove(&k.0);
            }
            Some(a) if a.peer == from => {}
            _ => self.fetch_late_ns -= self.fetch_late_ns / FETCH_LATE_DECAY,
        }
    }

    /// How long indices stay missing below a wedge point before this relay fetches them:
    /// `fetch_delay`, or, if longer, the longest an entry it fetched had been missing when a copy
    /// from another peer (the broadcast it was waiting for) arrived anyway; never above
    /// `max_message_delay`. In a failure-free run every fetched entry also arrives by broadcast,
    /// so each fetch is a copy too many: over libp2p with 7 + 7 relays sharing two cores, 1 MB
    /// broadcasts ran later than `fetch_delay` (100 ms there) and fetches added half a copy per
    /// message to the 6 internal copies it needs (see docs/BENCHMARKS.md). A Byzantine peer
    /// sending late copies of what we fetched can stretch it only up to that cap.
    fn fetch_wait(&self) -> Duration {
        let p = &self.setup.params;
        Duration::from_nanos(self.fetch_late_ns)
            .max(p.fetch_delay)
            .min(p.max_message_delay.max(p.fetch_delay))
    }

    /// Answers a peer's fetch from retained entries.
    fn serve_fetch(&mut self, now: Time, from: NodeId, want: &[StreamIndex]) {
        let entries: Vec<Entry> = want
            .iter()
            .take(FETCH_MAX)
            .filter_map(|k| self.inb.retained(*k).cloned())
            .collect();
        if !entries.is_empty() {
            self.send_internal(now, from.index, BatchKind::Internal, entries);
        }
    }

    /// Asks a peer for entries a quorum of senders says some correct relay here holds, once they
    /// have stayed missing for [`Picsou::fetch_wait`] (entries merely in flight by broadcast
    /// arrive sooner and are not fetched). An index is asked for again only after `max_message_delay`:
    /// the answer may be queued behind data, and asking every `fetch_delay` while it was
    /// (a receiver lagging on saturated cores) piled up copies of entries already on their way,
    /// which lagged it further (measured over libp2p on loopback: 8 MB of internal traffic per
    /// 1 MB message instead of 3, and a third of the throughput).
    fn maybe_fetch(&mut self, now: Time) {
        let wedge = self.inb.wedge_point();
        let next = self.inb.next();
        if next >= wedge {
            self.wedge_seen = None;
            return;
        }
        let (point, since) = *self.wedge_seen.get_or_insert((wedge, now));
        if now < since.add(self.fetch_wait()) {
            return;
        }
        // Kept past delivery (until due again), so that a copy arriving after the answer is
        // still recognised; pruned only when a fetch is due, not on every input.
        let retry = self.setup.params.max_message_delay;
        self.asked.retain(|_, a| now < a.at.add(retry));
        let asked = &self.asked;
        let want: Vec<StreamIndex> = self
            .inb
            .missing_below(point, FETCH_MAX + asked.len())
            .into_iter()
            .filter(|k| !asked.contains_key(&k.0))
            .take(FETCH_MAX)
            .collect();
        let n = self.setup.local.n();
        self.wedge_seen = Some((wedge, now));
        if want.is_empty() || n < 2 {
            return;
        }
        self.fetch_rr = (self.fetch_rr + 1) % n;
        if self.fetch_rr == self.me().index.as_usize() {
            self.fetch_rr = (self.fetch_rr + 1) % n;
        }
        let peer = NodeIdx(self.fetch_rr as u32);
        for k in &want {
            let asked = Asked {
                at: now,
                peer,
                missing_since: since,
            };
            self.asked.insert(k.0, asked);
        }
        self.send_internal(now, peer, BatchKind::Fetch { want }, Vec::new());
    }

    /// The remote relays that have not seen our latest ack, with when we last sent them anything.
    fn uninformed(&self) -> impl Iterator<Item = (usize, Time)> + '_ {
        let version = self.inb.version();
        self.informed
            .iter()
            .zip(&self.sent_remote)
            .enumerate()
            .filter(move |&(_, (&v, _))| v < version)
            .map(|(j, (_, &t))| (j, t))
    }

    /// Whether this relay needs cross traffic though its ack has no news: it is behind (its
    /// `next` tells senders what to resend) or owes a claim.
    fn wants_idle_traffic(&self) -> bool {
        self.inb.behind() || self.out.owes_claims()
    }

    /// When the next ack-only batches are due: an ack round `noop_delay` after the previous one,
    /// once some remote relay that has not seen our latest ack has heard nothing from us for
    /// `noop_delay`; or, while [`Picsou::wants_idle_traffic`], after `noop_delay` of cross
    /// silence.
    fn noop_due(&self) -> Option<Time> {
        let delay = self.setup.params.noop_delay;
        let round = self
            .uninformed()
            .map(|(_, t)| t)
            .min()
            .map(|t| t.max(self.last_ack_round).add(delay));
        let idle = self
            .wants_idle_traffic()
            .then(|| self.last_cross_sent.add(delay));
        round.into_iter().chain(idle).min()
    }

    /// Sends ack-only batches when they are due ([`Picsou::noop_due`]). Receivers we owe a claim
    /// come first. An ack round then informs up to `ack_fanout` of the remote relays that have
    /// not seen our latest ack and have heard nothing from us for `noop_delay`, longest silent
    /// first, then in turn: every sender hears fresh acks from enough receivers to confirm its
    /// entries within about `noop_delay`, whoever our data happens to go to. Otherwise one
    /// ack-only batch goes round-robin.
    fn maybe_noop(&mut self, now: Time) {
        if self.noop_due().is_none_or(|due| now < due) {
            return;
        }
        let owed = self.out.take_owed_claims();
        if !owed.is_empty() {
            for j in owed {
                let entries = self.cross.take(j).unwrap_or_default();
                self.send_cross(now, j, entries);
            }
            return;
        }
        let n = self.setup.remote.n();
        let delay = self.setup.params.noop_delay;
        if now >= self.last_ack_round.add(delay) {
            // Longest silent first, then in turn after the last relay informed.
            let mut stale: Vec<(Time, usize, usize)> = self
                .uninformed()
                .filter(|&(_, t)| t.add(delay) <= now)
                .map(|(j, t)| (t, (j + n - self.ack_rr - 1) % n, j))
                .collect();
            if !stale.is_empty() {
                stale.sort_unstable();
                for &(_, _, j) in stale.iter().take(self.ack_fanout) {
                    let entries = self.cross.take(NodeIdx(j as u32)).unwrap_or_default();
                    self.send_cross(now, NodeIdx(j as u32), entries);
                    self.ack_rr = j;
                }
                self.last_ack_round = now;
                return;
            }
        }
        if self.wants_idle_traffic() && now >= self.last_cross_sent.add(delay) {
            let j = (self.ack_rr + 1) % n;
            self.ack_rr = j;
            let entries = self.cross.take(NodeIdx(j as u32)).unwrap_or_default();
            self.send_cross(now, NodeIdx(j as u32), entries);
        }
    }

    fn flush_due(&mut self, now: Time) {
        for (to, entries) in self.cross.take_due(now) {
            self.send_cross(now, to, entries);
        }
        for (to, entries) in self.internal.take_due(now) {
            self.send_internal(now, to, BatchKind::Internal, entries);
        }
    }

    /// How often a relay with work in flight makes sure every other relay hears from it.
    fn keepalive_every(&self) -> Duration {
        let p = &self.setup.params;
        (p.max_message_delay / KEEPALIVES_PER_SILENCE).max(p.noop_delay)
    }

    /// Whether anyone may be judging this relay's silence: it has entries not yet QUACKed (its
    /// peers send the same stream), or it is behind on the other stream (its senders are busy).
    fn keepalive_active(&self) -> bool {
        self.out.busy() || self.inb.behind()
    }

    /// When the next keep-alive is due, if any.
    fn keepalive_deadline(&self) -> Option<Time> {
        if !self.keepalive_active() {
            return None;
        }
        let every = self.keepalive_every();
        let me = self.me().index.as_usize();
        self.sent_local
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != me)
            .map(|(_, t)| *t)
            .chain(self.sent_remote.iter().copied())
            .min()
            .map(|t| t.add(every))
    }

    /// Sends an empty batch to every relay this relay has sent nothing to for
    /// [`Picsou::keepalive_every`], while it has work in flight: an ack-only batch across, an
    /// empty internal batch to a peer. A relay is taken for down when it stays silent while
    /// others are heard (see [`outbound`]); entries and broadcasts alone are bursty evidence
    /// (a busy relay's data waits behind its own queue, and a relay that gets nothing directly
    /// broadcasts nothing), and live relays taken for silent had their originals sent twice.
    /// A transport that serves batches without entries ahead of queued data (as the simulator's
    /// network does) makes this evidence independent of the data queues.
    fn maybe_keepalive(&mut self, now: Time) {
        if !self.keepalive_active() {
            return;
        }
        let every = self.keepalive_every();
        let me = self.me().index;
        for i in 0..self.setup.local.n() {
            let peer = NodeIdx(i as u32);
            if peer != me && now >= self.sent_local[i].add(every) {
                self.send_internal(now, peer, BatchKind::Internal, Vec::new());
            }
        }
        for j in 0..self.setup.remote.n() {
            if now >= self.sent_remote[j].add(every) {
                let to = NodeIdx(j as u32);
                let entries = self.cross.take(to).unwrap_or_default();
                self.send_cross(now, to, entries);
            }
        }
    }

    /// Work common to the end of every input.
    fn after_input(&mut self, now: Time) {
        self.drain_outbound(now);
        self.maybe_fetch(now);
        self.flush_due(now);
        self.maybe_noop(now);
        self.maybe_keepalive(now);
    }
}

/// How many remote relays one ack round informs. A sender confirms an entry once receivers of
/// more than `u` stake of this cluster hold it; in the worst case those are the `m` smallest
/// stakes. If each of our `n` relays informs `F` of the `n'` remote ones per round, a remote
/// relay hears from `n·F / n'` of ours on average, so `F = ⌈m·n' / n⌉` (at most `n'`).
fn ack_fanout(local: &ClusterConfig, remote_n: usize) -> usize {
    let mut stakes: Vec<u64> = local.stakes.iter().map(|s| s.0).collect();
    stakes.sort_unstable();
    let m = (most_failing(&stakes, local.u.0) + 1).min(local.n());
    (m * remote_n)
        .div_ceil(local.n().max(1))
        .clamp(1, remote_n.max(1))
}

impl Protocol for Picsou {
    fn kind(&self) -> ProtocolKind {
        ProtocolKind::Picsou
    }

    fn handle_committed(&mut self, now: Time, entry: Entry) {
        self.out.committed(now, entry);
        self.after_input(now);
    }

    fn handle_batch(&mut self, now: Time, from: NodeId, batch: Batch) {
        if batch.epoch != self.setup.epoch {
            let detail = format!("epoch {} while in {}", batch.epoch, self.setup.epoch);
            self.misbehaviour(from, MisbehaviourKind::Malformed, detail);
            return;
        }
        let from_remote = from.side == self.remote_side();
        let known = if from_remote {
            from.index.as_usize() < self.setup.remote.n()
        } else {
            from.index.as_usize() < self.setup.local.n() && from != self.me()
        };
        if !known {
            self.misbehaviour(from, MisbehaviourKind::Malformed, "unknown sender".into());
            return;
        }
        if from_remote {
            self.out.heard_from_receiver(now, from.index);
        } else {
            self.out.heard_from_peer(now, from.index);
        }
        match (batch.kind, from_remote) {
            (
                BatchKind::Cross {
                    ack,
                    quack_claim,
                    exported,
                },
                true,
            ) => {
                if let Some(ack) = ack
                    && self.out.on_ack(now, from.index, &ack)
                {
                    let detail = format!("ack next {} far past our stream", ack.next);
                    self.misbehaviour(from, MisbehaviourKind::ImpossibleAck, detail);
                }
                if let Some(c) = quack_claim {
                    self.inb.on_claim(from.index, c);
                }
                self.inb.on_exported(from.index, exported);
                for entry in batch.entries {
                    self.receive(now, from, entry, DeliveryPath::Direct);
                }
            }
            (BatchKind::Internal, false) => {
                for entry in batch.entries {
                    self.receive(now, from, entry, DeliveryPath::Internal);
                }
            }
            (BatchKind::Fetch { want }, false) => self.serve_fetch(now, from, &want),
            (kind, _) => {
                let detail = format!("{kind:?} batch from {from}");
                self.misbehaviour(from, MisbehaviourKind::Malformed, detail);
            }
        }
        self.after_input(now);
    }

    fn handle_timeout(&mut self, now: Time) {
        self.out.pump_originals(now);
        self.out.watch_lag(now);
        self.after_input(now);
    }

    fn handle_persisted(&mut self, id: PersistId) {
        self.inb.persisted(id);
        if let Some(q) = self.persist_quack.remove(&id) {
            self.quack_durable = self.quack_durable.max(q);
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    fn poll_persist(&mut self) -> Option<PersistOp> {
        let id = PersistId(self.next_persist);
        let received = self.inb.take_unflushed(id);
        let quack = self.out.quack();
        let quack = (quack > self.quack_requested).then_some(quack);
        if received.is_none() && quack.is_none() {
            return None;
        }
        self.next_persist += 1;
        if let Some(q) = quack {
            self.quack_requested = q;
            self.persist_quack.insert(id, q);
        }
        Some(PersistOp {
            id,
            received: received
                .unwrap_or_default()
                .into_iter()
                .map(StreamIndex)
                .collect(),
            quack: quack.map(StreamIndex),
        })
    }

    fn poll_deliver(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Time> {
        let noop = self.noop_due();
        let fetch = self
            .wedge_seen
            .filter(|_| self.inb.next() < self.inb.wedge_point())
            .map(|(_, since)| since.add(self.fetch_wait()));
        [
            self.cross.next_deadline(),
            self.internal.next_deadline(),
            self.out.window_deadline(),
            self.out.lag_deadline(),
            noop,
            fetch,
            self.keepalive_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn status(&self) -> StreamStatus {
        StreamStatus {
            exported: self.out.exported(),
            quack: self.out.quack(),
            originals_sent: self.out.originals_sent(),
            resends: self.out.resends(),
            next_expected: self.inb.next(),
            delivered: self.inb.delivered(),
        }
    }
}
