//! The receiving half of a relay: what it holds of the other cluster's stream, what of that is
//! durable (and so may be acknowledged), recently delivered entries kept to answer peers' fetches,
//! and the §4.3 claims heard from the sending cluster.

use crate::picsou::quack::quorum_value;
use crate::protocol::{Ack, ClusterConfig, Entry, PersistId};
use crate::types::{NodeIdx, Stake, StreamIndex};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// Outcome of offering an index to the receive window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Not held yet and inside the window.
    New,
    /// Already held (durably or pending).
    Duplicate,
    /// Beyond `next + recv_window`.
    OutOfWindow,
}

/// Receiver state of one stream.
#[derive(Debug)]
pub struct Inbound {
    senders: ClusterConfig,
    recv_window: u64,
    phi_bytes: usize,
    /// Durable: every `k < next` and every `k` in `above`.
    next: u64,
    above: BTreeSet<u64>,
    /// Held but not yet durable, grouped by the persist op that will make them durable.
    unflushed: Vec<u64>,
    in_flight: BTreeMap<PersistId, Vec<u64>>,
    pending: BTreeSet<u64>,
    /// Recently held entries, to answer fetches from peers.
    retained: Retained,
    /// Indices this relay already passed on to its cluster.
    broadcast: BTreeSet<u64>,
    /// Per sender: highest §4.3 QUACK claim and highest `exported` hint.
    claims: Vec<u64>,
    exported: Vec<u64>,
    /// The stake quorum over `claims`, recomputed when a claim rises (not per query: it is read
    /// after every input).
    wedge: u64,
    /// Bumped whenever the durable ack changes.
    version: u64,
    delivered: u64,
}

/// How much of what it delivered a receiver keeps to answer its peers' fetches: the `entries`
/// highest-indexed entries, and of those no more payload and proof bytes than `bytes` (the
/// highest-indexed entry is always kept, whatever its size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Most entries kept.
    pub entries: usize,
    /// Most payload and proof bytes kept.
    pub bytes: usize,
}

/// The entries kept under a [`Retention`], by index; the lowest index goes first.
#[derive(Debug)]
struct Retained {
    map: BTreeMap<u64, Entry>,
    bytes: usize,
    limit: Retention,
}

impl Retained {
    fn new(limit: Retention) -> Self {
        Retained {
            map: BTreeMap::new(),
            bytes: 0,
            limit,
        }
    }

    fn size(e: &Entry) -> usize {
        e.payload.len() + e.proof.len()
    }

    fn insert(&mut self, entry: &Entry) {
        self.bytes += Self::size(entry);
        if let Some(old) = self.map.insert(entry.k.0, entry.clone()) {
            self.bytes -= Self::size(&old);
        }
        while self.map.len() > self.limit.entries
            || (self.bytes > self.limit.bytes && self.map.len() > 1)
        {
            match self.map.pop_first() {
                Some((_, old)) => self.bytes -= Self::size(&old),
                None => break,
            }
        }
    }
}

impl Inbound {
    /// Receiver state for the stream sent by `senders`, starting from what was durably received.
    pub fn new(
        senders: ClusterConfig,
        recv_window: u64,
        phi: u32,
        retain: Retention,
        recovered: &[StreamIndex],
    ) -> Self {
        let n = senders.n();
        let mut inbound = Inbound {
            senders,
            recv_window,
            phi_bytes: (phi as usize).div_ceil(8),
            next: 0,
            above: BTreeSet::new(),
            unflushed: Vec::new(),
            in_flight: BTreeMap::new(),
            pending: BTreeSet::new(),
            retained: Retained::new(retain),
            broadcast: BTreeSet::new(),
            claims: vec![0; n],
            exported: vec![0; n],
            wedge: 0,
            version: 0,
            delivered: 0,
        };
        for k in recovered {
            inbound.above.insert(k.0);
        }
        inbound.compact();
        inbound
    }

    fn compact(&mut self) {
        while self.above.remove(&self.next) {
            self.next += 1;
        }
    }

    /// Smallest index not durably held.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Entries delivered since start.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Version of the durable ack; changes whenever [`Inbound::ack`] would.
    pub fn version(&self) -> u64 {
        self.version
    }

    fn holds(&self, k: u64) -> bool {
        k < self.next || self.above.contains(&k) || self.pending.contains(&k)
    }

