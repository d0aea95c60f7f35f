//! The event loop: one thread, a queue ordered by `(time, sequence number)`, one protocol
//! instance per node driven exactly per the driving contract of [`crate::protocol`], the source,
//! persistence with crash-restart, and the invariant checks.

use crate::picsou::resend::role_pairs;
use crate::picsou::schedule::Schedule;
use crate::protocol::{
    Batch, BatchKind, Delivery, Entry, Event, PersistId, PersistOp, Protocol, ProtocolKind,
    Recovered, Setup, Transmit,
};
use crate::sim::faults::{FaultKind, Faulty, FaultyCtx, NodeFault};
use crate::sim::net::Network;
use crate::sim::{DirectionResult, Factory, SimConfig, SimResult};
use crate::testkit::TestChain;
use crate::types::{NodeId, Side, StreamIndex, Time};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Duration;
use storage::{MemStore, Store, WriteBatch};

/// Violations kept verbatim; later ones are only counted.
const MAX_VIOLATIONS: usize = 100;
/// Tree of durably received indices of the other stream.
const RECEIVED_TREE: &str = "received";
/// Tree of the last persisted QUACK (key [`QUACK_KEY`]).
const META_TREE: &str = "meta";
const QUACK_KEY: &[u8] = b"quack";
/// Bump for a timer that asks to fire again at the instant it just fired.
const TIMER_SPIN_BUMP_NS: u64 = 1_000;

/// A fixed-size bit set.
#[derive(Clone, Debug, Default)]
struct Bits {
    words: Vec<u64>,
}

impl Bits {
    fn new(n: u64) -> Self {
        Bits {
            words: vec![0; usize::try_from(n.div_ceil(64)).unwrap_or(0)],
        }
    }
    fn get(&self, i: u64) -> bool {
        self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
    fn set(&mut self, i: u64) {
        self.words[(i / 64) as usize] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: u64) {
        self.words[(i / 64) as usize] &= !(1 << (i % 64));
    }
    /// Smallest unset index below `n`, if any.
    fn first_unset(&self, n: u64) -> Option<u64> {
        for (w, word) in self.words.iter().enumerate() {
            if *word != u64::MAX {
                let i = w as u64 * 64 + u64::from(word.trailing_ones());
                return (i < n).then_some(i);
            }
        }
        None
    }
}

#[derive(Debug)]
enum EvKind {
    Timer {
        node: usize,
        generation: u64,
    },
    Arrive {
        to: usize,
        from: NodeId,
        batch: Batch,
        bytes: u64,
    },
    Receive {
        to: usize,
        from: NodeId,
        batch: Batch,
    },
    Flush {
        node: usize,
        incarnation: u32,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    ReleaseTick,
}

#[derive(Debug)]
struct Ev {
    at: Time,
    seq: u64,
    kind: EvKind,
}

impl PartialEq for Ev {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ev {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Node {
    id: NodeId,
    fault: Option<NodeFault>,
    /// Honest, or honest with crash-restart: must deliver everything and counts as a holder.
    correct: bool,
    proto: Option<Box<dyn Protocol>>,
    up: bool,
    timer_gen: u64,
    armed: Option<Time>,
    last_fired: Option<Time>,
    incarnation: u32,
    /// Persist ops polled and not yet confirmed.
    persist_queue: Vec<PersistId>,
    flush_pending: bool,
    store: Option<MemStore>,
    /// Indices of the other stream this node delivered (and has not lost in a crash).
    delivered: Bits,
    delivered_count: u64,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .field("fault", &self.fault)
            .field("up", &self.up)
            .finish_non_exhaustive()
    }
}

/// One source cluster's stream and what happened to it.
#[derive(Debug)]
struct Stream {
    source: Side,
    active: bool,
    entries: Vec<Entry>,
    released: u64,
    committed: Arc<AtomicU64>,
    /// Correct receivers holding `k`.
    held: Vec<u16>,
    /// Smallest `k` no correct receiver holds.
    prefix: u64,
    /// Entries some correct receiver holds.
    held_any: u64,
    /// Correct receivers that delivered `k` and count towards the target.
    done: Vec<u16>,
    complete: Bits,
    target: u16,
    completed: u64,
    /// Steady-state marks: 10% and 90% of the entries.
    lo: Mark,
    hi: Mark,
    last_complete: Time,
    /// Cross copies of `k` sent by correct senders.
    copies: Vec<u32>,
    cross_entries: u64,
    intra_entries: u64,
    resends: u64,
    max_quack: u64,
    release_pending: bool,
}

impl Stream {
    fn new(cfg: &SimConfig, source: Side, chain: &TestChain, target: u16) -> Self {
        let active = cfg.directions.runs(source);
        let k = if active { cfg.messages } else { 0 };
        let n = usize::try_from(k).unwrap_or(0);
        let entries = (0..k)
            .map(|i| {
                let idx = StreamIndex(i);
                chain.entry(source, idx, TestChain::payload(idx, cfg.payload_len))
            })
            .collect();
        // From the later of 10% and `window` completions (the source releases `window` entries
        // at once at the start: their burst is warm-up), but no later than half-way.
        let lo = (k / 10).max(cfg.window.min(k / 2)).max(1);
        let hi = (k * 9 / 10).max(lo);
        Stream {
            source,
            active,
            entries,
            released: 0,
            committed: Arc::new(AtomicU64::new(0)),
            held: vec![0; n],
            prefix: 0,
            held_any: 0,
            done: vec![0; n],
            complete: Bits::new(k),
            target,
            completed: 0,
            lo: Mark::new(lo),
            hi: Mark::new(hi),
            last_complete: Time::ZERO,
            copies: vec![0; n],
            cross_entries: 0,
            intra_entries: 0,
            resends: 0,
            max_quack: 0,
            release_pending: active,
        }
    }

    fn k(&self) -> u64 {
        self.entries.len() as u64
    }

    fn all_complete(&self) -> bool {
        !self.active || self.completed == self.k()
    }
}

/// A steady-state mark: the moment the completed count reached `count`, and the completed count
/// at the end of that instant (entries complete in whole batches, so one instant can complete
/// many; counting to the end of the instant at both marks measures the rate between two steps of
/// the staircase).
#[derive(Debug, Clone)]
struct Mark {
    count: u64,
    at: Option<Time>,
    snapshot: Option<u64>,
}

impl Mark {
    fn new(count: u64) -> Self {
        Mark {
            count,
            at: None,
            snapshot: None,
        }
    }

