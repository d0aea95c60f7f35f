//! The libp2p transport between relays: authenticated, allowlisted, long-lived frame streams.
//!
//! The node driver hands [`Net::send`] opaque, already sealed frames (see [`crate::wire`]) for
//! one configured relay; the other relay receives them, in order, as [`NetEvent::Frame`] on
//! the receiver returned by [`start`]. This layer never decodes a frame.
//!
//! # Stack
//!
//! TCP, Noise (XX, each relay's own ed25519 identity) and Yamux, plus libp2p ping to detect dead
//! connections. Frames travel on a dedicated protocol, [`PROTOCOL`], through `libp2p-stream`.
//!
//! # Contract
//!
//! - **Allowlist.** Only the peer ids in [`NetConfig::peers`] may connect, from any address.
//!   Any other peer id is refused right after the Noise handshake authenticated it, before any
//!   protocol stream exists, and reported as [`NetEvent::Refused`]. The same holds when a dial
//!   reaches a different key than configured.
//! - **Ordering.** Frames to one peer are written in [`Net::send`] order on a single stream, and
//!   delivered in that order. Different peers are independent.
//! - **At most once, dropping.** `send` never blocks: it appends to the peer's queue, or drops
//!   the frame and counts it in [`PeerStats::dropped`] when the queue would exceed
//!   [`NetConfig::queue_bytes`]. Frames queued while a peer is down stay queued (within that cap)
//!   and go out once it is back. Frames being written when a stream or connection breaks may be
//!   lost; they are counted as dropped and never retried (the protocol resends what matters).
//!   There are no duplicates.
//! - **Isolation.** Each peer has its own queue and writer task; the swarm task only handles
//!   connection events. A slow or dead peer only fills its own queue.
//! - **Reconnection.** To avoid two connections per pair, only the relay with the smaller
//!   [`NodeId`] (A before B, then by index) dials; the other one just accepts. It redials a
//!   peer that is down forever, with backoff from 100 ms doubling to 5 s, reset whenever a
//!   connection is established. A connection that appears anyway (both sides dialing) is
//!   tolerated: streams use one of them and the unused one is reaped when idle.
//! - **Inbound.** Frames are pushed to a bounded channel ([`EVENT_CAPACITY`] events); a consumer
//!   that does not keep up back-pressures the senders through Yamux flow control and TCP.
//!   A frame whose length exceeds [`NetConfig::max_frame`] is refused before its payload is
//!   allocated: the stream is reset and [`NetEvent::BadFrame`] reported. No peer input panics.
//!   [`NetEvent::Connected`] for a peer may reach the receiver after its first frames.
//! - **Pausing.** [`Net::set_reading`] stops handing over one peer's frames (the reader holds
//!   the one it has read, and reads no further) until it is switched back on. Flow control
//!   then stops that peer's writer and its frames wait in its own queue, where its driver can
//!   see them ([`Net::backlog`]): a consumer can push back on one peer without refusing,
//!   reordering or losing anything, and without pausing the others.
//! - **Shutdown.** [`Net::shutdown`] (or dropping every [`Net`] clone) stops all tasks and closes
//!   the connections; the event receiver then ends.
//!
//! # Wire framing
//!
//! The writer opens a Yamux stream for [`PROTOCOL`] as soon as the connection is up, and keeps
//! it for every frame (it is reopened only if it breaks or the connection is replaced). The
//! accepting side first writes one byte, `0x01` ([`framing::READY`]); after that only the
//! writer sends, a sequence of
//!
//! ```text
//! frame := length: u32 big-endian | payload: length bytes
//! ```
//!
//! Each direction of a relay pair has its own stream. See [`framing`].

mod behaviour;
pub mod capacity;
mod dialer;
mod driver;
pub mod framing;
mod peers;
mod reader;
mod writer;

use crate::types::NodeId;
use bytes::Bytes;
use driver::{Command, Driver};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use peers::PeerTable;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, oneshot, watch};

/// The libp2p protocol of frame streams.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/picsou/frames/1.0.0");

/// Capacity of the event channel returned by [`start`].
pub const EVENT_CAPACITY: usize = 1024;

