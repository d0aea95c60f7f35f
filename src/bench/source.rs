//! The benchmark's synthetic certified source: one "source chain" per cluster that certifies each
//! entry of its stream with a real ed25519 signature, and the feed that hands the certified
//! entries to every relay of that cluster as fast as they take them (the paper's FILE source).
//!
//! # Certificates
//!
//! Entry `k` of side `S`'s stream carries `proof = sign(key_S, "PICSOU-BENCH-ENTRY" ‖ S ‖ k ‖
//! SHA-256(payload))`, 64 bytes. [`SourceVerifier`] checks the signature over the payload's digest,
//! which a receiver computed once while opening the batch that carried the entry (see
//! `relayer::payload`): every receiver pays a full SHA-256 of the payload plus one ed25519
//! verification per entry it accepts, which is what checking a per-entry finality certificate
//! costs.
//!
//! The source itself is cheap on purpose (it stands for a chain that is not under test): a
//! payload is a fixed filler followed by the little-endian index, so its digest is finished from
//! a SHA-256 state precomputed over the filler, and handed to the relays with the payload.
//!
//! # Feed
//!
//! [`Feed`] holds the entries released so far that some live relay of the cluster has not taken
//! yet. A dedicated thread ([`spawn_source`]) releases entry `k` once
//! `k < min(delivery front, slowest relay's cursor) + window`, where the delivery front is the
//! smallest index not yet delivered to every correct receiver ([`super::completion`]); so memory
//! stays bounded by the window and the relays are never starved while they keep up. Relays learn
//! of new entries through a `watch` channel and take them with [`Feed::take`].

use super::completion::Completion;
use bytes::Bytes;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use relayer::protocol::{Entry, EntryVerifier, Payload, ProofError};
use relayer::types::{Side, StreamIndex};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// Domain separator of entry certificates.
const DOMAIN: &[u8] = b"PICSOU-BENCH-ENTRY";
/// Length of an entry certificate (an ed25519 signature).
pub const PROOF_LEN: usize = 64;
/// Most entries the source certifies before it publishes them.
const RELEASE_CHUNK: usize = 256;
/// Most payload bytes the source certifies before it publishes them.
const RELEASE_CHUNK_BYTES: usize = 4 << 20;
/// How long the source sleeps when the window is full and nobody rings.
const IDLE_WAIT: Duration = Duration::from_millis(20);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn side_byte(side: Side) -> u8 {
    match side {
        Side::A => b'A',
        Side::B => b'B',
    }
}

fn signed_message(side: Side, k: StreamIndex, digest: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 1 + 8 + 32);
    m.extend_from_slice(DOMAIN);
    m.push(side_byte(side));
    m.extend_from_slice(&k.0.to_le_bytes());
    m.extend_from_slice(digest);
    m
}

/// One cluster's stand-in chain: it alone holds the key that certifies its stream.
#[derive(Clone, Debug)]
pub struct SourceChain {
    side: Side,
    key: SigningKey,
}

impl SourceChain {
    /// The chain of `side` (its key is derived from a fixed label: the bench is reproducible).
    pub fn new(side: Side) -> Self {
        let key = relayer::wire::key_from_seed(format!("picsou-bench-source-{side}").as_bytes());
        SourceChain { side, key }
    }

    /// The verifier every relay of the other cluster uses for this stream.
    pub fn verifier(&self) -> SourceVerifier {
        SourceVerifier {
            side: self.side,
            key: self.key.verifying_key(),
        }
    }

    /// Certifies entry `k` whose payload has SHA-256 `digest`.
    pub fn certify(&self, k: StreamIndex, payload: Bytes, digest: &[u8; 32]) -> Entry {
        let sig = self.key.sign(&signed_message(self.side, k, digest));
        Entry {
            k,
            payload: Payload::with_digest(payload, *digest),
            proof: Bytes::copy_from_slice(&sig.to_bytes()),
        }
    }
}

/// Accepts exactly the entries its [`SourceChain`] certified.
#[derive(Clone, Debug)]
pub struct SourceVerifier {
    side: Side,
    key: VerifyingKey,
}

impl EntryVerifier for SourceVerifier {
    fn verify(&self, source: Side, entry: &Entry) -> Result<(), ProofError> {
        if source != self.side {
            return Err(ProofError(format!(
                "entry of stream {source}, this verifier checks stream {}",
                self.side
            )));
        }
        let sig: [u8; PROOF_LEN] = entry.proof.as_ref().try_into().map_err(|_| {
            ProofError(format!(
                "certificate of {} is {} bytes, expected {PROOF_LEN}",
                entry.k,
                entry.proof.len()
            ))
        })?;
        self.key
            .verify(
                &signed_message(self.side, entry.k, entry.payload.digest()),
                &Signature::from_bytes(&sig),
            )
            .map_err(|_| {
                ProofError(format!(
                    "bad certificate for {} of stream {source}",
                    entry.k
                ))
            })
    }
}

