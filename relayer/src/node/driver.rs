//! The node driver: one tokio task that owns the protocol core, the database and the transfer
//! index, and feeds the core from the network, the chain beside the relay, and its own timer.
//!
//! Every turn of its loop handles one input (plus any further network frames already queued),
//! then drains the core in the contract's order — transmit, deliver, persist, event — writes
//! every delivery and persist op of the turn in one database batch with one flush, confirms the
//! ops, and only then hands the now-durable entries to the chain as `BridgeIn` transactions.

use super::chain::{ChainEvent, Submission, spawn_follower, spawn_submitter};
use super::config::{NodeConfig, StartOptions};
use super::durable::{self, DurableError};
use super::evidence::{self, EvidenceLog};
use super::handle::{MetricsSource, NodeHandle, Query};
use super::metrics::{LevelLabel, Metrics, PeerLabel, StatusLabel};
use super::transfers::{Record, Transfers};
use super::view::{Direction, PeerView, Readiness, RelayStatusView, StreamView, TransferView};
use crate::net::{self, Net, NetConfig, NetEvent, PeerConfig};
use crate::protocol::{
    Delivery, Entry, EntryVerifier, Event, PersistOp, ProofError, Protocol, Recovered, Setup,
};
use crate::types::{NodeId, Side, Stake, StreamIndex, Time};
use crate::wire;
use chains::devnet::client::DevnetClient;
use chains::engine::{AnyBlock, AnyExporter};
use chains::ledger::FollowingVerifier;
use chains::model::EXPORT_WINDOW;
use chains::tx::{BridgeTransfer, Tx, TxBody};
use chains::types::{ChainId, ChainKind, Epoch, ExportIndex, Height};
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use storage::{SledStore, Store, WriteBatch};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// How long the validator may stay silent before the relay reports it unreachable.
const CHAIN_SILENCE: Duration = Duration::from_secs(5);
/// Network frames handled per turn before the core is drained.
const FRAMES_PER_TURN: usize = 64;
/// Capacity of the transfer-update broadcast.
const TRANSFER_UPDATES: usize = 4096;
/// How often, at most, `picsou_transfers{status}` and `picsou_ready` are refreshed (on chain
/// events; connections and `relay_status` refresh them too).
const GAUGES_EVERY: Duration = Duration::from_secs(1);

/// Why a node could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database could not be opened or written.
    #[error("database {path}: {source}")]
    Durable {
        /// The directory.
        path: String,
        /// What failed.
        source: DurableError,
    },
    /// The network could not start.
    #[error("network: {0}")]
    Net(String),
    /// The chain endpoint is unusable.
    #[error("chain endpoint: {0}")]
    Chain(String),
}

/// The light client of the other chain as the protocol's entry verifier.
struct ChainVerifier {
    inner: FollowingVerifier,
    source: Side,
}

impl EntryVerifier for ChainVerifier {
    fn verify(&self, source: Side, entry: &Entry) -> Result<(), ProofError> {
        if source != self.source {
            return Err(ProofError(format!(
                "entry of stream {source}, expected {}",
                self.source
            )));
        }
        self.inner
            .verify(ExportIndex(entry.k.0), &entry.payload, &entry.proof)
            .map(|_| ())
            .map_err(|e| ProofError(e.to_string()))
    }
}

impl ChainVerifier {
    /// Brings the light client back to the validator sets it had learned before a restart (it
    /// starts from the genesis set), from the proofs of the entries this relay had received:
    /// they verified then, and each proof carries the transitions since the epoch of the entry
    /// [`EXPORT_WINDOW`] before it, so verifying, in index order, one entry per half window (and
    /// the last) reaches every epoch they reached. Returns the newest epoch it now knows.
    fn catch_up(&self, received: &[Entry]) -> Epoch {
        let mut last: Option<u64> = None;
        for (i, e) in received.iter().enumerate() {
            let due = last.is_none_or(|l| e.k.0 >= l + EXPORT_WINDOW / 2);
            if !due && i + 1 != received.len() {
                continue;
            }
            match self.inner.verify(ExportIndex(e.k.0), &e.payload, &e.proof) {
                Ok(_) => last = Some(e.k.0),
                Err(err) => debug!(k = e.k.0, error = %err, "received entry no longer verifies"),
            }
        }
        self.inner.latest_epoch()
    }
}

