//! Per-peer state shared between the [`Net`](super::Net) handle, the swarm task and the peer's
//! writer and reader tasks: the outbound queue, the link state and the counters.

use super::{NetError, PeerConfig, PeerStats};
use crate::types::NodeId;
use bytes::Bytes;
use libp2p::{Multiaddr, PeerId};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Whether a peer is connected, and which connection epoch it is in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LinkState {
    /// At least one connection to the peer is established.
    pub(crate) connected: bool,
    /// Bumped every time the peer goes from no connection to one: a writer whose stream belongs
    /// to an older epoch must reopen it.
    pub(crate) generation: u64,
}

#[derive(Debug, Default)]
struct OutQueue {
    frames: VecDeque<Bytes>,
    bytes: usize,
}

#[derive(Debug, Default)]
struct Counters {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    dropped: AtomicU64,
}

/// Everything about one configured peer.
#[derive(Debug)]
pub(crate) struct PeerLink {
    pub(crate) node: NodeId,
    pub(crate) peer_id: PeerId,
    pub(crate) addr: Multiaddr,
    queue: Mutex<OutQueue>,
    wake: Notify,
    state: watch::Sender<LinkState>,
    /// Whether the peer's frames are read (see [`super::Net::set_reading`]).
    reading: watch::Sender<bool>,
    counters: Counters,
}

fn as_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl PeerLink {
    fn new(cfg: PeerConfig) -> Self {
        PeerLink {
            node: cfg.node,
            peer_id: cfg.peer_id,
            addr: cfg.addr,
            queue: Mutex::default(),
            wake: Notify::new(),
            state: watch::Sender::new(LinkState::default()),
            reading: watch::Sender::new(true),
            counters: Counters::default(),
        }
    }

    fn queue(&self) -> MutexGuard<'_, OutQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `frame` unless that would take the queue over `cap` bytes, in which case the frame
    /// is dropped and counted. Never blocks beyond a short critical section.
    pub(crate) fn enqueue(&self, frame: Bytes, cap: usize) -> bool {
        let len = frame.len();
        {
            let mut q = self.queue();
            if q.bytes.saturating_add(len) > cap {
                drop(q);
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            q.bytes += len;
            q.frames.push_back(frame);
        }
        self.wake.notify_one();
        true
    }

    /// Moves queued frames into `out` (in order) until about `max_bytes` are taken, at least one
    /// frame if any is queued. Returns the payload bytes taken.
    pub(crate) fn take_batch(&self, max_bytes: usize, out: &mut Vec<Bytes>) -> usize {
        let mut q = self.queue();
        let mut taken = 0usize;
        let start = out.len();
        while let Some(front) = q.frames.front() {
            if out.len() > start && taken.saturating_add(front.len()) > max_bytes {
                break;
            }
            let Some(frame) = q.frames.pop_front() else {
                break;
            };
            taken += frame.len();
            out.push(frame);
        }
        q.bytes = q.bytes.saturating_sub(taken);
        taken
    }

    /// Payload bytes queued and not yet taken by the writer.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queue().bytes
    }

    /// Resolves once a frame was queued since the last call (a permit is kept if nobody waits).
    pub(crate) fn queued(&self) -> impl Future<Output = ()> + '_ {
        self.wake.notified()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<LinkState> {
        self.state.subscribe()
    }

    pub(crate) fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    /// Marks the peer up (a new epoch) or down.
    pub(crate) fn set_connected(&self, up: bool) {
        self.state.send_modify(|s| {
            if up && !s.connected {
                s.generation += 1;
            }
            s.connected = up;
        });
    }

    /// Starts or stops handing over this peer's frames (see [`super::Net::set_reading`]).
    pub(crate) fn set_reading(&self, on: bool) {
        self.reading
            .send_if_modified(|r| std::mem::replace(r, on) != on);
    }

    /// Whether this peer's frames are being read, for its reader to wait on.
    pub(crate) fn reading(&self) -> watch::Receiver<bool> {
        self.reading.subscribe()
    }

    pub(crate) fn record_in(&self, bytes: usize) {
        self.counters.frames_in.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_in
            .fetch_add(as_u64(bytes), Ordering::Relaxed);
    }

    pub(crate) fn record_out(&self, frames: usize, bytes: usize) {
        self.counters
            .frames_out
            .fetch_add(as_u64(frames), Ordering::Relaxed);
        self.counters
            .bytes_out
            .fetch_add(as_u64(bytes), Ordering::Relaxed);
    }

    pub(crate) fn record_dropped(&self, frames: usize) {
        self.counters
            .dropped
            .fetch_add(as_u64(frames), Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> PeerStats {
        let c = &self.counters;
        PeerStats {
            connected: self.state().connected,
            frames_in: c.frames_in.load(Ordering::Relaxed),
            frames_out: c.frames_out.load(Ordering::Relaxed),
            bytes_in: c.bytes_in.load(Ordering::Relaxed),
            bytes_out: c.bytes_out.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }
}

/// The configured peers, by node id and by libp2p peer id. Immutable after start.
#[derive(Debug)]
pub(crate) struct PeerTable {
    by_node: BTreeMap<NodeId, Arc<PeerLink>>,
    by_peer: HashMap<PeerId, NodeId>,
}

impl PeerTable {
    /// Validates the peer list: no duplicate node or peer id, neither this relay's node id nor
    /// its peer id among the peers.
    pub(crate) fn new(
        me: NodeId,
        local_peer_id: PeerId,
        peers: Vec<PeerConfig>,
    ) -> Result<Self, NetError> {
        let mut by_node = BTreeMap::new();
        let mut by_peer = HashMap::new();
        for p in peers {
            if p.node == me {
                return Err(NetError::Config(format!(
                    "the peer list contains this relay's own node id {me}"
                )));
            }
            if p.peer_id == local_peer_id {
                return Err(NetError::Config(format!(
                    "peer {} has this relay's own peer id {local_peer_id}",
                    p.node
                )));
            }
            if let Some(other) = by_peer.insert(p.peer_id, p.node) {
                return Err(NetError::Config(format!(
                    "peers {other} and {} share the peer id {}",
                    p.node, p.peer_id
                )));
            }
            let node = p.node;
            if by_node.insert(node, Arc::new(PeerLink::new(p))).is_some() {
                return Err(NetError::Config(format!("peer {node} is listed twice")));
            }
        }
        Ok(PeerTable { by_node, by_peer })
    }

    pub(crate) fn get(&self, node: NodeId) -> Option<&Arc<PeerLink>> {
        self.by_node.get(&node)
    }

    pub(crate) fn by_peer_id(&self, peer: &PeerId) -> Option<&Arc<PeerLink>> {
        self.by_peer.get(peer).and_then(|n| self.by_node.get(n))
    }

    pub(crate) fn links(&self) -> impl Iterator<Item = &Arc<PeerLink>> {
        self.by_node.values()
    }

    /// The allowlist: every configured peer id with its configured address.
    pub(crate) fn allowlist(&self) -> HashMap<PeerId, Multiaddr> {
        self.links().map(|l| (l.peer_id, l.addr.clone())).collect()
    }
}

/// Exponential backoff: `initial`, doubling up to `max`, back to `initial` on [`Backoff::reset`].
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            current: initial,
        }
    }

    /// The delay to wait now; the next one is twice as long (capped).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = self.current.saturating_mul(2).min(self.max);
        d
    }

    pub(crate) fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// A spawned task that is aborted when dropped.
