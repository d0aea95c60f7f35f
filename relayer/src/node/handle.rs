//! [`NodeHandle`]: the cloneable way into a running relay, used by the JSON-RPC layer and by
//! tests. Every query is a message to the node's driver task with a one-shot reply, so the
//! driver stays the only owner of its state.

use super::evidence::{EvidenceLog, EvidenceView};
use super::view::{
    PeerView, Readiness, RelayStatusView, TransferFilter, TransferPage, TransferView,
};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, oneshot};

/// A question for the driver, with where to send the answer.
#[derive(Debug)]
pub enum Query {
    /// A transfer by id (32 bytes).
    Transfer([u8; 32], oneshot::Sender<Option<TransferView>>),
    /// A transfer by its source `BridgeOut` transaction id.
    TransferBySourceTx([u8; 32], oneshot::Sender<Option<TransferView>>),
    /// A page of transfers: filter, cursor from the previous page, limit (≤ [`super::view::MAX_PAGE`]).
    ListTransfers(
        TransferFilter,
        Option<String>,
        usize,
        oneshot::Sender<Result<TransferPage, String>>,
    ),
    /// Stream and peer counters.
    Status(oneshot::Sender<RelayStatusView>),
    /// Configured peers and their state.
    Peers(oneshot::Sender<Vec<PeerView>>),
    /// Readiness conditions.
    Ready(oneshot::Sender<Readiness>),
}

/// The node's driver has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the relay is shutting down")]
pub struct NodeGone;

/// Renders the node's Prometheus metrics in the text exposition format.
pub trait MetricsSource: Send + Sync + std::fmt::Debug {
    /// The whole exposition, ending with `# EOF`.
    fn render(&self) -> String;
}

/// A cheap, cloneable handle to a running relay.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    queries: mpsc::Sender<Query>,
    transfers: broadcast::Sender<TransferView>,
    metrics: Arc<dyn MetricsSource>,
    evidence: Arc<EvidenceLog>,
}

impl NodeHandle {
    /// A handle over the driver's query channel, its transfer-update broadcast, and its
    /// metrics. (Tests may build one over a fake driver.)
    pub fn new(
        queries: mpsc::Sender<Query>,
        transfers: broadcast::Sender<TransferView>,
        metrics: Arc<dyn MetricsSource>,
    ) -> Self {
        NodeHandle {
            queries,
            transfers,
            metrics,
            evidence: Arc::default(),
        }
    }

    /// The same handle reading `evidence` (the driver's evidence log; empty by default).
    pub fn with_evidence(mut self, evidence: Arc<EvidenceLog>) -> Self {
        self.evidence = evidence;
        self
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Query) -> Result<T, NodeGone> {
        let (tx, rx) = oneshot::channel();
        self.queries.send(make(tx)).await.map_err(|_| NodeGone)?;
        rx.await.map_err(|_| NodeGone)
    }

    /// `bridge_getTransfer`.
    pub async fn transfer(&self, id: [u8; 32]) -> Result<Option<TransferView>, NodeGone> {
        self.ask(|tx| Query::Transfer(id, tx)).await
    }

    /// `bridge_getTransferBySourceTx`.
    pub async fn transfer_by_source_tx(
        &self,
        tx_id: [u8; 32],
    ) -> Result<Option<TransferView>, NodeGone> {
        self.ask(|tx| Query::TransferBySourceTx(tx_id, tx)).await
    }

    /// `bridge_listTransfers`; `Err(Ok(msg))`-style: the inner `Err` is a bad cursor.
    pub async fn list_transfers(
        &self,
        filter: TransferFilter,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<Result<TransferPage, String>, NodeGone> {
        self.ask(|tx| Query::ListTransfers(filter, cursor, limit, tx))
            .await
    }

    /// `relay_status`.
    pub async fn status(&self) -> Result<RelayStatusView, NodeGone> {
        self.ask(Query::Status).await
    }

    /// `relay_peers`.
    pub async fn peers(&self) -> Result<Vec<PeerView>, NodeGone> {
        self.ask(Query::Peers).await
    }

    /// `GET /ready`.
    pub async fn ready(&self) -> Result<Readiness, NodeGone> {
        self.ask(Query::Ready).await
    }

    /// Every transfer change from now on (`bridge_subscribeTransfers`). A slow subscriber
    /// that falls more than the channel's capacity behind sees `Lagged` and skips ahead.
    pub fn subscribe_transfers(&self) -> broadcast::Receiver<TransferView> {
        self.transfers.subscribe()
    }

    /// `GET /metrics`.
    pub fn metrics_text(&self) -> String {
        self.metrics.render()
    }

    /// `relay_evidence`: up to `limit` kept pieces of evidence with `seq >= since`, oldest first
    /// (read from the shared log, like the metrics, without a round trip to the driver).
    pub fn evidence(&self, since: u64, limit: usize) -> Vec<EvidenceView> {
        self.evidence.list(since, limit)
    }
}
