//! The benchmark's relay driver: one tokio task per relay that owns a protocol instance and
//! drives it per the driving contract of `relayer::protocol`, over its own libp2p swarm.
//!
//! Inputs: certified entries of its own cluster's stream from the [`Feed`], where the caller
//! registered it before the source started (`handle_committed`, in index order; none while a
//! queue to the other cluster is long, see [`Relay::held`]), frames from its [`Net`] receiver
//! (those of the other cluster left unread while a queue to its own is long, see
//! [`Relay::pace_reads`]), opened with [`relayer::wire::open`] against the sender's batch key
//! (signature checked) before `handle_batch`, and its timer (`poll_timeout` /
//! `handle_timeout`).
//!
//! Outputs, drained after every input in the contract's order: transmits are sealed with
//! [`relayer::wire::seal`] and queued on the sender's stream to that peer; deliveries of a correct
//! relay are reported to the other stream's [`Completion`]; persist ops are acknowledged in
//! memory right after the drain (the bench measures the protocol and the transport, not a
//! database: a relay process would write them to sled first); events update the relay's
//! [`RelayCounters`].
//!
//! The task ends when told to stop (end of run, or a planted crash): it then shuts its network
//! down, leaves the feed, and returns its protocol's final [`StreamStatus`].

use super::completion::Completion;
use super::source::Feed;
use bytes::Bytes;
use ed25519_dalek::{SigningKey, VerifyingKey};
use relayer::net::{Net, NetEvent};
use relayer::protocol::{Event, Protocol, StreamStatus, Transmit};
use relayer::types::{NodeId, Time};
use relayer::wire;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Most frames handled per turn before the core is drained and other inputs get a chance.
const FRAMES_PER_TURN: usize = 64;
/// Most frame bytes handled per turn.
const FRAME_BYTES_PER_TURN: usize = 2 << 20;
/// Most committed entries handed in per turn.
const FEED_ENTRIES_PER_TURN: usize = 256;
/// Most committed payload bytes handed in per turn.
const FEED_BYTES_PER_TURN: usize = 1 << 20;
/// A relay takes no new entries of its own stream while its queue to some relay of the other
/// cluster holds more than this (see [`Relay::held`]): several 1 MB frames, so a held link still
/// has work queued. Held at the source window's 32 MiB instead, ATA at n = 4 and 1 MB read
/// 36.0 msg/s in one 15 s run after 5 s of warm-up; with this bound, four 10 s runs after 5 s
/// read 36.6 to 43.0, with a quarter of the bytes queued per link. In short runs either bound
/// reads ATA high (49.5 to 54.1 msg/s at 13.15 to 13.43 MB on the wire per message in three 5 s
/// runs with 32 MiB, 51.1 at 14.44 MB in one of two with this bound): the fastest sender may run
/// the source window ahead of the slowest, whose copies then fall outside the measurement.
const HOLD_BYTES: usize = 8 << 20;
/// A relay stops reading frames from the other cluster while its queue to some relay of its own
/// cluster holds more than this, until every such queue is under half of it (see
/// [`Relay::pace_reads`]). A quarter of the bench's queue cap, so what it is still handling when
/// it stops fits in the rest.
const PAUSE_BYTES: usize = 32 << 20;
/// How often a relay whose feed is held, or whose reads are paused, looks at its queues again.
const HOLD_POLL: Duration = Duration::from_millis(1);

/// What a relay did, readable while it runs.
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Latest QUACK of its own stream it reported.
    pub quack: AtomicU64,
    /// `Event::Quack` count.
    pub quack_updates: AtomicU64,
    /// `Event::Resent` count.
    pub resends: AtomicU64,
    /// `Event::Misbehaviour` count.
    pub misbehaviours: AtomicU64,
    /// Frames refused by `wire::open` or the network layer.
    pub wire_errors: AtomicU64,
    /// `Net::send` failures.
    pub send_errors: AtomicU64,
    /// Entries of the other stream delivered.
    pub delivered: AtomicU64,
    /// Entries of its own stream handed in.
    pub committed: AtomicU64,
    /// `handle_timeout` calls.
    pub timer_fires: AtomicU64,
    /// Frames handed to `handle_batch`.
    pub frames_in: AtomicU64,
    /// Turns (about [`HOLD_POLL`] each) the feed was held because a queue to the other cluster
    /// was over [`HOLD_BYTES`].
    pub feed_held: AtomicU64,
    /// Times reads from the other cluster were paused because a queue to this relay's own
    /// cluster was over [`PAUSE_BYTES`].
    pub reads_paused: AtomicU64,
}