#[derive(Debug)]
pub(crate) struct Task(JoinHandle<()>);

impl Task {
    pub(crate) fn spawn(fut: impl Future<Output = ()> + Send + 'static) -> Self {
        Task(tokio::spawn(fut))
    }

    /// Aborts the task and waits until it has stopped.
    pub(crate) async fn stop(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Side;

    fn link() -> PeerLink {
        PeerLink::new(PeerConfig {
            node: NodeId::new(Side::B, 1),
            peer_id: PeerId::random(),
            addr: Multiaddr::empty(),
        })
    }

    #[test]
    fn queue_cap_drops_and_counts() {
        let l = link();
        assert!(l.enqueue(Bytes::from(vec![0; 60]), 100));
        assert!(!l.enqueue(Bytes::from(vec![0; 41]), 100));
        assert!(l.enqueue(Bytes::from(vec![0; 40]), 100));
        assert_eq!(l.stats().dropped, 1);
        let mut out = Vec::new();
        assert_eq!(l.take_batch(1, &mut out), 60);
        assert_eq!(out.len(), 1);
        // Room again after the writer took a frame.
        assert!(l.enqueue(Bytes::from(vec![0; 50]), 100));
        out.clear();
        assert_eq!(l.take_batch(1000, &mut out), 90);
        assert_eq!(out.iter().map(Bytes::len).collect::<Vec<_>>(), vec![40, 50]);
    }

    #[test]
    fn generation_bumps_on_each_reconnection() {
        let l = link();
        l.set_connected(true);
        l.set_connected(true);
        assert_eq!(
            l.state(),
            LinkState {
                connected: true,
                generation: 1
            }
        );
        l.set_connected(false);
        l.set_connected(true);
        assert_eq!(l.state().generation, 2);
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let d: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(d, vec![100, 200, 350, 350]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }
}
