//! Byzantine relays, for tests only (built with the `byzantine` feature, never by default): a
//! [`CoreWrapper`] that makes a real relay lie in what it sends.
//!
//! The wrapper sits between the relay's honest protocol core and its driver. The relay follows
//! its chain, receives, persists and submits like any other; only the batches it sends are
//! rewritten, dropped, duplicated or added to — and then sealed by the driver with the relay's
//! own batch key, so every lie carries its valid signature, as a real Byzantine relay's would.
//!
//! The behaviours the simulator already plants ([`crate::sim::faults`]) are its own code, reused
//! through [`Faulty`]; this module adds the ones that only make sense against real chains and
//! real peers (forged transfers, replayed batches, equivocation, provably impossible acks,
//! silence).
//!
//! # Contract
//!
//! Deterministic given the core's outputs and the seed; no clock (time comes with the inputs)
//! and no `HashMap`.

use super::config::CoreWrapper;
use crate::protocol::{
    Ack, Batch, BatchKind, Delivery, Entry, Event, PersistId, PersistOp, Protocol, ProtocolKind,
    Setup, StreamStatus, Transmit,
};
use crate::sim::faults::{FaultKind, Faulty, FaultyCtx, NodeFault};
use crate::types::{NodeId, StreamIndex, Time};
use bytes::Bytes;
use chains::tx::BridgeTransfer;
use chains::types::{Amount, Hash32, TxId};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Cross batches a replaying relay keeps to send again.
pub const REPLAY_KEEP: usize = 32;
/// Amount of every forged transfer (far above any devnet transfer, so it cannot be mistaken).
pub const FORGED_AMOUNT: u64 = 1_000_000;

/// What a Byzantine relay does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Behaviour {
    /// Sends nothing at all (no entries, no acks, no broadcasts), while staying connected.
    DropAll,
    /// Drops about half of the entries it sends across and half of its internal batches
    /// (the simulator's `byz-drop`).
    DropSelective,
    /// Acks everything the other stream has (as far as it knows) exported (`byz-ack-high`): a
    /// plausible lie.
    AckHigh,
    /// Acks far past anything the other stream could have: provably impossible.
    AckBeyond,
    /// Acks `next = 0` forever (`byz-ack-zero`).
    AckZero,
    /// Acks φ behind what it holds, with an empty φ-list (`byz-ack-delay`).
    AckDelay,
    /// Spams copies of its ack to every remote relay (`byz-dupack`).
    DupAckSpam,
    /// Replaces every entry it sends or passes on by a transfer the source chain never
    /// finalized: same index, a fresh transfer id, a large amount, the real entry's proof.
    Forge,
    /// Sends old cross batches again (re-signed) next to every new one.
    Replay,
    /// Adds entries with indices far outside the receive window (`byz-window`).
    FloodWindow,
    /// Sends each cross batch to its receiver and a conflicting one (same indices, forged
    /// transfers) to the next receiver: two signed batches for the same indices.
    Equivocate,
}

impl Behaviour {
    /// Every behaviour.
    pub const ALL: [Behaviour; 11] = [
        Behaviour::DropAll,
        Behaviour::DropSelective,
        Behaviour::AckHigh,
        Behaviour::AckBeyond,
        Behaviour::AckZero,
        Behaviour::AckDelay,
        Behaviour::DupAckSpam,
        Behaviour::Forge,
        Behaviour::Replay,
        Behaviour::FloodWindow,
        Behaviour::Equivocate,
    ];

    /// Its name, e.g. `ack-beyond`.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::DropAll => "drop-all",
            Behaviour::DropSelective => "drop-selective",
            Behaviour::AckHigh => "ack-high",
            Behaviour::AckBeyond => "ack-beyond",
            Behaviour::AckZero => "ack-zero",
            Behaviour::AckDelay => "ack-delay",
            Behaviour::DupAckSpam => "dup-ack-spam",
            Behaviour::Forge => "forge",
            Behaviour::Replay => "replay",
            Behaviour::FloodWindow => "flood-window",
            Behaviour::Equivocate => "equivocate",
        }
    }

    /// The misbehaviour kind (`picsou_misbehaviour_total`'s `kind` label) an honest relay
    /// reports, with a signed frame as evidence, when one batch proves the behaviour; `None` when
    /// no single batch does.
    pub fn reported_as(self) -> Option<&'static str> {
        match self {
            Behaviour::AckBeyond => Some("impossible_ack"),
            Behaviour::Forge | Behaviour::Equivocate => Some("bad_proof"),
            Behaviour::FloodWindow => Some("out_of_window"),
            Behaviour::DropAll
            | Behaviour::DropSelective
            | Behaviour::AckHigh
            | Behaviour::AckZero
            | Behaviour::AckDelay
            | Behaviour::DupAckSpam
            | Behaviour::Replay => None,
        }
    }

    /// The simulator's adversary that does the same, if there is one.
    fn simulator_kind(self) -> Option<FaultKind> {
        match self {
            Behaviour::DropSelective => Some(FaultKind::ByzDrop),
            Behaviour::AckHigh => Some(FaultKind::ByzAckHigh),
            Behaviour::AckZero => Some(FaultKind::ByzAckZero),
            Behaviour::AckDelay => Some(FaultKind::ByzAckDelay),
            Behaviour::DupAckSpam => Some(FaultKind::ByzDupack),
            Behaviour::FloodWindow => Some(FaultKind::ByzWindow),
            Behaviour::DropAll
            | Behaviour::AckBeyond
            | Behaviour::Forge
            | Behaviour::Replay
            | Behaviour::Equivocate => None,
        }
    }
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Behaviour {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Behaviour::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Behaviour::ALL.iter().map(|b| b.name()).collect();
                format!(
                    "unknown behaviour {s:?} (expected one of {})",
                    names.join(", ")
                )
            })
    }
}