/// A relay running in this process.
#[derive(Debug)]
pub struct RunningNode {
    handle: NodeHandle,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), NodeError>>,
    peer_id: libp2p::PeerId,
    listen: Vec<libp2p::Multiaddr>,
}

impl RunningNode {
    /// The handle the RPC layer uses.
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// This relay's libp2p peer id.
    pub fn peer_id(&self) -> libp2p::PeerId {
        self.peer_id
    }

    /// The libp2p addresses actually bound.
    pub fn listen_addrs(&self) -> &[libp2p::Multiaddr] {
        &self.listen
    }

    /// Stops intake, drains and flushes, closes the network; returns how the driver ended.
    pub async fn stop(self) -> Result<(), NodeError> {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(NodeError::Net(format!("driver task failed: {e}"))),
        }
    }

    /// Waits until the driver ends by itself (a fatal error).
    pub async fn wait(&mut self) -> Result<(), NodeError> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(NodeError::Net(format!("driver task failed: {e}"))),
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Starts a relay: opens its database, its network and its chain tasks, and spawns the driver.
pub async fn start(cfg: NodeConfig) -> Result<RunningNode, NodeError> {
    start_with(cfg, StartOptions::default()).await
}

/// [`start`] with test options (a wrapped protocol core).
pub async fn start_with(cfg: NodeConfig, opts: StartOptions) -> Result<RunningNode, NodeError> {
    cfg.validate().map_err(NodeError::Config)?;
    let me = cfg.me;
    let own_chain_id = cfg.own_chain.chain_id().clone();
    let peer_chain_id = cfg.peer_chain.chain_id().clone();
    let owner = format!("{me}@{own_chain_id}/{peer_chain_id}");
    let db_err = |source: DurableError| NodeError::Durable {
        path: cfg.data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
        NodeError::Config(format!(
            "cannot create data_dir {}: {e}",
            cfg.data_dir.display()
        ))
    })?;
    let mut store = SledStore::open(&cfg.data_dir).map_err(|e| db_err(e.into()))?;
    let loaded = durable::open(&mut store, &owner).map_err(db_err)?;
    let evidence = Arc::new(EvidenceLog::load(&store).map_err(db_err)?);
    let client =
        DevnetClient::new(&cfg.chain_endpoint).map_err(|e| NodeError::Chain(e.to_string()))?;

    let verifier = ChainVerifier {
        inner: FollowingVerifier::new(cfg.peer_chain.light_client(own_chain_id.clone())),
        source: me.side.other(),
    };
    let epoch = verifier.catch_up(&loaded.received);
    if epoch.0 > 0 {
        info!(
            epoch = epoch.0,
            "light client of the other chain restored from received entries"
        );
    }
    let setup = Setup {
        me,
        local: cfg.local().clone(),
        remote: cfg.remote().clone(),
        epoch: cfg.epoch,
        params: cfg.params.clone(),
    };
    let recovered = Recovered {
        received: loaded.received.iter().map(|e| e.k).collect(),
        quack: loaded.quack,
    };
    let proto = crate::build(cfg.protocol, setup.clone(), Box::new(verifier), recovered);
    let proto = match &opts.wrap_core {
        Some(w) => w.wrap(&setup, proto),
        None => proto,
    };

    let peers: Vec<PeerConfig> = cfg
        .peers
        .iter()
        .map(|p| PeerConfig {
            node: p.node,
            peer_id: p.peer_id,
            addr: p.addr.clone(),
        })
        .collect();
    let peer_id = cfg.identity.public().to_peer_id();
    let (net, net_rx) = net::start(NetConfig::new(
        me,
        cfg.identity.clone(),
        cfg.listen.clone(),
        peers,
    ))
    .await
    .map_err(|e| NodeError::Net(e.to_string()))?;
    let listen = net.listen_addrs().await;

    let (chain_tx, chain_rx) = mpsc::channel(1024);
    let (submit_tx, submit_rx) = mpsc::unbounded_channel();
    let follower = spawn_follower(client.clone(), Height(1), chain_tx.clone());
    let submitter = spawn_submitter(client, submit_rx, chain_tx);

    let (query_tx, query_rx) = mpsc::channel(256);
    let (updates, _) = broadcast::channel(TRANSFER_UPDATES);
    let metrics = Arc::new(Metrics::new());
    let handle = NodeHandle::new(
        query_tx,
        updates.clone(),
        metrics.clone() as Arc<dyn MetricsSource>,
    )
    .with_evidence(evidence.clone());
    let (stop, stop_rx) = watch::channel(false);

    let mut driver = Driver {
        data_dir: cfg.data_dir.display().to_string(),
        me,
        proto,
        store,
        net,
        batch_key: cfg.batch_key.clone(),
        keys: cfg.peers.iter().map(|p| (p.node, p.batch_key)).collect(),
        peer_meta: cfg
            .peers
            .iter()
            .map(|p| (p.node, (p.peer_id.to_string(), p.addr.to_string())))
            .collect(),
        remote_stakes: cfg.remote().stakes.clone(),
        remote_quorum: Stake(cfg.remote().u.0 + 1),
        exporter: AnyExporter::new(&cfg.own_chain),
        own_kind: cfg.own_chain.kind(),
        peer_kind: cfg.peer_chain.kind(),
        own_chain: own_chain_id,
        peer_chain: peer_chain_id,
        transfers: Transfers::default(),
        updates,
        metrics,
        evidence,
        submit: submit_tx,
        start: Instant::now(),
        started_ms: unix_ms(),
        pending: Vec::new(),
        quack: loaded.quack.map_or(0, |q| q.0),
        quack_dirty: false,
        startup_tip: None,
        caught_up: false,
        gauges_refreshed: None,
        last_chain_ok: None,
        connected: BTreeSet::new(),
        misbehaviour: BTreeMap::new(),
        peer_id: peer_id.to_string(),
        protocol: cfg.protocol.name(),
        failed_durable: None,
    };
    for e in loaded.received {
        driver.note_inbound(&e, None);
    }
    info!(node = %me, %peer_id, ?listen, "relay started");
    let task = tokio::spawn(async move {
        let r = driver.run(net_rx, chain_rx, query_rx, stop_rx).await;
        follower.abort();
        submitter.abort();
        r
    });
    Ok(RunningNode {
        handle,
        stop,
        task,
        peer_id,
        listen,
    })
}

