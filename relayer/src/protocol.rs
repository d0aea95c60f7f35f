//! The interface every cross-cluster protocol implements (Picsou and the baselines), and the
//! values that cross it.
//!
//! A protocol instance is one relay's view: it is the sender of its own cluster's outbound stream
//! and a receiver of the other cluster's stream. It is a plain state machine (sans-IO):
//!
//! - inputs: [`Protocol::handle_committed`], [`Protocol::handle_batch`],
//!   [`Protocol::handle_timeout`], [`Protocol::handle_persisted`]; time is always an argument;
//! - outputs, drained by the caller: [`Protocol::poll_transmit`], [`Protocol::poll_persist`],
//!   [`Protocol::poll_deliver`], [`Protocol::poll_event`], and [`Protocol::poll_timeout`].
//!
//! **Driving contract.** After any input, drain every `poll_*` until it returns `None` — in the
//! order transmit, deliver, persist, event — then arm a timer for `poll_timeout()` and call
//! `handle_timeout` when it fires (firing late is fine, firing early is harmless). A
//! [`PersistOp`] covers exactly the deliveries polled before it; it must be made durable, together
//! with those deliveries, before `handle_persisted(op.id)` is called. Until then the protocol does
//! not advertise those entries to anyone (persist before acknowledge), and after a crash they
//! count as never received.
//!
//! Batches handed to `handle_batch` are already authenticated: the driver opened them with
//! [`crate::wire::open`] (signature checked, sender known) or the simulator's links carry the
//! true sender. Entry proofs are *not* yet checked: the protocol checks them with its
//! [`EntryVerifier`] before it acknowledges, broadcasts or delivers anything.

pub use crate::payload::Payload;
use crate::types::{NodeId, NodeIdx, Side, Stake, StreamIndex, Time};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One exported entry of a source cluster's stream: the payload (a bridge transfer) and the proof
/// that the source chain finalized it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the source stream.
    pub k: StreamIndex,
    /// Application bytes (opaque to the protocol), with their digest.
    pub payload: Payload,
    /// Finality proof (opaque to the protocol; checked by an [`EntryVerifier`]).
    pub proof: Bytes,
}

/// A cumulative acknowledgement of a stream with a φ-list.
///
/// `next` is the smallest index not held (all `k < next` are held); bit `i` of `phi` (LSB first
/// within each byte) says whether `next + 1 + i` is held. Indices past the bitmap are unknown,
/// not missing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Smallest index not yet held.
    pub next: StreamIndex,
    /// Which of `next+1 ..= next+8·len` are held.
    pub phi: Bytes,
}

impl Ack {
    /// Whether the φ-list says `k` is held (`k > next`, within the bitmap).
    pub fn phi_holds(&self, k: StreamIndex) -> bool {
        if k.0 <= self.next.0 {
            return false;
        }
        let off = k.0 - self.next.0 - 1;
        let byte = (off / 8) as usize;
        byte < self.phi.len() && self.phi[byte] & (1 << (off % 8)) != 0
    }

    /// Whether this ack says `k` is held.
    pub fn holds(&self, k: StreamIndex) -> bool {
        k < self.next || self.phi_holds(k)
    }

    /// The highest index this ack says is held, if any.
    pub fn highest_held(&self) -> Option<StreamIndex> {
        for (byte_idx, byte) in self.phi.iter().enumerate().rev() {
            if *byte != 0 {
                let bit = 7 - byte.leading_zeros() as u64;
                return Some(StreamIndex(self.next.0 + 1 + byte_idx as u64 * 8 + bit));
            }
        }
        self.next.0.checked_sub(1).map(StreamIndex)
    }
}

/// What a batch is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchKind {
    /// Sent across clusters. Its entries belong to the *sender's* cluster stream; `ack`
    /// acknowledges the *recipient's* cluster stream (the reverse direction).
    Cross {
        /// The sender's cumulative ack of the reverse stream, if it has one to give.
        ack: Option<Ack>,
        /// A §4.3 claim: "my QUACK of my stream is at least this".
        quack_claim: Option<StreamIndex>,
        /// How many entries of its own stream the sender has been handed so far. Receivers keep
        /// acknowledging while they are behind it, so a lost last entry is still detected, and go
        /// quiet once they have caught up.
        exported: StreamIndex,
    },
    /// Sent inside a cluster: entries of the *other* cluster's stream, passed on after receipt.
    Internal,
    /// Sent inside a cluster: a request for the listed entries of the other cluster's stream
    /// (used to recover from the §4.3 wedge).
    Fetch {
        /// Indices wanted.
        want: Vec<StreamIndex>,
    },
}