    /// Where `k` stands against the window and what is held.
    pub fn admit(&self, k: StreamIndex) -> Admit {
        if self.holds(k.0) {
            Admit::Duplicate
        } else if k.0 >= self.next.saturating_add(self.recv_window) {
            Admit::OutOfWindow
        } else {
            Admit::New
        }
    }

    /// Records a verified new entry: held now, durable after the next persist op completes.
    pub fn record(&mut self, entry: &Entry) {
        let k = entry.k.0;
        self.pending.insert(k);
        self.unflushed.push(k);
        self.delivered += 1;
        self.retained.insert(entry);
    }

    /// Marks `k` as passed on to the cluster; false if it already was.
    pub fn mark_broadcast(&mut self, k: StreamIndex) -> bool {
        let fresh = self.broadcast.insert(k.0);
        // Forget marks far below the window; a replay that old is refused as a duplicate anyway.
        let keep_from = self.next.saturating_sub(self.retained.limit.entries as u64);
        while self.broadcast.first().is_some_and(|&f| f < keep_from) {
            self.broadcast.pop_first();
        }
        fresh
    }

    /// A retained copy of `k`, if still kept.
    pub fn retained(&self, k: StreamIndex) -> Option<&Entry> {
        self.retained.map.get(&k.0)
    }

    /// Whether `entry` carries another payload than the verified copy of its index this relay
    /// retains: whoever signed it sent a transfer the source never finalized at that index.
    /// `false` when no copy is retained. (A duplicate is otherwise dropped unverified, so this is
    /// the cheap check that turns a conflicting duplicate into a report.)
    pub fn conflicts(&self, entry: &Entry) -> bool {
        self.retained
            .map
            .get(&entry.k.0)
            .is_some_and(|held| held.payload != entry.payload)
    }

    /// Takes the indices held since the last op, to be persisted under `id`.
    pub fn take_unflushed(&mut self, id: PersistId) -> Option<Vec<u64>> {
        if self.unflushed.is_empty() {
            return None;
        }
        let ks = std::mem::take(&mut self.unflushed);
        self.in_flight.insert(id, ks.clone());
        Some(ks)
    }

    /// The op `id` is durable: its indices may now be acknowledged.
    pub fn persisted(&mut self, id: PersistId) {
        if let Some(ks) = self.in_flight.remove(&id) {
            for k in ks {
                self.pending.remove(&k);
                if k >= self.next {
                    self.above.insert(k);
                }
            }
            self.compact();
            self.version += 1;
        }
    }

    /// The cumulative ack with φ-list, over durable state only. Trailing zero bytes of the
    /// bitmap are not sent.
    pub fn ack(&self) -> Ack {
        let mut phi = vec![0u8; self.phi_bytes];
        let end = self.next + 1 + 8 * self.phi_bytes as u64;
        for &k in self.above.range(self.next + 1..end) {
            let off = k - self.next - 1;
            phi[(off / 8) as usize] |= 1 << (off % 8);
        }
        while phi.last() == Some(&0) {
            phi.pop();
        }
        Ack {
            next: StreamIndex(self.next),
            phi: Bytes::from(phi),
        }
    }

    /// Notes a §4.3 claim from sender `s`.
    pub fn on_claim(&mut self, s: NodeIdx, claim: StreamIndex) {
        let Some(c) = self.claims.get_mut(s.as_usize()) else {
            return;
        };
        if claim.0 <= *c {
            return;
        }
        *c = claim.0;
        self.wedge = quorum_value(
            self.claims
                .iter()
                .copied()
                .zip(self.senders.stakes.iter().copied()),
            Stake(self.senders.r.0 + 1),
        )
        .unwrap_or(0);
    }

    /// Notes how far sender `s` says its stream goes.
    pub fn on_exported(&mut self, s: NodeIdx, exported: StreamIndex) {
        if let Some(e) = self.exported.get_mut(s.as_usize()) {
            *e = (*e).max(exported.0);
        }
    }

    /// The highest index below which `r_s + 1` stake of senders claim a QUACK: some correct
    /// receiver of this cluster holds everything below it.
    pub fn wedge_point(&self) -> u64 {
        self.wedge
    }

    /// Whether this relay should keep acknowledging even without news: it is behind what a sender
    /// says exists, or has a hole below what it holds.
    pub fn behind(&self) -> bool {
        let hinted = self.exported.iter().copied().max().unwrap_or(0);
        self.next < hinted || !self.above.is_empty() || self.next < self.wedge_point()
    }

