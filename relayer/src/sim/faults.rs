//! Fault specifications and the adversaries the simulator plants in a run.
//!
//! # Grammar
//!
//! ```text
//! SPEC  := "none" | ITEM ("," ITEM)*
//! ITEM  := KIND ":" COUNT [ "@" TIME [ "-" TIME ] ] [ ":" SIDE ]
//! KIND  := crash | restart | omit-broadcast | byz-drop | byz-ack-high | byz-ack-zero
//!        | byz-ack-delay | byz-dupack | byz-forge | byz-window
//! SIDE  := a | b            (default: the same count in each cluster)
//! TIME  := 500ms | 1.5s | 20us | 2 (seconds)
//! ```
//!
//! `crash:1` crashes one node per cluster from the start, `crash:1@200ms` at 200 ms;
//! `restart:1@100ms-300ms` crashes an honest node at 100 ms and restarts it from its store at
//! 300 ms; a Byzantine or omission kind with `@T` behaves honestly until `T`.
//!
//! Counts are per cluster. The faulty nodes' total stake must not exceed the cluster's `u`
//! (every kind counts, a restart too: the node is down for a while), and the stake of the `byz-*`
//! nodes must not exceed `r`. Nodes are assigned by [`Placement`] — by default consecutive
//! indices from 0, which hits consecutive slots of round-robin schedules (and the leader of the
//! leader-based baselines).
//!
//! Crashes and restarts are carried out by the engine. Every other kind wraps the node's protocol
//! in [`Faulty`], which rewrites what the node sends; it is protocol-agnostic: it only looks at
//! batches.

use crate::protocol::{
    Ack, Batch, BatchKind, Delivery, Entry, Event, PersistId, PersistOp, Protocol, ProtocolKind,
    StreamStatus, Transmit,
};
use crate::sim::net::{format_duration, parse_duration};
use crate::types::{NodeId, Side, StreamIndex, Time};
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What a faulty node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Stops (from the start, or at a time) and never comes back.
    Crash,
    /// Honest node that crashes at `T1` and restarts from its durable store at `T2`.
    Restart,
    /// Never sends internal (intra-cluster) batches.
    OmitBroadcast,
    /// Drops about half of the entries it should send across and half of its internal batches.
    ByzDrop,
    /// Claims in every ack to hold everything the source has committed so far.
    ByzAckHigh,
    /// Acks `next = 0` with an empty φ-list forever.
    ByzAckZero,
    /// Acks lag by φ: reports the φ entries below its real `next` as missing.
    ByzAckDelay,
    /// Spams copies of its latest ack as ack-only batches to every remote node.
    ByzDupack,
    /// Alters payloads of entries it sends and injects fabricated entries.
    ByzForge,
    /// Injects entries with indices far outside the receive window.
    ByzWindow,
}

impl FaultKind {
    /// Every kind, in grammar order.
    pub const ALL: [FaultKind; 10] = [
        FaultKind::Crash,
        FaultKind::Restart,
        FaultKind::OmitBroadcast,
        FaultKind::ByzDrop,
        FaultKind::ByzAckHigh,
        FaultKind::ByzAckZero,
        FaultKind::ByzAckDelay,
        FaultKind::ByzDupack,
        FaultKind::ByzForge,
        FaultKind::ByzWindow,
    ];

    /// Name in the grammar.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::OmitBroadcast => "omit-broadcast",
            FaultKind::ByzDrop => "byz-drop",
            FaultKind::ByzAckHigh => "byz-ack-high",
            FaultKind::ByzAckZero => "byz-ack-zero",
            FaultKind::ByzAckDelay => "byz-ack-delay",
            FaultKind::ByzDupack => "byz-dupack",
            FaultKind::ByzForge => "byz-forge",
            FaultKind::ByzWindow => "byz-window",
        }
    }

    /// Whether the kind lies (counts against `r`).
    pub fn is_byzantine(self) -> bool {
        self.name().starts_with("byz-")
    }

    /// Whether a node with this fault is still expected to deliver everything by the end.
    pub fn is_correct(self) -> bool {
        self == FaultKind::Restart
    }
}

/// One item of a fault spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultItem {
    /// The behaviour.
    pub kind: FaultKind,
    /// How many nodes per cluster.
    pub count: u32,
    /// Crash time, restart's crash time, or when a behaviour starts.
    pub at: Option<Duration>,
    /// Restart time (restart only).
    pub until: Option<Duration>,
    /// Only this cluster (default: each cluster).
    pub side: Option<Side>,
}

