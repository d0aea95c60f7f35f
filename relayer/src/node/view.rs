//! The plain values a running relay hands out: transfer records, stream status, peers,
//! readiness. They are what the JSON-RPC layer serializes, field for field, so their serde shape
//! is part of the public API (`docs/OPERATING.md` documents it).

use serde::{Deserialize, Serialize};

/// Where a transfer stands, as this relay has seen it.
///
/// A relay of the *source* chain sees `finalized → sent → acknowledged`; a relay of the
/// *destination* chain sees `acknowledged → committed` (or `rejected`). `pending` is a transfer
/// a client told the relay about whose `BridgeOut` is not yet in a finalized block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferStatus {
    /// Submitted to the source chain, not yet final there.
    Pending,
    /// In a finalized source block; stream index assigned.
    Finalized,
    /// Sent across by the source cluster.
    Sent,
    /// Held durably by a correct destination relay (source side: QUACKed; destination side:
    /// this relay persisted it).
    Acknowledged,
    /// Applied in a finalized destination block.
    Committed,
    /// The destination chain refused it (the reason is in `error`).
    Rejected,
}

impl TransferStatus {
    /// All statuses in lifecycle order.
    pub const ALL: [TransferStatus; 6] = [
        TransferStatus::Pending,
        TransferStatus::Finalized,
        TransferStatus::Sent,
        TransferStatus::Acknowledged,
        TransferStatus::Committed,
        TransferStatus::Rejected,
    ];

    /// Lower-case name, as on the wire.
    pub fn name(self) -> &'static str {
        match self {
            TransferStatus::Pending => "pending",
            TransferStatus::Finalized => "finalized",
            TransferStatus::Sent => "sent",
            TransferStatus::Acknowledged => "acknowledged",
            TransferStatus::Committed => "committed",
            TransferStatus::Rejected => "rejected",
        }
    }
}

impl std::str::FromStr for TransferStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TransferStatus::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown status {s:?} (expected pending, finalized, sent, acknowledged, committed or rejected)"
                )
            })
    }
}

/// Which way a transfer goes, named by the clusters' sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// From cluster A's chain to cluster B's chain.
    #[serde(rename = "a_to_b")]
    AToB,
    /// From cluster B's chain to cluster A's chain.
    #[serde(rename = "b_to_a")]
    BToA,
}

impl Direction {
    /// Lower-case name, as on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Direction::AToB => "a_to_b",
            Direction::BToA => "b_to_a",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "a_to_b" => Ok(Direction::AToB),
            "b_to_a" => Ok(Direction::BToA),
            _ => Err(format!(
                "unknown direction {s:?} (expected a_to_b or b_to_a)"
            )),
        }
    }
}

/// One bridge transfer as this relay knows it (`bridge_getTransfer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    /// Transfer id, 64 hex digits.
    pub id: String,
    /// Which way it goes.
    pub direction: Direction,
    /// Amount in base units.
    pub amount: u64,
    /// Payer on the source chain (address text).
    pub sender: String,
    /// Recipient on the destination chain (address text).
    pub recipient: String,
    /// Where it stands.
    pub status: TransferStatus,
    /// The source `BridgeOut` transaction id, 64 hex digits.
    pub source_tx: String,
    /// Height of the finalized source block holding the `BridgeOut`, when known.
    pub source_height: Option<u64>,
    /// Index in the source chain's export stream.
    pub stream_index: u64,
    /// Whether a QUACK covers it (source side only; `false` when unknown).
    pub quacked: bool,
    /// The destination `BridgeIn` transaction id, once this relay submitted or saw it.
    pub dest_tx: Option<String>,
    /// Height of the destination block that applied it.
    pub dest_height: Option<u64>,
    /// Why the destination refused it (`rejected` only).
    pub error: Option<String>,
    /// Last change, milliseconds since the Unix epoch.
    pub updated_at: u64,
}

/// Filter of `bridge_listTransfers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferFilter {
    /// Only this status.
    pub status: Option<TransferStatus>,
    /// Only this direction.
    pub direction: Option<Direction>,
}

/// One page of `bridge_listTransfers`, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferPage {
    /// The transfers.
    pub transfers: Vec<TransferView>,
    /// Pass this as `cursor` to get the next page; `None` at the end.
    pub next_cursor: Option<String>,
}

/// Most transfers one `bridge_listTransfers` page returns.
pub const MAX_PAGE: usize = 1000;

/// One direction of traffic through this relay (`relay_status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamView {
    /// Which way.
    pub direction: Option<Direction>,
    /// Outbound (own chain's stream, this relay sends) or inbound (the other chain's).
    pub role: String,
    /// Entries of the stream handed to this relay so far (outbound) or delivered (inbound).
    pub exported: u64,
    /// Smallest index not yet durably received (inbound).
    pub next_expected: u64,
    /// QUACK (outbound).
    pub quack: u64,
    /// Resends this relay made (outbound).
    pub resends: u64,
}

/// `relay_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStatusView {
    /// This relay, e.g. `A0`.
    pub node: String,
    /// The protocol it runs.
    pub protocol: String,
    /// libp2p peer id.
    pub peer_id: String,
    /// Its own chain's id.
    pub chain: String,
    /// The other chain's id.
    pub peer_chain: String,
    /// Newest finalized height of its own chain it has processed.
    pub chain_height: u64,
    /// The two streams: outbound first.
    pub streams: Vec<StreamView>,
    /// Relays of either cluster currently connected.
    pub peers_connected: usize,
    /// Relays configured (both clusters, excluding itself).
    pub peers_configured: usize,
    /// Transfers by status.
    pub transfers: std::collections::BTreeMap<String, u64>,
    /// Milliseconds since the relay started.
    pub uptime_ms: u64,
}

/// One configured peer (`relay_peers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// Relay name, e.g. `B2`.
    pub node: String,
    /// libp2p peer id.
    pub peer_id: String,
    /// Configured address.
    pub addr: String,
    /// Connected right now.
    pub connected: bool,
    /// Batches received from it.
    pub batches_in: u64,
    /// Batches sent to it.
    pub batches_out: u64,
    /// Misbehaviour recorded against it.
    pub misbehaviour: u64,
}

/// `GET /ready`: each condition and the overall answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// True iff every condition below holds.
    pub ready: bool,
    /// The validator beside this relay answered recently.
    pub validator_reachable: bool,
    /// The database is open.
    pub storage_open: bool,
    /// Relays of the other cluster connected, in stake.
    pub remote_connected_stake: u64,
    /// Stake needed (a quorum: `u + 1` of the other cluster).
    pub remote_quorum_stake: u64,
}