/// One batch of the wire protocol, before signing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Membership epoch the batch belongs to.
    pub epoch: u64,
    /// What the batch is for.
    pub kind: BatchKind,
    /// Entries carried (may be empty: an ack-only or fetch batch).
    pub entries: Vec<Entry>,
}

impl Batch {
    /// Bytes of payload and proof carried, i.e. everything that is not protocol metadata.
    pub fn content_bytes(&self) -> usize {
        self.entries
            .iter()
            .map(|e| e.payload.len() + e.proof.len())
            .sum()
    }
}

/// A batch to send, produced by [`Protocol::poll_transmit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination relay.
    pub to: NodeId,
    /// The batch (the driver signs it).
    pub batch: Batch,
}

/// How a delivered entry reached this relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryPath {
    /// Directly from a relay of the source cluster.
    Direct,
    /// By internal broadcast (or fetch) from a relay of this cluster.
    Internal,
}

/// An entry of the other cluster's stream, verified and delivered exactly once by this relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The entry.
    pub entry: Entry,
    /// Who handed it over.
    pub from: NodeId,
    /// How.
    pub path: DeliveryPath,
}

/// Identifies one [`PersistOp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersistId(pub u64);

/// Writes the protocol needs to be durable before it relies on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistOp {
    /// Confirm with [`Protocol::handle_persisted`].
    pub id: PersistId,
    /// Indices of the other cluster's stream received and delivered since the last op.
    pub received: Vec<StreamIndex>,
    /// The QUACK of this cluster's stream, when it advanced (lazy; losing it only costs resends).
    pub quack: Option<StreamIndex>,
}

/// What a relay recovered from its store after a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Every index of the other cluster's stream it had durably received.
    pub received: Vec<StreamIndex>,
    /// The last QUACK of its own stream it had persisted.
    pub quack: Option<StreamIndex>,
}

/// Kinds of peer misbehaviour a protocol can prove or observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MisbehaviourKind {
    /// An entry whose finality proof does not verify.
    BadProof,
    /// An index outside the receive window.
    OutOfWindow,
    /// A batch of a kind or shape that peer may not send (e.g. a cross batch from our own side).
    Malformed,
    /// An ack claiming entries that do not exist yet.
    ImpossibleAck,
    /// Two different entries under the same index.
    Equivocation,
    /// A suspicion, not a proof: the peer's acks stayed behind the QUACK for many message
    /// delays (it drops, acks low, or is down or cut off). See [`crate::picsou::suspicion`].
    AckLag,
}

impl MisbehaviourKind {
    /// Whether one signed batch proves it (everything but [`MisbehaviourKind::AckLag`]).
    pub fn is_provable(self) -> bool {
        !matches!(self, MisbehaviourKind::AckLag)
    }
}

/// Something the application may want to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The QUACK of this relay's own stream advanced: every `k < quack` is held by a correct
    /// receiver.
    Quack {
        /// New QUACK.
        quack: StreamIndex,
    },
    /// An entry was sent across for the first time by this relay (original role).
    Sent {
        /// The entry's index.
        k: StreamIndex,
    },
    /// This relay resent an entry (role `level` of its resend list).
    Resent {
        /// The entry's index.
        k: StreamIndex,
        /// The resend role used (≥ 1).
        level: u32,
        /// The receiver it was resent to.
        to: NodeId,
    },
    /// A peer misbehaved.
    Misbehaviour {
        /// The peer.
        peer: NodeId,
        /// What it did.
        kind: MisbehaviourKind,
        /// Details for logs.
        detail: String,
    },
}

/// A point-in-time view of one relay's two streams, for status endpoints and the simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStatus {
    /// Entries of the own stream handed in so far (`handle_committed`).
    pub exported: u64,
    /// QUACK of the own stream.
    pub quack: u64,
    /// Entries of the own stream this relay sent in its original role.
    pub originals_sent: u64,
    /// Entries of the own stream this relay resent.
    pub resends: u64,
    /// Smallest index of the other stream not yet durably received.
    pub next_expected: u64,
    /// Entries of the other stream delivered.
    pub delivered: u64,
}