impl FaultItem {
    /// Whether the item applies to cluster `side`.
    pub fn applies_to(&self, side: Side) -> bool {
        self.side.is_none_or(|s| s == side)
    }
}

/// A list of faults, see the module docs for the grammar.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultSpec {
    /// The items in spec order.
    pub items: Vec<FaultItem>,
}

impl FaultSpec {
    /// No faults.
    pub fn none() -> Self {
        FaultSpec::default()
    }

    /// Whether there are no faults at all.
    pub fn is_empty(&self) -> bool {
        self.items.iter().all(|i| i.count == 0)
    }

    /// The last time a scheduled fault changes something (crash, restart, behaviour start).
    pub fn last_change(&self) -> Duration {
        self.items
            .iter()
            .flat_map(|i| [i.at, i.until])
            .flatten()
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s == "none" {
            return Ok(FaultSpec::none());
        }
        let mut items = Vec::new();
        for raw in s.split(',') {
            items.push(parse_item(raw.trim())?);
        }
        Ok(FaultSpec { items })
    }
}

fn parse_item(raw: &str) -> Result<FaultItem, String> {
    let bad = |why: &str| format!("bad fault {raw:?}: {why}");
    let mut parts = raw.split(':');
    let kind_name = parts.next().unwrap_or_default();
    let kind = FaultKind::ALL
        .into_iter()
        .find(|k| k.name() == kind_name)
        .ok_or_else(|| {
            let names: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
            bad(&format!(
                "unknown kind (expected one of {})",
                names.join(", ")
            ))
        })?;
    let count_part = parts.next().ok_or_else(|| bad("missing :COUNT"))?;
    let side = match parts.next() {
        None => None,
        Some("a" | "A") => Some(Side::A),
        Some("b" | "B") => Some(Side::B),
        Some(_) => return Err(bad("side must be a or b")),
    };
    if parts.next().is_some() {
        return Err(bad("too many ':'"));
    }
    let (count, when) = match count_part.split_once('@') {
        Some((c, w)) => (c, Some(w)),
        None => (count_part, None),
    };
    let count: u32 = count.parse().map_err(|_| bad("count must be a number"))?;
    let (at, until) = match when {
        None => (None, None),
        Some(w) => match w.split_once('-') {
            Some((t1, t2)) => (Some(parse_duration(t1)?), Some(parse_duration(t2)?)),
            None => (Some(parse_duration(w)?), None),
        },
    };
    match kind {
        FaultKind::Restart => {
            let (Some(t1), Some(t2)) = (at, until) else {
                return Err(bad("restart needs @T1-T2 (crash time - restart time)"));
            };
            if t2 <= t1 {
                return Err(bad("restart time must follow the crash time"));
            }
        }
        _ if until.is_some() => return Err(bad("only restart takes an interval")),
        _ => {}
    }
    Ok(FaultItem {
        kind,
        count,
        at,
        until,
        side,
    })
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.items.is_empty() {
            return f.write_str("none");
        }
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}:{}", item.kind.name(), item.count)?;
            if let Some(at) = item.at {
                write!(f, "@{}", format_duration(at))?;
            }
            if let Some(until) = item.until {
                write!(f, "-{}", format_duration(until))?;
            }
            if let Some(side) = item.side {
                write!(f, ":{}", side.to_string().to_lowercase())?;
            }
        }
        Ok(())
    }
}

/// Where faulty nodes go inside a cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// Indices `0, 1, 2, …` (consecutive schedule slots; includes the baselines' leader).
    #[default]
    Consecutive,
    /// Evenly spread over the cluster.
    Spread,
    /// The highest indices (spares the leader of the leader-based baselines).
    Last,
}

impl FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "consecutive" => Ok(Placement::Consecutive),
            "spread" => Ok(Placement::Spread),
            "last" => Ok(Placement::Last),
            _ => Err(format!(
                "unknown placement {s:?} (expected consecutive, spread or last)"
            )),
        }
    }
}

impl Placement {
    /// Indices for `m` faulty nodes among `n`.
    pub fn slots(self, m: usize, n: usize) -> Vec<usize> {
        match self {
            Placement::Consecutive => (0..m).collect(),
            Placement::Last => (n - m..n).collect(),
            Placement::Spread => (0..m).map(|i| i * n / m.max(1)).collect(),
        }
    }
}

/// The fault assigned to one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeFault {
    /// What it does.
    pub kind: FaultKind,
    /// Crash time / behaviour start.
    pub at: Duration,
    /// Restart time.
    pub until: Option<Duration>,
}

