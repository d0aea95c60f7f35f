//! The relay node: the driver that ties the protocol core to the network, the chain beside the
//! relay, and its database, and the handle through which the RPC layer reads it.
//!
//! - [`view`]: the plain values the node hands out (transfers, streams, peers, readiness).
//! - [`handle`]: [`handle::NodeHandle`], cloneable, message-passing.
//! - [`config`]: [`NodeConfig`], one relay's resolved configuration.
//! - `driver`: [`start`] and [`RunningNode`]: the task that owns the core.
//! - `chain`: the follower and submitter tasks that talk to the validator beside the relay.
//! - [`durable`]: what the relay keeps in its database.
//! - [`evidence`]: signed frames that prove a peer misbehaved, kept and served for others.
//! - `byzantine` (feature `byzantine`, tests only): a core wrapper that makes a relay lie.
//! - [`transfers`]: the transfer index behind `bridge_*` queries.
//! - [`metrics`]: the Prometheus metrics.
//!
//! # Contract
//!
//! A relay acknowledges (and submits to its chain) only entries it has durably written; after a
//! crash at any instant it restarts from its database and its chain, resubmits the inbound
//! transfers its chain has not applied, and does not resend what its recovered QUACK covers.
//!
//! # Decisions
//!
//! - **Every relay of the destination cluster submits every delivered entry** as a `BridgeIn`
//!   to its own validator. The transaction carries no signature, so all copies have the same id
//!   and the chain keeps one; the ledger refuses a second application. This costs `n` cheap
//!   submissions per transfer and needs no leader or timeout to survive a crashed submitter.
//! - **A relay's own chain is its source of truth**: on start it replays its chain from height 1
//!   through the exporter (rebuilding its stream and every outbound transfer) and learns which
//!   inbound transfers were applied from the `BridgeIn` records it sees. Only what the chain
//!   cannot tell it — the inbound entries it holds and its QUACK — lives in its database. The
//!   replay grows with the chain; a snapshot of the exporter at a QUACKed height would bound it
//!   (not done yet).
//! - Inbound transfers are resubmitted only once the replay has reached the height the chain
//!   had when the relay started, so a restart does not resubmit what was already applied.

#[cfg(feature = "byzantine")]
pub mod byzantine;
mod chain;
pub mod config;
mod driver;
pub mod durable;
pub mod evidence;
pub mod handle;
pub mod metrics;
pub mod transfers;
pub mod view;

pub use config::{CoreWrapper, NodeConfig, RelayPeer, StartOptions};
pub use driver::{NodeError, RunningNode, start, start_with};