/// One cluster's membership for an epoch, and its fault bounds in stake units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Which side this is.
    pub side: Side,
    /// Stake of every node, indexed by [`NodeIdx`]; each must be positive.
    pub stakes: Vec<Stake>,
    /// Most stake that may fail in any way (`u`).
    pub u: Stake,
    /// Most stake that may be Byzantine (`r ≤ u`).
    pub r: Stake,
}

impl ClusterConfig {
    /// Unit-stake BFT cluster: `n = 3f + 1` (or any n), `u = r = ⌊(n−1)/3⌋`.
    pub fn bft(side: Side, n: usize) -> Self {
        let f = (n.saturating_sub(1) / 3) as u64;
        ClusterConfig {
            side,
            stakes: vec![Stake(1); n],
            u: Stake(f),
            r: Stake(f),
        }
    }

    /// Unit-stake CFT cluster: `u = ⌊(n−1)/2⌋`, `r = 0`.
    pub fn cft(side: Side, n: usize) -> Self {
        let f = (n.saturating_sub(1) / 2) as u64;
        ClusterConfig {
            side,
            stakes: vec![Stake(1); n],
            u: Stake(f),
            r: Stake(0),
        }
    }

    /// A cluster with these stakes and the largest bounds they allow: `u = r = ⌊(Δ−1)/3⌋`
    /// (BFT), or `u = ⌊(Δ−1)/2⌋, r = 0` (CFT), with `Δ` the total stake.
    pub fn with_stakes(side: Side, stakes: Vec<Stake>, cft: bool) -> Self {
        let total: u64 = stakes.iter().map(|s| s.0).sum();
        let (u, r) = if cft {
            (total.saturating_sub(1) / 2, 0)
        } else {
            let f = total.saturating_sub(1) / 3;
            (f, f)
        };
        ClusterConfig {
            side,
            stakes,
            u: Stake(u),
            r: Stake(r),
        }
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.stakes.len()
    }

    /// Total stake `Δ`.
    pub fn total(&self) -> Stake {
        Stake(self.stakes.iter().map(|s| s.0).sum())
    }

    /// Stake of one node.
    pub fn stake(&self, i: NodeIdx) -> Stake {
        self.stakes[i.as_usize()]
    }

    /// Node ids of this cluster, in index order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.stakes.len() as u32).map(move |i| NodeId::new(self.side, i))
    }

    /// Checks the invariants the protocols rely on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.stakes.is_empty() {
            return Err(ConfigError::Empty(self.side));
        }
        if self.stakes.iter().any(|s| s.0 == 0) {
            return Err(ConfigError::ZeroStake(self.side));
        }
        if self.r > self.u {
            return Err(ConfigError::RAboveU(self.side));
        }
        if self.u >= self.total() {
            return Err(ConfigError::UTooLarge(self.side));
        }
        Ok(())
    }
}

/// A cluster configuration the protocols cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No nodes.
    #[error("cluster {0} has no nodes")]
    Empty(Side),
    /// A node with zero stake.
    #[error("cluster {0} has a node with zero stake")]
    ZeroStake(Side),
    /// `r > u`.
    #[error("cluster {0}: byzantine bound r exceeds failure bound u")]
    RAboveU(Side),
    /// `u ≥ Δ`.
    #[error("cluster {0}: failure bound u must be below the total stake")]
    UTooLarge(Side),
}