/// Copies of an ack a `byz-dupack` node sends to each remote node, per spam round.
pub const DUPACK_COPIES: usize = 3;

/// A node's protocol with a Byzantine or omission behaviour around it.
///
/// The wrapper forwards every input untouched and rewrites the node's outgoing batches; it knows
/// nothing about the protocol inside beyond the batch format.
pub struct Faulty {
    inner: Box<dyn Protocol>,
    kind: FaultKind,
    active_from: Time,
    me: NodeId,
    remote_n: u32,
    phi: u32,
    recv_window: u64,
    /// How many entries of the *other* cluster's stream the source has committed so far.
    remote_committed: Arc<AtomicU64>,
    spam_every: Duration,
    last_spam: Option<Time>,
    rng: ChaCha8Rng,
    now: Time,
    out: VecDeque<Transmit>,
}

impl fmt::Debug for Faulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faulty")
            .field("kind", &self.kind)
            .field("me", &self.me)
            .field("active_from", &self.active_from)
            .finish_non_exhaustive()
    }
}

/// What a [`Faulty`] wrapper needs besides the protocol it wraps.
#[derive(Clone, Debug)]
pub struct FaultyCtx {
    /// The node.
    pub me: NodeId,
    /// Size of the other cluster.
    pub remote_n: u32,
    /// φ of the run (bits in an ack).
    pub phi: u32,
    /// The receive window of the run.
    pub recv_window: u64,
    /// Shared counter of the other stream's committed entries.
    pub remote_committed: Arc<AtomicU64>,
    /// Minimum spacing of `byz-dupack` spam rounds.
    pub spam_every: Duration,
    /// Seed of the wrapper's own generator.
    pub seed: u64,
}

impl Faulty {
    /// Wraps `inner` with behaviour `fault`.
    pub fn new(inner: Box<dyn Protocol>, fault: NodeFault, ctx: FaultyCtx) -> Self {
        Faulty {
            inner,
            kind: fault.kind,
            active_from: Time::ZERO.add(fault.at),
            me: ctx.me,
            remote_n: ctx.remote_n,
            phi: ctx.phi,
            recv_window: ctx.recv_window,
            remote_committed: ctx.remote_committed,
            spam_every: ctx.spam_every,
            last_spam: None,
            rng: ChaCha8Rng::seed_from_u64(ctx.seed),
            now: Time::ZERO,
            out: VecDeque::new(),
        }
    }

    fn rewrite_ack(&mut self, ack: &mut Ack) {
        let bytes = (self.phi as usize).div_ceil(8);
        match self.kind {
            FaultKind::ByzAckHigh => {
                let committed = self.remote_committed.load(Ordering::Relaxed);
                // Everything that exists, and nothing beyond (a plausible lie).
                ack.next = StreamIndex(committed.max(ack.next.0));
                ack.phi = Bytes::new();
            }
            FaultKind::ByzAckZero => {
                ack.next = StreamIndex(0);
                ack.phi = Bytes::new();
            }
            FaultKind::ByzAckDelay => {
                ack.next = StreamIndex(ack.next.0.saturating_sub(u64::from(self.phi)));
                ack.phi = Bytes::from(vec![0u8; bytes]);
            }
            _ => {}
        }
    }

    fn forged(&mut self, k: StreamIndex) -> Entry {
        let mut payload = vec![0u8; 16];
        self.rng.fill(&mut payload[..]);
        let mut proof = vec![0u8; crate::testkit::PROOF_LEN];
        self.rng.fill(&mut proof[..]);
        Entry {
            k,
            payload: payload.into(),
            proof: Bytes::from(proof),
        }
    }