    /// Whether the snapshot is due before handling an event at `next`.
    fn due(&self, next: Time) -> bool {
        self.snapshot.is_none() && self.at.is_some_and(|at| next > at)
    }
}

fn side_idx(s: Side) -> usize {
    match s {
        Side::A => 0,
        Side::B => 1,
    }
}

/// Why the loop stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Complete,
    Stalled,
    TimeLimit,
    Quiescent,
}

impl Stop {
    fn name(self) -> &'static str {
        match self {
            Stop::Complete => "complete",
            Stop::Stalled => "stalled",
            Stop::TimeLimit => "time-limit",
            Stop::Quiescent => "quiescent",
        }
    }
}

/// One simulation in progress.
pub(crate) struct Engine<'a> {
    cfg: &'a SimConfig,
    factory: &'a Factory<'a>,
    chain: TestChain,
    now: Time,
    seq: u64,
    heap: BinaryHeap<Reverse<Ev>>,
    rng: ChaCha8Rng,
    net: Network,
    nodes: Vec<Node>,
    streams: [Stream; 2],
    n_a: usize,
    last_progress: Time,
    cross_wire_bytes: u64,
    cross_content_bytes: u64,
    events: u64,
    misbehaviours: u64,
    suspicions: u64,
    violations: Vec<String>,
    violations_dropped: u64,
}