/// Tuning knobs shared by all protocols. Defaults follow the paper's prototype where it had one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Params {
    /// Flush a batch once its content reaches this many bytes.
    pub batch_bytes: usize,
    /// Flush a non-empty batch this long after its first entry.
    pub batch_delay: Duration,
    /// Send an ack-only batch after this long without cross traffic.
    pub noop_delay: Duration,
    /// φ: how many indices past `next` an ack's bitmap covers (multiple of 8).
    pub phi: u32,
    /// Receivers accept `k` only in `[next, next + recv_window)`.
    pub recv_window: u64,
    /// Soft window: a sender holds back the next entry while as many released entries are not
    /// yet confirmed as `picsou::pacing`'s entry-count limit allows, which follows the
    /// confirmation time and never exceeds this cap (see `picsou::outbound`), or while its
    /// bytes would take them past the byte limit. It keeps queues (and so delivery delays)
    /// short; it yields one entry whenever the QUACK has not moved for `max_message_delay`, so
    /// it can never deadlock.
    ///
    /// The default cap, 2^19, is sized for the simulated LAN at 100 B (a limit of 18.75 M
    /// entries/s per stream, at which 2^16 entries last 3.5 ms, less than they took to be
    /// confirmed: a larger window went faster). Measured when this was the whole count limit:
    /// 2^16 held n = 7 and n = 19 to 51% and 40% of the model limit (1.2 M and 0.4 M
    /// messages); and since batch deadlines and ack rounds come at fixed intervals, the fewer
    /// entries a window lets through per interval, the more signature and ack bytes each
    /// carries: n = 19 spent 7.12 B of metadata per message against 5.07 B at n = 4. 2^19 gave
    /// 81% and 65%, and 5.85 B. Payload memory stays bounded by
    /// `send_window_bytes` whatever the count.
    pub send_window: u64,
    /// The byte half of the soft window (payload and proof bytes of this relay's own un-QUACKed
    /// original sends): a cap on `picsou::pacing`'s limit, which follows the confirmed rate.
    /// The default, 256 MiB, keeps 1.4 GB/s in flight over a 133 ms round trip plus the queue
    /// target (the `geo` preset at n = 19 reaches 72% of its model limit); 64 MiB held it to
    /// 21%.
    pub send_window_bytes: usize,
    /// ... but never longer than this.
    pub max_message_delay: Duration,
    /// How long indices a quorum of senders claims this cluster holds may stay missing before
    /// a relay fetches them from a peer (§4.3). (Loss reports are spaced by the measured
    /// confirmation time instead: see `picsou::outbound`.)
    pub fetch_delay: Duration,
    /// Upper bound on the schedule quantum `q`.
    pub quantum_max: u64,
    /// Baselines with timeouts (OTU): how long before the next sender takes over.
    pub resend_timeout: Duration,
    /// Public seed for the slot order (0: index order, as in the paper).
    pub slot_seed: u64,
    /// How many recently delivered entries a receiver keeps to answer its peers' fetches (§4.3).
    pub fetch_retain: usize,
    /// ... and how many of their payload and proof bytes, at most (the highest-indexed entry is
    /// kept whatever its size). The default, 64 MiB, is 64 entries of 1 MB. Counted in entries
    /// only, 2^16 entries of 1 MB had each relay of `bench` keep every entry it delivered: the
    /// eight relays of a `--warmup 2s --duration 5s` run peaked at 2 019 012 to 2 965 268 KiB
    /// (four runs), each page of it faulted in fresh.
    pub fetch_retain_bytes: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            batch_bytes: 200_000,
            batch_delay: Duration::from_millis(1),
            noop_delay: Duration::from_millis(2),
            phi: 256,
            recv_window: 1 << 20,
            send_window: 1 << 19,
            send_window_bytes: 256 << 20,
            max_message_delay: Duration::from_millis(200),
            fetch_delay: Duration::from_millis(20),
            quantum_max: 1 << 16,
            resend_timeout: Duration::from_secs(1),
            slot_seed: 0,
            fetch_retain: 1 << 16,
            fetch_retain_bytes: 64 << 20,
        }
    }
}

impl Params {
    /// The defaults for a machine whose delays are `max_message_delay` over the default's (200
    /// ms) times a relay's own: every timer (`batch_delay`, `noop_delay`, `fetch_delay`,
    /// `max_message_delay`, `resend_timeout`) is scaled by that factor, so they keep the
    /// defaults' proportions; sizes and windows are left as they are.
    ///
    /// Scaling `max_message_delay` alone leaves a relay waiting only `fetch_delay` (20 ms) for
    /// broadcasts that take it far longer to receive, and sending ack rounds every 2 ms:
    /// `picsou-relay bench`, whose relays all share two cores, then put 3.3–3.75 internal
    /// copies of each 1 MB message on the wire where 3 are needed, and 17–27 frames where the
    /// data needs 4 (see docs/BENCHMARKS.md).
    pub fn scaled_to(max_message_delay: Duration) -> Params {
        let d = Params::default();
        let base = d.max_message_delay.as_nanos();
        let scale = |t: Duration| {
            let ns = t.as_nanos() * max_message_delay.as_nanos() / base;
            Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
        };
        Params {
            batch_delay: scale(d.batch_delay),
            noop_delay: scale(d.noop_delay),
            fetch_delay: scale(d.fetch_delay),
            max_message_delay,
            resend_timeout: scale(d.resend_timeout),
            ..d
        }
    }
}

