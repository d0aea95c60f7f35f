//! Newtypes shared by every protocol, the simulator and the node: indices, stake, time, node ids.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Position of an entry in a source cluster's export stream (dense, from 0).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct StreamIndex(pub u64);

impl StreamIndex {
    /// The index after this one.
    pub fn next(self) -> Self {
        StreamIndex(self.0 + 1)
    }
}

impl fmt::Display for StreamIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Index of a node inside its cluster (`0..n`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct NodeIdx(pub u32);

impl NodeIdx {
    /// The index as a `usize`, for indexing per-node vectors.
    pub fn as_usize(self) -> usize {
        self.0 as usize
    }
}

/// A quantity of stake (vote weight). Unit-stake clusters give every node `Stake(1)`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Stake(pub u64);

/// One of the two clusters (chains) being bridged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Side {
    /// The first cluster (in the devnet: the Algorand-style chain).
    A,
    /// The second cluster (in the devnet: the ResDB-style chain).
    B,
}

impl Side {
    /// The other cluster.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// A relay, named by its cluster and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId {
    /// The cluster the relay belongs to.
    pub side: Side,
    /// Its index within that cluster.
    pub index: NodeIdx,
}

impl NodeId {
    /// Shorthand constructor.
    pub fn new(side: Side, index: u32) -> Self {
        NodeId {
            side,
            index: NodeIdx(index),
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.side, self.index.0)
    }
}

/// A point in time, in nanoseconds since an arbitrary origin chosen by the driver.
///
/// The protocol core never reads a clock: every input carries the current `Time`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Time(pub u64);

impl Time {
    /// The origin.
    pub const ZERO: Time = Time(0);

    /// `self + d`, saturating at the end of time (so "never" deadlines cannot overflow).
    #[expect(
        clippy::should_implement_trait,
        reason = "saturating on purpose; `std::ops::Add` would suggest wrapping or panicking"
    )]
    pub fn add(self, d: Duration) -> Time {
        Time(
            self.0
                .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Seconds as a float, for reports.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
}