struct Driver {
    /// The database directory, for error messages.
    data_dir: String,
    me: NodeId,
    proto: Box<dyn Protocol>,
    store: SledStore,
    net: Net,
    batch_key: SigningKey,
    keys: BTreeMap<NodeId, VerifyingKey>,
    peer_meta: BTreeMap<NodeId, (String, String)>,
    remote_stakes: Vec<Stake>,
    remote_quorum: Stake,
    exporter: AnyExporter,
    own_kind: ChainKind,
    /// The other chain's kind (how to read the proofs of the entries it exports).
    peer_kind: ChainKind,
    own_chain: ChainId,
    peer_chain: ChainId,
    transfers: Transfers,
    updates: broadcast::Sender<TransferView>,
    metrics: Arc<Metrics>,
    evidence: Arc<EvidenceLog>,
    submit: mpsc::UnboundedSender<Submission>,
    start: Instant,
    started_ms: u64,
    /// Deliveries polled but not yet written.
    pending: Vec<Delivery>,
    quack: u64,
    quack_dirty: bool,
    startup_tip: Option<Height>,
    caught_up: bool,
    /// When `picsou_transfers{status}` was last recounted.
    gauges_refreshed: Option<Instant>,
    last_chain_ok: Option<Instant>,
    connected: BTreeSet<NodeId>,
    misbehaviour: BTreeMap<NodeId, u64>,
    peer_id: String,
    protocol: &'static str,
    failed_durable: Option<String>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Driver {
    fn now(&self) -> Time {
        Time(self.start.elapsed().as_nanos() as u64)
    }

    fn outbound_direction(&self) -> Direction {
        match self.me.side {
            Side::A => Direction::AToB,
            Side::B => Direction::BToA,
        }
    }

    async fn run(
        &mut self,
        mut net_rx: mpsc::Receiver<NetEvent>,
        mut chain_rx: mpsc::Receiver<ChainEvent>,
        mut query_rx: mpsc::Receiver<Query>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), NodeError> {
        loop {
            let deadline = self
                .proto
                .poll_timeout()
                .map(|t| tokio::time::Instant::from_std(self.start + Duration::from_nanos(t.0)));
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                Some(ev) = net_rx.recv() => {
                    self.on_net(ev);
                    for _ in 1..FRAMES_PER_TURN {
                        match net_rx.try_recv() {
                            Ok(ev) => self.on_net(ev),
                            Err(_) => break,
                        }
                    }
                }
                Some(ev) = chain_rx.recv() => self.on_chain(ev),
                _ = sleep_until(deadline), if deadline.is_some() => {
                    let now = self.now();
                    self.proto.handle_timeout(now);
                }
                Some(q) = query_rx.recv() => self.on_query(q),
            }
            self.drain()?;
        }
        // Stop intake; flush whatever the core still owes the database.
        self.drain()?;
        self.store.flush().map_err(|e| NodeError::Durable {
            path: self.data_dir.clone(),
            source: e.into(),
        })?;
        self.net.clone().shutdown().await;
        info!(node = %self.me, "relay stopped");
        Ok(())
    }