impl std::fmt::Debug for Engine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("now", &self.now)
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Engine<'a> {
    pub(crate) fn new(
        cfg: &'a SimConfig,
        factory: &'a Factory<'a>,
        faults: Vec<Option<NodeFault>>,
    ) -> Self {
        let chain = TestChain::new(cfg.seed);
        let n_a = cfg.cluster_a.n();
        let n_b = cfg.cluster_b.n();
        let mut nodes = Vec::with_capacity(n_a + n_b);
        for (i, fault) in faults.into_iter().enumerate() {
            let id = if i < n_a {
                NodeId::new(Side::A, i as u32)
            } else {
                NodeId::new(Side::B, (i - n_a) as u32)
            };
            let correct = fault.is_none_or(|f| f.kind.is_correct());
            let store = fault
                .is_some_and(|f| f.kind == FaultKind::Restart)
                .then(MemStore::new);
            nodes.push(Node {
                id,
                fault,
                correct,
                proto: None,
                up: false,
                timer_gen: 0,
                armed: None,
                last_fired: None,
                incarnation: 0,
                persist_queue: Vec::new(),
                flush_pending: false,
                store,
                delivered: Bits::new(if cfg.directions.runs(id.side.other()) {
                    cfg.messages
                } else {
                    0
                }),
                delivered_count: 0,
            });
        }
        let target = |recv: Side| -> u16 {
            if cfg.protocol == ProtocolKind::Ost {
                return 1;
            }
            let n = nodes
                .iter()
                .filter(|n| n.id.side == recv && n.correct)
                .count();
            u16::try_from(n).unwrap_or(u16::MAX)
        };
        let streams = [
            Stream::new(cfg, Side::A, &chain, target(Side::B)),
            Stream::new(cfg, Side::B, &chain, target(Side::A)),
        ];
        Engine {
            cfg,
            factory,
            chain,
            now: Time::ZERO,
            seq: 0,
            heap: BinaryHeap::new(),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            net: Network::new(cfg.net.clone(), n_a, n_b),
            nodes,
            streams,
            n_a,
            last_progress: Time::ZERO,
            cross_wire_bytes: 0,
            cross_content_bytes: 0,
            events: 0,
            misbehaviours: 0,
            suspicions: 0,
            violations: Vec::new(),
            violations_dropped: 0,
        }
    }

    fn violation(&mut self, v: String) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(v);
        } else {
            self.violations_dropped += 1;
        }
    }

    fn push(&mut self, at: Time, kind: EvKind) {
        self.seq += 1;
        self.heap.push(Reverse(Ev {
            at,
            seq: self.seq,
            kind,
        }));
    }

    fn index(&self, id: NodeId) -> Option<usize> {
        let i = id.index.as_usize();
        match id.side {
            Side::A if i < self.n_a => Some(i),
            Side::B if i < self.nodes.len() - self.n_a => Some(self.n_a + i),
            _ => None,
        }
    }

    fn build(&mut self, ni: usize, recovered: Recovered) -> Box<dyn Protocol> {
        let id = self.nodes[ni].id;
        let setup = Setup {
            me: id,
            local: self.cfg.cluster(id.side).clone(),
            remote: self.cfg.cluster(id.side.other()).clone(),
            epoch: 0,
            params: self.cfg.protocol_params(),
        };
        let inner = (self.factory)(
            self.cfg.protocol,
            setup,
            Box::new(self.chain.verifier()),
            recovered,
        );
        match self.nodes[ni].fault {
            Some(f) if !matches!(f.kind, FaultKind::Crash | FaultKind::Restart) => {
                let ctx = FaultyCtx {
                    me: id,
                    remote_n: self.cfg.cluster(id.side.other()).n() as u32,
                    phi: self.cfg.params.phi,
                    recv_window: self.cfg.params.recv_window,
                    remote_committed: self.streams[side_idx(id.side.other())].committed.clone(),
                    spam_every: self.cfg.params.noop_delay,
                    seed: self.cfg.seed ^ (0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(ni as u64 + 1)),
                };
                Box::new(Faulty::new(inner, f, ctx))
            }
            _ => inner,
        }
    }

    /// Runs to completion and reports.
    pub(crate) fn run(mut self) -> SimResult {
        #[allow(
            clippy::disallowed_methods,
            reason = "wall time is reported, never fed to the protocols"
        )]
        let wall = std::time::Instant::now();
        // Start every node that is not crashed from the start, and schedule fault changes.
        for ni in 0..self.nodes.len() {
            let fault = self.nodes[ni].fault;
            match fault {
                Some(f) if f.kind == FaultKind::Crash && f.at.is_zero() => continue,
                Some(f) if f.kind == FaultKind::Crash => {
                    self.push(Time::ZERO.add(f.at), EvKind::Crash { node: ni });
                }
                Some(f) if f.kind == FaultKind::Restart => {
                    self.push(Time::ZERO.add(f.at), EvKind::Crash { node: ni });
                    if let Some(until) = f.until {
                        self.push(Time::ZERO.add(until), EvKind::Restart { node: ni });
                    }
                }
                _ => {}
            }
            let proto = self.build(ni, Recovered::default());
            self.nodes[ni].proto = Some(proto);
            self.nodes[ni].up = true;
            self.drain(ni);
        }
        if self.cfg.rate.is_some() {
            self.push(Time::ZERO, EvKind::ReleaseTick);
        }
        self.releases();

        let last_change = Time::ZERO
            .add(self.cfg.faults.last_change())
            .max(self.cfg.net.healed_at());
        let limit = Time::ZERO.add(self.cfg.time_limit);
        let mut end_at: Option<Time> = None;
        let stop = loop {
            let Some(Reverse(ev)) = self.heap.pop() else {
                break Stop::Quiescent;
            };
            if ev.at > limit {
                self.now = limit;
                break Stop::TimeLimit;
            }
            if let Some(e) = end_at
                && ev.at > e
            {
                self.now = e;
                break Stop::Complete;
            }
            self.snapshots(ev.at);
            self.now = ev.at;
            self.events += 1;
            self.handle(ev.kind);
            self.releases();
            if end_at.is_none()
                && self.now >= last_change
                && self.streams.iter().all(Stream::all_complete)
            {
                end_at = Some(self.now.add(self.cfg.settle_time()));
            }
            if end_at.is_none()
                && self.now >= last_change
                && self.now.since(self.last_progress.max(last_change)) > self.cfg.stall_limit
            {
                break Stop::Stalled;
            }
        };
        self.finish(stop, wall)
    }

    /// Takes the steady-state snapshots whose instant ended before `next`.
    fn snapshots(&mut self, next: Time) {
        for s in 0..2 {
            for hi in [false, true] {
                let st = &self.streams[s];
                let mark = if hi { &st.hi } else { &st.lo };
                if !mark.due(next) {
                    continue;
                }
                let snap = Some(st.completed);
                let st = &mut self.streams[s];
                if hi {
                    st.hi.snapshot = snap;
                } else {
                    st.lo.snapshot = snap;
                }
            }
        }
    }

    fn handle(&mut self, kind: EvKind) {
        match kind {
            EvKind::Timer { node, generation } => {
                let n = &mut self.nodes[node];
                if !n.up || generation != n.timer_gen {
                    return;
                }
                n.armed = None;
                n.last_fired = Some(self.now);
                if let Some(p) = n.proto.as_mut() {
                    p.handle_timeout(self.now);
                }
                self.drain(node);
            }
            EvKind::Arrive {
                to,
                from,
                batch,
                bytes,
            } => {
                if !self.nodes[to].up {
                    return;
                }
                let control = batch.entries.is_empty();
                let done = self
                    .net
                    .receive(self.now, self.nodes[to].id, bytes, control);
                self.push(done, EvKind::Receive { to, from, batch });
            }
            EvKind::Receive { to, from, batch } => {
                if !self.nodes[to].up {
                    return;
                }
                if let Some(p) = self.nodes[to].proto.as_mut() {
                    p.handle_batch(self.now, from, batch);
                }
                self.drain(to);
            }
            EvKind::Flush { node, incarnation } => {
                let n = &mut self.nodes[node];
                if !n.up || n.incarnation != incarnation {
                    return;
                }
                n.flush_pending = false;
                if let Some(store) = n.store.as_mut()
                    && let Err(e) = store.flush()
                {
                    let msg = format!("{}: store flush failed: {e}", n.id);
                    self.violation(msg);
                }
                let ids = std::mem::take(&mut self.nodes[node].persist_queue);
                if let Some(p) = self.nodes[node].proto.as_mut() {
                    for id in ids {
                        p.handle_persisted(id);
                    }
                }
                self.drain(node);
            }
            EvKind::Crash { node } => self.crash(node),
            EvKind::Restart { node } => self.restart(node),
            EvKind::ReleaseTick => {
                for s in &mut self.streams {
                    s.release_pending = s.active;
                }
                let step = Duration::from_millis(1);
                if self.streams.iter().any(|s| s.active && s.released < s.k()) {
                    self.push(self.now.add(step), EvKind::ReleaseTick);
                }
            }
        }
    }

    fn crash(&mut self, ni: usize) {
        let n = &mut self.nodes[ni];
        n.up = false;
        n.proto = None;
        n.timer_gen += 1;
        n.armed = None;
        n.incarnation += 1;
        n.persist_queue.clear();
        n.flush_pending = false;
        let id = n.id;
        let Some(store) = n.store.as_mut() else {
            return;
        };
        // The process dies: whatever was not flushed is gone, and so are the deliveries it had
        // not yet made durable (the restarted relay will deliver them again).
        store.crash();
        let durable = match read_received(store) {
            Ok(v) => v,
            Err(e) => {
                self.violation(format!("{id}: store unreadable after crash: {e}"));
                Vec::new()
            }
        };
        let k = self.streams[side_idx(id.side.other())].k();
        let mut keep = Bits::new(k);
        for i in durable {
            if i < k {
                keep.set(i);
            }
        }
        let s = side_idx(id.side.other());
        for i in 0..k {
            if self.nodes[ni].delivered.get(i) && !keep.get(i) {
                self.nodes[ni].delivered.clear(i);
                self.nodes[ni].delivered_count -= 1;
                let st = &mut self.streams[s];
                st.held[i as usize] -= 1;
                st.done[i as usize] -= 1;
                if st.held[i as usize] == 0 {
                    st.prefix = st.prefix.min(i);
                    st.held_any -= 1;
                }
                if st.complete.get(i) && st.done[i as usize] < st.target {
                    st.complete.clear(i);
                    st.completed -= 1;
                }
            }
        }
    }

    fn restart(&mut self, ni: usize) {
        let id = self.nodes[ni].id;
        let recovered = match self.nodes[ni].store.as_ref() {
            Some(store) => match read_recovered(store) {
                Ok(r) => r,
                Err(e) => {
                    self.violation(format!("{id}: store unreadable at restart: {e}"));
                    Recovered::default()
                }
            },
            None => Recovered::default(),
        };
        let proto = self.build(ni, recovered);
        let n = &mut self.nodes[ni];
        n.proto = Some(proto);
        n.up = true;
        n.last_fired = None;
        self.drain(ni);
        // The chain is durable: the relay re-reads its own stream from its validator.
        let s = side_idx(id.side);
        for k in 0..self.streams[s].released {
            let e = self.streams[s].entries[k as usize].clone();
            if let Some(p) = self.nodes[ni].proto.as_mut() {
                p.handle_committed(self.now, e);
            }
            self.drain_outputs(ni, false);
        }
        self.drain(ni);
    }

    /// Releases entries of every stream whose front moved.
    fn releases(&mut self) {
        for s in 0..2 {
            if !self.streams[s].release_pending {
                continue;
            }
            self.streams[s].release_pending = false;
            let st = &self.streams[s];
            let mut target = st.prefix.saturating_add(self.cfg.window).min(st.k());
            if let Some(rate) = self.cfg.rate {
                let by_rate = (rate * self.now.as_secs_f64()).floor() as u64 + 1;
                target = target.min(by_rate);
            }
            if target <= st.released {
                continue;
            }
            let (from, source) = (st.released, st.source);
            let ids: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].id.side == source && self.nodes[i].up)
                .collect();
            for ni in ids {
                for k in from..target {
                    let e = self.streams[s].entries[k as usize].clone();
                    if let Some(p) = self.nodes[ni].proto.as_mut() {
                        p.handle_committed(self.now, e);
                    }
                    self.drain_outputs(ni, false);
                }
                self.drain(ni);
            }
            self.streams[s].released = target;
            self.streams[s]
                .committed
                .store(target, AtomicOrdering::Relaxed);
        }
    }

    /// Drains every output of node `ni` until all are empty, then arms its timer.
    fn drain(&mut self, ni: usize) {
        self.drain_outputs(ni, true);
    }

    /// Drains every output of node `ni`; arms its timer only if `arm` (a caller that feeds many
    /// inputs at one instant drains after each and arms once at the end: time cannot pass in
    /// between, so the timer could not have fired).
    fn drain_outputs(&mut self, ni: usize, arm: bool) {
        let Some(mut p) = self.nodes[ni].proto.take() else {
            return;
        };
        let mut immediate = Vec::new();
        loop {
            let mut any = false;
            while let Some(t) = p.poll_transmit() {
                any = true;
                self.on_transmit(ni, t);
            }
            while let Some(d) = p.poll_deliver() {
                any = true;
                self.on_deliver(ni, d);
            }
            while let Some(op) = p.poll_persist() {
                any = true;
                if let Some(id) = self.on_persist(ni, op) {
                    immediate.push(id);
                }
            }
            while let Some(e) = p.poll_event() {
                any = true;
                self.on_event(ni, e);
            }
            for id in immediate.drain(..) {
                any = true;
                p.handle_persisted(id);
            }
            if !any {
                break;
            }
        }
        let deadline = arm.then(|| p.poll_timeout());
        self.nodes[ni].proto = Some(p);
        if let Some(deadline) = deadline {
            self.arm(ni, deadline);
        }
    }

    fn arm(&mut self, ni: usize, deadline: Option<Time>) {
        let now = self.now;
        let n = &mut self.nodes[ni];
        match deadline {
            None => {
                if n.armed.take().is_some() {
                    n.timer_gen += 1;
                }
            }
            Some(t) if n.armed == Some(t) => {}
            Some(t) => {
                n.timer_gen += 1;
                n.armed = Some(t);
                let mut at = t.max(now);
                if at == now && n.last_fired == Some(now) {
                    // It just fired and wants to fire again at once: let time move on.
                    at = Time(now.0 + TIMER_SPIN_BUMP_NS);
                }
                let generation = n.timer_gen;
                self.push(
                    at,
                    EvKind::Timer {
                        node: ni,
                        generation,
                    },
                );
            }
        }
    }

    fn on_transmit(&mut self, ni: usize, t: Transmit) {
        let from = self.nodes[ni].id;
        let correct = self.nodes[ni].correct;
        let Some(to) = self.index(t.to) else {
            if correct {
                self.violation(format!("{from} sent a batch to unknown node {}", t.to));
            }
            return;
        };
        if to == ni {
            if correct {
                self.violation(format!("{from} sent a batch to itself"));
            }
            return;
        }
        let cross = from.side != t.to.side;
        if correct {
            let ok = match &t.batch.kind {
                BatchKind::Cross { .. } => cross,
                BatchKind::Internal | BatchKind::Fetch { .. } => !cross,
            };
            if !ok {
                self.violation(format!(
                    "{from} sent a {} batch to {}",
                    if cross {
                        "intra-cluster"
                    } else {
                        "cross-cluster"
                    },
                    t.to
                ));
            }
        }
        // The arguments (`describe` included) are evaluated only when the target is enabled.
        tracing::trace!(
            target: "relayer::sim::wire",
            "{:.6} {from} -> {} {}",
            self.now.as_secs_f64(),
            t.to,
            describe(&t.batch)
        );
        let actual = crate::wire::sealed_len(from, t.to, &t.batch) as u64;
        let mut charged = actual;
        let mut content = 0u64;
        for e in &t.batch.entries {
            content += (e.payload.len() + e.proof.len()) as u64;
            charged += self.cfg.size.saturating_sub(e.payload.len()) as u64;
        }
        let n_entries = t.batch.entries.len() as u64;
        if cross {
            self.cross_wire_bytes += actual;
            self.cross_content_bytes += content;
            let st = &mut self.streams[side_idx(from.side)];
            st.cross_entries += n_entries;
            if correct {
                for e in &t.batch.entries {
                    if let Some(c) = st.copies.get_mut(e.k.0 as usize) {
                        *c += 1;
                    }
                }
            }
        } else {
            self.streams[side_idx(from.side.other())].intra_entries += n_entries;
        }
        // The transport holds no connection to a relay that is down (a killed process resets
        // its connections at once; `relayer::net` only queues, up to a byte cap, for a peer it
        // is not connected to), so the batch uses no bandwidth. It still counts as a
        // transmission above: that is the protocol's decision, which the invariants judge.
        if !self.nodes[to].up {
            return;
        }
        let control = t.batch.entries.is_empty();
        let Some(arrive) = self.net.send(self.now, from, t.to, charged, control) else {
            return;
        };
        if self.cfg.net.loss > 0.0 && self.rng.random_bool(self.cfg.net.loss) {
            return;
        }
        self.push(
            arrive,
            EvKind::Arrive {
                to,
                from,
                batch: t.batch,
                bytes: charged,
            },
        );
    }

    fn on_deliver(&mut self, ni: usize, d: Delivery) {
        let id = self.nodes[ni].id;
        if !self.nodes[ni].correct {
            return;
        }
        let s = side_idx(id.side.other());
        let k = d.entry.k.0;
        let st = &self.streams[s];
        let (source, len, released) = (st.source, st.k(), st.released);
        if k >= len {
            self.violation(format!(
                "integrity: {id} delivered {} of stream {source}, which its source never transmitted",
                d.entry.k
            ));
            return;
        }
        if d.entry != st.entries[k as usize] {
            self.violation(format!(
                "integrity: {id} delivered a forged or altered {} of stream {source} (from {})",
                d.entry.k, d.from
            ));
            return;
        }
        if k >= released {
            self.violation(format!(
                "integrity: {id} delivered {} of stream {source} before the source committed it",
                d.entry.k
            ));
        }
        if self.nodes[ni].delivered.get(k) {
            self.violation(format!(
                "duplicate delivery: {id} delivered {} of stream {source} twice",
                d.entry.k
            ));
            return;
        }
        self.nodes[ni].delivered.set(k);
        self.nodes[ni].delivered_count += 1;
        self.last_progress = self.now;
        let now = self.now;
        let st = &mut self.streams[s];
        let i = k as usize;
        st.held[i] += 1;
        if st.held[i] == 1 {
            st.held_any += 1;
        }
        while st.prefix < st.k() && st.held[st.prefix as usize] > 0 {
            st.prefix += 1;
        }
        st.release_pending = true;
        st.done[i] += 1;
        if st.done[i] >= st.target && !st.complete.get(k) {
            st.complete.set(k);
            st.completed += 1;
            st.last_complete = now;
            for m in [&mut st.lo, &mut st.hi] {
                if st.completed == m.count {
                    m.at = Some(now);
                }
            }
        }
    }

    /// Records a persist op; returns its id if it is durable at once (no flush delay).
    fn on_persist(&mut self, ni: usize, op: PersistOp) -> Option<PersistId> {
        let n = &mut self.nodes[ni];
        if let Some(store) = n.store.as_mut() {
            let mut b = WriteBatch::new();
            for k in &op.received {
                b.put(RECEIVED_TREE, &storage::u64_key(k.0), &[]);
            }
            if let Some(q) = op.quack {
                b.put(META_TREE, QUACK_KEY, &q.0.to_be_bytes());
            }
            if let Err(e) = store.apply(b) {
                let msg = format!("{}: store apply failed: {e}", n.id);
                self.violation(msg);
            }
        }
        if self.cfg.flush_delay.is_zero() {
            if let Some(store) = self.nodes[ni].store.as_mut() {
                let _ = store.flush();
            }
            return Some(op.id);
        }
        let n = &mut self.nodes[ni];
        n.persist_queue.push(op.id);
        if !n.flush_pending {
            n.flush_pending = true;
            let ev = EvKind::Flush {
                node: ni,
                incarnation: n.incarnation,
            };
            let at = self.now.add(self.cfg.flush_delay);
            self.push(at, ev);
        }
        None
    }

    fn on_event(&mut self, ni: usize, e: Event) {
        let id = self.nodes[ni].id;
        let correct = self.nodes[ni].correct;
        match e {
            Event::Quack { quack } => {
                if !correct {
                    return;
                }
                let st = &mut self.streams[side_idx(id.side)];
                st.max_quack = st.max_quack.max(quack.0);
                if quack.0 > st.released {
                    let msg = format!(
                        "quack soundness: {id} reported QUACK {} but only {} entries were committed",
                        quack.0, st.released
                    );
                    self.violation(msg);
                } else if quack.0 > st.prefix {
                    let msg = format!(
                        "quack soundness: {id} reported QUACK {} at {:.6}s but {} of stream {} is held by no correct receiver",
                        quack.0,
                        self.now.as_secs_f64(),
                        StreamIndex(st.prefix),
                        st.source
                    );
                    self.violation(msg);
                }
            }
            Event::Sent { .. } => {}
            Event::Resent { k, level, to } => {
                tracing::trace!(
                    target: "relayer::sim::wire",
                    "{:.6} {id} resends #{} at level {level} to {to}",
                    self.now.as_secs_f64(),
                    k.0
                );
                if correct {
                    self.streams[side_idx(id.side)].resends += 1;
                }
            }
            Event::Misbehaviour { peer, kind, detail } => {
                if !correct {
                    return;
                }
                if !kind.is_provable() {
                    self.suspicions += 1;
                    return;
                }
                self.misbehaviours += 1;
                if let Some(pi) = self.index(peer)
                    && self.nodes[pi].correct
                {
                    self.violation(format!(
                        "false accusation: {id} reported {kind:?} by correct node {peer}: {detail}"
                    ));
                }
            }
        }
    }

    fn finish(mut self, stop: Stop, wall: std::time::Instant) -> SimResult {
        self.snapshots(Time(u64::MAX));
        let cfg = self.cfg;
        let reliable = cfg.net.reliable();
        let failure_free = reliable && cfg.faults.is_empty();
        let has_restart = cfg
            .faults
            .items
            .iter()
            .any(|i| i.kind == FaultKind::Restart && i.count > 0);
        let unit = cfg.cluster_a.stakes.iter().all(|s| s.0 == 1)
            && cfg.cluster_b.stakes.iter().all(|s| s.0 == 1);
        let mut per_direction = Vec::new();
        for s in 0..2 {
            if !self.streams[s].active {
                continue;
            }
            let source = self.streams[s].source;
            let recv = source.other();
            let k = self.streams[s].k();
            // Eventual delivery, as far as the protocol promises it.
            let leaders_ok = [source, recv].iter().all(|side| {
                self.index(NodeId::new(*side, 0))
                    .is_some_and(|i| self.nodes[i].fault.is_none())
            });
            let promise = match cfg.protocol {
                ProtocolKind::Picsou => true,
                ProtocolKind::Ata | ProtocolKind::Otu => reliable,
                ProtocolKind::Ll => reliable && leaders_ok,
                ProtocolKind::Ost => failure_free,
            };
            if promise {
                if cfg.protocol == ProtocolKind::Ost {
                    let st = &self.streams[s];
                    if st.prefix < k {
                        let msg = format!(
                            "eventual delivery: no receiver delivered {} of stream {source} ({})",
                            StreamIndex(st.prefix),
                            stop.name()
                        );
                        self.violation(msg);
                    }
                } else {
                    for ni in 0..self.nodes.len() {
                        let n = &self.nodes[ni];
                        if n.id.side != recv || !n.correct || !n.up || n.delivered_count == k {
                            continue;
                        }
                        // Only Picsou promises delivery to a relay that was down for a while
                        // (its acks lag, so it gets resends or fetches); the baselines do not
                        // retransmit.
                        if n.fault.is_some() && cfg.protocol != ProtocolKind::Picsou {
                            continue;
                        }
                        let missing = n.delivered.first_unset(k).unwrap_or(k);
                        let msg = format!(
                            "eventual delivery: {} delivered {} of {k} entries of stream {source}, first missing {} ({})",
                            n.id,
                            n.delivered_count,
                            StreamIndex(missing),
                            stop.name()
                        );
                        self.violation(msg);
                    }
                }
            }
            let st = &self.streams[s];
            let max_tx = st.copies.iter().copied().max().unwrap_or(0);
            if cfg.protocol == ProtocolKind::Picsou && reliable && !has_restart && unit {
                let (from, to) = (cfg.cluster(source), cfg.cluster(recv));
                let bound = from.u.0 + to.u.0 + 1;
                if u64::from(max_tx) > bound {
                    // With fewer than u_s + u_r + 1 relays on a side, pairs with distinct ends
                    // run out and an entry has more roles: its own role list is the bound.
                    let fits = bound <= from.n().min(to.n()) as u64;
                    let schedule =
                        Schedule::new(from, to, cfg.params.quantum_max, cfg.params.slot_seed);
                    let over = st.copies.iter().enumerate().find_map(|(k, &c)| {
                        let c = u64::from(c);
                        if c <= bound {
                            return None;
                        }
                        let k = StreamIndex(k as u64);
                        let limit = if fits {
                            bound
                        } else {
                            role_pairs(&schedule, from, to, k).len() as u64
                        };
                        (c > limit).then_some((k, c, limit))
                    });
                    if let Some((k, c, limit)) = over {
                        let msg = format!(
                            "transmission bound: {k} of stream {source} crossed {c} times, more than {} = {limit}",
                            if fits {
                                "u_s + u_r + 1"
                            } else {
                                "its resend roles"
                            }
                        );
                        self.violation(msg);
                    }
                }
            }
            let st = &self.streams[s];
            // OTU's takeovers run on a fixed timeout (the baseline as the paper describes it),
            // so it resends whenever a confirmation takes longer; its resends are counted and
            // shown, not held against it.
            if failure_free && st.resends > 0 && cfg.protocol != ProtocolKind::Otu {
                let msg = format!(
                    "resends in a failure-free run: {} resends of stream {source}",
                    st.resends
                );
                self.violation(msg);
            }
            let st = &self.streams[s];
            let average = if st.completed > 0 && st.last_complete > Time::ZERO {
                st.completed as f64 / st.last_complete.as_secs_f64()
            } else {
                0.0
            };
            let throughput = match (&st.lo, &st.hi) {
                (
                    Mark {
                        at: Some(t_lo),
                        snapshot: Some(n_lo),
                        ..
                    },
                    Mark {
                        at: Some(t_hi),
                        snapshot: Some(n_hi),
                        ..
                    },
                ) if t_hi > t_lo && n_hi > n_lo => {
                    (n_hi - n_lo) as f64 / t_hi.since(*t_lo).as_secs_f64()
                }
                _ => average,
            };
            let n_s = cfg.cluster(source).n() as f64;
            let n_r = cfg.cluster(recv).n() as f64;
            // Every receiver's NIC takes in every entry once; OST's target is one receiver, so
            // there the receivers' NICs share the work.
            let mut bw = cfg.net.nic_bps as f64;
            if cfg.protocol == ProtocolKind::Ost {
                bw *= n_r;
            }
            if let Some(pair) = cfg.net.cross_pair_bps {
                bw = bw.min(n_s * n_r * pair as f64);
            }
            let limit = bw / 8.0 / cfg.size.max(1) as f64;
            per_direction.push(DirectionResult {
                source,
                messages: k,
                delivered_all: st.completed == k,
                completed: st.completed,
                throughput_msgs_per_s: throughput,
                average_msgs_per_s: average,
                limit_msgs_per_s: limit,
                last_complete_s: st.last_complete.as_secs_f64(),
                cross_sends_per_msg: st.cross_entries as f64 / k as f64,
                intra_sends_per_msg: st.intra_entries as f64 / k as f64,
                resends: st.resends,
                max_transmissions_per_msg: max_tx,
                max_quack: st.max_quack,
            });
        }
        if self.violations_dropped > 0 {
            let extra = format!("... and {} more violations", self.violations_dropped);
            self.violations.push(extra);
        }
        let total_msgs: u64 = per_direction.iter().map(|d| d.messages).sum::<u64>().max(1);
        let cross_entries: u64 = self.streams.iter().map(|s| s.cross_entries).sum();
        let intra_entries: u64 = self.streams.iter().map(|s| s.intra_entries).sum();
        SimResult {
            protocol: cfg.protocol.name().to_string(),
            nodes_a: cfg.cluster_a.n(),
            nodes_b: cfg.cluster_b.n(),
            messages: cfg.messages,
            size: cfg.size,
            phi: cfg.params.phi,
            seed: cfg.seed,
            net: cfg.net.name.clone(),
            loss: cfg.net.loss,
            partitions: cfg.net.partitions.iter().map(|p| p.to_string()).collect(),
            faults: cfg.faults.to_string(),
            directions: cfg.directions,
            delivered_all: per_direction.iter().all(|d| d.delivered_all),
            cross_sends_per_msg: cross_entries as f64 / total_msgs as f64,
            intra_sends_per_msg: intra_entries as f64 / total_msgs as f64,
            metadata_bytes_per_msg: self
                .cross_wire_bytes
                .saturating_sub(self.cross_content_bytes)
                as f64
                / total_msgs as f64,
            resends: per_direction.iter().map(|d| d.resends).sum(),
            max_transmissions_per_msg: per_direction
                .iter()
                .map(|d| d.max_transmissions_per_msg)
                .max()
                .unwrap_or(0),
            throughput_msgs_per_s: per_direction.iter().map(|d| d.throughput_msgs_per_s).sum(),
            average_msgs_per_s: per_direction.iter().map(|d| d.average_msgs_per_s).sum(),
            limit_msgs_per_s: per_direction.iter().map(|d| d.limit_msgs_per_s).sum(),
            sim_time_s: self.now.as_secs_f64(),
            wall_time_s: wall.elapsed().as_secs_f64(),
            events: self.events,
            misbehaviours_reported: self.misbehaviours,
            suspicions_reported: self.suspicions,
            stopped: stop.name().to_string(),
            per_direction,
            violations: self.violations,
        }
    }
}