/// Makes `size`-byte payloads: a fixed filler, then the index (little-endian, as many of its
/// bytes as fit), with the digest finished from a precomputed state.
#[derive(Clone, Debug)]
pub struct PayloadMaker {
    filler: Vec<u8>,
    tail: usize,
    state: Sha256,
}

impl PayloadMaker {
    /// Payloads of `size` bytes (at least 1).
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        let tail = size.min(8);
        let filler: Vec<u8> = (0..size - tail)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(7))
            .collect();
        let state = Sha256::new().chain_update(&filler);
        PayloadMaker {
            filler,
            tail,
            state,
        }
    }

    /// The payload of entry `k` and its SHA-256.
    pub fn make(&self, k: StreamIndex) -> (Bytes, [u8; 32]) {
        let tail = &k.0.to_le_bytes()[..self.tail];
        let mut p = Vec::with_capacity(self.filler.len() + self.tail);
        p.extend_from_slice(&self.filler);
        p.extend_from_slice(tail);
        let digest: [u8; 32] = self.state.clone().chain_update(tail).finalize().into();
        (Bytes::from(p), digest)
    }
}

#[derive(Debug, Default)]
struct FeedState {
    /// Index of `entries[0]`.
    base: u64,
    entries: VecDeque<Entry>,
    /// Next index each live relay of the cluster will take, by node index.
    cursors: BTreeMap<u32, u64>,
}

impl FeedState {
    fn prune(&mut self) {
        let low = self.cursors.values().copied().min().unwrap_or(u64::MAX);
        while self.base < low && self.entries.pop_front().is_some() {
            self.base += 1;
        }
    }
}

/// The released entries of one stream, shared by the source thread and the relays of the
/// stream's cluster.
#[derive(Debug)]
pub struct Feed {
    state: Mutex<FeedState>,
    released: watch::Sender<u64>,
    /// Entries released so far (what the simulator's faulty wrappers call "committed").
    committed: Arc<AtomicU64>,
    doorbell: Arc<Doorbell>,
}

impl Feed {
    /// An empty feed; `doorbell` is rung whenever a relay takes entries.
    pub fn new(doorbell: Arc<Doorbell>) -> Self {
        Feed {
            state: Mutex::new(FeedState::default()),
            released: watch::Sender::new(0),
            committed: Arc::new(AtomicU64::new(0)),
            doorbell,
        }
    }

    /// Entries released so far.
    pub fn released(&self) -> u64 {
        *self.released.borrow()
    }

    /// The shared count of released entries.
    pub fn committed_counter(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    /// Notified whenever entries are released.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.released.subscribe()
    }

    /// Relay `index` of the cluster takes entries from now on, from index 0. Register every
    /// relay before the source starts: entries no registered relay needs are dropped.
    pub fn register(&self, index: u32) {
        lock(&self.state).cursors.insert(index, 0);
    }

    /// Relay `index` stopped (crashed): it no longer holds entries back.
    pub fn unregister(&self, index: u32) {
        let mut s = lock(&self.state);
        s.cursors.remove(&index);
        s.prune();
        drop(s);
        self.doorbell.ring();
    }

    /// Up to `max_entries` entries (and about `max_bytes`) that relay `index` has not taken yet,
    /// in index order, and whether more are waiting after them.
    pub fn take(&self, index: u32, max_entries: usize, max_bytes: usize) -> (Vec<Entry>, bool) {
        let mut s = lock(&self.state);
        let Some(&cursor) = s.cursors.get(&index) else {
            return (Vec::new(), false);
        };
        // Entries below `base` were taken by every registered relay; a cursor never lags it.
        let start = cursor.max(s.base);
        let from = usize::try_from(start - s.base).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for e in s.entries.iter().skip(from) {
            if out.len() >= max_entries || (!out.is_empty() && bytes >= max_bytes) {
                break;
            }
            bytes += e.payload.len();
            out.push(e.clone());
        }
        let next = start + out.len() as u64;
        let more = s.base + s.entries.len() as u64 > next;
        if out.is_empty() {
            return (out, more);
        }
        s.cursors.insert(index, next);
        s.prune();
        drop(s);
        self.doorbell.ring();
        (out, more)
    }

    /// How many entries relay `index` has taken (`None` if it is not registered).
    pub fn taken(&self, index: u32) -> Option<u64> {
        lock(&self.state).cursors.get(&index).copied()
    }

    /// The slowest live relay's cursor (`u64::MAX` when none is live).
    fn slowest(&self) -> u64 {
        lock(&self.state)
            .cursors
            .values()
            .copied()
            .min()
            .unwrap_or(u64::MAX)
    }