/// Everything one relay task needs.
pub struct Relay {
    /// This relay.
    pub me: NodeId,
    /// Its protocol instance (possibly wrapped in a fault).
    pub proto: Box<dyn Protocol>,
    /// Its network layer.
    pub net: Net,
    /// Its batch-signing key.
    pub batch_key: SigningKey,
    /// Every other relay's batch key.
    pub keys: BTreeMap<NodeId, VerifyingKey>,
    /// Its own cluster's stream.
    pub feed: Arc<Feed>,
    /// The other cluster's stream, where its deliveries count (if `correct`).
    pub sink: Arc<Completion>,
    /// Whether it is a correct receiver (only those count towards completion).
    pub correct: bool,
    /// Shared counters.
    pub counters: Arc<RelayCounters>,
    /// The run's time origin (the same for every relay).
    pub origin: Instant,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("me", &self.me)
            .field("correct", &self.correct)
            .finish_non_exhaustive()
    }
}

impl Relay {
    fn now(&self) -> Time {
        Time(u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// Whether the feed is held: some queue to the other cluster holds more than [`HOLD_BYTES`].
    ///
    /// The source window bounds what is released past the delivery front, which bounds the
    /// queues of a protocol whose copies the delivery front waits for. A protocol that sends
    /// copies nobody waits for escapes it: ATA sends every entry to every receiver, a receiver
    /// delivers the first copy, and the other copies queue without bound on the slowest links
    /// until the queue cap drops them, so ATA paid for fewer copies than it sends (625 frames
    /// dropped and 10.8 of 16 MB per 1 MB message on the wire in one run) and read faster than
    /// it is. Holding the feed makes a relay wait for its slowest link to the other cluster, as
    /// the blocking sends of the paper's implementation do. Queues between relays of one
    /// cluster are not looked at here: a relay that stopped taking its own stream because a peer
    /// is slow to take its broadcasts would leave the originals it owes unsent. They pause
    /// reading instead ([`Relay::pace_reads`]). Neither looks at relays that are down
    /// ([`Net::backlog`]): with reads paused on the queue to a crashed relay, `--faults crash:1`
    /// at 1 MB delivered nothing in its window.
    fn held(&self) -> bool {
        self.keys
            .keys()
            .filter(|peer| peer.side != self.me.side)
            .any(|&peer| self.net.backlog(peer) > HOLD_BYTES)
    }

    /// Pauses reading frames from the other cluster while some queue to a connected relay of
    /// this relay's own cluster holds more than [`PAUSE_BYTES`], and reads them again once every
    /// such queue is under half of it; returns whether reads are paused (`paused`: whether they
    /// were).
    ///
    /// What a relay receives from the other cluster it broadcasts to its own, and copies nobody
    /// waits for escape the source window: OTU's receivers each broadcast every entry they get,
    /// so at n = 4 every relay is sent each entry twice, delivers the first, and second
    /// copies queued behind a slow link until the queue cap dropped them (108 frames in one
    /// `--quick` run). Not reading makes the other cluster's senders wait, through flow control
    /// and their own [`Relay::held`], as blocking sends would. Reads from the own cluster go
    /// on, so these queues always drain and no pair of relays can wait on each other.
    fn pace_reads(&self, paused: bool) -> bool {
        let backlog = self
            .keys
            .keys()
            .filter(|peer| peer.side == self.me.side)
            .map(|&peer| self.net.backlog(peer))
            .max()
            .unwrap_or(0);
        let pause = if paused {
            backlog > PAUSE_BYTES / 2
        } else {
            backlog > PAUSE_BYTES
        };
        if pause != paused {
            if pause {
                self.counters.reads_paused.fetch_add(1, Ordering::Relaxed);
            }
            for &peer in self.keys.keys().filter(|peer| peer.side != self.me.side) {
                self.net.set_reading(peer, !pause);
            }
        }
        pause
    }

    /// Drives the relay until `stop` turns true (or is dropped), then shuts its network down.
    pub async fn run(
        mut self,
        mut net_rx: mpsc::Receiver<NetEvent>,
        mut stop: watch::Receiver<bool>,
    ) -> StreamStatus {
        let mut released = self.feed.subscribe();
        let mut delivered = Vec::new();
        let mut feed_pending = true;
        let mut paused = false;
        loop {
            if *stop.borrow() {
                break;
            }
            paused = self.pace_reads(paused);
            let held = feed_pending && self.held();
            let deadline = self
                .proto
                .poll_timeout()
                .map(|t| tokio::time::Instant::from_std(self.origin + Duration::from_nanos(t.0)));
            tokio::select! {
                changed = stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                ev = net_rx.recv() => {
                    let Some(ev) = ev else { break };
                    let mut bytes = self.on_net(ev, &mut delivered);
                    for _ in 1..FRAMES_PER_TURN {
                        if bytes >= FRAME_BYTES_PER_TURN {
                            break;
                        }
                        match net_rx.try_recv() {
                            Ok(ev) => bytes += self.on_net(ev, &mut delivered),
                            Err(_) => break,
                        }
                    }
                }
                changed = released.changed(), if !feed_pending => {
                    if changed.is_ok() {
                        feed_pending = true;
                    }
                }
                () = std::future::ready(()), if feed_pending && !held => {
                    feed_pending = self.feed_some(&mut delivered);
                }
                () = tokio::time::sleep(HOLD_POLL), if held || paused => {
                    if held {
                        self.counters.feed_held.fetch_add(1, Ordering::Relaxed);
                    }
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.counters.timer_fires.fetch_add(1, Ordering::Relaxed);
                    let now = self.now();
                    self.proto.handle_timeout(now);
                    self.drain(&mut delivered);
                }
            }
            if !delivered.is_empty() {
                self.sink.deliver_all(&delivered);
                self.counters
                    .delivered
                    .fetch_add(delivered.len() as u64, Ordering::Relaxed);
                delivered.clear();
            }
        }
        self.feed.unregister(self.me.index.0);
        let status = self.proto.status();
        tracing::debug!(relay = %self.me, ?status, counters = ?self.counters, "relay stopped");
        self.net.clone().shutdown().await;
        status
    }

    /// Hands in the next entries of the own stream; returns whether more are waiting.
    fn feed_some(&mut self, delivered: &mut Vec<u64>) -> bool {
        let (entries, more) =
            self.feed
                .take(self.me.index.0, FEED_ENTRIES_PER_TURN, FEED_BYTES_PER_TURN);
        self.counters
            .committed
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        for e in entries {
            let now = self.now();
            self.proto.handle_committed(now, e);
            self.drain(delivered);
        }
        more
    }

    /// Handles one network event; returns the frame bytes it carried.
    fn on_net(&mut self, ev: NetEvent, delivered: &mut Vec<u64>) -> usize {
        match ev {
            NetEvent::Frame { from, bytes } => {
                let len = bytes.len();
                let Some(key) = self.keys.get(&from) else {
                    self.counters.wire_errors.fetch_add(1, Ordering::Relaxed);
                    return len;
                };
                match wire::open(&bytes, from, key, self.me) {
                    Ok(batch) => {
                        self.counters.frames_in.fetch_add(1, Ordering::Relaxed);
                        let now = self.now();
                        self.proto.handle_batch(now, from, batch);
                        self.drain(delivered);
                    }
                    Err(e) => {
                        self.counters.wire_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(relay = %self.me, peer = %from, error = %e, "frame refused");
                    }
                }
                len
            }
            NetEvent::BadFrame { from, reason } => {
                self.counters.wire_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(relay = %self.me, peer = %from, reason, "bad frame");
                0
            }
            NetEvent::Refused { peer_id, .. } => {
                self.counters.wire_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(relay = %self.me, %peer_id, "connection refused");
                0
            }
            NetEvent::Connected(_) | NetEvent::Disconnected(_) => 0,
        }
    }

    /// Drains every output of the core until all are empty (contract order), acknowledging
    /// persist ops in memory.
    fn drain(&mut self, delivered: &mut Vec<u64>) {
        let mut persisted = Vec::new();
        loop {
            let mut any = false;
            while let Some(t) = self.proto.poll_transmit() {
                any = true;
                self.transmit(&t);
            }
            while let Some(d) = self.proto.poll_deliver() {
                any = true;
                if self.correct {
                    delivered.push(d.entry.k.0);
                }
            }
            while let Some(op) = self.proto.poll_persist() {
                any = true;
                persisted.push(op.id);
            }
            while let Some(e) = self.proto.poll_event() {
                any = true;
                self.on_event(e);
            }
            for id in persisted.drain(..) {
                any = true;
                self.proto.handle_persisted(id);
            }
            if !any {
                break;
            }
        }
    }

    fn transmit(&mut self, t: &Transmit) {
        let frame = wire::seal(self.me, t.to, &t.batch, &self.batch_key);
        if let Err(e) = self.net.send(t.to, Bytes::from(frame)) {
            self.counters.send_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(relay = %self.me, to = %t.to, error = %e, "send failed");
        }
    }

    fn on_event(&mut self, e: Event) {
        let c = &self.counters;
        match e {
            Event::Quack { quack } => {
                c.quack.fetch_max(quack.0, Ordering::Relaxed);
                c.quack_updates.fetch_add(1, Ordering::Relaxed);
            }
            Event::Resent { k, level, to } => {
                c.resends.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(relay = %self.me, %k, level, %to, "resent");
            }
            Event::Misbehaviour { peer, kind, detail } => {
                c.misbehaviours.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(relay = %self.me, %peer, ?kind, detail, "misbehaviour");
            }
            Event::Sent { .. } => {}
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
