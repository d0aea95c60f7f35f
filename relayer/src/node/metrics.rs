//! The relay's Prometheus metrics (OpenMetrics text via `prometheus-client`). Counters end in
//! `_total` once rendered; every metric is prefixed `picsou_`.

use super::handle::MetricsSource;
use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Mutex;

/// Labels naming a peer relay.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    /// e.g. `B2`.
    pub peer: String,
}

/// Labels naming a peer and what it did wrong.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MisbehaviourLabel {
    /// e.g. `B2`.
    pub peer: String,
    /// e.g. `bad_proof`, `bad_signature`.
    pub kind: String,
}

/// Labels naming a resend level.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LevelLabel {
    /// Resend role level (≥ 1).
    pub level: u32,
}

/// Labels naming a transfer status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    /// e.g. `committed`.
    pub status: String,
}

/// Every metric the relay exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Entries of the own stream handed to the protocol.
    pub exported: Gauge,
    /// QUACK of the own stream.
    pub quack: Gauge,
    /// exported − QUACK.
    pub lag: Gauge,
    /// Smallest index of the other stream not yet durably received.
    pub next_expected: Gauge,
    /// Entries of the other stream delivered.
    pub delivered: Counter,
    /// Resends by level.
    pub resends: Family<LevelLabel, Counter>,
    /// Batches received, by peer.
    pub batches_in: Family<PeerLabel, Counter>,
    /// Batches sent, by peer.
    pub batches_out: Family<PeerLabel, Counter>,
    /// Bytes received, by peer.
    pub bytes_in: Family<PeerLabel, Counter>,
    /// Bytes sent, by peer.
    pub bytes_out: Family<PeerLabel, Counter>,
    /// Misbehaviour observed, by peer and kind.
    pub misbehaviour: Family<MisbehaviourLabel, Counter>,
    /// Transfers known, by status.
    pub transfers: Family<StatusLabel, Gauge>,
    /// Seconds from source finality (source block timestamp) to destination commit
    /// (destination block timestamp), for inbound transfers this relay saw committed while
    /// running (not those its replay at start re-reads).
    pub transfer_latency: Histogram,
    /// Failed calls to the chain beside the relay.
    pub chain_errors: Counter,
    /// Own-chain height processed.
    pub chain_height: Gauge,
    /// `BridgeIn` transactions submitted.
    pub submissions: Counter,
    /// Seconds per database flush.
    pub flush_seconds: Histogram,
    /// Relays connected.
    pub peers_connected: Gauge,
    /// Connections refused (unknown peer ids).
    pub refused_connections: Counter,
    /// Stake of the other cluster's relays connected.
    pub remote_connected_stake: Gauge,
    /// Stake of the other cluster's relays a QUACK needs (u + 1): below it, `/ready` is false.
    pub remote_quorum_stake: Gauge,
    /// 1 while `/ready` would answer 200, else 0.
    pub ready: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All metrics, registered.
    pub fn new() -> Self {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("picsou")),
            exported: Gauge::default(),
            quack: Gauge::default(),
            lag: Gauge::default(),
            next_expected: Gauge::default(),
            delivered: Counter::default(),
            resends: Family::default(),
            batches_in: Family::default(),
            batches_out: Family::default(),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            misbehaviour: Family::default(),
            transfers: Family::default(),
            transfer_latency: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            chain_errors: Counter::default(),
            chain_height: Gauge::default(),
            submissions: Counter::default(),
            flush_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            peers_connected: Gauge::default(),
            refused_connections: Counter::default(),
            remote_connected_stake: Gauge::default(),
            remote_quorum_stake: Gauge::default(),
            ready: Gauge::default(),
        };
        {
            let mut r = m
                .registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            r.register(
                "stream_exported",
                "Entries of the own stream handed to the protocol",
                m.exported.clone(),
            );
            r.register("stream_quack", "QUACK of the own stream", m.quack.clone());
            r.register(
                "stream_lag",
                "Own stream: exported minus QUACK, in entries",
                m.lag.clone(),
            );
            r.register(
                "stream_next_expected",
                "Smallest index of the other stream not yet durably received",
                m.next_expected.clone(),
            );
            r.register(
                "delivered",
                "Entries of the other stream delivered",
                m.delivered.clone(),
            );
            r.register(
                "resends",
                "Entries resent, by resend level",
                m.resends.clone(),
            );
            r.register(
                "batches_in",
                "Batches received, by peer",
                m.batches_in.clone(),
            );
            r.register(
                "batches_out",
                "Batches sent, by peer",
                m.batches_out.clone(),
            );
            r.register(
                "bytes_in",
                "Batch bytes received, by peer",
                m.bytes_in.clone(),
            );
            r.register(
                "bytes_out",
                "Batch bytes sent, by peer",
                m.bytes_out.clone(),
            );
            r.register(
                "misbehaviour",
                "Peer misbehaviour observed, by peer and kind",
                m.misbehaviour.clone(),
            );
            r.register(
                "transfers",
                "Transfers known to this relay, by status",
                m.transfers.clone(),
            );
            r.register(
                "transfer_latency_seconds",
                "Source finality to destination commit, by block timestamps",
                m.transfer_latency.clone(),
            );
            r.register(
                "chain_errors",
                "Failed calls to the chain beside the relay",
                m.chain_errors.clone(),
            );
            r.register(
                "chain_height",
                "Own chain height processed",
                m.chain_height.clone(),
            );
            r.register(
                "submissions",
                "BridgeIn transactions submitted",
                m.submissions.clone(),
            );
            r.register(
                "storage_flush_seconds",
                "Seconds per database flush",
                m.flush_seconds.clone(),
            );
            r.register(
                "peers_connected",
                "Relays connected",
                m.peers_connected.clone(),
            );
            r.register(
                "remote_connected_stake",
                "Stake of the other cluster's relays connected",
                m.remote_connected_stake.clone(),
            );
            r.register(
                "remote_quorum_stake",
                "Stake of the other cluster's relays needed for a QUACK (u + 1)",
                m.remote_quorum_stake.clone(),
            );
            r.register(
                "ready",
                "1 while GET /ready answers 200 (validator reachable, storage open, quorum connected)",
                m.ready.clone(),
            );
            r.register(
                "refused_connections",
                "Connections refused because the peer id is not configured",
                m.refused_connections.clone(),
            );
        }
        m
    }

    /// Counts one misbehaviour.
    pub fn misbehaved(&self, peer: &str, kind: &str) {
        self.misbehaviour
            .get_or_create(&MisbehaviourLabel {
                peer: peer.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }
}

impl MetricsSource for Metrics {
    fn render(&self) -> String {
        let r = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_total_and_labels() {
        let m = Metrics::new();
        m.misbehaved("B1", "bad_proof");
        m.resends.get_or_create(&LevelLabel { level: 2 }).inc();
        m.quack.set(42);
        let text = m.render();
        assert!(
            text.contains("picsou_misbehaviour_total{peer=\"B1\",kind=\"bad_proof\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("picsou_resends_total{level=\"2\"} 1"),
            "{text}"
        );
        assert!(text.contains("picsou_stream_quack 42"), "{text}");
        assert!(text.trim_end().ends_with("# EOF"));
    }
}