    fn push(&self, entries: Vec<Entry>) {
        let count = entries.len() as u64;
        {
            let mut s = lock(&self.state);
            s.entries.extend(entries);
            s.prune();
        }
        let total = self.committed.fetch_add(count, Ordering::Relaxed) + count;
        self.released.send_replace(total);
    }
}

/// Wakes the source thread when the delivery front or a relay's cursor moved.
#[derive(Debug, Default)]
pub struct Doorbell {
    rung: Mutex<bool>,
    cond: std::sync::Condvar,
}

impl Doorbell {
    /// Something moved.
    pub fn ring(&self) {
        *lock(&self.rung) = true;
        self.cond.notify_one();
    }

    /// Waits until rung (or `timeout`), and clears it.
    fn wait(&self, timeout: Duration) {
        let guard = lock(&self.rung);
        let (mut guard, _) = self
            .cond
            .wait_timeout_while(guard, timeout, |rung| !*rung)
            .unwrap_or_else(PoisonError::into_inner);
        *guard = false;
    }
}

/// How far the source may run ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Most entries released past the front.
    pub entries: u64,
}

impl Window {
    /// `max(1, min(max_entries, max_bytes / size))` entries.
    pub fn new(size: usize, max_bytes: usize, max_entries: u64) -> Self {
        let by_bytes = (max_bytes / size.max(1)) as u64;
        Window {
            entries: by_bytes.min(max_entries).max(1),
        }
    }
}

/// A running source thread.
#[derive(Debug)]
pub struct SourceThread {
    stop: Arc<AtomicBool>,
    cpu_ns: Arc<AtomicU64>,
    doorbell: Arc<Doorbell>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl SourceThread {
    /// CPU time the thread has used so far, in nanoseconds (updated after every chunk).
    pub fn cpu_ns(&self) -> u64 {
        self.cpu_ns.load(Ordering::Relaxed)
    }

    /// Stops releasing; returns once the thread has ended.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.doorbell.ring();
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            tracing::error!("the bench source thread panicked");
        }
    }
}