/// Default per-peer outbound queue cap, in payload bytes.
pub const DEFAULT_QUEUE_BYTES: usize = 256 << 20;

/// Another relay: its node id, its libp2p identity and where to dial it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// Its relay identity in the protocol.
    pub node: NodeId,
    /// Its libp2p peer id (hash of its public key). Only configured peer ids may connect.
    pub peer_id: PeerId,
    /// Where it listens. Dialed only if this relay's node id is the smaller one.
    pub addr: Multiaddr,
}

/// Everything [`start`] needs.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// This relay.
    pub me: NodeId,
    /// This relay's libp2p identity (ed25519).
    pub keypair: libp2p::identity::Keypair,
    /// Addresses to listen on; port 0 picks a free port (see [`Net::listen_addrs`]).
    pub listen: Vec<Multiaddr>,
    /// Every other relay of both clusters.
    pub peers: Vec<PeerConfig>,
    /// Inbound frames larger than this are refused. Outbound frames larger than this are
    /// refused by [`Net::send`] too (every relay is expected to use the same limit).
    pub max_frame: usize,
    /// Per-peer outbound queue cap, in payload bytes.
    pub queue_bytes: usize,
}

impl NetConfig {
    /// A configuration with `max_frame` = [`crate::wire::MAX_BATCH_LEN`] and `queue_bytes` =
    /// [`DEFAULT_QUEUE_BYTES`] (256 MiB).
    pub fn new(
        me: NodeId,
        keypair: libp2p::identity::Keypair,
        listen: Vec<Multiaddr>,
        peers: Vec<PeerConfig>,
    ) -> Self {
        NetConfig {
            me,
            keypair,
            listen,
            peers,
            max_frame: crate::wire::MAX_BATCH_LEN,
            queue_bytes: DEFAULT_QUEUE_BYTES,
        }
    }
}

/// Counters for one peer, since start. Byte counts are payload bytes (headers excluded).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Currently connected.
    pub connected: bool,
    /// Frames received and decoded.
    pub frames_in: u64,
    /// Frames written to the peer's stream.
    pub frames_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes written.
    pub bytes_out: u64,
    /// Frames dropped: refused by a full queue, or lost with a broken stream.
    pub dropped: u64,
}

/// What the network layer reports.
#[derive(Debug)]
pub enum NetEvent {
    /// A frame from a configured relay.
    Frame {
        /// The sender.
        from: NodeId,
        /// The frame, as sent.
        bytes: Bytes,
    },
    /// The first connection to this relay is up.
    Connected(NodeId),
    /// The last connection to this relay is gone.
    Disconnected(NodeId),
    /// A peer id not in the configuration tried to connect (or we reached one); it was refused.
    Refused {
        /// The authenticated peer id.
        peer_id: PeerId,
        /// Its address, when known.
        addr: Option<Multiaddr>,
    },
    /// A configured peer sent something that is not a valid frame (e.g. over max_frame); its
    /// stream was reset.
    BadFrame {
        /// The offending relay.
        from: NodeId,
        /// What was wrong.
        reason: String,
    },
}

/// Errors of the network layer.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The destination is not a configured peer.
    #[error("relay {0} is not a configured peer")]
    UnknownNode(NodeId),
    /// [`Net::shutdown`] was called, or the network task ended.
    #[error("the network layer is shut down")]
    ShutDown,
    /// The frame is longer than `max_frame` (or than a `u32` length prefix can describe).
    #[error("frame of {len} bytes exceeds the {max}-byte frame limit")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The configuration is inconsistent.
    #[error("invalid network configuration: {0}")]
    Config(String),
    /// The libp2p transport could not be built.
    #[error("cannot build the libp2p transport: {0}")]
    Transport(String),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// A handle on the running network layer. Cheap to clone; dropping every clone shuts it down.
#[derive(Clone, Debug)]
pub struct Net {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    local_peer_id: PeerId,
    table: Arc<PeerTable>,
    queue_bytes: usize,
    max_send: usize,
    commands: mpsc::UnboundedSender<Command>,
    done: watch::Receiver<bool>,
    closed: AtomicBool,
}