/// Checks an entry's finality proof. Implemented by the chain models (real certificates) and by
/// test verifiers.
pub trait EntryVerifier: Send {
    /// `Ok` iff `entry` is genuinely entry `entry.k` of `source`'s stream.
    fn verify(&self, source: Side, entry: &Entry) -> Result<(), ProofError>;
}

/// Why an entry's proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proof: {0}")]
pub struct ProofError(pub String);

/// The names of the protocols this crate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolKind {
    /// Picsou (C3B with QUACKs).
    Picsou,
    /// One-shot: one copy, no ack (an upper bound, not C3B).
    Ost,
    /// All-to-all.
    Ata,
    /// Leader to leader.
    Ll,
    /// GeoBFT's optimistic transfer to `u+1` receivers, with timeout resends.
    Otu,
}

impl ProtocolKind {
    /// All protocols, in report order.
    pub const ALL: [ProtocolKind; 5] = [
        ProtocolKind::Picsou,
        ProtocolKind::Ost,
        ProtocolKind::Ata,
        ProtocolKind::Ll,
        ProtocolKind::Otu,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolKind::Picsou => "picsou",
            ProtocolKind::Ost => "ost",
            ProtocolKind::Ata => "ata",
            ProtocolKind::Ll => "ll",
            ProtocolKind::Otu => "otu",
        }
    }
}

impl std::str::FromStr for ProtocolKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProtocolKind::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown protocol {s:?} (expected picsou, ost, ata, ll or otu)"))
    }
}

/// Everything a protocol instance needs to start.
#[derive(Debug, Clone)]
pub struct Setup {
    /// This relay.
    pub me: NodeId,
    /// Its own cluster.
    pub local: ClusterConfig,
    /// The other cluster.
    pub remote: ClusterConfig,
    /// Membership epoch.
    pub epoch: u64,
    /// Tuning.
    pub params: Params,
}

/// One relay's cross-cluster protocol, as a sans-IO state machine. See the module docs for the
/// driving contract.
pub trait Protocol: Send {
    /// Which protocol this is.
    fn kind(&self) -> ProtocolKind;

    /// The local chain finalized entry `entry.k` of this cluster's stream. Called in index
    /// order; an index already passed in (e.g. replayed after a restart) is ignored.
    fn handle_committed(&mut self, now: Time, entry: Entry);

    /// An authenticated batch arrived from `from`.
    fn handle_batch(&mut self, now: Time, from: NodeId, batch: Batch);

    /// Time has advanced to `now`; fire whatever timers expired.
    fn handle_timeout(&mut self, now: Time);

    /// The op with this id (and the deliveries polled before it) is durable.
    fn handle_persisted(&mut self, id: PersistId);

    /// Next batch to send.
    fn poll_transmit(&mut self) -> Option<Transmit>;

    /// Next write that must become durable.
    fn poll_persist(&mut self) -> Option<PersistOp>;

    /// Next entry of the other stream to hand to the application.
    fn poll_deliver(&mut self) -> Option<Delivery>;

    /// Next event.
    fn poll_event(&mut self) -> Option<Event>;

    /// When `handle_timeout` should next be called, if ever.
    fn poll_timeout(&self) -> Option<Time>;

    /// Counters for status views.
    fn status(&self) -> StreamStatus;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_params_keep_the_defaults_proportions() {
        let d = Params::default();
        assert_eq!(Params::scaled_to(d.max_message_delay), d);
        let p = Params::scaled_to(Duration::from_secs(1));
        assert_eq!(p.max_message_delay, Duration::from_secs(1));
        assert_eq!(p.batch_delay, Duration::from_millis(5));
        assert_eq!(p.noop_delay, Duration::from_millis(10));
        assert_eq!(p.fetch_delay, Duration::from_millis(100));
        assert_eq!(p.resend_timeout, Duration::from_secs(5));
        assert_eq!(
            (p.batch_bytes, p.phi, p.send_window, p.fetch_retain_bytes),
            (d.batch_bytes, d.phi, d.send_window, d.fetch_retain_bytes),
            "sizes are not timers"
        );
        let p = Params::scaled_to(Duration::from_millis(50));
        assert_eq!(p.noop_delay, Duration::from_micros(500));
    }
}