impl Drop for SourceThread {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Certifies the first `window` entries of `chain`'s stream into `feed` at once, before the
/// relays start: the stand-in chain starts with that much finalized, so the relays start on a
/// backlog, as a relay joining a running chain does. Signing it while they ran took the cores
/// from them: at 100 B the default window is 65 536 entries per stream, one ed25519 signature
/// each, and relays sharing two cores went unheard past the bench's one-second failure-detector
/// bound, so their peers rerouted and resent (see `docs/BENCHMARKS.md`). Register every relay
/// first (see [`Feed::register`]). Returns the next index to certify.
pub fn prefill(chain: &SourceChain, size: usize, feed: &Feed, window: Window) -> u64 {
    let maker = PayloadMaker::new(size);
    let mut next = 0u64;
    while next < window.entries {
        next = certify_chunk(chain, &maker, feed, next, window.entries);
    }
    next
}

/// Certifies entries from `next` up to `limit` (at most one release chunk) into `feed`; returns
/// the next index.
fn certify_chunk(
    chain: &SourceChain,
    maker: &PayloadMaker,
    feed: &Feed,
    mut next: u64,
    limit: u64,
) -> u64 {
    let mut chunk = Vec::new();
    let mut bytes = 0usize;
    while next < limit && chunk.len() < RELEASE_CHUNK && bytes < RELEASE_CHUNK_BYTES {
        let k = StreamIndex(next);
        let (payload, digest) = maker.make(k);
        bytes += payload.len();
        chunk.push(chain.certify(k, payload, &digest));
        next += 1;
    }
    feed.push(chunk);
    next
}

/// Starts the thread that certifies and releases `chain`'s stream into `feed` from index
/// `next` (0, or what [`prefill`] returned), keeping at most `window` entries past the front of
/// `completion` and past the slowest relay.
pub fn spawn_source(
    chain: SourceChain,
    size: usize,
    next: u64,
    feed: Arc<Feed>,
    completion: Arc<Completion>,
    window: Window,
    doorbell: Arc<Doorbell>,
) -> std::io::Result<SourceThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_ns = Arc::new(AtomicU64::new(0));
    let handle = {
        let (stop, cpu_ns, doorbell) = (stop.clone(), cpu_ns.clone(), doorbell.clone());
        std::thread::Builder::new()
            .name(format!("bench-source-{}", chain.side))
            .spawn(move || {
                let maker = PayloadMaker::new(size);
                let mut next = next;
                while !stop.load(Ordering::Relaxed) {
                    let low = completion.front().min(feed.slowest());
                    let limit = low.saturating_add(window.entries);
                    if next >= limit {
                        doorbell.wait(IDLE_WAIT);
                        continue;
                    }
                    next = certify_chunk(&chain, &maker, &feed, next, limit);
                    cpu_ns.store(super::cputime::thread_ns(), Ordering::Relaxed);
                }
                cpu_ns.store(super::cputime::thread_ns(), Ordering::Relaxed);
            })?
    };
    Ok(SourceThread {
        stop,
        cpu_ns,
        doorbell,
        handle: Some(handle),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certified_entries_verify_and_tampered_ones_do_not() {
        let chain = SourceChain::new(Side::A);
        let v = chain.verifier();
        let maker = PayloadMaker::new(1000);
        let (p, d) = maker.make(StreamIndex(7));
        assert_eq!(p.len(), 1000);
        assert_eq!(
            Sha256::digest(&p).as_slice(),
            d.as_slice(),
            "precomputed digest"
        );
        let e = chain.certify(StreamIndex(7), p, &d);
        assert!(v.verify(Side::A, &e).is_ok());
        assert!(v.verify(Side::B, &e).is_err(), "wrong stream");
        let mut moved = e.clone();
        moved.k = StreamIndex(8);
        assert!(v.verify(Side::A, &moved).is_err(), "wrong index");
        let mut altered = e.clone();
        let mut bytes = altered.payload.to_vec();
        bytes[0] ^= 1;
        altered.payload = bytes.into();
        assert!(v.verify(Side::A, &altered).is_err(), "altered payload");
        let mut short = e.clone();
        short.proof = Bytes::from_static(b"short");
        assert!(v.verify(Side::A, &short).is_err(), "truncated proof");
        let other = SourceChain::new(Side::B).verifier();
        assert!(other.verify(Side::A, &e).is_err(), "other chain's key");
    }

    #[test]
    fn tiny_payloads_still_name_their_index() {
        let maker = PayloadMaker::new(3);
        let (p, d) = maker.make(StreamIndex(0x0102_0304));
        assert_eq!(p.as_ref(), &[4, 3, 2]);
        assert_eq!(Sha256::digest(&p).as_slice(), d.as_slice());
    }

    #[test]
    fn window_is_bounded_by_bytes_and_entries() {
        assert_eq!(Window::new(1_000_000, 32 << 20, 65_536).entries, 33);
        assert_eq!(Window::new(100, 32 << 20, 65_536).entries, 65_536);
        assert_eq!(Window::new(1 << 30, 1 << 20, 10).entries, 1);
    }

    #[test]
    fn feed_hands_out_each_entry_once_per_relay_and_prunes() {
        let bell = Arc::new(Doorbell::default());
        let feed = Feed::new(bell);
        feed.register(0);
        feed.register(1);
        let chain = SourceChain::new(Side::A);
        let maker = PayloadMaker::new(10);
        let entries: Vec<Entry> = (0..10)
            .map(|k| {
                let (p, d) = maker.make(StreamIndex(k));
                chain.certify(StreamIndex(k), p, &d)
            })
            .collect();
        feed.push(entries);
        assert_eq!(feed.released(), 10);
        let ks =
            |(v, more): (Vec<Entry>, bool)| (v.iter().map(|e| e.k.0).collect::<Vec<_>>(), more);
        assert_eq!(ks(feed.take(0, 4, usize::MAX)), (vec![0, 1, 2, 3], true));
        assert_eq!(
            ks(feed.take(1, 100, usize::MAX)),
            ((0..10).collect(), false)
        );
        assert_eq!(lock(&feed.state).base, 4, "kept for the slower relay only");
        assert_eq!(ks(feed.take(0, 100, 15)), (vec![4, 5], true), "byte budget");
        feed.unregister(0);
        assert_eq!(lock(&feed.state).entries.len(), 0, "nobody needs them");
        assert!(feed.take(0, 10, usize::MAX).0.is_empty(), "unregistered");
        assert!(feed.take(1, 10, usize::MAX).0.is_empty(), "all taken");
    }

    #[test]
    fn prefill_certifies_the_whole_first_window_in_order() {
        let feed = Feed::new(Arc::new(Doorbell::default()));
        feed.register(0);
        let chain = SourceChain::new(Side::B);
        // More than two release chunks, the last one partial.
        let window = Window::new(100, usize::MAX, 600);
        assert_eq!(prefill(&chain, 100, &feed, window), 600);
        assert_eq!(feed.released(), 600);
        let (entries, more) = feed.take(0, 1000, usize::MAX);
        assert!(!more);
        assert_eq!(
            entries.iter().map(|e| e.k.0).collect::<Vec<_>>(),
            (0..600).collect::<Vec<_>>()
        );
        let v = chain.verifier();
        assert!(entries.iter().all(|e| v.verify(Side::B, e).is_ok()));
    }
}