    /// Up to `limit` indices below `until` that are not held at all.
    pub fn missing_below(&self, until: u64, limit: usize) -> Vec<StreamIndex> {
        (self.next..until)
            .filter(|k| !self.holds(*k))
            .take(limit)
            .map(StreamIndex)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Side;

    fn entry(k: u64) -> Entry {
        Entry {
            k: StreamIndex(k),
            payload: b"p".into(),
            proof: Bytes::new(),
        }
    }

    const RETAIN: Retention = Retention {
        entries: 8,
        bytes: 1 << 20,
    };

    fn inbound() -> Inbound {
        Inbound::new(ClusterConfig::bft(Side::A, 4), 100, 16, RETAIN, &[])
    }

    #[test]
    fn acks_cover_only_durable_entries() {
        let mut r = inbound();
        r.record(&entry(0));
        r.record(&entry(2));
        assert_eq!(r.ack().next, StreamIndex(0), "nothing durable yet");
        assert_eq!(r.admit(StreamIndex(2)), Admit::Duplicate);
        let ks = r.take_unflushed(PersistId(1)).unwrap();
        assert_eq!(ks, vec![0, 2]);
        r.persisted(PersistId(1));
        let ack = r.ack();
        assert_eq!(ack.next, StreamIndex(1));
        assert!(ack.holds(StreamIndex(2)));
        assert!(!ack.holds(StreamIndex(1)));
        assert_eq!(ack.phi.as_ref(), &[0b0000_0001]);
        assert_eq!(ack.highest_held(), Some(StreamIndex(2)));
    }

    #[test]
    fn window_and_recovery() {
        let r = Inbound::new(
            ClusterConfig::bft(Side::A, 4),
            10,
            16,
            RETAIN,
            &[StreamIndex(0), StreamIndex(1), StreamIndex(3)],
        );
        assert_eq!(r.next(), 2);
        assert_eq!(r.admit(StreamIndex(1)), Admit::Duplicate);
        assert_eq!(r.admit(StreamIndex(3)), Admit::Duplicate);
        assert_eq!(r.admit(StreamIndex(11)), Admit::New);
        assert_eq!(r.admit(StreamIndex(12)), Admit::OutOfWindow);
    }

    #[test]
    fn wedge_point_needs_r_plus_one_senders() {
        let mut r = inbound();
        r.on_claim(NodeIdx(0), StreamIndex(50));
        assert_eq!(r.wedge_point(), 0, "one claim could be a liar");
        r.on_claim(NodeIdx(2), StreamIndex(40));
        assert_eq!(r.wedge_point(), 40);
        assert!(r.behind());
        assert_eq!(r.missing_below(3, 10).len(), 3);
    }

    #[test]
    fn a_duplicate_with_another_payload_conflicts() {
        let mut r = inbound();
        r.record(&entry(4));
        assert!(!r.conflicts(&entry(4)), "the same entry again");
        let forged = Entry {
            payload: b"q".into(),
            ..entry(4)
        };
        assert!(r.conflicts(&forged));
        assert!(!r.conflicts(&entry(5)), "nothing held to compare with");
    }

    #[test]
    fn retention_is_bounded() {
        let mut r = inbound();
        for k in 0..20 {
            r.record(&entry(k));
        }
        assert!(r.retained(StreamIndex(11)).is_none());
        assert!((12..20).all(|k| r.retained(StreamIndex(k)).is_some()));
    }

    #[test]
    fn retention_is_bounded_in_bytes_but_keeps_the_highest_indexed_entry() {
        let big = |k: u64, len: usize| Entry {
            payload: vec![7u8; len].into(),
            ..entry(k)
        };
        let mut r = inbound();
        // Three entries of 400 KiB (plus their proofs) are over the 1 MiB bound: the oldest goes.
        for k in 0..3 {
            r.record(&big(k, 400 << 10));
        }
        assert!(r.retained(StreamIndex(0)).is_none());
        assert!(r.retained(StreamIndex(1)).is_some() && r.retained(StreamIndex(2)).is_some());
        // One entry over the bound on its own is still kept, and it evicts everything older.
        r.record(&big(3, 2 << 20));
        assert!(r.retained(StreamIndex(2)).is_none());
        assert!(r.retained(StreamIndex(3)).is_some());
        // The bytes of evicted entries are given back: small entries fill up to the count again.
        for k in 4..12 {
            r.record(&entry(k));
        }
        assert!(
            r.retained(StreamIndex(3)).is_none(),
            "the count bound evicts it"
        );
        assert!((4..12).all(|k| r.retained(StreamIndex(k)).is_some()));
    }
}
