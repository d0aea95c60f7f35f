//! `rpc`: the JSON-RPC surface of a relay.
//!
//! Holds the request and response types users see (`bridge_*`, `relay_*`) and, once the relay
//! node exists, the jsonrpsee server that answers them from a node handle. It depends on no
//! protocol internals: the node hands it plain status values.

use serde::{Deserialize, Serialize};

/// Where a transfer stands, as users see it (see `docs/` for the lifecycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferStatus {
    /// Submitted to the source chain, not yet final there.
    Pending,
    /// In a certified source block; stream index assigned.
    Finalized,
    /// Sent across by this relay's cluster.
    Sent,
    /// QUACKed: held by at least one correct destination relay.
    Acknowledged,
    /// Applied in a certified destination block.
    Committed,
    /// Refused, with a reason kept beside it.
    Rejected,
}