fn read_received(store: &MemStore) -> Result<Vec<u64>, storage::StorageError> {
    let mut out = Vec::new();
    let mut from = storage::u64_key(0).to_vec();
    loop {
        let page = store.scan(RECEIVED_TREE, &from, 4096)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        let last = storage::u64_from_key(last)?;
        for (k, _) in &page {
            out.push(storage::u64_from_key(k)?);
        }
        match last.checked_add(1) {
            Some(n) if page.len() == 4096 => from = storage::u64_key(n).to_vec(),
            _ => break,
        }
    }
    Ok(out)
}

fn read_recovered(store: &MemStore) -> Result<Recovered, storage::StorageError> {
    let received = read_received(store)?.into_iter().map(StreamIndex).collect();
    let quack = match store.get(META_TREE, QUACK_KEY)? {
        Some(v) => {
            let bytes: [u8; 8] =
                v.as_slice()
                    .try_into()
                    .map_err(|_| storage::StorageError::Corrupt {
                        tree: META_TREE.into(),
                        reason: "quack record is not 8 bytes".into(),
                    })?;
            Some(StreamIndex(u64::from_be_bytes(bytes)))
        }
        None => None,
    };
    Ok(Recovered { received, quack })
}

/// One line about a batch for the `relayer::sim::wire` trace: its kind, ack, claims and the
/// indices it carries (runs of consecutive indices shortened to `a..=b`).
fn describe(batch: &Batch) -> String {
    let mut ks: Vec<u64> = batch.entries.iter().map(|e| e.k.0).collect();
    ks.sort_unstable();
    let mut runs: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ks.len() {
        let mut j = i;
        while j + 1 < ks.len() && ks[j + 1] == ks[j] + 1 {
            j += 1;
        }
        runs.push(if i == j {
            ks[i].to_string()
        } else {
            format!("{}..={}", ks[i], ks[j])
        });
        i = j + 1;
    }
    let head = match &batch.kind {
        BatchKind::Cross {
            ack,
            quack_claim,
            exported,
        } => {
            let ack = ack.as_ref().map_or("-".to_owned(), |a| {
                let held = (0..a.phi.len() as u64 * 8)
                    .filter(|i| a.phi_holds(StreamIndex(a.next.0 + 1 + i)))
                    .count();
                format!("{}+{held}", a.next.0)
            });
            let claim = quack_claim.map_or("-".to_owned(), |c| c.0.to_string());
            format!("cross ack={ack} claim={claim} exported={}", exported.0)
        }
        BatchKind::Internal => "internal".to_owned(),
        BatchKind::Fetch { want } => format!(
            "fetch want={:?}",
            want.iter().map(|k| k.0).collect::<Vec<_>>()
        ),
    };
    format!("{head} [{}]", runs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Entry;
    use crate::sim::SimResult;

    /// A minimal protocol: node 0 of each side buffers committed entries and flushes them to
    /// node 0 of the other side one `batch_delay` after the first; receivers deliver and persist.
    #[derive(Debug)]
    struct Toy {
        me: NodeId,
        delay: Duration,
        buffer: Vec<Entry>,
        flush_at: Option<Time>,
        out: Vec<Transmit>,
        deliveries: Vec<Delivery>,
        persists: Vec<PersistOp>,
        next_persist: u64,
        exported: u64,
        bug: Bug,
        events: Vec<Event>,
    }

    /// A deliberate protocol bug, to check that the invariant checks catch it.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Bug {
        None,
        EarlyQuack,
        DoubleDelivery,
        AlteredPayload,
        Resend,
    }

    impl Protocol for Toy {
        fn kind(&self) -> ProtocolKind {
            ProtocolKind::Ost
        }
        fn handle_committed(&mut self, now: Time, entry: Entry) {
            self.exported += 1;
            match self.bug {
                Bug::EarlyQuack => self.events.push(Event::Quack {
                    quack: entry.k.next(),
                }),
                Bug::Resend => self.events.push(Event::Resent {
                    k: entry.k,
                    level: 1,
                    to: NodeId::new(self.me.side.other(), 0),
                }),
                _ => {}
            }
            if self.me.index.0 == 0 {
                self.flush_at.get_or_insert(now.add(self.delay));
                self.buffer.push(entry);
            }
        }
        fn handle_batch(&mut self, _now: Time, from: NodeId, batch: Batch) {
            let received = batch.entries.iter().map(|e| e.k).collect();
            for mut entry in batch.entries {
                let copies = if self.bug == Bug::DoubleDelivery {
                    2
                } else {
                    1
                };
                if self.bug == Bug::AlteredPayload {
                    entry.payload = b"altered".into();
                }
                for _ in 0..copies {
                    self.deliveries.push(Delivery {
                        entry: entry.clone(),
                        from,
                        path: crate::protocol::DeliveryPath::Direct,
                    });
                }
            }
            self.next_persist += 1;
            self.persists.push(PersistOp {
                id: PersistId(self.next_persist),
                received,
                quack: None,
            });
        }
        fn handle_timeout(&mut self, now: Time) {
            if self.flush_at.is_some_and(|t| t <= now) {
                self.flush_at = None;
                self.out.push(Transmit {
                    to: NodeId::new(self.me.side.other(), 0),
                    batch: Batch {
                        epoch: 0,
                        kind: BatchKind::Cross {
                            ack: None,
                            quack_claim: None,
                            exported: StreamIndex(self.exported),
                        },
                        entries: std::mem::take(&mut self.buffer),
                    },
                });
            }
        }
        fn handle_persisted(&mut self, _id: PersistId) {}
        fn poll_transmit(&mut self) -> Option<Transmit> {
            self.out.pop()
        }
        fn poll_persist(&mut self) -> Option<PersistOp> {
            self.persists.pop()
        }
        fn poll_deliver(&mut self) -> Option<Delivery> {
            if self.deliveries.is_empty() {
                None
            } else {
                Some(self.deliveries.remove(0))
            }
        }
        fn poll_event(&mut self) -> Option<Event> {
            self.events.pop()
        }
        fn poll_timeout(&self) -> Option<Time> {
            self.flush_at
        }
        fn status(&self) -> crate::protocol::StreamStatus {
            crate::protocol::StreamStatus::default()
        }
    }

    fn toy(
        kind: ProtocolKind,
        setup: Setup,
        v: Box<dyn crate::protocol::EntryVerifier>,
        r: Recovered,
    ) -> Box<dyn Protocol> {
        buggy(Bug::None)(kind, setup, v, r)
    }

    fn buggy(
        bug: Bug,
    ) -> impl Fn(
        ProtocolKind,
        Setup,
        Box<dyn crate::protocol::EntryVerifier>,
        Recovered,
    ) -> Box<dyn Protocol> {
        move |_kind, setup, _v, _r| {
            Box::new(Toy {
                me: setup.me,
                delay: setup.params.batch_delay,
                buffer: Vec::new(),
                flush_at: None,
                out: Vec::new(),
                deliveries: Vec::new(),
                persists: Vec::new(),
                next_persist: 0,
                exported: 0,
                bug,
                events: Vec::new(),
            })
        }
    }

    #[test]
    fn the_checks_catch_protocol_bugs() {
        let mut cfg = SimConfig::new(ProtocolKind::Ost, 1, 1);
        cfg.messages = 10;
        let run = |bug| {
            crate::sim::run_with(&cfg, &buggy(bug))
                .expect("valid")
                .violations
        };
        assert!(run(Bug::None).is_empty());
        let v = run(Bug::EarlyQuack);
        assert!(v.iter().any(|v| v.starts_with("quack soundness")), "{v:?}");
        let v = run(Bug::DoubleDelivery);
        assert!(
            v.iter().any(|v| v.starts_with("duplicate delivery")),
            "{v:?}"
        );
        let v = run(Bug::AlteredPayload);
        assert!(v.iter().any(|v| v.starts_with("integrity")), "{v:?}");
        let v = run(Bug::Resend);
        assert!(
            v.iter()
                .any(|v| v.starts_with("resends in a failure-free run")),
            "{v:?}"
        );
    }

    #[test]
    fn one_batch_takes_delay_egress_latency_ingress() {
        let mut cfg = SimConfig::new(ProtocolKind::Ost, 1, 1);
        cfg.messages = 10;
        cfg.size = 1_000_000;
        cfg.directions = crate::sim::Directions::AToB;
        let r = crate::sim::run_with(&cfg, &toy).expect("valid");
        assert!(r.violations.is_empty(), "{:?}", r.violations);
        assert!(r.delivered_all);
        // The batch as the toy built it, to get its charged size.
        let chain = TestChain::new(cfg.seed);
        let entries: Vec<Entry> = (0..10)
            .map(|k| {
                chain.entry(
                    Side::A,
                    StreamIndex(k),
                    TestChain::payload(StreamIndex(k), 16),
                )
            })
            .collect();
        let batch = Batch {
            epoch: 0,
            kind: BatchKind::Cross {
                ack: None,
                quack_claim: None,
                exported: StreamIndex(10),
            },
            entries,
        };
        let (a0, b0) = (NodeId::new(Side::A, 0), NodeId::new(Side::B, 0));
        let charged = crate::wire::sealed_len(a0, b0, &batch) as u64 + 10 * (1_000_000 - 16);
        let ser = crate::sim::net::serialisation_ns(charged, 15_000_000_000);
        let expected = 1_000_000 + ser + 500_000 + ser;
        let d = &r.per_direction[0];
        assert_eq!((d.last_complete_s * 1e9).round() as u64, expected);
        assert_eq!(d.cross_sends_per_msg, 1.0);
        assert_eq!(r.stopped, "quiescent");
    }

    #[test]
    fn a_run_is_a_function_of_its_seed() {
        let mut cfg = SimConfig::new(ProtocolKind::Ost, 3, 2);
        cfg.messages = 500;
        cfg.net.loss = 0.3;
        let strip = |mut r: SimResult| {
            r.wall_time_s = 0.0;
            serde_json::to_string(&r).expect("serialises")
        };
        let a = strip(crate::sim::run_with(&cfg, &toy).expect("valid"));
        let b = strip(crate::sim::run_with(&cfg, &toy).expect("valid"));
        assert_eq!(a, b);
    }

    #[test]
    fn bits() {
        let mut b = Bits::new(130);
        assert_eq!(b.first_unset(130), Some(0));
        for i in 0..130 {
            b.set(i);
        }
        assert_eq!(b.first_unset(130), None);
        b.clear(70);
        assert!(!b.get(70) && b.get(69));
        assert_eq!(b.first_unset(130), Some(70));
    }
}