/// Starts listening, dialing and serving. Returns once the listeners are bound.
pub async fn start(mut cfg: NetConfig) -> Result<(Net, mpsc::Receiver<NetEvent>), NetError> {
    let local_peer_id = cfg.keypair.public().to_peer_id();
    let peers = std::mem::take(&mut cfg.peers);
    let table = Arc::new(PeerTable::new(cfg.me, local_peer_id, peers)?);
    let queue_bytes = cfg.queue_bytes;
    let max_send = cfg.max_frame.min(framing::MAX_ENCODABLE);
    let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
    let driver = Driver::start(cfg, table.clone(), events_tx).await?;
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let (done_tx, done) = watch::channel(false);
    tokio::spawn(driver.run(commands_rx, done_tx));
    let inner = Inner {
        local_peer_id,
        table,
        queue_bytes,
        max_send,
        commands,
        done,
        closed: AtomicBool::new(false),
    };
    Ok((
        Net {
            inner: Arc::new(inner),
        },
        events_rx,
    ))
}

impl Net {
    /// Queues `frame` for `to`. Non-blocking: never waits on a slow or down peer. Frames to one
    /// peer arrive in order. If the peer's queue would exceed `queue_bytes` the frame is dropped
    /// and counted (the protocol resends).
    ///
    /// Errors: unknown destination, frame over `max_frame`, or shut down.
    pub fn send(&self, to: NodeId, frame: Bytes) -> Result<(), NetError> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Acquire) || *inner.done.borrow() {
            return Err(NetError::ShutDown);
        }
        let link = inner.table.get(to).ok_or(NetError::UnknownNode(to))?;
        if frame.len() > inner.max_send {
            return Err(NetError::FrameTooLarge {
                len: frame.len(),
                max: inner.max_send,
            });
        }
        if !link.enqueue(frame, inner.queue_bytes) {
            tracing::trace!(peer = %to, "outbound queue full, frame dropped");
        }
        Ok(())
    }

    /// Payload bytes queued for `to` and not yet handed to its stream (0 for an unknown node).
    pub fn queued_bytes(&self, to: NodeId) -> usize {
        self.inner.table.get(to).map_or(0, |l| l.queued_bytes())
    }

    /// How far the link to `to` is behind: its [`Net::queued_bytes`] while `to` is connected,
    /// 0 while it is down or unknown. What a driver reads to hold back new work. A queue to a
    /// relay that is down is not a slow link: nothing drains it until the relay is back (the
    /// cap drops what overflows), so a driver waiting on it would wait for as long as the
    /// relay stays down.
    pub fn backlog(&self, to: NodeId) -> usize {
        self.inner
            .table
            .get(to)
            .filter(|l| l.state().connected)
            .map_or(0, |l| l.queued_bytes())
    }

    /// Starts (`true`, the default) or stops handing over frames from `from`; unknown nodes
    /// are ignored. While stopped, `from`'s frames wait in its own queue (Yamux flow control
    /// holds its writer), where its driver sees them ([`Net::backlog`]) and can hold back.
    pub fn set_reading(&self, from: NodeId, on: bool) {
        if let Some(link) = self.inner.table.get(from) {
            link.set_reading(on);
        }
    }

    /// The configured relays currently connected.
    pub fn connected(&self) -> BTreeSet<NodeId> {
        self.inner
            .table
            .links()
            .filter(|l| l.state().connected)
            .map(|l| l.node)
            .collect()
    }

    /// This relay's libp2p peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.inner.local_peer_id
    }

    /// The addresses actually bound (port 0 resolved). Empty once shut down.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let (reply, answer) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::ListenAddrs(reply))
            .is_err()
        {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// Counters for every configured peer.
    pub fn stats(&self) -> BTreeMap<NodeId, PeerStats> {
        self.inner
            .table
            .links()
            .map(|l| (l.node, l.stats()))
            .collect()
    }

    /// Closes everything; returns when the network task has ended. Other clones then get
    /// [`NetError::ShutDown`].
    pub async fn shutdown(self) {
        self.inner.closed.store(true, Ordering::Release);
        let _ = self.inner.commands.send(Command::Shutdown);
        let mut done = self.inner.done.clone();
        // An error means the task is gone already, which is what we wait for.
        let _ = done.wait_for(|finished| *finished).await;
    }
}