/// Makes the relay it wraps behave as told. Pass it in
/// [`super::config::StartOptions::wrap_core`].
#[derive(Debug, Clone)]
pub struct Byzantine {
    behaviour: Behaviour,
    seed: u64,
}

impl Byzantine {
    /// A relay doing `behaviour`; `seed` drives its random choices.
    pub fn new(behaviour: Behaviour, seed: u64) -> Self {
        Byzantine { behaviour, seed }
    }

    /// What it does.
    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }
}

impl CoreWrapper for Byzantine {
    fn wrap(&self, setup: &Setup, core: Box<dyn Protocol>) -> Box<dyn Protocol> {
        let remote_exported = Arc::new(AtomicU64::new(0));
        let inner: Box<dyn Protocol> = match self.behaviour.simulator_kind() {
            Some(kind) => Box::new(Faulty::new(
                core,
                NodeFault {
                    kind,
                    at: Duration::ZERO,
                    until: None,
                },
                FaultyCtx {
                    me: setup.me,
                    remote_n: setup.remote.n() as u32,
                    phi: setup.params.phi,
                    recv_window: setup.params.recv_window,
                    remote_committed: remote_exported.clone(),
                    spam_every: setup.params.noop_delay,
                    seed: self.seed,
                },
            )),
            None => core,
        };
        Box::new(Liar {
            inner,
            behaviour: self.behaviour,
            me: setup.me,
            remote_n: setup.remote.n() as u32,
            recv_window: setup.params.recv_window,
            remote_exported,
            kept: Vec::new(),
            replay_next: 0,
            forged: 0,
            seed: self.seed,
            out: VecDeque::new(),
        })
    }
}

/// The wrapped core: forwards every input, rewrites what leaves.
struct Liar {
    inner: Box<dyn Protocol>,
    behaviour: Behaviour,
    me: NodeId,
    remote_n: u32,
    recv_window: u64,
    /// The highest `exported` the other cluster's relays announced.
    remote_exported: Arc<AtomicU64>,
    /// Cross batches kept for replay, with their recipient.
    kept: Vec<Transmit>,
    replay_next: usize,
    /// Transfers forged so far (each gets a fresh id).
    forged: u64,
    seed: u64,
    out: VecDeque<Transmit>,
}

impl fmt::Debug for Liar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Liar")
            .field("me", &self.me)
            .field("behaviour", &self.behaviour)
            .finish_non_exhaustive()
    }
}

impl Liar {
    /// `entry` with its transfer replaced by one the source chain never finalized, keeping the
    /// index and the (now unrelated) proof.
    fn forge(&mut self, entry: &Entry) -> Entry {
        self.forged += 1;
        let mut h = Sha256::new();
        h.update(b"PICSOU-FORGED-TRANSFER");
        h.update(self.seed.to_be_bytes());
        h.update(self.me.to_string().as_bytes());
        h.update(self.forged.to_be_bytes());
        let tx_id = TxId(Hash32(h.finalize().into()));
        let payload = match BridgeTransfer::from_bytes(&entry.payload) {
            Ok(mut t) => {
                t.tx_id = tx_id;
                t.amount = Amount(FORGED_AMOUNT);
                t.to_bytes()
            }
            Err(_) => {
                let mut p = entry.payload.to_vec();
                p.extend_from_slice(&tx_id.0.0);
                p
            }
        };
        Entry {
            k: entry.k,
            payload: payload.into(),
            proof: entry.proof.clone(),
        }
    }

