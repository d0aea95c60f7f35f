//! The relay node: the driver that ties the protocol core to the network, the chain beside the
//! relay, and its database, and the handle through which the RPC layer reads it.
//!
//! - [`view`]: the plain values the node hands out (transfers, streams, peers, readiness).
//! - [`handle`]: [`handle::NodeHandle`], cloneable, message-passing.
//! - [`config`]: [`NodeConfig`], one relay's resolved configuration.
//! - `driver`: [`start`] and [`RunningNode`]: the task that owns the core.
//! - `chain`: the follower and submitter tasks that talk to the validator beside the relay.
//! - [`durable`]: what the relay keeps in its database.
//! - [`transfers`]: the transfer index behind `bridge_*` queries.
//! - [`metrics`]: the Prometheus metrics.
//!
//! # Contract
//!
//! A relay acknowledges (and submits to its chain) only entries it has durably written; after a
//! crash at any instant it restarts from its database and its chain, resubmits the inbound
//! transfers its chain has not applied, and does not resend what its recovered QUACK covers.

mod chain;
pub mod config;
mod driver;
pub mod durable;
pub mod handle;
pub mod metrics;
pub mod transfers;
pub mod view;

pub use config::{NodeConfig, RelayPeer};
pub use driver::{NodeError, RunningNode, start};