    fn rewrite(&mut self, mut t: Transmit) {
        let cross = t.to.side != self.me.side;
        match self.kind {
            FaultKind::OmitBroadcast => {
                if matches!(t.batch.kind, BatchKind::Internal) {
                    return;
                }
            }
            FaultKind::ByzDrop => {
                if cross {
                    let rng = &mut self.rng;
                    t.batch.entries.retain(|_| rng.random_bool(0.5));
                } else if matches!(t.batch.kind, BatchKind::Internal) && self.rng.random_bool(0.5) {
                    return;
                }
            }
            FaultKind::ByzAckHigh | FaultKind::ByzAckZero | FaultKind::ByzAckDelay => {
                if let BatchKind::Cross { ack: Some(ack), .. } = &mut t.batch.kind {
                    let mut a = ack.clone();
                    self.rewrite_ack(&mut a);
                    *ack = a;
                }
            }
            FaultKind::ByzDupack => {
                if let BatchKind::Cross { ack: Some(_), .. } = &t.batch.kind {
                    let due = self
                        .last_spam
                        .is_none_or(|last| self.now >= last.add(self.spam_every));
                    if due {
                        self.last_spam = Some(self.now);
                        let spam = Batch {
                            epoch: t.batch.epoch,
                            kind: t.batch.kind.clone(),
                            entries: Vec::new(),
                        };
                        let side = self.me.side.other();
                        for j in 0..self.remote_n {
                            for _ in 0..DUPACK_COPIES {
                                self.out.push_back(Transmit {
                                    to: NodeId::new(side, j),
                                    batch: spam.clone(),
                                });
                            }
                        }
                    }
                }
            }
            FaultKind::ByzForge => {
                if !t.batch.entries.is_empty() {
                    for e in &mut t.batch.entries {
                        if self.rng.random_bool(0.5) {
                            let mut p = e.payload.to_vec();
                            if let Some(b) = p.last_mut() {
                                *b ^= 0x5a;
                            } else {
                                p.push(1);
                            }
                            e.payload = p.into();
                        }
                    }
                    let top = t.batch.entries.iter().map(|e| e.k.0).max().unwrap_or(0);
                    let fake = self.forged(StreamIndex(top + 1));
                    t.batch.entries.push(fake);
                }
            }
            FaultKind::ByzWindow => {
                if !t.batch.entries.is_empty() {
                    let top = t.batch.entries.iter().map(|e| e.k.0).max().unwrap_or(0);
                    let far = top
                        .saturating_add(self.recv_window)
                        .saturating_add(self.rng.random_range(0..1000));
                    let e1 = self.forged(StreamIndex(far));
                    let top_k = u64::MAX - self.rng.random_range(0..1000);
                    let e2 = self.forged(StreamIndex(top_k));
                    t.batch.entries.push(e1);
                    t.batch.entries.push(e2);
                }
            }
            FaultKind::Crash | FaultKind::Restart => {}
        }
        self.out.push_back(t);
    }
}

impl Protocol for Faulty {
    fn kind(&self) -> ProtocolKind {
        self.inner.kind()
    }

    fn handle_committed(&mut self, now: Time, entry: Entry) {
        self.now = now;
        self.inner.handle_committed(now, entry);
    }

    fn handle_batch(&mut self, now: Time, from: NodeId, batch: Batch) {
        self.now = now;
        self.inner.handle_batch(now, from, batch);
    }

    fn handle_timeout(&mut self, now: Time) {
        self.now = now;
        self.inner.handle_timeout(now);
    }

    fn handle_persisted(&mut self, id: PersistId) {
        self.inner.handle_persisted(id);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        loop {
            if let Some(t) = self.out.pop_front() {
                return Some(t);
            }
            let t = self.inner.poll_transmit()?;
            if self.now < self.active_from {
                return Some(t);
            }
            self.rewrite(t);
        }
    }

    fn poll_persist(&mut self) -> Option<PersistOp> {
        self.inner.poll_persist()
    }

    fn poll_deliver(&mut self) -> Option<Delivery> {
        self.inner.poll_deliver()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.inner.poll_event()
    }

    fn poll_timeout(&self) -> Option<Time> {
        self.inner.poll_timeout()
    }