    fn forge_all(&mut self, entries: &[Entry]) -> Vec<Entry> {
        entries.iter().map(|e| self.forge(e)).collect()
    }

    fn rewrite(&mut self, mut t: Transmit) {
        let cross = t.to.side != self.me.side;
        match self.behaviour {
            Behaviour::DropAll => return,
            Behaviour::AckBeyond => {
                if let BatchKind::Cross { ack: Some(ack), .. } = &mut t.batch.kind {
                    let known = self.remote_exported.load(Ordering::Relaxed);
                    *ack = Ack {
                        next: StreamIndex(
                            known
                                .saturating_add(self.recv_window)
                                .saturating_mul(4)
                                .saturating_add(1),
                        ),
                        phi: Bytes::new(),
                    };
                }
            }
            Behaviour::Forge => {
                if !t.batch.entries.is_empty() {
                    t.batch.entries = self.forge_all(&t.batch.entries);
                }
            }
            Behaviour::Replay => {
                if cross {
                    if let Some(old) = self.kept.get(self.replay_next).cloned() {
                        self.replay_next = (self.replay_next + 1) % self.kept.len();
                        self.out.push_back(old);
                    }
                    if self.kept.len() < REPLAY_KEEP && !t.batch.entries.is_empty() {
                        self.kept.push(t.clone());
                    }
                }
            }
            Behaviour::Equivocate => {
                if cross && !t.batch.entries.is_empty() && self.remote_n > 1 {
                    let other = NodeId::new(t.to.side, (t.to.index.0 + 1) % self.remote_n);
                    let conflicting = Transmit {
                        to: other,
                        batch: Batch {
                            epoch: t.batch.epoch,
                            kind: t.batch.kind.clone(),
                            entries: self.forge_all(&t.batch.entries),
                        },
                    };
                    self.out.push_back(conflicting);
                }
            }
            // Done by the simulator's adversary inside.
            Behaviour::DropSelective
            | Behaviour::AckHigh
            | Behaviour::AckZero
            | Behaviour::AckDelay
            | Behaviour::DupAckSpam
            | Behaviour::FloodWindow => {}
        }
        self.out.push_back(t);
    }

    fn note_input(&self, batch: &Batch) {
        if let BatchKind::Cross { exported, .. } = &batch.kind {
            self.remote_exported
                .fetch_max(exported.0, Ordering::Relaxed);
        }
    }
}

impl Protocol for Liar {
    fn kind(&self) -> ProtocolKind {
        self.inner.kind()
    }

    fn handle_committed(&mut self, now: Time, entry: Entry) {
        self.inner.handle_committed(now, entry);
    }

    fn handle_batch(&mut self, now: Time, from: NodeId, batch: Batch) {
        if from.side != self.me.side {
            self.note_input(&batch);
        }
        self.inner.handle_batch(now, from, batch);
    }

