//! The relay node: the driver that ties the protocol core to the network, the chain beside the
//! relay, and its database, and the handle through which the RPC layer reads it.
//!
//! - [`view`]: the plain values the node hands out (transfers, streams, peers, readiness).
//! - [`handle`]: [`handle::NodeHandle`], cloneable, message-passing.

pub mod handle;
pub mod view;