    fn status(&self) -> StreamStatus {
        self.inner.status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Scripted;

    #[test]
    fn specs_parse_and_print_back() {
        let s: FaultSpec = "crash:1,byz-ack-high:2:a,restart:1@100ms-300ms,crash:1@2s"
            .parse()
            .unwrap();
        assert_eq!(s.items.len(), 4);
        assert_eq!(s.items[1].side, Some(Side::A));
        assert_eq!(s.items[2].until, Some(Duration::from_millis(300)));
        assert_eq!(
            s.to_string(),
            "crash:1,byz-ack-high:2:a,restart:1@100ms-300ms,crash:1@2s"
        );
        assert_eq!(s.last_change(), Duration::from_secs(2));
        assert!("none".parse::<FaultSpec>().unwrap().is_empty());
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for bad in [
            "crash",
            "crash:x",
            "explode:1",
            "restart:1",
            "restart:1@2s-1s",
            "crash:1@1s-2s",
            "crash:1:c",
        ] {
            let err = bad.parse::<FaultSpec>().unwrap_err();
            assert!(err.contains("bad fault"), "{bad}: {err}");
        }
    }

    fn entry(k: u64) -> Entry {
        crate::testkit::TestChain::new(1).entry(
            Side::A,
            StreamIndex(k),
            crate::testkit::TestChain::payload(StreamIndex(k), 16),
        )
    }

    /// Node A0 with `kind` sends one cross batch (entries 10, 11; ack next = 50) to B0 and one
    /// internal batch (entry 7 of B's stream) to A1; returns what leaves the wrapper.
    fn rewrite(kind: FaultKind) -> Vec<Transmit> {
        let cross = Transmit {
            to: NodeId::new(Side::B, 0),
            batch: Batch {
                epoch: 0,
                kind: BatchKind::Cross {
                    ack: Some(Ack {
                        next: StreamIndex(50),
                        phi: Bytes::from_static(&[0b101]),
                    }),
                    quack_claim: None,
                    exported: StreamIndex(12),
                },
                entries: vec![entry(10), entry(11)],
            },
        };
        let internal = Transmit {
            to: NodeId::new(Side::A, 1),
            batch: Batch {
                epoch: 0,
                kind: BatchKind::Internal,
                entries: vec![entry(7)],
            },
        };
        let inner = Scripted {
            out: VecDeque::from([cross, internal]),
        };
        let ctx = FaultyCtx {
            me: NodeId::new(Side::A, 0),
            remote_n: 3,
            phi: 16,
            recv_window: 1000,
            remote_committed: Arc::new(AtomicU64::new(400)),
            spam_every: Duration::from_millis(2),
            seed: 3,
        };
        let fault = NodeFault {
            kind,
            at: Duration::ZERO,
            until: None,
        };
        let mut f = Faulty::new(Box::new(inner), fault, ctx);
        std::iter::from_fn(|| f.poll_transmit()).collect()
    }

    fn ack_of(t: &Transmit) -> Option<Ack> {
        match &t.batch.kind {
            BatchKind::Cross { ack, .. } => ack.clone(),
            _ => None,
        }
    }

    #[test]
    fn adversaries_rewrite_what_they_send() {
        let omit = rewrite(FaultKind::OmitBroadcast);
        assert_eq!(omit.len(), 1, "the internal batch is gone");
        assert_eq!(omit[0].batch.entries.len(), 2);

        let high = rewrite(FaultKind::ByzAckHigh);
        assert_eq!(ack_of(&high[0]).map(|a| a.next), Some(StreamIndex(400)));
        let zero = rewrite(FaultKind::ByzAckZero);
        assert_eq!(ack_of(&zero[0]).map(|a| a.next), Some(StreamIndex(0)));
        let delay = ack_of(&rewrite(FaultKind::ByzAckDelay)[0]).expect("kept");
        assert_eq!(delay.next, StreamIndex(34));
        assert_eq!(delay.phi.as_ref(), &[0, 0]);

        let dup = rewrite(FaultKind::ByzDupack);
        // DUPACK_COPIES ack-only copies to each of the 3 remote nodes, then the batch itself.
        assert_eq!(dup.len(), 2 + 3 * DUPACK_COPIES);
        assert_eq!(dup[3 * DUPACK_COPIES].batch.entries.len(), 2);
        assert!(dup[..3 * DUPACK_COPIES].iter().all(|t| {
            t.batch.entries.is_empty() && t.to.side == Side::B && ack_of(t).is_some()
        }));

        let forge = rewrite(FaultKind::ByzForge);
        assert_eq!(
            forge[0].batch.entries.len(),
            3,
            "a fabricated entry is added"
        );
        assert_eq!(forge[0].batch.entries[2].k, StreamIndex(12));
        let v = crate::testkit::TestChain::new(1).verifier();
        use crate::protocol::EntryVerifier as _;
        assert!(v.verify(Side::A, &forge[0].batch.entries[2]).is_err());

        let window = rewrite(FaultKind::ByzWindow);
        assert_eq!(window[0].batch.entries.len(), 4);
        assert!(window[0].batch.entries[2].k.0 >= 11 + 1000);
        assert!(window[1].batch.entries.len() == 3);

        let drop: usize = (0..20)
            .map(|_| rewrite(FaultKind::ByzDrop))
            .map(|t| t[0].batch.entries.len())
            .sum();
        assert!(drop < 40, "some cross entries are dropped");
    }

    #[test]
    fn placements() {
        assert_eq!(Placement::Consecutive.slots(2, 7), vec![0, 1]);
        assert_eq!(Placement::Last.slots(2, 7), vec![5, 6]);
        assert_eq!(Placement::Spread.slots(3, 9), vec![0, 3, 6]);
    }
}