    fn handle_timeout(&mut self, now: Time) {
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
    use crate::protocol::{ClusterConfig, Params};
    use crate::testkit::Scripted;
    use crate::types::Side;
    use chains::types::{Address, ChainId, ExportIndex};

    fn transfer(k: u64) -> BridgeTransfer {
        BridgeTransfer {
            source_chain: ChainId::new("algorand-devnet").unwrap(),
            dest_chain: ChainId::new("resdb-devnet").unwrap(),
            k: ExportIndex(k),
            tx_id: TxId(Hash32([k as u8; 32])),
            from: Address::Ed25519([1; 32]),
            recipient: Address::Ed25519([2; 32]),
            amount: Amount(5),
            nonce: 1,
        }
    }

    fn entry(k: u64) -> Entry {
        Entry {
            k: StreamIndex(k),
            payload: transfer(k).to_bytes().into(),
            proof: Bytes::from_static(b"certificate"),
        }
    }

    fn cross(to: u32, ks: &[u64]) -> Transmit {
        Transmit {
            to: NodeId::new(Side::B, to),
            batch: Batch {
                epoch: 0,
                kind: BatchKind::Cross {
                    ack: Some(Ack {
                        next: StreamIndex(20),
                        phi: Bytes::from_static(&[1]),
                    }),
                    quack_claim: None,
                    exported: StreamIndex(12),
                },
                entries: ks.iter().map(|&k| entry(k)).collect(),
            },
        }
    }

    fn internal(ks: &[u64]) -> Transmit {
        Transmit {
            to: NodeId::new(Side::A, 2),
            batch: Batch {
                epoch: 0,
                kind: BatchKind::Internal,
                entries: ks.iter().map(|&k| entry(k)).collect(),
            },
        }
    }

    /// A1 doing `b` emits `script` once; returns what leaves it.
    fn run(b: Behaviour, script: Vec<Transmit>) -> Vec<Transmit> {
        let setup = Setup {
            me: NodeId::new(Side::A, 1),
            local: ClusterConfig::bft(Side::A, 4),
            remote: ClusterConfig::bft(Side::B, 4),
            epoch: 0,
            params: Params::default(),
        };
        let core = Box::new(Scripted { out: script.into() });
        let mut p = Byzantine::new(b, 7).wrap(&setup, core);
        std::iter::from_fn(|| p.poll_transmit()).collect()
    }

    fn ack(t: &Transmit) -> Option<Ack> {
        match &t.batch.kind {
            BatchKind::Cross { ack, .. } => ack.clone(),
            _ => None,
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for b in Behaviour::ALL {
            assert_eq!(b.name().parse::<Behaviour>(), Ok(b));
        }
        let err = "lie".parse::<Behaviour>().unwrap_err();
        assert!(
            err.contains("drop-all") && err.contains("equivocate"),
            "{err}"
        );
    }

    #[test]
    fn drop_all_sends_nothing() {
        assert!(run(Behaviour::DropAll, vec![cross(0, &[1]), internal(&[3])]).is_empty());
    }

    #[test]
    fn ack_beyond_claims_past_any_window() {
        let out = run(Behaviour::AckBeyond, vec![cross(0, &[1])]);
        let a = ack(&out[0]).expect("an ack");
        assert!(a.next.0 > Params::default().recv_window * 2, "{a:?}");
        assert_eq!(out[0].batch.entries, vec![entry(1)], "entries untouched");
    }

    #[test]
    fn forged_entries_keep_index_and_proof_but_not_the_transfer() {
        let out = run(Behaviour::Forge, vec![cross(0, &[4, 5]), internal(&[3])]);
        assert_eq!(out.len(), 2);
        for (t, ks) in out.iter().zip([&[4u64, 5][..], &[3][..]]) {
            for (e, &k) in t.batch.entries.iter().zip(ks) {
                assert_eq!(e.k, StreamIndex(k));
                assert_eq!(e.proof, entry(k).proof);
                let f = BridgeTransfer::from_bytes(&e.payload).expect("still a transfer");
                assert_ne!(f.id(), transfer(k).id(), "a transfer nobody made");
                assert_eq!(f.amount, Amount(FORGED_AMOUNT));
            }
        }
        let ids: std::collections::BTreeSet<_> = out
            .iter()
            .flat_map(|t| &t.batch.entries)
            .map(|e| BridgeTransfer::from_bytes(&e.payload).unwrap().id())
            .collect();
        assert_eq!(ids.len(), 3, "every forged transfer has its own id");
    }

    #[test]
    fn equivocation_sends_two_batches_for_the_same_indices() {
        let out = run(Behaviour::Equivocate, vec![cross(3, &[8, 9])]);
        assert_eq!(out.len(), 2);
        let (conflicting, real) = (&out[0], &out[1]);
        assert_eq!(real.to, NodeId::new(Side::B, 3));
        assert_eq!(real.batch.entries, vec![entry(8), entry(9)]);
        assert_eq!(conflicting.to, NodeId::new(Side::B, 0), "the next receiver");
        let ks: Vec<_> = conflicting.batch.entries.iter().map(|e| e.k.0).collect();
        assert_eq!(ks, vec![8, 9]);
        assert!(
            conflicting
                .batch
                .entries
                .iter()
                .zip(&real.batch.entries)
                .all(|(c, r)| c.payload != r.payload)
        );
    }

    #[test]
    fn replay_sends_old_batches_again() {
        let out = run(
            Behaviour::Replay,
            vec![cross(0, &[1]), cross(1, &[2]), cross(2, &[])],
        );
        let ks: Vec<(u32, Vec<u64>)> = out
            .iter()
            .map(|t| {
                (
                    t.to.index.0,
                    t.batch.entries.iter().map(|e| e.k.0).collect(),
                )
            })
            .collect();
        assert_eq!(
            ks,
            vec![
                (0, vec![1]),
                (0, vec![1]),
                (1, vec![2]),
                (0, vec![1]),
                (2, vec![]),
            ],
            "each new cross batch brings an old one along (cycling), to its original receiver"
        );
    }

    #[test]
    fn simulator_adversaries_are_reused() {
        let out = run(Behaviour::AckZero, vec![cross(0, &[1])]);
        assert_eq!(ack(&out[0]).map(|a| a.next), Some(StreamIndex(0)));
        let out = run(Behaviour::FloodWindow, vec![cross(0, &[1])]);
        assert!(
            out[0]
                .batch
                .entries
                .iter()
                .any(|e| e.k.0 > Params::default().recv_window),
            "an index past the window"
        );
    }
}