    fn on_net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Frame { from, bytes } => {
                let label = PeerLabel {
                    peer: from.to_string(),
                };
                self.metrics.batches_in.get_or_create(&label).inc();
                self.metrics
                    .bytes_in
                    .get_or_create(&label)
                    .inc_by(bytes.len() as u64);
                let Some(key) = self.keys.get(&from) else {
                    return;
                };
                match wire::open(&bytes, from, key, self.me) {
                    Ok(batch) => {
                        let now = self.now();
                        self.proto.handle_batch(now, from, batch);
                        self.frame_events(from, &bytes);
                    }
                    Err(e) => {
                        if evidence::signed_by_sender(&e) {
                            self.keep_evidence(from, wire_kind(&e), &e.to_string(), &bytes);
                        }
                        self.misbehaved(from, wire_kind(&e), &e.to_string());
                    }
                }
            }
            NetEvent::Connected(n) => {
                self.connected.insert(n);
                self.metrics
                    .peers_connected
                    .set(self.connected.len() as i64);
                self.set_readiness_gauges();
                info!(peer = %n, "connected");
            }
            NetEvent::Disconnected(n) => {
                self.connected.remove(&n);
                self.metrics
                    .peers_connected
                    .set(self.connected.len() as i64);
                self.set_readiness_gauges();
                info!(peer = %n, "disconnected");
            }
            NetEvent::Refused { peer_id, addr } => {
                self.metrics.refused_connections.inc();
                warn!(%peer_id, ?addr, "refused a connection from an unknown peer id");
            }
            NetEvent::BadFrame { from, reason } => self.misbehaved(from, "bad_frame", &reason),
        }
    }

    /// Handles the events of the frame just given to the core, so that a misbehaviour it
    /// proves keeps that signed frame as evidence. (They come out before the turn's transmits,
    /// deliveries and persists; nothing done with events depends on that order.)
    fn frame_events(&mut self, from: NodeId, frame: &[u8]) {
        while let Some(ev) = self.proto.poll_event() {
            if let Event::Misbehaviour { peer, kind, detail } = &ev
                && *peer == from
                && kind.is_provable()
            {
                self.keep_evidence(from, misbehaviour_name(*kind), detail, frame);
            }
            self.on_event(ev);
        }
    }

    /// Keeps a signed frame proving `kind` against `peer`, within the evidence log's bounds;
    /// it becomes durable with the next flush.
    fn keep_evidence(&mut self, peer: NodeId, kind: &str, detail: &str, frame: &[u8]) {
        let peer_id = self.peer_meta.get(&peer).map_or("", |m| m.0.as_str());
        let Some(r) = self
            .evidence
            .keep(peer, peer_id, self.me, kind, detail, unix_ms(), frame)
        else {
            return;
        };
        let mut b = WriteBatch::new();
        evidence::put(&mut b, &r);
        if let Err(e) = self.store.apply(b) {
            warn!(%peer, kind, error = %e, "cannot keep evidence");
        }
    }

    fn misbehaved(&mut self, peer: NodeId, kind: &str, detail: &str) {
        *self.misbehaviour.entry(peer).or_default() += 1;
        self.metrics.misbehaved(&peer.to_string(), kind);
        let peer_id = self.peer_meta.get(&peer).map_or("", |m| m.0.as_str());
        warn!(%peer, %peer_id, kind, detail, "peer misbehaved");
    }

    fn on_chain(&mut self, ev: ChainEvent) {
        self.on_chain_event(ev);
        self.refresh_gauges();
    }

    fn on_chain_event(&mut self, ev: ChainEvent) {
        match ev {
            ChainEvent::Tip(h) => {
                self.last_chain_ok = Some(Instant::now());
                self.startup_tip = Some(h);
                self.check_caught_up();
            }
            ChainEvent::Alive => {
                self.last_chain_ok = Some(Instant::now());
                self.check_caught_up();
            }
            ChainEvent::Block(b) => {
                self.last_chain_ok = Some(Instant::now());
                self.on_block(&b);
                self.check_caught_up();
            }
            ChainEvent::Error(e) => {
                self.metrics.chain_errors.inc();
                debug!(error = %e, "chain call failed; retrying");
            }
            ChainEvent::Rejected { id, reason } => {
                if let Some(r) = self.transfers.get_mut(&id.0.0)
                    && r.dest_height.is_none()
                {
                    r.error = Some(reason.clone());
                    r.updated_at = unix_ms();
                    let id = r.id;
                    self.publish(&id);
                }
                warn!(transfer = %id.0.to_hex(), reason, "the chain refused a BridgeIn");
            }
        }
    }

    /// Once the follower has replayed the chain up to where it stood at startup, every inbound
    /// transfer still open is (re)submitted; before that, commits are still being discovered.
    fn check_caught_up(&mut self) {
        if self.caught_up {
            return;
        }
        let Some(tip) = self.startup_tip else { return };
        if self.exporter.next_height().0 > tip.0 {
            self.caught_up = true;
            let open: Vec<[u8; 32]> = self.transfers.inbound_open().iter().map(|r| r.id).collect();
            info!(
                height = tip.0,
                resubmit = open.len(),
                "caught up with the chain"
            );
            for id in open {
                self.submit_inbound(&id, None);
            }
        }
    }

    fn on_block(&mut self, b: &AnyBlock) {
        if b.height() != self.exporter.next_height() {
            return;
        }
        let entries = match self.exporter.push_block(b) {
            Ok(e) => e,
            Err(e) => {
                self.metrics.chain_errors.inc();
                warn!(height = b.height().0, error = %e, "cannot export block");
                return;
            }
        };
        self.metrics.chain_height.set(b.height().0 as i64);
        let now = self.now();
        for e in entries {
            if let Ok(t) = BridgeTransfer::from_bytes(&e.payload) {
                let rec = Record {
                    id: t.id().0.0,
                    direction: self.outbound_direction(),
                    outbound: true,
                    amount: t.amount.0,
                    sender: t.from.to_text(),
                    recipient: t.recipient.to_text(),
                    source_tx: t.tx_id.0.0,
                    source_height: Some(b.height().0),
                    k: e.k.0,
                    sent: false,
                    dest_tx: None,
                    dest_height: None,
                    error: None,
                    updated_at: b.timestamp_ms(),
                };
                let id = rec.id;
                if self.transfers.insert(rec) {
                    self.publish(&id);
                }
            }
            self.proto.handle_committed(
                now,
                Entry {
                    k: StreamIndex(e.k.0),
                    payload: e.payload.into(),
                    proof: e.proof.into(),
                },
            );
        }
        self.metrics
            .exported
            .set(self.proto.status().exported as i64);
        // Commits of inbound transfers: BridgeIn records in the own chain's blocks.
        for rec in b.txns() {
            let TxBody::BridgeIn { k, payload, proof } = &rec.tx.body else {
                continue;
            };
            let Ok(t) = BridgeTransfer::from_bytes(payload) else {
                continue;
            };
            let id = t.id().0.0;
            let tx_id = rec.tx.id(self.own_kind, &self.own_chain).0.0;
            let newly_committed = match self.transfers.get_mut(&id) {
                Some(r) if r.dest_height.is_none() => {
                    r.dest_height = Some(b.height().0);
                    r.dest_tx = Some(tx_id);
                    r.error = None;
                    r.updated_at = b.timestamp_ms();
                    self.publish(&id);
                    true
                }
                Some(_) => false,
                // Applied before this relay received it (another relay submitted it).
                None => {
                    let e = Entry {
                        k: StreamIndex(k.0),
                        payload: payload.clone().into(),
                        proof: proof.clone().into(),
                    };
                    self.note_inbound(&e, Some((b, tx_id))).is_some()
                }
            };
            // Source finality to destination commit, both by block timestamps; only for commits
            // seen live (the replay at start would count history again).
            if newly_committed
                && self.caught_up
                && let Ok(source_ms) = chains::ledger::export_timestamp_ms(self.peer_kind, proof)
            {
                let ms = b.timestamp_ms().saturating_sub(source_ms);
                self.metrics.transfer_latency.observe(ms as f64 / 1000.0);
            }
        }
    }

    /// Records an inbound entry this relay holds durably (or saw committed in `committed_in`, by
    /// the `BridgeIn` transaction given). Returns the transfer's id, or `None` if the payload is
    /// not a transfer.
    fn note_inbound(
        &mut self,
        e: &Entry,
        committed_in: Option<(&AnyBlock, [u8; 32])>,
    ) -> Option<[u8; 32]> {
        let Ok(t) = BridgeTransfer::from_bytes(&e.payload) else {
            return None;
        };
        let rec = Record {
            id: t.id().0.0,
            direction: match self.me.side {
                Side::A => Direction::BToA,
                Side::B => Direction::AToB,
            },
            outbound: false,
            amount: t.amount.0,
            sender: t.from.to_text(),
            recipient: t.recipient.to_text(),
            source_tx: t.tx_id.0.0,
            source_height: None,
            k: e.k.0,
            sent: true,
            dest_tx: committed_in.map(|(_, tx)| tx),
            dest_height: committed_in.map(|(b, _)| b.height().0),
            error: None,
            updated_at: committed_in.map_or_else(unix_ms, |(b, _)| b.timestamp_ms()),
        };
        let id = rec.id;
        if self.transfers.insert(rec) {
            self.publish(&id);
        }
        Some(id)
    }

    /// Submits the `BridgeIn` of an open inbound transfer: `entry` when the caller holds it,
    /// else read back from the database (after a restart).
    fn submit_inbound(&mut self, id: &[u8; 32], entry: Option<&Entry>) {
        let Some(r) = self.transfers.get(id) else {
            return;
        };
        if r.dest_height.is_some() || r.error.is_some() {
            return;
        }
        let loaded;
        let e = match entry {
            Some(e) => e,
            None => match durable::get_received(&self.store, r.k) {
                Ok(Some(e)) => {
                    loaded = e;
                    &loaded
                }
                Ok(None) => return,
                Err(err) => {
                    warn!(k = r.k, error = %err, "cannot read a received entry back");
                    return;
                }
            },
        };
        let tx = Tx {
            body: TxBody::BridgeIn {
                k: ExportIndex(e.k.0),
                payload: e.payload.to_vec(),
                proof: e.proof.to_vec(),
            },
            sig: Vec::new(),
        };
        let tx_id = tx.id(self.own_kind, &self.own_chain).0.0;
        self.metrics.submissions.inc();
        let _ = self.submit.send(Submission {
            id: chains::types::TransferId(chains::types::Hash32(*id)),
            tx,
        });
        if let Some(r) = self.transfers.get_mut(id) {
            r.dest_tx = Some(tx_id);
        }
    }

    fn publish(&mut self, id: &[u8; 32]) {
        if let Some(r) = self.transfers.get(id) {
            let _ = self.updates.send(r.view(self.quack));
        }
    }

    /// Drains the core, makes its writes durable, and acts on what became durable.
    fn drain(&mut self) -> Result<(), NodeError> {
        loop {
            while let Some(t) = self.proto.poll_transmit() {
                let bytes = wire::seal(self.me, t.to, &t.batch, &self.batch_key);
                let label = PeerLabel {
                    peer: t.to.to_string(),
                };
                self.metrics.batches_out.get_or_create(&label).inc();
                self.metrics
                    .bytes_out
                    .get_or_create(&label)
                    .inc_by(bytes.len() as u64);
                if let Err(e) = self.net.send(t.to, bytes.into()) {
                    debug!(to = %t.to, error = %e, "cannot send");
                }
            }
            while let Some(d) = self.proto.poll_deliver() {
                self.pending.push(d);
            }
            let mut ops: Vec<PersistOp> = Vec::new();
            while let Some(op) = self.proto.poll_persist() {
                ops.push(op);
            }
            while let Some(ev) = self.proto.poll_event() {
                self.on_event(ev);
            }
            if ops.is_empty() && self.pending.is_empty() && !self.quack_dirty {
                break;
            }
            self.persist(&ops)?;
            for op in &ops {
                self.proto.handle_persisted(op.id);
            }
            if ops.is_empty() {
                break;
            }
        }
        let st = self.proto.status();
        self.metrics.next_expected.set(st.next_expected as i64);
        Ok(())
    }

    fn persist(&mut self, ops: &[PersistOp]) -> Result<(), NodeError> {
        let mut b = WriteBatch::new();
        for d in &self.pending {
            durable::put_received(&mut b, &d.entry);
        }
        for op in ops {
            if let Some(q) = op.quack {
                self.quack_dirty = true;
                self.quack = self.quack.max(q.0);
            }
        }
        if self.quack_dirty {
            durable::put_quack(&mut b, StreamIndex(self.quack));
            self.quack_dirty = false;
        }
        let t0 = Instant::now();
        let r = self.store.apply(b).and_then(|()| self.store.flush());
        self.metrics
            .flush_seconds
            .observe(t0.elapsed().as_secs_f64());
        if let Err(e) = r {
            // Nothing is acknowledged that is not durable: stop rather than lie.
            self.failed_durable = Some(e.to_string());
            return Err(NodeError::Durable {
                path: self.data_dir.clone(),
                source: e.into(),
            });
        }
        let delivered = std::mem::take(&mut self.pending);
        self.metrics.delivered.inc_by(delivered.len() as u64);
        for d in delivered {
            if let Some(id) = self.note_inbound(&d.entry, None)
                && self.caught_up
            {
                self.submit_inbound(&id, Some(&d.entry));
            }
        }
        Ok(())
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Quack { quack } => {
                let old = self.quack;
                if quack.0 > old {
                    self.quack = quack.0;
                    self.quack_dirty = true;
                    for id in self.transfers.outbound_range(old, quack.0) {
                        self.publish(&id);
                    }
                }
                let st = self.proto.status();
                self.metrics.quack.set(self.quack as i64);
                self.metrics
                    .lag
                    .set(st.exported.saturating_sub(self.quack) as i64);
            }
            Event::Sent { k } => {
                if let Some(r) = self.transfers.outbound_mut(k.0)
                    && !r.sent
                {
                    r.sent = true;
                    r.updated_at = unix_ms();
                    let id = r.id;
                    self.publish(&id);
                }
            }
            Event::Resent { k, level, to } => {
                self.metrics
                    .resends
                    .get_or_create(&LevelLabel { level })
                    .inc();
                debug!(k = k.0, level, %to, "resent");
            }
            Event::Misbehaviour { peer, kind, detail } => {
                self.misbehaved(peer, misbehaviour_name(kind), &detail);
            }
        }
    }

    fn on_query(&mut self, q: Query) {
        match q {
            Query::Transfer(id, tx) => {
                let _ = tx.send(self.transfers.get(&id).map(|r| r.view(self.quack)));
            }
            Query::TransferBySourceTx(id, tx) => {
                let _ = tx.send(self.transfers.by_source_tx(&id).map(|r| r.view(self.quack)));
            }
            Query::ListTransfers(filter, cursor, limit, tx) => {
                let limit = limit.clamp(1, super::view::MAX_PAGE);
                let _ = tx.send(
                    self.transfers
                        .page(&filter, cursor.as_deref(), limit, self.quack),
                );
            }
            Query::Status(tx) => {
                let _ = tx.send(self.status_view());
            }
            Query::Peers(tx) => {
                let stats = self.net.stats();
                let peers = self
                    .peer_meta
                    .iter()
                    .map(|(n, (peer_id, addr))| {
                        let s = stats.get(n).cloned().unwrap_or_default();
                        PeerView {
                            node: n.to_string(),
                            peer_id: peer_id.clone(),
                            addr: addr.clone(),
                            connected: self.connected.contains(n),
                            batches_in: s.frames_in,
                            batches_out: s.frames_out,
                            misbehaviour: self.misbehaviour.get(n).copied().unwrap_or(0),
                        }
                    })
                    .collect();
                let _ = tx.send(peers);
            }
            Query::Ready(tx) => {
                let _ = tx.send(self.readiness());
            }
        }
    }

    fn readiness(&self) -> Readiness {
        let validator_reachable = self
            .last_chain_ok
            .is_some_and(|t| t.elapsed() < CHAIN_SILENCE);
        let stake: u64 = self
            .connected
            .iter()
            .filter(|n| n.side != self.me.side)
            .filter_map(|n| self.remote_stakes.get(n.index.as_usize()))
            .map(|s| s.0)
            .sum();
        let storage_open = self.failed_durable.is_none();
        Readiness {
            ready: validator_reachable && storage_open && stake >= self.remote_quorum.0,
            validator_reachable,
            storage_open,
            remote_connected_stake: stake,
            remote_quorum_stake: self.remote_quorum.0,
        }
    }

    /// `picsou_transfers{status}` from `counts`.
    fn set_transfer_gauges(&self, counts: &BTreeMap<String, u64>) {
        for (status, n) in counts {
            self.metrics
                .transfers
                .get_or_create(&StatusLabel {
                    status: status.clone(),
                })
                .set(*n as i64);
        }
    }

    /// `picsou_ready` and the connected and needed stake of the other cluster.
    fn set_readiness_gauges(&self) {
        let r = self.readiness();
        let m = &self.metrics;
        m.remote_connected_stake
            .set(r.remote_connected_stake as i64);
        m.remote_quorum_stake.set(r.remote_quorum_stake as i64);
        m.ready.set(i64::from(r.ready));
    }

    /// Recounts transfers by status and refreshes the readiness gauges, at most once per
    /// [`GAUGES_EVERY`] (a count walks every transfer this relay knows).
    fn refresh_gauges(&mut self) {
        let now = Instant::now();
        if self
            .gauges_refreshed
            .is_some_and(|t| now.duration_since(t) < GAUGES_EVERY)
        {
            return;
        }
        self.gauges_refreshed = Some(now);
        self.set_readiness_gauges();
        let counts = self.transfers.counts(self.quack);
        self.set_transfer_gauges(&counts);
    }

    fn status_view(&self) -> RelayStatusView {
        let st = self.proto.status();
        let counts = self.transfers.counts(self.quack);
        self.set_transfer_gauges(&counts);
        self.set_readiness_gauges();
        let inbound = match self.me.side {
            Side::A => Direction::BToA,
            Side::B => Direction::AToB,
        };
        RelayStatusView {
            node: self.me.to_string(),
            protocol: self.protocol.to_owned(),
            peer_id: self.peer_id.clone(),
            chain: self.own_chain.as_str().to_owned(),
            peer_chain: self.peer_chain.as_str().to_owned(),
            chain_height: self.exporter.next_height().0.saturating_sub(1),
            streams: vec![
                StreamView {
                    direction: Some(self.outbound_direction()),
                    role: "outbound".into(),
                    exported: st.exported,
                    next_expected: 0,
                    quack: st.quack,
                    resends: st.resends,
                },
                StreamView {
                    direction: Some(inbound),
                    role: "inbound".into(),
                    exported: st.delivered,
                    next_expected: st.next_expected,
                    quack: 0,
                    resends: 0,
                },
            ],
            peers_connected: self.connected.len(),
            peers_configured: self.peer_meta.len(),
            transfers: counts,
            uptime_ms: unix_ms().saturating_sub(self.started_ms),
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn wire_kind(e: &wire::WireError) -> &'static str {
    match e {
        wire::WireError::Signature => "bad_signature",
        wire::WireError::WrongSender { .. } => "wrong_sender",
        wire::WireError::WrongRecipient(_) => "wrong_recipient",
        _ => "malformed_batch",
    }
}

fn misbehaviour_name(k: crate::protocol::MisbehaviourKind) -> &'static str {
    use crate::protocol::MisbehaviourKind as K;
    match k {
        K::BadProof => "bad_proof",
        K::OutOfWindow => "out_of_window",
        K::Malformed => "malformed",
        K::ImpossibleAck => "impossible_ack",
        K::Equivocation => "equivocation",
        K::AckLag => "ack_lag",
    }
}
